//! The command line, as clap sees it: "low-level" arguments that mirror the flags.
//! Help text, completions and the man page all come from these definitions.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// `--version`: the version and the AES-GCM implementation sealing the payload, so a
/// benchmark or a bug report can tell the builds apart (`-V` prints the version only).
fn long_version() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        let backend = coffer::AeadBackend::DEFAULT.name();
        format!("{}\npayload AEAD: {backend}", env!("CARGO_PKG_VERSION"))
    })
}

/// Exit codes, shown after `--help` of every command and in the man page.
pub const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    I/O or other error (including an existing output without -f)
  2    usage error (bad flags, no passphrase source, an empty or multi-line
       passphrase, a malformed key file, identity file or recipient, post-quantum
       and classic recipients mixed, KDF parameters below the floor, range out of
       bounds)
  3    no key slot opens with the passphrase, key files or identities given
       (wrong passphrase, key file or identity), or the file's context is not the
       one given with --context (or it has none and --require-context was given)
  4    the file fails authentication (tampered, corrupted, truncated, trailing data)
  5    not a coffer file, unsupported version, malformed header, or KDF parameters
       over the safety limits (see --max-kdf-memory)
  7    AWS KMS denied access to the key (IAM or key policy)
  8    the AWS KMS key is disabled, pending deletion or not found
  9    AWS KMS throttled the requests (still after retries)
  10   no AWS credentials (or no region) found
  11   AWS KMS unreachable or timed out
  130  interrupted (SIGINT/SIGTERM); no partial output is left behind
  141  the reader of stdout went away (broken pipe); nothing is printed
With several files, coffer goes on past a failed file and exits with the highest code.";

/// Client-side file encryption for backups: chunked AES-256-GCM, Argon2id passphrases,
/// every core.
#[derive(Debug, Parser)]
#[command(
    name = "coffer",
    version,
    long_version = long_version(),
    after_help = EXIT_CODES,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Encrypt files (FILE -> FILE.coffer), or stdin to stdout.
    #[command(after_help = EXIT_CODES)]
    Encrypt(EncryptArgs),
    /// Decrypt files (X.coffer -> X), or stdin to stdout.
    #[command(after_help = EXIT_CODES)]
    Decrypt(DecryptArgs),
    /// Authenticate files completely without writing anything.
    #[command(after_help = EXIT_CODES)]
    Verify(VerifyArgs),
    /// Show the header of coffer files (needs no passphrase).
    #[command(after_help = EXIT_CODES)]
    Inspect(InspectArgs),
    /// Change who can open files, in place (header only; --rotate re-encrypts).
    #[command(after_help = REKEY_HELP)]
    Rekey(RekeyArgs),
    /// Make an identity (post-quantum by default) or a key file (--symmetric).
    ///
    /// An identity is the secret that opens files written to its recipient (printed on
    /// stdout); -y prints the recipients of an identity file.
    #[command(after_help = EXIT_CODES)]
    Keygen(KeygenArgs),
    /// Print a shell completion script to stdout.
    Completions {
        /// The shell to generate completions for.
        shell: clap_complete::Shell,
    },
    /// Print the coffer(1) man page (roff) to stdout, or write every page to a directory.
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write coffer.1 and one page per subcommand (coffer-encrypt.1, ...) into DIR
    /// (created if missing), and list the paths written.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Where the passphrase comes from; without any, coffer prompts on the terminal.
#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct PassphraseArgs {
    /// Read the passphrase from PATH: its whole content minus one trailing "\n" or "\r\n".
    /// A second line or an empty passphrase is refused (exit 2).
    #[arg(long, value_name = "PATH")]
    pub passphrase_file: Option<PathBuf>,
    /// Read the passphrase from file descriptor N, to EOF: the whole content minus one
    /// trailing "\n" or "\r\n". A second line or an empty passphrase is refused (exit 2).
    #[arg(long, value_name = "N")]
    pub passphrase_fd: Option<u32>,
    /// Read the passphrase from the environment variable VAR: its value minus one
    /// trailing "\n" or "\r\n". A second line or an empty value is refused (exit 2).
    #[arg(long, value_name = "VAR")]
    pub passphrase_env: Option<OsString>,
}

