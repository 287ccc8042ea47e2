//! End-to-end tests of public-key recipients and identities (issue "Keys II") through
//! the real binary: keygen, encrypt to recipients with no secret, decrypt with identity
//! files, the post-quantum/classic mixing rule, rekey, 32 hybrid recipients in one file,
//! keys made by the real age-keygen, and the least-privilege example script.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crate::common::*;

/// `coffer keygen -o NAME` (with `--classic` if asked), asserting success; returns the
/// recipient printed on stdout.
fn keygen(fx: &Fx, name: &str, classic: bool) -> String {
    let mut args = vec!["keygen", "-o", name];
    if classic {
        args.push("--classic");
    }
    let r = fx.run(&args);
    r.expect(0);
    let out = r.out();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "keygen -o prints the recipient alone: {out:?}"
    );
    lines[0].to_string()
}

/// The secret line of an identity file.
fn secret_line(fx: &Fx, name: &str) -> String {
    String::from_utf8(fx.read(name))
        .unwrap()
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .expect("an identity line")
        .to_string()
}

/// The slot types `inspect --json` lists.
fn slot_types(fx: &Fx, file: &str) -> Vec<String> {
    let r = fx.run(["inspect", "--json", file]);
    r.expect(0);
    r.json_stdout()[0]["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["type"].as_str().unwrap().to_string())
        .collect()
}

/// `decrypt -c -i ID FILE`.
fn decrypt_with(fx: &Fx, identity: &str, file: &str) -> Run {
    fx.run(["decrypt", "-q", "-c", "-i", identity, file])
}

/// Runs coffer with ARGS in its own session (no controlling terminal), stdin from
/// /dev/null and an environment holding only PATH: no passphrase can come from anywhere.
fn run_detached(fx: &Fx, args: &[&str]) -> Run {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    fx.bash(&format!(
        "env -i PATH=\"$PATH\" setsid -w \"$COFFER\" {} </dev/null",
        quoted.join(" ")
    ))
}

/// Recipient prefixes, as the library writes them.
const HYBRID_PREFIX: &str = "coffer1pq1";

#[test]
fn keygen_makes_a_post_quantum_identity_by_default_mode_0600_never_overwritten() {
    let fx = Fx::new();
    let recipient = keygen(&fx, "id.txt", false);
    assert!(recipient.starts_with(HYBRID_PREFIX), "{recipient}");
    assert_eq!(mode(&fx.p("id.txt")), 0o600);
    let text = String::from_utf8(fx.read("id.txt")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("# created: 20"), "{text}");
    assert_eq!(lines[1], format!("# recipient: {recipient}"));
    assert_eq!(lines.len(), 3, "{text}");
    assert!(!lines[2].starts_with('#') && !lines[2].contains(&recipient));
    // Never overwritten, never replaced.
    let r = fx.run(["keygen", "-o", "id.txt"]);
    r.expect(1);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    assert_eq!(fx.read("id.txt"), text.as_bytes());
    // -y gives the same recipient back, from a path or from stdin.
    let r = fx.run(["keygen", "-y", "id.txt"]);
    r.expect(0);
    assert_eq!(r.out(), format!("{recipient}\n"));
    let r = fx.run_stdin(["keygen", "-y", "-"], text.as_bytes());
    r.expect(0);
    assert_eq!(r.out(), format!("{recipient}\n"));
    // Two identities are never the same.
    assert_ne!(keygen(&fx, "id2.txt", false), recipient);
}

#[test]
fn keygen_classic_makes_an_x25519_identity() {
    let fx = Fx::new();
    let recipient = keygen(&fx, "classic.txt", true);
    assert!(!recipient.starts_with(HYBRID_PREFIX), "{recipient}");
    let hybrid = keygen(&fx, "pq.txt", false);
    assert!(
        recipient.len() < 100 && hybrid.len() > 1000,
        "X25519 recipients are short, hybrid ones carry an ML-KEM key: {} vs {}",
        recipient.len(),
        hybrid.len()
    );
    let r = fx.run(["keygen", "-y", "classic.txt"]);
    r.expect(0);
    assert_eq!(r.out().trim_end(), recipient);
    // --classic and --symmetric are different kinds: refused together.
    fx.run(["keygen", "--classic", "--symmetric"]).expect(2);
}

#[test]
fn keygen_without_output_writes_the_identity_to_stdout_as_age_keygen_does() {
    let fx = Fx::new();
    let r = fx.run(["keygen"]);
    r.expect(0);
    let out = r.out();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("# created: "), "{out}");
    let recipient = lines[1].strip_prefix("# recipient: ").expect(&out);
    assert!(recipient.starts_with(HYBRID_PREFIX));
    // stdout is a pipe here: the public key goes to stderr as well, as age-keygen does.
    assert!(
        r.stderr.contains(&format!("Public key: {recipient}")),
        "{}",
        r.stderr
    );
    // The identity on stdout works: save it and -y it.
    fx.passfile_with("saved.txt", &out);
    let y = fx.run(["keygen", "-y", "saved.txt"]);
    y.expect(0);
    assert_eq!(y.out().trim_end(), recipient);
    // --symmetric still makes key files.
    let r = fx.run(["keygen", "--symmetric"]);
    r.expect(0);
    assert!(r.out().contains("COFFER-SYMMETRIC-KEY-1"), "{}", r.out());
    // A key file has no recipient.
    fx.run(["keygen", "--symmetric", "-o", "k.key"]).expect(0);
    let r = fx.run(["keygen", "-y", "k.key"]);
    r.expect(2);
    assert!(r.stderr.contains("no public recipient"), "{}", r.stderr);
}

