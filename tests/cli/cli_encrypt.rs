//! End-to-end tests of `coffer encrypt` / `coffer decrypt` on single and several files:
//! round trips in file and stdin/stdout modes, passphrase sources, refusals, output
//! safety, exit codes, and the auxiliary commands (help, completions, man).

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::Value;

/// Plaintext sizes around the 16 KiB chunk boundary, plus a multi-MiB file.
const SIZES: [usize; 7] = [0, 1, 16383, 16384, 16385, 32768, 3 * 1024 * 1024 + 7];

#[test]
fn round_trips_in_file_mode_for_chunk_boundary_sizes() {
    let fx = Fx::new();
    let pw = fx.passfile();
    let mut originals = Vec::new();
    let mut args: Vec<String> = vec!["-q".into()];
    for (i, &len) in SIZES.iter().enumerate() {
        let name = format!("size-{len}.bin");
        let bytes = data(len, i as u64);
        fx.write(&name, &bytes);
        originals.push((name.clone(), bytes));
        args.push(name);
    }
    // Several files, one passphrase source, one run.
    fx.encrypt_args(&args).expect(0);
    for (name, bytes) in &originals {
        let ct = fx.read(format!("{name}.coffer"));
        assert_eq!(&ct[..8], b"\x89coffer\n", "{name}: magic");
        assert_eq!(
            ct.len(),
            ciphertext_len(bytes.len(), header_len(&ct)),
            "{name}: ciphertext length does not follow the chunking rule"
        );
        // The input is kept.
        assert_eq!(&fx.read(name), bytes, "{name}: input changed");
        fs::remove_file(fx.p(name)).unwrap();
    }
    let mut dargs = vec!["-q".to_string()];
    dargs.extend(originals.iter().map(|(n, _)| format!("{n}.coffer")));
    fx.decrypt(&dargs).expect(0);
    for (name, bytes) in &originals {
        assert_eq!(&fx.read(name), bytes, "{name}: round trip differs");
        assert!(
            fx.p(format!("{name}.coffer")).exists(),
            "decrypt must keep its input"
        );
    }
    let _ = pw;
}

#[test]
fn round_trips_through_stdin_and_stdout_for_chunk_boundary_sizes() {
    let fx = Fx::new();
    let pw = fx.passfile();
    let pw = pw.to_str().unwrap();
    for (i, &len) in SIZES.iter().enumerate() {
        let plain = data(len, 100 + i as u64);
        // No FILE: stdin -> stdout.
        let mut enc = vec!["encrypt", "-q", "--passphrase-file", pw];
        enc.extend(SMALL_KDF);
        let ct = fx.run_stdin(&enc, &plain);
        ct.expect(0);
        assert_eq!(
            ct.stdout.len(),
            ciphertext_len(len, header_len(&ct.stdout)),
            "size {len}: stdin-mode ciphertext length"
        );
        let back = fx.run_stdin(["decrypt", "-q", "--passphrase-file", pw], &ct.stdout);
        back.expect(0);
        assert!(
            back.stdout == plain,
            "size {len}: stdin/stdout round trip differs"
        );

        // `-` names stdin explicitly.
        let mut enc_dash = enc.clone();
        enc_dash.push("-");
        let ct2 = fx.run_stdin(&enc_dash, &plain);
        ct2.expect(0);
        assert_ne!(
            ct2.stdout, ct.stdout,
            "two encryptions must differ (random keys)"
        );
        let back2 = fx.run_stdin(["decrypt", "-q", "--passphrase-file", pw, "-"], &ct2.stdout);
        back2.expect(0);
        assert!(back2.stdout == plain, "size {len}: `-` round trip differs");
    }
    // Nothing was written into the directory but the passphrase file.
    assert_eq!(files_below(fx.dir()), vec![std::path::PathBuf::from("pw")]);
}

#[test]
fn stdout_flag_writes_ciphertext_and_plaintext_to_stdout_without_files() {
    let fx = Fx::new();
    let plain = data(40_000, 7);
    fx.write("f.bin", &plain);
    let r = fx.encrypt_args(["-q", "-c", "f.bin"]);
    r.expect(0);
    assert!(!fx.p("f.bin.coffer").exists(), "-c must not write a file");
    assert_eq!(
        r.stdout.len(),
        ciphertext_len(plain.len(), header_len(&r.stdout))
    );
    fx.write("g.coffer", &r.stdout);
    let d = fx.decrypt(["-q", "-c", "g.coffer"]);
    d.expect(0);
    assert!(d.stdout == plain);
    assert!(!fx.p("g").exists(), "-c must not write a file");
}

#[test]
fn decrypt_stdout_flag_concatenates_several_inputs() {
    let fx = Fx::new();
    let a = data(20_000, 1);
    let b = data(333, 2);
    fx.write("a", &a);
    fx.write("b", &b);
    fx.encrypt_args(["-q", "a", "b"]).expect(0);
    let d = fx.decrypt(["-q", "-c", "a.coffer", "b.coffer"]);
    d.expect(0);
    let mut want = a.clone();
    want.extend_from_slice(&b);
    assert!(
        d.stdout == want,
        "decrypt -c of two files must concatenate them in order"
    );
}

