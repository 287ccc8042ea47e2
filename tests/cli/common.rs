//! Shared helpers for the end-to-end tests of the `coffer` binary (tests/cli/).
//!
//! Every test owns one `Fx` (one temporary directory); the binary runs with that
//! directory as its working directory, a timeout, and no passphrase variables inherited.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::Value;

/// Small Argon2id parameters (the floor) so that tests stay fast.
pub const SMALL_KDF: [&str; 6] = [
    "--kdf-memory",
    "19",
    "--kdf-passes",
    "2",
    "--kdf-lanes",
    "1",
];
/// The passphrase every test uses unless it says otherwise.
pub const PASS: &str = "correct horse battery staple";
/// Plaintext bytes per chunk.
pub const CHUNK: usize = 16384;
/// Ciphertext bytes per full chunk (plaintext + tag).
pub const ENC_CHUNK: usize = 16400;
/// AES-GCM tag length.
pub const TAG: usize = 16;
/// Payload prefix: salt (24) + commitment (32).
pub const PREFIX: usize = 56;
/// Fixed header fields before the first slot.
pub const FIXED: usize = 48;

/// Timeout for any single run of the binary: a hang is a failure, not a stuck CI.
pub const TIMEOUT: Duration = Duration::from_secs(180);

/// Path of the binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_coffer"))
}

/// The outcome of one run.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// The exit code (-1 if killed by a signal or timed out).
    pub fn code(&self) -> i32 {
        self.code.unwrap_or(-1)
    }

    /// Asserts the exit code, that stderr carries no panic, and that a failure says
    /// "error" on stderr. Returns self for chaining.
    #[track_caller]
    pub fn expect(&self, want: i32) -> &Self {
        assert_eq!(
            self.code(),
            want,
            "exit code: want {want}, got {:?}\n--- stderr ---\n{}\n--- stdout ({} bytes) ---\n{}",
            self.code,
            self.stderr,
            self.stdout.len(),
            String::from_utf8_lossy(&self.stdout[..self.stdout.len().min(2000)])
        );
        assert_no_panic(&self.stderr);
        if want != 0 {
            assert!(
                self.stderr.to_lowercase().contains("error"),
                "a failure must say `error` on stderr, got:\n{}",
                self.stderr
            );
        }
        self
    }

    /// Stdout as text.
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Every non-empty line of stdout, each asserted to be one JSON object.
    #[track_caller]
    pub fn json_stdout(&self) -> Vec<Value> {
        json_lines(&self.out())
    }
}

/// Asserts that `stderr` has no panic or backtrace text.
#[track_caller]
pub fn assert_no_panic(stderr: &str) {
    for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(
            !stderr.contains(bad),
            "panic text `{bad}` in stderr:\n{stderr}"
        );
    }
}

/// Parses every non-empty line as a JSON object.
#[track_caller]
pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("line is not JSON ({e}): {l:?}\nall:\n{text}"));
            assert!(v.is_object(), "JSON line is not an object: {l}");
            v
        })
        .collect()
}

/// The lines of `text` that parse as JSON objects (for stderr mixed with notes).
pub fn json_objects_in(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .filter(Value::is_object)
        .collect()
}

/// The summary line among JSON lines, asserted to be the last one.
#[track_caller]
pub fn summary(lines: &[Value]) -> &Value {
    let last = lines.last().expect("no JSON lines at all");
    assert_eq!(
        last["summary"],
        Value::Bool(true),
        "last JSON line is not the summary: {last}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.get("summary").is_some()).count(),
        1,
        "exactly one summary line expected: {lines:?}"
    );
    last
}

/// Per-file JSON lines (everything but the summary).
pub fn file_lines(lines: &[Value]) -> Vec<&Value> {
    lines
        .iter()
        .filter(|l| l.get("summary").is_none())
        .collect()
}

/// Runs a prepared command and captures everything.
pub fn run(cmd: &mut assert_cmd::Command) -> Run {
    let start = std::time::Instant::now();
    let out = cmd
        .timeout(TIMEOUT)
        .output()
        .expect("failed to start the coffer binary");
    Run {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: start.elapsed(),
    }
}

/// Deterministic pseudo-random bytes (splitmix64), so that tests do not depend on
/// hard-coded data and distinct seeds give distinct files.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// One test's temporary directory and the operations on it.
pub struct Fx {
    pub tmp: tempfile::TempDir,
}

