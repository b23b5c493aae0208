//! Key stores: their lifecycle, their refusals, the keys created in them, and their document in
//! the store (a setting, so backups and store copies carry it).

use super::test_fixture::*;
use super::*;
use crate::clock::ManualClock;
use crate::store::Record;
use crate::testing::{MemorySeal, MemoryStore};

const CLUSTER: &str = "cls-a";
const OTHER_CLUSTER: &str = "cls-b";

/// The fixture's engine serving two HSM clusters (software providers stand in for tokens).
fn with_clusters() -> Fixture {
    let Fixture {
        engine,
        clock,
        store,
        caller,
    } = fixture();
    let engine = engine
        .with_hsm_cluster(CLUSTER, Arc::new(Software))
        .with_hsm_cluster(OTHER_CLUSTER, Arc::new(Software));
    Fixture {
        engine,
        clock,
        store,
        caller,
    }
}

fn key_in(f: &Fixture, keystore_id: &str) -> Result<KeyRecord, KmsError> {
    key_in_store(&f.engine, &f.caller, keystore_id)
}

fn key_in_store(
    engine: &Engine,
    caller: &Caller,
    keystore_id: &str,
) -> Result<KeyRecord, KmsError> {
    let new = new_key(&format!("k{}", Uuid::new_v4().simple()));
    engine.create_key_in_key_store(caller, keystore_id, new)
}

/// The engine over `store`, serving both clusters.
fn clustered(store: InterferingStore) -> InterferedFixture {
    let InterferedFixture {
        engine,
        store,
        caller,
    } = interfered(store);
    InterferedFixture {
        engine: engine
            .with_hsm_cluster(CLUSTER, Arc::new(Software))
            .with_hsm_cluster(OTHER_CLUSTER, Arc::new(Software)),
        store,
        caller,
    }
}

fn setting_name_of(caller: &Caller) -> String {
    format!("key_stores/{}/{}", caller.account, caller.region)
}

/// Rewrites the caller's key stores document in `store` as `change` makes it, as another node
/// would.
fn change_document(store: &MemoryStore, caller: &Caller, change: impl FnOnce(&mut Vec<KeyStore>)) {
    let name = setting_name_of(caller);
    let before = store.setting(&name).unwrap().unwrap();
    let mut stores: Vec<KeyStore> = serde_json::from_slice(&before).unwrap();
    change(&mut stores);
    store
        .replace_setting(&name, Some(&before), &serde_json::to_vec(&stores).unwrap())
        .unwrap();
}

fn keys_in_scope(engine: &Engine, caller: &Caller) -> usize {
    engine
        .list_keys(caller, &KeyListFilter::default())
        .unwrap()
        .0
}

#[test]
fn a_key_store_is_created_listed_disabled_enabled_and_deleted() {
    let f = with_clusters();
    let made = f
        .engine
        .create_key_store(&f.caller, "store-one", CLUSTER)
        .unwrap();
    assert_eq!(
        (made.alias.as_str(), made.hsm_cluster.as_str(), made.enabled),
        ("store-one", CLUSTER, true)
    );
    assert_eq!((made.created_at, made.updated_at), (T0, T0));
    let id = made.keystore_id.to_string();
    assert_eq!(f.engine.key_store(&f.caller, &id).unwrap(), made);
    assert_eq!(f.engine.list_key_stores(&f.caller).unwrap(), [made]);

    f.clock.advance(5);
    let disabled = f
        .engine
        .set_key_store_enabled(&f.caller, &id, false)
        .unwrap();
    assert_eq!((disabled.enabled, disabled.updated_at), (false, T0 + 5));
    assert_eq!(key_in(&f, &id).unwrap_err(), KmsError::KeyStoreDisabled);
    f.engine
        .set_key_store_enabled(&f.caller, &id, true)
        .unwrap();

    let key = key_in(&f, &id).unwrap();
    assert_eq!(key.hsm_cluster.as_deref(), Some(CLUSTER));
    assert_eq!(
        f.engine.delete_key_store(&f.caller, &id).unwrap_err(),
        KmsError::KeyStoreHoldsKeys
    );
    let key_id = key.key_id.to_string();
    f.engine
        .schedule_deletion(&f.caller, &key_id, 7, DeletableFrom::EnabledOrDisabled)
        .unwrap();
    assert_eq!(
        f.engine.delete_key_store(&f.caller, &id).unwrap_err(),
        KmsError::KeyStoreHoldsKeys,
        "a key pending deletion is still held"
    );
    f.clock.advance(8 * 86_400);
    f.engine.delete_key_store(&f.caller, &id).unwrap();
    assert_eq!(
        f.engine.key_store(&f.caller, &id).unwrap_err(),
        KmsError::KeyStoreNotFound
    );
    assert!(f.engine.list_key_stores(&f.caller).unwrap().is_empty());
}

