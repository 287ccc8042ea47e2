//! Checks the library against every test vector in `tests/vectors/` (format in
//! tests/vectors/README.md): the exact outcome, and the exact plaintext released before
//! it, through every decryption path.

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use coffer::internals::stream::PREFIX_LEN;
use coffer::{
    Decryptor, Encryptor, Error, FileKey, Limits, Passphrase, PassphraseIdentity, PassphraseKey,
    PipelineOptions, Recipient, Slot,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("vectors")
}

fn index() -> Vec<Value> {
    let text =
        std::fs::read_to_string(dir().join("vectors.json")).expect("tests/vectors/vectors.json");
    let index: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(index["format"], "coffer test vectors v1");
    index["vectors"].as_array().unwrap().clone()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn file_key(v: &Value) -> FileKey {
    let bytes: [u8; 32] = hex::decode(v["file_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    FileKey::from_bytes(bytes)
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{}: missing {key}", v["name"]))
}

/// The stable outcome name and detail of an error (README.md, "Outcomes").
fn classify(err: &Error) -> (String, Value) {
    let (name, detail) = match err {
        Error::NotCoffer => ("not_coffer", json!({})),
        Error::UnsupportedVersion(v) => ("unsupported_version", json!({"version": v})),
        Error::InvalidHeader(_) => ("invalid_header", json!({})),
        Error::KdfOverLimit { param, .. } => ("kdf_over_limit", json!({"param": param})),
        Error::NoSlotOpened {
            unsupported_slots, ..
        } => (
            "no_slot_opened",
            json!({"unsupported_slots": unsupported_slots}),
        ),
        Error::HeaderAuthentication => ("header_authentication", json!({})),
        Error::CommitmentMismatch => ("commitment_mismatch", json!({})),
        Error::ChunkAuthentication { index } => ("chunk_authentication", json!({"chunk": index})),
        Error::Truncated { at_chunk } => ("truncated", json!({"at_chunk": at_chunk})),
        Error::TrailingData { bytes } => ("trailing_data", json!({"bytes": bytes})),
        other => return (format!("unexpected: {other}"), json!({})),
    };
    (name.to_string(), detail)
}

#[derive(Clone, Copy, Debug)]
enum Unlock {
    Passphrase,
    FileKey,
}

#[derive(Clone, Copy, Debug)]
enum Path_ {
    Stream,
    Pipeline(usize),
}

/// Decrypts `bytes` one way; returns what was released and the outcome.
fn decrypt(v: &Value, bytes: &[u8], unlock: Unlock, path: Path_) -> (Vec<u8>, Result<(), Error>) {
    let mut out = Vec::new();
    let result = (|| {
        let decryptor = Decryptor::new(bytes)?;
        let key = match unlock {
            Unlock::Passphrase => {
                let pass = Passphrase::new(str_field(v, "passphrase").as_bytes().to_vec());
                decryptor.unlock(&[&PassphraseIdentity::new(pass, Limits::default())])?
            }
            Unlock::FileKey => decryptor.unlock_with_file_key(file_key(v))?,
        };
        match path {
            Path_::Stream => {
                let mut reader = decryptor.into_reader(&key)?;
                reader.read_to_end(&mut out).map_err(Error::from_io)?;
                // Errors are sticky, and a finished stream stays finished.
                let mut more = [0u8; 1];
                assert_eq!(reader.read(&mut more).map_err(Error::from_io).ok(), Some(0));
            }
            Path_::Pipeline(threads) => {
                let len =
                    decryptor.decrypt(&key, &mut out, &PipelineOptions::with_threads(threads))?;
                assert_eq!(len, out.len() as u64, "reported length");
            }
        }
        Ok(())
    })();
    (out, result)
}

/// Checks one vector through every path; returns a description of each mismatch.
fn check(v: &Value) -> Vec<String> {
    let name = str_field(v, "name");
    let bytes = std::fs::read(dir().join(str_field(v, "file"))).unwrap();
    let mut problems = Vec::new();
    if sha256_hex(&bytes) != str_field(v, "file_sha256") {
        problems.push(format!("{name}: file_sha256 does not match the file"));
        return problems;
    }
    let released_len = v["released_len"].as_u64().unwrap() as usize;
    let released_sha = str_field(v, "released_sha256");
    for unlock in [Unlock::Passphrase, Unlock::FileKey] {
        let (want, want_detail) = match unlock {
            Unlock::Passphrase => (str_field(v, "outcome"), &v["outcome_detail"]),
            Unlock::FileKey => (
                str_field(v, "outcome_with_file_key"),
                &v["outcome_with_file_key_detail"],
            ),
        };
        let mut stream_output = None;
        for path in [Path_::Stream, Path_::Pipeline(1), Path_::Pipeline(2)] {
            let (out, result) = decrypt(v, &bytes, unlock, path);
            let (got, detail) = match &result {
                Ok(()) => ("ok".to_string(), json!({})),
                Err(e) => classify(e),
            };
            let tag = format!("{name} [{unlock:?}, {path:?}]");
            if got != want || &detail != want_detail {
                problems.push(format!(
                    "{tag}: expected {want} {want_detail}, got {got} {detail} ({result:?})"
                ));
                continue;
            }
            if want == "ok" {
                // Everything, exactly: the plaintext of the vector.
                if out.len() as u64 != v["plaintext_len"].as_u64().unwrap()
                    || sha256_hex(&out) != str_field(v, "plaintext_sha256")
                {
                    problems.push(format!("{tag}: plaintext does not match"));
                }
                continue;
            }
            // An error may come after plaintext that authenticated. The streaming reader
            // releases every chunk that authenticated (exactly released_*); the pipeline
            // may hold some back, but what it writes must be a prefix of that.
            match path {
                Path_::Stream => {
                    if out.len() != released_len || sha256_hex(&out) != released_sha {
                        problems.push(format!(
                            "{tag}: released {} bytes, expected exactly the {released_len} that authenticated",
                            out.len()
                        ));
                    }
                    stream_output = Some(out);
                }
                Path_::Pipeline(_) => {
                    let allowed = stream_output.as_deref().unwrap_or(&[]);
                    if out.len() > released_len || !allowed.starts_with(&out) {
                        problems.push(format!(
                            "{tag}: released {} bytes that are not a prefix of the authenticated plaintext",
                            out.len()
                        ));
                    }
                }
            }
        }
    }
    if str_field(v, "outcome_with_file_key") == "ok" {
        check_seekable(v, &bytes, &mut problems);
    } else if str_field(v, "outcome") != "ok" {
        // Random access must refuse the file too, at construction or at some read.
        let refused = (|| -> Result<(), Error> {
            let decryptor = Decryptor::new(Cursor::new(&bytes[..]))?;
            let key = decryptor.unlock_with_file_key(file_key(v))?;
            let mut reader = decryptor.into_seekable(&key)?;
            let mut out = Vec::new();
            reader.read_to_end(&mut out).map_err(Error::from_io)?;
            Ok(())
        })();
        if refused.is_ok() {
            problems.push(format!("{name} [seekable]: accepted an invalid file"));
        }
    }
    if str_field(v, "outcome") == "ok" {
        check_reencrypts(v, &bytes, &mut problems);
    }
    problems
}

fn check_seekable(v: &Value, bytes: &[u8], problems: &mut Vec<String>) {
    let name = str_field(v, "name");
    let result = (|| -> Result<Vec<u8>, Error> {
        let decryptor = Decryptor::new(Cursor::new(bytes))?;
        let key = decryptor.unlock_with_file_key(file_key(v))?;
        let mut reader = decryptor.into_seekable(&key)?;
        assert_eq!(reader.plaintext_len(), v["plaintext_len"].as_u64().unwrap());
        let mut out = Vec::new();
        reader.read_to_end(&mut out).map_err(Error::from_io)?;
        Ok(out)
    })();
    match result {
        Ok(out) if sha256_hex(&out) == str_field(v, "plaintext_sha256") => {}
        Ok(_) => problems.push(format!("{name} [seekable]: plaintext does not match")),
        Err(e) => problems.push(format!("{name} [seekable]: {e}")),
    }
}

/// A positive vector re-encrypts to identical bytes from its parts: the file key, the
/// header nonce and slot salts (read from the header), the payload salt, the passphrases.
fn check_reencrypts(v: &Value, bytes: &[u8], problems: &mut Vec<String>) {
    let name = str_field(v, "name");
    let decryptor = Decryptor::new(bytes).unwrap();
    let header = decryptor.header();
    let payload_salt: [u8; 24] = bytes[header.len()..header.len() + 24].try_into().unwrap();
    let passphrases: Vec<String> = match v.get("slot_passphrases") {
        Some(list) => list
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_string())
            .collect(),
        None => vec![str_field(v, "passphrase").to_string()],
    };
    assert_eq!(
        passphrases.len(),
        decryptor.slots().len(),
        "{name}: one passphrase per slot"
    );
    let keys: Vec<PassphraseKey> = decryptor
        .slots()
        .iter()
        .zip(&passphrases)
        .map(|(slot, pass)| match slot {
            Slot::Passphrase(slot) => PassphraseKey::for_test_vectors(
                &Passphrase::new(pass.as_bytes().to_vec()),
                slot.params(),
                *slot.salt(),
            )
            .unwrap(),
            _ => panic!("{name}: positive vectors have passphrase slots only"),
        })
        .collect();
    let refs: Vec<&dyn Recipient> = keys.iter().map(|k| k as &dyn Recipient).collect();
    let mut plaintext = Vec::new();
    let header_len = header.len();
    let decryptor = Decryptor::new(bytes).unwrap();
    let key = decryptor.unlock_with_file_key(file_key(v)).unwrap();
    decryptor
        .into_reader(&key)
        .unwrap()
        .read_to_end(&mut plaintext)
        .unwrap();
    let enc = Encryptor::from_parts(&file_key(v), *header.header_nonce(), payload_salt, &refs);
    let mut w = enc.writer(Vec::new()).unwrap();
    w.write_all(&plaintext).unwrap();
    let again = w.finish().unwrap();
    if again != bytes {
        problems.push(format!("{name}: re-encryption (streaming writer) differs"));
    }
    // The parallel encryption pipeline writes the same bytes.
    let enc = Encryptor::from_parts(&file_key(v), *header.header_nonce(), payload_salt, &refs);
    let mut out = Vec::new();
    enc.encrypt(&plaintext[..], &mut out, &PipelineOptions::with_threads(2))
        .unwrap();
    if out != bytes {
        problems.push(format!("{name}: re-encryption (pipeline) differs"));
    }
    assert!(bytes.len() >= header_len + PREFIX_LEN);
}

#[test]
fn every_vector() {
    let vectors = index();
    assert!(vectors.len() >= 40, "expected the full vector set");
    let on_disk = std::fs::read_dir(dir())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "coffer")
        })
        .count();
    assert_eq!(
        on_disk,
        vectors.len(),
        "every .coffer file has an index entry"
    );
    let problems: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = vectors.iter().map(|v| s.spawn(move || check(v))).collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The required coverage is present (guards against a vector being dropped).