#[test]
fn stdout_flag_with_several_inputs_on_encrypt_is_a_usage_error() {
    let fx = Fx::new();
    fx.write("a", b"a");
    fx.write("b", b"b");
    let before = fx.snapshot();
    let r = fx.encrypt_args(["-c", "a", "b"]);
    r.expect(2);
    assert!(r.stdout.is_empty(), "no ciphertext may be written");
    assert_eq!(fx.snapshot(), before);
}

#[test]
fn output_flag_names_the_output_for_encrypt_and_decrypt() {
    let fx = Fx::new();
    let plain = data(50_000, 3);
    fx.write("in.dat", &plain);
    fx.encrypt_args(["-q", "-o", "sealed.bin", "in.dat"])
        .expect(0);
    assert!(fx.p("sealed.bin").is_file());
    assert!(
        !fx.p("in.dat.coffer").exists(),
        "-o replaces the default name"
    );
    fx.decrypt(["-q", "-o", "restored.dat", "sealed.bin"])
        .expect(0);
    assert!(fx.read("restored.dat") == plain);
    // Long form too.
    fx.decrypt(["-q", "--output", "restored2.dat", "sealed.bin"])
        .expect(0);
    assert!(fx.read("restored2.dat") == plain);
}

#[test]
fn output_flag_with_several_inputs_is_a_usage_error() {
    let fx = Fx::new();
    fx.write("a", b"a");
    fx.write("b", b"b");
    let before = fx.snapshot();
    fx.encrypt_args(["-o", "x.coffer", "a", "b"]).expect(2);
    assert_eq!(
        fx.snapshot(),
        before,
        "nothing may be written on a usage error"
    );
}

/// Outputs take the input's permission bits (as gzip and zstd do; issue 12 item 12),
/// without setuid/setgid/sticky; an output from stdin stays 0600.
#[test]
fn outputs_take_the_input_mode_for_encrypt_and_decrypt() {
    let fx = Fx::new();
    let plain = data(1000, 4);
    let input = fx.write("doc.txt", &plain);
    fs::set_permissions(&input, fs::Permissions::from_mode(0o2640)).unwrap();
    let ct = fx.encrypt("doc.txt");
    assert_eq!(mode(&ct), 0o640, "encrypt output mode");
    fx.decrypt(["-q", "-o", "doc.out", "doc.txt.coffer"])
        .expect(0);
    assert_eq!(mode(&fx.p("doc.out")), 0o640, "decrypt output mode");
    assert_eq!(mode(&input), 0o2640, "input mode must not change");
    let mut args = vec!["encrypt", "-q", "--passphrase-file", "pw", "-o", "s.coffer"];
    args.extend(SMALL_KDF);
    fx.run_stdin(args, &plain).expect(0);
    assert_eq!(mode(&fx.p("s.coffer")), 0o600, "output from stdin");
}

#[test]
fn encrypt_and_decrypt_leave_the_input_unchanged_bytes_and_mtime() {
    let fx = Fx::new();
    let plain = data(70_000, 5);
    fx.write("keep.bin", &plain);
    // An old mtime, so that any rewrite of the input would show.
    fx.bash("touch -d '2001-02-03 04:05:06' keep.bin").expect(0);
    let m0 = mtime(&fx.p("keep.bin"));
    let ct = fx.encrypt("keep.bin");
    assert!(fx.read("keep.bin") == plain);
    assert_eq!(mtime(&fx.p("keep.bin")), m0, "encrypt touched its input");

    fx.bash("touch -d '2002-03-04 05:06:07' keep.bin.coffer")
        .expect(0);
    let ct_bytes = fs::read(&ct).unwrap();
    let m1 = mtime(&ct);
    fx.decrypt(["-q", "-o", "out.bin", "keep.bin.coffer"])
        .expect(0);
    assert_eq!(
        fs::read(&ct).unwrap(),
        ct_bytes,
        "decrypt modified its input"
    );
    assert_eq!(mtime(&ct), m1, "decrypt touched its input");
    assert!(fx.read("out.bin") == plain);
}

#[test]
fn encrypt_refuses_to_overwrite_without_force_and_force_overwrites() {
    let fx = Fx::new();
    fx.write("a.txt", b"new plaintext");
    fx.write("a.txt.coffer", b"precious existing file");
    let before = fx.snapshot();
    let r = fx.encrypt_args(["a.txt"]);
    r.expect(1);
    assert!(
        r.stderr.contains("-f"),
        "hint should name -f:\n{}",
        r.stderr
    );
    assert_eq!(
        fx.snapshot(),
        before,
        "the existing output must be untouched"
    );

    fx.encrypt_args(["-q", "-f", "a.txt"]).expect(0);
    let ct = fx.read("a.txt.coffer");
    assert_eq!(
        &ct[..8],
        b"\x89coffer\n",
        "-f must overwrite with the ciphertext"
    );
    fs::remove_file(fx.p("a.txt")).unwrap();
    fx.decrypt(["-q", "a.txt.coffer"]).expect(0);
    assert_eq!(fx.read("a.txt"), b"new plaintext");
    assert_no_temp_files(fx.dir());
}

