//! `kmsd backup` and `kmsd restore`: a store's records, still sealed, in one file
//! ([`kms_backup`]), taken from a running server's admin API or from a stopped store, checked
//! without the root of trust, and restored into an empty store that the same root of trust then
//! opens.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use axum::body::{Body, Bytes};
use clap::{Args, Subcommand};

use kms_backup::{Counts, Header, Reader, Source, Writer};
use kms_core::store::{ROOT_KEY_CHECK, ROOT_KEYRING, Record};
use kms_core::{Seal, Store, StoreError};
use kms_seal::keyring::{Keyring, RootKeys};
use kms_seal::{FileSeal, KeyRoot, RootOfTrust};

use crate::hsm::{HsmSeal, StoppedSeal};
use crate::seal::SHAMIR_SETTING;
use crate::store_copy::{Opened, Place, open_place};

#[derive(Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "From a running server: --endpoint URL with --token-file (or KMSD_ADMIN_TOKEN). \
    From a stopped store: --data-dir DIR, or --store URL. The backup holds the records as they \
    are stored, sealed; the root of trust (root key file) is not in it: keep that apart."
)]
pub struct BackupArgs {
    #[command(subcommand)]
    command: Option<BackupCommand>,
    /// Where to write the backup; it appears whole (mode 0600) or not at all.
    #[arg(long, value_name = "FILE")]
    to: Option<PathBuf>,
    /// A running server's address, e.g. http://127.0.0.1:8740.
    #[arg(long, env = "KMSD_ADMIN_ENDPOINT", conflicts_with_all = ["data_dir", "store"])]
    endpoint: Option<String>,
    /// With --endpoint: the file holding the operator token (else KMSD_ADMIN_TOKEN).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// With an https endpoint: the CA certificate (PEM) that signed the server's certificate.
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// A stopped server's data directory.
    #[arg(long, value_name = "DIR", conflicts_with = "store")]
    data_dir: Option<PathBuf>,
    /// A PostgreSQL store no node serves (back up a served one through --endpoint).
    #[arg(long, value_name = "URL")]
    store: Option<String>,
}

#[derive(Subcommand)]
enum BackupCommand {
    /// Check a backup's structure, counts and digest, without the root of trust; exit 0 when
    /// it is intact.
    Verify { file: PathBuf },
}

#[derive(Args)]
pub struct RestoreArgs {
    /// The backup file.
    #[arg(long, value_name = "FILE")]
    from: PathBuf,
    /// Restore into this data directory (created if missing; it must hold no store).
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "store",
        conflicts_with = "store"
    )]
    data_dir: Option<PathBuf>,
    /// Restore into this empty PostgreSQL database.
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// The root key file that opens the backup's records, with the key-file seal. [default:
    /// DIR/root.key with --data-dir]
    #[arg(long, value_name = "FILE")]
    root_key_file: Option<PathBuf>,
    /// A Shamir-sealed store's backup is known by its records and needs no seal flag.
    #[command(flatten)]
    seal: StoppedSeal,
}

/// Runs `kmsd backup …`; the process's exit code.
pub fn run_backup(args: BackupArgs) -> i32 {
    let outcome = match &args.command {
        Some(BackupCommand::Verify { file }) => verify_file(file).map(|(header, counts)| {
            format!(
                "{} is intact: {counts}, taken at {} (unix seconds) from the {} store, root key \
                 check value {}",
                file.display(),
                header.created_at,
                header.source,
                header.root_key_check.as_deref().unwrap_or("(none)")
            )
        }),
        None => take(&args),
    };
    report(outcome)
}

/// Runs `kmsd restore …`; the process's exit code.
pub fn run_restore(args: RestoreArgs) -> i32 {
    report(restore(&args))
}

