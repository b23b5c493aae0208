//! The one behavioural test suite every [`Store`] implementation must pass. Each store's tests
//! call [`check`] with a constructor of empty stores; other crates reach it through the
//! `testing` feature.

use uuid::Uuid;

use crate::context::EncryptionContext;
use crate::model::*;
use crate::store::{DataKeyListFilter, KeyListFilter, SortOrder, Store, StoreError};

const REGION: &str = "ap-guangzhou";

/// Runs every case of the contract, each on a fresh store from `new_store`.
pub fn check<S: Store>(mut new_store: impl FnMut() -> S) {
    names_limits_and_revisions(&new_store());
    lists_in_creation_order_and_finds_due_keys(&new_store());
    keys_pending_deletion_do_not_count_until_restored(&new_store());
    key_batches_are_all_or_nothing(&new_store());
    data_keys_have_their_own_names_limits_and_due_index(&new_store());
    data_key_batches_are_all_or_nothing(&new_store());
    accounts_are_unique_by_uin_secret_and_project(&new_store());
}

/// A KMS key record of `account` in ap-guangzhou, ready to insert.
pub fn key(account: AccountId, alias: &str, created_at: u64) -> KeyRecord {
    KeyRecord {
        key_id: Uuid::new_v4(),
        account,
        region: REGION.into(),
        alias: alias.into(),
        aliases: Vec::new(),
        description: String::new(),
        created_at,
        creator: account,
        state: KeyState::Enabled,
        usage: KeyUsage::EncryptDecrypt,
        spec: KeySpec::Aes256,
        origin: Origin::Kms,
        rotation: RotationPolicy::default(),
        last_rotate_time: 0,
        deletion_date: 0,
        tags: vec![],
        versions: vec![],
        revision: 1,
        valid_to: 0,
        fingerprint: None,
        import_parameters: vec![],
        cloud_resources: vec![],
    }
}

fn data_key(account: AccountId, name: &str, created_at: u64) -> DataKeyRecord {
    DataKeyRecord {
        data_key_id: Uuid::new_v4(),
        account,
        region: REGION.into(),
        name: name.into(),
        description: String::new(),
        key_id: Uuid::new_v4(),
        created_at,
        creator: account,
        state: DataKeyState::Enabled,
        deletion_date: 0,
        origin: Origin::Kms,
        length: 32,
        blob: vec![1, 2, 3],
        context: EncryptionContext::default(),
        tags: vec![],
        revision: 1,
    }
}

/// What a key write may change, to compare stored keys with expected ones.
fn key_state(k: &KeyRecord) -> (u64, KeyState, String, u64) {
    (k.revision, k.state, k.alias.clone(), k.deletion_date)
}

fn data_key_state(d: &DataKeyRecord) -> (u64, DataKeyState, String, u64) {
    (d.revision, d.state, d.name.clone(), d.deletion_date)
}

/// The record as the next write of it must carry it: one revision on.
fn next<R: Clone>(rec: &R, bump: impl FnOnce(&mut R)) -> R {
    let mut out = rec.clone();
    bump(&mut out);
    out
}

fn names_limits_and_revisions(store: &dyn Store) {
    let a = key(1, "a", 10);
    store.create_key(&a, 2).unwrap();
    assert_eq!(
        store.create_key(&key(1, "a", 11), 2),
        Err(StoreError::NameTaken)
    );
    assert_eq!(
        store.count_keys(1, REGION).unwrap(),
        1,
        "a refused insert leaves no trace"
    );
    store.create_key(&key(2, "a", 11), 2).unwrap();
    store.create_key(&key(1, "b", 12), 2).unwrap();
    assert_eq!(
        store.create_key(&key(1, "c", 13), 2),
        Err(StoreError::LimitReached)
    );

    let mut renamed = next(&a, |k| k.revision = 2);
    renamed.alias = "b".into();
    assert_eq!(store.update_key(&renamed, 2), Err(StoreError::NameTaken));
    renamed.alias = "a2".into();
    store.update_key(&renamed, 2).unwrap();
    assert_eq!(
        store.update_key(&renamed, 2),
        Err(StoreError::Conflict),
        "stale revision"
    );
    store.create_key(&key(1, "a", 14), 3).unwrap();

    assert_eq!(store.delete_key(&a), Err(StoreError::Conflict));
    store.delete_key(&renamed).unwrap();
    assert!(store.get_key(&a.key_id).unwrap().is_none());
    assert_eq!(store.count_keys(1, REGION).unwrap(), 2);
    store.create_key(&key(1, "a2", 15), 3).unwrap();
}

