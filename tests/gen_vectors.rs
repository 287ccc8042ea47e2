//! The test-vector generator (tests/vectors/README.md describes what it writes).
//!
//! `cargo test --test gen_vectors` regenerates every vector in memory and asserts that
//! the checked-in files under `tests/vectors/` are byte-for-byte what it produces, which
//! proves the generator (and the library's deterministic encryption) is reproducible.
//! `COFFER_REGENERATE_VECTORS=1 cargo test --test gen_vectors` rewrites the files.
//!
//! All randomness is fixed: every secret, nonce and salt is a SHA-256 of a label and the
//! name of the file it belongs to. Expected outcomes are written down by hand below, from
//! the format's rules, not recorded from the library: `tests/vectors.rs` checks the
//! library against them.

use std::io::Write;
use std::path::{Path, PathBuf};

use coffer::internals::keys::LABEL_HEADER_MAC;
use coffer::internals::stream::{ENCRYPTED_CHUNK_SIZE, PREFIX_LEN, TAG_LEN};
use coffer::{Encryptor, FileKey, KdfParams, Passphrase, PassphraseKey, Recipient};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const CHUNK: usize = coffer::internals::stream::CHUNK_SIZE;
const DOMAIN: &[u8] = b"coffer test vectors v1";

/// Small Argon2id parameters: below the writing floor (19 MiB, 2 passes), but under the
/// reader's caps, so every reader accepts them and the suite stays fast.
const KDF: KdfParams = KdfParams {
    memory_kib: 64,
    passes: 1,
    lanes: 1,
};

/// Byte offsets of the header fields in a one-slot header (FORMAT.md, "Header").
mod off {
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 8;
    pub const FLAGS: usize = 9;
    pub const HEADER_LEN: usize = 10; // u16 BE
    pub const SLOT_COUNT: usize = 12;
    pub const RESERVED: usize = 13; // 3 bytes
    pub const HEADER_NONCE: usize = 16; // 32 bytes
    pub const SLOT_TYPE: usize = 48;
    pub const SLOT_RESERVED: usize = 49;
    pub const BODY_LEN: usize = 50; // u16 BE
    pub const KDF_MEMORY: usize = 52; // u32 BE, KiB
    pub const KDF_PASSES: usize = 56; // u32 BE
    pub const KDF_LANES: usize = 60; // u32 BE
    pub const KDF_SALT: usize = 64; // 16 bytes
    pub const CHECK: usize = 80; // 32 bytes
    pub const WRAPPED_KEY: usize = 112; // 48 bytes
    pub const MAC: usize = 160; // 32 bytes
    pub const HEADER_END: usize = 192;
}

/// `SHA-256(DOMAIN || 0x00 || name || 0x00 || label)`: every fixed "random" value.
fn seeded(name: &str, label: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update([0]);
    h.update(name.as_bytes());
    h.update([0]);
    h.update(label.as_bytes());
    h.finalize().into()
}

/// Plaintext of `len` bytes: `SHA-256(seed || u64_be(0)) || SHA-256(seed || u64_be(1)) || ...`
/// truncated, with `seed = seeded(name, "plaintext")`.
fn plaintext(name: &str, len: usize) -> Vec<u8> {
    let seed = seeded(name, "plaintext");
    let mut out = Vec::with_capacity(len + 32);
    let mut i = 0u64;
    while out.len() < len {
        let mut h = Sha256::new();
        h.update(seed);
        h.update(i.to_be_bytes());
        out.extend_from_slice(&h.finalize());
        i += 1;
    }
    out.truncate(len);
    out
}

fn passphrase_for(name: &str) -> String {
    format!("coffer vector passphrase: {name}")
}

/// A correctly encrypted file and the inputs that made it.
#[derive(Clone)]
struct Made {
    seed_name: String,
    bytes: Vec<u8>,
    file_key: [u8; 32],
    passphrase: String,
    slot_passphrases: Vec<String>,
    plaintext: Vec<u8>,
    header_len: usize,
}

