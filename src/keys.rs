//! The key schedule (FORMAT.md, "Key schedule"): the secret types and the CSPRNG, and
//! every derivation from one secret to another. No other module derives a secret.
//! Secrets are zeroized on drop and redacted in `Debug`.

use std::fmt;

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use rand::rngs::SysRng;
use rand::TryRng;
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Bytes of a file key.
pub const FILE_KEY_LEN: usize = 32;
/// Bytes of the per-file header nonce.
pub const HEADER_NONCE_LEN: usize = 32;
/// Bytes of a slot check value.
pub const CHECK_LEN: usize = 32;
/// Bytes of the header MAC (HMAC-SHA-256).
pub const MAC_LEN: usize = 32;
/// Bytes of a slot's wrap key.
pub const WRAP_KEY_LEN: usize = 32;

/// HKDF info for the wrap key and check value of a passphrase slot.
pub const LABEL_PASSPHRASE_SLOT: &[u8] = b"coffer.v1 passphrase slot";
/// HKDF info for the wrap key and check value of a key-file slot.
pub const LABEL_KEY_FILE_SLOT: &[u8] = b"coffer.v1 key file slot";
/// HKDF info prefix for the wrap key and check value of an X25519 slot; the ephemeral
/// share and the recipient's public key follow it in the info.
pub const LABEL_X25519_SLOT: &[u8] = b"coffer.v1 X25519 slot";
/// HKDF info for the wrap key and check value of an X-Wing (hybrid) slot.
pub const LABEL_XWING_SLOT: &[u8] = b"coffer.v1 X-Wing slot";
/// HKDF info for the header MAC key.
pub const LABEL_HEADER_MAC: &[u8] = b"coffer.v1 header mac";

/// The per-file random nonce that binds every slot and the MAC to one file.
pub type HeaderNonce = [u8; HEADER_NONCE_LEN];

/// Fills `buf` from the operating system's CSPRNG.
///
/// # Panics
/// If the OS has no randomness to give; there is no safe way to continue.
pub(crate) fn fill_random(buf: &mut [u8]) {
    SysRng
        .try_fill_bytes(buf)
        .expect("the operating system's random number generator failed");
}

/// `N` fresh random bytes (nonces and salts; secrets are filled in place instead).
pub(crate) fn random<const N: usize>() -> [u8; N] {
    let mut out = [0; N];
    fill_random(&mut out);
    out
}

/// A passphrase, as bytes (it need not be UTF-8). Zeroized on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Passphrase(Vec<u8>);

impl Passphrase {
    /// Takes ownership of the bytes; they are wiped when the passphrase is dropped.
    pub fn new(bytes: Vec<u8>) -> Self {
        Passphrase(bytes)
    }

    /// The passphrase bytes, for the KDF and for constant-time comparison.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Whether the passphrase is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Compares two passphrases in constant time (for the confirmation prompt).
    pub fn ct_eq(&self, other: &Passphrase) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase([REDACTED])")
    }
}

/// The random per-file key every other file secret is derived from.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct FileKey([u8; FILE_KEY_LEN]);

impl FileKey {
    /// A fresh key from the OS CSPRNG.
    pub fn generate() -> Self {
        let mut key = FileKey([0; FILE_KEY_LEN]);
        fill_random(&mut key.0);
        key
    }

    /// A key from known bytes: for test vectors and for unwrapping a slot.
    pub fn from_bytes(bytes: [u8; FILE_KEY_LEN]) -> Self {
        FileKey(bytes)
    }

    /// The raw key, for the payload derivation and for wrapping into slots.
    pub fn expose(&self) -> &[u8; FILE_KEY_LEN] {
        &self.0
    }

    /// `mac_key = HKDF-SHA-256(ikm = file key, salt = header nonce, info = LABEL_HEADER_MAC)`.
    pub(crate) fn header_mac_key(&self, header_nonce: &HeaderNonce) -> HeaderMacKey {
        let mut key = HeaderMacKey([0; 32]);
        Hkdf::<Sha256>::new(Some(header_nonce), &self.0)
            .expand(LABEL_HEADER_MAC, &mut key.0)
            .expect("32 bytes is a valid HKDF-SHA-256 length");
        key
    }
}

impl fmt::Debug for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FileKey([REDACTED])")
    }
}

/// Key of the HMAC-SHA-256 over the header.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct HeaderMacKey([u8; 32]);

impl HeaderMacKey {
    fn mac(&self, header: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC accepts any key length");
        mac.update(header);
        mac
    }

    /// The tag over `header` (every header byte before the tag).
    pub(crate) fn tag(&self, header: &[u8]) -> [u8; MAC_LEN] {
        self.mac(header).finalize().into_bytes().into()
    }

    /// Checks a tag in constant time.
    pub(crate) fn verify(&self, header: &[u8], tag: &[u8; MAC_LEN]) -> bool {
        self.mac(header).verify_slice(tag).is_ok()
    }
}

