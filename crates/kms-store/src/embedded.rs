use std::ops::Deref;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use uuid::Uuid;

use kms_core::grants::GrantRecord;
use kms_core::store::{DataKeyListFilter, Indexed, KeyListFilter, Listed};
use kms_core::{Account, AccountId, Alias, DataKeyRecord, KeyRecord, Store, StoreError, Tag};

/// The tables behind one kind of record (keys, hosted data keys).
struct Tables {
    /// id → record (JSON).
    records: TableDefinition<'static, u128, &'static [u8]>,
    /// (account, region, name) → (created at, id): makes names (aliases) unique per account and
    /// region, and is what a search walks.
    names: TableDefinition<'static, (u64, &'static str, &'static str), (u64, u128)>,
    /// The names table of stores written before index version 2, (account, region, name) → id
    /// with only each key's own alias: dropped when the indexes are built.
    old_names: TableDefinition<'static, (u64, &'static str, &'static str), u128>,
    /// (account, region, created at, id): lists a scope's records in creation order.
    scope: TableDefinition<'static, (u64, &'static str, u64, u128), ()>,
    /// (account, region) → number of records counting toward the per-region limit.
    counts: TableDefinition<'static, (u64, &'static str), u64>,
    /// (due time, id): records with background work pending (purge, rotation, expiry).
    due: TableDefinition<'static, (u64, u128), ()>,
    /// (account, region, term, created at, id): a scope's records that meet an index term
    /// ([`Indexed::terms`]), in creation order.
    terms: TableDefinition<'static, (u64, &'static str, &'static str, u64, u128), ()>,
    /// (account, region, term) → records meeting the term; [`ALL`] counts every record and
    /// [`ALIASES`] every alias.
    term_counts: TableDefinition<'static, (u64, &'static str, &'static str), u64>,
    /// (account, region, alias name) → (id, alias created at, alias updated at): the entries of
    /// [`Indexed::listed_aliases`], in name order.
    aliases: TableDefinition<'static, (u64, &'static str, &'static str), (u128, u64, u64)>,
}

/// The `term_counts` entry that counts every record of a scope; no index term is empty.
const ALL: &str = "";
/// The `term_counts` entry that counts a scope's aliases; every index term holds a NUL.
const ALIASES: &str = "aliases";

const KEYS: Tables = Tables {
    records: TableDefinition::new("keys"),
    names: TableDefinition::new("key_names"),
    old_names: TableDefinition::new("aliases"),
    scope: TableDefinition::new("scope_keys"),
    counts: TableDefinition::new("key_counts"),
    due: TableDefinition::new("due"),
    terms: TableDefinition::new("key_terms"),
    term_counts: TableDefinition::new("key_term_counts"),
    aliases: TableDefinition::new("key_alias_entries"),
};

const DATA_KEYS: Tables = Tables {
    records: TableDefinition::new("data_keys"),
    names: TableDefinition::new("data_key_name_index"),
    old_names: TableDefinition::new("data_key_names"),
    scope: TableDefinition::new("scope_data_keys"),
    counts: TableDefinition::new("data_key_counts"),
    due: TableDefinition::new("data_key_due"),
    terms: TableDefinition::new("data_key_terms"),
    term_counts: TableDefinition::new("data_key_term_counts"),
    aliases: TableDefinition::new("data_key_alias_entries"),
};

/// Settings of the file: [`INDEX_VERSION_KEY`] says which indexes are built.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const INDEX_VERSION_KEY: &str = "index_version";
/// The indexes of this version: names of every alias, term indexes and counts, alias entries;
/// version 3 adds each key's (usage, spec) term, version 4 each record's tuple terms and their
/// pairs with its tags, version 5 each record's HSM cluster term. A store without them (or with
/// older ones) gets them built once at open.
const INDEX_VERSION: u64 = 5;

