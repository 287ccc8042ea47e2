//! Passphrase sources: a file, a file descriptor, an environment variable, or the
//! terminal. The passphrase lives in `coffer::Passphrase` (zeroized on drop) as soon as
//! it is read; intermediate buffers are zeroized too. It never appears in argv, in an
//! error message or in `Debug` output.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStringExt;

use coffer::Passphrase;
use zeroize::Zeroizing;

use super::args::PassphraseArgs;
use super::error::CliError;
use super::interrupt::{on_interrupt, HookGuard};

/// Longest passphrase accepted from a file, a descriptor or a variable.
const MAX_LEN: usize = 64 * 1024;

/// How long a prompt interrupted by a signal waits for the signal handler to end the
/// process (it normally takes milliseconds).
const HANDLER_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// What the passphrase is for: encryption asks twice and refuses an empty one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Encrypt,
    Decrypt,
    /// The new passphrase of `rekey --add-passphrase`/`--change-passphrase`.
    Rekey,
}

/// Reads the passphrase from the chosen source, or prompts on the terminal.
///
/// # Errors
/// Usage errors (no source, an empty passphrase, a source with more than one line,
/// mismatched confirmation, unset variable) and I/O errors reading the source.
pub fn obtain(args: &PassphraseArgs, purpose: Purpose) -> Result<Passphrase, CliError> {
    let (passphrase, source) = if let Some(path) = &args.passphrase_file {
        let source = format!("file {}", path.display());
        let file = File::open(path).map_err(|e| {
            CliError::io_while(format_args!("reading the passphrase from {source}"), &e)
        })?;
        (only_line(file, false, &source)?, source)
    } else if let Some(fd) = args.passphrase_fd {
        let source = format!("fd {fd}");
        // Reopening through /dev/fd keeps the binary free of unsafe code.
        let file = File::open(format!("/dev/fd/{fd}"))
            .map_err(|e| CliError::io_while(format_args!("opening the passphrase {source}"), &e))?;
        (only_line(file, true, &source)?, source)
    } else if let Some(var) = &args.passphrase_env {
        let source = format!("environment variable {}", var.to_string_lossy());
        let value = std::env::var_os(var)
            .ok_or_else(|| CliError::usage(format!("the {source} is not set")))?;
        let bytes = Zeroizing::new(value.into_vec());
        (only_line(&bytes[..], false, &source)?, source)
    } else {
        (prompt(purpose)?, "the terminal".to_string())
    };
    if passphrase.is_empty() {
        // Refused before any derivation: an empty secret is a failed `$(secret-tool ...)`
        // far more often than a real passphrase, and encrypt never writes one.
        let err = CliError::usage(format!("the passphrase from {source} is empty"));
        return Err(match purpose {
            Purpose::Encrypt | Purpose::Rekey => {
                err.hint("refusing to encrypt with an empty passphrase")
            }
            Purpose::Decrypt => err.hint(
                "did the command that produced it fail? \
                 coffer never encrypts with an empty passphrase",
            ),
        });
    }
    Ok(passphrase)
}

/// The passphrase in `reader`: everything up to one optional trailing "\n" or "\r\n".
/// Content after the first line is refused (a PEM file, a multi-line secret), never
/// silently cut. With `to_eof`, the rest is read (and wiped) even then, so a writer on
/// the other end of a pipe never sees a broken pipe.
///
/// # Errors
/// A usage error for a second line or an overlong passphrase, an I/O error otherwise.
fn only_line<R: Read>(mut reader: R, to_eof: bool, source: &str) -> Result<Passphrase, CliError> {
    let reading =
        |e: io::Error| CliError::io_while(format_args!("reading the passphrase from {source}"), &e);
    // Room for the longest passphrase, "\r\n" and one byte that proves there is more.
    let mut buf = Zeroizing::new(vec![0u8; MAX_LEN + 3]);
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(reading(e)),
        }
    }
    let overflow = filled == buf.len();
    if to_eof && overflow {
        let mut scratch = Zeroizing::new([0u8; 4096]);
        loop {
            match reader.read(&mut scratch[..]) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(reading(e)),
            }
        }
    }
    let content = &buf[..filled];
    let line = content
        .strip_suffix(b"\n")
        .map_or(content, |line| line.strip_suffix(b"\r").unwrap_or(line));
    if line.contains(&b'\n') {
        return Err(CliError::usage(format!(
            "the passphrase from {source} has more than one line"
        ))
        .hint(
            "the passphrase is the whole content, alone on one line (one trailing newline \
             is allowed); a key or PEM file is not a passphrase",
        ));
    }
    if overflow || line.len() > MAX_LEN {
        return Err(CliError::usage(format!(
            "the passphrase from {source} is longer than {MAX_LEN} bytes"
        )));
    }
    Ok(Passphrase::new(line.to_vec()))
}

