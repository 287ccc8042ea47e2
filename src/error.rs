//! The library's error type: one variant per failure class, never carrying secrets.

use std::io;

/// Every way reading or writing a coffer file can fail.
///
/// Variants are failure classes, so that a caller (the CLI) can map them to exit codes
/// without parsing messages. Messages never contain key material or passphrases.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input does not start with the coffer magic bytes.
    #[error("not a coffer file (bad magic bytes)")]
    NotCoffer,

    /// The header names a format version this library does not implement.
    #[error("unsupported coffer format version {0} (this build reads version 1)")]
    UnsupportedVersion(u8),

    /// The header is structurally invalid: a reserved field is set, a length is not the
    /// canonical one, or a bound is exceeded. Checked before any key is derived.
    #[error("invalid header: {0}")]
    InvalidHeader(&'static str),

    /// A slot asks for Argon2id parameters above what this reader accepts.
    #[error("Argon2id {param} of {value}{unit} exceeds the limit of {limit}{unit}")]
    KdfOverLimit {
        /// Which parameter: "memory", "passes" or "lanes".
        param: &'static str,
        /// The value in the file (or requested).
        value: u64,
        /// The limit in force.
        limit: u64,
        /// Unit suffix for display (" MiB" or "").
        unit: &'static str,
    },

    /// The passphrase slots together ask for more Argon2id work than the reader's budget.
    #[error("the passphrase slots ask for {work} MiB x passes of Argon2id work in all, over the budget of {budget}")]
    KdfWorkOverBudget {
        /// The work asked for, in MiB x passes.
        work: u64,
        /// The budget in force.
        budget: u64,
    },

    /// The machine could not allocate the memory a derivation needs.
    #[error("this machine could not provide {memory_mib} MiB for the Argon2id key derivation")]
    KdfOutOfMemory {
        /// The memory asked for.
        memory_mib: u64,
    },

    /// Encryption was asked to use Argon2id parameters below the safe floor.
    #[error("Argon2id {param} of {value}{unit} is below the minimum of {floor}{unit}")]
    KdfBelowFloor {
        /// Which parameter: "memory", "passes" or "lanes".
        param: &'static str,
        /// The requested value.
        value: u64,
        /// The floor.
        floor: u64,
        /// Unit suffix for display (" MiB" or "").
        unit: &'static str,
    },

    /// Encryption was asked to use Argon2id parameters above the reader caps in force,
    /// which would write files that readers refuse by default.
    #[error("Argon2id {param} of {value}{unit} exceeds the limit of {limit}{unit}")]
    KdfAboveCap {
        /// Which parameter: "memory", "passes" or "lanes".
        param: &'static str,
        /// The requested value.
        value: u64,
        /// The limit in force.
        limit: u64,
        /// Unit suffix for display (" MiB" or "").
        unit: &'static str,
    },

    /// No slot of the header opened with the credentials offered (a wrong passphrase or
    /// key file, or none of the file's own).
    #[error("no key slot opens with the {} given", if *.offered == 1 { "credential" } else { "credentials" })]
    NoSlotOpened {
        /// How many credentials were tried.
        offered: usize,
        /// How many slots the header has that this reader cannot use at all.
        unsupported_slots: usize,
    },

    /// A key file's text is not a valid key (typo, truncation, wrong kind of key).
    #[error("not a valid coffer key file: {0}")]
    InvalidKeyFile(&'static str),

    /// A recipient string or a recipients file line is not a valid recipient.
    #[error("not a valid recipient: {0}")]
    InvalidRecipient(String),

    /// An identity line is not a valid identity. The message never quotes the line.
    #[error("not a valid identity: {0}")]
    InvalidIdentity(String),

    /// A header to be written would not fit the format's limits.
    #[error("{slots} slot(s) need a {bytes}-byte header; a header holds 1 to {} slots and at most {} bytes", crate::format::MAX_SLOTS, crate::format::MAX_HEADER_LEN)]
    HeaderTooLarge {
        /// The slots asked for.
        slots: usize,
        /// The header length they need.
        bytes: usize,
    },

    /// A context pair given to write or compare breaks a rule (FORMAT.md, "Context").
    #[error("invalid context: {0}")]
    InvalidContext(&'static str),

    /// The file's context is not exactly the one the caller asked for: it may be another
    /// file, swapped in where this one belongs.
    #[error("{0}")]
    ContextMismatch(Box<crate::context::ContextMismatch>),

    /// The caller asked for a context and the file has none.
    #[error("the file has no context, and one is required")]
    ContextRequired,

    /// The header MAC, or a slot whose check value matched, failed to authenticate.
    #[error("header authentication failed: the header was modified or corrupted")]
    HeaderAuthentication,

    /// The payload key commitment does not match the file key and salt.
    #[error("payload key commitment does not match: the payload was modified or belongs to another file")]
    CommitmentMismatch,

    /// Chunk `index` (counting from zero) failed AEAD authentication.
    #[error("chunk {index} failed authentication: the file was modified, corrupted or truncated")]
    ChunkAuthentication {
        /// The chunk counter of the failing chunk.
        index: u64,
    },

    /// The input ended early: inside the header, before the payload prefix, or right
    /// after a full chunk where a final short chunk must follow.
    #[error("the file is truncated{}", .at_chunk.map(|i| format!(" (ends before chunk {i})")).unwrap_or_default())]
    Truncated {
        /// The chunk that is missing, when the file ends at a chunk boundary.
        at_chunk: Option<u64>,
    },

    /// Bytes follow a final chunk that authenticated on its own.
    #[error("{bytes} byte(s) of trailing data after the final chunk")]
    TrailingData {
        /// How many extra bytes there are.
        bytes: u64,
    },

    /// The plaintext would exceed 2^38 chunks (4 PiB).
    #[error("message too long: the format allows at most 2^38 chunks")]
    MessageTooLong,

    /// A range or seek outside the plaintext.
    #[error("range {start}+{len} is outside the plaintext of {size} bytes")]
    RangeOutOfBounds {
        /// First plaintext byte requested.
        start: u64,
        /// Requested length.
        len: u64,
        /// Plaintext size.
        size: u64,
    },

    /// The operation was cancelled (interrupt).
    #[error("interrupted")]
    Interrupted,

    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] io::Error),

    /// A call to AWS KMS failed (KMS slots); [`crate::KmsError::class`] says how.
    #[error("{0}")]
    Kms(#[from] crate::slots::kms::KmsError),
}

/// Broad classes of failure, for exit codes and machine-readable reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No slot opened with the credentials given (wrong passphrase or key file).
    WrongKey,
    /// The file's context is not the one asked for, or it has none and one is required:
    /// possibly another file swapped in.
    ContextMismatch,
    /// The file failed authentication: tampered, corrupted, truncated, trailing data.
    Authentication,
    /// Not a coffer file, an unsupported version, a malformed header, or parameters over
    /// the safety limits: refused before any decryption.
    Format,
    /// Bad request: parameters below the floor, range out of bounds.
    Usage,
    /// Interrupted by a signal.
    Interrupted,
    /// I/O and everything else.
    Io,
    /// A key service (AWS KMS) refused or could not be reached; the error's own class
    /// says which ([`crate::KmsError::class`]).
    KeyService,
}

