//! Round trips through the streaming adapters (`EncryptWriter` / `DecryptReader`) at the
//! sizes where the chunking can go wrong, with every write and read step size, plus
//! proptest round trips with arbitrary split points.

use crate::fixtures;
use fixtures::plaintext;

use std::io::{Read, Write};
use std::sync::LazyLock;

use coffer::internals::stream::{chunks_len, CHUNK_SIZE, PREFIX_LEN};
use coffer::{Decryptor, Encryptor, Error, FileKey, Limits, Passphrase, PassphraseKey};
use proptest::prelude::*;

const FILE_KEY: [u8; 32] = [0x11; 32];
const HEADER_NONCE: [u8; 32] = [0x22; 32];
const PAYLOAD_SALT: [u8; 24] = [0x33; 24];
const STEPS: [usize; 7] = [1, 7, 4096, 16383, 16384, 16385, 65536];
/// Three pipeline batches (64 chunks each) and a bit: the "large" size.
const LARGE: usize = 3 * 1024 * 1024 + 4099;

/// One Argon2id derivation per test binary, at the floor.
static KEY: LazyLock<PassphraseKey> = LazyLock::new(|| fixtures::floor_key(b"round trip", 0x44));

fn encryptor() -> Encryptor {
    fixtures::fixed_encryptor(FILE_KEY, HEADER_NONCE, PAYLOAD_SALT, &KEY)
}

/// Encrypts by writing `data` in pieces of `step` bytes.
fn encrypt_in_steps(data: &[u8], step: usize) -> Vec<u8> {
    let mut writer = encryptor().writer(Vec::new()).unwrap();
    for piece in data.chunks(step) {
        writer.write_all(piece).unwrap();
    }
    writer.finish().unwrap()
}

/// Encrypts by writing pieces whose lengths are given by `cuts` (cyclically).
fn encrypt_with_cuts(data: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut writer = encryptor().writer(Vec::new()).unwrap();
    let mut at = 0;
    let mut i = 0;
    while at < data.len() {
        let n = cuts[i % cuts.len()].clamp(1, data.len() - at);
        // `write`, not `write_all`: the writer must take everything it is given.
        assert_eq!(writer.write(&data[at..at + n]).unwrap(), n);
        at += n;
        i += 1;
    }
    writer.finish().unwrap()
}

/// Decrypts by reading into buffers whose lengths come from `steps` (cyclically).
fn decrypt_with_steps(file: &[u8], steps: &[usize]) -> Result<Vec<u8>, Error> {
    let decryptor = Decryptor::new(file)?;
    let file_key = decryptor.unlock_with_file_key(FileKey::from_bytes(FILE_KEY))?;
    let mut reader = decryptor.into_reader(&file_key)?;
    let mut out = Vec::new();
    let mut buf = vec![0; steps.iter().copied().max().unwrap_or(1).max(1)];
    let mut i = 0;
    loop {
        let want = steps[i % steps.len()].max(1);
        let n = reader.read(&mut buf[..want]).map_err(Error::from_io)?;
        assert!(n <= want);
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
        i += 1;
    }
}

fn expected_file_len(plaintext_len: usize) -> usize {
    encryptor().header().len() + PREFIX_LEN + chunks_len(plaintext_len as u64) as usize
}

fn check_sizes(sizes: &[usize]) {
    for &size in sizes {
        let data = plaintext(size, size as u64);
        let reference = encrypt_in_steps(&data, CHUNK_SIZE);
        assert_eq!(
            reference.len(),
            expected_file_len(size),
            "file length for {size} bytes"
        );
        for &write_step in &STEPS {
            let file = encrypt_in_steps(&data, write_step);
            assert!(
                file == reference,
                "size {size}: writing in steps of {write_step} changed the ciphertext"
            );
            for &read_step in &STEPS {
                let out = decrypt_with_steps(&file, &[read_step]).unwrap_or_else(|e| {
                    panic!("size {size}, write step {write_step}, read step {read_step}: {e}")
                });
                assert!(
                    out == data,
                    "size {size}, write step {write_step}, read step {read_step}: wrong plaintext"
                );
            }
        }
    }
}

#[test]
fn small_sizes_round_trip_with_every_write_and_read_step() {
    check_sizes(&[0, 1, 16383, 16384, 16385]);
}

#[test]
fn two_full_chunks_round_trip_with_every_write_and_read_step() {
    check_sizes(&[2 * CHUNK_SIZE]);
}

/// The writer is deterministic for fixed parts, so checking that every write step gives
/// the same bytes, and that every read step decrypts those bytes, covers the whole cross
/// product without 49 passes over 3 MiB.
#[test]
fn several_batches_round_trip_with_every_write_step_and_every_read_step() {
    let data = plaintext(LARGE, 3);
    let reference = encrypt_in_steps(&data, 65536);
    assert_eq!(reference.len(), expected_file_len(LARGE));
    for &write_step in &STEPS {
        assert!(
            encrypt_in_steps(&data, write_step) == reference,
            "write step {write_step} changed the ciphertext"
        );
    }
    for &read_step in &STEPS {
        let out = decrypt_with_steps(&reference, &[read_step]).unwrap();
        assert!(
            out == data,
            "read step {read_step} gave the wrong plaintext"
        );
    }
}