/// The credentials a command uses: a passphrase and key files, in any mix.
#[derive(Debug, Args)]
pub struct CredentialArgs {
    #[command(flatten)]
    pub passphrase: PassphraseArgs,
    /// Use a passphrase as well as the key files (asked on the terminal unless a
    /// --passphrase-* source is given). Without any --key-file, a passphrase is always
    /// used.
    #[arg(long = "ask-passphrase")]
    pub ask_passphrase: bool,
    /// A key file made by `coffer keygen --symmetric` (repeatable). Encrypt wraps each
    /// file's key for every key file given; other commands try each.
    #[arg(long = "key-file", value_name = "PATH")]
    pub key_files: Vec<PathBuf>,
    #[command(flatten)]
    pub kms: KmsArgs,
}

/// AWS KMS keys (builds with `--features kms`; README, "Backups with AWS KMS").
/// Credentials, region and endpoint come from the standard AWS chain.
#[derive(Debug, Args)]
pub struct KmsArgs {
    /// AWS KMS key: key ID, key ARN, alias/NAME or alias ARN (repeatable). Encrypt wraps
    /// each file's key with one KMS Encrypt call per key and file; decrypt, verify and
    /// rekey ask KMS to use only these keys (a header's key is never trusted alone).
    #[arg(long = "kms-key", value_name = "KEY")]
    pub kms_keys: Vec<String>,
    /// Decrypt and verify: let KMS open a slot with whatever key it names (restrict it
    /// with --kms-account).
    #[arg(long)]
    pub kms_discovery: bool,
    /// With --kms-discovery: only keys of this AWS account ID (repeatable).
    #[arg(long = "kms-account", value_name = "ID", requires = "kms_discovery")]
    pub kms_accounts: Vec<String>,
}

impl KmsArgs {
    /// True when no KMS flag is given.
    pub fn is_empty(&self) -> bool {
        self.kms_keys.is_empty() && !self.kms_discovery
    }
}

// ---- public-key recipients and identities (issue 9) ----

/// Public-key recipients of new files: writing to them needs no secret at all.
#[derive(Debug, Default, Args)]
pub struct RecipientArgs {
    /// Encrypt to RECIPIENT (repeatable): a public key printed by `coffer keygen`
    /// (coffer1pq1... post-quantum, coffer1... classic) or by age-keygen (age1...).
    /// Recipients need no secret: no passphrase is asked for unless --ask-passphrase or
    /// a --passphrase-* source is given too. (-r is --recursive, as in zstd.)
    #[arg(long = "recipient", value_name = "RECIPIENT")]
    pub recipients: Vec<String>,
    /// Encrypt to every recipient listed in PATH (repeatable): one per line; blank lines
    /// and lines starting with "#" are ignored.
    #[arg(short = 'R', long = "recipients-file", value_name = "PATH")]
    pub recipients_files: Vec<PathBuf>,
    /// Allow post-quantum (hybrid) and classic (X25519) recipients in one file. Without
    /// it coffer refuses the mix (exit 2): against a quantum computer the file is only as
    /// strong as its classic slots. age 1.3 refuses this mix with no override at all.
    #[arg(long)]
    pub allow_classic_mix: bool,
}

/// Identity files: the secrets that open slots made for public-key recipients.
#[derive(Debug, Default, Args)]
pub struct IdentityArgs {
    /// An identity file (repeatable): secret keys made by `coffer keygen` or age-keygen,
    /// one per line ("#" comments and blank lines ignored); a coffer key file is accepted
    /// as well. Each identity is tried on the slots of its type; no passphrase is asked
    /// for unless --ask-passphrase or a --passphrase-* source is given too.
    #[arg(short = 'i', long = "identity", value_name = "PATH")]
    pub identity_files: Vec<PathBuf>,
}

// ---- end public-key recipients and identities ----

