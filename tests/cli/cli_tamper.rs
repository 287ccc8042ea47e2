//! Every tamper class through the binary: for each, `decrypt` and `verify` must exit with
//! the class's code (3 no slot opens, 4 authentication, 5 format), leave no output and no
//! `.coffer-tmp*` file, and leave the input byte-for-byte (and mtime) unchanged.
//!
//! Expected codes follow the library (src/format.rs, src/keys.rs, src/kdf.rs,
//! src/stream.rs) and the spec's mapping from `ErrorKind`:
//! - the header nonce is the HKDF salt of the slot keys, so a changed nonce changes the
//!   check value the reader computes: no slot opens -> 3 (not 4);
//! - a changed KDF parameter (within the caps) or salt derives another key: check
//!   mismatch -> 3; over a cap -> 5 before deriving; lanes 0 is refused as malformed -> 5;
//! - an unknown slot type is kept but never opens -> 3; slot type 0 is reserved -> 5;
//! - the check value itself -> 3; the wrapped key (check matched, AEAD fails) -> 4;
//! - header MAC, payload salt/commitment, chunks, truncation, trailing data -> 4;
//! - magic, version, flags, reserved, lengths, counts -> 5.

use std::fs;
use std::sync::OnceLock;
use std::time::Duration;

use crate::common::*;
use serde_json::Value;

/// Plaintext of two full chunks and a 5000-byte final chunk.
const PLAIN_LEN: usize = 2 * CHUNK + 5000;

/// Slot body offsets (one passphrase slot right after the fixed fields).
const SLOT: usize = FIXED; // type at 48, reserved 49, body length 50..52
const BODY: usize = FIXED + 4; // memory 52..56, passes 56..60, lanes 60..64
const SALT: usize = BODY + 12; // 64..80
const CHECK: usize = SALT + 16; // 80..112
const WRAPPED: usize = CHECK + 32; // 112..160

struct Base {
    plain: Vec<u8>,
    /// The file every test tampers with.
    a: Vec<u8>,
    /// Another file of the same length under the same passphrase (other file key).
    b: Vec<u8>,
}

/// Encrypted once per test binary (in its own temporary directory) to save KDF time;
/// each test then works in its own directory on a copy.
fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let fx = Fx::new();
        let plain = data(PLAIN_LEN, 4242);
        fx.write("a", &plain);
        fx.write("b", &data(PLAIN_LEN, 4343));
        fx.encrypt_args(["-q", "a", "b"]).expect(0);
        let a = fx.read("a.coffer");
        let b = fx.read("b.coffer");
        assert_eq!(
            header_len(&a),
            FIXED + 4 + 108 + 32,
            "one-slot header length"
        );
        assert_eq!(a.len(), ciphertext_len(PLAIN_LEN, header_len(&a)));
        // Sanity: the layout this file relies on.
        assert_eq!(
            u32::from_be_bytes(a[BODY..BODY + 4].try_into().unwrap()),
            19 * 1024
        );
        assert_eq!(
            u32::from_be_bytes(a[BODY + 4..BODY + 8].try_into().unwrap()),
            2
        );
        assert_eq!(
            u32::from_be_bytes(a[BODY + 8..BODY + 12].try_into().unwrap()),
            1
        );
        assert_eq!(a[SLOT], 1, "passphrase slot type");
        Base { plain, a, b }
    })
}

fn kind_for(code: i32) -> &'static str {
    match code {
        3 => "wrong_key",
        4 => "authentication",
        5 => "format",
        _ => unreachable!(),
    }
}

