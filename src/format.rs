//! The header: fixed fields, key slots and the MAC (FORMAT.md, "Header").
//!
//! Parsing is strict and happens before any key is derived: one valid encoding per
//! header, every reserved field zero, every length canonical and bounded.

use std::io::Read;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};

use crate::error::{Error, Result};
use crate::kdf::{KdfParams, SALT_LEN};
use crate::keys::{
    fill_random, FileKey, PassphraseKey, CHECK_LEN, FILE_KEY_LEN, HEADER_NONCE_LEN, MAC_LEN,
};
use crate::stream::{chunks_len, plaintext_len, read_full, PREFIX_LEN};

/// The first eight bytes of every coffer file: a high byte (catches 7-bit channels),
/// the name, and a line feed (catches newline translation).
pub const MAGIC: [u8; 8] = *b"\x89coffer\n";
/// The format version this library reads and writes.
pub const VERSION: u8 = 1;
/// magic (8) || version (1) || flags (1) || header length (2) || slot count (1) ||
/// reserved (3) || header nonce (32).
pub const FIXED_LEN: usize = 48;
/// slot type (1) || reserved (1) || body length (2).
pub const SLOT_PREFIX_LEN: usize = 4;
/// Slot type of a passphrase (Argon2id) slot.
pub const SLOT_TYPE_PASSPHRASE: u8 = 0x01;
/// Body length of a passphrase slot.
pub const PASSPHRASE_BODY_LEN: usize = 12 + SALT_LEN + CHECK_LEN + WRAPPED_KEY_LEN;
/// A wrapped file key: AES-256-GCM ciphertext and tag.
pub const WRAPPED_KEY_LEN: usize = FILE_KEY_LEN + 16;
/// At most this many slots.
pub const MAX_SLOTS: usize = 16;
/// No header is longer than this (bytes, MAC included).
pub const MAX_HEADER_LEN: usize = 4096;
/// The shortest header: fixed fields, one empty slot, the MAC.
pub const MIN_HEADER_LEN: usize = FIXED_LEN + SLOT_PREFIX_LEN + MAC_LEN;

/// One key slot.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Slot {
    /// The file key wrapped under a key derived from a passphrase.
    Passphrase(PassphraseSlot),
    /// A slot type this version does not know (reserved for key files and public-key
    /// recipients). Kept so the MAC still covers it; it never opens.
    Unknown {
        /// The type byte.
        slot_type: u8,
        /// The body as read.
        body: Vec<u8>,
    },
}

impl Slot {
    /// A short name for reports (`inspect`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Slot::Passphrase(_) => "passphrase",
            Slot::Unknown { .. } => "unknown",
        }
    }
}

/// A passphrase slot: Argon2id parameters and salt, the check value, the wrapped key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassphraseSlot {
    /// Argon2id cost.
    pub params: KdfParams,
    /// Argon2id salt.
    pub salt: [u8; SALT_LEN],
    /// HKDF output that commits to the wrap key; compared in constant time.
    pub check: [u8; CHECK_LEN],
    /// `AES-256-GCM(wrap key, nonce = 0^96, aad = "", file key)`.
    pub wrapped_key: [u8; WRAPPED_KEY_LEN],
}

impl PassphraseSlot {
    /// Wraps `file_key` for the holder of `key`, bound to this file's header nonce.
    pub fn wrap(
        key: &PassphraseKey,
        header_nonce: &[u8; HEADER_NONCE_LEN],
        file_key: &FileKey,
    ) -> Self {
        let keys = key.slot_keys(header_nonce);
        let mut wrapped_key = [0; WRAPPED_KEY_LEN];
        wrapped_key[..FILE_KEY_LEN].copy_from_slice(file_key.expose());
        let aead = Aes256Gcm::new_from_slice(&keys.wrap_key).expect("32-byte key");
        let (text, tag_out) = wrapped_key.split_at_mut(FILE_KEY_LEN);
        let tag = aead
            .encrypt_inout_detached(&Nonce::default(), &[], text.into())
            .expect("32 bytes is below the AES-GCM limit");
        tag_out.copy_from_slice(&tag);
        PassphraseSlot {
            params: key.params(),
            salt: *key.salt(),
            check: keys.check,
            wrapped_key,
        }
    }

