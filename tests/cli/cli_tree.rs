//! Directory trees (`-r`, `--output-dir`, `--follow-symlinks`, `--delete-source`), one
//! Argon2id derivation per batch, and the JSON lines (`--json`, `--report`).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::common::*;
use serde_json::Value;

/// The non-UTF-8 file name used in trees.
fn latin1_name() -> &'static OsStr {
    OsStr::from_bytes(b"caf\xe9.bin")
}

/// Builds a tree under `fx/tree` and returns its regular files (relative path -> bytes)
/// that `encrypt -r` must encrypt (everything but the existing `.coffer` file, the
/// symlink and the fifo).
fn build_tree(fx: &Fx) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut add = |rel: PathBuf, bytes: Vec<u8>| {
        fx.write(Path::new("tree").join(&rel), &bytes);
        files.insert(rel, bytes);
    };
    add("a.txt".into(), data(1000, 1));
    add("empty".into(), Vec::new());
    add("exact16k".into(), data(CHUNK, 2));
    add("with space.txt".into(), data(500, 3));
    add("sub/nested/deep.bin".into(), data(50_000, 4));
    add("sub/empty too".into(), Vec::new());
    add("sub/three chunks".into(), data(2 * CHUNK + 1, 5));
    add(PathBuf::from(latin1_name()), data(300, 6));
    fs::create_dir_all(fx.p("tree/emptydir")).unwrap();
    std::os::unix::fs::symlink("a.txt", fx.p("tree/link")).unwrap();
    if have("mkfifo") {
        fx.bash("mkfifo tree/sub/fifo").expect(0);
    }
    // An existing coffer file, encrypted earlier under the same passphrase.
    fx.write("already", b"encrypted before the tree run");
    fx.encrypt("already");
    fs::rename(fx.p("already.coffer"), fx.p("tree/already.coffer")).unwrap();
    fs::remove_file(fx.p("already")).unwrap();
    files
}

fn find_line<'a>(lines: &'a [Value], suffix: &str) -> Option<&'a Value> {
    lines
        .iter()
        .find(|l| l["path"].as_str().is_some_and(|p| p.ends_with(suffix)))
}

