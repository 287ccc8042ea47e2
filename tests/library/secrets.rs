//! Secrets stay out of `Debug` output, and Argon2id runs exactly as often as it must:
//! once for a batch of files sharing a passphrase key, never for parameters over the caps.
//!
//! Derivations are counted per thread (`kdf::derivations_on_this_thread`), so tests that
//! count them run in parallel with tests that derive.

use std::io::{Read, Write};
use std::sync::Arc;

use coffer::internals::format::{FIXED_LEN, SLOT_PREFIX_LEN};
use coffer::internals::keys::{LABEL_HEADER_MAC, MAC_LEN};
use coffer::internals::stream::{ChunkCipher, AEAD_NAME, CONTEXT_V1, INFO_PREFIX};
use coffer::kdf::{self, derivations_on_this_thread};
use coffer::{
    Decryptor, Encryptor, Error, FileKey, KdfParams, Limits, Passphrase, PassphraseIdentity,
    PassphraseKey,
};
use hmac::{KeyInit, Mac};

const FLOOR: KdfParams = KdfParams {
    memory_kib: 19 * 1024,
    passes: 2,
    lanes: 1,
};

/// 32 recognisable, pairwise different bytes.
fn pattern(start: u8) -> [u8; 32] {
    std::array::from_fn(|i| start.wrapping_add(7 * i as u8))
}

/// Every way a run of `secret` (4 bytes or more) could show up in `Debug` text: hex in
/// either case, with or without `0x`, and decimal lists as `{:?}` prints arrays.
fn leaks(text: &str, secret: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let lower = text.to_lowercase();
    for window in secret.windows(4) {
        let forms = [
            hex::encode(window),
            window
                .iter()
                .map(|b| format!("0x{b:02x}"))
                .collect::<Vec<_>>()
                .join(", "),
            window
                .iter()
                .map(|b| format!("{b:x}"))
                .collect::<Vec<_>>()
                .join(", "),
            window
                .iter()
                .map(|b| format!("{b}"))
                .collect::<Vec<_>>()
                .join(", "),
            window
                .iter()
                .map(|b| format!("{b}"))
                .collect::<Vec<_>>()
                .join(","),
        ];
        for form in forms {
            if lower.contains(&form) {
                found.push(form);
            }
        }
    }
    found
}

#[track_caller]
fn assert_redacted(what: &str, text: &str, secrets: &[&[u8]]) {
    assert!(!text.is_empty());
    for secret in secrets {
        let found = leaks(text, secret);
        assert!(found.is_empty(), "{what} Debug leaks {found:?}: {text}");
    }
}

#[test]
fn leak_detection_finds_bytes_in_every_printed_form() {
    // The search must be able to fail, or the tests below prove nothing.
    let secret = pattern(0x90);
    assert!(!leaks(&format!("{secret:?}"), &secret).is_empty());
    assert!(!leaks(&format!("{secret:x?}"), &secret).is_empty());
    assert!(!leaks(&format!("{secret:#?}").replace(['\n', ' '], ""), &secret).is_empty());
    assert!(!leaks(&hex::encode_upper(secret), &secret).is_empty());
    assert!(leaks(&format!("{:?}", pattern(0x10)), &secret).is_empty());
}

#[test]
fn debug_of_passphrase_and_file_key_shows_no_key_bytes() {
    let passphrase_bytes = b"Tr0ub4dor&3 correct horse".to_vec();
    let passphrase = Passphrase::new(passphrase_bytes.clone());
    let text = format!("{passphrase:?} {passphrase:#?}");
    assert!(!text.contains("Tr0ub4dor"), "{text}");
    assert_redacted("Passphrase", &text, &[&passphrase_bytes]);

    let key_bytes = pattern(0xA1);
    let file_key = FileKey::from_bytes(key_bytes);
    assert_redacted(
        "FileKey",
        &format!("{file_key:?} {file_key:#?}"),
        &[&key_bytes],
    );
}

