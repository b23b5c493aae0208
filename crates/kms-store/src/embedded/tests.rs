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
    store.update_key(&key, 1000).unwrap();
    store.scrub().unwrap();
    assert!(!contains(&encoded), "no copy survives in freed pages");
    assert_eq!(store.count_keys(1, "ap-guangzhou").unwrap(), 51);
}
