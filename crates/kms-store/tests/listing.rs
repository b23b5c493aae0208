//! Listing cost against the number of keys in one region: fills one scope of a store with keys
//! and as many hosted data keys, to each size of `KMSD_LISTING_SIZES` (default 10,000 and then
//! 1,000,000), and times at each size every listing the dialects send (Tencent ListKeys,
//! ListKeyDetail with its defaults and each filter and combination, ListDataKeys,
//! ListDataKeyDetail; Huawei list-keys and list-kms-by-tags, list-aliases, list-retirable-grants),
//! a deep page and the searches. Run with
//! `TMPDIR=/dev/shm cargo test --release -p kms-store --test listing -- --ignored --nocapture`
//! and, for one store, the test's name (`listing_cost_…` embedded, `postgres_listing_cost_…`).
//! The embedded store's file on tmpfs only makes the fill quick; reads are served from redb's
//! cache. The PostgreSQL case fills a database of its own on the server KMSD_TEST_POSTGRES
//! names (default postgres://postgres@127.0.0.1:5432/postgres) and drops it afterwards.

use std::time::{Duration, Instant};

use kms_core::grants::{GrantOperation, GrantRecord, GranteeType};
use kms_core::store::contract;
use kms_core::store::{DataKeyListFilter, KeyListFilter, Listed, SortOrder};
use kms_core::*;
use kms_store::{EmbeddedStore, PgOptions, PgStore};

const REGION: &str = "ap-guangzhou";
const RUNS: usize = 15;
/// The principal that may retire every tenth key's grant.
const RETIRING: &str = "100000000009";

/// The CMK of data key `i`: one of sixteen.
fn cmk(i: u64) -> uuid::Uuid {
    uuid::Uuid::from_u128(0x5eed_0000 + u128::from(i % 16))
}

/// Key `i` of the scope: mostly enabled, a tenth disabled and a few in other states; an eighth
/// SM4 and a sixteenth ECC signing keys; half carry one of eight team tags (in runs of twenty),
/// most an environment tag; every tenth an alias entry; one sealed version each.
fn key_record(i: u64) -> KeyRecord {
    let mut k = contract::key(1, &format!("key-{i:07}"), 1_700_000_000 + i);
    k.key_id = uuid::Uuid::now_v7();
    k.state = match i % 20 {
        0 | 1 => KeyState::Disabled,
        2 => KeyState::PendingDelete,
        3 => KeyState::PendingImport,
        _ => KeyState::Enabled,
    };
    if k.state == KeyState::PendingDelete {
        k.deletion_date = u64::MAX / 2;
    }
    if i % 10 == 3 {
        k.origin = Origin::External;
    }
    match i % 16 {
        5 | 13 => k.spec = KeySpec::Sm4,
        7 => (k.usage, k.spec) = (KeyUsage::SignVerify, KeySpec::EccP256),
        _ => {}
    }
    k.description = format!("service {} data", i % 97);
    if i.is_multiple_of(2) {
        k.tags.push(Tag {
            key: "team".into(),
            value: format!("t{}", (i / 20) % 8),
        });
    }
    if !i.is_multiple_of(5) {
        k.tags.push(Tag {
            key: "env".into(),
            value: if i.is_multiple_of(3) { "dev" } else { "prod" }.into(),
        });
    }
    if i % 10 == 1 {
        k.aliases.push(Alias {
            name: format!("alias/app-{i:07}"),
            created_at: k.created_at,
            updated_at: k.created_at,
        });
    }
    k.versions.push(KeyVersion {
        version: 1,
        created_at: k.created_at,
        sealed_material: vec![0x5a; 60],
        public_key: None,
    });
    k
}

/// Data key `i`: a third disabled, a tenth imported, under one of sixteen CMKs, 32 bytes or
/// (a quarter) 16, half tagged with an `app`.
fn data_key_record(i: u64) -> DataKeyRecord {
    let mut d = contract::data_key(1, &format!("dk-{i:07}"), 1_700_000_000 + i);
    d.data_key_id = uuid::Uuid::now_v7();
    if i % 3 == 1 {
        d.state = DataKeyState::Disabled;
    }
    if i % 10 == 3 {
        d.origin = Origin::External;
    }
    d.key_id = cmk(i);
    if i.is_multiple_of(4) {
        d.length = 16;
    }
    if i.is_multiple_of(2) {
        d.tags.push(Tag {
            key: "app".into(),
            value: format!("a{}", (i / 20) % 8),
        });
    }
    d
}

