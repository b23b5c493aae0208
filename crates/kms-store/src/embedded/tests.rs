use std::sync::Arc;

use kms_core::engine::NewKey;
use kms_core::store::contract;
use kms_core::testing::MemorySeal;
use kms_core::*;
use redb::ReadableTable;

use super::EmbeddedStore;

fn open(dir: &tempfile::TempDir) -> EmbeddedStore {
    EmbeddedStore::open(&dir.path().join("kms.redb")).unwrap()
}

#[test]
fn embedded_store_keeps_the_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let mut stores = 0;
    kms_core::store::contract::check(|| {
        stores += 1;
        EmbeddedStore::open(&dir.path().join(format!("contract-{stores}.redb"))).unwrap()
    });
}

#[test]
fn keys_and_ciphertexts_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let seal = Arc::new(MemorySeal::generate());
    let caller = Caller {
        account: 1,
        user: None,
        credential: "test-credential".into(),
        region: "ap-guangzhou".into(),
        authority: None,
    };
    let engine_over = |store: EmbeddedStore| {
        Engine::new(
            Arc::new(store),
            seal.clone(),
            Arc::new(SystemClock),
            EngineConfig::default(),
        )
    };
    let engine = engine_over(open(&dir));
    let key = engine
        .create_key(
            &caller,
            NewKey {
                hsm_cluster: None,
                alias: "persist".into(),
                description: String::new(),
                usage: KeyUsage::EncryptDecrypt,
                spec: kms_core::KeySpec::Aes256,
                origin: Origin::Kms,
                tags: vec![],
            },
        )
        .unwrap();
    let ctx = EncryptionContext::default();
    let (_, blob) = engine
        .encrypt(&caller, &key.key_id.to_string(), b"durable", &ctx)
        .unwrap();
    engine.rotate_key(&caller, &key.key_id.to_string()).unwrap();
    drop(engine);

    let engine = engine_over(open(&dir));
    assert_eq!(
        &engine.decrypt(&caller, &blob, &ctx).unwrap().1[..],
        b"durable"
    );
    assert_eq!(
        engine
            .describe_key(&caller, &key.key_id.to_string())
            .unwrap()
            .versions
            .len(),
        2
    );
}

#[test]
fn scrub_leaves_no_copy_of_erased_material_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    // Other records around it, so the erased page is one among many.
    for i in 0..50 {
        store
            .create_key(&contract::key(1, &format!("k{i}"), i), 1000)
            .unwrap();
    }
    let marker = vec![0xA5u8; 48];
    let mut key = contract::key(1, "secret", 100);
    key.versions.push(KeyVersion {
        version: 1,
        created_at: 100,
        sealed_material: marker.clone(),
        public_key: None,
    });
    store.create_key(&key, 1000).unwrap();
    let encoded = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&marker)
    };
    let file = dir.path().join("kms.redb");
    let contains = |needle: &str| {
        let bytes = std::fs::read(&file).unwrap();
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    };
    assert!(contains(&encoded));
    key.versions.clear();
    key.revision = 2;
    store.update_key(&key, 1000).unwrap();
    store.scrub().unwrap();
    assert!(!contains(&encoded), "no copy survives in freed pages");
    assert_eq!(store.count_keys(1, "ap-guangzhou").unwrap(), 51);
}

#[test]
fn repeated_scrubs_do_not_grow_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let file = dir.path().join("kms.redb");
    let file_len = || std::fs::metadata(&file).unwrap().len();
    // A few MiB of records, each with (stand-in) sealed material.
    for i in 0..100 {
        let mut key = contract::key(1, &format!("k{i}"), i);
        key.versions.push(KeyVersion {
            version: 1,
            created_at: i,
            sealed_material: vec![i as u8; 16 << 10],
            public_key: None,
        });
        store.create_key(&key, 1000).unwrap();
    }
    let start = file_len();
    let mut key = contract::key(1, "imported", 1000);
    store.create_key(&key, 1000).unwrap();
    for round in 0..10 {
        key.versions = vec![KeyVersion {
            version: 1,
            created_at: round,
            sealed_material: vec![0xA5; 48],
            public_key: None,
        }];
        key.revision += 1;
        store.update_key(&key, 1000).unwrap();
        key.versions.clear();
        key.revision += 1;
        store.update_key(&key, 1000).unwrap();
        store.scrub().unwrap();
        assert!(
            file_len() <= start + (1 << 20),
            "round {round}: {} bytes, started at {start}",
            file_len()
        );
    }
    assert_eq!(store.count_keys(1, "ap-guangzhou").unwrap(), 101);
}

