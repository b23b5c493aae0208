//! `kmsd dev`: a throwaway KMS for a laptop or a test suite in one command. Both dialects on
//! loopback, a well-known root credential and project id (printed, and written to an env file
//! the SDKs' environment credential providers read), no rate limits, and a store in a temporary
//! directory removed at exit unless `--persist DIR` keeps it.
//!
//! The credential is published in this source: dev mode refuses to listen beyond loopback.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use serde_json::json;

use kms_core::Caller;
use kms_fixtures::Fixtures;

use crate::admin::AdminReply;
use crate::bootstrap::RootEnv;
use crate::config::ServeArgs;
use crate::server::App;
use crate::service::Service;

/// The well-known root credential of dev mode (Tencent SecretId/SecretKey, Huawei AK/SK).
pub const SECRET_ID: &str = "AKIDkmsddev000000000000000000000000";
pub const SECRET_KEY: &str = "kmsddevSecretKey0000000000000000";
/// The root account's Huawei project id: "kmsddev" in hex, padded to 32 hex characters.
pub const PROJECT_ID: &str = "6b6d7364646576000000000000000000";
/// The root account's id and app id, fixed: ciphertext is bound to its account.
const ACCOUNT_IDS: (u64, u64) = (100_000_000_001, 1_250_000_001);
/// The region the root project id points to, first of the served regions.
const REGION: &str = "ap-guangzhou";

#[derive(Debug, Clone, clap::Args)]
pub struct DevArgs {
    /// Loopback address to listen on (dev mode never listens beyond this host).
    #[arg(long, default_value = "127.0.0.1:8740")]
    pub listen: SocketAddr,
    /// Keep the store in DIR (created if missing) across runs, instead of a temporary directory
    /// removed at exit.
    #[arg(long, value_name = "DIR")]
    pub persist: Option<PathBuf>,
    /// Where to write the environment file with the credential, endpoint and region, for
    /// `source` or a test runner's env file.
    #[arg(long, value_name = "FILE", default_value = "kmsd-dev.env")]
    pub env_file: PathBuf,
    /// Keys with fixed ids and material to make at start (TOML, `docs/dev-mode.md`); keys a
    /// --persist store already holds are left as they are.
    #[arg(long, value_name = "FILE")]
    pub fixtures: Option<PathBuf>,
}

/// What dev mode does once its service is up: make the fixtures, print the banner.
pub struct DevStart {
    pub banner: String,
    pub fixtures: Option<Fixtures>,
}

/// What `POST /admin/v1/dev/reset` restores: the root account's served regions emptied, then
/// the fixtures made again, so each test case of a suite starts from the same keys.
pub struct DevReset {
    fixtures: Option<Fixtures>,
    regions: Vec<String>,
}

impl DevReset {
    pub fn new(fixtures: Option<Fixtures>, regions: Vec<String>) -> Self {
        Self { fixtures, regions }
    }

    /// Makes what the fixtures name and the store lacks: accounts, policies and users, then
    /// keys; how many.
    pub fn make_fixtures(&self, app: &App) -> anyhow::Result<usize> {
        let Some(fixtures) = &self.fixtures else {
            return Ok(0);
        };
        let (service, caller) = root_caller(app, &self.regions[0])?;
        let principals = service
            .admin
            .make_fixture_identity(fixtures, caller.account)
            .map_err(|refusal| {
                let source = fixtures.source().display();
                anyhow::anyhow!("fixtures {source}: {}", refusal.message())
            })?;
        Ok(principals + fixtures.apply(&service.engine, &caller)?)
    }

    /// Deletes every key and hosted data key of the root account in every served region (no
    /// pending window), then makes the fixtures again.
    pub fn reset(&self, app: &App) -> AdminReply {
        let erased = self
            .regions
            .iter()
            .try_fold((0, 0), |(keys, data_keys), region| {
                let (service, caller) = root_caller(app, region)?;
                let (k, d) = service.engine.erase_scope(&caller)?;
                anyhow::Ok((keys + k, data_keys + d))
            });
        match erased.and_then(|erased| Ok((erased, self.make_fixtures(app)?))) {
            Ok(((keys, data_keys), made)) => AdminReply::ok(
                "DevReset",
                None,
                json!({ "KeysDeleted": keys, "DataKeysDeleted": data_keys, "FixtureKeysMade": made }),
            ),
            Err(e) => AdminReply::error(500, "ResetFailed", format!("{e:#}")),
        }
    }
}

/// The service, and the root account (the well-known credential's) as the caller in `region`.
fn root_caller(app: &App, region: &str) -> anyhow::Result<(Arc<Service>, Caller)> {
    let service = app
        .service
        .get()
        .context("the service is not up: dev mode is never sealed")?;
    let root = service
        .directory
        .by_secret_id(SECRET_ID)
        .context("the store's root account is not dev mode's: was it made by `kmsd serve`?")?;
    let caller = Caller {
        account: root.account,
        user: None,
        credential: SECRET_ID.to_owned(),
        region: region.to_owned(),
        authority: None,
    };
    Ok((service, caller))
}