#[test]
fn decrypt_refuses_to_overwrite_without_force_and_force_overwrites() {
    let fx = Fx::new();
    let plain = data(5000, 6);
    fx.make_encrypted("b.txt", &plain);
    fx.write("b.txt", b"edited since the backup");
    let before = fx.snapshot();
    fx.decrypt(["b.txt.coffer"]).expect(1);
    assert_eq!(
        fx.snapshot(),
        before,
        "the existing output must be untouched"
    );
    fx.decrypt(["-q", "--force", "b.txt.coffer"]).expect(0);
    assert!(fx.read("b.txt") == plain);
    assert_no_temp_files(fx.dir());
}

#[test]
fn same_input_and_output_file_is_refused_with_exit_2() {
    let fx = Fx::new();
    fx.write("same.txt", b"do not destroy me");
    let before = fx.snapshot();
    fx.encrypt_args(["-f", "-o", "same.txt", "same.txt"])
        .expect(2);
    fx.encrypt_args(["-f", "-o", "./same.txt", "same.txt"])
        .expect(2);
    assert_eq!(fx.snapshot(), before);

    // Same file under another name (hard link): same dev + inode.
    fs::hard_link(fx.p("same.txt"), fx.p("link.txt")).unwrap();
    let before = fx.snapshot();
    fx.encrypt_args(["-f", "-o", "link.txt", "same.txt"])
        .expect(2);
    assert_eq!(fx.snapshot(), before);

    let (_, ct) = fx.make_encrypted("x", b"xyz");
    let before = fx.snapshot();
    fx.decrypt(["-f", "-o", "x.coffer", "x.coffer"]).expect(2);
    assert_eq!(fx.snapshot(), before);
    assert!(ct.exists());
}

#[test]
fn decrypt_of_a_name_without_coffer_suffix_needs_output_flag() {
    let fx = Fx::new();
    let plain = data(100, 8);
    fx.write("p", &plain);
    fx.encrypt_args(["-q", "-o", "backup.enc", "p"]).expect(0);
    fs::remove_file(fx.p("p")).unwrap();
    let before = fx.snapshot();
    let r = fx.decrypt(["backup.enc"]);
    r.expect(2);
    assert!(
        r.stderr.contains("-o"),
        "hint should name -o:\n{}",
        r.stderr
    );
    assert_eq!(fx.snapshot(), before);
    fx.decrypt(["-q", "-o", "p", "backup.enc"]).expect(0);
    assert!(fx.read("p") == plain);
}

#[test]
fn missing_input_file_is_an_io_error_with_exit_1() {
    let fx = Fx::new();
    let r = fx.encrypt_args(["does-not-exist"]);
    r.expect(1);
    assert!(
        r.stderr.contains("does-not-exist"),
        "error should name the file:\n{}",
        r.stderr
    );
    fx.decrypt(["does-not-exist.coffer"]).expect(1);
    assert_eq!(files_below(fx.dir()), vec![std::path::PathBuf::from("pw")]);
}

#[test]
fn output_into_a_missing_directory_says_so_in_one_line_with_exit_1() {
    let fx = Fx::new();
    let plain = data(3 * 1024 * 1024, 9);
    fx.write("p", &plain);
    fx.make_encrypted("q", &plain[..1000]);
    let before = fx.snapshot();
    for r in [
        fx.encrypt_args(["-o", "missing/p.coffer", "p"]),
        fx.decrypt(["-o", "missing/q", "q.coffer"]),
    ] {
        r.expect(1);
        let first = r.stderr.lines().next().unwrap_or_default();
        assert!(
            first.ends_with("directory missing does not exist"),
            "error line:\n{}",
            r.stderr
        );
        assert!(r.stderr.contains("hint:"), "no hint:\n{}", r.stderr);
        assert!(
            !r.stderr.contains(".coffer-tmp"),
            "temp path leaked:\n{}",
            r.stderr
        );
        assert_eq!(fx.snapshot(), before);
    }
}

// ---------------------------------------------------------------------------------------
// Passphrase sources
// ---------------------------------------------------------------------------------------

#[test]
fn passphrase_from_env_decrypts_what_a_passphrase_file_encrypted() {
    let fx = Fx::new();
    let plain = data(30_000, 9);
    fx.make_encrypted("e.bin", &plain);
    fs::remove_file(fx.p("e.bin")).unwrap();
    let mut cmd = fx.cmd();
    cmd.env("MY_SECRET_VAR", PASS).args([
        "decrypt",
        "-q",
        "--passphrase-env",
        "MY_SECRET_VAR",
        "e.bin.coffer",
    ]);
    run(&mut cmd).expect(0);
    assert!(fx.read("e.bin") == plain);
}

