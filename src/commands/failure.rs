//! The kind of failure a command ended with, for the shell's next-step hint (`new` after a
//! missing manifest, `doctor` after a missing toolchain, `trust add` after an untrusted
//! signer). Commands that print a typed error themselves note its kind here, and `dispatch`
//! notes the kind of an error it prints; the kind comes from the error's type, never its text.

use std::sync::Mutex;

use qyvbuild::toolchain::BuildError;
use qyvpack::keys::TrustError;
use qyvpack::manifest::ManifestError;
use runner::open::OpenError;

/// A failure that has an obvious next step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No project or no `.qyv` manifest where one was looked for.
    NoProject,
    /// A language's toolchain is not installed.
    ToolchainMissing,
    /// A bundle is signed by a key that is not trusted.
    Untrusted,
}

/// The last failure noted since [`take`].
static LAST: Mutex<Option<Failure>> = Mutex::new(None);

/// Notes the kind of failure, when it has one.
pub fn note(failure: Option<Failure>) {
    if let Some(failure) = failure {
        *LAST.lock().unwrap_or_else(|e| e.into_inner()) = Some(failure);
    }
}

/// The failure noted since the last call, if any.
pub fn take() -> Option<Failure> {
    LAST.lock().unwrap_or_else(|e| e.into_inner()).take()
}

pub fn of_build(e: &BuildError) -> Option<Failure> {
    match e {
        BuildError::NoProject { .. } => Some(Failure::NoProject),
        BuildError::ToolchainMissing { .. } => Some(Failure::ToolchainMissing),
        _ => None,
    }
}

pub fn of_manifest(e: &ManifestError) -> Option<Failure> {
    matches!(e, ManifestError::NotFound(_)).then_some(Failure::NoProject)
}

pub fn of_trust(e: &TrustError) -> Option<Failure> {
    matches!(e, TrustError::Untrusted(_)).then_some(Failure::Untrusted)
}

pub fn of_open(e: &OpenError) -> Option<Failure> {
    match e {
        OpenError::Trust { source, .. } => of_trust(source),
        OpenError::Manifest { source, .. } => of_manifest(source),
        _ => None,
    }
}

/// The kind of the first typed error in `err`'s chain that has one.
pub fn of_error(err: &anyhow::Error) -> Option<Failure> {
    err.chain().find_map(|cause| {
        if let Some(e) = cause.downcast_ref::<BuildError>() {
            of_build(e)
        } else if let Some(e) = cause.downcast_ref::<ManifestError>() {
            of_manifest(e)
        } else if let Some(e) = cause.downcast_ref::<OpenError>() {
            of_open(e)
        } else {
            cause.downcast_ref::<TrustError>().and_then(of_trust)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_the_error_types_through_context() {
        let e =
            anyhow::Error::new(ManifestError::NotFound("none here".into())).context("cannot pack");
        assert_eq!(of_error(&e), Some(Failure::NoProject));
        let e = anyhow::Error::new(TrustError::Untrusted("ab:cd".into()));
        assert_eq!(of_error(&e), Some(Failure::Untrusted));
        assert_eq!(of_error(&anyhow::anyhow!("no manifest here")), None);
    }

    #[test]
    fn a_noted_failure_is_taken_once() {
        note(Some(Failure::ToolchainMissing));
        note(None);
        assert_eq!(take(), Some(Failure::ToolchainMissing));
        assert_eq!(take(), None);
    }
}
