//! The payload: C2SP chunked-encryption instantiated as Cobblestone-256
//! (HKDF-Expand-SHA-512, AES-256-GCM). FORMAT.md, "Payload".
//!
//! `payload = salt (24) || commitment (32) || chunk 0 || chunk 1 || ... || final chunk`,
//! every chunk `AES-256-GCM(key, base_nonce XOR counter, plaintext)` with an empty AAD,
//! 16 KiB of plaintext except the final chunk, which is always shorter (possibly empty).
//! A full chunk is therefore never final, and a stream that ends after one is truncated.

use std::io::{self, Read, Seek, SeekFrom, Write};

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::keys::{fill_random, hkdf_expand_sha512, FileKey};

mod backend;

pub use backend::AeadBackend;
use backend::{ChunkAead, KEY_LEN, NONCE_LEN};

/// Plaintext bytes in every chunk but the final one.
pub const CHUNK_SIZE: usize = 16 * 1024;
/// AES-GCM tag bytes.
pub const TAG_LEN: usize = backend::TAG_LEN;
/// Ciphertext bytes of a full chunk.
pub const ENCRYPTED_CHUNK_SIZE: usize = CHUNK_SIZE + TAG_LEN;
/// Bytes of the payload salt.
pub const SALT_LEN: usize = 24;
/// Bytes of the key commitment.
pub const COMMITMENT_LEN: usize = 32;
/// `salt || commitment`, before the first chunk.
pub const PREFIX_LEN: usize = SALT_LEN + COMMITMENT_LEN;
/// The chunk counter must stay below 2^38.
pub const MAX_CHUNKS: u64 = 1 << 38;
/// The AEAD name from the IANA registry, as it enters the HKDF info.
pub const AEAD_NAME: &[u8] = b"AEAD_AES_256_GCM";
/// HKDF info prefix fixed by C2SP.
pub const INFO_PREFIX: &[u8] = b"c2sp.org/chunked-encryption@v1+";
/// The C2SP context coffer v1 uses: it binds the payload to this format version.
pub const CONTEXT_V1: &[u8] = b"coffer.v1 payload";

/// Whether a chunk ends the message. A named type, not a bare `bool`, at call sites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkKind {
    /// A full 16 KiB chunk; never the last.
    Full,
    /// The final, short chunk.
    Final,
}

/// The 56 bytes that open the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadPrefix {
    /// Random per-message salt.
    pub salt: [u8; SALT_LEN],
    /// Key commitment derived with the chunk key.
    pub commitment: [u8; COMMITMENT_LEN],
}

impl PayloadPrefix {
    /// The prefix as written.
    pub fn to_bytes(&self) -> [u8; PREFIX_LEN] {
        let mut out = [0; PREFIX_LEN];
        out[..SALT_LEN].copy_from_slice(&self.salt);
        out[SALT_LEN..].copy_from_slice(&self.commitment);
        out
    }

    /// Parses the prefix (any 56 bytes are well formed; the commitment checks them).
    pub fn from_bytes(bytes: &[u8; PREFIX_LEN]) -> Self {
        let mut prefix = PayloadPrefix {
            salt: [0; SALT_LEN],
            commitment: [0; COMMITMENT_LEN],
        };
        prefix.salt.copy_from_slice(&bytes[..SALT_LEN]);
        prefix.commitment.copy_from_slice(&bytes[SALT_LEN..]);
        prefix
    }

    /// Reads the prefix; an input that ends first is truncated.
    ///
    /// # Errors
    /// [`Error::Truncated`] or [`Error::Io`].
    pub fn read_from<R: Read>(reader: &mut R) -> Result<Self> {
        let mut bytes = [0; PREFIX_LEN];
        let got = read_full(reader, &mut bytes)?;
        if got < PREFIX_LEN {
            return Err(Error::Truncated { at_chunk: None });
        }
        Ok(PayloadPrefix::from_bytes(&bytes))
    }
}

/// Seals and opens single chunks: the one narrow interface the pipeline depends on. The
/// AES-GCM implementation behind it is an [`AeadBackend`].
pub struct ChunkCipher {
    aead: ChunkAead,
    base_nonce: [u8; NONCE_LEN],
}

impl std::fmt::Debug for ChunkCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChunkCipher([REDACTED])")
    }
}

