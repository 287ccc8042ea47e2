//! X25519 slots (type `0x10`; FORMAT.md, "X25519 slot body" and "Recipient and identity
//! encodings"): the file key wrapped under a key agreed between a fresh ephemeral X25519
//! key and the recipient's public key. Classic, not post-quantum: see [`super::hybrid`].
//!
//! The same key pair as age's `age1...` / `AGE-SECRET-KEY-1...`; the slot construction and
//! its HKDF label are coffer's own (FORMAT.md, "Sharing a key with age").

use std::fmt;
use std::str::FromStr;

use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::recipient_text::{self, Encoding};
use super::{CommittedWrap, FileBinding, Identity, Recipient, Slot};
use crate::error::{Error, Result};
use crate::format::RawSlot;
use crate::keys::{fill_random, FileKey, HeaderNonce, SlotKeys, LABEL_X25519_SLOT};

/// The slot type byte.
pub const SLOT_TYPE: u8 = 0x10;
/// Bytes of an X25519 public key, secret key or share.
pub const KEY_LEN: usize = 32;
/// `ephemeral share (32) || check (32) || wrapped key (48)`.
pub const BODY_LEN: usize = KEY_LEN + CommittedWrap::LEN;

/// coffer's recipient encoding: `coffer1...` (Bech32, lower case).
pub(crate) const RECIPIENT: Encoding = Encoding {
    hrp: "coffer",
    upper: false,
};
/// age's recipient encoding: `age1...`.
pub(crate) const AGE_RECIPIENT: Encoding = Encoding {
    hrp: "age",
    upper: false,
};
/// coffer's identity encoding: `COFFER-SECRET-KEY-1...` (Bech32, upper case).
pub(crate) const IDENTITY: Encoding = Encoding {
    hrp: "coffer-secret-key-",
    upper: true,
};
/// age's identity encoding: `AGE-SECRET-KEY-1...`.
pub(crate) const AGE_IDENTITY: Encoding = Encoding {
    hrp: "age-secret-key-",
    upper: true,
};

/// A decoded X25519 slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X25519Slot {
    ephemeral_share: [u8; KEY_LEN],
    wrap: CommittedWrap,
}

impl X25519Slot {
    pub(crate) fn decode(body: &[u8]) -> Result<Self> {
        if body.len() != BODY_LEN {
            return Err(Error::InvalidHeader("X25519 slot body is not 112 bytes"));
        }
        let mut ephemeral_share = [0; KEY_LEN];
        ephemeral_share.copy_from_slice(&body[..KEY_LEN]);
        Ok(X25519Slot {
            ephemeral_share,
            wrap: CommittedWrap::decode(&body[KEY_LEN..]),
        })
    }

    /// The ephemeral public share the writer sent.
    pub fn ephemeral_share(&self) -> &[u8; KEY_LEN] {
        &self.ephemeral_share
    }
}

/// `wrap key || check = HKDF-SHA-256(ikm = shared secret, salt = header nonce,
/// info = LABEL_X25519_SLOT || ephemeral share || recipient public key, L = 64)`.
///
/// `None` when the shared secret is all zero: the share is a low-order point, which no
/// honest writer sends (RFC 7748, section 6.1).
fn slot_keys(
    secret: &StaticSecret,
    peer: &PublicKey,
    ephemeral_share: &[u8; KEY_LEN],
    recipient: &[u8; KEY_LEN],
    header_nonce: &HeaderNonce,
) -> Option<SlotKeys> {
    let shared = secret.diffie_hellman(peer);
    if !shared.was_contributory() {
        return None;
    }
    let mut info = Vec::with_capacity(LABEL_X25519_SLOT.len() + 2 * KEY_LEN);
    info.extend_from_slice(LABEL_X25519_SLOT);
    info.extend_from_slice(ephemeral_share);
    info.extend_from_slice(recipient);
    Some(SlotKeys::derive(shared.as_bytes(), header_nonce, &info))
}

/// An X25519 public key: anyone may encrypt to it; only its [`X25519Identity`] opens.
#[derive(Clone, PartialEq, Eq)]
pub struct X25519Recipient(PublicKey);

