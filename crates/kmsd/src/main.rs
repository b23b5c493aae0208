//! `kmsd`: a self-hosted KMS that speaks the Tencent Cloud KMS API.

mod admin;
mod admin_cli;
mod admin_http;
mod audit;
mod bootstrap;
mod config;
mod data_dir;
mod hsm;
mod limits;
mod listener;
mod metrics;
mod server;
mod store;
mod store_copy;
mod tls;
mod token_requests;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use kms_core::accounts::Directory;
use kms_core::{Clock, Engine, EngineConfig, SealError, SystemClock};
use kms_huawei::HuaweiApi;
use kms_tencent::TencentApi;

/// mimalloc instead of the C library's allocator: a request allocates and frees some eighty
/// small blocks, often on another worker thread than the one that allocated them, which glibc's
/// arenas serve slowly (its malloc and free were a tenth of the Encrypt path's cycles).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use crate::audit::AuditLog;
use crate::bootstrap::{RootCredential, RootEnv};
use crate::config::{LogFormat, ServeArgs, Settings};
use crate::data_dir::DataDir;
use crate::listener::{ConnectionLimits, Incoming};
use crate::tls::ReloadingCertificate;

#[derive(Parser)]
#[command(name = "kmsd", version, about = "A self-hosted Key Management Service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server.
    Serve(Box<ServeArgs>),
    /// Manage accounts, users, credentials and policies, through a running server's admin API
    /// (--endpoint) or directly in a data directory no server holds (--data-dir).
    Admin(admin_cli::AdminArgs),
    /// Move a stopped store between a data dir and PostgreSQL (`kmsd store copy`).
    Store(store_copy::StoreArgs),
}

fn main() -> std::process::ExitCode {
    let args = match Cli::parse().command {
        Command::Serve(args) => *args,
        Command::Admin(args) => std::process::exit(admin_cli::run(args)),
        Command::Store(args) => std::process::exit(store_copy::run(args)),
    };
    // One line an operator can act on: returning the error from main would print its Debug
    // form, which carries a stack trace whenever RUST_BACKTRACE is set.
    match run_server(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_server(args: ServeArgs) -> anyhow::Result<()> {
    // Every setting is checked before anything is written to the data dir.
    let settings = Settings::resolve(args)?;
    init_logging(&settings)?;
    let root_env = RootEnv::from_env()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let stopped = runtime.block_on(serve(settings, root_env))?;
    // Dropping the runtime waits for its blocking work (a purge, a scrub) to end: after this
    // nothing erases or scrubs any more.
    drop(runtime);
    stopped.leave_scrubbed_mark()
}

/// What a server that stopped gracefully leaves behind.
struct Stopped {
    data_dir: DataDir,
    engine: Arc<Engine>,
    /// Over the embedded store, whose scrubs only this process makes.
    embedded: bool,
}

impl Stopped {
    /// Tells the next start over this embedded store that it need not scrub, when no erasure
    /// is owed a scrub.
    fn leave_scrubbed_mark(self) -> anyhow::Result<()> {
        if self.embedded && !self.engine.scrub_owed() {
            self.data_dir.mark_scrubbed()?;
        }
        Ok(())
    }
}

/// The server log, on standard error: `--log` filters it, `--log-format` shapes it.
fn init_logging(settings: &Settings) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log)
        .with_context(|| format!("invalid log filter {:?}", settings.log))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    match settings.log_format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder
            .with_ansi(false)
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
    Ok(())
}

