//! Partial restore cost: reading a 1 MiB plaintext range through `SeekableReader` must
//! cost the same from a 4 GiB file as from a 4 MiB file (it reads only the covering
//! chunks and the final chunk). The ciphertext is synthesised on demand, chunk by chunk,
//! so the 4 GiB "file" needs no disk; every byte the reader sees is genuine ciphertext.

use std::hint::black_box;
use std::io::{self, Read, Seek, SeekFrom};

use coffer::internals::stream::{
    chunks_len, ChunkCipher, SeekableReader, CHUNK_SIZE, ENCRYPTED_CHUNK_SIZE,
};
use coffer::FileKey;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// A `Read + Seek` over the chunks of a plaintext of `len` zero bytes, sealing each chunk
/// when it is first read; counts the ciphertext bytes served.
struct SyntheticCiphertext {
    cipher: ChunkCipher,
    plaintext_len: u64,
    total: u64,
    pos: u64,
    chunk: Vec<u8>,
    chunk_index: Option<u64>,
    served: u64,
}

impl SyntheticCiphertext {
    fn new(plaintext_len: u64) -> Self {
        let key = FileKey::from_bytes([7; 32]);
        let (cipher, _) = ChunkCipher::with_salt(&key, [1; 24]);
        SyntheticCiphertext {
            cipher,
            plaintext_len,
            total: chunks_len(plaintext_len),
            pos: 0,
            chunk: vec![0; ENCRYPTED_CHUNK_SIZE],
            chunk_index: None,
            served: 0,
        }
    }

    fn cipher(&self) -> ChunkCipher {
        ChunkCipher::with_salt(&FileKey::from_bytes([7; 32]), [1; 24]).0
    }

    fn seal(&mut self, index: u64) -> usize {
        let full_chunks = self.plaintext_len / CHUNK_SIZE as u64;
        let len = if index < full_chunks {
            CHUNK_SIZE
        } else {
            (self.plaintext_len % CHUNK_SIZE as u64) as usize
        };
        self.chunk[..len].fill(0);
        self.cipher
            .seal(index, &mut self.chunk, len)
            .expect("index below 2^38");
        self.chunk_index = Some(index);
        len + 16
    }
}

impl Read for SyntheticCiphertext {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.total {
            return Ok(0);
        }
        let index = self.pos / ENCRYPTED_CHUNK_SIZE as u64;
        let offset = (self.pos % ENCRYPTED_CHUNK_SIZE as u64) as usize;
        let len = if self.chunk_index == Some(index) {
            (self.total - index * ENCRYPTED_CHUNK_SIZE as u64).min(ENCRYPTED_CHUNK_SIZE as u64)
                as usize
        } else {
            self.seal(index)
        };
        let n = out.len().min(len - offset);
        out[..n].copy_from_slice(&self.chunk[offset..offset + n]);
        self.pos += n as u64;
        self.served += n as u64;
        Ok(n)
    }
}

impl Seek for SyntheticCiphertext {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = match to {
            SeekFrom::Start(n) => n,
            SeekFrom::End(d) => self.total.checked_add_signed(d).expect("in range"),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d).expect("in range"),
        };
        Ok(self.pos)
    }
}

fn range_read(c: &mut Criterion) {
    const RANGE: usize = 1 << 20;
    let mut group = c.benchmark_group("decrypt_range_1MiB");
    group.throughput(Throughput::Bytes(RANGE as u64));
    for (name, size) in [("from_4MiB", 4u64 << 20), ("from_4GiB", 4u64 << 30)] {
        group.bench_with_input(BenchmarkId::from_parameter(name), &size, |b, &size| {
            let mut out = vec![0u8; RANGE];
            b.iter(|| {
                let source = SyntheticCiphertext::new(size);
                let cipher = source.cipher();
                let mut reader = SeekableReader::new(source, cipher, 0).expect("valid");
                // A range in the middle, not chunk-aligned.
                reader.seek(SeekFrom::Start(size / 2 + 1234)).expect("seek");
                reader.read_exact(&mut out).expect("range");
                black_box(&out);
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = range_read
}
criterion_main!(benches);