/// The Argon2id output for the floor parameters, computed with `argon2` directly.
fn argon2id(passphrase: &[u8], salt: &[u8; 16]) -> [u8; 32] {
    let params =
        argon2::Params::new(FLOOR.memory_kib, FLOOR.passes, FLOOR.lanes, Some(32)).unwrap();
    let mut out = [0u8; 32];
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password_into(passphrase, salt, &mut out)
        .unwrap();
    out
}

#[test]
fn debug_of_passphrase_key_and_key_cache_shows_no_key_bytes() {
    let passphrase = b"a passphrase for the debug test".to_vec();
    let salt = [0x5c; 16];
    let key =
        PassphraseKey::for_test_vectors(&Passphrase::new(passphrase.clone()), FLOOR, salt).unwrap();
    let derived = argon2id(&passphrase, &salt);
    let text = format!("{key:?} {key:#?}");
    assert_redacted("PassphraseKey", &text, &[&derived, &passphrase]);

    let cache = PassphraseIdentity::new(Passphrase::new(passphrase.clone()), Limits::default());
    let cached = cache.key_for(FLOOR, salt).unwrap();
    assert_redacted("Arc<PassphraseKey>", &format!("{cached:?}"), &[&derived]);
    let text = format!("{cache:?} {cache:#?}");
    assert!(!text.contains("a passphrase"), "{text}");
    assert_redacted("PassphraseIdentity", &text, &[&derived, &passphrase]);
}

/// HKDF-Expand-SHA-512 (RFC 5869), for the Cobblestone-256 key schedule.
fn hkdf_expand_sha512(prk: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let mut okm = Vec::new();
    let mut previous = Vec::new();
    let mut counter = 1u8;
    while okm.len() < len {
        let mut mac = <hmac::Hmac<sha2::Sha512> as KeyInit>::new_from_slice(prk).unwrap();
        mac.update(&previous);
        mac.update(info);
        mac.update(&[counter]);
        previous = mac.finalize().into_bytes().to_vec();
        okm.extend_from_slice(&previous);
        counter += 1;
    }
    okm.truncate(len);
    okm
}

#[test]
fn debug_of_chunk_cipher_shows_neither_the_file_key_nor_the_chunk_key() {
    let file_key_bytes = pattern(0x33);
    let salt = [0x44u8; 24];
    let (cipher, prefix) = ChunkCipher::with_salt(&FileKey::from_bytes(file_key_bytes), salt);
    // key (32) || base nonce (12) || commitment (32), per FORMAT.md.
    let info = [INFO_PREFIX, AEAD_NAME, &[0], &salt, CONTEXT_V1].concat();
    let okm = hkdf_expand_sha512(&file_key_bytes, &info, 76);
    assert_eq!(
        prefix.commitment[..],
        okm[44..],
        "the independent key schedule must match"
    );
    let text = format!("{cipher:?} {cipher:#?}");
    assert_redacted(
        "ChunkCipher",
        &text,
        &[&file_key_bytes, &okm[..32], &okm[32..44]],
    );
}

#[test]
fn errors_never_carry_the_passphrase_or_keys() {
    let key = PassphraseKey::for_test_vectors(
        &Passphrase::new(b"zebra-quokka-7".to_vec()),
        FLOOR,
        [1; 16],
    )
    .unwrap();
    let file_key = pattern(0x21);
    let mut file = Vec::new();
    let mut w = Encryptor::from_parts(&FileKey::from_bytes(file_key), [2; 32], [3; 24], &[&key])
        .writer(&mut file)
        .unwrap();
    w.write_all(b"data").unwrap();
    w.finish().unwrap();
    let wrong = PassphraseIdentity::new(
        Passphrase::new(b"narwhal-octopus-9".to_vec()),
        Limits::default(),
    );
    let err = Decryptor::new(&file[..])
        .unwrap()
        .unlock(&[&wrong])
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(matches!(err, Error::NoSlotOpened { .. }), "{text}");
    assert!(
        !text.contains("narwhal") && !text.contains("zebra"),
        "{text}"
    );
    assert_redacted("Error", &text, &[&file_key]);
}

