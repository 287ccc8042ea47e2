//! Public-key credentials on the command line: recipients (`--recipient`, `-R`) for
//! encrypt and rekey, identity files (`-i`) for every reader, and the rule that keeps
//! post-quantum and classic recipients out of one file.
//!
//! Every malformed line is a usage error (exit 2) naming the argument or the file and
//! line, never a "wrong key" later; no message ever shows a secret, even one pasted where
//! a recipient belongs.

use std::io::Read;
use std::path::Path;

use coffer::{AnyIdentity, AnyRecipient, Slot, SymmetricKey};
use zeroize::Zeroizing;

use super::args::RecipientArgs;
use super::credentials::read_secret_file;
use super::error::CliError;

/// Hybrid recipients are about 2 KB of text: this holds hundreds of them.
const MAX_RECIPIENTS_FILE: u64 = 1024 * 1024;
/// Identity lines are under 100 characters: this holds thousands, with comments.
const MAX_IDENTITY_FILE: u64 = 1024 * 1024;

/// How many characters of a bad recipient an error shows.
const PREVIEW_CHARS: usize = 24;

/// The flag that accepts a post-quantum and classic mix.
pub const ALLOW_MIX_FLAG: &str = "--allow-classic-mix";

/// A secret read from an identity file: a public-key identity, or a coffer key file's
/// symmetric key (accepted by `-i` so that one flag takes every kind of secret).
pub enum FileIdentity {
    Public(AnyIdentity),
    Symmetric(SymmetricKey),
}

/// Every recipient of `--recipient` and `-R`, in order, after the mixing rule.
///
/// # Errors
/// A usage error naming the argument or file and line of a bad recipient, or the mix.
pub fn from_args(args: &RecipientArgs) -> Result<Vec<AnyRecipient>, CliError> {
    let mut all = parse_arguments("--recipient", &args.recipients)?;
    for path in &args.recipients_files {
        all.extend(read_recipients_file(path)?);
    }
    check_mix(&all, args.allow_classic_mix)?;
    Ok(all)
}

/// Parses recipient strings given as arguments of `flag`.
///
/// # Errors
/// A usage error naming the argument: by its start, or by its position when it is a
/// secret key pasted by mistake (never shown).
pub fn parse_arguments(flag: &str, values: &[String]) -> Result<Vec<AnyRecipient>, CliError> {
    values
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let value = value.trim();
            value.parse::<AnyRecipient>().map_err(|e| {
                let err = CliError::usage(e.to_string());
                if looks_secret(value) {
                    err.context(format!("{flag} #{} (not shown)", i + 1)).hint(
                        "a secret passed as an argument is in your shell history and the \
                         process list: replace that identity",
                    )
                } else {
                    err.context(format!("{flag} {}", preview(value)))
                        .hint(RECIPIENT_FORMS)
                }
            })
        })
        .collect()
}

const RECIPIENT_FORMS: &str = "a recipient is one line: coffer1pq1... or coffer1... from \
    `coffer keygen`, or age1... from age-keygen";

/// The start of a (public) recipient string, quoted, for an error message.
pub fn preview(value: &str) -> String {
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(PREVIEW_CHARS).collect();
    if chars.next().is_some() {
        format!("{head:?}...")
    } else {
        format!("{head:?}")
    }
}

/// Whether `text` is a secret key line of coffer or age (never to be echoed).
fn looks_secret(text: &str) -> bool {
    let upper = text
        .get(..text.len().min(32))
        .unwrap_or("")
        .to_ascii_uppercase();
    upper.starts_with("AGE-SECRET-KEY-")
        || upper.starts_with("AGE-PLUGIN-")
        || (upper.starts_with("COFFER-") && (upper.contains("SECRET") || upper.contains("KEY")))
}

/// Whether `text` looks like a recipient string (for the hint when one is given where a
/// file name belongs).
pub fn looks_like_recipient(text: &str) -> bool {
    let lower = text
        .get(..text.len().min(8))
        .unwrap_or("")
        .to_ascii_lowercase();
    lower.starts_with("age1") || lower.starts_with("coffer1")
}

/// Reads a recipients file: one recipient per line, `#` comments and blank lines.
///
/// # Errors
/// A usage error naming the file and line of a bad line (showing nothing of it), or an
/// I/O error.
pub fn read_recipients_file(path: &Path) -> Result<Vec<AnyRecipient>, CliError> {
    let context = || format!("recipients file {}", path.display());
    if path == Path::new("-") {
        // Stdin is where encrypt reads its data: reading recipients there would leave an
        // empty input to encrypt.
        return Err(CliError::usage("recipients cannot come from stdin (-)")
            .hint("write them to a file, or use process substitution: -R <(command)"));
    }
    let file = std::fs::File::open(path).map_err(|e| CliError::io_while(context(), &e))?;
    let mut text = Vec::new();
    file.take(MAX_RECIPIENTS_FILE + 1)
        .read_to_end(&mut text)
        .map_err(|e| CliError::io_while(context(), &e))?;
    if text.len() as u64 > MAX_RECIPIENTS_FILE {
        return Err(CliError::usage("too large to be a recipients file").context(context()));
    }
    let text = std::str::from_utf8(&text)
        .map_err(|_| CliError::usage("not text (invalid UTF-8)").context(context()))?;
    let mut out = Vec::new();
    for (number, line) in key_lines(text) {
        let at = || format!("{}, line {number}", context());
        let recipient = line.parse::<AnyRecipient>().map_err(|e| {
            CliError::usage(e.to_string())
                .context(at())
                .hint(RECIPIENT_FORMS)
        })?;
        out.push(recipient);
    }
    if out.is_empty() {
        return Err(CliError::usage("it lists no recipient").context(context()));
    }
    Ok(out)
}

