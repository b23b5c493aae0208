//! `kmsd`: a self-hosted KMS that speaks the Tencent Cloud KMS API.

mod audit;
mod bootstrap;
mod config;
mod listener;
mod metrics;
mod server;
mod tls;

use std::io::IsTerminal;
use std::os::unix::fs::DirBuilderExt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use kms_core::accounts::Directory;
use kms_core::{Clock, Engine, EngineConfig, SystemClock};
use kms_seal::FileSeal;
use kms_store::EmbeddedStore;
use kms_tencent::TencentApi;

use crate::audit::AuditLog;
use crate::config::{LogFormat, ServeArgs, Settings};
use crate::listener::{ClientAddr, Incoming};
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
    let settings = Settings::resolve(args)?;
    init_logging(&settings)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(settings))
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

async fn serve(settings: Settings) -> anyhow::Result<()> {
    // TLS files and the audit log are checked before anything is written to the data dir.
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
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&settings.data_dir)
        .with_context(|| format!("creating data directory {}", settings.data_dir.display()))?;
    let (seal, created) = FileSeal::open_or_create(&settings.data_dir.join("root.key"))?;
    if created {
        tracing::info!("created a new root key file in the data directory");
    }
    let seal = Arc::new(seal);
    let store = Arc::new(EmbeddedStore::open(&settings.data_dir.join("kms.redb"))?);
    let clock = Arc::new(SystemClock);
    bootstrap::ensure_root_account(
        store.as_ref(),
        seal.as_ref(),
        &settings.data_dir,
        clock.now(),
    )?;
    let directory = Arc::new(
        Directory::load(store.as_ref(), seal.as_ref())
            .map_err(|e| anyhow::anyhow!("loading accounts: {e}"))?,
    );
    let engine = Arc::new(Engine::new(
        store,
        seal,
        clock,
        EngineConfig {
            max_keys_per_region: settings.max_keys_per_region,
            max_data_keys_per_region: settings.max_data_keys_per_region,
        },
    ));
    let app = Arc::new(server::App {
        request_ids: server::RequestIds::new(),
        tencent: TencentApi::new(engine.clone(), directory, settings.regions.clone()),
        metrics: Default::default(),
        max_body_bytes: settings.max_body_bytes,
        audit,
    });
    server::spawn_due_work(engine);
    audit::reopen_on_hangup(app.clone())?;

    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    let local = listener.local_addr()?;
    let incoming = match tls {
        Some((config, certificate)) => {
            tls::spawn_reloader(certificate);
            tracing::info!(listen = %local, "kmsd is serving HTTPS");
            Incoming::tls(listener, config)?
        }
        None => {
            if !local.ip().is_loopback() {
                tracing::warn!(
                    listen = %local,
                    "serving plain HTTP on a non-loopback address: requests, plaintexts and data \
                     keys cross the network unencrypted; give --tls-cert and --tls-key"
                );
            }
            tracing::info!(listen = %local, "kmsd is serving plain HTTP");
            Incoming::plain(listener)?
        }
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let service = server::router(app).into_make_service_with_connect_info::<ClientAddr>();
    let server = tokio::spawn(
        axum::serve(incoming, service)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .into_future(),
    );
    shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight requests");
    let _ = stop_tx.send(());
    match tokio::time::timeout(Duration::from_secs(settings.shutdown_grace_secs), server).await {
        Ok(result) => result??,
        Err(_) => tracing::warn!("in-flight requests did not finish in time; exiting anyway"),
    }
    tracing::info!("stopped");
    Ok(())
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