impl X25519Recipient {
    /// The public key bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        self.0.as_bytes()
    }

    /// From raw public key bytes. Every 32-byte string is accepted here; a low-order
    /// key is refused when sealing.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        X25519Recipient(PublicKey::from(bytes))
    }

    /// Seals with a given ephemeral secret (test vectors only; a reused ephemeral secret
    /// is harmless to the file key only because the header nonce differs).
    fn seal_with(
        &self,
        ephemeral_secret: &StaticSecret,
        file_key: &FileKey,
        file: FileBinding<'_>,
    ) -> Result<RawSlot> {
        let share = PublicKey::from(ephemeral_secret);
        let keys = slot_keys(
            ephemeral_secret,
            &self.0,
            share.as_bytes(),
            self.as_bytes(),
            file.header_nonce,
        )
        .ok_or_else(|| {
            Error::InvalidRecipient(
                "the X25519 public key is a low-order point (it would agree an all-zero secret)"
                    .into(),
            )
        })?;
        let mut body = Vec::with_capacity(BODY_LEN);
        body.extend_from_slice(share.as_bytes());
        CommittedWrap::seal(&keys, file_key).encode_into(&mut body);
        Ok(RawSlot {
            slot_type: SLOT_TYPE,
            body,
        })
    }

    /// A recipient that seals with this fixed ephemeral secret, for deterministic test
    /// vectors. Never use it for real files: the ephemeral secret must be fresh.
    #[doc(hidden)]
    pub fn for_test_vectors(self, ephemeral_secret: [u8; KEY_LEN]) -> impl Recipient {
        FixedEphemeral {
            recipient: self,
            secret: StaticSecret::from(ephemeral_secret),
        }
    }
}

struct FixedEphemeral {
    recipient: X25519Recipient,
    secret: StaticSecret,
}

impl Recipient for FixedEphemeral {
    fn seal(&self, file_key: &FileKey, file: FileBinding<'_>) -> Result<RawSlot> {
        self.recipient.seal_with(&self.secret, file_key, file)
    }
}

impl Recipient for X25519Recipient {
    fn seal(&self, file_key: &FileKey, file: FileBinding<'_>) -> Result<RawSlot> {
        let mut bytes = Zeroizing::new([0; KEY_LEN]);
        fill_random(bytes.as_mut());
        self.seal_with(&StaticSecret::from(*bytes), file_key, file)
    }
}

impl FromStr for X25519Recipient {
    type Err = Error;

    /// `coffer1...` or age's `age1...`.
    fn from_str(text: &str) -> Result<Self> {
        let bytes = recipient_text::decode_recipient(text, &[RECIPIENT, AGE_RECIPIENT])?;
        Ok(X25519Recipient::from_bytes(bytes))
    }
}

impl fmt::Display for X25519Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&RECIPIENT.encode(self.as_bytes()))
    }
}

impl fmt::Debug for X25519Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "X25519Recipient({self})")
    }
}

/// An X25519 secret key: opens the slots sealed to its [`X25519Recipient`].
pub struct X25519Identity {
    secret: StaticSecret,
    recipient: X25519Recipient,
}

impl X25519Identity {
    /// A fresh identity from the OS CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0; KEY_LEN]);
        fill_random(bytes.as_mut());
        Self::from_secret_bytes(*bytes)
    }

    /// From the 32 secret bytes (as age stores them: clamped when used).
    pub fn from_secret_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let secret = StaticSecret::from(bytes);
        let recipient = X25519Recipient(PublicKey::from(&secret));
        X25519Identity { secret, recipient }
    }

    /// The public recipient of this identity.
    pub fn recipient(&self) -> X25519Recipient {
        self.recipient.clone()
    }

    /// Parses one identity line: `COFFER-SECRET-KEY-1...` or age's `AGE-SECRET-KEY-1...`.
    ///
    /// # Errors
    /// [`Error::InvalidIdentity`], saying what is wrong without quoting the line.
    pub fn parse(line: &str) -> Result<Self> {
        let bytes = recipient_text::decode_identity::<KEY_LEN>(line, &[IDENTITY, AGE_IDENTITY])?;
        Ok(Self::from_secret_bytes(*bytes))
    }

    /// The identity line in coffer's encoding, `COFFER-SECRET-KEY-1...`.
    pub fn to_line(&self) -> Zeroizing<String> {
        let bytes = Zeroizing::new(self.secret.to_bytes());
        Zeroizing::new(IDENTITY.encode(bytes.as_ref()))
    }
}