impl ChunkCipher {
    /// Derives the chunk key, base nonce and commitment for a fresh random salt.
    pub fn for_encryption(file_key: &FileKey) -> (ChunkCipher, PayloadPrefix) {
        let mut salt = [0; SALT_LEN];
        fill_random(&mut salt);
        Self::with_salt(file_key, salt)
    }

    /// Derives for a given salt (the salt MUST NOT repeat for a file key; test vectors
    /// fix it).
    pub fn with_salt(file_key: &FileKey, salt: [u8; SALT_LEN]) -> (ChunkCipher, PayloadPrefix) {
        Self::with_salt_on(AeadBackend::DEFAULT, file_key, salt)
    }

    /// As [`ChunkCipher::with_salt`], with another C2SP context than [`CONTEXT_V1`]: a
    /// file with an encryption context binds its context block there (FORMAT.md,
    /// "Context").
    pub fn with_salt_in_context(
        file_key: &FileKey,
        salt: [u8; SALT_LEN],
        context: &[u8],
    ) -> (ChunkCipher, PayloadPrefix) {
        let (cipher, commitment) = derive(AeadBackend::DEFAULT, file_key, &salt, context);
        (cipher, PayloadPrefix { salt, commitment })
    }

    /// As [`ChunkCipher::with_salt`], on a chosen backend (benchmarks and the
    /// differential test compare them; the output is the same).
    pub fn with_salt_on(
        backend: AeadBackend,
        file_key: &FileKey,
        salt: [u8; SALT_LEN],
    ) -> (ChunkCipher, PayloadPrefix) {
        let (cipher, commitment) = derive(backend, file_key, &salt, CONTEXT_V1);
        (cipher, PayloadPrefix { salt, commitment })
    }

    /// Derives from a prefix as read and checks its commitment in constant time before
    /// any chunk can be opened.
    ///
    /// # Errors
    /// [`Error::CommitmentMismatch`] if the commitment does not match.
    pub fn for_decryption(file_key: &FileKey, prefix: &PayloadPrefix) -> Result<ChunkCipher> {
        Self::for_decryption_in_context(file_key, prefix, CONTEXT_V1)
    }

    /// As [`ChunkCipher::for_decryption`], for a C2SP Cobblestone-256 payload written with
    /// another context than coffer v1's (the C2SP and Wycheproof vectors use several).
    ///
    /// # Errors
    /// [`Error::CommitmentMismatch`] if the commitment does not match.
    pub fn for_decryption_in_context(
        file_key: &FileKey,
        prefix: &PayloadPrefix,
        context: &[u8],
    ) -> Result<ChunkCipher> {
        let (cipher, commitment) = derive(AeadBackend::DEFAULT, file_key, &prefix.salt, context);
        if bool::from(commitment.ct_eq(&prefix.commitment)) {
            Ok(cipher)
        } else {
            Err(Error::CommitmentMismatch)
        }
    }

    fn nonce(&self, index: u64) -> [u8; NONCE_LEN] {
        let mut nonce = self.base_nonce;
        for (byte, counter) in nonce[4..].iter_mut().zip(index.to_be_bytes()) {
            *byte ^= counter;
        }
        nonce
    }

    /// Encrypts `buf[..len]` in place as chunk `index` and writes the tag to
    /// `buf[len..len + TAG_LEN]`.
    ///
    /// # Errors
    /// [`Error::MessageTooLong`] when `index` reaches 2^38.
    pub fn seal(&self, index: u64, buf: &mut [u8], len: usize) -> Result<()> {
        if index >= MAX_CHUNKS {
            return Err(Error::MessageTooLong);
        }
        debug_assert!(len <= CHUNK_SIZE && buf.len() >= len + TAG_LEN);
        let (text, rest) = buf.split_at_mut(len);
        let tag = self.aead.seal(self.nonce(index), text);
        rest[..TAG_LEN].copy_from_slice(&tag);
        Ok(())
    }

    /// Encrypts `plaintext` (at most [`CHUNK_SIZE`] bytes) as chunk `index` into
    /// `out[..plaintext.len() + TAG_LEN]`, leaving `plaintext` as it was.
    ///
    /// # Errors
    /// [`Error::MessageTooLong`] when `index` reaches 2^38.
    pub fn seal_from(&self, index: u64, plaintext: &[u8], out: &mut [u8]) -> Result<()> {
        if index >= MAX_CHUNKS {
            return Err(Error::MessageTooLong);
        }
        let len = plaintext.len();
        debug_assert!(len <= CHUNK_SIZE && out.len() >= len + TAG_LEN);
        let (text, rest) = out.split_at_mut(len);
        let tag = self.aead.seal_into(self.nonce(index), plaintext, text);
        rest[..TAG_LEN].copy_from_slice(&tag);
        Ok(())
    }