#[test]
fn passphrase_env_encrypts_for_a_passphrase_file_with_crlf_and_extra_lines() {
    let fx = Fx::new();
    let plain = data(999, 10);
    fx.write("f", &plain);
    let mut cmd = fx.cmd();
    cmd.env("COFFER_TEST_PW", "s3cret pass")
        .args(["encrypt", "-q", "--passphrase-env", "COFFER_TEST_PW"])
        .args(SMALL_KDF)
        .arg("f");
    run(&mut cmd).expect(0);
    // One trailing "\r\n" stripped (a second line is refused: tests/cli/cli_newcomer.rs).
    fx.passfile_with("crlf", "s3cret pass\r\n");
    fx.run([
        "decrypt",
        "-q",
        "--passphrase-file",
        "crlf",
        "-o",
        "f1",
        "f.coffer",
    ])
    .expect(0);
    assert!(fx.read("f1") == plain);
    // No trailing newline at all.
    fx.passfile_with("bare", "s3cret pass");
    fx.run([
        "decrypt",
        "-q",
        "--passphrase-file",
        "bare",
        "-o",
        "f2",
        "f.coffer",
    ])
    .expect(0);
    assert!(fx.read("f2") == plain);
    // A trailing space is part of the passphrase.
    fx.passfile_with("space", "s3cret pass \n");
    fx.run([
        "decrypt",
        "--passphrase-file",
        "space",
        "-o",
        "f3",
        "f.coffer",
    ])
    .expect(3);
    assert!(!fx.p("f3").exists());
}

