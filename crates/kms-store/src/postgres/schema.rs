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

use kms_core::StoreError;

use super::pool::{Conn, Fail, transaction};

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

/// The migrations in order: migration `i` brings the schema to version `i + 1`.
const MIGRATIONS: &[fn() -> String] = &[v1];

/// The schema version this binary writes and reads.
pub(super) const VERSION: i32 = MIGRATIONS.len() as i32;

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
            conn.batch(&migration())?;
            let version = i as i32 + 1;
            conn.execute(
                "INSERT INTO schema_version (version) VALUES ($1)",
                &[&version],
            )?;
        }
        Ok(())
    })
}