fn grant_record(key: &KeyRecord) -> GrantRecord {
    GrantRecord {
        grant_id: format!("{:064x}", key.key_id.as_u128()),
        key_id: key.key_id,
        account: key.account,
        region: key.region.clone(),
        grantee: "100000000008".into(),
        grantee_type: GranteeType::User,
        operations: vec![GrantOperation::DescribeKey],
        name: String::new(),
        retiring_principal: RETIRING.into(),
        issuing_principal: "1".into(),
        created_at: key.created_at,
    }
}

/// The median of `RUNS` runs of `list`, with the total and page length it answered.
fn time<T>(list: impl Fn() -> Listed<T>) -> (Duration, u64, usize) {
    let mut times = Vec::with_capacity(RUNS);
    let mut last = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        let listed = list();
        times.push(start.elapsed());
        last = Some(listed);
    }
    times.sort();
    let listed = last.unwrap();
    (times[RUNS / 2], listed.total, listed.page.len())
}

/// ListKeyDetail's filter with the SDK's defaults (KeyUsage ENCRYPT_DECRYPT: a usage with two
/// specs; newest first; Limit 20) and `more`.
fn key_detail(more: KeyListFilter) -> KeyListFilter {
    KeyListFilter {
        usages: Some(vec![KeyUsage::EncryptDecrypt]),
        specs: Some(vec![KeySpec::Aes256, KeySpec::Sm4]),
        ..page(more)
    }
}

/// `f` as a first page of 20, newest first.
fn page(f: KeyListFilter) -> KeyListFilter {
    KeyListFilter {
        limit: 20,
        order: SortOrder::NewestFirst,
        ..f
    }
}

fn tags(t: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    t.iter()
        .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
        .collect()
}

