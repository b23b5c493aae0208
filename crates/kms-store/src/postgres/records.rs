//! Keys and hosted data keys: one record table each with names, index terms, sharded term
//! counts and the scope's sharded count toward its limit, all written in the record's
//! transaction.
//!
//! Round trips: a create is BEGIN with the scope's advisory lock, one statement (record, names,
//! terms, counts, and the scope's count read back for the limit, see [`Mode`]) and COMMIT with
//! its change-log insert; an update adds the locking read of the old records (and a statement
//! freeing names, when names move; the advisory lock, when it makes a record count again); a
//! delete is BEGIN, a compare-and-swap DELETE, one statement removing the rest, COMMIT.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use postgres::types::ToSql;
use uuid::Uuid;

use kms_core::StoreError;
use kms_core::store::Indexed;
use kms_core::store::feed::Change;

use super::grouped::Grouped;
use super::pool::{self, Fail, unique_violation};
use super::{PgStore, acct, db_u64, decode, encode, i64_of};

/// Shards of each term count: creates in one scope spread over this many rows.
const SHARDS: u128 = 16;

/// The term count of every record of a scope (no index term is empty).
pub(super) const ALL: &[u8] = b"";
/// The term count of a scope's alias entries (every index term holds a NUL).
pub(super) const ALIASES: &[u8] = b"aliases";

fn shard(id: Uuid) -> i16 {
    (id.as_u128() % SHARDS) as i16
}

/// One kind of record: its tables and the statements on them.
pub(super) struct Kind {
    pub(super) table: &'static str,
    change: fn(Uuid) -> Change,
    get: String,
    create: String,
    lock: String,
    free_names: String,
    update: String,
    delete: String,
    cleanup: String,
    count: String,
    due: String,
}

/// The statements that keep names, terms and counts: parameters `$first` to `$first + 25`.
/// Scope counts are sharded like term counts, so creates in one scope do not queue on one row;
/// limits are checked apart ([`checked`]).
fn index_ctes(t: &str, first: usize) -> String {
    let p = |i: usize| format!("${}", first + i);
    format!(
        "names AS (
            INSERT INTO {t}_names (account, region, name, id, created_at, alias_created,
                                   alias_updated)
            SELECT * FROM unnest({}::bigint[], {}::text[], {}::bytea[], {}::uuid[],
                                 {}::bigint[], {}::bigint[], {}::bigint[])),
        unterm AS (
            DELETE FROM {t}_terms AS x
            USING unnest({}::bigint[], {}::text[], {}::bytea[], {}::bigint[], {}::uuid[])
                AS u(account, region, term, created_at, id)
            WHERE x.account = u.account AND x.region = u.region AND x.term = u.term
              AND x.created_at = u.created_at AND x.id = u.id),
        terms AS (
            INSERT INTO {t}_terms (account, region, term, created_at, id)
            SELECT * FROM unnest({}::bigint[], {}::text[], {}::bytea[], {}::bigint[],
                                 {}::uuid[])),
        counted AS (
            INSERT INTO {t}_term_counts AS c (account, region, term, shard, n)
            SELECT * FROM unnest({}::bigint[], {}::text[], {}::bytea[], {}::smallint[],
                                 {}::bigint[])
            ON CONFLICT (account, region, term, shard) DO UPDATE SET n = c.n + EXCLUDED.n),
        scoped AS (
            INSERT INTO {t}_scope_counts AS s (account, region, shard, n)
            SELECT * FROM unnest({}::bigint[], {}::text[], {}::smallint[], {}::bigint[])
            ON CONFLICT (account, region, shard) DO UPDATE SET n = s.n + EXCLUDED.n)",
        p(0),
        p(1),
        p(2),
        p(3),
        p(4),
        p(5),
        p(6),
        p(7),
        p(8),
        p(9),
        p(10),
        p(11),
        p(12),
        p(13),
        p(14),
        p(15),
        p(16),
        p(17),
        p(18),
        p(19),
        p(20),
        p(21),
        p(22),
        p(23),
        p(24),
        p(25),
    )
}

