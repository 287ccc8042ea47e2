//! Credentials from the command line: the passphrase (from its source or the terminal),
//! key files, and public-key recipients and identity files ([`super::recipients`]).
//! Encrypt turns them into recipients, every other command into identities. Secrets stay
//! in the library's zeroizing types from the moment they are read; no error message
//! holds one.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use coffer::{
    AnyIdentity, AnyRecipient, Decryptor, FileKey, Identity, KdfParams, KmsIdentity, KmsRecipient,
    Limits, PassphraseIdentity, PassphraseKey, Recipient, SymmetricKey,
};
use zeroize::Zeroizing;

use super::args::{CredentialArgs, IdentityArgs, RecipientArgs};
use super::error::CliError;
use super::kms;
use super::passphrase::{self, Purpose};
use super::read_back::{Capturing, FileKeys};
use super::recipients::{self, FileIdentity};

/// A key file is a line of about 80 characters; anything much larger is not one.
const MAX_KEY_FILE: u64 = 64 * 1024;

impl CredentialArgs {
    /// Whether a passphrase is asked for: `-p` or a source.
    pub fn asks_for_passphrase(&self) -> bool {
        self.ask_passphrase
            || self.passphrase.passphrase_file.is_some()
            || self.passphrase.passphrase_fd.is_some()
            || self.passphrase.passphrase_env.is_some()
    }

    /// Whether the run uses a passphrase: asked for, or the only credential there is
    /// (`others`: whether any credential besides key files and KMS keys was given, such
    /// as a recipient or an identity file).
    pub fn wants_passphrase(&self, others: bool) -> bool {
        self.asks_for_passphrase() || (self.key_files.is_empty() && self.kms.is_empty() && !others)
    }
}

/// Reads and parses every `--key-file`, before any prompt.
///
/// # Errors
/// A usage error naming the file for a malformed key (exit 2), an I/O error for an
/// unreadable one.
pub fn key_files(args: &CredentialArgs) -> Result<Vec<Arc<SymmetricKey>>, CliError> {
    args.key_files
        .iter()
        .map(|path| read_key_file(path).map(Arc::new))
        .collect()
}

/// Reads one key file, warning (as ssh does) when others may read it.
pub fn read_key_file(path: &Path) -> Result<SymmetricKey, CliError> {
    let text = read_secret_file(path, "key file", MAX_KEY_FILE)?;
    SymmetricKey::parse(&text).map_err(|e| {
        CliError::lib(e)
            .context(format!("key file {}", path.display()))
            .hint(
                "key files are made by `coffer keygen --symmetric`; check that the file is complete",
            )
    })
}

/// Reads a file that holds secrets (a key file, an identity file): a regular file of at
/// most `max` bytes, into zeroizing memory, with a warning when others may read it.
pub fn read_secret_file(path: &Path, what: &str, max: u64) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let context = || format!("{what} {}", path.display());
    let file = fs::File::open(path).map_err(|e| CliError::io_while(context(), &e))?;
    let meta = file
        .metadata()
        .map_err(|e| CliError::io_while(context(), &e))?;
    if !meta.is_file() {
        return Err(CliError::usage("not a regular file").context(context()));
    }
    let mut text = Zeroizing::new(Vec::new());
    file.take(max + 1)
        .read_to_end(&mut text)
        .map_err(|e| CliError::io_while(context(), &e))?;
    if text.len() as u64 > max {
        return Err(CliError::usage(format!("too large to be a coffer {what}")).context(context()));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        eprintln!(
            "coffer: warning: {what} {} is readable by others (mode {:o}); chmod 600 it",
            path.display(),
            meta.permissions().mode() & 0o777
        );
    }
    Ok(text)
}

/// What an encrypt run wraps each file key for: key files, public-key recipients, then
/// the passphrase key (derived once for the whole run).
pub struct Recipients {
    pub key_files: Vec<Arc<SymmetricKey>>,
    pub public: Vec<AnyRecipient>,
    pub passphrase: Option<Arc<PassphraseKey>>,
    /// One of the public recipients, keeping file keys for the read-back (see
    /// [`Recipients::as_identities`]).
    capturing: Option<Capturing>,
    /// `--kms-key`: one KMS Encrypt call per key and file.
    pub kms: Vec<KmsRecipient>,
}

impl Recipients {
    /// Reads the key files and the recipients, then the passphrase (prompting last, so a
    /// bad key file or recipient never costs a prompt) and derives its key. With
    /// recipients alone nothing secret is read at all.
    pub fn obtain(
        args: &CredentialArgs,
        public: &RecipientArgs,
        params: KdfParams,
        limits: &Limits,
    ) -> Result<Self, CliError> {
        let key_files = key_files(args)?;
        let public = recipients::from_args(public)?;
        let kms = kms::recipients(&args.kms)?;
        let passphrase = if args.wants_passphrase(!public.is_empty()) {
            let pass = passphrase::obtain(&args.passphrase, Purpose::Encrypt)?;
            Some(Arc::new(PassphraseKey::generate(&pass, params, limits)?))
        } else {
            None
        };
        Ok(Recipients {
            key_files,
            public,
            passphrase,
            capturing: None,
            kms,
        })
    }

