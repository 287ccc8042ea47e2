//! Hybrid post-quantum slots (type `0x11`; FORMAT.md, "Hybrid slot body"): the file key
//! wrapped under a key from an X-Wing encapsulation (ML-KEM-768 + X25519,
//! draft-connolly-cfrg-xwing-kem). The file stays closed unless both ML-KEM-768 and X25519
//! are broken, so a recording made today is not opened by a future quantum computer.
//!
//! An identity is the 32-byte X-Wing seed, a recipient the 1216-byte X-Wing encapsulation
//! key: the same keys as age 1.3's `age1pq1...` / `AGE-SECRET-KEY-PQ-1...` (its
//! `mlkem768x25519` recipient type); the slot construction and label are coffer's own.

use std::fmt;
use std::str::FromStr;

use x_wing::{
    DecapsulationKeyRejectNonContrib, Decapsulator, EncapsulationKey, KeyExport, KeyInit,
    TryDecapsulate, CIPHERTEXT_SIZE, DECAPSULATION_KEY_SIZE, ENCAPSULATION_KEY_SIZE,
    ENCAPSULATION_RANDOMNESS_SIZE,
};
use zeroize::Zeroizing;

use super::recipient_text::{self, Encoding};
use super::{CommittedWrap, FileBinding, Identity, Recipient, Slot};
use crate::error::{Error, Result};
use crate::format::RawSlot;
use crate::keys::{fill_random, FileKey, HeaderNonce, SlotKeys, LABEL_XWING_SLOT};

/// The slot type byte.
pub const SLOT_TYPE: u8 = 0x11;
/// Bytes of an X-Wing ciphertext: ML-KEM-768 ciphertext (1088) || X25519 share (32).
pub const CIPHERTEXT_LEN: usize = CIPHERTEXT_SIZE;
/// Bytes of an X-Wing encapsulation key (a recipient): ML-KEM-768 (1184) || X25519 (32).
pub const RECIPIENT_LEN: usize = ENCAPSULATION_KEY_SIZE;
/// Bytes of an X-Wing seed (an identity).
pub const SEED_LEN: usize = DECAPSULATION_KEY_SIZE;
/// Bytes of encapsulation randomness: ML-KEM's 32, then the ephemeral X25519 secret.
pub const RANDOMNESS_LEN: usize = ENCAPSULATION_RANDOMNESS_SIZE;
/// `X-Wing ciphertext (1120) || check (32) || wrapped key (48)`.
pub const BODY_LEN: usize = CIPHERTEXT_LEN + CommittedWrap::LEN;

/// coffer's recipient encoding: `coffer1pq1...` (Bech32 beyond the 90-character limit).
pub(crate) const RECIPIENT: Encoding = Encoding {
    hrp: "coffer1pq",
    upper: false,
};
/// age's recipient encoding: `age1pq1...`.
pub(crate) const AGE_RECIPIENT: Encoding = Encoding {
    hrp: "age1pq",
    upper: false,
};
/// coffer's identity encoding: `COFFER-SECRET-KEY-PQ-1...`.
pub(crate) const IDENTITY: Encoding = Encoding {
    hrp: "coffer-secret-key-pq-",
    upper: true,
};
/// age's identity encoding: `AGE-SECRET-KEY-PQ-1...`.
pub(crate) const AGE_IDENTITY: Encoding = Encoding {
    hrp: "age-secret-key-pq-",
    upper: true,
};

/// A decoded hybrid slot.
#[derive(Clone, PartialEq, Eq)]
pub struct HybridSlot {
    ciphertext: Box<[u8; CIPHERTEXT_LEN]>,
    wrap: CommittedWrap,
}

impl HybridSlot {
    pub(crate) fn decode(body: &[u8]) -> Result<Self> {
        if body.len() != BODY_LEN {
            return Err(Error::InvalidHeader("hybrid slot body is not 1200 bytes"));
        }
        let mut ciphertext = Box::new([0; CIPHERTEXT_LEN]);
        ciphertext.copy_from_slice(&body[..CIPHERTEXT_LEN]);
        Ok(HybridSlot {
            ciphertext,
            wrap: CommittedWrap::decode(&body[CIPHERTEXT_LEN..]),
        })
    }

    /// The X-Wing ciphertext.
    pub fn ciphertext(&self) -> &[u8; CIPHERTEXT_LEN] {
        &self.ciphertext
    }
}

impl fmt::Debug for HybridSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // 1120 bytes of ciphertext are noise in every Debug of a header.
        f.write_str("HybridSlot { .. }")
    }
}

