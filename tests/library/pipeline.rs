//! The parallel pipeline and the streaming adapters write the same files: byte for byte
//! for fixed parts, and each decrypts what the other wrote, at every thread count and at
//! the sizes around pipeline batch boundaries.

use crate::fixtures;
use fixtures::plaintext;

use std::io::{self, IoSlice, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use coffer::internals::pipeline::BATCH_CHUNKS;
use coffer::internals::stream::CHUNK_SIZE;
use coffer::{Decryptor, Encryptor, Error, FileKey, PassphraseKey, PipelineOptions};

const FILE_KEY: [u8; 32] = [0x51; 32];
const HEADER_NONCE: [u8; 32] = [0x52; 32];
const PAYLOAD_SALT: [u8; 24] = [0x53; 24];
const BATCH: usize = BATCH_CHUNKS * CHUNK_SIZE;
const THREADS: [usize; 4] = [1, 2, 4, 0];

static KEY: LazyLock<PassphraseKey> = LazyLock::new(|| fixtures::floor_key(b"pipeline", 0x54));

fn encryptor() -> Encryptor {
    fixtures::fixed_encryptor(FILE_KEY, HEADER_NONCE, PAYLOAD_SALT, &KEY)
}

fn stream_encrypt(data: &[u8]) -> Vec<u8> {
    let mut writer = encryptor().writer(Vec::new()).unwrap();
    writer.write_all(data).unwrap();
    writer.finish().unwrap()
}

fn pipeline_encrypt(data: &[u8], options: &PipelineOptions) -> Vec<u8> {
    let mut out = Vec::new();
    let len = encryptor().encrypt(data, &mut out, options).unwrap();
    assert_eq!(
        len,
        data.len() as u64,
        "encrypt reports the plaintext length"
    );
    out
}

fn file_key(decryptor: &Decryptor<&[u8]>) -> FileKey {
    decryptor
        .unlock_with_file_key(FileKey::from_bytes(FILE_KEY))
        .unwrap()
}

fn stream_decrypt(file: &[u8]) -> Vec<u8> {
    let decryptor = Decryptor::new(file).unwrap();
    let key = file_key(&decryptor);
    let mut out = Vec::new();
    decryptor
        .into_reader(&key)
        .unwrap()
        .read_to_end(&mut out)
        .map_err(Error::from_io)
        .unwrap();
    out
}

fn pipeline_decrypt(file: &[u8], options: &PipelineOptions) -> Vec<u8> {
    let decryptor = Decryptor::new(file).unwrap();
    let key = file_key(&decryptor);
    let mut out = Vec::new();
    let len = decryptor.decrypt(&key, &mut out, options).unwrap();
    assert_eq!(
        len,
        out.len() as u64,
        "decrypt reports the plaintext length"
    );
    out
}

fn check_equivalence(size: usize) {
    let data = plaintext(size, size as u64);
    let streamed = stream_encrypt(&data);
    assert!(
        stream_decrypt(&streamed) == data,
        "size {size}: stream round trip"
    );
    for threads in THREADS {
        let options = PipelineOptions::with_threads(threads);
        let piped = pipeline_encrypt(&data, &options);
        assert_eq!(
            piped.len(),
            streamed.len(),
            "size {size}, {threads} threads: file length"
        );
        assert!(
            piped == streamed,
            "size {size}, {threads} threads: pipeline and EncryptWriter wrote different bytes"
        );
        assert!(
            pipeline_decrypt(&streamed, &options) == data,
            "size {size}, {threads} threads: the pipeline misread the EncryptWriter's file"
        );
    }
    // Identical bytes make this redundant, but it is the property users rely on.
    let piped = pipeline_encrypt(&data, &PipelineOptions::with_threads(2));
    assert!(
        stream_decrypt(&piped) == data,
        "size {size}: DecryptReader misread the pipeline's file"
    );
    check_positional_inputs(&data, &streamed);
}

/// A file holding `bytes`, for the inputs read by position.
fn file_with(bytes: &[u8]) -> std::fs::File {
    use std::io::Seek;
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(bytes).unwrap();
    file.rewind().unwrap();
    file
}

/// A handle on `file` read from its start (clones share their offset).
fn from_start(file: &std::fs::File) -> std::fs::File {
    use std::io::Seek;
    let mut file = file.try_clone().unwrap();
    file.rewind().unwrap();
    file
}

fn read_all(mut file: &std::fs::File) -> Vec<u8> {
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).unwrap();
    bytes
}

