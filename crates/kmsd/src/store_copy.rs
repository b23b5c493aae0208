//! `kmsd store copy`: moves everything a stopped store holds into an empty one, between the
//! embedded store of a data dir and PostgreSQL, in either direction.
//!
//! Records move as they are, still sealed under the root key, so the target serves with the
//! same root key as the source: a data dir target gets the source's key file (and its root
//! credentials and admin token files) copied in; a PostgreSQL target is served by nodes started
//! with that key file. A store sealed by an HSM (`--seal pkcs11`) keeps its keyring wrapped by
//! the token's key, which the target's server uses as the source's did. Nothing is decrypted
//! on the way.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use kms_backup::Counts;
use kms_core::Store;
use kms_seal::FileSeal;

use crate::data_dir::DataDir;
use crate::hsm::{HsmSeal, StoppedSeal};

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
    /// The source store's root key file, with the key-file seal. [default: FROM/root.key when
    /// FROM is a data dir]
    #[arg(long, value_name = "FILE")]
    root_key_file: Option<PathBuf>,
    #[command(flatten)]
    seal: StoppedSeal,
}

/// One side of a copy, a backup or a restore.
pub(crate) enum Place {
    Dir(PathBuf),
    Postgres(kms_store::PgSettings),
}

impl Place {
    pub(crate) fn parse(text: &str) -> anyhow::Result<Self> {
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

/// An opened side: the store, and the data dir held while it is used.
pub(crate) struct Opened {
    pub(crate) store: Arc<dyn Store>,
    /// The same store when it is a data dir's, for writes batched into one commit.
    pub(crate) embedded: Option<Arc<kms_store::EmbeddedStore>>,
    _held: Option<DataDir>,
}

/// Opens a stopped store: a data dir, held with `holder` as the reason (created if missing
/// unless `must_exist`), or a PostgreSQL database no node serves.
pub(crate) fn open_place(place: &Place, must_exist: bool, holder: &str) -> anyhow::Result<Opened> {
    match place {
        Place::Dir(dir) => {
            let file = dir.join(crate::data_dir::STORE_FILE);
            if must_exist {
                anyhow::ensure!(file.exists(), "{} holds no store", dir.display());
            }
            let held = DataDir::lock(dir, holder)?;
            let store = Arc::new(
                kms_store::EmbeddedStore::open(&file)
                    .with_context(|| format!("opening the store {}", file.display()))?,
            );
            Ok(Opened {
                store: store.clone(),
                embedded: Some(store),
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
                embedded: None,
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

/// The source store, opened with its root of trust: the key file, or the PKCS#11 seal's key.
struct Source {
    opened: Opened,
    keys: Arc<kms_seal::keyring::RootKeys>,
    /// How refusals name the root of trust.
    what: String,
    /// The key file, with the key-file seal.
    key_file: Option<PathBuf>,
}

fn open_source(args: &CopyArgs, from: &Place) -> anyhow::Result<Source> {
    if let Some(settings) = args.seal.pkcs11_settings("kmsd store copy")? {
        let hsm = HsmSeal::connect(&settings)?;
        let opened = open_place(from, true, "copying the store")?;
        let keys = hsm
            .root_keys(opened.store.as_ref(), &from.to_string())?
            .keys;
        return Ok(Source {
            opened,
            keys,
            what: crate::hsm::describe(&settings),
            key_file: None,
        });
    }
    let key_file = match (&args.root_key_file, from) {
        (Some(file), _) => std::path::absolute(file)?,
        (None, Place::Dir(dir)) => dir.join("root.key"),
        (None, Place::Postgres(_)) => {
            anyhow::bail!("--root-key-file is needed: the root key of the store being copied")
        }
    };
    let file = FileSeal::open(&key_file).with_context(|| {
        format!(
            "opening the root key file {} (a store sealed by an HSM is copied with --seal \
             pkcs11 and the --pkcs11-* flags)",
            key_file.display()
        )
    })?;
    let opened = open_place(from, true, "copying the store")?;
    let keys = file.unseal(opened.store.as_ref())?.keys;
    Ok(Source {
        opened,
        keys,
        what: format!("the root key file {}", key_file.display()),
        key_file: Some(key_file),
    })
}

fn copy(args: &CopyArgs) -> anyhow::Result<String> {
    let (from, to) = (Place::parse(&args.from)?, Place::parse(&args.to)?);
    let Source {
        opened: source,
        keys: seal,
        what,
        key_file,
    } = open_source(args, &from)?;
    crate::store::check_root_key(
        source.store.as_ref(),
        seal.as_ref(),
        &what,
        &from.to_string(),
    )?;
    kms_core::accounts::Directory::load(source.store.as_ref(), seal.as_ref())
        .map_err(|e| anyhow::anyhow!("{what} does not open {from}: {e}"))?;
    let target = open_place(&to, false, "copying the store")?;
    ensure_empty(target.store.as_ref(), &to, "kmsd store copy")?;
    let mut counts = Counts::default();
    source.store.export(&mut |record| {
        counts.add(&record);
        target.store.import(&record)
    })?;
    crate::store::record_root_key(target.store.as_ref(), seal.as_ref())?;
    let copied = counts_of(target.store.as_ref())?;
    anyhow::ensure!(
        copied == counts,
        "the copy in {to} holds {copied} where {from} holds {counts}"
    );
    if let Place::Dir(dir) = &to {
        bring_files(&from, key_file.as_deref(), dir)?;
    }
    let key_note = match (&to, &key_file) {
        (_, None) => "start it with --seal pkcs11 and the same token and key".to_owned(),
        (Place::Dir(dir), Some(_)) => {
            format!("the root key is in {}", dir.join("root.key").display())
        }
        (Place::Postgres(_), Some(key_file)) => format!(
            "start every node over it with --root-key-file {} (or a copy of that file)",
            key_file.display()
        ),
    };
    Ok(format!("copied {counts} from {from} to {to}; {key_note}"))
}

/// How many items of each kind `store` holds.
pub(crate) fn counts_of(store: &dyn Store) -> anyhow::Result<Counts> {
    let mut counts = Counts::default();
    store.export(&mut |record| {
        counts.add(&record);
        Ok(())
    })?;
    Ok(counts)
}

/// Refuses a target that holds anything, for `command` that fills only an empty store.
pub(crate) fn ensure_empty(store: &dyn Store, place: &Place, command: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        store.is_empty()? && store.setting(kms_core::store::ROOT_KEY_CHECK)?.is_none(),
        "{place} is not empty: {command} fills only an empty store (one that failed midway \
         leaves a partial store: empty it, or make a new database, and run it again)"
    );
    Ok(())
}

/// Into a data dir target: the root key (with the key-file seal), and the root credentials and
/// admin token files the source data dir holds, so the target is served as the source was.
fn bring_files(from: &Place, key_file: Option<&Path>, to: &Path) -> anyhow::Result<()> {
    let mut files: Vec<(PathBuf, PathBuf)> = key_file
        .map(|file| (file.to_owned(), to.join("root.key")))
        .into_iter()
        .collect();
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
