//! What the fuzz targets share: building files under a fixed key, reading them back with
//! arbitrary read splits, damaging them, and the oracles that judge the result.
//!
//! Every use of the coffer API that may change with the key restructuring (the
//! `PassphraseKey` that `Encryptor` needs today) is in [`encrypt`] alone; the targets
//! call only [`coffer::Header`], [`coffer::Decryptor`], [`coffer::FileKey::from_bytes`]
//! and [`coffer::PipelineOptions`] besides this module.

use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use coffer::{Decryptor, Encryptor, Error, FileKey, KdfParams, Passphrase, PassphraseKey};

/// Plaintext bytes per chunk (FORMAT.md, "Payload").
pub const CHUNK_SIZE: usize = 16 * 1024;
/// A full chunk on disk: plaintext and a 16-byte tag.
pub const ENCRYPTED_CHUNK_SIZE: usize = CHUNK_SIZE + 16;
/// Payload salt (24) and key commitment (32), between the header and chunk 0.
pub const PAYLOAD_PREFIX_LEN: usize = 56;
/// The file key of every file the targets build.
pub const FILE_KEY: [u8; 32] = [0x5a; 32];

/// One Argon2id derivation per process, at the cheapest parameters a reader accepts (as
/// the test vectors do): files built here carry one passphrase slot nobody opens.
fn slot_key() -> &'static PassphraseKey {
    static KEY: OnceLock<PassphraseKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let params = KdfParams {
            memory_kib: 64,
            passes: 1,
            lanes: 1,
        };
        PassphraseKey::for_test_vectors(&Passphrase::new(b"fuzz".to_vec()), params, [7; 16])
        .expect("64 KiB, 1 pass, 1 lane is within the reader caps")
    })
}

/// A whole valid file of `plaintext` under [`FILE_KEY`], and where its chunk 0 starts.
pub fn encrypt(plaintext: &[u8]) -> (Vec<u8>, usize) {
    let encryptor = Encryptor::from_parts(
        &FileKey::from_bytes(FILE_KEY),
        [3; 32],
        [9; 24],
        &[slot_key()],
    );
    let chunks_offset = encryptor.header().len() + PAYLOAD_PREFIX_LEN;
    let mut writer = encryptor.writer(Vec::new()).expect("writing to a Vec");
    writer.write_all(plaintext).expect("writing to a Vec");
    (writer.finish().expect("writing to a Vec"), chunks_offset)
}

/// A plaintext of `len` bytes that differs from chunk to chunk, so that a chunk released
/// at the wrong place shows.
pub fn plaintext(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] ^ seed)
        .collect()
}

/// A reader (and seeker) that hands out at most `splits[i]` bytes on its i-th read, so
/// the code under test sees every kind of short read.
pub struct SplitReader<R> {
    inner: R,
    splits: Vec<u16>,
    next: usize,
}

impl<R> SplitReader<R> {
    /// Splits cycle; an empty or all-zero list means no splitting.
    pub fn new(inner: R, splits: &[u16]) -> Self {
        SplitReader {
            inner,
            splits: splits.iter().copied().filter(|&s| s > 0).collect(),
            next: 0,
        }
    }
}

impl<R: Read> Read for SplitReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let limit = match self.splits.get(self.next % self.splits.len().max(1)) {
            Some(&s) => usize::from(s),
            None => buf.len(),
        };
        self.next += 1;
        let n = buf.len().min(limit);
        self.inner.read(&mut buf[..n])
    }
}

impl<R: Seek> Seek for SplitReader<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// Reads `reader` to the end with reads of the given sizes (cycling; 0 becomes 1),
/// returning what it released and how it ended.
pub fn read_to_end_in_steps<R: Read>(mut reader: R, sizes: &[u16]) -> (Vec<u8>, Result<(), Error>) {
    let mut out = Vec::new();
    let mut buf = vec![0; usize::from(u16::MAX)];
    for step in 0.. {
        let size = sizes
            .get(step % sizes.len().max(1))
            .map_or(4096, |&s| usize::from(s).max(1));
        match reader.read(&mut buf[..size]) {
            Ok(0) => return (out, Ok(())),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(err) => return (out, Err(Error::from_io(err))),
        }
    }
    unreachable!("the loop returns")
}