/// Writes the tampered file, runs `decrypt` (default output name, then `--json` with
/// `-o`), and checks code, JSON report, and that nothing changed on disk.
fn check_decrypt(mutate: fn(&mut Vec<u8>, &Base), code: i32) {
    let base = base();
    let fx = Fx::new();
    fx.passfile();
    let mut ct = base.a.clone();
    mutate(&mut ct, base);
    assert_ne!(ct, base.a, "the mutation changed nothing");
    fx.write("t.bin.coffer", &ct);
    fx.bash("touch -d '2003-04-05 06:07:08' t.bin.coffer")
        .expect(0);
    let before = fx.snapshot();

    let r = fx.decrypt(["t.bin.coffer"]);
    r.expect(code);
    assert!(
        r.stderr
            .lines()
            .any(|l| l.starts_with("coffer: error: ") && l.contains("t.bin.coffer")),
        "want one line `coffer: error: <file>: <message>`, got:\n{}",
        r.stderr
    );
    assert!(r.stdout.is_empty(), "nothing on stdout in file mode");
    assert_eq!(
        fx.snapshot(),
        before,
        "decrypt left something behind or changed the input"
    );

    let r = fx.decrypt(["--json", "-o", "restored", "t.bin.coffer"]);
    r.expect(code);
    let lines = r.json_stdout();
    let s = summary(&lines);
    assert_eq!(s["exit_code"], code, "{s}");
    assert_eq!(s["failed"], 1, "{s}");
    assert_eq!(s["ok"], 0, "{s}");
    let files = file_lines(&lines);
    assert_eq!(files.len(), 1, "{lines:?}");
    assert_eq!(files[0]["outcome"], "error");
    assert_eq!(files[0]["error_kind"], kind_for(code), "{}", files[0]);
    assert_eq!(files[0]["exit_code"], code);
    assert!(files[0]["error"].as_str().is_some_and(|e| !e.is_empty()));
    assert_eq!(
        files[0]["bytes"],
        Value::Null,
        "no plaintext bytes for a failed file"
    );
    assert_eq!(fx.snapshot(), before, "decrypt -o left something behind");

    // Stdout mode: the failure must still be reported with the same code.
    let r = fx.decrypt(["-c", "t.bin.coffer"]);
    r.expect(code);
    assert_eq!(fx.snapshot(), before);
}

fn check_verify(mutate: fn(&mut Vec<u8>, &Base), code: i32) {
    let base = base();
    let fx = Fx::new();
    fx.passfile();
    let mut ct = base.a.clone();
    mutate(&mut ct, base);
    fx.write("t.bin.coffer", &ct);
    let before = fx.snapshot();
    let r = fx.verify(["t.bin.coffer"]);
    r.expect(code);
    assert!(
        r.stderr.contains("t.bin.coffer"),
        "error should name the file:\n{}",
        r.stderr
    );
    assert!(
        !contains_plaintext(&r.stdout, &base.plain),
        "verify printed plaintext"
    );
    assert_eq!(fx.snapshot(), before, "verify must write nothing");
}

macro_rules! tamper {
    ($decrypt:ident, $verify:ident, $code:expr, |$ct:ident, $b:ident| $body:block) => {
        #[test]
        fn $decrypt() {
            #[allow(unused_variables, clippy::ptr_arg)]
            fn mutate($ct: &mut Vec<u8>, $b: &Base) $body
            check_decrypt(mutate, $code);
        }
        #[test]
        fn $verify() {
            #[allow(unused_variables, clippy::ptr_arg)]
            fn mutate($ct: &mut Vec<u8>, $b: &Base) $body
            check_verify(mutate, $code);
        }
    };
}

/// Whether `out` contains any 32-byte run of `plain` (a sign of leaked plaintext).
fn contains_plaintext(out: &[u8], plain: &[u8]) -> bool {
    out.windows(32).any(|w| plain.windows(32).any(|p| p == w))
}

fn h(ct: &[u8]) -> usize {
    header_len(ct)
}

