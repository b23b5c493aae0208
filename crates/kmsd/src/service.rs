//! The service: everything that needs the root keys (the credentials directory, the engine with
//! its cache of loaded keys, the dialects with the Huawei token key, the account operations of
//! the admin API, the background key work). It is built when the node unseals and dropped when
//! it seals, while the listener, TLS, audit trail, metrics, the store and the admin endpoints
//! that unseal and seal live for the whole process.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;

use kms_core::accounts::Directory;
use kms_core::{Clock, Engine, EngineConfig, Seal, SealError, Store, SystemClock};
use kms_huawei::HuaweiApi;
use kms_seal::Sealing;
use kms_seal::keyring::RootKeys;
use kms_tencent::TencentApi;

use crate::admin::Admin;
use crate::bootstrap::{self, RootCredential, RootEnv};
use crate::config::Settings;
use crate::rotation::RootKeyRotation;

pub struct Service {
    pub engine: Arc<Engine>,
    pub tencent: TencentApi,
    pub huawei: HuaweiApi,
    /// The admin API's operations on accounts, users, credentials and policies.
    pub admin: Admin,
    pub directory: Arc<Directory>,
    pub root_keys: Arc<RootKeys>,
    /// Root key rotation over these root keys and their root of trust.
    pub rotation: Arc<RootKeyRotation>,
    /// Where the operator finds the root credential.
    pub credential: RootCredential,
    /// The background key work bound to this service's engine.
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Service {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The node's service, while it is unsealed. Requests take their own reference, so one in
/// flight finishes with the service it started with.
#[derive(Default)]
pub struct Current(RwLock<Option<Arc<Service>>>);

impl Current {
    pub fn get(&self) -> Option<Arc<Service>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn install(&self, service: Service) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(service));
    }

    /// Seals: the root keys are dropped at once (a request still in flight then answers the
    /// vendor's unavailable code where it needs them), and the service with its directory,
    /// cache of loaded keys and token key goes when the last request holding it ends.
    pub fn seal(&self) {
        let taken = self.0.write().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(service) = taken {
            service.root_keys.seal_now();
        }
    }
}

/// What building the service needs besides the root keys.
pub struct Opener {
    pub settings: Settings,
    pub root_env: RootEnv,
    pub data_dir: PathBuf,
    pub store: Arc<dyn Store>,
    pub shared_state: Option<Arc<dyn kms_core::shared::SharedState>>,
    /// The embedded store was scrubbed when the previous process stopped; only the first
    /// engine may rely on it (a later one may follow erasures the one before left unscrubbed).
    pub scrubbed_at_start: AtomicBool,
    /// Where the root of trust is, for messages.
    pub key_place: String,
    pub store_place: String,
    pub runtime: tokio::runtime::Handle,
    /// The HSM clusters' providers (`--hsm-cluster`), connected once at start.
    pub hsm_clusters: Vec<(String, Arc<dyn kms_crypto::CryptoProvider>)>,
}

impl Opener {
    /// Builds the service over `root_keys`: the keys must be the store's (its check value),
    /// the root account is made on a store's first start, and the credentials are loaded.
    pub fn open(&self, sealing: Sealing) -> anyhow::Result<Service> {
        let Sealing {
            keys: root_keys,
            root,
        } = sealing;
        let seal: Arc<dyn Seal> = root_keys.clone();
        let store = self.store.clone();
        let settings = &self.settings;
        crate::store::check_root_key(
            store.as_ref(),
            seal.as_ref(),
            &self.key_place,
            &self.store_place,
        )?;
        let clock = Arc::new(SystemClock);
        let credential = bootstrap::ensure_root_account(
            store.as_ref(),
            seal.as_ref(),
            &self.data_dir,
            &self.root_env,
            clock.now(),
            settings.store.is_some(),
        )?;
        let directory = Arc::new(self.load_directory(seal.as_ref())?);
        crate::store::record_root_key(store.as_ref(), seal.as_ref())?;
        let token_key = kms_core::identity::token_key(store.as_ref(), seal.as_ref())
            .map_err(|e| anyhow::anyhow!("opening the key of Huawei IAM tokens: {e}"))?;
        let engine = Engine::new(
            store.clone(),
            seal.clone(),
            clock.clone(),
            EngineConfig {
                max_keys_per_region: settings.max_keys_per_region,
                max_data_keys_per_region: settings.max_data_keys_per_region,
            },
        );
        let engine = self
            .hsm_clusters
            .iter()
            .fold(engine, |engine, (id, crypto)| {
                engine.with_hsm_cluster(id, crypto.clone())
            });
        let engine = Arc::new(if self.scrubbed_at_start.swap(false, Ordering::SeqCst) {
            engine.scrubbed_before_start()
        } else {
            engine
        });
        // Over a shared store the other nodes need time to load the new keyring from the
        // change feed before records sealed under it reach them.
        let grace = Duration::from_secs(if settings.store.is_some() { 10 } else { 2 });
        let rotation = RootKeyRotation::new(store.clone(), root_keys.clone(), root, grace);
        let admin = Admin::new(
            store,
            seal,
            directory.clone(),
            clock,
            self.data_dir.clone(),
            rotation.clone(),
        );
        let mut tencent = TencentApi::new(
            engine.clone(),
            directory.clone(),
            settings.tencent_options(),
        );
        let mut huawei =
            HuaweiApi::new(engine.clone(), directory.clone(), settings.regions.clone())
                .with_tokens(kms_huawei::iam::Tokens::new(
                    kms_huawei::tokens::TokenKey::new(token_key),
                    settings.token_lifetime_secs,
                ));
        if settings.huawei_replay_cache {
            huawei =
                huawei.with_replay_cache(settings.tencent_options().replay_entries_per_credential);
        }
        if let Some(shared) = &self.shared_state {
            tencent = tencent.with_shared_state(shared.clone());
            huawei = huawei.with_shared_state(shared.clone());
        }
        let tasks = {
            let _entered = self.runtime.enter();
            spawn_due_work(engine.clone())
        };
        rotation.resume_if_unfinished();
        Ok(Service {
            rotation,
            engine,
            tencent,
            huawei,
            admin,
            directory,
            root_keys,
            credential,
            tasks,
        })
    }

