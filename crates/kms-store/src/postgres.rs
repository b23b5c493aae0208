//! [`PgStore`]: the [`Store`] in PostgreSQL, shared by every node of a cluster, with the
//! [`SharedState`](kms_core::shared::SharedState) they share and a change feed that tells each
//! node what the others changed.
//!
//! Crates, and why:
//! - `postgres` 0.19 (rust-postgres, the reference Rust client): the `Store` trait is
//!   synchronous and called from blocking threads, so the synchronous client fits it. It runs a
//!   small tokio runtime of its own per connection and panics when called on a thread inside
//!   another runtime, so every call goes through [`pool::off_runtime`] (`block_in_place` on
//!   the server's multi-thread runtime).
//! - `r2d2` + `r2d2_postgres` 0.18: a small, synchronous pool of those clients; each pooled
//!   connection keeps the statements it prepared, so a request-path read is one round trip.
//! - `tokio-postgres-rustls` 0.14 with `rustls` 0.23 on aws-lc-rs (as kmsd's listener): TLS to
//!   the database without OpenSSL. `sslmode` and `sslrootcert` are read by kmsd ([`PgSettings`]),
//!   which tokio-postgres does not do for `verify-ca` / `verify-full`.
//!
//! Schema ([`schema`]): the embedded store's design in tables: records as serde_json with
//! their id, scope, creation time, revision, due time and whether they count toward the limit;
//! names with a primary key per scope; the term index and sharded term counts; the scope counts
//! behind limits; grants; accounts and reserved ids; the identity document; settings; the
//! SharedState tables. Every store call is one transaction (READ COMMITTED with row locks and
//! constraints, no SERIALIZABLE): uniqueness is the primary keys', limits sharded counts read
//! under a shared advisory lock with a margin, or an exclusive one near the limit
//! (`records::Mode`), revisions a compare-and-swap on the locked row. Each
//! write also inserts what it changed into the `changes` log in the round trip of its COMMIT;
//! every node's feed ([`feed`]) polls that log.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use r2d2_postgres::PostgresConnectionManager;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_postgres_rustls::MakeRustlsConnect;
use uuid::Uuid;

use kms_core::grants::GrantRecord;
use kms_core::identity::Identity;
use kms_core::store::feed::{Change, FeedEvent};
use kms_core::store::{DataKeyListFilter, KeyListFilter, Listed, Record};
use kms_core::{Account, AccountId, Alias, DataKeyRecord, KeyRecord, Store, StoreError, Tag};

use pool::{Conn, Fail, Manager};
use records::Kind;

pub use feed::{FEED_APPLICATION_NAME, Feed};
pub use url::PgSettings;

/// How a [`PgStore`] runs, beside what its URL says.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Connections the pool keeps at most (each one a backend process on the server).
    pub pool_size: u32,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self { pool_size: 16 }
    }
}

/// Every kind of store call, for per-call latency figures.
#[derive(Debug, Clone, Copy)]
enum Call {
    CreateKey,
    GetKey,
    UpdateKeys,
    DeleteKey,
    ListKeys,
    KeyByName,
    ListAliases,
    CountKeys,
    KeyTags,
    DueKeys,
    CreateDataKey,
    GetDataKey,
    UpdateDataKeys,
    DeleteDataKey,
    ListDataKeys,
    CountDataKeys,
    DueDataKeys,
    CreateGrant,
    KeyGrants,
    DeleteGrant,
    RetirableGrants,
    MostGrantsOnAKey,
    CreateAccount,
    ResealAccount,
    Accounts,
    Identity,
    ReplaceIdentity,
    ReserveSecretId,
    Setting,
    InitSetting,
    ReplaceSetting,
    Export,
    FirstUse,
    LoginFailed,
    LoginFailures,
    LoginSucceeded,
    ForgetExpired,
}

const CALLS: usize = Call::ForgetExpired as usize + 1;