fn report(outcome: anyhow::Result<String>) -> i32 {
    match outcome {
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

fn verify_file(file: &Path) -> anyhow::Result<(Header, Counts)> {
    let input = File::open(file).with_context(|| format!("opening {}", file.display()))?;
    kms_backup::verify(BufReader::new(input))
        .with_context(|| format!("{} is not an intact backup", file.display()))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The header of a backup of `store` begun now. The check value is written once, before any
/// record, so reading it outside the export's snapshot finds the value the snapshot holds.
fn header_of(store: &dyn Store, source: Source) -> Result<Header, StoreError> {
    let root_key_check = match store.setting(ROOT_KEY_CHECK)? {
        Some(value) => Some(String::from_utf8(value).map_err(|_| {
            StoreError::Backend("the stored root key check value is not text".into())
        })?),
        None => None,
    };
    Ok(Header {
        created_at: now(),
        source,
        root_key_check,
    })
}

/// Writes a backup of `store` to `out`, in one read snapshot of the store.
pub fn write_backup<W: Write>(
    store: &dyn Store,
    source: Source,
    out: W,
) -> anyhow::Result<(W, Counts)> {
    let mut writer = Writer::new(out, &header_of(store, source)?)?;
    store.export(&mut |record| {
        writer
            .record(&record)
            .map_err(|e| StoreError::Backend(format!("writing the backup: {e}")))
    })?;
    Ok(writer.finish()?)
}

fn take(args: &BackupArgs) -> anyhow::Result<String> {
    let to = args
        .to
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("say where to write the backup: --to FILE"))?;
    let partial = Partial::create(to)?;
    let (from, counts) = match (&args.endpoint, &args.data_dir, &args.store) {
        (Some(endpoint), _, _) => {
            let token = crate::admin_cli::token(args.token_file.as_deref())?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(download(
                endpoint,
                args.ca_cert.as_deref(),
                &token,
                partial.file()?,
            ))?;
            // The server streams as it reads; only the whole file's digest says nothing broke
            // off on the way.
            let (_, counts) = verify_file(&partial.path)?;
            (format!("the server at {endpoint}"), counts)
        }
        (None, dir, url) if dir.is_some() || url.is_some() => {
            let place = match (dir, url) {
                (Some(dir), _) => Place::Dir(std::path::absolute(dir)?),
                (None, url) => Place::parse(url.as_deref().unwrap_or_default())?,
            };
            let source = match place {
                Place::Dir(_) => Source::Embedded,
                Place::Postgres(_) => Source::Postgres,
            };
            // A served data dir is backed up through its server.
            let opened =
                open_place(&place, true, "taking a backup").map_err(|e| match e
                    .downcast::<crate::data_dir::Held>(
                ) {
                    Ok(held) => crate::admin_cli::held_refusal(&held),
                    Err(e) => e,
                })?;
            let (_, counts) = write_backup(
                opened.store.as_ref(),
                source,
                BufWriter::new(partial.file()?),
            )?;
            (place.to_string(), counts)
        }
        _ => anyhow::bail!(
            "say what to back up: --endpoint URL (with --token-file) for a running server, or \
             --data-dir DIR or --store URL for a stopped store"
        ),
    };
    partial.keep()?;
    Ok(format!(
        "backed up {counts} from {from} to {}",
        to.display()
    ))
}

/// A backup being written: a 0600 file beside its final name, renamed there only when whole
/// and synced, and removed if anything fails first.
struct Partial {
    path: PathBuf,
    to: PathBuf,
    kept: bool,
}

impl Partial {
    fn create(to: &Path) -> anyhow::Result<Self> {
        let to = std::path::absolute(to)?;
        let name = to
            .file_name()
            .ok_or_else(|| anyhow::anyhow!("{} names no file", to.display()))?;
        let mut partial_name = std::ffi::OsString::from(".");
        partial_name.push(name);
        partial_name.push(format!(".partial-{}", std::process::id()));
        let path = to.with_file_name(partial_name);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        Ok(Self {
            path,
            to,
            kept: false,
        })
    }

    fn file(&self) -> anyhow::Result<File> {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&self.path)
            .with_context(|| format!("opening {}", self.path.display()))
    }

    /// Syncs the file, renames it to its final name and syncs the directory.
    fn keep(mut self) -> anyhow::Result<()> {
        self.file()?
            .sync_all()
            .with_context(|| format!("syncing {}", self.path.display()))?;
        std::fs::rename(&self.path, &self.to)
            .with_context(|| format!("renaming the backup to {}", self.to.display()))?;
        self.kept = true;
        if let Some(dir) = self.to.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .with_context(|| format!("syncing {}", dir.display()))?;
        }
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Fetches a running server's backup into `file` as it streams.
async fn download(
    endpoint: &str,
    ca_cert: Option<&Path>,
    token: &str,
    file: File,
) -> anyhow::Result<()> {
    use http_body_util::BodyExt as _;
    let response =
        crate::admin_cli::exchange_with(endpoint, ca_cert, token, "GET", "/backup", b"").await?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    if status != 200 {
        let bytes = body.collect().await?.to_bytes();
        let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        anyhow::bail!(
            "the server refused the backup: {} ({}, HTTP {status})",
            answer["error"]["message"].as_str().unwrap_or("no message"),
            answer["error"]["code"].as_str().unwrap_or("Error")
        );
    }
    let mut out = BufWriter::new(file);
    while let Some(frame) = body.frame().await {
        let frame = frame.context("the server broke off the backup")?;
        if let Ok(data) = frame.into_data() {
            out.write_all(&data).context("writing the backup")?;
        }
    }
    out.flush().context("writing the backup")?;
    Ok(())
}

/// How much of a backup the server gathers before handing it to the connection.
const CHUNK: usize = 64 * 1024;
/// Chunks waiting for a slow client, at most: the export waits for them, so memory stays
/// bounded whatever the store's size.
const CHUNKS_IN_FLIGHT: usize = 8;

/// The admin API's answer to `GET /admin/v1/backup`: the backup, streamed as the store's
/// snapshot is read on the blocking pool. A failure midway ends the body without its digest
/// (the connection is cut), which the client's check refuses.
pub fn stream(store: Arc<dyn Store>, source: Source) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        let sink = ChunkSink {
            tx: tx.clone(),
            buffer: Vec::with_capacity(CHUNK),
        };
        match write_backup(store.as_ref(), source, sink) {
            Ok((mut sink, counts)) => {
                if sink.flush().is_ok() {
                    tracing::info!(%counts, "served a backup");
                }
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "a backup broke off");
                let _ = tx.blocking_send(Err(io::Error::other("the backup broke off")));
            }
        }
    });
    Body::new(ChunkBody(rx))
}

