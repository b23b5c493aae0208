//! The change feed: a thread with a connection of its own (not from the pool) that polls the
//! `changes` log every write appends to (in its own transaction, see
//! [`super::pool::transaction`]), and a watchdog thread that vouches for it.
//!
//! # Why no committed change is skipped
//!
//! `seq` numbers are taken when a row is inserted but become visible when their transaction
//! commits, so they commit out of order: reading `seq > last seen` would skip a row whose
//! transaction committed after a later-numbered one. The feed goes by transaction ids instead.
//! Each poll reads with one snapshot (`REPEATABLE READ, READ ONLY`): that snapshot's `xmin`, the
//! oldest transaction still running when it was taken (every transaction with a lower id has
//! finished), and every row with `xid >= horizon`, the previous poll's `xmin`. A transaction
//! whose rows this poll's snapshot does not show was, when the previous snapshot was taken,
//! either running (so its id is at least that snapshot's `xmin`) or not yet started (so its id
//! is higher still): its rows have `xid >= horizon` and the next polls read them, until one
//! shows them. A row can be read by several polls while the horizon has not passed its
//! transaction, so the feed keeps the seqs it has emitted whose `xid >= horizon` and emits
//! each row once. The first horizon is taken when the feed (re)connects, then
//! [`FeedEvent::Resumed`] makes the node drop its caches: nothing before it matters.
//!
//! A transaction that holds an id for long (a writer stuck on a lock, an open session
//! elsewhere) holds the horizon back: polls read more rows meanwhile, never fewer.
//!
//! # Liveness
//!
//! A poll every [`POLL`]. A poll that fails ends the connection; no successful poll for
//! [`DEADLINE`] (a poll stuck on a dead network, say: the watchdog thread sees it) reports
//! [`FeedEvent::Lost`] once. The feed reconnects with backoff (at most [`MAX_BACKOFF`]) and
//! reports [`FeedEvent::Resumed`] after the first successful poll (after the first connect
//! too).
//!
//! # Old rows
//!
//! Every feed deletes rows older than [`RETENTION`], at most every [`CLEANUP_EVERY`]. A node
//! whose feed has not polled for [`DEADLINE`] is Lost and resumes with its caches dropped, so
//! no node that still serves needs a row older than about a second: five minutes is ample
//! (it also leaves room for clocks and for a commit that waits long on a synchronous standby).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use postgres::SimpleQueryMessage;

use kms_core::store::feed::{Change, FeedEvent};

use super::url::PgSettings;

const POLL: Duration = Duration::from_millis(50);
const DEADLINE: Duration = Duration::from_secs(1);
/// How often the watchdog looks at the last successful poll.
const WATCH: Duration = Duration::from_millis(100);
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
const RETENTION: &str = "5 minutes";
const CLEANUP_EVERY: Duration = Duration::from_secs(30);

/// The application_name of feed connections, so an operator (or a test) can find them in
/// `pg_stat_activity`; kmsd counts the nodes serving a database by it.
pub const FEED_APPLICATION_NAME: &str = "kmsd-feed";

/// The feed's figures for /metrics, shared between the store and its feed thread.
#[derive(Default)]
pub(super) struct FeedStats {
    pub(super) up: AtomicBool,
    /// The last poll's round trip, in microseconds.
    pub(super) lag_micros: AtomicU64,
}

/// A running change feed; dropping it (or [`Feed::stop`]) ends its threads within a poll.
pub struct Feed {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Feed {
    /// Stops the feed and waits for its threads to end.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

pub(super) type OnEvent = Arc<dyn Fn(FeedEvent) + Send + Sync>;

/// Starts the feed's poller and watchdog threads.
pub(super) fn start(
    settings: PgSettings,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    stats: Arc<FeedStats>,
    on_event: OnEvent,
) -> std::io::Result<Feed> {
    let stop = Arc::new(AtomicBool::new(false));
    let health = Arc::new(Health {
        stats,
        on_event,
        state: Mutex::new(State {
            up: false,
            last_poll: Instant::now(),
        }),
    });
    let poller = Poller {
        settings,
        tls,
        health: health.clone(),
        stop: stop.clone(),
    };
    let mut threads = vec![
        std::thread::Builder::new()
            .name("kmsd-pg-feed".into())
            .spawn(move || poller.run())?,
    ];
    let watchdog_stop = stop.clone();
    let spawned = std::thread::Builder::new()
        .name("kmsd-pg-feed-watchdog".into())
        .spawn(move || {
            while !watchdog_stop.load(Ordering::Acquire) {
                health.check();
                std::thread::sleep(WATCH);
            }
        });
    let feed = |threads| Feed {
        stop: stop.clone(),
        threads,
    };
    match spawned {
        Ok(watchdog) => {
            threads.push(watchdog);
            Ok(feed(threads))
        }
        Err(e) => {
            feed(threads).stop();
            Err(e)
        }
    }
}

/// Whether the feed vouches for the caches, and when a poll last succeeded.
struct State {
    up: bool,
    last_poll: Instant,
}

/// The state both threads move, under one lock so that `Lost` and `Resumed` alternate and the
/// last one reported is the truth.
struct Health {
    stats: Arc<FeedStats>,
    on_event: OnEvent,
    state: Mutex<State>,
}

impl Health {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reports `up` if it is news (under the lock: see [`Health`]).
    fn set(&self, state: &mut State, up: bool) {
        if state.up != up {
            state.up = up;
            self.stats.up.store(up, Ordering::Release);
            (self.on_event)(if up {
                FeedEvent::Resumed
            } else {
                FeedEvent::Lost
            });
        }
    }