/// Every key listing, as the dialect code builds its filter.
fn key_cases(id_fragment: String) -> Vec<(&'static str, KeyListFilter)> {
    let state = |s: KeyState| Some(vec![s]);
    let all_usages = |f: KeyListFilter| KeyListFilter {
        usages: None,
        specs: None,
        ..key_detail(f)
    };
    vec![
        (
            "Tencent ListKeys (three states, oldest first)",
            KeyListFilter {
                states: Some(vec![
                    KeyState::Enabled,
                    KeyState::Disabled,
                    KeyState::PendingImport,
                ]),
                order: SortOrder::OldestFirst,
                limit: 20,
                ..Default::default()
            },
        ),
        (
            "ListKeyDetail, SDK defaults (usage ENCRYPT_DECRYPT)",
            key_detail(KeyListFilter::default()),
        ),
        (
            "ListKeyDetail KeyState=2",
            key_detail(KeyListFilter {
                states: state(KeyState::Disabled),
                ..Default::default()
            }),
        ),
        (
            "ListKeyDetail Origin=EXTERNAL",
            key_detail(KeyListFilter {
                origin: Some(Origin::External),
                ..Default::default()
            }),
        ),
        (
            "ListKeyDetail KeyState=2 Origin=TENCENT_KMS",
            key_detail(KeyListFilter {
                states: state(KeyState::Disabled),
                origin: Some(Origin::Kms),
                ..Default::default()
            }),
        ),
        (
            "ListKeyDetail KeyUsage=ASYMMETRIC_SIGN_VERIFY_ECC KeyState=1",
            KeyListFilter {
                states: state(KeyState::Enabled),
                usages: Some(vec![KeyUsage::SignVerify]),
                specs: Some(vec![KeySpec::EccP256]),
                ..page(KeyListFilter::default())
            },
        ),
        (
            "ListKeyDetail KeyUsage=ALL (no filter)",
            all_usages(KeyListFilter::default()),
        ),
        (
            "ListKeyDetail KeyUsage=ALL KeyState=2",
            all_usages(KeyListFilter {
                states: state(KeyState::Disabled),
                ..Default::default()
            }),
        ),
        (
            "ListKeyDetail KeyUsage=ALL Origin=EXTERNAL KeyState=1",
            all_usages(KeyListFilter {
                states: state(KeyState::Enabled),
                origin: Some(Origin::External),
                ..Default::default()
            }),
        ),
        (
            "ListKeyDetail KeyUsage=ALL TagFilters team=t3",
            all_usages(KeyListFilter {
                tags: tags(&[("team", &["t3"])]),
                ..Default::default()
            }),
        ),
        (
            "ListKeyDetail TagFilters team=t3",
            key_detail(KeyListFilter {
                tags: tags(&[("team", &["t3"])]),
                ..Default::default()
            }),
        ),
        (
            "ListKeyDetail TagFilters team=t3 KeyState=2 Origin=TENCENT_KMS",
            key_detail(KeyListFilter {
                tags: tags(&[("team", &["t3"])]),
                states: state(KeyState::Disabled),
                origin: Some(Origin::Kms),
                ..Default::default()
            }),
        ),
        (
            "ListKeyDetail TagFilters team=t3|t4 (two values)",
            key_detail(KeyListFilter {
                tags: tags(&[("team", &["t3", "t4"])]),
                ..Default::default()
            }),
        ),
        (
            "ListKeyDetail TagFilters team=t3 and env=prod",
            key_detail(KeyListFilter {
                tags: tags(&[("team", &["t3"]), ("env", &["prod"])]),
                ..Default::default()
            }),
        ),
        (
            "ListKeyDetail Offset=5000 KeyUsage=ALL",
            all_usages(KeyListFilter {
                offset: 5000,
                ..Default::default()
            }),
        ),
        (
            "ListKeyDetail SearchKeyAlias=key-00042 (names only)",
            key_detail(KeyListFilter {
                search: Some("key-00042".into()),
                ..Default::default()
            }),
        ),
        (
            "ListKeyDetail SearchKeyAlias=12 hex digits of an id",
            all_usages(KeyListFilter {
                search: Some(id_fragment),
                ..Default::default()
            }),
        ),
        (
            "Huawei list-keys (key_spec AES_256, oldest first)",
            KeyListFilter {
                specs: Some(vec![KeySpec::Aes256]),
                order: SortOrder::OldestFirst,
                limit: 20,
                ..Default::default()
            },
        ),
        (
            "Huawei list-keys key_state=2 (key_spec AES_256)",
            KeyListFilter {
                states: state(KeyState::Disabled),
                specs: Some(vec![KeySpec::Aes256]),
                order: SortOrder::OldestFirst,
                limit: 20,
                ..Default::default()
            },
        ),
        (
            "Huawei list-kms-by-tags filter team=t3",
            KeyListFilter {
                tags: tags(&[("team", &["t3"])]),
                order: SortOrder::OldestFirst,
                limit: 20,
                ..Default::default()
            },
        ),
        (
            "Huawei list-kms-by-tags count team=t3 env=dev",
            KeyListFilter {
                tags: tags(&[("team", &["t3"]), ("env", &["dev"])]),
                order: SortOrder::OldestFirst,
                ..Default::default()
            },
        ),
    ]
}

/// Every data key listing, as the Tencent dialect builds its filter.
fn data_key_cases() -> Vec<(&'static str, DataKeyListFilter)> {
    let detail = |f: DataKeyListFilter| DataKeyListFilter {
        limit: 20,
        order: SortOrder::NewestFirst,
        ..f
    };
    let enabled = Some(vec![DataKeyState::Enabled]);
    vec![
        (
            "ListDataKeys (oldest first)",
            DataKeyListFilter {
                order: SortOrder::OldestFirst,
                limit: 20,
                ..Default::default()
            },
        ),
        (
            "ListDataKeyDetail, defaults",
            detail(DataKeyListFilter::default()),
        ),
        (
            "ListDataKeyDetail KeyState=1",
            detail(DataKeyListFilter {
                states: enabled.clone(),
                ..Default::default()
            }),
        ),
        (
            "ListDataKeyDetail KeyId",
            detail(DataKeyListFilter {
                key_id: Some(cmk(3)),
                ..Default::default()
            }),
        ),
        (
            "ListDataKeyDetail KeyId KeyState=1 DataKeyLen=16",
            detail(DataKeyListFilter {
                key_id: Some(cmk(4)),
                states: enabled.clone(),
                length: Some(16),
                ..Default::default()
            }),
        ),
        (
            "ListDataKeyDetail Origin=EXTERNAL KeyState=1",
            detail(DataKeyListFilter {
                origin: Some(Origin::External),
                states: enabled.clone(),
                ..Default::default()
            }),
        ),
        (
            "ListDataKeyDetail TagFilters app=a3 KeyState=1",
            detail(DataKeyListFilter {
                tags: tags(&[("app", &["a3"])]),
                states: enabled.clone(),
                ..Default::default()
            }),
        ),
        (
            "ListDataKeyDetail TagFilters app=a3 KeyId",
            detail(DataKeyListFilter {
                tags: tags(&[("app", &["a3"])]),
                key_id: Some(cmk(4)),
                ..Default::default()
            }),
        ),
        (
            "ListDataKeyDetail SearchKeyAlias=dk-00042",
            detail(DataKeyListFilter {
                search: Some("dk-00042".into()),
                ..Default::default()
            }),
        ),
    ]
}