/// Start-up in the order that keeps a failed start from leaving a half-made data dir: check the
/// TLS files and open the audit log, bind the port, then lock the data dir, open the store with
/// its root key, make the root account.
async fn serve(settings: Settings, root_env: RootEnv) -> anyhow::Result<Stopped> {
    let tls = match &settings.tls {
        Some(files) => {
            let certificate = Arc::new(ReloadingCertificate::load(files.clone())?);
            Some((
                Arc::new(tls::server_config(certificate.clone())?),
                certificate,
            ))
        }
        None => None,
    };
    let audit = match &settings.audit_log {
        Some(target) => AuditLog::open(target, settings.audit_failure)?,
        None => AuditLog::disabled(),
    };
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    let listen = listener.local_addr()?;
    let data_dir = DataDir::lock(&settings.data_dir, &format!("listening on {listen}"))?;
    let (app, engine, credential, admin_token) =
        // Out of the runtime's context: a PostgreSQL store's synchronous client (and its drop,
        // should the start fail) blocks on a runtime of its own.
        tokio::task::block_in_place(|| open_service(&settings, &data_dir, &root_env, audit))?;
    server::spawn_due_work(engine.clone());
    audit::reopen_on_hangup(app.clone())?;
    let https = tls.is_some();
    let limits = ConnectionLimits {
        max_connections: settings.max_connections,
        header_read_timeout: Duration::from_secs(settings.header_timeout_secs),
    };
    let incoming = match tls {
        Some((config, certificate)) => {
            tls::spawn_reloader(certificate);
            Incoming::tls(listener, config, limits)
        }
        None => {
            if !listen.ip().is_loopback() {
                tracing::warn!(
                    listen = %listen,
                    "serving plain HTTP on a non-loopback address: requests, plaintexts and data \
                     keys cross the network unencrypted; give --tls-cert and --tls-key"
                );
            }
            Incoming::plain(listener, limits)
        }
    };
    log_start(&settings, listen, https, &credential, &admin_token);

    let stop_signal = shutdown_signal()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(listener::serve(
        incoming,
        server::router(app),
        limits,
        async move {
            let _ = stop_rx.await;
        },
    ));
    stop_signal.await;
    tracing::info!("shutting down: finishing in-flight requests");
    let _ = stop_tx.send(());
    let open_connections = server.await?;
    let grace = Duration::from_secs(settings.shutdown_grace_secs);
    if tokio::time::timeout(grace, open_connections.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish in time; exiting anyway");
    }
    tracing::info!("stopped");
    Ok(Stopped {
        data_dir,
        engine,
        embedded: settings.store.is_none(),
    })
}

/// Opens the store, makes the root account on first start, and builds the engine and the app.
fn open_service(
    settings: &Settings,
    data_dir: &DataDir,
    root_env: &RootEnv,
    audit: AuditLog,
) -> anyhow::Result<(
    Arc<server::App>,
    Arc<Engine>,
    RootCredential,
    std::path::PathBuf,
)> {
    let mut scrubbed = false;
    // The HSM is reached before the store is opened, so a refused start makes no store.
    let hsm = settings
        .pkcs11
        .as_ref()
        .map(hsm::HsmSeal::connect)
        .transpose()?;
    let hsm_clusters = hsm::connect_clusters(&settings.hsm_clusters)?;
    let (seal, node) = match &settings.store {
        None => {
            let (seal, store) = data_dir.open_store(&settings.root_key_file, hsm.as_ref())?;
            scrubbed = data_dir.take_scrubbed_mark()?;
            (seal, store::NodeStore::embedded(Arc::new(store)))
        }
        Some(postgres) => {
            let options = kms_store::PgOptions {
                pool_size: settings.store_pool_size,
            };
            let (seal, store) =
                data_dir.open_postgres(&settings.root_key_file, postgres, options, hsm.as_ref())?;
            (seal, store::NodeStore::postgres(store))
        }
    };
    let seal: Arc<dyn kms_core::Seal> = Arc::new(seal);
    let store = node.store.clone();
    let store_place = match &settings.store {
        None => data_dir
            .path()
            .join(data_dir::STORE_FILE)
            .display()
            .to_string(),
        Some(postgres) => postgres.to_string(),
    };
    store::check_root_key(
        store.as_ref(),
        seal.as_ref(),
        &settings.root_of_trust(),
        &store_place,
    )?;
    let clock = Arc::new(SystemClock);
    let credential = bootstrap::ensure_root_account(
        store.as_ref(),
        seal.as_ref(),
        data_dir.path(),
        root_env,
        clock.now(),
        settings.store.is_some(),
    )?;
    let directory = load_directory(store.as_ref(), seal.as_ref(), settings, data_dir)?;
    store::record_root_key(store.as_ref(), seal.as_ref())?;
    let token_file = admin::ensure_operator_token(store.as_ref(), data_dir.path())?;
    let token_key = kms_core::identity::token_key(store.as_ref(), seal.as_ref())
        .map_err(|e| anyhow::anyhow!("opening the key of Huawei IAM tokens: {e}"))?;
    let engine = Engine::new(
        store.clone(),
        seal.clone(),
        clock.clone(),
        EngineConfig {
            max_keys_per_region: settings.max_keys_per_region,
            max_data_keys_per_region: settings.max_data_keys_per_region,
        },
    );
    let engine = hsm_clusters
        .into_iter()
        .fold(engine, |engine, (id, crypto)| {
            engine.with_hsm_cluster(&id, crypto)
        });
    let engine = Arc::new(if scrubbed {
        engine.scrubbed_before_start()
    } else {
        engine
    });
    let directory = Arc::new(directory);
    node.follow(directory.clone(), seal.clone())?;
    let admin = admin::Admin::new(
        store,
        seal,
        directory.clone(),
        clock,
        data_dir.path().to_owned(),
    );
    let mut tencent = TencentApi::new(
        engine.clone(),
        directory.clone(),
        settings.tencent_options(),
    );
    let mut huawei = HuaweiApi::new(engine.clone(), directory, settings.regions.clone())
        .with_tokens(kms_huawei::iam::Tokens::new(
            kms_huawei::tokens::TokenKey::new(token_key),
            settings.token_lifetime_secs,
        ));
    if settings.huawei_replay_cache {
        huawei = huawei.with_replay_cache(settings.tencent_options().replay_entries_per_credential);
    }
    if let Some(shared) = node.shared_state() {
        tencent = tencent.with_shared_state(shared.clone());
        huawei = huawei.with_shared_state(shared.clone());
        spawn_shared_state_sweep(shared);
    }
    let app = Arc::new(server::App {
        request_ids: server::RequestIds::new(),
        tencent,
        huawei,
        password_checks: tokio::sync::Semaphore::new(server::PASSWORD_CHECKS),
        token_requests: token_requests::TokenRequests::new(settings.token_requests_per_address),
        metrics: Default::default(),
        max_body_bytes: settings.max_body_bytes,
        body_read_timeout: Duration::from_secs(settings.body_timeout_secs),
        audit,
        limits: limits::Limits::new(
            settings.rate_limits.clone(),
            settings.faults.clone(),
            &settings.regions,
        ),
        admin,
        https: settings.tls.is_some(),
        trusted_proxies: settings.trusted_proxies.clone(),
        store: node,
    });
    let admin_token = token_file.unwrap_or_else(|| data_dir.path().join(admin::TOKEN_FILE));
    Ok((app, engine, credential, admin_token))
}

