//! `kmsd kms-plugin`: the Kubernetes KMS v2 plugin, a client of a running kmsd's Tencent API
//! (`kms-kubernetes`; `docs/kubernetes.md`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use kms_kubernetes::remote::{Credential, Remote, RemoteSettings};
use kms_kubernetes::{BackendError, Plugin, socket};
use zeroize::Zeroizing;

/// The credential comes from the environment only (the Tencent SDKs' variables), never from a
/// flag, which every user of the host could read in the process list.
const SECRET_ID_VAR: &str = "TENCENTCLOUD_SECRET_ID";
const SECRET_KEY_VAR: &str = "TENCENTCLOUD_SECRET_KEY";

#[derive(clap::Args)]
pub struct KmsPluginArgs {
    /// The Unix socket the API server connects to (its EncryptionConfiguration's endpoint,
    /// without `unix://`). Made mode 0600; a stale socket there is replaced.
    #[arg(long, value_name = "PATH")]
    socket: PathBuf,
    /// kmsd's Tencent API: `https://HOST:PORT`, or `http://HOST:PORT` (or `HOST:PORT`, as
    /// `kmsd dev` writes it) to this machine only.
    #[arg(long, env = "KMSD_ENDPOINT", value_name = "URL")]
    endpoint: http::Uri,
    /// The CA certificate (PEM) that signed kmsd's, for an https endpoint.
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// The CMK (a symmetric ENCRYPT_DECRYPT key) that seals the API server's data keys.
    #[arg(long, value_name = "UUID")]
    key_id: uuid::Uuid,
    /// The CMK's region.
    #[arg(long, env = "TENCENTCLOUD_REGION")]
    region: String,
    /// Seconds one call to kmsd may take.
    #[arg(long, default_value_t = 3, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=300))]
    call_timeout: u64,
}

pub fn run(args: KmsPluginArgs) -> anyhow::Result<()> {
    let credential = Credential {
        secret_id: std::env::var(SECRET_ID_VAR)
            .with_context(|| format!("{SECRET_ID_VAR} must name the credential"))?,
        secret_key: Zeroizing::new(
            std::env::var(SECRET_KEY_VAR)
                .with_context(|| format!("{SECRET_KEY_VAR} must hold the credential's key"))?,
        ),
    };
    let tls = match args.endpoint.scheme_str() {
        Some("https") => Some(crate::admin_cli::tls_connector(args.ca_cert.as_deref())?),
        _ => None,
    };
    let remote = Remote::new(RemoteSettings {
        endpoint: args.endpoint,
        tls,
        region: args.region,
        key_id: args.key_id,
        credential,
        timeout: Duration::from_secs(args.call_timeout),
    })
    .map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // A transport that could never be used is a mistake to report now; kmsd being down is
        // not: Status tells the API server until it is back.
        match remote.connect().await {
            Err(e @ BackendError::PlainHttp(_)) => return Err(e.into()),
            Err(e) => tracing::warn!("{e}"),
            Ok(_) => {}
        }
        let socket = socket::bind(&args.socket).map_err(anyhow::Error::msg)?;
        let shutdown = crate::shutdown_signal()?;
        tracing::info!(socket = %args.socket.display(), key_id = %args.key_id, "KMS v2 plugin serving");
        kms_kubernetes::serve(socket, Plugin::new(args.key_id, remote), shutdown)
            .await
            .context("serving the KMS plugin")
    })
}