fn row(size: u64, what: &str, (median, total, len): (Duration, u64, usize)) {
    println!(
        "{size:>8} | {what:<66} | {:>9.3} ms | total {total}, page {len}",
        median.as_secs_f64() * 1000.0
    );
}

fn report(store: &dyn Store, size: u64) {
    let newest = store
        .list_keys(1, REGION, &page(KeyListFilter::default()))
        .unwrap();
    let id_fragment = newest.page[0].key_id.to_string()[24..].to_owned();
    for (what, filter) in key_cases(id_fragment) {
        row(
            size,
            what,
            time(|| store.list_keys(1, REGION, &filter).unwrap()),
        );
    }
    for (what, filter) in data_key_cases() {
        row(
            size,
            what,
            time(|| store.list_data_keys(1, REGION, &filter).unwrap()),
        );
    }
    row(
        size,
        "Huawei list-aliases (the region's, limit 20)",
        time(|| store.list_aliases(1, REGION, None, 0, 20).unwrap()),
    );
    row(
        size,
        "Huawei list-retirable-grants (limit 20)",
        time(|| store.retirable_grants(REGION, RETIRING, 0, 20).unwrap()),
    );
}

/// The sizes to fill to and time at: `KMSD_LISTING_SIZES` (comma-separated), by default
/// 10,000 and 1,000,000.
fn sizes() -> Vec<u64> {
    std::env::var("KMSD_LISTING_SIZES")
        .map(|s| s.split(',').map(|n| n.trim().parse().unwrap()).collect())
        .unwrap_or_else(|_| vec![10_000, 1_000_000])
}

/// Fills `store` with keys (every tenth with a grant) and data keys to each size from
/// `threads` threads, runs `settle` (PostgreSQL: the statistics and visibility autovacuum
/// would reach), and reports each size and the fill's rate.
fn fill_and_report(store: &(dyn Store + Sync), threads: u64, settle: &dyn Fn()) {
    let mut filled = 0u64;
    for target in sizes() {
        let start = Instant::now();
        std::thread::scope(|scope| {
            for t in 0..threads {
                scope.spawn(move || {
                    let mut i = filled + t;
                    while i < target {
                        let key = key_record(i);
                        store.create_key(&key, u64::MAX).unwrap();
                        if i % 10 == 9 {
                            store.create_grant(&grant_record(&key), u64::MAX).unwrap();
                        }
                        store
                            .create_data_key(&data_key_record(i), u64::MAX)
                            .unwrap();
                        i += threads;
                    }
                });
            }
        });
        let took = start.elapsed().as_secs_f64();
        println!(
            "filled to {target} keys and data keys in {took:.1} s ({:.0} keys and data keys a second)",
            (target - filled) as f64 / took
        );
        filled = target;
        settle();
        report(store, target);
    }
}

#[test]
#[ignore = "benchmark: fills a store with a million keys"]
fn listing_cost_from_10_000_to_1_000_000_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("bench.redb")).unwrap();
    fill_and_report(&store, 2, &|| {});
}

#[test]
#[ignore = "benchmark: fills a PostgreSQL database with a million keys"]
fn postgres_listing_cost_from_10_000_to_1_000_000_keys() {
    let base = std::env::var("KMSD_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("kmsd_listing_{}", uuid::Uuid::new_v4().simple());
    let admin = |sql: &str| {
        let mut client = postgres::Client::connect(&base, postgres::NoTls).unwrap();
        client.batch_execute(sql).unwrap();
    };
    admin(&format!("CREATE DATABASE {name}"));
    let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
    let admin_db = |sql: &str| {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        client.batch_execute(sql).unwrap();
    };
    let store = PgStore::open(&url, PgOptions { pool_size: 8 }).unwrap();
    fill_and_report(&store, 8, &|| admin_db("VACUUM ANALYZE"));
    drop(store);
    admin(&format!("DROP DATABASE {name} WITH (FORCE)"));
}