#[test]
fn encrypt_recursive_in_place_encrypts_every_regular_file_once_and_skips_the_rest() {
    let fx = Fx::new();
    let files = build_tree(&fx);
    let already = fx.read("tree/already.coffer");
    let r = fx.encrypt_args(["-r", "--json", "tree"]);
    r.expect(0);
    let lines = r.json_stdout();
    let s = summary(&lines);
    assert_eq!(
        s["kdf_derivations"], 1,
        "the key must be derived once for the tree: {s}"
    );
    assert_eq!(s["ok"], files.len() as u64, "{s}");
    assert_eq!(s["failed"], 0, "{s}");
    assert_eq!(s["exit_code"], 0, "{s}");
    assert_eq!(
        s["bytes"],
        files.values().map(|b| b.len() as u64).sum::<u64>(),
        "{s}"
    );
    // Skipped: the symlink, the existing .coffer file, and the fifo if there is one.
    let skipped = 2 + u64::from(fx.p("tree/sub/fifo").exists());
    assert_eq!(s["skipped"], skipped, "{s}");
    assert_eq!(
        s["files"],
        s["ok"].as_u64().unwrap() + s["failed"].as_u64().unwrap() + skipped
    );
    let skipped_lines: Vec<_> = file_lines(&lines)
        .into_iter()
        .filter(|l| l["outcome"] == "skipped")
        .collect();
    assert_eq!(skipped_lines.len() as u64, skipped, "{}", r.out());
    for l in &skipped_lines {
        assert_eq!(l["exit_code"], 0, "a skip is not a failure: {l}");
        assert_eq!(l["output"], Value::Null, "{l}");
    }

    for (rel, bytes) in &files {
        let plain = fx.p(Path::new("tree").join(rel));
        assert_eq!(
            &fs::read(&plain).unwrap(),
            bytes,
            "{}: input changed",
            rel.display()
        );
        let ct = fs::read(with_coffer(&plain))
            .unwrap_or_else(|e| panic!("{}.coffer missing: {e}", rel.display()));
        assert_eq!(ct.len(), ciphertext_len(bytes.len(), header_len(&ct)));
    }
    assert_eq!(
        fx.read("tree/already.coffer"),
        already,
        "existing .coffer must be left alone"
    );
    assert!(
        !fx.p("tree/already.coffer.coffer").exists(),
        ".coffer files are skipped"
    );
    assert!(
        !fx.p("tree/link.coffer").exists(),
        "symlinks are not followed by default"
    );
    assert!(
        !fx.p("tree/sub/fifo.coffer").exists(),
        "special files are skipped"
    );
    let mentioned = format!("{}{}", r.stderr, r.out());
    assert!(
        mentioned.contains("link"),
        "skipping the symlink deserves a note:\n{mentioned}"
    );
    assert!(
        mentioned.contains("already.coffer"),
        "skipping .coffer deserves a note:\n{mentioned}"
    );

    // The non-UTF-8 name is reported lossily plus path_hex.
    let hex_line = lines
        .iter()
        .find(|l| l.get("path_hex").is_some_and(|h| !h.is_null()))
        .unwrap_or_else(|| panic!("no path_hex line for the non-UTF-8 name:\n{}", r.out()));
    let raw = hex::decode(hex_line["path_hex"].as_str().unwrap()).unwrap();
    assert!(
        raw.ends_with(b"caf\xe9.bin"),
        "path_hex decodes to {:?}",
        raw
    );
    assert!(
        hex_line["path"].as_str().unwrap().contains("caf"),
        "{hex_line}"
    );
    assert_eq!(hex_line["outcome"], "ok");
    assert_no_temp_files(fx.dir());

    // Decrypt the whole tree into another directory: every file byte for byte.
    let r = fx.decrypt(["-r", "-q", "--output-dir", "out", "tree"]);
    r.expect(0);
    for (rel, bytes) in &files {
        let got = fs::read(fx.p("out").join(rel))
            .unwrap_or_else(|e| panic!("out/{} missing: {e}", rel.display()));
        assert!(
            &got == bytes,
            "{}: differs after the round trip",
            rel.display()
        );
    }
    assert_eq!(fx.read("out/already"), b"encrypted before the tree run");
    let mut want: Vec<PathBuf> = files.keys().cloned().collect();
    want.push("already".into());
    want.sort();
    assert_eq!(
        files_below(&fx.p("out")),
        want,
        "decrypt -r takes only .coffer files"
    );
    assert_no_temp_files(fx.dir());
}

#[test]
fn encrypt_and_decrypt_recursive_with_output_dir_mirror_the_tree_and_derive_once() {
    let fx = Fx::new();
    let files = build_tree(&fx);
    let tree_before = snapshot(&fx.p("tree"));
    let r = fx.encrypt_args(["-r", "--json", "--output-dir", "enc", "tree"]);
    r.expect(0);
    let s = summary(&r.json_stdout()).clone();
    assert_eq!(s["kdf_derivations"], 1, "{s}");
    assert_eq!(s["ok"], files.len() as u64);
    assert_eq!(
        snapshot(&fx.p("tree")),
        tree_before,
        "--output-dir must not touch the tree"
    );

    // Same relative paths, relative to the directory argument.
    let mut want: Vec<PathBuf> = files.keys().map(|p| with_coffer(p)).collect();
    want.sort();
    assert_eq!(files_below(&fx.p("enc")), want);
    for dir in ["enc", "enc/sub", "enc/sub/nested"] {
        assert_eq!(
            mode(&fx.p(dir)),
            0o700,
            "{dir} must be created with mode 0700"
        );
    }
    // Outputs take their input's mode (issue 12 item 12).
    for rel in files.keys() {
        assert_eq!(
            mode(&fx.p("enc").join(with_coffer(rel))),
            mode(&fx.p("tree").join(rel)),
            "{}",
            rel.display()
        );
    }

    let r = fx.decrypt(["-r", "--json", "--output-dir", "dec", "enc"]);
    r.expect(0);
    let lines = r.json_stdout();
    let s = summary(&lines);
    assert_eq!(s["command"], "decrypt");
    assert_eq!(
        s["kdf_derivations"], 1,
        "files of one run share a salt: one derivation: {s}"
    );
    assert_eq!(s["ok"], files.len() as u64);
    assert_eq!(
        s["bytes"],
        files.values().map(|b| b.len() as u64).sum::<u64>()
    );
    let mut plain_want: Vec<PathBuf> = files.keys().cloned().collect();
    plain_want.sort();
    assert_eq!(files_below(&fx.p("dec")), plain_want);
    for (rel, bytes) in &files {
        assert!(
            &fs::read(fx.p("dec").join(rel)).unwrap() == bytes,
            "{}",
            rel.display()
        );
        let line = file_lines(&lines)
            .into_iter()
            .find(|l| {
                l["path_hex"].as_str().map_or_else(
                    || Path::new(l["path"].as_str().unwrap()).ends_with(with_coffer(rel)),
                    |h| {
                        hex::decode(h)
                            .unwrap()
                            .ends_with(with_coffer(rel).as_os_str().as_bytes())
                    },
                )
            })
            .unwrap_or_else(|| panic!("no JSON line for {}", rel.display()));
        assert_eq!(line["bytes"], bytes.len() as u64, "{line}");
    }
    assert_no_temp_files(fx.dir());

    // verify -r over the encrypted tree: one derivation, nothing written.
    let before = fx.snapshot();
    let r = fx.verify(["-r", "--json", "enc"]);
    r.expect(0);
    let s = summary(&r.json_stdout()).clone();
    assert_eq!(s["kdf_derivations"], 1, "{s}");
    assert_eq!(s["ok"], files.len() as u64);
    assert_eq!(fx.snapshot(), before);
}

