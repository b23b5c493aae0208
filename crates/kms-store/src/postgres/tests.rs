//! Tests against a real PostgreSQL: `KMSD_TEST_POSTGRES` names it (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). Each test makes databases of its own and a
//! guard drops them, also when the test panics. A server that cannot be reached fails the
//! tests, naming the URL: they never pass without a database.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;

use kms_core::shared::SharedState;
use kms_core::store::contract::key;
use kms_core::store::feed::{Change, FeedEvent};
use kms_core::{KeyRecord, Store, StoreError};

use super::pool::RETRY_BUDGET;
use super::schema::VERSION;
use super::{FEED_APPLICATION_NAME, PgOptions, PgSettings, PgStore};

mod engine;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const REGION: &str = "ap-guangzhou";

fn base() -> PgSettings {
    let url = std::env::var("KMSD_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_URL.into());
    PgSettings::parse(&url).unwrap_or_else(|e| panic!("KMSD_TEST_POSTGRES: {e}"))
}

/// A connection to the server's maintenance database, outside any store.
fn admin(base: &PgSettings) -> Result<postgres::Client, String> {
    let tls = base.tls()?;
    base.config(Some("kmsd-test-admin"))
        .connect(tls)
        .map_err(|e| base.redact(super::pool::describe(&e)))
}

/// A database of one test, dropped (with its connections) when the guard goes.
pub(super) struct TestDb {
    base: PgSettings,
    pub(super) settings: PgSettings,
}

impl TestDb {
    pub(super) fn new() -> Self {
        let base = base();
        let mut client = admin(&base).unwrap_or_else(|e| {
            panic!(
                "cannot reach the test PostgreSQL at {base} ({e}); start one or set \
                 KMSD_TEST_POSTGRES to a server's URL"
            )
        });
        let name = format!("kmsd_test_{}", Uuid::new_v4().simple());
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        Self {
            settings: base.with_dbname(&name),
            base,
        }
    }

    pub(super) fn open(&self) -> PgStore {
        self.open_with(16)
    }

    pub(super) fn open_with(&self, pool_size: u32) -> PgStore {
        PgStore::open_with(self.settings.clone(), PgOptions { pool_size }).unwrap()
    }

    /// Terminates this database's backends that `filter` (SQL on pg_stat_activity) picks;
    /// how many.
    fn terminate(&self, filter: &str) -> i64 {
        let mut client = admin(&self.base).unwrap();
        let row = client
            .query_one(
                &format!(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                     WHERE datname = $1 AND pid <> pg_backend_pid() AND ({filter})"
                ),
                &[&self.settings.dbname()],
            )
            .unwrap();
        row.get(0)
    }

    fn execute(&self, sql: &str) {
        let mut client = self
            .settings
            .config(Some("kmsd-test-admin"))
            .connect(self.settings.tls().unwrap())
            .unwrap();
        client.batch_execute(sql).unwrap();
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Never panics: a failure here would hide the test's own.
        if let Ok(mut client) = admin(&self.base) {
            let _ = client.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.settings.dbname()
            ));
        }
    }
}

#[test]
fn pg_store_keeps_the_store_contract() {
    let dbs = Mutex::new(Vec::new());
    kms_core::store::contract::check(|| {
        let db = TestDb::new();
        let store = db.open_with(2);
        dbs.lock().unwrap().push(db);
        store
    });
}

#[test]
fn migrations_apply_once_and_a_newer_schema_is_refused() {
    let db = TestDb::new();
    drop(db.open());
    drop(db.open());

    let fresh = TestDb::new();
    let start = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (settings, start) = (fresh.settings.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                PgStore::open_with(settings, PgOptions { pool_size: 1 }).map(drop)
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    let store = fresh.open_with(1);
    let applied: i64 = store
        .read(|conn| {
            Ok(conn
                .query_one("SELECT count(*) FROM schema_version", &[])?
                .get(0))
        })
        .unwrap();
    assert_eq!(applied, i64::from(VERSION), "each migration applied once");
    drop(store);

    fresh.execute("INSERT INTO schema_version (version) VALUES (999)");
    let err = PgStore::open_with(fresh.settings.clone(), PgOptions::default())
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Backend(_)), "{text}");
    assert!(
        text.contains("999") && text.contains(&format!("version {VERSION}")),
        "{text}"
    );
    assert!(text.contains("upgrade kmsd"), "{text}");
}