/// The counts of the scopes a write adds to, read by the write's statement (before its own
/// changes) with the slack [`checked`] allows: `$first` and `$first + 1` are the scopes'
/// (account, region) arrays.
fn scope_totals(t: &str, first: usize) -> String {
    format!(
        "SELECT u.account, u.region,
                (SELECT coalesce(sum(s.n), 0)::bigint FROM {t}_scope_counts AS s
                 WHERE s.account = u.account AND s.region = u.region),
                current_setting('max_connections')::bigint
                    + current_setting('max_prepared_transactions')::bigint
         FROM unnest(${}::bigint[], ${}::text[]) AS u(account, region)",
        first,
        first + 1
    )
}

impl Kind {
    pub(super) fn new(table: &'static str, change: fn(Uuid) -> Change, grants: bool) -> Self {
        let t = table;
        let index = index_ctes(t, 9);
        let totals = scope_totals(t, 35);
        let record_columns = "id, account, region, created_at, revision, due, counts, record";
        let records = "unnest($1::uuid[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], \
                       $6::bigint[], $7::bool[], $8::bytea[])";
        let grants_cleanup = if grants {
            ", gone_grants AS (DELETE FROM grants WHERE key_id = ANY($30::uuid[])),
               gone_grant_counts AS (DELETE FROM grant_counts WHERE key_id = ANY($30::uuid[]))"
        } else {
            ""
        };
        Self {
            table,
            change,
            get: format!("SELECT record FROM {t} WHERE id = $1"),
            create: format!(
                "WITH recs AS (INSERT INTO {t} ({record_columns}) SELECT * FROM {records}),
                 {index}
                 {totals}"
            ),
            lock: format!(
                "SELECT id, record FROM {t} WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE"
            ),
            free_names: format!(
                "DELETE FROM {t}_names AS x
                 USING unnest($1::bigint[], $2::text[], $3::bytea[]) AS u(account, region, name)
                 WHERE x.account = u.account AND x.region = u.region AND x.name = u.name"
            ),
            update: format!(
                "WITH recs AS (
                    UPDATE {t} AS k SET account = u.account, region = u.region,
                        created_at = u.created_at, revision = u.revision, due = u.due,
                        counts = u.counts, record = u.record
                    FROM {records} AS u({record_columns})
                    WHERE k.id = u.id),
                 {index}
                 {totals}"
            ),
            delete: format!("DELETE FROM {t} WHERE id = $1 AND revision = $2 RETURNING record"),
            cleanup: format!(
                "WITH freed AS (
                    DELETE FROM {t}_names AS x
                    USING unnest($1::bigint[], $2::text[], $3::bytea[]) AS u(account, region, name)
                    WHERE x.account = u.account AND x.region = u.region AND x.name = u.name),
                 {}{grants_cleanup}
                 SELECT 1",
                index_ctes(t, 4)
            ),
            count: format!(
                "SELECT coalesce(sum(n), 0)::bigint FROM {t}_scope_counts
                 WHERE account = $1 AND region = $2"
            ),
            due: format!("SELECT id FROM {t} WHERE due <= $1 ORDER BY due, id LIMIT $2"),
        }
    }
}

/// A name row: (account, region, name) → (id, created at, alias created, alias updated).
type NameKey = (i64, String, Vec<u8>);
type NameValue = (Uuid, i64, Option<i64>, Option<i64>);
/// A term index entry.
type TermEntry = (i64, String, Vec<u8>, i64, Uuid);

/// What a batch changes in the index tables, as the arrays the statements take: the entries of
/// the old records that the new ones lack are removed, the new ones' that the old lacked are
/// added, and the counts move by the difference.
#[derive(Default)]
struct IndexChange {
    names_gone: BTreeMap<NameKey, NameValue>,
    names_new: BTreeMap<NameKey, NameValue>,
    terms_gone: BTreeSet<TermEntry>,
    terms_new: BTreeSet<TermEntry>,
    /// (account, region, term, shard) → change; sorted, so every transaction locks count rows
    /// in one order.
    term_counts: BTreeMap<(i64, String, Vec<u8>, i16), i64>,
    /// (account, region, shard) → change.
    scope_counts: BTreeMap<(i64, String, i16), i64>,
}