#[test]
fn passphrase_fd_reads_the_passphrase_from_a_pipe() {
    let fx = Fx::new();
    let plain = data(20_000, 11);
    fx.write("fd.bin", &plain);
    let kdf = SMALL_KDF.join(" ");
    fx.bash(&format!(
        r#""$COFFER" encrypt -q {kdf} --passphrase-fd 3 fd.bin 3< <(printf '%s\n' 'pipe pass')"#
    ))
    .expect(0);
    fs::remove_file(fx.p("fd.bin")).unwrap();
    // Through an anonymous pipe on fd 3, plus stdin mode at the same time.
    let r = fx.bash(
        r#"printf 'pipe pass\n' | { "$COFFER" decrypt -q --passphrase-fd 3 -c fd.bin.coffer 3<&0 0</dev/null; }"#,
    );
    r.expect(0);
    assert!(r.stdout == plain, "--passphrase-fd via a pipe");
    // And from a file redirected to the fd.
    fx.passfile_with("pwfd", "pipe pass\n");
    let r = fx.bash(r#""$COFFER" decrypt -q --passphrase-fd 3 -c fd.bin.coffer 3< pwfd"#);
    r.expect(0);
    assert!(r.stdout == plain, "--passphrase-fd via a redirected file");
    // Wrong passphrase through the fd.
    let r = fx.bash(r#""$COFFER" decrypt --passphrase-fd 3 -c fd.bin.coffer 3< <(echo nope)"#);
    r.expect(3);
    assert!(r.stdout.is_empty());
}

#[test]
fn passphrase_sources_are_mutually_exclusive() {
    let fx = Fx::new();
    fx.write("m", b"m");
    let pw = fx.passfile();
    let mut cmd = fx.cmd();
    cmd.env("PW", PASS)
        .args(["encrypt", "--passphrase-env", "PW", "--passphrase-file"])
        .arg(&pw)
        .args(SMALL_KDF)
        .arg("m");
    run(&mut cmd).expect(2);
    assert!(!fx.p("m.coffer").exists());
}

#[test]
fn passphrase_is_never_accepted_as_an_argument() {
    let fx = Fx::new();
    fx.write("m", b"m");
    let r = fx.run(["encrypt", "--passphrase", "hunter2", "m"]);
    r.expect(2);
    assert!(!fx.p("m.coffer").exists());
}

#[test]
fn wrong_passphrase_exits_3_and_never_prints_a_passphrase() {
    let fx = Fx::new();
    fx.make_encrypted("w.bin", &data(100, 12));
    fs::remove_file(fx.p("w.bin")).unwrap();
    fx.passfile_with("bad", "totally-wrong-passphrase\n");
    let before = fx.snapshot();
    let r = fx.run(["decrypt", "--passphrase-file", "bad", "w.bin.coffer"]);
    r.expect(3);
    assert!(
        !r.stderr.contains("totally-wrong-passphrase"),
        "secret in stderr"
    );
    assert!(!r.stderr.contains(PASS), "secret in stderr");
    assert!(
        r.stderr.contains("w.bin.coffer"),
        "error should name the file:\n{}",
        r.stderr
    );
    assert_eq!(fx.snapshot(), before, "nothing may be written");
    let v = fx.run(["verify", "--passphrase-file", "bad", "w.bin.coffer"]);
    v.expect(3);
}

/// The binary detached from any controlling terminal the test runner may have (so that
/// /dev/tty cannot be opened); assert_cmd gives no tty on stdin/stdout/stderr either.
fn detached(fx: &Fx) -> assert_cmd::Command {
    let mut c = if have("setsid") {
        let mut c = assert_cmd::Command::new("setsid");
        c.arg("-w").arg(bin());
        c
    } else {
        assert_cmd::Command::new(bin())
    };
    c.current_dir(fx.dir())
        .env_remove("COFFER_PASSPHRASE")
        .write_stdin(Vec::new());
    c
}

#[test]
fn no_passphrase_source_without_a_terminal_exits_2_with_a_hint() {
    let fx = Fx::new();
    fx.write("n", b"n");
    let mut cmd = detached(&fx);
    cmd.args(["encrypt"]).args(SMALL_KDF).arg("n");
    let r = run(&mut cmd);
    r.expect(2);
    assert!(r.stderr.contains("no passphrase source"), "{}", r.stderr);
    for opt in ["--passphrase-file", "--passphrase-fd", "--passphrase-env"] {
        assert!(
            r.stderr.contains(opt),
            "hint should name {opt}:\n{}",
            r.stderr
        );
    }
    assert!(!fx.p("n.coffer").exists());

    // Same for decrypt and verify.
    fx.make_encrypted("d", b"data");
    let mut cmd = detached(&fx);
    cmd.args(["decrypt", "-o", "d.out", "d.coffer"]);
    let r = run(&mut cmd);
    r.expect(2);
    assert!(
        r.stderr.contains("no passphrase source"),
        "decrypt: {}",
        r.stderr
    );
    assert!(!fx.p("d.out").exists());
    let mut cmd = detached(&fx);
    cmd.args(["verify", "d.coffer"]);
    let r = run(&mut cmd);
    r.expect(2);
    assert!(
        r.stderr.contains("no passphrase source"),
        "verify: {}",
        r.stderr
    );
}

#[test]
fn empty_passphrase_is_refused_on_encrypt() {
    let fx = Fx::new();
    fx.write("e", b"e");
    fx.passfile_with("empty", "\n");
    fx.run(["encrypt", "--passphrase-file", "empty", "e"])
        .expect(2);
    fx.passfile_with("empty2", "");
    fx.run(["encrypt", "--passphrase-file", "empty2", "e"])
        .expect(2);
    let mut cmd = fx.cmd();
    cmd.env("EMPTY_PW", "")
        .args(["encrypt", "--passphrase-env", "EMPTY_PW", "e"]);
    run(&mut cmd).expect(2);
    assert!(!fx.p("e.coffer").exists());
    assert_no_temp_files(fx.dir());
}

/// `coffer encrypt` of a one-byte file with these KDF memory (MiB) and passes and one
/// lane, which must be refused: exit 2 and no output. Returns the run for its message.
fn encrypt_with_kdf(memory: &str, passes: &str) -> Run {
    let fx = Fx::new();
    fx.write("k", b"k");
    let pw = fx.passfile();
    let r = fx.run([
        "encrypt",
        "--kdf-memory",
        memory,
        "--kdf-passes",
        passes,
        "--kdf-lanes",
        "1",
        "--passphrase-file",
        pw.to_str().unwrap(),
        "k",
    ]);
    r.expect(2);
    assert!(!fx.p("k.coffer").exists());
    r
}

#[test]
fn kdf_memory_below_the_floor_is_refused_naming_memory() {
    let r = encrypt_with_kdf("18", "2");
    assert!(r.stderr.contains("memory"), "{}", r.stderr);
    assert!(
        r.stderr.contains("19"),
        "message should give the floor:\n{}",
        r.stderr
    );
}

#[test]
fn kdf_passes_below_the_floor_is_refused_naming_passes() {
    let r = encrypt_with_kdf("19", "1");
    assert!(r.stderr.contains("passes"), "{}", r.stderr);
}

/// The defaults are the library's (`coffer::kdf::DEFAULT_*`, measured on the reference
/// machine): the binary must not carry its own copy.
#[test]
fn default_kdf_parameters_are_the_library_defaults_and_round_trip() {
    use coffer::kdf::{DEFAULT_LANES, DEFAULT_MEMORY_MIB, DEFAULT_PASSES};
    let fx = Fx::new();
    let plain = data(20_000, 13);
    fx.write("def.bin", &plain);
    let pw = fx.passfile();
    fx.run([
        "encrypt",
        "-q",
        "--passphrase-file",
        pw.to_str().unwrap(),
        "def.bin",
    ])
    .expect(0);
    let r = fx.run(["inspect", "--json", "def.bin.coffer"]);
    r.expect(0);
    let lines = r.json_stdout();
    let slot = &lines[0]["slots"][0];
    assert_eq!(slot["memory_mib"], DEFAULT_MEMORY_MIB, "{slot}");
    assert_eq!(slot["memory_kib"], DEFAULT_MEMORY_MIB * 1024, "{slot}");
    assert_eq!(slot["passes"], DEFAULT_PASSES, "{slot}");
    assert_eq!(slot["lanes"], DEFAULT_LANES, "{slot}");
    let help = fx.run(["encrypt", "--help"]).out();
    assert!(
        help.contains(&format!("[default: {DEFAULT_MEMORY_MIB}]")),
        "{help}"
    );
    fs::remove_file(fx.p("def.bin")).unwrap();
    fx.decrypt(["-q", "def.bin.coffer"]).expect(0);
    assert!(fx.read("def.bin") == plain);
}

#[test]
fn threads_option_gives_the_same_plaintext_with_one_or_many_workers() {
    let fx = Fx::new();
    let plain = data(5 * 1024 * 1024 + 123, 14);
    fx.write("big.bin", &plain);
    fx.encrypt_args(["-q", "-T", "1", "big.bin"]).expect(0);
    for t in ["1", "3", "0"] {
        let r = fx.decrypt(["-q", "--threads", t, "-c", "big.bin.coffer"]);
        r.expect(0);
        assert!(r.stdout == plain, "-T {t} gave a different plaintext");
    }
    fx.encrypt_args(["-q", "-f", "-T", "4", "big.bin"])
        .expect(0);
    let r = fx.decrypt(["-q", "-T", "1", "-c", "big.bin.coffer"]);
    r.expect(0);
    assert!(r.stdout == plain);
}

#[test]
fn quiet_encrypt_and_decrypt_print_nothing_on_success() {
    let fx = Fx::new();
    fx.write("q", &data(10, 15));
    let r = fx.encrypt_args(["-q", "q"]);
    r.expect(0);
    assert!(r.stdout.is_empty(), "stdout: {:?}", r.out());
    assert!(r.stderr.is_empty(), "stderr: {}", r.stderr);
    let r = fx.decrypt(["-q", "-o", "q2", "q.coffer"]);
    r.expect(0);
    assert!(r.stdout.is_empty() && r.stderr.is_empty(), "{}", r.stderr);
}

#[test]
fn several_files_where_one_fails_still_process_the_others_and_exit_with_the_highest_code() {
    let fx = Fx::new();
    let a = data(20_000, 16);
    let c = data(17_000, 17);
    fx.make_encrypted("a", &a);
    fx.make_encrypted("b", &data(20_000, 18));
    fx.make_encrypted("c", &c);
    for n in ["a", "b", "c"] {
        fs::remove_file(fx.p(n)).unwrap();
    }
    // b: a flipped bit in its first chunk -> 4.
    let bct = fx.read("b.coffer");
    flip_bit(&fx.p("b.coffer"), chunk_offset(&bct, 0) + 10, 3);
    // w: encrypted under another passphrase -> 3.
    fx.write("w", b"other");
    fx.passfile_with("pw2", "another passphrase\n");
    let mut args = vec!["encrypt", "-q", "--passphrase-file", "pw2"];
    args.extend(SMALL_KDF);
    args.push("w");
    fx.run(&args).expect(0);
    fs::remove_file(fx.p("w")).unwrap();

    let r = fx.decrypt(["a.coffer", "b.coffer", "w.coffer", "c.coffer"]);
    r.expect(4);
    assert!(fx.read("a") == a, "a must be decrypted despite b failing");
    assert!(fx.read("c") == c, "c must be decrypted despite b failing");
    assert!(!fx.p("b").exists() && !fx.p("w").exists());
    assert!(
        r.stderr.contains("b.coffer") && r.stderr.contains("w.coffer"),
        "{}",
        r.stderr
    );
    assert_no_temp_files(fx.dir());

    // Add a non-coffer file: the highest code becomes 5.
    fx.write(
        "junk.coffer",
        b"this is not a coffer file at all, just text",
    );
    let r = fx.decrypt(["-f", "w.coffer", "junk.coffer", "b.coffer", "a.coffer"]);
    r.expect(5);
    assert!(fx.read("a") == a);
    assert!(!fx.p("junk").exists());

    // Only the wrong passphrase: 3.
    fx.decrypt(["w.coffer"]).expect(3);
}

#[test]
fn encrypt_refuses_to_write_ciphertext_to_a_terminal() {
    if !have("script") {
        eprintln!("skipped: `script` (util-linux) is not installed, no way to get a tty");
        return;
    }
    let fx = Fx::new();
    fx.write("t.txt", b"secret text");
    let pw = fx.passfile();
    let cmdline = format!(
        "{} encrypt {} --passphrase-file {} < t.txt; echo \"rc=$?\"",
        bin().display(),
        SMALL_KDF.join(" "),
        pw.display()
    );
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &cmdline, "/dev/null"])
        .current_dir(fx.dir())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    if !text.contains("rc=") {
        eprintln!("skipped: `script` could not allocate a pty here: {text}");
        return;
    }
    assert!(
        text.contains("rc=2"),
        "expected exit 2 with stdout a tty, got:\n{text}"
    );
    assert!(
        !out.stdout.contains(&0x89),
        "ciphertext bytes reached the terminal"
    );
    assert_no_panic(&text);

    // -c with a file argument, stdout a tty: refused too.
    let cmdline = format!(
        "{} encrypt -c {} --passphrase-file {} t.txt; echo \"rc=$?\"",
        bin().display(),
        SMALL_KDF.join(" "),
        pw.display()
    );
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &cmdline, "/dev/null"])
        .current_dir(fx.dir())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("rc=2"),
        "expected exit 2 for -c to a tty, got:\n{text}"
    );
    assert!(
        !out.stdout.contains(&0x89),
        "ciphertext bytes reached the terminal"
    );
}