    /// Opens the slot with a key derived for its parameters and salt.
    ///
    /// Returns `Ok(None)` when the check value does not match (another passphrase), so
    /// the caller can try the next slot; the AEAD is only tried once the check matched.
    ///
    /// # Errors
    /// [`Error::HeaderAuthentication`] when the check matched but the wrapped key does
    /// not authenticate (the slot was tampered with).
    pub fn unwrap(
        &self,
        key: &PassphraseKey,
        header_nonce: &[u8; HEADER_NONCE_LEN],
    ) -> Result<Option<FileKey>> {
        let keys = key.slot_keys(header_nonce);
        if !keys.check_matches(&self.check) {
            return Ok(None);
        }
        let aead = Aes256Gcm::new_from_slice(&keys.wrap_key).expect("32-byte key");
        let mut file_key = [0; FILE_KEY_LEN];
        file_key.copy_from_slice(&self.wrapped_key[..FILE_KEY_LEN]);
        let tag = Tag::try_from(&self.wrapped_key[FILE_KEY_LEN..]).expect("16-byte tag");
        let opened =
            aead.decrypt_inout_detached(&Nonce::default(), &[], (&mut file_key[..]).into(), &tag);
        let file_key = FileKey::from_bytes(file_key);
        match opened {
            Ok(()) => Ok(Some(file_key)),
            Err(_) => Err(Error::HeaderAuthentication),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.params.memory_kib.to_be_bytes());
        out.extend_from_slice(&self.params.passes.to_be_bytes());
        out.extend_from_slice(&self.params.lanes.to_be_bytes());
        out.extend_from_slice(&self.salt);
        out.extend_from_slice(&self.check);
        out.extend_from_slice(&self.wrapped_key);
    }

    fn decode(body: &[u8]) -> Result<Self> {
        if body.len() != PASSPHRASE_BODY_LEN {
            return Err(Error::InvalidHeader(
                "passphrase slot body is not 108 bytes",
            ));
        }
        let word = |at: usize| u32::from_be_bytes(body[at..at + 4].try_into().expect("4 bytes"));
        let mut slot = PassphraseSlot {
            params: KdfParams {
                memory_kib: word(0),
                passes: word(4),
                lanes: word(8),
            },
            salt: [0; SALT_LEN],
            check: [0; CHECK_LEN],
            wrapped_key: [0; WRAPPED_KEY_LEN],
        };
        let mut at = 12;
        for field in [
            &mut slot.salt[..],
            &mut slot.check[..],
            &mut slot.wrapped_key[..],
        ] {
            field.copy_from_slice(&body[at..at + field.len()]);
            at += field.len();
        }
        Ok(slot)
    }
}

/// A parsed header: everything before the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Random per-file nonce: the HKDF salt of the slot and MAC keys.
    pub header_nonce: [u8; HEADER_NONCE_LEN],
    /// The key slots, in file order.
    pub slots: Vec<Slot>,
    /// The header bytes exactly as read or written, MAC included.
    raw: Vec<u8>,
}

impl Header {
    /// Builds and MACs a header for a new file with one passphrase slot per key.
    ///
    /// # Panics
    /// If `keys` is empty or longer than [`MAX_SLOTS`] (a programming error).
    pub fn seal(
        file_key: &FileKey,
        header_nonce: [u8; HEADER_NONCE_LEN],
        keys: &[&PassphraseKey],
    ) -> Header {
        assert!(!keys.is_empty() && keys.len() <= MAX_SLOTS, "1..=16 slots");
        let slots: Vec<Slot> = keys
            .iter()
            .map(|key| Slot::Passphrase(PassphraseSlot::wrap(key, &header_nonce, file_key)))
            .collect();
        let mut raw = Vec::with_capacity(MAX_HEADER_LEN);
        raw.extend_from_slice(&MAGIC);
        raw.push(VERSION);
        raw.push(0); // flags
        raw.extend_from_slice(&[0, 0]); // header length, filled below
        raw.push(slots.len() as u8);
        raw.extend_from_slice(&[0, 0, 0]);
        raw.extend_from_slice(&header_nonce);
        for slot in &slots {
            let Slot::Passphrase(slot) = slot else {
                unreachable!("only passphrase slots are written")
            };
            raw.push(SLOT_TYPE_PASSPHRASE);
            raw.push(0);
            raw.extend_from_slice(&(PASSPHRASE_BODY_LEN as u16).to_be_bytes());
            slot.encode(&mut raw);
        }
        let total = (raw.len() + MAC_LEN) as u16;
        raw[10..12].copy_from_slice(&total.to_be_bytes());
        let tag = file_key.header_mac_key(&header_nonce).tag(&raw);
        raw.extend_from_slice(&tag);
        debug_assert!(raw.len() <= MAX_HEADER_LEN);
        Header {
            header_nonce,
            slots,
            raw,
        }
    }

