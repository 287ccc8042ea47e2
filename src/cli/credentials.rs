//! Credentials from the command line: the passphrase (from its source or the terminal)
//! and key files. Encrypt turns them into recipients, every other command into
//! identities. Secrets stay in the library's zeroizing types from the moment they are
//! read; no error message holds one.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use coffer::{
    Identity, KdfParams, KmsIdentity, KmsRecipient, Limits, PassphraseIdentity, PassphraseKey,
    Recipient, SymmetricKey,
};
use zeroize::Zeroizing;

use super::args::CredentialArgs;
use super::error::CliError;
use super::kms;
use super::passphrase::{self, Purpose};

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

    /// Whether the run uses a passphrase: asked for, or the only credential there is.
    pub fn wants_passphrase(&self) -> bool {
        self.asks_for_passphrase() || self.key_files.is_empty() && self.kms.is_empty()
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
    let context = || format!("key file {}", path.display());
    let file = fs::File::open(path).map_err(|e| CliError::io_while(context(), &e))?;
    let meta = file
        .metadata()
        .map_err(|e| CliError::io_while(context(), &e))?;
    if !meta.is_file() {
        return Err(CliError::usage("not a regular file").context(context()));
    }
    let mut text = Zeroizing::new(Vec::new());
    file.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut text)
        .map_err(|e| CliError::io_while(context(), &e))?;
    if text.len() as u64 > MAX_KEY_FILE {
        return Err(CliError::usage("too large to be a coffer key file").context(context()));
    }
    let key = SymmetricKey::parse(&text).map_err(|e| {
        CliError::lib(e).context(context()).hint(
            "key files are made by `coffer keygen --symmetric`; check that the file is complete",
        )
    })?;
    if meta.permissions().mode() & 0o077 != 0 {
        eprintln!(
            "coffer: warning: key file {} is readable by others (mode {:o}); chmod 600 it",
            path.display(),
            meta.permissions().mode() & 0o777
        );
    }
    Ok(key)
}

/// What an encrypt run wraps each file key for: key files, then the passphrase key
/// (derived once for the whole run).
pub struct Recipients {
    pub key_files: Vec<Arc<SymmetricKey>>,
    pub passphrase: Option<Arc<PassphraseKey>>,
    /// `--kms-key`: one KMS Encrypt call per key and file.
    pub kms: Vec<KmsRecipient>,
}

impl Recipients {
    /// Reads the key files, then the passphrase (prompting last, so a bad key file never
    /// costs a prompt) and derives its key.
    pub fn obtain(
        args: &CredentialArgs,
        params: KdfParams,
        limits: &Limits,
    ) -> Result<Self, CliError> {
        let key_files = key_files(args)?;
        let kms = kms::recipients(&args.kms)?;
        let passphrase = if args.wants_passphrase() {
            let pass = passphrase::obtain(&args.passphrase, Purpose::Encrypt)?;
            Some(Arc::new(PassphraseKey::generate(&pass, params, limits)?))
        } else {
            None
        };
        Ok(Recipients {
            key_files,
            passphrase,
            kms,
        })
    }

    pub fn list(&self) -> Vec<&dyn Recipient> {
        let mut all: Vec<&dyn Recipient> = Vec::new();
        all.extend(self.key_files.iter().map(|k| &**k as &dyn Recipient));
        all.extend(self.kms.iter().map(|k| k as &dyn Recipient));
        all.extend(self.passphrase.as_deref().map(|k| k as &dyn Recipient));
        all
    }

    /// The identities that open what this run wrote, with no derivation (for reading
    /// outputs back before `--delete-source`).
    pub fn as_identities(&self, limits: Limits) -> Identities {
        let passphrase = self.passphrase.as_ref().map(|key| {
            // The passphrase itself is not needed: the key is already derived.
            let identity = PassphraseIdentity::new(coffer::Passphrase::new(Vec::new()), limits);
            identity.remember(Arc::clone(key));
            identity
        });
        // KMS slots are read back from the keys this run sealed: no Decrypt call.
        let kms = self.kms.first().map(|first| {
            let memory = KmsIdentity::remembered_only(first.client());
            self.kms.iter().for_each(|r| r.remember_in(&memory));
            memory
        });
        Identities {
            key_files: self.key_files.clone(),
            passphrase,
            kms,
        }
    }
}

/// What decrypt, verify and rekey try on each file: key files first (microseconds),
/// then KMS (a network call), then the passphrase (Argon2id).
pub struct Identities {
    pub key_files: Vec<Arc<SymmetricKey>>,
    pub passphrase: Option<PassphraseIdentity>,
    /// `--kms-key` (an allow-list) or `--kms-discovery`.
    pub kms: Option<KmsIdentity>,
}

impl Identities {
    /// Reads the key files, then the passphrase if one is wanted.
    pub fn obtain(args: &CredentialArgs, limits: Limits) -> Result<Self, CliError> {
        Self::read(args, args.wants_passphrase(), limits)
    }

    /// Reads the key files, then the passphrase when `with_passphrase`.
    pub fn read(
        args: &CredentialArgs,
        with_passphrase: bool,
        limits: Limits,
    ) -> Result<Self, CliError> {
        let key_files = key_files(args)?;
        let kms = kms::identity(&args.kms)?;
        let passphrase = if with_passphrase {
            let pass = passphrase::obtain(&args.passphrase, Purpose::Decrypt)?;
            Some(PassphraseIdentity::new(pass, limits))
        } else {
            None
        };
        Ok(Identities {
            key_files,
            passphrase,
            kms,
        })
    }

    pub fn list(&self) -> Vec<&dyn Identity> {
        let mut all: Vec<&dyn Identity> = Vec::new();
        all.extend(self.key_files.iter().map(|k| &**k as &dyn Identity));
        // After key files (a break-glass key file opens with KMS down), before Argon2id.
        all.extend(self.kms.as_ref().map(|k| k as &dyn Identity));
        all.extend(self.passphrase.as_ref().map(|p| p as &dyn Identity));
        all
    }
}
