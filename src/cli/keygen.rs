//! `coffer keygen`: a new identity (post-quantum hybrid by default, X25519 with
//! `--classic`) or a key file (`--symmetric`), and `-y`, the recipients of an identity
//! file. Secrets go to a file created with mode 0600 that never replaces an existing one,
//! or to stdout. The conventions are age-keygen's: with `-o` the recipient is printed on
//! stdout (for scripts to capture); without it the identity text goes to stdout and
//! "Public key: ..." to stderr when stdout is not a terminal.

use std::fs::OpenOptions;
use std::io::{self, IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use coffer::{AnyIdentity, HybridIdentity, SymmetricKey, X25519Identity};
use zeroize::Zeroizing;

use super::args::KeygenArgs;
use super::error::{CliError, SUCCESS};
use super::recipients::{self, FileIdentity};
use super::run::fail;

pub fn keygen(args: &KeygenArgs) -> i32 {
    let result = match &args.recipients_of {
        Some(path) => print_recipients(path),
        None if args.symmetric => make_key_file(args.output.as_deref()),
        None => make_identity(args.classic, args.output.as_deref()),
    };
    match result {
        Ok(()) => SUCCESS,
        Err(err) => fail(&err),
    }
}

/// `--symmetric`: a key file for `--key-file`.
fn make_key_file(output: Option<&Path>) -> Result<(), CliError> {
    let key = SymmetricKey::generate();
    let text = Zeroizing::new(format!(
        "# created: {}\n# coffer key file: whoever holds this line can decrypt every file made with it\n{}\n",
        utc_now(),
        *key.to_line()
    ));
    match file_output(output) {
        Some(path) => write_new(path, text.as_bytes()),
        None => write_secret_to_stdout(text.as_bytes(), "key"),
    }
}

/// A new identity: its text (created, recipient, secret line) to `output` or stdout, and
/// its recipient where age-keygen puts it.
fn make_identity(classic: bool, output: Option<&Path>) -> Result<(), CliError> {
    let (recipient, secret) = if classic {
        let identity = X25519Identity::generate();
        (identity.recipient().to_string(), identity.to_line())
    } else {
        let identity = HybridIdentity::generate();
        (identity.recipient().to_string(), identity.to_line())
    };
    let text = Zeroizing::new(format!(
        "# created: {}\n# recipient: {recipient}\n{}\n",
        utc_now(),
        *secret
    ));
    match file_output(output) {
        Some(path) => {
            write_new(path, text.as_bytes())?;
            write_stdout(format!("{recipient}\n").as_bytes())
        }
        None => {
            if !io::stdout().is_terminal() {
                eprintln!("Public key: {recipient}");
            }
            write_secret_to_stdout(text.as_bytes(), "identity")
        }
    }
}

/// `-y PATH`: the recipient of every identity in an identity file, one per line.
fn print_recipients(path: &Path) -> Result<(), CliError> {
    let identities = if path == Path::new("-") {
        recipients::read_identity_stdin()?
    } else {
        recipients::read_identity_file(path)?
    };
    let mut lines = String::new();
    for identity in &identities {
        match identity {
            FileIdentity::Public(identity) => {
                lines.push_str(&recipient_of(identity));
                lines.push('\n');
            }
            FileIdentity::Symmetric(_) => {
                return Err(CliError::usage(
                    "it holds a symmetric key (a key file), which has no public recipient",
                )
                .context(format!("identity file {}", path.display()))
                .hint("give the key file itself with --key-file to encrypt and decrypt"));
            }
        }
    }
    write_stdout(lines.as_bytes())
}

fn recipient_of(identity: &AnyIdentity) -> String {
    identity.recipient().to_string()
}

/// The file `-o` names, if not stdout.
fn file_output(output: Option<&Path>) -> Option<&Path> {
    output.filter(|path| *path != Path::new("-"))
}

/// Secret text to stdout, with a note when a terminal shows it.
fn write_secret_to_stdout(bytes: &[u8], what: &str) -> Result<(), CliError> {
    if io::stdout().is_terminal() {
        eprintln!(
            "coffer: note: the {what} is shown on this terminal; `-o FILE` keeps it off screen"
        );
    }
    write_stdout(bytes)
}

fn write_stdout(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| CliError::io_while("writing standard output", &e))
}

/// Creates `path` with mode 0600, refusing to replace anything, and syncs it.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let context = || path.display().to_string();
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => CliError::io("already exists").context(context()).hint(
                "keygen never overwrites a key or identity: choose another name or remove the file",
            ),
            _ => CliError::io_while(format_args!("creating {}", context()), &e),
        })?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| CliError::io_while(format_args!("writing {}", context()), &e))
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_786), (2026, 11, 29));
    }
}