// ----- fixed header fields -----
tamper!(
    decrypt_rejects_bit_flip_in_magic_first_byte_with_exit_5,
    verify_rejects_bit_flip_in_magic_first_byte_with_exit_5,
    5,
    |ct, b| {
        ct[0] ^= 0x01;
    }
);
tamper!(
    decrypt_rejects_bit_flip_in_magic_newline_with_exit_5,
    verify_rejects_bit_flip_in_magic_newline_with_exit_5,
    5,
    |ct, b| {
        ct[7] ^= 0x20;
    }
);
tamper!(
    decrypt_rejects_bit_flip_in_version_with_exit_5,
    verify_rejects_bit_flip_in_version_with_exit_5,
    5,
    |ct, b| {
        ct[8] ^= 0x01;
    }
);
tamper!(
    decrypt_rejects_unknown_version_2_with_exit_5,
    verify_rejects_unknown_version_2_with_exit_5,
    5,
    |ct, b| {
        ct[8] = 2;
    }
);
tamper!(
    decrypt_rejects_bit_flip_in_flags_with_exit_5,
    verify_rejects_bit_flip_in_flags_with_exit_5,
    5,
    |ct, b| {
        ct[9] ^= 0x01;
    }
);
tamper!(
    decrypt_rejects_bit_flip_in_header_length_low_byte_with_exit_5,
    verify_rejects_bit_flip_in_header_length_low_byte_with_exit_5,
    5,
    |ct, b| {
        ct[11] ^= 0x01;
    }
);
tamper!(
    decrypt_rejects_bit_flip_in_header_length_high_byte_with_exit_5,
    verify_rejects_bit_flip_in_header_length_high_byte_with_exit_5,
    5,
    |ct, b| {
        ct[10] ^= 0x01;
    }
);
tamper!(
    decrypt_rejects_slot_count_flipped_to_zero_with_exit_5,
    verify_rejects_slot_count_flipped_to_zero_with_exit_5,
    5,
    |ct, b| {
        ct[12] ^= 0x01;
    }
);
tamper!(
    decrypt_rejects_slot_count_flipped_to_three_with_exit_5,
    verify_rejects_slot_count_flipped_to_three_with_exit_5,
    5,
    |ct, b| {
        ct[12] ^= 0x02;
    }
);
tamper!(
    decrypt_rejects_bit_flip_in_reserved_bytes_with_exit_5,
    verify_rejects_bit_flip_in_reserved_bytes_with_exit_5,
    5,
    |ct, b| {
        ct[14] ^= 0x10;
    }
);
tamper!(
    decrypt_rejects_bit_flip_in_header_nonce_with_exit_3,
    verify_rejects_bit_flip_in_header_nonce_with_exit_3,
    3,
    |ct, b| {
        ct[16 + 7] ^= 0x04;
    }
);

