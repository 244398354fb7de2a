//! SHA-256 on a helper thread: a bundle's digests overlap with its compression or
//! decompression instead of adding to it.

pub(super) use sha2::{Digest, Sha256};

use super::hex;

/// Chunk size for reads, writes and hashing: large, so big files cost few system calls.
pub(super) const IO_BUFFER: usize = 1 << 20;

/// A SHA-256 computed on its own thread from owned chunks, which it hands back for reuse: on
/// two cores the digests overlap with compression instead of adding to it.
pub(super) struct BackgroundSha256 {
    chunks: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    pub(super) spare: std::sync::mpsc::Receiver<Vec<u8>>,
    digest: std::thread::JoinHandle<Sha256>,
}

impl BackgroundSha256 {
    pub(super) fn spawn() -> BackgroundSha256 {
        let (chunks, incoming) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
        let (give_back, spare) = std::sync::mpsc::channel();
        let digest = std::thread::spawn(move || {
            let mut hasher = Sha256::new();
            for chunk in incoming {
                hasher.update(&chunk);
                let _ = give_back.send(chunk);
            }
            hasher
        });
        BackgroundSha256 {
            chunks: Some(chunks),
            spare,
            digest,
        }
    }

    /// A buffer of `IO_BUFFER` bytes: one handed back, or a new one.
    fn buffer(&self) -> Vec<u8> {
        let mut buf = self.spare.try_recv().unwrap_or_default();
        buf.resize(IO_BUFFER, 0);
        buf
    }

    /// The next chunk of `reader` (up to `IO_BUFFER` bytes) in a reused buffer, `None` at
    /// its end. Hand it back with [`update`](Self::update) once used.
    pub(super) fn next_chunk(
        &self,
        reader: &mut impl std::io::Read,
    ) -> std::io::Result<Option<Vec<u8>>> {
        let mut buf = self.buffer();
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return Ok(None),
                Ok(n) => {
                    buf.truncate(n);
                    return Ok(Some(buf));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    pub(super) fn update(&self, chunk: Vec<u8>) {
        if let Some(tx) = &self.chunks {
            // The hashing thread only stops when `finish` drops the sender.
            let _ = tx.send(chunk);
        }
    }

    pub(super) fn finish(self) -> String {
        hex(&self.finish_state().finalize())
    }

    /// The digest's state after every chunk, to finalize or continue.
    pub(super) fn finish_state(mut self) -> Sha256 {
        drop(self.chunks.take());
        // The thread only hashes; it cannot fail short of a bug, which must not pass quietly.
        self.digest.join().expect("the hashing thread panicked")
    }
}
