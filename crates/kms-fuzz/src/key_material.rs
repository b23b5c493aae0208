//! Client-controlled bytes against the crypto provider: customer key material, ciphertexts,
//! peer public keys, KEM ciphertexts, sealed data, signatures and MACs, each against a loaded
//! key of every spec.
//!
//! Input: `spec (1) | operation (1) | payload`. The spec byte picks `KeySpec::ALL[b % 16]`; the
//! low four bits of the operation byte pick the [`KeyOp`], the high four a variant (the
//! asymmetric algorithm, the signing algorithm). Payloads of several parts are split by
//! [`split`]: a two-byte big-endian length, then that many bytes, then the rest.

use std::sync::{Arc, OnceLock};

use kms_crypto::{
    AsymmetricAlgorithm, CryptoProvider, KeyHandle, KeySpec, SignInput, SigningAlgorithm, Software,
};

/// The stored private material of the fixture keys, one per spec in `KeySpec::ALL` order,
/// made once by `Software::generate` (`tests/seeds.rs`, `write_fixture_keys`). Fixed keys make
/// the committed seeds (real ciphertexts, signatures, MACs) valid on every run. They are test
/// keys and protect nothing.
const FIXTURE_KEYS: [&[u8]; 16] = [
    include_bytes!("../keys/Aes256.bin"),
    include_bytes!("../keys/Sm4.bin"),
    include_bytes!("../keys/Rsa2048.bin"),
    include_bytes!("../keys/Rsa3072.bin"),
    include_bytes!("../keys/Rsa4096.bin"),
    include_bytes!("../keys/EccP256.bin"),
    include_bytes!("../keys/EccP384.bin"),
    include_bytes!("../keys/EccSecp256k1.bin"),
    include_bytes!("../keys/Sm2.bin"),
    include_bytes!("../keys/Ed25519.bin"),
    include_bytes!("../keys/Hmac256.bin"),
    include_bytes!("../keys/Hmac384.bin"),
    include_bytes!("../keys/Hmac512.bin"),
    include_bytes!("../keys/HmacSm3.bin"),
    include_bytes!("../keys/MlKem768.bin"),
    include_bytes!("../keys/MlDsa65.bin"),
];

/// Every signing algorithm; a spec's allowed ones are picked by `allowed_for`.
pub const SIGNING_ALGORITHMS: [SigningAlgorithm; 11] = [
    SigningAlgorithm::RsaPssSha256,
    SigningAlgorithm::RsaPssSha384,
    SigningAlgorithm::RsaPssSha512,
    SigningAlgorithm::RsaPkcs1Sha256,
    SigningAlgorithm::RsaPkcs1Sha384,
    SigningAlgorithm::RsaPkcs1Sha512,
    SigningAlgorithm::EcdsaSha256,
    SigningAlgorithm::EcdsaSha384,
    SigningAlgorithm::Sm2Sm3,
    SigningAlgorithm::Ed25519,
    SigningAlgorithm::MlDsa,
];

/// Every public-key encryption scheme, indexed by the variant.
pub const ASYMMETRIC_ALGORITHMS: [AsymmetricAlgorithm; 4] = [
    AsymmetricAlgorithm::RsaOaepSha1,
    AsymmetricAlgorithm::RsaOaepSha256,
    AsymmetricAlgorithm::RsaPkcs1v15,
    AsymmetricAlgorithm::Sm2C1C3C2Asn1,
];

/// The operation an input runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOp {
    /// `Software::import(spec, payload)`.
    Import = 0,
    /// `Software::load(spec, payload)`.
    Load = 1,
    /// `decrypt(ASYMMETRIC_ALGORITHMS[variant % 4], payload)`.
    Decrypt = 2,
    /// `derive_shared_secret(payload)`.
    Derive = 3,
    /// `decapsulate(payload)`.
    Decapsulate = 4,
    /// `open(aad, sealed)`, split.
    Open = 5,
    /// `verify(alg, Message(message), signature)`, split.
    VerifyMessage = 6,
    /// `verify(alg, Digest(digest), signature)`, split.
    VerifyDigest = 7,
    /// `verify_with_public_key(spec, public, alg, input, signature)`, split twice; the input is
    /// a digest when the variant's high bit is set.
    VerifyWithPublicKey = 8,
    /// `verify_mac(message, mac)`, split.
    VerifyMac = 9,
}

impl KeyOp {
    fn from_nibble(n: u8) -> Option<Self> {
        use KeyOp::*;
        [
            Import,
            Load,
            Decrypt,
            Derive,
            Decapsulate,
            Open,
            VerifyMessage,
            VerifyDigest,
            VerifyWithPublicKey,
            VerifyMac,
        ]
        .get(usize::from(n))
        .copied()
    }
}

/// The fixture key of `spec`, loaded once.
pub fn fixture_key(spec: KeySpec) -> &'static Arc<dyn KeyHandle> {
    static KEYS: OnceLock<Vec<Arc<dyn KeyHandle>>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        KeySpec::ALL
            .iter()
            .zip(FIXTURE_KEYS)
            .map(|(&spec, private)| {
                Software
                    .load(spec, private)
                    .unwrap_or_else(|e| panic!("fixture key {spec:?}: {e}"))
            })
            .collect()
    });
    &keys[spec_index(spec)]
}

fn spec_index(spec: KeySpec) -> usize {
    KeySpec::ALL
        .iter()
        .position(|&s| s == spec)
        .expect("every spec is in ALL")
}

