//! The HSM crypto provider against SoftHSM2: keys made and used inside the token, the store
//! given only a reference.

mod softhsm;

use std::sync::Arc;

use cryptoki::object::{Attribute, AttributeType};
use kms_crypto::{
    AsymmetricAlgorithm, CryptoError, CryptoProvider, KeySpec, SignInput, SigningAlgorithm,
    Software,
};
use kms_hsm::provider::{HsmProvider, REFERENCE_MAGIC};
use kms_hsm::Token;

use softhsm::*;

fn token() -> Token {
    Token::open(&softhsm().module, SEAL_TOKEN, &pin(USER_PIN)).unwrap()
}

fn provider() -> HsmProvider {
    HsmProvider::new(token())
}

#[test]
fn an_aes_key_is_made_in_the_token_and_the_store_gets_only_its_reference() {
    let provider = provider();
    let material = provider.generate(KeySpec::Aes256).unwrap();
    assert_eq!(material.public, None);
    assert_eq!(material.private.len(), REFERENCE_MAGIC.len() + 16);
    assert_eq!(&material.private[..8], REFERENCE_MAGIC);

    let id = material.private[8..].to_vec();
    let token = token();
    let attributes = token
        .with_session(|session| {
            let found = session.find_objects(&[Attribute::Id(id.clone())])?;
            assert_eq!(found.len(), 1);
            session.get_attributes(
                found[0],
                &[
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::Token,
                    AttributeType::ValueLen,
                    AttributeType::Label,
                ],
            )
        })
        .unwrap();
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    for attribute in attributes {
        match attribute {
            Attribute::Sensitive(sensitive) => assert!(sensitive),
            Attribute::Extractable(extractable) => assert!(!extractable),
            Attribute::Token(on_token) => assert!(on_token),
            Attribute::ValueLen(len) => assert_eq!(u64::from(len), 32),
            Attribute::Label(label) => assert_eq!(label, format!("kmsd-{hex}").into_bytes()),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn seals_and_opens_inside_the_token_and_refuses_changed_blobs() {
    let provider = provider();
    let material = provider.generate(KeySpec::Aes256).unwrap();
    let key = provider.load(KeySpec::Aes256, &material.private).unwrap();
    assert_eq!(key.spec(), KeySpec::Aes256);
    assert_eq!(key.public_key(), None);
    let sealed = key.seal(b"context", b"plaintext").unwrap();
    assert_eq!(
        sealed.len(),
        12 + 9 + 16,
        "IV, ciphertext and tag, as the software key's"
    );
    assert_eq!(&key.open(b"context", &sealed).unwrap()[..], b"plaintext");
    assert_ne!(
        key.seal(b"context", b"plaintext").unwrap()[..12],
        sealed[..12]
    );
    assert!(matches!(
        key.open(b"other context", &sealed),
        Err(CryptoError::DecryptFailed)
    ));
    for at in [0, 12, sealed.len() - 1] {
        let mut changed = sealed.clone();
        changed[at] ^= 0x80;
        assert!(matches!(
            key.open(b"context", &changed),
            Err(CryptoError::DecryptFailed)
        ));
    }
    for cut in [0, 11, 27] {
        assert!(matches!(
            key.open(b"context", &sealed[..cut]),
            Err(CryptoError::DecryptFailed)
        ));
    }
    let empty = key.seal(b"", b"").unwrap();
    assert_eq!(&key.open(b"", &empty).unwrap()[..], b"");

    // Another login (as after a restart) finds the key by its reference.
    let again = HsmProvider::new(token())
        .load(KeySpec::Aes256, &material.private)
        .unwrap();
    assert_eq!(&again.open(b"context", &sealed).unwrap()[..], b"plaintext");
    let other = provider.generate(KeySpec::Aes256).unwrap();
    let other = provider.load(KeySpec::Aes256, &other.private).unwrap();
    assert!(matches!(
        other.open(b"context", &sealed),
        Err(CryptoError::DecryptFailed)
    ));
}

#[test]
fn other_specs_imports_and_unknown_references_are_refused() {
    let provider = provider();
    let made_here = [
        KeySpec::Aes256,
        KeySpec::EccP256,
        KeySpec::EccP384,
        KeySpec::Rsa2048,
        KeySpec::Rsa3072,
        KeySpec::Rsa4096,
    ];
    for spec in KeySpec::ALL.into_iter().filter(|s| !made_here.contains(s)) {
        assert!(
            matches!(
                provider.generate(spec),
                Err(CryptoError::Unsupported { .. })
            ),
            "{spec:?}"
        );
        assert!(matches!(
            provider.load(spec, &[0; 24]),
            Err(CryptoError::Unsupported { .. })
        ));
    }
    assert!(matches!(
        provider.import(KeySpec::Aes256, &[7; 32]),
        Err(CryptoError::Unsupported { .. })
    ));
    assert!(matches!(
        provider.load(KeySpec::Aes256, &[7; 32]),
        Err(CryptoError::InvalidKeyMaterial(_))
    ));
    let mut unknown = REFERENCE_MAGIC.to_vec();
    unknown.extend_from_slice(&[0xee; 16]);
    match provider.load(KeySpec::Aes256, &unknown) {
        Err(CryptoError::Backend(text)) => {
            assert!(
                text.contains("holds 0 ") && text.contains(" objects with the stored ID"),
                "{text}"
            )
        }
        other => panic!("{:?}", other.err()),
    }
    unknown.push(0);
    assert!(matches!(
        provider.load(KeySpec::Aes256, &unknown),
        Err(CryptoError::InvalidKeyMaterial(_))
    ));
}

#[test]
fn keys_made_and_used_from_sixteen_threads() {
    let provider = Arc::new(provider());
    let threads: Vec<_> = (0..16u8)
        .map(|n| {
            let provider = provider.clone();
            std::thread::spawn(move || {
                let material = provider.generate(KeySpec::Aes256).unwrap();
                let key = provider.load(KeySpec::Aes256, &material.private).unwrap();
                for round in 0..20u8 {
                    let sealed = key.seal(&[n], &[round; 40]).unwrap();
                    assert_eq!(&key.open(&[n], &sealed).unwrap()[..], [round; 40]);
                }
                material.private.to_vec()
            })
        })
        .collect();
    let mut references: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    references.sort();
    references.dedup();
    assert_eq!(references.len(), 16, "each key has its own ID");
}

#[test]
fn ec_keys_sign_inside_the_token_and_verify_with_their_public_key() {
    let provider = provider();
    for (spec, alg, digest_len) in [
        (KeySpec::EccP256, SigningAlgorithm::EcdsaSha256, 32),
        (KeySpec::EccP384, SigningAlgorithm::EcdsaSha384, 48),
    ] {
        let material = provider.generate(spec).unwrap();
        let public = material.public.clone().unwrap();
        assert_eq!(material.private.len(), 24, "{spec:?}: only the reference");
        let key = provider.load(spec, &material.private).unwrap();
        assert_eq!(key.public_key(), Some(&public[..]), "{spec:?}");
        let id = material.private[8..].to_vec();
        let kept_inside = token()
            .with_session(|session| {
                let found = session.find_objects(&[
                    Attribute::Class(cryptoki::object::ObjectClass::PRIVATE_KEY),
                    Attribute::Id(id.clone()),
                ])?;
                session.get_attributes(
                    found[0],
                    &[AttributeType::Sensitive, AttributeType::Extractable],
                )
            })
            .unwrap();
        assert!(
            matches!(
                kept_inside[..],
                [Attribute::Sensitive(true), Attribute::Extractable(false)]
            ),
            "{kept_inside:?}"
        );

        let message = b"a message signed in the HSM";
        let signature = key.sign(alg, SignInput::Message(message)).unwrap();
        assert_eq!(
            signature[0], 0x30,
            "{spec:?}: DER, as the software key signs"
        );
        let verify = |input: SignInput<'_>, signature: &[u8]| {
            Software
                .verify_with_public_key(spec, &public, alg, input, signature)
                .unwrap()
        };
        assert!(verify(SignInput::Message(message), &signature), "{spec:?}");
        assert!(!verify(SignInput::Message(b"another message"), &signature));
        assert!(key
            .verify(alg, SignInput::Message(message), &signature)
            .unwrap());
        assert!(provider
            .verify_with_public_key(spec, &public, alg, SignInput::Message(message), &signature)
            .unwrap());

        // A digest the caller computed signs the same message.
        let digest = key_digest(spec, message);
        let signed_digest = key.sign(alg, SignInput::Digest(&digest)).unwrap();
        assert!(
            verify(SignInput::Message(message), &signed_digest),
            "{spec:?}"
        );
        assert!(matches!(
            key.sign(alg, SignInput::Digest(&digest[1..])),
            Err(CryptoError::InvalidDigestLength { expected, actual })
                if expected == digest_len && actual == digest_len - 1
        ));
        let wrong = if alg == SigningAlgorithm::EcdsaSha256 {
            SigningAlgorithm::EcdsaSha384
        } else {
            SigningAlgorithm::EcdsaSha256
        };
        assert!(matches!(
            key.sign(wrong, SignInput::Message(message)),
            Err(CryptoError::AlgorithmMismatch { .. })
        ));
        assert!(matches!(
            key.decrypt(AsymmetricAlgorithm::RsaOaepSha256, &[0; 64]),
            Err(CryptoError::Unsupported { .. })
        ));
        assert!(matches!(
            key.seal(b"", b"x"),
            Err(CryptoError::Unsupported { .. })
        ));

        let again = HsmProvider::new(token())
            .load(spec, &material.private)
            .unwrap();
        assert_eq!(again.public_key(), Some(&public[..]));
        assert!(matches!(
            provider.load(KeySpec::Aes256, &material.private),
            Err(CryptoError::Backend(_))
        ));
    }
}

/// The hash each curve's algorithm signs, computed outside the token (SHA-256 from kms-crypto,
/// SHA-384 by the token's own digest, since kms-crypto exposes no SHA-384).
fn key_digest(spec: KeySpec, message: &[u8]) -> Vec<u8> {
    match spec {
        KeySpec::EccP256 => kms_crypto::digest::sha256(message).to_vec(),
        _ => token()
            .with_session(|session| {
                session.digest(&cryptoki::mechanism::Mechanism::Sha384, message)
            })
            .unwrap(),
    }
}

fn pem(spki: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(spki);
    format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n")
}

#[test]
fn an_rsa_key_signs_and_decrypts_inside_the_token() {
    use kms_crypto::public_key::{encrypt_to_public_key, WrapAlgorithm};
    let provider = provider();
    let material = provider.generate(KeySpec::Rsa2048).unwrap();
    let public = material.public.clone().unwrap();
    assert_eq!(material.private.len(), 24, "only the reference");
    let key = provider.load(KeySpec::Rsa2048, &material.private).unwrap();
    assert_eq!(key.public_key(), Some(&public[..]));

    let message = b"signed by an RSA key in the HSM";
    for alg in [
        SigningAlgorithm::RsaPkcs1Sha256,
        SigningAlgorithm::RsaPkcs1Sha384,
        SigningAlgorithm::RsaPkcs1Sha512,
        SigningAlgorithm::RsaPssSha256,
        SigningAlgorithm::RsaPssSha384,
        SigningAlgorithm::RsaPssSha512,
    ] {
        let signature = key.sign(alg, SignInput::Message(message)).unwrap();
        assert_eq!(signature.len(), 256, "{alg:?}");
        let verify = |input: SignInput<'_>, signature: &[u8]| {
            Software
                .verify_with_public_key(KeySpec::Rsa2048, &public, alg, input, signature)
                .unwrap()
        };
        assert!(verify(SignInput::Message(message), &signature), "{alg:?}");
        assert!(!verify(SignInput::Message(b"other"), &signature), "{alg:?}");
        assert!(key
            .verify(alg, SignInput::Message(message), &signature)
            .unwrap());
    }
    let digest = kms_crypto::digest::sha256(message);
    for alg in [
        SigningAlgorithm::RsaPkcs1Sha256,
        SigningAlgorithm::RsaPssSha256,
    ] {
        let signature = key.sign(alg, SignInput::Digest(&digest)).unwrap();
        assert!(
            key.verify(alg, SignInput::Message(message), &signature)
                .unwrap(),
            "{alg:?}: a digest the caller computed signs the message"
        );
    }
    assert!(matches!(
        key.sign(SigningAlgorithm::EcdsaSha256, SignInput::Message(message)),
        Err(CryptoError::AlgorithmMismatch { .. })
    ));

    let pem = pem(&public);
    for (wrap, alg) in [
        (WrapAlgorithm::RsaOaepSha1, AsymmetricAlgorithm::RsaOaepSha1),
        (WrapAlgorithm::RsaPkcs1V15, AsymmetricAlgorithm::RsaPkcs1v15),
    ] {
        let ciphertext = encrypt_to_public_key(&pem, wrap, b"for the HSM only").unwrap();
        assert_eq!(
            &key.decrypt(alg, &ciphertext).unwrap()[..],
            b"for the HSM only"
        );
        let mut changed = ciphertext.clone();
        changed[100] ^= 1;
        assert!(
            matches!(key.decrypt(alg, &changed), Err(CryptoError::DecryptFailed)),
            "{alg:?}"
        );
    }
    // SoftHSM2 offers OAEP with SHA-1 only; a token that refuses a mechanism answers
    // unsupported, never a wrong plaintext.
    let ciphertext =
        encrypt_to_public_key(&pem, WrapAlgorithm::RsaOaepSha256, b"sha-256 oaep").unwrap();
    match key.decrypt(AsymmetricAlgorithm::RsaOaepSha256, &ciphertext) {
        Ok(plaintext) => assert_eq!(&plaintext[..], b"sha-256 oaep"),
        Err(e) => assert!(matches!(e, CryptoError::Unsupported { .. }), "{e:?}"),
    }
    assert!(matches!(
        key.decrypt(AsymmetricAlgorithm::Sm2C1C3C2Asn1, &ciphertext),
        Err(CryptoError::AlgorithmMismatch { .. })
    ));
    let again = HsmProvider::new(token())
        .load(KeySpec::Rsa2048, &material.private)
        .unwrap();
    assert_eq!(again.public_key(), Some(&public[..]));
}
