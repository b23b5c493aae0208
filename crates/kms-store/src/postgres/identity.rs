//! Accounts, the identity document (one row, replaced by revision), secret and project id
//! reservations (never released), settings (first writer wins), and export.

use std::collections::BTreeMap;

use uuid::Uuid;

use kms_core::identity::Identity;
use kms_core::store::Record;
use kms_core::store::feed::Change;
use kms_core::{Account, AccountId, StoreError};

use super::pool::{Conn, Fail, unique_violation};
use super::{PgStore, acct, decode, encode, i64_of};

/// Rows per page when export walks a large table (in one snapshot).
const EXPORT_PAGE: i64 = 1000;

impl PgStore {
    pub(super) fn insert_account(&self, account: &Account) -> Result<(), StoreError> {
        let record = encode(account)?;
        self.write(|conn, changes| {
            conn.execute(
                "WITH a AS (INSERT INTO accounts (uin, record) VALUES ($1, $2))
                 INSERT INTO reserved (kind, value, uin) VALUES ('s', $3, $1), ('p', $4, $1)",
                &[
                    &acct(account.uin),
                    &record,
                    &account.secret_id,
                    &account.project_id,
                ],
            )
            .map_err(|e| match unique_violation(&e) {
                Some("accounts_pkey" | "reserved_pkey") => Fail::Refused(StoreError::AlreadyExists),
                _ => Fail::Db(e),
            })?;
            changes.push(Change::Accounts);
            Ok(())
        })
    }

