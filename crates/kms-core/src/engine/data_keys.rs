//! Hosted data keys: data keys the service keeps for the customer, sealed under a CMK.

use uuid::Uuid;
use zeroize::Zeroizing;

use super::*;

/// Names and labels of a new hosted data key.
#[derive(Debug, Clone)]
pub struct NewDataKey {
    pub name: String,
    pub description: String,
    pub tags: Vec<Tag>,
    /// The HSM cluster the caller says the CMK is in (Tencent's `HsmClusterId`); `None` to
    /// take the CMK wherever it is.
    pub expected_hsm_cluster: Option<String>,
}

/// Refuses a CMK outside the HSM cluster the caller named, if it named one.
pub fn require_hsm_cluster(expected: Option<&str>, actual: Option<&str>) -> Result<(), KmsError> {
    match expected {
        Some(expected) if actual != Some(expected) => Err(KmsError::HsmClusterMismatch),
        _ => Ok(()),
    }
}

/// What ImportDataKey brings.
pub enum DataKeyImport<'a> {
    /// A ciphertext blob from GenerateDataKey: its CMK is the one it names.
    Ciphertext(&'a [u8]),
    /// The data key in plaintext, to seal under the given CMK.
    Plaintext {
        key_id: &'a str,
        plaintext: &'a [u8],
    },
}

/// A data key sealed under its CMK, ready to keep.
struct SealedDataKey {
    key_id: Uuid,
    hsm_cluster: Option<String>,
    blob: Vec<u8>,
    context: EncryptionContext,
    origin: Origin,
    len: usize,
}

/// Parses a data key id in the canonical hyphenated UUID form.
pub fn parse_data_key_id(s: &str) -> Result<Uuid, KmsError> {
    parse_key_id(s).map_err(|_| KmsError::InvalidDataKeyId)
}

fn require_data_key_state(
    dk: &DataKeyRecord,
    op: Operation,
    allowed: &[DataKeyState],
) -> Result<(), KmsError> {
    if allowed.contains(&dk.state) {
        Ok(())
    } else {
        Err(KmsError::InvalidDataKeyState {
            state: dk.state,
            op,
        })
    }
}

fn data_key_store_error(e: StoreError) -> KmsError {
    match e {
        StoreError::NameTaken => KmsError::DataKeyNameExists,
        // Only a chosen id can be in use.
        StoreError::AlreadyExists => {
            KmsError::invalid("DataKeyId", "a data key with this id exists")
        }
        StoreError::LimitReached => KmsError::DataKeyLimitExceeded,
        other => other.into(),
    }
}

impl Engine {
    /// GenerateDataKey with hosting: the data key is also kept, under `new.name`.
    pub fn generate_hosted_data_key(
        &self,
        caller: &Caller,
        key_id: &str,
        len: usize,
        context: &EncryptionContext,
        new: NewDataKey,
    ) -> Result<(DataKey, Uuid), KmsError> {
        let data_key = self.generate_data_key(caller, key_id, len, context)?;
        let sealed = SealedDataKey {
            key_id: data_key.key_id,
            hsm_cluster: data_key.hsm_cluster.clone(),
            blob: data_key.blob.clone(),
            context: context.clone(),
            origin: Origin::Kms,
            len,
        };
        let id = self.host_data_key(caller, new, sealed, Uuid::now_v7())?;
        Ok((data_key, id))
    }

    /// ImportDataKey: keeps a data key brought as a ciphertext of ours or as plaintext.
    /// `expected_key_id`, when given with a ciphertext, must name the ciphertext's CMK.
    pub fn import_data_key(
        &self,
        caller: &Caller,
        material: DataKeyImport<'_>,
        expected_key_id: Option<&str>,
        new: NewDataKey,
    ) -> Result<DataKeyRecord, KmsError> {
        self.import_data_key_as(caller, material, expected_key_id, new, Uuid::now_v7())
    }

    /// ImportDataKey of a plaintext under a chosen data key id: `kmsd dev`'s fixtures.
    pub fn import_fixed_data_key(
        &self,
        caller: &Caller,
        key_id: &str,
        plaintext: &[u8],
        new: NewDataKey,
        data_key_id: Uuid,
    ) -> Result<DataKeyRecord, KmsError> {
        let material = DataKeyImport::Plaintext { key_id, plaintext };
        self.import_data_key_as(caller, material, None, new, data_key_id)
    }