const CALL_NAMES: [&str; CALLS] = [
    "create_key",
    "get_key",
    "update_keys",
    "delete_key",
    "list_keys",
    "key_by_name",
    "list_aliases",
    "count_keys",
    "key_tags",
    "due_keys",
    "create_data_key",
    "get_data_key",
    "update_data_keys",
    "delete_data_key",
    "list_data_keys",
    "count_data_keys",
    "due_data_keys",
    "create_grant",
    "key_grants",
    "delete_grant",
    "retirable_grants",
    "most_grants_on_a_key",
    "create_account",
    "reseal_account",
    "accounts",
    "identity",
    "replace_identity",
    "reserve_secret_id",
    "setting",
    "init_setting",
    "replace_setting",
    "export",
    "first_use",
    "login_failed",
    "login_failures",
    "login_succeeded",
    "forget_expired",
];

/// Calls of one kind: how many, and their time in all.
#[derive(Default)]
struct CallStat {
    count: AtomicU64,
    micros: AtomicU64,
}

/// One kind of call's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFigures {
    pub call: &'static str,
    pub count: u64,
    pub total: Duration,
}

/// What /metrics shows of a [`PgStore`].
#[derive(Debug, Clone)]
pub struct PgMetrics {
    /// Connections the pool holds, in use or idle.
    pub connections: u32,
    pub idle_connections: u32,
    /// Whether the change feed (if one runs) is connected and its polls succeed.
    pub feed_up: bool,
    /// The round trip of the feed's last poll.
    pub feed_lag: Duration,
    /// Per kind of call, those made at least once.
    pub calls: Vec<CallFigures>,
}

/// The PostgreSQL store. See the module documentation.
pub struct PgStore {
    pool: pool::Pool,
    settings: PgSettings,
    tls: MakeRustlsConnect,
    keys: Kind,
    data_keys: Kind,
    /// Concurrent creates of keys, and of data keys, share a transaction.
    key_creates: grouped::Grouped<(KeyRecord, u64)>,
    data_key_creates: grouped::Grouped<(DataKeyRecord, u64)>,
    feed: Arc<feed::FeedStats>,
    calls: [CallStat; CALLS],
}

impl PgStore {
    /// Connects to the database `url` names (see [`PgSettings::parse`]) and brings its schema
    /// up to date. No error text holds the URL's password.
    pub fn open(url: &str, options: PgOptions) -> Result<Self, StoreError> {
        let settings = PgSettings::parse(url)
            .map_err(|e| StoreError::Backend(format!("PostgreSQL URL: {e}")))?;
        Self::open_with(settings, options)
    }

    /// [`PgStore::open`] with settings already parsed.
    pub fn open_with(settings: PgSettings, options: PgOptions) -> Result<Self, StoreError> {
        let tls = settings
            .tls()
            .map_err(|e| StoreError::Backend(format!("PostgreSQL TLS: {e}")))?;
        let manager = Manager(PostgresConnectionManager::new(
            settings.config(None),
            tls.clone(),
        ));
        // No connection is opened here and none is tested on checkout (a round trip each):
        // a broken one fails its first statement, which is rerun on a fresh one.
        let pool = r2d2::Pool::builder()
            .max_size(options.pool_size.max(1))
            .min_idle(Some(0))
            .test_on_check_out(false)
            .connection_timeout(settings.connect_timeout())
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build(manager)
            .map_err(|e| StoreError::Backend(settings.redact(format!("PostgreSQL pool: {e}"))))?;
        let store = Self {
            pool: pool::Pool::new(pool),
            settings,
            tls,
            keys: Kind::new("keys", Change::Key, true),
            data_keys: Kind::new("data_keys", Change::DataKey, false),
            key_creates: grouped::Grouped::new(),
            data_key_creates: grouped::Grouped::new(),
            feed: Arc::default(),
            calls: std::array::from_fn(|_| CallStat::default()),
        };
        store
            .read(schema::migrate)
            .map_err(|e| store.opening_failed(e))?;
        Ok(store)
    }