fn name_rows<R: Indexed>(rec: &R) -> Result<BTreeMap<NameKey, NameValue>, StoreError> {
    let (account, region) = (acct(rec.account()), rec.region().to_owned());
    let created = i64_of(rec.created_at());
    let listed: HashMap<&str, (u64, u64)> = rec
        .listed_aliases()
        .iter()
        .map(|a| (a.name.as_str(), (a.created_at, a.updated_at)))
        .collect();
    let mut rows = BTreeMap::new();
    for name in rec.unique_names() {
        let times = listed.get(name);
        let value = (
            rec.id(),
            created,
            times.map(|t| i64_of(t.0)),
            times.map(|t| i64_of(t.1)),
        );
        let key = (account, region.clone(), name.as_bytes().to_vec());
        if rows.insert(key, value).is_some() {
            // One record holding one name twice.
            return Err(StoreError::NameTaken);
        }
    }
    Ok(rows)
}

fn term_entries<R: Indexed>(rec: &R) -> BTreeSet<TermEntry> {
    let (account, region) = (acct(rec.account()), rec.region().to_owned());
    rec.terms()
        .into_iter()
        .map(|t| {
            (
                account,
                region.clone(),
                t.into_bytes(),
                i64_of(rec.created_at()),
                rec.id(),
            )
        })
        .collect()
}

impl IndexChange {
    /// Adds the change from `old` (none for a create) to `new` (none for a delete).
    fn add<R: Indexed>(&mut self, old: Option<&R>, new: Option<&R>) -> Result<(), StoreError> {
        let (old_names, old_terms) = match old {
            Some(r) => (name_rows(r)?, term_entries(r)),
            None => Default::default(),
        };
        let (new_names, new_terms) = match new {
            Some(r) => (name_rows(r)?, term_entries(r)),
            None => Default::default(),
        };
        for (k, v) in &old_names {
            if new_names.get(k) != Some(v) {
                self.names_gone.insert(k.clone(), *v);
            }
        }
        for (k, v) in &new_names {
            if old_names.get(k) != Some(v) && self.names_new.insert(k.clone(), *v).is_some() {
                // Two records of one batch taking one name.
                return Err(StoreError::NameTaken);
            }
        }
        self.terms_gone
            .extend(old_terms.difference(&new_terms).cloned());
        self.terms_new
            .extend(new_terms.difference(&old_terms).cloned());
        for (rec, sign) in [(old, -1), (new, 1)] {
            let Some(rec) = rec else { continue };
            let (account, region, s) = (acct(rec.account()), rec.region(), shard(rec.id()));
            let mut count = |term: Vec<u8>, n: i64| {
                *self
                    .term_counts
                    .entry((account, region.to_owned(), term, s))
                    .or_default() += sign * n;
            };
            count(ALL.to_vec(), 1);
            for term in rec.terms() {
                count(term.into_bytes(), 1);
            }
            let aliases = rec.listed_aliases().len() as i64;
            if aliases > 0 {
                count(ALIASES.to_vec(), aliases);
            }
            if rec.counts_toward_limit() {
                *self
                    .scope_counts
                    .entry((account, region.to_owned(), s))
                    .or_default() += sign;
            }
        }
        Ok(())
    }

    /// The scopes whose count the change raises, by how much, in order.
    fn raised(&self) -> BTreeMap<(i64, String), i64> {
        let mut scopes: BTreeMap<(i64, String), i64> = BTreeMap::new();
        for ((account, region, _), n) in &self.scope_counts {
            *scopes.entry((*account, region.clone())).or_default() += n;
        }
        scopes.retain(|_, n| *n > 0);
        scopes
    }

