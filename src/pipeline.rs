//! The parallel chunk pipeline: N workers sealing or opening batches of chunks, and the
//! caller's thread writing them in order.
//!
//! A stream is read in order by a reader thread of its own. Bytes in memory (a mapped
//! file) and regions of a file are read by the workers themselves, each at its own
//! batches' places, so reading runs on every core too: sealing goes straight from the
//! input bytes into the batch (no copy first), opening reads ciphertext into the batch
//! with one positional read (`pread`).
//!
//! Batches come from a fixed pool and go back to it after writing, so memory is bounded
//! (`2 * threads + 2` batches of 2 MiB) whatever the input size. Every chunk is
//! authenticated before its batch reaches the writer, and the writer stops at the first
//! failed batch, so nothing unauthenticated or out of order is ever written. Inputs that
//! fit in one batch are processed on the calling thread without starting any thread.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::unix::fs::FileExt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread;

use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::stream::{ChunkCipher, CHUNK_SIZE, ENCRYPTED_CHUNK_SIZE, MAX_CHUNKS, TAG_LEN};

/// Chunks per batch: 2 MiB of plaintext, the unit of work handed to a thread.
pub const BATCH_CHUNKS: usize = 128;
const BATCH_BYTES: usize = BATCH_CHUNKS * ENCRYPTED_CHUNK_SIZE;
/// The largest single positional write. Measured on ext4 (Linux 6.18): two workers each
/// writing whole 2 MiB batches, 2 MiB-aligned, into a new file took 4-8 times as long as
/// with 1 MiB writes (the kernel's time went to copying into the page cache and spinning
/// on the inode lock); 1 MiB pieces keep the speed of 1 MiB batches.
const WRITE_PIECE: usize = 1 << 20;
/// Chunks of plaintext a worker reads from a file at a time before sealing them out of
/// the staging buffer: 1 MiB, which stays in cache between the two.
const STAGING_CHUNKS: usize = 64;

/// `-T` beyond this many threads per core only costs memory.
const MAX_THREADS_PER_CORE: usize = 2;

/// A callback told how many input bytes were processed, for progress bars.
pub type ProgressFn = dyn Fn(u64) + Send + Sync;

/// A callback told that the bytes `[start, start + len)` of an [`Input::Bytes`] input
/// were sealed and will not be read again: a mapped input can let their pages go, and
/// refuse the batch (an error) if what was read cannot be trusted.
pub type ReleaseFn = dyn Fn(u64, usize) -> io::Result<()> + Send + Sync;

/// How to run the pipeline.
#[derive(Clone, Default)]
pub struct PipelineOptions {
    /// Worker threads that seal or open chunks; 0 means one per available core. A
    /// stream is read on a thread of its own; other inputs are read by the workers.
    pub threads: usize,
    /// Set to `true` (by a signal handler) to stop with [`Error::Interrupted`].
    pub cancel: Option<Arc<AtomicBool>>,
    /// Called after each batch is written, with the input bytes it consumed.
    pub progress: Option<Arc<ProgressFn>>,
    /// Called by the worker that sealed each batch of an [`Input::Bytes`] input, before
    /// the batch is written, with the batch's place in the input; an error fails the
    /// batch, so it is not written.
    pub release: Option<Arc<ReleaseFn>>,
}

impl PipelineOptions {
    /// Options with a given thread count.
    pub fn with_threads(threads: usize) -> Self {
        PipelineOptions {
            threads,
            ..Default::default()
        }
    }

    /// The thread count worth using for `-T requested` (0: one per core) on an input of
    /// `input_len` bytes (when known): at most twice the cores, and no more than the
    /// input has batches, since each thread holds two batches (4 MiB) whatever the input.
    pub fn clamp_threads(requested: usize, input_len: Option<u64>) -> usize {
        let cores = thread::available_parallelism().map_or(1, |n| n.get());
        let requested = match requested {
            0 => cores,
            n => n.min(MAX_THREADS_PER_CORE * cores),
        };
        let batch_plaintext = (BATCH_CHUNKS * CHUNK_SIZE) as u64;
        let needed = input_len.map_or(usize::MAX, |len| {
            usize::try_from(len.div_ceil(batch_plaintext)).unwrap_or(usize::MAX)
        });
        requested.min(needed).max(1)
    }