/// `wrap key || check = HKDF-SHA-256(ikm = X-Wing shared secret, salt = header nonce,
/// info = LABEL_XWING_SLOT, L = 64)`. The shared secret already binds the ciphertext and
/// the whole encapsulation key (FORMAT.md, "Hybrid slot body").
fn slot_keys(shared_secret: &[u8], header_nonce: &HeaderNonce) -> SlotKeys {
    SlotKeys::derive(shared_secret, header_nonce, LABEL_XWING_SLOT)
}

/// An X-Wing encapsulation key: anyone may encrypt to it; only its [`HybridIdentity`]
/// opens.
#[derive(Clone, PartialEq)]
pub struct HybridRecipient(Box<EncapsulationKey>);

impl HybridRecipient {
    /// The 1216 bytes of the encapsulation key.
    pub fn to_bytes(&self) -> [u8; RECIPIENT_LEN] {
        self.0.to_bytes().into()
    }

    /// From the 1216 bytes of an encapsulation key.
    ///
    /// # Errors
    /// [`Error::InvalidRecipient`] when the ML-KEM-768 part is not a valid key (a
    /// coefficient out of range).
    pub fn from_bytes(bytes: &[u8; RECIPIENT_LEN]) -> Result<Self> {
        EncapsulationKey::try_from(&bytes[..])
            .map(|key| HybridRecipient(Box::new(key)))
            .map_err(|_| {
                Error::InvalidRecipient(
                    "the ML-KEM-768 part of the hybrid key is not a valid key".into(),
                )
            })
    }

    fn seal_with(
        &self,
        randomness: &[u8; RANDOMNESS_LEN],
        file_key: &FileKey,
        file: FileBinding<'_>,
    ) -> RawSlot {
        let (ciphertext, shared) = self.0.encapsulate_deterministic(&(*randomness).into());
        let shared = Zeroizing::new(<[u8; 32]>::from(shared));
        let mut body = Vec::with_capacity(BODY_LEN);
        body.extend_from_slice(&ciphertext);
        CommittedWrap::seal(&slot_keys(shared.as_ref(), file.header_nonce), file_key)
            .encode_into(&mut body);
        RawSlot {
            slot_type: SLOT_TYPE,
            body,
        }
    }

    /// A recipient that encapsulates with this fixed randomness, for deterministic test
    /// vectors. Never use it for real files: the randomness must be fresh.
    #[doc(hidden)]
    pub fn for_test_vectors(self, randomness: [u8; RANDOMNESS_LEN]) -> impl Recipient {
        FixedRandomness {
            recipient: self,
            randomness: Zeroizing::new(randomness),
        }
    }
}

struct FixedRandomness {
    recipient: HybridRecipient,
    randomness: Zeroizing<[u8; RANDOMNESS_LEN]>,
}

impl Recipient for FixedRandomness {
    fn seal(&self, file_key: &FileKey, file: FileBinding<'_>) -> Result<RawSlot> {
        Ok(self.recipient.seal_with(&self.randomness, file_key, file))
    }
}

impl Recipient for HybridRecipient {
    fn seal(&self, file_key: &FileKey, file: FileBinding<'_>) -> Result<RawSlot> {
        let mut randomness = Zeroizing::new([0; RANDOMNESS_LEN]);
        fill_random(randomness.as_mut());
        Ok(self.seal_with(&randomness, file_key, file))
    }
}

impl FromStr for HybridRecipient {
    type Err = Error;

    /// `coffer1pq1...` or age's `age1pq1...`.
    fn from_str(text: &str) -> Result<Self> {
        let bytes = recipient_text::decode_recipient(text, &[RECIPIENT, AGE_RECIPIENT])?;
        HybridRecipient::from_bytes(&bytes)
    }
}

impl fmt::Display for HybridRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&RECIPIENT.encode(&self.to_bytes()))
    }
}

impl fmt::Debug for HybridRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Two thousand characters help nobody; the start tells keys apart.
        let text = self.to_string();
        write!(f, "HybridRecipient({}...)", &text[..24])
    }
}

/// An X-Wing seed: opens the slots sealed to its [`HybridRecipient`].
pub struct HybridIdentity {
    seed: Zeroizing<[u8; SEED_LEN]>,
    // Boxed: the expanded keys are about 1.7 KiB.
    key: Box<DecapsulationKeyRejectNonContrib>,
}

impl HybridIdentity {
    /// A fresh identity from the OS CSPRNG.
    pub fn generate() -> Self {
        let mut seed = Zeroizing::new([0; SEED_LEN]);
        fill_random(seed.as_mut());
        Self::from_seed(seed)
    }

    /// From the 32-byte X-Wing seed, expanded as the X-Wing draft (and age) do.
    pub fn from_seed(seed: Zeroizing<[u8; SEED_LEN]>) -> Self {
        // By reference: no copy of the seed is left behind.
        let key = Box::new(DecapsulationKeyRejectNonContrib::new((&*seed).into()));
        HybridIdentity { seed, key }
    }

