//! Pooled connections with their prepared statements, and the one place every store call runs:
//! off the async runtime, in a transaction when it writes, rerun on failures that pass.
//!
//! Retries go by SQLSTATE and by the driver's error kinds, never by message text:
//! - `40001` serialization_failure, `40P01` deadlock_detected: roll back, rerun the whole
//!   transaction (on the same connection);
//! - class `08` (connection exceptions), `57P01` admin_shutdown, `57P02` crash_shutdown,
//!   `57P03` cannot_connect_now, `25006` read_only_sql_transaction (a standby after a
//!   failover), a closed connection, an I/O or TLS failure, a pool checkout that timed out:
//!   drop that connection, rerun on a fresh one (`target_session_attrs=read-write` finds the new
//!   primary);
//! - a failure while COMMIT was in flight is ambiguous (the write may have landed): never
//!   rerun, answer [`StoreError::Unavailable`];
//! - anything else is [`StoreError::Backend`].
//!
//! Reruns are bounded: about [`RETRY_BUDGET`] in all, with jittered backoff from 10 ms to
//! 500 ms; then [`StoreError::Unavailable`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, Row, Statement};
use r2d2::ManageConnection;
use r2d2_postgres::PostgresConnectionManager;
use tokio_postgres_rustls::MakeRustlsConnect;

use kms_core::StoreError;

/// How long one store call may keep retrying before it answers `Unavailable`.
pub(super) const RETRY_BUDGET: Duration = Duration::from_secs(5);
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// Why one attempt at a store call did not return a value.
pub(super) enum Fail {
    /// The store's answer (a revision conflict, a name in use, a limit): final.
    Refused(StoreError),
    Db(postgres::Error),
    Pool(r2d2::Error),
    /// COMMIT failed in flight: the write may or may not have landed.
    Ambiguous(postgres::Error),
    /// Data the store wrote earlier does not read back (corrupt JSON, say): final.
    Corrupt(String),
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Self {
        Fail::Db(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Refused(e)
    }
}

/// What to do about a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    /// Roll back and run the transaction again.
    Rerun,
    /// Drop the connection and run again on a fresh one.
    Reconnect,
    /// Give up: `Backend`.
    Fatal,
}

/// Classifies a driver error by its SQLSTATE, or, without one, by whether it is the
/// connection that failed (closed, I/O, TLS: the error's source is an I/O error).
pub(super) fn classify(e: &postgres::Error) -> Class {
    if e.is_closed() {
        return Class::Reconnect;
    }
    match e.code() {
        Some(code) => classify_state(code),
        None => {
            let io = std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
            if io { Class::Reconnect } else { Class::Fatal }
        }
    }
}

pub(super) fn classify_state(code: &SqlState) -> Class {
    if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED {
        Class::Rerun
    } else if code.code().starts_with("08")
        || *code == SqlState::ADMIN_SHUTDOWN
        || *code == SqlState::CRASH_SHUTDOWN
        || *code == SqlState::CANNOT_CONNECT_NOW
        || *code == SqlState::READ_ONLY_SQL_TRANSACTION
    {
        Class::Reconnect
    } else {
        Class::Fatal
    }
}

impl Fail {
    fn class(&self) -> Class {
        match self {
            Fail::Db(e) => classify(e),
            // A checkout that timed out: no connection could be made or had in time.
            Fail::Pool(_) => Class::Reconnect,
            Fail::Refused(_) | Fail::Ambiguous(_) | Fail::Corrupt(_) => Class::Fatal,
        }
    }

    fn text(&self) -> String {
        match self {
            Fail::Db(e) | Fail::Ambiguous(e) => describe(e),
            Fail::Pool(e) => format!("no database connection: {e}"),
            Fail::Refused(e) => e.to_string(),
            Fail::Corrupt(what) => what.clone(),
        }
    }
}

/// The driver's error with the server's message and SQLSTATE when there is one (its Display
/// says only "db error").
pub(super) fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

/// The unique constraint a failed insert ran into, if that is what failed.
pub(super) fn unique_violation(e: &postgres::Error) -> Option<&str> {
    let db = e.as_db_error()?;
    (*db.code() == SqlState::UNIQUE_VIOLATION).then(|| db.constraint().unwrap_or(""))
}

/// One pooled connection and the statements prepared on it.
pub(super) struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
    /// Set when a failure showed the connection unusable: the pool then drops it.
    broken: bool,
}