    /// The 26 parameters of [`index_ctes`].
    fn params(&self) -> Vec<Box<dyn ToSql + Sync>> {
        let mut p: Vec<Box<dyn ToSql + Sync>> = Vec::with_capacity(26);
        let names = &self.names_new;
        p.push(Box::new(names.keys().map(|k| k.0).collect::<Vec<_>>()));
        p.push(Box::new(
            names.keys().map(|k| k.1.clone()).collect::<Vec<_>>(),
        ));
        p.push(Box::new(
            names.keys().map(|k| k.2.clone()).collect::<Vec<_>>(),
        ));
        p.push(Box::new(names.values().map(|v| v.0).collect::<Vec<_>>()));
        p.push(Box::new(names.values().map(|v| v.1).collect::<Vec<_>>()));
        p.push(Box::new(names.values().map(|v| v.2).collect::<Vec<_>>()));
        p.push(Box::new(names.values().map(|v| v.3).collect::<Vec<_>>()));
        for terms in [&self.terms_gone, &self.terms_new] {
            p.push(Box::new(terms.iter().map(|e| e.0).collect::<Vec<_>>()));
            p.push(Box::new(
                terms.iter().map(|e| e.1.clone()).collect::<Vec<_>>(),
            ));
            p.push(Box::new(
                terms.iter().map(|e| e.2.clone()).collect::<Vec<_>>(),
            ));
            p.push(Box::new(terms.iter().map(|e| e.3).collect::<Vec<_>>()));
            p.push(Box::new(terms.iter().map(|e| e.4).collect::<Vec<_>>()));
        }
        let counts: Vec<_> = self.term_counts.iter().filter(|(_, n)| **n != 0).collect();
        p.push(Box::new(
            counts.iter().map(|(k, _)| k.0).collect::<Vec<_>>(),
        ));
        p.push(Box::new(
            counts.iter().map(|(k, _)| k.1.clone()).collect::<Vec<_>>(),
        ));
        p.push(Box::new(
            counts.iter().map(|(k, _)| k.2.clone()).collect::<Vec<_>>(),
        ));
        p.push(Box::new(
            counts.iter().map(|(k, _)| k.3).collect::<Vec<_>>(),
        ));
        p.push(Box::new(
            counts.iter().map(|(_, n)| **n).collect::<Vec<_>>(),
        ));
        let scopes: Vec<_> = self.scope_counts.iter().filter(|(_, n)| **n != 0).collect();
        p.push(Box::new(
            scopes.iter().map(|(k, _)| k.0).collect::<Vec<_>>(),
        ));
        p.push(Box::new(
            scopes.iter().map(|(k, _)| k.1.clone()).collect::<Vec<_>>(),
        ));
        p.push(Box::new(
            scopes.iter().map(|(k, _)| k.2).collect::<Vec<_>>(),
        ));
        p.push(Box::new(
            scopes.iter().map(|(_, n)| **n).collect::<Vec<_>>(),
        ));
        p
    }

    /// Parameters of the statement freeing names: (account, region, name) arrays.
    fn names_gone_params(&self) -> Vec<Box<dyn ToSql + Sync>> {
        let names = &self.names_gone;
        vec![
            Box::new(names.keys().map(|k| k.0).collect::<Vec<_>>()),
            Box::new(names.keys().map(|k| k.1.clone()).collect::<Vec<_>>()),
            Box::new(names.keys().map(|k| k.2.clone()).collect::<Vec<_>>()),
        ]
    }
}

/// The 8 record parameters (`$1`–`$8`) of `recs`.
fn record_params<R: Indexed>(recs: &[&R]) -> Result<Vec<Box<dyn ToSql + Sync>>, StoreError> {
    let mut bytes = Vec::with_capacity(recs.len());
    for r in recs {
        bytes.push(encode(*r)?);
    }
    Ok(vec![
        Box::new(recs.iter().map(|r| r.id()).collect::<Vec<_>>()),
        Box::new(recs.iter().map(|r| acct(r.account())).collect::<Vec<_>>()),
        Box::new(
            recs.iter()
                .map(|r| r.region().to_owned())
                .collect::<Vec<_>>(),
        ),
        Box::new(
            recs.iter()
                .map(|r| i64_of(r.created_at()))
                .collect::<Vec<_>>(),
        ),
        Box::new(
            recs.iter()
                .map(|r| i64_of(r.revision()))
                .collect::<Vec<_>>(),
        ),
        Box::new(
            recs.iter()
                .map(|r| r.due_time().map(i64_of))
                .collect::<Vec<_>>(),
        ),
        Box::new(
            recs.iter()
                .map(|r| r.counts_toward_limit())
                .collect::<Vec<_>>(),
        ),
        Box::new(bytes),
    ])
}

fn refs(params: &[Box<dyn ToSql + Sync>]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p.as_ref()).collect()
}

/// Maps unique violations of the record's and the names' primary keys to the store's answers.
fn refusals(kind: &Kind, e: postgres::Error) -> Fail {
    match unique_violation(&e) {
        Some(c) if c == format!("{}_names_pkey", kind.table) => {
            Fail::Refused(StoreError::NameTaken)
        }
        Some(c) if c == format!("{}_pkey", kind.table) => Fail::Refused(StoreError::AlreadyExists),
        _ => Fail::Db(e),
    }
}