    /// A header for a fresh random nonce.
    pub fn seal_new(file_key: &FileKey, keys: &[&PassphraseKey]) -> Header {
        let mut nonce = [0; HEADER_NONCE_LEN];
        fill_random(&mut nonce);
        Self::seal(file_key, nonce, keys)
    }

    /// Reads and strictly parses a header. Needs no key: the MAC is checked by
    /// [`Header::verify_mac`] once a slot has given the file key.
    ///
    /// # Errors
    /// [`Error::NotCoffer`], [`Error::UnsupportedVersion`], [`Error::InvalidHeader`],
    /// [`Error::Truncated`], [`Error::Io`].
    pub fn read_from<R: Read + ?Sized>(reader: &mut R) -> Result<Header> {
        let mut raw = vec![0; FIXED_LEN];
        let got = read_full(reader, &mut raw[..MAGIC.len()])?;
        if raw[..got] != MAGIC[..got] {
            return Err(Error::NotCoffer);
        }
        if got < MAGIC.len() {
            return Err(if got == 0 {
                Error::NotCoffer
            } else {
                Error::Truncated { at_chunk: None }
            });
        }
        if read_full(reader, &mut raw[MAGIC.len()..MAGIC.len() + 1])? < 1 {
            return Err(Error::Truncated { at_chunk: None });
        }
        if raw[8] != VERSION {
            return Err(Error::UnsupportedVersion(raw[8]));
        }
        if read_full(reader, &mut raw[9..])? < FIXED_LEN - 9 {
            return Err(Error::Truncated { at_chunk: None });
        }
        if raw[9] != 0 {
            return Err(Error::InvalidHeader("reserved flags are set"));
        }
        let total = usize::from(u16::from_be_bytes([raw[10], raw[11]]));
        if !(MIN_HEADER_LEN..=MAX_HEADER_LEN).contains(&total) {
            return Err(Error::InvalidHeader("header length out of bounds"));
        }
        let slot_count = usize::from(raw[12]);
        if slot_count == 0 || slot_count > MAX_SLOTS {
            return Err(Error::InvalidHeader("slot count must be 1 to 16"));
        }
        if raw[13..16] != [0, 0, 0] {
            return Err(Error::InvalidHeader("reserved bytes are not zero"));
        }
        raw.resize(total, 0);
        if read_full(reader, &mut raw[FIXED_LEN..])? < total - FIXED_LEN {
            return Err(Error::Truncated { at_chunk: None });
        }
        let mut header_nonce = [0; HEADER_NONCE_LEN];
        header_nonce.copy_from_slice(&raw[16..FIXED_LEN]);
        let slots = parse_slots(&raw[FIXED_LEN..total - MAC_LEN], slot_count)?;
        Ok(Header {
            header_nonce,
            slots,
            raw,
        })
    }

    /// The header bytes, MAC included: what is written before the payload.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// Header length in bytes; the payload starts at this offset.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Never true: a header has at least one slot. Present for API symmetry.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Where chunk 0 starts in a file with this header: after it and the payload prefix.
    pub fn chunks_offset(&self) -> u64 {
        (self.len() + PREFIX_LEN) as u64
    }

    /// The length of a whole file with this header and `plaintext_len` bytes of plaintext.
    pub fn file_len(&self, plaintext_len: u64) -> u64 {
        self.chunks_offset() + chunks_len(plaintext_len)
    }

    /// The plaintext length of a whole file of `file_len` bytes with this header, or the
    /// error a reader must give for that length.
    ///
    /// # Errors
    /// [`Error::Truncated`] when the length cannot end in a valid final chunk (see
    /// [`crate::stream::plaintext_len`]).
    pub fn plaintext_len(&self, file_len: u64) -> Result<u64> {
        let chunks = file_len
            .checked_sub(self.chunks_offset())
            .ok_or(Error::Truncated { at_chunk: None })?;
        plaintext_len(chunks)
    }

