//! Every key type through the engine: generation, usage and spec gates, signatures, asymmetric
//! decryption, ML-KEM blobs, MACs, key agreement, rotation limits and cloud resource bindings.

use base64::Engine as _;
use kms_crypto::public_key::{WrapAlgorithm, encrypt_to_public_key};
use kms_crypto::{AsymmetricAlgorithm, SignInput, SigningAlgorithm};

use super::test_fixture::*;
use super::*;

fn create(f: &Fixture, alias: &str, usage: KeyUsage, spec: KeySpec) -> String {
    f.engine
        .create_key(
            &f.caller,
            NewKey {
                hsm_cluster: None,
                usage,
                spec,
                ..new_key(alias)
            },
        )
        .unwrap()
        .key_id
        .to_string()
}

fn pem(der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n")
}

#[test]
fn every_signing_spec_signs_and_verifies_messages_and_digests() {
    let f = fixture();
    let cases = [
        (KeySpec::Rsa2048, SigningAlgorithm::RsaPssSha256),
        (KeySpec::Rsa3072, SigningAlgorithm::RsaPkcs1Sha384),
        (KeySpec::EccP256, SigningAlgorithm::EcdsaSha256),
        (KeySpec::EccP384, SigningAlgorithm::EcdsaSha384),
        (KeySpec::EccSecp256k1, SigningAlgorithm::EcdsaSha256),
        (KeySpec::Sm2, SigningAlgorithm::Sm2Sm3),
        (KeySpec::Ed25519, SigningAlgorithm::Ed25519),
        (KeySpec::MlDsa65, SigningAlgorithm::MlDsa),
    ];
    for (i, (spec, alg)) in cases.into_iter().enumerate() {
        let id = create(&f, &format!("sign-{i}"), KeyUsage::SignVerify, spec);
        let message = b"a message to sign";
        let (_, sig) = f
            .engine
            .sign(&f.caller, &id, alg, SignInput::Message(message))
            .unwrap();
        let verify =
            |input, sig: &[u8]| f.engine.verify(&f.caller, &id, alg, input, sig).unwrap().1;
        assert!(verify(SignInput::Message(message), &sig), "{spec:?}");
        assert!(
            !verify(SignInput::Message(b"another message"), &sig),
            "{spec:?}"
        );
        if let Some(len) = alg.digest_len() {
            let digest = vec![0x5a; len];
            let (_, sig) = f
                .engine
                .sign(&f.caller, &id, alg, SignInput::Digest(&digest))
                .unwrap();
            assert!(verify(SignInput::Digest(&digest), &sig), "{spec:?}");
            assert!(matches!(
                f.engine
                    .sign(&f.caller, &id, alg, SignInput::Digest(&digest[1..])),
                Err(KmsError::InvalidDigestLength { .. })
            ));
        }
        let (key, public) = f.engine.get_public_key(&f.caller, &id).unwrap();
        assert_eq!(key.spec, spec);
        assert_eq!(Some(&public), key.versions[0].public_key.as_ref());
    }
}

#[test]
fn signing_refuses_wrong_algorithms_usages_states_and_sizes() {
    let f = fixture();
    let ecc = create(&f, "ecc", KeyUsage::SignVerify, KeySpec::EccP256);
    let message = SignInput::Message(b"m");
    assert!(matches!(
        f.engine
            .sign(&f.caller, &ecc, SigningAlgorithm::EcdsaSha384, message),
        Err(KmsError::AlgorithmMismatch { .. })
    ));
    assert!(matches!(
        f.engine.sign(
            &f.caller,
            &ecc,
            SigningAlgorithm::EcdsaSha256,
            SignInput::Message(&[0; 4097])
        ),
        Err(KmsError::OutOfRange {
            what: Bounded::MessageLength,
            ..
        })
    ));
    let aes = f.key("aes");
    assert!(matches!(
        f.engine
            .sign(&f.caller, &aes, SigningAlgorithm::EcdsaSha256, message),
        Err(KmsError::UnsupportedByKey {
            op: Operation::Sign,
            ..
        })
    ));
    assert!(matches!(
        f.engine.get_public_key(&f.caller, &aes),
        Err(KmsError::UnsupportedByKey { .. })
    ));
    assert!(matches!(
        f.engine
            .encrypt(&f.caller, &ecc, b"x", &EncryptionContext::default()),
        Err(KmsError::UnsupportedByKey {
            op: Operation::Encrypt,
            ..
        })
    ));
    f.engine.disable_key(&f.caller, &ecc).unwrap();
    assert!(matches!(
        f.engine
            .sign(&f.caller, &ecc, SigningAlgorithm::EcdsaSha256, message),
        Err(KmsError::InvalidKeyState {
            state: KeyState::Disabled,
            op: Operation::Sign
        })
    ));
}

