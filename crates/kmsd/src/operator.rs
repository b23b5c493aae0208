//! `kmsd operator init`: makes a store sealed by operators' shares. The unseal key is made
//! here, wraps the new store's root keyring, is split into shares that are printed once, and is
//! forgotten: no share and no key is stored anywhere.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};

use kms_core::store::{ROOT_KEY_CHECK, ROOT_KEYRING};
use kms_core::{Clock as _, Store, SystemClock};
use kms_seal::keyring::RootKeys;
use kms_seal::shamir;
use kms_seal::{KeyRoot, open_keyring};

use crate::bootstrap::{self, RootEnv};
use crate::data_dir::{DataDir, STORE_FILE};
use crate::seal::{SHAMIR_SETTING, ShamirConfig};

#[derive(Args)]
pub struct OperatorArgs {
    #[command(subcommand)]
    command: OperatorCommand,
}

#[derive(Subcommand)]
enum OperatorCommand {
    /// Make a new store sealed by Shamir shares and print the shares, once. Serve it with
    /// `kmsd serve --seal shamir`; it starts sealed until `kmsd admin unseal` was given
    /// threshold shares.
    Init(InitArgs),
}

#[derive(Args)]
struct InitArgs {
    /// The node's data directory (its lock, root credentials and admin token files; the
    /// embedded store too, without --store).
    #[arg(long, env = "KMSD_DATA_DIR")]
    data_dir: PathBuf,
    /// A PostgreSQL URL, as for `kmsd serve --store`: the store is made there.
    #[arg(long, env = "KMSD_STORE", value_name = "URL")]
    store: Option<String>,
    /// How many shares to make (1 to 255).
    #[arg(long)]
    key_shares: u8,
    /// How many shares unseal (2 to --key-shares; 1 only with a single share).
    #[arg(long)]
    key_threshold: u8,
    /// How to print the shares: one a line, or `{"shares": [...]}`.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

/// Runs `kmsd operator`; answers the process's exit status.
pub fn run(args: OperatorArgs) -> i32 {
    let OperatorCommand::Init(args) = args.command;
    match init(&args) {
        Ok(shares) => {
            if args.output == Output::Json {
                let texts: Vec<&str> = shares.iter().map(|s| s.as_str()).collect();
                println!("{}", serde_json::json!({ "shares": texts }));
            } else {
                for share in &shares {
                    println!("{}", share.as_str());
                }
                eprintln!(
                    "These {} shares are shown only this once and stored nowhere: give each to \
                     one operator. Any {} of them unseal the server (`kmsd admin unseal`).",
                    args.key_shares, args.key_threshold
                );
            }
            0
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

fn init(args: &InitArgs) -> anyhow::Result<Vec<zeroize::Zeroizing<String>>> {
    shamir::check_parameters(args.key_shares, args.key_threshold).map_err(|e| {
        anyhow::anyhow!(
            "--key-shares {} --key-threshold {}: {e}",
            args.key_shares,
            args.key_threshold
        )
    })?;
    let root_env = RootEnv::from_env()?;
    let settings = args
        .store
        .as_deref()
        .map(kms_store::PgSettings::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--store: {e}"))?;
    let data_dir_path = std::path::absolute(&args.data_dir)
        .with_context(|| format!("resolving {}", args.data_dir.display()))?;
    let data_dir = DataDir::lock(&data_dir_path, "kmsd operator init")?;
    let store: Box<dyn Store> = match &settings {
        None => {
            let path = data_dir.path().join(STORE_FILE);
            anyhow::ensure!(
                !path
                    .try_exists()
                    .with_context(|| format!("looking for {}", path.display()))?,
                "the data dir {} already holds a store; `kmsd operator init` makes a new one \
                 only in an empty data dir",
                data_dir.path().display()
            );
            Box::new(
                data_dir
                    .open_keyless_store(true)?
                    .context("opening the new store")?,
            )
        }
        Some(settings) => {
            let store =
                data_dir.open_keyless_postgres(settings, kms_store::PgOptions::default())?;
            let used = !store.is_empty()?
                || [ROOT_KEY_CHECK, ROOT_KEYRING, SHAMIR_SETTING]
                    .iter()
                    .map(|name| store.setting(name))
                    .collect::<Result<Vec<_>, _>>()?
                    .iter()
                    .any(Option::is_some);
            anyhow::ensure!(
                !used,
                "the database {settings} already holds a store; `kmsd operator init` makes a new \
                 one only in an empty database (the other nodes over it need no init: start \
                 them with --seal shamir and unseal each)"
            );
            Box::new(store)
        }
    };
    let store = store.as_ref();
    // Marked first: a store whose init did not finish is refused by --seal file and cannot
    // unseal, never mistaken for a key-file store.
    let config = ShamirConfig {
        shares: args.key_shares,
        threshold: args.key_threshold,
    };
    store.init_setting(SHAMIR_SETTING, &serde_json::to_vec(&config)?)?;
    let unseal_key = shamir::generate_unseal_key()?;
    let keyring = open_keyring(store, &KeyRoot::new(unseal_key.clone()), None)?;
    let keys = RootKeys::unsealed(keyring);
    let place = settings.as_ref().map_or_else(
        || data_dir.path().join(STORE_FILE).display().to_string(),
        ToString::to_string,
    );
    crate::store::check_root_key(store, &keys, "the new unseal key", &place)?;
    let credential = bootstrap::ensure_root_account(
        store,
        &keys,
        data_dir.path(),
        &root_env,
        SystemClock.now(),
        settings.is_some(),
    )?;
    crate::store::record_root_key(store, &keys)?;
    let token = crate::admin::ensure_operator_token(store, data_dir.path())?;
    eprintln!("The root credential: {credential}.");
    if let Some(token) = token {
        eprintln!(
            "The admin token for `kmsd admin --endpoint` is in {}.",
            token.display()
        );
    }
    let shares = shamir::split(&unseal_key, args.key_shares, args.key_threshold)?;
    Ok(shares.iter().map(|share| share.to_text()).collect())
}
