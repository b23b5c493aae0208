//! The node's seal: how it gets its root keys (at start, or from operators' shares at
//! `kmsd admin unseal`) and gives them up (`kmsd admin seal`). Every seal builds the same
//! [`Service`](crate::service::Service) from the root keys it opens, so there is one path from
//! root keys to serving.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::json;

use kms_core::Store;
use kms_core::store::ROOT_KEYRING;
use kms_seal::keyring::{Keyring, RootKeys};
use kms_seal::shamir::{ShareError, Submitted, UnsealProgress, UnsealShare};
use kms_seal::{FileSeal, KeyRoot, RootOfTrust as _, Sealing};

use crate::admin::AdminReply;
use crate::config::SealKind;
use crate::service::{Current, Opener};

/// The setting in which `kmsd operator init` records how a Shamir-sealed store was split. It
/// holds no secret; its presence marks the store as Shamir-sealed.
pub const SHAMIR_SETTING: &str = "shamir_seal";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShamirConfig {
    pub shares: u8,
    pub threshold: u8,
}

impl ShamirConfig {
    pub fn of(store: &dyn Store) -> anyhow::Result<Option<Self>> {
        store
            .setting(SHAMIR_SETTING)?
            .map(|bytes| {
                serde_json::from_slice(&bytes).map_err(|e| {
                    anyhow::anyhow!("the store's {SHAMIR_SETTING} setting is unreadable: {e}")
                })
            })
            .transpose()
    }
}

/// The node's seal and, for Shamir, the shares given so far. Unsealing and sealing take the
/// lock on the progress, so they happen one at a time.
pub struct NodeSeal {
    kind: SealKind,
    /// The PKCS#11 seal's token, key and PIN, with `--seal pkcs11`.
    pkcs11: Option<kms_hsm::Pkcs11Settings>,
    store_place: String,
    root_key_file: PathBuf,
    store: Arc<dyn Store>,
    shamir: Option<ShamirConfig>,
    progress: Mutex<Option<UnsealProgress>>,
}

impl NodeSeal {
    /// The seal of a node over `store`. A Shamir seal needs a store `kmsd operator init` made.
    pub fn new(
        kind: SealKind,
        root_key_file: PathBuf,
        store: Arc<dyn Store>,
        store_place: &str,
    ) -> anyhow::Result<Self> {
        let shamir = ShamirConfig::of(store.as_ref())?;
        match (kind, shamir) {
            (SealKind::Shamir, None) if store.setting(ROOT_KEYRING)?.is_some() => anyhow::bail!(
                "--seal shamir: the store {store_place} is protected by another seal (a key file \
                 or an HSM), not by Shamir shares; start it with the seal it was made with"
            ),
            (SealKind::Shamir, None) => anyhow::bail!(
                "--seal shamir: the store {store_place} was not made by `kmsd operator init` (it \
                 has no root keyring split into shares); a key-file store keeps --seal file"
            ),
            (SealKind::File | SealKind::Pkcs11, Some(_)) => anyhow::bail!(
                "the store {store_place} is sealed by Shamir shares (made by `kmsd operator \
                 init`): start it with --seal shamir"
            ),
            _ => {}
        }
        let progress = shamir.map(|config| UnsealProgress::new(config.threshold));
        Ok(Self {
            kind,
            pkcs11: None,
            store_place: store_place.to_owned(),
            root_key_file,
            store,
            shamir,
            progress: Mutex::new(progress),
        })
    }

    /// The PKCS#11 seal's settings, with `--seal pkcs11`.
    pub fn with_pkcs11(mut self, settings: Option<kms_hsm::Pkcs11Settings>) -> Self {
        self.pkcs11 = settings;
        self
    }