fn lists_in_creation_order_and_finds_due_keys(store: &dyn Store) {
    let late = key(1, "late", 20);
    let early = key(1, "early", 10);
    store.create_key(&late, 10).unwrap();
    store.create_key(&early, 10).unwrap();
    store.create_key(&key(9, "other", 5), 10).unwrap();
    let listed = |order| {
        let filter = KeyListFilter {
            order,
            limit: 10,
            ..Default::default()
        };
        let listed = store.list_keys(1, REGION, &filter).unwrap();
        assert_eq!(listed.total, 2);
        listed.page.into_iter().map(|k| k.alias).collect::<Vec<_>>()
    };
    assert_eq!(listed(SortOrder::OldestFirst), vec!["early", "late"]);
    assert_eq!(listed(SortOrder::NewestFirst), vec!["late", "early"]);

    let doomed = next(&early, |k| {
        k.state = KeyState::PendingDelete;
        k.deletion_date = 100;
        k.revision = 2;
    });
    store.update_key(&doomed, 10).unwrap();
    assert!(store.due_keys(99, 10).unwrap().is_empty());
    assert_eq!(store.due_keys(100, 10).unwrap(), vec![early.key_id]);
    store.delete_key(&doomed).unwrap();
    assert!(store.due_keys(1000, 10).unwrap().is_empty());
    assert_eq!(store.count_keys(1, REGION).unwrap(), 1);
}

/// A key pending deletion frees its place under the limit; cancelling the deletion takes a place
/// again, so it is refused while the limit is reached.
fn keys_pending_deletion_do_not_count_until_restored(store: &dyn Store) {
    let a = key(1, "a", 1);
    store.create_key(&a, 2).unwrap();
    store.create_key(&key(1, "b", 2), 2).unwrap();
    let doomed = next(&a, |k| {
        k.state = KeyState::PendingDelete;
        k.deletion_date = 100;
        k.revision = 2;
    });
    store.update_key(&doomed, 2).unwrap();
    assert_eq!(
        store.count_keys(1, REGION).unwrap(),
        1,
        "keys pending deletion do not count toward the limit"
    );
    store.create_key(&key(1, "c", 3), 2).unwrap();
    let restored = next(&doomed, |k| {
        k.state = KeyState::Disabled;
        k.deletion_date = 0;
        k.revision = 3;
    });
    assert_eq!(
        store.update_key(&restored, 2),
        Err(StoreError::LimitReached)
    );
    assert_eq!(
        store.get_key(&a.key_id).unwrap().map(|k| key_state(&k)),
        Some(key_state(&doomed))
    );
    assert_eq!(store.count_keys(1, REGION).unwrap(), 2);
    store.update_key(&restored, 3).unwrap();
    assert_eq!(store.count_keys(1, REGION).unwrap(), 3);
}

fn key_batches_are_all_or_nothing(store: &dyn Store) {
    let keys: Vec<KeyRecord> = (0..3).map(|i| key(1, &format!("k{i}"), i)).collect();
    for k in &keys {
        store.create_key(k, 10).unwrap();
    }
    let disabled: Vec<KeyRecord> = keys
        .iter()
        .map(|k| {
            next(k, |k| {
                k.state = KeyState::Disabled;
                k.revision = 2;
            })
        })
        .collect();
    let unchanged = || {
        keys.iter()
            .all(|k| store.get_key(&k.key_id).unwrap().map(|s| key_state(&s)) == Some(key_state(k)))
    };

    let mut stale = disabled.clone();
    stale[2].revision = 3;
    assert_eq!(store.update_keys(&stale, 10), Err(StoreError::Conflict));
    assert!(unchanged(), "a stale revision in a batch changes nothing");

    let mut clash = disabled.clone();
    clash[2].alias = "k0".into();
    assert_eq!(store.update_keys(&clash, 10), Err(StoreError::NameTaken));
    assert!(
        unchanged(),
        "a name in use anywhere in a batch changes nothing"
    );

    store.update_keys(&disabled, 10).unwrap();
    assert!(disabled.iter().all(|k| {
        store.get_key(&k.key_id).unwrap().map(|s| key_state(&s)) == Some(key_state(k))
    }));

    let doomed: Vec<KeyRecord> = disabled[..2]
        .iter()
        .map(|k| {
            next(k, |k| {
                k.state = KeyState::PendingDelete;
                k.deletion_date = 50;
                k.revision += 1;
            })
        })
        .collect();
    store.update_keys(&doomed, 10).unwrap();
    assert_eq!(store.count_keys(1, REGION).unwrap(), 1);
    store.create_key(&key(1, "k3", 9), 2).unwrap();
    let restored: Vec<KeyRecord> = doomed
        .iter()
        .map(|k| {
            next(k, |k| {
                k.state = KeyState::Disabled;
                k.deletion_date = 0;
                k.revision += 1;
            })
        })
        .collect();
    assert_eq!(
        store.update_keys(&restored, 3),
        Err(StoreError::LimitReached),
        "the second restore would exceed the limit"
    );
    assert_eq!(store.count_keys(1, REGION).unwrap(), 2);
    assert_eq!(
        store.get_key(&restored[0].key_id).unwrap().unwrap().state,
        KeyState::PendingDelete,
        "the first restore is undone with the batch"
    );
    store.update_keys(&restored, 4).unwrap();
    assert_eq!(store.count_keys(1, REGION).unwrap(), 4);
}