    /// Loads the usable credentials, saying plainly when the root keys are not this store's,
    /// and only then (so a refused start writes nothing) brings every account into the
    /// identity records, which leaves the credentials as they were.
    fn load_directory(&self, seal: &dyn Seal) -> anyhow::Result<Directory> {
        let store = self.store.as_ref();
        let directory = Directory::load(store, seal).map_err(|e| {
            if e.to_string().contains(&SealError::Authentication.to_string()) {
                anyhow::anyhow!(
                    "{} does not open the store {}: it is not the root of trust this store was made with",
                    self.key_place,
                    self.store_place
                )
            } else {
                anyhow::anyhow!("loading accounts: {e}")
            }
        })?;
        kms_core::identity::migrate(store)
            .context("bringing accounts into the identity records")?;
        Ok(directory)
    }
}

/// How often the scrubber looks for erasures owed a scrub of the store's free space.
const SCRUB_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// After a scrub the scrubber rests this many times as long as the scrub took, so however often
/// tenants erase material, scrubbing a large store takes at most a tenth of the store's time.
const SCRUB_REST_FACTOR: u32 = 9;

/// Runs time-driven key transitions (purges, scheduled rotations, material expiry) every few
/// seconds, and expires the in-memory material cache so no node keeps erased material for long.
/// A second task scrubs the store after erasures, off every request's path: one scrub for all
/// the erasures owed when it starts, begun within [`SCRUB_CHECK_INTERVAL`] of an erasure (or,
/// right after a scrub, once the rest that follows it is over). Both end when the service goes.
fn spawn_due_work(engine: Arc<Engine>) -> Vec<tokio::task::JoinHandle<()>> {
    let scrubber = engine.clone();
    let due = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            let engine = engine.clone();
            engine.expire_cached_material();
            match tokio::task::spawn_blocking(move || engine.run_due_work()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "background key work failed"),
                Err(e) => tracing::warn!(error = %e, "background key work panicked"),
            }
        }
    });
    let scrub = tokio::spawn(async move {
        loop {
            tokio::time::sleep(SCRUB_CHECK_INTERVAL).await;
            if !scrubber.scrub_owed() {
                continue;
            }
            let started = std::time::Instant::now();
            let engine = scrubber.clone();
            match tokio::task::spawn_blocking(move || engine.run_owed_scrub()).await {
                Ok(Ok(_)) => tracing::debug!(
                    millis = started.elapsed().as_millis() as u64,
                    "scrubbed the store's free space"
                ),
                Ok(Err(e)) => tracing::warn!(error = %e, "scrubbing the store failed"),
                Err(e) => tracing::warn!(error = %e, "scrubbing the store panicked"),
            }
            tokio::time::sleep(started.elapsed() * SCRUB_REST_FACTOR).await;
        }
    });
    vec![due, scrub]
}

/// Another node changed the store's settings (the root keyring, in a rotation): the current
/// service loads the keyring.
pub fn keyring_reload(current: Arc<Current>) -> Arc<dyn Fn() + Send + Sync> {
    Arc::new(move || {
        if let Some(service) = current.get() {
            service.rotation.reload();
        }
    })
}

/// The node store's keeper of the directory reads the current service's.
pub fn directory_source(current: Arc<Current>) -> crate::store::DirectorySource {
    Box::new(move || {
        current.get().map(|service| {
            (
                service.directory.clone(),
                service.root_keys.clone() as Arc<dyn Seal>,
            )
        })
    })
}
