//! Key-file slots (type `0x02`; FORMAT.md, "Key-file slot body" and "Key files"): the
//! file key wrapped under a key derived with HKDF from a random 256-bit key kept in a
//! file. No KDF: opening costs microseconds, so scripts need no passphrase.

use std::fmt;

use bech32::primitives::decode::CheckedHrpstring;
use bech32::{Bech32, Hrp};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::recipient_text::{key_bytes_into, KeyBytesError};
use super::{CommittedWrap, FileBinding, Identity, Recipient, Slot};
use crate::error::{Error, Result};
use crate::format::RawSlot;
use crate::keys::{fill_random, FileKey, HeaderNonce, SlotKeys, LABEL_KEY_FILE_SLOT};

/// The slot type byte.
pub const SLOT_TYPE: u8 = 0x02;
/// `check (32) || wrapped key (48)`.
pub const BODY_LEN: usize = CommittedWrap::LEN;
/// Bytes of the secret in a key file.
pub const KEY_LEN: usize = 32;
/// The Bech32 human-readable part; keys are written upper case, so a key line starts
/// with `COFFER-SYMMETRIC-KEY-1`.
pub const HRP: &str = "coffer-symmetric-key-";

/// A decoded key-file slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFileSlot {
    wrap: CommittedWrap,
}

impl KeyFileSlot {
    pub(crate) fn decode(body: &[u8]) -> Result<Self> {
        if body.len() != BODY_LEN {
            return Err(Error::InvalidHeader("key-file slot body is not 80 bytes"));
        }
        Ok(KeyFileSlot {
            wrap: CommittedWrap::decode(body),
        })
    }
}

/// The secret of a key file: both the recipient that writes key-file slots and the
/// identity that opens them.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SymmetricKey([u8; KEY_LEN]);

impl SymmetricKey {
    /// A fresh key from the OS CSPRNG.
    pub fn generate() -> Self {
        let mut key = SymmetricKey([0; KEY_LEN]);
        fill_random(&mut key.0);
        key
    }

    /// A key from known bytes (test vectors).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        SymmetricKey(bytes)
    }

    /// The key line: `COFFER-SYMMETRIC-KEY-1` followed by the Bech32 data and checksum.
    pub fn to_line(&self) -> Zeroizing<String> {
        Zeroizing::new(
            bech32::encode_upper::<Bech32>(Hrp::parse_unchecked(HRP), &self.0)
                .expect("32 bytes fit a Bech32 string"),
        )
    }

    /// Parses the text of a key file: `#` comment lines and blank lines, and exactly one
    /// key line. A mistyped key fails its checksum here, never later as "wrong key".
    ///
    /// # Errors
    /// [`Error::InvalidKeyFile`] saying what is wrong.
    pub fn parse(text: &[u8]) -> Result<Self> {
        let text = std::str::from_utf8(text)
            .map_err(|_| Error::InvalidKeyFile("it is not text (invalid UTF-8)"))?;
        let mut lines = text
            .lines()
            .map(str::trim_end)
            .filter(|line| !line.is_empty() && !line.starts_with('#'));
        let line = lines
            .next()
            .ok_or(Error::InvalidKeyFile("it holds no key line"))?;
        if lines.next().is_some() {
            return Err(Error::InvalidKeyFile("it holds more than one key line"));
        }
        Self::parse_line(line)
    }

    fn parse_line(line: &str) -> Result<Self> {
        let prefix = HRP.len() + 1;
        let starts_right = line
            .get(..prefix)
            .is_some_and(|p| p.eq_ignore_ascii_case("COFFER-SYMMETRIC-KEY-1"));
        if !starts_right {
            return Err(Error::InvalidKeyFile(
                "its key line does not start with COFFER-SYMMETRIC-KEY-1",
            ));
        }
        let checked = CheckedHrpstring::new::<Bech32>(line).map_err(|_| {
            Error::InvalidKeyFile("checksum mismatch: the key is mistyped, truncated or damaged")
        })?;
        if checked.hrp() != Hrp::parse_unchecked(HRP) {
            return Err(Error::InvalidKeyFile(
                "its key line does not start with COFFER-SYMMETRIC-KEY-1",
            ));
        }
        let mut key = SymmetricKey([0; KEY_LEN]);
        // 52 characters carry 260 bits for 256: the last 4 MUST be zero, so that a key has
        // exactly one line.
        key_bytes_into(&checked, &mut key.0).map_err(|err| {
            Error::InvalidKeyFile(match err {
                KeyBytesError::Longer => "the key is longer than 32 bytes",
                KeyBytesError::Shorter => "the key is shorter than 32 bytes",
                KeyBytesError::Padding => "non-zero padding bits: the key is mistyped or damaged",
            })
        })?;
        Ok(key)
    }

    fn slot_keys(&self, header_nonce: &HeaderNonce) -> SlotKeys {
        SlotKeys::derive(&self.0, header_nonce, LABEL_KEY_FILE_SLOT)
    }
}