// ----- the passphrase slot -----
tamper!(
    decrypt_rejects_slot_type_flipped_to_reserved_zero_with_exit_5,
    verify_rejects_slot_type_flipped_to_reserved_zero_with_exit_5,
    5,
    |ct, b| {
        ct[SLOT] ^= 0x01;
    }
);
tamper!(
    decrypt_rejects_slot_type_flipped_to_unknown_type_with_exit_3,
    verify_rejects_slot_type_flipped_to_unknown_type_with_exit_3,
    3,
    |ct, b| {
        ct[SLOT] ^= 0x40;
    }
);
tamper!(
    decrypt_rejects_bit_flip_in_slot_reserved_byte_with_exit_5,
    verify_rejects_bit_flip_in_slot_reserved_byte_with_exit_5,
    5,
    |ct, b| {
        ct[SLOT + 1] ^= 0x01;
    }
);
tamper!(
    decrypt_rejects_bit_flip_in_slot_body_length_with_exit_5,
    verify_rejects_bit_flip_in_slot_body_length_with_exit_5,
    5,
    |ct, b| {
        ct[SLOT + 3] ^= 0x01;
    }
);
tamper!(
    decrypt_rejects_bit_flip_in_kdf_memory_with_exit_3,
    verify_rejects_bit_flip_in_kdf_memory_with_exit_3,
    3,
    |ct, b| {
        ct[BODY + 3] ^= 0x01;
    }
);
tamper!(
    decrypt_rejects_kdf_memory_flipped_over_the_cap_with_exit_5,
    verify_rejects_kdf_memory_flipped_over_the_cap_with_exit_5,
    5,
    |ct, b| {
        ct[BODY] ^= 0x80;
    }
);
tamper!(
    decrypt_rejects_bit_flip_in_kdf_passes_with_exit_3,
    verify_rejects_bit_flip_in_kdf_passes_with_exit_3,
    3,
    |ct, b| {
        ct[BODY + 7] ^= 0x01;
    }
);
tamper!(
    decrypt_rejects_kdf_passes_flipped_over_the_cap_with_exit_5,
    verify_rejects_kdf_passes_flipped_over_the_cap_with_exit_5,
    5,
    |ct, b| {
        ct[BODY + 7] ^= 0x10;
    }
);
tamper!(
    decrypt_rejects_bit_flip_in_kdf_lanes_with_exit_3,
    verify_rejects_bit_flip_in_kdf_lanes_with_exit_3,
    3,
    |ct, b| {
        ct[BODY + 11] ^= 0x02;
    }
);
tamper!(
    decrypt_rejects_kdf_lanes_flipped_to_zero_with_exit_5,
    verify_rejects_kdf_lanes_flipped_to_zero_with_exit_5,
    5,
    |ct, b| {
        ct[BODY + 11] ^= 0x01;
    }
);
tamper!(
    decrypt_rejects_kdf_lanes_flipped_over_the_cap_with_exit_5,
    verify_rejects_kdf_lanes_flipped_over_the_cap_with_exit_5,
    5,
    |ct, b| {
        ct[BODY + 10] ^= 0x01;
    }
);
tamper!(
    decrypt_rejects_bit_flip_in_kdf_salt_with_exit_3,
    verify_rejects_bit_flip_in_kdf_salt_with_exit_3,
    3,
    |ct, b| {
        ct[SALT + 5] ^= 0x01;
    }
);
tamper!(
    decrypt_rejects_bit_flip_in_slot_check_value_with_exit_3,
    verify_rejects_bit_flip_in_slot_check_value_with_exit_3,
    3,
    |ct, b| {
        ct[CHECK + 9] ^= 0x08;
    }
);
tamper!(
    decrypt_rejects_bit_flip_in_wrapped_key_with_exit_4,
    verify_rejects_bit_flip_in_wrapped_key_with_exit_4,
    4,
    |ct, b| {
        ct[WRAPPED + 3] ^= 0x01;
    }
);
tamper!(
    decrypt_rejects_bit_flip_in_wrapped_key_tag_with_exit_4,
    verify_rejects_bit_flip_in_wrapped_key_tag_with_exit_4,
    4,
    |ct, b| {
        ct[WRAPPED + 47] ^= 0x80;
    }
);
tamper!(
    decrypt_rejects_bit_flip_in_header_mac_last_byte_with_exit_4,
    verify_rejects_bit_flip_in_header_mac_last_byte_with_exit_4,
    4,
    |ct, b| {
        let at = h(ct) - 1;
        ct[at] ^= 0x01;
    }
);
tamper!(
    decrypt_rejects_bit_flip_in_header_mac_first_byte_with_exit_4,
    verify_rejects_bit_flip_in_header_mac_first_byte_with_exit_4,
    4,
    |ct, b| {
        let at = h(ct) - 32;
        ct[at] ^= 0x40;
    }
);

// ----- payload prefix -----
tamper!(
    decrypt_rejects_bit_flip_in_payload_salt_with_exit_4,
    verify_rejects_bit_flip_in_payload_salt_with_exit_4,
    4,
    |ct, b| {
        let at = h(ct) + 2;
        ct[at] ^= 0x01;
    }
);
tamper!(
    decrypt_rejects_bit_flip_in_payload_commitment_with_exit_4,
    verify_rejects_bit_flip_in_payload_commitment_with_exit_4,
    4,
    |ct, b| {
        let at = h(ct) + 24 + 5;
        ct[at] ^= 0x01;
    }
);

