//! The identity document (users, credentials, policies) in one record, replaced by revision.

use redb::{ReadableTable as _, TableDefinition};

use kms_core::identity::Identity;
use kms_core::store::StoreError;

use super::{ACCOUNT_NAMES, ACCOUNTS, EmbeddedStore, WriteTxn, backend, decode, encode};

/// One row: [`DOCUMENT`] → the identity document (JSON).
pub(super) const IDENTITY: TableDefinition<&str, &[u8]> = TableDefinition::new("identity");
pub(super) const DOCUMENT: &str = "document";

const SECRET_PREFIX: &str = "secret:";

/// The name under which [`ACCOUNT_NAMES`] reserves a secret id.
pub(super) fn secret_name(secret_id: &str) -> String {
    format!("{SECRET_PREFIX}{secret_id}")
}

/// The secret id a name of [`ACCOUNT_NAMES`] reserves, if it reserves one.
pub(super) fn secret_of_name(name: &str) -> Option<&str> {
    name.strip_prefix(SECRET_PREFIX)
}

impl EmbeddedStore {
    pub(super) fn read_identity(&self) -> Result<Identity, StoreError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(IDENTITY).map_err(backend)?;
        match table.get(DOCUMENT).map_err(backend)? {
            Some(v) => decode(v.value()),
            None => Ok(Identity::default()),
        }
    }

    pub(super) fn write_identity(&self, expected: u64, next: &Identity) -> Result<(), StoreError> {
        let next = next.clone();
        self.write(move |txn| replace(txn, expected, &next))
    }
}

/// Replaces the document if its revision is still `expected`, reserving each new secret id.
fn replace(txn: &WriteTxn, expected: u64, next: &Identity) -> Result<(), StoreError> {
    let mut table = txn.open_table(IDENTITY).map_err(backend)?;
    let current: Identity = match table.get(DOCUMENT).map_err(backend)? {
        Some(v) => decode(v.value())?,
        None => Identity::default(),
    };
    if current.revision != expected {
        return Err(StoreError::Conflict);
    }
    let accounts = txn.open_table(ACCOUNTS).map_err(backend)?;
    let mut names = txn.open_table(ACCOUNT_NAMES).map_err(backend)?;
    for (id, credential) in &next.credentials {
        if current.credentials.contains_key(id) {
            continue;
        }
        let name = secret_name(id);
        let owner = names
            .get(name.as_str())
            .map_err(backend)?
            .map(|v| v.value());
        match owner {
            None => {
                names
                    .insert(name.as_str(), credential.account)
                    .map_err(backend)?;
            }
            // An account's creation credential was reserved with the account.
            Some(uin) if uin == credential.account => {
                let account = accounts.get(uin).map_err(backend)?;
                let own_first = match account {
                    Some(v) => decode::<kms_core::Account>(v.value())?.secret_id == *id,
                    None => false,
                };
                if !own_first {
                    return Err(StoreError::AlreadyExists);
                }
            }
            Some(_) => return Err(StoreError::AlreadyExists),
        }
    }
    let mut stored = next.clone();
    stored.revision = expected + 1;
    table
        .insert(DOCUMENT, encode(&stored)?.as_slice())
        .map_err(backend)?;
    Ok(())
}
