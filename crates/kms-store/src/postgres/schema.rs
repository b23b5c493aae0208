//! The schema, in versioned migrations applied at open.
//!
//! Every open takes `pg_advisory_xact_lock(MIGRATION_LOCK)` in one transaction, reads
//! `schema_version` (one row per migration applied; its primary key would refuse a second
//! application), applies what is missing and commits: nodes starting together apply each
//! migration once, the others wait for the lock and find nothing to do. A database whose
//! version is newer than this binary knows is refused.
//!
//! Names and index terms are `bytea`: terms hold NUL bytes, which `text` cannot, and byte order
//! is the order the embedded store lists names in.

use std::collections::BTreeMap;

use uuid::Uuid;

use kms_core::store::Indexed;
use kms_core::{DataKeyRecord, KeyRecord, StoreError};

use super::pool::{Conn, Fail, transaction};
use super::{acct, decode, i64_of};

/// The advisory lock key that serializes migrations (any constant unlikely to collide:
/// "kmsd" in ASCII).
const MIGRATION_LOCK: i64 = 0x6b6d_7364;

/// The record tables of keys and of hosted data keys share one shape; `{t}` is the kind's
/// table name.
const RECORD_TABLES: &str = "
CREATE TABLE {t} (
    id uuid PRIMARY KEY,
    account bigint NOT NULL,
    region text NOT NULL,
    created_at bigint NOT NULL,
    revision bigint NOT NULL,
    -- when background work is due (purge, rotation, expiry of imported material)
    due bigint,
    -- whether the record counts toward its scope's limit (not pending deletion)
    counts boolean NOT NULL,
    -- the record as serde_json, as the embedded store keeps it
    record bytea NOT NULL
);
-- the scope's records in creation order
CREATE INDEX {t}_scope ON {t} (account, region, created_at, id);
CREATE INDEX {t}_due ON {t} (due, id) WHERE due IS NOT NULL;
-- every name (own alias, aliases) a record reserves in its scope; alias entries
-- (Indexed::listed_aliases) carry their times
CREATE TABLE {t}_names (
    account bigint NOT NULL,
    region text NOT NULL,
    name bytea NOT NULL,
    id uuid NOT NULL,
    created_at bigint NOT NULL,
    alias_created bigint,
    alias_updated bigint,
    PRIMARY KEY (account, region, name)
);
CREATE INDEX {t}_alias_entries ON {t}_names (account, region, name)
    WHERE alias_created IS NOT NULL;
-- the index terms (Indexed::terms) each record meets, in creation order per term
CREATE TABLE {t}_terms (
    account bigint NOT NULL,
    region text NOT NULL,
    term bytea NOT NULL,
    created_at bigint NOT NULL,
    id uuid NOT NULL,
    PRIMARY KEY (account, region, term, created_at, id)
);
-- records meeting each term, in shards picked by record id (summed when read) so creates in
-- one scope do not queue on one row; the empty term counts every record, 'aliases' every
-- alias entry
CREATE TABLE {t}_term_counts (
    account bigint NOT NULL,
    region text NOT NULL,
    term bytea NOT NULL,
    shard smallint NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (account, region, term, shard)
);
-- records counting toward the scope's limit: one row, updated last in a transaction
-- records counting toward the scope's limit, sharded by record id like the term counts
-- (summed when read); the limit is kept by advisory locks (records::Mode)
CREATE TABLE {t}_scope_counts (
    account bigint NOT NULL,
    region text NOT NULL,
    shard smallint NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (account, region, shard)
);
";

const OTHER_TABLES: &str = "
CREATE TABLE grants (
    key_id uuid NOT NULL,
    grant_id text COLLATE \"C\" NOT NULL,
    account bigint NOT NULL,
    region text NOT NULL,
    retiring text COLLATE \"C\" NOT NULL,
    created_at bigint NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (key_id, grant_id)
);
CREATE INDEX grants_retirable ON grants (region, retiring, created_at, grant_id)
    WHERE retiring <> '';
CREATE INDEX grants_scope ON grants (account, region, key_id);
-- grants per key, for the per-key quota
CREATE TABLE grant_counts (
    key_id uuid PRIMARY KEY,
    n bigint NOT NULL
);
CREATE TABLE accounts (
    uin bigint PRIMARY KEY,
    record bytea NOT NULL
);
-- secret ids ('s') and project ids ('p'), reserved for good: never released
CREATE TABLE reserved (
    kind \"char\" NOT NULL,
    value text COLLATE \"C\" NOT NULL,
    uin bigint NOT NULL,
    PRIMARY KEY (kind, value)
);
-- the identity document: one row
CREATE TABLE identity (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    revision bigint NOT NULL,
    document bytea NOT NULL
);
CREATE TABLE settings (
    name text COLLATE \"C\" PRIMARY KEY,
    value bytea NOT NULL
);
-- SharedState: signatures seen (replay memory) and login failures, across nodes; nonce makes
-- a rerun of the same call find its own row
CREATE TABLE replay (
    room text NOT NULL,
    digest bytea NOT NULL,
    expires bigint NOT NULL,
    nonce uuid NOT NULL,
    PRIMARY KEY (room, digest)
);
CREATE INDEX replay_expires ON replay (expires);
CREATE TABLE login_failures (
    login bytea PRIMARY KEY,
    failures integer NOT NULL,
    window_start bigint NOT NULL,
    nonce uuid NOT NULL
);
CREATE INDEX login_failures_window ON login_failures (window_start);
";

