//! Random access through `Decryptor::into_seekable`: any range reads back the plaintext
//! slice, seeks from every origin work, tampering fails exactly the reads that touch it,
//! and a read fetches only the chunks it covers.

use crate::fixtures;
use fixtures::plaintext;

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use coffer::internals::stream::{
    chunks_len, ChunkCipher, SeekableReader, CHUNK_SIZE, ENCRYPTED_CHUNK_SIZE, PREFIX_LEN, TAG_LEN,
};
use coffer::{Decryptor, Encryptor, Error, ErrorKind, FileKey, PassphraseKey};
use proptest::prelude::*;

const FILE_KEY: [u8; 32] = [0x71; 32];
const HEADER_NONCE: [u8; 32] = [0x72; 32];
const PAYLOAD_SALT: [u8; 24] = [0x73; 24];
const ENC: usize = ENCRYPTED_CHUNK_SIZE;
/// Twelve full chunks and a 3392-byte final chunk.
const LEN: usize = 200_000;

static KEY: LazyLock<PassphraseKey> = LazyLock::new(|| fixtures::floor_key(b"seek", 0x74));

fn encryptor() -> Encryptor {
    fixtures::fixed_encryptor(FILE_KEY, HEADER_NONCE, PAYLOAD_SALT, &KEY)
}

fn encrypt(data: &[u8]) -> Vec<u8> {
    let mut writer = encryptor().writer(Vec::new()).unwrap();
    writer.write_all(data).unwrap();
    writer.finish().unwrap()
}

struct Fixture {
    plain: Vec<u8>,
    file: Vec<u8>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let plain = plaintext(LEN, 1);
    let file = encrypt(&plain);
    Fixture { plain, file }
});

fn chunk_at(index: usize) -> usize {
    encryptor().header().len() + PREFIX_LEN + index * ENC
}

fn seekable<R: Read + Seek>(file: R) -> Result<SeekableReader<R>, Error> {
    let decryptor = Decryptor::new(file)?;
    let key = decryptor.unlock_with_file_key(FileKey::from_bytes(FILE_KEY))?;
    decryptor.into_seekable(&key)
}

fn open(file: &[u8]) -> SeekableReader<io::Cursor<&[u8]>> {
    seekable(io::Cursor::new(file)).unwrap()
}

/// Reads `len` bytes at `start`, or the error that stopped the read.
fn read_range<R: Read + Seek>(reader: &mut R, start: u64, len: usize) -> Result<Vec<u8>, Error> {
    assert_eq!(reader.seek(SeekFrom::Start(start)).unwrap(), start);
    let mut out = vec![0; len];
    reader.read_exact(&mut out).map_err(Error::from_io)?;
    Ok(out)
}

#[test]
fn the_plaintext_length_is_known_before_any_read() {
    for len in [
        0,
        1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        3 * CHUNK_SIZE,
    ] {
        let file = encrypt(&plaintext(len, 2));
        let mut reader = open(&file);
        assert_eq!(reader.plaintext_len(), len as u64);
        let mut all = Vec::new();
        reader.read_to_end(&mut all).unwrap();
        assert_eq!(all.len(), len);
    }
}

