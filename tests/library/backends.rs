//! Which AES-GCM backend the binary seals the payload with is visible to whoever runs it.
//! (The differential test of the two backends is a unit test in src/stream/backend.rs,
//! where both are reachable; it runs in every build that has the `aws-lc` feature.)

use assert_cmd::Command;

fn long_version() -> String {
    let out = Command::cargo_bin("coffer")
        .unwrap()
        .arg("--version")
        .assert()
        .success();
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

#[test]
fn version_names_the_payload_backend_of_this_build() {
    let text = long_version();
    let expected = if cfg!(feature = "aws-lc") {
        "payload AEAD: AES-256-GCM by aws-lc-rs (AWS-LC)"
    } else {
        "payload AEAD: AES-256-GCM by aes-gcm (RustCrypto, pure Rust)"
    };
    assert!(text.starts_with("coffer "), "{text}");
    assert!(text.lines().any(|line| line == expected), "{text}");
}

#[test]
fn short_version_stays_one_line() {
    let out = Command::cargo_bin("coffer")
        .unwrap()
        .arg("-V")
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
}
