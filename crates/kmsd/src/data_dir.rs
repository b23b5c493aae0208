//! The data directory: created and locked at start, and its store opened with its root key.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use kms_core::SealError;
use kms_core::Store as _;
use kms_core::store::ROOT_KEY_CHECK;
use kms_seal::Sealing;
use kms_seal::{FileSeal, KeyFileError, KeyringOpenError};
use kms_store::{EmbeddedStore, PgOptions, PgSettings, PgStore};

pub const STORE_FILE: &str = "kms.redb";
/// Locked (flock) by the kmsd that serves the directory; holds that process's id and address.
const LOCK_FILE: &str = "kmsd.lock";
/// Left by a kmsd that stopped with every erasure in its embedded store scrubbed: the next start
/// need not scrub (on a large store a scrub rewrites the file and takes seconds and memory).
const SCRUBBED_FILE: &str = "scrubbed-at-stop";

/// The refusal to lock a data directory that another process holds.
#[derive(Debug)]
pub struct Held {
    /// What the lock file says of the holder ("pid 42, listening on 127.0.0.1:8740"), if anything.
    pub holder: String,
    pub path: PathBuf,
}

impl std::fmt::Display for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let holder = if self.holder.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.holder)
        };
        write!(
            f,
            "another kmsd{holder} holds the data directory {}; stop it first, or give this one another --data-dir",
            self.path.display()
        )
    }
}

impl std::error::Error for Held {}

/// A data directory this process holds until it exits.
pub struct DataDir {
    path: PathBuf,
    _lock: File,
}

impl DataDir {
    /// Creates the directory if missing (mode 0700) and takes its lock, refusing when another
    /// kmsd holds it. `holder` says who this process is, for the message a second one shows.
    pub fn lock(path: &Path, holder: &str) -> anyhow::Result<Self> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .with_context(|| format!("creating the data directory {}", path.display()))?;
        let lock_path = path.join(LOCK_FILE);
        let mut lock = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .with_context(|| format!("opening {}", lock_path.display()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = lock.read_to_string(&mut holder);
                return Err(Held {
                    holder: holder.trim().to_owned(),
                    path: path.to_owned(),
                }
                .into());
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", lock_path.display()));
            }
        }
        lock.set_len(0)
            .and_then(|()| lock.rewind())
            .and_then(|()| writeln!(lock, "pid {}, {holder}", std::process::id()))
            .with_context(|| format!("writing {}", lock_path.display()))?;
        Ok(Self {
            path: path.to_owned(),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the previous kmsd stopped with its store scrubbed. The mark is removed (durably)
    /// before this returns: should this process stop without leaving a new one (a crash, a
    /// scrub still owed), the next start scrubs.
    pub fn take_scrubbed_mark(&self) -> anyhow::Result<bool> {
        let mark = self.path.join(SCRUBBED_FILE);
        match std::fs::remove_file(&mark) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e).with_context(|| format!("removing {}", mark.display())),
        }
        File::open(&self.path)
            .and_then(|dir| dir.sync_all())
            .with_context(|| format!("syncing the data directory {}", self.path.display()))?;
        Ok(true)
    }

    /// Marks the store scrubbed: call only once nothing can write to it any more, with no
    /// erasure owed a scrub.
    pub fn mark_scrubbed(&self) -> anyhow::Result<()> {
        let mark = self.path.join(SCRUBBED_FILE);
        crate::bootstrap::write_synced(&mark, b"")
            .with_context(|| format!("writing {}", mark.display()))
    }

    /// Makes the directory 0700 and every file in it 0600 (or tighter), whatever made them
    /// looser: a directory created before with 0755, a store written by an older kmsd under
    /// umask 022, an audit file an operator created. Files kmsd creates are made 0600 from the
    /// start; this catches what was there before. The root key file is left as it is: a key
    /// that others could read may have been read, so `FileSeal` refuses it rather than have it
    /// quietly hidden again. Symbolic links and subdirectories are not followed.
    fn make_private(&self, root_key_file: &Path) -> anyhow::Result<()> {
        tighten(&self.path, 0o700)?;
        let entries = std::fs::read_dir(&self.path)
            .with_context(|| format!("listing the data directory {}", self.path.display()))?;
        for entry in entries {
            let entry = entry
                .with_context(|| format!("listing the data directory {}", self.path.display()))?;
            let path = entry.path();
            let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
            if is_file && path != root_key_file {
                tighten(&path, 0o600)?;
            }
        }
        Ok(())
    }