#[test]
fn key_stores_refuse_what_the_vendor_refuses() {
    let f = with_clusters();
    assert!(matches!(
        f.engine
            .create_key_store(&f.caller, "s", "cls-unknown")
            .unwrap_err(),
        KmsError::InvalidParameter {
            field: "hsm_cluster_id",
            ..
        }
    ));
    f.engine
        .create_key_store(&f.caller, "taken", CLUSTER)
        .unwrap();
    assert_eq!(
        f.engine
            .create_key_store(&f.caller, "taken", OTHER_CLUSTER)
            .unwrap_err(),
        KmsError::AliasExists
    );
    assert!(matches!(
        f.engine
            .create_key_store(&f.caller, "second", CLUSTER)
            .unwrap_err(),
        KmsError::InvalidParameter {
            field: "hsm_cluster_id",
            ..
        }
    ));
    for unknown in [Uuid::new_v4().to_string(), "not-a-uuid".into()] {
        assert_eq!(
            f.engine.key_store(&f.caller, &unknown).unwrap_err(),
            KmsError::KeyStoreNotFound
        );
        assert_eq!(
            f.engine
                .set_key_store_enabled(&f.caller, &unknown, false)
                .unwrap_err(),
            KmsError::KeyStoreNotFound
        );
        assert_eq!(
            f.engine.delete_key_store(&f.caller, &unknown).unwrap_err(),
            KmsError::KeyStoreNotFound
        );
        assert_eq!(
            key_in(&f, &unknown).unwrap_err(),
            KmsError::KeyStoreNotFound
        );
    }
}

#[test]
fn key_stores_belong_to_an_account_and_a_region() {
    let f = with_clusters();
    let made = f
        .engine
        .create_key_store(&f.caller, "mine", CLUSTER)
        .unwrap();
    let id = made.keystore_id.to_string();
    let other_account = Caller {
        account: 200,
        ..f.caller.clone()
    };
    let other_region = Caller {
        region: "ap-beijing".into(),
        ..f.caller.clone()
    };
    for stranger in [&other_account, &other_region] {
        assert!(f.engine.list_key_stores(stranger).unwrap().is_empty());
        assert_eq!(
            f.engine.key_store(stranger, &id).unwrap_err(),
            KmsError::KeyStoreNotFound
        );
        // The alias and the cluster are free outside the owner's scope.
        f.engine
            .create_key_store(stranger, "mine", CLUSTER)
            .unwrap();
    }
}

#[test]
fn key_stores_are_a_setting_that_a_store_copy_carries() {
    let f = with_clusters();
    let made = f
        .engine
        .create_key_store(&f.caller, "kept", CLUSTER)
        .unwrap();
    let copy = MemoryStore::default();
    f.store
        .export(&mut |record| {
            if let Record::Setting { name, .. } = &record {
                assert!(name.starts_with("key_stores/"), "{name}");
            }
            copy.import(&record)
        })
        .unwrap();
    let restored = Engine::new(
        Arc::new(copy),
        Arc::new(crate::testing::MemorySeal::generate()),
        f.clock.clone(),
        EngineConfig::default(),
    );
    assert_eq!(restored.list_key_stores(&f.caller).unwrap(), [made]);
}

#[test]
fn each_change_starts_from_the_stored_document() {
    let f = with_clusters();
    f.engine
        .create_key_store(&f.caller, "first", CLUSTER)
        .unwrap();
    // Another node (sharing the store) deletes every key store: this node sees it.
    let name = format!("key_stores/{}/{}", f.caller.account, f.caller.region);
    let before = f.store.setting(&name).unwrap().unwrap();
    f.store
        .replace_setting(&name, Some(&before), b"[]")
        .unwrap();
    f.engine
        .create_key_store(&f.caller, "second", OTHER_CLUSTER)
        .unwrap();
    let aliases: Vec<String> = f
        .engine
        .list_key_stores(&f.caller)
        .unwrap()
        .into_iter()
        .map(|s| s.alias)
        .collect();
    assert_eq!(aliases, ["second"]);
}