/// uin → account (JSON).
const ACCOUNTS: TableDefinition<u64, &[u8]> = TableDefinition::new("accounts");
/// secret id or project id → uin: makes credentials unique.
const ACCOUNT_NAMES: TableDefinition<&str, u64> = TableDefinition::new("account_names");

/// Scratch space that [`Store::scrub`] fills and empties.
const SCRUB: TableDefinition<u64, &[u8]> = TableDefinition::new("scrub");
/// One filler value per page of redb's default 4 KiB pages: more than half a page, so no two
/// share one, and small enough that each takes a single page.
const SCRUB_FILLER_BYTES: usize = 3 * 1024;

/// Page cache bound: the server's resident size must stay small with 100,000 keys.
const CACHE_BYTES: usize = 16 << 20;

/// The embedded store: one redb database file.
pub struct EmbeddedStore {
    /// Every transaction holds this shared; [`Store::scrub`] takes it exclusively only to compact
    /// the file, which redb allows with no transaction open.
    db: Arc<RwLock<Database>>,
    /// Runs every write a request makes (group commit).
    committer: commit::Committer,
    path: std::path::PathBuf,
}

/// A transaction with the shared hold on the database that keeps compaction out while it lives.
struct Held<'a, T> {
    txn: T,
    _db: RwLockReadGuard<'a, Database>,
}

impl<T> Deref for Held<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.txn
    }
}

impl Held<'_, WriteTxn> {
    fn commit(self) -> Result<(), redb::CommitError> {
        self.txn.commit()
    }
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

type WriteTxn = redb::WriteTransaction;

impl Tables {
    fn create_all(&self, txn: &WriteTxn) -> Result<(), StoreError> {
        txn.open_table(self.records).map_err(backend)?;
        txn.open_table(self.names).map_err(backend)?;
        txn.open_table(self.scope).map_err(backend)?;
        txn.open_table(self.counts).map_err(backend)?;
        txn.open_table(self.due).map_err(backend)?;
        txn.open_table(self.terms).map_err(backend)?;
        txn.open_table(self.term_counts).map_err(backend)?;
        txn.open_table(self.aliases).map_err(backend)?;
        Ok(())
    }

    /// Builds the names, terms, term counts and alias entries of every stored record afresh:
    /// the one-time pass that brings a store written before these indexes up to date.
    fn rebuild_indexes<R: Indexed>(&self, txn: &WriteTxn) -> Result<(), StoreError> {
        txn.delete_table(self.old_names).map_err(backend)?;
        txn.delete_table(self.names).map_err(backend)?;
        txn.delete_table(self.term_counts).map_err(backend)?;
        txn.delete_table(self.terms).map_err(backend)?;
        txn.delete_table(self.aliases).map_err(backend)?;
        self.create_all(txn)?;
        let records = txn.open_table(self.records).map_err(backend)?;
        for entry in records.iter().map_err(backend)? {
            let (_, v) = entry.map_err(backend)?;
            let rec: R = decode(v.value())?;
            self.reserve_names(txn, &rec).map_err(|e| match e {
                StoreError::NameTaken => backend("two stored records hold one name"),
                e => e,
            })?;
            self.index_terms(txn, &rec, true)?;
        }
        Ok(())
    }

    fn read<R: Indexed>(&self, txn: &WriteTxn, id: u128) -> Result<Option<R>, StoreError> {
        let records = txn.open_table(self.records).map_err(backend)?;
        let found = records.get(id).map_err(backend)?;
        found.map(|v| decode(v.value())).transpose()
    }

    /// Reserves every name of `rec` in its scope; `NameTaken` if one is in use (by another
    /// record, or twice by this one).
    fn reserve_names<R: Indexed>(&self, txn: &WriteTxn, rec: &R) -> Result<(), StoreError> {
        let mut names = txn.open_table(self.names).map_err(backend)?;
        for name in rec.unique_names() {
            let taken = names
                .insert(
                    (rec.account(), rec.region(), name),
                    (rec.created_at(), rec.id().as_u128()),
                )
                .map_err(backend)?
                .is_some();
            if taken {
                return Err(StoreError::NameTaken);
            }
        }
        Ok(())
    }

