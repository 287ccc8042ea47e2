//! Passphrase slots (type `0x01`; FORMAT.md, "Passphrase slot body"): the file key
//! wrapped under a key stretched from a passphrase with Argon2id.
//!
//! The stretched key ([`PassphraseKey`]) depends only on the passphrase, the parameters
//! and the salt, so one derivation serves every file of a batch; each slot is still
//! bound to its file by the header nonce.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use zeroize::{Zeroize, ZeroizeOnDrop};

use super::{CommittedWrap, FileBinding, Identity, Recipient, Slot};
use crate::error::{Error, Result};
use crate::format::RawSlot;
use crate::kdf::{KdfParams, Limits, OUTPUT_LEN, SALT_LEN};
use crate::keys::{random, FileKey, HeaderNonce, Passphrase, SlotKeys, LABEL_PASSPHRASE_SLOT};

/// The slot type byte.
pub const SLOT_TYPE: u8 = 0x01;
/// `m (4) || t (4) || p (4) || salt (16) || check (32) || wrapped key (48)`.
pub const BODY_LEN: usize = 12 + SALT_LEN + CommittedWrap::LEN;

/// A decoded passphrase slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassphraseSlot {
    params: KdfParams,
    salt: [u8; SALT_LEN],
    wrap: CommittedWrap,
}

impl PassphraseSlot {
    /// The Argon2id parameters a reader must run to try this slot.
    pub fn params(&self) -> KdfParams {
        self.params
    }

    /// The Argon2id salt.
    pub fn salt(&self) -> &[u8; SALT_LEN] {
        &self.salt
    }

    pub(crate) fn decode(body: &[u8]) -> Result<Self> {
        if body.len() != BODY_LEN {
            return Err(Error::InvalidHeader(
                "passphrase slot body is not 108 bytes",
            ));
        }
        let word = |at: usize| u32::from_be_bytes(body[at..at + 4].try_into().expect("4 bytes"));
        Ok(PassphraseSlot {
            params: KdfParams {
                memory_kib: word(0),
                passes: word(4),
                lanes: word(8),
            },
            salt: body[12..12 + SALT_LEN].try_into().expect("SALT_LEN bytes"),
            wrap: CommittedWrap::decode(&body[12 + SALT_LEN..]),
        })
    }

    fn encode(&self) -> RawSlot {
        let mut body = Vec::with_capacity(BODY_LEN);
        body.extend_from_slice(&self.params.memory_kib.to_be_bytes());
        body.extend_from_slice(&self.params.passes.to_be_bytes());
        body.extend_from_slice(&self.params.lanes.to_be_bytes());
        body.extend_from_slice(&self.salt);
        self.wrap.encode_into(&mut body);
        RawSlot {
            slot_type: SLOT_TYPE,
            body,
        }
    }
}

/// The Argon2id output for one passphrase, salt and parameter set: the recipient that
/// writes passphrase slots.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct PassphraseKey {
    #[zeroize(skip)]
    params: KdfParams,
    #[zeroize(skip)]
    salt: [u8; SALT_LEN],
    key: [u8; OUTPUT_LEN],
}

impl PassphraseKey {
    /// Derives a key for writing new files under a fresh random salt.
    ///
    /// # Errors
    /// [`Error::KdfBelowFloor`] or [`Error::KdfAboveCap`] for unacceptable parameters.
    pub fn generate(passphrase: &Passphrase, params: KdfParams, limits: &Limits) -> Result<Self> {
        params.check_floor(limits)?;
        Self::derive_unchecked(passphrase, params, random())
    }

    /// Derives with a fixed salt and no floor: the deliberate path for deterministic test
    /// vectors with tiny parameters. Never use it to protect real data.
    ///
    /// # Errors
    /// [`Error::KdfOverLimit`] over the default caps, and Argon2 errors.
    #[doc(hidden)]
    pub fn for_test_vectors(
        passphrase: &Passphrase,
        params: KdfParams,
        salt: [u8; SALT_LEN],
    ) -> Result<Self> {
        params.check_limits(&Limits::default())?;
        Self::derive_unchecked(passphrase, params, salt)
    }

