//! Seals: the root keys that seal every record ([`keyring`]), and the roots of trust that
//! protect them. The key-file seal keeps a key in a 0600 file (in the data directory unless the
//! operator puts it elsewhere); the Shamir seal rebuilds a key from operators' shares; the
//! PKCS#11 seal keeps one inside an HSM. Each wraps the root keyring ([`RootOfTrust`]); a
//! key-file store made before keyrings seals with the file's key directly (generation 0).

pub mod keyring;
pub mod shamir;

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use zeroize::Zeroizing;

use kms_core::store::ROOT_KEYRING;
use kms_core::{SealError, Store};
use kms_crypto::Aes256GcmKey;

use crate::keyring::Keyring;

/// What protects the root keyring at rest: it wraps the keyring's bytes before they are stored
/// and unwraps them at start or unseal. A wrong key (another store's file, a wrong set of
/// shares, another HSM key) answers [`SealError::Authentication`]; an unreachable HSM
/// [`SealError::Backend`].
pub trait RootOfTrust: Send + Sync {
    fn wrap(&self, keyring: &[u8]) -> Result<Vec<u8>, SealError>;
    fn unwrap(&self, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError>;
}

/// A store's root keys, and the root of trust that keeps them wrapped in the store.
pub struct Sealing {
    pub keys: Arc<keyring::RootKeys>,
    pub root: Arc<dyn RootOfTrust>,
}

/// Binds a wrapped keyring to its purpose; every root of trust wraps under it.
pub const KEYRING_AAD: &[u8] = b"kmsd root keyring v1";

/// A root of trust that is an AES-256-GCM key in memory: the key file's, or the one a Shamir
/// quorum rebuilt.
pub struct KeyRoot(Aes256GcmKey);

impl KeyRoot {
    pub fn new(key: Aes256GcmKey) -> Self {
        Self(key)
    }
}

impl RootOfTrust for KeyRoot {
    fn wrap(&self, keyring: &[u8]) -> Result<Vec<u8>, SealError> {
        self.0
            .seal(KEYRING_AAD, keyring)
            .map_err(|e| SealError::Backend(e.to_string()))
    }

    fn unwrap(&self, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        self.0
            .open(KEYRING_AAD, wrapped)
            .map_err(|_| SealError::Authentication)
    }
}

/// Why the root keyring could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum KeyringOpenError {
    #[error("the root of trust does not open this store's root keyring: {0}")]
    Seal(#[from] SealError),
    #[error(transparent)]
    Keyring(#[from] keyring::KeyringError),
    #[error("reading or writing the root keyring: {0}")]
    Store(#[from] kms_core::store::StoreError),
}

/// Opens the store's root keyring with `root`. A store without one is a key-file store whose
/// `legacy` key seals records directly, or (with no legacy key: a Shamir or PKCS#11 seal) a new
/// store, which gets a fresh keyring now; should another node make one first, that one wins.
pub fn open_keyring(
    store: &dyn Store,
    root: &dyn RootOfTrust,
    legacy: Option<&Aes256GcmKey>,
) -> Result<Keyring, KeyringOpenError> {
    let wrapped = match (store.setting(ROOT_KEYRING)?, legacy) {
        (Some(wrapped), _) => wrapped,
        (None, Some(key)) => return Ok(Keyring::legacy(key.clone())),
        (None, None) => {
            let fresh = Keyring::generate()?;
            let wrapped = root.wrap(&fresh.to_bytes())?;
            store.init_setting(ROOT_KEYRING, &wrapped)?
        }
    };
    Ok(Keyring::from_bytes(&root.unwrap(&wrapped)?)?)
}

/// Identifies the key file's format, so a later format can be told apart.
const MAGIC: &[u8; 8] = b"KMSROOT1";

/// The key of a key file, read from (or created in) it: a key-file store's root of trust.
pub struct FileSeal {
    root: Aes256GcmKey,
}

/// Why the key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("key file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("key file {0} is not a root key file (wrong size or header)")]
    Format(String),
    #[error("key file {0} is readable by other users; it must be mode 0600")]
    Permissions(String),
    #[error("key file {0} already exists")]
    Exists(String),
    #[error("the OS random source failed while making a root key")]
    Random,
}

impl FileSeal {
    /// Opens the existing key file at `path`.
    pub fn open(path: &Path) -> Result<Self, KeyFileError> {
        let shown = path.display().to_string();
        let io = |source| KeyFileError::Io {
            path: shown.clone(),
            source,
        };
        let mut file = File::open(path).map_err(io)?;
        if file.metadata().map_err(io)?.permissions().mode() & 0o077 != 0 {
            return Err(KeyFileError::Permissions(shown));
        }
        let mut contents = Zeroizing::new(Vec::new());
        file.read_to_end(&mut contents).map_err(io)?;
        if contents.len() != MAGIC.len() + 32 || &contents[..MAGIC.len()] != MAGIC {
            return Err(KeyFileError::Format(shown));
        }
        let root = Aes256GcmKey::from_bytes(&contents[MAGIC.len()..])
            .map_err(|_| KeyFileError::Format(shown))?;
        Ok(Self { root })
    }

    /// Makes a fresh random key and writes it to `path`, which must not exist. The key appears
    /// whole or not at all: it is written and synced under a temporary name, then linked into
    /// place (which refuses to replace a file), and the directory is synced.
    pub fn create(path: &Path) -> Result<Self, KeyFileError> {
        let shown = path.display().to_string();
        let io = |source| KeyFileError::Io {
            path: shown.clone(),
            source,
        };
        let root = Aes256GcmKey::generate().map_err(|_| KeyFileError::Random)?;
        let temporary = temporary_path(path);
        match std::fs::remove_file(&temporary) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
            _ => {}
        }
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(io)?;
        let mut contents = Zeroizing::new(MAGIC.to_vec());
        contents.extend_from_slice(root.expose());
        let linked = file
            .write_all(&contents)
            .and_then(|()| file.sync_all())
            .and_then(|()| std::fs::hard_link(&temporary, path));
        let removed = std::fs::remove_file(&temporary);
        match linked {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(KeyFileError::Exists(shown));
            }
            other => other.map_err(io)?,
        }
        removed.map_err(io)?;
        sync_parent(path).map_err(io)?;
        Ok(Self { root })
    }
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".new");
    path.with_file_name(name)
}

fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => File::open(".")?.sync_all(),
    }
}

impl FileSeal {
    /// The file's key: generation 0 of a store made before keyrings, and the key that wraps the
    /// keyring of a store that has one.
    pub fn key(&self) -> &Aes256GcmKey {
        &self.root
    }

    /// The root keys of `store`, which this file's key opens, with the file's key as their
    /// root of trust.
    pub fn unseal(&self, store: &dyn Store) -> Result<Sealing, KeyringOpenError> {
        let root = KeyRoot::new(self.root.clone());
        let keyring = open_keyring(store, &root, Some(&self.root))?;
        Ok(Sealing {
            keys: Arc::new(keyring::RootKeys::unsealed(keyring)),
            root: Arc::new(root),
        })
    }
}

#[cfg(test)]
mod tests {
    use kms_core::testing::MemoryStore;
    use kms_core::Seal as _;

    use super::*;
    use crate::keyring::RootKeys;

    #[test]
    fn a_legacy_store_keeps_its_file_key_and_a_new_store_gets_a_wrapped_keyring() {
        let store = MemoryStore::default();
        let file_key = Aes256GcmKey::generate().unwrap();
        let root = KeyRoot::new(file_key.clone());
        let legacy = open_keyring(&store, &root, Some(&file_key)).unwrap();
        assert_eq!(legacy.generations(), [0]);
        assert_eq!(store.setting(ROOT_KEYRING).unwrap(), None);

        let keyring = open_keyring(&store, &root, None).unwrap();
        assert_eq!(keyring.generations(), [1]);
        let wrapped = store.setting(ROOT_KEYRING).unwrap().unwrap();
        assert!(
            !wrapped.windows(8).any(|w| w == b"KMSRING1"),
            "the stored keyring is wrapped"
        );
        let again = open_keyring(&store, &root, None).unwrap();
        let (first, second) = (RootKeys::unsealed(keyring), RootKeys::unsealed(again));
        let blob = first.seal(b"aad", b"secret").unwrap();
        assert_eq!(&second.unseal(b"aad", &blob).unwrap()[..], b"secret");
        assert_eq!(first.check_value(), second.check_value());

        let stranger = KeyRoot::new(Aes256GcmKey::generate().unwrap());
        assert!(matches!(
            open_keyring(&store, &stranger, None),
            Err(KeyringOpenError::Seal(SealError::Authentication))
        ));
    }

    #[test]
    fn creates_once_then_reopens_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        let seal = FileSeal::create(&path).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let again = FileSeal::open(&path).unwrap();
        assert_eq!(again.key().expose(), seal.key().expose());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["root.key"], "no temporary file is left behind");
    }

    #[test]
    fn create_never_replaces_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        let first = FileSeal::create(&path).unwrap();
        assert!(matches!(
            FileSeal::create(&path),
            Err(KeyFileError::Exists(_))
        ));
        let kept = FileSeal::open(&path).unwrap();
        assert_eq!(kept.key().expose(), first.key().expose());
    }

    #[test]
    fn a_leftover_temporary_file_does_not_block_creation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        std::fs::write(dir.path().join("root.key.new"), b"torn write").unwrap();
        FileSeal::create(&path).unwrap();
        assert!(FileSeal::open(&path).is_ok());
        assert!(!dir.path().join("root.key.new").exists());
    }

    #[test]
    fn open_refuses_missing_loose_and_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        assert!(matches!(
            FileSeal::open(&path),
            Err(KeyFileError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound
        ));
        assert!(!path.exists(), "opening never creates the key");
        std::fs::write(&path, b"short").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(
            FileSeal::open(&path),
            Err(KeyFileError::Format(_))
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            FileSeal::open(&path),
            Err(KeyFileError::Permissions(_))
        ));
    }
}