    /// Adds (or removes) `rec`'s entries in the term index and alias entries, with their
    /// counts and the scope's count of all records.
    fn index_terms<R: Indexed>(
        &self,
        txn: &WriteTxn,
        rec: &R,
        add: bool,
    ) -> Result<(), StoreError> {
        let (account, region) = (rec.account(), rec.region());
        let (created, id) = (rec.created_at(), rec.id().as_u128());
        let mut terms = txn.open_table(self.terms).map_err(backend)?;
        let mut counts = txn.open_table(self.term_counts).map_err(backend)?;
        let mut adjust = |term: &str, by: u64| -> Result<(), StoreError> {
            let key = (account, region, term);
            let current = counts.get(key).map_err(backend)?.map_or(0, |v| v.value());
            let next = if add {
                current.saturating_add(by)
            } else {
                current.saturating_sub(by)
            };
            if next == 0 {
                counts.remove(key).map_err(backend)?;
            } else {
                counts.insert(key, next).map_err(backend)?;
            }
            Ok(())
        };
        adjust(ALL, 1)?;
        for term in rec.terms() {
            let key = (account, region, term.as_str(), created, id);
            if add {
                terms.insert(key, ()).map_err(backend)?;
            } else {
                terms.remove(key).map_err(backend)?;
            }
            adjust(&term, 1)?;
        }
        let listed = rec.listed_aliases();
        if !listed.is_empty() {
            adjust(ALIASES, listed.len() as u64)?;
            let mut aliases = txn.open_table(self.aliases).map_err(backend)?;
            for alias in listed {
                let key = (account, region, alias.name.as_str());
                if add {
                    aliases
                        .insert(key, (id, alias.created_at, alias.updated_at))
                        .map_err(backend)?;
                } else {
                    aliases.remove(key).map_err(backend)?;
                }
            }
        }
        Ok(())
    }

    /// Removes every index entry that points at `rec` as stored, but its place in creation
    /// order.
    fn unindex<R: Indexed>(&self, txn: &WriteTxn, rec: &R) -> Result<(), StoreError> {
        let mut names = txn.open_table(self.names).map_err(backend)?;
        for name in rec.unique_names() {
            names
                .remove((rec.account(), rec.region(), name))
                .map_err(backend)?;
        }
        drop(names);
        self.index_terms(txn, rec, false)?;
        if let Some(due) = rec.due_time() {
            txn.open_table(self.due)
                .map_err(backend)?
                .remove((due, rec.id().as_u128()))
                .map_err(backend)?;
        }
        Ok(())
    }

    /// Writes `rec` with its names, terms, alias entries and due-time entry; `NameTaken` if
    /// a name is in use.
    fn index_and_put<R: Indexed>(&self, txn: &WriteTxn, rec: &R) -> Result<(), StoreError> {
        let id = rec.id().as_u128();
        self.reserve_names(txn, rec)?;
        self.index_terms(txn, rec, true)?;
        if let Some(due) = rec.due_time() {
            txn.open_table(self.due)
                .map_err(backend)?
                .insert((due, id), ())
                .map_err(backend)?;
        }
        txn.open_table(self.records)
            .map_err(backend)?
            .insert(id, encode(rec)?.as_slice())
            .map_err(backend)?;
        Ok(())
    }

    /// Adds `delta` to the scope's count; returns the count before.
    fn adjust_count<R: Indexed>(
        &self,
        txn: &WriteTxn,
        rec: &R,
        delta: i64,
    ) -> Result<u64, StoreError> {
        let mut counts = txn.open_table(self.counts).map_err(backend)?;
        let scope = (rec.account(), rec.region());
        let current = counts.get(scope).map_err(backend)?.map_or(0, |v| v.value());
        counts
            .insert(scope, current.saturating_add_signed(delta))
            .map_err(backend)?;
        Ok(current)
    }