    fn worker_count(&self) -> usize {
        match self.threads {
            0 => thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    fn check_cancel(&self) -> Result<()> {
        match &self.cancel {
            Some(flag) if flag.load(Ordering::Relaxed) => Err(Error::Interrupted),
            _ => Ok(()),
        }
    }

    fn report(&self, bytes: usize) {
        if let Some(progress) = &self.progress {
            progress(bytes as u64);
        }
    }

    fn release(
        &self,
        batch: &Batch,
        input: Positional<'_>,
        direction: Direction,
    ) -> io::Result<()> {
        match (&self.release, input) {
            (Some(release), Positional::Bytes(_)) => {
                release(batch.input_start(direction), batch.input_len)
            }
            _ => Ok(()),
        }
    }
}

/// Where the pipeline reads from.
pub enum Input<'a, R> {
    /// A stream, read in order on a thread of its own.
    Stream(R),
    /// Bytes in memory, such as a mapped file. Sealing reads them where they are; opening
    /// copies each batch first, so that no chunk is authenticated from memory that could
    /// change before it is decrypted.
    Bytes(&'a [u8]),
    /// `len` bytes of `file` from `offset` on, which each worker reads itself at its
    /// batches' offsets. A file that turns out shorter is an I/O error (it changed while
    /// it was read); bytes after `offset + len` are not read.
    File {
        /// The file.
        file: &'a File,
        /// Where the bytes start.
        offset: u64,
        /// How many bytes.
        len: u64,
    },
}

/// The input as the pipeline handles it: read in order by one thread, or by position.
enum Source<'a, R> {
    Stream(R),
    Positional(Positional<'a>),
}

/// An input whose every byte can be read by any thread, at any time.
#[derive(Clone, Copy)]
enum Positional<'a> {
    Bytes(&'a [u8]),
    File {
        file: &'a File,
        offset: u64,
        len: u64,
    },
}

impl Positional<'_> {
    fn len(self) -> u64 {
        match self {
            Positional::Bytes(bytes) => bytes.len() as u64,
            Positional::File { len, .. } => len,
        }
    }
}

/// Which way the data goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Seal,
    Open,
}

/// A batch of up to [`BATCH_CHUNKS`] chunks, laid out at a stride of
/// `ENCRYPTED_CHUNK_SIZE`: plaintext chunk `j` sits at `j * ENCRYPTED_CHUNK_SIZE`, leaving
/// room for its tag, so sealing and opening are in place and ciphertext is contiguous.
struct Batch {
    buf: Zeroizing<Vec<u8>>,
    /// The ciphertext of a full batch's last chunk, kept while opening it: if it fails,
    /// it may be the final chunk followed by trailing bytes in the next batch, and a
    /// failed open may wipe it in `buf` (see [`explain_at_batch_end`]).
    last_ciphertext: Vec<u8>,
    seq: u64,
    /// Bytes read into the batch: plaintext (seal) or ciphertext (open).
    input_len: usize,
    /// The input ended in this batch: it holds the final chunk.
    is_last: bool,
    /// Whether processing succeeded; `None` until a worker (or the reader, on a read
    /// error) sets it.
    outcome: Option<Result<()>>,
}

impl Direction {
    /// Input bytes per full batch: plaintext (seal) or ciphertext (open).
    fn batch_input(self) -> usize {
        match self {
            Direction::Seal => BATCH_CHUNKS * CHUNK_SIZE,
            Direction::Open => BATCH_BYTES,
        }
    }
}

impl Batch {
    fn new() -> Self {
        Batch {
            buf: Zeroizing::new(vec![0; BATCH_BYTES]),
            last_ciphertext: vec![0; ENCRYPTED_CHUNK_SIZE],
            seq: 0,
            input_len: 0,
            is_last: false,
            outcome: None,
        }
    }