/// How a write that raises a scope's count makes sure the scope stays within its limit.
///
/// Every such write first takes an advisory lock on the scope ([`lock_key`]), then its
/// statement reads the scope's count `c` (the sum of its shards, as committed when the
/// statement started: after the lock was granted) beside its own change `d`.
///
/// - [`Mode::Shared`]: `pg_advisory_xact_lock_shared`, which writers hold together. The write
///   goes on without waiting for anyone if `d` is 1 and `c + d + slack <= max`, `slack` being
///   the server's `max_connections + max_prepared_transactions` (read by the statement, so a
///   restart with other settings is followed). Why the limit holds: take any moment, and among
///   the writes committed by then that raised the scope, the one `W` whose read came last. The
///   count then is at most `c_W` (all that had committed at `W`'s read) plus what the writes
///   that committed after that read added. Each of those read before `W` did and committed
///   after, so it was in flight at `W`'s read: a transaction in flight holds a connection (or
///   is a prepared transaction), so there were at most `slack - 1` of them beside `W`. None of
///   them was in exact mode (an exclusive holder excludes `W`'s shared lock at that moment),
///   so each added 1, and the count is at most `c_W + d_W + slack - 1 < max`. Decrements only
///   lower it, and need no lock.
/// - [`Mode::Exact`], when the shared check fails: the write rolls back and runs again with
///   `pg_advisory_xact_lock`, exclusive: it is granted once every shared holder has committed
///   (or rolled back), and PostgreSQL queues later shared requests behind it, so no writer that
///   raises the scope is in flight beside it and `c + d <= max` is exact. If `W` above took this
///   path, nothing committed between its read and its commit either, so the count is at most
///   `c_W + d_W <= max`.
///
/// Far from the limit, creates in one scope therefore never queue on each other; near it
/// (within `slack`) they go one at a time, as they used to always.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Shared,
    Exact,
}

/// The advisory lock key of `table`'s scope (`account`, `region`): the first 8 bytes of the
/// SHA-256 of the three, stable across nodes and versions (so every node locks one key), and
/// unlikely to meet another user of advisory locks in the same database.
fn lock_key(table: &str, account: i64, region: &str) -> i64 {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(b"kmsd scope count\0");
    ctx.update(table.as_bytes());
    ctx.update(b"\0");
    ctx.update(&account.to_be_bytes());
    ctx.update(region.as_bytes());
    let digest = ctx.finish();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_ref()[..8]);
    i64::from_be_bytes(first)
}

/// `SELECT` of the advisory locks of `scopes` in `mode`, in key order (every writer takes them
/// in one order); empty when there are none.
fn lock_sql(table: &str, scopes: &BTreeMap<(i64, String), i64>, mode: Mode) -> String {
    let mut keys: Vec<i64> = scopes
        .keys()
        .map(|(account, region)| lock_key(table, *account, region))
        .collect();
    if keys.is_empty() {
        return String::new();
    }
    keys.sort_unstable();
    keys.dedup();
    let function = match mode {
        Mode::Shared => "pg_advisory_xact_lock_shared",
        Mode::Exact => "pg_advisory_xact_lock",
    };
    let calls: Vec<String> = keys.iter().map(|k| format!("{function}({k})")).collect();
    format!("SELECT {}", calls.join(", "))
}

/// Runs `f` in shared mode, and again in exact mode if the shared check could not decide
/// (see [`Mode`]): in shared mode [`StoreError::LimitReached`] means only that.
fn shared_then_exact<T>(mut f: impl FnMut(Mode) -> Result<T, StoreError>) -> Result<T, StoreError> {
    match f(Mode::Shared) {
        Err(StoreError::LimitReached) => f(Mode::Exact),
        other => other,
    }
}

