//! Payload throughput, from the bottom up:
//!
//! - `raw_aes_gcm`: `ChunkCipher` seal/open of 16 KiB chunks over a 4 MiB buffer, in
//!   place, on one core, on every AES-GCM backend of the build (`AwsLc`, `RustCrypto`):
//!   the ceiling the pipeline at `threads = 1` is compared against; and each crate called
//!   directly per 16 KiB for reference.
//! - `stream`: `EncryptWriter` / `DecryptReader` at 1 KiB to 64 MiB, into `io::sink()`.
//! - `raw_aes_gcm_1GiB`: aws-lc-rs sealing 1 GiB in 16 KiB chunks, from memory rather
//!   than cache: the reference for the whole process's CPU per GiB.
//! - `pipeline`: `pipeline::encrypt` / `decrypt` of 64 MiB from a `Cursor` (and encrypt
//!   from the bytes themselves, `Input::Bytes`) into `io::sink()` at 1, 2 and all (0)
//!   threads, on every backend.
//!
//! Every benchmark reports plaintext bytes per second. Quick run:
//! `cargo bench --bench throughput -- --quick`.

use std::hint::black_box;
use std::io::{self, Cursor, Read, Write};
use std::time::Duration;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use coffer::internals::pipeline::{self, Input, PipelineOptions};
use coffer::internals::stream::{
    ChunkCipher, DecryptReader, EncryptWriter, PayloadPrefix, CHUNK_SIZE, ENCRYPTED_CHUNK_SIZE,
    PREFIX_LEN,
};
use coffer::{AeadBackend, FileKey};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
const RAW_LEN: usize = 4 * MIB;
const PIPELINE_LEN: usize = 64 * MIB;
const STREAM_SIZES: [usize; 4] = [KIB, 64 * KIB, MIB, 64 * MIB];

fn cipher() -> (ChunkCipher, PayloadPrefix) {
    cipher_on(AeadBackend::DEFAULT)
}

fn cipher_on(backend: AeadBackend) -> (ChunkCipher, PayloadPrefix) {
    ChunkCipher::with_salt_on(backend, &FileKey::from_bytes([0x42; 32]), [0x24; 24])
}

fn data(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 11)) as u8)
        .collect()
}

/// The chunks (no prefix) of `plaintext`, sealed with `cipher()`.
fn sealed(plaintext: &[u8]) -> Vec<u8> {
    let (cipher, prefix) = cipher();
    let mut writer = EncryptWriter::new(Vec::new(), cipher, &prefix).unwrap();
    writer.write_all(plaintext).unwrap();
    let mut out = writer.finish().unwrap();
    out.drain(..PREFIX_LEN);
    out
}

/// 4 MiB of plaintext laid out at a stride of `ENCRYPTED_CHUNK_SIZE`, as the pipeline
/// holds a batch: every chunk has room for its tag.
fn strided() -> Vec<u8> {
    let chunks = RAW_LEN / CHUNK_SIZE;
    let mut buf = vec![0u8; chunks * ENCRYPTED_CHUNK_SIZE];
    let plain = data(RAW_LEN);
    for (j, chunk) in plain.chunks(CHUNK_SIZE).enumerate() {
        buf[j * ENCRYPTED_CHUNK_SIZE..j * ENCRYPTED_CHUNK_SIZE + CHUNK_SIZE].copy_from_slice(chunk);
    }
    buf
}

fn raw_aes_gcm(c: &mut Criterion) {
    let mut group = c.benchmark_group("raw_aes_gcm");
    group.throughput(Throughput::Bytes(RAW_LEN as u64));
    group.measurement_time(Duration::from_secs(3));
    group.sample_size(20);
    let chunks = RAW_LEN / CHUNK_SIZE;
    for &backend in AeadBackend::ALL {
        raw_chunk_cipher(&mut group, backend, chunks);
    }
    raw_crates(&mut group);
    group.finish();
}

