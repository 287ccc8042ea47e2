//! The test-vector generator (tests/vectors/README.md describes what it writes).
//!
//! `cargo test --test library gen_vectors` regenerates every vector in memory and asserts that
//! the checked-in files under `tests/vectors/` are byte-for-byte what it produces, which
//! proves the generator (and the library's deterministic encryption) is reproducible.
//! `COFFER_REGENERATE_VECTORS=1 cargo test --test library gen_vectors` rewrites the files.
//!
//! All randomness is fixed: every secret, nonce and salt is a SHA-256 of a label and the
//! name of the file it belongs to. Expected outcomes are written down by hand below, from
//! the format's rules, not recorded from the library: `tests/library/vectors.rs` checks the
//! library against them.

use std::io::Write;
use std::path::{Path, PathBuf};

use coffer::internals::keys::LABEL_HEADER_MAC;
use coffer::internals::stream::{ENCRYPTED_CHUNK_SIZE, PREFIX_LEN, TAG_LEN};
use coffer::{
    Context, Encryptor, FileKey, HybridIdentity, KdfParams, Passphrase, PassphraseKey, RawSlot,
    Recipient, SymmetricKey, X25519Identity,
};
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

/// Byte offsets in a header whose only slot is a key-file slot (FORMAT.md, "Key-file slot
/// body").
mod kf_off {
    pub const SLOT_TYPE: usize = 48;
    pub const BODY: usize = 52;
    pub const CHECK: usize = 52; // 32 bytes
    pub const WRAPPED_KEY: usize = 84; // 32 bytes of ciphertext, then the tag
    pub const TAG: usize = 116; // 16 bytes
    pub const MAC: usize = 132; // 32 bytes
    pub const HEADER_END: usize = 164;
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

/// What one slot of a generated file is made for.
#[derive(Clone)]
enum SlotFor {
    /// A passphrase slot (Argon2id salt from the slot's index).
    Passphrase(String),
    /// A key-file slot for this 32-byte key.
    KeyFile([u8; 32]),
    /// A slot of a type this version does not define, copied as it is.
    Unknown(RawSlot),
    /// An X25519 slot for the identity with this secret, sealed with this ephemeral secret.
    X25519 {
        identity: [u8; 32],
        ephemeral_secret: [u8; 32],
    },
    /// A hybrid slot for the identity with this X-Wing seed, encapsulated with this
    /// randomness.
    Hybrid {
        identity: [u8; 32],
        randomness: [u8; 64],
    },
}

/// The key of key file `i` of source `seed_name`.
fn key_file_key(seed_name: &str, i: usize) -> [u8; 32] {
    seeded(seed_name, &format!("key file {i}"))
}

/// The key-file text line of a key.
fn key_line(key: &[u8; 32]) -> String {
    SymmetricKey::from_bytes(*key).to_line().to_string()
}

/// Identity line of an X25519 identity secret (coffer's encoding).
fn x25519_line(secret: &[u8; 32]) -> String {
    X25519Identity::from_secret_bytes(*secret)
        .to_line()
        .to_string()
}

/// Identity line of a hybrid identity seed (coffer's encoding).
fn hybrid_line(seed: &[u8; 32]) -> String {
    HybridIdentity::from_seed((*seed).into())
        .to_line()
        .to_string()
}

/// The X25519 slot for identity `i` of `seed_name`, at slot index `slot`.
fn x25519_slot(seed_name: &str, i: usize, slot: usize) -> SlotFor {
    SlotFor::X25519 {
        identity: seeded(seed_name, &format!("x25519 identity {i}")),
        ephemeral_secret: seeded(seed_name, &format!("ephemeral secret {slot}")),
    }
}

/// The hybrid slot for identity `i` of `seed_name`, at slot index `slot`.
fn hybrid_slot(seed_name: &str, i: usize, slot: usize) -> SlotFor {
    let mut randomness = [0u8; 64];
    randomness[..32].copy_from_slice(&seeded(seed_name, &format!("ml-kem randomness {slot}")));
    randomness[32..].copy_from_slice(&seeded(seed_name, &format!("ephemeral secret {slot}")));
    SlotFor::Hybrid {
        identity: seeded(seed_name, &format!("hybrid identity {i}")),
        randomness,
    }
}

/// An unknown-type slot writes itself as it is.
struct VerbatimSlot(RawSlot);

impl Recipient for VerbatimSlot {
    fn seal(&self, _: &FileKey, _: coffer::FileBinding<'_>) -> coffer::Result<RawSlot> {
        Ok(self.0.clone())
    }
}

/// The credentials a reader is given: key files (tried first, in order), then identities
/// (in order), then a passphrase.
#[derive(Clone, Default)]
struct Credentials {
    key_files: Vec<String>,
    identities: Vec<String>,
    passphrase: Option<String>,
}

impl Credentials {
    fn passphrase(p: &str) -> Self {
        Credentials {
            passphrase: Some(p.to_string()),
            ..Credentials::default()
        }
    }

    fn key_files(keys: &[[u8; 32]]) -> Self {
        Credentials {
            key_files: keys.iter().map(key_line).collect(),
            ..Credentials::default()
        }
    }

    fn identities(lines: &[String]) -> Self {
        Credentials {
            identities: lines.to_vec(),
            ..Credentials::default()
        }
    }

    /// Adds these fields to a JSON object (absent fields mean "none").
    fn write_into(&self, v: &mut Value) {
        if !self.key_files.is_empty() {
            v["key_files"] = json!(self.key_files);
        }
        if !self.identities.is_empty() {
            v["identities"] = json!(self.identities);
        }
        if let Some(p) = &self.passphrase {
            v["passphrase"] = json!(p);
        }
    }
}

/// A correctly encrypted file and the inputs that made it.
#[derive(Clone)]
struct Made {
    seed_name: String,
    bytes: Vec<u8>,
    file_key: [u8; 32],
    slots: Vec<SlotFor>,
    plaintext: Vec<u8>,
    header_len: usize,
    /// The encryption context the file is bound to (FORMAT.md, "Context"); most have none.
    context: Vec<(String, String)>,
}

impl Made {
    /// Every credential of the file: all its key files, and its last passphrase.
    fn credentials(&self) -> Credentials {
        let mut creds = Credentials::default();
        for slot in &self.slots {
            match slot {
                SlotFor::Passphrase(p) => creds.passphrase = Some(p.clone()),
                SlotFor::KeyFile(key) => creds.key_files.push(key_line(key)),
                SlotFor::Unknown(_) => {}
                SlotFor::X25519 { identity, .. } => creds.identities.push(x25519_line(identity)),
                SlotFor::Hybrid { identity, .. } => creds.identities.push(hybrid_line(identity)),
            }
        }
        creds
    }