/// Version 1: every table.
fn v1() -> String {
    let mut sql = String::new();
    for t in ["keys", "data_keys"] {
        sql.push_str(&RECORD_TABLES.replace("{t}", t));
    }
    sql.push_str(OTHER_TABLES);
    // The change log the feed reads (see [`super::feed`]); old rows go by `at`.
    sql.push_str(
        "CREATE TABLE changes (
            seq bigserial PRIMARY KEY,
            xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
            change text NOT NULL,
            at timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        CREATE INDEX changes_xid ON changes (xid);
        CREATE INDEX changes_at ON changes (at);",
    );
    sql
}

/// Versions 2 and 3: every record's index terms written anew from [`Indexed::terms`] (which
/// added each record's tuple terms and their pairs with its tags in version 2, its HSM cluster
/// term in version 3); the counts of all records and of alias entries stay.
fn rewrite_terms() -> String {
    ["keys", "data_keys"]
        .iter()
        .map(|t| {
            format!(
                "DELETE FROM {t}_terms;
                 DELETE FROM {t}_term_counts WHERE term <> ''::bytea AND term <> 'aliases'::bytea;"
            )
        })
        .collect()
}

/// One migration: its statements, then, when `reindex`, every record's terms written again.
struct Migration {
    sql: fn() -> String,
    reindex: bool,
}

/// The migrations in order: migration `i` brings the schema to version `i + 1`.
const MIGRATIONS: &[Migration] = &[
    Migration {
        sql: v1,
        reindex: false,
    },
    Migration {
        sql: rewrite_terms,
        reindex: true,
    },
    Migration {
        sql: rewrite_terms,
        reindex: true,
    },
];

/// The schema version this binary writes and reads.
pub(super) const VERSION: i32 = MIGRATIONS.len() as i32;

/// Records read and their terms written per statement while reindexing.
const REINDEX_BATCH: i64 = 2000;

/// Writes the terms of every record of table `t` (after [`rewrite_terms`] emptied them) and their counts.
/// Counts go to shard 0: readers sum the shards, and later writes add to their own.
fn reindex<R: Indexed>(conn: &mut Conn, t: &str) -> Result<(), Fail> {
    let mut counts: BTreeMap<(i64, String, Vec<u8>), i64> = BTreeMap::new();
    let mut after = Uuid::nil();
    loop {
        let rows = conn.query(
            &format!("SELECT id, record FROM {t} WHERE id > $1 ORDER BY id LIMIT $2"),
            &[&after, &REINDEX_BATCH],
        )?;
        let Some(last) = rows.last() else { break };
        after = last.get(0);
        let (mut accounts, mut regions, mut terms, mut created, mut ids) =
            (vec![], vec![], vec![], vec![], vec![]);
        for row in &rows {
            let rec: R = decode(row.get(1))?;
            let (account, region) = (acct(rec.account()), rec.region().to_owned());
            for term in rec.terms() {
                let term = term.into_bytes();
                *counts
                    .entry((account, region.clone(), term.clone()))
                    .or_default() += 1;
                accounts.push(account);
                regions.push(region.clone());
                terms.push(term);
                created.push(i64_of(rec.created_at()));
                ids.push(rec.id());
            }
        }
        conn.execute(
            &format!(
                "INSERT INTO {t}_terms (account, region, term, created_at, id)
                 SELECT * FROM unnest($1::bigint[], $2::text[], $3::bytea[], $4::bigint[],
                                      $5::uuid[])"
            ),
            &[&accounts, &regions, &terms, &created, &ids],
        )?;
    }
    let (mut accounts, mut regions, mut terms, mut ns) = (vec![], vec![], vec![], vec![]);
    for ((account, region, term), n) in counts {
        accounts.push(account);
        regions.push(region);
        terms.push(term);
        ns.push(n);
    }
    conn.execute(
        &format!(
            "INSERT INTO {t}_term_counts (account, region, term, shard, n)
             SELECT a, r, term, 0, n FROM unnest($1::bigint[], $2::text[], $3::bytea[],
                                                 $4::bigint[]) AS u(a, r, term, n)"
        ),
        &[&accounts, &regions, &terms, &ns],
    )?;
    Ok(())
}

/// Brings the database to [`VERSION`] (see the module doc).
pub(super) fn migrate(conn: &mut Conn) -> Result<(), Fail> {
    transaction(conn, |conn, _| {
        conn.batch(&format!(
            "SELECT pg_advisory_xact_lock({MIGRATION_LOCK});
             CREATE TABLE IF NOT EXISTS schema_version (
                 version integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )"
        ))?;
        let current: i32 = conn
            .query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[])?
            .get(0);
        if current > VERSION {
            return Err(Fail::Refused(StoreError::Backend(format!(
                "the database's schema is at version {current}, newer than this kmsd knows \
                 (version {VERSION}): upgrade kmsd"
            ))));
        }
        for (i, migration) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            conn.batch(&(migration.sql)())?;
            if migration.reindex {
                reindex::<KeyRecord>(conn, "keys")?;
                reindex::<DataKeyRecord>(conn, "data_keys")?;
            }
            let version = i as i32 + 1;
            conn.execute(
                "INSERT INTO schema_version (version) VALUES ($1)",
                &[&version],
            )?;
        }
        Ok(())
    })
}