/// Every term row and the summed count of every term of both record kinds, in order.
fn index_rows(store: &PgStore) -> Vec<(String, Vec<u8>, i64)> {
    store
        .read(|conn| {
            let mut out = Vec::new();
            for t in ["keys", "data_keys"] {
                for row in conn.query(
                    &format!(
                        "SELECT term, count(*) FROM {t}_terms GROUP BY term
                         UNION ALL SELECT term || '\\x00ff'::bytea, sum(n)::bigint
                         FROM {t}_term_counts GROUP BY term ORDER BY 1"
                    ),
                    &[],
                )? {
                    out.push((t.to_owned(), row.get(0), row.get(1)));
                }
            }
            Ok(out)
        })
        .unwrap()
}

/// A database of schema version 1 (no tuple terms, no HSM cluster terms) gets every record's
/// terms and counts written anew by the later versions: the same rows a store of this version
/// writes, and combined filters find what they match.
#[test]
fn later_versions_rebuild_the_terms_of_a_version_1_database() {
    let db = TestDb::new();
    let store = db.open_with(2);
    let mut keys = Vec::new();
    for i in 0..40u64 {
        let mut k = key(1, &format!("k{i}"), i);
        if i % 3 == 0 {
            k.state = kms_core::KeyState::Disabled;
        }
        if i % 4 == 0 {
            k.tags.push(kms_core::Tag {
                key: "team".into(),
                value: "a".into(),
            });
        }
        if i % 5 == 0 {
            k.hsm_cluster = Some("cls-a".into());
        }
        store.create_key(&k, 100).unwrap();
        keys.push(k);
    }
    for i in 0..10u64 {
        let mut dk = kms_core::store::contract::data_key(1, &format!("d{i}"), i);
        dk.length = if i % 2 == 0 { 16 } else { 32 };
        store.create_data_key(&dk, 100).unwrap();
    }
    let written = index_rows(&store);
    for prefix in [&b"tuple\0"[..], b"hsm_cluster\0"] {
        assert!(written.iter().any(|(_, term, _)| term.starts_with(prefix)));
    }
    drop(store);
    db.execute(
        "DELETE FROM keys_terms WHERE substr(term, 1, 6) = '\\x7475706c6500'::bytea;
         DELETE FROM keys_term_counts WHERE substr(term, 1, 6) = '\\x7475706c6500'::bytea;
         DELETE FROM data_keys_terms WHERE substr(term, 1, 6) = '\\x7475706c6500'::bytea;
         DELETE FROM data_keys_term_counts WHERE substr(term, 1, 6) = '\\x7475706c6500'::bytea;
         DELETE FROM keys_terms WHERE substr(term, 1, 12) = '\\x68736d5f636c757374657200'::bytea;
         DELETE FROM keys_term_counts
             WHERE substr(term, 1, 12) = '\\x68736d5f636c757374657200'::bytea;
         DELETE FROM data_keys_terms
             WHERE substr(term, 1, 12) = '\\x68736d5f636c757374657200'::bytea;
         DELETE FROM data_keys_term_counts
             WHERE substr(term, 1, 12) = '\\x68736d5f636c757374657200'::bytea;
         DELETE FROM schema_version WHERE version >= 2",
    );
    let store = db.open_with(2);
    assert_eq!(index_rows(&store), written);
    let filter = kms_core::KeyListFilter {
        states: Some(vec![kms_core::KeyState::Disabled]),
        usages: Some(vec![kms_core::KeyUsage::EncryptDecrypt]),
        specs: Some(vec![kms_core::KeySpec::Aes256, kms_core::KeySpec::Sm4]),
        tags: vec![("team".into(), vec!["a".into()])],
        order: kms_core::SortOrder::OldestFirst,
        limit: 10,
        ..Default::default()
    };
    let listed = store.list_keys(1, REGION, &filter).unwrap();
    let want: Vec<_> = keys
        .iter()
        .filter(|k| k.state == kms_core::KeyState::Disabled && !k.tags.is_empty())
        .map(|k| k.key_id)
        .collect();
    assert_eq!(listed.total, want.len() as u64);
    assert_eq!(
        listed.page.iter().map(|k| k.key_id).collect::<Vec<_>>(),
        want
    );
    let in_cluster = kms_core::KeyListFilter {
        states: Some(vec![kms_core::KeyState::Disabled]),
        hsm_cluster: Some(kms_core::store::HsmClusterFilter::Cluster("cls-a".into())),
        order: kms_core::SortOrder::OldestFirst,
        limit: 10,
        ..Default::default()
    };
    let listed = store.list_keys(1, REGION, &in_cluster).unwrap();
    let want: Vec<_> = keys
        .iter()
        .filter(|k| k.state == kms_core::KeyState::Disabled && k.hsm_cluster.is_some())
        .map(|k| k.key_id)
        .collect();
    assert!(!want.is_empty());
    assert_eq!(
        listed.page.iter().map(|k| k.key_id).collect::<Vec<_>>(),
        want
    );
}