impl Recipient for SymmetricKey {
    fn seal(&self, file_key: &FileKey, file: FileBinding<'_>) -> Result<RawSlot> {
        let mut body = Vec::with_capacity(BODY_LEN);
        CommittedWrap::seal(&self.slot_keys(file.header_nonce), file_key).encode_into(&mut body);
        Ok(RawSlot {
            slot_type: SLOT_TYPE,
            body,
        })
    }
}

impl Identity for SymmetricKey {
    fn open(&self, slot: &Slot, file: FileBinding<'_>) -> Result<Option<FileKey>> {
        match slot {
            Slot::KeyFile(slot) => slot.wrap.open(&self.slot_keys(file.header_nonce)),
            _ => Ok(None),
        }
    }
}

impl fmt::Debug for SymmetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SymmetricKey([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_lines_round_trip_in_either_case() {
        let key = SymmetricKey::from_bytes([0xa5; KEY_LEN]);
        let line = key.to_line();
        assert!(line.starts_with("COFFER-SYMMETRIC-KEY-1"), "{}", *line);
        let text = format!("# created: now\n\n{}\n", *line);
        assert_eq!(SymmetricKey::parse(text.as_bytes()).unwrap().0, key.0);
        let lower = line.to_lowercase();
        assert_eq!(SymmetricKey::parse(lower.as_bytes()).unwrap().0, key.0);
    }

    #[test]
    fn every_single_character_typo_fails_the_checksum() {
        let line = SymmetricKey::from_bytes([7; KEY_LEN]).to_line();
        let data_start = HRP.len() + 1;
        for i in data_start..line.len() {
            let mut typo = line.as_bytes().to_vec();
            typo[i] = if typo[i] == b'Q' { b'P' } else { b'Q' };
            let err = SymmetricKey::parse(&typo).unwrap_err();
            assert!(
                matches!(err, Error::InvalidKeyFile(m) if m.starts_with("checksum")),
                "typo at {i}: {err}"
            );
        }
    }

    #[test]
    fn malformed_key_files_say_what_is_wrong() {
        let line = SymmetricKey::from_bytes([7; KEY_LEN]).to_line();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"".to_vec(), "no key line"),
            (b"# only a comment\n".to_vec(), "no key line"),
            (
                format!("{}\n{}\n", *line, *line).into_bytes(),
                "more than one",
            ),
            (b"AGE-SECRET-KEY-1QQQQ".to_vec(), "does not start"),
            (line[..line.len() - 1].as_bytes().to_vec(), "checksum"),
            (vec![0xff, 0xfe], "UTF-8"),
        ];
        for (text, want) in cases {
            let err = SymmetricKey::parse(&text).unwrap_err().to_string();
            assert!(err.contains(want), "{err:?} should say {want:?}");
        }
        // A valid Bech32 string of the wrong length under the right prefix.
        let short = bech32::encode_upper::<Bech32>(Hrp::parse_unchecked(HRP), &[1; 16]).unwrap();
        let err = SymmetricKey::parse(short.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("shorter"), "{err}");
    }

    #[test]
    fn a_slot_opens_with_its_key_only() {
        let key = SymmetricKey::generate();
        let file_key = FileKey::from_bytes([9; 32]);
        let slot = Slot::decode(
            &key.seal(&file_key, FileBinding::without_context(&[1; 32]))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            key.open(&slot, FileBinding::without_context(&[1; 32]))
                .unwrap()
                .unwrap()
                .expose(),
            file_key.expose()
        );
        assert!(SymmetricKey::generate()
            .open(&slot, FileBinding::without_context(&[1; 32]))
            .unwrap()
            .is_none());
        assert!(key
            .open(&slot, FileBinding::without_context(&[2; 32]))
            .unwrap()
            .is_none());
    }

    #[test]
    fn debug_redacts_the_key() {
        let text = format!("{:?}", SymmetricKey::from_bytes([0x41; KEY_LEN]));
        assert!(!text.contains("65") && text.contains("REDACTED"), "{text}");
    }
}