#[test]
fn recursive_encrypt_follows_symlinks_only_when_asked() {
    let fx = Fx::new();
    fx.write("tree/real.txt", &data(777, 7));
    std::os::unix::fs::symlink("real.txt", fx.p("tree/alias.txt")).unwrap();
    fx.encrypt_args(["-r", "-q", "--output-dir", "plain-run", "tree"])
        .expect(0);
    assert_eq!(
        files_below(&fx.p("plain-run")),
        vec![PathBuf::from("real.txt.coffer")]
    );

    fx.encrypt_args([
        "-r",
        "-q",
        "--follow-symlinks",
        "--output-dir",
        "follow-run",
        "tree",
    ])
    .expect(0);
    assert_eq!(
        files_below(&fx.p("follow-run")),
        vec![
            PathBuf::from("alias.txt.coffer"),
            PathBuf::from("real.txt.coffer")
        ]
    );
    fx.decrypt(["-q", "-o", "alias.out", "follow-run/alias.txt.coffer"])
        .expect(0);
    assert_eq!(fx.read("alias.out"), fx.read("tree/real.txt"));
    // The symlink itself is still a symlink.
    assert!(fs::symlink_metadata(fx.p("tree/alias.txt"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn output_dir_for_plain_file_arguments_uses_the_file_name() {
    let fx = Fx::new();
    let plain = data(4000, 8);
    fx.write("deep/path/f.txt", &plain);
    fx.encrypt_args(["-q", "--output-dir", "od", "deep/path/f.txt"])
        .expect(0);
    assert_eq!(
        files_below(&fx.p("od")),
        vec![PathBuf::from("f.txt.coffer")]
    );
    assert!(!fx.p("deep/path/f.txt.coffer").exists());
    fx.decrypt(["-q", "--output-dir", "back", "od/f.txt.coffer"])
        .expect(0);
    assert!(fx.read("back/f.txt") == plain);
}

#[test]
fn a_directory_argument_without_recursive_is_refused() {
    let fx = Fx::new();
    fx.write("d/x", b"x");
    let before = fx.snapshot();
    let r = fx.encrypt_args(["d"]);
    assert_ne!(
        r.code(),
        0,
        "a directory without -r must fail:\n{}",
        r.stderr
    );
    assert_no_panic(&r.stderr);
    assert_eq!(fx.snapshot(), before);
}

#[test]
fn delete_source_removes_inputs_only_after_success() {
    let fx = Fx::new();
    let a = data(40_000, 9);
    let b = data(3, 10);
    let c = data(CHUNK, 11);
    fx.write("t/a", &a);
    fx.write("t/s/b", &b);
    fx.write("t/s/c", &c);
    let r = fx.encrypt_args(["-r", "--json", "--delete-source", "t"]);
    r.expect(0);
    assert_eq!(
        summary(&r.json_stdout())["kdf_derivations"],
        1,
        "the read-back verification must reuse the key (no extra KDF)"
    );
    assert_eq!(
        files_below(&fx.p("t")),
        vec![
            PathBuf::from("a.coffer"),
            PathBuf::from("s/b.coffer"),
            PathBuf::from("s/c.coffer")
        ]
    );

    // Tamper with one: decrypt --delete-source removes only the inputs that succeeded.
    let ct = fx.read("t/s/b.coffer");
    flip_bit(&fx.p("t/s/b.coffer"), chunk_offset(&ct, 0) + 1, 0);
    let tampered = fx.read("t/s/b.coffer");
    let r = fx.decrypt(["-r", "--delete-source", "t"]);
    r.expect(4);
    assert!(fx.read("t/a") == a);
    assert!(fx.read("t/s/c") == c);
    assert!(!fx.p("t/a.coffer").exists() && !fx.p("t/s/c.coffer").exists());
    assert_eq!(
        fx.read("t/s/b.coffer"),
        tampered,
        "a failed input must be kept as it was"
    );
    assert!(!fx.p("t/s/b").exists());
    assert_no_temp_files(fx.dir());

    // Encrypt: a file whose output already exists (no -f) fails and keeps its source.
    fx.write("x", b"x plaintext");
    fx.write("y", b"y plaintext");
    fx.write("y.coffer", b"existing");
    let r = fx.encrypt_args(["--delete-source", "x", "y"]);
    r.expect(1);
    assert!(!fx.p("x").exists(), "x succeeded: its source goes");
    assert!(fx.p("x.coffer").exists());
    assert_eq!(fx.read("y"), b"y plaintext", "y failed: its source stays");
    assert_eq!(fx.read("y.coffer"), b"existing");
    fx.decrypt(["-q", "x.coffer"]).expect(0);
    assert_eq!(fx.read("x"), b"x plaintext");
}

#[test]
fn several_files_with_one_failure_in_a_tree_report_each_and_exit_with_the_highest_code() {
    let fx = Fx::new();
    for i in 0..6 {
        fx.write(format!("t/f{i}"), &data(10_000 * i + 1, 20 + i as u64));
    }
    fx.encrypt_args(["-r", "-q", "--output-dir", "e", "t"])
        .expect(0);
    let ct = fx.read("e/f3.coffer");
    let at = ct.len() - 3;
    flip_bit(&fx.p("e/f3.coffer"), at, 5);
    let r = fx.decrypt(["-r", "--json", "--output-dir", "d", "e"]);
    r.expect(4);
    let lines = r.json_stdout();
    let s = summary(&lines);
    assert_eq!(s["ok"], 5);
    assert_eq!(s["failed"], 1);
    assert_eq!(s["exit_code"], 4);
    let bad = find_line(&lines, "f3.coffer").expect("line for f3");
    assert_eq!(bad["outcome"], "error");
    assert_eq!(bad["error_kind"], "authentication");
    assert_eq!(
        bad["output"],
        Value::Null,
        "no output for a failed file: {bad}"
    );
    for i in [0usize, 1, 2, 4, 5] {
        assert!(fx.read(format!("d/f{i}")) == fx.read(format!("t/f{i}")));
    }
    assert!(!fx.p("d/f3").exists());
    assert_no_temp_files(fx.dir());
}

// ---------------------------------------------------------------------------------------
// JSON lines and --report
// ---------------------------------------------------------------------------------------

#[test]
fn json_lines_have_the_spec_fields_for_every_file_and_the_summary() {
    let fx = Fx::new();
    fx.write("one", &data(123, 30));
    fx.write("two", &data(CHUNK + 1, 31));
    let r = fx.encrypt_args(["--json", "one", "two"]);
    r.expect(0);
    let lines = r.json_stdout();
    assert_eq!(lines.len(), 3, "{}", r.out());
    for l in file_lines(&lines) {
        for key in [
            "path",
            "output",
            "bytes",
            "outcome",
            "error_kind",
            "error",
            "exit_code",
        ] {
            assert!(l.get(key).is_some(), "field {key} missing in {l}");
        }
    }
    let s = summary(&lines);
    for key in [
        "summary",
        "command",
        "files",
        "ok",
        "failed",
        "skipped",
        "bytes",
        "kdf_derivations",
        "exit_code",
        "seconds",
    ] {
        assert!(s.get(key).is_some(), "summary field {key} missing in {s}");
    }
    assert_eq!(s["bytes"], 123 + CHUNK as u64 + 1);

    // decrypt: failures carry error_kind and error; JSON still one object per line.
    fs::remove_file(fx.p("one")).unwrap();
    fs::remove_file(fx.p("two")).unwrap();
    fx.passfile_with("wrong", "nope\n");
    let r = fx.run([
        "decrypt",
        "--json",
        "--passphrase-file",
        "wrong",
        "one.coffer",
        "two.coffer",
    ]);
    r.expect(3);
    let lines = r.json_stdout();
    for l in file_lines(&lines) {
        assert_eq!(l["outcome"], "error");
        assert_eq!(l["error_kind"], "wrong_key");
        assert_eq!(l["exit_code"], 3);
        assert!(l["error"].as_str().is_some_and(|e| !e.contains("nope")));
    }
    assert_eq!(summary(&lines)["failed"], 2);
    assert!(!fx.p("one").exists());
}

#[test]
fn report_flag_writes_the_json_lines_to_a_file() {
    let fx = Fx::new();
    fx.write("r1", &data(10, 40));
    fx.write("r2", &data(20, 41));
    let r = fx.encrypt_args(["--json", "--report", "report.jsonl", "r1", "r2"]);
    r.expect(0);
    assert!(
        json_objects_in(&r.out()).is_empty(),
        "JSON must go to the report, not stdout"
    );
    let text = String::from_utf8(fx.read("report.jsonl")).unwrap();
    let lines = json_lines(&text);
    assert_eq!(lines.len(), 3, "{text}");
    let s = summary(&lines);
    assert_eq!(s["ok"], 2);
    assert_eq!(s["kdf_derivations"], 1);
    assert!(find_line(&lines, "r1").is_some() && find_line(&lines, "r2").is_some());
}

#[test]
fn json_with_stdout_output_goes_to_stderr_unless_report_is_given() {
    let fx = Fx::new();
    let plain = data(33_333, 50);
    fx.make_encrypted("s.bin", &plain);
    let r = fx.decrypt(["--json", "-c", "s.bin.coffer"]);
    r.expect(0);
    assert!(r.stdout == plain, "stdout must be exactly the plaintext");
    let objs = json_objects_in(&r.stderr);
    let s = summary(&objs);
    assert_eq!(s["ok"], 1);
    assert_eq!(s["bytes"], plain.len() as u64);

    let r = fx.decrypt(["--json", "--report", "rep.jsonl", "-c", "s.bin.coffer"]);
    r.expect(0);
    assert!(r.stdout == plain);
    assert!(
        json_objects_in(&r.stderr).is_empty(),
        "with --report, no JSON on stderr"
    );
    let lines = json_lines(&String::from_utf8(fx.read("rep.jsonl")).unwrap());
    assert_eq!(summary(&lines)["ok"], 1);

    // Stdin mode too (encrypt): ciphertext on stdout, JSON on stderr.
    let pw = fx.passfile();
    let mut args = vec![
        "encrypt",
        "--json",
        "--passphrase-file",
        pw.to_str().unwrap(),
    ];
    args.extend(SMALL_KDF);
    let r = fx.run_stdin(&args, &plain);
    r.expect(0);
    assert_eq!(
        &r.stdout[..8],
        b"\x89coffer\n",
        "stdout must start with the ciphertext"
    );
    assert_eq!(
        r.stdout.len(),
        ciphertext_len(plain.len(), header_len(&r.stdout))
    );
    let objs = json_objects_in(&r.stderr);
    assert_eq!(summary(&objs)["bytes"], plain.len() as u64);
}

#[test]
fn output_dir_collisions_between_two_directory_arguments_are_refused_not_overwritten() {
    let fx = Fx::new();
    fx.write("d1/x", b"one");
    fx.write("d2/x", b"two");
    let r = fx.encrypt_args(["-r", "--output-dir", "out", "d1", "d2"]);
    // Refused when planning (issue 14 item 2): the first input wins, the second fails.
    r.expect(2);
    assert_eq!(files_below(&fx.p("out")), vec![PathBuf::from("x.coffer")]);
    let d = fx.decrypt(["-q", "-c", "out/x.coffer"]);
    d.expect(0);
    assert_eq!(d.stdout, b"one");
    assert_no_temp_files(fx.dir());
}