/// The signing algorithm a variant picks for `spec`: one it allows, or for specs that sign
/// nothing any algorithm (so the mismatch paths run too).
pub fn signing_algorithm(spec: KeySpec, variant: u8) -> SigningAlgorithm {
    let allowed: Vec<_> = SIGNING_ALGORITHMS
        .into_iter()
        .filter(|a| a.allowed_for(spec))
        .collect();
    let pool = if allowed.is_empty() {
        &SIGNING_ALGORITHMS[..]
    } else {
        &allowed[..]
    };
    pool[usize::from(variant & 0x7) % pool.len()]
}

/// Splits at a two-byte big-endian length prefix (clamped to what is there).
fn split(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return (&[], &[]);
    };
    rest.split_at(usize::from(u16::from_be_bytes(*len)).min(rest.len()))
}

/// The input that runs `op` with `variant` on the fixture key of `spec`, with `parts` joined as
/// [`split`] reads them.
pub fn key_material_input(spec: KeySpec, op: KeyOp, variant: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![spec_index(spec) as u8, (op as u8) | (variant << 4)];
    if let Some((last, init)) = parts.split_last() {
        for part in init {
            let len = u16::try_from(part.len()).expect("a part fits a two-byte length");
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(part);
        }
        out.extend_from_slice(last);
    }
    out
}

/// The body: nothing panics, and material that imports loads and works.
pub fn key_material(data: &[u8]) {
    let [spec, op, payload @ ..] = data else {
        return;
    };
    let spec = KeySpec::ALL[usize::from(*spec) % KeySpec::ALL.len()];
    let variant = op >> 4;
    let Some(op) = KeyOp::from_nibble(op & 0x0f) else {
        return;
    };
    let key = fixture_key(spec);
    match op {
        KeyOp::Import => import(spec, payload),
        KeyOp::Load => {
            if let Ok(handle) = Software.load(spec, payload) {
                assert_eq!(handle.spec(), spec);
                assert_eq!(handle.public_key().is_some(), spec.has_public_key());
            }
        }
        KeyOp::Decrypt => {
            let alg = ASYMMETRIC_ALGORITHMS[usize::from(variant) % ASYMMETRIC_ALGORITHMS.len()];
            let _ = key.decrypt(alg, payload);
        }
        KeyOp::Derive => {
            if let Ok(secret) = key.derive_shared_secret(payload) {
                assert!(!secret.is_empty());
            }
        }
        KeyOp::Decapsulate => {
            if let Ok(secret) = key.decapsulate(payload) {
                assert_eq!(secret.len(), 32, "ML-KEM shared secrets are 32 bytes");
            }
        }
        KeyOp::Open => {
            let (aad, sealed) = split(payload);
            let _ = key.open(aad, sealed);
        }
        KeyOp::VerifyMessage | KeyOp::VerifyDigest => {
            let (input, signature) = split(payload);
            let input = if op == KeyOp::VerifyDigest {
                SignInput::Digest(input)
            } else {
                SignInput::Message(input)
            };
            let _ = key.verify(signing_algorithm(spec, variant), input, signature);
        }
        KeyOp::VerifyWithPublicKey => {
            let (public, rest) = split(payload);
            let (input, signature) = split(rest);
            let input = if variant & 0x8 != 0 {
                SignInput::Digest(input)
            } else {
                SignInput::Message(input)
            };
            let alg = signing_algorithm(spec, variant);
            let _ = Software.verify_with_public_key(spec, public, alg, input, signature);
        }
        KeyOp::VerifyMac => {
            let (message, mac) = split(payload);
            let _ = key.verify_mac(message, mac);
        }
    }
}

/// Imported material must load, report the same public key, and work: a cheap round trip
/// through the loaded key (a fresh signature verified with the public key alone, for signing
/// specs).
fn import(spec: KeySpec, material: &[u8]) {
    let Ok(imported) = Software.import(spec, material) else {
        return;
    };
    let handle = Software
        .load(spec, &imported.private)
        .expect("imported material loads");
    assert_eq!(handle.public_key(), imported.public.as_deref());
    const MESSAGE: &[u8] = b"fuzz";
    match spec {
        KeySpec::Aes256 | KeySpec::Sm4 => {
            let sealed = handle.seal(b"aad", MESSAGE).expect("seal");
            assert_eq!(handle.open(b"aad", &sealed).expect("open")[..], *MESSAGE);
        }
        KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 | KeySpec::HmacSm3 => {
            let mac = handle.mac(MESSAGE).expect("mac");
            assert!(handle.verify_mac(MESSAGE, &mac).expect("verify_mac"));
        }
        KeySpec::MlKem768 => {
            // Import checks the pair, so what imports decapsulates what it encapsulates.
            let (ciphertext, sent) = handle.encapsulate().expect("encapsulate");
            assert_eq!(handle.decapsulate(&ciphertext).expect("decapsulate"), sent);
        }
        _ => {
            let alg = signing_algorithm(spec, 0);
            let public = imported
                .public
                .as_deref()
                .expect("a signing key has a public key");
            let signature = handle.sign(alg, SignInput::Message(MESSAGE)).expect("sign");
            assert!(
                Software
                    .verify_with_public_key(
                        spec,
                        public,
                        alg,
                        SignInput::Message(MESSAGE),
                        &signature
                    )
                    .expect("verify_with_public_key"),
                "{spec:?}: a fresh signature of imported material verifies with its public key"
            );
        }
    }
}
