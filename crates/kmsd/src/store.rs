//! The store a node serves from: the embedded one in its data dir, or PostgreSQL shared with
//! other nodes, behind this node's cache and the change feed that keeps the cache, and the
//! directory of credentials, following what other nodes change.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kms_core::accounts::Directory;
use kms_core::shared::SharedState;
use kms_core::store::ROOT_KEY_CHECK;
use kms_core::store::cached::CachedStore;
use kms_core::store::feed::{Change, FeedEvent};
use kms_core::{Seal, Store};
use kms_store::PgStore;

/// Key records, data key records, grant lists and names a node caches, of each kind.
const CACHE_CAPACITY: usize = 65_536;
/// The same over the embedded store: only the hot records, decoded, since a miss is a read of
/// the local file (whose own page cache holds the rest).
const EMBEDDED_CACHE_CAPACITY: usize = 8_192;

pub struct NodeStore {
    /// What the engine and the admin API use: the embedded store, or the cache over PostgreSQL.
    pub store: Arc<dyn Store>,
    shared: Option<Shared>,
}

/// A store other nodes share, and what keeps this node's view of it current.
struct Shared {
    pg: Arc<PgStore>,
    cache: Arc<CachedStore>,
    /// Whether the change feed vouches for this node's caches and directory now.
    view: Arc<View>,
    /// The running feed; it stops when dropped.
    feed: Mutex<Option<kms_store::Feed>>,
    /// Asks the directory keeper for a load.
    reload: Mutex<Option<mpsc::Sender<Load>>>,
}

/// The directory the node serves with and the seal that opens its credentials; `None` while
/// the node is sealed (nothing to keep current then).
pub type DirectorySource = Box<dyn Fn() -> Option<(Arc<Directory>, Arc<dyn Seal>)> + Send>;

impl NodeStore {
    pub fn embedded(store: Arc<dyn Store>) -> Self {
        Self {
            store: Arc::new(CachedStore::sole_writer(store, EMBEDDED_CACHE_CAPACITY)),
            shared: None,
        }
    }

    pub fn postgres(pg: PgStore) -> Self {
        let pg = Arc::new(pg);
        let cache = Arc::new(CachedStore::new(pg.clone(), CACHE_CAPACITY));
        Self {
            store: cache.clone(),
            shared: Some(Shared {
                pg,
                cache,
                view: Arc::default(),
                feed: Mutex::new(None),
                reload: Mutex::new(None),
            }),
        }
    }

    /// What kind of store this is, as a backup names it.
    pub fn source(&self) -> kms_backup::Source {
        match self.shared {
            Some(_) => kms_backup::Source::Postgres,
            None => kms_backup::Source::Embedded,
        }
    }

    /// Whether API calls may be served: always over the embedded store; over a shared one
    /// only while the change feed vouches for what this node holds, so a node that cannot
    /// learn of other nodes' changes (a disabled key, a deleted credential) answers the
    /// vendor's transient code instead of serving what may be stale.
    pub fn serving(&self) -> bool {
        self.shared.as_ref().is_none_or(|s| s.view.current())
    }

    /// Where security state that must hold across nodes lives (replay memories, login
    /// failures); `None` for a single node, which keeps it in memory.
    pub fn shared_state(&self) -> Option<Arc<dyn SharedState>> {
        self.shared
            .as_ref()
            .map(|s| s.pg.clone() as Arc<dyn SharedState>)
    }

