//! Every tamper class gives its exact error, through the streaming reader and through the
//! pipeline at 1 and 2 threads, and no decoder ever releases a byte it has not
//! authenticated: the streaming reader stops at the last good chunk, the pipeline at the
//! last good batch.

mod fixtures;
use fixtures::plaintext;

use std::io;
use std::sync::{Arc, LazyLock};

use coffer::internals::format::{FIXED_LEN, MAGIC, SLOT_PREFIX_LEN, VERSION};
use coffer::internals::keys::{LABEL_HEADER_MAC, MAC_LEN};
use coffer::internals::pipeline::BATCH_CHUNKS;
use coffer::internals::slots::passphrase::SLOT_TYPE as SLOT_TYPE_PASSPHRASE;
use coffer::internals::stream::{
    CHUNK_SIZE, COMMITMENT_LEN, ENCRYPTED_CHUNK_SIZE, PREFIX_LEN, SALT_LEN, TAG_LEN,
};
use coffer::{
    Decryptor, Encryptor, Error, FileKey, KdfParams, Limits, Passphrase, PassphraseIdentity,
    PassphraseKey, PipelineOptions,
};
use hmac::{KeyInit, Mac};

const FILE_KEY: [u8; 32] = [0x61; 32];
const HEADER_NONCE: [u8; 32] = [0x62; 32];
const PAYLOAD_SALT: [u8; 24] = [0x63; 24];
const PASSPHRASE: &[u8] = b"tamper";
const ENC: usize = ENCRYPTED_CHUNK_SIZE;
const BATCH: usize = BATCH_CHUNKS * CHUNK_SIZE;

/// Five full chunks and a 100-byte final chunk (index 5): one pipeline batch.
const SMALL_LEN: usize = 5 * CHUNK_SIZE + 100;
/// Two full batches and a third holding ten full chunks and the final chunk (index 138).
const MULTI_LEN: usize = 2 * BATCH + 10 * CHUNK_SIZE + 100;

static KEY: LazyLock<Arc<PassphraseKey>> = LazyLock::new(|| {
    Arc::new(
        PassphraseKey::for_test_vectors(
            &Passphrase::new(PASSPHRASE.to_vec()),
            KdfParams::new(19, 2, 1),
            [0x64; 16],
        )
        .expect("floor parameters derive"),
    )
});

/// A cache already holding `KEY`, so unlocking costs no derivation.
fn cache() -> PassphraseIdentity {
    let cache = PassphraseIdentity::new(Passphrase::new(PASSPHRASE.to_vec()), Limits::default());
    cache.remember(Arc::clone(&KEY));
    cache
}

fn encrypt_with(file_key: [u8; 32], salt: [u8; 24], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Encryptor::from_parts(
        &FileKey::from_bytes(file_key),
        HEADER_NONCE,
        salt,
        &[&**KEY],
    )
    .encrypt(data, &mut out, &PipelineOptions::with_threads(2))
    .unwrap();
    out
}

fn encrypt(data: &[u8]) -> Vec<u8> {
    encrypt_with(FILE_KEY, PAYLOAD_SALT, data)
}

struct Fixture {
    plain: Vec<u8>,
    file: Vec<u8>,
}

impl Fixture {
    fn new(len: usize, seed: u64) -> Self {
        let plain = plaintext(len, seed);
        let file = encrypt(&plain);
        Fixture { plain, file }
    }

    fn final_index(&self) -> u64 {
        (self.plain.len() / CHUNK_SIZE) as u64
    }

    /// The plaintext length of the final chunk.
    fn final_len(&self) -> usize {
        self.plain.len() % CHUNK_SIZE
    }
}

static SMALL: LazyLock<Fixture> = LazyLock::new(|| Fixture::new(SMALL_LEN, 1));
static MULTI: LazyLock<Fixture> = LazyLock::new(|| Fixture::new(MULTI_LEN, 2));

fn header_len() -> usize {
    Encryptor::from_parts(
        &FileKey::from_bytes(FILE_KEY),
        HEADER_NONCE,
        PAYLOAD_SALT,
        &[&**KEY],
    )
    .header()
    .len()
}

/// Offset of the payload prefix (salt, then commitment).
fn prefix_at() -> usize {
    header_len()
}

