//! The HSM crypto provider against SoftHSM2: keys made and used inside the token, the store
//! given only a reference.

mod softhsm;

use std::sync::Arc;

use cryptoki::object::{Attribute, AttributeType};
use kms_crypto::{CryptoError, CryptoProvider, KeySpec};
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
    for spec in KeySpec::ALL.into_iter().filter(|s| *s != KeySpec::Aes256) {
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
            assert!(text.contains("holds 0 keys with the stored ID"), "{text}")
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
