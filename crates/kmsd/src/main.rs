//! `kmsd`: a self-hosted KMS that speaks the Tencent Cloud KMS API.

mod admin;
mod admin_cli;
mod admin_http;
mod audit;
mod backup;
mod bootstrap;
mod config;
mod console;
mod data_dir;
mod dev;
mod hsm;
mod kms_plugin;
mod limits;
mod listener;
mod metrics;
mod operator;
mod otel;
mod rotation;
mod seal;
mod server;
mod service;
mod store;
mod store_copy;
mod tls;
mod token_requests;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{CommandFactory as _, Parser, Subcommand};

use kms_core::{Clock, Engine, SystemClock};

/// mimalloc instead of the C library's allocator: a request allocates and frees some eighty
/// small blocks, often on another worker thread than the one that allocated them, which glibc's
/// arenas serve slowly (its malloc and free were a tenth of the Encrypt path's cycles).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use crate::audit::AuditLog;
use crate::bootstrap::RootEnv;
use crate::config::{LogFormat, SealKind, ServeArgs, Settings};
use crate::data_dir::DataDir;
use crate::listener::{ConnectionLimits, Incoming};
use crate::seal::NodeSeal;
use crate::service::{Current, Opener};
use crate::tls::ReloadingCertificate;

/// `kmsd --version`: the release and the commit it was built from.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("KMSD_COMMIT"), ")");

#[derive(Parser)]
#[command(
    name = "kmsd",
    version = VERSION,
    about = "A self-hosted Key Management Service that speaks the Tencent Cloud and Huawei Cloud KMS APIs"
)]
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
    /// Write a backup of a running server or a stopped store to a file; `kmsd backup verify
    /// FILE` checks one.
    Backup(backup::BackupArgs),
    /// Restore a backup into an empty data dir or database, opened by the same root key.
    Restore(backup::RestoreArgs),
    /// Make a store sealed by operators' shares (`kmsd operator init`).
    Operator(operator::OperatorArgs),
    /// A throwaway KMS for a laptop or a test suite: both dialects on loopback with a
    /// well-known credential (printed, and written to an env file), no rate limits, and a
    /// temporary store unless --persist keeps it.
    Dev(dev::DevArgs),
    /// The Kubernetes KMS v2 plugin: serves the API server's KeyManagementService on a Unix
    /// socket, sealing its data keys under one CMK of a running kmsd.
    KmsPlugin(kms_plugin::KmsPluginArgs),
    /// Print the shell completion script for SHELL, e.g. `kmsd completions bash >
    /// /usr/share/bash-completion/completions/kmsd`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page kmsd(1) in roff, or with --out-dir write it and one page per
    /// command (kmsd-serve(1), kmsd-admin(1), ...) there.
    Man {
        #[arg(long, value_name = "DIR")]
        out_dir: Option<std::path::PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    let args = match Cli::parse().command {
        Command::Serve(args) => *args,
        Command::Admin(args) => std::process::exit(admin_cli::run(args)),
        Command::Store(args) => std::process::exit(store_copy::run(args)),
        Command::Backup(args) => std::process::exit(backup::run_backup(args)),
        Command::Restore(args) => std::process::exit(backup::run_restore(args)),
        Command::Operator(args) => std::process::exit(operator::run(args)),
        Command::Completions { shell } => {
            // Into a buffer first: the generator panics when its writer fails (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "kmsd", &mut script);
            return print_or_fail(&script);
        }
        Command::Man { out_dir } => return write_manual(out_dir.as_deref()),
        Command::Dev(args) => return exit_status(run_dev(args)),
        Command::KmsPlugin(args) => return exit_status(run_kms_plugin(args)),
    };
    exit_status(run_server(args))
}

/// One line an operator can act on: returning the error from main would print its Debug form,
/// which carries a stack trace whenever RUST_BACKTRACE is set.
fn exit_status(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => fail(&format!("{e:#}")),
    }
}

/// The manual pages, generated from the command line's own definition so they never drift.
fn write_manual(out_dir: Option<&std::path::Path>) -> std::process::ExitCode {
    let Some(dir) = out_dir else {
        let mut page = Vec::new();
        return match clap_mangen::Man::new(Cli::command()).render(&mut page) {
            Ok(()) => print_or_fail(&page),
            Err(e) => fail(&format!("rendering the manual: {e}")),
        };
    };
    match clap_mangen::generate_to(Cli::command(), dir) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => fail(&format!("writing the manual to {}: {e}", dir.display())),
    }
}

fn print_or_fail(text: &[u8]) -> std::process::ExitCode {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text).and_then(|()| out.flush()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => fail(&format!("writing to standard output: {e}")),
    }
}

fn fail(message: &str) -> std::process::ExitCode {
    eprintln!("error: {message}");
    std::process::ExitCode::FAILURE
}

fn run_server(args: ServeArgs) -> anyhow::Result<()> {
    // Every setting is checked before anything is written to the data dir.
    let settings = Settings::resolve(args)?;
    init_logging(&settings)?;
    run(settings, RootEnv::from_env()?, None)
}

