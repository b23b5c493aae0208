//! Root key rotation, online: a new root key generation joins the keyring (stored wrapped by the
//! root of trust, so every node and every restart sees it), every stored secret is sealed again
//! under it while the server serves, and then the old generations leave the keyring, so they
//! open nothing any more.
//!
//! The keyring in the store is the rotation's state: holding more than one generation means a
//! rotation is under way. A process that stops midway (a crash, a kill) resumes the walk at its
//! next start; sealing again is idempotent, so a record walked twice is only written twice.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use kms_core::engine::reseal::{Resealed, reseal_all};
use kms_core::store::ROOT_KEYRING;
use kms_core::{SealError, Store};
use kms_seal::RootOfTrust;
use kms_seal::keyring::{Keyring, RootKeys};

/// Walks repeated before the rotation gives up: each one seals what writers raced into the
/// previous one under an old generation, and a quiet store needs one or two.
const MAX_WALKS: usize = 16;

/// Where a rotation stands, as the admin API shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RotationStatus {
    /// The generation that seals new secrets.
    pub generation: u32,
    /// Every generation the keyring holds: more than one while a rotation is under way.
    pub generations: Vec<u32>,
    pub rotating: bool,
    /// Secrets sealed again by this process's current or last rotation.
    pub resealed_keys: u64,
    pub resealed_accounts: u64,
    pub resealed_identity_secrets: u64,
    /// Why the last rotation stopped, if it failed (it resumes at the next start or request).
    pub last_error: Option<String>,
}

/// Why a rotation could not start.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error("a root key rotation is already under way")]
    Running,
    #[error("the server is sealed")]
    Sealed,
    /// The root of trust (an HSM) cannot be reached now: nothing changed, try again later.
    #[error("{0}; nothing changed, try again once it is back")]
    Unreachable(String),
    #[error("{0}")]
    Failed(String),
}

/// A root of trust's refusal while `doing` something: an unreachable one is said so, apart.
fn seal_failure(doing: &str, error: SealError) -> RotationError {
    match error {
        SealError::Unreachable(_) => RotationError::Unreachable(format!("{doing}: {error}")),
        other => RotationError::Failed(format!("{doing}: {other}")),
    }
}

pub struct RootKeyRotation {
    store: Arc<dyn Store>,
    keys: Arc<RootKeys>,
    root: Arc<dyn RootOfTrust>,
    /// How long writers get to finish what they sealed under the old generation before the walk
    /// starts (and, over a shared store, for the other nodes to load the new keyring).
    grace: Duration,
    progress: Mutex<Progress>,
}

#[derive(Default)]
struct Progress {
    running: bool,
    resealed: Resealed,
    last_error: Option<String>,
}