fn data_keys_have_their_own_names_limits_and_due_index(store: &dyn Store) {
    // A data key may share a name with a CMK alias: the namespaces are separate.
    store.create_key(&key(1, "same", 1), 10).unwrap();
    let dk = data_key(1, "same", 1);
    store.create_data_key(&dk, 2).unwrap();
    assert_eq!(
        store.create_data_key(&data_key(1, "same", 2), 2),
        Err(StoreError::NameTaken)
    );
    store.create_data_key(&data_key(1, "other", 2), 2).unwrap();
    assert_eq!(
        store.create_data_key(&data_key(1, "third", 3), 2),
        Err(StoreError::LimitReached)
    );
    assert_eq!(store.count_data_keys(1, REGION).unwrap(), 2);
    assert_eq!(store.count_keys(1, REGION).unwrap(), 1);

    let doomed = next(&dk, |d| {
        d.state = DataKeyState::PendingDelete;
        d.deletion_date = 50;
        d.revision = 2;
    });
    store.update_data_key(&doomed, 2).unwrap();
    assert_eq!(store.count_data_keys(1, REGION).unwrap(), 1);
    assert_eq!(store.due_data_keys(50, 10).unwrap(), vec![dk.data_key_id]);
    assert!(store.due_keys(1000, 10).unwrap().is_empty());
    let third = data_key(1, "third", 3);
    store.create_data_key(&third, 2).unwrap();
    let restored = next(&doomed, |d| {
        d.state = DataKeyState::Disabled;
        d.deletion_date = 0;
        d.revision = 3;
    });
    assert_eq!(
        store.update_data_key(&restored, 2),
        Err(StoreError::LimitReached)
    );
    store.delete_data_key(&third).unwrap();
    store.update_data_key(&restored, 2).unwrap();
    store.delete_data_key(&restored).unwrap();
    assert!(store.get_data_key(&dk.data_key_id).unwrap().is_none());
    store.create_data_key(&data_key(1, "same", 4), 2).unwrap();
    let filter = DataKeyListFilter {
        order: SortOrder::OldestFirst,
        limit: 10,
        ..Default::default()
    };
    let names: Vec<String> = store
        .list_data_keys(1, REGION, &filter)
        .unwrap()
        .page
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, vec!["other", "same"]);
}

fn data_key_batches_are_all_or_nothing(store: &dyn Store) {
    let dks: Vec<DataKeyRecord> = (0..3).map(|i| data_key(1, &format!("d{i}"), i)).collect();
    for d in &dks {
        store.create_data_key(d, 10).unwrap();
    }
    let mut disabled: Vec<DataKeyRecord> = dks
        .iter()
        .map(|d| {
            next(d, |d| {
                d.state = DataKeyState::Disabled;
                d.revision = 2;
            })
        })
        .collect();
    disabled[1].revision = 1;
    assert_eq!(
        store.update_data_keys(&disabled, 10),
        Err(StoreError::Conflict)
    );
    assert!(
        dks.iter().all(|d| store
            .get_data_key(&d.data_key_id)
            .unwrap()
            .map(|s| data_key_state(&s))
            == Some(data_key_state(d))),
        "a stale revision in a batch changes nothing"
    );
    disabled[1].revision = 2;
    store.update_data_keys(&disabled, 10).unwrap();
    assert!(dks.iter().all(|d| {
        store.get_data_key(&d.data_key_id).unwrap().unwrap().state == DataKeyState::Disabled
    }));
}

fn accounts_are_unique_by_uin_secret_and_project(store: &dyn Store) {
    let acct = Account {
        uin: 1,
        app_id: 2,
        secret_id: "AKID1".into(),
        sealed_secret_key: vec![1, 2, 3],
        project_id: "p1".into(),
        created_at: 0,
    };
    store.create_account(&acct).unwrap();
    let mut clash = acct.clone();
    clash.uin = 3;
    assert_eq!(store.create_account(&clash), Err(StoreError::AlreadyExists));
    clash.secret_id = "AKID2".into();
    assert_eq!(store.create_account(&clash), Err(StoreError::AlreadyExists));
    clash.project_id = "p2".into();
    store.create_account(&clash).unwrap();
    assert_eq!(store.accounts().unwrap().len(), 2);
}