impl Identity for X25519Identity {
    fn open(&self, slot: &Slot, file: FileBinding<'_>) -> Result<Option<FileKey>> {
        let Slot::X25519(slot) = slot else {
            return Ok(None);
        };
        let share = PublicKey::from(slot.ephemeral_share);
        let keys = slot_keys(
            &self.secret,
            &share,
            &slot.ephemeral_share,
            self.recipient.as_bytes(),
            file.header_nonce,
        )
        // A low-order share agrees the all-zero secret with every key: no writer made it.
        .ok_or(Error::HeaderAuthentication)?;
        slot.wrap.open(&keys)
    }
}

impl fmt::Debug for X25519Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("X25519Identity([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_names_the_recipient_type() {
        let text = format!("{:?}", X25519Identity::generate().recipient());
        assert!(text.starts_with("X25519Recipient("), "{text}");
    }

    #[test]
    fn a_decoded_slot_shows_its_ephemeral_share() {
        let body: Vec<u8> = (0..BODY_LEN).map(|i| (i * 3 + 1) as u8).collect();
        let slot = X25519Slot::decode(&body).unwrap();
        assert_eq!(&slot.ephemeral_share()[..], &body[..KEY_LEN]);
    }

    fn binding(nonce: &HeaderNonce) -> FileBinding<'_> {
        FileBinding::without_context(nonce)
    }

    #[test]
    fn a_slot_opens_with_its_identity_only() {
        let identity = X25519Identity::generate();
        let file_key = FileKey::from_bytes([9; 32]);
        let raw = identity
            .recipient()
            .seal(&file_key, binding(&[1; 32]))
            .unwrap();
        assert_eq!(raw.body.len(), BODY_LEN);
        let slot = Slot::decode(&raw).unwrap();
        let opened = identity.open(&slot, binding(&[1; 32])).unwrap().unwrap();
        assert_eq!(opened.expose(), file_key.expose());
        let other = X25519Identity::generate();
        assert!(other.open(&slot, binding(&[1; 32])).unwrap().is_none());
        assert!(identity.open(&slot, binding(&[2; 32])).unwrap().is_none());
    }

    #[test]
    fn a_low_order_share_is_refused_not_used() {
        let identity = X25519Identity::generate();
        let mut body = vec![0; BODY_LEN]; // share 0: a low-order point
        body[KEY_LEN] = 1;
        let slot = Slot::decode(&RawSlot {
            slot_type: SLOT_TYPE,
            body,
        })
        .unwrap();
        assert!(matches!(
            identity.open(&slot, binding(&[1; 32])),
            Err(Error::HeaderAuthentication)
        ));
        let low_order = X25519Recipient::from_bytes([0; KEY_LEN]);
        let err = low_order
            .seal(&FileKey::from_bytes([9; 32]), binding(&[1; 32]))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidRecipient(_)), "{err}");
    }

    #[test]
    fn lines_round_trip_and_debug_redacts() {
        let identity = X25519Identity::from_secret_bytes([0x41; KEY_LEN]);
        let line = identity.to_line();
        assert!(line.starts_with("COFFER-SECRET-KEY-1"), "{}", *line);
        let again = X25519Identity::parse(&line).unwrap();
        assert_eq!(again.recipient(), identity.recipient());
        let text = identity.recipient().to_string();
        assert!(text.starts_with("coffer1"), "{text}");
        assert_eq!(
            text.parse::<X25519Recipient>().unwrap(),
            identity.recipient()
        );
        let debug = format!("{identity:?}");
        assert!(
            debug.contains("REDACTED") && !debug.contains("65"),
            "{debug}"
        );
    }
}