    /// Authenticates and decrypts chunk `index` (`ciphertext || tag`) in place, returning
    /// the plaintext length. On failure the buffer holds no plaintext, and not
    /// necessarily the ciphertext either (one backend zeroes it): a caller that may
    /// need to explain the failure uses [`ChunkCipher::open_near_end`] or
    /// [`ChunkCipher::open_into`].
    ///
    /// # Errors
    /// [`Error::ChunkAuthentication`], or [`Error::MessageTooLong`] past 2^38 chunks.
    pub fn open(&self, index: u64, chunk: &mut [u8]) -> Result<usize> {
        let (len, tag) = split_tag(index, chunk)?;
        let (text, _) = chunk.split_at_mut(len);
        self.aead
            .open(self.nonce(index), text, &tag)
            .map_err(|_| Error::ChunkAuthentication { index })?;
        Ok(len)
    }

    /// As [`ChunkCipher::open`], but decrypts into `out[..len]` and leaves `chunk` as it
    /// was, so the ciphertext is still there to explain a failure.
    ///
    /// # Errors
    /// As [`ChunkCipher::open`].
    pub fn open_into(&self, index: u64, chunk: &[u8], out: &mut [u8]) -> Result<usize> {
        let (len, tag) = split_tag(index, chunk)?;
        self.aead
            .open_into(self.nonce(index), &chunk[..len], &tag, &mut out[..len])
            .map_err(|_| Error::ChunkAuthentication { index })?;
        Ok(len)
    }

    /// Opens the full chunk at the start of `window`, which holds everything up to the
    /// end of the input when that end is near; a failure is explained as
    /// [`ChunkCipher::explain_failure`] does. Near the end this first copies the chunk's
    /// ciphertext (a chunk or two per file), since a failed open may wipe it.
    ///
    /// # Errors
    /// As [`ChunkCipher::explain_failure`], or [`Error::MessageTooLong`].
    pub fn open_near_end(&self, index: u64, window: &mut [u8]) -> Result<usize> {
        let chunk_len = window.len().min(ENCRYPTED_CHUNK_SIZE);
        if window.len() >= 2 * ENCRYPTED_CHUNK_SIZE {
            return self.open(index, &mut window[..chunk_len]);
        }
        let ciphertext = Zeroizing::new(window[..chunk_len].to_vec());
        self.open(index, &mut window[..chunk_len])
            .map_err(|err| match err {
                Error::ChunkAuthentication { .. } => {
                    window[..chunk_len].copy_from_slice(&ciphertext);
                    self.explain_failure(index, window)
                }
                other => other,
            })
    }

    /// Opens the last segment of a stream: the bytes after the last full chunk, which
    /// must be one final chunk of `TAG_LEN..ENCRYPTED_CHUNK_SIZE` bytes.
    /// On failure the segment still holds the ciphertext.
    ///
    /// # Errors
    /// [`Error::Truncated`] for an empty or too-short segment, [`Error::TrailingData`]
    /// when a prefix of it authenticates as the final chunk, else
    /// [`Error::ChunkAuthentication`].
    pub fn open_final(&self, index: u64, segment: &mut [u8]) -> Result<usize> {
        match segment.len() {
            0 => Err(Error::Truncated {
                at_chunk: Some(index),
            }),
            n if n < TAG_LEN => Err(Error::Truncated { at_chunk: None }),
            n if n >= ENCRYPTED_CHUNK_SIZE => Err(self.explain_failure(index, segment)),
            _ => {
                let ciphertext = Zeroizing::new(segment.to_vec());
                self.open(index, segment).map_err(|err| match err {
                    Error::ChunkAuthentication { .. } => {
                        segment.copy_from_slice(&ciphertext);
                        self.explain_failure(index, &ciphertext)
                    }
                    other => other,
                })
            }
        }
    }

