//! The one behavioural test suite every [`Store`] implementation must pass. Each store's tests
//! call [`check`] with a constructor of empty stores; other crates reach it through the
//! `testing` feature.

use uuid::Uuid;

use crate::context::EncryptionContext;
use crate::model::*;
use crate::store::{DataKeyListFilter, KeyListFilter, SortOrder, Store, StoreError};

mod combinations;
mod grants;
mod moving;

pub use grants::grant;

const REGION: &str = "ap-guangzhou";

/// Runs every case of the contract, each on a fresh store from `new_store`.
pub fn check<S: Store>(mut new_store: impl FnMut() -> S) {
    names_limits_and_revisions(&new_store());
    a_record_id_in_use_is_refused(&new_store());
    lists_in_creation_order_and_finds_due_keys(&new_store());
    keys_pending_deletion_do_not_count_until_restored(&new_store());
    key_batches_are_all_or_nothing(&new_store());
    data_keys_have_their_own_names_limits_and_due_index(&new_store());
    data_key_batches_are_all_or_nothing(&new_store());
    accounts_are_unique_by_uin_secret_and_project(&new_store());
    identity_is_replaced_by_revision_and_reserves_secret_ids(&new_store());
    key_listings_filter_order_and_page(&new_store());
    key_indexes_follow_updates_and_deletes(&new_store());
    key_tags_follow_updates_and_deletes(&new_store());
    aliases_are_unique_names_of_their_scope(&new_store());
    data_key_listings_filter_order_page_and_follow_writes(&new_store());
    combinations::check(&mut new_store);
    grants::check(&mut new_store);
    moving::check(&mut new_store);
}