fn run_dev(args: dev::DevArgs) -> anyhow::Result<()> {
    let (fixtures_file, env_file, listen) =
        (args.fixtures.clone(), args.env_file.clone(), args.listen);
    let persist = args.persist.is_some();
    // The temporary data dir is removed when this goes out of scope, after the server stopped.
    let (serve_args, root_env, _temporary) = dev::prepare(args)?;
    let settings = Settings::resolve(serve_args)?;
    let banner = dev::banner(listen, &env_file, &settings.data_dir, persist);
    let fixtures = fixtures_file
        .map(|path| kms_fixtures::Fixtures::load(&path, &settings.regions))
        .transpose()?;
    dev::write_env_file(&env_file, listen)?;
    init_logging(&settings)?;
    run(settings, root_env, Some(dev::DevStart { banner, fixtures }))
}

fn run_kms_plugin(args: kms_plugin::KmsPluginArgs) -> anyhow::Result<()> {
    let filter = std::env::var("KMSD_LOG").unwrap_or_else(|_| "info".to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .with_context(|| format!("invalid log filter {filter:?}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    kms_plugin::run(args)
}

/// Serves until SIGTERM or SIGINT; in dev mode, makes its fixtures first and prints its banner
/// once serving.
fn run(settings: Settings, root_env: RootEnv, dev: Option<dev::DevStart>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let stopped = runtime.block_on(serve(settings, root_env, dev))?;
    // Dropping the runtime waits for its blocking work (a purge, a scrub) to end: after this
    // nothing erases or scrubs any more.
    drop(runtime);
    stopped.leave_scrubbed_mark()
}

/// What a server that stopped gracefully leaves behind.
struct Stopped {
    data_dir: DataDir,
    /// The engine of the service at stop; `None` when the node stopped sealed, which leaves no
    /// mark (the service it had before may have owed a scrub).
    engine: Option<Arc<Engine>>,
    /// Over the embedded store, whose scrubs only this process makes.
    embedded: bool,
}

impl Stopped {
    /// Tells the next start over this embedded store that it need not scrub, when no erasure
    /// is owed a scrub.
    fn leave_scrubbed_mark(self) -> anyhow::Result<()> {
        if self.embedded && self.engine.is_some_and(|engine| !engine.scrub_owed()) {
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
/// TLS files and open the audit log, bind the port, then lock the data dir, open the store, and
/// unless the seal waits for operators, open the root keys and make the root account.
async fn serve(
    settings: Settings,
    root_env: RootEnv,
    dev: Option<dev::DevStart>,
) -> anyhow::Result<Stopped> {
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
    let runtime = tokio::runtime::Handle::current();
    // In the runtime's context, whose workers drive the exporter's gRPC channel.
    let traces = settings
        .otel_endpoint
        .as_deref()
        .map(otel::Traces::otlp)
        .transpose()?;
    if let Some(endpoint) = &settings.otel_endpoint {
        tracing::info!(endpoint, "exporting traces over OTLP/gRPC");
    }
    let (app, admin_token) =
        // Out of the runtime's context: a PostgreSQL store's synchronous client (and its drop,
        // should the start fail) blocks on a runtime of its own.
        tokio::task::block_in_place(|| {
            open_node(&settings, &data_dir, root_env, audit, traces, runtime)
        })?;
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
    log_start(&settings, listen, https, &app, &admin_token);
    if let Some(dev) = dev {
        let reset = dev::DevReset::new(dev.fixtures, settings.regions.clone());
        let made = tokio::task::block_in_place(|| reset.make_fixtures(&app))?;
        tracing::info!(made, "fixtures made");
        let _ = app.dev.set(reset);
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        // A closed standard output must not stop the server.
        let _ = out
            .write_all(dev.banner.as_bytes())
            .and_then(|()| out.flush());
    }

    let stop_signal = shutdown_signal()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(listener::serve(
        incoming,
        server::router(app.clone()),
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
    if let Some(traces) = &app.traces {
        traces.shutdown().await;
    }
    tracing::info!("stopped");
    Ok(Stopped {
        data_dir,
        engine: app.service.get().map(|service| service.engine.clone()),
        embedded: settings.store.is_none(),
    })
}

/// Opens the store and the node's seal, and builds the app; a seal that needs no operator
/// unseals now (its root keys opened, the root account made on first start), a Shamir seal
/// waits for its shares. Answers the app and where the operator token is.
fn open_node(
    settings: &Settings,
    data_dir: &DataDir,
    root_env: RootEnv,
    audit: AuditLog,
    traces: Option<otel::Traces>,
    runtime: tokio::runtime::Handle,
) -> anyhow::Result<(Arc<server::App>, std::path::PathBuf)> {
    let mut scrubbed = false;
    // The HSM is reached before the store is opened, so a refused start makes no store.
    if let Some(pkcs11) = &settings.pkcs11 {
        hsm::HsmSeal::connect(pkcs11)?;
    }
    let hsm_clusters = hsm::connect_clusters(&settings.hsm_clusters)?;
    let store_place = match &settings.store {
        None => data_dir
            .path()
            .join(data_dir::STORE_FILE)
            .display()
            .to_string(),
        Some(postgres) => postgres.to_string(),
    };
    let (keys_at_start, node) = match &settings.store {
        None => {
            let (keys, store) = match settings.seal {
                SealKind::File => {
                    let (keys, store) = data_dir.open_store(&settings.root_key_file)?;
                    (Some(keys), store)
                }
                SealKind::Shamir => {
                    let store = data_dir.open_keyless_store(false)?.ok_or_else(|| {
                        anyhow::anyhow!(
                            "--seal shamir: the data dir {dir} holds no store; make one with \
                             `kmsd operator init --data-dir {dir} --key-shares N --key-threshold T`",
                            dir = data_dir.path().display()
                        )
                    })?;
                    (None, store)
                }
                SealKind::Pkcs11 => {
                    let store = data_dir.open_keyless_store(true)?;
                    (None, store.context("opening the store")?)
                }
            };
            scrubbed = data_dir.take_scrubbed_mark()?;
            (keys, store::NodeStore::embedded(Arc::new(store)))
        }
        Some(postgres) => {
            let options = kms_store::PgOptions {
                pool_size: settings.store_pool_size,
            };
            match settings.seal {
                SealKind::File => {
                    let (keys, store) =
                        data_dir.open_postgres(&settings.root_key_file, postgres, options)?;
                    (Some(keys), store::NodeStore::postgres(store))
                }
                SealKind::Shamir | SealKind::Pkcs11 => {
                    let store = data_dir.open_keyless_postgres(postgres, options)?;
                    (None, store::NodeStore::postgres(store))
                }
            }
        }
    };
    let store = node.store.clone();
    let node_seal = NodeSeal::new(
        settings.seal,
        settings.root_key_file.clone(),
        store.clone(),
        &store_place,
    )?
    .with_pkcs11(settings.pkcs11.clone());
    let made_token = admin::ensure_operator_token(store.as_ref(), data_dir.path())?;
    let admin_token = made_token.unwrap_or_else(|| data_dir.path().join(admin::TOKEN_FILE));
    let current = Arc::new(Current::default());
    node.follow(
        service::directory_source(current.clone()),
        service::keyring_reload(current.clone()),
    )?;
    let shared_state = node.shared_state();
    if let Some(shared) = &shared_state {
        spawn_shared_state_sweep(shared.clone());
    }
    let key_place = match settings.seal {
        SealKind::File => format!("the root key file {}", settings.root_key_file.display()),
        SealKind::Shamir => "the unseal key the shares rebuilt".to_owned(),
        SealKind::Pkcs11 => settings.root_of_trust(),
    };
    let opener = Opener {
        settings: settings.clone(),
        root_env,
        data_dir: data_dir.path().to_owned(),
        store,
        shared_state,
        scrubbed_at_start: scrubbed.into(),
        key_place,
        store_place,
        runtime,
        hsm_clusters,
    };
    let app = Arc::new(server::App {
        request_ids: server::RequestIds::new(),
        service: current,
        seal: node_seal,
        opener,
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
        https: settings.tls.is_some(),
        trusted_proxies: settings.trusted_proxies.clone(),
        store: node,
        dev: Default::default(),
        console: Default::default(),
        traces,
    });
    let keys_at_start = match settings.seal {
        SealKind::Shamir => None,
        SealKind::File => keys_at_start,
        SealKind::Pkcs11 => Some(app.seal.open_without_operators()?),
    };
    if let Some(keys) = keys_at_start {
        app.service.install(app.opener.open(keys)?);
        app.store.reload_directory();
    }
    Ok((app, admin_token))
}

/// What an operator needs to find their way: where everything lives and what is served.
fn log_start(
    settings: &Settings,
    listen: SocketAddr,
    https: bool,
    app: &server::App,
    admin_token: &std::path::Path,
) {
    let serving = if https {
        "kmsd is serving HTTPS"
    } else {
        "kmsd is serving plain HTTP"
    };
    let credential = match app.service.get() {
        Some(service) => service.credential.to_string(),
        None => "sealed: shown by `kmsd operator init` when the store was made".to_owned(),
    };
    tracing::info!(
        listen = %listen,
        data_dir = %settings.data_dir.display(),
        seal = %match settings.seal {
            SealKind::Pkcs11 => settings.root_of_trust(),
            other => other.name().to_owned(),
        },
        root_key_file = %match settings.seal {
            SealKind::File => settings.root_key_file.display().to_string(),
            SealKind::Shamir => "none, sealed by operators' shares".to_owned(),
            SealKind::Pkcs11 => "none, sealed by an HSM".to_owned(),
        },
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
    if app.service.get().is_none() {
        tracing::warn!(
            "sealed: API calls answer unavailable until operators unseal with `kmsd admin unseal`"
        );
    }
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
