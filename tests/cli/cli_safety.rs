//! Never lose or leak a file (issue 14, and issue 12 items 7, 10, 12): `--delete-source`
//! tied to the file that was read, durable before anything is deleted, and safe output
//! targets.
//!
//! Races are driven deterministically: with the cargo feature `test-hooks` (the CI test
//! command enables it) the binary pauses at a named point (`COFFER_TEST_PAUSE`, see
//! src/cli/hooks.rs) while the test changes the file system, then continues. Those tests
//! are in `mod races` and need the feature.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::common::*;

/// Decrypts `ct` to stdout and returns the plaintext (asserting success).
#[track_caller]
fn plaintext_of(fx: &Fx, ct: &Path) -> Vec<u8> {
    let r = fx.decrypt(["-c".as_ref(), ct.as_os_str()]);
    r.expect(0);
    r.stdout.clone()
}

// ---------------------------------------------------------------------------------------
// 2. Two inputs, one output
// ---------------------------------------------------------------------------------------

#[test]
fn delete_source_with_two_inputs_mapping_to_one_output_keeps_the_second() {
    let fx = Fx::new();
    let a = data(5000, 1);
    let b = data(7000, 2);
    fx.write("a/x", &a);
    fx.write("b/x", &b);
    let r = fx.encrypt_args([
        "-q",
        "-f",
        "--delete-source",
        "--output-dir",
        "out",
        "a/x",
        "b/x",
    ]);
    r.expect(2);
    assert!(r.stderr.contains("also the output of"), "{}", r.stderr);
    assert!(
        !fx.p("a/x").exists(),
        "the first input was encrypted and removed"
    );
    assert_eq!(fx.read("b/x"), b, "the second input must be kept");
    assert_eq!(plaintext_of(&fx, &fx.p("out/x.coffer")), a);
}

#[test]
fn delete_source_with_two_trees_sharing_names_keeps_the_second_tree() {
    let fx = Fx::new();
    let one = data(3000, 3);
    let two = data(4000, 4);
    fx.write("d1/s/f", &one);
    fx.write("d2/s/f", &two);
    let r = fx.encrypt_args([
        "-q",
        "-f",
        "-r",
        "--delete-source",
        "--output-dir",
        "out",
        "d1",
        "d2",
    ]);
    r.expect(2);
    assert_eq!(fx.read("d2/s/f"), two);
    assert_eq!(plaintext_of(&fx, &fx.p("out/s/f.coffer")), one);
}

// ---------------------------------------------------------------------------------------
// 4. Special files at the output path
// ---------------------------------------------------------------------------------------

/// Opens a fifo for reading without blocking, so that a writer can open it.
fn fifo_reader(path: &Path) -> fs::File {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(0o4000) // O_NONBLOCK
        .open(path)
        .unwrap()
}

