//! `coffer keygen --symmetric`: a new key file. The key goes to a file created with mode
//! 0600 that never replaces an existing one, or to stdout.

use std::fs::OpenOptions;
use std::io::{self, IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use coffer::SymmetricKey;
use zeroize::Zeroizing;

use super::args::KeygenArgs;
use super::error::{CliError, SUCCESS};
use super::run::fail;

pub fn keygen(args: &KeygenArgs) -> i32 {
    if !args.symmetric {
        return fail(
            &CliError::usage("say which kind of key to make")
                .hint("`coffer keygen --symmetric -o FILE` makes a key file for --key-file"),
        );
    }
    let key = SymmetricKey::generate();
    let text = Zeroizing::new(format!(
        "# created: {}\n# coffer key file: whoever holds this line can decrypt every file made with it\n{}\n",
        utc_now(),
        *key.to_line()
    ));
    let result = match args.output.as_deref() {
        Some(path) if path != Path::new("-") => write_new(path, text.as_bytes()),
        _ => {
            if io::stdout().is_terminal() {
                eprintln!("coffer: note: the key is shown on this terminal; `-o FILE` keeps it off screen");
            }
            io::stdout()
                .lock()
                .write_all(text.as_bytes())
                .map_err(|e| CliError::io_while("writing standard output", &e))
        }
    };
    match result {
        Ok(()) => SUCCESS,
        Err(err) => fail(&err),
    }
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
            io::ErrorKind::AlreadyExists => CliError::io("already exists")
                .context(context())
                .hint("keygen never overwrites a key: choose another name or remove the file"),
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
