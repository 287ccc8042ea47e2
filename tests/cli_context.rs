//! End-to-end tests of the encryption context (`--context`, `--require-context`; issue
//! "Keys III", FORMAT.md "Context") through the real binary. Key files keep them fast.

mod common;

use std::fs;

use common::*;

const KEY: &str = "k.key";

/// A fixture with a key file `k.key` and the plaintext `a.txt`.
fn fixture() -> Fx {
    let fx = Fx::new();
    fx.run(["keygen", "--symmetric", "-o", KEY]).expect(0);
    fx.write("a.txt", &data(40_000, 1));
    fx
}

/// `coffer COMMAND --key-file k.key ARGS...`.
fn with_key(fx: &Fx, command: &str, args: &[&str]) -> Run {
    let mut all = vec![command, "--key-file", KEY];
    all.extend(args);
    fx.run(all)
}

/// Encrypts `file` with these `--context` pairs, asserting success.
fn encrypt_in_context(fx: &Fx, file: &str, pairs: &[&str]) {
    let mut args = vec!["-q"];
    for pair in pairs {
        args.extend(["--context", pair]);
    }
    args.push(file);
    with_key(fx, "encrypt", &args).expect(0);
}

/// Decrypts `a.txt.coffer` to stdout with these extra arguments.
fn decrypt_to_stdout(fx: &Fx, args: &[&str]) -> Run {
    let mut all = vec!["-c"];
    all.extend(args);
    all.push("a.txt.coffer");
    with_key(fx, "decrypt", &all)
}

/// Asserts a refusal for the context: exit 3, the JSON class, and not one byte of
/// plaintext on stdout.
#[track_caller]
fn assert_context_refused(run: &Run) {
    run.expect(3);
    assert!(run.stderr.contains("context"), "{}", run.stderr);
    assert!(
        run.stdout.is_empty(),
        "plaintext released: {} bytes",
        run.stdout.len()
    );
}

#[test]
fn a_file_opens_with_its_context_in_any_order_and_without_one() {
    let fx = fixture();
    encrypt_in_context(&fx, "a.txt", &["host=db1", "path=/var/backups/a=1"]);
    let plain = fx.read("a.txt");
    let run = decrypt_to_stdout(
        &fx,
        &[
            "--context",
            "path=/var/backups/a=1",
            "--context",
            "host=db1",
        ],
    );
    run.expect(0);
    assert_eq!(run.stdout, plain);
    // No --context asked: files open as before.
    assert_eq!(decrypt_to_stdout(&fx, &[]).expect(0).stdout, plain);
    assert_eq!(
        decrypt_to_stdout(&fx, &["--require-context"])
            .expect(0)
            .stdout,
        plain
    );
    with_key(
        &fx,
        "verify",
        &[
            "--context",
            "host=db1",
            "--context",
            "path=/var/backups/a=1",
            "a.txt.coffer",
        ],
    )
    .expect(0);
}