#[test]
fn usage_and_spec_must_fit_at_creation() {
    let f = fixture();
    for (usage, spec) in [
        (KeyUsage::EncryptDecrypt, KeySpec::EccP256),
        (KeyUsage::SignVerify, KeySpec::Aes256),
        (KeyUsage::GenerateVerifyMac, KeySpec::Rsa2048),
        (KeyUsage::KeyAgreement, KeySpec::Sm2),
    ] {
        let made = f.engine.create_key(
            &f.caller,
            NewKey {
                hsm_cluster: None,
                usage,
                spec,
                ..new_key("misfit")
            },
        );
        assert_eq!(made.unwrap_err(), KmsError::UsageNotAllowed { usage, spec });
    }
}

#[test]
fn rsa_and_sm2_keys_decrypt_what_was_encrypted_to_their_public_keys() {
    let f = fixture();
    for (spec, wrap, alg) in [
        (
            KeySpec::Rsa2048,
            WrapAlgorithm::RsaOaepSha256,
            AsymmetricAlgorithm::RsaOaepSha256,
        ),
        (
            KeySpec::Rsa2048,
            WrapAlgorithm::RsaOaepSha1,
            AsymmetricAlgorithm::RsaOaepSha1,
        ),
        (
            KeySpec::Sm2,
            WrapAlgorithm::Sm2C1C3C2Asn1,
            AsymmetricAlgorithm::Sm2C1C3C2Asn1,
        ),
    ] {
        let id = create(
            &f,
            &format!("{spec:?}-{alg:?}"),
            KeyUsage::EncryptDecrypt,
            spec,
        );
        let (_, public) = f.engine.get_public_key(&f.caller, &id).unwrap();
        let ciphertext = encrypt_to_public_key(&pem(&public), wrap, b"secret").unwrap();
        let (_, plaintext) = f
            .engine
            .asymmetric_decrypt(&f.caller, &id, alg, &ciphertext)
            .unwrap();
        assert_eq!(&plaintext[..], b"secret");
        let mut tampered = ciphertext.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(
            f.engine
                .asymmetric_decrypt(&f.caller, &id, alg, &tampered)
                .unwrap_err(),
            KmsError::AsymmetricDecryptFailed
        );
    }
}

#[test]
fn ml_kem_keys_encrypt_into_blobs_only_they_open() {
    let f = fixture();
    let id = create(&f, "kyber", KeyUsage::EncryptDecrypt, KeySpec::MlKem768);
    let (_, blob) = f
        .engine
        .encrypt_post_quantum(&f.caller, &id, b"post-quantum secret")
        .unwrap();
    assert_eq!(blob[1], 3, "blob algorithm ML-KEM-768 with AES-256-GCM");
    let (key_id, plaintext) = f.engine.decrypt_post_quantum(&f.caller, &blob).unwrap();
    assert_eq!(
        (key_id.to_string(), &plaintext[..]),
        (id.clone(), &b"post-quantum secret"[..])
    );
    let mut tampered = blob.clone();
    tampered[30] ^= 1;
    assert_eq!(
        f.engine
            .decrypt_post_quantum(&f.caller, &tampered)
            .unwrap_err(),
        KmsError::InvalidCiphertext
    );
    assert!(matches!(
        f.engine
            .decrypt(&f.caller, &blob, &EncryptionContext::default()),
        Err(KmsError::UnsupportedByKey { .. })
    ));
    let aes = f.key("aes");
    let (_, aes_blob) = f
        .engine
        .encrypt(&f.caller, &aes, b"x", &EncryptionContext::default())
        .unwrap();
    assert!(matches!(
        f.engine.decrypt_post_quantum(&f.caller, &aes_blob),
        Err(KmsError::UnsupportedByKey { .. })
    ));
}

