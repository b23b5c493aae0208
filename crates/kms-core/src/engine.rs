//! The engine: every KMS operation, over a [`Store`], a [`Seal`] and a [`Clock`].
//!
//! Time-driven transitions (purge after the deletion date, automatic rotation) are applied when a
//! key is read, so every request sees them exactly on time, and by [`Engine::run_due_work`] in the
//! background. Both paths are idempotent: the store's revision check makes concurrent nodes agree.
//!
//! Every write of a resource (and every due transition) runs under that resource's write lock
//! (see `writes.rs`); pure reads take no lock.

use std::collections::{HashMap, HashSet};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use uuid::Uuid;
use zeroize::Zeroizing;

use kms_crypto::provider::{CryptoProvider, Software};
use kms_crypto::random;

use crate::accounts::Authority;
use crate::ciphertext;
use crate::clock::Clock;
use crate::context::EncryptionContext;
use crate::error::{Bounded, KmsError, Operation};
use crate::model::*;
use crate::seal::Seal;
pub use crate::store::{DataKeyListFilter, HsmClusterFilter, KeyListFilter, SortOrder};
use crate::store::{Store, StoreError};

const SECONDS_PER_DAY: u64 = 86_400;
/// Automatic rotation period in days (Tencent EnableKeyRotation RotateDays: 7 to 365).
pub const ROTATION_DAYS: RangeInclusive<u64> = 7..=365;
/// Days between scheduling a deletion and the purge (Tencent: 7 to 30; Huawei: 7 to 1096).
pub const PENDING_WINDOW_DAYS: RangeInclusive<u64> = 7..=1096;
/// Bytes of a data key (Tencent GenerateDataKey NumberOfBytes: 1 to 1024).
pub const DATA_KEY_BYTES: RangeInclusive<u64> = 1..=1024;
/// Bytes of GenerateRandom (Tencent NumberOfBytes: 1 to 1024).
pub const RANDOM_BYTES: RangeInclusive<u64> = 1..=1024;
/// Bytes of plaintext one Encrypt takes (at most 4 KiB for both vendors).
pub const PLAINTEXT_BYTES: RangeInclusive<u64> = 0..=4096;
/// Ids in one batch (Tencent: at most 100 KeyIds or DataKeyIds).
pub const BATCH_IDS: RangeInclusive<u64> = 1..=100;
/// Tags on one resource (Tencent: 50; a dialect may allow fewer).
pub const TAGS: RangeInclusive<u64> = 0..=50;
/// Bytes of an alias or data key name (Tencent: 60 characters; Huawei key aliases: up to 255).
pub const NAME_BYTES: RangeInclusive<u64> = 0..=255;
/// Bytes of a description (Tencent: 1024 bytes for a key, 100 for a data key).
pub const DESCRIPTION_BYTES: RangeInclusive<u64> = 0..=1024;

/// Most due keys a listing settles before it reads the store's indexes.
const DUE_KEYS_SETTLED_PER_LISTING: usize = 1024;

/// Settings the engine enforces.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Most keys one account may hold in one region.
    pub max_keys_per_region: u64,
    /// Most hosted data keys one account may hold in one region.
    pub max_data_keys_per_region: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_keys_per_region: 200_000,
            max_data_keys_per_region: 100_000,
        }
    }
}

/// Who is calling, and where: the principal (the account and the credential the request was
/// signed with) and the region every key operation is scoped to. Whether the principal may touch
/// a resource is decided in one place, `access.rs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account: AccountId,
    /// The user inside the account who signed the request (Huawei's user id, Tencent's
    /// sub-account UIN); `None` is the account's root.
    pub user: Option<String>,
    /// The credential (Tencent SecretId, Huawei AK) the request was signed with.
    pub credential: String,
    pub region: String,
    /// A user's policies for this call, asked about every key the engine resolves for it;
    /// `None` for the account's root and the engine's own work, which are not evaluated.
    pub authority: Option<Arc<Authority>>,
}

/// Which keys may be scheduled for deletion: Tencent asks for a disabled key (or one waiting
/// for imported material); Huawei also schedules an enabled one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletableFrom {
    Disabled,
    EnabledOrDisabled,
}

/// Parameters of a new key.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub alias: String,
    pub description: String,
    pub usage: KeyUsage,
    pub spec: KeySpec,
    pub origin: Origin,
    pub tags: Vec<Tag>,
    /// The HSM cluster whose token makes and holds the key's material; `None` for software.
    pub hsm_cluster: Option<String>,
}