#[test]
fn different_plaintexts_of_one_size_give_different_ciphertexts() {
    // Guards the round trip against a writer that ignores its input.
    let a = encrypt_in_steps(&plaintext(40_000, 1), 4096);
    let b = encrypt_in_steps(&plaintext(40_000, 2), 4096);
    assert_eq!(a.len(), b.len());
    let header = encryptor().header().len() + PREFIX_LEN;
    assert_eq!(
        a[..header],
        b[..header],
        "header and prefix depend only on the parts"
    );
    assert_ne!(a[header..], b[header..]);
}

#[test]
fn a_writer_dropped_without_finish_leaves_a_truncated_file() {
    for size in [0, 100, CHUNK_SIZE, CHUNK_SIZE + 100] {
        let mut file = Vec::new();
        {
            let mut writer = encryptor().writer(&mut file).unwrap();
            writer.write_all(&plaintext(size, 9)).unwrap();
        }
        let err = decrypt_with_steps(&file, &[4096]).unwrap_err();
        assert!(
            matches!(err, Error::Truncated { at_chunk: Some(n) } if n == (size / CHUNK_SIZE) as u64),
            "size {size}: {err:?}"
        );
    }
}

#[test]
fn the_reader_keeps_returning_zero_after_the_end() {
    let data = plaintext(20_000, 5);
    let file = encrypt_in_steps(&data, 1000);
    let decryptor = Decryptor::new(&file[..]).unwrap();
    let key = decryptor
        .unlock_with_file_key(FileKey::from_bytes(FILE_KEY))
        .unwrap();
    let mut reader = decryptor.into_reader(&key).unwrap();
    let mut out = Vec::new();
    reader.read_to_end(&mut out).unwrap();
    assert!(out == data);
    let mut buf = [0u8; 10];
    assert_eq!(reader.read(&mut buf).unwrap(), 0);
    assert_eq!(reader.read(&mut buf).unwrap(), 0);
    assert_eq!(reader.read(&mut []).unwrap(), 0);
}

#[test]
fn a_file_opens_with_its_passphrase_through_the_key_cache() {
    let data = plaintext(30_000, 8);
    let file = encrypt_in_steps(&data, 30_000);
    let cache =
        coffer::PassphraseIdentity::new(Passphrase::new(b"round trip".to_vec()), Limits::default());
    let decryptor = Decryptor::new(&file[..]).unwrap();
    let key = decryptor.unlock(&[&cache]).unwrap();
    assert_eq!(key.expose(), &FILE_KEY);
    let mut out = Vec::new();
    decryptor
        .into_reader(&key)
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    assert!(out == data);
}

#[test]
fn fresh_encryptors_give_different_files_for_the_same_plaintext() {
    let data = plaintext(1000, 4);
    let encrypt = || {
        let mut w = Encryptor::new(&[&*KEY])
            .unwrap()
            .writer(Vec::new())
            .unwrap();
        w.write_all(&data).unwrap();
        w.finish().unwrap()
    };
    let (a, b) = (encrypt(), encrypt());
    assert_eq!(a.len(), b.len());
    assert_ne!(
        a, b,
        "file key, header nonce and payload salt must be fresh"
    );
    let cache =
        coffer::PassphraseIdentity::new(Passphrase::new(b"round trip".to_vec()), Limits::default());
    for file in [a, b] {
        let d = Decryptor::new(&file[..]).unwrap();
        let key = d.unlock(&[&cache]).unwrap();
        let mut out = Vec::new();
        d.into_reader(&key).unwrap().read_to_end(&mut out).unwrap();
        assert!(out == data);
    }
}

fn arb_data() -> impl Strategy<Value = Vec<u8>> {
    // Mostly short inputs, some up to 200 KB (a dozen chunks).
    prop_oneof![
        3 => proptest::collection::vec(any::<u8>(), 0..40_000),
        1 => (0usize..200_000, any::<u64>()).prop_map(|(len, seed)| plaintext(len, seed)),
    ]
}

fn arb_cuts() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(
        prop_oneof![
            1usize..20,
            1usize..20_000,
            Just(CHUNK_SIZE),
            Just(CHUNK_SIZE - 1),
            Just(CHUNK_SIZE + 1)
        ],
        1..16,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_data_round_trips_with_arbitrary_write_and_read_splits(
        data in arb_data(),
        write_cuts in arb_cuts(),
        read_cuts in arb_cuts(),
    ) {
        let file = encrypt_with_cuts(&data, &write_cuts);
        prop_assert_eq!(file.len(), expected_file_len(data.len()));
        prop_assert!(file == encrypt_in_steps(&data, CHUNK_SIZE.max(data.len()).max(1)),
            "ciphertext depends on how the plaintext was split");
        let out = decrypt_with_steps(&file, &read_cuts).unwrap();
        prop_assert!(out == data);
    }
}
