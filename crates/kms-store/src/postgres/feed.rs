//! The change feed: a thread with a connection of its own (not from the pool) that LISTENs on
//! the channel every write notifies, and proves the connection alive with a heartbeat.
//!
//! Every [`HEARTBEAT`] it sends `NOTIFY kmsd_changes, 'ping:<token>:<n>'`, its token random per
//! feed, and waits for its own pings to come back through the server. A connection error, or no
//! ping back for [`DEADLINE`], reports [`FeedEvent::Lost`] once; it then reconnects with backoff
//! (at most [`MAX_BACKOFF`]) and, once LISTEN is in place and a ping came back, reports
//! [`FeedEvent::Resumed`] (after the first connect too).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;
use uuid::Uuid;

use kms_core::store::feed::{Change, FeedEvent};

use super::pool::CHANNEL;
use super::url::PgSettings;

const HEARTBEAT: Duration = Duration::from_millis(250);
const DEADLINE: Duration = Duration::from_secs(1);
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The application_name of feed connections, so an operator (or a test) can find them in
/// `pg_stat_activity`.
pub const FEED_APPLICATION_NAME: &str = "kmsd-feed";

/// The feed's figures for /metrics, shared between the store and its feed thread.
#[derive(Default)]
pub(super) struct FeedStats {
    pub(super) up: AtomicBool,
    /// The last heartbeat's round trip, in microseconds.
    pub(super) lag_micros: AtomicU64,
}

/// A running change feed; dropping it (or [`Feed::stop`]) ends the thread within a
/// heartbeat.
pub struct Feed {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Feed {
    /// Stops the feed and waits for its thread to end.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
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

/// Starts the feed thread.
pub(super) fn start(
    settings: PgSettings,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    stats: Arc<FeedStats>,
    on_event: OnEvent,
) -> std::io::Result<Feed> {
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = Watcher {
        settings,
        tls,
        stats,
        on_event,
        stop: stop.clone(),
        token: Uuid::new_v4().simple().to_string(),
    };
    let thread = std::thread::Builder::new()
        .name("kmsd-pg-feed".into())
        .spawn(move || watcher.run())?;
    Ok(Feed {
        stop,
        thread: Some(thread),
    })
}

struct Watcher {
    settings: PgSettings,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    stats: Arc<FeedStats>,
    on_event: OnEvent,
    stop: Arc<AtomicBool>,
    token: String,
}

impl Watcher {
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
                if self.stats.up.swap(false, Ordering::AcqRel) {
                    (self.on_event)(FeedEvent::Lost);
                }
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
        self.stats.up.store(false, Ordering::Release);
    }

    /// Listens until the connection fails, the heartbeat stops coming back, or the feed is
    /// stopped; whether the feed was up in between.
    fn session(&self, client: &mut postgres::Client) -> bool {
        if client.batch_execute(&format!("LISTEN {CHANNEL}")).is_err() {
            return false;
        }
        let mut was_up = false;
        let mut sent: BTreeMap<u64, Instant> = BTreeMap::new();
        let mut n = 0u64;
        let mut next_ping = Instant::now();
        let mut last_echo = Instant::now();
        let prefix = format!("ping:{}:", self.token);
        while !self.stopped() {
            let now = Instant::now();
            if now >= next_ping {
                n += 1;
                let ping = format!("NOTIFY {CHANNEL}, '{prefix}{n}'");
                if client.batch_execute(&ping).is_err() {
                    return was_up;
                }
                sent.insert(n, now);
                next_ping = now + HEARTBEAT;
            }
            if now.duration_since(last_echo) > DEADLINE {
                return was_up;
            }
            let wait = next_ping.saturating_duration_since(Instant::now());
            let mut notifications = client.notifications();
            let next = notifications.timeout_iter(wait).next();
            match next {
                Ok(Some(notification)) => {
                    let payload = notification.payload();
                    if let Some(k) = payload.strip_prefix(&prefix) {
                        let Ok(k) = k.parse::<u64>() else { continue };
                        let Some(at) = sent.get(&k).copied() else {
                            continue;
                        };
                        sent = sent.split_off(&(k + 1));
                        last_echo = Instant::now();
                        let lag = u64::try_from(at.elapsed().as_micros()).unwrap_or(u64::MAX);
                        self.stats.lag_micros.store(lag, Ordering::Release);
                        if !self.stats.up.swap(true, Ordering::AcqRel) {
                            was_up = true;
                            (self.on_event)(FeedEvent::Resumed);
                        }
                    } else if let Some(change) = Change::decode(payload) {
                        (self.on_event)(FeedEvent::Changed(change));
                    }
                }
                Ok(None) => {}
                Err(_) => return was_up,
            }
        }
        was_up
    }
}