/// Options shared by every command that processes files with credentials.
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// No progress bar and no notes (errors are still printed).
    #[arg(short, long)]
    pub quiet: bool,
    /// Worker threads (0 = one per core).
    #[arg(short = 'T', long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
    /// FILE arguments may be directories: process every regular file below them.
    #[arg(short, long)]
    pub recursive: bool,
    /// With -r, follow symbolic links (they are skipped by default).
    #[arg(long)]
    pub follow_symlinks: bool,
    /// Accept Argon2id memory up to MIB per passphrase slot when reading a file (at most
    /// 65536).
    #[arg(long, value_name = "MIB", default_value_t = coffer::kdf::DEFAULT_MAX_MEMORY_MIB,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(coffer::kdf::HARD_MAX_MEMORY_MIB)))]
    pub max_kdf_memory: u32,
    /// Accept at most N MiB x passes of Argon2id work for one file, summed over its
    /// passphrase slots (a hostile header cannot stall a restore for minutes).
    #[arg(long, value_name = "N", default_value_t = coffer::kdf::DEFAULT_MAX_WORK_MIB_PASSES,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_kdf_work: u64,
    /// Write one JSON object per file, then a summary line, to stdout (to stderr when the
    /// data goes to stdout).
    #[arg(long)]
    pub json: bool,
    /// Write the JSON lines to FILE instead (implies --json).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub credentials: CredentialArgs,
}

/// Options of the commands that write outputs.
#[derive(Debug, Args)]
pub struct WriteArgs {
    /// Output path (single input only; "-" for stdout).
    #[arg(short, long, value_name = "PATH", conflicts_with_all = ["stdout", "output_dir"])]
    pub output: Option<PathBuf>,
    /// Write to stdout.
    #[arg(short = 'c', long, conflicts_with = "output_dir")]
    pub stdout: bool,
    /// Overwrite existing outputs.
    #[arg(short, long)]
    pub force: bool,
    /// Mirror outputs into DIR with the same relative paths (created with mode 0700).
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Remove each input once its output is fully written (and, on encrypt, read back
    /// and verified).
    #[arg(long, conflicts_with = "stdout")]
    pub delete_source: bool,
}

/// Argon2id cost of new passphrase slots.
#[derive(Debug, Args)]
pub struct KdfArgs {
    /// Argon2id memory in MiB (at least 19).
    #[arg(long, value_name = "MIB", default_value_t = coffer::kdf::DEFAULT_MEMORY_MIB)]
    pub kdf_memory: u32,
    /// Argon2id passes (at least 2).
    #[arg(long, value_name = "N", default_value_t = coffer::kdf::DEFAULT_PASSES)]
    pub kdf_passes: u32,
    /// Argon2id lanes.
    #[arg(long, value_name = "N", default_value_t = coffer::kdf::DEFAULT_LANES)]
    pub kdf_lanes: u32,
}

impl KdfArgs {
    pub fn params(&self) -> coffer::KdfParams {
        coffer::KdfParams::new(self.kdf_memory, self.kdf_passes, self.kdf_lanes)
    }
}

#[derive(Debug, Args)]
pub struct EncryptArgs {
    /// Files to encrypt; none or "-" means stdin to stdout.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub write: WriteArgs,
    #[command(flatten)]
    pub batch: BatchArgs,
    #[command(flatten)]
    pub recipients: RecipientArgs,
    #[command(flatten)]
    pub kdf: KdfArgs,
    #[command(flatten)]
    pub context: ContextArgs,
}

#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// Files to decrypt (X.coffer -> X); none or "-" means stdin to stdout.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub write: WriteArgs,
    #[command(flatten)]
    pub batch: BatchArgs,
    #[command(flatten)]
    pub identities: IdentityArgs,
    /// Decrypt only plaintext bytes START..START+LEN ("START:LEN", or "START:" to the
    /// end) of one seekable file, reading only the chunks that cover them.
    #[arg(long, value_name = "START:LEN", value_parser = parse_range,
          conflicts_with_all = ["recursive", "output_dir", "delete_source"])]
    pub range: Option<RangeSpec>,
    #[command(flatten)]
    pub context: ExpectContextArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Files to authenticate ("-" for stdin).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub batch: BatchArgs,
    #[command(flatten)]
    pub context: ExpectContextArgs,
    #[command(flatten)]
    pub identities: IdentityArgs,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// coffer files to inspect.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// One JSON object per file.
    #[arg(long)]
    pub json: bool,
    /// Print the ciphertext byte ranges a reader must fetch for plaintext START:LEN.
    #[arg(long, value_name = "START:LEN", value_parser = parse_range)]
    pub ciphertext_range: Option<RangeSpec>,
}

/// What `rekey --help` adds after the options.
pub const REKEY_HELP: &str = "\
A header-only rekey copies the payload byte for byte: it does not take access away from
anyone who already holds an old copy of the file (a backup, object-store version history)
together with a removed credential. Use --rotate for that: it re-encrypts the payload under
a new file key (constant memory, same output safety), so old credentials open nothing new.