impl RootKeyRotation {
    pub fn new(
        store: Arc<dyn Store>,
        keys: Arc<RootKeys>,
        root: Arc<dyn RootOfTrust>,
        grace: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            keys,
            root,
            grace,
            progress: Mutex::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn status(&self) -> RotationStatus {
        let progress = self.lock();
        let keyring = self.keys.keyring();
        RotationStatus {
            generation: keyring.as_ref().map_or(0, Keyring::current),
            generations: keyring
                .as_ref()
                .map(Keyring::generations)
                .unwrap_or_default(),
            rotating: progress.running,
            resealed_keys: progress.resealed.keys,
            resealed_accounts: progress.resealed.accounts,
            resealed_identity_secrets: progress.resealed.identity_secrets,
            last_error: progress.last_error.clone(),
        }
    }

    /// Starts a rotation: the new generation is stored and in use when this returns; the walk
    /// and the retirement of the old generations run on a thread of their own. A keyring that
    /// already holds several generations (a rotation a crash interrupted) is finished instead.
    pub fn start(self: &Arc<Self>) -> Result<RotationStatus, RotationError> {
        {
            let mut progress = self.lock();
            if progress.running {
                return Err(RotationError::Running);
            }
            progress.running = true;
            progress.resealed = Resealed::default();
            progress.last_error = None;
        }
        let begun = self.begin();
        if let Err(e) = &begun {
            let mut progress = self.lock();
            progress.running = false;
            progress.last_error = Some(e.to_string());
        }
        begun?;
        self.spawn_walk();
        Ok(self.status())
    }

    /// Loads the stored keyring into memory: another node started or finished a rotation. A
    /// sealed node stays sealed.
    pub fn reload(&self) {
        if self.keys.is_sealed() {
            return;
        }
        match self.current() {
            Ok((Some(_), keyring)) => self.keys.install(keyring),
            Ok((None, _)) => {}
            Err(e) => {
                tracing::error!(error = %e, "loading the root keyring another node changed failed")
            }
        }
    }

    /// Waits for the rotation under way, if any, to end; answers where it stands then.
    pub fn wait(&self) -> RotationStatus {
        while self.lock().running {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.status()
    }

    /// At start: finishes a rotation that a stop interrupted.
    pub fn resume_if_unfinished(self: &Arc<Self>) {
        let unfinished = self
            .keys
            .keyring()
            .is_some_and(|k| k.generations().len() > 1);
        if unfinished {
            tracing::warn!("a root key rotation was interrupted; finishing it");
            if let Err(e) = self.start() {
                tracing::error!(error = %e, "resuming the root key rotation failed");
            }
        }
    }

    /// Adds the new generation to the stored keyring (unless a rotation is under way) and
    /// installs it.
    fn begin(&self) -> Result<(), RotationError> {
        let (stored, mut keyring) = self.current()?;
        if keyring.generations().len() > 1 {
            self.keys.install(keyring);
            return Ok(());
        }
        let generation = keyring
            .add_generation()
            .map_err(|e| RotationError::Failed(e.to_string()))?;
        self.replace(stored.as_deref(), &keyring)?;
        self.keys.install(keyring);
        tracing::info!(generation, "root key rotation: new generation in use");
        Ok(())
    }

    /// The keyring as stored (wrapped, to replace it by compare and swap) and opened. A store
    /// without one is a key-file store whose file's key seals directly: the keyring in memory.
    fn current(&self) -> Result<(Option<Vec<u8>>, Keyring), RotationError> {
        let memory = self.keys.keyring().ok_or(RotationError::Sealed)?;
        let stored = self
            .store
            .setting(ROOT_KEYRING)
            .map_err(|e| RotationError::Failed(format!("reading the root keyring: {e}")))?;
        let keyring = match &stored {
            Some(wrapped) => {
                let bytes = self
                    .root
                    .unwrap(wrapped)
                    .map_err(|e| seal_failure("opening the stored root keyring", e))?;
                Keyring::from_bytes(&bytes).map_err(|e| RotationError::Failed(e.to_string()))?
            }
            None => memory,
        };
        Ok((stored, keyring))
    }

    fn replace(&self, stored: Option<&[u8]>, next: &Keyring) -> Result<(), RotationError> {
        let wrapped = self
            .root
            .wrap(&next.to_bytes())
            .map_err(|e| seal_failure("wrapping the root keyring", e))?;
        self.store
            .replace_setting(ROOT_KEYRING, stored, &wrapped)
            .map_err(|e| match e {
                kms_core::StoreError::Conflict => RotationError::Failed(
                    "the stored root keyring changed meanwhile (another node rotating?)".into(),
                ),
                other => RotationError::Failed(format!("storing the root keyring: {other}")),
            })
    }

    fn spawn_walk(self: &Arc<Self>) {
        let rotation = self.clone();
        let spawned = std::thread::Builder::new()
            .name("kmsd-root-key-rotation".into())
            .spawn(move || {
                let outcome = rotation.walk_and_retire();
                let mut progress = rotation.lock();
                progress.running = false;
                match outcome {
                    Ok(generation) => {
                        tracing::info!(generation, "root key rotation finished");
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "root key rotation stopped");
                        progress.last_error = Some(e.to_string());
                    }
                }
            });
        if let Err(e) = spawned {
            let mut progress = self.lock();
            progress.running = false;
            progress.last_error = Some(format!("starting the rotation's thread: {e}"));
        }
    }

    fn walk_and_retire(&self) -> Result<u32, RotationError> {
        std::thread::sleep(self.grace);
        let generation = self.keys.keyring().ok_or(RotationError::Sealed)?.current();
        let stale = move |blob: &[u8]| Keyring::generation_of(blob) != generation;
        let mut quiet = false;
        for _ in 0..MAX_WALKS {
            let walked = reseal_all(self.store.as_ref(), self.keys.as_ref(), &stale)
                .map_err(|e| RotationError::Failed(e.to_string()))?;
            {
                let mut progress = self.lock();
                progress.resealed.keys += walked.keys;
                progress.resealed.accounts += walked.accounts;
                progress.resealed.identity_secrets += walked.identity_secrets;
            }
            if walked.total() == 0 {
                quiet = true;
                break;
            }
        }
        if !quiet {
            return Err(RotationError::Failed(format!(
                "secrets sealed under old generations kept appearing after {MAX_WALKS} walks"
            )));
        }
        // The records' earlier copies, under the old generations, linger in the store's free
        // space; overwrite them before the old key is retired (a key-file store's file key
        // stays on disk as the keyring's wrapper).
        self.store
            .scrub()
            .map_err(|e| RotationError::Failed(format!("scrubbing the store: {e}")))?;
        let (stored, mut keyring) = self.current()?;
        if keyring.current() != generation {
            return Err(RotationError::Failed(
                "the stored root keyring changed meanwhile (another node rotating?)".into(),
            ));
        }
        keyring.retire_old_generations();
        self.replace(stored.as_deref(), &keyring)?;
        self.keys.install(keyring);
        Ok(generation)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use kms_core::testing::MemoryStore;
    use kms_seal::{KeyRoot, open_keyring, shamir};
    use zeroize::Zeroizing;

    use super::*;

    /// A root of trust that can be made unreachable, as an HSM in an outage.
    struct Outage {
        reachable: AtomicBool,
        key: KeyRoot,
    }

    impl Outage {
        fn reach(&self) -> Result<&KeyRoot, SealError> {
            if self.reachable.load(Ordering::SeqCst) {
                Ok(&self.key)
            } else {
                Err(SealError::Unreachable("the test's HSM is down".into()))
            }
        }
    }

    impl RootOfTrust for Outage {
        fn wrap(&self, keyring: &[u8]) -> Result<Vec<u8>, SealError> {
            self.reach()?.wrap(keyring)
        }

        fn unwrap(&self, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
            self.reach()?.unwrap(wrapped)
        }
    }

    #[test]
    fn a_rotation_while_the_root_of_trust_is_unreachable_changes_nothing_and_can_be_retried() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let root = Arc::new(Outage {
            reachable: AtomicBool::new(true),
            key: KeyRoot::new(shamir::generate_unseal_key().unwrap()),
        });
        let keyring = open_keyring(store.as_ref(), root.as_ref(), None).unwrap();
        let generation = keyring.current();
        let stored = store.setting(ROOT_KEYRING).unwrap();
        let keys = Arc::new(RootKeys::unsealed(keyring));
        let rotation = RootKeyRotation::new(store.clone(), keys, root.clone(), Duration::ZERO);

        root.reachable.store(false, Ordering::SeqCst);
        let refused = rotation.start().err().unwrap();
        assert!(
            matches!(refused, RotationError::Unreachable(_)),
            "{refused}"
        );
        assert!(refused.to_string().ends_with("try again once it is back"));
        assert_eq!(store.setting(ROOT_KEYRING).unwrap(), stored);
        let status = rotation.status();
        assert_eq!(status.generations, [generation]);
        assert!(!status.rotating && status.last_error.is_some());

        root.reachable.store(true, Ordering::SeqCst);
        rotation.start().unwrap();
        let status = rotation.wait();
        assert_eq!(status.generations, [generation + 1]);
        assert_eq!(status.last_error, None);
    }
}