impl Conn {
    /// `sql` prepared on this connection, once: later calls cost no round trip.
    fn prepared(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    pub(super) fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, postgres::Error> {
        let statement = self.prepared(sql)?;
        self.client.query(&statement, params)
    }

    pub(super) fn query_one(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, postgres::Error> {
        let statement = self.prepared(sql)?;
        self.client.query_one(&statement, params)
    }

    pub(super) fn query_opt(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, postgres::Error> {
        let statement = self.prepared(sql)?;
        self.client.query_opt(&statement, params)
    }

    pub(super) fn execute(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, postgres::Error> {
        let statement = self.prepared(sql)?;
        self.client.execute(&statement, params)
    }

    /// Statements without parameters, in one round trip (simple query protocol).
    pub(super) fn batch(&mut self, sql: &str) -> Result<(), postgres::Error> {
        self.client.batch_execute(sql)
    }
}

/// Makes [`Conn`]s through r2d2_postgres's manager, and tells r2d2 which are broken.
pub(super) struct Manager(pub(super) PostgresConnectionManager<MakeRustlsConnect>);

impl ManageConnection for Manager {
    type Connection = Conn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<Conn, postgres::Error> {
        Ok(Conn {
            client: self.0.connect()?,
            statements: HashMap::new(),
            broken: false,
        })
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), postgres::Error> {
        self.0.is_valid(&mut conn.client)
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.broken || conn.client.is_closed()
    }
}

/// The pool, dropped off the async runtime: each connection owns a small runtime of its own,
/// which tokio refuses to drop on a thread that drives another.
pub(super) struct Pool(Option<r2d2::Pool<Manager>>);

impl Pool {
    pub(super) fn new(pool: r2d2::Pool<Manager>) -> Self {
        Self(Some(pool))
    }
}

impl std::ops::Deref for Pool {
    type Target = r2d2::Pool<Manager>;
    fn deref(&self) -> &Self::Target {
        self.0
            .as_ref()
            .expect("the pool is taken only when it is dropped")
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let pool = self.0.take();
        match tokio::runtime::Handle::try_current() {
            Err(_) => drop(pool),
            Ok(handle)
                if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread =>
            {
                // No worker to hand over to: the connections close on a thread of their own.
                std::thread::spawn(move || drop(pool));
            }
            Ok(_) => tokio::task::block_in_place(|| drop(pool)),
        }
    }
}

/// Backoff between reruns: doubling from [`FIRST_BACKOFF`] to [`MAX_BACKOFF`], each wait a
/// random point in its upper half so nodes that failed together do not retry together.
struct Backoff(Duration);

impl Backoff {
    fn next(&mut self) -> Duration {
        let step = self.0;
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
        let half = step / 2;
        half + half.mul_f64(random_unit())
    }
}

/// A random number in [0, 1).
fn random_unit() -> f64 {
    (uuid::Uuid::new_v4().as_u128() as u64 >> 11) as f64 / (1u64 << 53) as f64
}

/// Runs `f` where the synchronous driver may block: outside any tokio runtime as it is, on a
/// multi-thread runtime's worker through `block_in_place` (the driver runs a small runtime of
/// its own per connection, which panics inside another one). A current-thread runtime has no
/// other worker to hand its tasks to, so a call from one is refused.
pub(super) fn off_runtime<T>(f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    match tokio::runtime::Handle::try_current() {
        Err(_) => f(),
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread => {
            Err(StoreError::Backend(
                "PgStore called on a current-thread tokio runtime; use spawn_blocking or a \
                 multi-thread runtime"
                    .into(),
            ))
        }
        Ok(_) => tokio::task::block_in_place(f),
    }
}

/// Runs `attempt` on a pooled connection until it succeeds, is refused, or the failures that
/// pass have used up [`RETRY_BUDGET`]. `redact` cleans every error text.
pub(super) fn run<T>(
    pool: &r2d2::Pool<Manager>,
    redact: &dyn Fn(String) -> String,
    mut attempt: impl FnMut(&mut Conn) -> Result<T, Fail>,
) -> Result<T, StoreError> {
    let start = Instant::now();
    let mut backoff = Backoff(FIRST_BACKOFF);
    loop {
        let remaining = RETRY_BUDGET.saturating_sub(start.elapsed());
        let outcome = match pool.get_timeout(remaining.max(Duration::from_millis(1))) {
            Ok(mut conn) => {
                let outcome = attempt(&mut conn);
                if let Err(fail) = &outcome
                    && (matches!(fail, Fail::Ambiguous(_)) || fail.class() == Class::Reconnect)
                {
                    conn.broken = true;
                }
                outcome
            }
            Err(e) => Err(Fail::Pool(e)),
        };
        let fail = match outcome {
            Ok(value) => return Ok(value),
            Err(Fail::Refused(e)) => return Err(e),
            Err(fail) => fail,
        };
        if let Fail::Ambiguous(_) = fail {
            return Err(StoreError::Unavailable(redact(format!(
                "the database connection failed while a commit was in flight, so the write \
                 may or may not have landed: {}",
                fail.text()
            ))));
        }
        if fail.class() == Class::Fatal {
            return Err(StoreError::Backend(redact(fail.text())));
        }
        let wait = backoff.next();
        if start.elapsed() + wait >= RETRY_BUDGET {
            return Err(StoreError::Unavailable(redact(format!(
                "gave up after {} ms: {}",
                start.elapsed().as_millis(),
                fail.text()
            ))));
        }
        std::thread::sleep(wait);
    }
}

/// `body` in one transaction (READ COMMITTED), committed with the changes it reports: they
/// are inserted into `changes` in the same round trip as COMMIT, so they land exactly when the
/// write does (see [`super::feed`] for how nodes read them). Anything `body` refuses rolls
/// everything back.
pub(super) fn transaction<T>(
    conn: &mut Conn,
    body: impl FnOnce(&mut Conn, &mut Vec<kms_core::store::feed::Change>) -> Result<T, Fail>,
) -> Result<T, Fail> {
    transaction_from(conn, "BEGIN", body)
}

/// [`transaction`] opened by `begin`: `BEGIN` and, in the same round trip, statements without
/// parameters that must come first (the advisory locks of a limited create).
pub(super) fn transaction_from<T>(
    conn: &mut Conn,
    begin: &str,
    body: impl FnOnce(&mut Conn, &mut Vec<kms_core::store::feed::Change>) -> Result<T, Fail>,
) -> Result<T, Fail> {
    conn.batch(begin)?;
    let mut changes = Vec::new();
    match body(conn, &mut changes) {
        Ok(value) => {
            let commit = commit_sql(&changes);
            conn.batch(&commit).map_err(Fail::Ambiguous)?;
            Ok(value)
        }
        Err(fail) => {
            if fail.class() != Class::Reconnect && conn.batch("ROLLBACK").is_err() {
                conn.broken = true;
            }
            Err(fail)
        }
    }
}

/// `INSERT INTO changes …; COMMIT`, one simple-protocol round trip. Unlike `pg_notify`, whose
/// transactions PostgreSQL commits one at a time (a global queue lock held through the WAL
/// flush), an insert lets commits proceed in parallel. Payloads come from `Change::encode` (ids
/// and letters), so they are written as literals; anything else would be quoted.
fn commit_sql(changes: &[kms_core::store::feed::Change]) -> String {
    let mut payloads: Vec<String> = changes.iter().map(|c| c.encode()).collect();
    payloads.sort_unstable();
    payloads.dedup();
    if payloads.is_empty() {
        return "COMMIT".into();
    }
    let rows: Vec<String> = payloads
        .iter()
        .map(|p| format!("('{}')", p.replace('\'', "''")))
        .collect();
    format!(
        "INSERT INTO changes (change) VALUES {}; COMMIT",
        rows.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_decide_reruns() {
        for (code, class) in [
            ("40001", Class::Rerun),
            ("40P01", Class::Rerun),
            ("08000", Class::Reconnect),
            ("08006", Class::Reconnect),
            ("08001", Class::Reconnect),
            ("57P01", Class::Reconnect),
            ("57P02", Class::Reconnect),
            ("57P03", Class::Reconnect),
            ("25006", Class::Reconnect),
            ("23505", Class::Fatal),
            ("42P01", Class::Fatal),
            ("28P01", Class::Fatal),
            ("57014", Class::Fatal),
        ] {
            assert_eq!(classify_state(&SqlState::from_code(code)), class, "{code}");
        }
    }

    #[test]
    fn backoff_grows_jittered_and_bounded() {
        let mut b = Backoff(FIRST_BACKOFF);
        let waits: Vec<Duration> = (0..10).map(|_| b.next()).collect();
        assert!(waits[0] >= Duration::from_millis(5) && waits[0] <= FIRST_BACKOFF);
        assert!(waits.iter().all(|w| *w <= MAX_BACKOFF));
        assert!(waits[9] >= MAX_BACKOFF / 2);
    }

    #[test]
    fn commits_carry_their_changes() {
        use kms_core::store::feed::Change;
        let id = uuid::Uuid::nil();
        assert_eq!(commit_sql(&[]), "COMMIT");
        assert_eq!(
            commit_sql(&[Change::Key(id), Change::Identity, Change::Key(id)]),
            format!("INSERT INTO changes (change) VALUES ('i'), ('k:{id}'); COMMIT")
        );
    }

    #[test]
    fn a_current_thread_runtime_is_refused_not_panicked() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let answer = rt.block_on(async { off_runtime(|| Ok(1)) });
        assert!(matches!(answer, Err(StoreError::Backend(_))));
        assert_eq!(off_runtime(|| Ok(2)), Ok(2));
    }
}