/// Whatever is waiting in a non-blocking fifo.
fn drain(reader: &mut fs::File) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match std::io::Read::read(reader, &mut buf) {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[test]
fn a_fifo_at_the_derived_output_path_is_not_written() {
    let fx = Fx::new();
    let (plain, _) = fx.make_encrypted("victim", &data(3000, 5));
    fs::remove_file(&plain).unwrap();
    fx.bash("mkfifo victim").expect(0);
    let mut reader = fifo_reader(&fx.p("victim"));
    let r = fx.decrypt(["victim.coffer"]);
    r.expect(1);
    assert!(r.stderr.contains("not a regular file"), "{}", r.stderr);
    assert!(r.stderr.contains("-o"), "the hint names -o: {}", r.stderr);
    assert!(
        drain(&mut reader).is_empty(),
        "plaintext went into the fifo"
    );
}

#[test]
fn a_fifo_named_with_o_is_written() {
    let fx = Fx::new();
    let plain = data(3000, 6);
    fx.make_encrypted("f", &plain);
    fx.bash("mkfifo pipe").expect(0);
    let mut reader = fifo_reader(&fx.p("pipe"));
    fx.decrypt(["-o", "pipe", "f.coffer"]).expect(0);
    assert_eq!(drain(&mut reader), plain);
}

#[test]
fn delete_source_to_dev_null_is_refused_and_keeps_the_ciphertext() {
    let fx = Fx::new();
    let (_, ct) = fx.make_encrypted("f", &data(3000, 7));
    let before = fs::read(&ct).unwrap();
    let r = fx.decrypt(["--delete-source", "-o", "/dev/null", "f.coffer"]);
    r.expect(2);
    assert_eq!(fs::read(&ct).unwrap(), before);
}

// ---------------------------------------------------------------------------------------
// 6. Paths that name a standard stream
// ---------------------------------------------------------------------------------------

#[test]
fn dev_stdout_redirected_to_a_file_is_written_as_the_stream() {
    let fx = Fx::new();
    let plain = data(3000, 8);
    fx.make_encrypted("f", &plain);
    let r = fx.bash("$COFFER decrypt --passphrase-file pw -o /dev/stdout f.coffer > got");
    r.expect(0);
    assert_eq!(fx.read("got"), plain);
}

#[test]
fn a_symlink_to_proc_self_fd_1_is_the_stream_even_with_force() {
    let fx = Fx::new();
    let plain = data(3000, 9);
    fx.make_encrypted("f", &plain);
    std::os::unix::fs::symlink("/proc/self/fd/1", fx.p("link")).unwrap();
    let r = fx.bash("$COFFER decrypt --passphrase-file pw -f -o link f.coffer > got");
    r.expect(0);
    assert_eq!(fx.read("got"), plain);
    assert!(
        fs::symlink_metadata(fx.p("link"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link must not be replaced by a file"
    );
}

// ---------------------------------------------------------------------------------------
// 7. The report file
// ---------------------------------------------------------------------------------------

#[test]
fn a_report_path_that_is_an_input_is_refused() {
    let fx = Fx::new();
    let plain = data(3000, 10);
    fx.write("in", &plain);
    let r = fx.encrypt_args(["--report", "in", "in"]);
    r.expect(2);
    assert_eq!(fx.read("in"), plain);
    assert!(!fx.p("in.coffer").exists());
}

#[test]
fn an_existing_report_file_is_kept_without_force() {
    let fx = Fx::new();
    fx.write("in", &data(300, 11));
    fx.write("report.json", b"yesterday's report");
    let r = fx.encrypt_args(["--report", "report.json", "in"]);
    r.expect(1);
    assert_eq!(fx.read("report.json"), b"yesterday's report");
    fx.encrypt_args(["-f", "--report", "report.json", "in"])
        .expect(0);
    assert!(fx.read("report.json").starts_with(b"{"));
}

#[test]
fn a_report_path_that_is_a_symlink_is_not_followed() {
    let fx = Fx::new();
    fx.write("in", &data(300, 12));
    fx.write("precious", b"not a report");
    std::os::unix::fs::symlink("precious", fx.p("report.json")).unwrap();
    let r = fx.encrypt_args(["-f", "--report", "report.json", "in"]);
    r.expect(1);
    assert_eq!(fx.read("precious"), b"not a report");
}

// ---------------------------------------------------------------------------------------
// 8 (and issue 12 item 7). Hard links and symbolic links with --delete-source
// ---------------------------------------------------------------------------------------

#[test]
fn delete_source_keeps_a_hard_linked_source() {
    let fx = Fx::new();
    let plain = data(3000, 13);
    fx.write("x", &plain);
    fs::hard_link(fx.p("x"), fx.p("y")).unwrap();
    let r = fx.encrypt_args(["-q", "--delete-source", "x"]);
    r.expect(1);
    assert!(r.stderr.contains("hard links"), "{}", r.stderr);
    assert_eq!(fx.read("x"), plain);
    assert_eq!(fx.read("y"), plain);
}

#[test]
fn delete_source_refuses_a_symlink_argument_and_keeps_link_and_target() {
    let fx = Fx::new();
    let plain = data(3000, 14);
    fx.write("target", &plain);
    std::os::unix::fs::symlink("target", fx.p("link")).unwrap();
    let r = fx.encrypt_args(["-q", "--delete-source", "link"]);
    r.expect(2);
    assert!(r.stderr.contains("symbolic link"), "{}", r.stderr);
    assert!(fs::symlink_metadata(fx.p("link"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fx.read("target"), plain);
    assert!(!fx.p("link.coffer").exists());
}

#[test]
fn delete_source_with_follow_symlinks_keeps_symlinked_files_in_a_tree() {
    let fx = Fx::new();
    let plain = data(3000, 15);
    fx.write("outside", &plain);
    fx.write("t/real", &data(100, 16));
    std::os::unix::fs::symlink("../outside", fx.p("t/link")).unwrap();
    let r = fx.encrypt_args(["-q", "-r", "--follow-symlinks", "--delete-source", "t"]);
    r.expect(2);
    assert!(fs::symlink_metadata(fx.p("t/link"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fx.read("outside"), plain);
    assert!(
        !fx.p("t/real").exists(),
        "the regular file is still processed"
    );
}

#[test]
fn a_symlink_argument_without_delete_source_is_still_encrypted() {
    let fx = Fx::new();
    let plain = data(3000, 17);
    fx.write("target", &plain);
    std::os::unix::fs::symlink("target", fx.p("link")).unwrap();
    fx.encrypt_args(["-q", "link"]).expect(0);
    assert_eq!(plaintext_of(&fx, &fx.p("link.coffer")), plain);
}

// ---------------------------------------------------------------------------------------
// Issue 12 item 10: errors name the right thing
// ---------------------------------------------------------------------------------------

#[test]
fn a_full_disk_names_the_destination() {
    let fx = Fx::new();
    // Large enough for the multi-core pipeline, whose errors come from the library.
    fx.write("big", &data(3 * 1024 * 1024, 18));
    let r = fx.encrypt_args(["-f", "-o", "/dev/full", "big"]);
    r.expect(1);
    assert!(
        r.stderr.contains("writing /dev/full") && r.stderr.contains("No space left"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_closed_stdout_pipe_exits_141_quietly() {
    let fx = Fx::new();
    fx.make_encrypted("big", &data(4 * 1024 * 1024, 19));
    for extra in ["", "-T 1"] {
        let r = fx.bash(&format!(
            "$COFFER decrypt {extra} --passphrase-file pw -c big.coffer 2>err | head -c 10 >/dev/null; \
             echo ${{PIPESTATUS[0]}}"
        ));
        r.expect(0);
        assert_eq!(r.out().trim(), "141", "exit status of coffer");
        assert_eq!(fx.read("err"), b"", "nothing on stderr");
    }
}

#[test]
fn an_unwritable_destination_is_reported_before_the_passphrase_is_asked() {
    let fx = Fx::new();
    fx.make_encrypted("f", &data(100, 20));
    // No passphrase source at all: the destination error must come first.
    let r = fx.run(["decrypt", "-o", "no/such/dir/f", "f.coffer"]);
    r.expect(1);
    assert!(r.stderr.contains("no/such/dir"), "{}", r.stderr);
    assert!(
        !r.stderr.to_lowercase().contains("passphrase"),
        "{}",
        r.stderr
    );
    // A read-only file system: /proc/sys where it is mounted read-only, or a directory
    // without write permission when not root.
    let ro = ["/proc/sys", "/sys"]
        .into_iter()
        .find(|d| rustix_access_fails(d));
    if let Some(dir) = ro {
        let out = format!("{dir}/coffer-test-output");
        let r = fx.run(["decrypt", "-o", &out, "f.coffer"]);
        r.expect(1);
        assert!(r.stderr.contains(dir), "{}", r.stderr);
        assert!(
            !r.stderr.to_lowercase().contains("passphrase"),
            "{}",
            r.stderr
        );
    }
}

/// Whether `test -w DIR` fails (a read-only mount, or no permission).
fn rustix_access_fails(dir: &str) -> bool {
    !std::process::Command::new("test")
        .args(["-w", dir])
        .status()
        .unwrap()
        .success()
}

// ---------------------------------------------------------------------------------------
// Issue 12 item 12: trees keep modes, times and empty directories
// ---------------------------------------------------------------------------------------

#[test]
fn trees_keep_modes_mtimes_and_empty_directories_through_a_round_trip() {
    let fx = Fx::new();
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let files = [
        ("tree/a", 0o640),
        ("tree/bin/run", 0o755),
        ("tree/s/u", 0o4755),
    ];
    for (i, (rel, m)) in files.iter().enumerate() {
        let path = fx.write(rel, &data(2000 + i, 21 + i as u64));
        fs::set_permissions(&path, fs::Permissions::from_mode(*m)).unwrap();
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    fs::create_dir_all(fx.p("tree/empty/deeper")).unwrap();
    fx.encrypt_args(["-q", "-r", "--output-dir", "enc", "tree"])
        .expect(0);
    assert_eq!(mode(&fx.p("enc/a.coffer")), 0o640);
    assert_eq!(mtime(&fx.p("enc/a.coffer")), old);
    assert!(
        fx.p("enc/empty/deeper").is_dir(),
        "empty directories are recreated"
    );
    fx.decrypt(["-q", "-r", "--output-dir", "dec", "enc"])
        .expect(0);
    fx.bash("diff -r tree dec").expect(0);
    assert_eq!(mode(&fx.p("dec/a")), 0o640);
    assert_eq!(mode(&fx.p("dec/bin/run")), 0o755);
    assert_eq!(mode(&fx.p("dec/s/u")), 0o755, "setuid is dropped");
    for (rel, _) in files {
        let back = PathBuf::from("dec").join(Path::new(rel).strip_prefix("tree").unwrap());
        assert_eq!(mtime(&fx.p(&back)), old, "{}", back.display());
    }
    assert!(fx.p("dec/empty/deeper").is_dir());
}

// ---------------------------------------------------------------------------------------
// Races, driven by pause points (cargo feature `test-hooks`)
// ---------------------------------------------------------------------------------------

#[cfg(feature = "test-hooks")]
mod races {
    use super::*;
    use std::process::{Child, Command, Stdio};
    use std::time::Instant;

    /// `encrypt` with the small KDF and `pw`, then `args`.
    fn encrypt_argv(args: &[&str]) -> Vec<String> {
        let mut all: Vec<String> = vec!["encrypt".into()];
        all.extend(SMALL_KDF.iter().map(|s| s.to_string()));
        all.extend(["--passphrase-file".into(), "pw".into()]);
        all.extend(args.iter().map(|s| s.to_string()));
        all
    }

    /// `decrypt` with `pw`, then `args`.
    fn decrypt_argv(args: &[&str]) -> Vec<String> {
        let mut all: Vec<String> = vec!["decrypt".into(), "--passphrase-file".into(), "pw".into()];
        all.extend(args.iter().map(|s| s.to_string()));
        all
    }

    /// A run of the binary stopped at a pause point.
    struct Paused {
        child: Child,
        hooks: tempfile::TempDir,
        point: String,
    }

    impl Paused {
        /// Starts `coffer ARGS` in the test directory and waits until it reaches `point`.
        fn start(fx: &Fx, point: &str, args: &[String]) -> Paused {
            let hooks = tempfile::tempdir().unwrap();
            let child = Command::new(bin())
                .current_dir(fx.dir())
                .args(args)
                .env_remove("COFFER_PASSPHRASE")
                .env("LC_ALL", "C")
                .env("COFFER_TEST_PAUSE", point)
                .env("COFFER_TEST_PAUSE_DIR", hooks.path())
                .stdin(Stdio::null())
                .stdout(fs::File::create(hooks.path().join("stdout")).unwrap())
                .stderr(fs::File::create(hooks.path().join("stderr")).unwrap())
                .spawn()
                .unwrap();
            let mut paused = Paused {
                child,
                hooks,
                point: point.to_string(),
            };
            let flag = paused.hooks.path().join(format!("{point}.paused"));
            let start = Instant::now();
            while !flag.exists() {
                if let Some(status) = paused.child.try_wait().unwrap() {
                    panic!(
                        "coffer exited ({status}) before reaching {point}:\n{}",
                        paused.stderr()
                    );
                }
                assert!(start.elapsed() < TIMEOUT, "{point} never reached");
                std::thread::sleep(Duration::from_millis(5));
            }
            paused
        }

        fn pid(&self) -> u32 {
            self.child.id()
        }

        fn stderr(&self) -> String {
            fs::read_to_string(self.hooks.path().join("stderr")).unwrap_or_default()
        }

        /// Lets the run continue and waits for it.
        fn resume(mut self) -> Run {
            fs::write(self.hooks.path().join(format!("{}.go", self.point)), b"").unwrap();
            let start = Instant::now();
            let status = loop {
                if let Some(status) = self.child.try_wait().unwrap() {
                    break status;
                }
                if start.elapsed() > TIMEOUT {
                    let _ = self.child.kill();
                    panic!("coffer did not finish");
                }
                std::thread::sleep(Duration::from_millis(5));
            };
            Run {
                code: status.code(),
                stdout: fs::read(self.hooks.path().join("stdout")).unwrap(),
                stderr: self.stderr(),
                elapsed: start.elapsed(),
            }
        }

        /// Ends the run with SIGKILL.
        fn kill(mut self) {
            self.child.kill().unwrap();
            self.child.wait().unwrap();
        }
    }

    // -- 0. an input cut while it is mapped -------------------------------------------

    /// A large input is read through a memory map when several workers encrypt it. Cut
    /// to nothing after it was mapped, every read of it faults (SIGBUS): coffer must say
    /// that the file changed, keep nothing and not crash, with the input as it now is.
    #[test]
    fn an_input_cut_after_it_was_mapped_is_refused_without_a_crash() {
        for output in [&["input.bin"][..], &["-c", "input.bin"][..]] {
            let fx = Fx::new();
            fx.write("pw", b"pw\n");
            fx.write("input.bin", &vec![0x5a; 64 << 20]);
            let mut args = vec!["-q", "-T", "2"];
            args.extend_from_slice(output);
            let paused = Paused::start(&fx, "mapped", &encrypt_argv(&args));
            fs::OpenOptions::new()
                .write(true)
                .open(fx.p("input.bin"))
                .unwrap()
                .set_len(0)
                .unwrap();
            let r = paused.resume();
            assert_eq!(r.code, Some(1), "{output:?}: {}", r.stderr);
            assert!(
                r.stderr.contains("changed while it was read"),
                "{}",
                r.stderr
            );
            assert!(r.stderr.contains("input.bin"), "{}", r.stderr);
            assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
            assert!(!fx.p("input.bin.coffer").exists(), "no output is kept");
            assert!(
                fs::read_dir(fx.dir())
                    .unwrap()
                    .flatten()
                    .all(|e| !e.file_name().to_string_lossy().starts_with(".coffer-tmp")),
                "no temporary file is left"
            );
        }
    }

    // -- 1. --delete-source deletes only the file it read -------------------------------

    #[test]
    fn a_directory_swapped_for_a_symlink_mid_run_is_not_followed() {
        let fx = Fx::new();
        let important = data(2000, 30);
        fx.write("elsewhere/x", &important);
        fx.write("outbox/a", &data(1000, 31));
        fx.write("outbox/sub/x", &data(1000, 32));
        let run = Paused::start(
            &fx,
            "planned",
            &encrypt_argv(&["-r", "--delete-source", "outbox"]),
        );
        fs::rename(fx.p("outbox/sub"), fx.p("outbox/sub.old")).unwrap();
        std::os::unix::fs::symlink(fx.p("elsewhere"), fx.p("outbox/sub")).unwrap();
        let r = run.resume();
        r.expect(1);
        assert!(r.stderr.contains("symbolic link"), "{}", r.stderr);
        assert_eq!(
            fx.read("elsewhere/x"),
            important,
            "a file outside the tree was deleted"
        );
        assert!(
            !fx.p("elsewhere/x.coffer").exists(),
            "a file outside the tree was read"
        );
        assert!(
            !fx.p("outbox/a").exists(),
            "the unaffected file is processed"
        );
    }

    #[test]
    fn a_file_renamed_onto_the_source_mid_run_is_kept() {
        let fx = Fx::new();
        let original = data(5000, 33);
        let other = data(6000, 34);
        fx.write("src", &original);
        fx.write("other", &other);
        let run = Paused::start(&fx, "read", &encrypt_argv(&["--delete-source", "src"]));
        fs::rename(fx.p("other"), fx.p("src")).unwrap();
        let r = run.resume();
        r.expect(1);
        assert!(r.stderr.contains("source was kept"), "{}", r.stderr);
        assert_eq!(fx.read("src"), other, "a file never encrypted was deleted");
        assert_eq!(plaintext_of(&fx, &fx.p("src.coffer")), original);
    }

    #[test]
    fn data_appended_after_the_end_was_read_keeps_the_source() {
        let fx = Fx::new();
        let original = data(5000, 35);
        fx.write("src", &original);
        let run = Paused::start(&fx, "read", &encrypt_argv(&["--delete-source", "src"]));
        fs::OpenOptions::new()
            .append(true)
            .open(fx.p("src"))
            .unwrap()
            .write_all_at_end(b"appended later");
        let r = run.resume();
        r.expect(1);
        assert!(r.stderr.contains("source was kept"), "{}", r.stderr);
        let mut want = original.clone();
        want.extend_from_slice(b"appended later");
        assert_eq!(fx.read("src"), want);
    }

    trait AppendAll {
        fn write_all_at_end(self, bytes: &[u8]);
    }

    impl AppendAll for fs::File {
        fn write_all_at_end(mut self, bytes: &[u8]) {
            std::io::Write::write_all(&mut self, bytes).unwrap();
        }
    }

    // -- 3. durable and read back through the descriptor before deleting ----------------

    #[test]
    fn decrypt_delete_source_reads_the_output_back_before_deleting() {
        let fx = Fx::new();
        let plain = data(40_000, 36);
        let (_, ct) = fx.make_encrypted("f", &plain);
        fs::remove_file(fx.p("f")).unwrap();
        let before = fs::read(&ct).unwrap();
        let run = Paused::start(
            &fx,
            "written",
            &decrypt_argv(&["--delete-source", "f.coffer"]),
        );
        // Corrupt the written plaintext behind coffer's back (a bad disk, a bad cache).
        let fd = output_in_progress(run.pid(), fx.dir()).unwrap_or_else(|| fx.p("f"));
        use std::os::unix::fs::FileExt;
        let out = fs::OpenOptions::new().write(true).open(&fd).unwrap();
        out.write_all_at(b"X", 1234).unwrap();
        drop(out);
        let r = run.resume();
        r.expect(1);
        assert!(r.stderr.contains("differs"), "{}", r.stderr);
        assert!(r.stderr.contains("source was kept"), "{}", r.stderr);
        assert_eq!(
            fs::read(&ct).unwrap(),
            before,
            "the ciphertext must be kept"
        );
        assert!(
            !fx.p("f").exists(),
            "a bad output must not be put into place"
        );
    }

    #[test]
    fn delete_source_syncs_output_and_directory_before_unlinking() {
        if !have("strace") {
            eprintln!("strace not installed: skipped");
            return;
        }
        // One file (an fsync each) and a tree of ten (one syncfs per step).
        let fx = Fx::new();
        fx.write("f", &data(3000, 37));
        for i in 0..10 {
            fx.write(format!("t/s{}/g{i}", i % 3), &data(100 + i, 50 + i as u64));
        }
        for (args, batched) in [(vec!["f"], false), (vec!["-r", "t"], true)] {
            let mut all = vec!["-q", "--delete-source"];
            all.extend(args);
            let argv = encrypt_argv(&all).join(" ");
            let r = fx.bash(&format!(
                "strace -f -qq -e trace=fsync,fdatasync,syncfs,linkat,renameat2,rename,unlinkat,unlink \
                 -o trace $COFFER {argv}"
            ));
            r.expect(0);
            let trace = String::from_utf8(fx.read("trace")).unwrap();
            let lines: Vec<&str> = trace.lines().collect();
            let find = |what: &dyn Fn(&str) -> bool| -> Vec<usize> {
                (0..lines.len()).filter(|&i| what(lines[i])).collect()
            };
            let placed = find(&|l| {
                (l.contains("linkat(") || l.contains("rename"))
                    && l.contains(".coffer\"")
                    && l.ends_with("= 0")
            });
            let unlinked = find(&|l| l.contains("unlink") && !l.contains(".coffer"));
            let syncs =
                find(&|l| (l.contains("fsync(") || l.contains("syncfs(")) && l.ends_with("= 0"));
            let files = if batched { 10 } else { 1 };
            assert_eq!(placed.len(), files, "outputs named:\n{trace}");
            assert_eq!(unlinked.len(), files, "sources unlinked:\n{trace}");
            let between = |a: usize, b: usize| syncs.iter().any(|&s| s > a && s < b);
            assert!(
                syncs.iter().any(|&s| s < placed[0]),
                "no sync of the data before the outputs were named:\n{trace}"
            );
            assert!(
                between(*placed.last().unwrap(), unlinked[0]),
                "no sync of the names before the first unlink:\n{trace}"
            );
            assert!(
                between(*unlinked.last().unwrap(), usize::MAX),
                "no sync after the unlinks:\n{trace}"
            );
            assert_eq!(
                find(&|l| l.contains("syncfs(")).len(),
                if batched { 3 } else { 0 },
                "one syncfs per step for a batch, none for one file:\n{trace}"
            );
        }
    }

    // -- 5. no plaintext left in freed memory --------------------------------------------

    /// Whether `needle` occurs in the process's writable private memory.
    fn memory_contains(pid: u32, needle: &[u8]) -> bool {
        use std::os::unix::fs::FileExt;
        let maps = fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
        let mem = fs::File::open(format!("/proc/{pid}/mem")).unwrap();
        for line in maps.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // Private writable memory: the heap and anonymous mappings (where large
            // buffers live), not mapped files. The main thread's stack is left out: the
            // AES-GCM code leaves a fragment of the last chunk there (reported to the
            // library's owners); this test is about the CLI's buffers.
            let name = fields.get(5).copied().unwrap_or("");
            if !fields[1].starts_with("rw") || name.starts_with('/') || name == "[stack]" {
                continue;
            }
            let (start, end) = fields[0].split_once('-').unwrap();
            let start = u64::from_str_radix(start, 16).unwrap();
            let end = u64::from_str_radix(end, 16).unwrap();
            let mut buf = vec![0u8; (end - start) as usize];
            if mem.read_exact_at(&mut buf, start).is_err() {
                continue;
            }
            if buf.windows(needle.len()).any(|w| w == needle) {
                return true;
            }
        }
        false
    }

    #[test]
    fn decrypted_plaintext_is_not_left_in_the_heap() {
        let fx = Fx::new();
        let plain = data(200_000, 38);
        fx.make_encrypted("f", &plain);
        fs::remove_file(fx.p("f")).unwrap();
        let run = Paused::start(&fx, "done", &decrypt_argv(&["-q", "f.coffer"]));
        // Several pieces: any of them in memory is a leak.
        let leaked: Vec<usize> = [0, 70_000, 150_000, 199_000]
            .into_iter()
            .filter(|&at| memory_contains(run.pid(), &plain[at..at + 64]))
            .collect();
        let r = run.resume();
        r.expect(0);
        assert_eq!(fx.read("f"), plain);
        assert!(
            leaked.is_empty(),
            "plaintext at offsets {leaked:?} still in memory"
        );
    }

    // -- 9. kill -9 leaves nothing named holding plaintext -------------------------------

    #[test]
    fn kill_9_during_decrypt_leaves_no_file_behind() {
        let fx = Fx::new();
        fx.make_encrypted("big", &data(3 * 1024 * 1024, 39));
        fs::remove_file(fx.p("big")).unwrap();
        let before = fx.snapshot();
        // Paused with the whole plaintext written, before the output is named.
        let run = Paused::start(&fx, "written", &decrypt_argv(&["-q", "big.coffer"]));
        run.kill();
        assert_eq!(fx.snapshot(), before, "something was left after kill -9");
    }

    // -- 10. -T is clamped ----------------------------------------------------------------

    /// Peak memory (VmHWM) of a process, in KiB.
    fn peak_rss_kib(pid: u32) -> u64 {
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    #[test]
    fn a_huge_thread_count_does_not_multiply_memory() {
        let fx = Fx::new();
        fx.write("f", &data(3 * 1024 * 1024, 40));
        let run = Paused::start(&fx, "done", &encrypt_argv(&["-q", "-T", "256", "f"]));
        let peak = peak_rss_kib(run.pid());
        run.resume().expect(0);
        assert!(
            peak < 120 * 1024,
            "peak RSS {peak} KiB with -T 256 on a 3 MiB file"
        );
    }
}