    fn import_data_key_as(
        &self,
        caller: &Caller,
        material: DataKeyImport<'_>,
        expected_key_id: Option<&str>,
        new: NewDataKey,
        data_key_id: Uuid,
    ) -> Result<DataKeyRecord, KmsError> {
        let (key_id, blob, origin, len) = match material {
            DataKeyImport::Ciphertext(blob) => {
                let (header, _) = ciphertext::decode(blob).ok_or(KmsError::InvalidCiphertext)?;
                if let Some(expected) = expected_key_id
                    && parse_key_id(expected)? != header.key_id
                {
                    return Err(KmsError::KeyIdMismatch);
                }
                let (key_id, plaintext) =
                    self.decrypt(caller, blob, &EncryptionContext::default())?;
                check_range(
                    Bounded::DataKeyLength,
                    plaintext.len() as u64,
                    DATA_KEY_BYTES,
                )?;
                (key_id, blob.to_vec(), Origin::Kms, plaintext.len())
            }
            DataKeyImport::Plaintext { key_id, plaintext } => {
                check_range(
                    Bounded::DataKeyLength,
                    plaintext.len() as u64,
                    DATA_KEY_BYTES,
                )?;
                let (key_id, blob) =
                    self.encrypt(caller, key_id, plaintext, &EncryptionContext::default())?;
                (key_id, blob, Origin::External, plaintext.len())
            }
        };
        // The CMK that sealed it, for its cluster (which never changes).
        let hsm_cluster = self.load(caller, key_id)?.hsm_cluster;
        let sealed = SealedDataKey {
            key_id,
            hsm_cluster,
            blob,
            context: EncryptionContext::default(),
            origin,
            len,
        };
        let id = self.host_data_key(caller, new, sealed, data_key_id)?;
        self.load_data_key(caller, id)
    }

    fn host_data_key(
        &self,
        caller: &Caller,
        new: NewDataKey,
        sealed: SealedDataKey,
        data_key_id: Uuid,
    ) -> Result<Uuid, KmsError> {
        let SealedDataKey {
            key_id,
            hsm_cluster,
            blob,
            context,
            origin,
            len,
        } = sealed;
        require_hsm_cluster(new.expected_hsm_cluster.as_deref(), hsm_cluster.as_deref())?;
        check_labels(&new.name, &new.description, &new.tags)?;
        let record = DataKeyRecord {
            data_key_id,
            account: caller.account,
            region: caller.region.clone(),
            name: new.name,
            description: new.description,
            key_id,
            created_at: self.now(),
            creator: caller.account,
            state: DataKeyState::Enabled,
            deletion_date: 0,
            origin,
            length: u32::try_from(len).map_err(|_| KmsError::invalid("data key", "too long"))?,
            blob,
            context,
            tags: new.tags,
            revision: 1,
            hsm_cluster,
        };
        self.store
            .create_data_key(&record, self.config.max_data_keys_per_region)
            .map_err(data_key_store_error)?;
        Ok(record.data_key_id)
    }

    pub fn describe_data_key(&self, caller: &Caller, id: &str) -> Result<DataKeyRecord, KmsError> {
        self.load_data_key(caller, parse_data_key_id(id)?)
    }