fn raw_chunk_cipher(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    backend: AeadBackend,
    chunks: usize,
) {
    let (chunk_cipher, _) = cipher_on(backend);
    let name = format!("{backend:?}");
    let mut buf = strided();
    group.bench_function(
        BenchmarkId::new("chunk_cipher_seal_16KiB_chunks_4MiB", &name),
        |b| {
            b.iter(|| {
                // Re-sealing ciphertext costs the same as sealing plaintext.
                for j in 0..chunks {
                    chunk_cipher
                        .seal(j as u64, &mut buf[j * ENCRYPTED_CHUNK_SIZE..], CHUNK_SIZE)
                        .unwrap();
                }
                black_box(&buf);
            })
        },
    );

    let mut ciphertext = strided();
    for j in 0..chunks {
        chunk_cipher
            .seal(
                j as u64,
                &mut ciphertext[j * ENCRYPTED_CHUNK_SIZE..],
                CHUNK_SIZE,
            )
            .unwrap();
    }
    group.bench_function(
        BenchmarkId::new("chunk_cipher_open_16KiB_chunks_4MiB", &name),
        |b| {
            // Opening decrypts in place, so each iteration starts from a fresh copy (the
            // copy is setup, not timed).
            b.iter_batched_ref(
                || ciphertext.clone(),
                |buf| {
                    for j in 0..chunks {
                        let start = j * ENCRYPTED_CHUNK_SIZE;
                        chunk_cipher
                            .open(j as u64, &mut buf[start..start + ENCRYPTED_CHUNK_SIZE])
                            .unwrap();
                    }
                    black_box(&buf);
                },
                BatchSize::LargeInput,
            )
        },
    );
}

/// Each crate called directly, 16 KiB at a time, for reference.
fn raw_crates(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    #[cfg(feature = "aws-lc")]
    {
        use aws_lc_rs::aead::{LessSafeKey, UnboundKey, AES_256_GCM};
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[0x42; 32]).unwrap());
        let mut plain = data(RAW_LEN);
        group.bench_function("aws_lc_rs_seal_in_place_separate_tag_16KiB_4MiB", |b| {
            b.iter(|| aws_lc_seal_chunks(&key, &mut plain))
        });
    }
    let aead = Aes256Gcm::new_from_slice(&[0x42; 32]).unwrap();
    let mut plain = data(RAW_LEN);
    group.bench_function("aes256gcm_encrypt_inout_detached_16KiB_4MiB", |b| {
        b.iter(|| {
            for (j, chunk) in plain.chunks_mut(CHUNK_SIZE).enumerate() {
                let mut nonce = [0u8; 12];
                nonce[4..].copy_from_slice(&(j as u64).to_be_bytes());
                let tag = aead
                    .encrypt_inout_detached(&Nonce::from(nonce), &[], chunk.into())
                    .unwrap();
                black_box(tag);
            }
        })
    });
}

/// The reference for the whole encrypting process's CPU per GiB (docs/PERFORMANCE.md): a
/// raw aws-lc-rs seal of 1 GiB, the size compare.sh encrypts, in 16 KiB chunks. Unlike the
/// 4 MiB figures, the bytes come from memory, not from cache, as a file's do.
fn raw_aes_gcm_1gib(c: &mut Criterion) {
    #[cfg(feature = "aws-lc")]
    {
        use aws_lc_rs::aead::{LessSafeKey, UnboundKey, AES_256_GCM};
        const GIB: usize = 1 << 30;
        let mut group = c.benchmark_group("raw_aes_gcm_1GiB");
        group.throughput(Throughput::Bytes(GIB as u64));
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(5));
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[0x42; 32]).unwrap());
        let mut plain = data(GIB);
        group.bench_function("aws_lc_rs_seal_in_place_separate_tag_16KiB_1GiB", |b| {
            b.iter(|| aws_lc_seal_chunks(&key, &mut plain))
        });
        group.finish();
    }
    #[cfg(not(feature = "aws-lc"))]
    let _ = c;
}