/// Checks what a create's or update's statement read of the scopes it raises (see [`Mode`]).
fn checked(
    rows: &[postgres::Row],
    raised: &BTreeMap<(i64, String), i64>,
    max: u64,
    mode: Mode,
) -> Result<(), Fail> {
    let max = i64_of(max);
    for row in rows {
        let scope: (i64, String) = (row.get(0), row.get(1));
        let (count, slack): (i64, i64) = (row.get(2), row.get(3));
        let d = raised.get(&scope).copied().unwrap_or(0);
        let within = match mode {
            Mode::Shared => d == 1 && count.saturating_add(d).saturating_add(slack) <= max,
            Mode::Exact => count.saturating_add(d) <= max,
        };
        if !within {
            return Err(Fail::Refused(StoreError::LimitReached));
        }
    }
    Ok(())
}

/// Runs a create's or update's statement `sql` over `recs` and their index `change`, and checks
/// what it read of the scopes the change raises (see [`Mode`]).
fn write_records<R: Indexed>(
    conn: &mut pool::Conn,
    kind: &Kind,
    sql: &str,
    recs: &[&R],
    change: &IndexChange,
    max: u64,
    mode: Mode,
) -> Result<(), Fail> {
    let raised = change.raised();
    let mut params = record_params(recs)?;
    params.extend(change.params());
    params.extend(raised_params(&raised));
    let rows = conn
        .query(sql, &refs(&params))
        .map_err(|e| refusals(kind, e))?;
    checked(&rows, &raised, max, mode)
}

/// The statement parameters of the scopes a write raises: (account, region) arrays.
fn raised_params(raised: &BTreeMap<(i64, String), i64>) -> [Box<dyn ToSql + Sync>; 2] {
    [
        Box::new(raised.keys().map(|k| k.0).collect::<Vec<_>>()),
        Box::new(raised.keys().map(|k| k.1.clone()).collect::<Vec<_>>()),
    ]
}

impl PgStore {
    pub(super) fn get_record<R: Indexed>(
        &self,
        kind: &Kind,
        id: &Uuid,
    ) -> Result<Option<R>, StoreError> {
        self.read(|conn| {
            let row = conn.query_opt(&kind.get, &[id])?;
            row.map(|r| decode(r.get(0))).transpose()
        })
    }

    pub(super) fn create_record<R: Indexed>(
        &self,
        kind: &Kind,
        rec: &R,
        max: u64,
    ) -> Result<(), StoreError> {
        shared_then_exact(|mode| self.create_in(kind, &[rec], max, mode))
    }

    /// One transaction that creates `recs`, each scope they raise held to `max` as `mode` says.
    fn create_in<R: Indexed>(
        &self,
        kind: &Kind,
        recs: &[&R],
        max: u64,
        mode: Mode,
    ) -> Result<(), StoreError> {
        let mut change = IndexChange::default();
        for rec in recs {
            change.add(None, Some(*rec))?;
        }
        let raised = change.raised();
        let begin = format!("BEGIN; {}", lock_sql(kind.table, &raised, mode));
        self.write_from(&begin, |conn, changes| {
            write_records(conn, kind, &kind.create, recs, &change, max, mode)?;
            changes.extend(recs.iter().map(|rec| (kind.change)(rec.id())));
            Ok(())
        })
    }

    /// Creates `rec` together with the creates of its kind that other callers make meanwhile
    /// (see [`Grouped`]); the answer is the one it gets by itself.
    pub(super) fn create_grouped<R: Indexed>(
        &self,
        kind: &Kind,
        group: &Grouped<(R, u64)>,
        rec: &R,
        max: u64,
    ) -> Result<(), StoreError> {
        pool::off_runtime(|| {
            group.run((rec.clone(), max), |batch| match batch.as_slice() {
                [(rec, max)] => vec![self.create_record(kind, rec, *max)],
                _ => self.create_batch(kind, &batch),
            })
        })
    }

    /// Creates the records of `batch` in one transaction. If that is refused (a name taken,
    /// a limit met), each is created alone, in order, so each gets the answer it would get by
    /// itself; any other failure is every record's answer.
    pub(super) fn create_batch<R: Indexed>(
        &self,
        kind: &Kind,
        batch: &[(R, u64)],
    ) -> Vec<Result<(), StoreError>> {
        match self.create_together(kind, batch) {
            Err(StoreError::NameTaken | StoreError::AlreadyExists | StoreError::LimitReached) => {
                batch
                    .iter()
                    .map(|(rec, max)| self.create_record(kind, rec, *max))
                    .collect()
            }
            outcome => vec![outcome; batch.len()],
        }
    }

