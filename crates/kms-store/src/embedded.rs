use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use uuid::Uuid;

use kms_core::{Account, AccountId, KeyRecord, Store, StoreError};

/// key id → key record (JSON).
const KEYS: TableDefinition<u128, &[u8]> = TableDefinition::new("keys");
/// (account, region, alias) → key id: makes aliases unique per account and region.
const ALIASES: TableDefinition<(u64, &str, &str), u128> = TableDefinition::new("aliases");
/// (account, region, created at, key id): lists a scope's keys in creation order.
const SCOPE_KEYS: TableDefinition<(u64, &str, u64, u128), ()> = TableDefinition::new("scope_keys");
/// (account, region) → number of keys: enforces the per-region limit.
const KEY_COUNTS: TableDefinition<(u64, &str), u64> = TableDefinition::new("key_counts");
/// (due time, key id): keys with a purge or rotation pending, for the background sweep.
const DUE: TableDefinition<(u64, u128), ()> = TableDefinition::new("due");
/// uin → account (JSON).
const ACCOUNTS: TableDefinition<u64, &[u8]> = TableDefinition::new("accounts");
/// secret id or project id → uin: makes credentials unique.
const ACCOUNT_NAMES: TableDefinition<&str, u64> = TableDefinition::new("account_names");

/// Page cache bound: the server's resident size must stay small with 100,000 keys.
const CACHE_BYTES: usize = 16 << 20;

/// The embedded store: one redb database file.
pub struct EmbeddedStore {
    db: Database,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn encode<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(backend)
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(backend)
}

fn id(key: &KeyRecord) -> u128 {
    key.key_id.as_u128()
}

type WriteTxn = redb::WriteTransaction;

impl EmbeddedStore {
    /// Opens (creating if missing) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(backend)?;
        let txn = db.begin_write().map_err(backend)?;
        txn.open_table(KEYS).map_err(backend)?;
        txn.open_table(ALIASES).map_err(backend)?;
        txn.open_table(SCOPE_KEYS).map_err(backend)?;
        txn.open_table(KEY_COUNTS).map_err(backend)?;
        txn.open_table(DUE).map_err(backend)?;
        txn.open_table(ACCOUNTS).map_err(backend)?;
        txn.open_table(ACCOUNT_NAMES).map_err(backend)?;
        txn.commit().map_err(backend)?;
        Ok(Self { db })
    }

    fn read_key(txn: &WriteTxn, key_id: u128) -> Result<Option<KeyRecord>, StoreError> {
        let keys = txn.open_table(KEYS).map_err(backend)?;
        let found = keys.get(key_id).map_err(backend)?;
        found.map(|v| decode(v.value())).transpose()
    }

    /// Removes the index entries that point at `key` as stored.
    fn unindex(txn: &WriteTxn, key: &KeyRecord) -> Result<(), StoreError> {
        txn.open_table(ALIASES)
            .map_err(backend)?
            .remove((key.account, key.region.as_str(), key.alias.as_str()))
            .map_err(backend)?;
        if let Some(due) = key.next_due_time() {
            txn.open_table(DUE)
                .map_err(backend)?
                .remove((due, id(key)))
                .map_err(backend)?;
        }
        Ok(())
    }

    /// Writes `key` and its alias and due-time entries.
    fn index_and_put(txn: &WriteTxn, key: &KeyRecord) -> Result<(), StoreError> {
        let mut aliases = txn.open_table(ALIASES).map_err(backend)?;
        let alias_key = (key.account, key.region.as_str(), key.alias.as_str());
        if aliases.get(alias_key).map_err(backend)?.is_some() {
            return Err(StoreError::AliasTaken);
        }
        aliases.insert(alias_key, id(key)).map_err(backend)?;
        if let Some(due) = key.next_due_time() {
            txn.open_table(DUE)
                .map_err(backend)?
                .insert((due, id(key)), ())
                .map_err(backend)?;
        }
        txn.open_table(KEYS)
            .map_err(backend)?
            .insert(id(key), encode(key)?.as_slice())
            .map_err(backend)?;
        Ok(())
    }

    fn adjust_count(txn: &WriteTxn, key: &KeyRecord, delta: i64) -> Result<u64, StoreError> {
        let mut counts = txn.open_table(KEY_COUNTS).map_err(backend)?;
        let scope = (key.account, key.region.as_str());
        let current = counts.get(scope).map_err(backend)?.map_or(0, |v| v.value());
        let next = current.saturating_add_signed(delta);
        counts.insert(scope, next).map_err(backend)?;
        Ok(current)
    }
}

