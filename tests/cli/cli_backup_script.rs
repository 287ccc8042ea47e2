//! Runs docs/examples/backup.sh and restore.sh end to end, with the upload and download
//! commands replaced by `cp` into a local "bucket" directory.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::common::*;

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/examples")
        .join(name)
}

/// Runs a script with the small KDF, `cp` as the transfer command, and `coffer` on PATH
/// through $COFFER.
fn run_script(fx: &Fx, name: &str, args: &[&str], extra_env: &[(&str, &str)]) -> Run {
    let mut cmd = assert_cmd::Command::new("bash");
    cmd.current_dir(fx.dir())
        .arg(script(name))
        .args(args)
        .env("COFFER", bin())
        .env("PASSPHRASE_FILE", fx.p("secret/pw"))
        .env("UPLOAD_CMD", "cp")
        .env("DOWNLOAD_CMD", "cp")
        .env("KDF_ARGS", SMALL_KDF.join(" "))
        .env("STAGING_DIR", fx.p("staging"))
        .env("TMPDIR", fx.p("staging"))
        .write_stdin(Vec::new());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

fn setup() -> (Fx, Vec<(PathBuf, Vec<u8>)>) {
    let fx = Fx::new();
    fs::create_dir_all(fx.p("staging")).unwrap();
    fs::create_dir_all(fx.p("secret")).unwrap();
    fx.passfile_with("secret/pw", &format!("{PASS}\n"));
    let files = vec![
        (PathBuf::from("notes.txt"), data(1234, 1)),
        (PathBuf::from("with space.txt"), data(40_000, 2)),
        (PathBuf::from("sub/nested/deep.bin"), data(100_000, 3)),
        (PathBuf::from("sub/empty"), Vec::new()),
        (
            PathBuf::from(format!("sub/{}.dat", "n".repeat(120))),
            data(20_000, 4),
        ),
        (PathBuf::from("z-last.bin"), data(CHUNK, 5)),
    ];
    for (rel, bytes) in &files {
        fx.write(Path::new("src").join(rel), bytes);
    }
    (fx, files)
}

#[test]
fn backup_script_uploads_an_encrypted_tar_and_restore_script_gets_one_file_back_by_range() {
    let (fx, files) = setup();
    fs::create_dir_all(fx.p("bucket")).unwrap();
    let src = fx.p("src");
    let bucket = fx.p("bucket");
    let r = run_script(
        &fx,
        "backup.sh",
        &[
            "-n",
            "nightly",
            src.to_str().unwrap(),
            bucket.to_str().unwrap(),
        ],
        &[],
    );
    r.expect(0);
    let mut uploaded = files_below(&bucket);
    uploaded.sort();
    assert_eq!(
        uploaded,
        vec![
            PathBuf::from("nightly.index.coffer"),
            PathBuf::from("nightly.tar.coffer")
        ]
    );
    // The staging directory is cleaned and never held plaintext: nothing is left.
    assert!(
        files_below(&fx.p("staging")).is_empty(),
        "staging not cleaned"
    );

    // The uploaded archive is a coffer file that decrypts to a tar of every file.
    let archive = bucket.join("nightly.tar.coffer");
    let ct = fs::read(&archive).unwrap();
    assert_eq!(&ct[..8], b"\x89coffer\n");
    fx.decrypt(["-q", "-o", "nightly.tar", archive.to_str().unwrap()])
        .expect(0);
    fs::create_dir_all(fx.p("full")).unwrap();
    fx.bash("tar -x -f nightly.tar -C full").expect(0);
    for (rel, bytes) in &files {
        assert!(
            &fs::read(fx.p("full").join(rel)).unwrap() == bytes,
            "{}",
            rel.display()
        );
    }
    // Names are hidden in the ciphertext.
    assert!(!ct.windows(9).any(|w| w == b"notes.txt"));

    // Restore single files by range.
    for (rel, bytes) in &files {
        let rel_s = rel.to_str().unwrap();
        let out = fx.p("restored");
        let r = run_script(
            &fx,
            "restore.sh",
            &[
                "-o",
                out.to_str().unwrap(),
                bucket.to_str().unwrap(),
                "nightly",
                rel_s,
            ],
            &[],
        );
        r.expect(0);
        assert!(
            &fs::read(out.join(rel)).unwrap() == bytes,
            "restored {rel_s} differs"
        );
    }
    // Only the requested files were extracted.
    let mut got = files_below(&fx.p("restored"));
    got.sort();
    let mut want: Vec<PathBuf> = files.iter().map(|(p, _)| p.clone()).collect();
    want.sort();
    assert_eq!(got, want);

    // A missing member fails.
    let r = run_script(
        &fx,
        "restore.sh",
        &[
            "-o",
            "x",
            bucket.to_str().unwrap(),
            "nightly",
            "no/such/file",
        ],
        &[],
    );
    assert_ne!(r.code(), 0, "restoring a missing member must fail");
    assert!(!fx.p("x/no/such/file").exists());
}

#[test]
fn restore_script_fails_on_a_tampered_archive_and_extracts_nothing() {
    let (fx, _files) = setup();
    fs::create_dir_all(fx.p("bucket")).unwrap();
    let (src, bucket) = (fx.p("src"), fx.p("bucket"));
    run_script(
        &fx,
        "backup.sh",
        &["-n", "b1", src.to_str().unwrap(), bucket.to_str().unwrap()],
        &[],
    )
    .expect(0);
    let archive = bucket.join("b1.tar.coffer");
    let len = fs::metadata(&archive).unwrap().len() as usize;
    flip_bit(&archive, len - 1, 0); // the final chunk's tag
    let out = fx.p("out");
    let r = run_script(
        &fx,
        "restore.sh",
        &[
            "-o",
            out.to_str().unwrap(),
            bucket.to_str().unwrap(),
            "b1",
            "notes.txt",
        ],
        &[],
    );
    assert_ne!(
        r.code(),
        0,
        "restore from a tampered archive must fail:\n{}",
        r.stderr
    );
    assert!(!out.join("notes.txt").exists(), "nothing may be extracted");
}

#[test]
fn backup_script_in_files_mode_uploads_one_coffer_file_per_input() {
    let (fx, files) = setup();
    let (src, bucket) = (fx.p("src"), fx.p("bucket"));
    let r = run_script(
        &fx,
        "backup.sh",
        &[
            "-m",
            "files",
            "-n",
            "mirror",
            src.to_str().unwrap(),
            bucket.to_str().unwrap(),
        ],
        &[],
    );
    r.expect(0);
    let mut want: Vec<PathBuf> = files
        .iter()
        .map(|(p, _)| Path::new("mirror").join(with_coffer(p)))
        .collect();
    want.sort();
    let mut got = files_below(&bucket);
    got.sort();
    assert_eq!(got, want);
    let r = fx.decrypt([
        "-r",
        "-q",
        "--output-dir",
        "back",
        bucket.join("mirror").to_str().unwrap(),
    ]);
    r.expect(0);
    for (rel, bytes) in &files {
        assert!(
            &fs::read(fx.p("back").join(rel)).unwrap() == bytes,
            "{}",
            rel.display()
        );
    }
    assert!(
        files_below(&fx.p("staging")).is_empty(),
        "staging not cleaned"
    );
}

#[test]
fn backup_script_refuses_a_passphrase_file_readable_by_others_and_uploads_nothing() {
    let (fx, _) = setup();
    fs::create_dir_all(fx.p("bucket")).unwrap();
    fs::set_permissions(fx.p("secret/pw"), fs::Permissions::from_mode(0o644)).unwrap();
    let (src, bucket) = (fx.p("src"), fx.p("bucket"));
    let r = run_script(
        &fx,
        "backup.sh",
        &[src.to_str().unwrap(), bucket.to_str().unwrap()],
        &[],
    );
    assert_eq!(r.code(), 2, "{}", r.stderr);
    assert!(r.stderr.contains("644"), "{}", r.stderr);
    assert!(files_below(&bucket).is_empty());
}

#[test]
fn backup_script_fails_when_the_upload_fails() {
    let (fx, _) = setup();
    fs::create_dir_all(fx.p("bucket")).unwrap();
    let (src, bucket) = (fx.p("src"), fx.p("bucket"));
    let r = run_script(
        &fx,
        "backup.sh",
        &[src.to_str().unwrap(), bucket.to_str().unwrap()],
        &[("UPLOAD_CMD", "false")],
    );
    assert_ne!(r.code(), 0, "a failed upload must fail the backup");
    assert!(
        files_below(&fx.p("staging")).is_empty(),
        "staging not cleaned"
    );
}

#[test]
fn backup_script_fails_when_the_passphrase_does_not_work_for_coffer() {
    // An empty passphrase file is refused before coffer even runs.
    let (fx, _) = setup();
    fs::create_dir_all(fx.p("bucket")).unwrap();
    fx.passfile_with("secret/pw", "");
    let (src, bucket) = (fx.p("src"), fx.p("bucket"));
    let r = run_script(
        &fx,
        "backup.sh",
        &[src.to_str().unwrap(), bucket.to_str().unwrap()],
        &[],
    );
    assert_eq!(r.code(), 2, "{}", r.stderr);
    assert!(files_below(&bucket).is_empty());
}

/// A stand-in for an S3 client: `fakes3 SRC DST` copies, mapping `s3://bucket/...` to the
/// local directory `$FAKE_BUCKET/...`.
fn fake_s3(fx: &Fx) -> PathBuf {
    let path = fx.write(
        "bin/fakes3",
        br#"#!/bin/sh
set -eu
map() { case $1 in s3://bucket/*) printf '%s/%s\n' "$FAKE_BUCKET" "${1#s3://bucket/}" ;; *) printf '%s\n' "$1" ;; esac; }
src=$(map "$1"); dst=$(map "$2")
mkdir -p "$(dirname "$dst")"
cp "$src" "$dst"
echo "$1 -> $2" >> "$FAKE_BUCKET.log"
"#,
    );
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn backup_and_restore_scripts_work_with_an_s3_style_destination_through_the_transfer_commands() {
    let (fx, files) = setup();
    let s3 = fake_s3(&fx);
    let s3 = s3.to_str().unwrap();
    let bucket = fx.p("bucket");
    let env = [
        ("UPLOAD_CMD", s3),
        ("DOWNLOAD_CMD", s3),
        ("FAKE_BUCKET", bucket.to_str().unwrap()),
    ];
    let src = fx.p("src");
    run_script(
        &fx,
        "backup.sh",
        &["-n", "weekly", src.to_str().unwrap(), "s3://bucket/host1/"],
        &env,
    )
    .expect(0);
    let mut got = files_below(&bucket);
    got.sort();
    assert_eq!(
        got,
        vec![
            PathBuf::from("host1/weekly.index.coffer"),
            PathBuf::from("host1/weekly.tar.coffer")
        ]
    );
    let log = String::from_utf8(fx.read("bucket.log")).unwrap();
    assert!(log.contains("s3://bucket/host1/weekly.tar.coffer"), "{log}");

    let (rel, bytes) = &files[2];
    let out = fx.p("restored");
    run_script(
        &fx,
        "restore.sh",
        &[
            "-o",
            out.to_str().unwrap(),
            "s3://bucket/host1",
            "weekly",
            rel.to_str().unwrap(),
        ],
        &env,
    )
    .expect(0);
    assert!(&fs::read(out.join(rel)).unwrap() == bytes);
    let log = String::from_utf8(fx.read("bucket.log")).unwrap();
    assert!(
        log.contains("s3://bucket/host1/weekly.index.coffer ->"),
        "download not used: {log}"
    );
}

#[test]
fn readme_shows_the_tested_backup_and_restore_scripts_verbatim() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for name in ["backup.sh", "restore.sh"] {
        let script = std::fs::read_to_string(root.join("docs/examples").join(name)).unwrap();
        assert!(
            readme.contains(script.trim_end()),
            "README.md's copy of {name} differs from docs/examples/{name}"
        );
    }
}