/// The `serve` settings of dev mode, the root credential to make, and the temporary data dir
/// (to remove after the server stops; `None` with `--persist`).
pub fn prepare(args: DevArgs) -> anyhow::Result<(ServeArgs, RootEnv, Option<tempfile::TempDir>)> {
    anyhow::ensure!(
        args.listen.ip().is_loopback(),
        "kmsd dev listens on loopback only (its credential is public): --listen {} is not",
        args.listen
    );
    let (data_dir, temporary) = match args.persist {
        Some(dir) => (dir, None),
        None => {
            let dir = tempfile::Builder::new()
                .prefix("kmsd-dev-")
                .tempdir()
                .context("making a temporary data dir")?;
            (dir.path().to_owned(), Some(dir))
        }
    };
    let serve = ServeArgs {
        listen: Some(args.listen.to_string()),
        data_dir: Some(data_dir),
        rate_limit: Some(0),
        token_requests_per_address: Some(0),
        ..Default::default()
    };
    let root = RootEnv::given(SECRET_ID, SECRET_KEY, PROJECT_ID, ACCOUNT_IDS)?;
    Ok((serve, root, temporary))
}

/// The environment the vendors' SDKs read their credential from (Tencent's
/// `TENCENTCLOUD_SECRET_ID`/`_KEY`, Huawei's `HUAWEICLOUD_SDK_AK`/`_SK`/`_PROJECT_ID`), and the
/// endpoint and region to point them at.
fn env_file_text(listen: SocketAddr) -> String {
    format!(
        "# kmsd dev: a public, well-known credential for a throwaway KMS on this host only.\n\
         KMSD_ENDPOINT={listen}\n\
         TENCENTCLOUD_SECRET_ID={SECRET_ID}\n\
         TENCENTCLOUD_SECRET_KEY={SECRET_KEY}\n\
         TENCENTCLOUD_REGION={REGION}\n\
         HUAWEICLOUD_SDK_AK={SECRET_ID}\n\
         HUAWEICLOUD_SDK_SK={SECRET_KEY}\n\
         HUAWEICLOUD_SDK_PROJECT_ID={PROJECT_ID}\n"
    )
}

/// Writes the env file, once the settings and fixtures passed their checks.
pub fn write_env_file(path: &Path, listen: SocketAddr) -> anyhow::Result<()> {
    let mut file = std::fs::File::create(path)
        .with_context(|| format!("writing the env file {}", path.display()))?;
    file.write_all(env_file_text(listen).as_bytes())
        .with_context(|| format!("writing the env file {}", path.display()))
}

/// What dev mode prints on standard output once it serves: how to reach it.
pub fn banner(listen: SocketAddr, env_file: &Path, data_dir: &Path, persist: bool) -> String {
    let store = if persist {
        "kept across runs"
    } else {
        "temporary: removed when kmsd dev stops"
    };
    format!(
        "kmsd dev is serving the Tencent and Huawei KMS APIs on http://{listen}\n\
         \x20 SecretId / AK   {SECRET_ID}\n\
         \x20 SecretKey / SK  {SECRET_KEY}\n\
         \x20 project id      {PROJECT_ID} (region {REGION})\n\
         \x20 env file        {} (source it, or give it to your test runner)\n\
         \x20 admin token     {} (POST /admin/v1/dev/reset restores the fixtures)\n\
         \x20 web console     http://{listen}/console (the admin token, or the SecretId and SecretKey)\n\
         The store is {store}.\n",
        env_file.display(),
        data_dir.join(crate::admin::TOKEN_FILE).display(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_credential_is_one_the_server_accepts() {
        RootEnv::given(SECRET_ID, SECRET_KEY, PROJECT_ID, ACCOUNT_IDS).unwrap();
        assert!(RootEnv::given(SECRET_ID, SECRET_KEY, "not hex", ACCOUNT_IDS).is_err());
    }

    #[test]
    fn dev_mode_refuses_to_listen_beyond_loopback() {
        let args = DevArgs {
            listen: "0.0.0.0:8740".parse().unwrap(),
            persist: None,
            env_file: PathBuf::from("unused.env"),
            fixtures: None,
        };
        let err = prepare(args).err().unwrap().to_string();
        assert!(err.contains("loopback only"), "{err}");
    }

    #[test]
    fn the_env_file_names_what_the_sdks_read() {
        let text = env_file_text("127.0.0.1:9999".parse().unwrap());
        for line in [
            "KMSD_ENDPOINT=127.0.0.1:9999",
            "TENCENTCLOUD_SECRET_ID=AKIDkmsddev000000000000000000000000",
            "HUAWEICLOUD_SDK_PROJECT_ID=6b6d7364646576000000000000000000",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}");
        }
    }
}