/// Runs `f(i)` on `n` threads that start together; their answers in thread order.
fn together<T: Send + 'static>(n: usize, f: impl Fn(usize) -> T + Send + Sync + 'static) -> Vec<T> {
    let f = Arc::new(f);
    let start = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let (f, start) = (f.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                f(i)
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn one_of_sixteen_takes_a_name() {
    let db = TestDb::new();
    let store = Arc::new(db.open());
    let s = store.clone();
    let answers = together(16, move |i| s.create_key(&key(1, "same", i as u64), 100));
    assert_eq!(answers.iter().filter(|a| a.is_ok()).count(), 1);
    assert!(
        answers
            .iter()
            .all(|a| a.is_ok() || *a == Err(StoreError::NameTaken)),
        "{answers:?}"
    );
    assert_eq!(store.count_keys(1, REGION).unwrap(), 1);
}

#[test]
fn limits_hold_under_concurrent_creates() {
    const LIMIT: u64 = 37;
    let db = TestDb::new();
    let store = Arc::new(db.open());
    let s = store.clone();
    let answers: Vec<Result<(), StoreError>> = together(16, move |i| {
        (0..8)
            .map(|j| s.create_key(&key(1, &format!("k{i}-{j}"), j), LIMIT))
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    let created = answers.iter().filter(|a| a.is_ok()).count() as u64;
    assert_eq!(created, LIMIT);
    assert!(
        answers
            .iter()
            .all(|a| a.is_ok() || *a == Err(StoreError::LimitReached)),
        "{answers:?}"
    );
    assert_eq!(store.count_keys(1, REGION).unwrap(), LIMIT);
    let listed = store
        .list_keys(
            1,
            REGION,
            &kms_core::KeyListFilter {
                limit: 1000,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!((listed.total, listed.page.len() as u64), (LIMIT, LIMIT));
}

#[test]
fn a_batch_of_creates_answers_each_as_created_alone_in_its_order() {
    let db = TestDb::new();
    let store = db.open();
    store.create_key(&key(1, "before", 0), 3).unwrap();
    let first = key(1, "first", 1);
    let batch = [
        (first.clone(), 3),
        (key(1, "first", 2), 3),
        (key(1, "second", 3), 3),
        (key(1, "third", 4), 3),
        (key(2, "first", 5), 3),
    ];
    let answers = store.create_batch(&store.keys, &batch);
    assert_eq!(
        answers,
        [
            Ok(()),
            Err(StoreError::NameTaken),
            Ok(()),
            Err(StoreError::LimitReached),
            Ok(())
        ]
    );
    for ((rec, _), answer) in batch.iter().zip(&answers) {
        assert_eq!(
            store.get_key(&rec.key_id).unwrap().is_some(),
            answer.is_ok()
        );
    }
    assert_eq!(store.count_keys(1, REGION).unwrap(), 3);
    assert_eq!(store.count_keys(2, REGION).unwrap(), 1);
    assert_eq!(
        store.key_by_name(1, REGION, "first").unwrap(),
        Some(first.key_id)
    );

    let refused_by_nothing = [(key(3, "a", 1), 10), (key(3, "b", 2), 10)];
    assert_eq!(
        store.create_batch(&store.keys, &refused_by_nothing),
        [Ok(()), Ok(())]
    );
    assert_eq!(store.count_keys(3, REGION).unwrap(), 2);
}

/// The slack of the shared path: the server's `max_connections + max_prepared_transactions`.
fn slack(store: &PgStore) -> u64 {
    store
        .read(|conn| {
            let row = conn.query_one(
                "SELECT current_setting('max_connections')::bigint
                     + current_setting('max_prepared_transactions')::bigint",
                &[],
            )?;
            Ok(row.get::<_, i64>(0) as u64)
        })
        .unwrap()
}

#[test]
fn limits_hold_when_most_creates_take_the_shared_path() {
    let db = TestDb::new();
    let store = Arc::new(db.open());
    let max = slack(&store) + 100;
    let tries = max + 50;
    let s = store.clone();
    let answers: Vec<Result<(), StoreError>> = together(16, move |i| {
        (0..tries)
            .filter(|n| n % 16 == i as u64)
            .map(|n| s.create_key(&key(1, &format!("s{n}"), n), max))
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    assert_eq!(answers.len() as u64, tries);
    assert_eq!(answers.iter().filter(|a| a.is_ok()).count() as u64, max);
    assert!(
        answers
            .iter()
            .all(|a| a.is_ok() || *a == Err(StoreError::LimitReached)),
        "{answers:?}"
    );
    assert_eq!(store.count_keys(1, REGION).unwrap(), max);
    let shards: i64 = store
        .read(|conn| {
            Ok(conn
                .query_one("SELECT count(*) FROM keys_scope_counts", &[])?
                .get(0))
        })
        .unwrap();
    assert!(shards > 1, "the count is sharded: {shards} rows");
}

#[test]
fn a_cancelled_deletion_counts_toward_the_limit() {
    const LIMIT: u64 = 3;
    let db = TestDb::new();
    let store = db.open();
    let keys: Vec<KeyRecord> = (0..LIMIT).map(|i| key(1, &format!("c{i}"), i)).collect();
    for k in &keys {
        store.create_key(k, LIMIT).unwrap();
    }
    let extra = key(1, "extra", 9);
    assert_eq!(
        store.create_key(&extra, LIMIT),
        Err(StoreError::LimitReached)
    );
    let pending = KeyRecord {
        state: kms_core::KeyState::PendingDelete,
        revision: 2,
        ..keys[0].clone()
    };
    store.update_key(&pending, LIMIT).unwrap();
    assert_eq!(store.count_keys(1, REGION).unwrap(), LIMIT - 1);
    store.create_key(&extra, LIMIT).unwrap();
    let cancelled = KeyRecord {
        state: kms_core::KeyState::Enabled,
        revision: 3,
        ..pending.clone()
    };
    assert_eq!(
        store.update_key(&cancelled, LIMIT),
        Err(StoreError::LimitReached)
    );
    assert_eq!(store.get_key(&pending.key_id).unwrap().unwrap().revision, 2);
    // Concurrent cancellations of deletions: only as many as the limit leaves room for.
    let many = TestDb::new();
    let store = Arc::new(many.open());
    let keys: Vec<KeyRecord> = (0..16).map(|i| key(1, &format!("p{i}"), i)).collect();
    for k in &keys {
        store.create_key(k, 100).unwrap();
        let pending = KeyRecord {
            state: kms_core::KeyState::PendingDelete,
            revision: 2,
            ..k.clone()
        };
        store.update_key(&pending, 100).unwrap();
    }
    let (s, keys) = (store.clone(), Arc::new(keys));
    let answers = together(16, move |i| {
        let back = KeyRecord {
            state: kms_core::KeyState::Enabled,
            revision: 3,
            ..keys[i].clone()
        };
        s.update_key(&back, 5)
    });
    assert_eq!(
        answers.iter().filter(|a| a.is_ok()).count(),
        5,
        "{answers:?}"
    );
    assert_eq!(store.count_keys(1, REGION).unwrap(), 5);
}

#[test]
fn compare_and_swap_loses_no_update() {
    const EACH: usize = 10;
    let db = TestDb::new();
    let store = Arc::new(db.open());
    let k = key(1, "contended", 1);
    store.create_key(&k, 10).unwrap();
    let (s, id) = (store.clone(), k.key_id);
    let conflicts = Arc::new(AtomicUsize::new(0));
    let c = conflicts.clone();
    together(16, move |i| {
        for j in 0..EACH {
            loop {
                let mut current = s.get_key(&id).unwrap().unwrap();
                current.revision += 1;
                current.description = format!("{i}-{j}");
                match s.update_key(&current, 10) {
                    Ok(()) => break,
                    Err(StoreError::Conflict) => {
                        c.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }
    });
    let stored = store.get_key(&id).unwrap().unwrap();
    assert_eq!(stored.revision, 1 + 16 * EACH as u64);
    println!("conflicts retried: {}", conflicts.load(Ordering::Relaxed));
}

#[test]
fn a_batch_with_one_stale_record_changes_nothing() {
    let db = TestDb::new();
    let store = db.open();
    let keys: Vec<KeyRecord> = (0..3).map(|i| key(1, &format!("b{i}"), i)).collect();
    for k in &keys {
        store.create_key(k, 10).unwrap();
    }
    let mut batch: Vec<KeyRecord> = keys
        .iter()
        .map(|k| KeyRecord {
            revision: 2,
            alias: format!("renamed-{}", k.alias),
            ..k.clone()
        })
        .collect();
    batch[1].revision = 1;
    assert_eq!(store.update_keys(&batch, 10), Err(StoreError::Conflict));
    for k in &keys {
        let stored = store.get_key(&k.key_id).unwrap().unwrap();
        assert_eq!(
            (stored.revision, stored.alias.as_str()),
            (1, k.alias.as_str())
        );
        assert_eq!(
            store.key_by_name(1, REGION, &k.alias).unwrap(),
            Some(k.key_id)
        );
    }
}

/// The events a feed reported, and a way to wait for one.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<FeedEvent>>>);

impl Events {
    fn sink(&self) -> Arc<dyn Fn(FeedEvent) + Send + Sync> {
        let events = self.0.clone();
        Arc::new(move |e| events.lock().unwrap().push(e))
    }

    /// Waits until an event after the first `from` is `want`; its index.
    fn wait_for(&self, from: usize, want: FeedEvent) -> usize {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let events = self.0.lock().unwrap();
            if let Some(i) = events.iter().skip(from).position(|e| *e == want) {
                return from + i;
            }
            drop(events);
            assert!(
                Instant::now() < deadline,
                "no {want:?} after event {from}: {:?}",
                self.0.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

#[test]
fn the_feed_reports_other_nodes_changes_and_its_own_outages() {
    let db = TestDb::new();
    let (watching, writing) = (db.open(), db.open());
    let events = Events::default();
    let feed = watching.watch(events.sink()).unwrap();
    let resumed = events.wait_for(0, FeedEvent::Resumed);
    assert!(watching.metrics().feed_up);

    let k = key(1, "noticed", 1);
    writing.create_key(&k, 10).unwrap();
    events.wait_for(resumed, FeedEvent::Changed(Change::Key(k.key_id)));
    let grant = kms_core::grants::GrantRecord {
        grant_id: "g1".into(),
        key_id: k.key_id,
        account: 1,
        region: REGION.into(),
        grantee: "2".into(),
        grantee_type: kms_core::grants::GranteeType::Domain,
        operations: vec![],
        name: "g".into(),
        retiring_principal: String::new(),
        issuing_principal: "1".into(),
        created_at: 1,
    };
    writing.create_grant(&grant, 10).unwrap();
    events.wait_for(resumed, FeedEvent::Changed(Change::Grants(k.key_id)));
    writing.init_setting("s", b"v").unwrap();
    events.wait_for(resumed, FeedEvent::Changed(Change::Settings));

    let before = events.len();
    let killed = db.terminate(&format!("application_name = '{FEED_APPLICATION_NAME}'"));
    assert_eq!(killed, 1);
    let lost = events.wait_for(before, FeedEvent::Lost);
    events.wait_for(lost, FeedEvent::Resumed);
    let k2 = key(1, "after", 2);
    writing.create_key(&k2, 10).unwrap();
    events.wait_for(lost, FeedEvent::Changed(Change::Key(k2.key_id)));
    let figures = watching.metrics();
    assert!(
        figures.feed_up && figures.feed_lag > Duration::ZERO,
        "{figures:?}"
    );
    feed.stop();
}

/// Waits until the feed reported a change of every key in `ids` after event `from`.
fn wait_for_keys(events: &Events, from: usize, ids: &[Uuid]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen: std::collections::HashSet<Uuid> = events.0.lock().unwrap()[from..]
            .iter()
            .filter_map(|e| match e {
                FeedEvent::Changed(Change::Key(id)) => Some(*id),
                _ => None,
            })
            .collect();
        let missing = ids.iter().filter(|id| !seen.contains(id)).count();
        if missing == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of {} changes never reported",
            ids.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_feed_reports_every_change_of_concurrent_writers() {
    const EACH: usize = 40;
    let db = TestDb::new();
    let watching = db.open_with(1);
    let writers = Arc::new([db.open(), db.open()]);
    let events = Events::default();
    let feed = watching.watch(events.sink()).unwrap();
    let resumed = events.wait_for(0, FeedEvent::Resumed);
    let w = writers.clone();
    let ids: Vec<Uuid> = together(16, move |i| {
        (0..EACH)
            .map(|j| {
                let k = key(1, &format!("w{i}-{j}"), j as u64);
                w[(i + j) % 2].create_key(&k, u64::MAX).unwrap();
                k.key_id
            })
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    wait_for_keys(&events, resumed, &ids);
    let reported = events.0.lock().unwrap()[resumed..]
        .iter()
        .filter(|e| matches!(e, FeedEvent::Changed(Change::Key(_))))
        .count();
    assert_eq!(reported, ids.len(), "each change reported once");
    assert!(!events.0.lock().unwrap().contains(&FeedEvent::Lost));
    feed.stop();
}

#[test]
fn the_feed_reports_a_change_committed_after_a_later_numbered_one() {
    let db = TestDb::new();
    let (watching, writing) = (db.open(), db.open());
    let events = Events::default();
    let feed = watching.watch(events.sink()).unwrap();
    let resumed = events.wait_for(0, FeedEvent::Resumed);

    // A writer takes its seq first and commits last.
    let early = Uuid::new_v4();
    let mut slow = db
        .settings
        .config(Some("kmsd-test-admin"))
        .connect(db.settings.tls().unwrap())
        .unwrap();
    let mut slow = slow.transaction().unwrap();
    slow.batch_execute(&format!(
        "INSERT INTO changes (change) VALUES ('{}')",
        Change::Key(early).encode()
    ))
    .unwrap();
    let k = key(1, "later-numbered", 1);
    writing.create_key(&k, 10).unwrap();
    let later = events.wait_for(resumed, FeedEvent::Changed(Change::Key(k.key_id)));
    // Polls go on past the later-numbered row while the early one is still uncommitted.
    std::thread::sleep(Duration::from_millis(300));
    slow.commit().unwrap();
    events.wait_for(later, FeedEvent::Changed(Change::Key(early)));
    let seqs: Vec<i64> = writing
        .read(|conn| {
            Ok(conn
                .query("SELECT seq FROM changes ORDER BY xid", &[])?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })
        .unwrap();
    assert!(
        seqs[0] < seqs[1],
        "the early row has the lower seq: {seqs:?}"
    );
    feed.stop();
}

#[test]
fn calls_reconnect_after_the_pools_backends_are_terminated() {
    let db = TestDb::new();
    let store = db.open_with(4);
    let k = key(1, "survivor", 1);
    store.create_key(&k, 10).unwrap();
    for round in 0..3 {
        assert!(db.terminate("application_name <> 'kmsd-test-admin'") >= 1);
        // Give the server time to close them, so the next call meets dead connections.
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(store.get_key(&k.key_id).unwrap().unwrap().key_id, k.key_id);
        db.terminate("application_name <> 'kmsd-test-admin'");
        std::thread::sleep(Duration::from_millis(100));
        store
            .create_key(&key(1, &format!("after-{round}"), 2), 10)
            .unwrap();
        db.terminate("application_name <> 'kmsd-test-admin'");
        std::thread::sleep(Duration::from_millis(100));
        assert!(store.first_use("room", &[round; 16], 1, 2).unwrap());
    }
    assert_eq!(store.count_keys(1, REGION).unwrap(), 4);
}

#[test]
fn no_error_shows_the_password() {
    const SECRET: &str = "Sup3rS3cretPw";
    for url in [
        format!("postgres://kms:{SECRET}@no-such-host.invalid:5432/db?connect_timeout=1"),
        format!("postgres://kms:{SECRET}@127.0.0.1:1/db?connect_timeout=1"),
        format!("postgres://kms:{SECRET}@127.0.0.1/db?sslmode=sometimes"),
        format!("postgres://kms:{SECRET}@127.0.0.1/db?frobnicate={SECRET}"),
        format!("postgres://kms:{SECRET}@127.0.0.1/db?sslmode=verify-full&sslrootcert=/none"),
    ] {
        let started = Instant::now();
        let err = PgStore::open(&url, PgOptions::default()).err().unwrap();
        let shown = [err.to_string(), format!("{err:?}")];
        for text in &shown {
            assert!(!text.contains(SECRET), "{text}");
        }
        assert!(started.elapsed() < RETRY_BUDGET + Duration::from_secs(3));
        if url.contains("127.0.0.1:1/") {
            assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
            assert!(shown[0].contains("kms:***@127.0.0.1:1/db"), "{}", shown[0]);
        }
    }
}

#[test]
fn shared_state_holds_across_nodes() {
    let db = TestDb::new();
    let (a, b) = (db.open(), db.open());
    let id = [7u8; 16];
    assert!(a.first_use("cred", &id, 100, 110).unwrap());
    assert!(!b.first_use("cred", &id, 105, 115).unwrap(), "a replay");
    assert!(b.first_use("other", &id, 105, 115).unwrap(), "rooms apart");
    assert!(
        !b.first_use("cred", &id, 110, 120).unwrap(),
        "not yet expired"
    );
    assert!(
        b.first_use("cred", &id, 111, 121).unwrap(),
        "expired: a first use"
    );
    assert!(!a.first_use("cred", &id, 112, 122).unwrap());

    let login = [3u8; 32];
    assert_eq!(a.login_failed(&login, 1000, 60).unwrap(), 1);
    assert_eq!(b.login_failed(&login, 1010, 60).unwrap(), 2);
    assert_eq!(a.login_failures(&login, 1059, 60).unwrap(), 2);
    assert_eq!(
        a.login_failures(&login, 1060, 60).unwrap(),
        0,
        "window closed"
    );
    assert_eq!(b.login_failed(&login, 1060, 60).unwrap(), 1, "a new window");
    b.login_succeeded(&login).unwrap();
    assert_eq!(a.login_failures(&login, 1061, 60).unwrap(), 0);
    a.login_failed(&login, 2000, 60).unwrap();

    a.forget_expired(2000, 60).unwrap();
    let left: (i64, i64) = a
        .read(|conn| {
            let row = conn.query_one(
                "SELECT (SELECT count(*) FROM replay), (SELECT count(*) FROM login_failures)",
                &[],
            )?;
            Ok((row.get(0), row.get(1)))
        })
        .unwrap();
    assert_eq!(
        left,
        (0, 1),
        "expired entries and closed windows are forgotten"
    );

    let a = Arc::new(a);
    let s = a.clone();
    let firsts = together(16, move |_| s.first_use("race", &[9; 16], 10, 20).unwrap());
    assert_eq!(firsts.iter().filter(|f| **f).count(), 1);
    let s = a.clone();
    let counts = together(16, move |_| s.login_failed(&[4; 32], 10, 60).unwrap());
    let mut counts = counts;
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=16).collect::<Vec<u32>>(),
        "every failure counted once"
    );
}

#[test]
fn calls_work_from_inside_a_multi_thread_runtime() {
    let db = TestDb::new();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let figures = runtime.block_on(async {
        let store = Arc::new(db.open());
        let k = key(1, "async", 1);
        store.create_key(&k, 10).unwrap();
        assert!(store.get_key(&k.key_id).unwrap().is_some());
        let s = store.clone();
        let id = k.key_id;
        let found = tokio::spawn(async move { s.get_key(&id).unwrap().is_some() })
            .await
            .unwrap();
        assert!(found);
        let figures = store.metrics();
        // Dropped here, on the runtime: its connections are closed off it.
        drop(store);
        figures
    });
    let gets = figures.calls.iter().find(|c| c.call == "get_key").unwrap();
    assert_eq!(gets.count, 2);
    assert!(figures.connections >= 1);
}

#[test]
fn tls_modes_verify_as_libpq_does() {
    let db = TestDb::new();
    let mut client = admin(&db.base).unwrap();
    let ssl: String = client.query_one("SHOW ssl", &[]).unwrap().get(0);
    let cert: String = client.query_one("SHOW ssl_cert_file", &[]).unwrap().get(0);
    if ssl != "on" || std::fs::read(&cert).is_err() {
        println!("the test server has no TLS certificate kmsd can read: TLS modes not tested");
        return;
    }
    let settings = &db.settings;
    let url = |host: &str, query: &str| {
        let shown = settings.to_string();
        let rest = shown.split_once('@').unwrap().1;
        let (hostport, tail) = rest.split_once('/').unwrap();
        let port = hostport.rsplit_once(':').unwrap().1;
        let db = tail.split_once('?').unwrap().0;
        format!("postgres://postgres@{host}:{port}/{db}?{query}")
    };
    let cert_path = cert.replace('/', "%2F");
    let opens = |url: String| PgStore::open(&url, PgOptions { pool_size: 1 }).map(drop);
    opens(url("127.0.0.1", "sslmode=require")).unwrap();
    opens(url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={cert_path}"),
    ))
    .unwrap();
    opens(url(
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={cert_path}"),
    ))
    .unwrap();
    let err = opens(url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={cert_path}"),
    ))
    .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
}

/// Prints the figures the report quotes; run with `--ignored --nocapture`.
#[test]
#[ignore]
fn timing_figures() {
    let db = TestDb::new();
    let store = Arc::new(db.open_with(32));
    let k = key(1, "timed", 1);
    store.create_key(&k, u64::MAX).unwrap();
    for _ in 0..100 {
        store.get_key(&k.key_id).unwrap();
    }
    let n = 5000;
    let start = Instant::now();
    for _ in 0..n {
        store.get_key(&k.key_id).unwrap();
    }
    println!("get_key: {:?} per call", start.elapsed() / n);
    let start = Instant::now();
    for _ in 0..n {
        store.key_by_name(1, REGION, "timed").unwrap();
    }
    println!("key_by_name: {:?} per call", start.elapsed() / n);

    let s = store.clone();
    let start = Instant::now();
    together(32, move |i| {
        for j in 0..1000 / 32 + usize::from(i < 1000 % 32) {
            s.create_key(&key(1, &format!("c{i}-{j}"), j as u64), u64::MAX)
                .unwrap();
        }
    });
    let took = start.elapsed();
    println!(
        "1000 creates on 32 threads: {took:?} ({:?} per create)",
        took / 1000
    );
    let start = Instant::now();
    for j in 0..500u64 {
        store
            .create_key(&key(2, &format!("serial-{j}"), j), u64::MAX)
            .unwrap();
    }
    println!(
        "create_key, one thread: {:?} per call",
        start.elapsed() / 500
    );
    let mut current = store.get_key(&k.key_id).unwrap().unwrap();
    let start = Instant::now();
    for _ in 0..500 {
        current.revision += 1;
        store.update_key(&current, u64::MAX).unwrap();
    }
    println!(
        "update_key, one thread: {:?} per call",
        start.elapsed() / 500
    );
    let start = Instant::now();
    let listed = store
        .list_keys(
            1,
            REGION,
            &kms_core::KeyListFilter {
                limit: 20,
                offset: 500,
                ..Default::default()
            },
        )
        .unwrap();
    println!(
        "list_keys page of 20 at offset 500 of {}: {:?}",
        listed.total,
        start.elapsed()
    );
    println!("{:#?}", store.metrics());
}
