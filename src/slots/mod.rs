//! Key slots (FORMAT.md, "Slot types"): each slot wraps the file key for one credential.
//!
//! One module per slot type. Each decodes its body strictly, makes a body from a file key
//! ([`Recipient`]), and tries to open a body with one credential ([`Identity`]). The
//! header stays syntax only ([`crate::format`]); [`crate::protocol`] asks every identity
//! the caller offers to open every slot of its type.

pub mod hybrid;
pub mod keyfile;
pub mod kms;
#[cfg(feature = "kms")]
pub mod kms_aws;
pub mod passphrase;
pub mod recipient_text;
pub mod x25519;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use zeroize::Zeroizing;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::format::RawSlot;
use crate::keys::{FileKey, HeaderNonce, SlotKeys, CHECK_LEN, FILE_KEY_LEN};

/// A wrapped file key: AES-256-GCM ciphertext and tag.
pub const WRAPPED_KEY_LEN: usize = FILE_KEY_LEN + 16;

/// What every slot of one file is bound to, besides its credential: the file's header
/// nonce (so a slot lifted into another file does not open there) and its context.
#[derive(Debug, Clone, Copy)]
pub struct FileBinding<'a> {
    /// The header nonce, fresh for every file.
    pub header_nonce: &'a HeaderNonce,
    /// The file's encryption context, empty for most files.
    pub context: &'a Context,
}

impl<'a> FileBinding<'a> {
    /// A file with no context: every file until contexts, and most files after.
    pub fn without_context(header_nonce: &'a HeaderNonce) -> Self {
        FileBinding {
            header_nonce,
            context: Context::EMPTY,
        }
    }
}

/// Something a new file's key can be wrapped for: it makes one slot.
pub trait Recipient: Send + Sync {
    /// Wraps `file_key` into a new slot bound to this file.
    ///
    /// # Errors
    /// Whatever stops the slot from being made (a key service refusing, say).
    fn seal(&self, file_key: &FileKey, file: FileBinding<'_>) -> Result<RawSlot>;
}

/// A credential that may open slots of its type.
pub trait Identity: Send + Sync {
    /// Checks, before any slot is opened, that trying this identity on these slots is
    /// acceptable (for passphrases: the Argon2id work the header asks for).
    ///
    /// # Errors
    /// An error that stops the whole file, such as [`Error::KdfOverLimit`].
    fn preflight(&self, slots: &[Slot]) -> Result<()> {
        let _ = slots;
        Ok(())
    }

    /// Tries to open one slot. `Ok(None)` when the slot is not of this identity's type
    /// or was made for another credential.
    ///
    /// # Errors
    /// [`Error::HeaderAuthentication`] when the slot's check value matched but its
    /// wrapped key did not authenticate: the slot was tampered with.
    fn open(&self, slot: &Slot, file: FileBinding<'_>) -> Result<Option<FileKey>>;
}

/// A slot decoded according to its type. Only non-secret fields are visible.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Slot {
    /// The file key wrapped under a key derived from a passphrase (type `0x01`).
    Passphrase(passphrase::PassphraseSlot),
    /// The file key wrapped under a key from a key file (type `0x02`).
    KeyFile(keyfile::KeyFileSlot),
    /// The file key wrapped for an X25519 public key (type `0x10`).
    X25519(x25519::X25519Slot),
    /// The file key wrapped for an X-Wing (ML-KEM-768 + X25519) public key (type `0x11`).
    Hybrid(hybrid::HybridSlot),
    /// The file key encrypted by AWS KMS (type `0x20`).
    Kms(kms::KmsSlot),
    /// A type this version does not know; the MAC still covers it, it never opens.
    Unknown {
        /// The type byte.
        slot_type: u8,
        /// The body length.
        body_len: usize,
    },
}

impl Slot {
    /// Decodes a framed slot by its type, strictly.
    ///
    /// # Errors
    /// [`Error::InvalidHeader`] when a known type's body is not its exact length.
    pub fn decode(raw: &RawSlot) -> Result<Slot> {
        Ok(match raw.slot_type {
            passphrase::SLOT_TYPE => {
                Slot::Passphrase(passphrase::PassphraseSlot::decode(&raw.body)?)
            }
            keyfile::SLOT_TYPE => Slot::KeyFile(keyfile::KeyFileSlot::decode(&raw.body)?),
            x25519::SLOT_TYPE => Slot::X25519(x25519::X25519Slot::decode(&raw.body)?),
            hybrid::SLOT_TYPE => Slot::Hybrid(hybrid::HybridSlot::decode(&raw.body)?),
            kms::SLOT_TYPE => Slot::Kms(kms::KmsSlot::decode(&raw.body)?),
            other => Slot::Unknown {
                slot_type: other,
                body_len: raw.body.len(),
            },
        })
    }

