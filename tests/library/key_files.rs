//! The key-file text vectors (`tests/vectors/key_files.json`; FORMAT.md, "Key files"):
//! every text parses to its key, writes back as its canonical line, or fails with its
//! error class. `tests/cross_check.py` checks the same file with an independent parser.

use std::path::Path;

use coffer::{Error, SymmetricKey};
use serde_json::Value;

fn cases() -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/key_files.json");
    let index: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(index["format"], "coffer key file vectors v1");
    index["cases"].as_array().unwrap().clone()
}

fn text(case: &Value) -> Vec<u8> {
    match (case.get("text"), case.get("text_hex")) {
        (Some(text), None) => text.as_str().unwrap().as_bytes().to_vec(),
        (None, Some(hex)) => hex::decode(hex.as_str().unwrap()).unwrap(),
        _ => panic!("{}: exactly one of text and text_hex", case["name"]),
    }
}

/// The error class of a refused key file (tests/vectors/README.md, "Key-file vectors").
fn class(err: &Error) -> &'static str {
    let Error::InvalidKeyFile(reason) = err else {
        return "not InvalidKeyFile";
    };
    [
        ("UTF-8", "not_utf8"),
        ("no key line", "no_key_line"),
        ("more than one", "several_key_lines"),
        ("does not start", "wrong_prefix"),
        ("checksum", "checksum"),
        ("shorter", "wrong_length"),
        ("longer", "wrong_length"),
        ("padding", "padding"),
    ]
    .iter()
    .find(|(needle, _)| reason.contains(needle))
    .map_or("unclassified", |(_, class)| class)
}

/// What the library says about one case, or `None` when it agrees with the vector.
fn disagreement(case: &Value) -> Option<String> {
    let name = case["name"].as_str().unwrap();
    let result = SymmetricKey::parse(&text(case));
    match (case.get("key"), &result) {
        (Some(want), Ok(key)) => {
            let line = key.to_line();
            let again = SymmetricKey::parse(line.as_bytes()).unwrap().to_line();
            // The key is secret in real use; here it is a public test value, and the
            // library exposes it only as its line, so compare through the line.
            let want_key = SymmetricKey::from_bytes(
                hex::decode(want.as_str().unwrap())
                    .unwrap()
                    .try_into()
                    .unwrap(),
            );
            if *line != *want_key.to_line() || *again != *line || *line != case["line"] {
                return Some(format!("{name}: parsed to another key or line: {}", *line));
            }
            None
        }
        (Some(_), Err(e)) => Some(format!("{name}: expected a key, got {e}")),
        (None, Ok(_)) => Some(format!("{name}: expected {}, got a key", case["error"])),
        (None, Err(e)) if class(e) == case["error"] => None,
        (None, Err(e)) => Some(format!(
            "{name}: expected {}, got {} ({e})",
            case["error"],
            class(e)
        )),
    }
}

#[test]
fn every_key_file_vector() {
    let cases = cases();
    assert!(cases.len() >= 30, "the full key-file vector set");
    let problems: Vec<String> = cases.iter().filter_map(disagreement).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_error_class_and_the_keygen_text_are_covered() {
    let cases = cases();
    for class in [
        "not_utf8",
        "no_key_line",
        "several_key_lines",
        "wrong_prefix",
        "checksum",
        "wrong_length",
        "padding",
    ] {
        assert!(
            cases.iter().any(|c| c["error"] == class),
            "no case for {class}"
        );
    }
    let keygen = cases.iter().find(|c| c["name"] == "keygen_output").unwrap();
    let line = keygen["line"].as_str().unwrap();
    assert!(
        line.starts_with("COFFER-SYMMETRIC-KEY-1") && line.len() == 80,
        "{line}"
    );
}

/// The worked example of FORMAT.md ("Key-file slot example"), whose values were computed
/// by `tests/cross_check.py`'s independent implementation: the library writes the same
/// slot and the same key line.
#[test]
fn format_md_key_file_slot_example() {
    let key: [u8; 32] = std::array::from_fn(|i| i as u8);
    let header_nonce: [u8; 32] = std::array::from_fn(|i| 32 + i as u8);
    let file_key: [u8; 32] = std::array::from_fn(|i| 64 + i as u8);
    let recipient = SymmetricKey::from_bytes(key);
    assert_eq!(
        *recipient.to_line(),
        "COFFER-SYMMETRIC-KEY-1QQQSYQCYQ5RQWZQFPG9SCRGWPUGPZYSNZS23V9CCRYDPK8QARC0SVE444Q"
    );
    let encryptor = coffer::Encryptor::from_parts(
        &coffer::FileKey::from_bytes(file_key),
        header_nonce,
        [0; 24],
        &[&recipient],
    );
    let header = encryptor.header().as_bytes();
    assert_eq!(header.len(), 164);
    assert_eq!(hex::encode(&header[48..52]), "02000050");
    assert_eq!(
        hex::encode(&header[52..84]),
        "908a650e8080fc3d3b46f0a7b202c45795f3192a8e5f2e5bf97d15e1a9df54e7"
    );
    assert_eq!(
        hex::encode(&header[84..132]),
        "b863af7a4e66e82be1d29a12b6f81c483da9d6221deb467d28d01809e483893c\
         1f950a5f946faf7db4b9cbbee7a7745a"
    );
}
