//! Settings of the store, secret id reservations, and the walk over everything the store holds
//! that moves it into another store.

use redb::{ReadableTable as _, TableDefinition};

use kms_core::store::Record;
use kms_core::{AccountId, StoreError};

use super::{ACCOUNT_NAMES, ACCOUNTS, DATA_KEYS, EmbeddedStore, KEYS, backend, decode, identity};

/// name → value: values of the store itself ([`kms_core::Store::setting`]).
pub(super) const SETTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("settings");

impl EmbeddedStore {
    pub(super) fn reserve_secret(
        &self,
        secret_id: &str,
        account: AccountId,
    ) -> Result<(), StoreError> {
        let name = identity::secret_name(secret_id);
        self.write(move |txn| {
            let mut names = txn.open_table(ACCOUNT_NAMES).map_err(backend)?;
            let owner = names
                .get(name.as_str())
                .map_err(backend)?
                .map(|v| v.value());
            match owner {
                Some(uin) if uin == account => Ok(()),
                Some(_) => Err(StoreError::AlreadyExists),
                None => names
                    .insert(name.as_str(), account)
                    .map_err(backend)
                    .map(drop),
            }
        })
    }

    pub(super) fn read_setting(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(SETTINGS).map_err(backend)?;
        let found = table.get(name).map_err(backend)?;
        Ok(found.map(|v| v.value().to_vec()))
    }

    pub(super) fn first_setting(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        let (name, value) = (name.to_owned(), value.to_vec());
        self.write(move |txn| {
            let mut table = txn.open_table(SETTINGS).map_err(backend)?;
            if let Some(stored) = table.get(name.as_str()).map_err(backend)? {
                return Ok(stored.value().to_vec());
            }
            table
                .insert(name.as_str(), value.as_slice())
                .map_err(backend)?;
            Ok(value.clone())
        })
    }

    pub(super) fn swap_setting(
        &self,
        name: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<(), StoreError> {
        let (name, expected, value) = (
            name.to_owned(),
            expected.map(<[u8]>::to_vec),
            value.to_vec(),
        );
        self.write(move |txn| {
            let mut table = txn.open_table(SETTINGS).map_err(backend)?;
            let stored = table
                .get(name.as_str())
                .map_err(backend)?
                .map(|v| v.value().to_vec());
            if stored != expected {
                return Err(StoreError::Conflict);
            }
            table
                .insert(name.as_str(), value.as_slice())
                .map_err(backend)?;
            Ok(())
        })
    }

    pub(super) fn reseal_account_secret(
        &self,
        uin: AccountId,
        sealed_secret_key: &[u8],
    ) -> Result<(), StoreError> {
        let sealed_secret_key = sealed_secret_key.to_vec();
        self.write(move |txn| {
            let mut accounts = txn.open_table(ACCOUNTS).map_err(backend)?;
            let mut account: kms_core::Account = match accounts.get(uin).map_err(backend)? {
                Some(stored) => decode(stored.value())?,
                None => return Err(StoreError::Conflict),
            };
            account.sealed_secret_key = sealed_secret_key.clone();
            accounts
                .insert(uin, super::encode(&account)?.as_slice())
                .map_err(backend)?;
            Ok(())
        })
    }

    /// Writes exported keys and hosted data keys as [`kms_core::Store::import`] does (limits
    /// not applied), but all in one transaction and so one commit: filling a store with a
    /// million records one commit each would take hours. All or none; any other kind of record
    /// is refused.
    pub fn import_batch(&self, records: &[Record]) -> Result<(), StoreError> {
        let txn = self.begin_write()?;
        for record in records {
            match record {
                Record::Key(key) => KEYS.create(&txn, key, u64::MAX)?,
                Record::DataKey(data_key) => DATA_KEYS.create(&txn, data_key, u64::MAX)?,
                _ => return Err(backend("a batch import takes only keys and data keys")),
            }
        }
        txn.commit().map_err(backend)
    }

    /// One read transaction, so the items handed out are one consistent state.
    pub(super) fn export_all(
        &self,
        each: &mut dyn FnMut(Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let txn = self.begin_read()?;
        for entry in txn
            .open_table(ACCOUNTS)
            .map_err(backend)?
            .iter()
            .map_err(backend)?
        {
            each(Record::Account(decode(entry.map_err(backend)?.1.value())?))?;
        }
        let identity = txn.open_table(identity::IDENTITY).map_err(backend)?;
        if let Some(document) = identity.get(identity::DOCUMENT).map_err(backend)? {
            each(Record::Identity(decode(document.value())?))?;
        }
        let names = txn.open_table(ACCOUNT_NAMES).map_err(backend)?;
        for entry in names.iter().map_err(backend)? {
            let (name, account) = entry.map_err(backend)?;
            if let Some(secret_id) = identity::secret_of_name(name.value()) {
                each(Record::SecretId {
                    secret_id: secret_id.to_owned(),
                    account: account.value(),
                })?;
            }
        }
        for entry in txn
            .open_table(SETTINGS)
            .map_err(backend)?
            .iter()
            .map_err(backend)?
        {
            let (name, value) = entry.map_err(backend)?;
            each(Record::Setting {
                name: name.value().to_owned(),
                value: value.value().to_vec(),
            })?;
        }
        for entry in txn
            .open_table(KEYS.records)
            .map_err(backend)?
            .iter()
            .map_err(backend)?
        {
            each(Record::Key(decode(entry.map_err(backend)?.1.value())?))?;
        }
        let data_keys = txn.open_table(DATA_KEYS.records).map_err(backend)?;
        for entry in data_keys.iter().map_err(backend)? {
            each(Record::DataKey(decode(entry.map_err(backend)?.1.value())?))?;
        }
        for grant in self.every_grant(&txn)? {
            each(Record::Grant(grant))?;
        }
        Ok(())
    }
}