/// The lines of a key text that hold a key: numbered from 1, trimmed, without blank
/// lines and `#` comments.
fn key_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
}

/// Reads an identity file (`-i`): one secret per line, `#` comments and blank lines.
///
/// # Errors
/// A usage error naming the file and line of a damaged line (never its content), or an
/// I/O error.
pub fn read_identity_file(path: &Path) -> Result<Vec<FileIdentity>, CliError> {
    let text = read_secret_file(path, "identity file", MAX_IDENTITY_FILE)?;
    parse_identity_text(&text, &path.display().to_string())
}

/// Reads identities from standard input (`keygen -y -`).
pub fn read_identity_stdin() -> Result<Vec<FileIdentity>, CliError> {
    let text = read_stdin(MAX_IDENTITY_FILE).map_err(|e| e.context("identity file -"))?;
    parse_identity_text(&text, "-")
}

fn read_stdin(max: u64) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let mut text = Zeroizing::new(Vec::new());
    std::io::stdin()
        .lock()
        .take(max + 1)
        .read_to_end(&mut text)
        .map_err(|e| CliError::io_while("reading standard input", &e))?;
    if text.len() as u64 > max {
        return Err(CliError::usage("too large"));
    }
    Ok(text)
}

fn parse_identity_text(text: &[u8], name: &str) -> Result<Vec<FileIdentity>, CliError> {
    let context = || format!("identity file {name}");
    let text = std::str::from_utf8(text)
        .map_err(|_| CliError::usage("not text (invalid UTF-8)").context(context()))?;
    let mut out = Vec::new();
    for (number, line) in key_lines(text) {
        let at = || format!("{}, line {number}", context());
        let is_key_file_line = line
            .get(..22)
            .is_some_and(|p| p.eq_ignore_ascii_case("COFFER-SYMMETRIC-KEY-1"));
        let identity = if is_key_file_line {
            SymmetricKey::parse(line.as_bytes()).map(FileIdentity::Symmetric)
        } else {
            AnyIdentity::parse(line).map(FileIdentity::Public)
        };
        out.push(identity.map_err(|e| {
            let hint = if looks_like_recipient(line) {
                "decrypting needs the identity file that `coffer keygen -o` wrote with this \
                 recipient"
            } else {
                "an identity file holds secret keys made by `coffer keygen` or age-keygen, \
                 one per line; check that it is complete"
            };
            CliError::usage(e.to_string()).context(at()).hint(hint)
        })?);
    }
    if out.is_empty() {
        return Err(CliError::usage("it holds no identity").context(context()));
    }
    Ok(out)
}

/// Refuses post-quantum and classic recipients in one file unless `allow`: a file is
/// only as quantum-resistant as its weakest slot (age 1.3 refuses the same mix).
///
/// # Errors
/// A usage error with a hint (exit 2).
pub fn check_mix(recipients: &[AnyRecipient], allow: bool) -> Result<(), CliError> {
    let post_quantum = recipients.iter().filter(|r| r.is_post_quantum()).count();
    check_counts(post_quantum, recipients.len() - post_quantum, allow)
}

/// [`check_mix`] on counts (rekey adds the slots the file already has).
pub fn check_counts(post_quantum: usize, classic: usize, allow: bool) -> Result<(), CliError> {
    if allow || post_quantum == 0 || classic == 0 {
        return Ok(());
    }
    Err(CliError::usage(format!(
        "refusing to mix post-quantum and classic (X25519) recipients in one file \
         ({post_quantum} post-quantum, {classic} classic): against a quantum computer it \
         would be only as strong as its classic slots"
    ))
    .hint(format!(
        "use only post-quantum recipients (coffer1pq1..., made by `coffer keygen`), or pass \
         {ALLOW_MIX_FLAG} to accept that"
    )))
}

/// For a public-key slot, whether it is post-quantum; `None` for other slot types
/// (passphrases and key files are symmetric: not weakened by a quantum computer).
pub fn slot_is_post_quantum(slot: &Slot) -> Option<bool> {
    match slot {
        Slot::Hybrid(_) => Some(true),
        Slot::X25519(_) => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_recognised_and_recipients_are_not_secrets() {
        assert!(looks_secret("AGE-SECRET-KEY-1QQQ"));
        assert!(looks_secret("age-secret-key-pq-1qqq"));
        assert!(looks_secret("COFFER-SYMMETRIC-KEY-1QQQ"));
        assert!(looks_secret("COFFER-SECRET-KEY-PQ-1QQQ"));
        assert!(!looks_secret("age1qqqq"));
        assert!(!looks_secret("coffer1pq1qqqq"));
        assert!(looks_like_recipient("age1abc") && looks_like_recipient("COFFER1PQ1X"));
        assert!(!looks_like_recipient("notes.txt"));
    }

    #[test]
    fn previews_are_short_and_quoted() {
        assert_eq!(preview("age1x"), "\"age1x\"");
        let long = "a".repeat(100);
        assert_eq!(
            preview(&long),
            format!("\"{}\"...", "a".repeat(PREVIEW_CHARS))
        );
    }

    #[test]
    fn mixing_is_refused_unless_allowed() {
        assert!(check_counts(3, 0, false).is_ok());
        assert!(check_counts(0, 3, false).is_ok());
        assert!(check_counts(1, 1, true).is_ok());
        let err = check_counts(1, 2, false).unwrap_err();
        assert_eq!(err.kind.exit_code(), 2);
        assert!(err.render().contains(ALLOW_MIX_FLAG), "{}", err.render());
    }
}