    /// Starts following other nodes' changes, for the whole process: the cache drops what they
    /// changed, and the directory `source` answers (the unsealed node's) is loaded again
    /// whenever identities change or the feed resumes (changes may have been missed while it
    /// was down). Loading runs on a thread of its own, so a slow load never holds back the
    /// cache's invalidations.
    pub fn follow(
        &self,
        source: DirectorySource,
        on_settings: Arc<dyn Fn() + Send + Sync>,
    ) -> anyhow::Result<()> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        let (reload_tx, reload_rx) = mpsc::channel::<Load>();
        *shared.reload.lock().unwrap_or_else(|e| e.into_inner()) = Some(reload_tx.clone());
        let view = shared.view.clone();
        let store = self.store.clone();
        std::thread::Builder::new()
            .name("kmsd-directory".into())
            .spawn(move || keep_directory(reload_rx, source, store, view))?;
        let cache = shared.cache.clone();
        let view = shared.view.clone();
        let reload = Mutex::new(reload_tx);
        let on_event = Arc::new(move |event: FeedEvent| {
            cache.apply(event);
            let send = |load: Load| {
                let _ = reload.lock().unwrap_or_else(|e| e.into_inner()).send(load);
            };
            match event {
                FeedEvent::Lost => {
                    view.losses.fetch_add(1, Ordering::SeqCst);
                    view.feed_up.store(false, Ordering::SeqCst);
                    tracing::warn!(
                        "lost the store's change feed: answering API calls as unavailable until it is back"
                    );
                }
                // The directory keeper marks the feed up once it loaded what was missed, if no
                // loss came in between.
                FeedEvent::Resumed => send(Load {
                    resumed_after: Some(view.losses.load(Ordering::SeqCst)),
                }),
                FeedEvent::Changed(Change::Identity | Change::Accounts) => send(Load {
                    resumed_after: None,
                }),
                // The root keyring may have changed (a rotation on another node): loading it
                // reads the store and may reach an HSM, which the feed's thread must not wait on.
                FeedEvent::Changed(Change::Settings) => {
                    let on_settings = on_settings.clone();
                    let _ = std::thread::Builder::new()
                        .name("kmsd-keyring".into())
                        .spawn(move || on_settings());
                }
                FeedEvent::Changed(_) => {}
            }
        });
        let feed = shared.pg.watch(on_event)?;
        *shared.feed.lock().unwrap_or_else(|e| e.into_inner()) = Some(feed);
        Ok(())
    }

    /// Has the directory loaded again: a directory installed at unseal may have missed a change
    /// reported while it was being loaded.
    pub fn reload_directory(&self) {
        let Some(shared) = &self.shared else {
            return;
        };
        if let Some(reload) = &*shared.reload.lock().unwrap_or_else(|e| e.into_inner()) {
            let _ = reload.send(Load {
                resumed_after: None,
            });
        }
    }

    /// The store's figures in Prometheus text: pool, latency, feed and cache.
    pub fn render_metrics(&self, out: &mut String) {
        let Some(shared) = &self.shared else {
            return;
        };
        let cache = shared.cache.figures();
        let current = shared.view.current();
        let gauges: [(&str, &str, f64); 4] = [
            (
                "kmsd_store_current",
                "1 while the change feed vouches for this node's caches (API calls are served), 0 otherwise.",
                f64::from(u8::from(current)),
            ),
            (
                "kmsd_cache_entries",
                "Records this node caches (keys, data keys, grant lists, names).",
                cache.entries as f64,
            ),
            (
                "kmsd_cache_hits_total",
                "Store reads answered from this node's cache.",
                cache.hits as f64,
            ),
            (
                "kmsd_cache_misses_total",
                "Store reads that went to the database.",
                cache.misses as f64,
            ),
        ];
        for (name, help, value) in gauges {
            let kind = if name.ends_with("_total") {
                "counter"
            } else {
                "gauge"
            };
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        render_pg_metrics(&shared.pg.metrics(), out);
    }
}