    /// A poll succeeded: `Resumed` if the feed was down.
    fn polled(&self, lag: Duration) {
        let micros = u64::try_from(lag.as_micros()).unwrap_or(u64::MAX);
        self.stats.lag_micros.store(micros, Ordering::Release);
        let mut state = self.state();
        state.last_poll = Instant::now();
        self.set(&mut state, true);
    }

    /// The connection failed: `Lost` if the feed was up.
    fn failed(&self) {
        let mut state = self.state();
        self.set(&mut state, false);
    }

    /// The watchdog's look: `Lost` if no poll succeeded for [`DEADLINE`].
    fn check(&self) {
        let mut state = self.state();
        if state.last_poll.elapsed() > DEADLINE {
            self.set(&mut state, false);
        }
    }
}

struct Poller {
    settings: PgSettings,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    health: Arc<Health>,
    stop: Arc<AtomicBool>,
}

/// What one poll read: the new horizon and the rows `(xid, seq, change)` at or above the old.
struct Polled {
    xmin: i64,
    rows: Vec<(i64, i64, String)>,
}

impl Poller {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn run(self) {
        let mut backoff = FIRST_BACKOFF;
        while !self.stopped() {
            let connected = self
                .settings
                .config(Some(FEED_APPLICATION_NAME))
                .connect(self.tls.clone());
            if let Ok(mut client) = connected {
                let was_up = self.session(&mut client);
                self.health.failed();
                if was_up {
                    backoff = FIRST_BACKOFF;
                }
            }
            if self.stopped() {
                break;
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Polls until a poll fails or the feed is stopped; whether a poll succeeded.
    fn session(&self, client: &mut postgres::Client) -> bool {
        let Ok(first) = poll(client, None) else {
            return false;
        };
        let mut horizon = first.xmin;
        // (xid, seq) of the rows emitted whose xid is at or above the horizon.
        let mut emitted: BTreeSet<(i64, i64)> = BTreeSet::new();
        let mut next_cleanup = Instant::now();
        let mut started = Instant::now();
        self.health.polled(started.elapsed());
        while !self.stopped() {
            std::thread::sleep((started + POLL).saturating_duration_since(Instant::now()));
            started = Instant::now();
            let Ok(polled) = poll(client, Some(horizon)) else {
                return true;
            };
            let lag = started.elapsed();
            for (xid, seq, change) in polled.rows {
                if emitted.insert((xid, seq))
                    && let Some(change) = Change::decode(&change)
                {
                    (self.health.on_event)(FeedEvent::Changed(change));
                }
            }
            horizon = polled.xmin;
            emitted = emitted.split_off(&(horizon, i64::MIN));
            self.health.polled(lag);
            if started >= next_cleanup {
                let cleanup =
                    format!("DELETE FROM changes WHERE at < now() - interval '{RETENTION}'");
                if client.batch_execute(&cleanup).is_err() {
                    return true;
                }
                next_cleanup = Instant::now() + CLEANUP_EVERY;
            }
        }
        true
    }
}

/// One poll, one round trip, one snapshot: its `xmin` and, after the first (`horizon` none),
/// the rows at or above `horizon` in seq order (see the module doc).
fn poll(client: &mut postgres::Client, horizon: Option<i64>) -> Result<Polled, postgres::Error> {
    let rows = match horizon {
        Some(h) => format!(
            "SELECT xid::text, seq, change FROM changes WHERE xid >= '{h}'::xid8 ORDER BY seq;"
        ),
        None => String::new(),
    };
    let messages = client.simple_query(&format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;
         SELECT pg_snapshot_xmin(pg_current_snapshot())::text;
         {rows}
         COMMIT"
    ))?;
    let mut xmin = None;
    let mut out = Vec::new();
    let number = |text: Option<&str>| text.and_then(|t| t.parse::<i64>().ok()).unwrap_or(0);
    for message in &messages {
        if let SimpleQueryMessage::Row(row) = message {
            if row.len() == 1 {
                xmin = Some(number(row.get(0)));
            } else {
                let change = row.get(2).unwrap_or_default().to_owned();
                out.push((number(row.get(0)), number(row.get(1)), change));
            }
        }
    }
    Ok(Polled {
        xmin: xmin.unwrap_or(0),
        rows: out,
    })
}