/// The per-file, per-slot wrap key and the public check value that commits to it.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct SlotKeys {
    pub(crate) wrap_key: [u8; WRAP_KEY_LEN],
    pub(crate) check: [u8; CHECK_LEN],
}

impl SlotKeys {
    /// `wrap key || check = HKDF-SHA-256(ikm = credential key, salt = header nonce,
    /// info = label, L = 64)`: the derivation every symmetric slot type shares, each
    /// with its own label so that no two slot types ever derive the same wrap key.
    pub(crate) fn derive(credential_key: &[u8], header_nonce: &HeaderNonce, label: &[u8]) -> Self {
        let mut okm = Zeroizing::new([0u8; WRAP_KEY_LEN + CHECK_LEN]);
        Hkdf::<Sha256>::new(Some(header_nonce), credential_key)
            .expand(label, okm.as_mut())
            .expect("64 bytes is a valid HKDF-SHA-256 length");
        let mut keys = SlotKeys {
            wrap_key: [0; WRAP_KEY_LEN],
            check: [0; CHECK_LEN],
        };
        keys.wrap_key.copy_from_slice(&okm[..WRAP_KEY_LEN]);
        keys.check.copy_from_slice(&okm[WRAP_KEY_LEN..]);
        keys
    }

    /// Constant-time comparison with a stored check value.
    pub(crate) fn check_matches(&self, stored: &[u8; CHECK_LEN]) -> bool {
        self.check.ct_eq(stored).into()
    }
}

/// HKDF-Expand (RFC 5869 section 2.3) over SHA-512, written on `hmac` because the `hkdf`
/// crate refuses a PRK shorter than the hash output, and Cobblestone-256 expands a 32-byte
/// key. `info` is given in parts to avoid concatenating into a buffer.
pub(crate) fn hkdf_expand_sha512(prk: &[u8], info: &[&[u8]], okm: &mut [u8]) {
    const HASH_LEN: usize = 64;
    assert!(okm.len() <= 255 * HASH_LEN, "HKDF-Expand output too long");
    let mut previous = Zeroizing::new([0u8; HASH_LEN]);
    for (i, block) in okm.chunks_mut(HASH_LEN).enumerate() {
        let mut mac =
            <Hmac<Sha512> as KeyInit>::new_from_slice(prk).expect("HMAC accepts any key length");
        if i > 0 {
            mac.update(previous.as_ref());
        }
        for part in info {
            mac.update(part);
        }
        mac.update(&[(i + 1) as u8]);
        previous.copy_from_slice(&mac.finalize().into_bytes());
        block.copy_from_slice(&previous[..block.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passphrase_is_empty_only_without_bytes() {
        assert!(Passphrase::new(Vec::new()).is_empty());
        assert!(!Passphrase::new(b"x".to_vec()).is_empty());
    }

    /// RFC 5869 has no SHA-512 case; check Expand against the `hkdf` crate where it
    /// agrees to run (a 64-byte PRK).
    #[test]
    fn hkdf_expand_matches_hkdf_crate_for_full_length_prk() {
        let prk = [7u8; 64];
        let mut ours = [0u8; 150];
        hkdf_expand_sha512(&prk, &[b"abc", b"", b"def"], &mut ours);
        let mut theirs = [0u8; 150];
        Hkdf::<Sha512>::from_prk(&prk)
            .unwrap()
            .expand(b"abcdef", &mut theirs)
            .unwrap();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let pass = Passphrase::new(b"hunter2".to_vec());
        let key = FileKey::from_bytes([0x41; 32]);
        let text = format!("{pass:?} {key:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("65, 65"),
            "{text}"
        );
        for each in [format!("{pass:?}"), format!("{key:?}")] {
            assert!(each.contains("REDACTED"), "{each}");
        }
    }

    #[test]
    fn passphrases_compare_by_content() {
        let a = Passphrase::new(b"correct horse".to_vec());
        assert!(a.ct_eq(&Passphrase::new(b"correct horse".to_vec())));
        assert!(!a.ct_eq(&Passphrase::new(b"correct horsE".to_vec())));
        assert!(!a.ct_eq(&Passphrase::new(b"correct hors".to_vec())));
    }

    #[test]
    fn slot_keys_differ_per_header_nonce_and_label() {
        let a = SlotKeys::derive(&[3; 32], &[1; HEADER_NONCE_LEN], LABEL_PASSPHRASE_SLOT);
        let b = SlotKeys::derive(&[3; 32], &[2; HEADER_NONCE_LEN], LABEL_PASSPHRASE_SLOT);
        let c = SlotKeys::derive(&[3; 32], &[1; HEADER_NONCE_LEN], LABEL_KEY_FILE_SLOT);
        assert_ne!(a.wrap_key, b.wrap_key);
        assert_ne!(a.check, b.check);
        assert_ne!(a.wrap_key, c.wrap_key);
        assert_ne!(a.check, c.check);
    }
}