#[test]
fn an_erasure_left_unscrubbed_at_a_stop_is_scrubbed_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let seal = Arc::new(MemorySeal::generate());
    let clock = Arc::new(ManualClock::new(1_000));
    let caller = Caller {
        account: 1,
        user: None,
        credential: "test-credential".into(),
        region: "ap-guangzhou".into(),
        authority: None,
    };
    let engine_over = |store: EmbeddedStore| {
        Engine::new(
            Arc::new(store),
            seal.clone(),
            clock.clone(),
            EngineConfig::default(),
        )
    };
    let engine = engine_over(open(&dir));
    engine.run_owed_scrub().unwrap();
    let key = engine
        .create_key(
            &caller,
            NewKey {
                hsm_cluster: None,
                alias: "doomed".into(),
                description: String::new(),
                usage: KeyUsage::EncryptDecrypt,
                spec: kms_core::KeySpec::Aes256,
                origin: Origin::Kms,
                tags: vec![],
            },
        )
        .unwrap();
    let id = key.key_id.to_string();
    let sealed = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&key.versions[0].sealed_material)
    };
    let file = dir.path().join("kms.redb");
    let contains = |needle: &str| {
        let bytes = std::fs::read(&file).unwrap();
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    };
    engine.disable_key(&caller, &id).unwrap();
    engine
        .schedule_deletion(&caller, &id, 7, DeletableFrom::Disabled)
        .unwrap();
    clock.advance(7 * 86_400);
    assert_eq!(engine.run_due_work().unwrap(), 1);
    assert!(engine.scrub_owed());
    assert!(
        contains(&sealed),
        "the sweep left the scrub to the scrubber"
    );
    drop(engine);

    let engine = engine_over(open(&dir));
    assert!(engine.scrub_owed(), "a restarted engine scrubs first");
    assert!(engine.run_owed_scrub().unwrap());
    assert!(!contains(&sealed));
}

/// Writes six keys into a new store at `path`, every other one Disabled, each changed by
/// `more(i, key)` first; the keys.
fn six_keys(path: &std::path::Path, more: impl Fn(u64, &mut KeyRecord)) -> Vec<KeyRecord> {
    let store = EmbeddedStore::open(path).unwrap();
    (0..6u64)
        .map(|i| {
            let mut k = contract::key(1, &format!("k{i}"), i);
            if i % 2 == 0 {
                k.state = KeyState::Disabled;
            }
            more(i, &mut k);
            store.create_key(&k, 100).unwrap();
            k
        })
        .collect()
}

/// A store written before the listing indexes (no meta table, no term tables, the old names
/// table holding only each key's own alias) gets them built when opened.
#[test]
fn a_store_without_listing_indexes_gets_them_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kms.redb");
    let keys = six_keys(&path, |i, k| {
        if i == 3 {
            k.aliases = vec![Alias {
                name: "extra".into(),
                created_at: 1,
                updated_at: 2,
            }];
        }
    });
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        for t in [&super::KEYS, &super::DATA_KEYS] {
            txn.delete_table(t.terms).unwrap();
            txn.delete_table(t.term_counts).unwrap();
            txn.delete_table(t.aliases).unwrap();
            txn.delete_table(t.names).unwrap();
            let mut names = txn.open_table(t.old_names).unwrap();
            for k in keys.iter().filter(|_| std::ptr::eq(t, &super::KEYS)) {
                names
                    .insert(
                        (k.account, k.region.as_str(), k.alias.as_str()),
                        k.key_id.as_u128(),
                    )
                    .unwrap();
            }
        }
        txn.delete_table(super::META).unwrap();
        txn.commit().unwrap();
    }
    let store = EmbeddedStore::open(&path).unwrap();
    let disabled = store::KeyListFilter {
        states: Some(vec![KeyState::Disabled]),
        order: SortOrder::OldestFirst,
        limit: 10,
        ..Default::default()
    };
    let listed = store.list_keys(1, "ap-guangzhou", &disabled).unwrap();
    assert_eq!(listed.total, 3);
    let ids: Vec<_> = listed.page.iter().map(|k| k.key_id).collect();
    assert_eq!(ids, [keys[0].key_id, keys[2].key_id, keys[4].key_id]);
    let all = store
        .list_keys(1, "ap-guangzhou", &store::KeyListFilter::default())
        .unwrap();
    assert_eq!(all.total, 6);
    assert_eq!(
        store.key_by_name(1, "ap-guangzhou", "extra").unwrap(),
        Some(keys[3].key_id)
    );
    assert_eq!(
        store
            .list_aliases(1, "ap-guangzhou", None, 0, 10)
            .unwrap()
            .total,
        1
    );
    let mut clash = contract::key(1, "extra", 9);
    assert_eq!(store.create_key(&clash, 100), Err(StoreError::NameTaken));
    clash.alias = "k1".into();
    assert_eq!(store.create_key(&clash, 100), Err(StoreError::NameTaken));
}

