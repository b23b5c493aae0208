//! First start over an empty store: the root account and its credential.

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;
use zeroize::Zeroizing;

use kms_core::accounts::{NewAccount, create_account};
use kms_core::identity::{is_project_id, is_secret_id, is_secret_key};
use kms_core::{Seal, Store};

pub const CREDENTIALS_FILE: &str = "root-credentials.json";
const SECRET_ID_VAR: &str = "KMSD_ROOT_SECRET_ID";
const SECRET_KEY_VAR: &str = "KMSD_ROOT_SECRET_KEY";
const PROJECT_ID_VAR: &str = "KMSD_ROOT_PROJECT_ID";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The root credential the operator gave in the environment, checked at start (before anything
/// is written) and used only when the store has no account yet.
pub struct RootEnv {
    pair: Option<(String, Zeroizing<String>)>,
    project_id: Option<String>,
    /// The root account's id and app id, fixed by dev mode (ciphertext is bound to the account,
    /// so a fixture key's ciphertext opens in every run); random otherwise.
    ids: Option<(u64, u64)>,
}

impl std::fmt::Debug for RootEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootEnv")
            .field("secret_id", &self.pair.as_ref().map(|(id, _)| id))
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

impl RootEnv {
    /// Reads `KMSD_ROOT_SECRET_ID`, `KMSD_ROOT_SECRET_KEY` and `KMSD_ROOT_PROJECT_ID`.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// The given credential, project id and account ids, the credential checked as the
    /// variables are (dev mode's).
    pub fn given(
        secret_id: &str,
        secret_key: &str,
        project_id: &str,
        (uin, app_id): (u64, u64),
    ) -> anyhow::Result<Self> {
        let env = Self::from_lookup(|name| match name {
            SECRET_ID_VAR => Some(secret_id.into()),
            SECRET_KEY_VAR => Some(secret_key.into()),
            PROJECT_ID_VAR => Some(project_id.into()),
            _ => None,
        })?;
        Ok(Self {
            ids: Some((uin, app_id)),
            ..env
        })
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> anyhow::Result<Self> {
        let get = |name: &str| -> anyhow::Result<Option<Zeroizing<String>>> {
            match lookup(name) {
                None => Ok(None),
                Some(v) if v.is_empty() => Ok(None),
                Some(v) => v
                    .into_string()
                    .map(|s| Some(Zeroizing::new(s)))
                    .map_err(|_| anyhow::anyhow!("{name} is not valid UTF-8")),
            }
        };
        let pair = match (get(SECRET_ID_VAR)?, get(SECRET_KEY_VAR)?) {
            (Some(id), Some(key)) => {
                anyhow::ensure!(
                    is_secret_id(&id),
                    "{SECRET_ID_VAR} must be 1 to 128 characters from A-Z, a-z, 0-9, '-', '_' and '.'"
                );
                anyhow::ensure!(
                    is_secret_key(&key),
                    "{SECRET_KEY_VAR} must be 1 to 256 printable ASCII characters without spaces"
                );
                Some((id.to_string(), key))
            }
            (None, None) => None,
            (Some(_), None) => anyhow::bail!(
                "{SECRET_ID_VAR} is set but {SECRET_KEY_VAR} is not: set both, or neither to have them generated"
            ),
            (None, Some(_)) => anyhow::bail!(
                "{SECRET_KEY_VAR} is set but {SECRET_ID_VAR} is not: set both, or neither to have them generated"
            ),
        };
        let project_id = get(PROJECT_ID_VAR)?.map(|p| p.to_string());
        if let Some(p) = &project_id {
            anyhow::ensure!(
                is_project_id(p),
                "{PROJECT_ID_VAR} must be 32 lowercase hex characters, got {p:?}"
            );
        }
        Ok(Self {
            pair,
            project_id,
            ids: None,
        })
    }

    fn is_given(&self) -> bool {
        self.pair.is_some() || self.project_id.is_some()
    }
}

/// Where the operator finds the root credential, for the start-up log.
#[derive(Debug)]
pub enum RootCredential {
    File(PathBuf),
    Environment,
    /// Made by another node of a shared store, whose data dir holds the file if one was written.
    OtherNode,
}

/// The setting in which the first node over an empty store records the root account's id.
const ROOT_ACCOUNT: &str = "root_account";

/// The root account id every node of the store uses: the first one recorded, `ours` if none was.
fn claim_root_uin(store: &dyn Store, ours: u64) -> anyhow::Result<u64> {
    let recorded = store
        .init_setting(ROOT_ACCOUNT, ours.to_string().as_bytes())
        .context("recording the root account's id")?;
    std::str::from_utf8(&recorded)
        .ok()
        .and_then(|text| text.parse().ok())
        .context("the store's recorded root account id is not a number")
}

/// The root account's id as the first node recorded it; `None` before any node did.
pub fn recorded_root_uin(store: &dyn Store) -> Option<u64> {
    let recorded = store.setting(ROOT_ACCOUNT).ok()??;
    std::str::from_utf8(&recorded).ok()?.parse().ok()
}

impl std::fmt::Display for RootCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Environment => write!(
                f,
                "given in {SECRET_ID_VAR}/{SECRET_KEY_VAR} at the first start; no file"
            ),
            Self::OtherNode => write!(
                f,
                "made by the node that first started over this store; no file here"
            ),
        }
    }
}