#[test]
fn required_conditions_are_covered() {
    let vectors = index();
    let names: Vec<&str> = vectors
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    for len in [0, 1, 16383, 16384, 16385, 32768, 100_000] {
        assert!(
            names.contains(&format!("ok_size_{len}").as_str()),
            "size {len}"
        );
    }
    for field in [
        "magic",
        "version",
        "flags",
        "header_len",
        "slot_count",
        "reserved",
        "header_nonce",
        "slot_type",
        "slot_reserved",
        "body_len",
        "kdf_memory",
        "kdf_passes",
        "kdf_lanes",
        "kdf_salt",
        "check",
        "wrapped_key",
        "mac",
    ] {
        assert!(
            names.contains(&format!("header_flip_{field}").as_str()),
            "header field {field}"
        );
    }
    for n in [
        "payload_flip_commitment",
        "chunk_flip_body",
        "chunk_flip_tag",
        "truncated_at_chunk_boundary",
        "truncated_inside_chunk",
        "trailing_byte",
        "chunks_swapped",
        "chunk_from_other_file",
        "kdf_over_limit_memory",
        "wrong_passphrase",
        "unknown_version",
    ] {
        assert!(names.contains(&n), "{n}");
    }
    for v in &vectors {
        if v["name"].as_str().unwrap().starts_with("ok_") {
            assert_eq!(v["outcome"], "ok");
        } else {
            assert_ne!(
                v["outcome"], "ok",
                "{}: a negative vector must fail with the passphrase",
                v["name"]
            );
        }
    }
}