/// Inputs that the workers read themselves (bytes in memory, as a mapped file is, and a
/// file read with `pread`), into a stream and into a file, give the streaming adapters'
/// bytes at every thread count.
fn check_positional_inputs(data: &[u8], streamed: &[u8]) {
    let size = data.len();
    let plain_file = file_with(data);
    let cipher_file = file_with(streamed);
    for threads in THREADS {
        let options = PipelineOptions::with_threads(threads);
        let mut outputs = Vec::new();
        let mut out = Vec::new();
        encryptor().encrypt_bytes(data, &mut out, &options).unwrap();
        outputs.push(("bytes", out));
        let mut out = Vec::new();
        encryptor()
            .encrypt_file(&plain_file, size as u64, &mut out, &options)
            .unwrap();
        outputs.push(("file", out));
        let out = tempfile::tempfile().unwrap();
        encryptor()
            .encrypt_bytes_to_file(data, &out, &options)
            .unwrap();
        outputs.push(("bytes to file", read_all(&out)));
        let out = tempfile::tempfile().unwrap();
        encryptor()
            .encrypt_file_to_file(&plain_file, size as u64, &out, &options)
            .unwrap();
        outputs.push(("file to file", read_all(&out)));
        for (how, bytes) in outputs {
            assert!(
                bytes == streamed,
                "size {size}, {threads} threads: encrypting {how} wrote other bytes"
            );
        }

        let file_len = streamed.len() as u64;
        let decryptor = Decryptor::new(from_start(&cipher_file)).unwrap();
        let key = decryptor
            .unlock_with_file_key(FileKey::from_bytes(FILE_KEY))
            .unwrap();
        let mut out = Vec::new();
        let len = decryptor
            .decrypt_file(&key, file_len, &mut out, &options)
            .unwrap();
        assert_eq!(len, size as u64);
        assert!(out == data, "size {size}, {threads} threads: decrypt_file");
        let decryptor = Decryptor::new(from_start(&cipher_file)).unwrap();
        let out = tempfile::tempfile().unwrap();
        decryptor
            .decrypt_file_to_file(&key, file_len, &out, &options)
            .unwrap();
        assert!(
            read_all(&out) == data,
            "size {size}, {threads} threads: decrypt_file_to_file"
        );
    }
}

/// Positional decryption refuses what the streaming reader refuses: a flipped bit in any
/// batch, a file cut short, trailing bytes; and a file shorter than the length it was
/// given (it changed while it was read) is an I/O error, not a truncated file.
#[test]
fn positional_decryption_refuses_what_the_stream_refuses() {
    use coffer::internals::stream::{ENCRYPTED_CHUNK_SIZE, PREFIX_LEN};
    let data = plaintext(2 * BATCH + 100, 5);
    let good = stream_encrypt(&data);
    let chunks_at = good.len() - coffer::internals::stream::chunks_len(data.len() as u64) as usize;
    let decrypt_file = |bytes: &[u8], len: u64, threads: usize| {
        let file = file_with(bytes);
        let decryptor = Decryptor::new(file).unwrap();
        let key = decryptor
            .unlock_with_file_key(FileKey::from_bytes(FILE_KEY))
            .unwrap();
        let mut out = Vec::new();
        decryptor
            .decrypt_file(&key, len, &mut out, &PipelineOptions::with_threads(threads))
            .map(|_| out)
    };
    assert!(chunks_at > PREFIX_LEN);
    for threads in [1, 2, 3] {
        for batch in 0..3 {
            let mut bad = good.clone();
            bad[chunks_at + batch * BATCH_CHUNKS * ENCRYPTED_CHUNK_SIZE + 7] ^= 0x10;
            let err = decrypt_file(&bad, bad.len() as u64, threads).unwrap_err();
            assert!(
                matches!(err, Error::ChunkAuthentication { index } if index == (batch * BATCH_CHUNKS) as u64),
                "batch {batch}, {threads} threads: {err:?}"
            );
        }
        let cut = &good[..good.len() - 1];
        let err = decrypt_file(cut, cut.len() as u64, threads).unwrap_err();
        let streamed = Decryptor::new(cut).map(|d| {
            let key = file_key(&d);
            let mut out = Vec::new();
            d.decrypt(&key, &mut out, &PipelineOptions::with_threads(threads))
        });
        let streamed = streamed.unwrap().unwrap_err();
        assert_eq!(
            format!("{err:?}"),
            format!("{streamed:?}"),
            "cut, {threads} threads"
        );
        let mut long = good.clone();
        long.extend_from_slice(&[0; 40]);
        let err = decrypt_file(&long, long.len() as u64, threads).unwrap_err();
        assert!(matches!(err, Error::TrailingData { bytes: 40 }), "{err:?}");

        // Told a longer length than the file has: it changed since it was opened.
        let err = decrypt_file(&good, good.len() as u64 + 16400, threads).unwrap_err();
        assert!(
            matches!(&err, Error::Io(e) if e.to_string().contains("changed while it was read")),
            "{threads} threads: {err:?}"
        );
    }
}

