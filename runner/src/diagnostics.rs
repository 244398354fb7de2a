//! What the host could tell the guest only as an error code, in words a user can act on: why
//! wasi-nn failed, which grant an outgoing request lacked. The CLI prints them on stderr once
//! a command's run is over; a server logs them with each request.

use std::sync::{Arc, Mutex, PoisonError};

/// Messages gathered during a run, shared by the backend, its graphs and the registry.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(Arc<Mutex<Vec<String>>>);

/// More than this many messages in one run are counted, not kept: a guest calling in a loop
/// must not fill the host's memory with the same line.
const MAX_KEPT: usize = 32;

impl Diagnostics {
    /// Records `message`, once: a loop that fails the same way says so once.
    pub fn push(&self, message: impl Into<String>) {
        let message = message.into();
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() < MAX_KEPT && !kept.contains(&message) {
            kept.push(message);
        }
    }

    /// The messages so far.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_messages_are_kept_once_and_bounded() {
        let d = Diagnostics::default();
        for i in 0..100 {
            d.push("same");
            d.push(format!("m{i}"));
        }
        let kept = d.take();
        assert_eq!(kept.len(), MAX_KEPT);
        assert_eq!(kept.iter().filter(|m| *m == "same").count(), 1);
        assert!(d.take().is_empty());
    }
}
