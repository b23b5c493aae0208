//! The engine's crypto path (key lookup, material from cache, AES-256-GCM, blob framing) over the
//! in-memory store, so the figures isolate the engine from storage and HTTP.

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kms_core::engine::NewKey;
use kms_core::testing::{MemorySeal, MemoryStore};
use kms_core::*;

fn engine_path(c: &mut Criterion) {
    let engine = Engine::new(
        Arc::new(MemoryStore::default()),
        Arc::new(MemorySeal::generate()),
        Arc::new(SystemClock),
        EngineConfig::default(),
    );
    let caller = Caller {
        account: 1,
        user: None,
        credential: "test-credential".into(),
        region: "ap-guangzhou".into(),
        authority: None,
    };
    let key = engine
        .create_key(
            &caller,
            NewKey {
                hsm_cluster: None,
                alias: "bench".into(),
                description: String::new(),
                usage: KeyUsage::EncryptDecrypt,
                spec: KeySpec::Aes256,
                origin: Origin::Kms,
                tags: vec![],
            },
        )
        .unwrap();
    let id = key.key_id.to_string();
    let ctx = EncryptionContext::new([("app".to_string(), "bench".to_string())].into());
    let mut group = c.benchmark_group("engine");
    for size in [32usize, 4096] {
        let plaintext = vec![7u8; size];
        let (_, blob) = engine.encrypt(&caller, &id, &plaintext, &ctx).unwrap();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("encrypt/{size}"), |b| {
            b.iter(|| engine.encrypt(&caller, &id, &plaintext, &ctx).unwrap())
        });
        group.bench_function(format!("decrypt/{size}"), |b| {
            b.iter(|| engine.decrypt(&caller, &blob, &ctx).unwrap())
        });
    }
    group.throughput(Throughput::Elements(1));
    group.bench_function("generate_data_key/32", |b| {
        b.iter(|| engine.generate_data_key(&caller, &id, 32, &ctx).unwrap())
    });
    group.finish();
}

criterion_group!(benches, engine_path);
criterion_main!(benches);