/// A second record under an id in use (a chosen id, as dev mode's fixtures give, or another
/// account's) is refused and leaves the first as it was, names and listings included.
fn a_record_id_in_use_is_refused(store: &dyn Store) {
    let first = key(1, "first", 10);
    store.create_key(&first, 100).unwrap();
    for mut clash in [key(1, "second", 11), key(2, "first", 11)] {
        clash.key_id = first.key_id;
        assert_eq!(
            store.create_key(&clash, 100),
            Err(StoreError::AlreadyExists)
        );
    }
    let kept = store.get_key(&first.key_id).unwrap().unwrap();
    assert_eq!((kept.account, kept.alias.as_str()), (1, "first"));
    assert!(store.key_by_name(1, REGION, "second").unwrap().is_none());
    assert_eq!(store.count_keys(1, REGION).unwrap(), 1);
    assert_eq!(store.count_keys(2, REGION).unwrap(), 0);

    let data_key = data_key(1, "d", 10);
    store.create_data_key(&data_key, 100).unwrap();
    let mut clash = self::data_key(1, "other", 11);
    clash.data_key_id = data_key.data_key_id;
    assert_eq!(
        store.create_data_key(&clash, 100),
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(
        store
            .get_data_key(&data_key.data_key_id)
            .unwrap()
            .unwrap()
            .name,
        "d"
    );
}

/// A KMS key record of `account` in ap-guangzhou, ready to insert.
pub fn key(account: AccountId, alias: &str, created_at: u64) -> KeyRecord {
    KeyRecord {
        hsm_cluster: None,
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

/// Account `uin` with credential `AKID<uin>` and project `p<uin>`, ready to insert.
pub fn account(uin: AccountId) -> Account {
    Account {
        uin,
        app_id: 2,
        secret_id: format!("AKID{uin}"),
        sealed_secret_key: vec![1, 2, 3],
        project_id: format!("p{uin}"),
        created_at: 0,
    }
}

/// A hosted data key record of `account` in ap-guangzhou, ready to insert.
pub fn data_key(account: AccountId, name: &str, created_at: u64) -> DataKeyRecord {
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
        hsm_cluster: None,
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
    let acct = account(1);
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

/// A credential record of `account` for the identity cases.
pub(super) fn credential(account: AccountId, secret_id: &str) -> crate::identity::Credential {
    crate::identity::Credential {
        secret_id: secret_id.into(),
        account,
        user: None,
        sealed_secret_key: vec![9],
        enabled: true,
        created_at: 0,
    }
}

fn identity_is_replaced_by_revision_and_reserves_secret_ids(store: &dyn Store) {
    use crate::identity::{AccountEntry, Identity};
    let empty = store.identity().unwrap();
    assert_eq!(empty.revision, 0);
    assert!(empty.credentials.is_empty() && empty.users.is_empty());
    let acct = account(1);
    store.create_account(&acct).unwrap();

    // The account's own creation credential may be brought in; another account's may not.
    let mut next = Identity::default();
    next.accounts.insert(1, AccountEntry { enabled: true });
    next.credentials
        .insert("AKID1".into(), credential(1, "AKID1"));
    next.credentials
        .insert("AKID2".into(), credential(1, "AKID2"));
    let mut foreign = next.clone();
    foreign
        .credentials
        .insert("AKID1".into(), credential(5, "AKID1"));
    assert_eq!(
        store.replace_identity(0, &foreign),
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(store.identity().unwrap().revision, 0, "all or nothing");
    store.replace_identity(0, &next).unwrap();
    let stored = store.identity().unwrap();
    assert_eq!(stored.revision, 1);
    assert_eq!(stored.credentials.len(), 2);
    assert_eq!(store.replace_identity(0, &next), Err(StoreError::Conflict));

    // A credential's secret id can make no account, and comes back under no one after deletion.
    let mut clash = acct.clone();
    clash.uin = 3;
    clash.project_id = "p3".into();
    clash.secret_id = "AKID2".into();
    assert_eq!(store.create_account(&clash), Err(StoreError::AlreadyExists));
    let mut removed = stored.clone();
    removed.credentials.remove("AKID2");
    store.replace_identity(1, &removed).unwrap();
    let mut back = store.identity().unwrap();
    back.credentials
        .insert("AKID2".into(), credential(1, "AKID2"));
    assert_eq!(
        store.replace_identity(2, &back),
        Err(StoreError::AlreadyExists)
    );
    let mut fresh = store.identity().unwrap();
    fresh
        .credentials
        .insert("AKID3".into(), credential(1, "AKID3"));
    store.replace_identity(2, &fresh).unwrap();
    assert!(store.identity().unwrap().credentials.contains_key("AKID3"));
}

const OTHER_REGION: &str = "ap-beijing";

/// Aliases of `page` in order, to compare listings readably.
fn aliases_of(page: &[KeyRecord]) -> Vec<&str> {
    page.iter().map(|k| k.alias.as_str()).collect()
}

/// Lists keys of account 1 in REGION with `filter` in both orders and at several pages, and
/// checks each against `all` filtered by `want`, ordered by creation time and then id.
fn check_key_listing(
    store: &dyn Store,
    all: &[KeyRecord],
    filter: &KeyListFilter,
    want: impl Fn(&KeyRecord) -> bool,
) {
    let mut expected: Vec<&KeyRecord> = all
        .iter()
        .filter(|k| k.account == 1 && k.region == REGION && want(k))
        .collect();
    expected.sort_by_key(|k| (k.created_at, k.key_id));
    let n = expected.len();
    for order in [SortOrder::OldestFirst, SortOrder::NewestFirst] {
        let mut ordered = expected.clone();
        if order == SortOrder::NewestFirst {
            ordered.reverse();
        }
        for (offset, limit) in [
            (0, 100),
            (0, 1),
            (1, 2),
            (n.saturating_sub(1), 5),
            (n, 5),
            (n + 3, 5),
            (0, 0),
        ] {
            let f = KeyListFilter {
                order,
                offset,
                limit,
                ..filter.clone()
            };
            let listed = store.list_keys(1, REGION, &f).unwrap();
            let want_page: Vec<&str> = ordered
                .iter()
                .skip(offset)
                .take(limit)
                .map(|k| k.alias.as_str())
                .collect();
            assert_eq!(listed.total, n as u64, "total of {f:?}");
            assert_eq!(aliases_of(&listed.page), want_page, "page of {f:?}");
        }
    }
}

/// Twelve keys of account 1 with a spread of states, origins, usages, specs, tags and creation
/// times (pairs share one, so ties fall to the id), and keys of other scopes with the same
/// names.
fn listing_keys() -> Vec<KeyRecord> {
    let mut keys: Vec<KeyRecord> = (0..12u64)
        .map(|i| {
            let mut k = key(1, &format!("k{i}"), 10 + i / 2);
            k.state = [
                KeyState::Enabled,
                KeyState::Disabled,
                KeyState::PendingDelete,
                KeyState::PendingImport,
                KeyState::Archived,
            ][i as usize % 5];
            if i.is_multiple_of(3) {
                k.origin = Origin::External;
            }
            (k.usage, k.spec) = [
                (KeyUsage::EncryptDecrypt, KeySpec::Aes256),
                (KeyUsage::SignVerify, KeySpec::EccP256),
                (KeyUsage::GenerateVerifyMac, KeySpec::Hmac256),
                (KeyUsage::EncryptDecrypt, KeySpec::Sm4),
            ][i as usize % 4];
            if i.is_multiple_of(2) {
                let value = if i.is_multiple_of(4) { "a" } else { "b" };
                k.tags.push(tag("team", value));
            }
            if i.is_multiple_of(3) {
                k.tags.push(tag("env", "prod"));
            }
            k
        })
        .collect();
    keys[5].aliases = vec![alias("extra-one"), alias("extra-two")];
    keys.push(key(9, "k1", 1));
    let mut elsewhere = key(1, "k1", 1);
    elsewhere.region = OTHER_REGION.into();
    keys.push(elsewhere);
    keys
}

fn tag(key: &str, value: &str) -> Tag {
    Tag {
        key: key.into(),
        value: value.into(),
    }
}

fn alias(name: &str) -> Alias {
    Alias {
        name: name.into(),
        created_at: 7,
        updated_at: 8,
    }
}

fn has_tag(k: &KeyRecord, key: &str, values: &[&str]) -> bool {
    k.tags
        .iter()
        .any(|t| t.key == key && (values.is_empty() || values.contains(&t.value.as_str())))
}

fn key_listings_filter_order_and_page(store: &dyn Store) {
    let keys = listing_keys();
    for k in &keys {
        store.create_key(k, 100).unwrap();
    }
    let none = KeyListFilter::default();
    check_key_listing(store, &keys, &none, |_| true);
    let states = |s: &[KeyState]| KeyListFilter {
        states: Some(s.to_vec()),
        ..Default::default()
    };
    check_key_listing(store, &keys, &states(&[KeyState::Disabled]), |k| {
        k.state == KeyState::Disabled
    });
    check_key_listing(
        store,
        &keys,
        &states(&[KeyState::Enabled, KeyState::Archived]),
        |k| matches!(k.state, KeyState::Enabled | KeyState::Archived),
    );
    check_key_listing(store, &keys, &states(&[]), |_| false);
    check_key_listing(
        store,
        &keys,
        &states(&[KeyState::Disabled, KeyState::Disabled]),
        |k| k.state == KeyState::Disabled,
    );
    let external = KeyListFilter {
        origin: Some(Origin::External),
        ..Default::default()
    };
    check_key_listing(store, &keys, &external, |k| k.origin == Origin::External);
    let signing = KeyListFilter {
        usages: Some(vec![KeyUsage::SignVerify]),
        ..Default::default()
    };
    check_key_listing(store, &keys, &signing, |k| k.usage == KeyUsage::SignVerify);
    let specs = KeyListFilter {
        specs: Some(vec![KeySpec::Sm4, KeySpec::Hmac256]),
        ..Default::default()
    };
    check_key_listing(store, &keys, &specs, |k| {
        matches!(k.spec, KeySpec::Sm4 | KeySpec::Hmac256)
    });
    // A usage with its specs, as Tencent's KeyUsage asks (one (usage, spec) term group).
    let symmetric = KeyListFilter {
        usages: Some(vec![KeyUsage::EncryptDecrypt]),
        specs: Some(vec![KeySpec::Aes256, KeySpec::Sm4]),
        ..Default::default()
    };
    check_key_listing(store, &keys, &symmetric, |k| {
        k.usage == KeyUsage::EncryptDecrypt && matches!(k.spec, KeySpec::Aes256 | KeySpec::Sm4)
    });
    let crossed = KeyListFilter {
        usages: Some(vec![KeyUsage::SignVerify, KeyUsage::EncryptDecrypt]),
        specs: Some(vec![KeySpec::Sm4, KeySpec::Hmac256, KeySpec::Aes256]),
        states: Some(vec![KeyState::Enabled, KeyState::Disabled]),
        ..Default::default()
    };
    check_key_listing(store, &keys, &crossed, |k| {
        matches!(k.usage, KeyUsage::SignVerify | KeyUsage::EncryptDecrypt)
            && matches!(k.spec, KeySpec::Sm4 | KeySpec::Hmac256 | KeySpec::Aes256)
            && matches!(k.state, KeyState::Enabled | KeyState::Disabled)
    });

    let tags = |t: &[(&str, &[&str])]| KeyListFilter {
        tags: t
            .iter()
            .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
            .collect(),
        ..Default::default()
    };
    check_key_listing(store, &keys, &tags(&[("team", &[])]), |k| {
        has_tag(k, "team", &[])
    });
    check_key_listing(store, &keys, &tags(&[("team", &["a"])]), |k| {
        has_tag(k, "team", &["a"])
    });
    check_key_listing(store, &keys, &tags(&[("team", &["a", "b"])]), |k| {
        has_tag(k, "team", &["a", "b"])
    });
    check_key_listing(
        store,
        &keys,
        &tags(&[("team", &["a"]), ("env", &[])]),
        |k| has_tag(k, "team", &["a"]) && has_tag(k, "env", &[]),
    );
    check_key_listing(store, &keys, &tags(&[("team", &["b", "b"])]), |k| {
        has_tag(k, "team", &["b"])
    });
    check_key_listing(store, &keys, &tags(&[("nope", &[])]), |_| false);
    check_key_listing(store, &keys, &tags(&[("team", &["c"])]), |_| false);

    let search = |s: &str| KeyListFilter {
        search: Some(s.into()),
        ..Default::default()
    };
    check_key_listing(store, &keys, &search("k1"), |k| {
        ["k1", "k10", "k11"].contains(&k.alias.as_str())
    });
    let id_part = keys[3].key_id.to_string()[9..23].to_owned();
    check_key_listing(store, &keys, &search(&id_part), |k| {
        k.key_id.to_string().contains(&id_part)
    });
    check_key_listing(store, &keys, &search("extra-t"), |k| k.alias == "k5");
    check_key_listing(store, &keys, &search("no such name"), |_| false);

    let combined = KeyListFilter {
        states: Some(vec![KeyState::Enabled, KeyState::Disabled]),
        origin: Some(Origin::Kms),
        ..tags(&[("team", &[])])
    };
    check_key_listing(store, &keys, &combined, |k| {
        matches!(k.state, KeyState::Enabled | KeyState::Disabled)
            && k.origin == Origin::Kms
            && has_tag(k, "team", &[])
    });
    let searched = KeyListFilter {
        usages: Some(vec![KeyUsage::EncryptDecrypt]),
        states: Some(vec![
            KeyState::Enabled,
            KeyState::PendingImport,
            KeyState::Archived,
        ]),
        ..search("k")
    };
    check_key_listing(store, &keys, &searched, |k| {
        k.usage == KeyUsage::EncryptDecrypt
            && matches!(
                k.state,
                KeyState::Enabled | KeyState::PendingImport | KeyState::Archived
            )
    });
    let everything = KeyListFilter {
        states: Some(vec![KeyState::Enabled]),
        origin: Some(Origin::External),
        usages: Some(vec![KeyUsage::EncryptDecrypt]),
        specs: Some(vec![KeySpec::Aes256]),
        ..tags(&[("team", &["a"]), ("env", &["prod"])])
    };
    check_key_listing(store, &keys, &everything, |k| {
        k.state == KeyState::Enabled
            && k.origin == Origin::External
            && k.spec == KeySpec::Aes256
            && has_tag(k, "team", &["a"])
            && has_tag(k, "env", &["prod"])
    });
}

/// Every write moves a key's index entries: listings by old values lose it, by new ones find it.
fn key_indexes_follow_updates_and_deletes(store: &dyn Store) {
    let mut keys = listing_keys();
    for k in &keys {
        store.create_key(k, 100).unwrap();
    }
    let changed: Vec<KeyRecord> = keys[..4]
        .iter()
        .map(|k| {
            next(k, |k| {
                k.revision += 1;
                k.state = KeyState::Disabled;
                k.usage = KeyUsage::KeyAgreement;
                k.spec = KeySpec::EccP384;
                k.origin = Origin::Kms;
                k.tags = vec![tag("team", "c"), tag("moved", "yes")];
                k.aliases = vec![alias(&format!("renamed-{}", k.alias))];
            })
        })
        .collect();
    store.update_keys(&changed, 100).unwrap();
    keys.splice(..4, changed);
    let doomed = keys.remove(6);
    store.delete_key(&doomed).unwrap();
    let removed = keys.remove(4);
    store.delete_key(&removed).unwrap();

    check_key_listing(store, &keys, &KeyListFilter::default(), |_| true);
    for state in [
        KeyState::Enabled,
        KeyState::Disabled,
        KeyState::PendingDelete,
    ] {
        let f = KeyListFilter {
            states: Some(vec![state]),
            ..Default::default()
        };
        check_key_listing(store, &keys, &f, |k| k.state == state);
    }
    let f = KeyListFilter {
        origin: Some(Origin::External),
        ..Default::default()
    };
    check_key_listing(store, &keys, &f, |k| k.origin == Origin::External);
    let f = KeyListFilter {
        usages: Some(vec![KeyUsage::KeyAgreement, KeyUsage::SignVerify]),
        ..Default::default()
    };
    check_key_listing(store, &keys, &f, |k| {
        matches!(k.usage, KeyUsage::KeyAgreement | KeyUsage::SignVerify)
    });
    let f = KeyListFilter {
        specs: Some(vec![KeySpec::EccP384]),
        ..Default::default()
    };
    check_key_listing(store, &keys, &f, |k| k.spec == KeySpec::EccP384);
    for (tag_key, values) in [("team", vec!["a"]), ("team", vec!["c"]), ("moved", vec![])] {
        let f = KeyListFilter {
            tags: vec![(
                tag_key.into(),
                values.iter().map(|v| v.to_string()).collect(),
            )],
            ..Default::default()
        };
        check_key_listing(store, &keys, &f, |k| has_tag(k, tag_key, &values));
    }
    for s in ["renamed-k1", "k4", "k6", "extra"] {
        let f = KeyListFilter {
            search: Some(s.into()),
            ..Default::default()
        };
        check_key_listing(store, &keys, &f, |k| k.names().any(|n| n.contains(s)));
    }
}

/// The scope's distinct tags follow every write: a value no key carries any more is gone.
fn key_tags_follow_updates_and_deletes(store: &dyn Store) {
    let distinct = |store: &dyn Store, account| {
        store
            .key_tags(account, REGION)
            .unwrap()
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect::<Vec<_>>()
    };
    let pairs = |p: &[(&str, &str)]| {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    let mut a = key(1, "a", 1);
    a.tags = vec![tag("team", "b"), tag("env", "")];
    let mut b = key(1, "b", 2);
    b.tags = vec![tag("team", "a"), tag("team2", "a")];
    let mut other = key(2, "c", 3);
    other.tags = vec![tag("secret", "x")];
    for k in [&a, &b, &other] {
        store.create_key(k, 100).unwrap();
    }
    assert_eq!(
        distinct(store, 1),
        pairs(&[("env", ""), ("team", "a"), ("team", "b"), ("team2", "a")])
    );
    let a2 = next(&a, |k| {
        k.revision += 1;
        k.tags = vec![tag("team", "a"), tag("new", "v")];
    });
    store.update_key(&a2, 100).unwrap();
    assert_eq!(
        distinct(store, 1),
        pairs(&[("new", "v"), ("team", "a"), ("team2", "a")])
    );
    store.delete_key(&b).unwrap();
    assert_eq!(distinct(store, 1), pairs(&[("new", "v"), ("team", "a")]));
    assert_eq!(distinct(store, 2), pairs(&[("secret", "x")]));
    assert!(distinct(store, 3).is_empty());
}

/// Several aliases per key share the scope's namespace with every key's own alias.
fn aliases_are_unique_names_of_their_scope(store: &dyn Store) {
    let mut a = key(1, "a", 1);
    a.aliases = vec![alias("x"), alias("y")];
    store.create_key(&a, 10).unwrap();
    let mut clash = key(1, "x", 2);
    assert_eq!(store.create_key(&clash, 10), Err(StoreError::NameTaken));
    clash.alias = "c".into();
    clash.aliases = vec![alias("a")];
    assert_eq!(store.create_key(&clash, 10), Err(StoreError::NameTaken));
    clash.aliases = vec![alias("d"), alias("d")];
    assert_eq!(
        store.create_key(&clash, 10),
        Err(StoreError::NameTaken),
        "a key cannot hold one name twice"
    );
    assert_eq!(store.count_keys(1, REGION).unwrap(), 1);
    assert_eq!(store.key_by_name(1, REGION, "c").unwrap(), None);
    assert_eq!(store.key_by_name(1, REGION, "d").unwrap(), None);

    let mut b = key(1, "b", 2);
    b.aliases = vec![alias("z")];
    store.create_key(&b, 10).unwrap();
    let mut elsewhere = key(1, "x", 3);
    elsewhere.region = OTHER_REGION.into();
    store.create_key(&elsewhere, 10).unwrap();
    store.create_key(&key(2, "y", 3), 10).unwrap();

    for (name, owner) in [
        ("a", a.key_id),
        ("x", a.key_id),
        ("y", a.key_id),
        ("z", b.key_id),
    ] {
        assert_eq!(store.key_by_name(1, REGION, name).unwrap(), Some(owner));
    }
    assert_eq!(store.key_by_name(1, REGION, "nope").unwrap(), None);
    assert_eq!(
        store.key_by_name(1, OTHER_REGION, "x").unwrap(),
        Some(elsewhere.key_id)
    );
    assert_eq!(store.key_by_name(1, OTHER_REGION, "y").unwrap(), None);

    let names = |key_id, offset, limit| {
        let listed = store
            .list_aliases(1, REGION, key_id, offset, limit)
            .unwrap();
        let page: Vec<(Uuid, String)> = listed
            .page
            .iter()
            .map(|(id, alias)| (*id, alias.name.clone()))
            .collect();
        (listed.total, page)
    };
    let entry = |id: Uuid, n: &str| (id, n.to_owned());
    assert_eq!(
        names(None, 0, 10),
        (
            3,
            vec![
                entry(a.key_id, "x"),
                entry(a.key_id, "y"),
                entry(b.key_id, "z")
            ]
        ),
        "only entries of aliases, in name order"
    );
    assert_eq!(names(None, 1, 1), (3, vec![entry(a.key_id, "y")]));
    assert_eq!(names(None, 3, 5), (3, vec![]));
    assert_eq!(names(None, 0, 0), (3, vec![]));
    assert_eq!(
        names(Some(a.key_id), 0, 10),
        (2, vec![entry(a.key_id, "x"), entry(a.key_id, "y")])
    );
    assert_eq!(
        names(Some(a.key_id), 1, 10),
        (2, vec![entry(a.key_id, "y")])
    );
    assert_eq!(names(Some(elsewhere.key_id), 0, 10), (0, vec![]));
    assert_eq!(names(Some(Uuid::new_v4()), 0, 10), (0, vec![]));
    let listed = store.list_aliases(1, REGION, None, 0, 1).unwrap();
    assert_eq!(listed.page[0].1, alias("x"), "times are kept");

    // Moving names: "x" leaves a for w, and is free for another key.
    let a2 = next(&a, |k| {
        k.revision += 1;
        k.aliases = vec![alias("w"), alias("y")];
    });
    store.update_key(&a2, 10).unwrap();
    assert_eq!(store.key_by_name(1, REGION, "x").unwrap(), None);
    assert_eq!(store.key_by_name(1, REGION, "w").unwrap(), Some(a.key_id));
    assert_eq!(
        names(None, 0, 10),
        (
            3,
            vec![
                entry(a.key_id, "w"),
                entry(a.key_id, "y"),
                entry(b.key_id, "z")
            ]
        )
    );
    let c = key(1, "x", 4);
    store.create_key(&c, 10).unwrap();

    // A batch that gives one name to two keys changes nothing.
    let a3 = next(&a2, |k| {
        k.revision += 1;
        k.aliases.push(alias("q"));
    });
    let b2 = next(&b, |k| {
        k.revision += 1;
        k.aliases.push(alias("q"));
    });
    assert_eq!(
        store.update_keys(&[a3.clone(), b2.clone()], 10),
        Err(StoreError::NameTaken)
    );
    assert_eq!(store.key_by_name(1, REGION, "q").unwrap(), None);
    assert_eq!(names(Some(a.key_id), 0, 10).0, 2);
    let b_taking_c = next(&b, |k| {
        k.revision += 1;
        k.aliases.push(alias("x"));
    });
    assert_eq!(
        store.update_key(&b_taking_c, 10),
        Err(StoreError::NameTaken),
        "an alias cannot take another key's own alias"
    );
    store.update_keys(&[a3], 10).unwrap();
    assert_eq!(store.key_by_name(1, REGION, "q").unwrap(), Some(a.key_id));

    // Deletion frees every name of the key.
    let a3 = store.get_key(&a.key_id).unwrap().unwrap();
    store.delete_key(&a3).unwrap();
    for name in ["a", "w", "y", "q"] {
        assert_eq!(store.key_by_name(1, REGION, name).unwrap(), None);
    }
    assert_eq!(names(None, 0, 10), (1, vec![entry(b.key_id, "z")]));
    let mut reuse = key(1, "q", 5);
    reuse.aliases = vec![alias("a"), alias("w"), alias("y")];
    store.create_key(&reuse, 10).unwrap();
    let search = KeyListFilter {
        search: Some("w".into()),
        limit: 10,
        ..Default::default()
    };
    let found = store.list_keys(1, REGION, &search).unwrap();
    assert_eq!(found.total, 1);
    assert_eq!(found.page[0].key_id, reuse.key_id);
}

fn check_data_key_listing(
    store: &dyn Store,
    all: &[DataKeyRecord],
    filter: &DataKeyListFilter,
    want: impl Fn(&DataKeyRecord) -> bool,
) {
    let mut expected: Vec<&DataKeyRecord> = all
        .iter()
        .filter(|d| d.account == 1 && d.region == REGION && want(d))
        .collect();
    expected.sort_by_key(|d| (d.created_at, d.data_key_id));
    let n = expected.len();
    for order in [SortOrder::OldestFirst, SortOrder::NewestFirst] {
        let mut ordered = expected.clone();
        if order == SortOrder::NewestFirst {
            ordered.reverse();
        }
        for (offset, limit) in [(0, 100), (1, 2), (n.saturating_sub(1), 5), (n, 5), (0, 0)] {
            let f = DataKeyListFilter {
                order,
                offset,
                limit,
                ..filter.clone()
            };
            let listed = store.list_data_keys(1, REGION, &f).unwrap();
            let want_page: Vec<&str> = ordered
                .iter()
                .skip(offset)
                .take(limit)
                .map(|d| d.name.as_str())
                .collect();
            let page: Vec<&str> = listed.page.iter().map(|d| d.name.as_str()).collect();
            assert_eq!(listed.total, n as u64, "total of {f:?}");
            assert_eq!(page, want_page, "page of {f:?}");
        }
    }
}

fn data_key_listings_filter_order_page_and_follow_writes(store: &dyn Store) {
    let cmks = [Uuid::new_v4(), Uuid::new_v4()];
    let mut dks: Vec<DataKeyRecord> = (0..10u64)
        .map(|i| {
            let mut d = data_key(1, &format!("d{i}"), 5 + i / 3);
            d.state = [
                DataKeyState::Enabled,
                DataKeyState::Disabled,
                DataKeyState::PendingDelete,
            ][i as usize % 3];
            if i.is_multiple_of(4) {
                d.origin = Origin::External;
            }
            d.key_id = cmks[i as usize % 2];
            d.length = if i.is_multiple_of(5) { 16 } else { 32 };
            if i % 2 == 1 {
                d.tags
                    .push(tag("app", if i.is_multiple_of(3) { "x" } else { "y" }));
            }
            d
        })
        .collect();
    dks.push(data_key(2, "d1", 1));
    for d in &dks {
        store.create_data_key(d, 100).unwrap();
    }
    let check_all = |dks: &[DataKeyRecord]| {
        check_data_key_listing(store, dks, &DataKeyListFilter::default(), |_| true);
        for state in [DataKeyState::Enabled, DataKeyState::Disabled] {
            let f = DataKeyListFilter {
                states: Some(vec![state]),
                ..Default::default()
            };
            check_data_key_listing(store, dks, &f, |d| d.state == state);
        }
        let f = DataKeyListFilter {
            origin: Some(Origin::External),
            ..Default::default()
        };
        check_data_key_listing(store, dks, &f, |d| d.origin == Origin::External);
        let f = DataKeyListFilter {
            key_id: Some(cmks[1]),
            ..Default::default()
        };
        check_data_key_listing(store, dks, &f, |d| d.key_id == cmks[1]);
        let f = DataKeyListFilter {
            length: Some(16),
            key_id: Some(cmks[0]),
            ..Default::default()
        };
        check_data_key_listing(store, dks, &f, |d| d.length == 16 && d.key_id == cmks[0]);
        let f = DataKeyListFilter {
            tags: vec![("app".into(), vec!["y".into()])],
            states: Some(vec![DataKeyState::Enabled, DataKeyState::PendingDelete]),
            ..Default::default()
        };
        check_data_key_listing(store, dks, &f, |d| {
            d.tags.iter().any(|t| t.key == "app" && t.value == "y")
                && d.state != DataKeyState::Disabled
        });
        let id_part = dks[2].data_key_id.to_string()[..13].to_owned();
        for s in ["d1", id_part.as_str()] {
            let f = DataKeyListFilter {
                search: Some(s.into()),
                ..Default::default()
            };
            check_data_key_listing(store, dks, &f, |d| {
                d.name.contains(s) || d.data_key_id.to_string().contains(s)
            });
        }
    };
    check_all(&dks);

    let changed = next(&dks[1], |d| {
        d.revision += 1;
        d.state = DataKeyState::Enabled;
        d.key_id = cmks[0];
        d.length = 16;
        d.tags.clear();
        d.name = "renamed".into();
    });
    store.update_data_key(&changed, 100).unwrap();
    dks[1] = changed;
    let gone = dks.remove(3);
    store.delete_data_key(&gone).unwrap();
    check_all(&dks);
}