/// Offset of chunk `index` in the file.
fn chunk_at(index: u64) -> usize {
    header_len() + PREFIX_LEN + index as usize * ENC
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decoder {
    Stream,
    Pipeline(usize),
}

const DECODERS: [Decoder; 3] = [Decoder::Stream, Decoder::Pipeline(1), Decoder::Pipeline(2)];

#[derive(Clone, Copy)]
enum Unlock<'a> {
    /// The file key, known: no Argon2id.
    FileKey,
    /// The passphrase, through a key cache.
    Cache(&'a PassphraseIdentity),
}

/// Decrypts `file` whole with `decoder`, returning what it released and how it ended.
fn open(file: &[u8], decoder: Decoder, unlock: Unlock<'_>) -> (Vec<u8>, Result<(), Error>) {
    let mut out = Vec::new();
    let result = (|| {
        let decryptor = Decryptor::new(file)?;
        let key = match unlock {
            Unlock::FileKey => decryptor.unlock_with_file_key(FileKey::from_bytes(FILE_KEY))?,
            Unlock::Cache(cache) => decryptor.unlock(&[cache])?,
        };
        match decoder {
            Decoder::Stream => {
                let mut reader = decryptor.into_reader(&key)?;
                io::copy(&mut reader, &mut out).map_err(Error::from_io)?;
            }
            Decoder::Pipeline(threads) => {
                let len =
                    decryptor.decrypt(&key, &mut out, &PipelineOptions::with_threads(threads))?;
                assert_eq!(len, out.len() as u64);
            }
        }
        Ok(())
    })();
    (out, result)
}

/// How much plaintext a decoder may release before failing at chunk `failing`: the
/// streaming reader everything before that chunk, the pipeline only whole batches before
/// the batch holding it.
fn released(decoder: Decoder, plain: &[u8], failing: Option<u64>) -> &[u8] {
    let Some(index) = failing else {
        return &plain[..0];
    };
    let index = index as usize;
    let len = match decoder {
        Decoder::Stream => index * CHUNK_SIZE,
        Decoder::Pipeline(_) => index / BATCH_CHUNKS * BATCH,
    };
    &plain[..len.min(plain.len())]
}

/// Asserts that every decoder refuses `file` with an error `expected` accepts, after
/// releasing exactly the authenticated plaintext before chunk `failing`.
#[track_caller]
fn assert_refused(
    what: &str,
    file: &[u8],
    plain: &[u8],
    failing: Option<u64>,
    expected: impl Fn(&Error) -> bool,
) {
    for decoder in DECODERS {
        assert_refused_by(what, decoder, file, plain, failing, &expected);
    }
}

#[track_caller]
fn assert_refused_by(
    what: &str,
    decoder: Decoder,
    file: &[u8],
    plain: &[u8],
    failing: Option<u64>,
    expected: impl Fn(&Error) -> bool,
) {
    let (out, result) = open(file, decoder, Unlock::FileKey);
    match result {
        Ok(()) => panic!("{what}, {decoder:?}: accepted a tampered file"),
        Err(err) => assert!(expected(&err), "{what}, {decoder:?}: wrong error {err:?}"),
    }
    let allowed = released(decoder, plain, failing);
    assert!(
        out == allowed,
        "{what}, {decoder:?}: released {} bytes, expected exactly the {} authenticated bytes",
        out.len(),
        allowed.len()
    );
}

fn flip(file: &[u8], at: usize, bit: u8) -> Vec<u8> {
    let mut out = file.to_vec();
    out[at] ^= bit;
    out
}

fn is_chunk_auth(index: u64) -> impl Fn(&Error) -> bool {
    move |e| matches!(e, Error::ChunkAuthentication { index: i } if *i == index)
}

fn is_truncated(at: Option<u64>) -> impl Fn(&Error) -> bool {
    move |e| matches!(e, Error::Truncated { at_chunk } if *at_chunk == at)
}

fn is_trailing(bytes: usize) -> impl Fn(&Error) -> bool {
    move |e| matches!(e, Error::TrailingData { bytes: b } if *b == bytes as u64)
}

#[test]
fn the_untampered_fixtures_decrypt_with_every_decoder() {
    // The baseline every tamper test depends on.
    for fixture in [&*SMALL, &*MULTI] {
        for decoder in DECODERS {
            let (out, result) = open(&fixture.file, decoder, Unlock::FileKey);
            result.unwrap();
            assert!(out == fixture.plain, "{decoder:?}");
        }
    }
    for decoder in DECODERS {
        let (out, result) = open(&SMALL.file, decoder, Unlock::Cache(&cache()));
        result.unwrap();
        assert!(out == SMALL.plain, "{decoder:?} through the key cache");
    }
}

#[test]
fn a_flipped_bit_in_any_header_byte_is_refused_with_the_error_of_its_field() {
    let cache = cache();
    let file = &SMALL.file;
    let len = header_len();
    assert_eq!(len, FIXED_LEN + SLOT_PREFIX_LEN + 108 + MAC_LEN);
    let slot = FIXED_LEN; // type, reserved, body length, then the body
    let body = slot + SLOT_PREFIX_LEN;
    let (params, salt, check, wrapped, mac) =
        (body, body + 12, body + 28, body + 60, len - MAC_LEN);
    for at in 0..len {
        // Every byte gets one bit (cycling through bit positions); bytes that cost no
        // Argon2id derivation when flipped get all eight.
        let bits: Vec<u8> = if (params..check).contains(&at) {
            vec![1 << (at % 8)]
        } else {
            (0..8).map(|b| 1 << b).collect()
        };
        for bit in bits {
            let tampered = flip(file, at, bit);
            for decoder in DECODERS {
                let (out, result) = open(&tampered, decoder, Unlock::Cache(&cache));
                let err = match result {
                    Ok(()) => panic!("bit {bit:#04x} of header byte {at} flipped: file accepted"),
                    Err(err) => err,
                };
                assert!(out.is_empty(), "header byte {at}: plaintext released");
                let ok = match at {
                    _ if at < MAGIC.len() => matches!(err, Error::NotCoffer),
                    8 => matches!(err, Error::UnsupportedVersion(v) if v == VERSION ^ bit),
                    9..=15 => matches!(err, Error::InvalidHeader(_)),
                    16..=47 => matches!(
                        err,
                        Error::NoSlotOpened {
                            unsupported_slots: 0,
                            ..
                        }
                    ),
                    _ if at == slot => {
                        // Type 0 is reserved; 0x11 (hybrid) is a known type whose body is
                        // 1200 bytes, not 108. Every other flip gives an unknown type.
                        let flipped = SLOT_TYPE_PASSPHRASE ^ bit;
                        if flipped == 0 || flipped == coffer::internals::slots::hybrid::SLOT_TYPE {
                            matches!(err, Error::InvalidHeader(_))
                        } else {
                            matches!(
                                err,
                                Error::NoSlotOpened {
                                    unsupported_slots: 1,
                                    ..
                                }
                            )
                        }
                    }
                    _ if at < body => matches!(err, Error::InvalidHeader(_)),
                    // Parameters: over a cap, unrunnable, or another key whose check
                    // value does not match.
                    _ if at < salt => matches!(
                        err,
                        Error::KdfOverLimit { .. }
                            | Error::InvalidHeader(_)
                            | Error::NoSlotOpened {
                                unsupported_slots: 0,
                                ..
                            }
                    ),
                    _ if at < wrapped => matches!(
                        err,
                        Error::NoSlotOpened {
                            unsupported_slots: 0,
                            ..
                        }
                    ),
                    _ if at < mac => matches!(err, Error::HeaderAuthentication),
                    _ => matches!(err, Error::HeaderAuthentication),
                };
                assert!(
                    ok,
                    "bit {bit:#04x} of header byte {at}, {decoder:?}: unexpected {err:?}"
                );
            }
        }
    }
}

#[test]
fn a_flipped_commitment_or_payload_salt_is_a_commitment_mismatch() {
    for fixture in [&*SMALL, &*MULTI] {
        for at in [
            0,
            11,
            SALT_LEN - 1,
            SALT_LEN,
            SALT_LEN + 17,
            SALT_LEN + COMMITMENT_LEN - 1,
        ] {
            let tampered = flip(&fixture.file, prefix_at() + at, 0x04);
            assert_refused("prefix byte", &tampered, &fixture.plain, None, |e| {
                matches!(e, Error::CommitmentMismatch)
            });
        }
    }
}

#[test]
fn a_flipped_bit_in_a_chunk_body_fails_that_chunk() {
    let small = &*SMALL;
    for index in [0, 2, small.final_index()] {
        let tampered = flip(&small.file, chunk_at(index) + 37, 0x10);
        assert_refused(
            "chunk body",
            &tampered,
            &small.plain,
            Some(index),
            is_chunk_auth(index),
        );
    }
}

#[test]
fn a_flipped_bit_in_a_chunk_tag_fails_that_chunk() {
    let small = &*SMALL;
    let final_tag = chunk_at(small.final_index()) + small.final_len();
    for (index, at) in [
        (0, chunk_at(0) + CHUNK_SIZE),
        (2, chunk_at(2) + ENC - 1),
        (small.final_index(), final_tag),
        (small.final_index(), final_tag + TAG_LEN - 1),
    ] {
        let tampered = flip(&small.file, at, 0x80);
        assert_refused(
            "chunk tag",
            &tampered,
            &small.plain,
            Some(index),
            is_chunk_auth(index),
        );
    }
}

#[test]
fn a_tampered_chunk_in_a_later_batch_releases_only_the_batches_before_it() {
    let multi = &*MULTI;
    let last = multi.final_index();
    // Batch 0, batch 1 (first, middle and last chunk of it), batch 2 (first chunk, the
    // final chunk's body and its tag).
    for (index, offset) in [
        (0, 5),
        (64, 0),
        (90, CHUNK_SIZE + 3),
        (127, ENC - 1),
        (128, 1000),
        (last, 50),
        (last, multi.final_len() + 4),
    ] {
        let tampered = flip(&multi.file, chunk_at(index) + offset, 0x02);
        assert_refused(
            &format!("chunk {index} of the multi-batch file"),
            &tampered,
            &multi.plain,
            Some(index),
            is_chunk_auth(index),
        );
    }
}

#[test]
fn the_last_full_chunk_of_a_multi_batch_file_fails_alone() {
    // The most expensive case for the pipeline (it looks for trailing data first).
    let multi = &*MULTI;
    let index = multi.final_index() - 1;
    let tampered = flip(&multi.file, chunk_at(index) + 100, 0x01);
    assert_refused(
        "last full chunk",
        &tampered,
        &multi.plain,
        Some(index),
        is_chunk_auth(index),
    );
}

#[test]
fn truncation_at_every_chunk_boundary_names_the_missing_chunk() {
    let small = &*SMALL;
    for index in 0..=small.final_index() {
        let cut = &small.file[..chunk_at(index)];
        assert_refused(
            &format!("cut before chunk {index}"),
            cut,
            &small.plain,
            Some(index),
            is_truncated(Some(index)),
        );
    }
    let multi = &*MULTI;
    for index in [1, 63, 64, 65, 127, 128, 129, multi.final_index()] {
        let cut = &multi.file[..chunk_at(index)];
        assert_refused(
            &format!("multi-batch file cut before chunk {index}"),
            cut,
            &multi.plain,
            Some(index),
            is_truncated(Some(index)),
        );
    }
}

#[test]
fn truncation_inside_a_chunk_is_truncated_or_fails_that_chunk() {
    let small = &*SMALL;
    let final_index = small.final_index();
    let final_chunk_len = small.final_len() + TAG_LEN;
    let cases: Vec<(u64, usize)> = vec![
        (0, 1),
        (1, TAG_LEN - 1),
        (2, TAG_LEN),
        (3, TAG_LEN + 1),
        (4, 1000),
        (final_index, 1),
        (final_index, TAG_LEN),
        (final_index, final_chunk_len - 1),
    ];
    for (index, keep) in cases {
        let cut = &small.file[..chunk_at(index) + keep];
        // Fewer bytes than a tag cannot even be tried; more are a chunk that fails.
        let expected: Box<dyn Fn(&Error) -> bool> = if keep < TAG_LEN {
            Box::new(is_truncated(None))
        } else {
            Box::new(is_chunk_auth(index))
        };
        assert_refused(
            &format!("{keep} bytes left of chunk {index}"),
            cut,
            &small.plain,
            Some(index),
            expected,
        );
    }
    let multi = &*MULTI;
    for (index, keep) in [(64, 7), (100, 5000)] {
        let cut = &multi.file[..chunk_at(index) + keep];
        let expected: Box<dyn Fn(&Error) -> bool> = if keep < TAG_LEN {
            Box::new(is_truncated(None))
        } else {
            Box::new(is_chunk_auth(index))
        };
        assert_refused(
            &format!("multi, {keep} of chunk {index}"),
            cut,
            &multi.plain,
            Some(index),
            expected,
        );
    }
}

#[test]
fn a_chunk_cut_one_byte_short_of_full_fails_that_chunk() {
    // 16399 bytes: the longest segment that is tried as a final chunk.
    let small = &*SMALL;
    let cut = &small.file[..chunk_at(2) + ENC - 1];
    assert_refused(
        "16399 bytes of chunk 2",
        cut,
        &small.plain,
        Some(2),
        is_chunk_auth(2),
    );
}

#[test]
fn a_file_that_ends_inside_the_header_or_prefix_is_truncated() {
    let small = &*SMALL;
    let prefix = prefix_at();
    // Ends in the header: `Decryptor::new` reports it, whatever the decoder.
    for end in [MAGIC.len() + 1, FIXED_LEN - 1, FIXED_LEN, prefix - 1] {
        assert_refused(
            &format!("{end} header bytes"),
            &small.file[..end],
            &small.plain,
            None,
            is_truncated(None),
        );
    }
    // Empty payload: the header and nothing, or part of the prefix.
    for end in [prefix, prefix + 1, prefix + PREFIX_LEN - 1] {
        assert_refused(
            &format!("{end} bytes"),
            &small.file[..end],
            &small.plain,
            None,
            is_truncated(None),
        );
    }
    // The prefix and no chunk at all: chunk 0 is missing.
    let end = prefix + PREFIX_LEN;
    assert_refused(
        "prefix only",
        &small.file[..end],
        &small.plain,
        Some(0),
        is_truncated(Some(0)),
    );
}

#[test]
fn swapped_chunks_fail_at_the_first_of_them() {
    let swap = |file: &[u8], a: u64, b: u64| {
        let mut out = file.to_vec();
        let (x, y) = (chunk_at(a), chunk_at(b));
        let chunk_a = file[x..x + ENC].to_vec();
        out.copy_within(y..y + ENC, x);
        out[y..y + ENC].copy_from_slice(&chunk_a);
        out
    };
    let small = &*SMALL;
    assert_refused(
        "swap 1 and 2",
        &swap(&small.file, 1, 2),
        &small.plain,
        Some(1),
        is_chunk_auth(1),
    );
    let multi = &*MULTI;
    assert_refused(
        "swap 70 and 71",
        &swap(&multi.file, 70, 71),
        &multi.plain,
        Some(70),
        is_chunk_auth(70),
    );
    // Across a batch boundary: batch 0 fails, so nothing is released.
    assert_refused(
        "swap 63 and 64",
        &swap(&multi.file, 63, 64),
        &multi.plain,
        Some(63),
        is_chunk_auth(63),
    );
}

#[test]
fn a_chunk_from_another_file_at_the_same_index_fails() {
    let small = &*SMALL;
    // Same size, same header nonce and salt, another file key.
    let other = encrypt_with([0x99; 32], PAYLOAD_SALT, &small.plain);
    // Same file key, another payload salt: another chunk key too.
    let resalted = encrypt_with(FILE_KEY, [0x98; 24], &small.plain);
    for donor in [&other, &resalted] {
        for index in [0, 3] {
            let mut tampered = small.file.clone();
            let at = chunk_at(index);
            tampered[at..at + ENC].copy_from_slice(&donor[at..at + ENC]);
            assert_refused(
                "foreign chunk",
                &tampered,
                &small.plain,
                Some(index),
                is_chunk_auth(index),
            );
        }
    }
    let multi = &*MULTI;
    let other = encrypt_with([0x99; 32], PAYLOAD_SALT, &multi.plain);
    let at = chunk_at(100);
    let mut tampered = multi.file.clone();
    tampered[at..at + ENC].copy_from_slice(&other[at..at + ENC]);
    assert_refused(
        "foreign chunk 100",
        &tampered,
        &multi.plain,
        Some(100),
        is_chunk_auth(100),
    );
}

/// Replaces the final chunk of `fixture` with the genuine full chunk at the same index of
/// a longer file under the same key and salt: every chunk then authenticates, and only
/// the rule "a full chunk is never final" catches the truncation.
fn final_chunk_replaced_by_full_chunk(fixture: &Fixture) -> (Vec<u8>, Vec<u8>) {
    let index = fixture.final_index();
    let mut longer_plain = fixture.plain[..index as usize * CHUNK_SIZE].to_vec();
    longer_plain.extend_from_slice(&plaintext(CHUNK_SIZE + 10, 77));
    let longer = encrypt(&longer_plain);
    let mut file = fixture.file[..chunk_at(index)].to_vec();
    file.extend_from_slice(&longer[chunk_at(index)..chunk_at(index + 1)]);
    (
        file,
        longer_plain[..(index as usize + 1) * CHUNK_SIZE].to_vec(),
    )
}

#[test]
fn a_final_chunk_replaced_by_a_full_chunk_is_truncated() {
    for fixture in [&*SMALL, &*MULTI] {
        let (file, authentic) = final_chunk_replaced_by_full_chunk(fixture);
        let missing = fixture.final_index() + 1;
        // The authentic plaintext now ends with a full chunk that is not the final one,
        // so the chunk after it is missing.
        assert_refused(
            "full final chunk",
            &file,
            &authentic,
            Some(missing),
            is_truncated(Some(missing)),
        );
    }
}

/// What each decoder says about a file with `extra` bytes after its final chunk.
///
/// The rule (`ChunkCipher::explain_failure`): when a chunk fails and what is left of the
/// input from it up to the end is shorter than two encrypted chunks, and a shorter prefix
/// of it authenticates as the final chunk, the rest is trailing data; a longer tail is
/// plain tampering. Every decoder sees two chunk widths ahead (the pipeline looks into
/// the next batch when the failing chunk ends its batch), so they all agree.
fn trailing_verdict(final_index: u64, final_len: usize, extra: usize) -> Error {
    let segment = final_len + TAG_LEN + extra;
    let sees_the_end = segment < 2 * ENC;
    if sees_the_end {
        Error::TrailingData {
            bytes: extra as u64,
        }
    } else {
        Error::ChunkAuthentication { index: final_index }
    }
}

fn with_trailing(fixture: &Fixture, extra: usize) -> Vec<u8> {
    let mut file = fixture.file.clone();
    file.extend(plaintext(extra, extra as u64 + 1000));
    file
}

fn check_trailing(fixture: &Fixture, extras: &[usize]) -> Vec<String> {
    let mut verdicts = Vec::new();
    for &extra in extras {
        let file = with_trailing(fixture, extra);
        for decoder in DECODERS {
            let expected = trailing_verdict(fixture.final_index(), fixture.final_len(), extra);
            let matcher: Box<dyn Fn(&Error) -> bool> = match expected {
                Error::TrailingData { bytes } => Box::new(is_trailing(bytes as usize)),
                Error::ChunkAuthentication { index } => Box::new(is_chunk_auth(index)),
                _ => unreachable!(),
            };
            let what = format!(
                "{extra} trailing bytes after a {}-byte final chunk",
                fixture.final_len()
            );
            assert_refused_by(
                &what,
                decoder,
                &file,
                &fixture.plain,
                Some(fixture.final_index()),
                matcher,
            );
            verdicts.push(format!("{what}, {decoder:?}: {expected:?}"));
        }
    }
    verdicts
}

const EXTRAS: [usize; 6] = [1, 15, 16, 17, 16400, 20000];

#[test]
fn trailing_bytes_after_a_short_final_chunk_are_trailing_data() {
    // A 116-byte final chunk plus up to 20000 bytes always fits what both decoders see.
    let verdicts = check_trailing(&SMALL, &EXTRAS);
    assert!(
        verdicts.iter().all(|v| v.contains("TrailingData")),
        "{verdicts:#?}"
    );
}

#[test]
fn trailing_bytes_after_a_long_final_chunk_follow_each_decoders_window() {
    // A 16399-byte final chunk: with 20000 extra bytes the tail (36415 bytes) is longer
    // than two chunks, so it is reported as a failing final chunk, not trailing data.
    let fixture = Fixture::new(2 * CHUNK_SIZE + CHUNK_SIZE - 1, 3);
    let verdicts = check_trailing(&fixture, &EXTRAS);
    for v in &verdicts {
        assert_eq!(
            v.starts_with("20000"),
            v.contains("ChunkAuthentication"),
            "{verdicts:#?}"
        );
    }
}

#[test]
fn trailing_bytes_after_an_empty_final_chunk_are_trailing_data() {
    let fixture = Fixture::new(3 * CHUNK_SIZE, 4);
    check_trailing(&fixture, &[1, 15, 16, 17]);
}

/// Final chunk (index 63) at the end of batch 0: 16284 extra bytes make the chunks
/// exactly one batch long, 20000 spill into batch 1. Every decoder gives one verdict:
/// what `explain_failure` says when given everything up to the end of the input (a tail
/// of 16400 or 20116 bytes, under two chunk widths: trailing data).
#[test]
fn every_decoder_reports_trailing_data_at_a_batch_boundary() {
    let cases = [
        (Fixture::new(63 * CHUNK_SIZE + 100, 5), 16284),
        (Fixture::new(63 * CHUNK_SIZE + 100, 5), 20000),
    ];
    let mut failures = Vec::new();
    for (fixture, extra) in &cases {
        let file = with_trailing(fixture, *extra);
        for decoder in DECODERS {
            let (_, result) = open(&file, decoder, Unlock::FileKey);
            match result {
                Err(Error::TrailingData { bytes }) if bytes == *extra as u64 => {}
                other => failures.push(format!(
                    "{}-byte plaintext + {extra} bytes, {decoder:?}: {other:?}",
                    fixture.plain.len()
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_wrong_passphrase_opens_no_slot() {
    let wrong = PassphraseIdentity::new(Passphrase::new(b"not tamper".to_vec()), Limits::default());
    for decoder in DECODERS {
        let (out, result) = open(&SMALL.file, decoder, Unlock::Cache(&wrong));
        assert!(
            matches!(
                result,
                Err(Error::NoSlotOpened {
                    unsupported_slots: 0,
                    ..
                })
            ),
            "{decoder:?}: {result:?}"
        );
        assert!(out.is_empty());
    }
}

#[test]
fn an_unknown_version_or_bad_magic_is_refused_before_any_key_is_needed() {
    let wrong = PassphraseIdentity::new(Passphrase::new(b"unused".to_vec()), Limits::default());
    for version in [0u8, 2, 0xff] {
        let mut file = SMALL.file.clone();
        file[MAGIC.len()] = version;
        for decoder in DECODERS {
            let (_, result) = open(&file, decoder, Unlock::Cache(&wrong));
            assert!(
                matches!(result, Err(Error::UnsupportedVersion(v)) if v == version),
                "{result:?}"
            );
        }
    }
    let mut not_coffer = SMALL.file.clone();
    not_coffer[..MAGIC.len()].copy_from_slice(b"\x89PNG\r\n\x1a\n");
    for file in [&not_coffer[..], &[][..], b"hello, world, this is text"] {
        for decoder in DECODERS {
            let (_, result) = open(file, decoder, Unlock::Cache(&wrong));
            assert!(matches!(result, Err(Error::NotCoffer)), "{result:?}");
        }
    }
    // A prefix of the magic is a truncated coffer file, not another format.
    let (_, result) = open(&MAGIC[..5], Decoder::Stream, Unlock::Cache(&wrong));
    assert!(
        matches!(result, Err(Error::Truncated { at_chunk: None })),
        "{result:?}"
    );
}

#[test]
fn a_file_with_two_slots_opens_through_the_second() {
    let other = PassphraseKey::for_test_vectors(
        &Passphrase::new(b"someone else".to_vec()),
        KdfParams::new(19, 2, 1),
        [0x65; 16],
    )
    .unwrap();
    let mut file = Vec::new();
    Encryptor::from_parts(
        &FileKey::from_bytes(FILE_KEY),
        HEADER_NONCE,
        PAYLOAD_SALT,
        &[&other, &**KEY],
    )
    .encrypt(
        &SMALL.plain[..],
        &mut file,
        &PipelineOptions::with_threads(1),
    )
    .unwrap();
    let cache = cache();
    for decoder in DECODERS {
        let (out, result) = open(&file, decoder, Unlock::Cache(&cache));
        result.unwrap();
        assert!(out == SMALL.plain, "{decoder:?}");
    }
    // The first slot's holder opens it too; a third passphrase opens neither.
    let first =
        PassphraseIdentity::new(Passphrase::new(b"someone else".to_vec()), Limits::default());
    let (out, result) = open(&file, Decoder::Stream, Unlock::Cache(&first));
    result.unwrap();
    assert!(out == SMALL.plain);
    let neither = PassphraseIdentity::new(Passphrase::new(b"nobody".to_vec()), Limits::default());
    let (_, result) = open(&file, Decoder::Stream, Unlock::Cache(&neither));
    assert!(
        matches!(
            result,
            Err(Error::NoSlotOpened {
                unsupported_slots: 0,
                ..
            })
        ),
        "{result:?}"
    );
}

/// HMAC-SHA-256 under `HKDF-SHA-256(file key, header nonce, LABEL_HEADER_MAC)`, written
/// from FORMAT.md, independently of the library.
fn header_mac(header_nonce: &[u8; 32], header: &[u8]) -> [u8; MAC_LEN] {
    let mut mac_key = [0u8; 32];
    hkdf::Hkdf::<sha2::Sha256>::new(Some(header_nonce), &FILE_KEY)
        .expand(LABEL_HEADER_MAC, &mut mac_key)
        .unwrap();
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&mac_key).unwrap();
    mac.update(header);
    mac.finalize().into_bytes().into()
}

/// A header built by hand from `(slot type, body)` pairs, with a MAC under `FILE_KEY`.
fn build_header(slots: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut raw = MAGIC.to_vec();
    raw.push(VERSION);
    raw.push(0);
    let len = FIXED_LEN
        + slots
            .iter()
            .map(|(_, b)| SLOT_PREFIX_LEN + b.len())
            .sum::<usize>()
        + MAC_LEN;
    raw.extend_from_slice(&(len as u16).to_be_bytes());
    raw.push(slots.len() as u8);
    raw.extend_from_slice(&[0, 0, 0]);
    raw.extend_from_slice(&HEADER_NONCE);
    for (slot_type, body) in slots {
        raw.push(*slot_type);
        raw.push(0);
        raw.extend_from_slice(&(body.len() as u16).to_be_bytes());
        raw.extend_from_slice(body);
    }
    let tag = header_mac(&HEADER_NONCE, &raw);
    raw.extend_from_slice(&tag);
    assert_eq!(raw.len(), len);
    raw
}

#[test]
fn an_unknown_slot_covered_by_the_mac_is_skipped_and_the_passphrase_slot_opens() {
    let small = &*SMALL;
    let header = &small.file[..header_len()];
    let payload = &small.file[header_len()..];
    let passphrase_body = header[FIXED_LEN + SLOT_PREFIX_LEN..header.len() - MAC_LEN].to_vec();
    // The hand-built MAC matches the library's, so it is a fair oracle.
    assert_eq!(
        build_header(&[(SLOT_TYPE_PASSPHRASE, passphrase_body.clone())]),
        header
    );

    let unknown = (0x03u8, b"a future slot type's body".to_vec());
    let empty_unknown = (0x7fu8, Vec::new());
    let passphrase = (SLOT_TYPE_PASSPHRASE, passphrase_body);
    let cache = cache();
    for slots in [
        vec![unknown.clone(), passphrase.clone()],
        vec![passphrase.clone(), unknown.clone()],
        vec![empty_unknown.clone(), unknown.clone(), passphrase.clone()],
    ] {
        let mut file = build_header(&slots);
        file.extend_from_slice(payload);
        let decryptor = Decryptor::new(&file[..]).unwrap();
        assert_eq!(decryptor.slots().len(), slots.len());
        for decoder in DECODERS {
            let (out, result) = open(&file, decoder, Unlock::Cache(&cache));
            result.unwrap_or_else(|e| panic!("{} slots, {decoder:?}: {e:?}", slots.len()));
            assert!(out == small.plain);
        }
    }

    // Only unknown slots: nothing to open, and the error says how many were unusable.
    let mut file = build_header(&[unknown.clone(), empty_unknown]);
    file.extend_from_slice(payload);
    let (_, result) = open(&file, Decoder::Stream, Unlock::Cache(&cache));
    assert!(
        matches!(
            result,
            Err(Error::NoSlotOpened {
                unsupported_slots: 2,
                ..
            })
        ),
        "{result:?}"
    );

    // An unknown slot inserted after the fact, keeping the original MAC: the passphrase
    // slot still unwraps the key, but the MAC does not cover the new header.
    let mut forged = build_header(&[unknown, passphrase]);
    let at = forged.len() - MAC_LEN;
    forged[at..].copy_from_slice(&header[header.len() - MAC_LEN..]);
    forged.extend_from_slice(payload);
    for decoder in DECODERS {
        let (out, result) = open(&forged, decoder, Unlock::Cache(&cache));
        assert!(
            matches!(result, Err(Error::HeaderAuthentication)),
            "{decoder:?}: {result:?}"
        );
        assert!(out.is_empty());
    }
}

#[test]
fn a_header_swapped_onto_another_files_payload_fails_the_commitment() {
    // Both files open with the passphrase, but the payload belongs to another file key.
    let small = &*SMALL;
    let other = encrypt_with([0x99; 32], PAYLOAD_SALT, &small.plain);
    let mut file = small.file[..header_len()].to_vec();
    file.extend_from_slice(&other[header_len()..]);
    let cache = cache();
    for decoder in DECODERS {
        let (out, result) = open(&file, decoder, Unlock::Cache(&cache));
        assert!(
            matches!(result, Err(Error::CommitmentMismatch)),
            "{decoder:?}: {result:?}"
        );
        assert!(out.is_empty());
    }
}

#[test]
fn the_streaming_reader_stays_failed_after_an_error() {
    use std::io::Read;
    let small = &*SMALL;
    let tampered = flip(&small.file, chunk_at(1) + 3, 0x01);
    let decryptor = Decryptor::new(&tampered[..]).unwrap();
    let key = decryptor
        .unlock_with_file_key(FileKey::from_bytes(FILE_KEY))
        .unwrap();
    let mut reader = decryptor.into_reader(&key).unwrap();
    let mut buf = vec![0u8; CHUNK_SIZE];
    reader.read_exact(&mut buf).unwrap();
    assert!(buf == small.plain[..CHUNK_SIZE]);
    let err = Error::from_io(reader.read(&mut buf).unwrap_err());
    assert!(
        matches!(err, Error::ChunkAuthentication { index: 1 }),
        "{err:?}"
    );
    for _ in 0..3 {
        assert!(
            reader.read(&mut buf).is_err(),
            "a failed reader must not resume"
        );
    }
}

/// Every bit of a key-file slot, and of the slot framing around it, flipped: the key file
/// never opens the file, and the error is that of the field hit (FORMAT.md, "Key-file
/// slot body"): the check value -> no slot opens; the wrapped key or its tag -> the header
/// fails authentication; the type byte -> another slot type; the length -> malformed.
#[test]
fn a_flipped_bit_anywhere_in_a_key_file_slot_never_opens_and_is_named() {
    use coffer::{Identity, Recipient, SymmetricKey};
    let key = SymmetricKey::from_bytes([0x6b; 32]);
    let small = &*SMALL;
    let encryptor = Encryptor::from_parts(
        &FileKey::from_bytes(FILE_KEY),
        HEADER_NONCE,
        PAYLOAD_SALT,
        &[&key as &dyn Recipient],
    );
    let mut file = encryptor.header().as_bytes().to_vec();
    let key_header_len = file.len();
    file.extend_from_slice(&small.file[header_len()..]);
    let unlock = |bytes: &[u8]| -> Result<Vec<u8>, Error> {
        let decryptor = Decryptor::new(bytes)?;
        let file_key = decryptor.unlock(&[&key as &dyn Identity])?;
        let mut out = Vec::new();
        io::copy(&mut decryptor.into_reader(&file_key)?, &mut out).map_err(Error::from_io)?;
        Ok(out)
    };
    assert!(unlock(&file).unwrap() == small.plain);
    let slot_at = FIXED_LEN;
    let body_at = slot_at + SLOT_PREFIX_LEN;
    for at in slot_at..key_header_len - MAC_LEN {
        for bit in [0x01u8, 0x80] {
            let err = unlock(&flip(&file, at, bit)).expect_err("a tampered slot opened");
            let ok = match at - slot_at {
                0 => matches!(
                    err,
                    Error::InvalidHeader(_)
                        | Error::NoSlotOpened {
                            unsupported_slots: 1,
                            ..
                        }
                ),
                1..=3 => matches!(err, Error::InvalidHeader(_)),
                _ if at < body_at + 32 => matches!(err, Error::NoSlotOpened { .. }),
                _ => matches!(err, Error::HeaderAuthentication),
            };
            assert!(ok, "bit {bit:#x} at byte {at}: {err:?}");
        }
    }
}

/// FORMAT.md step 16: the diagnosis window spans the failing segment and what follows, so
/// a short final chunk followed by a whole segment of junk is trailing data, with every
/// decoder (the case an audit found the spec and the binary disagreeing on).
#[test]
fn a_short_final_chunk_followed_by_a_full_segment_of_junk_is_trailing_data() {
    let data = plaintext(21, 7);
    let mut file = encrypt_with(FILE_KEY, PAYLOAD_SALT, &data);
    file.extend(std::iter::repeat_n(0xa5u8, ENC));
    for decoder in DECODERS {
        let (out, result) = open(&file, decoder, Unlock::FileKey);
        assert!(
            matches!(result, Err(Error::TrailingData { bytes }) if bytes == ENC as u64),
            "{decoder:?}: {result:?}"
        );
        assert!(out.is_empty() || out == data, "{decoder:?}");
    }
}
