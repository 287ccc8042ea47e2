//! One Argon2id derivation, at the default parameters and at the floor (19 MiB, 2 passes,
//! 1 lane): the wait a user sees before a file opens. `cargo bench --bench kdf`.

use std::hint::black_box;
use std::time::Duration;

use coffer::kdf::{KdfParams, FLOOR_MEMORY_MIB, FLOOR_PASSES};
use criterion::{criterion_group, criterion_main, Criterion};

fn argon2id(c: &mut Criterion) {
    let passphrase = b"correct horse battery staple";
    let salt = [0x5a; 16];
    let mut group = c.benchmark_group("argon2id");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    let default = KdfParams::default();
    let floor = KdfParams::new(FLOOR_MEMORY_MIB, FLOOR_PASSES, 1);
    for (name, params, time) in [("default", default, 15), ("floor", floor, 3)] {
        let id = format!(
            "{name}_{}MiB_t{}_p{}",
            params.memory_mib(),
            params.passes,
            params.lanes
        );
        group.measurement_time(Duration::from_secs(time));
        group.bench_function(id, |b| {
            b.iter(|| black_box(params.derive(passphrase, &salt).unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, argon2id);
criterion_main!(benches);