/// Loads the usable credentials, saying plainly when the root key is not this store's, and only
/// then (so a refused start writes nothing) brings every account into the identity records,
/// which leaves the credentials as they were.
fn load_directory(
    store: &dyn kms_core::Store,
    seal: &dyn kms_core::Seal,
    settings: &Settings,
    data_dir: &DataDir,
) -> anyhow::Result<Directory> {
    let directory = Directory::load(store, seal).map_err(|e| {
        if e.to_string()
            .contains(&SealError::Authentication.to_string())
        {
            anyhow::anyhow!(
                "{} does not open the store {}: it is not the key this store was made with",
                settings.root_of_trust(),
                data_dir.path().join(data_dir::STORE_FILE).display()
            )
        } else {
            anyhow::anyhow!("loading accounts: {e}")
        }
    })?;
    kms_core::identity::migrate(store)
        .map_err(|e| anyhow::anyhow!("bringing accounts into the identity records: {e}"))?;
    Ok(directory)
}

/// What an operator needs to find their way: where everything lives and what is served.
fn log_start(
    settings: &Settings,
    listen: SocketAddr,
    https: bool,
    credential: &RootCredential,
    admin_token: &std::path::Path,
) {
    let serving = if https {
        "kmsd is serving HTTPS"
    } else {
        "kmsd is serving plain HTTP"
    };
    tracing::info!(
        listen = %listen,
        data_dir = %settings.data_dir.display(),
        root_key_file = %match &settings.pkcs11 {
            Some(_) => "none, sealed by an HSM".to_owned(),
            None => settings.root_key_file.display().to_string(),
        },
        seal = %settings.root_of_trust(),
        root_credentials = %credential,
        admin_token = %if admin_token.exists() {
            admin_token.display().to_string()
        } else {
            "no file here: made by the node that first started over this shared store".into()
        },
        regions = %settings.regions.join(","),
        dialects = %"tencent,huawei",
        "{serving}"
    );
    tracing::info!("{}", settings.rate_limits.describe());
    if let Some(faults) = &settings.faults {
        tracing::warn!(
            share = faults.rate,
            kinds = ?faults.kinds,
            "FAULT MODE IS ON: a share of authenticated calls answers injected faults instead of running; never use it in production"
        );
    }
}

/// Forgets, once a minute, the replay entries and login windows of the shared state that
/// expired: nothing is refused by them any more, and the tables stay the size of the windows.
fn spawn_shared_state_sweep(state: Arc<dyn kms_core::shared::SharedState>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let (state, now) = (state.clone(), SystemClock.now());
            let swept = tokio::task::spawn_blocking(move || {
                state.forget_expired(now, kms_huawei::iam::LOCKOUT_SECS)
            })
            .await;
            if let Ok(Err(e)) = swept {
                tracing::warn!(error = %e, "forgetting expired replay entries and login windows failed");
            }
        }
    });
}

/// Listens for SIGTERM and SIGINT from now on (registering before the server answers, so a
/// signal sent as soon as `/healthz` answers stops it gracefully rather than killing it), and
/// answers a future that ends at the first of them.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = term.recv() => {}
        }
    })
}
