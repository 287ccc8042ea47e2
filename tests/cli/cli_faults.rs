//! Fault injection, end to end: the real binary against a full disk, an input that fails
//! to read halfway, signals at several points, a destination directory removed mid-run,
//! and an input that changes size while it is encrypted.
//!
//! Each checks the documented exit code, that no partial output and no temporary file is
//! left, that the input is untouched, and that the error names the right file. Tests that
//! need root (mounts, loop devices) print why and pass when they cannot run.

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

// ---------------------------------------------------------------------------------------
// Helpers

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}

/// Prints why a test does not run here; the test then passes without checking anything.
fn skip(test: &str, why: &str) {
    eprintln!("SKIPPED {test}: {why}");
}

fn sh(script: &str) -> Result<String, String> {
    let out = Command::new("sh").arg("-c").arg(script).output().unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "`{script}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A mount that is undone (and its loop device detached) when dropped.
struct Mount {
    point: PathBuf,
    loop_device: Option<String>,
}

impl Mount {
    /// A tmpfs of `size` (as `mount -o size=` takes it) at `point`.
    fn tmpfs(point: &Path, size: &str) -> Result<Mount, String> {
        fs::create_dir_all(point).unwrap();
        sh(&format!(
            "mount -t tmpfs -o size={size},mode=0755 coffer-test {}",
            point.display()
        ))?;
        Ok(Mount {
            point: point.to_owned(),
            loop_device: None,
        })
    }

    /// A fresh ext4 image of `size_mib` MiB at `image`, on a loop device, at `point`.
    fn ext4_on_loop(image: &Path, point: &Path, size_mib: u32) -> Result<Mount, String> {
        fs::create_dir_all(point).unwrap();
        sh(&format!(
            "truncate -s {size_mib}M {img} && mkfs.ext4 -q -F -b 1024 {img}",
            img = image.display()
        ))?;
        let device = sh(&format!("losetup -f --show {}", image.display()))?;
        let mount = Mount {
            point: point.to_owned(),
            loop_device: Some(device.clone()),
        };
        sh(&format!("mount {device} {}", point.display()))?;
        Ok(mount)
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = sh(&format!("umount -l {}", self.point.display()));
        if let Some(device) = &self.loop_device {
            let _ = sh(&format!("losetup -d {device}"));
        }
    }
}

/// Polls `ready` every 10 ms for up to 30 s.
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The temporary outputs being written in `dir`: named `.coffer-tmp*` files, and
/// unnamed `O_TMPFILE` ones, found through the open descriptors of every process
/// (their link reads `DIR/#INODE (deleted)`).
fn temp_files_in(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".coffer-tmp"))
        .map(|e| e.path())
        .collect();
    let prefix = format!("{}/#", dir.display());
    for process in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let fds = fs::read_dir(process.path().join("fd"));
        for fd in fds.into_iter().flatten().flatten() {
            let unnamed = fs::read_link(fd.path()).is_ok_and(|target| {
                let target = target.to_string_lossy();
                target.starts_with(&prefix) && target.ends_with("(deleted)")
            });
            if unnamed {
                found.push(fd.path());
            }
        }
    }
    found
}

fn temp_file_in(dir: &Path) -> bool {
    !temp_files_in(dir).is_empty()
}

/// Length of the (first) temporary output in `dir`, 0 if there is none.
fn temp_file_len(dir: &Path) -> u64 {
    temp_files_in(dir)
        .iter()
        .find_map(|p| fs::metadata(p).ok().map(|m| m.len()))
        .unwrap_or(0)
}

/// Resident memory of a process in KiB (0 once it is gone).
fn rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Waits up to 15 s for `child` to exit; kills it and fails otherwise.
fn wait_exit(child: &mut Child, after: &str) -> (ExitStatus, String) {
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("coffer did not exit within 15 s of {after}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stderr).unwrap();
    }
    (status, stderr)
}

fn send(signal: &str, child: &Child) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} failed");
}

