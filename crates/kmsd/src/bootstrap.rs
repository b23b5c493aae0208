//! First start over an empty store: the root account and its credential.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;
use zeroize::Zeroizing;

use kms_core::accounts::{NewAccount, create_account};
use kms_core::{Seal, Store};

pub const CREDENTIALS_FILE: &str = "root-credentials.json";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// What `root-credentials.json` holds.
#[derive(Serialize)]
struct CredentialsFile<'a> {
    secret_id: &'a str,
    secret_key: &'a str,
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

fn is_project_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Creates the root account when the store has none. Credentials come from
/// `KMSD_ROOT_SECRET_ID`/`KMSD_ROOT_SECRET_KEY`/`KMSD_ROOT_PROJECT_ID`; whatever is missing is
/// generated, and then everything is written once to `root-credentials.json` (mode 0600).
pub fn ensure_root_account(
    store: &dyn Store,
    seal: &dyn Seal,
    data_dir: &Path,
    now: u64,
) -> anyhow::Result<()> {
    if !store.accounts().context("reading accounts")?.is_empty() {
        return Ok(());
    }
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let given_pair =
        env("KMSD_ROOT_SECRET_ID").zip(env("KMSD_ROOT_SECRET_KEY").map(Zeroizing::new));
    let given_project = env("KMSD_ROOT_PROJECT_ID");
    if let Some(p) = &given_project {
        anyhow::ensure!(
            is_project_id(p),
            "KMSD_ROOT_PROJECT_ID must be 32 lowercase hex characters"
        );
    }
    let generated_something = given_pair.is_none() || given_project.is_none();
    let (secret_id, secret_key) = match given_pair {
        Some(pair) => pair,
        None => (format!("AKID{}", *random_alnum(32)?), random_alnum(32)?),
    };
    let project_id = match given_project {
        Some(p) => p,
        None => {
            hex::encode(random_u64()?.to_be_bytes()) + &hex::encode(random_u64()?.to_be_bytes())
        }
    };
    // Tencent account ids are 12-digit numbers starting with 1; app ids 10 digits starting 125.
    let uin = 100_000_000_000 + random_u64()? % 900_000_000_000;
    let app_id = 1_250_000_000 + random_u64()? % 10_000_000;
    let account = NewAccount {
        uin,
        app_id,
        secret_id,
        secret_key,
        project_id,
    };
    create_account(store, seal, &account, now)
        .map_err(|e| anyhow::anyhow!("creating the root account: {e}"))?;
    if generated_something {
        let path = data_dir.join(CREDENTIALS_FILE);
        let contents = Zeroizing::new(serde_json::to_vec_pretty(&CredentialsFile {
            secret_id: &account.secret_id,
            secret_key: &account.secret_key,
            project_id: &account.project_id,
            uin,
            app_id,
        })?);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        file.write_all(&contents)?;
        file.sync_all()?;
        tracing::info!(path = %path.display(), "root account created; its credentials are in this file");
    } else {
        tracing::info!(secret_id = %account.secret_id, "root account created from the environment");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