/// aws-lc-rs called directly: `plain` sealed in place, 16 KiB at a time.
#[cfg(feature = "aws-lc")]
fn aws_lc_seal_chunks(key: &aws_lc_rs::aead::LessSafeKey, plain: &mut [u8]) {
    use aws_lc_rs::aead::{Aad, Nonce};
    for (j, chunk) in plain.chunks_mut(CHUNK_SIZE).enumerate() {
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&(j as u64).to_be_bytes());
        let nonce = Nonce::assume_unique_for_key(nonce);
        let tag = key.seal_in_place_separate_tag(nonce, Aad::empty(), chunk);
        let _ = black_box(tag.unwrap());
    }
}

fn stream(c: &mut Criterion) {
    let mut group = c.benchmark_group("stream");
    group.measurement_time(Duration::from_secs(3));
    for size in STREAM_SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        group.sample_size(if size >= 64 * MIB {
            10
        } else if size >= MIB {
            20
        } else {
            50
        });
        let plain = data(size);
        group.bench_with_input(
            BenchmarkId::new("encrypt_writer", label(size)),
            &plain,
            |b, plain| {
                b.iter(|| {
                    let (cipher, prefix) = cipher();
                    let mut writer = EncryptWriter::new(io::sink(), cipher, &prefix).unwrap();
                    // 64 KiB writes, as `io::copy` would make them.
                    for piece in plain.chunks(64 * KIB) {
                        writer.write_all(piece).unwrap();
                    }
                    writer.finish().unwrap();
                })
            },
        );
        let chunks = sealed(&plain);
        group.bench_with_input(
            BenchmarkId::new("decrypt_reader", label(size)),
            &chunks,
            |b, chunks| {
                b.iter(|| {
                    let (cipher, _) = cipher();
                    let mut reader = DecryptReader::new(&chunks[..], cipher);
                    let mut buf = vec![0u8; 64 * KIB];
                    let mut total = 0;
                    loop {
                        let n = reader.read(&mut buf).unwrap();
                        if n == 0 {
                            break;
                        }
                        total += n;
                    }
                    assert_eq!(total, size);
                })
            },
        );
    }
    group.finish();
}

fn pipeline_bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Bytes(PIPELINE_LEN as u64));
    group.measurement_time(Duration::from_secs(3));
    group.sample_size(10);
    let plain = data(PIPELINE_LEN);
    let chunks = sealed(&plain);
    for (&backend, threads) in AeadBackend::ALL
        .iter()
        .flat_map(|b| [1, 2, 0].map(|t| (b, t)))
    {
        let (cipher, _) = cipher_on(backend);
        let options = PipelineOptions::with_threads(threads);
        let name = match threads {
            0 => format!("{backend:?}/all"),
            n => format!("{backend:?}/{n}"),
        };
        group.bench_function(BenchmarkId::new("encrypt_64MiB_threads", &name), |b| {
            b.iter(|| {
                let n = pipeline::encrypt(
                    &cipher,
                    Input::Stream(Cursor::new(&plain[..])),
                    &mut io::sink(),
                    &options,
                )
                .unwrap();
                assert_eq!(n, PIPELINE_LEN as u64);
            })
        });
        // The workers seal straight out of the input (as out of a mapped file).
        group.bench_function(
            BenchmarkId::new("encrypt_bytes_64MiB_threads", &name),
            |b| {
                b.iter(|| {
                    let input: Input<'_, &[u8]> = Input::Bytes(&plain);
                    let n = pipeline::encrypt(&cipher, input, &mut io::sink(), &options).unwrap();
                    assert_eq!(n, PIPELINE_LEN as u64);
                })
            },
        );
        group.bench_function(BenchmarkId::new("decrypt_64MiB_threads", &name), |b| {
            b.iter(|| {
                let n = pipeline::decrypt(
                    &cipher,
                    Input::Stream(Cursor::new(&chunks[..])),
                    &mut io::sink(),
                    &options,
                )
                .unwrap();
                assert_eq!(n, PIPELINE_LEN as u64);
            })
        });
    }
    group.finish();
}

fn label(size: usize) -> String {
    if size >= MIB {
        format!("{}MiB", size / MIB)
    } else {
        format!("{}KiB", size / KIB)
    }
}

criterion_group!(
    benches,
    raw_aes_gcm,
    raw_aes_gcm_1gib,
    stream,
    pipeline_bench
);
criterion_main!(benches);