#[test]
fn sm4_keys_encrypt_with_sm4_gcm_and_import_sixteen_bytes() {
    let f = fixture();
    let id = create(&f, "sm4", KeyUsage::EncryptDecrypt, KeySpec::Sm4);
    let context = EncryptionContext::default();
    let (_, blob) = f
        .engine
        .encrypt(&f.caller, &id, b"national", &context)
        .unwrap();
    assert_eq!(blob[1], 2, "blob algorithm SM4-GCM");
    assert_eq!(
        &f.engine.decrypt(&f.caller, &blob, &context).unwrap().1[..],
        b"national"
    );
    f.engine.rotate_key(&f.caller, &id).unwrap();
    assert_eq!(
        &f.engine.decrypt(&f.caller, &blob, &context).unwrap().1[..],
        b"national"
    );
}

#[test]
fn hmac_keys_make_and_check_macs() {
    let f = fixture();
    for spec in [
        KeySpec::Hmac256,
        KeySpec::Hmac384,
        KeySpec::Hmac512,
        KeySpec::HmacSm3,
    ] {
        let id = create(&f, &format!("{spec:?}"), KeyUsage::GenerateVerifyMac, spec);
        let (_, mac) = f.engine.generate_mac(&f.caller, &id, b"message").unwrap();
        assert!(
            f.engine
                .verify_mac(&f.caller, &id, b"message", &mac)
                .unwrap()
                .1
        );
        assert!(
            !f.engine
                .verify_mac(&f.caller, &id, b"massage", &mac)
                .unwrap()
                .1
        );
        assert!(
            !f.engine
                .verify_mac(&f.caller, &id, b"message", &mac[1..])
                .unwrap()
                .1
        );
    }
}

#[test]
fn key_agreement_keys_derive_the_peers_secret() {
    let f = fixture();
    let a = create(&f, "a", KeyUsage::KeyAgreement, KeySpec::EccP256);
    let b = create(&f, "b", KeyUsage::KeyAgreement, KeySpec::EccP256);
    let (_, a_public) = f.engine.get_public_key(&f.caller, &a).unwrap();
    let (_, b_public) = f.engine.get_public_key(&f.caller, &b).unwrap();
    let (_, ab) = f
        .engine
        .derive_shared_secret(&f.caller, &a, &b_public)
        .unwrap();
    let (_, ba) = f
        .engine
        .derive_shared_secret(&f.caller, &b, &a_public)
        .unwrap();
    assert_eq!(ab, ba);
    assert_eq!(
        f.engine
            .derive_shared_secret(&f.caller, &a, b"not a key")
            .unwrap_err(),
        KmsError::InvalidPublicKey
    );
}

#[test]
fn only_block_cipher_keys_rotate() {
    let f = fixture();
    let rsa = create(&f, "rsa", KeyUsage::SignVerify, KeySpec::Rsa2048);
    assert_eq!(
        f.engine.rotate_key(&f.caller, &rsa).unwrap_err(),
        KmsError::RotationNotSupported {
            spec: KeySpec::Rsa2048
        }
    );
    assert_eq!(
        f.engine.enable_rotation(&f.caller, &rsa, 30).unwrap_err(),
        KmsError::RotationNotSupported {
            spec: KeySpec::Rsa2048
        }
    );
}

#[test]
fn a_bound_key_cannot_be_scheduled_for_deletion() {
    let f = fixture();
    let id = f.key("bound");
    f.engine
        .bind_cloud_resource(&f.caller, &id, "cvm", "ins-1")
        .unwrap();
    f.engine
        .bind_cloud_resource(&f.caller, &id, "cvm", "ins-1")
        .unwrap();
    f.engine.disable_key(&f.caller, &id).unwrap();
    assert_eq!(
        f.engine
            .schedule_deletion(&f.caller, &id, 7, DeletableFrom::Disabled)
            .unwrap_err(),
        KmsError::KeyInUse
    );
    assert_eq!(
        f.engine
            .unbind_cloud_resource(&f.caller, &id, "cvm", "ins-2")
            .unwrap_err(),
        KmsError::BindingNotFound
    );
    f.engine
        .unbind_cloud_resource(&f.caller, &id, "cvm", "ins-1")
        .unwrap();
    f.engine
        .schedule_deletion(&f.caller, &id, 7, DeletableFrom::Disabled)
        .unwrap();
}