    /// The root keys of a seal that needs no operator: its root of trust opened anew. The
    /// pkcs11 seal opens its HSM key here.
    pub fn open_without_operators(&self) -> anyhow::Result<Sealing> {
        match self.kind {
            SealKind::File => {
                let file = FileSeal::open(&self.root_key_file)?;
                Ok(file.unseal(self.store.as_ref())?)
            }
            SealKind::Pkcs11 => {
                let Some(settings) = &self.pkcs11 else {
                    anyhow::bail!("--seal pkcs11 needs --pkcs11-module, its token, key and PIN");
                };
                crate::hsm::HsmSeal::connect(settings)?
                    .root_keys(self.store.as_ref(), &self.store_place)
            }
            SealKind::Shamir => anyhow::bail!("the Shamir seal opens only with operators' shares"),
        }
    }

    /// The root keys the rebuilt unseal key opens: the store's keyring, unwrapped.
    fn open_with_unseal_key(&self, key: kms_crypto::Aes256GcmKey) -> Result<Sealing, AdminReply> {
        let wrapped = self
            .store
            .setting(ROOT_KEYRING)
            .map_err(|e| internal("reading the root keyring", &e))?
            .ok_or_else(|| {
                AdminReply::error(500, "InternalError", "the store has no root keyring")
            })?;
        // Kept while unsealed: a root key rotation wraps the new keyring with it.
        let root = KeyRoot::new(key);
        let bytes = root.unwrap(&wrapped).map_err(|_| {
            AdminReply::error(
                400,
                "WrongShares",
                "The shares given do not open this store: at least one of them is wrong or \
                 belongs to another store. Every share given so far is forgotten; start again \
                 with the right shares.",
            )
        })?;
        let keyring =
            Keyring::from_bytes(&bytes).map_err(|e| internal("reading the root keyring", &e))?;
        Ok(Sealing {
            keys: Arc::new(RootKeys::unsealed(keyring)),
            root: Arc::new(root),
        })
    }

    /// What `kmsd admin status` shows.
    pub fn status(&self, current: &Current) -> serde_json::Value {
        let progress = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        status_body(self, current, progress.as_ref())
    }

    /// Takes one operator's share (Shamir) or, with none, opens the root of trust again (the
    /// other seals). The service is built once the keys open the store.
    pub fn unseal(&self, share: Option<&str>, current: &Current, opener: &Opener) -> AdminReply {
        let share = match share.map(UnsealShare::parse).transpose() {
            Ok(share) => share,
            Err(e) => return share_refusal(&e),
        };
        let mut progress = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        if current.get().is_some() {
            return AdminReply::ok(
                "Unseal",
                None,
                status_body(self, current, progress.as_ref()),
            );
        }
        let keys = match (progress.as_mut(), share) {
            (Some(_), None) => {
                return AdminReply::error(
                    400,
                    "InvalidRequest",
                    "This server is sealed by Shamir shares: give one share.",
                );
            }
            (None, Some(_)) => {
                return AdminReply::error(
                    400,
                    "InvalidRequest",
                    format!(
                        "This server's seal is {}: it takes no share; unseal with none.",
                        self.kind.name()
                    ),
                );
            }
            (Some(shares), Some(share)) => match shares.submit(share) {
                Err(e) => return share_refusal(&e),
                Ok(Submitted::Needed { .. }) => {
                    return AdminReply::ok(
                        "Unseal",
                        None,
                        status_body(self, current, progress.as_ref()),
                    );
                }
                Ok(Submitted::Complete(key)) => match self.open_with_unseal_key(key) {
                    Ok(keys) => keys,
                    Err(refusal) => return refusal,
                },
            },
            (None, None) => match self.open_without_operators() {
                Ok(keys) => keys,
                Err(e) => {
                    return unseal_failed(
                        503,
                        "RootOfTrustUnavailable",
                        "The root of trust cannot be opened",
                        &e,
                    );
                }
            },
        };
        match opener.open(keys) {
            Ok(service) => {
                current.install(service);
                tracing::info!(seal = self.kind.name(), "unsealed: serving API calls");
            }
            Err(e) => {
                return unseal_failed(
                    409,
                    "StoreNotOpened",
                    "The root keys do not open this store",
                    &e,
                );
            }
        }
        AdminReply::ok(
            "Unseal",
            None,
            status_body(self, current, progress.as_ref()),
        )
    }