    fn first_index(&self) -> u64 {
        self.seq * BATCH_CHUNKS as u64
    }

    /// Fills the batch from `input`, setting `is_last` if the input ended.
    fn fill<R: Read>(&mut self, input: &mut R, direction: Direction) -> io::Result<()> {
        self.input_len = match direction {
            Direction::Seal => read_strided(input, &mut self.buf)?,
            Direction::Open => crate::stream::read_full(input, &mut self.buf)?,
        };
        self.is_last = self.input_len < direction.batch_input();
        Ok(())
    }

    /// Starts the batch: reads it from a stream (in order, on the calling thread), or gives
    /// it its share of a positional input, which the worker that processes it reads.
    fn start<R: Read>(
        &mut self,
        source: &mut Source<'_, R>,
        direction: Direction,
    ) -> io::Result<()> {
        match source {
            Source::Stream(reader) => self.fill(reader, direction),
            Source::Positional(input) => {
                self.plan(*input, direction);
                Ok(())
            }
        }
    }

    /// Where this batch's input starts in a positional input.
    fn input_start(&self, direction: Direction) -> u64 {
        self.seq * direction.batch_input() as u64
    }

    /// Sets the batch's share of a positional input (every batch before the last is full)
    /// without reading it: the worker that processes the batch reads it.
    fn plan(&mut self, input: Positional<'_>, direction: Direction) {
        let rest = input.len().saturating_sub(self.input_start(direction));
        self.input_len = rest.min(direction.batch_input() as u64) as usize;
        self.is_last = self.input_len < direction.batch_input();
    }