/// Encrypting a file shorter than the length given is an I/O error naming the change,
/// never a file sealed over missing bytes.
#[test]
fn positional_encryption_of_a_file_that_shrank_is_an_error() {
    let data = plaintext(2 * BATCH + 100, 6);
    let file = file_with(&data);
    for threads in [1, 2, 3] {
        for claimed in [data.len() + 1, 3 * BATCH] {
            let mut out = Vec::new();
            let err = encryptor()
                .encrypt_file(
                    &file,
                    claimed as u64,
                    &mut out,
                    &PipelineOptions::with_threads(threads),
                )
                .unwrap_err();
            assert!(
                matches!(&err, Error::Io(e) if e.to_string().contains("changed while it was read")),
                "{threads} threads, {claimed}: {err:?}"
            );
        }
    }
}

/// The release callback (a mapped input letting its pages go) is told every byte of a
/// bytes input exactly once, and only after the batch holding it was sealed.
#[test]
fn every_byte_of_a_bytes_input_is_released_once() {
    use std::sync::Mutex;
    for len in [0, 1, BATCH, 3 * BATCH + 5] {
        let data = plaintext(len, 8);
        for threads in [1, 2, 4] {
            let released = Arc::new(Mutex::new(Vec::new()));
            let mut options = PipelineOptions::with_threads(threads);
            let log = Arc::clone(&released);
            options.release = Some(Arc::new(move |start, n| {
                log.lock().unwrap().push((start, n));
                Ok(())
            }));
            let mut out = Vec::new();
            encryptor()
                .encrypt_bytes(&data, &mut out, &options)
                .unwrap();
            let mut ranges = released.lock().unwrap().clone();
            ranges.sort_unstable();
            let mut next = 0u64;
            for (start, n) in ranges {
                assert_eq!(
                    start, next,
                    "{len} bytes, {threads} threads: a gap or an overlap"
                );
                next += n as u64;
            }
            assert_eq!(next, len as u64, "{len} bytes, {threads} threads");
        }
    }
}

#[test]
fn pipeline_and_streams_agree_one_byte_short_of_a_batch() {
    check_equivalence(BATCH - 1);
}

#[test]
fn pipeline_and_streams_agree_at_exactly_one_batch() {
    check_equivalence(BATCH);
}

#[test]
fn pipeline_and_streams_agree_one_byte_past_a_batch() {
    check_equivalence(BATCH + 1);
}

#[test]
fn pipeline_and_streams_agree_at_exactly_two_batches() {
    check_equivalence(2 * BATCH);
}

#[test]
fn pipeline_and_streams_agree_past_three_batches() {
    check_equivalence(3 * BATCH + 5);
}

#[test]
fn pipeline_and_streams_agree_on_small_inputs() {
    for size in [
        0,
        1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        5 * CHUNK_SIZE + 77,
    ] {
        check_equivalence(size);
    }
}

