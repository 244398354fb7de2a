//! pack's three stages, on three threads so that zstd's workers do not wait on reading,
//! hashing or writing:
//!
//! 1. [`TarStream`]: the ustar stream, made ahead of the compressor in large chunks. Each file
//!    is read once, straight into a chunk, and hashed (BLAKE3) as it passes.
//! 2. [`compress`], on the calling thread: feeds the chunks to zstd (whose own workers do the
//!    compressing) and hands its output on in large buffers. Feeding is all it does, so a
//!    worker that finishes a job gets the next one at once.
//! 3. [`write_out`]: writes the compressed stream and hashes it (SHA-256) as it goes.
//!
//! Buffers travel back to the stage that fills them, so a pack of any size uses a few
//! megabytes. A stage that fails stops; the others then stop too and only its error is
//! reported.

use std::io::{Read, Write};
use std::sync::mpsc::{Receiver, Sender, SyncSender};

use sha2::{Digest, Sha256};
use zstd::stream::raw::{CParameter, Encoder, InBuffer, Operation, OutBuffer};

use super::BundleError;

/// Size of the chunks of the archive stream and of the compressed output.
const CHUNK: usize = 1 << 20;
/// Chunks the archive stream may run ahead of the compressor, and the compressed output
/// ahead of the writer.
const QUEUE: usize = 16;
/// Room that zstd is always given to write into (its recommended output size).
const MIN_ROOM: usize = 128 << 10;

/// Why a stage stopped early.
pub(super) enum Stop {
    /// Its own failure: the error reported.
    Failed(BundleError),
    /// A stage it talks to went away (having failed itself).
    Abandoned,
}

impl From<BundleError> for Stop {
    fn from(e: BundleError) -> Stop {
        Stop::Failed(e)
    }
}

/// The first real failure among the stages' stops, in the order given.
pub(super) fn first_failure(stops: impl IntoIterator<Item = Stop>) -> BundleError {
    for stop in stops {
        if let Stop::Failed(e) = stop {
            return e;
        }
    }
    // Only reached if every stage was abandoned by another, which none does without failing.
    BundleError::Io {
        context: "packing stopped".into(),
        source: std::io::Error::other("a stage of the pipeline ended early"),
    }
}

/// The sending end of a queue between two stages, holding up to [`QUEUE`] items, and the
/// channel its emptied buffers come back on.
pub(super) struct Downstream<T> {
    items: SyncSender<T>,
    back: Receiver<Vec<u8>>,
}

/// The receiving end of a queue, and the channel its emptied buffers go back on.
pub(super) struct Upstream<T> {
    items: Receiver<T>,
    back: Sender<Vec<u8>>,
}

/// A queue between two stages.
pub(super) fn link<T>() -> (Downstream<T>, Upstream<T>) {
    let (items, received) = std::sync::mpsc::sync_channel(QUEUE);
    let (back, returned) = std::sync::mpsc::channel();
    (
        Downstream {
            items,
            back: returned,
        },
        Upstream {
            items: received,
            back,
        },
    )
}

/// A filled chunk of the archive stream.
pub(super) struct Chunk {
    buf: Vec<u8>,
    len: usize,
    /// Bytes of file content in it (for progress).
    content: u64,
}

/// The ustar stream as chunks: stage 1.
pub(super) struct TarStream {
    out: Downstream<Chunk>,
    buf: Vec<u8>,
    len: usize,
    content: u64,
}

impl TarStream {
    pub(super) fn new(out: Downstream<Chunk>) -> TarStream {
        TarStream {
            out,
            buf: vec![0; CHUNK],
            len: 0,
            content: 0,
        }
    }

    /// Sends the current chunk on, if it holds anything, and starts another.
    fn ship(&mut self) -> Result<(), Stop> {
        if self.len == 0 {
            return Ok(());
        }
        // Returned chunks keep their length: no zeroing.
        let next = self.out.back.try_recv().unwrap_or_else(|_| vec![0; CHUNK]);
        let chunk = Chunk {
            buf: std::mem::replace(&mut self.buf, next),
            len: self.len,
            content: self.content,
        };
        self.len = 0;
        self.content = 0;
        self.out.items.send(chunk).map_err(|_| Stop::Abandoned)
    }