/// What `root-credentials.json` holds. A secret key the operator gave is not written down again.
#[derive(Serialize)]
struct CredentialsFile<'a> {
    secret_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_key: Option<&'a str>,
    project_id: &'a str,
    uin: u64,
    app_id: u64,
}

fn random_u64() -> anyhow::Result<u64> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("OS random source: {e}"))?;
    Ok(u64::from_le_bytes(b))
}

/// `len` random characters from [A-Za-z0-9], without modulo bias.
fn random_alnum(len: usize) -> anyhow::Result<Zeroizing<String>> {
    let mut out = Zeroizing::new(String::with_capacity(len));
    while out.len() < len {
        let mut b = [0u8; 64];
        getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("OS random source: {e}"))?;
        for byte in b {
            // 248 = 4 * 62: reject the tail so every character is equally likely.
            if byte < 248 && out.len() < len {
                out.push(ALNUM[usize::from(byte % 62)] as char);
            }
        }
    }
    Ok(out)
}

/// Creates the root account when the store has none, from `env` and whatever is generated.
/// Anything generated is first written and synced to `root-credentials.json` in `data_dir`, and
/// only then is the account committed: a credential is never in the store without being written
/// down. Returns where the operator finds the credential.
pub fn ensure_root_account(
    store: &dyn Store,
    seal: &dyn Seal,
    data_dir: &Path,
    env: &RootEnv,
    now: u64,
    shared: bool,
) -> anyhow::Result<RootCredential> {
    let path = data_dir.join(CREDENTIALS_FILE);
    if !store.accounts().context("reading accounts")?.is_empty() {
        if env.is_given() {
            tracing::info!(
                "the store already has its root account; {SECRET_ID_VAR}, {SECRET_KEY_VAR} and {PROJECT_ID_VAR} are ignored"
            );
        }
        return Ok(if path.exists() {
            RootCredential::File(path)
        } else if shared && !env.is_given() {
            RootCredential::OtherNode
        } else {
            RootCredential::Environment
        });
    }
    let generated_something = env.pair.is_none() || env.project_id.is_none();
    let (secret_id, secret_key) = match &env.pair {
        Some((id, key)) => (id.clone(), key.clone()),
        None => (format!("AKID{}", *random_alnum(32)?), random_alnum(32)?),
    };
    let project_id = match &env.project_id {
        Some(p) => p.clone(),
        None => {
            hex::encode(random_u64()?.to_be_bytes()) + &hex::encode(random_u64()?.to_be_bytes())
        }
    };
    // Tencent account ids are 12-digit numbers starting with 1; app ids 10 digits starting 125.
    // Nodes starting together over one empty shared store agree on one root account id (the
    // first to record its choice wins), so exactly one of their creations can succeed.
    let (uin, app_id) = match env.ids {
        Some(ids) => ids,
        None => (
            100_000_000_000 + random_u64()? % 900_000_000_000,
            1_250_000_000 + random_u64()? % 10_000_000,
        ),
    };
    let uin = claim_root_uin(store, uin)?;
    let account = NewAccount {
        uin,
        app_id,
        secret_id,
        secret_key,
        project_id,
    };
    // The store has no account, so a credentials file already here was left by a start that
    // failed before its commit: it describes an account that never existed.
    let stale = path.exists();
    if generated_something {
        if stale {
            tracing::info!(path = %path.display(), "replacing a credentials file left by an earlier start that did not finish; the store has no account yet");
        }
        let contents = Zeroizing::new(serde_json::to_vec_pretty(&CredentialsFile {
            secret_id: &account.secret_id,
            secret_key: env.pair.is_none().then_some(account.secret_key.as_str()),
            project_id: &account.project_id,
            uin,
            app_id,
        })?);
        write_synced(&path, &contents)
            .with_context(|| format!("writing the root credentials to {}", path.display()))?;
    } else if stale {
        tracing::info!(path = %path.display(), "removing a credentials file left by an earlier start that did not finish; the root credential comes from the environment");
        std::fs::remove_file(&path)
            .and_then(|()| sync_dir(data_dir))
            .with_context(|| format!("removing {}", path.display()))?;
    }
    if let Err(e) = create_account(store, seal, &account, now) {
        if store
            .accounts()
            .context("reading accounts")?
            .iter()
            .any(|a| a.uin == uin)
        {
            // Another node of this store made the root account first.
            if generated_something {
                std::fs::remove_file(&path)
                    .and_then(|()| sync_dir(data_dir))
                    .with_context(|| format!("removing {}", path.display()))?;
            }
            tracing::info!("another node made the store's root account; joining it");
            return Ok(RootCredential::OtherNode);
        }
        anyhow::bail!("creating the root account: {e}");
    }
    if generated_something {
        tracing::info!(path = %path.display(), "root account created; its credential is in this file");
        Ok(RootCredential::File(path))
    } else {
        tracing::info!(secret_id = %account.secret_id, "root account created from the environment");
        Ok(RootCredential::Environment)
    }
}