impl Default for Fx {
    fn default() -> Self {
        Self::new()
    }
}

impl Fx {
    /// A fresh directory holding the passphrase file `pw` (written first, so that
    /// snapshots taken later never see it appear).
    pub fn new() -> Self {
        let fx = Fx {
            tmp: tempfile::Builder::new()
                .prefix("coffer-cli-test")
                .tempdir()
                .unwrap(),
        };
        fx.passfile();
        fx
    }

    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// A path inside the test directory.
    pub fn p(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.dir().join(rel)
    }

    /// Writes a file (creating parent directories) and returns its path.
    pub fn write(&self, rel: impl AsRef<Path>, bytes: &[u8]) -> PathBuf {
        let path = self.p(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&path, bytes).unwrap();
        path
    }

    pub fn read(&self, rel: impl AsRef<Path>) -> Vec<u8> {
        let path = self.p(rel);
        fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    /// A root-only passphrase file `pw` holding `PASS` and a newline.
    /// Written once: later calls return the same file untouched (snapshots stay equal).
    pub fn passfile(&self) -> PathBuf {
        let path = self.p("pw");
        if path.exists() {
            return path;
        }
        self.passfile_with("pw", &format!("{PASS}\n"))
    }

    /// A passphrase file with exact contents, mode 0600.
    pub fn passfile_with(&self, rel: &str, contents: &str) -> PathBuf {
        let path = self.write(rel, contents.as_bytes());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    /// The binary, run in the test directory, with a clean environment for passphrases.
    pub fn cmd(&self) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::new(bin());
        cmd.current_dir(self.dir())
            .env_remove("COFFER_PASSPHRASE")
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE")
            .env("NO_COLOR", "1")
            .env("LC_ALL", "C");
        cmd
    }

    /// Runs `coffer ARGS...` in the test directory with empty stdin.
    pub fn run<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.cmd();
        cmd.args(args).write_stdin(Vec::new());
        run(&mut cmd)
    }

    /// Runs `coffer ARGS...` with `stdin` as standard input.
    pub fn run_stdin<I, S>(&self, args: I, stdin: &[u8]) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.cmd();
        cmd.args(args).write_stdin(stdin.to_vec());
        run(&mut cmd)
    }

    /// Runs a bash script (`$COFFER` is the binary) in the test directory: for
    /// `--passphrase-fd` and redirections.
    pub fn bash(&self, script: &str) -> Run {
        let mut cmd = assert_cmd::Command::new("bash");
        cmd.current_dir(self.dir())
            .env("COFFER", bin())
            .env_remove("RUST_BACKTRACE")
            .arg("-c")
            .arg(script)
            .write_stdin(Vec::new());
        run(&mut cmd)
    }

    /// Encrypts `rel` (beside it, `rel.coffer`) with the small KDF and `pw`; asserts
    /// success and returns the ciphertext path.
    #[track_caller]
    pub fn encrypt(&self, rel: impl AsRef<Path>) -> PathBuf {
        let pw = self.passfile();
        let input = self.p(rel.as_ref());
        let mut args: Vec<&OsStr> = vec![OsStr::new("encrypt"), OsStr::new("-q")];
        args.extend(SMALL_KDF.iter().map(OsStr::new));
        args.extend([
            OsStr::new("--passphrase-file"),
            pw.as_os_str(),
            input.as_os_str(),
        ]);
        self.run(&args).expect(0);
        let mut out = input.into_os_string();
        out.push(".coffer");
        let out = PathBuf::from(out);
        assert!(out.is_file(), "encrypt did not write {}", out.display());
        out
    }

    /// Writes `bytes` to `rel`, encrypts it and returns (plaintext path, ciphertext path).
    #[track_caller]
    pub fn make_encrypted(&self, rel: &str, bytes: &[u8]) -> (PathBuf, PathBuf) {
        let plain = self.write(rel, bytes);
        let ct = self.encrypt(rel);
        (plain, ct)
    }

    /// `coffer decrypt --passphrase-file pw ARGS...`.
    pub fn decrypt<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let pw = self.passfile();
        let mut all: Vec<std::ffi::OsString> = vec![
            "decrypt".into(),
            "--passphrase-file".into(),
            pw.into_os_string(),
        ];
        all.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self.run(all)
    }

    /// `coffer verify --passphrase-file pw ARGS...`.
    pub fn verify<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let pw = self.passfile();
        let mut all: Vec<std::ffi::OsString> = vec![
            "verify".into(),
            "--passphrase-file".into(),
            pw.into_os_string(),
        ];
        all.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self.run(all)
    }

    /// `coffer encrypt --small-kdf --passphrase-file pw ARGS...`.
    pub fn encrypt_args<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let pw = self.passfile();
        let mut all: Vec<std::ffi::OsString> = vec!["encrypt".into()];
        all.extend(SMALL_KDF.iter().map(Into::into));
        all.extend(["--passphrase-file".into(), pw.into_os_string()]);
        all.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self.run(all)
    }

    /// Snapshot of the whole test directory.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, Entry> {
        snapshot(self.dir())
    }
}