/// Encrypts `plaintext(seed_name, len)` with one slot per passphrase.
fn make(seed_name: &str, len: usize, passphrases: &[String]) -> Made {
    let file_key = seeded(seed_name, "file key");
    let header_nonce = seeded(seed_name, "header nonce");
    let mut payload_salt = [0u8; 24];
    payload_salt.copy_from_slice(&seeded(seed_name, "payload salt")[..24]);
    let keys: Vec<PassphraseKey> = passphrases
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut salt = [0u8; 16];
            salt.copy_from_slice(&seeded(seed_name, &format!("kdf salt {i}"))[..16]);
            PassphraseKey::for_test_vectors(&Passphrase::new(p.as_bytes().to_vec()), KDF, salt)
                .expect("small parameters are under the caps")
        })
        .collect();
    let key_refs: Vec<&dyn Recipient> = keys.iter().map(|k| k as &dyn Recipient).collect();
    let enc = Encryptor::from_parts(
        &FileKey::from_bytes(file_key),
        header_nonce,
        payload_salt,
        &key_refs,
    );
    let header_len = enc.header().len();
    let data = plaintext(seed_name, len);
    let mut w = enc.writer(Vec::new()).unwrap();
    w.write_all(&data).unwrap();
    let bytes = w.finish().unwrap();
    Made {
        seed_name: seed_name.to_string(),
        bytes,
        file_key,
        passphrase: passphrases.last().unwrap().clone(),
        slot_passphrases: passphrases.to_vec(),
        plaintext: data,
        header_len,
    }
}

/// Recomputes the header MAC over `bytes[..header_len - 32]` with `file_key`, so that a
/// deliberately changed header is otherwise valid (one condition per vector).
fn remac(bytes: &mut [u8], header_len: usize, file_key: &[u8; 32]) {
    let nonce = &bytes[off::HEADER_NONCE..off::HEADER_NONCE + 32];
    let mut mac_key = [0u8; 32];
    Hkdf::<Sha256>::new(Some(nonce), file_key)
        .expand(LABEL_HEADER_MAC, &mut mac_key)
        .unwrap();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&mac_key).unwrap();
    mac.update(&bytes[..header_len - 32]);
    let tag = mac.finalize().into_bytes();
    bytes[header_len - 32..header_len].copy_from_slice(&tag);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// What a decryptor must report.
#[derive(Clone)]
struct Outcome {
    name: &'static str,
    detail: Value,
}

fn ok() -> Outcome {
    Outcome {
        name: "ok",
        detail: json!({}),
    }
}
fn err(name: &'static str) -> Outcome {
    Outcome {
        name,
        detail: json!({}),
    }
}
fn err_with(name: &'static str, detail: Value) -> Outcome {
    Outcome { name, detail }
}

struct Vector {
    name: String,
    description: String,
    layer: &'static str,
    made: Made,
    bytes: Vec<u8>,
    /// Passphrase recorded for this vector (may differ from the one that made it).
    passphrase: String,
    outcome: Outcome,
    outcome_with_file_key: Outcome,
    /// Leading chunks that authenticate before the failure (all of them when ok).
    released_chunks: usize,
    mutation: Value,
}

impl Vector {
    fn to_json(&self) -> Value {
        let released_len = if self.outcome.name == "ok" {
            self.made.plaintext.len()
        } else {
            (self.released_chunks * CHUNK).min(self.made.plaintext.len())
        };
        let released = &self.made.plaintext[..released_len];
        let mut v = json!({
            "name": self.name,
            "file": format!("{}.coffer", self.name),
            "file_sha256": sha256_hex(&self.bytes),
            "file_len": self.bytes.len(),
            "description": self.description,
            "layer": self.layer,
            "source": self.made.seed_name,
            "passphrase": self.passphrase,
            "file_key": hex(&self.made.file_key),
            "header_len": self.made.header_len,
            "plaintext_len": self.made.plaintext.len(),
            "plaintext_sha256": sha256_hex(&self.made.plaintext),
            "outcome": self.outcome.name,
            "outcome_detail": self.outcome.detail,
            "outcome_with_file_key": self.outcome_with_file_key.name,
            "outcome_with_file_key_detail": self.outcome_with_file_key.detail,
            "released_len": released_len,
            "released_sha256": sha256_hex(released),
            "mutation": self.mutation,
        });
        if self.made.slot_passphrases.len() > 1 {
            v["slot_passphrases"] = json!(self.made.slot_passphrases);
        }
        v
    }
}

struct Builder {
    vectors: Vec<Vector>,
}