/// Gathers written bytes into chunks for the connection; fails once the client has gone.
struct ChunkSink {
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    buffer: Vec<u8>,
}

impl Write for ChunkSink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK {
            self.flush()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

/// The response body over the chunks [`ChunkSink`] sends.
struct ChunkBody(tokio::sync::mpsc::Receiver<io::Result<Bytes>>);

impl http_body::Body for ChunkBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, io::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|chunk| chunk.map(http_body::Frame::data)))
    }
}

/// Keys and data keys restored at once: into a data dir in one commit (a commit and its fsync
/// per record made a restore of 40,000 records take minutes), into PostgreSQL by several
/// writers whose creates the store groups into shared transactions.
const BATCH: usize = 512;
/// The writers of a batch into PostgreSQL.
const WRITERS: usize = 16;

/// Writes `batch` (keys and data keys, which do not depend on each other) and empties it.
fn import_batch(target: &Opened, batch: &mut Vec<Record>) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    match &target.embedded {
        Some(embedded) => embedded.import_batch(batch)?,
        None => std::thread::scope(|scope| {
            let writers: Vec<_> = batch
                .chunks(batch.len().div_ceil(WRITERS))
                .map(|part| {
                    scope.spawn(move || part.iter().try_for_each(|r| target.store.import(r)))
                })
                .collect();
            writers.into_iter().try_for_each(|writer| {
                writer
                    .join()
                    .map_err(|_| StoreError::Backend("a restore writer panicked".into()))?
            })
        })?,
    }
    batch.clear();
    Ok(())
}

/// What the first reading of a backup learns: it is intact, and what it holds.
struct Checked {
    header: Header,
    counts: Counts,
    /// The root keyring as the source stored it (wrapped by the root of trust), if it had one.
    wrapped_keyring: Option<Vec<u8>>,
    /// The source was sealed by operators' shares (`kmsd operator init`).
    shamir: bool,
}

/// Reads the whole backup, checking it, before anything is written.
fn check_backup(input: &mut File) -> anyhow::Result<Checked> {
    let mut reader = Reader::open(BufReader::new(input))?;
    let (mut wrapped_keyring, mut shamir) = (None, false);
    while let Some(record) = reader.next_record()? {
        shamir |= matches!(&record, Record::Setting { name, .. } if name == SHAMIR_SETTING);
        if let Record::Setting { name, value } = record
            && name == ROOT_KEYRING
        {
            wrapped_keyring = Some(value);
        }
    }
    Ok(Checked {
        header: reader.header().clone(),
        counts: reader.counts().clone(),
        wrapped_keyring,
        shamir,
    })
}

/// The root keys the key file gives the backup's records: its keyring unwrapped, or (a store
/// made before keyrings) the file's key itself.
fn file_root_keys(checked: &Checked, key_file: &Path) -> anyhow::Result<RootKeys> {
    let file = FileSeal::open(key_file).with_context(|| {
        format!(
            "opening the root key file {} (a backup of an HSM-sealed store is restored with \
             --seal pkcs11 and the --pkcs11-* flags)",
            key_file.display()
        )
    })?;
    match &checked.wrapped_keyring {
        Some(wrapped) => unwrap_keyring(
            &KeyRoot::new(file.key().clone()),
            wrapped,
            &format!("the root key file {}", key_file.display()),
        ),
        None => Ok(RootKeys::unsealed(Keyring::legacy(file.key().clone()))),
    }
}