/// A data key: its CMK, its plaintext, and its ciphertext blob under the CMK.
pub struct DataKey {
    pub key_id: Uuid,
    /// The CMK's HSM cluster, `None` outside every cluster.
    pub hsm_cluster: Option<String>,
    pub plaintext: Zeroizing<Vec<u8>>,
    pub blob: Vec<u8>,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// The result of ReEncrypt.
#[derive(Debug)]
pub struct ReEncrypted {
    pub blob: Vec<u8>,
    pub key_id: Uuid,
    pub source_key_id: Uuid,
    pub re_encrypted: bool,
}

pub struct Engine {
    store: Arc<dyn Store>,
    seal: Arc<dyn Seal>,
    crypto: Arc<dyn CryptoProvider>,
    /// The providers of HSM clusters, by cluster id: keys created in one are made and used there.
    hsm_clusters: HashMap<String, Arc<dyn CryptoProvider>>,
    clock: Arc<dyn Clock>,
    config: EngineConfig,
    material: MaterialCache,
    key_locks: WriteLocks,
    data_key_locks: WriteLocks,
    /// How long a write retries after losing to another node.
    retry_budget: Duration,
    /// Set when a commit erased sealed material, whose bytes then linger in the store's free
    /// space until [`Engine::run_owed_scrub`] overwrites them.
    scrub_owed: AtomicBool,
    /// Held while a scrub runs: at most one at a time.
    scrubbing: Mutex<()>,
}

impl Engine {
    pub fn new(
        store: Arc<dyn Store>,
        seal: Arc<dyn Seal>,
        clock: Arc<dyn Clock>,
        config: EngineConfig,
    ) -> Self {
        Self {
            store,
            seal,
            crypto: Arc::new(Software),
            hsm_clusters: HashMap::new(),
            clock,
            config,
            material: Mutex::new(HashMap::new()),
            key_locks: WriteLocks::new(),
            data_key_locks: WriteLocks::new(),
            retry_budget: writes::RETRY_BUDGET,
            // An erasure committed just before the previous process stopped may not have been
            // scrubbed yet: the first background run after start scrubs once.
            scrub_owed: AtomicBool::new(true),
            scrubbing: Mutex::new(()),
        }
    }

    /// Uses `crypto` for every operation on key material instead of the software provider.
    pub fn with_crypto(mut self, crypto: Arc<dyn CryptoProvider>) -> Self {
        self.crypto = crypto;
        self
    }

    /// Serves the HSM cluster `id`: keys created with it are generated and used by `crypto`.
    pub fn with_hsm_cluster(mut self, id: &str, crypto: Arc<dyn CryptoProvider>) -> Self {
        self.hsm_clusters.insert(id.to_owned(), crypto);
        self
    }

    /// The ids of the HSM clusters this node serves, in order.
    pub fn hsm_cluster_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.hsm_clusters.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }

    pub fn has_hsm_cluster(&self, id: &str) -> bool {
        self.hsm_clusters.contains_key(id)
    }

    /// The provider of an existing key's material. A key whose HSM cluster this node does not
    /// serve (started without its `--hsm-cluster`) is unavailable, not invalid: another node,
    /// or this one restarted with the cluster, serves it.
    pub(crate) fn key_provider(&self, key: &KeyRecord) -> Result<&dyn CryptoProvider, KmsError> {
        self.provider(key.hsm_cluster.as_deref())
            .map_err(|_| KmsError::Unavailable)
    }

    /// The provider of a new key's material: its HSM cluster's, or the software one.
    pub(crate) fn provider(
        &self,
        hsm_cluster: Option<&str>,
    ) -> Result<&dyn CryptoProvider, KmsError> {
        match hsm_cluster {
            None => Ok(self.crypto.as_ref()),
            Some(id) => self
                .hsm_clusters
                .get(id)
                .map(|p| p.as_ref())
                .ok_or_else(|| KmsError::InvalidParameter {
                    field: "HsmClusterId",
                    reason: format!("this server serves no HSM cluster {id:?}"),
                }),
        }
    }

    /// Owes no scrub at start: for a store whose previous process stopped with every erasure
    /// scrubbed and that nothing changed since (no crash, no other writer). Without this, the
    /// engine scrubs once after start, which on a large embedded store rewrites the whole file.
    pub fn scrubbed_before_start(self) -> Self {
        self.scrub_owed.store(false, Ordering::Release);
        self
    }

    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    // ---- key lifecycle ----

    pub fn create_key(&self, caller: &Caller, new: NewKey) -> Result<KeyRecord, KmsError> {
        // Version 7 ids sort by creation time, so listings keep creation order within a second.
        self.create_fixed_key(caller, new, Uuid::now_v7(), None)
    }

