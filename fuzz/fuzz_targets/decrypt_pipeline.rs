//! The multi-core pipeline decryptor against the streaming one: they accept the same
//! files with the same plaintext, fail with the same kind of error, and the pipeline
//! never writes more than the streaming decryptor released before failing. Both of the
//! pipeline's inputs: a stream read by one thread, and a file each worker reads itself
//! (`pread`, as the CLI decrypts a regular file).
//!
//! Input: mode (1). Mode even: key (32) || threads (1) || file (seeded with the test
//! vectors and their keys). Mode odd: an arbitrary `Built` case, a valid file of up to
//! about 5 MiB (so several 2 MiB batches and real worker threads) with damage.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use coffer::{Decryptor, Error, FileKey, PipelineOptions};
use coffer_fuzz::{decrypt_streaming, encrypt, plaintext, releasable, split_key, Damage, FILE_KEY};
use libfuzzer_sys::fuzz_target;
use std::fs::File;
use std::io::{Seek, Write};
use std::sync::{Mutex, OnceLock};

#[derive(Arbitrary, Debug)]
struct Built {
    plaintext_len: u32,
    threads: u8,
    damage: Option<Damage>,
}

fn decrypt_pipeline(file: &[u8], key: [u8; 32], threads: u8) -> (Vec<u8>, Result<u64, Error>) {
    let mut out = Vec::new();
    let options = PipelineOptions::with_threads(1 + usize::from(threads % 3));
    let outcome = Decryptor::new(file).and_then(|decryptor| {
        let file_key = decryptor.unlock_with_file_key(FileKey::from_bytes(key))?;
        decryptor.decrypt(&file_key, &mut out, &options)
    });
    (out, outcome)
}

/// One scratch file per process, rewritten for every input (in the temporary directory;
/// a tmpfs keeps it cheap).
fn scratch() -> &'static Mutex<File> {
    static SCRATCH: OnceLock<Mutex<File>> = OnceLock::new();
    SCRATCH.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("coffer-fuzz-{}", std::process::id()));
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .expect("a scratch file");
        let _ = std::fs::remove_file(&path);
        Mutex::new(file)
    })
}

fn decrypt_positional(file: &[u8], key: [u8; 32], threads: u8) -> (Vec<u8>, Result<u64, Error>) {
    let scratch = scratch().lock().expect("not poisoned");
    let mut handle = scratch.try_clone().expect("a second handle");
    handle.set_len(0).expect("truncate");
    handle.rewind().expect("rewind");
    handle.write_all(file).expect("write the input");
    handle.rewind().expect("rewind");
    let mut out = Vec::new();
    let options = PipelineOptions::with_threads(1 + usize::from(threads % 3));
    let outcome = Decryptor::new(handle).and_then(|decryptor| {
        let file_key = decryptor.unlock_with_file_key(FileKey::from_bytes(key))?;
        decryptor.decrypt_file(&file_key, file.len() as u64, &mut out, &options)
    });
    (out, outcome)
}

fn compare(file: &[u8], key: [u8; 32], threads: u8) -> (Vec<u8>, Result<u64, Error>) {
    let (streamed, stream_outcome) = decrypt_streaming(file, key, &[], &[]);
    let (written, outcome) = decrypt_pipeline(file, key, threads);
    agree(&streamed, &stream_outcome, &written, &outcome);
    let (read_by_workers, positional) = decrypt_positional(file, key, threads);
    agree(&streamed, &stream_outcome, &read_by_workers, &positional);
    (written, outcome)
}

/// The pipeline's `written` and `outcome` against the stream's.
fn agree(
    streamed: &[u8],
    stream_outcome: &Result<(), Error>,
    written: &[u8],
    outcome: &Result<u64, Error>,
) {
    match (&stream_outcome, &outcome) {
        (Ok(()), Ok(len)) => {
            assert_eq!(*len, written.len() as u64);
            assert!(
                written == streamed,
                "pipeline and stream disagree on the plaintext"
            );
        }
        (Err(a), Err(b)) => {
            assert_eq!(a.kind(), b.kind(), "stream says {a}, pipeline says {b}");
            assert!(
                streamed.starts_with(&written),
                "the pipeline wrote past a failure"
            );
        }
        (a, b) => panic!("stream {a:?}, pipeline {b:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let Some((key, rest)) = split_key(rest) else {
            return;
        };
        let Some((&threads, file)) = rest.split_first() else {
            return;
        };
        let _ = compare(file, key, threads);
        return;
    }
    let Ok(case) = Built::arbitrary_take_rest(Unstructured::new(rest)) else {
        return;
    };
    let plain = plaintext(
        case.plaintext_len as usize % (5 << 20),
        case.plaintext_len as u8,
    );
    let (original, chunks_offset) = encrypt(&plain);
    let mut file = original.clone();
    if let Some(damage) = &case.damage {
        damage.apply(&mut file);
    }
    let (written, outcome) = compare(&file, FILE_KEY, case.threads);
    if file == original {
        assert!(
            outcome.is_ok() && written == plain,
            "an intact file decrypts"
        );
    } else {
        assert!(outcome.is_err(), "a damaged file was accepted");
        assert!(written.len() <= releasable(&original, &file, chunks_offset));
    }
});