    /// One transaction that creates every record of `batch`, held to the smallest limit among
    /// them. Several records raise one scope, which only [`Mode::Exact`] decides.
    fn create_together<R: Indexed>(
        &self,
        kind: &Kind,
        batch: &[(R, u64)],
    ) -> Result<(), StoreError> {
        let recs: Vec<&R> = batch.iter().map(|(rec, _)| rec).collect();
        let max = batch.iter().map(|(_, max)| *max).min().unwrap_or(0);
        self.create_in(kind, &recs, max, Mode::Exact)
    }

    /// Compare-and-swap of every record of the batch: the old records are locked (in id order)
    /// and checked, then names, terms and counts move by the difference.
    pub(super) fn update_records<R: Indexed>(
        &self,
        kind: &Kind,
        recs: &[R],
        max: u64,
    ) -> Result<(), StoreError> {
        if recs.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = recs.iter().map(|r| r.id()).collect();
        shared_then_exact(|mode| {
            self.write(|conn, changes| {
                let mut stored: HashMap<Uuid, R> = HashMap::new();
                for row in conn.query(&kind.lock, &[&ids])? {
                    stored.insert(row.get(0), decode(row.get(1))?);
                }
                // Each record must follow the one stored (or the one before it in the batch).
                let mut first: HashMap<Uuid, R> = HashMap::new();
                let mut last: HashMap<Uuid, &R> = HashMap::new();
                for rec in recs {
                    let current = match last.get(&rec.id()) {
                        Some(r) => r.revision(),
                        None => stored
                            .get(&rec.id())
                            .ok_or(StoreError::Conflict)?
                            .revision(),
                    };
                    if current + 1 != rec.revision() {
                        return Err(Fail::Refused(StoreError::Conflict));
                    }
                    if !last.contains_key(&rec.id())
                        && let Some(old) = stored.remove(&rec.id())
                    {
                        first.insert(rec.id(), old);
                    }
                    last.insert(rec.id(), rec);
                }
                let mut change = IndexChange::default();
                for (id, new) in &last {
                    change.add(first.get(id), Some(*new))?;
                }
                if !change.names_gone.is_empty() {
                    conn.execute(&kind.free_names, &refs(&change.names_gone_params()))?;
                }
                let raised = change.raised();
                if !raised.is_empty() {
                    conn.batch(&lock_sql(kind.table, &raised, mode))?;
                }
                let finals: Vec<&R> = last.values().copied().collect();
                write_records(conn, kind, &kind.update, &finals, &change, max, mode)?;
                changes.extend(last.keys().map(|id| (kind.change)(*id)));
                Ok(())
            })
        })
    }

    /// Deletes a record at `rec.revision()`, its index entries, and (for keys) its grants.
    pub(super) fn delete_record<R: Indexed>(
        &self,
        kind: &Kind,
        rec: &R,
        grants: bool,
    ) -> Result<(), StoreError> {
        self.write(|conn, changes| {
            let revision = i64_of(rec.revision());
            let row = conn
                .query_opt(&kind.delete, &[&rec.id(), &revision])?
                .ok_or(StoreError::Conflict)?;
            let old: R = decode(row.get(0))?;
            let mut change = IndexChange::default();
            change.add(Some(&old), None)?;
            let mut params = change.names_gone_params();
            params.extend(change.params());
            if grants {
                params.push(Box::new(vec![rec.id()]));
                changes.push(Change::Grants(rec.id()));
            }
            conn.execute(&kind.cleanup, &refs(&params))
                .map_err(|e| refusals(kind, e))?;
            changes.push((kind.change)(rec.id()));
            Ok(())
        })
    }

    pub(super) fn count_records(
        &self,
        kind: &Kind,
        account: u64,
        region: &str,
    ) -> Result<u64, StoreError> {
        self.read(|conn| {
            let n: i64 = conn
                .query_one(&kind.count, &[&acct(account), &region])?
                .get(0);
            Ok(db_u64(n))
        })
    }

    pub(super) fn due_records(
        &self,
        kind: &Kind,
        now: u64,
        limit: usize,
    ) -> Result<Vec<Uuid>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|conn| {
            let rows = conn.query(&kind.due, &[&i64_of(now), &limit])?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }
}