impl Store for EmbeddedStore {
    fn create_key(&self, key: &KeyRecord, max_keys: u64) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(backend)?;
        if Self::adjust_count(&txn, key, 1)? >= max_keys {
            return Err(StoreError::LimitReached);
        }
        Self::index_and_put(&txn, key)?;
        txn.open_table(SCOPE_KEYS)
            .map_err(backend)?
            .insert(
                (key.account, key.region.as_str(), key.created_at, id(key)),
                (),
            )
            .map_err(backend)?;
        txn.commit().map_err(backend)
    }

    fn get_key(&self, key_id: &Uuid) -> Result<Option<KeyRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let keys = txn.open_table(KEYS).map_err(backend)?;
        let found = keys.get(key_id.as_u128()).map_err(backend)?;
        found.map(|v| decode(v.value())).transpose()
    }

    fn update_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(backend)?;
        let old = Self::read_key(&txn, id(key))?.ok_or(StoreError::Conflict)?;
        if old.revision + 1 != key.revision {
            return Err(StoreError::Conflict);
        }
        Self::unindex(&txn, &old)?;
        Self::index_and_put(&txn, key)?;
        txn.commit().map_err(backend)
    }

    fn delete_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(backend)?;
        let old = Self::read_key(&txn, id(key))?.ok_or(StoreError::Conflict)?;
        if old.revision != key.revision {
            return Err(StoreError::Conflict);
        }
        Self::unindex(&txn, &old)?;
        Self::adjust_count(&txn, &old, -1)?;
        txn.open_table(SCOPE_KEYS)
            .map_err(backend)?
            .remove((old.account, old.region.as_str(), old.created_at, id(&old)))
            .map_err(backend)?;
        txn.open_table(KEYS)
            .map_err(backend)?
            .remove(id(&old))
            .map_err(backend)?;
        txn.commit().map_err(backend)
    }

    fn scan_keys(
        &self,
        account: AccountId,
        region: &str,
        newest_first: bool,
        visit: &mut dyn FnMut(KeyRecord) -> bool,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let scope = txn.open_table(SCOPE_KEYS).map_err(backend)?;
        let keys = txn.open_table(KEYS).map_err(backend)?;
        let range = scope
            .range((account, region, 0u64, 0u128)..=(account, region, u64::MAX, u128::MAX))
            .map_err(backend)?;
        let mut visit_entry = |entry: Result<_, redb::StorageError>| -> Result<bool, StoreError> {
            let (k, _): (redb::AccessGuard<(u64, &str, u64, u128)>, _) = entry.map_err(backend)?;
            match keys.get(k.value().3).map_err(backend)? {
                Some(v) => Ok(visit(decode(v.value())?)),
                None => Ok(true),
            }
        };
        if newest_first {
            for entry in range.rev() {
                if !visit_entry(entry)? {
                    break;
                }
            }
        } else {
            for entry in range {
                if !visit_entry(entry)? {
                    break;
                }
            }
        }
        Ok(())
    }

    fn count_keys(&self, account: AccountId, region: &str) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let counts = txn.open_table(KEY_COUNTS).map_err(backend)?;
        let found = counts.get((account, region)).map_err(backend)?;
        Ok(found.map_or(0, |v| v.value()))
    }

    fn due_keys(&self, now: u64, limit: usize) -> Result<Vec<Uuid>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let due = txn.open_table(DUE).map_err(backend)?;
        let mut out = Vec::new();
        for entry in due
            .range((0u64, 0u128)..=(now, u128::MAX))
            .map_err(backend)?
        {
            if out.len() >= limit {
                break;
            }
            let (k, _) = entry.map_err(backend)?;
            out.push(Uuid::from_u128(k.value().1));
        }
        Ok(out)
    }

    fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(backend)?;
        {
            let mut accounts = txn.open_table(ACCOUNTS).map_err(backend)?;
            if accounts.get(account.uin).map_err(backend)?.is_some() {
                return Err(StoreError::AlreadyExists);
            }
            accounts
                .insert(account.uin, encode(account)?.as_slice())
                .map_err(backend)?;
            let mut names = txn.open_table(ACCOUNT_NAMES).map_err(backend)?;
            for name in [
                format!("secret:{}", account.secret_id),
                format!("project:{}", account.project_id),
            ] {
                if names
                    .insert(name.as_str(), account.uin)
                    .map_err(backend)?
                    .is_some()
                {
                    return Err(StoreError::AlreadyExists);
                }
            }
        }
        txn.commit().map_err(backend)
    }

    fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let accounts = txn.open_table(ACCOUNTS).map_err(backend)?;
        let mut out = Vec::new();
        for entry in accounts.iter().map_err(backend)? {
            let (_, v) = entry.map_err(backend)?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