/// Rewrites the root credentials file with the root account's rotated secret key.
pub fn write_root_file(
    path: &Path,
    root: &kms_core::Account,
    secret_key: &str,
) -> anyhow::Result<()> {
    let contents = Zeroizing::new(serde_json::to_vec_pretty(&CredentialsFile {
        secret_id: &root.secret_id,
        secret_key: Some(secret_key),
        project_id: &root.project_id,
        uin: root.uin,
        app_id: root.app_id,
    })?);
    Ok(write_synced(path, &contents)?)
}

/// Writes `contents` to `path` (mode 0600) whole or not at all: under a temporary name (`.new`
/// appended), synced, renamed over `path`, and the directory synced so the new name survives a
/// crash.
pub fn write_synced(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".new");
    let temporary = PathBuf::from(temporary);
    match std::fs::remove_file(&temporary) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .and_then(|mut file| {
            file.write_all(contents)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::os::unix::fs::PermissionsExt;

    use kms_core::accounts::Directory;
    use kms_core::testing::{MemorySeal, MemoryStore};

    use super::*;

    const PROJECT: &str = "0123456789abcdef0123456789abcdef";

    fn env(vars: &[(&str, &str)]) -> anyhow::Result<RootEnv> {
        let vars: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        RootEnv::from_lookup(|name| vars.get(name).cloned())
    }

    fn written(dir: &Path) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.join(CREDENTIALS_FILE)).unwrap()).unwrap()
    }

    #[test]
    fn random_strings_have_the_right_shape() {
        let s = random_alnum(40).unwrap();
        assert_eq!(s.len(), 40);
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(*s, *random_alnum(40).unwrap());
        assert!(is_project_id(&"a1".repeat(16)));
        assert!(!is_project_id(&"A1".repeat(16)));
        assert!(!is_project_id("abc"));
    }

    #[test]
    fn the_environment_is_checked_whole() {
        let given = env(&[
            (SECRET_ID_VAR, "AKIDx"),
            (SECRET_KEY_VAR, "key"),
            (PROJECT_ID_VAR, PROJECT),
        ])
        .unwrap();
        assert!(given.pair.is_some() && given.project_id.is_some());
        assert!(!format!("{given:?}").contains("key\""), "{given:?}");
        assert!(!env(&[]).unwrap().is_given());
        assert!(
            !env(&[(SECRET_ID_VAR, ""), (SECRET_KEY_VAR, "")])
                .unwrap()
                .is_given()
        );

        let refused = |vars: &[(&str, &str)], says: &str| {
            let err = env(vars).unwrap_err().to_string();
            assert!(err.contains(says), "{vars:?}: {err}");
        };
        refused(&[(SECRET_ID_VAR, "AKIDx")], "KMSD_ROOT_SECRET_KEY is not");
        refused(&[(SECRET_KEY_VAR, "k")], "KMSD_ROOT_SECRET_ID is not");
        refused(&[(PROJECT_ID_VAR, "0123")], "32 lowercase hex");
        refused(
            &[(PROJECT_ID_VAR, &PROJECT.to_uppercase())],
            "32 lowercase hex",
        );
        refused(
            &[(SECRET_ID_VAR, "AKID x"), (SECRET_KEY_VAR, "k")],
            "KMSD_ROOT_SECRET_ID must be",
        );
        refused(
            &[(SECRET_ID_VAR, "AKIDx"), (SECRET_KEY_VAR, "k\n")],
            "KMSD_ROOT_SECRET_KEY must be",
        );
        let err = env(&[(SECRET_ID_VAR, "AKIDx"), (SECRET_KEY_VAR, "se cret")])
            .unwrap_err()
            .to_string();
        assert!(
            !err.contains("se cret"),
            "the secret is never echoed: {err}"
        );
    }

    #[test]
    fn generated_credential_is_written_before_the_account_and_opens_it() {
        let dir = tempfile::tempdir().unwrap();
        let (store, seal) = (MemoryStore::default(), MemorySeal::generate());
        let found =
            ensure_root_account(&store, &seal, dir.path(), &env(&[]).unwrap(), 0, false).unwrap();
        assert!(matches!(found, RootCredential::File(p) if p == dir.path().join(CREDENTIALS_FILE)));
        let creds = written(dir.path());
        let mode = std::fs::metadata(dir.path().join(CREDENTIALS_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let directory = Directory::load(&store, &seal).unwrap();
        let principal = directory
            .by_secret_id(creds["secret_id"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            principal.secret_key(),
            creds["secret_key"].as_str().unwrap().as_bytes()
        );
        assert_eq!(principal.project_id, creds["project_id"].as_str().unwrap());
        assert!(!dir.path().join("root-credentials.json.new").exists());
    }

    #[test]
    fn no_account_is_committed_when_the_credentials_file_cannot_be_written() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty directory where the file belongs: the rename over it fails.
        std::fs::create_dir(dir.path().join(CREDENTIALS_FILE)).unwrap();
        std::fs::write(dir.path().join(CREDENTIALS_FILE).join("x"), b"").unwrap();
        let (store, seal) = (MemoryStore::default(), MemorySeal::generate());
        let err = ensure_root_account(&store, &seal, dir.path(), &env(&[]).unwrap(), 0, false)
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("writing the root credentials"),
            "{err:#}"
        );
        assert!(store.accounts().unwrap().is_empty(), "nothing committed");
        assert!(!dir.path().join("root-credentials.json.new").exists());

        std::fs::remove_dir_all(dir.path().join(CREDENTIALS_FILE)).unwrap();
        ensure_root_account(&store, &seal, dir.path(), &env(&[]).unwrap(), 0, false).unwrap();
        assert_eq!(
            store.accounts().unwrap().len(),
            1,
            "the next start succeeds"
        );
    }

    #[test]
    fn a_stale_credentials_file_is_replaced_while_the_store_has_no_account() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CREDENTIALS_FILE);
        std::fs::write(&path, br#"{"secret_id":"AKIDstale","secret_key":"stale"}"#).unwrap();
        std::fs::write(dir.path().join("root-credentials.json.new"), b"torn").unwrap();
        let (store, seal) = (MemoryStore::default(), MemorySeal::generate());
        let project = env(&[(PROJECT_ID_VAR, PROJECT)]).unwrap();
        ensure_root_account(&store, &seal, dir.path(), &project, 0, false).unwrap();
        let creds = written(dir.path());
        assert_ne!(creds["secret_id"], "AKIDstale");
        assert_ne!(creds["secret_key"], "stale");
        assert_eq!(creds["project_id"], PROJECT);
        let directory = Directory::load(&store, &seal).unwrap();
        assert!(
            directory
                .by_secret_id(creds["secret_id"].as_str().unwrap())
                .is_some()
        );

        // Once the account exists, the file is the store's own and is never touched again.
        let before = std::fs::read(&path).unwrap();
        ensure_root_account(&store, &seal, dir.path(), &env(&[]).unwrap(), 0, false).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert_eq!(store.accounts().unwrap().len(), 1);
    }

    #[test]
    fn a_secret_key_from_the_environment_is_not_written_down() {
        let dir = tempfile::tempdir().unwrap();
        let (store, seal) = (MemoryStore::default(), MemorySeal::generate());
        let pair = env(&[(SECRET_ID_VAR, "AKIDgiven"), (SECRET_KEY_VAR, "givenKey")]).unwrap();
        ensure_root_account(&store, &seal, dir.path(), &pair, 0, false).unwrap();
        let creds = written(dir.path());
        assert_eq!(creds["secret_id"], "AKIDgiven");
        assert!(creds.get("secret_key").is_none(), "{creds}");
        assert!(is_project_id(creds["project_id"].as_str().unwrap()));
        let directory = Directory::load(&store, &seal).unwrap();
        assert_eq!(
            directory.by_secret_id("AKIDgiven").unwrap().project_id,
            creds["project_id"].as_str().unwrap()
        );
    }

    #[test]
    fn a_credential_from_the_environment_removes_a_stale_file_and_writes_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CREDENTIALS_FILE);
        std::fs::write(&path, br#"{"secret_id":"AKIDstale","secret_key":"stale"}"#).unwrap();
        let (store, seal) = (MemoryStore::default(), MemorySeal::generate());
        let given = env(&[
            (SECRET_ID_VAR, "AKIDgiven"),
            (SECRET_KEY_VAR, "givenKey"),
            (PROJECT_ID_VAR, PROJECT),
        ])
        .unwrap();
        let found = ensure_root_account(&store, &seal, dir.path(), &given, 0, false).unwrap();
        assert!(matches!(found, RootCredential::Environment));
        assert!(!path.exists());
        let directory = Directory::load(&store, &seal).unwrap();
        assert_eq!(
            directory.by_secret_id("AKIDgiven").unwrap().secret_key(),
            b"givenKey"
        );
    }
}