#[test]
fn a_store_from_before_identity_records_keeps_its_credential_and_is_migrated_once() {
    let dir = tempfile::tempdir().unwrap();
    let seal = MemorySeal::generate();
    {
        let store = open(&dir);
        kms_core::testing::directory_with_account(&store, &seal, 7, "AKIDold", "old-secret");
    }
    let store = open(&dir);
    assert_eq!(store.identity().unwrap().revision, 0);
    let before = kms_core::accounts::Directory::load(&store, &seal).unwrap();
    assert_eq!(
        before.by_secret_id("AKIDold").unwrap().secret_key(),
        b"old-secret"
    );
    assert!(kms_core::identity::migrate(&store).unwrap());
    drop(store);
    let store = open(&dir);
    assert!(!kms_core::identity::migrate(&store).unwrap());
    let identity = store.identity().unwrap();
    assert_eq!(identity.revision, 1);
    assert_eq!(identity.credentials["AKIDold"].account, 7);
    let after = kms_core::accounts::Directory::load(&store, &seal).unwrap();
    assert_eq!(
        after.by_secret_id("AKIDold").unwrap().secret_key(),
        b"old-secret"
    );
    let (_, secret, identity) =
        kms_core::identity::create_credential(&store, &seal, 7, None, 1).unwrap();
    assert_eq!(identity.credentials.len(), 2);
    assert_eq!(secret.len(), 32);
}