/// What a directory entry is, with enough detail to notice any change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    File {
        sha256: String,
        len: u64,
        mode: u32,
        mtime: (i64, i64),
    },
    Dir,
    Symlink(PathBuf),
    Other,
}

/// Recursive listing of `root` (relative paths, hidden files included, symlinks not
/// followed), with each file's hash, length, mode and mtime.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
    use sha2::{Digest, Sha256};
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let ft = meta.file_type();
            let value = if ft.is_symlink() {
                Entry::Symlink(fs::read_link(&path).unwrap())
            } else if ft.is_dir() {
                stack.push(path.clone());
                Entry::Dir
            } else if ft.is_file() {
                let bytes = fs::read(&path).unwrap();
                Entry::File {
                    sha256: hex::encode(Sha256::digest(&bytes)),
                    len: meta.len(),
                    mode: meta.mode() & 0o7777,
                    mtime: (meta.mtime(), meta.mtime_nsec()),
                }
            } else {
                Entry::Other
            };
            out.insert(rel, value);
        }
    }
    out
}

/// Relative paths of regular files below `root`.
pub fn files_below(root: &Path) -> Vec<PathBuf> {
    snapshot(root)
        .into_iter()
        .filter(|(_, e)| matches!(e, Entry::File { .. }))
        .map(|(p, _)| p)
        .collect()
}

/// Asserts that no `.coffer-tmp*` file is left anywhere below `root`.
#[track_caller]
pub fn assert_no_temp_files(root: &Path) {
    for path in snapshot(root).keys() {
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(
            !name.starts_with(".coffer-tmp"),
            "temporary file left behind: {}",
            path.display()
        );
    }
}

/// The temporary output that process `pid` is writing in `dir`, if any: a `.coffer-tmp*`
/// file, or (with `O_TMPFILE`) the `/proc/PID/fd/N` link of a nameless file in `dir`.
pub fn output_in_progress(pid: u32, dir: &Path) -> Option<PathBuf> {
    let named = fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with(".coffer-tmp"))
        .map(|e| e.path());
    if named.is_some() {
        return named;
    }
    let dir = dir.to_string_lossy().into_owned();
    fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|fd| {
            fs::read_link(fd).is_ok_and(|t| {
                let t = t.to_string_lossy();
                t.starts_with(&dir) && t.ends_with("(deleted)")
            })
        })
}

/// Flips bit `bit` (0..8) of the byte at `offset` of the file.
pub fn flip_bit(path: &Path, offset: usize, bit: u8) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset] ^= 1 << bit;
    fs::write(path, bytes).unwrap();
}

/// Header length of a coffer file (u16 BE at offset 10), MAC included.
pub fn header_len(ct: &[u8]) -> usize {
    usize::from(u16::from_be_bytes([ct[10], ct[11]]))
}

/// Offset of chunk `i` in a coffer file.
pub fn chunk_offset(ct: &[u8], i: usize) -> usize {
    header_len(ct) + PREFIX + i * ENC_CHUNK
}

/// Expected ciphertext length for a plaintext length and header length.
pub fn ciphertext_len(plain: usize, header: usize) -> usize {
    header + PREFIX + (plain / CHUNK) * ENC_CHUNK + plain % CHUNK + TAG
}

pub fn mtime(path: &Path) -> SystemTime {
    fs::metadata(path).unwrap().modified().unwrap()
}

pub fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// `path` with `.coffer` appended.
pub fn with_coffer(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".coffer");
    PathBuf::from(s)
}

/// Whether an external program is on PATH.
pub fn have(program: &str) -> bool {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program} >/dev/null 2>&1"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}