#[test]
fn encrypt_to_a_recipient_needs_no_secret_and_no_terminal_and_the_identity_opens_it() {
    let fx = Fx::new();
    let recipient = keygen(&fx, "id.txt", false);
    let plain = data(100_000, 1);
    fx.write("doc", &plain);
    let r = run_detached(
        &fx,
        &["encrypt", "--json", "--recipient", &recipient, "doc"],
    );
    r.expect(0);
    let lines = json_objects_in(&r.out());
    assert_eq!(summary(&lines)["kdf_derivations"], 0, "{}", r.out());
    assert_eq!(slot_types(&fx, "doc.coffer"), ["hybrid"]);
    // The identity opens it with no derivation and no prompt, detached as well.
    let r = run_detached(&fx, &["decrypt", "-c", "-i", "id.txt", "doc.coffer"]);
    r.expect(0);
    assert_eq!(r.stdout, plain);
    let r = fx.run(["verify", "--json", "-i", "id.txt", "doc.coffer"]);
    r.expect(0);
    assert_eq!(summary(&r.json_stdout())["kdf_derivations"], 0);
    let r = fx.run([
        "decrypt",
        "-i",
        "id.txt",
        "--range",
        "70000:20",
        "doc.coffer",
    ]);
    r.expect(0);
    assert_eq!(r.stdout, plain[70_000..70_020]);
}

#[test]
fn a_wrong_identity_is_exit_3_and_writes_nothing() {
    let fx = Fx::new();
    let recipient = keygen(&fx, "right.txt", false);
    keygen(&fx, "wrong.txt", false);
    keygen(&fx, "wrong-classic.txt", true);
    fx.write("doc", b"secret data");
    fx.run(["encrypt", "--recipient", &recipient, "doc"])
        .expect(0);
    fs::remove_file(fx.p("doc")).unwrap();
    for wrong in ["wrong.txt", "wrong-classic.txt"] {
        let before = fx.snapshot();
        let r = fx.run(["decrypt", "-i", wrong, "doc.coffer"]);
        r.expect(3);
        assert!(r.stderr.contains("no key slot opens"), "{}", r.stderr);
        assert_eq!(fx.snapshot(), before, "{wrong}: something was written");
    }
    // A passphrase cannot open a public-key slot: the hint names -i.
    let r = fx.decrypt(["-c", "doc.coffer"]);
    r.expect(3);
    assert!(
        r.stderr.contains("1 public-key slot(s)") && r.stderr.contains("-i FILE"),
        "{}",
        r.stderr
    );
    // Both identity files at once: the right one opens it.
    fx.run([
        "decrypt",
        "-i",
        "wrong.txt",
        "-i",
        "right.txt",
        "doc.coffer",
    ])
    .expect(0);
    assert_eq!(fx.read("doc"), b"secret data");
}