    /// Opens the store and its root key. An existing store needs the key it was made with:
    /// without it the start is refused, since a new key could not open anything in the store.
    /// A new store uses the key file if one is there (a key made by an earlier start that did not
    /// finish, or one the operator placed), else a new key is made before the store is created.
    pub fn open_store(&self, root_key_file: &Path) -> anyhow::Result<(Sealing, EmbeddedStore)> {
        self.make_private(root_key_file)?;
        let store_path = self.path.join(STORE_FILE);
        let store_exists = store_path
            .try_exists()
            .with_context(|| format!("looking for {}", store_path.display()))?;
        let seal = open_seal(
            root_key_file,
            store_exists,
            &store_path.display().to_string(),
        )?;
        let store = EmbeddedStore::open(&store_path)
            .with_context(|| format!("opening the store {}", store_path.display()))?;
        let sealing = file_root_keys(
            &seal,
            &store,
            root_key_file,
            &store_path.display().to_string(),
        )?;
        Ok((sealing, store))
    }

    /// Opens the embedded store without a root key file, for a seal that keeps its root of
    /// trust elsewhere; `None` when the directory holds no store and `create` is false.
    pub fn open_keyless_store(&self, create: bool) -> anyhow::Result<Option<EmbeddedStore>> {
        self.make_private(&self.path.join("root.key"))?;
        let store_path = self.path.join(STORE_FILE);
        let exists = store_path
            .try_exists()
            .with_context(|| format!("looking for {}", store_path.display()))?;
        if !exists && !create {
            return Ok(None);
        }
        let store = EmbeddedStore::open(&store_path)
            .with_context(|| format!("opening the store {}", store_path.display()))?;
        Ok(Some(store))
    }