    /// Says why the chunk at the start of `window` (everything up to the end of the
    /// input) failed: if some shorter prefix of it authenticates as the final chunk, the
    /// rest is trailing data; otherwise it is an authentication failure. This costs up to
    /// 16 K trial decryptions (about 0.3 s), paid only on a failure within the last two
    /// chunk widths of a file.
    pub fn explain_failure(&self, index: u64, window: &[u8]) -> Error {
        // Only a chunk among the last two chunk widths of the input can be a final chunk
        // with trailing bytes worth diagnosing; anything earlier is plain tampering.
        if window.len() >= 2 * ENCRYPTED_CHUNK_SIZE {
            return Error::ChunkAuthentication { index };
        }
        let longest = window.len().min(ENCRYPTED_CHUNK_SIZE - 1);
        let mut scratch = Zeroizing::new(vec![0u8; longest]);
        for len in (TAG_LEN..=longest).rev() {
            if len == window.len() {
                continue;
            }
            scratch[..len].copy_from_slice(&window[..len]);
            if self.open(index, &mut scratch[..len]).is_ok() {
                return Error::TrailingData {
                    bytes: (window.len() - len) as u64,
                };
            }
        }
        Error::ChunkAuthentication { index }
    }
}

/// Splits `ciphertext || tag`, returning the ciphertext length and the tag.
fn split_tag(index: u64, chunk: &[u8]) -> Result<(usize, [u8; TAG_LEN])> {
    if index >= MAX_CHUNKS {
        return Err(Error::MessageTooLong);
    }
    let len = chunk
        .len()
        .checked_sub(TAG_LEN)
        .ok_or(Error::ChunkAuthentication { index })?;
    let tag = chunk[len..].try_into().expect("split at the tag length");
    Ok((len, tag))
}

/// `key || base nonce || commitment = HKDF-Expand-SHA-512(prk = file key,
/// info = INFO_PREFIX || AEAD_NAME || 0x00 || salt || context, L = 76)`; coffer v1 files
/// use `CONTEXT_V1`.
fn derive(
    backend: AeadBackend,
    file_key: &FileKey,
    salt: &[u8; SALT_LEN],
    context: &[u8],
) -> (ChunkCipher, [u8; COMMITMENT_LEN]) {
    let mut okm = Zeroizing::new([0u8; KEY_LEN + NONCE_LEN + COMMITMENT_LEN]);
    hkdf_expand_sha512(
        file_key.expose(),
        &[INFO_PREFIX, AEAD_NAME, &[0x00], salt, context],
        okm.as_mut(),
    );
    let key: &[u8; KEY_LEN] = okm[..KEY_LEN].try_into().expect("key length");
    let aead = ChunkAead::new(backend, key);
    let mut base_nonce = [0; NONCE_LEN];
    base_nonce.copy_from_slice(&okm[KEY_LEN..KEY_LEN + NONCE_LEN]);
    let mut commitment = [0; COMMITMENT_LEN];
    commitment.copy_from_slice(&okm[KEY_LEN + NONCE_LEN..]);
    (ChunkCipher { aead, base_nonce }, commitment)
}

/// Reads until `buf` is full or the input ends; returns how much was read.
pub(crate) fn read_full<R: Read + ?Sized>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Plaintext length of a payload whose chunks (after the 56-byte prefix) take
/// `chunks_len` bytes, or the error a reader must give for that length.
///
/// # Errors
/// [`Error::Truncated`] when the length cannot end in a valid final chunk.
pub fn plaintext_len(chunks_len: u64) -> Result<u64> {
    let full = chunks_len / ENCRYPTED_CHUNK_SIZE as u64;
    let rest = chunks_len % ENCRYPTED_CHUNK_SIZE as u64;
    if rest == 0 {
        return Err(Error::Truncated {
            at_chunk: Some(full),
        });
    }
    if rest < TAG_LEN as u64 {
        return Err(Error::Truncated { at_chunk: None });
    }
    if full >= MAX_CHUNKS {
        return Err(Error::MessageTooLong);
    }
    Ok(full * CHUNK_SIZE as u64 + rest - TAG_LEN as u64)
}

/// Chunk bytes (excluding the prefix) that a plaintext of `len` bytes encrypts to.
pub fn chunks_len(plaintext_len: u64) -> u64 {
    let full = plaintext_len / CHUNK_SIZE as u64;
    let rest = plaintext_len % CHUNK_SIZE as u64;
    full * ENCRYPTED_CHUNK_SIZE as u64 + rest + TAG_LEN as u64
}