/// Starts `encrypt -o out.coffer` from a pipe that stays open, waits for the temporary
/// output to appear, sends `signal`, and checks exit 130 and that nothing is left.
fn interrupt_with(signal: &str) {
    let fx = Fx::new();
    let pw = fx.passfile();
    let mut child = Command::new(bin())
        .current_dir(fx.dir())
        .args(["encrypt", "-q", "-o", "out.coffer", "--passphrase-file"])
        .arg(&pw)
        .args(SMALL_KDF)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&data(2 * 1024 * 1024, 19)).unwrap();
    stdin.flush().unwrap();
    // Wait until the temporary output exists (KDF done, writing started).
    let start = Instant::now();
    let mut temp = None;
    while start.elapsed() < Duration::from_secs(30) && temp.is_none() {
        temp = output_in_progress(child.id(), fx.dir());
        std::thread::sleep(Duration::from_millis(10));
    }
    let temp = temp.expect("no temporary output appeared in the output directory while writing");
    assert_eq!(mode(&temp), 0o600, "the temporary output must be mode 0600");
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Keep stdin open: the binary must exit on the signal, not on EOF.
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > Duration::from_secs(15) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("coffer did not exit within 15 s of {signal}");
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "exit status after {signal}: {status:?}\n{stderr}"
    );
    assert_no_panic(&stderr);
    assert!(
        !fx.p("out.coffer").exists(),
        "no output may appear after an interrupt"
    );
    assert_no_temp_files(fx.dir());
}