    /// The batch's plaintext where it already is, for sealing without a copy; otherwise
    /// reads the batch's input into the buffer (`None`).
    fn load<'a>(
        &mut self,
        input: Positional<'a>,
        direction: Direction,
    ) -> io::Result<Option<&'a [u8]>> {
        let start = self.input_start(direction);
        let len = self.input_len;
        match (input, direction) {
            (Positional::Bytes(bytes), Direction::Seal) => {
                Ok(Some(&bytes[start as usize..start as usize + len]))
            }
            (Positional::Bytes(bytes), Direction::Open) => {
                self.buf[..len].copy_from_slice(&bytes[start as usize..start as usize + len]);
                Ok(None)
            }
            (Positional::File { .. }, Direction::Seal) => {
                unreachable!("sealed from a file by seal_from_file")
            }
            (Positional::File { file, offset, .. }, Direction::Open) => {
                read_exact_at(file, &mut self.buf[..len], offset + start)?;
                Ok(None)
            }
        }
    }

    /// Seals the batch's share of `file` (chunks from `offset` on): read a `staging`
    /// buffer at a time (small enough to stay in cache) and sealed out of it.
    fn seal_from_file(
        &mut self,
        cipher: &ChunkCipher,
        file: &File,
        offset: u64,
        staging: &mut [u8],
    ) -> Result<()> {
        let start = offset + self.input_start(Direction::Seal);
        let first = self.first_index();
        let full = self.input_len / CHUNK_SIZE;
        let chunks = if self.is_last { full + 1 } else { full };
        let per_read = staging.len() / CHUNK_SIZE;
        let mut j = 0;
        while j < chunks {
            let count = per_read.min(chunks - j);
            let from = j * CHUNK_SIZE;
            let bytes = (self.input_len - from).min(count * CHUNK_SIZE);
            read_exact_at(file, &mut staging[..bytes], start + from as u64)?;
            for k in 0..count {
                let len = (bytes - k * CHUNK_SIZE).min(CHUNK_SIZE);
                let text = &staging[k * CHUNK_SIZE..k * CHUNK_SIZE + len];
                let out = &mut self.buf[(j + k) * ENCRYPTED_CHUNK_SIZE..];
                cipher.seal_from(first + (j + k) as u64, text, out)?;
            }
            j += count;
        }
        Ok(())
    }

    /// Seals or opens every chunk in place; or, given the plaintext where it is, seals
    /// it into the buffer.
    fn process(
        &mut self,
        cipher: &ChunkCipher,
        direction: Direction,
        plaintext: Option<&[u8]>,
    ) -> Result<()> {
        if self.first_index() >= MAX_CHUNKS {
            return Err(Error::MessageTooLong);
        }
        let first = self.first_index();
        match direction {
            Direction::Seal => {
                let full = self.input_len / CHUNK_SIZE;
                let last = if self.is_last { full + 1 } else { full };
                for j in 0..last {
                    let len = (self.input_len - j * CHUNK_SIZE).min(CHUNK_SIZE);
                    let chunk = &mut self.buf[j * ENCRYPTED_CHUNK_SIZE..];
                    match plaintext {
                        Some(text) => {
                            let text = &text[j * CHUNK_SIZE..j * CHUNK_SIZE + len];
                            cipher.seal_from(first + j as u64, text, chunk)?;
                        }
                        None => cipher.seal(first + j as u64, chunk, len)?,
                    }
                }
            }
            Direction::Open => {
                let full = self.input_len / ENCRYPTED_CHUNK_SIZE;
                for j in 0..full {
                    let start = j * ENCRYPTED_CHUNK_SIZE;
                    let end = start + ENCRYPTED_CHUNK_SIZE;
                    let index = first + j as u64;
                    let opened = if self.is_last {
                        // Near the end a failing full chunk may be the final chunk
                        // followed by trailing bytes: say which.
                        cipher.open_near_end(index, &mut self.buf[start..self.input_len])
                    } else {
                        if j == BATCH_CHUNKS - 1 {
                            self.last_ciphertext.copy_from_slice(&self.buf[start..end]);
                        }
                        cipher.open(index, &mut self.buf[start..end])
                    };
                    if let Err(err) = opened {
                        self.wipe_through(j);
                        return Err(err);
                    }
                }
                if self.is_last {
                    let start = full * ENCRYPTED_CHUNK_SIZE;
                    let opened = cipher
                        .open_final(first + full as u64, &mut self.buf[start..self.input_len]);
                    if let Err(err) = opened {
                        self.wipe_through(full);
                        return Err(err);
                    }
                }
            }
        }
        Ok(())
    }

    /// Zeroizes the plaintext of chunks before `end` after a failure, so a failed batch
    /// holds no plaintext on its way back to the pool.
    fn wipe_through(&mut self, end: usize) {
        self.buf[..end * ENCRYPTED_CHUNK_SIZE].zeroize();
    }

    /// Writes the processed batch: ciphertext is contiguous; plaintext chunks are written
    /// from their strided places with one vectored write.
    fn write_to<W: Write + ?Sized>(&self, output: &mut W, direction: Direction) -> io::Result<()> {
        match direction {
            Direction::Seal => {
                let full = self.input_len / CHUNK_SIZE;
                let mut len = full * ENCRYPTED_CHUNK_SIZE;
                if self.is_last {
                    len += self.input_len % CHUNK_SIZE + TAG_LEN;
                }
                output.write_all(&self.buf[..len])
            }
            Direction::Open => {
                let full = self.input_len / ENCRYPTED_CHUNK_SIZE;
                let mut slices: Vec<IoSlice<'_>> = (0..full)
                    .map(|j| {
                        let start = j * ENCRYPTED_CHUNK_SIZE;
                        IoSlice::new(&self.buf[start..start + CHUNK_SIZE])
                    })
                    .collect();
                if self.is_last {
                    let start = full * ENCRYPTED_CHUNK_SIZE;
                    let len = self.input_len - start - TAG_LEN;
                    if len > 0 {
                        slices.push(IoSlice::new(&self.buf[start..start + len]));
                    }
                }
                write_all_vectored(output, &mut slices)
            }
        }
    }
}

