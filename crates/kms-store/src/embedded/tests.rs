use std::sync::Arc;

use kms_core::engine::NewKey;
use kms_core::testing::MemorySeal;
use kms_core::*;
use uuid::Uuid;

use super::EmbeddedStore;

fn record(account: u64, alias: &str, created_at: u64) -> KeyRecord {
    KeyRecord {
        key_id: Uuid::new_v4(),
        account,
        region: "ap-guangzhou".into(),
        alias: alias.into(),
        description: String::new(),
        created_at,
        creator: account,
        state: KeyState::Enabled,
        usage: KeyUsage::EncryptDecrypt,
        spec: KeySpec::Aes256,
        origin: Origin::Kms,
        rotation: RotationPolicy {
            enabled: false,
            rotate_days: 0,
            next_rotate_time: 0,
        },
        last_rotate_time: 0,
        deletion_date: 0,
        tags: vec![],
        versions: vec![],
        revision: 1,
        valid_to: 0,
        fingerprint: None,
        import_parameters: vec![],
    }
}

fn open(dir: &tempfile::TempDir) -> EmbeddedStore {
    EmbeddedStore::open(&dir.path().join("kms.redb")).unwrap()
}

#[test]
fn aliases_limits_and_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let a = record(1, "a", 10);
    store.create_key(&a, 2).unwrap();
    assert_eq!(
        store.create_key(&record(1, "a", 11), 2),
        Err(StoreError::NameTaken)
    );
    assert_eq!(
        store.count_keys(1, "ap-guangzhou").unwrap(),
        1,
        "a refused insert leaves no trace"
    );
    store.create_key(&record(2, "a", 11), 2).unwrap();
    store.create_key(&record(1, "b", 12), 2).unwrap();
    assert_eq!(
        store.create_key(&record(1, "c", 13), 2),
        Err(StoreError::LimitReached)
    );

    let mut renamed = a.clone();
    renamed.alias = "b".into();
    renamed.revision = 2;
    assert_eq!(store.update_key(&renamed), Err(StoreError::NameTaken));
    renamed.alias = "a2".into();
    store.update_key(&renamed).unwrap();
    assert_eq!(
        store.update_key(&renamed),
        Err(StoreError::Conflict),
        "stale revision"
    );
    store.create_key(&record(1, "a", 14), 3).unwrap();

    assert_eq!(store.delete_key(&a), Err(StoreError::Conflict));
    store.delete_key(&renamed).unwrap();
    assert!(store.get_key(&a.key_id).unwrap().is_none());
    assert_eq!(store.count_keys(1, "ap-guangzhou").unwrap(), 2);
    store.create_key(&record(1, "a2", 15), 3).unwrap();
}

#[test]
fn lists_in_creation_order_and_finds_due_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let late = record(1, "late", 20);
    let early = record(1, "early", 10);
    store.create_key(&late, 10).unwrap();
    store.create_key(&early, 10).unwrap();
    store.create_key(&record(9, "other", 5), 10).unwrap();
    let listed = |newest_first| {
        let mut out = Vec::new();
        store
            .scan_keys(1, "ap-guangzhou", newest_first, &mut |k| {
                out.push(k.alias);
                true
            })
            .unwrap();
        out
    };
    assert_eq!(listed(false), vec!["early", "late"]);
    assert_eq!(listed(true), vec!["late", "early"]);

    let mut doomed = early.clone();
    doomed.state = KeyState::PendingDelete;
    doomed.deletion_date = 100;
    doomed.revision = 2;
    store.update_key(&doomed).unwrap();
    assert_eq!(
        store.count_keys(1, "ap-guangzhou").unwrap(),
        1,
        "keys pending deletion do not count toward the limit"
    );
    assert!(store.due_keys(99, 10).unwrap().is_empty());
    assert_eq!(store.due_keys(100, 10).unwrap(), vec![early.key_id]);
    store.delete_key(&doomed).unwrap();
    assert!(store.due_keys(1000, 10).unwrap().is_empty());
    assert_eq!(store.count_keys(1, "ap-guangzhou").unwrap(), 1);
}

#[test]
fn accounts_are_unique_by_uin_secret_and_project() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
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

#[test]
fn keys_and_ciphertexts_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let seal = Arc::new(MemorySeal::generate());
    let caller = Caller {
        account: 1,
        region: "ap-guangzhou".into(),
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
                alias: "persist".into(),
                description: String::new(),
                usage: KeyUsage::EncryptDecrypt,
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

fn data_key(account: u64, name: &str, created_at: u64) -> DataKeyRecord {
    DataKeyRecord {
        data_key_id: Uuid::new_v4(),
        account,
        region: "ap-guangzhou".into(),
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

#[test]
fn data_keys_have_their_own_names_limits_and_due_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    // A data key may share a name with a CMK alias: the namespaces are separate.
    store.create_key(&record(1, "same", 1), 10).unwrap();
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
    assert_eq!(store.count_data_keys(1, "ap-guangzhou").unwrap(), 2);
    assert_eq!(store.count_keys(1, "ap-guangzhou").unwrap(), 1);

    let mut doomed = dk.clone();
    doomed.state = DataKeyState::PendingDelete;
    doomed.deletion_date = 50;
    doomed.revision = 2;
    store.update_data_key(&doomed, 2).unwrap();
    assert_eq!(store.due_data_keys(50, 10).unwrap(), vec![dk.data_key_id]);
    assert!(store.due_keys(1000, 10).unwrap().is_empty());
    store.delete_data_key(&doomed).unwrap();
    assert!(store.get_data_key(&dk.data_key_id).unwrap().is_none());
    store.create_data_key(&data_key(1, "same", 4), 2).unwrap();
    let mut names = Vec::new();
    store
        .scan_data_keys(1, "ap-guangzhou", false, &mut |d| {
            names.push(d.name);
            true
        })
        .unwrap();
    assert_eq!(names, vec!["other", "same"]);
}

#[test]
fn scrub_leaves_no_copy_of_erased_material_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    // Other records around it, so the erased page is one among many.
    for i in 0..50 {
        store
            .create_key(&record(1, &format!("k{i}"), i), 1000)
            .unwrap();
    }
    let marker = vec![0xA5u8; 48];
    let mut key = record(1, "secret", 100);
    key.versions.push(KeyVersion {
        version: 1,
        created_at: 100,
        sealed_material: marker.clone(),
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
    store.update_key(&key).unwrap();
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
        let mut key = record(1, &format!("k{i}"), i);
        key.versions.push(KeyVersion {
            version: 1,
            created_at: i,
            sealed_material: vec![i as u8; 16 << 10],
        });
        store.create_key(&key, 1000).unwrap();
    }
    let start = file_len();
    let mut key = record(1, "imported", 1000);
    store.create_key(&key, 1000).unwrap();
    for round in 0..10 {
        key.versions = vec![KeyVersion {
            version: 1,
            created_at: round,
            sealed_material: vec![0xA5; 48],
        }];
        key.revision += 1;
        store.update_key(&key).unwrap();
        key.versions.clear();
        key.revision += 1;
        store.update_key(&key).unwrap();
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
        region: "ap-guangzhou".into(),
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
                alias: "doomed".into(),
                description: String::new(),
                usage: KeyUsage::EncryptDecrypt,
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
    engine.schedule_deletion(&caller, &id, 7).unwrap();
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