#[test]
fn sigint_removes_the_temporary_file_and_exits_130() {
    interrupt_with("-INT");
}

#[test]
fn sigterm_removes_the_temporary_file_and_exits_130() {
    interrupt_with("-TERM");
}

// ---------------------------------------------------------------------------------------
// Help, completions, man page
// ---------------------------------------------------------------------------------------

#[test]
fn help_documents_the_exit_codes() {
    let fx = Fx::new();
    let r = fx.run(["--help"]);
    r.expect(0);
    let text = r.out().to_lowercase();
    assert!(
        text.contains("exit"),
        "--help should document exit codes:\n{text}"
    );
    for code in ["130", "wrong passphrase", "authentication"] {
        assert!(
            text.contains(code),
            "--help exit codes should mention `{code}`:\n{text}"
        );
    }
    for sub in [
        "encrypt",
        "decrypt",
        "verify",
        "inspect",
        "completions",
        "man",
    ] {
        assert!(text.contains(sub), "--help should list `{sub}`");
    }
}

#[test]
fn subcommand_help_lists_the_spec_options() {
    let fx = Fx::new();
    let r = fx.run(["encrypt", "--help"]);
    r.expect(0);
    let text = r.out();
    for opt in [
        "--output",
        "--stdout",
        "--force",
        "--quiet",
        "--threads",
        "--recursive",
        "--output-dir",
        "--delete-source",
        "--passphrase-file",
        "--passphrase-fd",
        "--passphrase-env",
        "--json",
        "--report",
        "--kdf-memory",
        "--kdf-passes",
        "--kdf-lanes",
        "--follow-symlinks",
    ] {
        assert!(text.contains(opt), "encrypt --help lacks {opt}");
    }
    let r = fx.run(["decrypt", "--help"]);
    r.expect(0);
    for opt in [
        "--range",
        "--max-kdf-memory",
        "--output-dir",
        "--passphrase-fd",
    ] {
        assert!(r.out().contains(opt), "decrypt --help lacks {opt}");
    }
    let r = fx.run(["inspect", "--help"]);
    r.expect(0);
    for opt in ["--json", "--ciphertext-range"] {
        assert!(r.out().contains(opt), "inspect --help lacks {opt}");
    }
}

#[test]
fn unknown_subcommand_or_option_is_a_usage_error_with_exit_2() {
    let fx = Fx::new();
    fx.run(["frobnicate"]).expect(2);
    fx.run(["encrypt", "--no-such-option"]).expect(2);
    fx.run(["decrypt", "--threads", "many"]).expect(2);
}

#[test]
fn completions_for_bash_zsh_and_fish_mention_coffer() {
    let fx = Fx::new();
    for shell in ["bash", "zsh", "fish"] {
        let r = fx.run(["completions", shell]);
        r.expect(0);
        let text = r.out();
        assert!(
            text.len() > 200,
            "{shell} completions are too short:\n{text}"
        );
        assert!(
            text.contains("coffer"),
            "{shell} completions do not mention coffer"
        );
        assert!(
            text.contains("encrypt"),
            "{shell} completions do not know `encrypt`"
        );
    }
    fx.run(["completions", "tcsh-is-not-supported"]).expect(2);
}

#[test]
fn man_page_is_roff() {
    let fx = Fx::new();
    let r = fx.run(["man"]);
    r.expect(0);
    let text = r.out();
    assert!(
        text.starts_with(".TH") || text.starts_with(".ie"),
        "man page does not start like roff:\n{}",
        &text[..text.len().min(200)]
    );
    assert!(text.contains(".TH"), "no .TH in man page");
    assert!(text.contains("coffer"));
}