fn write_file(key: &PassphraseKey, data: &[u8]) -> Vec<u8> {
    let mut writer = Encryptor::new(&[key]).unwrap().writer(Vec::new()).unwrap();
    writer.write_all(data).unwrap();
    writer.finish().unwrap()
}

fn read_file(file: &[u8], cache: &PassphraseIdentity) -> Vec<u8> {
    let decryptor = Decryptor::new(file).unwrap();
    let key = decryptor.unlock(&[cache]).unwrap();
    let mut out = Vec::new();
    decryptor
        .into_reader(&key)
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn files_written_with_one_passphrase_key_open_with_one_derivation() {
    let passphrase = Passphrase::new(b"batch passphrase".to_vec());
    let key = PassphraseKey::generate(&passphrase, FLOOR, &Limits::default()).unwrap();
    let (a, b) = (
        write_file(&key, b"first file"),
        write_file(&key, b"second file"),
    );
    assert_ne!(a, b);

    let before = derivations_on_this_thread();
    let cache = PassphraseIdentity::new(passphrase.clone(), Limits::default());
    assert_eq!(read_file(&a, &cache), b"first file");
    assert_eq!(
        derivations_on_this_thread(),
        before + 1,
        "the first file derives once"
    );
    assert_eq!(read_file(&b, &cache), b"second file");
    assert_eq!(read_file(&a, &cache), b"first file");
    assert_eq!(
        derivations_on_this_thread(),
        before + 1,
        "later files reuse the cached key"
    );

    // A file under another passphrase key (another salt) costs one more derivation.
    let other = PassphraseKey::generate(&passphrase, FLOOR, &Limits::default()).unwrap();
    let c = write_file(&other, b"third file");
    let before = derivations_on_this_thread();
    assert_eq!(read_file(&c, &cache), b"third file");
    assert_eq!(derivations_on_this_thread(), before + 1);

    // A key inserted by the writer (encrypt-then-verify) needs no derivation at all.
    let fresh = PassphraseIdentity::new(passphrase, Limits::default());
    fresh.remember(Arc::new(key));
    let before = derivations_on_this_thread();
    assert_eq!(read_file(&b, &fresh), b"second file");
    assert_eq!(derivations_on_this_thread(), before);
}

/// HMAC-SHA-256 under `HKDF-SHA-256(file key, header nonce, LABEL_HEADER_MAC)`.
fn header_mac(file_key: &[u8; 32], header_nonce: &[u8; 32], header: &[u8]) -> [u8; MAC_LEN] {
    let mut mac_key = [0u8; 32];
    hkdf::Hkdf::<sha2::Sha256>::new(Some(header_nonce), file_key)
        .expand(LABEL_HEADER_MAC, &mut mac_key)
        .unwrap();
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&mac_key).unwrap();
    mac.update(header);
    mac.finalize().into_bytes().into()
}

/// Rewrites the Argon2id parameters of slot `slot` and re-MACs the header with the file
/// key, so that the file is genuine except for parameters no reader should run.
fn with_params(
    file: &[u8],
    file_key: &[u8; 32],
    nonce: &[u8; 32],
    slot: usize,
    params: KdfParams,
) -> Vec<u8> {
    let header_len = Decryptor::new(file).unwrap().header().len();
    let mut out = file.to_vec();
    let at = FIXED_LEN + slot * (SLOT_PREFIX_LEN + 108) + SLOT_PREFIX_LEN;
    out[at..at + 4].copy_from_slice(&params.memory_kib.to_be_bytes());
    out[at + 4..at + 8].copy_from_slice(&params.passes.to_be_bytes());
    out[at + 8..at + 12].copy_from_slice(&params.lanes.to_be_bytes());
    let tag = header_mac(file_key, nonce, &out[..header_len - MAC_LEN]);
    out[header_len - MAC_LEN..header_len].copy_from_slice(&tag);
    out
}

