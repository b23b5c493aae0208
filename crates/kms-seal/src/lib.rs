//! Seals: where the root key lives. The key-file seal keeps it in a 0600 file (in the data
//! directory unless the operator puts it elsewhere); Shamir and PKCS#11 seals implement the same
//! [`kms_core::Seal`] trait.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use kms_core::{Seal, SealError};
use kms_crypto::Aes256GcmKey;

/// Identifies the key file's format, so a later format can be told apart.
const MAGIC: &[u8; 8] = b"KMSROOT1";

/// The root key, read from (or created in) a key file.
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

impl Seal for FileSeal {
    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        self.root
            .seal(aad, plaintext)
            .map_err(|e| SealError::Backend(e.to_string()))
    }

    fn unseal(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        self.root
            .open(aad, sealed)
            .map_err(|_| SealError::Authentication)
    }
    fn check_value(&self) -> Result<[u8; 8], SealError> {
        Ok(self.root.check_value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_then_reopens_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        let seal = FileSeal::create(&path).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let sealed = seal.seal(b"aad", b"secret").unwrap();
        let again = FileSeal::open(&path).unwrap();
        assert_eq!(&again.unseal(b"aad", &sealed).unwrap()[..], b"secret");
        assert_eq!(
            again.unseal(b"other", &sealed),
            Err(SealError::Authentication)
        );
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
        let sealed = first.seal(b"aad", b"secret").unwrap();
        assert!(matches!(
            FileSeal::create(&path),
            Err(KeyFileError::Exists(_))
        ));
        let kept = FileSeal::open(&path).unwrap();
        assert_eq!(&kept.unseal(b"aad", &sealed).unwrap()[..], b"secret");
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