#[test]
fn a_wrong_missing_or_extra_pair_is_refused_before_any_plaintext() {
    let fx = fixture();
    encrypt_in_context(&fx, "a.txt", &["host=db1", "env=prod"]);
    let cases: [&[&str]; 4] = [
        &["--context", "host=db2", "--context", "env=prod"],
        &["--context", "host=db1"],
        &[
            "--context",
            "host=db1",
            "--context",
            "env=prod",
            "--context",
            "x=y",
        ],
        &["--context", "HOST=db1", "--context", "env=prod"],
    ];
    for args in cases {
        let run = decrypt_to_stdout(&fx, args);
        assert_context_refused(&run);
        let verify = with_key(&fx, "verify", &[args, &["a.txt.coffer"][..]].concat());
        verify.expect(3);
    }
    // The message names the keys, not the values.
    let run = decrypt_to_stdout(&fx, &["--context", "host=db2", "--context", "env=prod"]);
    assert!(
        run.stderr.contains("another value for host"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("db1"), "{}", run.stderr);
    // To a file: nothing is left behind.
    fs::remove_file(fx.p("a.txt")).unwrap();
    with_key(&fx, "decrypt", &["--context", "host=db1", "a.txt.coffer"]).expect(3);
    assert!(!fx.p("a.txt").exists());
    assert_no_temp_files(fx.dir());
}

#[test]
fn a_mismatch_has_its_own_class_even_with_the_right_passphrase() {
    // A wrong context with the right passphrase fails at once, as exit 3 with the
    // context's class, not as a wrong key and not after Argon2id.
    let fx = fixture();
    fx.encrypt("a.txt");
    let run = fx.decrypt(["--json", "-c", "--context", "k=v", "a.txt.coffer"]);
    run.expect(3);
    let lines = json_objects_in(&run.stderr);
    assert_eq!(
        file_lines(&lines)[0]["error_kind"],
        "context_mismatch",
        "{}",
        run.stderr
    );
}

#[test]
fn require_context_refuses_a_file_without_one() {
    let fx = fixture();
    encrypt_in_context(&fx, "a.txt", &[]);
    let run = decrypt_to_stdout(&fx, &["--require-context", "--json"]);
    assert_context_refused(&run);
    assert!(run.stderr.contains("no context"), "{}", run.stderr);
    let lines = json_objects_in(&run.stderr);
    assert_eq!(file_lines(&lines)[0]["error_kind"], "context_mismatch");
    // A context asked for, and the file has none: refused too.
    assert_context_refused(&decrypt_to_stdout(&fx, &["--context", "k=v"]));
}

#[test]
fn a_file_swapped_for_another_is_caught() {
    let fx = fixture();
    fx.write("b.txt", b"the other database");
    encrypt_in_context(&fx, "a.txt", &["object=backups/a.txt.coffer"]);
    encrypt_in_context(&fx, "b.txt", &["object=backups/b.txt.coffer"]);
    // Storage hands back b's object under a's name: same key, valid file, wrong place.
    fs::rename(fx.p("b.txt.coffer"), fx.p("a.txt.coffer")).unwrap();
    let run = decrypt_to_stdout(&fx, &["--context", "object=backups/a.txt.coffer"]);
    assert_context_refused(&run);
    assert!(!run.stdout.windows(5).any(|w| w == b"other"));
}

#[test]
fn a_changed_context_fails_the_header_mac() {
    let fx = fixture();
    encrypt_in_context(&fx, "a.txt", &["host=db1"]);
    let mut bytes = fx.read("a.txt.coffer");
    // Block at 48: count (2), key length (2), "host", value length (2), "db1".
    assert_eq!(&bytes[52..56], b"host");
    bytes[58..61].copy_from_slice(b"db2");
    fx.write("a.txt.coffer", &bytes);
    let run = decrypt_to_stdout(&fx, &[]);
    run.expect(4);
    assert!(run.stdout.is_empty());
    // Asked for the new value, the context matches, and the MAC still refuses it.
    decrypt_to_stdout(&fx, &["--context", "host=db2"]).expect(4);
}

#[test]
fn invalid_pairs_are_usage_errors_and_write_nothing() {
    let fx = fixture();
    for pair in ["novalue", "=v", "k=", "coffer:header-nonce=x", "aws:x=1"] {
        let run = with_key(&fx, "encrypt", &["--context", pair, "a.txt"]);
        run.expect(2);
        assert!(!fx.p("a.txt.coffer").exists(), "{pair}");
    }
    let run = with_key(
        &fx,
        "encrypt",
        &["--context", "k=1", "--context", "k=2", "a.txt"],
    );
    run.expect(2);
    assert!(run.stderr.contains("twice"), "{}", run.stderr);
    assert!(!fx.p("a.txt.coffer").exists());
}

#[test]
fn inspect_shows_the_context() {
    let fx = fixture();
    encrypt_in_context(&fx, "a.txt", &["path=/srv/a", "host=db1"]);
    let text = fx.run(["inspect", "a.txt.coffer"]).expect(0).out();
    assert!(text.contains("context:         host=db1\n"), "{text}");
    assert!(text.contains("                   path=/srv/a\n"), "{text}");
    let json = &fx
        .run(["inspect", "--json", "a.txt.coffer"])
        .expect(0)
        .json_stdout()[0];
    assert_eq!(
        json["context"],
        serde_json::json!({"host": "db1", "path": "/srv/a"})
    );

    fx.write("b.txt", b"b");
    encrypt_in_context(&fx, "b.txt", &[]);
    let text = fx.run(["inspect", "b.txt.coffer"]).expect(0).out();
    assert!(text.contains("context:         none"), "{text}");
    let json = &fx
        .run(["inspect", "--json", "b.txt.coffer"])
        .expect(0)
        .json_stdout()[0];
    assert_eq!(json["context"], serde_json::json!({}));
}

#[test]
fn a_tree_gets_the_same_context_in_every_file() {
    let fx = fixture();
    fx.write("tree/x", b"x");
    fx.write("tree/sub/y", &data(20_000, 2));
    with_key(
        &fx,
        "encrypt",
        &["-q", "-r", "--context", "run=nightly", "tree"],
    )
    .expect(0);
    for file in ["tree/x.coffer", "tree/sub/y.coffer"] {
        let json = &fx.run(["inspect", "--json", file]).expect(0).json_stdout()[0];
        assert_eq!(json["context"]["run"], "nightly", "{file}");
    }
    let run = with_key(
        &fx,
        "verify",
        &["-r", "--json", "--context", "run=weekly", "tree"],
    );
    run.expect(3);
    let lines = json_lines(&run.out());
    let files = file_lines(&lines);
    assert_eq!(files.len(), 2);
    assert!(
        files.iter().all(|f| f["error_kind"] == "context_mismatch"),
        "{lines:?}"
    );
    with_key(&fx, "verify", &["-r", "--context", "run=nightly", "tree"]).expect(0);
}

#[test]
fn rekey_keeps_the_context_and_checks_it_first() {
    let fx = fixture();
    fx.run(["keygen", "--symmetric", "-o", "new.key"]).expect(0);
    encrypt_in_context(&fx, "a.txt", &["host=db1"]);
    let before = fx.read("a.txt.coffer");
    with_key(
        &fx,
        "rekey",
        &[
            "--context",
            "host=db2",
            "--add-key-file",
            "new.key",
            "a.txt.coffer",
        ],
    )
    .expect(3);
    assert_eq!(
        fx.read("a.txt.coffer"),
        before,
        "a refused rekey changed the file"
    );

    with_key(
        &fx,
        "rekey",
        &[
            "--context",
            "host=db1",
            "--add-key-file",
            "new.key",
            "a.txt.coffer",
        ],
    )
    .expect(0);
    with_key(
        &fx,
        "rekey",
        &["--key-file", "new.key", "--rotate", "a.txt.coffer"],
    )
    .expect(0);
    let json = &fx
        .run(["inspect", "--json", "a.txt.coffer"])
        .expect(0)
        .json_stdout()[0];
    assert_eq!(json["context"], serde_json::json!({"host": "db1"}));
    let run = fx.run([
        "decrypt",
        "--key-file",
        "new.key",
        "-c",
        "--context",
        "host=db1",
        "a.txt.coffer",
    ]);
    assert_eq!(run.expect(0).stdout, fx.read("a.txt"));
}

#[test]
fn decrypt_range_checks_the_context() {
    let fx = fixture();
    encrypt_in_context(&fx, "a.txt", &["host=db1"]);
    let run = with_key(
        &fx,
        "decrypt",
        &["--range", "5:10", "--context", "host=db2", "a.txt.coffer"],
    );
    assert_context_refused(&run);
    let run = with_key(
        &fx,
        "decrypt",
        &["--range", "5:10", "--context", "host=db1", "a.txt.coffer"],
    );
    assert_eq!(run.expect(0).stdout, fx.read("a.txt")[5..15]);
}