// ----- chunks -----
tamper!(
    decrypt_rejects_bit_flip_in_first_chunk_body_with_exit_4,
    verify_rejects_bit_flip_in_first_chunk_body_with_exit_4,
    4,
    |ct, b| {
        let at = chunk_offset(ct, 0) + 1000;
        ct[at] ^= 0x01;
    }
);
tamper!(
    decrypt_rejects_bit_flip_in_middle_chunk_body_with_exit_4,
    verify_rejects_bit_flip_in_middle_chunk_body_with_exit_4,
    4,
    |ct, b| {
        let at = chunk_offset(ct, 1) + 16000;
        ct[at] ^= 0x02;
    }
);
tamper!(
    decrypt_rejects_bit_flip_in_first_chunk_tag_with_exit_4,
    verify_rejects_bit_flip_in_first_chunk_tag_with_exit_4,
    4,
    |ct, b| {
        let at = chunk_offset(ct, 0) + CHUNK + 5;
        ct[at] ^= 0x01;
    }
);
tamper!(
    decrypt_rejects_bit_flip_in_final_chunk_body_with_exit_4,
    verify_rejects_bit_flip_in_final_chunk_body_with_exit_4,
    4,
    |ct, b| {
        let at = chunk_offset(ct, 2) + 10;
        ct[at] ^= 0x01;
    }
);
tamper!(
    decrypt_rejects_bit_flip_in_final_chunk_tag_with_exit_4,
    verify_rejects_bit_flip_in_final_chunk_tag_with_exit_4,
    4,
    |ct, b| {
        let at = ct.len() - 1;
        ct[at] ^= 0x80;
    }
);

// ----- truncation and trailing data -----
tamper!(
    decrypt_rejects_truncation_at_the_last_chunk_boundary_with_exit_4,
    verify_rejects_truncation_at_the_last_chunk_boundary_with_exit_4,
    4,
    |ct, b| {
        let at = chunk_offset(ct, 2);
        ct.truncate(at);
    }
);
tamper!(
    decrypt_rejects_truncation_at_the_first_chunk_boundary_with_exit_4,
    verify_rejects_truncation_at_the_first_chunk_boundary_with_exit_4,
    4,
    |ct, b| {
        let at = chunk_offset(ct, 1);
        ct.truncate(at);
    }
);
tamper!(
    decrypt_rejects_truncation_right_after_the_payload_prefix_with_exit_4,
    verify_rejects_truncation_right_after_the_payload_prefix_with_exit_4,
    4,
    |ct, b| {
        let at = chunk_offset(ct, 0);
        ct.truncate(at);
    }
);
tamper!(
    decrypt_rejects_truncation_inside_a_full_chunk_with_exit_4,
    verify_rejects_truncation_inside_a_full_chunk_with_exit_4,
    4,
    |ct, b| {
        let at = chunk_offset(ct, 1) + 100;
        ct.truncate(at);
    }
);
tamper!(
    decrypt_rejects_truncation_inside_the_final_chunk_with_exit_4,
    verify_rejects_truncation_inside_the_final_chunk_with_exit_4,
    4,
    |ct, b| {
        ct.pop();
    }
);
tamper!(
    decrypt_rejects_truncation_inside_the_header_with_exit_4,
    verify_rejects_truncation_inside_the_header_with_exit_4,
    4,
    |ct, b| {
        ct.truncate(100);
    }
);
tamper!(
    decrypt_rejects_truncation_inside_the_payload_prefix_with_exit_4,
    verify_rejects_truncation_inside_the_payload_prefix_with_exit_4,
    4,
    |ct, b| {
        let at = h(ct) + 30;
        ct.truncate(at);
    }
);
tamper!(
    decrypt_rejects_one_trailing_byte_with_exit_4,
    verify_rejects_one_trailing_byte_with_exit_4,
    4,
    |ct, b| {
        ct.push(0);
    }
);
tamper!(
    decrypt_rejects_a_trailing_full_chunk_of_garbage_with_exit_4,
    verify_rejects_a_trailing_full_chunk_of_garbage_with_exit_4,
    4,
    |ct, b| {
        ct.extend_from_slice(&data(ENC_CHUNK, 9));
    }
);

