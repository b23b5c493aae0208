//! Grants: one table keyed by (key id, grant id), a partial index of those that name a
//! retiring principal, and a count per key for the quota, taken in the insert's statement.

use uuid::Uuid;

use kms_core::grants::GrantRecord;
use kms_core::store::Listed;
use kms_core::store::feed::Change;
use kms_core::{AccountId, StoreError};

use super::pool::{Fail, unique_violation};
use super::{PgStore, acct, db_u64, decode, encode, i64_of};

impl PgStore {
    pub(super) fn insert_grant(&self, grant: &GrantRecord, max: u64) -> Result<(), StoreError> {
        let record = encode(grant)?;
        self.write(|conn, changes| {
            // The grant's insert refuses a taken id (before the quota is looked at); the
            // count's update refuses a full key and holds its row until commit.
            let within: bool = conn
                .query_one(
                    "WITH g AS (
                        INSERT INTO grants (key_id, grant_id, account, region, retiring,
                                            created_at, record)
                        VALUES ($1, $2, $3, $4, $5, $6, $7)),
                     counted AS (
                        INSERT INTO grant_counts AS c (key_id, n) SELECT $1, 1 WHERE $8::bigint > 0
                        ON CONFLICT (key_id) DO UPDATE SET n = c.n + 1 WHERE c.n < $8::bigint
                        RETURNING 1)
                     SELECT EXISTS (SELECT 1 FROM counted)",
                    &[
                        &grant.key_id,
                        &grant.grant_id,
                        &acct(grant.account),
                        &grant.region,
                        &grant.retiring_principal,
                        &i64_of(grant.created_at),
                        &record,
                        &i64_of(max),
                    ],
                )
                .map_err(|e| match unique_violation(&e) {
                    Some("grants_pkey") => Fail::Refused(StoreError::AlreadyExists),
                    _ => Fail::Db(e),
                })?
                .get(0);
            if !within {
                return Err(Fail::Refused(StoreError::LimitReached));
            }
            changes.push(Change::Grants(grant.key_id));
            Ok(())
        })
    }

    pub(super) fn grants_of(&self, key_id: &Uuid) -> Result<Vec<GrantRecord>, StoreError> {
        self.read(|conn| {
            conn.query(
                "SELECT record FROM grants WHERE key_id = $1 ORDER BY created_at, grant_id",
                &[key_id],
            )?
            .iter()
            .map(|row| decode(row.get(0)))
            .collect()
        })
    }

    pub(super) fn remove_grant(&self, key_id: &Uuid, grant_id: &str) -> Result<bool, StoreError> {
        self.write(|conn, changes| {
            let removed: bool = conn
                .query_one(
                    "WITH gone AS (DELETE FROM grants WHERE key_id = $1 AND grant_id = $2
                                   RETURNING key_id),
                          counted AS (UPDATE grant_counts c SET n = c.n - 1
                                      FROM gone WHERE c.key_id = gone.key_id)
                     SELECT EXISTS (SELECT 1 FROM gone)",
                    &[key_id, &grant_id],
                )?
                .get(0);
            if removed {
                changes.push(Change::Grants(*key_id));
            }
            Ok(removed)
        })
    }

    pub(super) fn most_grants(&self, account: AccountId, region: &str) -> Result<u64, StoreError> {
        self.read(|conn| {
            let most: i64 = conn
                .query_one(
                    "SELECT coalesce(max(n), 0) FROM (
                        SELECT count(*) AS n FROM grants WHERE account = $1 AND region = $2
                        GROUP BY key_id) per_key",
                    &[&acct(account), &region],
                )?
                .get(0);
            Ok(db_u64(most))
        })
    }

    pub(super) fn retirable_by(
        &self,
        region: &str,
        principal: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Listed<GrantRecord>, StoreError> {
        if principal.is_empty() {
            // The index holds only grants that name a retiring principal.
            return Ok(Listed {
                total: 0,
                page: Vec::new(),
            });
        }
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|conn| {
            let rows = conn.query(
                "SELECT t.total, p.record
                 FROM (SELECT count(*) AS total FROM grants
                       WHERE region = $1 AND retiring = $2 AND retiring <> '') t
                 LEFT JOIN LATERAL (
                     SELECT record, created_at, grant_id FROM grants
                     WHERE region = $1 AND retiring = $2 AND retiring <> ''
                     ORDER BY created_at, grant_id OFFSET $3 LIMIT $4) p ON true
                 ORDER BY p.created_at, p.grant_id",
                &[&region, &principal, &offset, &limit],
            )?;
            let mut total = 0;
            let mut page = Vec::new();
            for row in rows {
                total = db_u64(row.get(0));
                if let Some(record) = row.get::<_, Option<Vec<u8>>>(1) {
                    page.push(decode(&record)?);
                }
            }
            Ok(Listed { total, page })
        })
    }
}