    /// Opens a PostgreSQL store (applying its migrations) without a root key file.
    pub fn open_keyless_postgres(
        &self,
        settings: &PgSettings,
        options: PgOptions,
    ) -> anyhow::Result<PgStore> {
        self.make_private(&self.path.join("root.key"))?;
        PgStore::open_with(settings.clone(), options).map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// Opens a PostgreSQL store (applying its migrations) and the root key, with the rules of
    /// [`DataDir::open_store`]: a database that holds a store needs the key it was made with.
    pub fn open_postgres(
        &self,
        root_key_file: &Path,
        settings: &PgSettings,
        options: PgOptions,
    ) -> anyhow::Result<(Sealing, PgStore)> {
        self.make_private(root_key_file)?;
        let store =
            PgStore::open_with(settings.clone(), options).map_err(|e| anyhow::anyhow!("{e}"))?;
        let store_exists = store.setting(ROOT_KEY_CHECK)?.is_some() || !store.is_empty()?;
        let seal = open_seal(root_key_file, store_exists, &settings.to_string())?;
        let sealing = file_root_keys(&seal, &store, root_key_file, &settings.to_string())?;
        Ok((sealing, store))
    }
}

/// The root key of a store: an existing store's must be there, a new store's is made if missing.
fn open_seal(root_key_file: &Path, store_exists: bool, store: &str) -> anyhow::Result<FileSeal> {
    match FileSeal::open(root_key_file) {
        Ok(seal) => Ok(seal),
        Err(KeyFileError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound && store_exists =>
        {
            anyhow::bail!(
                "the store {store} exists but its root key file {} does not. Restore the key \
                 file there, or give its place with --root-key-file; kmsd makes a new root \
                 key only for a new store, since a new key cannot open the sealed data (a store \
                 made by `kmsd operator init` is served with --seal shamir and administered \
                 through that server, `kmsd admin --endpoint`; a store sealed by an HSM with \
                 --seal pkcs11)",
                root_key_file.display()
            );
        }
        Err(KeyFileError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            match FileSeal::create(root_key_file) {
                Ok(seal) => {
                    tracing::info!(path = %root_key_file.display(), "made a new root key for a new store");
                    Ok(seal)
                }
                // Another process sharing the path made it first: it is the key to use.
                Err(KeyFileError::Exists(_)) => Ok(FileSeal::open(root_key_file)?),
                Err(e) => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// The root keys of a store the key file opens; a store whose keyring another root of trust
/// wrapped (an HSM's key) is refused by name.
fn file_root_keys(
    seal: &FileSeal,
    store: &dyn kms_core::Store,
    root_key_file: &Path,
    place: &str,
) -> anyhow::Result<Sealing> {
    match seal.unseal(store) {
        Ok(keys) => Ok(keys),
        Err(KeyringOpenError::Seal(SealError::Authentication)) => anyhow::bail!(
            "the root key file {} does not open the root keyring of the store {place}: it is \
             not the key this store was sealed with. A store sealed by an HSM starts with \
             --seal pkcs11",
            root_key_file.display()
        ),
        Err(e) => Err(e.into()),
    }
}

/// Clears the permission bits of `path` outside `allowed`, saying so when there were any.
fn tighten(path: &Path, allowed: u32) -> anyhow::Result<()> {
    let mode = std::fs::symlink_metadata(path)
        .with_context(|| format!("reading the mode of {}", path.display()))?
        .permissions()
        .mode()
        & 0o7777;
    if mode & !allowed == 0 {
        return Ok(());
    }
    let tightened = mode & allowed;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(tightened))
        .with_context(|| format!("making {} private (mode {tightened:o})", path.display()))?;
    tracing::warn!(
        path = %path.display(),
        was = format!("{mode:o}"),
        now = format!("{tightened:o}"),
        "made a data directory entry private"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use kms_core::Seal as _;

    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        let first = DataDir::lock(&path, "listening on 127.0.0.1:1").unwrap();
        let err = DataDir::lock(&path, "listening on 127.0.0.1:2")
            .err()
            .unwrap()
            .to_string();
        let expected = format!(
            "another kmsd (pid {}, listening on 127.0.0.1:1) holds the data directory {}",
            std::process::id(),
            path.display()
        );
        assert!(err.contains(&expected), "{err}");
        drop(first);
        DataDir::lock(&path, "listening on 127.0.0.1:2").unwrap();
    }

    #[test]
    fn a_store_without_its_root_key_is_refused_and_no_key_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::lock(&dir.path().join("data"), "test").unwrap();
        let key = dir.path().join("root.key");
        let (seal, store) = data.open_store(&key).unwrap();
        let seal = seal.keys;
        let sealed = seal.seal(b"aad", b"secret").unwrap();
        drop(store);

        std::fs::rename(&key, dir.path().join("backup.key")).unwrap();
        let err = data.open_store(&key).err().unwrap().to_string();
        assert!(
            err.contains(&format!("its root key file {} does not", key.display())),
            "{err}"
        );
        assert!(
            err.contains(&data.path().join(STORE_FILE).display().to_string()),
            "{err}"
        );
        assert!(!key.exists(), "no new key replaces the lost one");

        std::fs::rename(dir.path().join("backup.key"), &key).unwrap();
        let (seal, _store) = data.open_store(&key).unwrap();
        let seal = seal.keys;
        assert_eq!(&seal.unseal(b"aad", &sealed).unwrap()[..], b"secret");
    }

    #[test]
    fn a_key_without_a_store_is_used_for_the_new_store() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("root.key");
        let sealed = FileSeal::create(&key)
            .unwrap()
            .key()
            .seal(b"aad", b"kept")
            .unwrap();
        let data = DataDir::lock(&dir.path().join("data"), "test").unwrap();
        let (seal, _store) = data.open_store(&key).unwrap();
        let seal = seal.keys;
        assert_eq!(&seal.unseal(b"aad", &sealed).unwrap()[..], b"kept");
        assert!(data.path().join(STORE_FILE).exists());
    }

    #[test]
    fn a_scrubbed_mark_is_taken_once() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::lock(&dir.path().join("data"), "test").unwrap();
        assert!(
            !data.take_scrubbed_mark().unwrap(),
            "a new directory has none"
        );
        data.mark_scrubbed().unwrap();
        assert!(data.path().join(SCRUBBED_FILE).exists());
        drop(data);
        let data = DataDir::lock(&dir.path().join("data"), "test").unwrap();
        assert!(data.take_scrubbed_mark().unwrap());
        assert!(
            !data.path().join(SCRUBBED_FILE).exists(),
            "taken before serving, so a crash leaves none"
        );
        assert!(!data.take_scrubbed_mark().unwrap());
    }

    /// A data directory made before with 0755, and files in it that umask 022 left readable
    /// by everyone, are made private when the store is opened; the root key is not touched
    /// (`FileSeal` refuses a readable one), nor is anything a symbolic link points to.
    #[test]
    fn a_loose_data_directory_and_its_files_are_made_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        std::fs::create_dir(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let outside = dir.path().join("outside");
        std::fs::write(&outside, b"").unwrap();
        std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(&outside, path.join("link")).unwrap();
        for name in [LOCK_FILE, "audit.log", "root-credentials.json.new"] {
            std::fs::write(path.join(name), b"").unwrap();
            std::fs::set_permissions(path.join(name), std::fs::Permissions::from_mode(0o664))
                .unwrap();
        }
        let data = DataDir::lock(&path, "test").unwrap();
        let key = path.join("root.key");
        let (_seal, _store) = data.open_store(&key).unwrap();
        assert_eq!(mode(&path), 0o700);
        for name in [
            LOCK_FILE,
            "audit.log",
            "root-credentials.json.new",
            STORE_FILE,
            "root.key",
        ] {
            assert_eq!(mode(&path.join(name)), 0o600, "{name}");
        }
        assert_eq!(mode(&outside), 0o644, "a link is not followed");
        drop(data);

        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let data = DataDir::lock(&path, "test").unwrap();
        let err = data.open_store(&key).err().unwrap().to_string();
        assert!(err.contains("readable by other users"), "{err}");
        assert_eq!(
            mode(&key),
            0o644,
            "a readable root key is refused, not hidden"
        );
    }
}