    pub(super) fn all_accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.read(|conn| {
            conn.query("SELECT record FROM accounts ORDER BY uin", &[])?
                .iter()
                .map(|row| decode(row.get(0)))
                .collect()
        })
    }

    pub(super) fn read_identity(&self) -> Result<Identity, StoreError> {
        self.read(
            |conn| match conn.query_opt("SELECT document FROM identity", &[])? {
                Some(row) => decode(row.get(0)),
                None => Ok(Identity::default()),
            },
        )
    }

    /// Compare-and-swap on the document's row (locked for the transaction), reserving the
    /// secret id of every credential `next` adds, as the embedded store does: a new id is
    /// taken; one held already passes only as its account's own creation credential.
    pub(super) fn write_identity(&self, expected: u64, next: &Identity) -> Result<(), StoreError> {
        let mut stored = next.clone();
        stored.revision = expected + 1;
        let document = encode(&stored)?;
        self.write(|conn, changes| {
            let current: Option<Identity> = conn
                .query_opt("SELECT document FROM identity FOR UPDATE", &[])?
                .map(|row| decode(row.get(0)))
                .transpose()?;
            let revision = current.as_ref().map_or(0, |c| c.revision);
            if revision != expected {
                return Err(Fail::Refused(StoreError::Conflict));
            }
            let added: BTreeMap<&str, AccountId> = next
                .credentials
                .iter()
                .filter(|(id, _)| {
                    current
                        .as_ref()
                        .is_none_or(|c| !c.credentials.contains_key(*id))
                })
                .map(|(id, credential)| (id.as_str(), credential.account))
                .collect();
            if !added.is_empty() {
                reserve_credentials(conn, &added)?;
            }
            let revision = i64_of(stored.revision);
            if current.is_some() {
                conn.execute(
                    "UPDATE identity SET revision = $1, document = $2",
                    &[&revision, &document],
                )?;
            } else {
                // Two first writers both find no row to lock: the primary key lets one in.
                conn.execute(
                    "INSERT INTO identity (revision, document) VALUES ($1, $2)",
                    &[&revision, &document],
                )
                .map_err(|e| match unique_violation(&e) {
                    Some("identity_pkey") => Fail::Refused(StoreError::Conflict),
                    _ => Fail::Db(e),
                })?;
            }
            changes.push(Change::Identity);
            Ok(())
        })
    }

    pub(super) fn reserve_secret(
        &self,
        secret_id: &str,
        account: AccountId,
    ) -> Result<(), StoreError> {
        // Nothing a node caches changes: no change to log.
        self.write(|conn, _| {
            let inserted = conn.query_opt(
                "INSERT INTO reserved (kind, value, uin) VALUES ('s', $1, $2)
                 ON CONFLICT DO NOTHING RETURNING uin",
                &[&secret_id, &acct(account)],
            )?;
            if inserted.is_some() {
                return Ok(());
            }
            // The conflicting insert has committed (ON CONFLICT waited for it): a new
            // statement sees its owner.
            let owner: i64 = conn
                .query_one(
                    "SELECT uin FROM reserved WHERE kind = 's' AND value = $1",
                    &[&secret_id],
                )?
                .get(0);
            if owner == acct(account) {
                Ok(())
            } else {
                Err(Fail::Refused(StoreError::AlreadyExists))
            }
        })
    }

    pub(super) fn read_setting(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|conn| {
            Ok(conn
                .query_opt("SELECT value FROM settings WHERE name = $1", &[&name])?
                .map(|row| row.get(0)))
        })
    }

    pub(super) fn first_setting(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.write(|conn, changes| {
            let inserted = conn.query_opt(
                "INSERT INTO settings (name, value) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING RETURNING value",
                &[&name, &value],
            )?;
            if let Some(row) = inserted {
                changes.push(Change::Settings);
                return Ok(row.get(0));
            }
            // The conflicting insert has committed (ON CONFLICT waited for it), so this
            // statement's snapshot sees what won.
            Ok(conn
                .query_one("SELECT value FROM settings WHERE name = $1", &[&name])?
                .get(0))
        })
    }

    pub(super) fn swap_setting(
        &self,
        name: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<(), StoreError> {
        self.write(|conn, changes| {
            let changed = match expected {
                Some(expected) => conn.execute(
                    "UPDATE settings SET value = $3 WHERE name = $1 AND value = $2",
                    &[&name, &expected, &value],
                )?,
                None => conn.execute(
                    "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&name, &value],
                )?,
            };
            if changed != 1 {
                return Err(Fail::Refused(StoreError::Conflict));
            }
            changes.push(Change::Settings);
            Ok(())
        })
    }

    pub(super) fn reseal_account_secret(
        &self,
        uin: AccountId,
        sealed_secret_key: &[u8],
    ) -> Result<(), StoreError> {
        self.write(|conn, changes| {
            let Some(row) = conn.query_opt(
                "SELECT record FROM accounts WHERE uin = $1 FOR UPDATE",
                &[&acct(uin)],
            )?
            else {
                return Err(Fail::Refused(StoreError::Conflict));
            };
            let mut account: Account = decode(row.get(0))?;
            account.sealed_secret_key = sealed_secret_key.to_vec();
            conn.execute(
                "UPDATE accounts SET record = $2 WHERE uin = $1",
                &[&acct(uin), &encode(&account)?],
            )?;
            changes.push(Change::Accounts);
            Ok(())
        })
    }

    /// One read-only snapshot, so the items handed out are one consistent state. Once any item
    /// has been handed out a failure is final: a rerun would hand it out twice.
    pub(super) fn export_all(
        &self,
        each: &mut dyn FnMut(Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.read(|conn| {
            let mut handed = false;
            let outcome = export_snapshot(conn, each, &mut handed);
            let _ = conn.batch("ROLLBACK");
            match outcome {
                Err(Fail::Db(e)) if handed => Err(Fail::Refused(StoreError::Unavailable(format!(
                    "export broke off: {}",
                    super::pool::describe(&e)
                )))),
                other => other,
            }
        })
    }
}

/// Reserves the secret ids of credentials `added` brings; see [`PgStore::write_identity`].
fn reserve_credentials(conn: &mut Conn, added: &BTreeMap<&str, AccountId>) -> Result<(), Fail> {
    let ids: Vec<&str> = added.keys().copied().collect();
    let uins: Vec<i64> = added.values().map(|a| acct(*a)).collect();
    let inserted = conn.query(
        "INSERT INTO reserved (kind, value, uin)
         SELECT 's', u.value, u.uin FROM unnest($1::text[], $2::bigint[]) AS u(value, uin)
         ON CONFLICT DO NOTHING RETURNING value",
        &[&ids, &uins],
    )?;
    if inserted.len() == ids.len() {
        return Ok(());
    }
    // The others were held before: by whom, and whether each is its account's own creation
    // credential. A new statement, so reservations that committed meanwhile are seen.
    let inserted: Vec<String> = inserted.iter().map(|row| row.get(0)).collect();
    let held = conn.query(
        "SELECT r.value, r.uin, a.record FROM reserved r
         LEFT JOIN accounts a ON a.uin = r.uin
         WHERE r.kind = 's' AND r.value = ANY($1::text[]) AND NOT r.value = ANY($2::text[])",
        &[&ids, &inserted],
    )?;
    for row in held {
        let id: String = row.get(0);
        let owner: i64 = row.get(1);
        let wanted = added.get(id.as_str()).copied().map(acct);
        if wanted != Some(owner) {
            return Err(Fail::Refused(StoreError::AlreadyExists));
        }
        let own_first = match row.get::<_, Option<&[u8]>>(2) {
            Some(record) => decode::<Account>(record)?.secret_id == id,
            None => false,
        };
        if !own_first {
            return Err(Fail::Refused(StoreError::AlreadyExists));
        }
    }
    Ok(())
}

fn export_snapshot(
    conn: &mut Conn,
    each: &mut dyn FnMut(Record) -> Result<(), StoreError>,
    handed: &mut bool,
) -> Result<(), Fail> {
    conn.batch("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
    let mut hand = |record: Record| -> Result<(), Fail> {
        *handed = true;
        each(record).map_err(Fail::Refused)
    };
    for row in conn.query("SELECT record FROM accounts ORDER BY uin", &[])? {
        hand(Record::Account(decode(row.get(0))?))?;
    }
    if let Some(row) = conn.query_opt("SELECT document FROM identity", &[])? {
        hand(Record::Identity(decode(row.get(0))?))?;
    }
    for row in conn.query(
        "SELECT value, uin FROM reserved WHERE kind = 's' ORDER BY value",
        &[],
    )? {
        hand(Record::SecretId {
            secret_id: row.get(0),
            account: row.get::<_, i64>(1) as u64,
        })?;
    }
    for row in conn.query("SELECT name, value FROM settings ORDER BY name", &[])? {
        hand(Record::Setting {
            name: row.get(0),
            value: row.get(1),
        })?;
    }
    for (table, wrap) in [
        (
            "keys",
            (|b: &[u8]| Ok(Record::Key(decode(b)?))) as fn(&[u8]) -> Result<Record, Fail>,
        ),
        ("data_keys", |b| Ok(Record::DataKey(decode(b)?))),
    ] {
        let sql = format!("SELECT id, record FROM {table} WHERE id > $1 ORDER BY id LIMIT $2");
        let mut after = Uuid::nil();
        loop {
            let rows = conn.query(&sql, &[&after, &EXPORT_PAGE])?;
            for row in &rows {
                after = row.get(0);
                hand(wrap(row.get(1))?)?;
            }
            if (rows.len() as i64) < EXPORT_PAGE {
                break;
            }
        }
    }
    let mut after = (Uuid::nil(), String::new());
    loop {
        let rows = conn.query(
            "SELECT key_id, grant_id, record FROM grants WHERE (key_id, grant_id) > ($1, $2)
             ORDER BY key_id, grant_id LIMIT $3",
            &[&after.0, &after.1, &EXPORT_PAGE],
        )?;
        for row in &rows {
            after = (row.get(0), row.get(1));
            hand(Record::Grant(decode(row.get(2))?))?;
        }
        if (rows.len() as i64) < EXPORT_PAGE {
            break;
        }
    }
    Ok(())
}