    /// An error of `open` that names the database (password hidden), so an operator sees
    /// which one could not be opened.
    fn opening_failed(&self, e: StoreError) -> StoreError {
        let at = &self.settings;
        match e {
            StoreError::Unavailable(m) => {
                StoreError::Unavailable(format!("cannot reach PostgreSQL at {at}: {m}"))
            }
            StoreError::Backend(m) => {
                StoreError::Backend(format!("cannot open PostgreSQL at {at}: {m}"))
            }
            other => other,
        }
    }

    /// The settings the store connects with (prints with the password hidden).
    pub fn settings(&self) -> &PgSettings {
        &self.settings
    }

    /// Starts the change feed on a connection of its own: `on_event` hears every change any
    /// node commits ([`FeedEvent::Changed`]), and [`FeedEvent::Lost`] / [`FeedEvent::Resumed`]
    /// when the feed cannot vouch for the caches and when it can again.
    pub fn watch(&self, on_event: Arc<dyn Fn(FeedEvent) + Send + Sync>) -> std::io::Result<Feed> {
        feed::start(
            self.settings.clone(),
            self.tls.clone(),
            self.feed.clone(),
            on_event,
        )
    }

    /// How many nodes follow this database's change feed now (each node holds one feed
    /// connection): `kmsd store copy` refuses to copy a store that nodes are serving.
    pub fn serving_nodes(&self) -> Result<u64, StoreError> {
        self.read(|conn| {
            let row = conn.query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND application_name = $1",
                &[&FEED_APPLICATION_NAME],
            )?;
            Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
        })
    }

    /// Figures for /metrics: the pool's connections, the feed's state and lag, and each kind
    /// of call's count and total time.
    pub fn metrics(&self) -> PgMetrics {
        let state = self.pool.state();
        PgMetrics {
            connections: state.connections,
            idle_connections: state.idle_connections,
            feed_up: self.feed.up.load(Ordering::Acquire),
            feed_lag: Duration::from_micros(self.feed.lag_micros.load(Ordering::Acquire)),
            calls: self
                .calls
                .iter()
                .zip(CALL_NAMES)
                .filter_map(|(stat, call)| {
                    let count = stat.count.load(Ordering::Relaxed);
                    (count > 0).then(|| CallFigures {
                        call,
                        count,
                        total: Duration::from_micros(stat.micros.load(Ordering::Relaxed)),
                    })
                })
                .collect(),
        }
    }

    fn timed<T>(&self, call: Call, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        let stat = &self.calls[call as usize];
        stat.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        stat.micros.fetch_add(micros, Ordering::Relaxed);
        out
    }

    /// Statements that only read (or, in SharedState, rerun safely), outside a transaction.
    fn read<T>(&self, mut f: impl FnMut(&mut Conn) -> Result<T, Fail>) -> Result<T, StoreError> {
        let redact = |text: String| self.settings.redact(text);
        pool::off_runtime(|| pool::run(&self.pool, &redact, &mut f))
    }

    /// `f` in one transaction, committed with the changes it reports.
    fn write<T>(
        &self,
        f: impl FnMut(&mut Conn, &mut Vec<Change>) -> Result<T, Fail>,
    ) -> Result<T, StoreError> {
        self.write_from("BEGIN", f)
    }

    /// [`PgStore::write`] with a transaction opened by `begin` (see
    /// [`pool::transaction_from`]).
    fn write_from<T>(
        &self,
        begin: &str,
        mut f: impl FnMut(&mut Conn, &mut Vec<Change>) -> Result<T, Fail>,
    ) -> Result<T, StoreError> {
        let redact = |text: String| self.settings.redact(text);
        pool::off_runtime(|| {
            pool::run(&self.pool, &redact, |conn| {
                pool::transaction_from(conn, begin, &mut f)
            })
        })
    }
}

