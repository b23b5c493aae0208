//! `kmsd`: a self-hosted KMS that speaks the Tencent Cloud KMS API.

mod audit;
mod bootstrap;
mod config;
mod data_dir;
mod limits;
mod listener;
mod metrics;
mod server;
mod tls;

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
    Serve(ServeArgs),
}

fn main() -> anyhow::Result<()> {
    let Cli {
        command: Command::Serve(args),
    } = Cli::parse();
    // Every setting is checked before anything is written to the data dir.
    let settings = Settings::resolve(args)?;
    init_logging(&settings)?;
    let root_env = RootEnv::from_env()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(settings, root_env))
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
async fn serve(settings: Settings, root_env: RootEnv) -> anyhow::Result<()> {
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
    let (app, engine, credential) = open_service(&settings, &data_dir, &root_env, audit)?;
    server::spawn_due_work(engine);
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
    log_start(&settings, listen, https, &credential);

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(listener::serve(
        incoming,
        server::router(app),
        limits,
        async move {
            let _ = stop_rx.await;
        },
    ));
    shutdown_signal().await;
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
    Ok(())
}

/// Opens the store, makes the root account on first start, and builds the engine and the app.
fn open_service(
    settings: &Settings,
    data_dir: &DataDir,
    root_env: &RootEnv,
    audit: AuditLog,
) -> anyhow::Result<(Arc<server::App>, Arc<Engine>, RootCredential)> {
    let (seal, store) = data_dir.open_store(&settings.root_key_file)?;
    let (seal, store) = (Arc::new(seal), Arc::new(store));
    let clock = Arc::new(SystemClock);
    let credential = bootstrap::ensure_root_account(
        store.as_ref(),
        seal.as_ref(),
        data_dir.path(),
        root_env,
        clock.now(),
    )?;
    let directory = Directory::load(store.as_ref(), seal.as_ref()).map_err(|e| {
        if e.to_string().contains(&SealError::Authentication.to_string()) {
            anyhow::anyhow!(
                "the root key file {} does not open the store {}: it is not the key this store was made with",
                settings.root_key_file.display(),
                data_dir.path().join(data_dir::STORE_FILE).display()
            )
        } else {
            anyhow::anyhow!("loading accounts: {e}")
        }
    })?;
    let engine = Arc::new(Engine::new(
        store,
        seal,
        clock,
        EngineConfig {
            max_keys_per_region: settings.max_keys_per_region,
            max_data_keys_per_region: settings.max_data_keys_per_region,
        },
    ));
    let directory = Arc::new(directory);
    let app = Arc::new(server::App {
        request_ids: server::RequestIds::new(),
        tencent: TencentApi::new(
            engine.clone(),
            directory.clone(),
            settings.tencent_options(),
        ),
        huawei: HuaweiApi::new(engine.clone(), directory, settings.regions.clone()),
        metrics: Default::default(),
        max_body_bytes: settings.max_body_bytes,
        body_read_timeout: Duration::from_secs(settings.body_timeout_secs),
        audit,
        limits: limits::Limits::new(
            settings.rate_limits.clone(),
            settings.faults.clone(),
            &settings.regions,
        ),
    });
    Ok((app, engine, credential))
}

/// What an operator needs to find their way: where everything lives and what is served.
fn log_start(settings: &Settings, listen: SocketAddr, https: bool, credential: &RootCredential) {
    let serving = if https {
        "kmsd is serving HTTPS"
    } else {
        "kmsd is serving plain HTTP"
    };
    tracing::info!(
        listen = %listen,
        data_dir = %settings.data_dir.display(),
        root_key_file = %settings.root_key_file.display(),
        root_credentials = %credential,
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

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the server");
            let _ = ctrl_c.await;
            return;
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