    /// A key with a chosen id and, for a key of this service's origin, chosen material (in the
    /// form key material import takes): `kmsd dev`'s fixtures, so ciphertext made in one run
    /// decrypts in the next. Without material the key's is generated as for [`Self::create_key`].
    pub fn create_fixed_key(
        &self,
        caller: &Caller,
        new: NewKey,
        key_id: Uuid,
        material: Option<&[u8]>,
    ) -> Result<KeyRecord, KmsError> {
        check_labels(&new.alias, &new.description, &new.tags)?;
        if !new.usage.allows(new.spec) {
            return Err(KmsError::UsageNotAllowed {
                usage: new.usage,
                spec: new.spec,
            });
        }
        let now = self.now();
        let provider = self.provider(new.hsm_cluster.as_deref())?;
        let (state, versions) = match (new.origin, material) {
            (Origin::Kms, None) => (
                KeyState::Enabled,
                vec![self.new_version(provider, key_id, 1, new.spec, now)?],
            ),
            (Origin::Kms, Some(_)) if new.hsm_cluster.is_some() => {
                return Err(KmsError::InvalidParameter {
                    field: "HsmClusterId",
                    reason: "a key with chosen material cannot live in an HSM cluster".into(),
                });
            }
            (Origin::Kms, Some(material)) => (
                KeyState::Enabled,
                vec![self.imported_version(key_id, 1, new.spec, material, now)?],
            ),
            // Material brought in would have been outside the HSM.
            (Origin::External, _) if new.hsm_cluster.is_some() => {
                return Err(KmsError::InvalidParameter {
                    field: "HsmClusterId",
                    reason: "keys of imported material cannot live in an HSM cluster".into(),
                });
            }
            (Origin::External, None) => (KeyState::PendingImport, Vec::new()),
            (Origin::External, Some(_)) => {
                return Err(KmsError::invalid(
                    "material",
                    "material of an EXTERNAL key arrives through the import, as a customer's",
                ));
            }
        };
        let key = KeyRecord {
            key_id,
            account: caller.account,
            region: caller.region.clone(),
            alias: new.alias,
            aliases: Vec::new(),
            description: new.description,
            created_at: now,
            creator: caller.account,
            state,
            usage: new.usage,
            spec: new.spec,
            origin: new.origin,
            rotation: RotationPolicy::default(),
            last_rotate_time: 0,
            deletion_date: 0,
            tags: new.tags,
            versions,
            revision: 1,
            valid_to: 0,
            fingerprint: None,
            import_parameters: Vec::new(),
            cloud_resources: Vec::new(),
            hsm_cluster: new.hsm_cluster,
        };
        self.store
            .create_key(&key, self.config.max_keys_per_region)
            .map_err(|e| match e {
                StoreError::AlreadyExists => {
                    KmsError::invalid("KeyId", format!("a key with id {key_id} exists"))
                }
                other => other.into(),
            })?;
        Ok(key)
    }

    pub fn describe_key(&self, caller: &Caller, key_id: &str) -> Result<KeyRecord, KmsError> {
        self.load(caller, parse_key_id(key_id)?)
    }