    fn derive_unchecked(
        passphrase: &Passphrase,
        params: KdfParams,
        salt: [u8; SALT_LEN],
    ) -> Result<Self> {
        let out = params.derive(passphrase.expose(), &salt)?;
        Ok(PassphraseKey {
            params,
            salt,
            key: *out,
        })
    }

    /// The Argon2id parameters this key was derived with.
    pub fn params(&self) -> KdfParams {
        self.params
    }

    fn slot_keys(&self, header_nonce: &HeaderNonce) -> SlotKeys {
        SlotKeys::derive(&self.key, header_nonce, LABEL_PASSPHRASE_SLOT)
    }
}

impl Recipient for PassphraseKey {
    fn seal(&self, file_key: &FileKey, file: FileBinding<'_>) -> Result<RawSlot> {
        let slot = PassphraseSlot {
            params: self.params,
            salt: self.salt,
            wrap: CommittedWrap::seal(&self.slot_keys(file.header_nonce), file_key),
        };
        Ok(slot.encode())
    }
}

impl fmt::Debug for PassphraseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassphraseKey")
            .field("params", &self.params)
            .field("key", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// What a passphrase key depends on besides the passphrase.
type KdfInput = (KdfParams, [u8; SALT_LEN]);

/// A passphrase offered to open files: the identity for passphrase slots.
///
/// It applies the reader's [`Limits`] to every passphrase slot of a header before
/// deriving anything, and remembers each key it derives by (parameters, salt), so files
/// written in one run cost one Argon2id derivation to open. Shared across threads; keys
/// are zeroized when it is dropped.
pub struct PassphraseIdentity {
    passphrase: Passphrase,
    limits: Limits,
    keys: Mutex<HashMap<KdfInput, Arc<PassphraseKey>>>,
}

impl fmt::Debug for PassphraseIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassphraseIdentity")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl PassphraseIdentity {
    /// An identity for one passphrase under the reader's `limits`.
    pub fn new(passphrase: Passphrase, limits: Limits) -> Self {
        PassphraseIdentity {
            passphrase,
            limits,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Adds a key derived elsewhere (an encrypt run reading back what it wrote), so
    /// opening those files costs no derivation.
    pub fn remember(&self, key: Arc<PassphraseKey>) {
        self.lock().insert((key.params, key.salt), key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<KdfInput, Arc<PassphraseKey>>> {
        self.keys
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// The key for a slot's parameters and salt, derived at most once.
    ///
    /// Derivation happens under the lock, so concurrent files that share a salt wait for
    /// the first one instead of deriving again; Argon2id itself uses every core.
    ///
    /// # Errors
    /// [`Error::KdfOverLimit`] (before any work) and Argon2 errors.
    pub fn key_for(&self, params: KdfParams, salt: [u8; SALT_LEN]) -> Result<Arc<PassphraseKey>> {
        params.check_limits(&self.limits)?;
        let mut keys = self.lock();
        if let Some(key) = keys.get(&(params, salt)) {
            return Ok(Arc::clone(key));
        }
        let key = Arc::new(PassphraseKey::derive_unchecked(
            &self.passphrase,
            params,
            salt,
        )?);
        keys.insert((params, salt), Arc::clone(&key));
        Ok(key)
    }
}

impl Identity for PassphraseIdentity {
    /// Every passphrase slot's parameters against the caps, then against what Argon2
    /// can run, then their total work against the budget, all before any derivation
    /// (FORMAT.md, "Decryption procedure", step 11). Keys already derived cost nothing.
    fn preflight(&self, slots: &[Slot]) -> Result<()> {
        let passphrase_slots = || {
            slots.iter().filter_map(|slot| match slot {
                Slot::Passphrase(slot) => Some(slot),
                _ => None,
            })
        };
        for slot in passphrase_slots() {
            slot.params.check_caps(&self.limits)?;
        }
        for slot in passphrase_slots() {
            slot.params.check_runnable()?;
        }
        let derived = self.lock();
        let mut counted = Vec::new();
        let mut work = 0u64;
        for slot in passphrase_slots() {
            let input = (slot.params, slot.salt);
            if !derived.contains_key(&input) && !counted.contains(&input) {
                work = work.saturating_add(slot.params.work_mib_passes());
                counted.push(input);
            }
        }
        if work > self.limits.max_work_mib_passes {
            return Err(Error::KdfWorkOverBudget {
                work,
                budget: self.limits.max_work_mib_passes,
            });
        }
        Ok(())
    }

    fn open(&self, slot: &Slot, file: FileBinding<'_>) -> Result<Option<FileKey>> {
        let Slot::Passphrase(slot) = slot else {
            return Ok(None);
        };
        let key = self.key_for(slot.params, slot.salt)?;
        slot.wrap.open(&key.slot_keys(file.header_nonce))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_remembers_the_parameters_it_was_derived_with() {
        let params = KdfParams {
            memory_kib: 64,
            passes: 1,
            lanes: 1,
        };
        let key = PassphraseKey::for_test_vectors(
            &Passphrase::new(b"pw".to_vec()),
            params,
            [1; SALT_LEN],
        )
        .unwrap();
        assert_eq!(key.params(), params);
    }

    #[test]
    fn debug_of_an_identity_names_it_without_the_passphrase() {
        let identity =
            PassphraseIdentity::new(Passphrase::new(b"hunter2".to_vec()), Limits::default());
        let text = format!("{identity:?}");
        assert!(
            text.contains("PassphraseIdentity") && !text.contains("hunter2"),
            "{text}"
        );
    }

    #[test]
    fn an_identity_keeps_the_limits_it_was_given() {
        let limits = Limits {
            max_memory_mib: 77,
            max_work_mib_passes: 1234,
        };
        let identity = PassphraseIdentity::new(Passphrase::new(b"pw".to_vec()), limits);
        assert_eq!(identity.limits().max_memory_mib, 77);
        assert_eq!(identity.limits().max_work_mib_passes, 1234);
    }

    fn tiny() -> KdfParams {
        KdfParams::new(19, 2, 1)
    }

    #[test]
    fn a_slot_opens_with_its_passphrase_only() {
        let pass = Passphrase::new(b"pw".to_vec());
        let key = PassphraseKey::generate(&pass, tiny(), &Limits::default()).unwrap();
        let file_key = FileKey::from_bytes([5; 32]);
        let raw = key
            .seal(&file_key, FileBinding::without_context(&[2; 32]))
            .unwrap();
        let slot = Slot::decode(&raw).unwrap();
        let right = PassphraseIdentity::new(pass, Limits::default());
        let opened = right
            .open(&slot, FileBinding::without_context(&[2; 32]))
            .unwrap()
            .unwrap();
        assert_eq!(opened.expose(), file_key.expose());
        let wrong = PassphraseIdentity::new(Passphrase::new(b"other".to_vec()), Limits::default());
        assert!(wrong
            .open(&slot, FileBinding::without_context(&[2; 32]))
            .unwrap()
            .is_none());
        // Another file's nonce: the check value no longer matches.
        assert!(right
            .open(&slot, FileBinding::without_context(&[3; 32]))
            .unwrap()
            .is_none());
    }

    #[test]
    fn generate_enforces_the_floor() {
        let pass = Passphrase::new(b"pw".to_vec());
        let err = PassphraseKey::generate(&pass, KdfParams::new(1, 1, 1), &Limits::default())
            .unwrap_err();
        assert!(matches!(err, Error::KdfBelowFloor { .. }), "{err}");
    }
}