    /// The data keys among `ids` that exist; malformed or repeated ids are refused.
    pub fn describe_data_keys(
        &self,
        caller: &Caller,
        ids: &[String],
    ) -> Result<Vec<DataKeyRecord>, KmsError> {
        let ids = parse_distinct(ids, parse_data_key_id, KmsError::DuplicatedDataKeyId)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match self.load_data_key(caller, id) {
                Ok(dk) => out.push(dk),
                Err(KmsError::DataKeyNotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The total number of matching data keys, and the requested page of them. Data keys whose
    /// purge is due are left out of the page; until the sweep purges them the total still
    /// counts them.
    pub fn list_data_keys(
        &self,
        caller: &Caller,
        f: &DataKeyListFilter,
    ) -> Result<(usize, Vec<DataKeyRecord>), KmsError> {
        let now = self.now();
        let listed = self
            .store
            .list_data_keys(caller.account, &caller.region, f)?;
        let page = listed
            .page
            .into_iter()
            .filter(|dk| dk.next_due_time().is_none_or(|t| now < t))
            .collect();
        Ok((usize::try_from(listed.total).unwrap_or(usize::MAX), page))
    }

    pub fn count_data_keys(&self, caller: &Caller) -> Result<u64, KmsError> {
        Ok(self.store.count_data_keys(caller.account, &caller.region)?)
    }

    pub fn enable_data_key(&self, caller: &Caller, id: &str) -> Result<(), KmsError> {
        self.set_data_key_states(caller, &[id.to_owned()], Operation::Enable)
    }

    pub fn disable_data_key(&self, caller: &Caller, id: &str) -> Result<(), KmsError> {
        self.set_data_key_states(caller, &[id.to_owned()], Operation::Disable)
    }

    /// Enables every listed data key, or none: all change in one store transaction.
    pub fn enable_data_keys(&self, caller: &Caller, ids: &[String]) -> Result<(), KmsError> {
        self.set_data_key_states(caller, ids, Operation::Enable)
    }

    /// Disables every listed data key, or none: all change in one store transaction.
    pub fn disable_data_keys(&self, caller: &Caller, ids: &[String]) -> Result<(), KmsError> {
        self.set_data_key_states(caller, ids, Operation::Disable)
    }

    fn set_data_key_states(
        &self,
        caller: &Caller,
        ids: &[String],
        op: Operation,
    ) -> Result<(), KmsError> {
        let ids = parse_distinct(ids, parse_data_key_id, KmsError::DuplicatedDataKeyId)?;
        let to = if op == Operation::Enable {
            DataKeyState::Enabled
        } else {
            DataKeyState::Disabled
        };
        let allowed = [DataKeyState::Enabled, DataKeyState::Disabled];
        // Data key locks come before key locks (enabling reads the CMK), never the reverse.
        self.mutate_resources(caller, &ids, |dk: &mut DataKeyRecord| {
            require_data_key_state(dk, op, &allowed)?;
            if op == Operation::Enable {
                self.require_usable_cmk(caller, dk)?;
            }
            dk.state = to;
            Ok(())
        })
    }

    /// Schedules the data key's purge `days` days from now; returns the deletion date.
    pub fn schedule_data_key_deletion(
        &self,
        caller: &Caller,
        id: &str,
        days: u32,
    ) -> Result<u64, KmsError> {
        check_range(Bounded::PendingWindow, days.into(), PENDING_WINDOW_DAYS)?;
        self.mutate_data_key(caller, parse_data_key_id(id)?, |dk, now| {
            require_data_key_state(
                dk,
                Operation::ScheduleDeletion,
                &[DataKeyState::Enabled, DataKeyState::Disabled],
            )?;
            dk.state = DataKeyState::PendingDelete;
            dk.deletion_date = now + u64::from(days) * SECONDS_PER_DAY;
            Ok(dk.deletion_date)
        })
    }

    /// Cancels a scheduled deletion: the data key returns Disabled, as a CMK does. Its CMK
    /// must still be usable, and the data key counts toward the limit again.
    pub fn cancel_data_key_deletion(&self, caller: &Caller, id: &str) -> Result<(), KmsError> {
        let id = parse_data_key_id(id)?;
        let dk = self.load_data_key(caller, id)?;
        require_data_key_state(
            &dk,
            Operation::CancelDeletion,
            &[DataKeyState::PendingDelete],
        )?;
        self.require_usable_cmk(caller, &dk)?;
        self.mutate_data_key(caller, id, |dk, _| {
            require_data_key_state(
                dk,
                Operation::CancelDeletion,
                &[DataKeyState::PendingDelete],
            )?;
            dk.state = DataKeyState::Disabled;
            dk.deletion_date = 0;
            Ok(())
        })
    }

    /// The data key's plaintext: needs the data key Enabled and its CMK able to decrypt.
    pub fn data_key_plaintext(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let dk = self.usable_data_key(caller, id)?;
        Ok(self.decrypt(caller, &dk.blob, &dk.context)?.1)
    }

    /// The data key's ciphertext blob under its CMK, as GenerateDataKey returned it.
    pub fn data_key_ciphertext(&self, caller: &Caller, id: &str) -> Result<Vec<u8>, KmsError> {
        let dk = self.load_data_key(caller, parse_data_key_id(id)?)?;
        require_data_key_state(&dk, Operation::GetCiphertext, &[DataKeyState::Enabled])?;
        Ok(dk.blob)
    }

    fn usable_data_key(&self, caller: &Caller, id: &str) -> Result<DataKeyRecord, KmsError> {
        let dk = self.load_data_key(caller, parse_data_key_id(id)?)?;
        require_data_key_state(&dk, Operation::Decrypt, &[DataKeyState::Enabled])?;
        Ok(dk)
    }

    /// A data key is enabled again (or restored) only while its CMK exists and is Enabled; the
    /// refusal names the CMK's state as one that does not allow enabling.
    fn require_usable_cmk(&self, caller: &Caller, dk: &DataKeyRecord) -> Result<(), KmsError> {
        require_state(
            &self.load(caller, dk.key_id)?,
            Operation::Enable,
            &[KeyState::Enabled],
        )
    }

    pub fn rename_data_key(&self, caller: &Caller, id: &str, name: String) -> Result<(), KmsError> {
        check_labels(&name, "", &[])?;
        self.mutate_data_key(caller, parse_data_key_id(id)?, |dk, _| {
            require_data_key_state(
                dk,
                Operation::UpdateAlias,
                &[DataKeyState::Enabled, DataKeyState::Disabled],
            )?;
            dk.name = name.clone();
            Ok(())
        })
    }

    pub fn update_data_key_description(
        &self,
        caller: &Caller,
        id: &str,
        description: String,
    ) -> Result<(), KmsError> {
        check_labels("", &description, &[])?;
        self.mutate_data_key(caller, parse_data_key_id(id)?, |dk, _| {
            require_data_key_state(
                dk,
                Operation::UpdateDescription,
                &[DataKeyState::Enabled, DataKeyState::Disabled],
            )?;
            dk.description = description.clone();
            Ok(())
        })
    }

    /// Loads a data key of the caller's, purging it if its deletion date has passed.
    pub(super) fn load_data_key(
        &self,
        caller: &Caller,
        id: Uuid,
    ) -> Result<DataKeyRecord, KmsError> {
        self.load_resource(caller, id)
    }

    /// Read-modify-write of one data key under its write lock.
    fn mutate_data_key<T>(
        &self,
        caller: &Caller,
        id: Uuid,
        f: impl Fn(&mut DataKeyRecord, u64) -> Result<T, KmsError>,
    ) -> Result<T, KmsError> {
        self.mutate_resource(caller, id, f)
    }
}

impl Resource for DataKeyRecord {
    fn not_found() -> KmsError {
        KmsError::DataKeyNotFound
    }
    const GRANTABLE: bool = false;
    /// Policies name keys, not hosted data keys: the dialect asks about the account's keys as a
    /// whole for the data key calls, and the engine asks about the data key's CMK whenever it
    /// loads it.
    fn authorize(_: &Caller, _: &Uuid) -> Result<(), KmsError> {
        Ok(())
    }
    fn locks(engine: &Engine) -> &WriteLocks {
        &engine.data_key_locks
    }
    fn get(store: &dyn Store, id: &Uuid) -> Result<Option<Self>, StoreError> {
        store.get_data_key(id)
    }
    fn update(engine: &Engine, records: &[Self]) -> Result<(), StoreError> {
        engine
            .store
            .update_data_keys(records, engine.config.max_data_keys_per_region)
    }
    fn store_error(e: StoreError) -> KmsError {
        data_key_store_error(e)
    }
    fn bump_revision(&mut self) {
        self.revision += 1;
    }
    /// A data key's only transition is its purge after the deletion date.
    fn apply_due(engine: &Engine, record: &mut Self) -> Result<Due, KmsError> {
        match engine.store.delete_data_key(record) {
            Ok(()) => {
                tracing::info!(data_key_id = %record.data_key_id, "purged data key past its deletion date");
                Ok(Due::Purged)
            }
            Err(StoreError::Conflict) => Ok(Due::Raced),
            Err(e) => Err(e.into()),
        }
    }
}