/// Where processed batches go.
enum Output<'a, W: ?Sized> {
    /// A stream, written in order by the calling thread.
    Stream(&'a mut W),
    /// A file written by the workers themselves at each batch's offset (`pwrite`), so
    /// writing into the page cache runs on every core too. Batches after a failed one
    /// may already be in the file (they authenticated): callers delete it on error.
    At { file: &'a File, offset: u64 },
}

impl Batch {
    /// Writes the processed batch at its place in `file`: every batch before the last is
    /// full, so its offset follows from its sequence number. Plaintext is first moved
    /// together (chunk `j` from `j * ENCRYPTED_CHUNK_SIZE` to `j * CHUNK_SIZE`).
    fn write_at(&mut self, file: &File, offset: u64, direction: Direction) -> io::Result<()> {
        match direction {
            Direction::Seal => {
                let full = self.input_len / CHUNK_SIZE;
                let mut len = full * ENCRYPTED_CHUNK_SIZE;
                if self.is_last {
                    len += self.input_len % CHUNK_SIZE + TAG_LEN;
                }
                let at = offset + self.seq * BATCH_BYTES as u64;
                file.write_all_at(&self.buf[..len], at)
            }
            Direction::Open => {
                let full = self.input_len / ENCRYPTED_CHUNK_SIZE;
                let mut len = full * CHUNK_SIZE;
                for j in 1..full {
                    let from = j * ENCRYPTED_CHUNK_SIZE;
                    self.buf
                        .copy_within(from..from + CHUNK_SIZE, j * CHUNK_SIZE);
                }
                if self.is_last {
                    let from = full * ENCRYPTED_CHUNK_SIZE;
                    let tail = self.input_len - from - TAG_LEN;
                    self.buf.copy_within(from..from + tail, len);
                    len += tail;
                }
                let at = offset + self.seq * (BATCH_CHUNKS * CHUNK_SIZE) as u64;
                write_at_in_pieces(file, &self.buf[..len], at)
            }
        }
    }
}

/// Writes `buf` at `at` in pieces of [`WRITE_PIECE`] bytes.
fn write_at_in_pieces(file: &File, buf: &[u8], at: u64) -> io::Result<()> {
    for (k, piece) in buf.chunks(WRITE_PIECE).enumerate() {
        file.write_all_at(piece, at + (k * WRITE_PIECE) as u64)?;
    }
    Ok(())
}

/// `pread` of exactly `buf.len()` bytes; a file that ends first changed since its length
/// was taken.
fn read_exact_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<()> {
    file.read_exact_at(buf, at).map_err(|err| match err.kind() {
        io::ErrorKind::UnexpectedEof => io::Error::other(
            "the input is shorter than when it was opened: it changed while it was read",
        ),
        _ => err,
    })
}

/// Reads plaintext into the chunk places of a batch (stride `ENCRYPTED_CHUNK_SIZE`) with
/// vectored reads, until the batch is full or the input ends. Returns the bytes read.
fn read_strided<R: Read>(input: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let capacity = BATCH_CHUNKS * CHUNK_SIZE;
    let mut filled = 0;
    while filled < capacity {
        let first = filled / CHUNK_SIZE;
        let offset = filled % CHUNK_SIZE;
        let mut slices: Vec<IoSliceMut<'_>> = buf
            .chunks_mut(ENCRYPTED_CHUNK_SIZE)
            .skip(first)
            .enumerate()
            .map(|(k, chunk)| {
                let from = if k == 0 { offset } else { 0 };
                IoSliceMut::new(&mut chunk[from..CHUNK_SIZE])
            })
            .collect();
        match input.read_vectored(&mut slices) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn write_all_vectored<W: Write + ?Sized>(
    output: &mut W,
    mut slices: &mut [IoSlice<'_>],
) -> io::Result<()> {
    while !slices.is_empty() {
        match output.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Encrypts all of `input` into chunks (the prefix is the caller's), returning the
/// plaintext length.
///
/// # Errors
/// I/O errors, [`Error::Interrupted`], [`Error::MessageTooLong`].
pub fn encrypt<R: Read + Send, W: Write + ?Sized>(
    cipher: &ChunkCipher,
    input: Input<'_, R>,
    output: &mut W,
    options: &PipelineOptions,
) -> Result<u64> {
    run(
        cipher,
        input,
        Output::Stream(output),
        options,
        Direction::Seal,
    )
}

/// Like [`encrypt`], but writes the chunks into `file` from `offset` on with positional
/// writes from every worker. On error the file holds an unspecified mix of ciphertext:
/// delete it.
///
/// # Errors
/// As [`encrypt`].
pub fn encrypt_at<R: Read + Send>(
    cipher: &ChunkCipher,
    input: Input<'_, R>,
    file: &File,
    offset: u64,
    options: &PipelineOptions,
) -> Result<u64> {
    run::<R, File>(
        cipher,
        input,
        Output::At { file, offset },
        options,
        Direction::Seal,
    )
}

/// Authenticates and decrypts all chunks of `input` (after the prefix) into `output`,
/// returning the plaintext length.
///
/// # Errors
/// [`Error::ChunkAuthentication`], [`Error::Truncated`], [`Error::TrailingData`],
/// I/O errors, [`Error::Interrupted`].
pub fn decrypt<R: Read + Send, W: Write + ?Sized>(
    cipher: &ChunkCipher,
    input: Input<'_, R>,
    output: &mut W,
    options: &PipelineOptions,
) -> Result<u64> {
    run(
        cipher,
        input,
        Output::Stream(output),
        options,
        Direction::Open,
    )
}

/// Like [`decrypt`], but writes the plaintext into `file` from `offset` on with
/// positional writes from every worker. Only authenticated chunks are written, but on
/// error some batches after the failing one may be in the file: delete it.
///
/// # Errors
/// As [`decrypt`].
pub fn decrypt_at<R: Read + Send>(
    cipher: &ChunkCipher,
    input: Input<'_, R>,
    file: &File,
    offset: u64,
    options: &PipelineOptions,
) -> Result<u64> {
    run::<R, File>(
        cipher,
        input,
        Output::At { file, offset },
        options,
        Direction::Open,
    )
}

fn plaintext_of(batch: &Batch, direction: Direction) -> u64 {
    match direction {
        Direction::Seal => batch.input_len as u64,
        Direction::Open => {
            let full = batch.input_len / ENCRYPTED_CHUNK_SIZE;
            let tail = batch.input_len % ENCRYPTED_CHUNK_SIZE;
            (full * CHUNK_SIZE + tail.saturating_sub(TAG_LEN)) as u64
        }
    }
}

fn run<R: Read + Send, W: Write + ?Sized>(
    cipher: &ChunkCipher,
    input: Input<'_, R>,
    output: Output<'_, W>,
    options: &PipelineOptions,
    direction: Direction,
) -> Result<u64> {
    options.check_cancel()?;
    let (stream, at) = match output {
        Output::Stream(writer) => (Some(writer), None),
        Output::At { file, offset } => (None, Some((file, offset))),
    };
    let mut source = match input {
        Input::Stream(reader) => Source::Stream(reader),
        Input::Bytes(bytes) => Source::Positional(Positional::Bytes(bytes)),
        Input::File { file, offset, len } => {
            Source::Positional(Positional::File { file, offset, len })
        }
    };
    let positional = match source {
        Source::Positional(input) => Some(input),
        Source::Stream(_) => None,
    };
    // The first batch decides: an input that ends within it never starts a thread.
    let mut first = Batch::new();
    first.start(&mut source, direction)?;
    let job = Job {
        cipher,
        direction,
        input: positional,
        at,
        options,
    };
    if first.is_last {
        job.run(&mut first, &mut Zeroizing::new(Vec::new()))?;
        if let Some(writer) = stream {
            first.write_to(writer, direction)?;
        }
        options.report(first.input_len);
        return Ok(plaintext_of(&first, direction));
    }

    let workers = options.worker_count();
    let pool_size = 2 * workers + 2;
    let stop = AtomicBool::new(false);
    let panicked = Mutex::new(None);
    let result = thread::scope(|scope| {
        let (free_tx, free_rx) = mpsc::channel::<Batch>();
        let (work_tx, work_rx) = mpsc::sync_channel::<Batch>(pool_size);
        let (done_tx, done_rx) = mpsc::channel::<Batch>();
        for _ in 1..pool_size {
            free_tx.send(Batch::new()).expect("receiver alive");
        }
        let work_rx = Arc::new(Mutex::new(work_rx));
        for _ in 0..workers {
            let work_rx = Arc::clone(&work_rx);
            let done_tx = done_tx.clone();
            let (stop, job, panicked) = (&stop, &job, &panicked);
            scope.spawn(move || worker(job, &work_rx, &done_tx, stop, panicked));
        }
        drop(done_tx);
        let stop_ref = &stop;
        scope.spawn(move || {
            let fill = |batch: &mut Batch| batch.start(&mut source, direction);
            dispatch(fill, first, &free_rx, &work_tx, options, stop_ref)
        });
        let result = writer(cipher, stream, direction, &done_rx, &free_tx, options);
        if result.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        // Dropping the receivers unblocks any thread still sending.
        drop(done_rx);
        drop(free_tx);
        result
    });
    if let Some(payload) = panicked.into_inner().unwrap_or_else(|p| p.into_inner()) {
        panic::resume_unwind(payload);
    }
    result
}

/// Hands batches to the workers in sequence, each filled (or given its place) by `fill`,
/// until the last one.
fn dispatch(
    mut fill: impl FnMut(&mut Batch) -> io::Result<()>,
    mut batch: Batch,
    free_rx: &Receiver<Batch>,
    work_tx: &SyncSender<Batch>,
    options: &PipelineOptions,
    stop: &AtomicBool,
) {
    let mut seq = 0;
    loop {
        let is_last = batch.is_last || batch.outcome.is_some();
        if work_tx.send(batch).is_err() || is_last {
            return;
        }
        seq += 1;
        batch = match free_rx.recv() {
            Ok(b) => b,
            Err(_) => return,
        };
        batch.seq = seq;
        batch.outcome = None;
        batch.input_len = 0;
        if stop.load(Ordering::Relaxed) {
            return;
        }
        if let Err(err) = options.check_cancel() {
            batch.outcome = Some(Err(err));
            batch.is_last = true;
            continue;
        }
        if let Err(err) = fill(&mut batch) {
            batch.outcome = Some(Err(err.into()));
        }
    }
}

/// What every worker needs to process a batch.
struct Job<'a> {
    cipher: &'a ChunkCipher,
    direction: Direction,
    /// The input, when workers read it themselves.
    input: Option<Positional<'a>>,
    /// The output file and where the chunks start, when workers write it themselves.
    at: Option<(&'a File, u64)>,
    options: &'a PipelineOptions,
}

impl Job<'_> {
    fn run(&self, batch: &mut Batch, staging: &mut Vec<u8>) -> Result<()> {
        match (self.input, self.direction) {
            (Some(Positional::File { file, offset, .. }), Direction::Seal) => {
                if staging.is_empty() {
                    staging.resize(STAGING_CHUNKS * CHUNK_SIZE, 0);
                }
                batch.seal_from_file(self.cipher, file, offset, staging)?;
            }
            (input, direction) => {
                let plaintext = match input {
                    Some(input) => batch.load(input, direction)?,
                    None => None,
                };
                batch.process(self.cipher, direction, plaintext)?;
            }
        }
        if let Some(input) = self.input {
            self.options.release(batch, input, self.direction)?;
        }
        if let Some((file, offset)) = self.at {
            batch.write_at(file, offset, self.direction)?;
        }
        Ok(())
    }
}

/// A panic's payload, kept to be raised again on the calling thread.
type Panic = Box<dyn std::any::Any + Send>;

fn worker(
    job: &Job<'_>,
    work_rx: &Mutex<Receiver<Batch>>,
    done_tx: &Sender<Batch>,
    stop: &AtomicBool,
    panicked: &Mutex<Option<Panic>>,
) {
    let mut staging = Zeroizing::new(Vec::new());
    loop {
        let next = work_rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
        let Ok(mut batch) = next else { return };
        if batch.outcome.is_none() && !stop.load(Ordering::Relaxed) {
            // A panic (a bug, or in the caller's `release` callback) must not lose the
            // batch, or the writer would wait for it forever: it fails the batch, and
            // `run` raises it again once every thread has ended.
            let outcome =
                panic::catch_unwind(AssertUnwindSafe(|| job.run(&mut batch, &mut staging)));
            batch.outcome = Some(outcome.unwrap_or_else(|payload| {
                stop.store(true, Ordering::Relaxed);
                let mut slot = panicked.lock().unwrap_or_else(|p| p.into_inner());
                slot.get_or_insert(payload);
                Err(Error::Interrupted)
            }));
        }
        if done_tx.send(batch).is_err() {
            return;
        }
    }
}

/// Takes batch `seq` out of `pending`, receiving batches until it arrives.
fn next_batch(
    pending: &mut BTreeMap<u64, Batch>,
    done_rx: &Receiver<Batch>,
    seq: u64,
) -> Option<Batch> {
    loop {
        if let Some(batch) = pending.remove(&seq) {
            return Some(batch);
        }
        let batch = done_rx.recv().ok()?;
        pending.insert(batch.seq, batch);
    }
}

/// A chunk that failed near the end of a full batch may be the final chunk followed by
/// trailing bytes that spill into the next (last) batch: diagnose it as the streaming
/// reader would, from the failing chunk to the end of the input.
fn explain_at_batch_end(
    cipher: &ChunkCipher,
    failed: &Batch,
    index: u64,
    next: Option<&Batch>,
) -> Option<Error> {
    let start = (index - failed.first_index()) as usize * ENCRYPTED_CHUNK_SIZE;
    let next = next.filter(|next| next.is_last)?;
    let window_len = failed.input_len - start + next.input_len;
    if window_len >= 2 * ENCRYPTED_CHUNK_SIZE {
        return None;
    }
    // So the failed chunk is the full batch's last, whose ciphertext was kept, and the
    // next batch is a lone final segment (`open_final` restores it when it fails).
    debug_assert_eq!(start, BATCH_BYTES - ENCRYPTED_CHUNK_SIZE);
    let mut window = Zeroizing::new(Vec::with_capacity(window_len));
    window.extend_from_slice(&failed.last_ciphertext);
    window.extend_from_slice(&next.buf[..next.input_len]);
    Some(cipher.explain_failure(index, &window))
}

fn writer<W: Write + ?Sized>(
    cipher: &ChunkCipher,
    mut output: Option<&mut W>,
    direction: Direction,
    done_rx: &Receiver<Batch>,
    free_tx: &Sender<Batch>,
    options: &PipelineOptions,
) -> Result<u64> {
    let mut pending = BTreeMap::new();
    let mut next_seq = 0;
    let mut total = 0;
    loop {
        // Every worker ended without delivering the next batch: only possible after a
        // stop, whose error was already returned.
        let mut batch = next_batch(&mut pending, done_rx, next_seq).ok_or(Error::Interrupted)?;
        match batch.outcome.take() {
            Some(Ok(())) => {}
            Some(Err(Error::ChunkAuthentication { index }))
                if direction == Direction::Open && !batch.is_last =>
            {
                let next = next_batch(&mut pending, done_rx, next_seq + 1);
                return Err(explain_at_batch_end(cipher, &batch, index, next.as_ref())
                    .unwrap_or(Error::ChunkAuthentication { index }));
            }
            Some(Err(err)) => return Err(err),
            None => return Err(Error::Interrupted),
        }
        if let Some(output) = output.as_deref_mut() {
            batch.write_to(output, direction)?;
        }
        total += plaintext_of(&batch, direction);
        options.report(batch.input_len);
        let is_last = batch.is_last;
        let _ = free_tx.send(batch);
        if is_last {
            return Ok(total);
        }
        next_seq += 1;
    }
}
