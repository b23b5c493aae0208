//! Seals: where the root key lives. The key-file seal keeps it in a 0600 file in the data
//! directory; Shamir and PKCS#11 seals implement the same [`kms_core::Seal`] trait.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

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
}

impl FileSeal {
    /// Opens the key file at `path`, creating it with a fresh random key when it does not exist.
    /// Returns the seal and whether the file was created.
    pub fn open_or_create(path: &Path) -> Result<(Self, bool), KeyFileError> {
        let shown = path.display().to_string();
        let io = |source| KeyFileError::Io {
            path: shown.clone(),
            source,
        };
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(mut file) => {
                let root =
                    Aes256GcmKey::generate().map_err(|_| KeyFileError::Format(shown.clone()))?;
                let mut contents = Zeroizing::new(MAGIC.to_vec());
                contents.extend_from_slice(root.expose());
                file.write_all(&contents).map_err(io)?;
                file.sync_all().map_err(io)?;
                if let Some(dir) = path.parent() {
                    File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
                }
                Ok((Self { root }, true))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
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
                Ok((Self { root }, false))
            }
            Err(e) => Err(io(e)),
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_then_reopens_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        let (seal, created) = FileSeal::open_or_create(&path).unwrap();
        assert!(created);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let sealed = seal.seal(b"aad", b"secret").unwrap();
        let (again, created) = FileSeal::open_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(&again.unseal(b"aad", &sealed).unwrap()[..], b"secret");
        assert_eq!(
            again.unseal(b"other", &sealed),
            Err(SealError::Authentication)
        );
    }

    #[test]
    fn refuses_loose_permissions_and_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        std::fs::write(&path, b"short").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(
            FileSeal::open_or_create(&path),
            Err(KeyFileError::Format(_))
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            FileSeal::open_or_create(&path),
            Err(KeyFileError::Permissions(_))
        ));
    }
}