// ----- reordering and splicing -----
tamper!(
    decrypt_rejects_two_swapped_chunks_with_exit_4,
    verify_rejects_two_swapped_chunks_with_exit_4,
    4,
    |ct, b| {
        let (c0, c1) = (chunk_offset(ct, 0), chunk_offset(ct, 1));
        let first: Vec<u8> = ct[c0..c1].to_vec();
        let second: Vec<u8> = ct[c1..c1 + ENC_CHUNK].to_vec();
        ct[c0..c1].copy_from_slice(&second);
        ct[c1..c1 + ENC_CHUNK].copy_from_slice(&first);
    }
);
tamper!(
    decrypt_rejects_a_duplicated_chunk_with_exit_4,
    verify_rejects_a_duplicated_chunk_with_exit_4,
    4,
    |ct, b| {
        let c0 = chunk_offset(ct, 0);
        let first: Vec<u8> = ct[c0..c0 + ENC_CHUNK].to_vec();
        ct.splice(c0..c0, first);
    }
);
tamper!(
    decrypt_rejects_a_chunk_taken_from_another_file_with_exit_4,
    verify_rejects_a_chunk_taken_from_another_file_with_exit_4,
    4,
    |ct, b| {
        let c1 = chunk_offset(ct, 1);
        ct[c1..c1 + ENC_CHUNK].copy_from_slice(&b.b[c1..c1 + ENC_CHUNK]);
    }
);
tamper!(
    decrypt_rejects_a_final_chunk_taken_from_another_file_with_exit_4,
    verify_rejects_a_final_chunk_taken_from_another_file_with_exit_4,
    4,
    |ct, b| {
        let c2 = chunk_offset(ct, 2);
        let len = ct.len();
        ct[c2..].copy_from_slice(&b.b[c2..len]);
    }
);
tamper!(
    decrypt_rejects_a_header_taken_from_another_file_with_exit_4,
    verify_rejects_a_header_taken_from_another_file_with_exit_4,
    4,
    |ct, b| {
        let hl = h(ct);
        ct[..hl].copy_from_slice(&b.b[..hl]);
    }
);
tamper!(
    decrypt_rejects_a_payload_prefix_taken_from_another_file_with_exit_4,
    verify_rejects_a_payload_prefix_taken_from_another_file_with_exit_4,
    4,
    |ct, b| {
        let hl = h(ct);
        ct[hl..hl + PREFIX].copy_from_slice(&b.b[hl..hl + PREFIX]);
    }
);

// ----- not coffer files -----
tamper!(
    decrypt_rejects_an_empty_file_with_exit_5,
    verify_rejects_an_empty_file_with_exit_5,
    5,
    |ct, b| {
        ct.clear();
    }
);
tamper!(
    decrypt_rejects_a_text_file_with_exit_5,
    verify_rejects_a_text_file_with_exit_5,
    5,
    |ct, b| {
        *ct = b"#!/bin/sh\necho this is not a coffer file\n".repeat(100);
    }
);

// ---------------------------------------------------------------------------------------
// Messages and the memory cap
// ---------------------------------------------------------------------------------------

#[test]
fn decrypt_names_the_version_of_an_unknown_version_file() {
    let fx = Fx::new();
    let mut ct = base().a.clone();
    ct[8] = 7;
    fx.write("v.coffer", &ct);
    let r = fx.decrypt(["v.coffer"]);
    r.expect(5);
    assert!(r.stderr.contains("version"), "{}", r.stderr);
    assert!(
        r.stderr.contains('7'),
        "message should give the version found:\n{}",
        r.stderr
    );
}

#[test]
fn decrypt_says_not_a_coffer_file() {
    let fx = Fx::new();
    fx.write("x.coffer", b"PK\x03\x04 a zip file perhaps");
    let r = fx.decrypt(["x.coffer"]);
    r.expect(5);
    assert!(
        r.stderr.to_lowercase().contains("not a coffer file"),
        "{}",
        r.stderr
    );
}