#[test]
fn an_account_holds_a_bounded_number_of_key_stores() {
    let Fixture { engine, caller, .. } = fixture();
    let cluster = |n: usize| format!("cls-{n}");
    let engine = (0..=KEY_STORES_PER_REGION).fold(engine, |e, n| {
        e.with_hsm_cluster(&cluster(n), Arc::new(Software))
    });
    for n in 0..KEY_STORES_PER_REGION {
        engine
            .create_key_store(&caller, &format!("s{n}"), &cluster(n))
            .unwrap();
    }
    assert_eq!(
        engine
            .create_key_store(&caller, "one-more", &cluster(KEY_STORES_PER_REGION))
            .unwrap_err(),
        KmsError::KeyStoreLimitExceeded
    );
    assert_eq!(
        engine.list_key_stores(&caller).unwrap().len(),
        KEY_STORES_PER_REGION
    );
}

#[test]
fn a_key_store_change_retries_when_another_writer_swapped_first() {
    let f = clustered(InterferingStore::default());
    f.store.setting_conflicts.store(5, Ordering::SeqCst);
    let made = f
        .engine
        .create_key_store(&f.caller, "after-conflicts", CLUSTER)
        .unwrap();
    assert_eq!(f.store.setting_conflicts.load(Ordering::SeqCst), 0);
    assert_eq!(f.engine.list_key_stores(&f.caller).unwrap(), [made]);
}

#[test]
fn endless_swap_conflicts_end_in_the_retryable_refusal() {
    let mut f = clustered(InterferingStore::default());
    f.engine.retry_budget = Duration::from_millis(30);
    f.store
        .setting_conflicts
        .store(usize::MAX, Ordering::SeqCst);
    assert_eq!(
        f.engine
            .create_key_store(&f.caller, "never", CLUSTER)
            .unwrap_err(),
        KmsError::Contended
    );
}

/// Makes a key store whose document `change` rewrites (as another node would) after a key in it
/// was generated and before the key is written; answers the store's id and the creation's
/// refusal, once it is checked that the key was removed.
fn refused_while_made(change: fn(&mut Vec<KeyStore>)) -> (InterferedFixture, String, KmsError) {
    let f = clustered(InterferingStore::default());
    let made = f
        .engine
        .create_key_store(&f.caller, "changing", CLUSTER)
        .unwrap();
    let caller = f.caller.clone();
    *f.store.before_create.lock().unwrap() = Some(Box::new(move |inner: &MemoryStore| {
        change_document(inner, &caller, change);
    }));
    let id = made.keystore_id.to_string();
    let refused = key_in_store(&f.engine, &f.caller, &id).unwrap_err();
    assert_eq!(
        keys_in_scope(&f.engine, &f.caller),
        0,
        "the key was removed"
    );
    (f, id, refused)
}

#[test]
fn a_key_whose_store_was_deleted_while_it_was_made_is_removed() {
    let (_, _, refused) = refused_while_made(Vec::clear);
    assert_eq!(refused, KmsError::KeyStoreNotFound);
}

#[test]
fn a_key_whose_store_was_disabled_while_it_was_made_is_removed() {
    let (f, id, refused) = refused_while_made(|stores| stores[0].enabled = false);
    assert_eq!(refused, KmsError::KeyStoreDisabled);
    f.engine
        .set_key_store_enabled(&f.caller, &id, true)
        .unwrap();
    let kept = key_in_store(&f.engine, &f.caller, &id).unwrap();
    assert_eq!(kept.hsm_cluster.as_deref(), Some(CLUSTER));
    assert_eq!(f.engine.key_store(&f.caller, &id).unwrap().keys_created, 1);
}

#[test]
fn a_delete_finds_a_key_made_after_its_first_look() {
    let f = clustered(InterferingStore::default());
    let made = f
        .engine
        .create_key_store(&f.caller, "busy", CLUSTER)
        .unwrap();
    let id = made.keystore_id.to_string();
    // Another node over the same store makes a key in the store after the delete counted none,
    // before the delete swaps the document.
    let other = Engine::new(
        f.store.clone(),
        Arc::new(MemorySeal::generate()),
        Arc::new(ManualClock::new(T0)),
        EngineConfig::default(),
    )
    .with_hsm_cluster(CLUSTER, Arc::new(Software));
    let (caller, store_id) = (f.caller.clone(), id.clone());
    *f.store.before_swap.lock().unwrap() = Some(Box::new(move || {
        key_in_store(&other, &caller, &store_id).unwrap();
    }));
    assert_eq!(
        f.engine.delete_key_store(&f.caller, &id).unwrap_err(),
        KmsError::KeyStoreHoldsKeys
    );
    assert_eq!(f.engine.key_store(&f.caller, &id).unwrap().keys_created, 1);
}