/// A reader that hands out at most `max` bytes per call (and never vectored).
struct Trickle<'a> {
    data: &'a [u8],
    max: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.max).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// A writer that takes at most `max` bytes per call, also through `write_vectored`.
struct Sip {
    out: Vec<u8>,
    max: usize,
    calls: usize,
}

impl Write for Sip {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.calls += 1;
        let n = buf.len().min(self.max);
        self.out.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.calls += 1;
        let mut left = self.max;
        for buf in bufs {
            let n = buf.len().min(left);
            self.out.extend_from_slice(&buf[..n]);
            left -= n;
            if left == 0 {
                break;
            }
        }
        Ok(self.max - left)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn short_reads_and_short_writes_do_not_change_what_the_pipeline_produces() {
    let size = 2 * BATCH + 3 * CHUNK_SIZE + 11;
    let data = plaintext(size, 77);
    let reference = stream_encrypt(&data);
    for threads in [1, 2] {
        let options = PipelineOptions::with_threads(threads);
        let mut sip = Sip {
            out: Vec::new(),
            max: 5000,
            calls: 0,
        };
        encryptor()
            .encrypt(
                Trickle {
                    data: &data,
                    max: 999,
                },
                &mut sip,
                &options,
            )
            .unwrap();
        assert!(
            sip.out == reference,
            "{threads} threads: encrypt through short reads and writes"
        );

        let decryptor = Decryptor::new(Trickle {
            data: &reference,
            max: 1234,
        })
        .unwrap();
        let key = decryptor
            .unlock_with_file_key(FileKey::from_bytes(FILE_KEY))
            .unwrap();
        let mut sip = Sip {
            out: Vec::new(),
            max: 777,
            calls: 0,
        };
        assert_eq!(
            decryptor.decrypt(&key, &mut sip, &options).unwrap(),
            size as u64
        );
        assert!(
            sip.out == data,
            "{threads} threads: decrypt through short reads and writes"
        );
        assert!(
            sip.calls >= size / 777,
            "the sip writer really was called in small pieces"
        );
    }
}

#[test]
fn progress_reports_add_up_to_the_input_consumed() {
    let size = 2 * BATCH + 12_345;
    let data = plaintext(size, 12);
    for threads in [1, 2] {
        let seen = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&seen);
        let options = PipelineOptions {
            threads,
            progress: Some(Arc::new(move |n| {
                counter.fetch_add(n, Ordering::Relaxed);
            })),
            ..Default::default()
        };
        let file = pipeline_encrypt(&data, &options);
        assert_eq!(
            seen.load(Ordering::Relaxed),
            size as u64,
            "encrypt progress"
        );

        seen.store(0, Ordering::Relaxed);
        let decryptor = Decryptor::new(&file[..]).unwrap();
        let key = file_key(&decryptor);
        let header_and_prefix = decryptor.header().len() + coffer::internals::stream::PREFIX_LEN;
        let mut out = Vec::new();
        decryptor.decrypt(&key, &mut out, &options).unwrap();
        assert_eq!(
            seen.load(Ordering::Relaxed),
            (file.len() - header_and_prefix) as u64,
            "decrypt progress counts the chunk bytes read"
        );
    }
}

#[test]
fn a_cancelled_pipeline_stops_with_interrupted_before_writing() {
    let data = plaintext(2 * BATCH, 13);
    let file = stream_encrypt(&data);
    for threads in [1, 2] {
        let options = PipelineOptions {
            threads,
            cancel: Some(Arc::new(AtomicBool::new(true))),
            ..Default::default()
        };
        let mut out = Vec::new();
        let err = coffer::internals::pipeline::encrypt(
            &coffer::internals::stream::ChunkCipher::with_salt(
                &FileKey::from_bytes(FILE_KEY),
                PAYLOAD_SALT,
            )
            .0,
            coffer::internals::pipeline::Input::Stream(&data[..]),
            &mut out,
            &options,
        )
        .unwrap_err();
        assert!(matches!(err, Error::Interrupted), "encrypt: {err:?}");
        assert!(out.is_empty());

        let decryptor = Decryptor::new(&file[..]).unwrap();
        let key = file_key(&decryptor);
        let mut out = Vec::new();
        let err = decryptor.decrypt(&key, &mut out, &options).unwrap_err();
        assert!(matches!(err, Error::Interrupted), "decrypt: {err:?}");
        assert!(out.is_empty());
    }
}