#[test]
fn decrypt_refuses_kdf_memory_over_the_cap_before_deriving() {
    let fx = Fx::new();
    let mut ct = base().a.clone();
    // 2 GiB expressed in KiB, the unit of the field.
    ct[BODY..BODY + 4].copy_from_slice(&(2u32 * 1024 * 1024).to_be_bytes());
    fx.write("big.coffer", &ct);
    let before = fx.snapshot();
    let r = fx.decrypt(["--json", "big.coffer"]);
    r.expect(5);
    assert!(
        r.stderr.contains("memory"),
        "message should name memory:\n{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("1024"),
        "message should give the cap:\n{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("2048"),
        "message should give the value:\n{}",
        r.stderr
    );
    let lines = r.json_stdout();
    assert_eq!(
        summary(&lines)["kdf_derivations"],
        0,
        "refused AFTER deriving: {}",
        r.out()
    );
    assert!(r.elapsed < Duration::from_secs(10), "took {:?}", r.elapsed);
    assert_eq!(fx.snapshot(), before);
    // Same for verify.
    let r = fx.verify(["big.coffer"]);
    r.expect(5);
    assert!(r.stderr.contains("memory"), "{}", r.stderr);
    assert_eq!(fx.snapshot(), before);
}

#[test]
fn max_kdf_memory_lifts_the_cap_and_then_the_check_value_fails_with_exit_3() {
    let fx = Fx::new();
    let mut ct = base().a.clone();
    ct[BODY..BODY + 4].copy_from_slice(&(2u32 * 1024 * 1024).to_be_bytes());
    fx.write("big.coffer", &ct);
    let before = fx.snapshot();
    // With the cap raised the reader derives with 2 GiB, gets another key, and the slot
    // check value does not match: no slot opens.
    let r = fx.decrypt(["--json", "--max-kdf-memory", "2048", "big.coffer"]);
    r.expect(3);
    let lines = r.json_stdout();
    assert_eq!(summary(&lines)["kdf_derivations"], 1);
    assert_eq!(fx.snapshot(), before);
    // A cap below the file's parameters refuses a good file.
    fx.write("good.coffer", &base().a);
    let r = fx.decrypt(["--max-kdf-memory", "16", "-o", "good", "good.coffer"]);
    r.expect(5);
    assert!(r.stderr.contains("memory"), "{}", r.stderr);
    assert!(!fx.p("good").exists());
}

#[test]
fn verify_passes_on_good_files_and_writes_nothing() {
    let fx = Fx::new();
    fx.write("a.coffer", &base().a);
    fx.write("b.coffer", &base().b);
    let before = fx.snapshot();
    let r = fx.verify(["a.coffer", "b.coffer"]);
    r.expect(0);
    assert!(
        !contains_plaintext(&r.stdout, &base().plain),
        "verify printed plaintext"
    );
    assert_eq!(fx.snapshot(), before, "verify must write nothing");
    let r = fx.verify(["--json", "a.coffer", "b.coffer"]);
    r.expect(0);
    let lines = r.json_stdout();
    let s = summary(&lines);
    assert_eq!(s["command"], "verify");
    assert_eq!(s["ok"], 2);
    assert_eq!(
        s["kdf_derivations"], 1,
        "files of one run share one derivation"
    );
    for f in file_lines(&lines) {
        assert_eq!(f["outcome"], "ok");
        assert_eq!(f["bytes"], PLAIN_LEN as u64);
        assert_eq!(f["output"], Value::Null, "verify has no output");
    }
    assert_eq!(fx.snapshot(), before);
}