/// PostgreSQL's figures: the pool, the feed, and each kind of store call.
fn render_pg_metrics(pg: &kms_store::PgMetrics, out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP kmsd_store_connections Connections to PostgreSQL this node's pool holds.\n\
         # TYPE kmsd_store_connections gauge\n\
         kmsd_store_connections{{state=\"idle\"}} {}\n\
         kmsd_store_connections{{state=\"in_use\"}} {}",
        pg.idle_connections,
        pg.connections.saturating_sub(pg.idle_connections)
    );
    let _ = writeln!(
        out,
        "# HELP kmsd_store_feed_up 1 while the change feed's polls of the change log succeed.\n\
         # TYPE kmsd_store_feed_up gauge\n\
         kmsd_store_feed_up {}\n\
         # HELP kmsd_store_feed_lag_seconds The round trip of the change feed's last poll of the change log.\n\
         # TYPE kmsd_store_feed_lag_seconds gauge\n\
         kmsd_store_feed_lag_seconds {}",
        u8::from(pg.feed_up),
        pg.feed_lag.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "# HELP kmsd_store_calls_total Store calls made, by kind.\n# TYPE kmsd_store_calls_total counter"
    );
    for call in &pg.calls {
        let _ = writeln!(
            out,
            "kmsd_store_calls_total{{call=\"{}\"}} {}",
            call.call, call.count
        );
    }
    let _ = writeln!(
        out,
        "# HELP kmsd_store_call_seconds_total Time spent in store calls, by kind.\n# TYPE kmsd_store_call_seconds_total counter"
    );
    for call in &pg.calls {
        let _ = writeln!(
            out,
            "kmsd_store_call_seconds_total{{call=\"{}\"}} {}",
            call.call,
            call.total.as_secs_f64()
        );
    }
}

/// What a node knows of how current its view of a shared store is.
#[derive(Default)]
struct View {
    /// Moves on every loss of the feed, so a load asked for before a loss cannot mark the feed
    /// up after it.
    losses: AtomicU64,
    /// The feed is up and the directory was loaded since it resumed.
    feed_up: AtomicBool,
    /// The last load of the directory failed (it is being tried again).
    directory_stale: AtomicBool,
}

impl View {
    fn current(&self) -> bool {
        self.feed_up.load(Ordering::SeqCst) && !self.directory_stale.load(Ordering::SeqCst)
    }
}

/// A request to load the directory again: after an identity change, or after the feed resumed
/// (with the count of losses when it did).
struct Load {
    resumed_after: Option<u64>,
}

