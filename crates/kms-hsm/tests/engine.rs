//! The engine with an HSM cluster: keys created there are made and used in the token, and the
//! store keeps only references to them.

mod cluster;
mod softhsm;

use std::sync::Arc;

use cryptoki::object::Attribute;
use kms_core::engine::nonblocking::without_blocking;
use kms_core::engine::NewKey;
use kms_core::testing::{MemorySeal, MemoryStore};
use kms_core::{
    DeletableFrom, EncryptionContext, Engine, EngineConfig, KeyUsage, KmsError, ManualClock,
    Origin, Seal as _, Store as _, SystemClock,
};
use kms_crypto::KeySpec;
use kms_hsm::provider::{HsmProvider, REFERENCE_MAGIC};
use kms_hsm::Token;

use cluster::*;
use softhsm::*;

#[test]
fn a_key_of_an_hsm_cluster_encrypts_in_the_token_and_is_stored_as_a_reference() {
    let store = Arc::new(MemoryStore::default());
    let seal = Arc::new(MemorySeal::generate());
    let token = Token::open(&softhsm().module, SEAL_TOKEN, &pin(USER_PIN)).unwrap();
    let engine = Engine::new(
        store.clone(),
        seal.clone(),
        Arc::new(SystemClock),
        EngineConfig::default(),
    )
    .with_hsm_cluster(CLUSTER, Arc::new(HsmProvider::new(token)));
    assert!(engine.has_hsm_cluster(CLUSTER) && !engine.has_hsm_cluster("cls-other"));
    let caller = caller();
    let context = EncryptionContext::default();

    let key = engine
        .create_key(&caller, new_key("in-hsm", Some(CLUSTER), Origin::Kms))
        .unwrap();
    assert_eq!(key.hsm_cluster.as_deref(), Some(CLUSTER));
    let key_id = key.key_id.to_string();
    let (_, blob) = engine
        .encrypt(&caller, &key_id, b"inside", &context)
        .unwrap();
    assert_eq!(
        &engine.decrypt(&caller, &blob, &context).unwrap().1[..],
        b"inside"
    );

    engine.rotate_key(&caller, &key_id).unwrap();
    let (_, newer) = engine
        .encrypt(&caller, &key_id, b"rotated", &context)
        .unwrap();
    assert_eq!(
        &engine.decrypt(&caller, &blob, &context).unwrap().1[..],
        b"inside"
    );
    assert_eq!(
        &engine.decrypt(&caller, &newer, &context).unwrap().1[..],
        b"rotated"
    );

    let stored = store.get_key(&key.key_id).unwrap().unwrap();
    assert_eq!(stored.hsm_cluster.as_deref(), Some(CLUSTER));
    assert_eq!(stored.versions.len(), 2);
    for version in &stored.versions {
        let aad = kms_core::engine::material_aad(key.key_id, version.version);
        let material = seal.unseal(&aad, &version.sealed_material).unwrap();
        assert_eq!(material.len(), 24, "a reference, not key material");
        assert_eq!(&material[..8], REFERENCE_MAGIC);
    }

    // A software key beside it is unchanged.
    let soft = engine
        .create_key(&caller, new_key("in-software", None, Origin::Kms))
        .unwrap();
    assert_eq!(soft.hsm_cluster, None);
    let (_, soft_blob) = engine
        .encrypt(&caller, &soft.key_id.to_string(), b"software", &context)
        .unwrap();
    assert_eq!(
        &engine.decrypt(&caller, &soft_blob, &context).unwrap().1[..],
        b"software"
    );

    // The server's async workers hand a call that needs the token to the blocking pool; a
    // software key's stays on them.
    let inline = |blob: &[u8]| without_blocking(|| engine.decrypt(&caller, blob, &context));
    assert!(inline(&blob).is_none());
    assert!(inline(&soft_blob).is_some_and(|answer| answer.is_ok()));
}

#[test]
fn unknown_clusters_and_imported_material_are_refused() {
    let engine = Engine::new(
        Arc::new(MemoryStore::default()),
        Arc::new(MemorySeal::generate()),
        Arc::new(SystemClock),
        EngineConfig::default(),
    );
    let caller = caller();
    for (alias, origin) in [("unknown", Origin::Kms), ("imported", Origin::External)] {
        assert!(matches!(
            engine.create_key(&caller, new_key(alias, Some(CLUSTER), origin)),
            Err(KmsError::InvalidParameter {
                field: "HsmClusterId",
                ..
            })
        ));
    }
}

/// The token objects a key's versions refer to, found by their IDs.
fn token_objects(store: &MemoryStore, seal: &MemorySeal, key_id: uuid::Uuid) -> usize {
    let token = Token::open(&softhsm().module, SEAL_TOKEN, &pin(USER_PIN)).unwrap();
    let key = store.get_key(&key_id).unwrap().unwrap();
    key.versions
        .iter()
        .map(|version| {
            let aad = kms_core::engine::material_aad(key_id, version.version);
            let reference = seal.unseal(&aad, &version.sealed_material).unwrap();
            let id = reference[REFERENCE_MAGIC.len()..].to_vec();
            token
                .with_session(|session| session.find_objects(&[Attribute::Id(id.clone())]))
                .unwrap()
                .len()
        })
        .sum()
}

#[test]
fn a_purged_key_is_destroyed_in_the_token() {
    let store = Arc::new(MemoryStore::default());
    let seal = Arc::new(MemorySeal::generate());
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let token = Token::open(&softhsm().module, SEAL_TOKEN, &pin(USER_PIN)).unwrap();
    let engine = Engine::new(
        store.clone(),
        seal.clone(),
        clock.clone(),
        EngineConfig::default(),
    )
    .with_hsm_cluster(CLUSTER, Arc::new(HsmProvider::new(token)));
    let caller = caller();
    let aes = engine
        .create_key(&caller, new_key("purged-aes", Some(CLUSTER), Origin::Kms))
        .unwrap();
    let pair = NewKey {
        usage: KeyUsage::SignVerify,
        spec: KeySpec::EccP256,
        ..new_key("purged-pair", Some(CLUSTER), Origin::Kms)
    };
    let pair = engine.create_key(&caller, pair).unwrap();
    assert_eq!(token_objects(&store, &seal, aes.key_id), 1);
    assert_eq!(token_objects(&store, &seal, pair.key_id), 2, "both halves");
    let kept = store.get_key(&aes.key_id).unwrap().unwrap();
    let kept_pair = store.get_key(&pair.key_id).unwrap().unwrap();

    for key in [&aes, &pair] {
        engine
            .schedule_deletion(
                &caller,
                &key.key_id.to_string(),
                7,
                DeletableFrom::EnabledOrDisabled,
            )
            .unwrap();
    }
    clock.advance(8 * 86_400);
    for key in [&aes, &pair] {
        assert!(matches!(
            engine.describe_key(&caller, &key.key_id.to_string()),
            Err(KmsError::KeyNotFound)
        ));
    }
    // The records as they were, put back only to find the objects their references name.
    let gone = MemoryStore::default();
    for record in [kept, kept_pair] {
        gone.create_key(&record, 10).unwrap();
        assert_eq!(token_objects(&gone, &seal, record.key_id), 0);
    }
}