    fn passphrases(&self) -> Vec<String> {
        self.slots
            .iter()
            .filter_map(|slot| match slot {
                SlotFor::Passphrase(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }

    /// Whether any slot is not a passphrase slot (such files list `slot_credentials`).
    fn has_other_slots(&self) -> bool {
        self.slots
            .iter()
            .any(|slot| !matches!(slot, SlotFor::Passphrase(_)))
    }
}

/// Encrypts `plaintext(seed_name, len)` with one slot per passphrase.
fn make(seed_name: &str, len: usize, passphrases: &[String]) -> Made {
    let slots: Vec<SlotFor> = passphrases
        .iter()
        .map(|p| SlotFor::Passphrase(p.clone()))
        .collect();
    make_with_slots(seed_name, len, &slots)
}

/// Encrypts `plaintext(seed_name, len)` with these slots, in this order.
fn make_with_slots(seed_name: &str, len: usize, slots: &[SlotFor]) -> Made {
    make_in_context(seed_name, len, slots, &[])
}

/// As [`make_with_slots`], for a file bound to these context pairs.
fn make_in_context(
    seed_name: &str,
    len: usize,
    slots: &[SlotFor],
    context: &[(&str, &str)],
) -> Made {
    let file_key = seeded(seed_name, "file key");
    let header_nonce = seeded(seed_name, "header nonce");
    let mut payload_salt = [0u8; 24];
    payload_salt.copy_from_slice(&seeded(seed_name, "payload salt")[..24]);
    let recipients: Vec<Box<dyn Recipient>> = slots
        .iter()
        .enumerate()
        .map(|(i, slot)| -> Box<dyn Recipient> {
            match slot {
                SlotFor::Passphrase(p) => {
                    let mut salt = [0u8; 16];
                    salt.copy_from_slice(&seeded(seed_name, &format!("kdf salt {i}"))[..16]);
                    Box::new(
                        PassphraseKey::for_test_vectors(
                            &Passphrase::new(p.as_bytes().to_vec()),
                            KDF,
                            salt,
                        )
                        .expect("small parameters are under the caps"),
                    )
                }
                SlotFor::KeyFile(key) => Box::new(SymmetricKey::from_bytes(*key)),
                SlotFor::Unknown(raw) => Box::new(VerbatimSlot(raw.clone())),
                SlotFor::X25519 {
                    identity,
                    ephemeral_secret,
                } => Box::new(
                    X25519Identity::from_secret_bytes(*identity)
                        .recipient()
                        .for_test_vectors(*ephemeral_secret),
                ),
                SlotFor::Hybrid {
                    identity,
                    randomness,
                } => Box::new(
                    HybridIdentity::from_seed((*identity).into())
                        .recipient()
                        .for_test_vectors(*randomness),
                ),
            }
        })
        .collect();
    let key_refs: Vec<&dyn Recipient> = recipients.iter().map(|r| r.as_ref()).collect();
    let enc = Encryptor::from_parts_in_context(
        &FileKey::from_bytes(file_key),
        header_nonce,
        payload_salt,
        &Context::from_pairs(context.iter().copied()).expect("a valid context"),
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
        slots: slots.to_vec(),
        plaintext: data,
        header_len,
        context: context
            .iter()
            .map(|&(k, v)| (k.to_string(), v.to_string()))
            .collect(),
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
    /// Credentials recorded for this vector (may differ from the ones that made it).
    credentials: Credentials,
    /// More credential sets, each with the outcome a reader must give with it alone.
    credential_checks: Vec<(Credentials, Outcome)>,
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
        self.credentials.write_into(&mut v);
        if !self.made.context.is_empty() {
            v["context"] = self
                .made
                .context
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
        if self.made.has_other_slots() {
            v["slot_credentials"] = self.made.slots.iter().map(slot_json).collect();
        } else if self.made.slots.len() > 1 {
            v["slot_passphrases"] = json!(self.made.passphrases());
        }
        if !self.credential_checks.is_empty() {
            v["credential_checks"] = self
                .credential_checks
                .iter()
                .map(|(creds, outcome)| {
                    let mut c = json!({"outcome": outcome.name, "outcome_detail": outcome.detail});
                    creds.write_into(&mut c);
                    c
                })
                .collect();
        }
        v
    }
}

/// A slot of `slot_credentials`: its type and what opens it.
fn slot_json(slot: &SlotFor) -> Value {
    match slot {
        SlotFor::Passphrase(p) => json!({"type": "passphrase", "passphrase": p}),
        SlotFor::KeyFile(key) => json!({"type": "key_file", "key_file": key_line(key)}),
        SlotFor::Unknown(raw) => json!({"type": "unknown", "slot_type": raw.slot_type}),
        SlotFor::X25519 {
            identity,
            ephemeral_secret,
        } => json!({
            "type": "x25519",
            "identity": x25519_line(identity),
            "recipient": X25519Identity::from_secret_bytes(*identity).recipient().to_string(),
            "ephemeral_secret": hex(ephemeral_secret),
        }),
        SlotFor::Hybrid {
            identity,
            randomness,
        } => json!({
            "type": "hybrid",
            "identity": hybrid_line(identity),
            "recipient": HybridIdentity::from_seed((*identity).into()).recipient().to_string(),
            "encapsulation_randomness": hex(randomness),
        }),
    }
}

struct Builder {
    vectors: Vec<Vector>,
}

impl Builder {
    /// The vector added last, to record more credentials on it.
    fn last(&mut self) -> &mut Vector {
        self.vectors.last_mut().expect("a vector was added")
    }

    fn positive(&mut self, name: &str, made: &Made, description: &str) {
        self.vectors.push(Vector {
            name: name.to_string(),
            description: description.to_string(),
            layer: "file",
            made: made.clone(),
            bytes: made.bytes.clone(),
            credentials: made.credentials(),
            credential_checks: Vec::new(),
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
            credentials: made.credentials(),
            credential_checks: Vec::new(),
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
        let name = format!("header_flip_{field}");
        self.named_header_flip(
            &name,
            field,
            made,
            offset,
            mask,
            outcome,
            outcome_with_file_key,
            description,
        );
    }

    /// [`Builder::header_flip`] under a name of its own.
    #[allow(clippy::too_many_arguments)]
    fn named_header_flip(
        &mut self,
        name: &str,
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
            name,
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
        let v = Vector {
            name: "wrong_passphrase".into(),
            description: "recorded passphrase is not the one the file was written for".into(),
            layer: "header",
            made: small.clone(),
            bytes: small.bytes.clone(),
            credentials: Credentials::passphrase("not the passphrase"),
            credential_checks: Vec::new(),
            outcome: err_with("no_slot_opened", json!({"unsupported_slots": 0})),
            outcome_with_file_key: ok(),
            released_chunks: 0,
            mutation: json!({"kind": "passphrase"}),
        };
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
    key_file_vectors(&mut b);
    context_vectors(&mut b);
    public_key_vectors(&mut b);
    b.vectors
}

/// Vectors of the key-file slot (type 0x02) and of files with several kinds of slot.
fn key_file_vectors(b: &mut Builder) {
    let no_slot =
        |unsupported: usize| err_with("no_slot_opened", json!({"unsupported_slots": unsupported}));
    let fk_auth = || err("header_authentication");
    let inv = || err("invalid_header");

    // ---- Positive. ----
    let key0 = key_file_key("ok_key_file", 0);
    let single = make_with_slots("ok_key_file", 20480, &[SlotFor::KeyFile(key0)]);
    assert_eq!(single.header_len, kf_off::HEADER_END);
    b.positive(
        "ok_key_file",
        &single,
        "one key-file slot (key file 0 of the source), 20480-byte plaintext",
    );
    b.last().credential_checks.push((
        Credentials::passphrase(&passphrase_for("ok_key_file")),
        no_slot(0),
    ));

    const MIXED: &str = "ok_key_file_and_passphrase";
    let (k0, k1) = (key_file_key(MIXED, 0), key_file_key(MIXED, 1));
    let mixed = make_with_slots(
        MIXED,
        1000,
        &[
            SlotFor::Passphrase(passphrase_for(MIXED)),
            SlotFor::KeyFile(k0),
            SlotFor::KeyFile(k1),
        ],
    );
    b.positive(
        MIXED,
        &mixed,
        "a passphrase slot and two key-file slots: each credential alone opens the file",
    );
    b.last().credential_checks = vec![
        (Credentials::key_files(&[k0]), ok()),
        (Credentials::key_files(&[k1]), ok()),
        (Credentials::passphrase(&passphrase_for(MIXED)), ok()),
        (Credentials::key_files(&[key0]), no_slot(0)),
    ];

    let name = "ok_unknown_and_key_file";
    let unknown = RawSlot {
        slot_type: 0xf0,
        body: seeded(name, "unknown slot body").to_vec(),
    };
    let after_unknown = make_with_slots(
        name,
        100,
        &[
            SlotFor::Unknown(unknown),
            SlotFor::KeyFile(key_file_key(name, 0)),
        ],
    );
    b.positive(
        name,
        &after_unknown,
        "a slot of type 0xf0 (not defined in version 1, 32-byte body), then a key-file slot: \
         the reader skips the unknown slot and opens the key-file slot",
    );
    b.last()
        .credential_checks
        .push((Credentials::passphrase(&passphrase_for(name)), no_slot(1)));

    // ---- Header conditions on ok_key_file. ----
    {
        let wrong = key_file_key("key_file_wrong_key", 0);
        b.negative(
            "key_file_wrong_key",
            "header",
            &single,
            single.bytes.clone(),
            json!({"kind": "key_file"}),
            no_slot(0),
            ok(),
            0,
            "the file is intact; the recorded key file is not the one it was written for",
        );
        b.last().credentials = Credentials::key_files(&[wrong]);
    }
    b.named_header_flip(
        "key_file_flip_header_nonce",
        "header_nonce",
        &single,
        off::HEADER_NONCE + 31,
        0x01,
        no_slot(0),
        fk_auth(),
        "header nonce of a key-file file changed: the slot's check (bound to the nonce) no \
         longer matches the key file; with the file key the MAC fails",
    );
    b.named_header_flip(
        "key_file_flip_slot_type",
        "slot0.slot_type",
        &single,
        kf_off::SLOT_TYPE,
        0x01,
        no_slot(1),
        fk_auth(),
        "key-file slot type 2 -> 3, a type this version does not know: skipped, so the key \
         file opens no slot; with the file key the MAC fails",
    );
    b.named_header_flip(
        "key_file_flip_check",
        "slot0.check",
        &single,
        kf_off::CHECK,
        0x01,
        no_slot(0),
        fk_auth(),
        "key-file slot check value changed: the right key file no longer matches the slot; \
         with the file key the MAC fails",
    );
    b.named_header_flip(
        "key_file_flip_wrapped_key",
        "slot0.wrapped_key",
        &single,
        kf_off::WRAPPED_KEY,
        0x01,
        fk_auth(),
        fk_auth(),
        "key-file slot wrapped key (ciphertext part) changed: the check matches but the key \
         does not authenticate",
    );
    b.named_header_flip(
        "key_file_flip_tag",
        "slot0.wrapped_key_tag",
        &single,
        kf_off::TAG + 15,
        0x80,
        fk_auth(),
        fk_auth(),
        "key-file slot wrapped key (tag part) changed: the check matches but the key does \
         not authenticate",
    );
    b.named_header_flip(
        "key_file_flip_mac",
        "mac",
        &single,
        kf_off::MAC,
        0x01,
        fk_auth(),
        fk_auth(),
        "header MAC of a key-file file changed: the slot opens but the MAC fails",
    );
    for body_len in [79usize, 81] {
        // Cut the body's last byte, or add a zero byte; lengths and MAC made consistent.
        let mut header = single.bytes[..kf_off::MAC].to_vec();
        header.resize(kf_off::BODY + body_len, 0);
        let header_len = header.len() + 32;
        header[10..12].copy_from_slice(&(header_len as u16).to_be_bytes());
        header[kf_off::BODY - 2..kf_off::BODY].copy_from_slice(&(body_len as u16).to_be_bytes());
        header.resize(header_len, 0);
        remac(&mut header, header_len, &single.file_key);
        let mut bytes = header;
        bytes.extend_from_slice(&single.bytes[kf_off::HEADER_END..]);
        b.negative(
            &format!("key_file_body_len_{body_len}"),
            "header",
            &single,
            bytes,
            json!({"kind": "set", "field": "header.slot0.body_len", "offset": kf_off::BODY - 2,
                   "value": body_len, "remac": true}),
            inv(),
            inv(),
            0,
            &format!(
                "key-file slot body of {body_len} bytes instead of 80 (header length and MAC \
                 recomputed): refused while parsing"
            ),
        );
    }
    {
        // The same key file's slot from another file: bound to that file's header nonce.
        let other = make_with_slots("key_file_other_file", 1, &[SlotFor::KeyFile(key0)]);
        let mut bytes = single.bytes.clone();
        let body = kf_off::BODY..kf_off::MAC;
        bytes[body.clone()].copy_from_slice(&other.bytes[body]);
        remac(&mut bytes, kf_off::HEADER_END, &single.file_key);
        b.negative(
            "key_file_slot_from_other_file",
            "header",
            &single,
            bytes,
            json!({"kind": "splice", "field": "header.slot0.body", "from": "key_file_other_file",
                   "remac": true}),
            no_slot(0),
            ok(),
            0,
            "the key-file slot replaced by the slot the same key file has in another file \
             (header MAC recomputed): its check is bound to the other header nonce, so the key \
             file opens no slot",
        );
    }
    {
        let mut bytes = single.bytes.clone();
        bytes[kf_off::SLOT_TYPE] = 0x01;
        remac(&mut bytes, kf_off::HEADER_END, &single.file_key);
        b.negative(
            "key_file_slot_type_passphrase",
            "header",
            &single,
            bytes,
            json!({"kind": "set", "field": "header.slot0.slot_type", "offset": kf_off::SLOT_TYPE,
                   "value": 1, "remac": true}),
            inv(),
            inv(),
            0,
            "key-file slot type 2 -> 1 (header MAC recomputed): a passphrase slot body must \
             be 108 bytes, this one is 80",
        );
    }
    {
        // Slot 0 of ok_key_file_and_passphrase is the passphrase slot.
        let memory_at = kf_off::BODY;
        let value = 1025u32 * 1024;
        let mut bytes = mixed.bytes.clone();
        bytes[memory_at..memory_at + 4].copy_from_slice(&value.to_be_bytes());
        remac(&mut bytes, mixed.header_len, &mixed.file_key);
        b.negative(
            "kdf_over_limit_opened_by_key_file",
            "header",
            &mixed,
            bytes,
            json!({"kind": "set", "field": "header.slot0.kdf_memory", "offset": memory_at,
                   "value": value, "remac": true}),
            err_with("kdf_over_limit", json!({"param": "memory"})),
            ok(),
            0,
            "the passphrase slot asks for Argon2id memory over the default cap (header MAC \
             recomputed): the passphrase is refused before any derivation, but a key file, \
             tried first, opens the file",
        );
        let last = b.last();
        last.credentials = Credentials::passphrase(&passphrase_for(MIXED));
        let mut key_then_pass = Credentials::key_files(&[k1]);
        key_then_pass.passphrase = Some(passphrase_for(MIXED));
        last.credential_checks = vec![
            (Credentials::key_files(&[k0]), ok()),
            (key_then_pass, ok()),
            (Credentials::key_files(&[key0]), no_slot(0)),
        ];
    }
}

/// The context block (FORMAT.md, "Context") of these pairs, as written here from the
/// text, in the order given (so that non-canonical blocks can be made too).
fn context_block(count: u16, pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut block = count.to_be_bytes().to_vec();
    for (key, value) in pairs {
        for field in [key, value] {
            block.extend_from_slice(&(field.len() as u16).to_be_bytes());
            block.extend_from_slice(field);
        }
    }
    block
}

/// `made` with its context block (at offset 48, `old_len` bytes) replaced by `block`: the
/// flag, the header length and the MAC follow, so only the block is wrong.
fn with_context_block(made: &Made, old_len: usize, block: &[u8]) -> Vec<u8> {
    const CONTEXT_AT: usize = 48;
    let mut bytes = made.bytes[..CONTEXT_AT].to_vec();
    bytes[off::FLAGS] = if block.is_empty() { 0 } else { 0x02 };
    bytes.extend_from_slice(block);
    bytes.extend_from_slice(&made.bytes[CONTEXT_AT + old_len..made.header_len]);
    let header_len = bytes.len();
    bytes[off::HEADER_LEN..off::HEADER_LEN + 2].copy_from_slice(&(header_len as u16).to_be_bytes());
    remac(&mut bytes, header_len, &made.file_key);
    bytes.extend_from_slice(&made.bytes[made.header_len..]);
    bytes
}

/// Vectors of the encryption context (header flag 0x02, the context block, and its
/// binding into the payload).
fn context_vectors(b: &mut Builder) {
    let inv = || err("invalid_header");
    let fk_auth = || err("header_authentication");
    let commitment = || err("commitment_mismatch");

    // ---- Positive. ----
    const NAME: &str = "ok_context";
    let host: (&[u8], &[u8]) = (b"host", b"db1.example");
    let path: (&[u8], &[u8]) = (b"path", b"/var/backups/db.tar");
    let made = make_in_context(
        NAME,
        20000,
        &[SlotFor::KeyFile(key_file_key(NAME, 0))],
        &[("path", "/var/backups/db.tar"), ("host", "db1.example")],
    );
    let block = context_block(2, &[host, path]);
    assert_eq!(
        made.bytes[48..48 + block.len()],
        block,
        "the block as FORMAT.md writes it"
    );
    b.positive(
        NAME,
        &made,
        "a key-file slot and the context {host: db1.example, path: /var/backups/db.tar}          (header flag 0x02, a 48-byte context block before the slot; the payload bound to it)",
    );
    const UTF8: &str = "ok_context_utf8";
    let utf8 = make_in_context(
        UTF8,
        100,
        &[SlotFor::Passphrase(passphrase_for(UTF8))],
        &[("é", "ünïcode"), ("z", "a=b"), ("A", "1")],
    );
    b.positive(
        UTF8,
        &utf8,
        "a passphrase slot and three pairs whose keys sort bytewise as A, z, é (0x41, 0x7a,          0xc3 0xa9); a value may hold '='",
    );

    // ---- The flag. ----
    b.named_header_flip(
        "context_flag_cleared",
        "flags",
        &made,
        off::FLAGS,
        0x02,
        inv(),
        inv(),
        "context flag cleared: the context block is read as a slot, whose type byte (the          high byte of the pair count) is 0x00, reserved",
    );
    let small = make(
        "context_flag_without_block",
        1,
        &[passphrase_for("context_flag_without_block")],
    );
    b.named_header_flip(
        "context_flag_without_block",
        "flags",
        &small,
        off::FLAGS,
        0x02,
        inv(),
        inv(),
        "context flag set on a file without a context: the slot's first bytes read as a pair          count of 256, over the limit of 64",
    );

    // ---- Non-canonical blocks (header MAC recomputed: only the block is wrong). ----
    let old_len = block.len();
    let cases: [(&str, Vec<u8>, &str); 12] = [
        (
            "context_empty",
            context_block(0, &[]),
            "the flag set and a pair count of 0: the empty context has no block",
        ),
        (
            "context_keys_unsorted",
            context_block(2, &[path, host]),
            "keys not in ascending bytewise order",
        ),
        (
            "context_key_duplicate",
            context_block(2, &[host, (b"host", path.1)]),
            "a key twice",
        ),
        (
            "context_count_past_pairs",
            context_block(3, &[host, path]),
            "a pair count of 3 with two pairs: the third runs into the slot and past the header",
        ),
        (
            "context_count_65",
            context_block(65, &[host, path]),
            "a pair count of 65, over the limit of 64",
        ),
        (
            "context_value_len_past_header",
            {
                let mut b = block.clone();
                let at = b.len() - path.1.len() - 2;
                b[at..at + 2].copy_from_slice(&0xffffu16.to_be_bytes());
                b
            },
            "the last value's length runs past the header",
        ),
        (
            "context_empty_key",
            context_block(2, &[(b"", b"x"), host]),
            "an empty key",
        ),
        (
            "context_empty_value",
            context_block(2, &[(b"host", b""), path]),
            "an empty value",
        ),
        (
            "context_key_with_equals",
            context_block(2, &[(b"ho=st", host.1), path]),
            "a key holding '='",
        ),
        (
            "context_reserved_key",
            context_block(2, &[(b"aws:host", host.1), path]),
            "a key with the reserved prefix \"aws:\"",
        ),
        (
            "context_control_character",
            context_block(2, &[(b"host", b"db1\nexample"), path]),
            "a value holding a line feed",
        ),
        (
            "context_not_utf8",
            context_block(2, &[(b"host", b"db1\xffexample"), path]),
            "a value that is not UTF-8",
        ),
    ];
    for (name, new_block, description) in cases {
        let bytes = with_context_block(&made, old_len, &new_block);
        b.negative(
            name,
            "header",
            &made,
            bytes,
            json!({"kind": "set", "field": "header.context_block", "offset": 48,
                   "value": hex(&new_block), "remac": true}),
            inv(),
            inv(),
            0,
            &format!("{description} (header length and MAC recomputed): refused while parsing"),
        );
    }

    // ---- What the MAC and the payload bind. ----
    let value_at = 48 + 2 + 2 + host.0.len() + 2;
    b.named_header_flip(
        "context_flip_value",
        "context",
        &made,
        value_at + 2,
        0x03,
        fk_auth(),
        fk_auth(),
        "a context value changed, db1 -> db2 (the MAC left stale): the key-file slot opens,          the header MAC fails",
    );
    let other = context_block(2, &[(b"host", b"db2.example"), path]);
    b.negative(
        "context_value_changed_remac",
        "header",
        &made,
        with_context_block(&made, old_len, &other),
        json!({"kind": "set", "field": "header.context_block", "offset": 48,
               "value": hex(&other), "remac": true}),
        commitment(),
        commitment(),
        0,
        "a context value changed, db1 -> db2, and the header MAC recomputed with the file          key: the payload is bound to the context block, so its commitment fails",
    );
    b.negative(
        "context_removed_remac",
        "header",
        &made,
        with_context_block(&made, old_len, &[]),
        json!({"kind": "set", "field": "header.context_block", "offset": 48, "value": "",
               "remac": true}),
        commitment(),
        commitment(),
        0,
        "the context block removed and the flag cleared (header length and MAC recomputed):          the payload was bound to the context, so its commitment fails",
    );
}

/// Byte offsets in a header whose only slot is an X25519 slot (FORMAT.md, "X25519 slot
/// body").
mod x_off {
    pub const BODY: usize = 52;
    pub const SHARE: usize = 52; // 32 bytes
    pub const CHECK: usize = 84; // 32 bytes
    pub const WRAPPED_KEY: usize = 116; // 48 bytes
    pub const MAC: usize = 164;
    pub const HEADER_END: usize = 196;
}

/// Byte offsets in a header whose only slot is a hybrid slot (FORMAT.md, "Hybrid slot
/// body").
mod h_off {
    pub const BODY: usize = 52;
    pub const ML_KEM_CT: usize = 52; // 1088 bytes
    pub const X25519_SHARE: usize = 1140; // 32 bytes
    pub const CHECK: usize = 1172; // 32 bytes
    pub const WRAPPED_KEY: usize = 1204; // 48 bytes
    pub const MAC: usize = 1252;
    pub const HEADER_END: usize = 1284;
}

/// A point of order 8 on Curve25519 (a low-order X25519 share): every X25519 secret
/// agrees the all-zero secret with it.
const LOW_ORDER_POINT: &str = "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800";

/// Vectors of the public-key slots: X25519 (type 0x10) and hybrid X-Wing (type 0x11).
fn public_key_vectors(b: &mut Builder) {
    let no_slot = || err_with("no_slot_opened", json!({"unsupported_slots": 0}));
    let auth = || err("header_authentication");

    // ---- Positive. ----
    let x = make_with_slots("ok_x25519", 1000, &[x25519_slot("ok_x25519", 0, 0)]);
    assert_eq!(x.header_len, x_off::HEADER_END);
    b.positive(
        "ok_x25519",
        &x,
        "one X25519 slot (X25519 identity 0 of the source), 1000-byte plaintext",
    );
    let stranger_x = x25519_line(&seeded("ok_x25519", "x25519 identity 1"));
    let stranger_h = hybrid_line(&seeded("ok_x25519", "hybrid identity 0"));
    b.last().credential_checks = vec![
        (
            Credentials::identities(std::slice::from_ref(&stranger_x)),
            no_slot(),
        ),
        (Credentials::identities(&[stranger_h]), no_slot()),
    ];

    let h = make_with_slots("ok_hybrid", 1000, &[hybrid_slot("ok_hybrid", 0, 0)]);
    assert_eq!(h.header_len, h_off::HEADER_END);
    b.positive(
        "ok_hybrid",
        &h,
        "one hybrid (X-Wing) slot (hybrid identity 0 of the source), 1000-byte plaintext",
    );
    let stranger_h = hybrid_line(&seeded("ok_hybrid", "hybrid identity 1"));
    b.last().credential_checks = vec![
        (
            Credentials::identities(std::slice::from_ref(&stranger_h)),
            no_slot(),
        ),
        (Credentials::identities(&[stranger_x]), no_slot()),
    ];

    const MIXED: &str = "ok_recipients_and_symmetric";
    let mixed = make_with_slots(
        MIXED,
        20000,
        &[
            SlotFor::Passphrase(passphrase_for(MIXED)),
            x25519_slot(MIXED, 0, 1),
            SlotFor::KeyFile(key_file_key(MIXED, 0)),
            hybrid_slot(MIXED, 0, 3),
            hybrid_slot(MIXED, 1, 4),
        ],
    );
    b.positive(
        MIXED,
        &mixed,
        "a passphrase slot, an X25519 slot, a key-file slot and two hybrid slots: each \
         credential alone opens the file",
    );

    // ---- X25519 slot conditions. ----
    {
        let mut bytes = x.bytes.clone();
        bytes[x_off::SHARE..x_off::SHARE + 32].copy_from_slice(&hex_bytes(LOW_ORDER_POINT));
        remac(&mut bytes, x_off::HEADER_END, &x.file_key);
        b.negative(
            "x25519_low_order_share",
            "header",
            &x,
            bytes,
            json!({"kind": "set", "field": "header.slot0.ephemeral_share", "offset": x_off::SHARE,
                   "value": LOW_ORDER_POINT, "remac": true}),
            auth(),
            ok(),
            0,
            "X25519 ephemeral share replaced by a point of order 8 (header MAC recomputed): \
             the shared secret is all zero, which a reader MUST refuse (the slot is not \
             just someone else's)",
        );
    }
    b.named_header_flip(
        "x25519_flip_ephemeral_share",
        "slot0.ephemeral_share",
        &x,
        x_off::SHARE + 7,
        0x01,
        no_slot(),
        auth(),
        "X25519 ephemeral share changed: another shared secret and another HKDF info, so \
         the check no longer matches; with the file key the MAC fails",
    );
    b.named_header_flip(
        "x25519_flip_check",
        "slot0.check",
        &x,
        x_off::CHECK,
        0x01,
        no_slot(),
        auth(),
        "X25519 slot check value changed: the identity no longer matches the slot; with \
         the file key the MAC fails",
    );
    b.named_header_flip(
        "x25519_flip_wrapped_key",
        "slot0.wrapped_key",
        &x,
        x_off::WRAPPED_KEY,
        0x01,
        auth(),
        auth(),
        "X25519 slot wrapped key changed: the check matches but the key does not \
         authenticate",
    );
    slot_from_other_file(
        b,
        "x25519_slot_from_other_file",
        &x,
        &make_with_slots("x25519_other_file", 1, &[x25519_slot("ok_x25519", 0, 0)]),
        x_off::BODY..x_off::MAC,
        "the X25519 slot replaced by the slot the same identity has in another file, made \
         with the same ephemeral secret (header MAC recomputed): its check is bound to the \
         other header nonce, so the identity opens no slot",
    );

    // ---- Hybrid slot conditions. ----
    {
        let wrong = hybrid_line(&seeded("hybrid_wrong_identity", "hybrid identity 0"));
        b.negative(
            "hybrid_wrong_identity",
            "header",
            &h,
            h.bytes.clone(),
            json!({"kind": "identity"}),
            no_slot(),
            ok(),
            0,
            "the file is intact; the recorded identity is not the one it was written for",
        );
        b.last().credentials = Credentials::identities(&[wrong]);
    }
    b.named_header_flip(
        "hybrid_flip_encapsulation",
        "slot0.encapsulation.ml_kem",
        &h,
        h_off::ML_KEM_CT + 100,
        0x01,
        no_slot(),
        auth(),
        "one bit of the ML-KEM-768 ciphertext in the X-Wing encapsulation changed: ML-KEM \
         rejects implicitly (a pseudorandom secret), so the check no longer matches; with \
         the file key the MAC fails",
    );
    b.named_header_flip(
        "hybrid_flip_encapsulation_x25519",
        "slot0.encapsulation.x25519_share",
        &h,
        h_off::X25519_SHARE + 7,
        0x01,
        no_slot(),
        auth(),
        "one bit of the X25519 share in the X-Wing encapsulation changed: another shared \
         secret, so the check no longer matches; with the file key the MAC fails",
    );
    {
        let mut bytes = h.bytes.clone();
        let at = h_off::X25519_SHARE;
        bytes[at..at + 32].copy_from_slice(&hex_bytes(LOW_ORDER_POINT));
        remac(&mut bytes, h_off::HEADER_END, &h.file_key);
        b.negative(
            "hybrid_low_order_share",
            "header",
            &h,
            bytes,
            json!({"kind": "set", "field": "header.slot0.encapsulation.x25519_share",
                   "offset": at, "value": LOW_ORDER_POINT, "remac": true}),
            auth(),
            ok(),
            0,
            "the X25519 share of the X-Wing encapsulation replaced by a point of order 8 \
             (header MAC recomputed): a non-contributory share, which the decapsulation \
             MUST refuse",
        );
    }
    b.named_header_flip(
        "hybrid_flip_check",
        "slot0.check",
        &h,
        h_off::CHECK,
        0x01,
        no_slot(),
        auth(),
        "hybrid slot check value changed: the identity no longer matches the slot; with \
         the file key the MAC fails",
    );
    b.named_header_flip(
        "hybrid_flip_wrapped_key",
        "slot0.wrapped_key",
        &h,
        h_off::WRAPPED_KEY,
        0x01,
        auth(),
        auth(),
        "hybrid slot wrapped key changed: the check matches but the key does not \
         authenticate",
    );
    slot_from_other_file(
        b,
        "hybrid_slot_from_other_file",
        &h,
        &make_with_slots("hybrid_other_file", 1, &[hybrid_slot("ok_hybrid", 0, 0)]),
        h_off::BODY..h_off::MAC,
        "the hybrid slot replaced by the slot the same identity has in another file, made \
         with the same encapsulation randomness (header MAC recomputed): its check is bound \
         to the other header nonce, so the identity opens no slot",
    );
}

/// `made`'s slot body replaced by the one at the same place in `other` (same credential,
/// another file), MAC recomputed: opens nothing, opens with the file key.
fn slot_from_other_file(
    b: &mut Builder,
    name: &str,
    made: &Made,
    other: &Made,
    body: std::ops::Range<usize>,
    description: &str,
) {
    let mut bytes = made.bytes.clone();
    bytes[body.clone()].copy_from_slice(&other.bytes[body]);
    remac(&mut bytes, made.header_len, &made.file_key);
    b.negative(
        name,
        "header",
        made,
        bytes,
        json!({"kind": "splice", "field": "header.slot0.body", "from": other.seed_name,
               "remac": true}),
        err_with("no_slot_opened", json!({"unsupported_slots": 0})),
        ok(),
        0,
        description,
    );
}

fn hex_bytes(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
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
        "generator": "tests/library/gen_vectors.rs",
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
        "run `COFFER_REGENERATE_VECTORS=1 cargo test --test library gen_vectors` if the change is intended";
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

// ---- KMS slot vectors (type 0x20): tests/vectors/kms/, their own index ----
//
// Kept apart from vectors.json so that readers without KMS support (tests/cross_check.py)
// are not asked about them. A KMS slot cannot be opened without KMS: each vector records
// the one Decrypt call a correct reader makes (blob, KeyId, encryption context) and the
// file key a KMS double returns for exactly that call (tests/vectors.rs).

/// The key every KMS vector names (a fake, well-formed key ARN).
const KMS_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// The fixed fake ciphertext blob of a source: 64 bytes (KMS's are about 180).
fn kms_blob(seed_name: &str) -> Vec<u8> {
    [
        seeded(seed_name, "kms blob 0"),
        seeded(seed_name, "kms blob 1"),
    ]
    .concat()
}

/// FORMAT.md, "KMS slot body": u16 ARN length, ARN, u16 blob length, blob.
fn kms_body(arn: &[u8], blob: &[u8]) -> Vec<u8> {
    let mut body = (arn.len() as u16).to_be_bytes().to_vec();
    body.extend_from_slice(arn);
    body.extend_from_slice(&(blob.len() as u16).to_be_bytes());
    body.extend_from_slice(blob);
    body
}

fn kms_slot(seed_name: &str) -> SlotFor {
    SlotFor::Unknown(RawSlot {
        slot_type: 0x20,
        body: kms_body(KMS_ARN.as_bytes(), &kms_blob(seed_name)),
    })
}

/// `made` (whose slot 0 is at offset 48) with slot 0's body replaced by `body`: body
/// length, header length and MAC made consistent, so the body is the one condition.
fn with_slot0_body(made: &Made, body: &[u8]) -> Vec<u8> {
    let old_len = usize::from(u16::from_be_bytes([made.bytes[50], made.bytes[51]]));
    let mut header = made.bytes[..52].to_vec();
    header[50..52].copy_from_slice(&(body.len() as u16).to_be_bytes());
    header.extend_from_slice(body);
    header.extend_from_slice(&made.bytes[52 + old_len..made.header_len - 32]);
    let header_len = header.len() + 32;
    header[10..12].copy_from_slice(&(header_len as u16).to_be_bytes());
    header.resize(header_len, 0);
    remac(&mut header, header_len, &made.file_key);
    header.extend_from_slice(&made.bytes[made.header_len..]);
    header
}

/// One KMS vector: the file, the Decrypt call KMS answers, who is allowed, the outcome.
struct KmsVector {
    name: String,
    description: String,
    made: Made,
    bytes: Vec<u8>,
    allow_list: Vec<String>,
    key_files: Vec<String>,
    outcome: &'static str,
}

impl KmsVector {
    fn to_json(&self) -> Value {
        let nonce = &self.made.bytes[16..48];
        let mut v = json!({
            "name": self.name,
            "file": format!("{}.coffer", self.name),
            "file_sha256": sha256_hex(&self.bytes),
            "description": self.description,
            "source": self.made.seed_name,
            "kms_answers": {
                "key_id": KMS_ARN,
                "ciphertext_blob": hex(&kms_blob(&self.made.seed_name)),
                "encryption_context": {"coffer:header-nonce": hex(nonce)},
                "key_arn": KMS_ARN,
                "plaintext": hex(&self.made.file_key),
            },
            "allow_list": self.allow_list,
            "outcome": self.outcome,
            "plaintext_sha256": sha256_hex(&self.made.plaintext),
        });
        if !self.key_files.is_empty() {
            v["key_files"] = json!(self.key_files);
        }
        v
    }
}

fn kms_vectors() -> Vec<KmsVector> {
    let mut out = Vec::new();
    let mut add = |name: &str, made: &Made, bytes: Vec<u8>, outcome, description: &str| {
        out.push(KmsVector {
            name: name.to_string(),
            description: description.to_string(),
            made: made.clone(),
            bytes,
            allow_list: vec![KMS_ARN.to_string()],
            key_files: Vec::new(),
            outcome,
        });
    };
    let single = make_with_slots("kms_ok", 20000, &[kms_slot("kms_ok")]);
    add(
        "kms_ok",
        &single,
        single.bytes.clone(),
        "ok",
        "one KMS slot naming KMS_ARN with a fixed 64-byte fake blob; KMS answers Decrypt \
         (that blob, KeyId = the ARN, context = coffer:header-nonce) with the file key",
    );
    let good = kms_body(KMS_ARN.as_bytes(), &kms_blob("kms_ok"));
    let arn_len = KMS_ARN.len();
    let mut malformed = |name: &str, body: Vec<u8>, description: &str| {
        let bytes = with_slot0_body(&single, &body);
        add(name, &single, bytes, "invalid_header", description);
    };
    let mut overrun_arn = good.clone();
    overrun_arn[..2].copy_from_slice(&(good.len() as u16).to_be_bytes());
    malformed(
        "kms_arn_len_overruns",
        overrun_arn,
        "the ARN length runs past the body: refused while parsing",
    );
    let mut overrun_blob = good.clone();
    overrun_blob[2 + arn_len..4 + arn_len].copy_from_slice(&65u16.to_be_bytes());
    malformed(
        "kms_blob_len_overruns",
        overrun_blob,
        "the blob length is one more than the bytes left: refused while parsing",
    );
    malformed(
        "kms_zero_arn",
        kms_body(b"", &kms_blob("kms_ok")),
        "a zero-length ARN: refused while parsing",
    );
    malformed(
        "kms_zero_blob",
        kms_body(KMS_ARN.as_bytes(), b""),
        "a zero-length blob: refused while parsing",
    );
    let mut trailing = good.clone();
    trailing.push(0);
    malformed(
        "kms_trailing_byte",
        trailing,
        "one byte after the blob: refused while parsing",
    );
    malformed(
        "kms_arn_not_an_arn",
        kms_body(b"alias/backup", &kms_blob("kms_ok")),
        "the key is not an ARN (an alias): refused while parsing",
    );
    {
        let mut bytes = single.bytes.clone();
        let last_blob_byte = 52 + good.len() - 1;
        bytes[last_blob_byte] ^= 0x01;
        add(
            "kms_blob_flipped",
            &single,
            bytes,
            "kms_invalid_ciphertext",
            "the blob's last byte flipped: KMS refuses it (InvalidCiphertextException)",
        );
    }
    {
        let other_arn = KMS_ARN.replace("111122223333", "444455556666");
        let bytes = with_slot0_body(
            &single,
            &kms_body(other_arn.as_bytes(), &kms_blob("kms_ok")),
        );
        add(
            "kms_arn_not_allowed",
            &single,
            bytes,
            "no_slot_opened",
            "the slot names another account's key, not in the allow-list (header MAC \
             recomputed): no Decrypt call, no slot opens",
        );
    }
    let key = key_file_key("kms_and_key_file", 0);
    let mixed = make_with_slots(
        "kms_and_key_file",
        100,
        &[kms_slot("kms_and_key_file"), SlotFor::KeyFile(key)],
    );
    out.push(KmsVector {
        name: "kms_and_key_file".to_string(),
        description: "a KMS slot then a key-file slot; opened by the key file alone (no KMS)"
            .to_string(),
        made: mixed.clone(),
        bytes: mixed.bytes.clone(),
        allow_list: Vec::new(),
        key_files: vec![key_line(&key)],
        outcome: "ok",
    });
    out
}

fn render_kms() -> (Vec<(String, Vec<u8>)>, String) {
    let vectors = kms_vectors();
    let files = vectors
        .iter()
        .map(|v| (format!("{}.coffer", v.name), v.bytes.clone()))
        .collect();
    let index = json!({
        "format": "coffer KMS slot vectors v1",
        "generator": "tests/gen_vectors.rs",
        "vectors": vectors.iter().map(KmsVector::to_json).collect::<Vec<_>>(),
    });
    let mut text = serde_json::to_string_pretty(&index).unwrap();
    text.push('\n');
    (files, text)
}

#[test]
fn kms_vectors_are_reproducible() {
    let (files, index) = render_kms();
    let dir = vectors_dir().join("kms");
    if std::env::var_os("COFFER_REGENERATE_VECTORS").is_some_and(|v| v == "1") {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in &files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        std::fs::write(dir.join("vectors.json"), &index).unwrap();
        return;
    }
    let hint =
        "run `COFFER_REGENERATE_VECTORS=1 cargo test --test gen_vectors` if the change is intended";
    let on_disk = std::fs::read_to_string(dir.join("vectors.json"))
        .unwrap_or_else(|e| panic!("tests/vectors/kms/vectors.json: {e}; {hint}"));
    assert!(
        on_disk == index,
        "tests/vectors/kms/vectors.json differs; {hint}"
    );
    for (name, bytes) in &files {
        let disk = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}; {hint}"));
        assert!(&disk == bytes, "tests/vectors/kms/{name} differs; {hint}");
    }
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        files.len() + 1,
        "stray files; {hint}"
    );
}