    /// A short name for reports (`inspect`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Slot::Passphrase(_) => "passphrase",
            Slot::KeyFile(_) => "key-file",
            Slot::X25519(_) => "x25519",
            Slot::Hybrid(_) => "hybrid",
            Slot::Kms(_) => "aws-kms",
            Slot::Unknown { .. } => "unknown",
        }
    }
}

/// The check value and wrapped key that every slot type shares: the check commits
/// to the wrap key, so a reader knows whether a credential is the slot's before it tries
/// the AEAD (FORMAT.md, "Why key-committing slot opening").
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct CommittedWrap {
    pub(crate) check: [u8; CHECK_LEN],
    pub(crate) wrapped_key: [u8; WRAPPED_KEY_LEN],
}

impl std::fmt::Debug for CommittedWrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not secret, but noise in every Debug of a header.
        f.write_str("CommittedWrap { .. }")
    }
}

impl CommittedWrap {
    /// Bytes of `check || wrapped key`.
    pub(crate) const LEN: usize = CHECK_LEN + WRAPPED_KEY_LEN;

    /// `wrapped key = AES-256-GCM(wrap key, nonce = 0^96, aad = "", file key)`.
    pub(crate) fn seal(keys: &SlotKeys, file_key: &FileKey) -> Self {
        let mut wrapped_key = [0; WRAPPED_KEY_LEN];
        wrapped_key[..FILE_KEY_LEN].copy_from_slice(file_key.expose());
        let (text, tag_out) = wrapped_key.split_at_mut(FILE_KEY_LEN);
        let tag = Aes256Gcm::new(&keys.wrap_key.into())
            .encrypt_inout_detached(&Nonce::default(), &[], text.into())
            .expect("32 bytes is below the AES-GCM limit");
        tag_out.copy_from_slice(&tag);
        CommittedWrap {
            check: keys.check,
            wrapped_key,
        }
    }

    /// `Ok(None)` when the check value says `keys` belong to another credential; the
    /// AEAD runs only once the check matched, and its failure then means tampering.
    pub(crate) fn open(&self, keys: &SlotKeys) -> Result<Option<FileKey>> {
        if !keys.check_matches(&self.check) {
            return Ok(None);
        }
        let mut bytes = Zeroizing::new([0; FILE_KEY_LEN]);
        bytes.copy_from_slice(&self.wrapped_key[..FILE_KEY_LEN]);
        let tag = Tag::try_from(&self.wrapped_key[FILE_KEY_LEN..]).expect("16-byte tag");
        Aes256Gcm::new(&keys.wrap_key.into())
            .decrypt_inout_detached(&Nonce::default(), &[], (&mut bytes[..]).into(), &tag)
            .map_err(|_| Error::HeaderAuthentication)?;
        Ok(Some(FileKey::from_bytes(*bytes)))
    }

    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.check);
        out.extend_from_slice(&self.wrapped_key);
    }

    /// From exactly [`CommittedWrap::LEN`] bytes.
    pub(crate) fn decode(bytes: &[u8]) -> Self {
        let mut wrap = CommittedWrap {
            check: [0; CHECK_LEN],
            wrapped_key: [0; WRAPPED_KEY_LEN],
        };
        wrap.check.copy_from_slice(&bytes[..CHECK_LEN]);
        wrap.wrapped_key
            .copy_from_slice(&bytes[CHECK_LEN..Self::LEN]);
        wrap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_wrap_is_short() {
        let wrap = CommittedWrap::decode(&[0; CHECK_LEN + WRAPPED_KEY_LEN]);
        assert_eq!(format!("{wrap:?}"), "CommittedWrap { .. }");
    }
}
