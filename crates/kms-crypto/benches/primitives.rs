//! The primitives on every request: AES-256-GCM seal/open and the HMAC-SHA256 chain of a TC3
//! signature; then signing, verification and decryption per algorithm through the provider.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kms_crypto::digest::hmac_sha256;
use kms_crypto::public_key::{WrapAlgorithm, encrypt_to_public_key};
use kms_crypto::{
    Aes256GcmKey, AsymmetricAlgorithm, CryptoProvider, KeySpec, SignInput, SigningAlgorithm,
    Software,
};

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

fn pem(der: &[u8]) -> String {
    use base64::Engine as _;
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----",
        base64::engine::general_purpose::STANDARD.encode(der)
    )
}

/// Sign and verify a 32-byte message for each signing algorithm on its smallest spec.
fn signatures(c: &mut Criterion) {
    use SigningAlgorithm as A;
    let cases = [
        (KeySpec::Rsa2048, A::RsaPssSha256),
        (KeySpec::Rsa2048, A::RsaPkcs1Sha256),
        (KeySpec::Rsa4096, A::RsaPssSha512),
        (KeySpec::EccP256, A::EcdsaSha256),
        (KeySpec::EccP384, A::EcdsaSha384),
        (KeySpec::EccSecp256k1, A::EcdsaSha256),
        (KeySpec::Sm2, A::Sm2Sm3),
        (KeySpec::Ed25519, A::Ed25519),
        (KeySpec::MlDsa65, A::MlDsa),
    ];
    let message = [7u8; 32];
    let mut group = c.benchmark_group("sign_verify");
    for (spec, alg) in cases {
        let material = Software.generate(spec).unwrap();
        let key = Software.load(spec, &material.private).unwrap();
        let sig = key.sign(alg, SignInput::Message(&message)).unwrap();
        group.bench_function(format!("sign/{spec:?}/{alg:?}"), |b| {
            b.iter(|| {
                key.sign(alg, SignInput::Message(black_box(&message)))
                    .unwrap()
            })
        });
        group.bench_function(format!("verify/{spec:?}/{alg:?}"), |b| {
            b.iter(|| {
                key.verify(alg, SignInput::Message(black_box(&message)), &sig)
                    .unwrap()
            })
        });
    }
    group.finish();
}

/// Private-key operations that return secrets: RSA and SM2 decryption, ML-KEM decapsulation,
/// ECDH and HMAC.
fn decryption(c: &mut Criterion) {
    let secret = [9u8; 32];
    let mut group = c.benchmark_group("decrypt");
    for (spec, wrap, alg) in [
        (
            KeySpec::Rsa2048,
            WrapAlgorithm::RsaOaepSha256,
            AsymmetricAlgorithm::RsaOaepSha256,
        ),
        (
            KeySpec::Rsa4096,
            WrapAlgorithm::RsaOaepSha256,
            AsymmetricAlgorithm::RsaOaepSha256,
        ),
        (
            KeySpec::Sm2,
            WrapAlgorithm::Sm2C1C3C2Asn1,
            AsymmetricAlgorithm::Sm2C1C3C2Asn1,
        ),
    ] {
        let material = Software.generate(spec).unwrap();
        let key = Software.load(spec, &material.private).unwrap();
        let ct = encrypt_to_public_key(&pem(key.public_key().unwrap()), wrap, &secret).unwrap();
        group.bench_function(format!("{spec:?}/{alg:?}"), |b| {
            b.iter(|| key.decrypt(alg, black_box(&ct)).unwrap())
        });
    }
    let kem = Software
        .load(
            KeySpec::MlKem768,
            &Software.generate(KeySpec::MlKem768).unwrap().private,
        )
        .unwrap();
    let (ct, _) = kem.encapsulate().unwrap();
    group.bench_function("MlKem768/decapsulate", |b| {
        b.iter(|| kem.decapsulate(black_box(&ct)).unwrap())
    });
    let ours = Software
        .load(
            KeySpec::EccP256,
            &Software.generate(KeySpec::EccP256).unwrap().private,
        )
        .unwrap();
    let peer = Software.generate(KeySpec::EccP256).unwrap().public.unwrap();
    group.bench_function("EccP256/ecdh", |b| {
        b.iter(|| ours.derive_shared_secret(black_box(&peer)).unwrap())
    });
    for spec in [KeySpec::Hmac256, KeySpec::HmacSm3, KeySpec::Sm4] {
        let key = Software
            .load(spec, &Software.generate(spec).unwrap().private)
            .unwrap();
        if spec == KeySpec::Sm4 {
            let sealed = key.seal(b"aad", &secret).unwrap();
            group.bench_function("Sm4/open", |b| {
                b.iter(|| key.open(b"aad", black_box(&sealed)).unwrap())
            });
        } else {
            group.bench_function(format!("{spec:?}/mac"), |b| {
                b.iter(|| key.mac(black_box(&secret)).unwrap())
            });
        }
    }
    group.finish();
}

fn quick() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(600))
}

criterion_group!(benches, primitives);
criterion_group! {
    name = provider;
    config = quick();
    targets = signatures, decryption
}
criterion_main!(benches, provider);
