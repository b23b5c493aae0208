//! The walk of a root key rotation over a store holding every kind of sealed secret: afterwards
//! every blob is under the new generation, the old one opens nothing, and what was made before
//! still works (ciphertext decrypts, credentials and the token key open).

use std::sync::Arc;

use zeroize::Zeroizing;

use kms_core::accounts::{create_account, Directory, NewAccount};
use kms_core::engine::reseal::reseal_all;
use kms_core::engine::NewKey;
use kms_core::store::Record;
use kms_core::testing::MemoryStore;
use kms_core::{
    Caller, EncryptionContext, Engine, EngineConfig, KeySpec, KeyUsage, ManualClock, Origin,
    Store as _,
};
use kms_crypto::wrapping::{WrappingAlgorithm, WrappingKeySpec};
use kms_crypto::Aes256GcmKey;
use kms_seal::keyring::{Keyring, RootKeys};

const NOW: u64 = 1_700_000_000;

/// Every sealed blob the store holds.
fn blobs(store: &MemoryStore) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    store
        .export(&mut |record| {
            match record {
                Record::Key(key) => {
                    out.extend(key.versions.into_iter().map(|v| v.sealed_material));
                    out.extend(
                        key.import_parameters
                            .into_iter()
                            .map(|p| p.sealed_private_key),
                    );
                }
                Record::Account(account) => out.push(account.sealed_secret_key),
                Record::Identity(identity) => {
                    out.extend(
                        identity
                            .credentials
                            .into_values()
                            .map(|c| c.sealed_secret_key),
                    );
                    out.extend(identity.sealed_token_key);
                }
                _ => {}
            }
            Ok(())
        })
        .unwrap();
    out
}

#[test]
fn a_walk_moves_every_secret_to_the_new_generation() {
    let store = Arc::new(MemoryStore::default());
    let file_key = Aes256GcmKey::generate().unwrap();
    let mut keyring = Keyring::legacy(file_key.clone());
    let keys = Arc::new(RootKeys::unsealed(keyring.clone()));
    let account = NewAccount {
        uin: 100,
        app_id: 100,
        secret_id: "AKIDrotation".into(),
        secret_key: Zeroizing::new("rotation-secret".into()),
        project_id: "0123456789abcdef0123456789abcdef".into(),
    };
    create_account(store.as_ref(), keys.as_ref(), &account, NOW).unwrap();
    kms_core::identity::migrate(store.as_ref()).unwrap();
    let token_key = kms_core::identity::token_key(store.as_ref(), keys.as_ref()).unwrap();
    let engine = Engine::new(
        store.clone(),
        keys.clone(),
        Arc::new(ManualClock::new(NOW)),
        EngineConfig::default(),
    );
    let caller = Caller {
        account: 100,
        user: None,
        credential: "AKIDrotation".into(),
        region: "ap-guangzhou".into(),
        authority: None,
    };
    let new_key = |alias: &str, origin| NewKey {
        alias: alias.into(),
        description: String::new(),
        usage: KeyUsage::EncryptDecrypt,
        spec: KeySpec::Aes256,
        origin,
        tags: Vec::new(),
        hsm_cluster: None,
    };
    let context = EncryptionContext::default();
    let aes = engine
        .create_key(&caller, new_key("made-here", Origin::Kms))
        .unwrap()
        .key_id
        .to_string();
    let (_, ciphertext) = engine
        .encrypt(&caller, &aes, b"made before", &context)
        .unwrap();
    let external = engine
        .create_key(&caller, new_key("brought", Origin::External))
        .unwrap()
        .key_id
        .to_string();
    engine
        .get_parameters_for_import(
            &caller,
            &external,
            WrappingAlgorithm::RsaesOaepSha256,
            WrappingKeySpec::Rsa2048,
        )
        .unwrap();
    assert!(blobs(&store).iter().all(|b| Keyring::generation_of(b) == 0));

    keyring.add_generation().unwrap();
    keys.install(keyring.clone());
    let stale = |blob: &[u8]| Keyring::generation_of(blob) != 1;
    let walked = reseal_all(store.as_ref(), keys.as_ref(), &stale).unwrap();
    assert_eq!(
        (walked.keys, walked.accounts, walked.identity_secrets),
        (2, 1, 2),
        "two keys, the account's original credential, its copy in the identity document and \
         the token key"
    );
    assert_eq!(
        reseal_all(store.as_ref(), keys.as_ref(), &stale)
            .unwrap()
            .total(),
        0,
        "a second walk finds nothing stale"
    );
    let moved = blobs(&store);
    assert_eq!(moved.len(), 5);
    assert!(moved.iter().all(|b| Keyring::generation_of(b) == 1));
    assert!(
        moved.iter().all(|b| file_key.open(b"", b).is_err()),
        "no blob is a bare generation-0 blob any more"
    );

    keyring.retire_old_generations();
    keys.install(keyring);
    let fresh = Engine::new(
        store.clone(),
        keys.clone(),
        Arc::new(ManualClock::new(NOW)),
        EngineConfig::default(),
    );
    let (_, plaintext) = fresh.decrypt(&caller, &ciphertext, &context).unwrap();
    assert_eq!(&plaintext[..], b"made before");
    let directory = Directory::load(store.as_ref(), keys.as_ref()).unwrap();
    assert_eq!(
        directory.by_secret_id("AKIDrotation").unwrap().secret_key(),
        b"rotation-secret"
    );
    assert_eq!(
        kms_core::identity::token_key(store.as_ref(), keys.as_ref()).unwrap(),
        token_key
    );
    let old_only = RootKeys::unsealed(Keyring::legacy(file_key));
    assert!(
        Directory::load(store.as_ref(), &old_only).is_err(),
        "the retired key opens no credential"
    );
}
