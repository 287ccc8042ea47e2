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

/// Longest first line accepted from a file or descriptor.
const MAX_LINE: usize = 64 * 1024;

/// What the passphrase is for: encryption asks twice and refuses an empty one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Encrypt,
    Decrypt,
}

/// Reads the passphrase from the chosen source, or prompts on the terminal.
///
/// # Errors
/// Usage errors (no source, empty passphrase on encrypt, mismatched confirmation, unset
/// variable) and I/O errors reading the source.
pub fn obtain(args: &PassphraseArgs, purpose: Purpose) -> Result<Passphrase, CliError> {
    let passphrase = if let Some(path) = &args.passphrase_file {
        let file = File::open(path).map_err(|e| {
            CliError::io_while(
                format_args!("reading passphrase file {}", path.display()),
                &e,
            )
        })?;
        first_line(file, false).map_err(|e| {
            CliError::io_while(
                format_args!("reading passphrase file {}", path.display()),
                &e,
            )
        })?
    } else if let Some(fd) = args.passphrase_fd {
        // Reopening through /dev/fd keeps the binary free of unsafe code.
        let file = File::open(format!("/dev/fd/{fd}"))
            .map_err(|e| CliError::io_while(format_args!("opening passphrase fd {fd}"), &e))?;
        first_line(file, true)
            .map_err(|e| CliError::io_while(format_args!("reading passphrase fd {fd}"), &e))?
    } else if let Some(var) = &args.passphrase_env {
        let value = std::env::var_os(var).ok_or_else(|| {
            CliError::usage(format!(
                "environment variable {} is not set",
                var.to_string_lossy()
            ))
        })?;
        let mut bytes = Zeroizing::new(value.into_vec());
        let len = line_len(&bytes);
        bytes.truncate(len);
        Passphrase::new(bytes.to_vec())
    } else {
        prompt(purpose)?
    };
    if purpose == Purpose::Encrypt && passphrase.is_empty() {
        return Err(CliError::usage(
            "refusing to encrypt with an empty passphrase",
        ));
    }
    Ok(passphrase)
}

/// Length of the first line of `bytes` without its "\n" or "\r\n".
fn line_len(bytes: &[u8]) -> usize {
    let mut end = bytes
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(bytes.len());
    if end > 0 && bytes[end - 1] == b'\r' && end < bytes.len() {
        end -= 1;
    }
    end
}

/// The first line of `reader`. With `to_eof`, the rest is read (and wiped) too, so a
/// writer on the other end of a pipe never sees a broken pipe.
fn first_line<R: Read>(mut reader: R, to_eof: bool) -> io::Result<Passphrase> {
    let mut buf = Zeroizing::new(vec![0u8; MAX_LINE + 1]);
    let mut filled = 0;
    let mut newline = None;
    while newline.is_none() && filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => {
                newline = buf[filled..filled + n].iter().position(|&b| b == b'\n');
                newline = newline.map(|p| p + filled);
                filled += n;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let end = match newline {
        Some(p) => p,
        None if filled > MAX_LINE => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the first line is longer than {MAX_LINE} bytes"),
            ))
        }
        None => filled,
    };
    if to_eof {
        let mut scratch = Zeroizing::new([0u8; 4096]);
        loop {
            match reader.read(&mut scratch[..]) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    let len = line_len(&buf[..filled.min(end + 1)]);
    Ok(Passphrase::new(buf[..len].to_vec()))
}

fn prompt(purpose: Purpose) -> Result<Passphrase, CliError> {
    if OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_err()
    {
        return Err(CliError::usage("no passphrase source").hint(
            "use --passphrase-file PATH, --passphrase-fd N or --passphrase-env VAR, \
             or run coffer on a terminal",
        ));
    }
    let read = |text: &str| {
        rpassword::prompt_password(text)
            .map(|s| Passphrase::new(s.into_bytes()))
            .map_err(|e| CliError::io_while("reading the passphrase from the terminal", &e))
    };
    match purpose {
        Purpose::Decrypt => read("Passphrase: "),
        Purpose::Encrypt => {
            let first = read("Enter passphrase: ")?;
            if first.is_empty() {
                return Err(CliError::usage(
                    "refusing to encrypt with an empty passphrase",
                ));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line(input: &[u8], to_eof: bool) -> Vec<u8> {
        first_line(input, to_eof).unwrap().expose().to_vec()
    }

    #[test]
    fn first_line_strips_one_line_ending() {
        assert_eq!(line(b"pw\n", false), b"pw");
        assert_eq!(line(b"pw\r\n", false), b"pw");
        assert_eq!(line(b"pw", false), b"pw");
        assert_eq!(line(b"pw\r", false), b"pw\r");
        assert_eq!(line(b"pw\nsecond\n", true), b"pw");
        assert_eq!(line(b"\n", false), b"");
        assert_eq!(line(b"", false), b"");
        assert_eq!(line(b"  spaced pw  \n", false), b"  spaced pw  ");
    }

    #[test]
    fn overlong_line_is_refused() {
        let long = vec![b'a'; MAX_LINE + 10];
        assert!(first_line(&long[..], false).is_err());
        let mut ok = vec![b'a'; MAX_LINE];
        ok.push(b'\n');
        assert_eq!(line(&ok, false).len(), MAX_LINE);
    }
}