fn prompt(purpose: Purpose) -> Result<Passphrase, CliError> {
    let Ok(tty) = OpenOptions::new().read(true).write(true).open("/dev/tty") else {
        // No credential at all was given: name the ones that need no secret here too
        // (a backup host has only a recipient; a restore host has an identity file).
        let hint = match purpose {
            Purpose::Encrypt => {
                "give --recipient R, -R FILE or --key-file FILE, or a \
                                 passphrase with --passphrase-file PATH, --passphrase-fd N \
                                 or --passphrase-env VAR, or run coffer on a terminal"
            }
            Purpose::Decrypt => {
                "give -i FILE or --key-file FILE, or a passphrase with \
                                 --passphrase-file PATH, --passphrase-fd N or \
                                 --passphrase-env VAR, or run coffer on a terminal"
            }
            Purpose::Rekey => {
                "use --new-passphrase-file PATH, --new-passphrase-fd N or \
                               --new-passphrase-env VAR, or run coffer on a terminal"
            }
        };
        return Err(CliError::usage("no passphrase source").hint(hint));
    };
    let _echo = restore_echo_on_interrupt(tty);
    let read = |text: &str| {
        rpassword::prompt_password(text)
            .map(|s| Passphrase::new(s.into_bytes()))
            .map_err(|e| {
                if e.kind() == io::ErrorKind::Interrupted {
                    // Ctrl-C at the prompt: the signal handler is running on its own
                    // thread and exits with 130; it must win over an exit 1 from here.
                    std::thread::sleep(HANDLER_GRACE);
                    return CliError::lib(coffer::Error::Interrupted);
                }
                CliError::io_while("reading the passphrase from the terminal", &e)
            })
    };
    match purpose {
        Purpose::Decrypt => read("Passphrase: "),
        Purpose::Encrypt | Purpose::Rekey => {
            let first = read("Enter passphrase: ")?;
            if first.is_empty() {
                // `obtain` refuses it, naming the terminal.
                return Ok(first);
            }
            let second = read("Confirm passphrase: ")?;
            if first.ct_eq(&second) {
                Ok(first)
            } else {
                Err(CliError::usage("the passphrases do not match"))
            }
        }
    }
}

/// rpassword turns echo off while it reads and back on when done, but Ctrl-C at the
/// prompt ends the process from the signal handler, where that never happens: the
/// terminal state saved here is put back by an interrupt hook instead.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn restore_echo_on_interrupt(tty: File) -> Option<HookGuard> {
    use rustix::termios::{tcgetattr, tcsetattr, OptionalActions};
    use std::io::Write as _;
    let saved = tcgetattr(&tty).ok()?;
    Some(on_interrupt(move || {
        let _ = tcsetattr(&tty, OptionalActions::Now, &saved);
        // The prompt's line never got its newline.
        let _ = (&tty).write_all(b"\n");
    }))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn restore_echo_on_interrupt(_tty: File) -> Option<HookGuard> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passphrase(input: &[u8], to_eof: bool) -> Result<Vec<u8>, CliError> {
        only_line(input, to_eof, "test source").map(|p| p.expose().to_vec())
    }

    #[test]
    fn one_trailing_line_ending_is_stripped() {
        for to_eof in [false, true] {
            assert_eq!(passphrase(b"pw\n", to_eof).unwrap(), b"pw");
            assert_eq!(passphrase(b"pw\r\n", to_eof).unwrap(), b"pw");
            assert_eq!(passphrase(b"pw", to_eof).unwrap(), b"pw");
            assert_eq!(passphrase(b"pw\r", to_eof).unwrap(), b"pw\r");
            assert_eq!(passphrase(b"\n", to_eof).unwrap(), b"");
            assert_eq!(passphrase(b"", to_eof).unwrap(), b"");
            assert_eq!(
                passphrase(b"  spaced pw  \n", to_eof).unwrap(),
                b"  spaced pw  "
            );
        }
    }

    #[test]
    fn content_after_the_first_line_is_refused_not_cut() {
        let pem =
            b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----\n";
        for input in [&b"pw\nrest"[..], b"pw\n\n", b"pw\r\n\r\n", b"\nrest", pem] {
            let err = passphrase(input, true).unwrap_err();
            assert_eq!(err.kind.exit_code(), 2);
            assert!(err
                .message()
                .contains("passphrase from test source has more than one line"));
        }
    }

    #[test]
    fn overlong_passphrase_is_refused() {
        let long = vec![b'a'; MAX_LEN + 10];
        assert_eq!(passphrase(&long, true).unwrap_err().kind.exit_code(), 2);
        let mut ok = vec![b'a'; MAX_LEN];
        ok.extend_from_slice(b"\r\n");
        assert_eq!(passphrase(&ok, false).unwrap().len(), MAX_LEN);
        ok.push(b'a');
        assert!(passphrase(&ok, false).is_err());
    }
}