#[test]
fn one_identity_file_may_hold_several_identities_and_a_key_file_works_with_i() {
    let fx = Fx::new();
    keygen(&fx, "a.txt", false);
    let b = keygen(&fx, "b.txt", true);
    fx.run(["keygen", "--symmetric", "-o", "k.key"]).expect(0);
    let both = format!(
        "# two identities\n{}\n\n{}\n",
        secret_line(&fx, "a.txt"),
        secret_line(&fx, "b.txt")
    );
    fx.passfile_with("both.txt", &both);
    fx.write("doc", b"hello");
    fx.run(["encrypt", "--recipient", &b, "doc"]).expect(0);
    let r = decrypt_with(&fx, "both.txt", "doc.coffer");
    r.expect(0);
    assert_eq!(r.stdout, b"hello");
    // -y lists every recipient of the file, in order.
    let r = fx.run(["keygen", "-y", "both.txt"]);
    r.expect(0);
    assert_eq!(r.out().lines().nth(1), Some(b.as_str()));
    // A coffer key file is accepted by -i.
    fx.run(["encrypt", "-f", "--key-file", "k.key", "doc"])
        .expect(0);
    let r = decrypt_with(&fx, "k.key", "doc.coffer");
    r.expect(0);
    assert_eq!(r.stdout, b"hello");
}