/// The streaming decryptor over `file` under `key`: what it released and how it ended.
pub fn decrypt_streaming(
    file: &[u8],
    key: [u8; 32],
    input_splits: &[u16],
    read_sizes: &[u16],
) -> (Vec<u8>, Result<(), Error>) {
    let opened = Decryptor::new(SplitReader::new(file, input_splits)).and_then(|decryptor| {
        let file_key = decryptor.unlock_with_file_key(FileKey::from_bytes(key))?;
        decryptor.into_reader(&file_key)
    });
    match opened {
        Ok(reader) => read_to_end_in_steps(reader, read_sizes),
        Err(err) => (Vec::new(), Err(err)),
    }
}

/// The seekable reader over `file` under `key`.
pub fn open_seekable(file: &[u8], key: [u8; 32]) -> Result<impl Read + Seek + '_, Error> {
    let decryptor = Decryptor::new(Cursor::new(file))?;
    let file_key = decryptor.unlock_with_file_key(FileKey::from_bytes(key))?;
    decryptor.into_seekable(&file_key)
}

/// Raw-mode input: a 32-byte file key, then the rest. Seeds are `key || file` from
/// tests/vectors (see fuzz/seed.sh).
pub fn split_key(data: &[u8]) -> Option<([u8; 32], &[u8])> {
    let key = data.get(..32)?.try_into().ok()?;
    Some((key, &data[32..]))
}

/// One way to damage a valid file.
#[derive(Arbitrary, Debug, Clone)]
pub enum Damage {
    /// XOR one byte.
    Flip { at: u32, xor: u8 },
    /// Cut the file.
    Truncate { at: u32 },
    /// Add bytes at the end.
    Append { bytes: Vec<u8> },
    /// Remove a run of bytes.
    Remove { at: u32, len: u16 },
    /// Insert bytes.
    Insert { at: u32, bytes: Vec<u8> },
    /// Copy a run of bytes over another place (moves chunks, tags, slot fields).
    Copy { from: u32, to: u32, len: u16 },
}

impl Damage {
    /// Applies the damage (positions wrap around the file's length).
    pub fn apply(&self, file: &mut Vec<u8>) {
        let len = file.len().max(1);
        let at = |x: u32| x as usize % len;
        match self {
            Damage::Flip { at: a, xor } => {
                if !file.is_empty() {
                    let a = at(*a);
                    file[a] ^= xor;
                }
            }
            Damage::Truncate { at: a } => file.truncate(at(*a)),
            Damage::Append { bytes } => file.extend_from_slice(bytes),
            Damage::Remove { at: a, len: n } => {
                let a = at(*a).min(file.len());
                let end = (a + usize::from(*n)).min(file.len());
                file.drain(a..end);
            }
            Damage::Insert { at: a, bytes } => {
                let a = at(*a).min(file.len());
                file.splice(a..a, bytes.iter().copied());
            }
            Damage::Copy { from, to, len: n } => {
                let (from, to) = (at(*from).min(file.len()), at(*to).min(file.len()));
                let n = usize::from(*n).min(file.len() - from).min(file.len() - to);
                file.copy_within(from..from + n, to);
            }
        }
    }
}

/// The most plaintext a correct decryptor may release from `damaged`, a damaged copy of
/// `original` (whose chunk 0 starts at `chunks_offset`): the chunks wholly before the
/// first differing byte (FORMAT.md: a chunk may be released once it authenticates). A
/// cut exactly at a chunk boundary leaves the chunks before it intact: they may be
/// released before the missing final chunk is noticed, as the vector
/// `truncated_at_chunk_boundary` says (`released_len` 16384).
pub fn releasable(original: &[u8], damaged: &[u8], chunks_offset: usize) -> usize {
    let first_change = original
        .iter()
        .zip(damaged)
        .position(|(a, b)| a != b)
        .unwrap_or(original.len().min(damaged.len()));
    let Some(into_chunks) = first_change.checked_sub(chunks_offset) else {
        return 0;
    };
    into_chunks / ENCRYPTED_CHUNK_SIZE * CHUNK_SIZE
}