    /// Writes a new record with its index entries; `LimitReached` once its scope holds `max`
    /// counted records, `NameTaken` if one of its names is in use.
    fn create<R: Indexed>(&self, txn: &WriteTxn, rec: &R, max: u64) -> Result<(), StoreError> {
        // An id in use is refused, not overwritten: ids are chosen at times (dev mode's fixtures).
        let exists = txn
            .open_table(self.records)
            .map_err(backend)?
            .get(rec.id().as_u128())
            .map_err(backend)?
            .is_some();
        if exists {
            return Err(StoreError::AlreadyExists);
        }
        // A record that does not count (one pending deletion, as an import may bring) is
        // neither limited nor counted.
        if rec.counts_toward_limit() && self.adjust_count(txn, rec, 1)? >= max {
            return Err(StoreError::LimitReached);
        }
        self.index_and_put(txn, rec)?;
        txn.open_table(self.scope)
            .map_err(backend)?
            .insert(
                (
                    rec.account(),
                    rec.region(),
                    rec.created_at(),
                    rec.id().as_u128(),
                ),
                (),
            )
            .map_err(backend)
            .map(drop)
    }

    /// Replaces records (compare-and-swap on each revision): all or none, as a failure aborts
    /// the transaction. A record that starts counting toward the limit again is refused once
    /// `max` is reached.
    fn update<R: Indexed>(&self, txn: &WriteTxn, recs: &[R], max: u64) -> Result<(), StoreError> {
        for rec in recs {
            let old: R = self
                .read(txn, rec.id().as_u128())?
                .ok_or(StoreError::Conflict)?;
            if old.revision() + 1 != rec.revision() {
                return Err(StoreError::Conflict);
            }
            self.unindex(txn, &old)?;
            self.index_and_put(txn, rec)?;
            if old.created_at() != rec.created_at() {
                let mut scope = txn.open_table(self.scope).map_err(backend)?;
                let id = rec.id().as_u128();
                scope
                    .remove((old.account(), old.region(), old.created_at(), id))
                    .map_err(backend)?;
                scope
                    .insert((rec.account(), rec.region(), rec.created_at(), id), ())
                    .map_err(backend)?;
            }
            let delta = i64::from(rec.counts_toward_limit()) - i64::from(old.counts_toward_limit());
            if delta != 0 && self.adjust_count(txn, rec, delta)? >= max && delta > 0 {
                return Err(StoreError::LimitReached);
            }
        }
        Ok(())
    }

    /// Deletes a record with its index entries (compare-and-swap on its revision).
    fn delete<R: Indexed>(&self, txn: &WriteTxn, rec: &R) -> Result<(), StoreError> {
        let id = rec.id().as_u128();
        let old: R = self.read(txn, id)?.ok_or(StoreError::Conflict)?;
        if old.revision() != rec.revision() {
            return Err(StoreError::Conflict);
        }
        self.unindex(txn, &old)?;
        if old.counts_toward_limit() {
            self.adjust_count(txn, &old, -1)?;
        }
        txn.open_table(self.scope)
            .map_err(backend)?
            .remove((old.account(), old.region(), old.created_at(), id))
            .map_err(backend)?;
        txn.open_table(self.records)
            .map_err(backend)?
            .remove(id)
            .map_err(backend)?;
        Ok(())
    }
}