#[test]
fn cancelling_mid_run_leaves_only_whole_authenticated_batches() {
    let data = plaintext(6 * BATCH + 100, 14);
    let file = stream_encrypt(&data);
    for threads in [1, 2] {
        let flag = Arc::new(AtomicBool::new(false));
        let trigger = Arc::clone(&flag);
        let options = PipelineOptions {
            threads,
            cancel: Some(flag),
            // Cancel as soon as the first batch has been written.
            progress: Some(Arc::new(move |_| trigger.store(true, Ordering::Relaxed))),
            ..Default::default()
        };
        let decryptor = Decryptor::new(&file[..]).unwrap();
        let key = file_key(&decryptor);
        let mut out = Vec::new();
        match decryptor.decrypt(&key, &mut out, &options) {
            // The reader may have queued every batch before the flag was set.
            Ok(len) => assert!(len == data.len() as u64 && out == data),
            Err(err) => {
                assert!(matches!(err, Error::Interrupted), "{err:?}");
                assert!(
                    out.len() % BATCH == 0 && out.len() >= BATCH,
                    "{} bytes",
                    out.len()
                );
                assert!(out[..] == data[..out.len()]);
            }
        }
    }
}

/// Positional output (`encrypt_to_file` / `decrypt_to_file`, every worker writing its own
/// batches into the file) gives the same bytes as the streaming adapters.
#[test]
fn positional_file_output_matches_the_streaming_adapters() {
    for len in [0, 1, BATCH - 1, BATCH, BATCH + 1, 2 * BATCH, 3 * BATCH + 5] {
        let data = plaintext(len, len as u64 + 7);
        let expected = stream_encrypt(&data);
        for threads in THREADS {
            let options = PipelineOptions::with_threads(threads);
            let ciphertext = tempfile::tempfile().unwrap();
            let written = encryptor()
                .encrypt_to_file(&data[..], &ciphertext, &options)
                .unwrap();
            assert_eq!(written, len as u64);
            let mut bytes = Vec::new();
            (&ciphertext).read_to_end(&mut bytes).unwrap();
            assert!(
                bytes == expected,
                "{len} bytes, {threads} threads: ciphertext differs"
            );

            let decryptor = Decryptor::new(&expected[..]).unwrap();
            let key = file_key(&decryptor);
            let plain = tempfile::tempfile().unwrap();
            let read = decryptor.decrypt_to_file(&key, &plain, &options).unwrap();
            assert_eq!(read, len as u64);
            let mut bytes = Vec::new();
            (&plain).read_to_end(&mut bytes).unwrap();
            assert!(
                bytes == data,
                "{len} bytes, {threads} threads: plaintext differs"
            );
        }
    }
}

/// Positional decryption of a file tampered in its second batch fails, and whatever it
/// wrote is authenticated plaintext at its true offset.
#[test]
fn positional_decryption_of_a_tampered_batch_fails_and_writes_only_true_plaintext() {
    let data = plaintext(3 * BATCH + 5, 99);
    let mut file = stream_encrypt(&data);
    let header_len = file.len()
        - coffer::internals::stream::PREFIX_LEN
        - coffer::internals::stream::chunks_len(data.len() as u64) as usize;
    let second_batch = header_len
        + coffer::internals::stream::PREFIX_LEN
        + BATCH_CHUNKS * coffer::internals::stream::ENCRYPTED_CHUNK_SIZE;
    file[second_batch + 100] ^= 1;
    for threads in THREADS {
        let decryptor = Decryptor::new(&file[..]).unwrap();
        let key = file_key(&decryptor);
        let plain = tempfile::tempfile().unwrap();
        let err = decryptor
            .decrypt_to_file(&key, &plain, &PipelineOptions::with_threads(threads))
            .unwrap_err();
        assert!(
            matches!(err, Error::ChunkAuthentication { index } if index == BATCH_CHUNKS as u64),
            "{threads} threads: {err:?}"
        );
        let mut bytes = Vec::new();
        (&plain).read_to_end(&mut bytes).unwrap();
        // Batch 1 never reaches the file; other batches are either absent (zeros, a hole)
        // or exactly their plaintext.
        for (k, piece) in bytes.chunks(BATCH).enumerate() {
            let truth = &data[k * BATCH..(k * BATCH + piece.len()).min(data.len())];
            let hole = piece.iter().all(|&b| b == 0);
            assert!(
                (k != 1 && piece == truth) || hole,
                "{threads} threads: batch {k} holds bytes that are not its plaintext"
            );
        }
    }
}

