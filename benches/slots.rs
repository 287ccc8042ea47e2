//! What one slot costs to make and to open, per slot type: the per-file overhead of a
//! credential, Argon2id aside. `cargo bench --bench slots`.
//!
//! "open" parses a one-slot header and unlocks it (check value, unwrap, header MAC);
//! "seal" makes a new file's header. The passphrase slot is measured with its Argon2id
//! key already derived (what every file but the first of a batch costs).
//!
//! The public-key slots: `x25519_*` and `hybrid_*` (X-Wing: ML-KEM-768 + X25519);
//! `hybrid_open_last_of_32` opens the last slot of a 32-recipient header, the worst case
//! for a team member (31 decapsulations that do not match, then one that does).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use coffer::{
    Decryptor, Encryptor, HybridIdentity, Identity, KdfParams, Limits, Passphrase,
    PassphraseIdentity, PassphraseKey, Recipient, SymmetricKey, X25519Identity,
};
use criterion::{criterion_group, criterion_main, Criterion};

/// The header bytes of a new empty file for `recipient`.
fn header_for(recipient: &dyn Recipient) -> Vec<u8> {
    Encryptor::new(&[recipient])
        .unwrap()
        .header()
        .as_bytes()
        .to_vec()
}

fn slots(c: &mut Criterion) {
    let mut group = c.benchmark_group("slot");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));

    let key_file = SymmetricKey::generate();
    let header = header_for(&key_file);
    group.bench_function("key_file_seal", |b| {
        b.iter(|| black_box(Encryptor::new(&[&key_file]).unwrap()))
    });
    group.bench_function("key_file_open", |b| {
        b.iter(|| {
            let decryptor = Decryptor::new(&header[..]).unwrap();
            black_box(decryptor.unlock(&[&key_file as &dyn Identity]).unwrap())
        })
    });

    let passphrase = Passphrase::new(b"correct horse battery staple".to_vec());
    let params = KdfParams::new(19, 2, 1);
    let key = Arc::new(PassphraseKey::generate(&passphrase, params, &Limits::default()).unwrap());
    let identity = PassphraseIdentity::new(passphrase, Limits::default());
    identity.remember(Arc::clone(&key));
    let header = header_for(&*key);
    group.bench_function("passphrase_seal_derived", |b| {
        b.iter(|| black_box(Encryptor::new(&[&*key]).unwrap()))
    });
    group.bench_function("passphrase_open_derived", |b| {
        b.iter(|| {
            let decryptor = Decryptor::new(&header[..]).unwrap();
            black_box(decryptor.unlock(&[&identity as &dyn Identity]).unwrap())
        })
    });

    let classic = X25519Identity::generate();
    let recipient = classic.recipient();
    let header = header_for(&recipient);
    group.bench_function("x25519_seal", |b| {
        b.iter(|| black_box(Encryptor::new(&[&recipient]).unwrap()))
    });
    group.bench_function("x25519_open", |b| {
        b.iter(|| {
            let decryptor = Decryptor::new(&header[..]).unwrap();
            black_box(decryptor.unlock(&[&classic as &dyn Identity]).unwrap())
        })
    });

    let hybrid = HybridIdentity::generate();
    let recipient = hybrid.recipient();
    let header = header_for(&recipient);
    group.bench_function("hybrid_seal", |b| {
        b.iter(|| black_box(Encryptor::new(&[&recipient]).unwrap()))
    });
    group.bench_function("hybrid_open", |b| {
        b.iter(|| {
            let decryptor = Decryptor::new(&header[..]).unwrap();
            black_box(decryptor.unlock(&[&hybrid as &dyn Identity]).unwrap())
        })
    });
    let team: Vec<_> = (0..31)
        .map(|_| HybridIdentity::generate().recipient())
        .chain([recipient.clone()])
        .collect();
    let refs: Vec<&dyn Recipient> = team.iter().map(|r| r as &dyn Recipient).collect();
    let header = Encryptor::new(&refs).unwrap().header().as_bytes().to_vec();
    group.bench_function("hybrid_open_last_of_32", |b| {
        b.iter(|| {
            let decryptor = Decryptor::new(&header[..]).unwrap();
            black_box(decryptor.unlock(&[&hybrid as &dyn Identity]).unwrap())
        })
    });
    group.bench_function("hybrid_generate", |b| {
        b.iter(|| black_box(HybridIdentity::generate().recipient()))
    });
    group.finish();
}

criterion_group!(benches, slots);
criterion_main!(benches);