#[test]
fn json_summary_of_a_multi_file_encrypt_counts_one_derivation() {
    let fx = Fx::new();
    let mut names = Vec::new();
    let mut total = 0u64;
    for i in 0..5 {
        let len = 1000 * i + 17;
        fx.write(format!("m{i}"), &data(len, 200 + i as u64));
        names.push(format!("m{i}"));
        total += len as u64;
    }
    let mut args = vec!["--json".to_string()];
    args.extend(names.iter().cloned());
    let r = fx.encrypt_args(&args);
    r.expect(0);
    let lines = r.json_stdout();
    assert_eq!(
        lines.len(),
        names.len() + 1,
        "one line per file + summary:\n{}",
        r.out()
    );
    let s = summary(&lines);
    assert_eq!(s["command"], "encrypt");
    assert_eq!(s["files"], 5);
    assert_eq!(s["ok"], 5);
    assert_eq!(s["failed"], 0);
    assert_eq!(s["skipped"], 0);
    assert_eq!(s["bytes"], total);
    assert_eq!(s["kdf_derivations"], 1, "one Argon2id derivation per run");
    assert_eq!(s["exit_code"], 0);
    assert!(s["seconds"].as_f64().is_some_and(|x| x >= 0.0), "{s}");
    for line in file_lines(&lines) {
        let path = line["path"].as_str().expect("path is a string");
        assert!(names.iter().any(|n| path.ends_with(n.as_str())), "{line}");
        let output = line["output"].as_str().expect("output is a string");
        assert!(output.ends_with(&format!("{}.coffer", path.rsplit('/').next().unwrap())));
        assert_eq!(line["outcome"], "ok");
        assert_eq!(line["error_kind"], Value::Null);
        assert_eq!(line["error"], Value::Null);
        assert_eq!(line["exit_code"], 0);
        let want = fs::metadata(fx.p(path.rsplit('/').next().unwrap()))
            .unwrap()
            .len();
        assert_eq!(line["bytes"], want, "{line}");
    }
}

#[test]
fn kdf_parameters_above_the_reader_caps_are_refused_on_encrypt_with_exit_2() {
    let r = encrypt_with_kdf("19", "17");
    assert!(r.stderr.contains("passes"), "{}", r.stderr);
}

#[test]
fn an_output_that_is_a_symlink_to_the_input_is_refused_and_the_input_survives() {
    let fx = Fx::new();
    let plain = data(3000, 60);
    fx.write("s.txt", &plain);
    std::os::unix::fs::symlink("s.txt", fx.p("s.txt.coffer")).unwrap();
    let r = fx.encrypt_args(["-f", "s.txt"]);
    r.expect(2);
    assert!(
        fx.read("s.txt") == plain,
        "the input was destroyed through the symlink"
    );
    assert!(fs::symlink_metadata(fx.p("s.txt.coffer"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_no_temp_files(fx.dir());
}

#[test]
fn bad_passphrase_sources_fail_cleanly() {
    let fx = Fx::new();
    fx.make_encrypted("p", b"plain");
    let before = fx.snapshot();
    let r = fx.run([
        "decrypt",
        "--passphrase-file",
        "no-such-file",
        "-o",
        "out",
        "p.coffer",
    ]);
    assert!(
        matches!(r.code(), 1 | 2),
        "missing passphrase file: {:?}\n{}",
        r.code,
        r.stderr
    );
    r.expect(r.code());
    let r = fx.run(["decrypt", "--passphrase-fd", "99", "-o", "out", "p.coffer"]);
    assert!(
        matches!(r.code(), 1 | 2),
        "closed fd: {:?}\n{}",
        r.code,
        r.stderr
    );
    r.expect(r.code());
    let r = fx.run([
        "decrypt",
        "--passphrase-env",
        "COFFER_TEST_UNSET_VARIABLE",
        "-o",
        "out",
        "p.coffer",
    ]);
    assert!(
        matches!(r.code(), 1 | 2),
        "unset variable: {:?}\n{}",
        r.code,
        r.stderr
    );
    r.expect(r.code());
    assert_eq!(fx.snapshot(), before);
}

#[test]
fn sigint_during_decrypt_removes_the_temporary_file_and_exits_130() {
    let fx = Fx::new();
    let plain = data(6 * 1024 * 1024, 61);
    fx.write("big", &plain);
    fx.encrypt("big");
    let ct = fx.read("big.coffer");
    fs::remove_file(fx.p("big")).unwrap();
    let pw = fx.passfile();
    let mut child = Command::new(bin())
        .current_dir(fx.dir())
        .args(["decrypt", "-q", "-o", "big", "--passphrase-file"])
        .arg(&pw)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Half the ciphertext; the pipe stays open.
    stdin.write_all(&ct[..ct.len() / 2]).unwrap();
    stdin.flush().unwrap();
    let start = Instant::now();
    let mut saw_temp = false;
    while start.elapsed() < Duration::from_secs(30) && !saw_temp {
        saw_temp = output_in_progress(child.id(), fx.dir()).is_some();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(saw_temp, "no temporary output appeared while decrypting");
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if start.elapsed() > Duration::from_secs(15) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("coffer decrypt did not exit within 15 s of SIGINT");
    };
    assert_eq!(status.code(), Some(130));
    assert!(!fx.p("big").exists(), "no partial plaintext may appear");
    assert_no_temp_files(fx.dir());
}

#[test]
fn no_progress_bar_or_escape_codes_when_stderr_is_not_a_terminal() {
    let fx = Fx::new();
    fx.write("p.bin", &data(4 * 1024 * 1024, 62));
    let r = fx.encrypt_args(["p.bin"]);
    r.expect(0);
    assert!(
        !r.stderr.contains('\x1b') && !r.stderr.contains('\r'),
        "{:?}",
        r.stderr
    );
    fs::remove_file(fx.p("p.bin")).unwrap();
    let r = fx.decrypt(["p.bin.coffer"]);
    r.expect(0);
    assert!(
        !r.stderr.contains('\x1b') && !r.stderr.contains('\r'),
        "{:?}",
        r.stderr
    );
}
