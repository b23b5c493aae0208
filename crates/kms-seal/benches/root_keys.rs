//! What the root keyring adds to sealing and unsealing a record's secret (a key version's
//! material, 32 bytes) over the bare root key: the read lock that lets the keys be sealed and
//! rotated at run time, the generation lookup, and a later generation's blob prefix. The engine
//! unseals material on a key cache miss only, so this is off the common request path.

use criterion::{criterion_group, criterion_main, Criterion};
use kms_core::Seal;
use kms_crypto::aead::Aes256GcmKey;
use kms_seal::keyring::{Keyring, RootKeys};

fn root_keys(c: &mut Criterion) {
    let aad = b"key-id and version";
    let secret = [7u8; 32];
    let key = Aes256GcmKey::generate().unwrap();
    let legacy = RootKeys::unsealed(Keyring::legacy(key.clone()));
    let mut rotated_ring = Keyring::legacy(key.clone());
    rotated_ring.add_generation().unwrap();
    let rotated = RootKeys::unsealed(rotated_ring);

    let mut group = c.benchmark_group("root_keys");
    let bare = key.seal(aad, &secret).unwrap();
    group.bench_function("seal/bare key", |b| {
        b.iter(|| key.seal(aad, &secret).unwrap())
    });
    group.bench_function("unseal/bare key", |b| {
        b.iter(|| key.open(aad, &bare).unwrap())
    });
    for (name, keys) in [("generation 0", &legacy), ("generation 1", &rotated)] {
        let sealed = keys.seal(aad, &secret).unwrap();
        group.bench_function(format!("seal/{name}"), |b| {
            b.iter(|| keys.seal(aad, &secret).unwrap())
        });
        group.bench_function(format!("unseal/{name}"), |b| {
            b.iter(|| keys.unseal(aad, &sealed).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, root_keys);
criterion_main!(benches);