    /// The keys among `key_ids` that exist; malformed or repeated ids are refused.
    pub fn describe_keys(
        &self,
        caller: &Caller,
        key_ids: &[String],
    ) -> Result<Vec<KeyRecord>, KmsError> {
        let ids = parse_distinct_key_ids(key_ids)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match self.load(caller, id) {
                Ok(k) => out.push(k),
                Err(KmsError::KeyNotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The total number of matching keys, and the requested page of them. The store filters on
    /// stored states, so transitions due in the caller's scope are persisted first (among the
    /// first 1024 due keys of the store, which the background sweep keeps short; other scopes'
    /// keys load as not found, and one that cannot be settled now is listed as stored). A key
    /// that falls due past that is shown as of now on the page, and dropped from it once
    /// purgeable, while the total may still count it until the sweep purges it.
    pub fn list_keys(
        &self,
        caller: &Caller,
        filter: &KeyListFilter,
    ) -> Result<(usize, Vec<KeyRecord>), KmsError> {
        let now = self.now();
        for key_id in self.store.due_keys(now, DUE_KEYS_SETTLED_PER_LISTING)? {
            match self.load(caller, key_id) {
                Ok(_) | Err(KmsError::KeyNotFound) => {}
                Err(e) => {
                    tracing::warn!(key_id = %key_id, error = %e, "due work before a listing failed")
                }
            }
        }
        let listed = self
            .store
            .list_keys(caller.account, &caller.region, filter)?;
        let page = listed
            .page
            .into_iter()
            .filter_map(|k| as_of(k, now))
            .collect();
        Ok((usize::try_from(listed.total).unwrap_or(usize::MAX), page))
    }

    pub fn count_keys(&self, caller: &Caller) -> Result<u64, KmsError> {
        Ok(self.store.count_keys(caller.account, &caller.region)?)
    }

    pub fn enable_key(&self, caller: &Caller, key_id: &str) -> Result<(), KmsError> {
        self.mutate(caller, parse_key_id(key_id)?, |k, _| {
            set_state(
                k,
                Operation::Enable,
                &[KeyState::Disabled],
                KeyState::Enabled,
            )
        })
    }

    pub fn disable_key(&self, caller: &Caller, key_id: &str) -> Result<(), KmsError> {
        self.mutate(caller, parse_key_id(key_id)?, |k, _| {
            set_state(
                k,
                Operation::Disable,
                &[KeyState::Enabled],
                KeyState::Disabled,
            )
        })
    }

    /// Enables every listed key, or none: all change in one store transaction.
    pub fn enable_keys(&self, caller: &Caller, key_ids: &[String]) -> Result<(), KmsError> {
        self.batch_state(caller, key_ids, Operation::Enable)
    }

    /// Disables every listed key, or none: all change in one store transaction.
    pub fn disable_keys(&self, caller: &Caller, key_ids: &[String]) -> Result<(), KmsError> {
        self.batch_state(caller, key_ids, Operation::Disable)
    }

    fn batch_state(
        &self,
        caller: &Caller,
        key_ids: &[String],
        op: Operation,
    ) -> Result<(), KmsError> {
        let ids = parse_distinct_key_ids(key_ids)?;
        let (from, to) = match op {
            Operation::Enable => (KeyState::Disabled, KeyState::Enabled),
            _ => (KeyState::Enabled, KeyState::Disabled),
        };
        self.mutate_resources(caller, &ids, |k: &mut KeyRecord| {
            set_state(k, op, &[from], to)
        })
    }

    pub fn update_alias(
        &self,
        caller: &Caller,
        key_id: &str,
        alias: String,
    ) -> Result<(), KmsError> {
        check_labels(&alias, "", &[])?;
        self.mutate(caller, parse_key_id(key_id)?, |k, _| {
            refuse_pending_delete(k, Operation::UpdateAlias)?;
            k.alias = alias.clone();
            Ok(())
        })
    }

    pub fn update_description(
        &self,
        caller: &Caller,
        key_id: &str,
        description: String,
    ) -> Result<(), KmsError> {
        check_labels("", &description, &[])?;
        self.mutate(caller, parse_key_id(key_id)?, |k, _| {
            refuse_pending_delete(k, Operation::UpdateDescription)?;
            k.description = description.clone();
            Ok(())
        })
    }

    /// Schedules the key's purge `days` days from now; returns the deletion date. Which states
    /// may be scheduled is the vendor's rule (`from`).
    pub fn schedule_deletion(
        &self,
        caller: &Caller,
        key_id: &str,
        days: u32,
        from: DeletableFrom,
    ) -> Result<u64, KmsError> {
        check_range(Bounded::PendingWindow, days.into(), PENDING_WINDOW_DAYS)?;
        self.mutate(caller, parse_key_id(key_id)?, |k, now| {
            let allowed = matches!(
                (from, k.state),
                (_, KeyState::Disabled | KeyState::PendingImport)
                    | (DeletableFrom::EnabledOrDisabled, KeyState::Enabled)
            );
            if !allowed {
                return Err(KmsError::InvalidKeyState {
                    state: k.state,
                    op: Operation::ScheduleDeletion,
                });
            }
            refuse_bound(k)?;
            k.state = KeyState::PendingDelete;
            k.deletion_date = now + u64::from(days) * SECONDS_PER_DAY;
            Ok(k.deletion_date)
        })
    }

    /// Cancels a scheduled deletion: the key returns Disabled, or PendingImport if it has no material.
    pub fn cancel_deletion(&self, caller: &Caller, key_id: &str) -> Result<(), KmsError> {
        self.mutate(caller, parse_key_id(key_id)?, |k, _| {
            if k.state != KeyState::PendingDelete {
                return Err(KmsError::InvalidKeyState {
                    state: k.state,
                    op: Operation::CancelDeletion,
                });
            }
            k.state = if k.versions.is_empty() {
                KeyState::PendingImport
            } else {
                KeyState::Disabled
            };
            k.deletion_date = 0;
            Ok(())
        })
    }

    pub fn archive_key(&self, caller: &Caller, key_id: &str) -> Result<(), KmsError> {
        self.mutate(caller, parse_key_id(key_id)?, |k, _| {
            require_state(k, Operation::Archive, &[KeyState::Enabled])?;
            refuse_bound(k)?;
            k.state = KeyState::Archived;
            Ok(())
        })
    }

    pub fn cancel_archive(&self, caller: &Caller, key_id: &str) -> Result<(), KmsError> {
        self.mutate(caller, parse_key_id(key_id)?, |k, _| {
            require_state(k, Operation::CancelArchive, &[KeyState::Archived])?;
            k.state = KeyState::Enabled;
            Ok(())
        })
    }

    // ---- rotation ----

    pub fn enable_rotation(
        &self,
        caller: &Caller,
        key_id: &str,
        rotate_days: u32,
    ) -> Result<(), KmsError> {
        self.rotation_on(caller, key_id, rotate_days, ROTATION_DAYS, false)
    }

    /// Turns automatic rotation off. Allowed in every state and for every key, as the vendor
    /// does: stopping rotation can never make a key less safe to hold.
    pub fn disable_rotation(&self, caller: &Caller, key_id: &str) -> Result<(), KmsError> {
        self.rotation_off(caller, key_id, false)
    }

    /// Rotates now: a new version encrypts from here on; every older one keeps decrypting.
    pub fn rotate_key(&self, caller: &Caller, key_id: &str) -> Result<u32, KmsError> {
        self.mutate(caller, parse_key_id(key_id)?, |k, now| {
            check_rotatable(k, Operation::Rotate)?;
            self.add_version(k, now)
        })
    }

    fn add_version(&self, k: &mut KeyRecord, now: u64) -> Result<u32, KmsError> {
        let next = k.versions.last().map_or(1, |v| v.version + 1);
        let provider = self.key_provider(k)?;
        k.versions
            .push(self.new_version(provider, k.key_id, next, k.spec, now)?);
        k.last_rotate_time = now;
        if k.rotation.enabled {
            // The floor keeps a record stored with a zero period from rotating without end.
            let days = u64::from(k.rotation.rotate_days).max(*ROTATION_DAYS.start());
            k.rotation.next_rotate_time = now + days * SECONDS_PER_DAY;
        }
        Ok(next)
    }

    // ---- cryptography ----

    pub fn encrypt(
        &self,
        caller: &Caller,
        key_id: &str,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<(Uuid, Vec<u8>), KmsError> {
        check_range(
            Bounded::PlaintextLength,
            plaintext.len() as u64,
            PLAINTEXT_BYTES,
        )?;
        let key = self.load(caller, parse_key_id(key_id)?)?;
        require_block_cipher(&key, Operation::Encrypt)?;
        require_state(&key, Operation::Encrypt, &[KeyState::Enabled])?;
        let blob = self.seal_blob(&key, plaintext, context)?;
        Ok((key.key_id, blob))
    }

    /// Decrypts a blob of ours; the blob names its key.
    pub fn decrypt(
        &self,
        caller: &Caller,
        blob: &[u8],
        context: &EncryptionContext,
    ) -> Result<(Uuid, Zeroizing<Vec<u8>>), KmsError> {
        let key = self.blob_key(caller, blob)?;
        require_block_cipher(&key, Operation::Decrypt)?;
        require_state(
            &key,
            Operation::Decrypt,
            &[KeyState::Enabled, KeyState::Archived],
        )?;
        let plaintext = self.open_blob(&key, blob, context)?;
        Ok((key.key_id, plaintext))
    }

    /// A fresh data key of `len` bytes, in plaintext and sealed under the CMK.
    pub fn generate_data_key(
        &self,
        caller: &Caller,
        key_id: &str,
        len: usize,
        context: &EncryptionContext,
    ) -> Result<DataKey, KmsError> {
        check_range(Bounded::DataKeyLength, len as u64, DATA_KEY_BYTES)?;
        let key = self.load(caller, parse_key_id(key_id)?)?;
        require_block_cipher(&key, Operation::GenerateDataKey)?;
        require_state(&key, Operation::GenerateDataKey, &[KeyState::Enabled])?;
        let data_key = random::secret_bytes(len).map_err(|e| KmsError::Internal(e.to_string()))?;
        let blob = self.seal_blob(&key, &data_key, context)?;
        Ok(DataKey {
            key_id: key.key_id,
            hsm_cluster: key.hsm_cluster,
            plaintext: data_key,
            blob,
        })
    }

    /// Decrypts under the source key and context, then encrypts under the destination. When the
    /// destination is the source key and neither its version nor the context changes, the blob
    /// is returned as it was.
    pub fn re_encrypt(
        &self,
        caller: &Caller,
        blob: &[u8],
        source_context: &EncryptionContext,
        destination_key_id: Option<&str>,
        destination_context: &EncryptionContext,
    ) -> Result<ReEncrypted, KmsError> {
        let (source_key_id, plaintext) = self.decrypt(caller, blob, source_context)?;
        let destination = match destination_key_id {
            Some(id) => parse_key_id(id)?,
            None => source_key_id,
        };
        let key = self.load(caller, destination)?;
        require_block_cipher(&key, Operation::Encrypt)?;
        require_state(&key, Operation::Encrypt, &[KeyState::Enabled])?;
        let (header, _) = ciphertext::decode(blob).ok_or(KmsError::InvalidCiphertext)?;
        let current = key.current_version().map(|v| v.version);
        if destination == source_key_id
            && current == Some(header.key_version)
            && source_context == destination_context
        {
            return Ok(ReEncrypted {
                blob: blob.to_vec(),
                key_id: destination,
                source_key_id,
                re_encrypted: false,
            });
        }
        let new_blob = self.seal_blob(&key, &plaintext, destination_context)?;
        Ok(ReEncrypted {
            blob: new_blob,
            key_id: destination,
            source_key_id,
            re_encrypted: true,
        })
    }

    pub fn generate_random(&self, len: usize) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        check_range(Bounded::RandomLength, len as u64, RANDOM_BYTES)?;
        random::secret_bytes(len).map_err(|e| KmsError::Internal(e.to_string()))
    }

    // ---- loading, time-driven transitions, writes ----

    /// Loads a key of the caller's, applying any purge, expiry or rotation that is due.
    fn load(&self, caller: &Caller, key_id: Uuid) -> Result<KeyRecord, KmsError> {
        self.load_resource(caller, key_id)
    }

    /// The key a blob of ours names, loaded for the caller.
    fn blob_key(&self, caller: &Caller, blob: &[u8]) -> Result<KeyRecord, KmsError> {
        let (header, _) = ciphertext::decode(blob).ok_or(KmsError::InvalidCiphertext)?;
        self.load(caller, header.key_id)
    }

    /// Destroys a purged key's material held outside the store (HSM objects). The purge has
    /// committed, so a failure is logged with what is left behind, not answered.
    fn destroy_outside_material(&self, key: &KeyRecord) {
        let Some(cluster) = key.hsm_cluster.as_deref() else {
            return;
        };
        for version in &key.versions {
            let destroyed = self.key_provider(key).and_then(|provider| {
                let reference = self.seal.unseal(
                    &material::material_aad(key.key_id, version.version),
                    &version.sealed_material,
                )?;
                Ok(provider.destroy(key.spec, &reference)?)
            });
            if let Err(e) = destroyed {
                tracing::warn!(
                    key_id = %key.key_id,
                    version = version.version,
                    hsm_cluster = cluster,
                    error = %e,
                    "a purged key's objects could not be destroyed in its HSM; remove them there"
                );
            }
        }
    }

    fn retry(&self) -> Retry {
        Retry::within(self.retry_budget)
    }

    /// Applies and persists every time-driven transition due on `key`: purge, expiry of
    /// imported material, scheduled rotations (several if several periods passed).
    fn apply_due_to_key(&self, key: &mut KeyRecord) -> Result<Due, KmsError> {
        let now = self.now();
        if is_purgeable(key, now) {
            return match self.store.delete_key(key) {
                Ok(()) => {
                    self.forget_material(key.key_id);
                    self.destroy_outside_material(key);
                    if !key.versions.is_empty() {
                        self.owe_scrub();
                    }
                    tracing::info!(key_id = %key.key_id, "purged key past its deletion date");
                    Ok(Due::Purged)
                }
                Err(StoreError::Conflict) => Ok(Due::Raced),
                Err(e) => Err(e.into()),
            };
        }
        let expired = key.material_expiry().is_some_and(|t| now >= t);
        let rotations_due = key.state == KeyState::Enabled
            && key.rotation.enabled
            && now >= key.rotation.next_rotate_time;
        if !expired && !rotations_due {
            return Ok(Due::Current);
        }
        if expired {
            import::erase_material(key);
        } else {
            // Rotation is scheduled from the due time, not from when it ran, so a late run does
            // not drift the schedule; each missed period adds its own version.
            while key.rotation.enabled && now >= key.rotation.next_rotate_time {
                let due = key.rotation.next_rotate_time;
                self.add_version(key, due)?;
            }
        }
        key.revision += 1;
        match self.store.update_key(key, self.config.max_keys_per_region) {
            Ok(()) if expired => {
                self.forget_material(key.key_id);
                self.owe_scrub();
                tracing::info!(key_id = %key.key_id, "erased imported material at its expiry");
                Ok(Due::Current)
            }
            Ok(()) => {
                tracing::info!(key_id = %key.key_id, "rotated key on schedule");
                Ok(Due::Current)
            }
            Err(StoreError::Conflict) => Ok(Due::Raced),
            Err(e) => Err(e.into()),
        }
    }

    /// Read-modify-write of one key under its write lock.
    fn mutate<T>(
        &self,
        caller: &Caller,
        key_id: Uuid,
        f: impl Fn(&mut KeyRecord, u64) -> Result<T, KmsError>,
    ) -> Result<T, KmsError> {
        self.mutate_resource(caller, key_id, f)
    }

    /// Notes that a commit just erased sealed material from the store.
    fn owe_scrub(&self) {
        self.scrub_owed.store(true, Ordering::Release);
    }

    /// Whether an erasure is waiting for [`Engine::run_owed_scrub`].
    pub fn scrub_owed(&self) -> bool {
        self.scrub_owed.load(Ordering::Acquire)
    }

    /// Scrubs the store's free space once if any erasure is owed one (see [`Store::scrub`]);
    /// returns whether it scrubbed. Every erasure committed before the scrub starts is covered
    /// by it, so however many are owed, one scrub settles them all; an erasure committed while
    /// it runs is owed the next. Slow on a large store: the server calls this in the background,
    /// never on a request's path.
    pub fn run_owed_scrub(&self) -> Result<bool, KmsError> {
        let _one_at_a_time = self.scrubbing.lock().unwrap_or_else(|e| e.into_inner());
        if !self.scrub_owed.swap(false, Ordering::AcqRel) {
            return Ok(false);
        }
        self.store.scrub().inspect_err(|_| self.owe_scrub())?;
        Ok(true)
    }

    /// Purges and rotates every key that is due. Safe to run on several nodes at once.
    /// Returns how many keys it looked at.
    pub fn run_due_work(&self) -> Result<usize, KmsError> {
        let due = self.store.due_keys(self.now(), 1024)?;
        for key_id in &due {
            if let Some(key) = self.store.get_key(key_id)? {
                let caller = access::owner_of(&key);
                match self.load(&caller, *key_id) {
                    Ok(_) | Err(KmsError::KeyNotFound) => {}
                    Err(e) => tracing::warn!(key_id = %key_id, error = %e, "due work failed"),
                }
            }
        }
        let due_data_keys = self.store.due_data_keys(self.now(), 1024)?;
        for id in &due_data_keys {
            if let Some(dk) = self.store.get_data_key(id)? {
                let caller = access::owner_of(&dk);
                match self.load_data_key(&caller, *id) {
                    Ok(_) | Err(KmsError::DataKeyNotFound) => {}
                    Err(e) => tracing::warn!(data_key_id = %id, error = %e, "due work failed"),
                }
            }
        }
        Ok(due.len() + due_data_keys.len())
    }
}

impl Resource for KeyRecord {
    fn not_found() -> KmsError {
        KmsError::KeyNotFound
    }
    const GRANTABLE: bool = true;
    fn authorize(caller: &Caller, id: &Uuid) -> Result<(), KmsError> {
        access::authorize_key(caller, id)
    }
    fn locks(engine: &Engine) -> &WriteLocks {
        &engine.key_locks
    }
    fn get(store: &dyn Store, id: &Uuid) -> Result<Option<Self>, StoreError> {
        store.get_key(id)
    }
    fn update(engine: &Engine, records: &[Self]) -> Result<(), StoreError> {
        engine
            .store
            .update_keys(records, engine.config.max_keys_per_region)
    }
    fn store_error(e: StoreError) -> KmsError {
        e.into()
    }
    fn bump_revision(&mut self) {
        self.revision += 1;
    }
    fn apply_due(engine: &Engine, record: &mut Self) -> Result<Due, KmsError> {
        engine.apply_due_to_key(record)
    }
}

/// A key as it stands at `now` without writing: `None` once purgeable, its imported material
/// gone once expired. Listings use it so they agree with reads before the sweep persists.
fn as_of(mut key: KeyRecord, now: u64) -> Option<KeyRecord> {
    if is_purgeable(&key, now) {
        return None;
    }
    if key.material_expiry().is_some_and(|t| now >= t) {
        import::erase_material(&mut key);
    }
    Some(key)
}

fn is_purgeable(key: &KeyRecord, now: u64) -> bool {
    key.state == KeyState::PendingDelete && now >= key.deletion_date
}

/// Parses a key id in the canonical hyphenated UUID form.
pub fn parse_key_id(s: &str) -> Result<Uuid, KmsError> {
    if s.len() != 36 {
        return Err(KmsError::InvalidKeyId);
    }
    Uuid::try_parse(s).map_err(|_| KmsError::InvalidKeyId)
}

fn parse_distinct_key_ids(ids: &[String]) -> Result<Vec<Uuid>, KmsError> {
    parse_distinct(ids, parse_key_id, KmsError::DuplicatedKeyId)
}

/// Parses every id with `parse`; `duplicated` if one appears twice.
fn parse_distinct(
    ids: &[String],
    parse: fn(&str) -> Result<Uuid, KmsError>,
    duplicated: KmsError,
) -> Result<Vec<Uuid>, KmsError> {
    check_range(Bounded::IdCount, ids.len() as u64, BATCH_IDS)?;
    let mut seen = HashSet::with_capacity(ids.len());
    let mut out = Vec::with_capacity(ids.len());
    for s in ids {
        let id = parse(s)?;
        if !seen.insert(id) {
            return Err(duplicated);
        }
        out.push(id);
    }
    Ok(out)
}

/// Refuses a client-chosen quantity outside the engine's bounds.
fn check_range(what: Bounded, value: u64, range: RangeInclusive<u64>) -> Result<(), KmsError> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(KmsError::OutOfRange {
            what,
            min: *range.start(),
            max: *range.end(),
        })
    }
}

/// Bounds the names, descriptions and tags a client gives a resource; refuses repeated tag keys.
fn check_labels(name: &str, description: &str, tags: &[Tag]) -> Result<(), KmsError> {
    check_range(Bounded::NameLength, name.len() as u64, NAME_BYTES)?;
    check_range(
        Bounded::DescriptionLength,
        description.len() as u64,
        DESCRIPTION_BYTES,
    )?;
    check_range(Bounded::TagCount, tags.len() as u64, TAGS)?;
    check_unique_tags(tags)
}

fn check_unique_tags(tags: &[Tag]) -> Result<(), KmsError> {
    let mut seen = HashSet::with_capacity(tags.len());
    if tags.iter().all(|t| seen.insert(t.key.as_str())) {
        Ok(())
    } else {
        Err(KmsError::DuplicatedTagKey)
    }
}

fn require_state(key: &KeyRecord, op: Operation, allowed: &[KeyState]) -> Result<(), KmsError> {
    if allowed.contains(&key.state) {
        Ok(())
    } else {
        Err(KmsError::InvalidKeyState {
            state: key.state,
            op,
        })
    }
}

/// Moves a key from one of `from` to `to`; a key already in `to` stays, as the vendors do.
fn set_state(
    key: &mut KeyRecord,
    op: Operation,
    from: &[KeyState],
    to: KeyState,
) -> Result<(), KmsError> {
    if key.state != to {
        require_state(key, op, from)?;
        key.state = to;
    }
    Ok(())
}

/// A key a cloud product uses can be neither archived nor scheduled for deletion.
fn refuse_bound(key: &KeyRecord) -> Result<(), KmsError> {
    if key.cloud_resources.is_empty() {
        Ok(())
    } else {
        Err(KmsError::KeyInUse)
    }
}

fn refuse_pending_delete(key: &KeyRecord, op: Operation) -> Result<(), KmsError> {
    if key.state == KeyState::PendingDelete {
        return Err(KmsError::InvalidKeyState {
            state: key.state,
            op,
        });
    }
    Ok(())
}

/// Symmetric encryption (Encrypt, Decrypt, data keys) is for AES-256 and SM4 keys only.
fn require_block_cipher(key: &KeyRecord, op: Operation) -> Result<(), KmsError> {
    asymmetric::require_capability(
        key,
        op,
        KeyUsage::EncryptDecrypt,
        asymmetric::is_block_cipher,
    )
}

/// Only block cipher keys rotate, as both vendors allow; keys of imported material never do.
fn check_rotatable(key: &KeyRecord, op: Operation) -> Result<(), KmsError> {
    if !asymmetric::is_block_cipher(key.spec) {
        return Err(KmsError::RotationNotSupported { spec: key.spec });
    }
    if key.origin == Origin::External {
        return Err(KmsError::ExternalKeyCannotRotate);
    }
    require_state(key, op, &[KeyState::Enabled])
}

mod access;
mod alias_moves;
mod aliases;
mod asymmetric;
mod data_key_pairs;
mod data_keys;
mod grants;
mod import;
mod import_enveloped;
mod key_stores;
mod material;
pub mod nonblocking;
pub mod reseal;
mod reset;
mod resource;
mod rotation_policy;
mod tags;
mod writes;

use material::MaterialCache;
use resource::{Due, Resource};
use writes::{Retry, WriteLocks};

pub use access::with_grant_operation;
pub use aliases::ALIASES_PER_KEY;
pub use asymmetric::{BINDINGS, MESSAGE_BYTES};
pub use data_key_pairs::DataKeyPair;
pub use data_keys::{DataKeyImport, NewDataKey, require_hsm_cluster};
pub use grants::{GRANTS_PER_KEY, NewGrant};
pub use import::{
    IMPORT_TOKEN_LIFETIME_SECS, ImportParametersIssued, MAX_VALID_TO, raw_material_len,
};
pub use key_stores::{KEY_STORES_PER_REGION, KeyStore};
pub use material::material_aad;
pub use tags::TagChange;

#[cfg(test)]
mod alias_tests;
#[cfg(test)]
mod asymmetric_tests;
#[cfg(test)]
mod authority_tests;
#[cfg(test)]
mod data_key_tests;
#[cfg(test)]
mod grant_tests;
#[cfg(test)]
mod import_tests;
#[cfg(test)]
mod key_store_tests;
#[cfg(test)]
mod test_fixture;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod write_tests;