    /// Drops the service and the root keys, and forgets any share given.
    pub fn seal(&self, current: &Current) -> AdminReply {
        let mut progress = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(shares) = progress.as_mut() {
            shares.clear();
        }
        if current.get().is_some() {
            current.seal();
            tracing::warn!(
                seal = self.kind.name(),
                "sealed by the operator: API calls are refused until unsealed"
            );
        }
        AdminReply::ok("Seal", None, status_body(self, current, progress.as_ref()))
    }
}

fn status_body(
    seal: &NodeSeal,
    current: &Current,
    progress: Option<&UnsealProgress>,
) -> serde_json::Value {
    let mut body = json!({
        "seal": seal.kind.name(),
        "sealed": current.get().is_none(),
    });
    if let (Some(config), Some(progress)) = (seal.shamir, progress) {
        body["shares"] = json!(config.shares);
        body["threshold"] = json!(config.threshold);
        body["progress"] = json!(progress.have());
    }
    body
}

fn unseal_failed(status: u16, code: &'static str, what: &str, e: &anyhow::Error) -> AdminReply {
    tracing::error!(error = format!("{e:#}"), "unsealing failed");
    AdminReply::error(status, code, format!("{what}: {e:#}"))
}

fn share_refusal(e: &ShareError) -> AdminReply {
    let code = match e {
        ShareError::Malformed(_) => "MalformedShare",
        ShareError::OtherThreshold { .. } => "ForeignShare",
        ShareError::Repeated => "RepeatedShare",
        ShareError::Parameters | ShareError::Random => "InvalidRequest",
    };
    AdminReply::error(400, code, e.to_string())
}

fn internal(what: &str, e: &dyn std::fmt::Display) -> AdminReply {
    tracing::error!(error = %e, "{what} failed");
    AdminReply::error(500, "InternalError", format!("{what} failed"))
}

#[cfg(test)]
mod tests {
    use kms_core::testing::MemoryStore;
    use kms_seal::open_keyring;
    use kms_seal::shamir::{self, UnsealShare};

    use super::*;
    use crate::config::{ServeArgs, Settings};

    /// A store as `kmsd operator init` leaves it (without its root account), and its shares.
    fn split_store(store: &dyn Store, shares: u8, threshold: u8) -> Vec<UnsealShare> {
        let config = ShamirConfig { shares, threshold };
        store
            .init_setting(SHAMIR_SETTING, &serde_json::to_vec(&config).unwrap())
            .unwrap();
        let key = shamir::generate_unseal_key().unwrap();
        open_keyring(store, &KeyRoot::new(key.clone()), None).unwrap();
        shamir::split(&key, shares, threshold).unwrap()
    }

    fn opener(
        store: Arc<dyn Store>,
        dir: &std::path::Path,
        runtime: &tokio::runtime::Runtime,
    ) -> Opener {
        Opener {
            settings: Settings::resolve(ServeArgs {
                data_dir: Some(dir.to_owned()),
                ..Default::default()
            })
            .unwrap(),
            root_env: crate::bootstrap::RootEnv::from_env().unwrap(),
            data_dir: dir.to_owned(),
            store,
            shared_state: None,
            scrubbed_at_start: false.into(),
            key_place: "the unseal key".into(),
            store_place: "the test store".into(),
            runtime: runtime.handle().clone(),
            hsm_clusters: Vec::new(),
        }
    }

    fn give(
        seal: &NodeSeal,
        share: &UnsealShare,
        current: &Current,
        opener: &Opener,
    ) -> AdminReply {
        seal.unseal(Some(&share.to_text()), current, opener)
    }

