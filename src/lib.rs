//! coffer: client-side file encryption for backups.
//!
//! A coffer file is a header (key slots, each wrapping a random file key for one
//! credential, authenticated by an HMAC under that key) followed by a payload in the C2SP
//! chunked-encryption construction with AES-256-GCM (Cobblestone-256): 16 KiB chunks, a
//! short final chunk, key commitment. `docs/FORMAT.md` is the specification.
//!
//! A file is written for a set of [`Recipient`]s (a [`PassphraseKey`], a
//! [`SymmetricKey`] from a key file, a public key: [`HybridRecipient`] (post-quantum,
//! X-Wing) or [`X25519Recipient`]) and read with a set of [`Identity`]s (a
//! [`PassphraseIdentity`], a [`SymmetricKey`], a [`HybridIdentity`] or an
//! [`X25519Identity`]); any one that opens a slot opens the file. Public keys are read
//! and written as text in coffer's encoding and age's ([`AnyRecipient`],
//! [`parse_identity_file`]).
//!
//! ```
//! use coffer::{KdfParams, Limits, Passphrase, PassphraseIdentity, PassphraseKey, SymmetricKey};
//!
//! # fn main() -> Result<(), coffer::Error> {
//! let key_file = SymmetricKey::generate();
//! let passphrase = Passphrase::new(b"correct horse battery staple".to_vec());
//! let params = KdfParams::new(19, 2, 1); // the floor, to keep the example fast
//! let passphrase_key = PassphraseKey::generate(&passphrase, params, &Limits::default())?;
//!
//! let file = coffer::encrypt(&[&key_file, &passphrase_key], b"backup bytes")?;
//!
//! // Either credential alone opens it; the key file needs no key derivation.
//! assert_eq!(coffer::decrypt(&[&key_file], &file)?, b"backup bytes");
//! let identity = PassphraseIdentity::new(passphrase, Limits::default());
//! assert_eq!(coffer::decrypt(&[&identity], &file)?, b"backup bytes");
//! # Ok(())
//! # }
//! ```
//!
//! For large files use [`Encryptor`] and [`Decryptor`]: streaming adapters
//! ([`EncryptWriter`], [`DecryptReader`], [`SeekableReader`]) in constant memory, or the
//! multi-core pipeline ([`Encryptor::encrypt`], [`Decryptor::decrypt`]).
//!
//! Library users: Argon2id is slow in a debug build. Set `opt-level = 3` for the
//! `argon2` package in your own profile (`[profile.dev.package.argon2]`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod context;
mod error;
mod format;
pub mod kdf;
mod keys;
mod pipeline;
mod protocol;
mod slots;
mod stream;

use std::io::{Read, Write};

pub use context::{Context, ContextMismatch};
pub use error::{Error, ErrorKind, Result};
pub use format::{Header, RawSlot, VERSION as FORMAT_VERSION};
pub use kdf::{KdfParams, Limits};
pub use keys::{FileKey, HeaderNonce, Passphrase};
pub use pipeline::{PipelineOptions, ProgressFn};
pub use protocol::{Decryptor, Encryptor};
pub use slots::hybrid::{HybridIdentity, HybridRecipient, HybridSlot};
pub use slots::keyfile::{KeyFileSlot, SymmetricKey};
pub use slots::kms::{
    Decrypted as KmsDecrypted, Encrypted as KmsEncrypted, EncryptionContext, KmsClient, KmsError,
    KmsFailure, KmsIdentity, KmsRecipient, KmsSlot,
};
#[cfg(feature = "kms")]
pub use slots::kms_aws::AwsKmsClient;
pub use slots::passphrase::{PassphraseIdentity, PassphraseKey, PassphraseSlot};
pub use slots::recipient_text::{
    parse_identity_file, parse_recipients_file, AnyIdentity, AnyRecipient,
};
pub use slots::x25519::{X25519Identity, X25519Recipient, X25519Slot};
pub use slots::{FileBinding, Identity, Recipient, Slot};
pub use stream::{
    AeadBackend, DecryptReader, EncryptWriter, SeekableReader, CHUNK_SIZE, ENCRYPTED_CHUNK_SIZE,
};

/// Encrypts `plaintext` in memory for `recipients`: the whole file as bytes.
///
/// # Errors
/// As [`Encryptor::new`].
pub fn encrypt(recipients: &[&dyn Recipient], plaintext: &[u8]) -> Result<Vec<u8>> {
    let mut writer = Encryptor::new(recipients)?.writer(Vec::new())?;
    writer.write_all(plaintext)?;
    Ok(writer.finish()?)
}

/// Decrypts a whole file held in memory with the first of `identities` that opens it.
///
/// # Errors
/// As [`Decryptor::new`] and [`Decryptor::unlock`], and every payload error
/// ([`Error::ChunkAuthentication`], [`Error::Truncated`], ...).
pub fn decrypt(identities: &[&dyn Identity], file: &[u8]) -> Result<Vec<u8>> {
    let decryptor = Decryptor::new(file)?;
    let file_key = decryptor.unlock(identities)?;
    let mut plaintext = Vec::new();
    decryptor
        .into_reader(&file_key)?
        .read_to_end(&mut plaintext)
        .map_err(Error::from_io)?;
    Ok(plaintext)
}

/// Lower layers, public only for the test suite, fuzzing and benches. Not a stable API.
#[doc(hidden)]
pub mod internals {
    /// Context rules, limits and the block encoding.
    pub mod context {
        pub use crate::context::*;
    }
    /// The header's syntax.
    pub mod format {
        pub use crate::format::*;
    }
    /// Secret types, labels and derivations.
    pub mod keys {
        pub use crate::keys::*;
    }
    /// The parallel chunk pipeline.
    pub mod pipeline {
        pub use crate::pipeline::*;
    }
    /// The Cobblestone-256 payload.
    pub mod stream {
        pub use crate::stream::*;
    }
    /// Slot types.
    pub mod slots {
        pub use crate::slots::*;
    }
}