/// Whether `raw`, a whole header (MAC included), is framed exactly as FORMAT.md says:
/// written from the specification, independently of `coffer::format`. Slot bodies of
/// types this checker does not know are accepted as they are.
pub fn header_framing_is_canonical(raw: &[u8]) -> bool {
    const FIXED: usize = 48;
    const MAC: usize = 32;
    if raw.len() < FIXED + 4 + MAC || raw.len() > 65535 {
        return false;
    }
    let declared = usize::from(u16::from_be_bytes([raw[10], raw[11]]));
    let slot_count = usize::from(raw[12]);
    if &raw[..8] != b"\x89coffer\n"
        || raw[8] != 1
        || (raw[9] != 0 && raw[9] != 0x02)
        || declared != raw.len()
        || !(1..=64).contains(&slot_count)
        || raw[13..16] != [0, 0, 0]
    {
        return false;
    }
    let mut slots = &raw[FIXED..raw.len() - MAC];
    if raw[9] == 0x02 {
        match context_block_len(slots) {
            Some(len) => slots = &slots[len..],
            None => return false,
        }
    }
    for _ in 0..slot_count {
        let [slot_type, reserved, len_hi, len_lo, ..] = *slots else {
            return false;
        };
        let body_len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
        if slot_type == 0 || reserved != 0 || slots.len() < 4 + body_len {
            return false;
        }
        if let Some(required) = fixed_body_len(slot_type) {
            if body_len != required {
                return false;
            }
        }
        slots = &slots[4 + body_len..];
    }
    slots.is_empty()
}

/// The body length FORMAT.md fixes for a slot type ("Slot types"), if it fixes one.
fn fixed_body_len(slot_type: u8) -> Option<usize> {
    match slot_type {
        // Argon2id m, t, p (12), salt (16), check (32), wrapped key (48).
        0x01 => Some(108),
        // check (32), wrapped key (48).
        0x02 => Some(80),
        // ephemeral share (32), check (32), wrapped key (48).
        0x10 => Some(112),
        // X-Wing ciphertext (1120), check (32), wrapped key (48).
        0x11 => Some(1200),
        _ => None,
    }
}

/// Slot types whose every body of the right length a reader accepts: a canonical header
/// made only of these must parse.
pub fn is_fixed_layout_type(slot_type: u8) -> bool {
    fixed_body_len(slot_type).is_some()
}

/// The length of a canonical context block at the start of `bytes` (FORMAT.md, "Context",
/// "The block"), or `None` when it breaks a rule.
fn context_block_len(bytes: &[u8]) -> Option<usize> {
    let field = |at: usize| -> Option<usize> {
        let b = bytes.get(at..at + 2)?;
        Some(usize::from(u16::from_be_bytes([b[0], b[1]])))
    };
    let text_ok = |b: &[u8]| {
        std::str::from_utf8(b).is_ok_and(|t| !t.chars().any(|c| c.is_control()))
    };
    let pairs = field(0)?;
    if !(1..=64).contains(&pairs) {
        return None;
    }
    let mut at = 2;
    let mut previous: Option<&[u8]> = None;
    for _ in 0..pairs {
        let key_len = field(at)?;
        let key = bytes.get(at + 2..at + 2 + key_len)?;
        at += 2 + key_len;
        let value_len = field(at)?;
        let value = bytes.get(at + 2..at + 2 + value_len)?;
        at += 2 + value_len;
        let lower = key.to_ascii_lowercase();
        if !(1..=256).contains(&key_len)
            || !(1..=1024).contains(&value_len)
            || !text_ok(key)
            || !text_ok(value)
            || key.contains(&b'=')
            || lower.starts_with(b"coffer:")
            || lower.starts_with(b"aws:")
            || previous.is_some_and(|p| p >= key)
        {
            return None;
        }
        previous = Some(key);
    }
    (at <= 2048).then_some(at)
}

/// The slot types of a canonically framed header, in order.
pub fn slot_types(raw: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut at = 48;
    if raw[9] == 0x02 {
        at += context_block_len(&raw[48..]).expect("a canonical header");
    }
    for _ in 0..raw[12] {
        types.push(raw[at]);
        at += 4 + usize::from(u16::from_be_bytes([raw[at + 2], raw[at + 3]]));
    }
    types
}
