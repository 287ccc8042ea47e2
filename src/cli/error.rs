//! Errors as the user sees them, and the one place where failure classes become exit
//! codes.

use std::fmt;
use std::io;

/// Failure classes of the command line. Ordered so that `max` picks the exit code a run
/// of several files ends with (the highest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// I/O and everything else: exit 1.
    Io,
    /// Bad request: exit 2.
    Usage,
    /// No slot opens with the passphrase or key files given: exit 3.
    WrongKey,
    /// The file's context is not the one given with --context, or it has none and
    /// --require-context was given: exit 3, its own JSON class.
    ContextMismatch,
    /// The file fails authentication: exit 4.
    Authentication,
    /// Not a coffer file, unsupported, malformed, over the limits: exit 5.
    Format,
    /// AWS KMS denied access to the key: exit 7.
    KmsAccessDenied,
    /// The KMS key is disabled, pending deletion or not found: exit 8.
    KmsKeyUnusable,
    /// KMS throttled the requests, still after retries: exit 9.
    KmsThrottled,
    /// No AWS credentials or region: exit 10.
    KmsNoCredentials,
    /// KMS unreachable or timed out: exit 11.
    KmsUnreachable,
    /// SIGINT/SIGTERM: exit 130.
    Interrupted,
    /// The reader of standard output went away (`| head`): exit 141, as a shell reports
    /// a process ended by SIGPIPE, and nothing on stderr.
    BrokenPipe,
}

/// Exit status of a successful run.
pub const SUCCESS: i32 = 0;

impl Kind {
    /// The exit code: decided here and nowhere else.
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::Io => 1,
            Kind::Usage => 2,
            Kind::WrongKey | Kind::ContextMismatch => 3,
            Kind::Authentication => 4,
            Kind::Format => 5,
            Kind::KmsAccessDenied => 7,
            Kind::KmsKeyUnusable => 8,
            Kind::KmsThrottled => 9,
            Kind::KmsNoCredentials => 10,
            Kind::KmsUnreachable => 11,
            Kind::Interrupted => 130,
            Kind::BrokenPipe => 141,
        }
    }

    /// The `error_kind` of JSON reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Io => "io",
            Kind::Usage => "usage",
            Kind::WrongKey => "wrong_key",
            Kind::ContextMismatch => "context_mismatch",
            Kind::Authentication => "authentication",
            Kind::Format => "format",
            Kind::KmsAccessDenied => "kms_access_denied",
            Kind::KmsKeyUnusable => "kms_key_unusable",
            Kind::KmsThrottled => "kms_throttled",
            Kind::KmsNoCredentials => "kms_no_credentials",
            Kind::KmsUnreachable => "kms_unreachable",
            Kind::Interrupted => "interrupted",
            Kind::BrokenPipe => "broken_pipe",
        }
    }

    fn from_lib(kind: coffer::ErrorKind) -> Kind {
        match kind {
            coffer::ErrorKind::WrongKey => Kind::WrongKey,
            coffer::ErrorKind::ContextMismatch => Kind::ContextMismatch,
            coffer::ErrorKind::Authentication => Kind::Authentication,
            coffer::ErrorKind::Format => Kind::Format,
            coffer::ErrorKind::Usage => Kind::Usage,
            coffer::ErrorKind::Interrupted => Kind::Interrupted,
            _ => Kind::Io,
        }
    }

    /// The kind of a KMS failure: each class has its own exit code.
    fn from_kms(err: &coffer::KmsError) -> Kind {
        match err.class() {
            coffer::KmsFailure::AccessDenied => Kind::KmsAccessDenied,
            coffer::KmsFailure::KeyUnusable => Kind::KmsKeyUnusable,
            coffer::KmsFailure::InvalidCiphertext => Kind::Authentication,
            coffer::KmsFailure::Throttled => Kind::KmsThrottled,
            coffer::KmsFailure::NoCredentials => Kind::KmsNoCredentials,
            coffer::KmsFailure::Unreachable => Kind::KmsUnreachable,
            _ => Kind::Io,
        }
    }
}

/// An error with the context it happened in and hints for the user. Never holds a secret:
/// messages come from the library (which never prints secrets) or from this crate.
#[derive(Debug, Clone)]
pub struct CliError {
    pub kind: Kind,
    context: Option<String>,
    message: String,
    hints: Vec<String>,
}

impl CliError {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        CliError {
            kind,
            context: None,
            message: message.into(),
            hints: Vec::new(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }

    pub fn io(message: impl Into<String>) -> Self {
        Self::new(Kind::Io, message)
    }

    /// An I/O error during `doing` (e.g. "writing out.coffer").
    pub fn io_while(doing: impl fmt::Display, err: &io::Error) -> Self {
        Self::io(format!("{doing}: {err}"))
    }

