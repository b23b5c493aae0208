//! The primitives on every request: AES-256-GCM seal/open and the HMAC-SHA256 chain of a TC3
//! signature.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kms_crypto::Aes256GcmKey;
use kms_crypto::digest::hmac_sha256;

fn primitives(c: &mut Criterion) {
    let key = Aes256GcmKey::generate().unwrap();
    let mut group = c.benchmark_group("aes256gcm");
    for size in [32usize, 4096] {
        let plaintext = vec![1u8; size];
        let sealed = key.seal(b"aad", &plaintext).unwrap();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("seal/{size}"), |b| {
            b.iter(|| key.seal(b"aad", &plaintext).unwrap())
        });
        group.bench_function(format!("open/{size}"), |b| {
            b.iter(|| key.open(b"aad", &sealed).unwrap())
        });
    }
    group.finish();
    c.bench_function("hmac_sha256/tc3_signing_chain", |b| {
        b.iter(|| {
            let k = hmac_sha256(b"TC3secret-key-of-32-characters!!", b"2026-11-23");
            let k = hmac_sha256(&k, b"kms");
            let k = hmac_sha256(&k, b"tc3_request");
            hmac_sha256(&k, &[0u8; 120])
        })
    });
}

criterion_group!(benches, primitives);
criterion_main!(benches);
