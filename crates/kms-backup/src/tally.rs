//! What a stream of records holds, and the rules of its order, shared by the backup's writer and
//! reader and by `kmsd store copy`.

use serde::{Deserialize, Serialize};

use kms_core::store::{ROOT_KEY_CHECK, Record};

use crate::{BackupError, malformed};

/// How many items of each kind a store handed out.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    pub accounts: u64,
    pub identity: u64,
    pub secret_ids: u64,
    pub settings: u64,
    pub keys: u64,
    pub data_keys: u64,
    pub grants: u64,
}

impl Counts {
    pub fn add(&mut self, record: &Record) {
        let count = match record {
            Record::Account(_) => &mut self.accounts,
            Record::Identity(_) => &mut self.identity,
            Record::SecretId { .. } => &mut self.secret_ids,
            Record::Setting { .. } => &mut self.settings,
            Record::Key(_) => &mut self.keys,
            Record::DataKey(_) => &mut self.data_keys,
            Record::Grant(_) => &mut self.grants,
        };
        *count = count.saturating_add(1);
    }

    pub fn total(&self) -> u64 {
        [
            self.accounts,
            self.identity,
            self.secret_ids,
            self.settings,
            self.keys,
            self.data_keys,
            self.grants,
        ]
        .iter()
        .fold(0, |sum, n| sum.saturating_add(*n))
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} accounts, {} keys, {} data keys, {} grants, {} reserved secret ids, {} settings \
             and {} identity document",
            self.accounts,
            self.keys,
            self.data_keys,
            self.grants,
            self.secret_ids,
            self.settings,
            self.identity
        )
    }
}

/// Where a kind of record comes in [`kms_core::Store::export`]'s order, which is the order
/// [`kms_core::Store::import`] needs (a grant after its key).
fn rank(record: &Record) -> u8 {
    match record {
        Record::Account(_) => 0,
        Record::Identity(_) => 1,
        Record::SecretId { .. } => 2,
        Record::Setting { .. } => 3,
        Record::Key(_) => 4,
        Record::DataKey(_) => 5,
        Record::Grant(_) => 6,
    }
}

/// Counts records and checks their order, and that the root key's check value among them is the
/// header's.
pub(crate) struct Tally {
    pub(crate) counts: Counts,
    rank: u8,
    root_key_check: Option<String>,
    saw_root_key_check: bool,
}

impl Tally {
    pub(crate) fn new(root_key_check: Option<String>) -> Self {
        Self {
            counts: Counts::default(),
            rank: 0,
            root_key_check,
            saw_root_key_check: false,
        }
    }

    pub(crate) fn admit(&mut self, record: &Record) -> Result<(), BackupError> {
        let rank = rank(record);
        if rank < self.rank {
            return Err(malformed(format!(
                "record {} is out of order",
                self.counts.total().saturating_add(1)
            )));
        }
        if matches!(record, Record::Identity(_)) && self.counts.identity > 0 {
            return Err(malformed("more than one identity document"));
        }
        if let Record::Setting { name, value } = record
            && name == ROOT_KEY_CHECK
        {
            if self.root_key_check.as_deref().map(str::as_bytes) != Some(value.as_slice()) {
                return Err(malformed(
                    "the root key check value among the records is not the header's",
                ));
            }
            self.saw_root_key_check = true;
        }
        self.rank = rank;
        self.counts.add(record);
        Ok(())
    }

    /// At the end: a check value the header names was among the records.
    pub(crate) fn complete(&self) -> Result<(), BackupError> {
        if self.root_key_check.is_some() && !self.saw_root_key_check {
            return Err(malformed(
                "the header names a root key check value that no record holds",
            ));
        }
        Ok(())
    }
}