#[test]
fn seeks_from_the_end_and_from_the_current_position_land_where_expected() {
    let Fixture { plain, file } = &*FIXTURE;
    let mut reader = open(file);
    let len = plain.len() as u64;
    assert_eq!(reader.seek(SeekFrom::End(0)).unwrap(), len);
    let mut buf = [0u8; 10];
    assert_eq!(
        reader.read(&mut buf).unwrap(),
        0,
        "nothing to read at the end"
    );

    assert_eq!(reader.seek(SeekFrom::End(-100)).unwrap(), len - 100);
    let mut tail = Vec::new();
    reader.read_to_end(&mut tail).unwrap();
    assert!(tail[..] == plain[plain.len() - 100..]);

    // From a position inside chunk 3, back across the chunk 2/3 boundary, then forward.
    reader
        .seek(SeekFrom::Start(3 * CHUNK_SIZE as u64 + 5))
        .unwrap();
    assert_eq!(
        reader.seek(SeekFrom::Current(-10)).unwrap(),
        3 * CHUNK_SIZE as u64 - 5
    );
    reader.read_exact(&mut buf).unwrap();
    assert!(buf[..] == plain[3 * CHUNK_SIZE - 5..3 * CHUNK_SIZE + 5]);
    assert_eq!(reader.stream_position().unwrap(), 3 * CHUNK_SIZE as u64 + 5);
    assert_eq!(
        reader.seek(SeekFrom::Current(40_000)).unwrap(),
        3 * CHUNK_SIZE as u64 + 40_005
    );
    reader.read_exact(&mut buf).unwrap();
    let at = 3 * CHUNK_SIZE + 40_005;
    assert!(buf[..] == plain[at..at + 10]);

    // The last byte, from the end.
    reader.seek(SeekFrom::End(-1)).unwrap();
    let mut last = [0u8; 1];
    reader.read_exact(&mut last).unwrap();
    assert_eq!(last[0], plain[plain.len() - 1]);

    // Past the end reads nothing; before the start is refused and does not move.
    assert_eq!(reader.seek(SeekFrom::End(1000)).unwrap(), len + 1000);
    assert_eq!(reader.read(&mut buf).unwrap(), 0);
    reader.seek(SeekFrom::Start(7)).unwrap();
    for target in [SeekFrom::End(-(len as i64) - 1), SeekFrom::Current(-8)] {
        let err = reader.seek(target).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
    assert_eq!(reader.stream_position().unwrap(), 7);
    reader.read_exact(&mut buf).unwrap();
    assert!(buf[..] == plain[7..17]);
}

#[test]
fn a_tampered_final_chunk_fails_construction() {
    let Fixture { plain, file } = &*FIXTURE;
    let final_index = plain.len() / CHUNK_SIZE;
    let final_len = plain.len() % CHUNK_SIZE;
    for offset in [0, final_len / 2, final_len, final_len + TAG_LEN - 1] {
        let mut tampered = file.clone();
        tampered[chunk_at(final_index) + offset] ^= 0x20;
        let err = seekable(io::Cursor::new(&tampered[..]))
            .err()
            .expect("construction must fail");
        assert!(
            matches!(err, Error::ChunkAuthentication { index } if index == final_index as u64),
            "offset {offset}: {err:?}"
        );
    }
}

#[test]
fn a_truncated_file_fails_construction() {
    let Fixture { plain, file } = &*FIXTURE;
    let final_index = plain.len() / CHUNK_SIZE;
    // At chunk boundaries the missing chunk is named.
    for index in [0, 1, final_index] {
        let err = seekable(io::Cursor::new(&file[..chunk_at(index)]))
            .err()
            .unwrap();
        assert!(
            matches!(err, Error::Truncated { at_chunk: Some(i) } if i == index as u64),
            "cut before chunk {index}: {err:?}"
        );
    }
    // Inside a chunk, or inside the prefix, it is an authentication failure either way.
    for end in [
        chunk_at(final_index) + 20,
        chunk_at(5) + 100,
        chunk_at(0) - 1,
    ] {
        let err = seekable(io::Cursor::new(&file[..end])).err().unwrap();
        assert_eq!(
            err.kind(),
            ErrorKind::Authentication,
            "{end} bytes: {err:?}"
        );
    }
}

#[test]
fn trailing_bytes_fail_construction() {
    let Fixture { file, .. } = &*FIXTURE;
    for (extra, exact) in [
        (1, true),
        (15, true),
        (16, true),
        (17, true),
        (16400, false),
        (20000, false),
    ] {
        let mut longer = file.clone();
        longer.extend(plaintext(extra, extra as u64));
        let err = seekable(io::Cursor::new(&longer[..]))
            .err()
            .expect("trailing bytes accepted");
        if exact {
            assert!(
                matches!(err, Error::TrailingData { bytes } if bytes == extra as u64),
                "{extra}: {err:?}"
            );
        } else {
            // The length no longer tells where the final chunk is: the reader tries a
            // later "final chunk" inside the extra bytes, which fails to authenticate.
            assert_eq!(err.kind(), ErrorKind::Authentication, "{extra}: {err:?}");
        }
    }
}

/// A file whose chunk 5 is tampered, and reads around it: (start, len, touches chunk 5).
fn middle_chunk_case() -> (Vec<u8>, u64, Vec<(u64, usize, bool)>) {
    let Fixture { plain, file } = &*FIXTURE;
    let bad = 5;
    let mut tampered = file.clone();
    tampered[chunk_at(bad) + 1234] ^= 0x01;
    let bad_start = (bad * CHUNK_SIZE) as u64;
    let ranges = vec![
        (0, 100, false),
        (bad_start - 100, 100, false),
        (bad_start - 1, 2, true),
        (bad_start + 5000, 10, true),
        (bad_start + CHUNK_SIZE as u64, 500, false),
        (bad_start - 10, CHUNK_SIZE + 20, true),
        ((plain.len() - 10) as u64, 10, false),
        (2 * CHUNK_SIZE as u64, 2 * CHUNK_SIZE, false),
    ];
    (tampered, bad as u64, ranges)
}

fn check_range_read<R: Read + Seek>(
    reader: &mut R,
    bad: u64,
    (start, len, touches): (u64, usize, bool),
) {
    let plain = &FIXTURE.plain;
    match read_range(reader, start, len) {
        Ok(out) => {
            assert!(
                !touches,
                "read {start}+{len} over the tampered chunk succeeded"
            );
            assert!(out[..] == plain[start as usize..start as usize + len]);
        }
        Err(err) => {
            assert!(
                touches,
                "read {start}+{len} away from the tampered chunk failed: {err:?}"
            );
            assert!(
                matches!(err, Error::ChunkAuthentication { index } if index == bad),
                "{err:?}"
            );
        }
    }
}

#[test]
fn a_tampered_middle_chunk_fails_only_the_reads_that_touch_it() {
    let (tampered, bad, ranges) = middle_chunk_case();
    for range in ranges {
        // A fresh reader per range: see the next test for one reader throughout.
        check_range_read(&mut open(&tampered), bad, range);
    }
}

#[test]
fn a_reader_keeps_serving_clean_ranges_after_a_failed_read() {
    let (tampered, bad, ranges) = middle_chunk_case();
    let mut reader = open(&tampered);
    for range in ranges {
        check_range_read(&mut reader, bad, range);
    }
}

#[test]
fn a_failed_read_releases_nothing_from_the_bad_chunk() {
    let Fixture { file, .. } = &*FIXTURE;
    let mut tampered = file.clone();
    tampered[chunk_at(2) + 9] ^= 0x08;
    let mut reader = open(&tampered);
    reader.seek(SeekFrom::Start(2 * CHUNK_SIZE as u64)).unwrap();
    let mut buf = vec![0xAAu8; 4096];
    assert!(reader.read(&mut buf).is_err());
    assert!(
        buf.iter().all(|&b| b == 0xAA),
        "the output buffer was written on failure"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_range_reads_back_the_plaintext_slice(
        start in 0usize..=LEN,
        len in prop_oneof![0usize..64, 0usize..=LEN, Just(CHUNK_SIZE), Just(CHUNK_SIZE + 1)],
        step in prop_oneof![1usize..32, 1usize..40_000],
    ) {
        let Fixture { plain, file } = &*FIXTURE;
        let mut reader = open(file);
        reader.seek(SeekFrom::Start(start as u64)).unwrap();
        let want = len.min(LEN - start);
        let mut out = Vec::new();
        let mut buf = vec![0u8; step];
        while out.len() < want {
            let n = reader.read(&mut buf[..step.min(want - out.len())]).unwrap();
            prop_assert!(n > 0, "early end at {}", start + out.len());
            out.extend_from_slice(&buf[..n]);
        }
        prop_assert!(out[..] == plain[start..start + want]);
        prop_assert_eq!(reader.stream_position().unwrap(), (start + want) as u64);
        if start + want == LEN {
            prop_assert_eq!(reader.read(&mut buf).unwrap(), 0);
        }
    }

    #[test]
    fn seeking_back_and_forth_reads_the_same_bytes(
        positions in proptest::collection::vec((0usize..LEN, 1usize..3000), 1..12),
    ) {
        let Fixture { plain, file } = &*FIXTURE;
        let mut reader = open(file);
        let mut here = 0i64;
        for (at, len) in positions {
            // Alternate origins to reach the same place.
            let target = match at % 3 {
                0 => SeekFrom::Start(at as u64),
                1 => SeekFrom::End(at as i64 - LEN as i64),
                _ => SeekFrom::Current(at as i64 - here),
            };
            prop_assert_eq!(reader.seek(target).unwrap(), at as u64);
            let len = len.min(LEN - at);
            let mut out = vec![0; len];
            reader.read_exact(&mut out).unwrap();
            prop_assert!(out[..] == plain[at..at + len]);
            here = (at + len) as i64;
        }
    }
}

/// `Read + Seek` that counts the bytes it hands out.
struct Counting<R> {
    inner: R,
    bytes: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: Seek> Seek for Counting<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// Plaintext byte at `pos` of the large file.
fn large_byte(pos: usize) -> u8 {
    (pos.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// A 64 MiB file in which only the chunks in `sealed` (and the final chunk) are genuine:
/// every other chunk is zeros and fails authentication, so a reader that touches one
/// cannot go unnoticed. Building it costs a few chunk seals, not 64 MiB of AES-GCM.
fn sparse_large_file(len: usize, sealed: std::ops::Range<usize>) -> Vec<u8> {
    let file_key = FileKey::from_bytes(FILE_KEY);
    let (cipher, prefix) = ChunkCipher::with_salt(&file_key, PAYLOAD_SALT);
    let header = encryptor().header().as_bytes().to_vec();
    let mut file = header.clone();
    file.extend_from_slice(&prefix.to_bytes());
    let chunks_start = file.len();
    file.resize(chunks_start + chunks_len(len as u64) as usize, 0);
    let final_index = len / CHUNK_SIZE;
    let mut buf = vec![0u8; ENC];
    for index in sealed.chain(std::iter::once(final_index)) {
        let first = index * CHUNK_SIZE;
        let n = (len - first).min(CHUNK_SIZE);
        for (j, b) in buf[..n].iter_mut().enumerate() {
            *b = large_byte(first + j);
        }
        cipher.seal(index as u64, &mut buf, n).unwrap();
        let at = chunks_start + index * ENC;
        file[at..at + n + TAG_LEN].copy_from_slice(&buf[..n + TAG_LEN]);
    }
    file
}

#[test]
fn reading_one_mebibyte_of_a_large_file_reads_only_the_chunks_it_covers() {
    let len = 64 * 1024 * 1024 + 777;
    let start = 17 * 1024 * 1024 + 5000; // not chunk-aligned: 65 chunks are touched
    let want = 1024 * 1024;
    let first = start / CHUNK_SIZE;
    let last = (start + want - 1) / CHUNK_SIZE;
    let file = sparse_large_file(len, first..last + 1);
    let header_len = encryptor().header().len();

    let bytes = Arc::new(AtomicU64::new(0));
    let counting = Counting {
        inner: io::Cursor::new(&file[..]),
        bytes: Arc::clone(&bytes),
    };
    let mut reader = seekable(counting).unwrap();
    assert_eq!(reader.plaintext_len(), len as u64);
    let final_segment = len % CHUNK_SIZE + TAG_LEN;
    let opened = bytes.load(Ordering::Relaxed) as usize;
    assert_eq!(
        opened,
        header_len + PREFIX_LEN + final_segment,
        "opening reads header, prefix, final chunk"
    );

    let out = read_range(&mut reader, start as u64, want).unwrap();
    assert!(
        out.iter()
            .enumerate()
            .all(|(j, &b)| b == large_byte(start + j)),
        "wrong plaintext"
    );
    let read = bytes.load(Ordering::Relaxed) as usize - opened;
    assert_eq!(last - first + 1, 65);
    assert_eq!(read, 65 * ENC, "the read fetched chunks it did not need");
    assert!(opened + read <= header_len + PREFIX_LEN + want + 3 * ENC);
    assert!(
        file.len() > 60 * opened.max(read),
        "the file really is large"
    );

    // Reading again inside the last chunk it loaded costs nothing more.
    let again = read_range(&mut reader, (last * CHUNK_SIZE) as u64, 10).unwrap();
    assert!(again
        .iter()
        .enumerate()
        .all(|(j, &b)| b == large_byte(last * CHUNK_SIZE + j)));
    assert_eq!(bytes.load(Ordering::Relaxed) as usize, opened + read);

    // And the chunks that were not sealed really would have failed.
    let err = read_range(&mut reader, 0, 1).unwrap_err();
    assert!(
        matches!(err, Error::ChunkAuthentication { index: 0 }),
        "{err:?}"
    );
}