/// The backup's root keyring, unwrapped by `root` (`what` names it in a refusal).
fn unwrap_keyring(root: &dyn RootOfTrust, wrapped: &[u8], what: &str) -> anyhow::Result<RootKeys> {
    let bytes = root
        .unwrap(wrapped)
        .map_err(|e| anyhow::anyhow!("{what} does not open the backup's root keyring: {e}"))?;
    let keyring = Keyring::from_bytes(&bytes).context("the backup's root keyring")?;
    Ok(RootKeys::unsealed(keyring))
}

/// Refuses root keys whose check value is not the backup's.
fn check_fits(checked: &Checked, keys: &RootKeys, what: &str) -> anyhow::Result<()> {
    let ours = hex::encode(keys.check_value()?);
    if let Some(theirs) = &checked.header.root_key_check {
        anyhow::ensure!(
            *theirs == ours,
            "{what} does not open this backup: its check value is {ours}, the backup's is \
             {theirs}. Give the root of trust of the store the backup was taken from"
        );
    }
    Ok(())
}

/// How the restored store is opened: its root keys, how a refusal names them, and the flags
/// its server starts with.
struct RootOpened {
    keys: RootKeys,
    what: String,
    serve: String,
}

/// The root keys of a key-file sealed backup.
fn open_with_file(checked: &Checked, args: &RestoreArgs, to: &Place) -> anyhow::Result<RootOpened> {
    let key_file = match (&args.root_key_file, to) {
        (Some(file), _) => std::path::absolute(file)?,
        (None, Place::Dir(dir)) => dir.join("root.key"),
        (None, Place::Postgres(_)) => anyhow::bail!(
            "--root-key-file is needed: the root key of the store the backup was taken from"
        ),
    };
    let serve = match to {
        Place::Dir(dir) if key_file == dir.join("root.key") => {
            format!("kmsd serve --data-dir {}", dir.display())
        }
        Place::Dir(dir) => format!(
            "kmsd serve --data-dir {} --root-key-file {}",
            dir.display(),
            key_file.display()
        ),
        Place::Postgres(_) => format!(
            "every node with --store and --root-key-file {}",
            key_file.display()
        ),
    };
    Ok(RootOpened {
        keys: file_root_keys(checked, &key_file)?,
        what: format!("the root key file {}", key_file.display()),
        serve,
    })
}

/// The root keys of a PKCS#11-sealed backup: its keyring, unwrapped by the token's key.
fn open_with_hsm(
    checked: &Checked,
    settings: &kms_hsm::Pkcs11Settings,
    to: &Place,
) -> anyhow::Result<RootOpened> {
    let what = crate::hsm::describe(settings);
    let wrapped = checked.wrapped_keyring.as_deref().with_context(|| {
        format!(
            "the backup holds no root keyring for {what} to open: it was taken from a store \
             sealed by a root key file; restore it with --root-key-file"
        )
    })?;
    let keys = unwrap_keyring(HsmSeal::connect(settings)?.root(), wrapped, &what)?;
    let serve = match to {
        Place::Dir(dir) => format!("kmsd serve --data-dir {}", dir.display()),
        Place::Postgres(_) => "every node with --store".to_owned(),
    };
    Ok(RootOpened {
        keys,
        what,
        serve: format!("{serve} --seal pkcs11 and the same token and key"),
    })
}

fn restore(args: &RestoreArgs) -> anyhow::Result<String> {
    let mut input =
        File::open(&args.from).with_context(|| format!("opening {}", args.from.display()))?;
    let checked = check_backup(&mut input)
        .with_context(|| format!("{} is not an intact backup", args.from.display()))?;
    let to = match (&args.data_dir, &args.store) {
        (Some(dir), _) => Place::Dir(std::path::absolute(dir)?),
        (None, Some(url)) => Place::parse(url)?,
        (None, None) => anyhow::bail!("say where to restore: --data-dir DIR or --store URL"),
    };
    if checked.shamir {
        return restore_shamir(&checked, &mut input, &to);
    }
    // The target is opened (a data dir created) only once the root of trust is known to fit.
    let opened = match args.seal.pkcs11_settings("kmsd restore")? {
        None => open_with_file(&checked, args, &to)?,
        Some(settings) => open_with_hsm(&checked, &settings, &to)?,
    };
    check_fits(&checked, &opened.keys, &opened.what)?;
    let target = write_records(&checked, &mut input, &to)?;
    let seal = opened.keys;
    kms_core::accounts::Directory::load(target.store.as_ref(), &seal)
        .map_err(|e| anyhow::anyhow!("{} does not open the restored store: {e}", opened.what))?;
    crate::store::check_root_key(target.store.as_ref(), &seal, &opened.what, &to.to_string())?;
    crate::store::record_root_key(target.store.as_ref(), &seal)?;
    Ok(format!(
        "restored {} (a backup of the {} store taken at {} unix seconds) into {to}; start {}",
        checked.counts, checked.header.source, checked.header.created_at, opened.serve
    ))
}