    /// A library error, classified by its kind, with the hints that help for it.
    pub fn lib(err: coffer::Error) -> Self {
        let hint = match &err {
            coffer::Error::KdfOverLimit {
                param: "memory", ..
            } => {
                Some("if you trust this file, raise the cap with --max-kdf-memory MIB".to_string())
            }
            coffer::Error::NoSlotOpened {
                unsupported_slots: n @ 1..,
                ..
            } => Some(format!(
                "the file also has {n} slot(s) of a type this version of coffer cannot open"
            )),
            coffer::Error::ContextMismatch(_) | coffer::Error::ContextRequired => Some(
                "it may be another file swapped in; `coffer inspect` shows a file's context"
                    .to_string(),
            ),
            coffer::Error::KdfWorkOverBudget { .. } => {
                Some("if you trust this file, raise the budget with --max-kdf-work N".to_string())
            }
            coffer::Error::KdfOutOfMemory { .. } => Some(
                "free memory or raise the process's memory limit (ulimit -v), then try again"
                    .to_string(),
            ),
            // Not "try `coffer inspect`": inspect says the same about such a file.
            coffer::Error::NotCoffer => Some(
                "it was not written by `coffer encrypt` (or is not encrypted at all)".to_string(),
            ),
            coffer::Error::Kms(kms) => kms_hint(kms),
            _ => None,
        };
        let kind = match &err {
            coffer::Error::Kms(kms) => Kind::from_kms(kms),
            other => Kind::from_lib(other.kind()),
        };
        let mut out = Self::new(kind, err.to_string());
        out.hints.extend(hint);
        out
    }

    /// Prefixes the context (usually the input path) unless one is set already.
    pub fn context(mut self, context: impl Into<String>) -> Self {
        if self.context.is_none() {
            self.context = Some(context.into());
        }
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Says that `--delete-source` kept the source because of this error.
    pub fn kept(mut self) -> Self {
        if !self.message.ends_with("the source was kept") {
            self.message.push_str("; the source was kept");
        }
        self
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The lines printed on stderr: `coffer: error: <context>: <message>` and hints.
    pub fn render(&self) -> String {
        let mut text = String::from("coffer: error: ");
        if let Some(context) = &self.context {
            text.push_str(context);
            text.push_str(": ");
        }
        text.push_str(&self.message);
        for hint in &self.hints {
            text.push_str("\nhint: ");
            text.push_str(hint);
        }
        text
    }
}

impl From<coffer::Error> for CliError {
    fn from(err: coffer::Error) -> Self {
        CliError::lib(err)
    }
}

/// What to do about a KMS failure, where there is something to do.
fn kms_hint(err: &coffer::KmsError) -> Option<String> {
    Some(
        match err.class() {
            coffer::KmsFailure::AccessDenied => {
                "the IAM identity needs kms:Encrypt (encrypt, rekey) or kms:Decrypt (decrypt, \
                 verify) on the key, and the key policy must allow it"
            }
            coffer::KmsFailure::NoCredentials => {
                "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, and AWS_REGION, or \
                 run with an instance or container role"
            }
            coffer::KmsFailure::Unreachable => {
                "check AWS_REGION, AWS_ENDPOINT_URL and the network; a key file opens the file \
                 without KMS if it has one"
            }
            coffer::KmsFailure::Throttled => "retry later, or ask AWS for a higher KMS quota",
            _ => return None,
        }
        .to_string(),
    )
}

/// The exit code of a run that saw these codes: the highest one.
pub fn combine(a: i32, b: i32) -> i32 {
    a.max(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_kinds_map_to_documented_codes() {
        let code = |e: coffer::Error| CliError::lib(e).kind.exit_code();
        assert_eq!(
            code(coffer::Error::NoSlotOpened {
                offered: 1,
                unsupported_slots: 0
            }),
            3
        );
        assert_eq!(code(coffer::Error::ContextRequired), 3);
        assert_eq!(
            CliError::lib(coffer::Error::ContextRequired).kind.name(),
            "context_mismatch"
        );
        assert_eq!(code(coffer::Error::InvalidContext("x")), 2);
        assert_eq!(code(coffer::Error::ChunkAuthentication { index: 3 }), 4);
        assert_eq!(code(coffer::Error::TrailingData { bytes: 1 }), 4);
        assert_eq!(code(coffer::Error::NotCoffer), 5);
        assert_eq!(code(coffer::Error::UnsupportedVersion(9)), 5);
        assert_eq!(
            code(coffer::Error::RangeOutOfBounds {
                start: 1,
                len: 1,
                size: 0
            }),
            2
        );
        assert_eq!(code(coffer::Error::Interrupted), 130);
        let kms = |e: coffer::KmsError| code(coffer::Error::Kms(e));
        let key = || "alias/backup".to_string();
        assert_eq!(kms(coffer::KmsError::AccessDenied { key: key() }), 7);
        assert_eq!(kms(coffer::KmsError::KeyDisabled { key: key() }), 8);
        assert_eq!(kms(coffer::KmsError::KeyNotFound { key: key() }), 8);
        assert_eq!(kms(coffer::KmsError::Throttled), 9);
        assert_eq!(kms(coffer::KmsError::NoCredentials), 10);
        assert_eq!(kms(coffer::KmsError::NoRegion), 10);
        assert_eq!(
            kms(coffer::KmsError::Unreachable { detail: "x".into() }),
            11
        );
        assert_eq!(kms(coffer::KmsError::InvalidCiphertext { key: key() }), 4);
        assert_eq!(kms(coffer::KmsError::WrongKey { key: key() }), 4);
        assert_eq!(code(coffer::Error::Io(io::Error::other("x"))), 1);
    }

    #[test]
    fn rendering_has_context_and_hints() {
        let e = CliError::io("already exists")
            .context("a.coffer")
            .hint("use -f");
        assert_eq!(
            e.render(),
            "coffer: error: a.coffer: already exists\nhint: use -f"
        );
    }
}