/// A `Write` adapter that encrypts into the payload format, one chunk at a time.
///
/// You MUST call [`EncryptWriter::finish`]: it writes the final short chunk, without
/// which the output is a truncated payload that every reader refuses. Dropping the writer
/// without `finish` leaves exactly that, by design.
pub struct EncryptWriter<W: Write> {
    inner: W,
    cipher: ChunkCipher,
    buf: Zeroizing<Vec<u8>>,
    filled: usize,
    index: u64,
}

impl<W: Write> EncryptWriter<W> {
    /// Writes the payload prefix and returns a writer for the chunks.
    ///
    /// # Errors
    /// Any error writing the prefix.
    pub fn new(mut inner: W, cipher: ChunkCipher, prefix: &PayloadPrefix) -> io::Result<Self> {
        inner.write_all(&prefix.to_bytes())?;
        Ok(EncryptWriter {
            inner,
            cipher,
            buf: Zeroizing::new(vec![0; ENCRYPTED_CHUNK_SIZE]),
            filled: 0,
            index: 0,
        })
    }

    fn flush_chunk(&mut self, kind: ChunkKind) -> io::Result<()> {
        debug_assert!(kind == ChunkKind::Final || self.filled == CHUNK_SIZE);
        self.cipher.seal(self.index, &mut self.buf, self.filled)?;
        self.inner.write_all(&self.buf[..self.filled + TAG_LEN])?;
        self.index += 1;
        self.filled = 0;
        Ok(())
    }

    /// Seals the final chunk (short, possibly empty), flushes, and returns the inner
    /// writer.
    ///
    /// # Errors
    /// Any write error.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush_chunk(ChunkKind::Final)?;
        self.inner.flush()?;
        let EncryptWriter { inner, .. } = self;
        Ok(inner)
    }
}

