//! Grants in the embedded store: one table of grants by key, and an index of the grants that
//! name a retiring principal, both written in one transaction.

use redb::{ReadableTable, TableDefinition};
use uuid::Uuid;

use kms_core::grants::GrantRecord;
use kms_core::store::Listed;
use kms_core::{AccountId, StoreError};

use super::{EmbeddedStore, WriteTxn, backend, decode, encode};

/// (key id, grant id) → grant (JSON).
const GRANTS: TableDefinition<(u128, &str), &[u8]> = TableDefinition::new("grants");
/// (region, retiring principal, created at, grant id) → key id.
const RETIRABLE: TableDefinition<(&str, &str, u64, &str), u128> =
    TableDefinition::new("retirable_grants");

/// Creates the tables, so read transactions find them in a new store.
pub(super) fn create_tables(txn: &WriteTxn) -> Result<(), StoreError> {
    txn.open_table(GRANTS).map_err(backend)?;
    txn.open_table(RETIRABLE).map_err(backend)?;
    Ok(())
}

/// The grants of a key, in grant id order.
fn of_key(
    table: &impl ReadableTable<(u128, &'static str), &'static [u8]>,
    key_id: u128,
) -> Result<Vec<GrantRecord>, StoreError> {
    let mut out = Vec::new();
    for entry in table.range((key_id, "")..).map_err(backend)? {
        let (k, v) = entry.map_err(backend)?;
        if k.value().0 != key_id {
            break;
        }
        out.push(decode(v.value())?);
    }
    Ok(out)
}

impl EmbeddedStore {
    /// Every grant of the store, in (key id, grant id) order.
    pub(super) fn every_grant(
        &self,
        txn: &redb::ReadTransaction,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        let table = txn.open_table(GRANTS).map_err(backend)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(backend)? {
            out.push(decode(entry.map_err(backend)?.1.value())?);
        }
        Ok(out)
    }
}

fn unindex(txn: &WriteTxn, grant: &GrantRecord) -> Result<(), StoreError> {
    if !grant.retiring_principal.is_empty() {
        txn.open_table(RETIRABLE)
            .map_err(backend)?
            .remove((
                grant.region.as_str(),
                grant.retiring_principal.as_str(),
                grant.created_at,
                grant.grant_id.as_str(),
            ))
            .map_err(backend)?;
    }
    Ok(())
}

/// Removes every grant of a key, in the transaction that deletes the key.
pub(super) fn remove_key_grants(txn: &WriteTxn, key_id: &Uuid) -> Result<(), StoreError> {
    let grants = of_key(&txn.open_table(GRANTS).map_err(backend)?, key_id.as_u128())?;
    let mut table = txn.open_table(GRANTS).map_err(backend)?;
    for g in &grants {
        table
            .remove((key_id.as_u128(), g.grant_id.as_str()))
            .map_err(backend)?;
        unindex(txn, g)?;
    }
    Ok(())
}

fn in_order(grants: &mut [GrantRecord]) {
    grants.sort_by(|a, b| (a.created_at, &a.grant_id).cmp(&(b.created_at, &b.grant_id)));
}

/// Stores a grant; `LimitReached` once its key holds `max`.
fn create(txn: &WriteTxn, grant: &GrantRecord, max: u64) -> Result<(), StoreError> {
    {
        let mut table = txn.open_table(GRANTS).map_err(backend)?;
        let key_id = grant.key_id.as_u128();
        if table
            .get((key_id, grant.grant_id.as_str()))
            .map_err(backend)?
            .is_some()
        {
            return Err(StoreError::AlreadyExists);
        }
        if of_key(&table, key_id)?.len() as u64 >= max {
            return Err(StoreError::LimitReached);
        }
        table
            .insert((key_id, grant.grant_id.as_str()), encode(grant)?.as_slice())
            .map_err(backend)?;
    }
    if !grant.retiring_principal.is_empty() {
        txn.open_table(RETIRABLE)
            .map_err(backend)?
            .insert(
                (
                    grant.region.as_str(),
                    grant.retiring_principal.as_str(),
                    grant.created_at,
                    grant.grant_id.as_str(),
                ),
                grant.key_id.as_u128(),
            )
            .map_err(backend)?;
    }
    Ok(())
}

/// Removes a grant; whether it was there.
fn delete(txn: &WriteTxn, key_id: u128, grant_id: &str) -> Result<bool, StoreError> {
    let removed = txn
        .open_table(GRANTS)
        .map_err(backend)?
        .remove((key_id, grant_id))
        .map_err(backend)?
        .map(|v| decode::<GrantRecord>(v.value()))
        .transpose()?;
    let Some(grant) = removed else {
        return Ok(false);
    };
    unindex(txn, &grant)?;
    Ok(true)
}

impl EmbeddedStore {
    pub(super) fn create_grant_record(
        &self,
        grant: &GrantRecord,
        max: u64,
    ) -> Result<(), StoreError> {
        let grant = grant.clone();
        self.write(move |txn| create(txn, &grant, max))
    }

    pub(super) fn grants_of_key(&self, key_id: &Uuid) -> Result<Vec<GrantRecord>, StoreError> {
        let txn = self.begin_read()?;
        let mut grants = of_key(&txn.open_table(GRANTS).map_err(backend)?, key_id.as_u128())?;
        in_order(&mut grants);
        Ok(grants)
    }

    pub(super) fn delete_grant_record(
        &self,
        key_id: &Uuid,
        grant_id: &str,
    ) -> Result<bool, StoreError> {
        let (key_id, grant_id) = (key_id.as_u128(), grant_id.to_owned());
        self.write(move |txn| delete(txn, key_id, &grant_id))
    }

    pub(super) fn grants_most_on_a_key(
        &self,
        account: AccountId,
        region: &str,
    ) -> Result<u64, StoreError> {
        let txn = self.begin_read()?;
        let grants = txn.open_table(GRANTS).map_err(backend)?;
        let (mut most, mut current, mut run) = (0u64, None, 0u64);
        // Entries are in key order, so each key's grants are one run.
        for entry in grants.iter().map_err(backend)? {
            let (k, v) = entry.map_err(backend)?;
            let g: GrantRecord = decode(v.value())?;
            if g.account != account || g.region != region {
                continue;
            }
            if current != Some(k.value().0) {
                current = Some(k.value().0);
                run = 0;
            }
            run += 1;
            most = most.max(run);
        }
        Ok(most)
    }

    pub(super) fn grants_retirable_by(
        &self,
        region: &str,
        principal: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Listed<GrantRecord>, StoreError> {
        let txn = self.begin_read()?;
        let index = txn.open_table(RETIRABLE).map_err(backend)?;
        let grants = txn.open_table(GRANTS).map_err(backend)?;
        let mut total = 0u64;
        let mut page = Vec::new();
        for entry in index
            .range((region, principal, 0u64, "")..=(region, principal, u64::MAX, "\u{10FFFF}"))
            .map_err(backend)?
        {
            let (k, key_id) = entry.map_err(backend)?;
            let n = usize::try_from(total).unwrap_or(usize::MAX);
            total += 1;
            if n < offset || page.len() >= limit {
                continue;
            }
            let (_, _, _, grant_id) = k.value();
            if let Some(v) = grants.get((key_id.value(), grant_id)).map_err(backend)? {
                page.push(decode(v.value())?);
            }
        }
        Ok(Listed { total, page })
    }
}
