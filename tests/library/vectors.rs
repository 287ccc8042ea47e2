//! Checks the library against every test vector in `tests/vectors/` (format in
//! tests/vectors/README.md): the exact outcome, and the exact plaintext released before
//! it, through every decryption path.

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use coffer::internals::stream::PREFIX_LEN;
use coffer::{
    AnyIdentity, Context, Decryptor, Encryptor, Error, FileKey, HybridRecipient, Identity, Limits,
    Passphrase, PassphraseIdentity, PassphraseKey, PipelineOptions, RawSlot, Recipient, Slot,
    SymmetricKey, X25519Recipient,
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

/// The credentials a vector (or one of its `credential_checks`) records: its key files,
/// tried first in order, then its identities in order, then its passphrase (README.md,
/// "Credentials").
struct Credentials {
    key_files: Vec<SymmetricKey>,
    identities: Vec<AnyIdentity>,
    passphrase: Option<PassphraseIdentity>,
}

impl Credentials {
    fn of(v: &Value) -> Self {
        let key_files = v
            .get("key_files")
            .map(|list| {
                list.as_array()
                    .unwrap()
                    .iter()
                    .map(|line| {
                        SymmetricKey::parse(line.as_str().unwrap().as_bytes())
                            .unwrap_or_else(|e| panic!("{}: key file: {e}", v["name"]))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let identities = v
            .get("identities")
            .map(|list| {
                list.as_array()
                    .unwrap()
                    .iter()
                    .map(|line| {
                        AnyIdentity::parse(line.as_str().unwrap())
                            .unwrap_or_else(|e| panic!("{}: identity: {e}", v["name"]))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let passphrase = v.get("passphrase").map(|p| {
            PassphraseIdentity::new(
                Passphrase::new(p.as_str().unwrap().as_bytes().to_vec()),
                Limits::default(),
            )
        });
        Credentials {
            key_files,
            identities,
            passphrase,
        }
    }

    fn identities(&self) -> Vec<&dyn Identity> {
        let mut ids: Vec<&dyn Identity> =
            self.key_files.iter().map(|k| k as &dyn Identity).collect();
        ids.extend(self.identities.iter().map(AnyIdentity::as_identity));
        ids.extend(self.passphrase.iter().map(|p| p as &dyn Identity));
        ids
    }
}

#[derive(Clone, Copy, Debug)]
enum Unlock {
    Credentials,
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
            Unlock::Credentials => decryptor.unlock(&Credentials::of(v).identities())?,
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
    for unlock in [Unlock::Credentials, Unlock::FileKey] {
        let (want, want_detail) = match unlock {
            Unlock::Credentials => (str_field(v, "outcome"), &v["outcome_detail"]),
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
        if v.get("slot_credentials").is_some() {
            check_each_slot_opens_alone(v, &bytes, &mut problems);
        }
    }
    check_credential_sets(v, &bytes, &mut problems);
    problems
}

/// In a valid file with several kinds of slot, every slot's own credential opens it alone.
fn check_each_slot_opens_alone(v: &Value, bytes: &[u8], problems: &mut Vec<String>) {
    let name = str_field(v, "name");
    for (i, cred) in v["slot_credentials"].as_array().unwrap().iter().enumerate() {
        let alone = match str_field(cred, "type") {
            "passphrase" => json!({"passphrase": cred["passphrase"]}),
            "key_file" => json!({"key_files": [cred["key_file"]]}),
            "x25519" | "hybrid" => json!({"identities": [cred["identity"]]}),
            _ => continue,
        };
        match coffer::decrypt(&Credentials::of(&alone).identities(), bytes) {
            Ok(out) if sha256_hex(&out) == str_field(v, "plaintext_sha256") => {}
            other => problems.push(format!(
                "{name}: the credential of slot {i} alone does not open it: {:?}",
                other.map(|_| "wrong plaintext")
            )),
        }
    }
}

/// Each of `credential_checks` alone gives its outcome; an `ok` one decrypts the plaintext.
fn check_credential_sets(v: &Value, bytes: &[u8], problems: &mut Vec<String>) {
    let name = str_field(v, "name");
    let Some(checks) = v.get("credential_checks") else {
        return;
    };
    for (i, c) in checks.as_array().unwrap().iter().enumerate() {
        let creds = Credentials::of(c);
        let result = coffer::decrypt(&creds.identities(), bytes);
        let (got, detail) = match &result {
            Ok(_) => ("ok".to_string(), json!({})),
            Err(e) => classify(e),
        };
        if got != str_field(c, "outcome") || detail != c["outcome_detail"] {
            problems.push(format!(
                "{name} [credential_checks {i}]: expected {} {}, got {got} {detail}",
                c["outcome"], c["outcome_detail"]
            ));
        } else if let Ok(plaintext) = result {
            if sha256_hex(&plaintext) != str_field(v, "plaintext_sha256") {
                problems.push(format!(
                    "{name} [credential_checks {i}]: plaintext does not match"
                ));
            }
        }
    }
}

/// `N` bytes from hex.
fn hex_array<const N: usize>(text: &str) -> [u8; N] {
    hex::decode(text).unwrap().try_into().unwrap()
}

/// A slot of a type this version does not define, written back as it was read.
struct VerbatimSlot(RawSlot);

impl Recipient for VerbatimSlot {
    fn seal(&self, _: &FileKey, _: coffer::FileBinding<'_>) -> coffer::Result<RawSlot> {
        Ok(self.0.clone())
    }
}

/// The vector's `context` (absent: none), as pairs for the library.
fn recorded_context(v: &Value) -> Context {
    let pairs = v.get("context").map_or_else(Vec::new, |c| {
        c.as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect()
    });
    Context::from_pairs(pairs).unwrap()
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
/// header nonce and slot salts (read from the header), the payload salt, and the credential
/// of each slot (`slot_credentials`, or `slot_passphrases` / `passphrase`); a slot of an
/// unknown type is copied as it is.
fn check_reencrypts(v: &Value, bytes: &[u8], problems: &mut Vec<String>) {
    let name = str_field(v, "name");
    let decryptor = Decryptor::new(bytes).unwrap();
    let header = decryptor.header();
    let payload_salt: [u8; 24] = bytes[header.len()..header.len() + 24].try_into().unwrap();
    let slot_credentials: Vec<Value> = match (v.get("slot_credentials"), v.get("slot_passphrases"))
    {
        (Some(list), _) => list.as_array().unwrap().clone(),
        (None, Some(list)) => list
            .as_array()
            .unwrap()
            .iter()
            .map(|p| json!({"type": "passphrase", "passphrase": p}))
            .collect(),
        (None, None) => {
            vec![json!({"type": "passphrase", "passphrase": str_field(v, "passphrase")})]
        }
    };
    assert_eq!(
        slot_credentials.len(),
        decryptor.slots().len(),
        "{name}: one credential per slot"
    );
    let keys: Vec<Box<dyn Recipient>> = decryptor
        .slots()
        .iter()
        .zip(&slot_credentials)
        .zip(header.slots())
        .map(|((slot, cred), raw)| -> Box<dyn Recipient> {
            match (slot, str_field(cred, "type")) {
                (Slot::Passphrase(slot), "passphrase") => Box::new(
                    PassphraseKey::for_test_vectors(
                        &Passphrase::new(str_field(cred, "passphrase").as_bytes().to_vec()),
                        slot.params(),
                        *slot.salt(),
                    )
                    .unwrap(),
                ),
                (Slot::KeyFile(_), "key_file") => {
                    Box::new(SymmetricKey::parse(str_field(cred, "key_file").as_bytes()).unwrap())
                }
                (Slot::X25519(_), "x25519") => Box::new(
                    str_field(cred, "recipient")
                        .parse::<X25519Recipient>()
                        .unwrap()
                        .for_test_vectors(hex_array(str_field(cred, "ephemeral_secret"))),
                ),
                (Slot::Hybrid(_), "hybrid") => Box::new(
                    str_field(cred, "recipient")
                        .parse::<HybridRecipient>()
                        .unwrap()
                        .for_test_vectors(hex_array(str_field(cred, "encapsulation_randomness"))),
                ),
                (Slot::Unknown { slot_type, .. }, "unknown") => {
                    assert_eq!(cred["slot_type"], *slot_type, "{name}: unknown slot type");
                    Box::new(VerbatimSlot(raw.clone()))
                }
                (slot, kind) => panic!("{name}: slot {slot:?} recorded as {kind}"),
            }
        })
        .collect();
    let refs: Vec<&dyn Recipient> = keys.iter().map(|k| k.as_ref()).collect();
    let mut plaintext = Vec::new();
    let header_len = header.len();
    let decryptor = Decryptor::new(bytes).unwrap();
    let key = decryptor.unlock_with_file_key(file_key(v)).unwrap();
    decryptor
        .into_reader(&key)
        .unwrap()
        .read_to_end(&mut plaintext)
        .unwrap();
    let context = recorded_context(v);
    if header.context() != &context {
        problems.push(format!(
            "{name}: the header's context is not the recorded one"
        ));
    }
    let remake = || {
        Encryptor::from_parts_in_context(
            &file_key(v),
            *header.header_nonce(),
            payload_salt,
            &context,
            &refs,
        )
    };
    let enc = remake();
    let mut w = enc.writer(Vec::new()).unwrap();
    w.write_all(&plaintext).unwrap();
    let again = w.finish().unwrap();
    if again != bytes {
        problems.push(format!("{name}: re-encryption (streaming writer) differs"));
    }
    // The parallel encryption pipeline writes the same bytes.
    let enc = remake();
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
        "ok_key_file",
        "ok_key_file_and_passphrase",
        "ok_unknown_and_key_file",
        "key_file_wrong_key",
        "key_file_flip_header_nonce",
        "key_file_flip_slot_type",
        "key_file_flip_check",
        "key_file_flip_wrapped_key",
        "key_file_flip_tag",
        "key_file_body_len_79",
        "key_file_body_len_81",
        "key_file_slot_from_other_file",
        "key_file_slot_type_passphrase",
        "kdf_over_limit_opened_by_key_file",
        "ok_context",
        "ok_context_utf8",
        "context_flag_cleared",
        "context_flag_without_block",
        "context_empty",
        "context_keys_unsorted",
        "context_key_duplicate",
        "context_count_past_pairs",
        "context_value_len_past_header",
        "context_flip_value",
        "context_value_changed_remac",
        "context_removed_remac",
        "ok_x25519",
        "ok_hybrid",
        "ok_recipients_and_symmetric",
        "x25519_low_order_share",
        "x25519_flip_ephemeral_share",
        "x25519_flip_check",
        "x25519_flip_wrapped_key",
        "x25519_slot_from_other_file",
        "hybrid_wrong_identity",
        "hybrid_flip_encapsulation",
        "hybrid_flip_encapsulation_x25519",
        "hybrid_low_order_share",
        "hybrid_flip_check",
        "hybrid_flip_wrapped_key",
        "hybrid_slot_from_other_file",
    ] {
        assert!(names.contains(&n), "{n}");
    }
    for v in &vectors {
        if v["name"].as_str().unwrap().starts_with("ok_") {
            assert_eq!(v["outcome"], "ok");
        } else {
            assert_ne!(
                v["outcome"], "ok",
                "{}: a negative vector must fail with its recorded credentials",
                v["name"]
            );
        }
    }
}

// ---- KMS slot vectors (tests/vectors/kms/; tests/vectors/README.md, "KMS vectors") ----

/// KMS as a vector describes it: it answers one Decrypt call (that blob, that KeyId,
/// that encryption context) with the file key, refuses any other blob as KMS does
/// (InvalidCiphertextException), and counts its calls.
struct VectorKms {
    answers: Value,
    calls: std::sync::Mutex<usize>,
}

impl coffer::KmsClient for VectorKms {
    fn encrypt(
        &self,
        _: &str,
        _: &[u8],
        _: &coffer::EncryptionContext,
    ) -> Result<coffer::KmsEncrypted, coffer::KmsError> {
        unreachable!("vectors only decrypt")
    }

    fn decrypt(
        &self,
        blob: &[u8],
        key_id: &str,
        context: &coffer::EncryptionContext,
    ) -> Result<coffer::KmsDecrypted, coffer::KmsError> {
        *self.calls.lock().unwrap() += 1;
        let a = &self.answers;
        assert_eq!(key_id, a["key_id"], "the KeyId of Decrypt");
        let want: coffer::EncryptionContext =
            serde_json::from_value(a["encryption_context"].clone()).unwrap();
        assert_eq!(context, &want, "the encryption context of Decrypt");
        if hex::encode(blob) != a["ciphertext_blob"] {
            return Err(coffer::KmsError::InvalidCiphertext { key: key_id.into() });
        }
        Ok(coffer::KmsDecrypted {
            key_arn: a["key_arn"].as_str().unwrap().to_owned(),
            plaintext: hex::decode(a["plaintext"].as_str().unwrap())
                .unwrap()
                .into(),
        })
    }
}

#[test]
fn kms_vectors() {
    let dir = dir().join("kms");
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("vectors.json")).unwrap()).unwrap();
    assert_eq!(index["format"], "coffer KMS slot vectors v1");
    let vectors = index["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 10);
    for v in vectors {
        let name = str_field(v, "name");
        let bytes = std::fs::read(dir.join(str_field(v, "file"))).unwrap();
        assert_eq!(sha256_hex(&bytes), v["file_sha256"], "{name}");
        let kms = std::sync::Arc::new(VectorKms {
            answers: v["kms_answers"].clone(),
            calls: std::sync::Mutex::new(0),
        });
        let allow: Vec<&str> = v["allow_list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        let key_files: Vec<SymmetricKey> = v
            .get("key_files")
            .map(|l| l.as_array().unwrap().clone())
            .unwrap_or_default()
            .iter()
            .map(|line| SymmetricKey::parse(line.as_str().unwrap().as_bytes()).unwrap())
            .collect();
        let identity = coffer::KmsIdentity::allow_list(kms.clone(), &allow).unwrap();
        let mut identities: Vec<&dyn Identity> =
            key_files.iter().map(|k| k as &dyn Identity).collect();
        identities.push(&identity);
        let mut plain = Vec::new();
        let outcome = (|| {
            let decryptor = Decryptor::new(&bytes[..])?;
            let key = decryptor.unlock(&identities)?;
            decryptor
                .into_reader(&key)?
                .read_to_end(&mut plain)
                .map_err(Error::from_io)?;
            Ok::<(), Error>(())
        })();
        let got = match &outcome {
            Ok(()) => "ok".to_string(),
            Err(Error::Kms(e)) if e.class() == coffer::KmsFailure::InvalidCiphertext => {
                "kms_invalid_ciphertext".to_string()
            }
            Err(e) => classify(e).0,
        };
        assert_eq!(got, v["outcome"], "{name}: {outcome:?}");
        if got == "ok" {
            assert_eq!(sha256_hex(&plain), v["plaintext_sha256"], "{name}");
        }
        let calls = *kms.calls.lock().unwrap();
        match str_field(v, "outcome") {
            "no_slot_opened" | "invalid_header" => assert_eq!(calls, 0, "{name}: no KMS call"),
            _ if !key_files.is_empty() => assert_eq!(calls, 0, "{name}: key file first"),
            _ => assert_eq!(calls, 1, "{name}: one Decrypt"),
        }
        // The slot decodes to the ARN recorded, where it is well formed.
        if let Ok(decryptor) = Decryptor::new(&bytes[..]) {
            if let Slot::Kms(slot) = &decryptor.slots()[0] {
                assert!(slot.key_arn().starts_with("arn:aws:kms:"), "{name}");
            }
        }
    }
}