/// `coffer ARGS...` in `fx`'s directory, stdin piped, stderr captured.
fn spawn(fx: &Fx, args: &[&str]) -> Child {
    Command::new(bin())
        .current_dir(fx.dir())
        .args(args)
        .env_remove("COFFER_PASSPHRASE")
        .env("LC_ALL", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[track_caller]
fn assert_interrupted(status: ExitStatus, stderr: &str, signal: &str) {
    assert_eq!(
        status.code(),
        Some(130),
        "exit status after {signal}: {status:?}\n{stderr}"
    );
    assert_no_panic(stderr);
    assert!(stderr.contains("interrupted"), "{stderr}");
}

// ---------------------------------------------------------------------------------------
// A full disk

/// Encrypts (or decrypts) `input.bin(.coffer)` onto a 1 MiB tmpfs; `None` when the test
/// cannot run here.
fn run_onto_full_disk(decrypt: bool) -> Option<(Fx, Run)> {
    if !is_root() {
        skip("full disk", "mounting a small tmpfs needs root");
        return None;
    }
    let fx = Fx::new();
    fx.make_encrypted("input.bin", &data(3 * 1024 * 1024, 1));
    let mount = match Mount::tmpfs(&fx.p("small"), "1m") {
        Ok(mount) => mount,
        Err(why) => {
            skip("full disk", &why);
            return None;
        }
    };
    let input = if decrypt {
        "input.bin.coffer"
    } else {
        "input.bin"
    };
    let before = (fx.read(input), mtime(&fx.p(input)));
    let r = if decrypt {
        fx.decrypt(["-q", "input.bin.coffer", "-o", "small/output"])
    } else {
        fx.encrypt_args(["-q", "input.bin", "-o", "small/output"])
    };
    r.expect(1);
    assert!(r.stderr.contains("No space left"), "{}", r.stderr);
    assert_eq!(
        files_below(&fx.p("small")),
        Vec::<PathBuf>::new(),
        "output left"
    );
    let after = (fx.read(input), mtime(&fx.p(input)));
    assert!(after == before, "the input changed");
    drop(mount);
    Some((fx, r))
}

#[test]
fn full_disk_on_encrypt_exits_1_and_leaves_nothing() {
    run_onto_full_disk(false);
}

#[test]
fn full_disk_on_decrypt_exits_1_and_leaves_no_partial_plaintext() {
    run_onto_full_disk(true);
}

#[test]
fn full_disk_error_names_the_destination_not_the_input() {
    for decrypt in [false, true] {
        let Some((_fx, r)) = run_onto_full_disk(decrypt) else {
            return;
        };
        assert!(
            r.stderr.contains("small/output"),
            "the error must name the destination: {}",
            r.stderr
        );
    }
}

// ---------------------------------------------------------------------------------------
// A read error in the middle of the input

/// An ext4 file whose second half lies past the end of its (shrunk) loop device: reading
/// it gives 2 MiB of data, then EIO. Returns the mount and the file's path.
fn file_failing_halfway(fx: &Fx, len: usize) -> Result<(Mount, PathBuf), String> {
    for tool in ["losetup", "mkfs.ext4", "filefrag", "truncate", "dd"] {
        if !have(tool) {
            return Err(format!("{tool} is not installed"));
        }
    }
    let image = fx.p("disk.img");
    let mount = Mount::ext4_on_loop(&image, &fx.p("disk"), 16)?;
    let path = mount.point.join("input.bin");
    fs::write(&path, data(len, 3)).unwrap();
    sh("sync")?;
    // `filefrag -e` lists extents in 1 KiB blocks: "0: 0.. 4095: 10241.. 14336: ...".
    let extents = sh(&format!("filefrag -e {}", path.display()))?;
    let first = extents
        .lines()
        .find(|l| l.trim_start().starts_with("0:"))
        .ok_or("no extent list")?;
    let fields: Vec<&str> = first.split_whitespace().collect();
    let physical: u64 = fields[3]
        .trim_end_matches("..")
        .parse()
        .map_err(|_| format!("unexpected filefrag output: {first}"))?;
    if !extents.contains("1 extent found") {
        return Err(format!("the file is fragmented: {extents}"));
    }
    let cut = (physical + (len as u64 / 2) / 1024) * 1024;
    let device = mount.loop_device.clone().unwrap();
    sh(&format!(
        "truncate -s {cut} {img} && losetup -c {device} && dd if={file} iflag=nocache count=0 status=none",
        img = image.display(),
        file = path.display()
    ))?;
    Ok((mount, path))
}

#[test]
fn read_error_halfway_through_the_input_exits_1_naming_the_input_and_leaves_nothing() {
    if !is_root() {
        return skip("read error", "a loop device needs root");
    }
    let fx = Fx::new();
    let (_mount, input) = match file_failing_halfway(&fx, 4 * 1024 * 1024) {
        Ok(found) => found,
        Err(why) => return skip("read error", &why),
    };
    // The failure is real: reading the file fails past its first half.
    assert!(fs::read(&input).is_err(), "the input should fail to read");
    let size_before = fs::metadata(&input).unwrap().len();
    let r = fx.encrypt_args(["-q", "disk/input.bin", "-o", "input.bin.coffer"]);
    r.expect(1);
    assert!(
        r.stderr.contains("disk/input.bin") && r.stderr.contains("Input/output error"),
        "the error must name the input and say what failed: {}",
        r.stderr
    );
    assert!(!fx.p("input.bin.coffer").exists(), "no partial output");
    // (assert_no_temp_files would read the failing input.)
    assert!(!temp_file_in(fx.dir()), "temporary file left behind");
    assert_eq!(fs::metadata(&input).unwrap().len(), size_before);
}

// ---------------------------------------------------------------------------------------
// Signals

/// Encrypts a file with a heavy Argon2id so that the derivation takes a while, signals
/// once the derivation's memory is in use, and checks that nothing is left.
fn signal_during_kdf_on_encrypt(signal: &str) {
    let fx = Fx::new();
    fx.write("input.bin", &data(1024 * 1024, 4));
    let before = fx.snapshot();
    let pw = fx.passfile();
    let mut child = spawn(
        &fx,
        &[
            "encrypt",
            "-q",
            "--kdf-memory",
            "1024",
            "--kdf-passes",
            "8",
            "--kdf-lanes",
            "1",
            "--passphrase-file",
            pw.to_str().unwrap(),
            "input.bin",
        ],
    );
    let pid = child.id();
    // Argon2id's work area (1 GiB) is filled as it runs: 64 MiB resident means it started.
    wait_until("Argon2id is running", || {
        rss_kib(pid) > 64 * 1024 || child.try_wait().unwrap().is_some()
    });
    assert!(
        child.try_wait().unwrap().is_none(),
        "coffer finished before the signal"
    );
    send(signal, &child);
    let (status, stderr) = wait_exit(&mut child, signal);
    assert_interrupted(status, &stderr, signal);
    assert_eq!(
        fx.snapshot(),
        before,
        "the directory changed after {signal}"
    );
}

#[test]
fn sigint_during_key_derivation_leaves_nothing_and_exits_130() {
    signal_during_kdf_on_encrypt("-INT");
}

#[test]
fn sigterm_during_key_derivation_leaves_nothing_and_exits_130() {
    signal_during_kdf_on_encrypt("-TERM");
}

#[test]
fn sighup_during_key_derivation_leaves_nothing_and_exits_130() {
    signal_during_kdf_on_encrypt("-HUP");
}

/// Encrypts from a pipe that stays open, signals once the temporary output exists.
fn signal_while_encrypting(signal: &str) {
    let fx = Fx::new();
    let before = fx.snapshot();
    let pw = fx.passfile();
    let mut args = vec!["encrypt", "-q", "-o", "out.coffer", "--passphrase-file"];
    args.push(pw.to_str().unwrap());
    args.extend(SMALL_KDF);
    let child = spawn(&fx, &args);
    feed_then_signal(&fx, child, &data(2 * 1024 * 1024, 5), signal, &before);
}

#[test]
fn sighup_while_encrypting_removes_the_temporary_file_and_exits_130() {
    signal_while_encrypting("-HUP");
}

/// Decrypts half a file from a pipe that stays open, signals once the temporary output
/// exists.
fn signal_while_decrypting(signal: &str) {
    let fx = Fx::new();
    let (_, ct) = fx.make_encrypted("input.bin", &data(4 * 1024 * 1024, 6));
    let ciphertext = fs::read(&ct).unwrap();
    fs::remove_file(fx.p("input.bin")).unwrap();
    let before = fx.snapshot();
    let pw = fx.passfile();
    let child = spawn(
        &fx,
        &[
            "decrypt",
            "-q",
            "-o",
            "plain.bin",
            "--passphrase-file",
            pw.to_str().unwrap(),
        ],
    );
    feed_then_signal(
        &fx,
        child,
        &ciphertext[..ciphertext.len() / 2],
        signal,
        &before,
    );
}

/// Writes `input` to the child's stdin and keeps the pipe open, signals once the
/// temporary output exists, and checks the interrupted exit and that the directory is
/// as it was (`before`).
fn feed_then_signal(
    fx: &Fx,
    mut child: Child,
    input: &[u8],
    signal: &str,
    before: &std::collections::BTreeMap<PathBuf, Entry>,
) {
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    stdin.flush().unwrap();
    wait_until("the temporary output exists", || temp_file_in(fx.dir()));
    send(signal, &child);
    let (status, stderr) = wait_exit(&mut child, signal);
    drop(stdin);
    assert_interrupted(status, &stderr, signal);
    assert_eq!(
        &fx.snapshot(),
        before,
        "the directory changed after {signal}"
    );
}

#[test]
fn sigterm_while_decrypting_removes_the_temporary_file_and_exits_130() {
    signal_while_decrypting("-TERM");
}

#[test]
fn sighup_while_decrypting_removes_the_temporary_file_and_exits_130() {
    signal_while_decrypting("-HUP");
}

/// A batch of files: the signal comes while the second is written. The first, already
/// complete, stays whole (each output is whole or absent); the second leaves nothing.
#[test]
fn sigterm_in_the_middle_of_a_batch_leaves_only_whole_outputs() {
    let fx = Fx::new();
    let first = data(64 * 1024, 7);
    fx.write("a.bin", &first);
    fx.write("b.bin", &data(128 * 1024 * 1024, 8));
    let pw = fx.passfile();
    let mut args = vec!["encrypt", "-q", "-T", "1", "--passphrase-file"];
    args.push(pw.to_str().unwrap());
    args.extend(SMALL_KDF);
    args.extend(["a.bin", "b.bin"]);
    let mut child = spawn(&fx, &args);
    wait_until("the second output is being written", || {
        fx.p("a.bin.coffer").exists() && temp_file_in(fx.dir())
            || child.try_wait().unwrap().is_some()
    });
    assert!(
        child.try_wait().unwrap().is_none(),
        "coffer finished before the signal"
    );
    send("-TERM", &child);
    let (status, stderr) = wait_exit(&mut child, "SIGTERM");
    assert_interrupted(status, &stderr, "SIGTERM");
    assert!(!fx.p("b.bin.coffer").exists(), "no partial output");
    assert_no_temp_files(fx.dir());
    let r = fx.decrypt(["-c", "a.bin.coffer"]);
    r.expect(0);
    assert!(r.stdout == first, "a.bin.coffer is not whole");
}

// ---------------------------------------------------------------------------------------
// The destination directory removed mid-run

#[test]
fn destination_directory_removed_mid_run_exits_1_naming_the_destination() {
    let fx = Fx::new();
    fs::create_dir(fx.p("dest")).unwrap();
    let pw = fx.passfile();
    let mut args = vec![
        "encrypt",
        "-q",
        "-o",
        "dest/out.coffer",
        "--passphrase-file",
    ];
    args.push(pw.to_str().unwrap());
    args.extend(SMALL_KDF);
    let mut child = spawn(&fx, &args);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&data(2 * 1024 * 1024, 9)).unwrap();
    stdin.flush().unwrap();
    wait_until("the temporary output exists", || {
        temp_file_in(&fx.p("dest"))
    });
    fs::remove_dir_all(fx.p("dest")).unwrap();
    stdin.write_all(&data(1024 * 1024, 10)).unwrap();
    drop(stdin);
    let (status, stderr) = wait_exit(&mut child, "closing stdin");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_no_panic(&stderr);
    assert!(
        stderr.contains("dest/out.coffer"),
        "the error must name the destination: {stderr}"
    );
    assert!(!fx.p("dest").exists(), "the removed directory came back");
    assert_no_temp_files(fx.dir());
}

// ---------------------------------------------------------------------------------------
// An input that changes size while it is encrypted

const RESIZED_LEN: usize = 128 * 1024 * 1024;

/// Encrypts a large file with `threads` workers while another thread changes its length
/// once the encryption has started: with one worker a reading thread reads it as a
/// stream, with more it is mapped (a cut makes reads of the lost pages fault).
/// Returns the run and the input's content before and after.
fn encrypt_while_resizing(
    threads: &str,
    resize: impl FnOnce(&Path) + Send + 'static,
) -> (Fx, Run, Vec<u8>, Vec<u8>) {
    let fx = Fx::new();
    let before = data(RESIZED_LEN, 11);
    let input = fx.write("input.bin", &before);
    let dir = fx.dir().to_owned();
    // Resize once 16 MiB of output are written: in the middle of reading the input.
    let watcher = std::thread::spawn(move || {
        wait_until("16 MiB are encrypted", || temp_file_len(&dir) >= 16 << 20);
        resize(&input);
    });
    let r = fx.encrypt_args(["-q", "-T", threads, "input.bin"]);
    watcher.join().unwrap();
    let after = fx.read("input.bin");
    (fx, r, before, after)
}

/// Whatever coffer does with a file that changes under it, the outcome must be one of:
/// a failure naming the input with nothing left, or an output that decrypts to the
/// file's content before or after the change. Never a silent mix of the two.
#[track_caller]
fn assert_whole_or_nothing(fx: &Fx, r: &Run, before: &[u8], after: &[u8]) {
    assert_no_panic(&r.stderr);
    assert_no_temp_files(fx.dir());
    if r.code() == 0 {
        let d = fx.decrypt(["-c", "input.bin.coffer"]);
        d.expect(0);
        eprintln!(
            "encrypt exited 0; output {} bytes, input {} bytes before, {} after",
            d.stdout.len(),
            before.len(),
            after.len()
        );
        assert!(
            d.stdout == before || d.stdout == after,
            "encrypt exited 0, but its output ({} bytes) is neither the input before the \
             change ({} bytes) nor after it ({} bytes)",
            d.stdout.len(),
            before.len(),
            after.len()
        );
    } else {
        assert_eq!(r.code(), 1, "{}", r.stderr);
        assert!(r.stderr.contains("input.bin"), "{}", r.stderr);
        assert!(!fx.p("input.bin.coffer").exists(), "no partial output");
    }
}

fn grow(path: &Path) {
    let mut file = fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(&data(1024 * 1024, 12)).unwrap();
}

fn shrink(path: &Path) {
    let file = fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_len(1024 * 1024).unwrap();
}

#[test]
fn an_input_that_grows_while_encrypted_gives_a_whole_output_or_an_error() {
    for threads in ["1", "2"] {
        let (fx, r, before, after) = encrypt_while_resizing(threads, grow);
        assert_whole_or_nothing(&fx, &r, &before, &after);
    }
}

#[test]
fn an_input_that_shrinks_while_encrypted_gives_a_whole_output_or_an_error() {
    for threads in ["1", "2"] {
        let (fx, r, before, after) = encrypt_while_resizing(threads, shrink);
        assert_whole_or_nothing(&fx, &r, &before, &after);
    }
}

/// A mapped input cut while it is read: the lost pages fault (SIGBUS), which must not
/// kill coffer. Cut early and to nothing, so the reads of the lost pages are certain.
#[test]
fn a_mapped_input_cut_to_nothing_is_an_error_not_a_crash() {
    let (fx, r, before, after) = encrypt_while_resizing("2", |path| {
        fs::OpenOptions::new()
            .write(true)
            .open(path)
            .unwrap()
            .set_len(0)
            .unwrap();
    });
    assert_eq!(after.len(), 0);
    assert_whole_or_nothing(&fx, &r, &before, &after);
    assert_eq!(r.code(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("changed while it was read"),
        "{}",
        r.stderr
    );
}

/// A ciphertext that grows or shrinks while it is decrypted gives an error naming the
/// input (or, if the change came after the last read, the whole plaintext), never a
/// partial output.
#[test]
fn a_ciphertext_that_changes_size_while_decrypted_gives_the_plaintext_or_an_error() {
    for change in [grow as fn(&Path), shrink] {
        let fx = Fx::new();
        let plain = data(RESIZED_LEN, 13);
        fx.write("input.bin", &plain);
        fx.encrypt_args(["-q", "input.bin"]).expect(0);
        fs::remove_file(fx.p("input.bin")).unwrap();
        let ciphertext = fx.p("input.bin.coffer");
        let dir = fx.dir().to_owned();
        let watcher = std::thread::spawn(move || {
            wait_until("16 MiB are decrypted", || temp_file_len(&dir) >= 16 << 20);
            change(&ciphertext);
        });
        let r = fx.decrypt(["-q", "-T", "2", "input.bin.coffer"]);
        watcher.join().unwrap();
        assert_no_panic(&r.stderr);
        assert_no_temp_files(fx.dir());
        if r.code() == 0 {
            assert!(fx.read("input.bin") == plain, "exit 0 with other plaintext");
        } else {
            // 1: it changed while it was read; 4: what is there now does not authenticate.
            assert!([1, 4].contains(&r.code()), "{}", r.stderr);
            assert!(r.stderr.contains("input.bin.coffer"), "{}", r.stderr);
            assert!(!fx.p("input.bin").exists(), "no partial output");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Hardening

/// While a passphrase key is in memory (the run is waiting for more input), the process
/// has core dumps off and is not dumpable: its /proc files belong to root, not to the
/// user it runs as. Run as root, the check runs coffer as `nobody` to see the difference.
#[test]
fn a_running_coffer_has_core_dumps_off_and_is_not_dumpable() {
    let mut cmd = if is_root() {
        if !have("setpriv") {
            return skip("not dumpable", "running as root without setpriv");
        }
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(bin());
        cmd
    } else {
        Command::new(bin())
    };
    let mut child = cmd
        .args([
            "encrypt",
            "-q",
            "-c",
            "--passphrase-env",
            "COFFER_TEST_PASS",
        ])
        .args(SMALL_KDF)
        .env("COFFER_TEST_PASS", PASS)
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    // A full batch of input makes coffer derive its key and write: then it waits for more.
    let batch = coffer::internals::pipeline::BATCH_CHUNKS * coffer::internals::stream::CHUNK_SIZE;
    stdin.write_all(&data(2 * batch, 13)).unwrap();
    let mut first = [0u8; 8];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    assert_eq!(&first, b"\x89coffer\n");
    let status = fs::metadata(format!("/proc/{pid}/status")).unwrap();
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert_eq!(
        core.split_whitespace().collect::<Vec<_>>()[4..6],
        ["0", "0"],
        "{core}"
    );
    assert_eq!(
        status.uid(),
        0,
        "/proc/{pid} belongs to uid {}: the process is dumpable",
        status.uid()
    );
}