impl ErrorKind {
    /// A stable snake_case name for JSON reports.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::WrongKey => "wrong_key",
            ErrorKind::ContextMismatch => "context_mismatch",
            ErrorKind::Authentication => "authentication",
            ErrorKind::Format => "format",
            ErrorKind::Usage => "usage",
            ErrorKind::Interrupted => "interrupted",
            ErrorKind::Io => "io",
            ErrorKind::KeyService => "key_service",
        }
    }
}

impl Error {
    /// The class this error belongs to.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NoSlotOpened { .. } => ErrorKind::WrongKey,
            Error::ContextMismatch(_) | Error::ContextRequired => ErrorKind::ContextMismatch,
            Error::HeaderAuthentication
            | Error::CommitmentMismatch
            | Error::ChunkAuthentication { .. }
            | Error::Truncated { .. }
            | Error::TrailingData { .. } => ErrorKind::Authentication,
            Error::NotCoffer
            | Error::UnsupportedVersion(_)
            | Error::InvalidHeader(_)
            | Error::KdfOverLimit { .. }
            | Error::KdfWorkOverBudget { .. }
            | Error::MessageTooLong => ErrorKind::Format,
            Error::KdfBelowFloor { .. }
            | Error::KdfAboveCap { .. }
            | Error::InvalidKeyFile(_)
            | Error::InvalidContext(_)
            | Error::InvalidRecipient(_)
            | Error::InvalidIdentity(_)
            | Error::HeaderTooLarge { .. }
            | Error::RangeOutOfBounds { .. } => ErrorKind::Usage,
            Error::Interrupted => ErrorKind::Interrupted,
            Error::Io(_) | Error::KdfOutOfMemory { .. } => ErrorKind::Io,
            Error::Kms(err) => match err.class() {
                crate::slots::kms::KmsFailure::InvalidCiphertext => ErrorKind::Authentication,
                _ => ErrorKind::KeyService,
            },
        }
    }

    /// Recovers a coffer error that crossed an `io::Read`/`io::Write` boundary.
    ///
    /// The streaming adapters wrap their errors in `io::Error` (the traits demand it);
    /// this unwraps them again so callers see the precise variant.
    pub fn from_io(err: io::Error) -> Error {
        if err.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            let inner = err.into_inner().expect("checked above");
            *inner.downcast::<Error>().expect("checked above")
        } else if err.kind() == io::ErrorKind::UnexpectedEof {
            Error::Truncated { at_chunk: None }
        } else {
            Error::Io(err)
        }
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> io::Error {
        match err {
            Error::Io(inner) => inner,
            other => io::Error::other(other),
        }
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
