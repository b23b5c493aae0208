//! Keys and hosted data keys: one record table each with names, index terms, sharded term
//! counts and the scope's count toward its limit, all written in the record's transaction.
//!
//! Round trips: a create is BEGIN, one statement (record, names, terms, counts, the limit) and
//! COMMIT with its change-log insert; an update adds the locking read of the old records (and a
//! statement freeing names, when names move); a delete is BEGIN, a compare-and-swap DELETE,
//! one statement removing the rest, COMMIT.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use postgres::types::ToSql;
use uuid::Uuid;

use kms_core::StoreError;
use kms_core::store::Indexed;
use kms_core::store::feed::Change;

use super::pool::{Conn, Fail, unique_violation};
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
/// The scope counts come last: `limited` holds a row per scope that stayed within the limit.
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
        limited AS (
            INSERT INTO {t}_scope_counts AS s (account, region, n)
            SELECT * FROM unnest({}::bigint[], {}::text[], {}::bigint[]) AS u(account, region, n)
            WHERE u.n <= {}::bigint
            ON CONFLICT (account, region) DO UPDATE SET n = s.n + EXCLUDED.n
            WHERE EXCLUDED.n <= 0 OR s.n + EXCLUDED.n <= {}::bigint
            RETURNING 1)",
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
        p(25),
    )
}

impl Kind {
    pub(super) fn new(table: &'static str, change: fn(Uuid) -> Change, grants: bool) -> Self {
        let t = table;
        let index = index_ctes(t, 9);
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
                 SELECT count(*) FROM limited"
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
                 SELECT count(*) FROM limited"
            ),
            delete: format!("DELETE FROM {t} WHERE id = $1 AND revision = $2 RETURNING record"),
            cleanup: format!(
                "WITH freed AS (
                    DELETE FROM {t}_names AS x
                    USING unnest($1::bigint[], $2::text[], $3::bytea[]) AS u(account, region, name)
                    WHERE x.account = u.account AND x.region = u.region AND x.name = u.name),
                 {}{grants_cleanup}
                 SELECT count(*) FROM limited",
                index_ctes(t, 4)
            ),
            count: format!(
                "SELECT coalesce((SELECT n FROM {t}_scope_counts WHERE account = $1 AND region = $2), 0)"
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
    scope_counts: BTreeMap<(i64, String), i64>,
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
                    .entry((account, region.to_owned()))
                    .or_default() += sign;
            }
        }
        Ok(())
    }

    /// The 26 parameters of [`index_ctes`] (scope counts limited to `max`), and how many rows
    /// `limited` returns when every scope stays within it.
    fn params(&self, max: u64) -> (Vec<Box<dyn ToSql + Sync>>, i64) {
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
            scopes.iter().map(|(_, n)| **n).collect::<Vec<_>>(),
        ));
        p.push(Box::new(i64_of(max)));
        (p, scopes.len() as i64)
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

/// Runs one of the index-keeping statements and checks that every scope stayed in its limit.
fn apply(
    conn: &mut Conn,
    kind: &Kind,
    sql: &str,
    params: Vec<Box<dyn ToSql + Sync>>,
    scopes: i64,
) -> Result<(), Fail> {
    let within: i64 = conn
        .query_one(sql, &refs(&params))
        .map_err(|e| refusals(kind, e))?
        .get(0);
    if within != scopes {
        return Err(Fail::Refused(StoreError::LimitReached));
    }
    Ok(())
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
        let mut change = IndexChange::default();
        change.add(None, Some(rec))?;
        self.write(|conn, changes| {
            let mut params = record_params(&[rec])?;
            let (index, scopes) = change.params(max);
            params.extend(index);
            apply(conn, kind, &kind.create, params, scopes)?;
            changes.push((kind.change)(rec.id()));
            Ok(())
        })
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
            let finals: Vec<&R> = last.values().copied().collect();
            let mut params = record_params(&finals)?;
            let (index, scopes) = change.params(max);
            params.extend(index);
            apply(conn, kind, &kind.update, params, scopes)?;
            changes.extend(last.keys().map(|id| (kind.change)(*id)));
            Ok(())
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
            let (index, scopes) = change.params(u64::MAX);
            params.extend(index);
            if grants {
                params.push(Box::new(vec![rec.id()]));
                changes.push(Change::Grants(rec.id()));
            }
            apply(conn, kind, &kind.cleanup, params, scopes)?;
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
