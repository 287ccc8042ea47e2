//! `--context` and `--require-context`: the pairs a new file is bound to, and the check
//! that a file being opened is the one asked for (FORMAT.md, "Context").

use coffer::Context;

use super::args::{ContextArgs, ExpectContextArgs};
use super::error::CliError;

/// What a run does with contexts: encrypt stores one in every file; decrypt, verify and
/// rekey check every file's before opening it.
#[derive(Debug, Default)]
pub struct ContextFlags {
    /// Stored in each new file (encrypt); empty otherwise.
    pub store: Context,
    /// Checked against each file read.
    pub check: ContextCheck,
}

impl ContextFlags {
    /// `encrypt --context`.
    ///
    /// # Errors
    /// A usage error naming the rule a pair breaks or the key given twice.
    pub fn to_store(args: &ContextArgs) -> Result<Self, CliError> {
        Ok(ContextFlags {
            store: collect(&args.pairs)?,
            check: ContextCheck::default(),
        })
    }

    /// `--context` and `--require-context` of the commands that read files.
    ///
    /// # Errors
    /// As [`ContextFlags::to_store`].
    pub fn to_check(args: &ExpectContextArgs) -> Result<Self, CliError> {
        Ok(ContextFlags {
            store: Context::new(),
            check: ContextCheck::from_args(args)?,
        })
    }
}

/// What a file's context must be for it to be opened.
#[derive(Debug, Default)]
pub struct ContextCheck {
    /// Exactly these pairs, when not empty.
    expected: Context,
    /// Refuse a file without a context.
    required: bool,
}

impl ContextCheck {
    /// # Errors
    /// As [`ContextFlags::to_store`].
    pub fn from_args(args: &ExpectContextArgs) -> Result<Self, CliError> {
        Ok(ContextCheck {
            expected: collect(&args.pairs)?,
            required: args.require_context,
        })
    }

    /// Compares a file's context, as its header says, with what was asked. Run before
    /// any key is derived; the header MAC then proves the context was not altered.
    ///
    /// # Errors
    /// [`coffer::Error::ContextMismatch`] or [`coffer::Error::ContextRequired`] (exit 3).
    pub fn check(&self, file: &Context) -> Result<(), CliError> {
        if !self.expected.is_empty() {
            file.must_equal(&self.expected)?;
        } else if self.required && file.is_empty() {
            return Err(coffer::Error::ContextRequired.into());
        }
        Ok(())
    }
}

/// The pairs of the command line as one context.
fn collect(pairs: &[(String, String)]) -> Result<Context, CliError> {
    Context::from_pairs(pairs.iter().cloned())
        .map_err(|err| CliError::lib(err).context("--context"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pairs: &[(&str, &str)], required: bool) -> ContextCheck {
        let args = ExpectContextArgs {
            pairs: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            require_context: required,
        };
        ContextCheck::from_args(&args).unwrap()
    }

    #[test]
    fn a_check_asks_for_exactly_the_pairs_given() {
        let file = Context::from_pairs([("host", "a"), ("path", "x")]).unwrap();
        check(&[("path", "x"), ("host", "a")], false)
            .check(&file)
            .unwrap();
        check(&[], false).check(&file).unwrap();
        check(&[], true).check(&file).unwrap();
        for asked in [
            &[("host", "a")][..],
            &[("host", "a"), ("path", "y")],
            &[("host", "a"), ("path", "x"), ("z", "1")],
        ] {
            let err = check(asked, false).check(&file).unwrap_err();
            assert_eq!(err.kind.name(), "context_mismatch", "{asked:?}");
        }
    }

    #[test]
    fn require_context_refuses_only_files_without_one() {
        check(&[], false).check(&Context::new()).unwrap();
        let err = check(&[], true).check(&Context::new()).unwrap_err();
        assert_eq!(err.kind.exit_code(), 3);
        assert!(check(&[("k", "v")], false).check(&Context::new()).is_err());
    }

    #[test]
    fn a_key_given_twice_is_a_usage_error() {
        let args = ExpectContextArgs {
            pairs: vec![("k".into(), "1".into()), ("k".into(), "2".into())],
            require_context: false,
        };
        let err = ContextCheck::from_args(&args).unwrap_err();
        assert_eq!(err.kind.exit_code(), 2);
        assert!(err.render().contains("--context"), "{}", err.render());
    }
}