/// A batch its release callback refuses (a mapped file found cut) is not written, nor is
/// anything after it: the stream ends with the batches before it, whole, and the error.
#[test]
fn a_batch_refused_on_release_is_never_written() {
    let data = plaintext(4 * BATCH + 10, 9);
    let streamed = stream_encrypt(&data);
    let header = streamed.len() - coffer::internals::stream::chunks_len(data.len() as u64) as usize;
    let batch_bytes = BATCH_CHUNKS * coffer::internals::stream::ENCRYPTED_CHUNK_SIZE;
    for threads in [1, 2, 4] {
        for refused in [0, 2, 4] {
            let mut options = PipelineOptions::with_threads(threads);
            options.release = Some(Arc::new(move |start, _| {
                if start == (refused * BATCH) as u64 {
                    Err(io::Error::other("refused"))
                } else {
                    Ok(())
                }
            }));
            let mut out = Vec::new();
            let err = encryptor()
                .encrypt_bytes(&data, &mut out, &options)
                .unwrap_err();
            assert!(
                matches!(&err, Error::Io(e) if e.to_string() == "refused"),
                "{err:?}"
            );
            // Header and prefix, then whole batches before the refused one, in order.
            assert!(
                out.len() <= header + refused * batch_bytes,
                "{threads} threads, batch {refused}"
            );
            assert_eq!((out.len() - header) % batch_bytes, 0);
            assert!(out[..] == streamed[..out.len()]);
        }
    }
}

/// Runs `f` on a thread of its own and returns whether it panicked, failing the test if
/// it has not ended within a minute (a hang instead of a panic).
fn panics_without_hanging(f: impl FnOnce() + Send + 'static) -> bool {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = done_tx.send(outcome.is_err());
    });
    done_rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the pipeline hung instead of ending")
}

/// A panic on a worker (here in the release callback) reaches the caller as that panic,
/// at every batch position and thread count, instead of leaving the writer waiting
/// forever for the batch the worker held (with more batches than the pool holds, the
/// other threads would wait too).
#[test]
fn a_panic_on_a_worker_reaches_the_caller() {
    for threads in [1, 2, 4] {
        for at in [0, 1, 3] {
            let panicked = panics_without_hanging(move || {
                let data = plaintext(24 * BATCH + 10, 11);
                let mut options = PipelineOptions::with_threads(threads);
                options.release = Some(Arc::new(move |start, _| {
                    assert!(start != (at * BATCH) as u64, "a callback that panics");
                    Ok(())
                }));
                let _ = encryptor().encrypt_bytes(&data, &mut Vec::new(), &options);
            });
            assert!(panicked, "{threads} threads, batch {at}");
        }
    }
}

/// A reader that panics partway (on the pipeline's reading thread) does the same.
#[test]
fn a_panic_in_the_reader_reaches_the_caller() {
    struct Panicking(usize);
    impl Read for Panicking {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            assert!(self.0 > 0, "a reader that panics");
            let n = buf.len().min(self.0);
            buf[..n].fill(7);
            self.0 -= n;
            Ok(n)
        }
    }
    for threads in [1, 2, 4] {
        let panicked = panics_without_hanging(move || {
            let options = PipelineOptions::with_threads(threads);
            let reader = Panicking(24 * BATCH + 5);
            let _ = encryptor().encrypt(reader, &mut Vec::new(), &options);
        });
        assert!(panicked, "{threads} threads");
    }
}