/// The store holds sealed key material and every account's records: only its owner may read
/// it, whatever the umask would have let redb create.
#[test]
fn a_new_store_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    drop(open(&dir));
    let mode = std::fs::metadata(dir.path().join("kms.redb"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// The keys and data keys an exported store shows, as text to compare, and the counts, totals
/// and names its indexes answer.
fn contents(store: &EmbeddedStore) -> (Vec<String>, u64, u64, u64, Option<uuid::Uuid>) {
    let mut records = Vec::new();
    store
        .export(&mut |record| {
            records.push(match record {
                kms_core::store::Record::Key(key) => serde_json::to_string(&key).unwrap(),
                kms_core::store::Record::DataKey(dk) => serde_json::to_string(&dk).unwrap(),
                _ => String::new(),
            });
            Ok(())
        })
        .unwrap();
    records.sort();
    let listed = store
        .list_keys(1, "ap-guangzhou", &KeyListFilter::default())
        .unwrap()
        .total;
    (
        records,
        store.count_keys(1, "ap-guangzhou").unwrap(),
        store.count_data_keys(1, "ap-guangzhou").unwrap(),
        listed,
        store.key_by_name(1, "ap-guangzhou", "batch-3").unwrap(),
    )
}

#[test]
fn a_batch_import_writes_what_one_import_per_record_writes() {
    let keys: Vec<KeyRecord> = (0..20)
        .map(|i| contract::key(1, &format!("batch-{i}"), 1_700_000_000 + i))
        .collect();
    let data_keys: Vec<DataKeyRecord> = (0..10)
        .map(|i| {
            let mut dk = contract::data_key(1, &format!("dk-{i}"), 1_700_000_000 + i);
            dk.key_id = keys[i as usize].key_id;
            dk
        })
        .collect();
    let records: Vec<kms_core::store::Record> = keys
        .iter()
        .cloned()
        .map(kms_core::store::Record::Key)
        .chain(
            data_keys
                .iter()
                .cloned()
                .map(kms_core::store::Record::DataKey),
        )
        .collect();
    let (one, batch) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (one, batch) = (open(&one), open(&batch));
    for record in &records {
        one.import(record).unwrap();
    }
    batch.import_batch(&records).unwrap();
    let (exported, keys_counted, data_keys_counted, listed, named) = contents(&batch);
    assert_eq!(exported.len(), 30);
    assert_eq!((keys_counted, data_keys_counted, listed), (20, 10, 20));
    assert_eq!(named, Some(keys[3].key_id));
    assert_eq!(contents(&one), contents(&batch));
}

#[test]
fn a_batch_import_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let first = contract::key(1, "taken", 1_700_000_000);
    let second = contract::key(1, "taken", 1_700_000_001);
    let refused = store.import_batch(&[
        kms_core::store::Record::Key(first.clone()),
        kms_core::store::Record::Key(second),
    ]);
    assert_eq!(refused, Err(StoreError::NameTaken));
    let account = kms_core::store::Record::Setting {
        name: "x".into(),
        value: vec![1],
    };
    assert!(
        store
            .import_batch(&[kms_core::store::Record::Key(first.clone()), account])
            .is_err()
    );
    assert_eq!(store.count_keys(1, "ap-guangzhou").unwrap(), 0);
    assert!(store.get_key(&first.key_id).unwrap().is_none());
    assert_eq!(store.key_by_name(1, "ap-guangzhou", "taken").unwrap(), None);
    assert_eq!(store.setting("x").unwrap(), None);
}

const REGION: &str = "ap-guangzhou";

#[test]
fn a_batch_answers_each_write_as_run_alone_in_its_order_and_commits_only_the_successes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.create_key(&contract::key(1, "before", 1), 3).unwrap();
    let create = |key: &KeyRecord| {
        let key = key.clone();
        super::commit::queue_write(move |txn| super::KEYS.create(txn, &key, 3))
    };
    let first = contract::key(1, "first", 2);
    let same_name = contract::key(1, "first", 3);
    let second = contract::key(1, "second", 4);
    let over_limit = contract::key(1, "third", 5);
    let other_account = contract::key(2, "first", 6);
    let (panicking, panicked) =
        super::commit::queue_write(|_| -> Result<(), StoreError> { panic!("a write that panics") });
    let (writes, answers): (Vec<_>, Vec<_>) = [
        create(&first),
        create(&same_name),
        (panicking, panicked),
        create(&second),
        create(&over_limit),
        create(&other_account),
    ]
    .into_iter()
    .unzip();
    super::commit::commit_batch(&store.db, writes);
    let answers: Vec<_> = answers.into_iter().map(|a| a.recv().unwrap()).collect();
    let outcome = |i: usize| answers[i].as_ref().unwrap();
    assert_eq!(outcome(0), &Ok(()));
    assert_eq!(outcome(1), &Err(StoreError::NameTaken));
    let panic = answers[2].as_ref().unwrap_err();
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"a write that panics"));
    assert_eq!(outcome(3), &Ok(()));
    assert_eq!(outcome(4), &Err(StoreError::LimitReached));
    assert_eq!(outcome(5), &Ok(()));

    drop(store);
    let store = open(&dir);
    for (key, stored) in [
        (&first, true),
        (&same_name, false),
        (&second, true),
        (&over_limit, false),
        (&other_account, true),
    ] {
        let found = store.get_key(&key.key_id).unwrap();
        assert_eq!(
            found.map(|k| (k.account, k.alias)),
            stored.then(|| (key.account, key.alias.clone()))
        );
    }
    // The failed writes left nothing: not their count, nor their names.
    assert_eq!(store.count_keys(1, REGION).unwrap(), 3);
    assert_eq!(store.count_keys(2, REGION).unwrap(), 1);
    assert_eq!(
        store.key_by_name(1, REGION, "first").unwrap(),
        Some(first.key_id)
    );
    assert_eq!(store.key_by_name(1, REGION, "third").unwrap(), None);
}

