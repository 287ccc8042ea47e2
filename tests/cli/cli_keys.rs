//! End-to-end tests of key files, several credentials per file and `coffer rekey`
//! (issue "Keys I"), through the real binary.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::common::*;

/// `coffer keygen --symmetric -o NAME`, asserting success.
fn keygen(fx: &Fx, name: &str) {
    fx.run(["keygen", "--symmetric", "-o", name]).expect(0);
}

/// The bytes after the header: the payload, which a header-only rekey must not touch.
fn payload(bytes: &[u8]) -> &[u8] {
    let header_len = usize::from(u16::from_be_bytes([bytes[10], bytes[11]]));
    &bytes[header_len..]
}

/// `encrypt --key-file KEY` plus the test passphrase (small KDF) of `file`, asserting
/// success.
fn encrypt_with_key_file_and_passphrase(fx: &Fx, key: &str, file: &str) {
    let pw = fx.passfile();
    let mut args = vec!["encrypt", "--key-file", key];
    args.extend(SMALL_KDF);
    args.extend(["--passphrase-file", pw.to_str().unwrap(), file]);
    fx.run(&args).expect(0);
}

/// No temporary output is left in the test directory.
#[track_caller]
fn assert_no_temp_files(fx: &Fx) {
    let left: Vec<_> = fx
        .snapshot()
        .into_keys()
        .filter(|p| p.to_string_lossy().contains(".coffer-tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

/// The slot types `inspect --json` lists.
fn slot_types(fx: &Fx, file: &str) -> Vec<String> {
    let r = fx.run(["inspect", "--json", file]);
    r.expect(0);
    let v = &r.json_stdout()[0];
    v["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["type"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn keygen_writes_a_private_key_file_once_and_never_overwrites() {
    let fx = Fx::new();
    keygen(&fx, "k.key");
    let meta = fs::metadata(fx.p("k.key")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = String::from_utf8(fx.read("k.key")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("# created: 20"), "{text}");
    let key_line = lines.last().unwrap();
    assert!(key_line.starts_with("COFFER-SYMMETRIC-KEY-1"), "{text}");
    assert_eq!(key_line.len(), 80, "{key_line}");
    let r = fx.run(["keygen", "--symmetric", "-o", "k.key"]);
    r.expect(1);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    assert_eq!(fx.read("k.key"), text.as_bytes(), "the key was overwritten");
    // Two keys are never the same; without -o the key goes to stdout.
    let r = fx.run(["keygen", "--symmetric"]);
    r.expect(0);
    assert!(r.out().contains("COFFER-SYMMETRIC-KEY-1"));
    assert!(!r.out().contains(*key_line));
    // keygen without a kind makes an identity (issue 9), not a key file.
    let r = fx.run(["keygen"]);
    r.expect(0);
    assert!(!r.out().contains("COFFER-SYMMETRIC-KEY-1"), "{}", r.out());
}

#[test]
fn key_files_alone_round_trip_with_no_key_derivation() {
    let fx = Fx::new();
    keygen(&fx, "k.key");
    let names: Vec<String> = (0..5).map(|i| format!("f{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        fx.write(name, &data(1000 * i + 7, i as u64));
    }
    let mut args = vec!["encrypt", "--json", "--key-file", "k.key"];
    args.extend(names.iter().map(String::as_str));
    let r = fx.run(&args);
    r.expect(0);
    let lines = r.json_stdout();
    assert_eq!(summary(&lines)["kdf_derivations"], 0, "{}", r.out());
    for name in &names {
        assert_eq!(slot_types(&fx, &format!("{name}.coffer")), ["key-file"]);
        fs::rename(fx.p(name), fx.p(format!("{name}.orig"))).unwrap();
    }
    let cts: Vec<String> = names.iter().map(|n| format!("{n}.coffer")).collect();
    let mut args = vec!["decrypt", "--json", "--key-file", "k.key"];
    args.extend(cts.iter().map(String::as_str));
    let r = fx.run(&args);
    r.expect(0);
    assert_eq!(summary(&r.json_stdout())["kdf_derivations"], 0);
    for name in &names {
        assert_eq!(fx.read(name), fx.read(format!("{name}.orig")), "{name}");
    }
}

#[test]
fn passphrase_and_two_key_files_each_open_the_file_alone() {
    let fx = Fx::new();
    keygen(&fx, "a.key");
    keygen(&fx, "b.key");
    keygen(&fx, "other.key");
    let plain = data(50_000, 3);
    fx.write("doc", &plain);
    let pw = fx.passfile();
    let mut args = vec!["encrypt", "--key-file", "a.key", "--key-file", "b.key"];
    args.extend(SMALL_KDF);
    args.extend(["--passphrase-file", pw.to_str().unwrap(), "doc"]);
    fx.run(&args).expect(0);
    assert_eq!(
        slot_types(&fx, "doc.coffer"),
        ["key-file", "key-file", "passphrase"]
    );
    for credential in [
        vec!["--key-file", "a.key"],
        vec!["--key-file", "b.key"],
        vec!["--passphrase-file", "pw"],
        vec!["--key-file", "other.key", "--key-file", "b.key"],
    ] {
        let mut args = vec!["decrypt", "-c"];
        args.extend(&credential);
        args.push("doc.coffer");
        let r = fx.run(&args);
        r.expect(0);
        assert_eq!(r.stdout, plain, "{credential:?}");
    }
    let r = fx.run(["verify", "--key-file", "other.key", "doc.coffer"]);
    r.expect(3);
    assert!(r.stderr.contains("no key slot opens"), "{}", r.stderr);
}

#[test]
fn a_key_file_is_tried_before_the_passphrase_so_no_derivation_runs() {
    let fx = Fx::new();
    keygen(&fx, "a.key");
    fx.write("doc", b"hello");
    encrypt_with_key_file_and_passphrase(&fx, "a.key", "doc");
    let r = fx.run([
        "verify",
        "--json",
        "--passphrase-file",
        "pw",
        "--key-file",
        "a.key",
        "doc.coffer",
    ]);
    r.expect(0);
    assert_eq!(summary(&r.json_stdout())["kdf_derivations"], 0);
}

#[test]
fn damaged_key_files_are_usage_errors_naming_the_file_never_wrong_key() {
    let fx = Fx::new();
    keygen(&fx, "k.key");
    fx.write("doc", b"data");
    fx.run(["encrypt", "--key-file", "k.key", "doc"]).expect(0);
    let text = String::from_utf8(fx.read("k.key")).unwrap();
    let line = text.lines().last().unwrap().to_string();
    let mut typo = line.clone().into_bytes();
    let at = typo.len() - 10;
    typo[at] = if typo[at] == b'Q' { b'P' } else { b'Q' };
    let cases = [
        ("typo.key", String::from_utf8(typo).unwrap(), "checksum"),
        ("short.key", line[..line.len() - 4].to_string(), "checksum"),
        (
            "age.key",
            "AGE-SECRET-KEY-1QQQQQQQQ".to_string(),
            "COFFER-SYMMETRIC-KEY-1",
        ),
        ("empty.key", "# nothing here\n".to_string(), "no key line"),
        ("two.key", format!("{line}\n{line}\n"), "more than one"),
    ];
    for (name, contents, says) in cases {
        let path = fx.write(name, contents.as_bytes());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let before = fx.snapshot();
        let r = fx.run(["decrypt", "-c", "--key-file", name, "doc.coffer"]);
        r.expect(2);
        assert!(r.stderr.contains(name), "{name}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{name}: {}", r.stderr);
        assert!(!r.stderr.contains(&line[25..]), "key material in stderr");
        assert_eq!(fx.snapshot(), before, "{name}: something was written");
        // Encrypt refuses it before writing anything, too.
        fx.run(["encrypt", "-f", "--key-file", name, "doc"])
            .expect(2);
    }
    fx.run(["decrypt", "--key-file", "missing.key", "doc.coffer"])
        .expect(1);
}

#[test]
fn a_key_file_readable_by_others_gets_a_warning() {
    let fx = Fx::new();
    keygen(&fx, "k.key");
    fx.write("doc", b"data");
    fs::set_permissions(fx.p("k.key"), fs::Permissions::from_mode(0o644)).unwrap();
    let r = fx.run(["encrypt", "--key-file", "k.key", "doc"]);
    r.expect(0);
    assert!(r.stderr.contains("readable by others"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

#[test]
fn rekey_adds_changes_and_removes_credentials_and_keeps_the_payload() {
    let fx = Fx::new();
    keygen(&fx, "a.key");
    keygen(&fx, "b.key");
    let plain = data(40_000, 9);
    fx.write("doc", &plain);
    fx.run(["encrypt", "--key-file", "a.key", "doc"]).expect(0);
    let original = fx.read("doc.coffer");
    let opens = |args: &[&str]| {
        let mut all = vec!["decrypt", "-c"];
        all.extend(args);
        all.push("doc.coffer");
        let r = fx.run(&all);
        if r.code() == 0 {
            assert_eq!(r.stdout, plain);
        }
        r.code()
    };

    // Add a key file: both open it, the payload is byte for byte the same.
    let r = fx.run([
        "rekey",
        "--json",
        "--key-file",
        "a.key",
        "--add-key-file",
        "b.key",
        "doc.coffer",
    ]);
    r.expect(0);
    let after_add = fx.read("doc.coffer");
    assert_eq!(payload(&after_add), payload(&original));
    assert_eq!(&after_add[16..48], &original[16..48], "header nonce kept");
    assert_eq!(opens(&["--key-file", "a.key"]), 0);
    assert_eq!(opens(&["--key-file", "b.key"]), 0);

    // Add a passphrase.
    fx.passfile_with("new", "first passphrase\n");
    let mut args = vec!["rekey", "--key-file", "b.key", "--add-passphrase"];
    args.extend(SMALL_KDF);
    args.extend(["--new-passphrase-file", "new", "doc.coffer"]);
    fx.run(&args).expect(0);
    assert_eq!(
        slot_types(&fx, "doc.coffer"),
        ["key-file", "key-file", "passphrase"]
    );
    assert_eq!(opens(&["--passphrase-file", "new"]), 0);

    // Change the passphrase: the old one no longer opens it, the new one does.
    fx.passfile_with("newer", "second passphrase\n");
    let mut args = vec!["rekey", "--passphrase-file", "new", "--change-passphrase"];
    args.extend(SMALL_KDF);
    args.extend(["--new-passphrase-file", "newer", "doc.coffer"]);
    fx.run(&args).expect(0);
    assert_eq!(opens(&["--passphrase-file", "new"]), 3);
    assert_eq!(opens(&["--passphrase-file", "newer"]), 0);
    assert_eq!(
        slot_types(&fx, "doc.coffer"),
        ["key-file", "key-file", "passphrase"]
    );

    // Remove a key file by itself, then the passphrase.
    fx.run(["rekey", "--remove-key-file", "a.key", "doc.coffer"])
        .expect(0);
    assert_eq!(opens(&["--key-file", "a.key"]), 3);
    fx.run([
        "rekey",
        "--passphrase-file",
        "newer",
        "--remove-passphrase",
        "doc.coffer",
    ])
    .expect(0);
    assert_eq!(opens(&["--passphrase-file", "newer"]), 3);
    assert_eq!(slot_types(&fx, "doc.coffer"), ["key-file"]);
    assert_eq!(opens(&["--key-file", "b.key"]), 0);
    assert_eq!(payload(&fx.read("doc.coffer")), payload(&original));

    // The last slot cannot go, and a refused rekey leaves the file as it was.
    let before = fx.read("doc.coffer");
    let r = fx.run([
        "rekey",
        "--key-file",
        "b.key",
        "--remove-slot",
        "0",
        "doc.coffer",
    ]);
    r.expect(2);
    assert!(r.stderr.contains("last slot"), "{}", r.stderr);
    let r = fx.run([
        "rekey",
        "--key-file",
        "b.key",
        "--remove-slot",
        "5",
        "doc.coffer",
    ]);
    r.expect(2);
    assert_eq!(fx.read("doc.coffer"), before);
    assert_no_temp_files(&fx);
}

#[test]
fn rekey_rotate_re_encrypts_under_a_new_file_key() {
    let fx = Fx::new();
    keygen(&fx, "a.key");
    keygen(&fx, "b.key");
    let plain = data(70_000, 4);
    fx.write("doc", &plain);
    fx.run([
        "encrypt",
        "--key-file",
        "a.key",
        "--key-file",
        "b.key",
        "doc",
    ])
    .expect(0);
    let original = fx.read("doc.coffer");
    // b.key's slot cannot be made again without b.key.
    let r = fx.run(["rekey", "--rotate", "--key-file", "a.key", "doc.coffer"]);
    r.expect(2);
    assert!(r.stderr.contains("--remove-slot 1"), "{}", r.stderr);
    assert_eq!(fx.read("doc.coffer"), original);
    fx.run([
        "rekey",
        "--rotate",
        "--key-file",
        "a.key",
        "--remove-slot",
        "1",
        "doc.coffer",
    ])
    .expect(0);
    let rotated = fx.read("doc.coffer");
    assert_ne!(payload(&rotated)[..64], payload(&original)[..64]);
    assert_eq!(
        rotated.len(),
        original.len() - 84,
        "one key-file slot fewer"
    );
    let r = fx.run(["decrypt", "-c", "--key-file", "a.key", "doc.coffer"]);
    r.expect(0);
    assert_eq!(r.stdout, plain);
    fx.run(["decrypt", "-c", "--key-file", "b.key", "doc.coffer"])
        .expect(3);
}

#[test]
fn rekey_refuses_a_tampered_file_and_leaves_it_as_it_is() {
    let fx = Fx::new();
    keygen(&fx, "a.key");
    keygen(&fx, "b.key");
    fx.write("doc", &data(30_000, 5));
    fx.run(["encrypt", "--key-file", "a.key", "doc"]).expect(0);
    let mut bytes = fx.read("doc.coffer");
    // The MAC: the slot opens, the header does not authenticate.
    let header_len = usize::from(u16::from_be_bytes([bytes[10], bytes[11]]));
    bytes[header_len - 1] ^= 1;
    fx.write("doc.coffer", &bytes);
    let r = fx.run([
        "rekey",
        "--key-file",
        "a.key",
        "--add-key-file",
        "b.key",
        "doc.coffer",
    ]);
    r.expect(4);
    assert_eq!(fx.read("doc.coffer"), bytes);
    // A damaged chunk: header-only rekey copies it as it is; --rotate refuses.
    let mut bytes = fx.read("doc.coffer");
    bytes[header_len - 1] ^= 1;
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fx.write("doc.coffer", &bytes);
    let r = fx.run(["rekey", "--rotate", "--key-file", "a.key", "doc.coffer"]);
    r.expect(4);
    assert_eq!(fx.read("doc.coffer"), bytes);
    assert_no_temp_files(&fx);
}

#[test]
fn rekey_on_a_full_disk_leaves_the_original_intact() {
    let fx = Fx::new();
    if !have_root_mount(&fx) {
        eprintln!("skipped: needs root to mount a small tmpfs");
        return;
    }
    let mnt = fx.p("mnt");
    keygen(&fx, "a.key");
    keygen(&fx, "b.key");
    // A file that fills most of a 1 MiB filesystem: the rewrite cannot fit beside it.
    fx.write("doc", &data(600_000, 6));
    fx.run([
        "encrypt",
        "--key-file",
        "a.key",
        "-o",
        "mnt/doc.coffer",
        "doc",
    ])
    .expect(0);
    let before = fs::read(mnt.join("doc.coffer")).unwrap();
    let r = fx.run([
        "rekey",
        "--key-file",
        "a.key",
        "--add-key-file",
        "b.key",
        "mnt/doc.coffer",
    ]);
    r.expect(1);
    assert!(r.stderr.contains("No space left"), "{}", r.stderr);
    assert_eq!(fs::read(mnt.join("doc.coffer")).unwrap(), before);
    let left: Vec<_> = fs::read_dir(&mnt).unwrap().collect();
    assert_eq!(left.len(), 1, "temporary files left: {left:?}");
    let _ = std::process::Command::new("umount").arg(&mnt).status();
}

/// Mounts a 1 MiB tmpfs at `mnt` when running as root; false elsewhere.
fn have_root_mount(fx: &Fx) -> bool {
    let mnt = fx.p("mnt");
    fs::create_dir_all(&mnt).unwrap();
    std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mnt)
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn rekey_is_interrupted_safely() {
    let fx = Fx::new();
    keygen(&fx, "a.key");
    keygen(&fx, "b.key");
    fx.write("big", &data(64 << 20, 8));
    fx.run(["encrypt", "--key-file", "a.key", "big"]).expect(0);
    let before = fx.read("big.coffer");
    // --rotate re-encrypts 64 MiB: a SIGINT soon after the start lands mid-run.
    let r = fx.bash(
        "\"$COFFER\" rekey --rotate --key-file a.key --add-key-file b.key big.coffer & pid=$!; \
         sleep 0.15; kill -INT $pid; wait $pid; echo \"exit=$?\"",
    );
    let out = r.out();
    let code = out.trim().rsplit('=').next().unwrap().to_string();
    if code == "0" {
        eprintln!("the rekey finished before the signal; nothing to check");
        return;
    }
    assert_eq!(code, "130", "{}", r.stderr);
    // Either the signal came first and the file is as it was, or the rename had already
    // happened (it cannot be split) and the file is the complete new one.
    let now = fx.read("big.coffer");
    if now != before {
        fx.run(["verify", "--key-file", "b.key", "big.coffer"])
            .expect(0);
    }
    assert_no_temp_files(&fx);
}

#[test]
fn inspect_numbers_slots_and_shows_their_types() {
    let fx = Fx::new();
    keygen(&fx, "a.key");
    fx.write("doc", b"x");
    encrypt_with_key_file_and_passphrase(&fx, "a.key", "doc");
    let r = fx.run(["inspect", "doc.coffer"]);
    r.expect(0);
    let text = r.out();
    assert!(text.contains("slot 0:          key-file"), "{text}");
    assert!(
        text.contains("slot 1:          passphrase (argon2id, 19 MiB"),
        "{text}"
    );
    let j = &fx.run(["inspect", "--json", "doc.coffer"]).json_stdout()[0];
    assert_eq!(j["slots"][1]["index"], 1);
    assert_eq!(j["slots"][1]["memory_mib"], 19);
}

/// A file whose header has these passphrase slots (junk check values and keys), written
/// through the library so that the bytes are a well-formed header.
fn hostile_file(fx: &Fx, name: &str, params: &[(u32, u32, u32)]) {
    use coffer::internals::format::{Header, RawSlot};
    let slots = params
        .iter()
        .enumerate()
        .map(|(i, &(memory_kib, passes, lanes))| {
            let mut body = Vec::new();
            for word in [memory_kib, passes, lanes] {
                body.extend_from_slice(&word.to_be_bytes());
            }
            body.extend_from_slice(&[i as u8; 16]);
            body.extend_from_slice(&[0x55; 80]);
            RawSlot { slot_type: 1, body }
        })
        .collect();
    let header = Header::encode([7; 32], slots, |_| [0; 32]).unwrap();
    let mut bytes = header.as_bytes().to_vec();
    bytes.extend_from_slice(&[0; 72]);
    fx.write(name, &bytes);
}

#[test]
fn sixteen_slots_at_the_caps_are_refused_in_well_under_a_second_naming_the_option() {
    let fx = Fx::new();
    hostile_file(&fx, "h.coffer", &[(1 << 20, 16, 16); 16]);
    fx.passfile();
    let r = fx.run(["decrypt", "-c", "--passphrase-file", "pw", "h.coffer"]);
    r.expect(5);
    assert!(
        r.elapsed < std::time::Duration::from_secs(5),
        "{:?}",
        r.elapsed
    );
    assert!(r.stderr.contains("budget of 8192"), "{}", r.stderr);
    assert!(r.stderr.contains("--max-kdf-work"), "{}", r.stderr);
}

#[test]
fn memory_the_machine_cannot_give_is_named_as_such_not_as_a_bad_header() {
    let fx = Fx::new();
    hostile_file(&fx, "big.coffer", &[(1 << 20, 1, 1)]);
    fx.passfile();
    let r = fx.bash(
        "ulimit -v 524288; \"$COFFER\" verify --passphrase-file pw big.coffer; echo \"exit=$?\"",
    );
    let out = r.out();
    assert!(out.trim().ends_with("exit=1"), "{out}\n{}", r.stderr);
    assert!(
        r.stderr.contains("could not provide 1024 MiB"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("invalid header"), "{}", r.stderr);
}

#[test]
fn max_kdf_memory_above_the_hard_cap_is_a_usage_error_not_a_silent_clamp() {
    let fx = Fx::new();
    fx.write("x.coffer", b"");
    let r = fx.run(["verify", "--max-kdf-memory", "65537", "x.coffer"]);
    r.expect(2);
    assert!(r.stderr.contains("65537"), "{}", r.stderr);
    // The largest accepted value parses (the file then fails for its own reasons).
    fx.run([
        "verify",
        "--max-kdf-memory",
        "65536",
        "--key-file",
        "none",
        "x.coffer",
    ])
    .expect(1);
}

#[test]
fn inspect_shows_memory_that_is_not_whole_mib_exactly() {
    let fx = Fx::new();
    let vector =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/ok_size_0.coffer");
    let r = fx.run([std::ffi::OsStr::new("inspect"), vector.as_os_str()]);
    r.expect(0);
    assert!(
        r.out().contains("(argon2id, 64 KiB, 1 passes, 1 lanes)"),
        "{}",
        r.out()
    );
}
