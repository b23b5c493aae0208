//! Writers of the committed fixture keys and seed inputs, run by hand:
//! `cargo test -p kms-fuzz --test seeds -- --ignored --exact write_seeds` (after new fixture
//! keys, which invalidate every `key_material` seed: `--exact write_fixture_keys` first, then
//! rebuild).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use kms_crypto::public_key::{WrapAlgorithm, encrypt_to_public_key};
use kms_crypto::{CryptoProvider, KeySpec, SignInput, Software};
use kms_fuzz::{KeyOp, SIGNING_ALGORITHMS, fixture_key, key_material_input};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn write(dir: &Path, name: &str, data: &[u8]) {
    std::fs::create_dir_all(dir).expect("corpus directory");
    std::fs::write(dir.join(name), data).expect("seed file");
}

#[test]
#[ignore = "replaces the fixture keys; run once, then rebuild and write the seeds"]
fn write_fixture_keys() {
    for spec in KeySpec::ALL {
        let material = Software.generate(spec).expect("generate");
        write(
            &root().join("keys"),
            &format!("{spec:?}.bin"),
            &material.private,
        );
    }
}

/// ML-DSA-65 PKCS#8 in the seed-only private key form: the 32-byte seed as `[0]` inside the
/// privateKey OCTET STRING, algorithm id-ml-dsa-65 (2.16.840.1.101.3.4.3.18), per the IETF
/// LAMPS ML-DSA certificates draft (draft-ietf-lamps-dilithium-certificates, section 6).
fn ml_dsa_seed_pkcs8(seed: &[u8]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x34, 0x02, 0x01, 0x00, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
        0x04, 0x03, 0x12, 0x04, 0x22, 0x80, 0x20,
    ];
    der.extend_from_slice(seed);
    der
}

fn pem(der: &[u8]) -> String {
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(der)
    )
}

/// A valid input for each operation each fixture key supports.
fn key_material_seeds() -> Vec<(String, Vec<u8>)> {
    const MESSAGE: &[u8] = b"a message to sign";
    let mut seeds = Vec::new();
    let mut add = |spec: KeySpec, op: KeyOp, variant: u8, parts: &[&[u8]]| {
        seeds.push((
            format!("seed-{spec:?}-{op:?}-{variant}"),
            key_material_input(spec, op, variant, parts),
        ));
    };
    for spec in KeySpec::ALL {
        let private = std::fs::read(root().join(format!("keys/{spec:?}.bin"))).expect("key");
        let key = fixture_key(spec);
        if spec == KeySpec::MlDsa65 {
            let pkcs8 = ml_dsa_seed_pkcs8(&private);
            Software
                .import(spec, &pkcs8)
                .expect("ML-DSA seed PKCS#8 imports");
            add(spec, KeyOp::Import, 0, &[&pkcs8]);
        } else {
            add(spec, KeyOp::Import, 0, &[&private]);
        }
        add(spec, KeyOp::Load, 0, &[&private]);
        match spec {
            KeySpec::Aes256 | KeySpec::Sm4 => {
                let sealed = key.seal(b"aad", MESSAGE).expect("seal");
                add(spec, KeyOp::Open, 0, &[b"aad", &sealed]);
            }
            KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 | KeySpec::HmacSm3 => {
                let mac = key.mac(MESSAGE).expect("mac");
                add(spec, KeyOp::VerifyMac, 0, &[MESSAGE, &mac]);
            }
            KeySpec::MlKem768 => {
                let (ciphertext, _) = key.encapsulate().expect("encapsulate");
                add(spec, KeyOp::Decapsulate, 0, &[&ciphertext]);
            }
            _ => {}
        }
        let Some(public) = key.public_key() else {
            continue;
        };
        let wraps: &[(u8, WrapAlgorithm)] = match spec {
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => &[
                (0, WrapAlgorithm::RsaOaepSha1),
                (1, WrapAlgorithm::RsaOaepSha256),
                (2, WrapAlgorithm::RsaPkcs1V15),
            ],
            KeySpec::Sm2 => &[(3, WrapAlgorithm::Sm2C1C3C2Asn1)],
            _ => &[],
        };
        for &(variant, wrap) in wraps {
            let ciphertext = encrypt_to_public_key(&pem(public), wrap, MESSAGE).expect("encrypt");
            add(spec, KeyOp::Decrypt, variant, &[&ciphertext]);
        }
        if matches!(spec, KeySpec::EccP256 | KeySpec::EccP384) {
            add(spec, KeyOp::Derive, 0, &[public]);
        }
        let allowed = SIGNING_ALGORITHMS.iter().filter(|a| a.allowed_for(spec));
        for (variant, &alg) in allowed.enumerate() {
            let variant = variant as u8;
            let signature = key.sign(alg, SignInput::Message(MESSAGE)).expect("sign");
            add(spec, KeyOp::VerifyMessage, variant, &[MESSAGE, &signature]);
            add(
                spec,
                KeyOp::VerifyWithPublicKey,
                variant,
                &[public, MESSAGE, &signature],
            );
            if let Some(len) = alg.digest_len() {
                let digest = vec![0x5a; len];
                let signature = key.sign(alg, SignInput::Digest(&digest)).expect("sign");
                add(spec, KeyOp::VerifyDigest, variant, &[&digest, &signature]);
                add(
                    spec,
                    KeyOp::VerifyWithPublicKey,
                    variant | 8,
                    &[public, &digest, &signature],
                );
            }
        }
    }
    seeds
}

#[test]
#[ignore = "writes seed files into fuzz/corpus"]
fn write_seeds() {
    let corpus = root().join("../../fuzz/corpus");
    for (name, data) in key_material_seeds() {
        kms_fuzz::key_material(&data);
        write(&corpus.join("key_material"), &name, &data);
    }
    for (i, data) in kms_fuzz::engine_blob_seeds().iter().enumerate() {
        kms_fuzz::engine_blobs(data);
        write(&corpus.join("engine_blobs"), &format!("seed-{i}"), data);
    }
    write_huawei_key_store_seeds();
}

#[test]
#[ignore = "writes seed files into fuzz/corpus"]
fn write_huawei_key_store_seeds() {
    let corpus = root().join("../../fuzz/corpus/huawei_key_stores");
    for (name, data) in kms_fuzz::huawei_key_store_seeds() {
        kms_fuzz::huawei_key_stores(&data);
        write(&corpus, &name, &data);
    }
}