impl Builder {
    fn positive(&mut self, name: &str, made: &Made, description: &str) {
        self.vectors.push(Vector {
            name: name.to_string(),
            description: description.to_string(),
            layer: "file",
            made: made.clone(),
            bytes: made.bytes.clone(),
            passphrase: made.passphrase.clone(),
            outcome: ok(),
            outcome_with_file_key: ok(),
            released_chunks: usize::MAX,
            mutation: json!({"kind": "none"}),
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn negative(
        &mut self,
        name: &str,
        layer: &'static str,
        made: &Made,
        bytes: Vec<u8>,
        mutation: Value,
        outcome: Outcome,
        outcome_with_file_key: Outcome,
        released_chunks: usize,
        description: &str,
    ) {
        self.vectors.push(Vector {
            name: name.to_string(),
            description: description.to_string(),
            layer,
            made: made.clone(),
            bytes,
            passphrase: made.passphrase.clone(),
            outcome,
            outcome_with_file_key,
            released_chunks,
            mutation,
        });
    }

    /// One bit flipped in the header of `made`; header errors release nothing.
    #[allow(clippy::too_many_arguments)]
    fn header_flip(
        &mut self,
        field: &str,
        made: &Made,
        offset: usize,
        mask: u8,
        outcome: Outcome,
        outcome_with_file_key: Outcome,
        description: &str,
    ) {
        let mut bytes = made.bytes.clone();
        bytes[offset] ^= mask;
        self.negative(
            &format!("header_flip_{field}"),
            "header",
            made,
            bytes,
            json!({"kind": "flip", "field": format!("header.{field}"), "offset": offset, "mask": mask}),
            outcome,
            outcome_with_file_key,
            0,
            description,
        );
    }

    /// One bit flipped in the payload of `made` at `offset` from the payload start.
    #[allow(clippy::too_many_arguments)]
    fn payload_flip(
        &mut self,
        name: &str,
        field: &str,
        made: &Made,
        payload_offset: usize,
        mask: u8,
        outcome: Outcome,
        released_chunks: usize,
        description: &str,
    ) {
        let offset = made.header_len + payload_offset;
        let mut bytes = made.bytes.clone();
        bytes[offset] ^= mask;
        self.negative(
            name,
            "payload",
            made,
            bytes,
            json!({"kind": "flip", "field": field, "offset": offset, "mask": mask}),
            outcome.clone(),
            outcome,
            released_chunks,
            description,
        );
    }

    /// `made` cut to its first `len` bytes.
    #[allow(clippy::too_many_arguments)]
    fn truncation(
        &mut self,
        name: &str,
        layer: &'static str,
        made: &Made,
        len: usize,
        outcome: Outcome,
        released_chunks: usize,
        description: &str,
    ) {
        self.negative(
            name,
            layer,
            made,
            made.bytes[..len].to_vec(),
            json!({"kind": "truncate", "length": len}),
            outcome.clone(),
            outcome,
            released_chunks,
            description,
        );
    }
}

fn build() -> Vec<Vector> {
    let mut b = Builder {
        vectors: Vec::new(),
    };
    let one = |seed: &str, len: usize| make(seed, len, &[passphrase_for(seed)]);

    // ---- Positive: the chunking boundaries. ----
    let mut sizes = std::collections::BTreeMap::new();
    for len in [0usize, 1, 16383, 16384, 16385, 16484, 32768, 100_000] {
        let name = format!("ok_size_{len}");
        let made = one(&name, len);
        let chunks = len / CHUNK + 1;
        let last = len % CHUNK;
        b.positive(
            &name,
            &made,
            &format!(
                "{len}-byte plaintext: {} full chunk(s) and a final chunk of {last} byte(s)",
                chunks - 1
            ),
        );
        sizes.insert(len, made);
    }
    let two = make(
        "ok_two_slots",
        1000,
        &[
            passphrase_for("ok_two_slots (first slot)"),
            passphrase_for("ok_two_slots"),
        ],
    );
    b.positive(
        "ok_two_slots",
        &two,
        "two passphrase slots; the recorded passphrase opens the second (slot_passphrases lists both)",
    );

    let small = sizes[&1].clone();
    let hl = small.header_len;
    assert_eq!(hl, off::HEADER_END);
    let fk_auth = || err("header_authentication");

    // ---- Header: one bit flipped in each field (the MAC is left stale). ----
    let inv = || err("invalid_header");
    b.header_flip(
        "magic",
        &small,
        off::MAGIC,
        0x01,
        err("not_coffer"),
        err("not_coffer"),
        "first magic byte 0x89 -> 0x88: not a coffer file",
    );
    b.header_flip(
        "version",
        &small,
        off::VERSION,
        0x01,
        err_with("unsupported_version", json!({"version": 0})),
        err_with("unsupported_version", json!({"version": 0})),
        "version 1 -> 0",
    );
    b.header_flip(
        "flags",
        &small,
        off::FLAGS,
        0x01,
        inv(),
        inv(),
        "reserved flag bit set",
    );
    b.header_flip(
        "header_len",
        &small,
        off::HEADER_LEN + 1,
        0x01,
        inv(),
        inv(),
        "header length 192 -> 193: the slots no longer fill the header exactly",
    );
    b.header_flip(
        "slot_count",
        &small,
        off::SLOT_COUNT,
        0x01,
        inv(),
        inv(),
        "slot count 1 -> 0",
    );
    b.header_flip(
        "reserved",
        &small,
        off::RESERVED,
        0x01,
        inv(),
        inv(),
        "reserved header byte not zero",
    );
    b.header_flip(
        "header_nonce",
        &small,
        off::HEADER_NONCE,
        0x01,
        err_with("no_slot_opened", json!({"unsupported_slots": 0})),
        fk_auth(),
        "header nonce changed: the slot check value (bound to the nonce) no longer matches, \
         so the passphrase opens no slot; with the file key the MAC fails",
    );
    b.header_flip(
        "slot_type",
        &small,
        off::SLOT_TYPE,
        0x01,
        inv(),
        inv(),
        "slot type 1 -> 0, which is reserved",
    );
    b.header_flip(
        "slot_type_unknown",
        &small,
        off::SLOT_TYPE,
        0x02,
        err_with("no_slot_opened", json!({"unsupported_slots": 1})),
        fk_auth(),
        "slot type 1 -> 3, a type this version does not know: parsed and kept, never opens; \
         with the file key the MAC fails",
    );
    b.header_flip(
        "slot_reserved",
        &small,
        off::SLOT_RESERVED,
        0x01,
        inv(),
        inv(),
        "reserved slot byte not zero",
    );
    b.header_flip(
        "body_len",
        &small,
        off::BODY_LEN + 1,
        0x01,
        inv(),
        inv(),
        "slot body length 108 -> 109: runs past the header",
    );
    b.header_flip(
        "kdf_memory",
        &small,
        off::KDF_MEMORY + 3,
        0x01,
        err_with("no_slot_opened", json!({"unsupported_slots": 0})),
        fk_auth(),
        "Argon2id memory 64 -> 65 KiB: still acceptable, derives another key, opens no slot",
    );
    b.header_flip(
        "kdf_passes",
        &small,
        off::KDF_PASSES + 3,
        0x01,
        inv(),
        fk_auth(),
        "Argon2id passes 1 -> 0: refused before deriving; with the file key the MAC fails",
    );
    b.header_flip(
        "kdf_lanes",
        &small,
        off::KDF_LANES + 3,
        0x01,
        inv(),
        fk_auth(),
        "Argon2id lanes 1 -> 0: refused before deriving; with the file key the MAC fails",
    );
    b.header_flip(
        "kdf_salt",
        &small,
        off::KDF_SALT,
        0x01,
        err_with("no_slot_opened", json!({"unsupported_slots": 0})),
        fk_auth(),
        "Argon2id salt changed: derives another key, opens no slot",
    );
    b.header_flip(
        "check",
        &small,
        off::CHECK,
        0x01,
        err_with("no_slot_opened", json!({"unsupported_slots": 0})),
        fk_auth(),
        "slot check value changed: the passphrase no longer matches the slot",
    );
    b.header_flip(
        "wrapped_key",
        &small,
        off::WRAPPED_KEY,
        0x01,
        fk_auth(),
        fk_auth(),
        "wrapped file key changed: the check matches but the key does not authenticate",
    );
    b.header_flip(
        "mac",
        &small,
        off::MAC,
        0x01,
        fk_auth(),
        fk_auth(),
        "header MAC changed: the slot opens but the MAC fails",
    );

    // ---- Header: whole conditions, re-MACed so nothing else is wrong. ----
    {
        let mut bytes = small.bytes.clone();
        bytes[off::VERSION] = 2;
        remac(&mut bytes, hl, &small.file_key);
        let o = err_with("unsupported_version", json!({"version": 2}));
        b.negative("unknown_version", "header", &small, bytes,
            json!({"kind": "set", "field": "header.version", "offset": off::VERSION, "value": 2, "remac": true}),
            o.clone(), o, 0, "version 2 (header MAC recomputed): refused before anything else");
    }
    for (param, at, value) in [
        ("memory", off::KDF_MEMORY, 1025u32 * 1024),
        ("passes", off::KDF_PASSES, 17),
        ("lanes", off::KDF_LANES, 17),
    ] {
        let mut bytes = small.bytes.clone();
        bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
        remac(&mut bytes, hl, &small.file_key);
        b.negative(&format!("kdf_over_limit_{param}"), "header", &small, bytes,
            json!({"kind": "set", "field": format!("header.kdf_{param}"), "offset": at, "value": value, "remac": true}),
            err_with("kdf_over_limit", json!({"param": param})), ok(), 0,
            &format!("Argon2id {param} {value} (over the default cap; header MAC recomputed): \
                      refused before any derivation; the file key alone still decrypts"));
    }
    {
        let mut v = Vector {
            name: "wrong_passphrase".into(),
            description: "recorded passphrase is not the one the file was written for".into(),
            layer: "header",
            made: small.clone(),
            bytes: small.bytes.clone(),
            passphrase: "not the passphrase".into(),
            outcome: err_with("no_slot_opened", json!({"unsupported_slots": 0})),
            outcome_with_file_key: ok(),
            released_chunks: 0,
            mutation: json!({"kind": "passphrase"}),
        };
        v.made.slot_passphrases = vec![small.passphrase.clone()];
        b.vectors.push(v);
    }
    b.truncation(
        "truncated_in_header",
        "header",
        &small,
        100,
        err_with("truncated", json!({"at_chunk": null})),
        0,
        "file ends inside the header",
    );

    // ---- Payload prefix. ----
    b.truncation(
        "truncated_in_payload_prefix",
        "payload",
        &small,
        hl + 30,
        err_with("truncated", json!({"at_chunk": null})),
        0,
        "file ends inside the payload salt and commitment",
    );
    b.truncation(
        "truncated_after_payload_prefix",
        "payload",
        &small,
        hl + PREFIX_LEN,
        err_with("truncated", json!({"at_chunk": 0})),
        0,
        "payload has its salt and commitment but no chunk (not even the final one)",
    );
    b.payload_flip(
        "payload_flip_salt",
        "payload.salt",
        &small,
        0,
        0x01,
        err("commitment_mismatch"),
        0,
        "payload salt changed: the commitment no longer matches",
    );
    b.payload_flip(
        "payload_flip_commitment",
        "payload.commitment",
        &small,
        24,
        0x01,
        err("commitment_mismatch"),
        0,
        "commitment changed",
    );

    // ---- Chunks: on a 16484-byte file (one full chunk, a 100-byte final chunk). ----
    let two_chunks = sizes[&16484].clone();
    let c0 = PREFIX_LEN; // chunk 0, from the payload start
    let c1 = PREFIX_LEN + ENCRYPTED_CHUNK_SIZE; // the final chunk
    let final_len = 100 + TAG_LEN;
    b.payload_flip(
        "chunk_flip_body",
        "payload.chunk0.ciphertext",
        &two_chunks,
        c0 + 100,
        0x01,
        err_with("chunk_authentication", json!({"chunk": 0})),
        0,
        "a ciphertext bit of chunk 0 flipped",
    );
    b.payload_flip(
        "chunk_flip_tag",
        "payload.chunk1.tag",
        &two_chunks,
        c1 + final_len - 1,
        0x80,
        err_with("chunk_authentication", json!({"chunk": 1})),
        1,
        "a tag bit of the final chunk flipped: chunk 0 authenticated and may be released",
    );
    let base = two_chunks.header_len;
    b.truncation(
        "truncated_at_chunk_boundary",
        "payload",
        &two_chunks,
        base + c1,
        err_with("truncated", json!({"at_chunk": 1})),
        1,
        "file ends right after full chunk 0: the final (short) chunk is missing",
    );
    b.truncation(
        "truncated_inside_chunk",
        "payload",
        &two_chunks,
        base + c1 + 50,
        err_with("chunk_authentication", json!({"chunk": 1})),
        1,
        "file ends 50 bytes into the final chunk: those 50 bytes do not authenticate as a \
         final chunk (indistinguishable from a corrupted one)",
    );
    b.truncation(
        "truncated_inside_chunk_below_tag",
        "payload",
        &two_chunks,
        base + c1 + 5,
        err_with("truncated", json!({"at_chunk": null})),
        1,
        "file ends 5 bytes into the final chunk: shorter than a tag",
    );
    {
        let mut bytes = two_chunks.bytes.clone();
        bytes.push(0);
        b.negative(
            "trailing_byte",
            "payload",
            &two_chunks,
            bytes,
            json!({"kind": "append", "bytes": "00"}),
            err_with("trailing_data", json!({"bytes": 1})),
            err_with("trailing_data", json!({"bytes": 1})),
            1,
            "one zero byte after the final chunk",
        );
    }
    {
        // The final chunk plus trailing zeros exactly fill a full chunk's length: the
        // reader must not take it for a full chunk followed by a missing final chunk.
        let mut bytes = small.bytes.clone();
        let pad = ENCRYPTED_CHUNK_SIZE - (1 + TAG_LEN);
        bytes.resize(bytes.len() + pad, 0);
        let o = err_with("trailing_data", json!({"bytes": pad}));
        b.negative(
            "trailing_data_fills_chunk",
            "payload",
            &small,
            bytes,
            json!({"kind": "append", "bytes": format!("00 x {pad}")}),
            o.clone(),
            o,
            0,
            "1-byte file followed by zeros up to the length of a full chunk",
        );
    }
    {
        let other = one("other_file", 16484);
        let mut bytes = two_chunks.bytes.clone();
        let at = base + c0;
        let other_at = other.header_len + c0;
        bytes[at..at + ENCRYPTED_CHUNK_SIZE]
            .copy_from_slice(&other.bytes[other_at..other_at + ENCRYPTED_CHUNK_SIZE]);
        let o = err_with("chunk_authentication", json!({"chunk": 0}));
        b.negative(
            "chunk_from_other_file",
            "payload",
            &two_chunks,
            bytes,
            json!({"kind": "splice", "chunk": 0, "from": "other_file"}),
            o.clone(),
            o,
            0,
            "chunk 0 replaced by chunk 0 of another file of the same length (another file key)",
        );
    }
    {
        let four = sizes[&32768].clone();
        let mut bytes = four.bytes.clone();
        let at = four.header_len + PREFIX_LEN;
        let (a, rest) = bytes[at..].split_at_mut(ENCRYPTED_CHUNK_SIZE);
        a.swap_with_slice(&mut rest[..ENCRYPTED_CHUNK_SIZE]);
        let o = err_with("chunk_authentication", json!({"chunk": 0}));
        b.negative(
            "chunks_swapped",
            "payload",
            &four,
            bytes,
            json!({"kind": "swap", "chunks": [0, 1]}),
            o.clone(),
            o,
            0,
            "full chunks 0 and 1 of a 32768-byte file swapped",
        );
    }
    b.vectors
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("vectors")
}

fn render() -> (Vec<(String, Vec<u8>)>, String) {
    let vectors = build();
    let mut names = std::collections::BTreeSet::new();
    for v in &vectors {
        assert!(
            names.insert(v.name.clone()),
            "duplicate vector name {}",
            v.name
        );
    }
    let files = vectors
        .iter()
        .map(|v| (format!("{}.coffer", v.name), v.bytes.clone()))
        .collect();
    let index = json!({
        "format": "coffer test vectors v1",
        "generator": "tests/gen_vectors.rs",
        "chunk_size": CHUNK,
        "kdf_for_all_slots": {"memory_kib": KDF.memory_kib, "passes": KDF.passes, "lanes": KDF.lanes},
        "vectors": vectors.iter().map(Vector::to_json).collect::<Vec<_>>(),
    });
    let mut text = serde_json::to_string_pretty(&index).unwrap();
    text.push('\n');
    (files, text)
}

#[test]
fn vectors_are_reproducible() {
    let (files, index) = render();
    let dir = vectors_dir();
    if std::env::var_os("COFFER_REGENERATE_VECTORS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "coffer") {
                std::fs::remove_file(path).unwrap();
            }
        }
        for (name, bytes) in &files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        std::fs::write(dir.join("vectors.json"), &index).unwrap();
        eprintln!("wrote {} vectors to {}", files.len(), dir.display());
        return;
    }
    let hint =
        "run `COFFER_REGENERATE_VECTORS=1 cargo test --test gen_vectors` if the change is intended";
    let on_disk = std::fs::read_to_string(dir.join("vectors.json"))
        .unwrap_or_else(|e| panic!("tests/vectors/vectors.json: {e}; {hint}"));
    assert!(
        on_disk == index,
        "tests/vectors/vectors.json differs from the generator's output; {hint}"
    );
    for (name, bytes) in &files {
        let disk = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}; {hint}"));
        assert!(
            &disk == bytes,
            "tests/vectors/{name} differs from the generator's output; {hint}"
        );
    }
    let on_disk_count = std::fs::read_dir(&dir)
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
        on_disk_count,
        files.len(),
        "stray .coffer files in tests/vectors; {hint}"
    );
}
