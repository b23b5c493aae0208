//! `kmsd store copy`: moves everything a stopped store holds into an empty one, between the
//! embedded store of a data dir and PostgreSQL, in either direction.
//!
//! Records move as they are, still sealed under the root key, so the target serves with the
//! same root key as the source: a data dir target gets the source's key file (and its root
//! credentials and admin token files) copied in; a PostgreSQL target is served by nodes started
//! with that key file. Nothing is decrypted on the way.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use kms_core::Store;
use kms_core::store::Record;
use kms_seal::FileSeal;

use crate::data_dir::DataDir;

#[derive(Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    command: StoreCommand,
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Copy every account, credential, key, data key, grant and setting of a stopped store into
    /// an empty one. Stop every kmsd that serves either store first.
    Copy(CopyArgs),
}

#[derive(Args)]
struct CopyArgs {
    /// The store to copy: a data dir, or a postgres:// URL.
    #[arg(long, value_name = "DIR|URL")]
    from: String,
    /// The empty store to fill: a data dir (created if missing), or a postgres:// URL of an
    /// empty database.
    #[arg(long, value_name = "DIR|URL")]
    to: String,
    /// The source store's root key file. [default: FROM/root.key when FROM is a data dir]
    #[arg(long, value_name = "FILE")]
    root_key_file: Option<PathBuf>,
}

/// One side of a copy.
enum Place {
    Dir(PathBuf),
    Postgres(kms_store::PgSettings),
}

impl Place {
    fn parse(text: &str) -> anyhow::Result<Self> {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            kms_store::PgSettings::parse(text)
                .map(Place::Postgres)
                .map_err(|e| anyhow::anyhow!("{e}"))
        } else {
            Ok(Place::Dir(std::path::absolute(text)?))
        }
    }
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Dir(dir) => write!(f, "{}", dir.display()),
            Place::Postgres(settings) => write!(f, "{settings}"),
        }
    }
}

/// An opened side: the store, and the data dir held while copying.
struct Opened {
    store: Arc<dyn Store>,
    _held: Option<DataDir>,
}

fn open(place: &Place, must_exist: bool) -> anyhow::Result<Opened> {
    match place {
        Place::Dir(dir) => {
            let file = dir.join(crate::data_dir::STORE_FILE);
            if must_exist {
                anyhow::ensure!(file.exists(), "{} holds no store", dir.display());
            }
            let held = DataDir::lock(dir, "copying the store")?;
            let store = kms_store::EmbeddedStore::open(&file)
                .with_context(|| format!("opening the store {}", file.display()))?;
            Ok(Opened {
                store: Arc::new(store),
                _held: Some(held),
            })
        }
        Place::Postgres(settings) => {
            let options = kms_store::PgOptions { pool_size: 4 };
            let store = kms_store::PgStore::open_with(settings.clone(), options)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let serving = store.serving_nodes()?;
            anyhow::ensure!(
                serving == 0,
                "{serving} kmsd node(s) are serving {settings}: stop every node first"
            );
            Ok(Opened {
                store: Arc::new(store),
                _held: None,
            })
        }
    }
}

/// Runs `kmsd store …`; the process's exit code.
pub fn run(args: StoreArgs) -> i32 {
    let StoreCommand::Copy(args) = args.command;
    match copy(&args) {
        Ok(summary) => {
            println!("{summary}");
            0
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

fn copy(args: &CopyArgs) -> anyhow::Result<String> {
    let (from, to) = (Place::parse(&args.from)?, Place::parse(&args.to)?);
    let key_file = match (&args.root_key_file, &from) {
        (Some(file), _) => std::path::absolute(file)?,
        (None, Place::Dir(dir)) => dir.join("root.key"),
        (None, Place::Postgres(_)) => {
            anyhow::bail!("--root-key-file is needed: the root key of the store being copied")
        }
    };
    let file = FileSeal::open(&key_file)
        .with_context(|| format!("opening the root key file {}", key_file.display()))?;
    let source = open(&from, true)?;
    let seal = file.unseal(source.store.as_ref())?.keys;
    crate::store::check_root_key(
        source.store.as_ref(),
        seal.as_ref(),
        &key_file.display().to_string(),
        &from.to_string(),
    )?;
    kms_core::accounts::Directory::load(source.store.as_ref(), seal.as_ref()).map_err(|e| {
        anyhow::anyhow!(
            "the root key {} does not open {from}: {e}",
            key_file.display()
        )
    })?;
    let target = open(&to, false)?;
    anyhow::ensure!(
        target.store.is_empty()?
            && target
                .store
                .setting(kms_core::store::ROOT_KEY_CHECK)?
                .is_none(),
        "{to} is not empty: kmsd store copy fills only an empty store (a copy that failed \
         midway leaves a partial one: empty it, or make a new database, and copy again)"
    );
    let mut counts = Counts::default();
    source.store.export(&mut |record| {
        counts.add(&record);
        target.store.import(&record)
    })?;
    crate::store::record_root_key(target.store.as_ref(), seal.as_ref())?;
    let mut copied = Counts::default();
    target.store.export(&mut |record| {
        copied.add(&record);
        Ok(())
    })?;
    anyhow::ensure!(
        copied == counts,
        "the copy in {to} holds {copied} where {from} holds {counts}"
    );
    if let Place::Dir(dir) = &to {
        bring_files(&from, &key_file, dir)?;
    }
    let key_note = match &to {
        Place::Dir(dir) => format!("the root key is in {}", dir.join("root.key").display()),
        Place::Postgres(_) => format!(
            "start every node over it with --root-key-file {} (or a copy of that file)",
            key_file.display()
        ),
    };
    Ok(format!("copied {counts} from {from} to {to}; {key_note}"))
}

/// Into a data dir target: the root key, and the root credentials and admin token files the
/// source data dir holds, so the target is served as the source was.
fn bring_files(from: &Place, key_file: &Path, to: &Path) -> anyhow::Result<()> {
    let mut files = vec![(key_file.to_owned(), to.join("root.key"))];
    if let Place::Dir(dir) = from {
        for name in [crate::bootstrap::CREDENTIALS_FILE, crate::admin::TOKEN_FILE] {
            if dir.join(name).exists() {
                files.push((dir.join(name), to.join(name)));
            }
        }
    }
    for (from, to) in files {
        if to.exists() {
            continue;
        }
        let bytes = zeroize::Zeroizing::new(
            std::fs::read(&from).with_context(|| format!("reading {}", from.display()))?,
        );
        crate::bootstrap::write_synced(&to, &bytes)
            .with_context(|| format!("writing {}", to.display()))?;
    }
    Ok(())
}

/// How many items of each kind a store handed out.
#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    accounts: u64,
    identity: u64,
    secret_ids: u64,
    settings: u64,
    keys: u64,
    data_keys: u64,
    grants: u64,
}

impl Counts {
    fn add(&mut self, record: &Record) {
        let count = match record {
            Record::Account(_) => &mut self.accounts,
            Record::Identity(_) => &mut self.identity,
            Record::SecretId { .. } => &mut self.secret_ids,
            Record::Setting { .. } => &mut self.settings,
            Record::Key(_) => &mut self.keys,
            Record::DataKey(_) => &mut self.data_keys,
            Record::Grant(_) => &mut self.grants,
        };
        *count += 1;
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} accounts, {} keys, {} data keys, {} grants, {} reserved secret ids, {} settings \
             and {} identity document",
            self.accounts,
            self.keys,
            self.data_keys,
            self.grants,
            self.secret_ids,
            self.settings,
            self.identity
        )
    }
}