#[test]
fn mixing_post_quantum_and_classic_recipients_is_refused_unless_allowed() {
    let fx = Fx::new();
    let pq = keygen(&fx, "pq.txt", false);
    let classic = keygen(&fx, "classic.txt", true);
    fx.write("doc", b"mixed");
    let before = fx.snapshot();
    let r = fx.run([
        "encrypt",
        "--recipient",
        &pq,
        "--recipient",
        &classic,
        "doc",
    ]);
    r.expect(2);
    let first = r.stderr.lines().next().unwrap();
    assert!(
        first.contains("post-quantum") && first.contains("classic"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint:") && r.stderr.contains("--allow-classic-mix"));
    assert_eq!(fx.snapshot(), before, "a refused encrypt wrote something");
    // The same through a recipients file.
    fx.write("team.txt", format!("{pq}\n{classic}\n").as_bytes());
    fx.run(["encrypt", "-R", "team.txt", "doc"]).expect(2);
    // Passphrases and key files are symmetric: they mix with either kind.
    fx.run(["keygen", "--symmetric", "-o", "k.key"]).expect(0);
    fx.run([
        "encrypt",
        "-c",
        "--key-file",
        "k.key",
        "--recipient",
        &pq,
        "doc",
    ])
    .expect(0);
    // With the flag, both identities open it.
    fx.run(["encrypt", "--allow-classic-mix", "-R", "team.txt", "doc"])
        .expect(0);
    assert_eq!(slot_types(&fx, "doc.coffer"), ["hybrid", "x25519"]);
    for id in ["pq.txt", "classic.txt"] {
        let r = decrypt_with(&fx, id, "doc.coffer");
        r.expect(0);
        assert_eq!(r.stdout, b"mixed", "{id}");
    }
    // --help says what age does.
    let help = fx.run(["encrypt", "--help"]).out();
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(help.contains("age 1.3 refuses this mix"), "{help}");
}

#[test]
fn a_recipients_file_takes_comments_blank_lines_and_crlf() {
    let fx = Fx::new();
    let a = keygen(&fx, "a.txt", false);
    let b = keygen(&fx, "b.txt", false);
    fx.write(
        "team.txt",
        format!("# the restore team\r\n\r\n{a}\r\n   \n# bob\n{b}\n").as_bytes(),
    );
    let other = keygen(&fx, "c.txt", false);
    fx.write("doc", &data(40_000, 2));
    fx.run(["encrypt", "-R", "team.txt", "--recipient", &other, "doc"])
        .expect(0);
    assert_eq!(slot_types(&fx, "doc.coffer").len(), 3);
    for id in ["a.txt", "b.txt", "c.txt"] {
        let r = decrypt_with(&fx, id, "doc.coffer");
        r.expect(0);
        assert_eq!(r.stdout, data(40_000, 2), "{id}");
    }
}

#[test]
fn bad_recipients_are_usage_errors_naming_the_argument_or_file_and_line() {
    let fx = Fx::new();
    let good = keygen(&fx, "id.txt", false);
    let secret = secret_line(&fx, "id.txt");
    fx.write("doc", b"x");
    let mut typo = good.clone().into_bytes();
    let at = typo.len() - 5;
    typo[at] = if typo[at] == b'q' { b'p' } else { b'q' };
    let typo = String::from_utf8(typo).unwrap();
    for (value, says) in [
        ("not-a-recipient", "--recipient \"not-a-recipient\""),
        (typo.as_str(), "--recipient \"coffer1pq1"),
        (secret.as_str(), "secret key"),
    ] {
        let r = fx.run(["encrypt", "--recipient", value, "doc"]);
        r.expect(2);
        assert!(r.stderr.contains(says), "{value:.30}: {}", r.stderr);
        assert!(
            !r.stderr.contains(&secret[20..]),
            "a secret in stderr: {}",
            r.stderr
        );
    }
    // A recipients file: the file and the line, and nothing of a secret line.
    for (contents, line) in [
        (format!("# ok\n{good}\ngarbage\n"), 3),
        (format!("{good}\n\n{secret}\n"), 3),
        (format!("{}\n", &good[..good.len() - 1]), 1),
    ] {
        fx.write("team.txt", contents.as_bytes());
        let r = fx.run(["encrypt", "-R", "team.txt", "doc"]);
        r.expect(2);
        let first = r.stderr.lines().next().unwrap();
        assert!(
            first.contains(&format!("team.txt, line {line}")),
            "{}",
            r.stderr
        );
        assert!(!r.stderr.contains(&secret[20..]), "{}", r.stderr);
    }
    fx.write("empty.txt", b"# nobody\n");
    fx.run(["encrypt", "-R", "empty.txt", "doc"]).expect(2);
    fx.run(["encrypt", "-R", "missing.txt", "doc"]).expect(1);
    // Stdin carries the data; recipients from it would leave nothing to encrypt.
    let r = fx.run_stdin(["encrypt", "-R", "-", "-c"], good.as_bytes());
    r.expect(2);
    assert!(r.stdout.is_empty());
    assert!(
        !fx.p("doc.coffer").exists(),
        "a refused encrypt wrote an output"
    );
    // age's -r RECIPIENT is --recursive here: a clear usage error, not "no such file".
    let r = fx.run(["encrypt", "-r", &good]);
    r.expect(2);
    assert!(r.stderr.contains("--recipient"), "{}", r.stderr);
}

#[test]
fn damaged_identity_files_are_usage_errors_naming_the_line_never_wrong_key() {
    let fx = Fx::new();
    let recipient = keygen(&fx, "id.txt", false);
    let secret = secret_line(&fx, "id.txt");
    fx.write("doc", b"x");
    fx.run(["encrypt", "--recipient", &recipient, "doc"])
        .expect(0);
    let mut typo = secret.clone().into_bytes();
    let at = typo.len() - 7;
    typo[at] = if typo[at] == b'Q' { b'P' } else { b'Q' };
    let typo = String::from_utf8(typo).unwrap();
    for (contents, line) in [
        (format!("# created\n{typo}\n"), 2),
        (format!("{secret}\n{}\n", &secret[..secret.len() - 3]), 2),
        (format!("\n\n{recipient}\n"), 3),
        ("hello world\n".to_string(), 1),
    ] {
        fx.passfile_with("bad.txt", &contents);
        let r = fx.run(["decrypt", "-c", "-i", "bad.txt", "doc.coffer"]);
        r.expect(2);
        let first = r.stderr.lines().next().unwrap();
        assert!(
            first.contains(&format!("bad.txt, line {line}")),
            "{}",
            r.stderr
        );
        assert!(!r.stderr.contains("no key slot"), "{}", r.stderr);
        assert!(
            !r.stderr.contains(&secret[25..]),
            "secret in stderr: {}",
            r.stderr
        );
        assert!(
            !r.stderr.contains(&typo[25..]),
            "secret in stderr: {}",
            r.stderr
        );
        assert!(r.stdout.is_empty());
    }
    fx.passfile_with("none.txt", "# nothing\n");
    fx.run(["decrypt", "-c", "-i", "none.txt", "doc.coffer"])
        .expect(2);
    fx.run(["decrypt", "-c", "-i", "missing.txt", "doc.coffer"])
        .expect(1);
}

#[test]
fn an_identity_file_readable_by_others_gets_a_warning() {
    let fx = Fx::new();
    let recipient = keygen(&fx, "id.txt", false);
    fx.write("doc", b"x");
    fx.run(["encrypt", "--recipient", &recipient, "doc"])
        .expect(0);
    let r = decrypt_with(&fx, "id.txt", "doc.coffer");
    r.expect(0);
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
    fs::set_permissions(fx.p("id.txt"), fs::Permissions::from_mode(0o644)).unwrap();
    let r = decrypt_with(&fx, "id.txt", "doc.coffer");
    r.expect(0);
    let warnings: Vec<&str> = r.stderr.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{}", r.stderr);
    assert!(
        warnings[0].contains("id.txt") && warnings[0].contains("644"),
        "{}",
        r.stderr
    );
}

#[test]
fn delete_source_with_public_recipients_alone_reads_each_output_back_first() {
    let fx = Fx::new();
    let recipient = keygen(&fx, "id.txt", false);
    // A tree of several files, so that files are sealed on several threads at once.
    let names: Vec<String> = (0..6).map(|i| format!("outbox/f{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        fx.write(name, &data(3000 * i + 1, i as u64));
    }
    let r = run_detached(
        &fx,
        &[
            "encrypt",
            "-q",
            "-r",
            "--delete-source",
            "--recipient",
            &recipient,
            "outbox",
        ],
    );
    r.expect(0);
    for (i, name) in names.iter().enumerate() {
        assert!(!fx.p(name).exists(), "{name} was not removed");
        let r = decrypt_with(&fx, "id.txt", &format!("{name}.coffer"));
        r.expect(0);
        assert_eq!(r.stdout, data(3000 * i + 1, i as u64), "{name}");
    }
    // With a key file as well, the output is read back through the key file.
    fx.run(["keygen", "--symmetric", "-o", "k.key"]).expect(0);
    fx.write("doc", b"keep me");
    fx.run([
        "encrypt",
        "--delete-source",
        "--key-file",
        "k.key",
        "--recipient",
        &recipient,
        "doc",
    ])
    .expect(0);
    assert!(!fx.p("doc").exists());
    let r = decrypt_with(&fx, "id.txt", "doc.coffer");
    r.expect(0);
    assert_eq!(r.stdout, b"keep me");
}

#[test]
fn rekey_adds_and_removes_recipients() {
    let fx = Fx::new();
    fx.run(["keygen", "--symmetric", "-o", "k.key"]).expect(0);
    let alice = keygen(&fx, "alice.txt", false);
    let bob = keygen(&fx, "bob.txt", false);
    fx.write("doc", &data(70_000, 5));
    fx.run(["encrypt", "--key-file", "k.key", "doc"]).expect(0);
    decrypt_with(&fx, "alice.txt", "doc.coffer").expect(3);
    // Add two recipients (one by file), opening with the key file.
    fx.write("bob.pub", format!("# bob\n{bob}\n").as_bytes());
    fx.run([
        "rekey",
        "--key-file",
        "k.key",
        "--add-recipient",
        &alice,
        "--add-recipients-file",
        "bob.pub",
        "doc.coffer",
    ])
    .expect(0);
    assert_eq!(
        slot_types(&fx, "doc.coffer"),
        ["key-file", "hybrid", "hybrid"]
    );
    for id in ["alice.txt", "bob.txt"] {
        let r = decrypt_with(&fx, id, "doc.coffer");
        r.expect(0);
        assert_eq!(r.stdout, data(70_000, 5), "{id}");
    }
    // A recipient alone cannot find its slot: the hint says why and what to do.
    let before = fx.read("doc.coffer");
    let r = fx.run([
        "rekey",
        "--key-file",
        "k.key",
        "--remove-recipient",
        &bob,
        "doc.coffer",
    ]);
    r.expect(2);
    assert!(
        r.stderr.contains("-i") && r.stderr.contains("--remove-slot"),
        "{}",
        r.stderr
    );
    assert_eq!(fx.read("doc.coffer"), before);
    // With bob's identity it goes; alice and the key file still open it.
    fx.run([
        "rekey",
        "-i",
        "bob.txt",
        "--remove-recipient",
        &bob,
        "doc.coffer",
    ])
    .expect(0);
    assert_eq!(slot_types(&fx, "doc.coffer").len(), 2);
    decrypt_with(&fx, "bob.txt", "doc.coffer").expect(3);
    decrypt_with(&fx, "alice.txt", "doc.coffer").expect(0);
    // Removing it again: bob's identity opens no slot any more (exit 3, file untouched).
    let before = fx.read("doc.coffer");
    fx.run([
        "rekey",
        "-i",
        "bob.txt",
        "--remove-recipient",
        &bob,
        "doc.coffer",
    ])
    .expect(3);
    assert_eq!(fx.read("doc.coffer"), before);
    // --rotate makes alice's slot again for her recipient, under a new file key.
    fx.run([
        "rekey",
        "--rotate",
        "-i",
        "alice.txt",
        "--remove-key-file",
        "k.key",
        "doc.coffer",
    ])
    .expect(0);
    assert_eq!(slot_types(&fx, "doc.coffer"), ["hybrid"]);
    let r = decrypt_with(&fx, "alice.txt", "doc.coffer");
    r.expect(0);
    assert_eq!(r.stdout, data(70_000, 5));
    fx.run(["decrypt", "-c", "--key-file", "k.key", "doc.coffer"])
        .expect(3);
}

#[test]
fn rekey_keeps_the_mixing_rule() {
    let fx = Fx::new();
    let pq = keygen(&fx, "pq.txt", false);
    let classic = keygen(&fx, "classic.txt", true);
    fx.write("doc", b"x");
    fx.run(["encrypt", "--recipient", &pq, "doc"]).expect(0);
    let before = fx.read("doc.coffer");
    let r = fx.run([
        "rekey",
        "-i",
        "pq.txt",
        "--add-recipient",
        &classic,
        "doc.coffer",
    ]);
    r.expect(2);
    assert!(r.stderr.contains("--allow-classic-mix"), "{}", r.stderr);
    assert_eq!(fx.read("doc.coffer"), before);
    fx.run([
        "rekey",
        "-i",
        "pq.txt",
        "--allow-classic-mix",
        "--add-recipient",
        &classic,
        "doc.coffer",
    ])
    .expect(0);
    decrypt_with(&fx, "classic.txt", "doc.coffer").expect(0);
}

#[test]
fn thirty_two_hybrid_recipients_each_open_the_file_and_a_33rd_does_not() {
    let fx = Fx::new();
    let mut team = String::from("# 32 restore operators\n");
    for i in 0..32 {
        team.push_str(&keygen(&fx, &format!("id{i}.txt"), false));
        team.push('\n');
    }
    keygen(&fx, "outsider.txt", false);
    fx.write("team.txt", team.as_bytes());
    let plain = data(200_000, 32);
    fx.write("doc", &plain);
    run_detached(&fx, &["encrypt", "-q", "-R", "team.txt", "doc"]).expect(0);
    assert_eq!(slot_types(&fx, "doc.coffer"), vec!["hybrid"; 32]);
    for i in 0..32 {
        let r = decrypt_with(&fx, &format!("id{i}.txt"), "doc.coffer");
        r.expect(0);
        assert!(
            r.stdout == plain,
            "identity {i} did not restore the plaintext"
        );
    }
    let r = decrypt_with(&fx, "outsider.txt", "doc.coffer");
    r.expect(3);
    assert!(r.stdout.is_empty());
}

#[test]
fn keys_made_by_age_keygen_round_trip() {
    if !have("age-keygen") {
        eprintln!("SKIPPED: age-keygen is not installed (Debian package `age`)");
        return;
    }
    let fx = Fx::new();
    let made = std::process::Command::new("age-keygen")
        .arg("-o")
        .arg(fx.p("age-id.txt"))
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let text = String::from_utf8(fx.read("age-id.txt")).unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("age-keygen writes `# public key:`")
        .to_string();
    assert!(recipient.starts_with("age1"), "{recipient}");
    fx.write("doc", &data(30_000, 7));
    // age's recipient on encrypt, age-keygen's identity file on decrypt.
    run_detached(&fx, &["encrypt", "--recipient", &recipient, "doc"]).expect(0);
    let r = decrypt_with(&fx, "age-id.txt", "doc.coffer");
    r.expect(0);
    assert_eq!(r.stdout, data(30_000, 7));
    // The same through `age-keygen -y` and -R.
    let y = std::process::Command::new("age-keygen")
        .arg("-y")
        .arg(fx.p("age-id.txt"))
        .output()
        .unwrap();
    assert!(y.status.success());
    fx.write("age.pub", &y.stdout);
    fx.run(["encrypt", "-f", "-R", "age.pub", "doc"]).expect(0);
    decrypt_with(&fx, "age-id.txt", "doc.coffer").expect(0);
    // coffer reads the identity's recipient as age-keygen does; it prints it in coffer's
    // encoding (coffer1...), which names the same key.
    let r = fx.run(["keygen", "-y", "age-id.txt"]);
    r.expect(0);
    let coffer_spelling = r.out().trim_end().to_string();
    assert!(coffer_spelling.starts_with("coffer1"), "{coffer_spelling}");
    fx.run(["encrypt", "-f", "--recipient", &coffer_spelling, "doc"])
        .expect(0);
    decrypt_with(&fx, "age-id.txt", "doc.coffer").expect(0);
    // Another age identity does not open it.
    std::process::Command::new("age-keygen")
        .arg("-o")
        .arg(fx.p("other.txt"))
        .output()
        .unwrap();
    decrypt_with(&fx, "other.txt", "doc.coffer").expect(3);
}

/// docs/examples/least_privilege.sh.
fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("docs/examples")
        .join(name)
}

#[test]
fn the_least_privilege_example_holds() {
    let fx = Fx::new();
    let script = example("least_privilege.sh");
    let r = fx.bash(&format!("bash '{}' work", script.display()));
    r.expect(0);
    assert!(r.stderr.contains("least privilege holds"), "{}", r.stderr);
    // The backup host was refused with exit 3 for its made-up credentials.
    assert!(
        r.stderr
            .contains("3 with its own identity, 3 with a guessed passphrase"),
        "{}",
        r.stderr
    );
    assert!(!fx.p("work/backup-host/identity.txt").exists());
    assert!(fx.p("work/restore-machine/out/db.dump").is_file());
}

#[test]
fn with_no_credential_and_no_terminal_the_hint_names_the_keys_that_need_no_secret() {
    let fx = Fx::new();
    fx.write("doc", b"data");
    let r = run_detached(&fx, &["encrypt", "doc"]);
    r.expect(2);
    assert!(r.stderr.contains("no passphrase source"), "{}", r.stderr);
    assert!(r.stderr.contains("--recipient R, -R FILE"), "{}", r.stderr);
    assert!(!fx.p("doc.coffer").exists());
    let recipient = keygen(&fx, "id.txt", true);
    fx.run(["encrypt", "-q", "--recipient", &recipient, "doc"])
        .expect(0);
    let r = run_detached(&fx, &["decrypt", "-c", "doc.coffer"]);
    r.expect(2);
    assert!(r.stderr.contains("give -i FILE"), "{}", r.stderr);
}