Exit codes:
  0    success
  1    I/O or other error
  2    usage error (bad flags, malformed key file, identity file or recipient,
       removing the last slot, post-quantum and classic recipients mixed)
  3    no key slot opens with the credentials given, or the file's context is not
       the one given with --context (or it has none and --require-context was given)
  4    the file fails authentication (it is left as it is)
  5    not a coffer file, unsupported version, malformed header, KDF over the limits
  7-11 AWS KMS: access denied, key unusable, throttled, no credentials, unreachable
  130  interrupted; the original file is untouched";

/// Where a new passphrase comes from; without any, coffer prompts twice on the terminal.
#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct NewPassphraseArgs {
    /// Read the new passphrase from PATH, as --passphrase-file reads one.
    #[arg(long, value_name = "PATH")]
    pub new_passphrase_file: Option<PathBuf>,
    /// Read the new passphrase from file descriptor N, as --passphrase-fd reads one.
    #[arg(long, value_name = "N")]
    pub new_passphrase_fd: Option<u32>,
    /// Read the new passphrase from the environment variable VAR, as --passphrase-env
    /// reads one.
    #[arg(long, value_name = "VAR")]
    pub new_passphrase_env: Option<OsString>,
}

impl NewPassphraseArgs {
    /// The same sources, as the passphrase reader takes them.
    pub fn as_source(&self) -> PassphraseArgs {
        PassphraseArgs {
            passphrase_file: self.new_passphrase_file.clone(),
            passphrase_fd: self.new_passphrase_fd,
            passphrase_env: self.new_passphrase_env.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct RekeyArgs {
    /// coffer files to rekey in place.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub batch: BatchArgs,
    /// Add a slot for a new passphrase.
    #[arg(long, conflicts_with = "change_passphrase")]
    pub add_passphrase: bool,
    /// Replace the slot(s) that the current passphrase opens with one for a new
    /// passphrase.
    #[arg(long)]
    pub change_passphrase: bool,
    /// Remove the slot(s) that the current passphrase opens.
    #[arg(long, conflicts_with_all = ["add_passphrase", "change_passphrase"])]
    pub remove_passphrase: bool,
    /// Add a slot for this key file (repeatable).
    #[arg(long, value_name = "PATH")]
    pub add_key_file: Vec<PathBuf>,
    /// Remove the slot that this key file opens (repeatable; it also serves to open
    /// the file).
    #[arg(long, value_name = "PATH")]
    pub remove_key_file: Vec<PathBuf>,
    /// Add a slot for this AWS KMS key (repeatable; key ID, key ARN or alias): one KMS
    /// Encrypt call per key and file.
    #[arg(long, value_name = "KEY")]
    pub add_kms_key: Vec<String>,
    /// Remove slot N, numbered as `coffer inspect` shows (repeatable).
    #[arg(long, value_name = "N")]
    pub remove_slot: Vec<usize>,
    #[command(flatten)]
    pub identities: IdentityArgs,
    /// Add a slot for this public-key recipient (repeatable): coffer1pq1..., coffer1...
    /// or age1... Needs no secret of the recipient.
    #[arg(long, value_name = "RECIPIENT")]
    pub add_recipient: Vec<String>,
    /// Add a slot for every recipient listed in PATH (repeatable; one per line, "#"
    /// comments).
    #[arg(long, value_name = "PATH")]
    pub add_recipients_file: Vec<PathBuf>,
    /// Remove the slot(s) that RECIPIENT's identity opens (repeatable). The identity must
    /// be given with -i: a header does not name its recipients, so only the identity can
    /// find its slot (or remove it by index with --remove-slot).
    #[arg(long, value_name = "RECIPIENT")]
    pub remove_recipient: Vec<String>,
    /// Allow post-quantum and classic (X25519) recipient slots in one file (see `coffer
    /// encrypt --help`).
    #[arg(long)]
    pub allow_classic_mix: bool,
    /// Re-encrypt the payload under a new file key as well (every kept slot must be
    /// opened by a credential given here, to be made again).
    #[arg(long)]
    pub rotate: bool,
    #[command(flatten)]
    pub new_passphrase: NewPassphraseArgs,
    #[command(flatten)]
    pub kdf: KdfArgs,
    #[command(flatten)]
    pub context: ExpectContextArgs,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Make a classic X25519 identity instead of the post-quantum hybrid default
    /// (ML-KEM-768 + X25519): smaller recipients, no protection against a future quantum
    /// computer.
    #[arg(long, conflicts_with = "symmetric")]
    pub classic: bool,
    /// Make a symmetric key file for --key-file instead of an identity: one 256-bit
    /// secret that both encrypts and decrypts.
    #[arg(long)]
    pub symmetric: bool,
    /// Write the identity or key to PATH (created with mode 0600; never overwritten)
    /// instead of stdout; an identity's recipient is then printed on stdout.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Print the recipient of every identity in the identity file PATH ("-" for stdin),
    /// one per line, and make nothing.
    #[arg(short = 'y', value_name = "PATH",
          conflicts_with_all = ["classic", "symmetric", "output"])]
    pub recipients_of: Option<PathBuf>,
}

/// The encryption context a new file is bound to (FORMAT.md, "Context").
#[derive(Debug, Args)]
pub struct ContextArgs {
    /// Bind every file to the pair KEY=VALUE (repeatable): stored in the header, not
    /// secret, shown by `inspect`. Decrypt with the same --context pairs to catch a file
    /// swapped for another. Keys have no "=" and do not start with "coffer:" or "aws:".
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_context_pair)]
    pub pairs: Vec<(String, String)>,
}