/// A u64 as PostgreSQL's bigint, saturating: times, revisions and limits stay in order.
fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// An account id as bigint, bit for bit (ids are compared, never ordered).
fn acct(account: AccountId) -> i64 {
    account as i64
}

/// A count read back; never negative.
fn db_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Backend(e.to_string()))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Fail> {
    serde_json::from_slice(bytes).map_err(|e| Fail::Corrupt(format!("stored record: {e}")))
}

impl Store for PgStore {
    fn create_key(&self, key: &KeyRecord, max_keys: u64) -> Result<(), StoreError> {
        self.timed(Call::CreateKey, || {
            self.create_grouped(&self.keys, &self.key_creates, key, max_keys)
        })
    }
    fn get_key(&self, key_id: &Uuid) -> Result<Option<KeyRecord>, StoreError> {
        self.timed(Call::GetKey, || self.get_record(&self.keys, key_id))
    }
    fn update_keys(&self, keys: &[KeyRecord], max_keys: u64) -> Result<(), StoreError> {
        self.timed(Call::UpdateKeys, || {
            self.update_records(&self.keys, keys, max_keys)
        })
    }
    fn delete_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        self.timed(Call::DeleteKey, || {
            self.delete_record(&self.keys, key, true)
        })
    }
    fn list_keys(
        &self,
        account: AccountId,
        region: &str,
        filter: &KeyListFilter,
    ) -> Result<Listed<KeyRecord>, StoreError> {
        self.timed(Call::ListKeys, || {
            self.list_records(&self.keys, account, region, filter)
        })
    }
    fn key_by_name(
        &self,
        account: AccountId,
        region: &str,
        name: &str,
    ) -> Result<Option<Uuid>, StoreError> {
        self.timed(Call::KeyByName, || {
            self.read(|conn| {
                let row = conn.query_opt(
                    "SELECT id FROM keys_names WHERE account = $1 AND region = $2 AND name = $3",
                    &[&acct(account), &region, &name.as_bytes()],
                )?;
                Ok(row.map(|r| r.get(0)))
            })
        })
    }
    fn list_aliases(
        &self,
        account: AccountId,
        region: &str,
        key_id: Option<Uuid>,
        offset: usize,
        limit: usize,
    ) -> Result<Listed<(Uuid, Alias)>, StoreError> {
        self.timed(Call::ListAliases, || {
            self.key_aliases(account, region, key_id, offset, limit)
        })
    }
    fn count_keys(&self, account: AccountId, region: &str) -> Result<u64, StoreError> {
        self.timed(Call::CountKeys, || {
            self.count_records(&self.keys, account, region)
        })
    }
    fn key_tags(&self, account: AccountId, region: &str) -> Result<Vec<Tag>, StoreError> {
        self.timed(Call::KeyTags, || {
            self.record_tags(&self.keys, account, region)
        })
    }
    fn due_keys(&self, now: u64, limit: usize) -> Result<Vec<Uuid>, StoreError> {
        self.timed(Call::DueKeys, || self.due_records(&self.keys, now, limit))
    }

    fn create_data_key(&self, data_key: &DataKeyRecord, max: u64) -> Result<(), StoreError> {
        self.timed(Call::CreateDataKey, || {
            self.create_grouped(&self.data_keys, &self.data_key_creates, data_key, max)
        })
    }
    fn get_data_key(&self, data_key_id: &Uuid) -> Result<Option<DataKeyRecord>, StoreError> {
        self.timed(Call::GetDataKey, || {
            self.get_record(&self.data_keys, data_key_id)
        })
    }
    fn update_data_keys(&self, data_keys: &[DataKeyRecord], max: u64) -> Result<(), StoreError> {
        self.timed(Call::UpdateDataKeys, || {
            self.update_records(&self.data_keys, data_keys, max)
        })
    }
    fn delete_data_key(&self, data_key: &DataKeyRecord) -> Result<(), StoreError> {
        self.timed(Call::DeleteDataKey, || {
            self.delete_record(&self.data_keys, data_key, false)
        })
    }
    fn list_data_keys(
        &self,
        account: AccountId,
        region: &str,
        filter: &DataKeyListFilter,
    ) -> Result<Listed<DataKeyRecord>, StoreError> {
        self.timed(Call::ListDataKeys, || {
            self.list_records(&self.data_keys, account, region, filter)
        })
    }
    fn count_data_keys(&self, account: AccountId, region: &str) -> Result<u64, StoreError> {
        self.timed(Call::CountDataKeys, || {
            self.count_records(&self.data_keys, account, region)
        })
    }
    fn due_data_keys(&self, now: u64, limit: usize) -> Result<Vec<Uuid>, StoreError> {
        self.timed(Call::DueDataKeys, || {
            self.due_records(&self.data_keys, now, limit)
        })
    }

    /// A no-op. Erased data leaves PostgreSQL's data files only when VACUUM reuses the space
    /// of the dead row versions (and stays in the WAL and in backups until they age out): no
    /// client-side pass can overwrite those copies. What lingers is sealed, useless without
    /// the root key.
    fn scrub(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn create_grant(&self, grant: &GrantRecord, max: u64) -> Result<(), StoreError> {
        self.timed(Call::CreateGrant, || self.insert_grant(grant, max))
    }
    fn key_grants(&self, key_id: &Uuid) -> Result<Vec<GrantRecord>, StoreError> {
        self.timed(Call::KeyGrants, || self.grants_of(key_id))
    }
    fn delete_grant(&self, key_id: &Uuid, grant_id: &str) -> Result<bool, StoreError> {
        self.timed(Call::DeleteGrant, || self.remove_grant(key_id, grant_id))
    }
    fn retirable_grants(
        &self,
        region: &str,
        principal: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Listed<GrantRecord>, StoreError> {
        self.timed(Call::RetirableGrants, || {
            self.retirable_by(region, principal, offset, limit)
        })
    }
    fn most_grants_on_a_key(&self, account: AccountId, region: &str) -> Result<u64, StoreError> {
        self.timed(Call::MostGrantsOnAKey, || self.most_grants(account, region))
    }

    fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        self.timed(Call::CreateAccount, || self.insert_account(account))
    }
    fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.timed(Call::Accounts, || self.all_accounts())
    }
    fn identity(&self) -> Result<Identity, StoreError> {
        self.timed(Call::Identity, || self.read_identity())
    }
    fn replace_identity(&self, expected: u64, next: &Identity) -> Result<(), StoreError> {
        self.timed(Call::ReplaceIdentity, || {
            self.write_identity(expected, next)
        })
    }
    fn reserve_secret_id(&self, secret_id: &str, account: AccountId) -> Result<(), StoreError> {
        self.timed(Call::ReserveSecretId, || {
            self.reserve_secret(secret_id, account)
        })
    }
    fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.timed(Call::Setting, || self.read_setting(name))
    }
    fn init_setting(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.timed(Call::InitSetting, || self.first_setting(name, value))
    }
    fn replace_setting(
        &self,
        name: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<(), StoreError> {
        self.timed(Call::ReplaceSetting, || {
            self.swap_setting(name, expected, value)
        })
    }
    fn reseal_account(&self, uin: AccountId, sealed_secret_key: &[u8]) -> Result<(), StoreError> {
        self.timed(Call::ResealAccount, || {
            self.reseal_account_secret(uin, sealed_secret_key)
        })
    }
    fn export(
        &self,
        each: &mut dyn FnMut(Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.timed(Call::Export, || self.export_all(each))
    }
}

mod feed;
mod grants;
mod grouped;
mod identity;
mod listing;
mod pool;
mod records;
mod schema;
mod shared;
#[cfg(test)]
mod tests;
mod url;