impl EmbeddedStore {
    /// Opens (creating if missing) the database at `path`. A store written before the listing
    /// indexes existed gets them built here, once, in one transaction.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        // redb would create the file readable by everyone the umask lets through; it holds
        // sealed key material and every account's records, so it is made 0600 first (redb
        // initializes an empty file as a new database).
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|e| StoreError::Backend(format!("creating {}: {e}", path.display())))?;
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(backend)?;
        let txn = db.begin_write().map_err(backend)?;
        KEYS.create_all(&txn)?;
        DATA_KEYS.create_all(&txn)?;
        txn.open_table(ACCOUNTS).map_err(backend)?;
        txn.open_table(ACCOUNT_NAMES).map_err(backend)?;
        txn.open_table(identity::IDENTITY).map_err(backend)?;
        txn.open_table(SCRUB).map_err(backend)?;
        txn.open_table(export::SETTINGS).map_err(backend)?;
        grants::create_tables(&txn)?;
        let mut meta = txn.open_table(META).map_err(backend)?;
        let built = meta
            .get(INDEX_VERSION_KEY)
            .map_err(backend)?
            .map(|v| v.value());
        if built != Some(INDEX_VERSION) {
            KEYS.rebuild_indexes::<KeyRecord>(&txn)?;
            DATA_KEYS.rebuild_indexes::<DataKeyRecord>(&txn)?;
            meta.insert(INDEX_VERSION_KEY, INDEX_VERSION)
                .map_err(backend)?;
        }
        drop(meta);
        txn.commit().map_err(backend)?;
        let db = Arc::new(RwLock::new(db));
        Ok(Self {
            committer: commit::Committer::start(Arc::clone(&db))?,
            db,
            path: path.to_owned(),
        })
    }

    fn shared(&self) -> RwLockReadGuard<'_, Database> {
        // redb is transactional: a panic elsewhere cannot leave the database half-changed.
        self.db.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn begin_write(&self) -> Result<Held<'_, WriteTxn>, StoreError> {
        let db = self.shared();
        let txn = db.begin_write().map_err(backend)?;
        Ok(Held { txn, _db: db })
    }

    /// Runs `write` in the committer's next transaction and answers once that is durable.
    fn write<T: Send + 'static>(
        &self,
        write: impl Fn(&WriteTxn) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.committer.write(write)
    }

    fn begin_read(&self) -> Result<Held<'_, redb::ReadTransaction>, StoreError> {
        let db = self.shared();
        let txn = db.begin_read().map_err(backend)?;
        Ok(Held { txn, _db: db })
    }

    fn get<R: Indexed>(&self, t: &Tables, id: &Uuid) -> Result<Option<R>, StoreError> {
        let txn = self.begin_read()?;
        let records = txn.open_table(t.records).map_err(backend)?;
        let found = records.get(id.as_u128()).map_err(backend)?;
        found.map(|v| decode(v.value())).transpose()
    }

    /// Replaces records (compare-and-swap on each revision) in one transaction: all or none. A
    /// record that starts counting toward the limit again is refused once `max` is reached.
    fn count(&self, t: &Tables, account: AccountId, region: &str) -> Result<u64, StoreError> {
        let txn = self.begin_read()?;
        let counts = txn.open_table(t.counts).map_err(backend)?;
        let found = counts.get((account, region)).map_err(backend)?;
        Ok(found.map_or(0, |v| v.value()))
    }

    fn due(&self, t: &Tables, now: u64, limit: usize) -> Result<Vec<Uuid>, StoreError> {
        let txn = self.begin_read()?;
        let due = txn.open_table(t.due).map_err(backend)?;
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
}