/// The encryption context a file must have to be opened (FORMAT.md, "Context").
#[derive(Debug, Args)]
pub struct ExpectContextArgs {
    /// Open a file only if its context is exactly these KEY=VALUE pairs (repeatable; all
    /// of them, no more, no fewer), else exit 3 before any plaintext is written. Without
    /// it, a file opens whatever its context.
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_context_pair)]
    pub pairs: Vec<(String, String)>,
    /// Refuse a file that has no context (exit 3).
    #[arg(long)]
    pub require_context: bool,
}

fn parse_context_pair(text: &str) -> Result<(String, String), String> {
    coffer::Context::parse_pair(text).map_err(|e| e.to_string())
}

/// A plaintext range: `len` is `None` for "to the end".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeSpec {
    pub start: u64,
    pub len: Option<u64>,
}

impl RangeSpec {
    /// The `(start, len)` this range selects in a plaintext of `size` bytes.
    ///
    /// # Errors
    /// [`coffer::Error::RangeOutOfBounds`] when any byte is past the end.
    pub fn resolve(&self, size: u64) -> Result<(u64, u64), coffer::Error> {
        let len = self.len.unwrap_or(size.saturating_sub(self.start));
        match self.start.checked_add(len) {
            Some(end) if self.start <= size && end <= size => Ok((self.start, len)),
            _ => Err(coffer::Error::RangeOutOfBounds {
                start: self.start,
                len,
                size,
            }),
        }
    }
}

fn parse_range(text: &str) -> Result<RangeSpec, String> {
    let (start, len) = text
        .split_once(':')
        .ok_or_else(|| "expected START:LEN or START: (decimal byte offsets)".to_string())?;
    let number = |s: &str, what: &str| {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{what} must be a decimal number, not {s:?}"));
        }
        s.parse::<u64>().map_err(|e| format!("{what}: {e}"))
    };
    let start = number(start, "START")?;
    let len = if len.is_empty() {
        None
    } else {
        Some(number(len, "LEN")?)
    };
    if let Some(len) = len {
        if start.checked_add(len).is_none() {
            return Err("START + LEN overflows".to_string());
        }
    }
    Ok(RangeSpec { start, len })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn ranges_parse_and_resolve() {
        let r = parse_range("10:5").unwrap();
        assert_eq!(r.resolve(15).unwrap(), (10, 5));
        assert!(r.resolve(14).is_err());
        let open = parse_range("3:").unwrap();
        assert_eq!(open.resolve(10).unwrap(), (3, 7));
        assert!(parse_range("11:").unwrap().resolve(10).is_err());
        assert_eq!(parse_range("10:").unwrap().resolve(10).unwrap(), (10, 0));
        assert!(parse_range("x:1").is_err());
        assert!(parse_range("1").is_err());
        assert!(parse_range("-1:2").is_err());
        assert!(parse_range("18446744073709551615:1").is_err());
    }
}