impl<W: Write> Write for EncryptWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut taken = 0;
        while taken < data.len() {
            // A full chunk is never final, so it can be sealed as soon as it fills.
            if self.filled == CHUNK_SIZE {
                self.flush_chunk(ChunkKind::Full)?;
            }
            let n = (CHUNK_SIZE - self.filled).min(data.len() - taken);
            self.buf[self.filled..self.filled + n].copy_from_slice(&data[taken..taken + n]);
            self.filled += n;
            taken += n;
        }
        if self.filled == CHUNK_SIZE {
            self.flush_chunk(ChunkKind::Full)?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A `Read` adapter that authenticates each chunk before releasing its plaintext.
///
/// Errors are sticky: after one failure every later read fails too. The error crosses
/// `io::Read` wrapped in `io::Error`; [`Error::from_io`] recovers it.
pub struct DecryptReader<R: Read> {
    inner: R,
    cipher: ChunkCipher,
    buf: Zeroizing<Vec<u8>>,
    pos: usize,
    end: usize,
    index: u64,
    state: ReadState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    Reading,
    Done,
    Failed,
}

impl<R: Read> DecryptReader<R> {
    /// A reader over the chunks that follow an already checked prefix.
    pub fn new(inner: R, cipher: ChunkCipher) -> Self {
        DecryptReader {
            inner,
            cipher,
            buf: Zeroizing::new(vec![0; 3 * ENCRYPTED_CHUNK_SIZE]),
            pos: 0,
            end: 0,
            index: 0,
            state: ReadState::Reading,
        }
    }

    /// Reads and opens the next chunk. `buf` is one chunk of plaintext followed by room
    /// for two chunks of ciphertext: full chunks are opened out of place, so a failed
    /// one is still there to be explained with what follows it.
    fn next_chunk(&mut self) -> Result<()> {
        let (plain, input) = self.buf.split_at_mut(ENCRYPTED_CHUNK_SIZE);
        let got = read_full(&mut self.inner, &mut input[..ENCRYPTED_CHUNK_SIZE])?;
        let (start, len) = if got == ENCRYPTED_CHUNK_SIZE {
            match self.cipher.open_into(self.index, &input[..got], plain) {
                Ok(len) => (0, len),
                Err(Error::ChunkAuthentication { index }) => {
                    // Maybe the final chunk plus trailing bytes: look at what is left.
                    let more = read_full(&mut self.inner, &mut input[got..])?;
                    let at_end = got + more < input.len();
                    return Err(if at_end {
                        self.cipher.explain_failure(index, &input[..got + more])
                    } else {
                        Error::ChunkAuthentication { index }
                    });
                }
                Err(other) => return Err(other),
            }
        } else {
            let len = self.cipher.open_final(self.index, &mut input[..got])?;
            self.state = ReadState::Done;
            (ENCRYPTED_CHUNK_SIZE, len)
        };
        self.index += 1;
        self.pos = start;
        self.end = start + len;
        Ok(())
    }

    /// The inner reader back, after the final chunk was read.
    pub fn into_inner(self) -> R {
        let DecryptReader { inner, .. } = self;
        inner
    }
}

impl<R: Read> Read for DecryptReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        while self.pos == self.end {
            match self.state {
                ReadState::Done => return Ok(0),
                ReadState::Failed => {
                    return Err(io::Error::other("coffer stream failed earlier"));
                }
                ReadState::Reading => {
                    // No wipe per chunk: the next chunk overwrites this one, and the
                    // buffer is zeroized on drop.
                    if let Err(err) = self.next_chunk() {
                        self.state = ReadState::Failed;
                        self.pos = 0;
                        self.end = 0;
                        self.buf.as_mut_slice().zeroize();
                        return Err(err.into());
                    }
                }
            }
        }
        let n = out.len().min(self.end - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Random access to the plaintext: `Read + Seek` over `Read + Seek` ciphertext.
///
/// Construction authenticates the final chunk, which authenticates the plaintext length
/// (C2SP requires this before seeks relative to the end). Each read then fetches only the
/// chunks it covers.
pub struct SeekableReader<R: Read + Seek> {
    inner: R,
    cipher: ChunkCipher,
    chunks_offset: u64,
    len: u64,
    pos: u64,
    buf: Zeroizing<Vec<u8>>,
    cached: Option<(u64, usize)>,
}

impl<R: Read + Seek> SeekableReader<R> {
    /// `chunks_offset` is where chunk 0 starts in `inner` (header length + 56).
    ///
    /// # Errors
    /// [`Error::Truncated`], [`Error::ChunkAuthentication`] or [`Error::TrailingData`]
    /// if the final chunk does not authenticate; I/O errors.
    pub fn new(mut inner: R, cipher: ChunkCipher, chunks_offset: u64) -> Result<Self> {
        let end = inner.seek(SeekFrom::End(0))?;
        let chunks_len = end
            .checked_sub(chunks_offset)
            .ok_or(Error::Truncated { at_chunk: None })?;
        let len = plaintext_len(chunks_len).or_else(|err| {
            // An input ending in a full chunk may be a final chunk plus trailing bytes.
            if let Error::Truncated { at_chunk: Some(n) } = err {
                if n > 0 {
                    let mut window = Zeroizing::new(vec![0; ENCRYPTED_CHUNK_SIZE]);
                    inner.seek(SeekFrom::Start(
                        chunks_offset + (n - 1) * ENCRYPTED_CHUNK_SIZE as u64,
                    ))?;
                    inner.read_exact(&mut window)?;
                    cipher.open_near_end(n - 1, &mut window)?;
                }
            }
            Err(err)
        })?;
        let mut reader = SeekableReader {
            inner,
            cipher,
            chunks_offset,
            len,
            pos: 0,
            buf: Zeroizing::new(vec![0; ENCRYPTED_CHUNK_SIZE]),
            cached: None,
        };
        let final_index = len / CHUNK_SIZE as u64;
        reader.load(final_index)?;
        Ok(reader)
    }

    /// Plaintext length, authenticated by the final chunk.
    pub fn plaintext_len(&self) -> u64 {
        self.len
    }

    fn load(&mut self, index: u64) -> Result<()> {
        if self.cached.is_some_and(|(i, _)| i == index) {
            return Ok(());
        }
        self.cached = None;
        let final_index = self.len / CHUNK_SIZE as u64;
        let start = self.chunks_offset + index * ENCRYPTED_CHUNK_SIZE as u64;
        self.inner.seek(SeekFrom::Start(start))?;
        let (want, kind) = if index == final_index {
            (
                (self.len % CHUNK_SIZE as u64) as usize + TAG_LEN,
                ChunkKind::Final,
            )
        } else {
            (ENCRYPTED_CHUNK_SIZE, ChunkKind::Full)
        };
        let got = read_full(&mut self.inner, &mut self.buf[..want])?;
        if got < want {
            return Err(Error::Truncated { at_chunk: None });
        }
        let opened = match kind {
            ChunkKind::Final => self.cipher.open_final(index, &mut self.buf[..want]),
            ChunkKind::Full => self.cipher.open(index, &mut self.buf[..want]),
        };
        match opened {
            Ok(len) => {
                self.cached = Some((index, len));
                Ok(())
            }
            Err(err) => {
                // Wipe the contents, not the Vec: later reads reuse the buffer.
                self.buf.as_mut_slice().zeroize();
                Err(err)
            }
        }
    }
}

impl<R: Read + Seek> Read for SeekableReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() || self.pos >= self.len {
            return Ok(0);
        }
        let index = self.pos / CHUNK_SIZE as u64;
        self.load(index)?;
        let (_, len) = self.cached.expect("loaded above");
        let offset = (self.pos % CHUNK_SIZE as u64) as usize;
        let n = out.len().min(len - offset);
        out[..n].copy_from_slice(&self.buf[offset..offset + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for SeekableReader<R> {
    fn seek(&mut self, target: SeekFrom) -> io::Result<u64> {
        let new = match target {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match new {
            Some(n) => {
                self.pos = n;
                Ok(n)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the plaintext",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file cut after the seekable reader checked its length reads as truncated where
    /// the bytes are missing, not as a failed chunk.
    #[test]
    fn a_file_cut_under_the_seekable_reader_is_truncated() {
        let data = vec![7u8; 3 * CHUNK_SIZE + 10];
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&encrypt(&data)).unwrap();
        let (c, _) = cipher();
        let mut reader =
            SeekableReader::new(file.try_clone().unwrap(), c, PREFIX_LEN as u64).unwrap();
        file.set_len((PREFIX_LEN + ENCRYPTED_CHUNK_SIZE + 100) as u64)
            .unwrap();
        reader.seek(SeekFrom::Start(CHUNK_SIZE as u64 + 5)).unwrap();
        let err = reader.read(&mut [0; 10]).unwrap_err();
        assert!(matches!(Error::from_io(err), Error::Truncated { .. }));
    }

    /// Any other read error ends `read_full` with that error.
    #[test]
    fn other_read_errors_are_returned() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
        }
        let err = read_full(&mut Failing, &mut [0u8; 8]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }

    /// A read interrupted by a signal is retried, not taken for an error or the end.
    #[test]
    fn interrupted_reads_are_retried() {
        struct Interrupting<'a>(&'a [u8], bool);
        impl Read for Interrupting<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.1 = !self.1;
                if self.1 {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                let n = buf.len().min(5);
                self.0.read(&mut buf[..n])
            }
        }
        let data: Vec<u8> = (0..100).collect();
        let mut buf = [0u8; 64];
        let n = read_full(&mut Interrupting(&data, false), &mut buf).unwrap();
        assert_eq!(&buf[..n], &data[..64]);
    }

    #[test]
    fn debug_of_a_cipher_names_it_and_nothing_else() {
        let (c, _) = cipher();
        assert_eq!(format!("{c:?}"), "ChunkCipher([REDACTED])");
    }

    /// `flush` reaches the writer underneath (the CLI flushes its output buffer this way).
    #[test]
    fn flushing_the_encrypt_writer_flushes_its_inner_writer() {
        struct Flushes(usize);
        impl Write for Flushes {
            fn write(&mut self, data: &[u8]) -> io::Result<usize> {
                Ok(data.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                self.0 += 1;
                Ok(())
            }
        }
        let (c, prefix) = cipher();
        let mut w = EncryptWriter::new(Flushes(0), c, &prefix).unwrap();
        w.write_all(b"abc").unwrap();
        w.flush().unwrap();
        assert_eq!(w.inner.0, 1);
    }

    fn cipher() -> (ChunkCipher, PayloadPrefix) {
        ChunkCipher::with_salt(&FileKey::from_bytes([9; 32]), [4; SALT_LEN])
    }

    fn encrypt(data: &[u8]) -> Vec<u8> {
        let (c, prefix) = cipher();
        let mut w = EncryptWriter::new(Vec::new(), c, &prefix).unwrap();
        w.write_all(data).unwrap();
        w.finish().unwrap()
    }

    fn decrypt(ct: &[u8]) -> Result<Vec<u8>> {
        let mut input = ct;
        let prefix = PayloadPrefix::read_from(&mut input)?;
        let c = ChunkCipher::for_decryption(&FileKey::from_bytes([9; 32]), &prefix)?;
        let mut out = Vec::new();
        DecryptReader::new(input, c)
            .read_to_end(&mut out)
            .map_err(Error::from_io)?;
        Ok(out)
    }

    #[test]
    fn lengths_follow_the_chunking_rule() {
        for len in [0u64, 1, 16383, 16384, 16385, 32768, 100_000] {
            let ct = encrypt(&vec![7; len as usize]);
            assert_eq!(ct.len() as u64, PREFIX_LEN as u64 + chunks_len(len));
            assert_eq!(plaintext_len(chunks_len(len)).unwrap(), len);
            assert_eq!(decrypt(&ct).unwrap().len() as u64, len);
        }
    }

    #[test]
    fn nonce_xors_counter_into_low_bytes() {
        let (c, _) = cipher();
        let n0 = c.nonce(0);
        let n1 = c.nonce((1 << 38) - 1);
        assert_eq!(n0[..7], n1[..7]);
        assert_eq!(n0[7] ^ n1[7], 0x3f);
        assert!(n0[8..].iter().zip(&n1[8..]).all(|(a, b)| a ^ b == 0xff));
    }

    #[test]
    fn a_full_chunk_is_never_a_final_chunk() {
        // Callers never hand `open_final` a full-length segment, so only this test keeps
        // the guard honest: a final chunk is shorter than a full one, or the file would
        // have two encodings (and a truncated file would open).
        let (c, _) = cipher();
        let mut chunk = vec![3u8; ENCRYPTED_CHUNK_SIZE];
        c.seal(4, &mut chunk, CHUNK_SIZE).unwrap();
        let mut copy = chunk.clone();
        assert_eq!(c.open(4, &mut copy).unwrap(), CHUNK_SIZE);
        assert!(matches!(
            c.open_final(4, &mut chunk),
            Err(Error::ChunkAuthentication { index: 4 })
        ));
    }

    #[test]
    fn refuses_counter_at_two_to_the_38() {
        let (c, _) = cipher();
        let mut buf = [0u8; TAG_LEN];
        assert!(matches!(
            c.seal(MAX_CHUNKS, &mut buf, 0),
            Err(Error::MessageTooLong)
        ));
    }

    #[test]
    fn bad_tag_releases_no_plaintext() {
        let (c, _) = cipher();
        let mut chunk = vec![5u8; 100 + TAG_LEN];
        c.seal(0, &mut chunk, 100).unwrap();
        chunk[100] ^= 1;
        let before = chunk.clone();
        assert!(c.open(0, &mut chunk).is_err());
        // The ciphertext as it was (aes-gcm) or zeroes (AWS-LC), never plaintext.
        assert!(chunk == before || chunk[..100].iter().all(|&b| b == 0));
        let mut out = vec![0xaa; 100];
        assert!(c.open_into(0, &before, &mut out).is_err());
        assert!(
            out.iter().all(|&b| b == 0xaa || b == 0),
            "no plaintext released"
        );
    }

    #[test]
    fn detects_truncation_and_trailing_data() {
        let ct = encrypt(&[1; 2 * CHUNK_SIZE]);
        let at_boundary = PREFIX_LEN + 2 * ENCRYPTED_CHUNK_SIZE;
        assert!(matches!(
            decrypt(&ct[..at_boundary]),
            Err(Error::Truncated { at_chunk: Some(2) })
        ));
        let mut extra = ct.clone();
        extra.push(0);
        assert!(matches!(
            decrypt(&extra),
            Err(Error::TrailingData { bytes: 1 })
        ));
        let mut lots = encrypt(&[1; CHUNK_SIZE - 1]);
        lots.extend_from_slice(&[0; 20]);
        assert!(matches!(
            decrypt(&lots),
            Err(Error::TrailingData { bytes: 20 })
        ));
    }

    #[test]
    fn seekable_reader_reads_any_range() {
        let data: Vec<u8> = (0..50_000u32).map(|i| (i * 7) as u8).collect();
        let ct = encrypt(&data);
        let (c, _) = cipher();
        let mut r = SeekableReader::new(io::Cursor::new(&ct), c, PREFIX_LEN as u64).unwrap();
        assert_eq!(r.plaintext_len(), data.len() as u64);
        for (start, len) in [
            (0usize, 10usize),
            (16380, 10),
            (49_990, 10),
            (20_000, 30_000),
        ] {
            r.seek(SeekFrom::Start(start as u64)).unwrap();
            let mut out = vec![0; len];
            r.read_exact(&mut out).unwrap();
            assert_eq!(out, data[start..start + len]);
        }
    }
}