impl Store for EmbeddedStore {
    fn create_key(&self, key: &KeyRecord, max_keys: u64) -> Result<(), StoreError> {
        let key = key.clone();
        self.write(move |txn| KEYS.create(txn, &key, max_keys))
    }
    fn get_key(&self, key_id: &Uuid) -> Result<Option<KeyRecord>, StoreError> {
        self.get(&KEYS, key_id)
    }
    fn update_keys(&self, keys: &[KeyRecord], max_keys: u64) -> Result<(), StoreError> {
        let keys = keys.to_vec();
        self.write(move |txn| KEYS.update(txn, &keys, max_keys))
    }
    /// Removes the key's grants in its delete transaction.
    fn delete_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        let key = key.clone();
        self.write(move |txn| {
            KEYS.delete(txn, &key)?;
            grants::remove_key_grants(txn, &key.key_id)
        })
    }
    fn list_keys(
        &self,
        account: AccountId,
        region: &str,
        filter: &KeyListFilter,
    ) -> Result<Listed<KeyRecord>, StoreError> {
        self.list(&KEYS, account, region, filter)
    }
    fn key_by_name(
        &self,
        account: AccountId,
        region: &str,
        name: &str,
    ) -> Result<Option<Uuid>, StoreError> {
        let txn = self.begin_read()?;
        let names = txn.open_table(KEYS.names).map_err(backend)?;
        let found = names.get((account, region, name)).map_err(backend)?;
        Ok(found.map(|v| Uuid::from_u128(v.value().1)))
    }
    fn list_aliases(
        &self,
        account: AccountId,
        region: &str,
        key_id: Option<Uuid>,
        offset: usize,
        limit: usize,
    ) -> Result<Listed<(Uuid, Alias)>, StoreError> {
        self.aliases(&KEYS, account, region, key_id, offset, limit)
    }
    fn count_keys(&self, account: AccountId, region: &str) -> Result<u64, StoreError> {
        self.count(&KEYS, account, region)
    }
    fn key_tags(&self, account: AccountId, region: &str) -> Result<Vec<Tag>, StoreError> {
        self.tags(&KEYS, account, region)
    }
    fn due_keys(&self, now: u64, limit: usize) -> Result<Vec<Uuid>, StoreError> {
        self.due(&KEYS, now, limit)
    }

    fn create_data_key(&self, data_key: &DataKeyRecord, max: u64) -> Result<(), StoreError> {
        let data_key = data_key.clone();
        self.write(move |txn| DATA_KEYS.create(txn, &data_key, max))
    }
    fn get_data_key(&self, data_key_id: &Uuid) -> Result<Option<DataKeyRecord>, StoreError> {
        self.get(&DATA_KEYS, data_key_id)
    }
    fn update_data_keys(&self, data_keys: &[DataKeyRecord], max: u64) -> Result<(), StoreError> {
        let data_keys = data_keys.to_vec();
        self.write(move |txn| DATA_KEYS.update(txn, &data_keys, max))
    }
    fn delete_data_key(&self, data_key: &DataKeyRecord) -> Result<(), StoreError> {
        let data_key = data_key.clone();
        self.write(move |txn| DATA_KEYS.delete(txn, &data_key))
    }
    fn list_data_keys(
        &self,
        account: AccountId,
        region: &str,
        filter: &DataKeyListFilter,
    ) -> Result<Listed<DataKeyRecord>, StoreError> {
        self.list(&DATA_KEYS, account, region, filter)
    }
    fn count_data_keys(&self, account: AccountId, region: &str) -> Result<u64, StoreError> {
        self.count(&DATA_KEYS, account, region)
    }
    fn due_data_keys(&self, now: u64, limit: usize) -> Result<Vec<Uuid>, StoreError> {
        self.due(&DATA_KEYS, now, limit)
    }

    /// redb is copy-on-write: the pages an erasing commit replaced keep their old bytes until
    /// they are allocated again. A first commit, with no reader open, frees them all. A second
    /// fills free pages with zeros, one filler value per page, until the file grows: redb grows
    /// it only when no free page is left, so by then every page that was free has been handed
    /// to the filler and overwritten. A third frees the filler. Growth doubles the file, so a
    /// compaction last gives the free tail back; without it every scrub would start from a
    /// larger file than the one before. Readers wait only for the first commit and the
    /// compaction.
    fn scrub(&self) -> Result<(), StoreError> {
        {
            // With no reader open, no snapshot holds an erased page back from being freed.
            let db = self.db.write().unwrap_or_else(PoisonError::into_inner);
            let txn = db.begin_write().map_err(backend)?;
            txn.open_table(SCRUB)
                .map_err(backend)?
                .insert(u64::MAX, [].as_slice())
                .map_err(backend)?;
            txn.commit().map_err(backend)?;
        }

        let file_len = || {
            std::fs::metadata(&self.path)
                .map(|m| m.len())
                .map_err(backend)
        };
        let start_len = file_len()?;
        let filler = vec![0u8; SCRUB_FILLER_BYTES];
        let txn = self.begin_write()?;
        {
            let mut scrub = txn.open_table(SCRUB).map_err(backend)?;
            // Each filler takes a page of its own, so the file has grown before the count of its
            // pages is reached; the bound only stops a loop that never would.
            let mut grew = false;
            for i in 0..=start_len / SCRUB_FILLER_BYTES as u64 {
                scrub.insert(i, filler.as_slice()).map_err(backend)?;
                if file_len()? > start_len {
                    grew = true;
                    break;
                }
            }
            if !grew {
                return Err(backend("scrub filler did not exhaust the free pages"));
            }
        }
        txn.commit().map_err(backend)?;

        let txn = self.begin_write()?;
        txn.open_table(SCRUB)
            .map_err(backend)?
            .retain(|_, _| false)
            .map_err(backend)?;
        txn.commit().map_err(backend)?;

        self.db
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .compact()
            .map_err(backend)?;
        Ok(())
    }

    fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        let account = account.clone();
        self.write(move |txn| {
            let mut accounts = txn.open_table(ACCOUNTS).map_err(backend)?;
            if accounts.get(account.uin).map_err(backend)?.is_some() {
                return Err(StoreError::AlreadyExists);
            }
            accounts
                .insert(account.uin, encode(&account)?.as_slice())
                .map_err(backend)?;
            let mut names = txn.open_table(ACCOUNT_NAMES).map_err(backend)?;
            for name in [
                identity::secret_name(&account.secret_id),
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
            Ok(())
        })
    }

    fn create_grant(&self, grant: &GrantRecord, max: u64) -> Result<(), StoreError> {
        self.create_grant_record(grant, max)
    }
    fn key_grants(&self, key_id: &Uuid) -> Result<Vec<GrantRecord>, StoreError> {
        self.grants_of_key(key_id)
    }
    fn delete_grant(&self, key_id: &Uuid, grant_id: &str) -> Result<bool, StoreError> {
        self.delete_grant_record(key_id, grant_id)
    }
    fn most_grants_on_a_key(&self, account: AccountId, region: &str) -> Result<u64, StoreError> {
        self.grants_most_on_a_key(account, region)
    }
    fn retirable_grants(
        &self,
        region: &str,
        principal: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Listed<GrantRecord>, StoreError> {
        self.grants_retirable_by(region, principal, offset, limit)
    }

    fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        let txn = self.begin_read()?;
        let accounts = txn.open_table(ACCOUNTS).map_err(backend)?;
        let mut out = Vec::new();
        for entry in accounts.iter().map_err(backend)? {
            let (_, v) = entry.map_err(backend)?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    }

    fn identity(&self) -> Result<kms_core::identity::Identity, StoreError> {
        self.read_identity()
    }

    fn replace_identity(
        &self,
        expected: u64,
        next: &kms_core::identity::Identity,
    ) -> Result<(), StoreError> {
        self.write_identity(expected, next)
    }

    fn reserve_secret_id(&self, secret_id: &str, account: AccountId) -> Result<(), StoreError> {
        self.reserve_secret(secret_id, account)
    }

    fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_setting(name)
    }

    fn init_setting(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.first_setting(name, value)
    }

    fn replace_setting(
        &self,
        name: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<(), StoreError> {
        self.swap_setting(name, expected, value)
    }

    fn reseal_account(&self, uin: AccountId, sealed_secret_key: &[u8]) -> Result<(), StoreError> {
        self.reseal_account_secret(uin, sealed_secret_key)
    }

    fn export(
        &self,
        each: &mut dyn FnMut(kms_core::store::Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.export_all(each)
    }
}

mod commit;
mod export;
mod grants;
mod identity;
mod listing;
#[cfg(test)]
mod tests;