/// Creates keys from `threads` threads at once, `each` per thread, the name of each unique;
/// the answer of every attempt with its key.
fn create_concurrently(
    store: &EmbeddedStore,
    threads: u64,
    each: u64,
    max: u64,
) -> Vec<(KeyRecord, Result<(), StoreError>)> {
    std::thread::scope(|s| {
        let writers: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (0..each)
                        .map(|i| {
                            let key = contract::key(1, &format!("t{t}-{i}"), t * each + i);
                            let answer = store.create_key(&key, max);
                            (key, answer)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        writers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    })
}

#[test]
fn concurrent_writers_find_every_created_key_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let created = create_concurrently(&store, 16, 40, u64::MAX);
    assert!(created.iter().all(|(_, answer)| answer.is_ok()));
    drop(store);

    let store = open(&dir);
    assert_eq!(store.count_keys(1, REGION).unwrap(), 640);
    for (key, _) in &created {
        let stored = store.get_key(&key.key_id).unwrap().unwrap();
        assert_eq!(stored.alias, key.alias);
        assert_eq!(
            store.key_by_name(1, REGION, &key.alias).unwrap(),
            Some(key.key_id)
        );
    }
}

#[test]
fn the_key_limit_and_unique_names_hold_exactly_under_concurrent_creates() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let attempts = create_concurrently(&store, 16, 20, 100);
    let created: Vec<_> = attempts
        .iter()
        .filter(|(_, answer)| answer.is_ok())
        .collect();
    assert_eq!(created.len(), 100);
    assert!(
        attempts
            .iter()
            .all(|(_, a)| matches!(a, Ok(()) | Err(StoreError::LimitReached)))
    );
    assert_eq!(store.count_keys(1, REGION).unwrap(), 100);
    for (key, answer) in &attempts {
        assert_eq!(
            store.get_key(&key.key_id).unwrap().is_some(),
            answer.is_ok()
        );
    }

    let same_name: Vec<_> = std::thread::scope(|s| {
        let writers: Vec<_> = (0..16)
            .map(|i| {
                let store = &store;
                s.spawn(move || store.create_key(&contract::key(2, "shared", i), u64::MAX))
            })
            .collect();
        writers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert_eq!(same_name.iter().filter(|a| a.is_ok()).count(), 1);
    assert_eq!(
        same_name
            .iter()
            .filter(|a| **a == Err(StoreError::NameTaken))
            .count(),
        15
    );
    assert_eq!(store.count_keys(2, REGION).unwrap(), 1);
}

/// A store of index version 3 (no tuple terms, no HSM cluster terms) gets them built when
/// opened: combined filters then find what they match.
#[test]
fn a_store_of_index_version_3_gets_tuple_terms_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kms.redb");
    let keys = six_keys(&path, |i, k| {
        if i % 3 == 0 {
            k.tags.push(Tag {
                key: "team".into(),
                value: "a".into(),
            });
        }
        if i == 2 {
            k.hsm_cluster = Some("cls-a".into());
        }
    });
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let t = &super::KEYS;
            let mut terms = txn.open_table(t.terms).unwrap();
            let mut counts = txn.open_table(t.term_counts).unwrap();
            let tuple_entries: Vec<_> = terms
                .iter()
                .unwrap()
                .map(|e| {
                    let (entry, _) = e.unwrap();
                    let (a, r, term, c, id) = entry.value();
                    (a, r.to_owned(), term.to_owned(), c, id)
                })
                .filter(|(_, _, term, _, _)| {
                    term.starts_with("tuple\0") || term.starts_with("hsm_cluster\0")
                })
                .collect();
            assert_eq!(
                tuple_entries.len(),
                6 + 2 * 2 + 6,
                "a tuple per key; per tag, the tuple with the tag key and with key and value; \
                 an HSM cluster term per key"
            );
            for (a, r, term, c, id) in &tuple_entries {
                terms
                    .remove((*a, r.as_str(), term.as_str(), *c, *id))
                    .unwrap();
                counts.remove((*a, r.as_str(), term.as_str())).unwrap();
            }
            let mut meta = txn.open_table(super::META).unwrap();
            meta.insert(super::INDEX_VERSION_KEY, 3).unwrap();
        }
        txn.commit().unwrap();
    }
    let store = EmbeddedStore::open(&path).unwrap();
    let combined = store::KeyListFilter {
        states: Some(vec![KeyState::Disabled]),
        usages: Some(vec![KeyUsage::EncryptDecrypt]),
        specs: Some(vec![KeySpec::Aes256, KeySpec::Sm4]),
        order: SortOrder::OldestFirst,
        limit: 10,
        ..Default::default()
    };
    let listed = store.list_keys(1, "ap-guangzhou", &combined).unwrap();
    assert_eq!(listed.total, 3);
    let ids: Vec<_> = listed.page.iter().map(|k| k.key_id).collect();
    assert_eq!(ids, [keys[0].key_id, keys[2].key_id, keys[4].key_id]);
    let tagged = store::KeyListFilter {
        tags: vec![("team".into(), vec!["a".into()])],
        ..combined.clone()
    };
    let listed = store.list_keys(1, "ap-guangzhou", &tagged).unwrap();
    assert_eq!(listed.total, 1);
    assert_eq!(listed.page[0].key_id, keys[0].key_id);
    let in_cluster = store::KeyListFilter {
        hsm_cluster: Some(store::HsmClusterFilter::Cluster("cls-a".into())),
        ..combined
    };
    let listed = store.list_keys(1, "ap-guangzhou", &in_cluster).unwrap();
    assert_eq!(listed.total, 1);
    assert_eq!(listed.page[0].key_id, keys[2].key_id);
}