    #[test]
    fn a_quorum_unseals_a_wrong_share_clears_the_progress_and_seal_drops_the_service() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let shares = split_store(store.as_ref(), 5, 3);
        let foreign = split_store(&MemoryStore::default(), 5, 3);
        let seal = NodeSeal::new(
            SealKind::Shamir,
            dir.path().join("root.key"),
            store.clone(),
            "S",
        )
        .unwrap();
        let opener = opener(store, dir.path(), &runtime);
        let current = Current::default();

        let status = seal.status(&current);
        assert_eq!(status["sealed"], true);
        assert_eq!(
            (status["threshold"].clone(), status["progress"].clone()),
            (3.into(), 0.into())
        );
        assert_eq!(
            give(&seal, &shares[0], &current, &opener).body["progress"],
            1
        );
        let repeated = give(&seal, &shares[0], &current, &opener);
        assert_eq!(
            (repeated.status, repeated.code),
            (400, Some("RepeatedShare"))
        );
        assert_eq!(
            give(&seal, &shares[3], &current, &opener).body["progress"],
            2
        );
        let wrong = give(&seal, &foreign[1], &current, &opener);
        assert_eq!((wrong.status, wrong.code), (400, Some("WrongShares")));
        assert_eq!(
            seal.status(&current)["progress"],
            0,
            "every share given is forgotten"
        );
        assert!(current.get().is_none());

        let none = seal.unseal(None, &current, &opener);
        assert_eq!((none.status, none.code), (400, Some("InvalidRequest")));
        let malformed = seal.unseal(Some("not a share"), &current, &opener);
        assert_eq!(
            (malformed.status, malformed.code),
            (400, Some("MalformedShare"))
        );

        for share in [&shares[4], &shares[1]] {
            assert_eq!(give(&seal, share, &current, &opener).body["sealed"], true);
        }
        let unsealed = give(&seal, &shares[2], &current, &opener);
        assert_eq!(
            (unsealed.status, unsealed.body["sealed"].clone()),
            (200, false.into())
        );
        let service = current.get().expect("the service is built");
        assert!(!service.root_keys.is_sealed());

        let sealed = seal.seal(&current);
        assert_eq!(sealed.body["sealed"], true);
        assert!(current.get().is_none());
        assert!(
            service.root_keys.is_sealed(),
            "a request still holding it finds no key"
        );
        // Once the last request lets go, the engine (its cache of loaded keys) and the
        // directory (the unsealed credentials) go too, background work included.
        let (engine, directory) = (
            Arc::downgrade(&service.engine),
            Arc::downgrade(&service.directory),
        );
        drop(service);
        for _ in 0..100 {
            if engine.strong_count() == 0 && directory.strong_count() == 0 {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("the sealed service's engine or directory is still held");
    }

    #[test]
    fn each_seal_refuses_a_store_made_for_another() {
        let key_file = std::path::PathBuf::from("root.key");
        let plain: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let refusal = |kind, store: &Arc<dyn Store>| {
            NodeSeal::new(kind, key_file.clone(), store.clone(), "S")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(refusal(SealKind::Shamir, &plain).contains("not made by `kmsd operator init`"));
        assert!(NodeSeal::new(SealKind::File, key_file.clone(), plain.clone(), "S").is_ok());

        let wrapped: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let root = KeyRoot::new(shamir::generate_unseal_key().unwrap());
        open_keyring(wrapped.as_ref(), &root, None).unwrap();
        assert!(refusal(SealKind::Shamir, &wrapped).contains("protected by another seal"));

        let split: Arc<dyn Store> = Arc::new(MemoryStore::default());
        split_store(split.as_ref(), 3, 2);
        for kind in [SealKind::File, SealKind::Pkcs11] {
            assert!(refusal(kind, &split).contains("start it with --seal shamir"));
        }
        assert!(NodeSeal::new(SealKind::Shamir, key_file, split, "S").is_ok());
    }
}