    pub fn list(&self) -> Vec<&dyn Recipient> {
        let mut all: Vec<&dyn Recipient> = Vec::new();
        all.extend(self.key_files.iter().map(|k| &**k as &dyn Recipient));
        all.extend(self.public.iter().map(AnyRecipient::as_recipient));
        all.extend(self.capturing.iter().map(|c| c as &dyn Recipient));
        all.extend(self.kms.iter().map(|k| k as &dyn Recipient));
        all.extend(self.passphrase.as_deref().map(|k| k as &dyn Recipient));
        all
    }

    /// The identities that open what this run wrote, with no derivation (for reading
    /// outputs back before `--delete-source`): the key files and the passphrase key, or,
    /// with public-key recipients alone (which cannot decrypt), the file keys this run
    /// keeps as it seals them ([`super::read_back`]).
    pub fn as_identities(&mut self, limits: Limits) -> Identities {
        let passphrase = self.passphrase.as_ref().map(|key| {
            // The passphrase itself is not needed: the key is already derived.
            let identity = PassphraseIdentity::new(coffer::Passphrase::new(Vec::new()), limits);
            identity.remember(Arc::clone(key));
            identity
        });
        let mut file_keys = None;
        if passphrase.is_none()
            && self.key_files.is_empty()
            && self.kms.is_empty()
            && !self.public.is_empty()
        {
            let keys = Arc::new(FileKeys::default());
            self.capturing = Some(Capturing {
                recipient: self.public.remove(0),
                keys: Arc::clone(&keys),
            });
            file_keys = Some(keys);
        }
        // KMS slots are read back from the keys this run sealed: no Decrypt call.
        let kms = self.kms.first().map(|first| {
            let memory = KmsIdentity::remembered_only(first.client());
            self.kms.iter().for_each(|r| r.remember_in(&memory));
            memory
        });
        Identities {
            key_files: self.key_files.clone(),
            public: Vec::new(),
            passphrase,
            file_keys,
            kms,
        }
    }
}

/// What decrypt, verify and rekey try on each file: key files and identities first
/// (microseconds), then KMS (a network call), then the passphrase (Argon2id).
pub struct Identities {
    pub key_files: Vec<Arc<SymmetricKey>>,
    /// From identity files (`-i`), in the order given.
    pub public: Vec<AnyIdentity>,
    pub passphrase: Option<PassphraseIdentity>,
    /// Encrypt's read-back with public-key recipients alone.
    file_keys: Option<Arc<FileKeys>>,
    /// `--kms-key` (an allow-list) or `--kms-discovery`.
    pub kms: Option<KmsIdentity>,
}

impl Identities {
    /// Reads the key files and identity files, then the passphrase if one is wanted.
    pub fn obtain(
        args: &CredentialArgs,
        files: &IdentityArgs,
        limits: Limits,
    ) -> Result<Self, CliError> {
        let others = !files.identity_files.is_empty();
        Self::read(args, files, args.wants_passphrase(others), limits)
    }

    /// Reads the key files and identity files, then the passphrase when
    /// `with_passphrase`.
    pub fn read(
        args: &CredentialArgs,
        files: &IdentityArgs,
        with_passphrase: bool,
        limits: Limits,
    ) -> Result<Self, CliError> {
        let mut key_files = key_files(args)?;
        let mut public = Vec::new();
        for path in &files.identity_files {
            for identity in recipients::read_identity_file(path)? {
                match identity {
                    FileIdentity::Public(identity) => public.push(identity),
                    FileIdentity::Symmetric(key) => key_files.push(Arc::new(key)),
                }
            }
        }
        let kms = kms::identity(&args.kms)?;
        let passphrase = if with_passphrase {
            let pass = passphrase::obtain(&args.passphrase, Purpose::Decrypt)?;
            Some(PassphraseIdentity::new(pass, limits))
        } else {
            None
        };
        Ok(Identities {
            key_files,
            public,
            passphrase,
            file_keys: None,
            kms,
        })
    }

    /// Opens the file key of `decryptor`'s file with these identities; when none opens
    /// it and the file has public-key slots but no identity file was given, the hint says
    /// so (a passphrase or key file cannot open those slots).
    pub fn unlock<R: Read>(&self, decryptor: &Decryptor<R>) -> Result<FileKey, CliError> {
        decryptor.unlock(&self.list()).map_err(|err| {
            let no_slot = matches!(err, coffer::Error::NoSlotOpened { .. });
            let public_slots = decryptor
                .slots()
                .iter()
                .filter(|slot| recipients::slot_is_post_quantum(slot).is_some())
                .count();
            let err = CliError::lib(err);
            if no_slot && public_slots > 0 && self.public.is_empty() {
                err.hint(format!(
                    "the file has {public_slots} public-key slot(s): give the identity file \
                     with -i FILE"
                ))
            } else {
                err
            }
        })
    }

    pub fn list(&self) -> Vec<&dyn Identity> {
        let mut all: Vec<&dyn Identity> = Vec::new();
        all.extend(self.key_files.iter().map(|k| &**k as &dyn Identity));
        all.extend(self.public.iter().map(AnyIdentity::as_identity));
        all.extend(self.file_keys.as_deref().map(|k| k as &dyn Identity));
        // After key files (a break-glass key file opens with KMS down), before Argon2id.
        all.extend(self.kms.as_ref().map(|k| k as &dyn Identity));
        all.extend(self.passphrase.as_ref().map(|p| p as &dyn Identity));
        all
    }
}