    /// The public recipient of this identity.
    pub fn recipient(&self) -> HybridRecipient {
        HybridRecipient(Box::new(self.key.encapsulation_key().clone()))
    }

    /// Parses one identity line: `COFFER-SECRET-KEY-PQ-1...` or age's
    /// `AGE-SECRET-KEY-PQ-1...`.
    ///
    /// # Errors
    /// [`Error::InvalidIdentity`], saying what is wrong without quoting the line.
    pub fn parse(line: &str) -> Result<Self> {
        let seed = recipient_text::decode_identity::<SEED_LEN>(line, &[IDENTITY, AGE_IDENTITY])?;
        Ok(Self::from_seed(seed))
    }

    /// The identity line in coffer's encoding, `COFFER-SECRET-KEY-PQ-1...`.
    pub fn to_line(&self) -> Zeroizing<String> {
        Zeroizing::new(IDENTITY.encode(self.seed.as_ref()))
    }
}

impl Identity for HybridIdentity {
    fn open(&self, slot: &Slot, file: FileBinding<'_>) -> Result<Option<FileKey>> {
        let Slot::Hybrid(slot) = slot else {
            return Ok(None);
        };
        let ciphertext = x_wing::Ciphertext::from(*slot.ciphertext);
        // A non-contributory X25519 share: no writer made it (see X25519Identity::open).
        let shared = self
            .key
            .try_decapsulate(&ciphertext)
            .map_err(|_| Error::HeaderAuthentication)?;
        let shared = Zeroizing::new(<[u8; 32]>::from(shared));
        slot.wrap
            .open(&slot_keys(shared.as_ref(), file.header_nonce))
    }
}

impl fmt::Debug for HybridIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HybridIdentity([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_slot_is_short() {
        let slot = HybridSlot::decode(&[0; BODY_LEN]).unwrap();
        assert_eq!(format!("{slot:?}"), "HybridSlot { .. }");
    }

    #[test]
    fn a_decoded_slot_shows_its_ciphertext() {
        let body: Vec<u8> = (0..BODY_LEN).map(|i| (i * 7) as u8).collect();
        let slot = HybridSlot::decode(&body).unwrap();
        assert_eq!(&slot.ciphertext()[..], &body[..CIPHERTEXT_LEN]);
    }

    fn binding(nonce: &HeaderNonce) -> FileBinding<'_> {
        FileBinding::without_context(nonce)
    }

    #[test]
    fn a_slot_opens_with_its_identity_only() {
        let identity = HybridIdentity::generate();
        let file_key = FileKey::from_bytes([9; 32]);
        let raw = identity
            .recipient()
            .seal(&file_key, binding(&[1; 32]))
            .unwrap();
        assert_eq!(raw.body.len(), BODY_LEN);
        let slot = Slot::decode(&raw).unwrap();
        let opened = identity.open(&slot, binding(&[1; 32])).unwrap().unwrap();
        assert_eq!(opened.expose(), file_key.expose());
        let other = HybridIdentity::generate();
        assert!(other.open(&slot, binding(&[1; 32])).unwrap().is_none());
        assert!(identity.open(&slot, binding(&[2; 32])).unwrap().is_none());
    }

    #[test]
    fn an_ml_kem_key_out_of_range_is_not_a_recipient() {
        // 12-bit coefficients of 0xfff are over q = 3329: FIPS 203's modulus check.
        let mut bytes = HybridIdentity::generate().recipient().to_bytes();
        bytes[..1184 - 32].fill(0xff);
        assert!(matches!(
            HybridRecipient::from_bytes(&bytes),
            Err(Error::InvalidRecipient(_))
        ));
    }

    #[test]
    fn lines_round_trip_and_debug_redacts() {
        let identity = HybridIdentity::from_seed(Zeroizing::new([0x41; SEED_LEN]));
        let line = identity.to_line();
        assert!(line.starts_with("COFFER-SECRET-KEY-PQ-1"), "{}", *line);
        let again = HybridIdentity::parse(&line).unwrap();
        assert!(again.recipient() == identity.recipient());
        let text = identity.recipient().to_string();
        assert!(text.starts_with("coffer1pq1"), "{}", &text[..20]);
        assert!(text.parse::<HybridRecipient>().unwrap() == identity.recipient());
        let debug = format!("{identity:?}");
        assert!(
            debug.contains("REDACTED") && !debug.contains("65"),
            "{debug}"
        );
    }

    #[test]
    fn debug_of_a_recipient_is_its_start() {
        let recipient = HybridIdentity::from_seed(Zeroizing::new([0x42; SEED_LEN])).recipient();
        let text = recipient.to_string();
        assert_eq!(
            format!("{recipient:?}"),
            format!("HybridRecipient({}...)", &text[..24])
        );
    }
}
