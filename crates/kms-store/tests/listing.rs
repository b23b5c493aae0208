//! Listing cost against the number of keys in one region: fills one scope of a store with
//! 10,000 and then 100,000 keys and times first pages (unfiltered, by state, by tag, combined,
//! ListKeyDetail as the SDK calls it), a deep page and a search. Run with
//! `TMPDIR=/dev/shm cargo test --release -p kms-store --test listing -- --ignored --nocapture`
//! (the embedded store's file on tmpfs only makes the fill quick; reads are served from redb's
//! cache). The PostgreSQL case fills a database of its own on the server KMSD_TEST_POSTGRES
//! names (default postgres://postgres@127.0.0.1:5432/postgres) and drops it afterwards.

use std::time::{Duration, Instant};

use kms_core::store::contract;
use kms_core::store::{KeyListFilter, SortOrder};
use kms_core::*;
use kms_store::{EmbeddedStore, PgOptions, PgStore};

const REGION: &str = "ap-guangzhou";
const RUNS: usize = 25;

/// Key `i` of the scope: mostly enabled, a tenth disabled and a few in other states; half carry
/// one of eight team tags (in runs of twenty), most an environment tag; one sealed version each.
fn record(i: u64) -> KeyRecord {
    let mut k = contract::key(1, &format!("key-{i:06}"), 1_700_000_000 + i);
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
    k.versions.push(KeyVersion {
        version: 1,
        created_at: k.created_at,
        sealed_material: vec![0x5a; 60],
        public_key: None,
    });
    k
}

/// The median of `RUNS` runs of `query`, and what it returned.
fn time(store: &dyn Store, filter: &KeyListFilter) -> (Duration, u64, usize) {
    let mut times = Vec::with_capacity(RUNS);
    let mut last = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        let listed = store.list_keys(1, REGION, filter).unwrap();
        times.push(start.elapsed());
        last = Some(listed);
    }
    times.sort();
    let listed = last.unwrap();
    (times[RUNS / 2], listed.total, listed.page.len())
}

fn report(store: &dyn Store, keys: u64) {
    let page = |f: KeyListFilter| KeyListFilter {
        limit: 20,
        order: SortOrder::NewestFirst,
        ..f
    };
    let team = || vec![("team".to_owned(), vec!["t3".to_owned()])];
    let newest = store
        .list_keys(1, REGION, &page(KeyListFilter::default()))
        .unwrap();
    let id_fragment = newest.page[0].key_id.to_string()[24..].to_owned();
    let cases = [
        ("first page, unfiltered", page(KeyListFilter::default())),
        (
            "first page, state Disabled",
            page(KeyListFilter {
                states: Some(vec![KeyState::Disabled]),
                ..Default::default()
            }),
        ),
        (
            "first page, tag team=t3",
            page(KeyListFilter {
                tags: team(),
                ..Default::default()
            }),
        ),
        (
            "first page, state Enabled/Disabled/PendingImport (Tencent ListKeys)",
            page(KeyListFilter {
                states: Some(vec![
                    KeyState::Enabled,
                    KeyState::Disabled,
                    KeyState::PendingImport,
                ]),
                ..Default::default()
            }),
        ),
        (
            "first page, ListKeyDetail as the SDK calls it (usage ENCRYPT_DECRYPT: two specs)",
            page(KeyListFilter {
                usages: Some(vec![KeyUsage::EncryptDecrypt]),
                specs: Some(vec![KeySpec::Aes256, KeySpec::Sm4]),
                ..Default::default()
            }),
        ),
        (
            "first page, state Disabled + tag team=t3",
            page(KeyListFilter {
                states: Some(vec![KeyState::Disabled]),
                tags: team(),
                ..Default::default()
            }),
        ),
        (
            "page at offset 5000, unfiltered",
            page(KeyListFilter {
                offset: 5000,
                ..Default::default()
            }),
        ),
        (
            "search \"key-0042\" (names only)",
            page(KeyListFilter {
                search: Some("key-0042".into()),
                ..Default::default()
            }),
        ),
        (
            "search 12 hex digits of an id (names and ids)",
            page(KeyListFilter {
                search: Some(id_fragment),
                ..Default::default()
            }),
        ),
    ];
    for (what, filter) in &cases {
        let (median, total, len) = time(store, filter);
        println!(
            "{keys:>7} keys | {what:<70} | {:>9.3} ms | total {total}, page {len}",
            median.as_secs_f64() * 1000.0
        );
    }
}

/// Fills `store` to 10,000 and then 100,000 keys from `threads` threads, reporting each size.
fn fill_and_report(store: &(dyn Store + Sync), threads: u64) {
    let mut filled = 0u64;
    for target in [10_000u64, 100_000] {
        let start = Instant::now();
        std::thread::scope(|scope| {
            for t in 0..threads {
                scope.spawn(move || {
                    let mut i = filled + t;
                    while i < target {
                        store.create_key(&record(i), u64::MAX).unwrap();
                        i += threads;
                    }
                });
            }
        });
        filled = target;
        println!(
            "filled to {target} keys in {:.1} s",
            start.elapsed().as_secs_f64()
        );
        report(store, target);
    }
}

#[test]
#[ignore = "benchmark: fills a store with 100,000 keys"]
fn listing_cost_from_10_000_to_100_000_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("bench.redb")).unwrap();
    fill_and_report(&store, 1);
}

#[test]
#[ignore = "benchmark: fills a PostgreSQL database with 100,000 keys"]
fn postgres_listing_cost_from_10_000_to_100_000_keys() {
    let base = std::env::var("KMSD_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("kmsd_listing_{}", uuid::Uuid::new_v4().simple());
    let admin = |sql: &str| {
        let mut client = postgres::Client::connect(&base, postgres::NoTls).unwrap();
        client.batch_execute(sql).unwrap();
    };
    admin(&format!("CREATE DATABASE {name}"));
    let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
    let store = PgStore::open(&url, PgOptions { pool_size: 8 }).unwrap();
    fill_and_report(&store, 8);
    drop(store);
    admin(&format!("DROP DATABASE {name} WITH (FORCE)"));
}
