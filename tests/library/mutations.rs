//! An attacker's view of the format: random damage anywhere in a file (bit flips, bytes
//! cut out, bytes inserted, truncation, extension) must never panic and never yield
//! anything but the exact original plaintext; arbitrary bytes must be refused cleanly.
//! Run through the streaming reader, the pipeline and the seekable reader.

use std::io::{Cursor, Read, Write};
use std::sync::LazyLock;

use coffer::{Decryptor, Encryptor, FileKey, PassphraseKey, PipelineOptions};
use proptest::prelude::*;

use crate::fixtures;

const FILE_KEY: [u8; 32] = [0x61; 32];

static KEY: LazyLock<PassphraseKey> = LazyLock::new(|| fixtures::floor_key(b"mutations", 0x62));

/// A plaintext of three full chunks and a short final one, and its file.
static ORIGINAL: LazyLock<(Vec<u8>, Vec<u8>)> = LazyLock::new(|| {
    let plain: Vec<u8> = (0..3 * 16384 + 777u32)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    let encryptor = Encryptor::from_parts(
        &FileKey::from_bytes(FILE_KEY),
        [0x63; 32],
        [0x64; 24],
        &[&*KEY],
    );
    let mut writer = encryptor.writer(Vec::new()).unwrap();
    writer.write_all(&plain).unwrap();
    (plain, writer.finish().unwrap())
});

#[derive(Debug, Clone)]
enum Damage {
    Flip { at: usize, mask: u8 },
    Cut { at: usize, len: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Truncate { len: usize },
    Extend { bytes: Vec<u8> },
}

fn damage() -> impl Strategy<Value = Damage> {
    let n = ORIGINAL.1.len();
    prop_oneof![
        (0..n, 1..=255u8).prop_map(|(at, mask)| Damage::Flip { at, mask }),
        (0..n, 1..64usize).prop_map(|(at, len)| Damage::Cut { at, len }),
        (0..n, proptest::collection::vec(any::<u8>(), 1..64))
            .prop_map(|(at, bytes)| Damage::Insert { at, bytes }),
        (0..n).prop_map(|len| Damage::Truncate { len }),
        proptest::collection::vec(any::<u8>(), 1..40_000)
            .prop_map(|bytes| Damage::Extend { bytes }),
    ]
}

fn apply(file: &[u8], damage: &Damage) -> Vec<u8> {
    let mut out = file.to_vec();
    match damage {
        Damage::Flip { at, mask } => out[*at] ^= mask,
        Damage::Cut { at, len } => {
            let end = (*at + *len).min(out.len());
            out.drain(*at..end);
        }
        Damage::Insert { at, bytes } => {
            out.splice(*at..*at, bytes.iter().copied());
        }
        Damage::Truncate { len } => out.truncate(*len),
        Damage::Extend { bytes } => out.extend_from_slice(bytes),
    }
    out
}

/// What each decoder makes of `file`: the plaintext, or `None` for any error.
fn decoders(file: &[u8]) -> Vec<(&'static str, Option<Vec<u8>>)> {
    let unlock = |d: &Decryptor<&[u8]>| d.unlock_with_file_key(FileKey::from_bytes(FILE_KEY));
    let stream = (|| {
        let d = Decryptor::new(file).ok()?;
        let key = unlock(&d).ok()?;
        let mut out = Vec::new();
        d.into_reader(&key).ok()?.read_to_end(&mut out).ok()?;
        Some(out)
    })();
    let pipeline = (|| {
        let d = Decryptor::new(file).ok()?;
        let key = unlock(&d).ok()?;
        let mut out = Vec::new();
        d.decrypt(&key, &mut out, &PipelineOptions::with_threads(2))
            .ok()?;
        Some(out)
    })();
    let seekable = (|| {
        let d = Decryptor::new(Cursor::new(file)).ok()?;
        let key = d.unlock_with_file_key(FileKey::from_bytes(FILE_KEY)).ok()?;
        let mut out = Vec::new();
        d.into_seekable(&key).ok()?.read_to_end(&mut out).ok()?;
        Some(out)
    })();
    vec![
        ("stream", stream),
        ("pipeline", pipeline),
        ("seekable", seekable),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn damaged_files_never_decrypt_to_anything_but_the_original(damage in damage()) {
        let (plain, file) = &*ORIGINAL;
        let damaged = apply(file, &damage);
        for (name, result) in decoders(&damaged) {
            if let Some(out) = result {
                prop_assert!(damaged == *file, "{name} accepted a damaged file: {damage:?}");
                prop_assert!(out == *plain, "{name} returned wrong plaintext");
            }
        }
    }

    #[test]
    fn arbitrary_bytes_are_refused_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        for (name, result) in decoders(&bytes) {
            prop_assert!(result.is_none(), "{name} accepted random bytes");
        }
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_magic_and_version_are_refused(tail in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut bytes = coffer::internals::format::MAGIC.to_vec();
        bytes.push(coffer::internals::format::VERSION);
        bytes.extend_from_slice(&tail);
        for (name, result) in decoders(&bytes) {
            prop_assert!(result.is_none(), "{name} accepted a forged header");
        }
    }
}

#[test]
fn the_undamaged_file_decrypts_in_every_decoder() {
    let (plain, file) = &*ORIGINAL;
    for (name, result) in decoders(file) {
        assert_eq!(result.as_deref(), Some(&plain[..]), "{name}");
    }
}