#[test]
fn verify_of_several_files_reports_each_and_exits_with_the_highest_code() {
    let fx = Fx::new();
    fx.write("good.coffer", &base().a);
    let mut bad = base().a.clone();
    let at = chunk_offset(&bad, 1) + 7;
    bad[at] ^= 1;
    fx.write("bad.coffer", &bad);
    let mut worse = base().a.clone();
    worse[8] = 9;
    fx.write("worse.coffer", &worse);
    let before = fx.snapshot();
    let r = fx.verify(["--json", "bad.coffer", "good.coffer", "worse.coffer"]);
    r.expect(5);
    let lines = r.json_stdout();
    let files = file_lines(&lines);
    assert_eq!(files.len(), 3);
    let by = |name: &str| {
        files
            .iter()
            .find(|f| f["path"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("no line for {name}: {lines:?}"))
    };
    assert_eq!(by("good.coffer")["outcome"], "ok");
    assert_eq!(by("bad.coffer")["exit_code"], 4);
    assert_eq!(by("bad.coffer")["error_kind"], "authentication");
    assert_eq!(by("worse.coffer")["exit_code"], 5);
    assert_eq!(by("worse.coffer")["error_kind"], "format");
    let s = summary(&lines);
    assert_eq!(s["ok"], 1);
    assert_eq!(s["failed"], 2);
    assert_eq!(s["exit_code"], 5);
    assert_eq!(fx.snapshot(), before);
}

#[test]
fn decrypt_of_a_good_copy_of_the_base_file_succeeds() {
    // Guards the tamper tests: the unmodified file must decrypt, so every failure above
    // is caused by its mutation.
    let fx = Fx::new();
    fx.write("t.bin.coffer", &base().a);
    fx.decrypt(["-q", "t.bin.coffer"]).expect(0);
    assert!(fx.read("t.bin") == base().plain);
    fs::remove_file(fx.p("t.bin")).unwrap();
    fx.verify(["-q", "t.bin.coffer"]).expect(0);
}

/// Files of 1 MiB and more are decrypted by the parallel pipeline straight into a
/// temporary file whose blocks are reserved from the ciphertext's length. Tampering
/// anywhere in such a file, including lengths that predict a plaintext size and lengths
/// that cannot, must still leave nothing behind, and the intact file must come back
/// byte for byte (no reserved tail).
#[test]
fn pipeline_sized_files_leave_nothing_behind_for_any_tamper_class() {
    let fx = Fx::new();
    // Three 1 MiB batches and a short final chunk.
    let plain = data(3 * 1024 * 1024 + 700, 77);
    let (_, ct_path) = fx.make_encrypted("big.bin", &plain);
    let good = fs::read(&ct_path).unwrap();
    fs::remove_file(fx.p("big.bin")).unwrap();

    let chunk = |i| chunk_offset(&good, i);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("bit flip in the second batch", {
            let mut ct = good.clone();
            ct[chunk(70) + 9] ^= 0x20;
            ct
        }),
        ("bit flip in the final chunk's tag", {
            let mut ct = good.clone();
            *ct.last_mut().unwrap() ^= 1;
            ct
        }),
        ("two chunks of one batch swapped", {
            let mut ct = good.clone();
            let (a, b) = (chunk(3), chunk(4));
            let first = ct[a..b].to_vec();
            ct.copy_within(b..b + (b - a), a);
            ct[b..b + first.len()].copy_from_slice(&first);
            ct
        }),
        ("cut inside a chunk (a valid-looking length)", {
            let mut ct = good.clone();
            ct.truncate(chunk(100) + 5000);
            ct
        }),
        ("cut at a chunk boundary", {
            let mut ct = good.clone();
            ct.truncate(chunk(128));
            ct
        }),
        ("one trailing byte", {
            let mut ct = good.clone();
            ct.push(0);
            ct
        }),
        ("a whole extra batch appended", {
            let mut ct = good.clone();
            ct.extend(std::iter::repeat_n(0x5a, 1024 * 1024));
            ct
        }),
    ];
    for (what, ct) in cases {
        fs::write(&ct_path, &ct).unwrap();
        let before = fx.snapshot();
        for args in [
            vec!["-q", "big.bin.coffer"],
            vec!["-q", "-o", "restored.bin", "big.bin.coffer"],
            vec!["-q", "-T", "1", "-o", "restored.bin", "big.bin.coffer"],
        ] {
            let r = fx.decrypt(&args);
            r.expect(4);
            assert_no_panic(&r.stderr);
            assert_eq!(
                r.stderr
                    .lines()
                    .filter(|l| l.starts_with("coffer: error:"))
                    .count(),
                1,
                "{what}, {args:?}: want one error line:\n{}",
                r.stderr
            );
            assert_eq!(
                fx.snapshot(),
                before,
                "{what}, {args:?}: output or temporary file left behind, or input changed"
            );
        }
    }

    fs::write(&ct_path, &good).unwrap();
    fx.decrypt(["-q", "-o", "restored.bin", "big.bin.coffer"])
        .expect(0);
    assert!(fx.read("restored.bin") == plain, "intact file round trip");
}