#[test]
fn parameters_over_the_caps_are_refused_at_once_without_deriving() {
    let passphrase = Passphrase::new(b"caps".to_vec());
    let key = PassphraseKey::for_test_vectors(&passphrase, FLOOR, [9; 16]).unwrap();
    let file_key = pattern(0x61);
    let nonce = [0x62; 32];
    let mut file = Vec::new();
    Encryptor::from_parts(&FileKey::from_bytes(file_key), nonce, [0x63; 24], &[&key])
        .encrypt(&b"payload"[..], &mut file, &Default::default())
        .unwrap();
    // The re-MAC is faithful: unchanged parameters still open.
    let cache = PassphraseIdentity::new(passphrase.clone(), Limits::default());
    cache.remember(Arc::new(
        PassphraseKey::for_test_vectors(&passphrase, FLOOR, [9; 16]).unwrap(),
    ));
    assert_eq!(
        read_file(&with_params(&file, &file_key, &nonce, 0, FLOOR), &cache),
        b"payload"
    );

    let cases = [
        (
            KdfParams::new(kdf::DEFAULT_MAX_MEMORY_MIB + 1, 2, 1),
            "memory",
            Limits::default(),
        ),
        (KdfParams::new(4096, 3, 4), "memory", Limits::default()),
        (
            KdfParams {
                memory_kib: u32::MAX,
                passes: 2,
                lanes: 1,
            },
            "memory",
            Limits {
                max_memory_mib: u32::MAX,
                ..Limits::default()
            },
        ),
        (
            KdfParams::new(600, 2, 1),
            "memory",
            Limits {
                max_memory_mib: 512,
                ..Limits::default()
            },
        ),
        (
            KdfParams::new(19, kdf::MAX_PASSES + 1, 1),
            "passes",
            Limits::default(),
        ),
        (KdfParams::new(19, u32::MAX, 1), "passes", Limits::default()),
        (
            KdfParams::new(19, 2, kdf::MAX_LANES + 1),
            "lanes",
            Limits::default(),
        ),
    ];
    for (params, param, limits) in cases {
        let tampered = with_params(&file, &file_key, &nonce, 0, params);
        let cache = PassphraseIdentity::new(passphrase.clone(), limits);
        let before = derivations_on_this_thread();
        let err = Decryptor::new(&tampered[..])
            .unwrap()
            .unlock(&[&cache])
            .unwrap_err();
        assert!(
            matches!(err, Error::KdfOverLimit { param: p, .. } if p == param),
            "{params:?}: {err:?}"
        );
        assert_eq!(
            derivations_on_this_thread(),
            before,
            "{params:?}: derived before refusing"
        );
        // The cache refuses the same parameters directly, too.
        assert!(matches!(
            cache.key_for(params, [9; 16]),
            Err(Error::KdfOverLimit { .. })
        ));
        assert_eq!(derivations_on_this_thread(), before);
    }
}

#[test]
fn one_slot_over_the_caps_refuses_the_file_before_any_slot_is_tried() {
    let passphrase = Passphrase::new(b"two slots".to_vec());
    let good = PassphraseKey::for_test_vectors(&passphrase, FLOOR, [1; 16]).unwrap();
    let other =
        PassphraseKey::for_test_vectors(&Passphrase::new(b"x".to_vec()), FLOOR, [2; 16]).unwrap();
    let file_key = pattern(0x71);
    let nonce = [0x72; 32];
    let mut file = Vec::new();
    Encryptor::from_parts(
        &FileKey::from_bytes(file_key),
        nonce,
        [0x73; 24],
        &[&good, &other],
    )
    .encrypt(&b"x"[..], &mut file, &Default::default())
    .unwrap();
    // The second slot asks for 2 GiB; the first would open with the passphrase.
    let tampered = with_params(&file, &file_key, &nonce, 1, KdfParams::new(2048, 2, 1));
    let cache = PassphraseIdentity::new(passphrase, Limits::default());
    let before = derivations_on_this_thread();
    let err = Decryptor::new(&tampered[..])
        .unwrap()
        .unlock(&[&cache])
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::KdfOverLimit {
                param: "memory",
                value: 2048,
                limit: 1024,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(derivations_on_this_thread(), before);
}