/// Creates the target and writes the backup's records into it, in the export's order.
fn write_records(checked: &Checked, input: &mut File, to: &Place) -> anyhow::Result<Opened> {
    let target = open_place(to, false, "restoring a backup")?;
    crate::store_copy::ensure_empty(target.store.as_ref(), to, "kmsd restore")?;

    input.rewind()?;
    let mut reader = Reader::open(BufReader::new(input))?;
    let written = (|| -> anyhow::Result<()> {
        // Keys and data keys are written a batch at a time; a batch is written before any
        // later record, so the export's order holds.
        let mut batch = Vec::new();
        while let Some(record) = reader.next_record()? {
            match record {
                Record::Key(_) | Record::DataKey(_) => {
                    batch.push(record);
                    if batch.len() == BATCH {
                        import_batch(&target, &mut batch)?;
                    }
                }
                record => {
                    import_batch(&target, &mut batch)?;
                    target.store.import(&record)?;
                }
            }
        }
        import_batch(&target, &mut batch)
    })();
    written.with_context(|| {
        format!(
            "restoring into {to} failed midway (the backup changed since it was checked, or the \
             store refused a record), leaving a partial store: empty it, or make a new one, and \
             restore again"
        )
    })?;
    let restored = crate::store_copy::counts_of(target.store.as_ref())?;
    anyhow::ensure!(
        restored == checked.counts,
        "the restored store {to} holds {restored} where the backup holds {}",
        checked.counts
    );
    Ok(target)
}

/// A Shamir-sealed store's backup: its keyring stays wrapped by the unseal key, which only the
/// operators' shares rebuild, so the records are restored as they are and the restored store
/// is opened, and checked, when its server is unsealed.
fn restore_shamir(checked: &Checked, input: &mut File, to: &Place) -> anyhow::Result<String> {
    write_records(checked, input, to)?;
    let serve = match to {
        Place::Dir(dir) => format!("kmsd serve --data-dir {} --seal shamir", dir.display()),
        Place::Postgres(_) => "every node with --store and --seal shamir".to_owned(),
    };
    Ok(format!(
        "restored {} (a backup of the {} store taken at {} unix seconds) into {to}; start {serve} \
         and unseal it with the shares of the store the backup was taken from",
        checked.counts, checked.header.source, checked.header.created_at
    ))
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;
    use kms_core::testing::{MemorySeal, MemoryStore, directory_with_account};

    use super::*;

    fn filled() -> Arc<dyn Store> {
        let store = MemoryStore::default();
        directory_with_account(&store, &MemorySeal::generate(), 7, "AKID7", "secret");
        // Large enough to need several chunks when streamed.
        for n in 0..300 {
            store.init_setting(&format!("s{n:03}"), &[7; 1000]).unwrap();
        }
        store
            .init_setting(ROOT_KEY_CHECK, b"0123456789abcdef")
            .unwrap();
        Arc::new(store)
    }

    #[test]
    fn a_written_backup_verifies_with_the_stores_counts_and_check_value() {
        let store = filled();
        let (bytes, counts) = write_backup(store.as_ref(), Source::Embedded, Vec::new()).unwrap();
        assert_eq!((counts.accounts, counts.settings), (1, 301));
        let (header, read) = kms_backup::verify(bytes.as_slice()).unwrap();
        assert_eq!(read, counts);
        assert_eq!(header.root_key_check.as_deref(), Some("0123456789abcdef"));
        assert_eq!(header.source, Source::Embedded);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_streamed_backup_arrives_in_bounded_chunks_and_verifies() {
        let store = filled();
        let mut body = stream(store.clone(), Source::Postgres);
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            let chunk = frame.unwrap().into_data().unwrap();
            assert!(chunk.len() < 2 * CHUNK, "a chunk of {} bytes", chunk.len());
            bytes.extend_from_slice(&chunk);
        }
        assert!(
            bytes.len() > 2 * CHUNK,
            "several chunks: {} bytes",
            bytes.len()
        );
        let (header, counts) = kms_backup::verify(bytes.as_slice()).unwrap();
        assert_eq!((header.source, counts.settings), (Source::Postgres, 301));
    }
}