/// Loads the directory again whenever asked, and marks the feed up once a load asked for by a
/// resumed feed succeeded with no loss since. A failed load leaves the node refusing calls and
/// is tried again.
fn keep_directory(
    asked: mpsc::Receiver<Load>,
    source: DirectorySource,
    store: Arc<dyn Store>,
    view: Arc<View>,
) {
    const RETRY: Duration = Duration::from_millis(200);
    let (mut owed, mut resumed) = (false, None);
    loop {
        let mut take = |load: Load| {
            owed = true;
            resumed = load.resumed_after.or(resumed);
        };
        match asked.recv_timeout(RETRY) {
            Ok(load) => take(load),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        // Several changes reported at once need one load.
        while let Ok(load) = asked.try_recv() {
            take(load);
        }
        if !owed {
            continue;
        }
        let loaded = match source() {
            Some((directory, seal)) => directory.reload(store.as_ref(), seal.as_ref()),
            // Sealed: no credential is in memory, so none can be stale.
            None => Ok(()),
        };
        match loaded {
            Ok(()) => {
                owed = false;
                view.directory_stale.store(false, Ordering::SeqCst);
                if let Some(losses) = resumed.take()
                    && losses == view.losses.load(Ordering::SeqCst)
                    && !view.feed_up.swap(true, Ordering::SeqCst)
                {
                    tracing::info!("the store's change feed is up: serving API calls");
                }
            }
            Err(e) => {
                view.directory_stale.store(true, Ordering::SeqCst);
                tracing::warn!(error = %e, "loading the credentials from the store failed; trying again");
            }
        }
    }
}

/// The check value of the root key as the store keeps it.
fn check_text(seal: &dyn Seal) -> anyhow::Result<String> {
    let value = seal
        .check_value()
        .map_err(|e| anyhow::anyhow!("computing the root key's check value: {e}"))?;
    Ok(hex::encode(value))
}

/// Refuses a root key that is not the store's, before anything is written with it. A store
/// without a check value gets one now when it is empty (the first node of a cluster claims it;
/// a node racing it with another key learns so here); a store with data but no check value
/// (made before there was one) gets it from [`record_root_key`] once the key opened its records.
pub fn check_root_key(
    store: &dyn Store,
    seal: &dyn Seal,
    key_place: &str,
    store_place: &str,
) -> anyhow::Result<()> {
    let ours = check_text(seal)?;
    let stored = match store.setting(ROOT_KEY_CHECK)? {
        Some(stored) => stored,
        None if store.accounts()?.is_empty() => {
            store.init_setting(ROOT_KEY_CHECK, ours.as_bytes())?
        }
        None => return Ok(()),
    };
    anyhow::ensure!(
        stored == ours.as_bytes(),
        "{key_place} does not open the store {store_place}: it is not the key \
         this store was made with (its check value is {ours}, the store's is {}). Every node \
         over one store must hold the same root key: copy the key file of a node that serves \
         this store",
        String::from_utf8_lossy(&stored)
    );
    Ok(())
}

/// Records the root key's check value once the key is known to open the store's records.
pub fn record_root_key(store: &dyn Store, seal: &dyn Seal) -> anyhow::Result<()> {
    store.init_setting(ROOT_KEY_CHECK, check_text(seal)?.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use kms_core::testing::{MemorySeal, MemoryStore};

    use super::*;

    /// Waits (boundedly) for the directory keeper to act on what it was sent.
    fn settles(view: &View, want: bool) -> bool {
        for _ in 0..200 {
            if view.current() == want {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn a_feed_lost_while_its_resumption_loads_stays_lost() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let seal: Arc<dyn Seal> = Arc::new(MemorySeal::generate());
        let directory = Arc::new(Directory::default());
        let view = Arc::new(View::default());
        let (tx, rx) = mpsc::channel();
        let keeper_view = view.clone();
        let source: DirectorySource = Box::new(move || Some((directory.clone(), seal.clone())));
        std::thread::spawn(move || keep_directory(rx, source, store, keeper_view));
        // Resumed when no loss had happened, but lost before the load: not current.
        view.losses.store(1, Ordering::SeqCst);
        tx.send(Load {
            resumed_after: Some(0),
        })
        .unwrap();
        tx.send(Load {
            resumed_after: None,
        })
        .unwrap();
        assert!(settles(&view, false));
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !view.current(),
            "a load from before the loss marked the feed up"
        );
        tx.send(Load {
            resumed_after: Some(1),
        })
        .unwrap();
        assert!(
            settles(&view, true),
            "the resumption after the loss marks it up"
        );
        view.directory_stale.store(true, Ordering::SeqCst);
        assert!(!view.current(), "a stale directory is not current");
    }

    #[test]
    fn a_store_keeps_the_first_root_key_and_refuses_another() {
        let store = MemoryStore::default();
        let (first, second) = (MemorySeal::generate(), MemorySeal::generate());
        check_root_key(&store, &first, "A", "S").unwrap();
        check_root_key(&store, &first, "A", "S").unwrap();
        let refused = check_root_key(&store, &second, "the root key file B", "S")
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("the root key file B does not open the store S"),
            "{refused}"
        );
        let ours = hex::encode(second.check_value().unwrap());
        let theirs = hex::encode(first.check_value().unwrap());
        assert!(
            refused.contains(&ours) && refused.contains(&theirs),
            "{refused}"
        );
    }

    #[test]
    fn a_store_made_before_check_values_gets_one_after_its_key_opened_it() {
        let store = MemoryStore::default();
        let seal = MemorySeal::generate();
        kms_core::testing::directory_with_account(&store, &seal, 1, "AKIDx", "secret");
        check_root_key(&store, &MemorySeal::generate(), "other", "S").unwrap();
        assert_eq!(
            store.setting(ROOT_KEY_CHECK).unwrap(),
            None,
            "nothing written yet"
        );
        record_root_key(&store, &seal).unwrap();
        check_root_key(&store, &seal, "same", "S").unwrap();
        assert!(check_root_key(&store, &MemorySeal::generate(), "other", "S").is_err());
    }
}