    /// Checks the MAC over the header bytes as read, in constant time.
    ///
    /// # Errors
    /// [`Error::HeaderAuthentication`].
    pub fn verify_mac(&self, file_key: &FileKey) -> Result<()> {
        let (body, tag) = self.raw.split_at(self.raw.len() - MAC_LEN);
        let tag: &[u8; MAC_LEN] = tag.try_into().expect("MAC_LEN bytes");
        if file_key
            .header_mac_key(&self.header_nonce)
            .verify(body, tag)
        {
            Ok(())
        } else {
            Err(Error::HeaderAuthentication)
        }
    }
}

fn parse_slots(mut bytes: &[u8], count: usize) -> Result<Vec<Slot>> {
    let mut slots = Vec::with_capacity(count);
    for _ in 0..count {
        if bytes.len() < SLOT_PREFIX_LEN {
            return Err(Error::InvalidHeader("slots do not fill the header length"));
        }
        let slot_type = bytes[0];
        if bytes[1] != 0 {
            return Err(Error::InvalidHeader("reserved slot byte is not zero"));
        }
        let body_len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        let body = bytes
            .get(SLOT_PREFIX_LEN..SLOT_PREFIX_LEN + body_len)
            .ok_or(Error::InvalidHeader(
                "slot body runs past the header length",
            ))?;
        slots.push(match slot_type {
            0 => return Err(Error::InvalidHeader("slot type 0 is reserved")),
            SLOT_TYPE_PASSPHRASE => Slot::Passphrase(PassphraseSlot::decode(body)?),
            other => Slot::Unknown {
                slot_type: other,
                body: body.to_vec(),
            },
        });
        bytes = &bytes[SLOT_PREFIX_LEN + body_len..];
    }
    if !bytes.is_empty() {
        return Err(Error::InvalidHeader(
            "header length does not match the slots it holds",
        ));
    }
    Ok(slots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kdf::Limits;
    use crate::keys::Passphrase;

    fn key() -> PassphraseKey {
        PassphraseKey::derive(
            &Passphrase::new(b"pw".to_vec()),
            KdfParams::new(19, 2, 1),
            [1; SALT_LEN],
            &Limits::default(),
        )
        .unwrap()
    }

    #[test]
    fn header_round_trips_and_opens() {
        let file_key = FileKey::from_bytes([5; 32]);
        let k = key();
        let header = Header::seal(&file_key, [2; 32], &[&k]);
        assert_eq!(
            header.len(),
            FIXED_LEN + SLOT_PREFIX_LEN + PASSPHRASE_BODY_LEN + MAC_LEN
        );
        let parsed = Header::read_from(&mut header.as_bytes()).unwrap();
        assert_eq!(parsed, header);
        parsed.verify_mac(&file_key).unwrap();
        let Slot::Passphrase(slot) = &parsed.slots[0] else {
            panic!()
        };
        let opened = slot.unwrap(&k, &parsed.header_nonce).unwrap().unwrap();
        assert_eq!(opened.expose(), file_key.expose());
    }

    #[test]
    fn file_and_plaintext_lengths_are_inverse_and_short_files_are_truncated() {
        let header = Header::seal(&FileKey::from_bytes([5; 32]), [2; 32], &[&key()]);
        for len in [0, 1, 16383, 16384, 16385, 3 << 20] {
            let file_len = header.file_len(len);
            assert_eq!(header.plaintext_len(file_len).unwrap(), len, "{len}");
        }
        assert_eq!(
            header.file_len(0),
            header.chunks_offset() + crate::stream::TAG_LEN as u64
        );
        for short in [0, header.len() as u64, header.chunks_offset()] {
            assert!(
                matches!(header.plaintext_len(short), Err(Error::Truncated { .. })),
                "{short}"
            );
        }
    }

    #[test]
    fn every_header_byte_is_covered() {
        let file_key = FileKey::from_bytes([5; 32]);
        let header = Header::seal(&file_key, [2; 32], &[&key()]);
        for i in 0..header.len() {
            for bit in [0x01u8, 0x80] {
                let mut bytes = header.as_bytes().to_vec();
                bytes[i] ^= bit;
                let verdict =
                    Header::read_from(&mut &bytes[..]).and_then(|h| h.verify_mac(&file_key));
                assert!(
                    verdict.is_err(),
                    "flip of bit {bit:#x} at byte {i} went unnoticed"
                );
            }
        }
    }
}