    /// Appends `bytes` (tar headers, padding).
    pub(super) fn put(&mut self, mut bytes: &[u8]) -> Result<(), Stop> {
        while !bytes.is_empty() {
            let n = (CHUNK - self.len).min(bytes.len());
            self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
            self.len += n;
            bytes = &bytes[n..];
            if self.len == CHUNK {
                self.ship()?;
            }
        }
        Ok(())
    }

    /// Appends up to `size` bytes of `reader` (the file `name`), read straight into the
    /// chunks and hashed as they pass; returns how many there were and their BLAKE3.
    pub(super) fn copy(
        &mut self,
        reader: &mut dyn Read,
        size: u64,
        name: &str,
    ) -> Result<(u64, blake3::Hash), Stop> {
        let mut hasher = blake3::Hasher::new();
        let mut count = 0u64;
        while count < size {
            let room = (CHUNK - self.len).min(usize::try_from(size - count).unwrap_or(CHUNK));
            let n = match reader.read(&mut self.buf[self.len..self.len + room]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(Stop::Failed(BundleError::Io {
                        context: format!("cannot read {name}"),
                        source,
                    }));
                }
            };
            hasher.update(&self.buf[self.len..self.len + n]);
            self.len += n;
            self.content += n as u64;
            count += n as u64;
            if self.len == CHUNK {
                self.ship()?;
            }
        }
        Ok((count, hasher.finalize()))
    }

    /// Sends the last chunk.
    pub(super) fn finish(mut self) -> Result<(), Stop> {
        self.ship()
    }
}

/// Stage 2: compresses `chunks` at `level` with `workers` zstd workers into one zstd frame
/// with a checksum, sending the output on `out` and calling `progress` with the content
/// bytes compressed so far.
pub(super) fn compress(
    level: i32,
    workers: u32,
    chunks: Upstream<Chunk>,
    out: Downstream<Vec<u8>>,
    progress: &dyn Fn(u64),
    failed: impl Fn(std::io::Error) -> BundleError,
) -> Result<(), Stop> {
    let mut encoder = Encoder::new(level).map_err(&failed)?;
    encoder
        .set_parameter(CParameter::NbWorkers(workers))
        .map_err(&failed)?;
    encoder
        .set_parameter(CParameter::ChecksumFlag(true))
        .map_err(&failed)?;
    let fresh = || {
        out.back
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK))
    };
    let mut buf = fresh();
    // Sends `buf` on once zstd's room in it is short.
    let make_room = |buf: &mut Vec<u8>| -> Result<(), Stop> {
        if buf.capacity() - buf.len() < MIN_ROOM {
            let full = std::mem::replace(buf, fresh());
            out.items.send(full).map_err(|_| Stop::Abandoned)?;
            buf.clear();
        }
        Ok(())
    };
    let mut done = 0u64;
    for chunk in chunks.items {
        let input = &chunk.buf[..chunk.len];
        let mut input = InBuffer::around(input);
        while input.pos() < chunk.len {
            make_room(&mut buf)?;
            let at = buf.len();
            encoder
                .run(&mut input, &mut OutBuffer::around_pos(&mut buf, at))
                .map_err(&failed)?;
        }
        done += chunk.content;
        progress(done);
        let _ = chunks.back.send(chunk.buf);
    }
    loop {
        make_room(&mut buf)?;
        let at = buf.len();
        let remaining = encoder
            .finish(&mut OutBuffer::around_pos(&mut buf, at), true)
            .map_err(&failed)?;
        if remaining == 0 {
            break;
        }
    }
    if !buf.is_empty() {
        out.items.send(buf).map_err(|_| Stop::Abandoned)?;
    }
    Ok(())
}

/// Stage 3: writes `first` then every buffer from `input` to `file`, hashing them; returns the
/// digest's state and the number of bytes written.
pub(super) fn write_out(
    mut file: &std::fs::File,
    first: &[u8],
    input: Upstream<Vec<u8>>,
    failed: impl Fn(std::io::Error) -> BundleError,
) -> Result<(Sha256, u64), Stop> {
    let mut digest = Sha256::new();
    let mut written = 0u64;
    let mut put = |bytes: &[u8]| -> Result<(), Stop> {
        file.write_all(bytes).map_err(&failed)?;
        digest.update(bytes);
        written += bytes.len() as u64;
        Ok(())
    };
    put(first)?;
    for mut buf in input.items {
        put(&buf)?;
        buf.clear();
        let _ = input.back.send(buf);
    }
    Ok((digest, written))
}
