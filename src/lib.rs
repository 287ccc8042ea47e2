//! coffer: client-side file encryption for backups.
//!
//! A coffer file is a header (key slots wrapping a random file key, authenticated by an
//! HMAC under that key) followed by a payload in the C2SP chunked-encryption construction
//! with AES-256-GCM (Cobblestone-256): 16 KiB chunks, a short final chunk, key
//! commitment. `docs/FORMAT.md` is the specification; the modules follow its sections:
//!
//! - [`format`](mod@format): the header and its slots (strict parsing, writing);
//! - [`kdf`]: Argon2id parameters, floor and caps;
//! - [`keys`]: every secret and every derivation between them;
//! - [`stream`]: the chunked payload, as `Write`/`Read`/`Read + Seek` adapters;
//! - [`pipeline`]: the multi-core chunk pipeline;
//! - [`protocol`]: whole files ([`Encryptor`], [`Decryptor`], [`KeyCache`]).
//!
//! ```
//! use std::io::{Read, Write};
//! use coffer::{Decryptor, Encryptor, KdfParams, KeyCache, Limits, Passphrase, PassphraseKey};
//!
//! # fn main() -> Result<(), coffer::Error> {
//! let params = KdfParams::new(19, 2, 1); // the floor, to keep the example fast
//! let passphrase = Passphrase::new(b"correct horse battery staple".to_vec());
//! let key = PassphraseKey::generate(&passphrase, params, &Limits::default())?;
//!
//! let mut writer = Encryptor::new(&[&key]).writer(Vec::new())?;
//! writer.write_all(b"backup bytes")?;
//! let file = writer.finish()?;
//!
//! let cache = KeyCache::new(passphrase, Limits::default());
//! let decryptor = Decryptor::new(&file[..])?;
//! let file_key = decryptor.unlock(&cache)?;
//! let mut plaintext = Vec::new();
//! decryptor.into_reader(&file_key)?.read_to_end(&mut plaintext)?;
//! assert_eq!(plaintext, b"backup bytes");
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod format;
pub mod kdf;
pub mod keys;
pub mod pipeline;
pub mod protocol;
pub mod stream;

pub use error::{Error, ErrorKind, Result};
pub use format::Header;
pub use kdf::{KdfParams, Limits};
pub use keys::{FileKey, Passphrase, PassphraseKey};
pub use pipeline::PipelineOptions;
pub use protocol::{Decryptor, Encryptor, KeyCache};
pub use stream::AeadBackend;
