//! Settings: each from a flag, else `KMSD_<FLAG>`, else the TOML file given by `--config`, else
//! its default.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

use crate::audit::{AuditFailure, AuditTarget};
use crate::limits::{FaultKind, FaultSettings, RateSettings};
use crate::tls::TlsFiles;

/// Regions served when none are configured: the first is where the root project id points.
pub const DEFAULT_REGIONS: &[&str] = &[
    "ap-guangzhou",
    "ap-shanghai",
    "ap-beijing",
    "ap-chengdu",
    "ap-chongqing",
    "ap-nanjing",
    "ap-hongkong",
    "ap-singapore",
    "ap-tokyo",
    "ap-seoul",
    "ap-bangkok",
    "ap-jakarta",
    "na-siliconvalley",
    "na-ashburn",
    "eu-frankfurt",
    "sa-saopaulo",
];

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML file with any of the settings below (keys as the flag names).
    #[arg(long, env = "KMSD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on; one listener serves every dialect. [default: 127.0.0.1:8740]
    #[arg(long, env = "KMSD_LISTEN")]
    pub listen: Option<String>,
    /// Directory of the embedded store and root key file; created if missing. [default: ./kms-data]
    #[arg(long, env = "KMSD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The root key file; may live outside the data dir, so a backup of the data dir does not
    /// carry the key. [default: DATA_DIR/root.key]
    #[arg(long, env = "KMSD_ROOT_KEY_FILE")]
    pub root_key_file: Option<PathBuf>,
    /// What protects the root keys: `file` (the root key file), `shamir` (operators' shares:
    /// the server starts sealed until `kmsd admin unseal` was given enough of them; the store
    /// is made by `kmsd operator init`) or `pkcs11` (an AES key inside an HSM, which --pkcs11-module, --pkcs11-token-label and
    /// --pkcs11-key-label name; the token's PIN from --pkcs11-pin-file or KMSD_PKCS11_PIN).
    /// [default: file]
    #[arg(long, env = "KMSD_SEAL", value_enum)]
    pub seal: Option<SealKind>,
    #[command(flatten)]
    pub pkcs11: crate::hsm::Pkcs11Flags,
    /// An HSM cluster: keys created with Tencent's HsmClusterId ID are generated and used in the
    /// PKCS#11 token TOKEN_LABEL (module and PIN as for the PKCS#11 seal). Repeat for more.
    #[arg(
        long,
        env = "KMSD_HSM_CLUSTER",
        value_name = "ID=TOKEN_LABEL",
        value_delimiter = ','
    )]
    pub hsm_cluster: Option<Vec<String>>,
    /// Where keys live: absent, the embedded store in the data dir; a
    /// `postgres://user[:password]@host[:port][,host2…]/db[?sslmode=…&target_session_attrs=read-write]`
    /// URL, a PostgreSQL database that any number of nodes with the same root key share.
    /// [default: the embedded store]
    #[arg(long, env = "KMSD_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// Most connections this node opens to PostgreSQL (with --store). [default: 16]
    #[arg(long, env = "KMSD_STORE_POOL_SIZE")]
    pub store_pool_size: Option<u32>,
    /// Comma-separated regions to serve; the first one is the root project's. [default:
    /// ap-guangzhou,ap-shanghai,ap-beijing,ap-chengdu,ap-chongqing,ap-nanjing,ap-hongkong,
    /// ap-singapore,ap-tokyo,ap-seoul,ap-bangkok,ap-jakarta,na-siliconvalley,na-ashburn,
    /// eu-frankfurt,sa-saopaulo]
    #[arg(long, env = "KMSD_REGIONS", value_delimiter = ',')]
    pub regions: Option<Vec<String>>,
    /// Comma-separated served regions whose Tencent ENCRYPT_DECRYPT keys are SM4 (national
    /// cryptography) instead of AES-256. [default: none]
    #[arg(long, env = "KMSD_NATIONAL_CRYPTO_REGIONS", value_delimiter = ',')]
    pub national_crypto_regions: Option<Vec<String>>,
    /// Most keys one account may hold in one region. [default: 200000]
    #[arg(long, env = "KMSD_MAX_KEYS_PER_REGION")]
    pub max_keys_per_region: Option<u64>,
    /// Most hosted data keys one account may hold in one region. [default: 100000]
    #[arg(long, env = "KMSD_MAX_DATA_KEYS_PER_REGION")]
    pub max_data_keys_per_region: Option<u64>,
    /// Largest request body accepted, in bytes. [default: 1048576]
    #[arg(long, env = "KMSD_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Seconds to let in-flight requests finish after SIGTERM. [default: 10]
    #[arg(long, env = "KMSD_SHUTDOWN_GRACE_SECS")]
    pub shutdown_grace_secs: Option<u64>,
    /// Most client connections open at once (TLS handshakes included); more wait to be
    /// accepted. [default: 1024]
    #[arg(long, env = "KMSD_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Seconds after which a connection with no request in flight or finished is closed (slow
    /// headers, idle keep-alive); it closes within one to two such periods. [default: 10]
    #[arg(long, env = "KMSD_HEADER_TIMEOUT_SECS")]
    pub header_timeout_secs: Option<u64>,
    /// Seconds a request's body may take to arrive after its headers. [default: 30]
    #[arg(long, env = "KMSD_BODY_TIMEOUT_SECS")]
    pub body_timeout_secs: Option<u64>,
    /// Refuse a TC3 signature already used within its 5-minute window (replay protection for
    /// plain HTTP). Off by default: identical calls in one second then fail. [default: false]
    #[arg(long, env = "KMSD_TC3_REPLAY_CACHE", num_args = 0..=1, default_missing_value = "true")]
    pub tc3_replay_cache: Option<bool>,
    /// Refuse a Huawei SDK signature already used within its 15-minute window. Off by default:
    /// the SDK signs with a one-second date and no nonce, so identical calls in one second
    /// then fail. [default: false]
    #[arg(long, env = "KMSD_HUAWEI_REPLAY_CACHE", num_args = 0..=1, default_missing_value = "true")]
    pub huawei_replay_cache: Option<bool>,
    /// PEM certificate chain: with --tls-key, the listener serves HTTPS (TLS 1.3 and 1.2) only.
    /// A changed file is picked up within a second. [default: none, plain HTTP]
    #[arg(long, env = "KMSD_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "KMSD_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Audit trail: one JSON line per API call, appended to FILE (created 0600), or `-` for
    /// standard output. [default: none, no audit trail]
    #[arg(long, env = "KMSD_AUDIT_LOG", value_name = "FILE|-")]
    pub audit_log: Option<String>,
    /// When an audit record cannot be written: `refuse` the call (ServiceUnavailable), or `log`
    /// the record to the server log and answer. [default: refuse]
    #[arg(long, env = "KMSD_AUDIT_FAILURE", value_enum)]
    pub audit_failure: Option<AuditFailure>,
    /// Server log filter: a level (`info`) or per-module directives (`info,kmsd=debug`).
    /// [default: info]
    #[arg(long, env = "KMSD_LOG", value_name = "FILTER")]
    pub log: Option<String>,
    /// Server log format on standard error. [default: text]
    #[arg(long, env = "KMSD_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Requests per second each principal may make per action, in each region; 0 disables.
    /// Over it, calls answer Tencent RequestLimitExceeded or Huawei 429 APIG.0308. [default:
    /// Tencent's documented limits: 100 for most actions (Encrypt, Decrypt 300;
    /// GenerateDataKey, GenerateRandom 150; asymmetric decryption 200; post-quantum 20);
    /// 100 for each Huawei operation]
    #[arg(long, env = "KMSD_RATE_LIMIT", value_name = "N")]
    pub rate_limit: Option<u32>,
    /// The rate limit of one account, in place of --rate-limit: ACCOUNT=N (0 exempts the
    /// account); repeat the flag for more accounts.
    #[arg(
        long,
        env = "KMSD_ACCOUNT_RATE_LIMIT",
        value_name = "ACCOUNT=N",
        value_delimiter = ','
    )]
    pub account_rate_limit: Option<Vec<String>>,
    /// Fault mode, for testing clients' retry logic: this share (0 to 1) of authenticated calls
    /// answers an injected fault instead of running; nothing changes for them. [default: 0, off]
    #[arg(long, env = "KMSD_FAULT_RATE", value_name = "SHARE")]
    pub fault_rate: Option<f64>,
    /// Which faults the fault mode injects, comma-separated. [default: throttle,internal]
    #[arg(long, env = "KMSD_FAULT_KINDS", value_enum, value_delimiter = ',')]
    pub fault_kinds: Option<Vec<FaultKind>>,
    /// Seconds a Huawei IAM token (POST /v3/auth/tokens) stays valid, 1 to 86400; shorter
    /// lifetimes narrow what a leaked token can do. [default: 86400, the vendor's 24 hours]
    #[arg(long, env = "KMSD_TOKEN_LIFETIME_SECS", value_name = "SECS")]
    pub token_lifetime_secs: Option<u64>,
    /// Comma-separated addresses or CIDR blocks of reverse proxies whose `X-Forwarded-For` is
    /// believed for the client's address that policy conditions test (CAM `qcs:ip`, IAM
    /// `g:SourceIp`). Without it the connection's peer is the client. [default: none]
    #[arg(
        long,
        env = "KMSD_TRUSTED_PROXIES",
        value_name = "CIDR",
        value_delimiter = ','
    )]
    pub trusted_proxies: Option<Vec<String>>,
    /// Huawei IAM token requests (each a password check) one source address may make per
    /// second, after a burst of twenty times as many, with at most two at once; past it they
    /// answer 429. An IPv6 client counts by its /64. 0 disables. [default: 2]
    #[arg(long, env = "KMSD_TOKEN_REQUESTS_PER_ADDRESS", value_name = "N")]
    pub token_requests_per_address: Option<u32>,
    /// OpenTelemetry collector to export traces to, over OTLP/gRPC: `http://HOST:PORT` (e.g.
    /// http://127.0.0.1:4317). One span per API call; a collector that is down delays no call.
    /// `OTEL_SERVICE_NAME` names the service (kmsd). [default: off, no traces]
    #[arg(long, env = "KMSD_OTEL_ENDPOINT", value_name = "URL")]
    pub otel_endpoint: Option<String>,
}

/// What protects a store's root keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SealKind {
    /// The root key file (`--root-key-file`), read at start.
    #[default]
    File,
    /// The unseal key split into operators' shares; starts sealed.
    Shamir,
    /// A key inside a PKCS#11 token.
    Pkcs11,
}

impl SealKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Shamir => "shamir",
            Self::Pkcs11 => "pkcs11",
        }
    }
}

/// How the server log is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    root_key_file: Option<PathBuf>,
    seal: Option<SealKind>,
    pkcs11_module: Option<PathBuf>,
    pkcs11_token_label: Option<String>,
    pkcs11_key_label: Option<String>,
    pkcs11_pin_file: Option<PathBuf>,
    hsm_cluster: Option<Vec<String>>,
    store: Option<String>,
    store_pool_size: Option<u32>,
    regions: Option<Vec<String>>,
    national_crypto_regions: Option<Vec<String>>,
    max_keys_per_region: Option<u64>,
    max_data_keys_per_region: Option<u64>,
    max_body_bytes: Option<usize>,
    shutdown_grace_secs: Option<u64>,
    max_connections: Option<usize>,
    header_timeout_secs: Option<u64>,
    body_timeout_secs: Option<u64>,
    tc3_replay_cache: Option<bool>,
    huawei_replay_cache: Option<bool>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    audit_log: Option<String>,
    audit_failure: Option<AuditFailure>,
    log: Option<String>,
    log_format: Option<LogFormat>,
    rate_limit: Option<u32>,
    account_rate_limit: Option<Vec<String>>,
    fault_rate: Option<f64>,
    fault_kinds: Option<Vec<FaultKind>>,
    token_lifetime_secs: Option<u64>,
    trusted_proxies: Option<Vec<String>>,
    token_requests_per_address: Option<u32>,
    otel_endpoint: Option<String>,
}

/// The resolved and checked settings; paths are absolute.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub data_dir: PathBuf,
    pub root_key_file: PathBuf,
    pub seal: SealKind,
    /// The PKCS#11 seal's key and PIN, with `--seal pkcs11`.
    pub pkcs11: Option<kms_hsm::Pkcs11Settings>,
    /// The HSM clusters whose tokens make and hold keys.
    pub hsm_clusters: Vec<crate::hsm::ClusterSettings>,
    /// PostgreSQL's settings when keys live there; `None` for the embedded store.
    pub store: Option<kms_store::PgSettings>,
    pub store_pool_size: u32,
    pub regions: Vec<String>,
    pub national_crypto_regions: Vec<String>,
    pub max_keys_per_region: u64,
    pub max_data_keys_per_region: u64,
    pub max_body_bytes: usize,
    pub shutdown_grace_secs: u64,
    pub max_connections: usize,
    pub header_timeout_secs: u64,
    pub body_timeout_secs: u64,
    pub tc3_replay_cache: bool,
    pub huawei_replay_cache: bool,
    /// HTTPS when set; plain HTTP otherwise.
    pub tls: Option<TlsFiles>,
    pub audit_log: Option<AuditTarget>,
    pub audit_failure: AuditFailure,
    pub log: String,
    pub log_format: LogFormat,
    pub rate_limits: RateSettings,
    /// Fault injection; `None` when off.
    pub faults: Option<FaultSettings>,
    pub token_lifetime_secs: u64,
    pub trusted_proxies: kms_policy::TrustedProxies,
    /// Token requests per second per source address; 0 when unbounded.
    pub token_requests_per_address: u32,
    /// The OTLP/gRPC collector traces go to; `None` when traces are off.
    pub otel_endpoint: Option<String>,
}

fn read_file(path: &Path) -> anyhow::Result<FileSettings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
}

impl Settings {
    /// Resolves flags (which clap has already merged with the environment) over the file, and
    /// checks every value, so a bad setting is refused before anything touches the data dir.
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let tls = match (
            args.tls_cert.or(file.tls_cert),
            args.tls_key.or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            // Half a TLS setting never falls back to plain HTTP.
            _ => anyhow::bail!("--tls-cert and --tls-key must be given together"),
        };
        let audit_log = args
            .audit_log
            .or(file.audit_log)
            .map(|t| AuditTarget::parse(&t));
        let listen = args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8740".into());
        check_listen(&listen)?;
        let data_dir = absolute(
            &args
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("./kms-data")),
        )?;
        let root_key_file = match args.root_key_file.or(file.root_key_file) {
            Some(path) => absolute(&path)?,
            None => data_dir.join("root.key"),
        };
        check_root_key_place(&root_key_file, &data_dir)?;
        let (pkcs11, hsm_clusters) = crate::hsm::pkcs11_settings(
            args.seal.or(file.seal).unwrap_or_default(),
            crate::hsm::Pkcs11Flags {
                module: args.pkcs11.module.or(file.pkcs11_module),
                token_label: args.pkcs11.token_label.or(file.pkcs11_token_label),
                key_label: args.pkcs11.key_label.or(file.pkcs11_key_label),
                pin_file: args.pkcs11.pin_file.or(file.pkcs11_pin_file),
            },
            &args.hsm_cluster.or(file.hsm_cluster).unwrap_or_default(),
        )?;
        let pool_size = args.store_pool_size.or(file.store_pool_size).unwrap_or(16);
        anyhow::ensure!(
            (1..=1000).contains(&pool_size),
            "--store-pool-size must be from 1 to 1000, not {pool_size}"
        );
        let store = args
            .store
            .or(file.store)
            .map(|url| kms_store::PgSettings::parse(&url))
            .transpose()
            .map_err(|e| anyhow::anyhow!("--store: {e}"))?;
        let regions = check_regions(
            args.regions
                .or(file.regions)
                .unwrap_or_else(|| DEFAULT_REGIONS.iter().map(|s| s.to_string()).collect()),
        )?;
        let national_crypto_regions = args
            .national_crypto_regions
            .or(file.national_crypto_regions)
            .unwrap_or_default();
        for region in &national_crypto_regions {
            anyhow::ensure!(
                regions.contains(region),
                "national-crypto region {region:?} is not one of the served regions ({})",
                regions.join(", ")
            );
        }
        let rate_limits = rate_settings(
            args.rate_limit.or(file.rate_limit),
            args.account_rate_limit.or(file.account_rate_limit),
        )?;
        let faults = fault_settings(
            args.fault_rate.or(file.fault_rate),
            args.fault_kinds.or(file.fault_kinds),
        )?;
        let token_lifetime_secs = args
            .token_lifetime_secs
            .or(file.token_lifetime_secs)
            .unwrap_or(kms_huawei::tokens::TOKEN_LIFETIME_SECS);
        anyhow::ensure!(
            (1..=kms_huawei::tokens::TOKEN_LIFETIME_SECS).contains(&token_lifetime_secs),
            "--token-lifetime-secs must be 1 to {} (24 hours)",
            kms_huawei::tokens::TOKEN_LIFETIME_SECS
        );
        let trusted_proxies = kms_policy::TrustedProxies::parse(
            &args
                .trusted_proxies
                .or(file.trusted_proxies)
                .unwrap_or_default(),
        )
        .map_err(|block| {
            anyhow::anyhow!("--trusted-proxies: {block:?} is not an IP address or CIDR block")
        })?;
        let otel_endpoint = args
            .otel_endpoint
            .or(file.otel_endpoint)
            .map(|url| check_otel_endpoint(&url))
            .transpose()?;
        Ok(Self {
            otel_endpoint,
            rate_limits,
            faults,
            token_lifetime_secs,
            trusted_proxies,
            token_requests_per_address: args
                .token_requests_per_address
                .or(file.token_requests_per_address)
                .unwrap_or(crate::token_requests::DEFAULT_PER_SECOND),
            tls,
            audit_log,
            audit_failure: args
                .audit_failure
                .or(file.audit_failure)
                .unwrap_or_default(),
            log: args.log.or(file.log).unwrap_or_else(|| "info".into()),
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            listen,
            data_dir,
            root_key_file,
            seal: args.seal.or(file.seal).unwrap_or_default(),
            pkcs11,
            hsm_clusters,
            store,
            store_pool_size: pool_size,
            regions,
            national_crypto_regions,
            max_keys_per_region: args
                .max_keys_per_region
                .or(file.max_keys_per_region)
                .unwrap_or(200_000),
            max_data_keys_per_region: args
                .max_data_keys_per_region
                .or(file.max_data_keys_per_region)
                .unwrap_or(100_000),
            max_body_bytes: args
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(1 << 20),
            max_connections: positive(
                "--max-connections",
                args.max_connections
                    .or(file.max_connections)
                    .unwrap_or(1024),
            )?,
            header_timeout_secs: positive(
                "--header-timeout-secs",
                args.header_timeout_secs
                    .or(file.header_timeout_secs)
                    .unwrap_or(10),
            )?,
            body_timeout_secs: positive(
                "--body-timeout-secs",
                args.body_timeout_secs
                    .or(file.body_timeout_secs)
                    .unwrap_or(30),
            )?,
            shutdown_grace_secs: args
                .shutdown_grace_secs
                .or(file.shutdown_grace_secs)
                .unwrap_or(10),
            tc3_replay_cache: args
                .tc3_replay_cache
                .or(file.tc3_replay_cache)
                .unwrap_or(false),
            huawei_replay_cache: args
                .huawei_replay_cache
                .or(file.huawei_replay_cache)
                .unwrap_or(false),
        })
    }

    /// What opens the store's root keys, as a refusal names it.
    pub fn root_of_trust(&self) -> String {
        match &self.pkcs11 {
            Some(hsm) => crate::hsm::describe(hsm),
            None => format!("the root key file {}", self.root_key_file.display()),
        }
    }

    /// The Tencent dialect's settings.
    pub fn tencent_options(&self) -> kms_tencent::Options {
        kms_tencent::Options {
            tc3_replay_cache: self.tc3_replay_cache,
            national_crypto_regions: self.national_crypto_regions.clone(),
            ..kms_tencent::Options::new(self.regions.clone())
        }
    }
}

fn rate_settings(
    default: Option<u32>,
    accounts: Option<Vec<String>>,
) -> anyhow::Result<RateSettings> {
    let mut settings = RateSettings {
        default,
        ..RateSettings::default()
    };
    for text in accounts.unwrap_or_default() {
        let (account, rate) = RateSettings::parse_account(&text)?;
        anyhow::ensure!(
            settings.accounts.insert(account, rate).is_none(),
            "--account-rate-limit names account {account} twice"
        );
    }
    Ok(settings)
}

/// Fault mode is on only for a share above zero; a share outside [0, 1] is refused.
fn fault_settings(
    rate: Option<f64>,
    kinds: Option<Vec<FaultKind>>,
) -> anyhow::Result<Option<FaultSettings>> {
    let Some(rate) = rate else {
        anyhow::ensure!(kinds.is_none(), "--fault-kinds needs --fault-rate");
        return Ok(None);
    };
    anyhow::ensure!(
        (0.0..=1.0).contains(&rate),
        "--fault-rate must be a share between 0 and 1, like 0.05"
    );
    let mut kinds = kinds.unwrap_or_else(|| vec![FaultKind::Throttle, FaultKind::Internal]);
    kinds.dedup();
    anyhow::ensure!(!kinds.is_empty(), "--fault-kinds names no fault");
    Ok((rate > 0.0).then_some(FaultSettings { rate, kinds }))
}

/// A count or duration that must be at least one.
fn positive<T: PartialOrd + From<u8>>(flag: &str, value: T) -> anyhow::Result<T> {
    anyhow::ensure!(value >= T::from(1), "{flag} must be at least 1");
    Ok(value)
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    anyhow::ensure!(!path.as_os_str().is_empty(), "a path setting is empty");
    std::path::absolute(path).with_context(|| format!("resolving the path {}", path.display()))
}

/// The root key file's directory must exist already, unless it is the data dir (made at start).
fn check_root_key_place(root_key_file: &Path, data_dir: &Path) -> anyhow::Result<()> {
    let dir = root_key_file.parent().unwrap_or(Path::new("/"));
    anyhow::ensure!(
        dir == data_dir || dir.is_dir(),
        "--root-key-file {}: the directory {} does not exist",
        root_key_file.display(),
        dir.display()
    );
    Ok(())
}

/// The listen address must be HOST:PORT (an IP address or a host name that resolves).
fn check_listen(listen: &str) -> anyhow::Result<()> {
    use std::net::ToSocketAddrs as _;
    let resolved = listen
        .to_socket_addrs()
        .with_context(|| format!("--listen {listen:?} is not an address like 127.0.0.1:8740"))?;
    anyhow::ensure!(
        resolved.count() > 0,
        "--listen {listen:?} resolves to no address"
    );
    Ok(())
}

/// An OTLP/gRPC endpoint is `http://HOST:PORT`: the collector beside the node (an agent or a
/// sidecar), reached without TLS, which kmsd's exporter does not build in. Answers it without a
/// trailing `/`.
fn check_otel_endpoint(url: &str) -> anyhow::Result<String> {
    let refuse = || {
        anyhow::anyhow!(
            "--otel-endpoint {url:?} is not an OTLP/gRPC endpoint like http://127.0.0.1:4317 \
             (http://HOST:PORT; for TLS, run a collector beside kmsd that forwards over TLS)"
        )
    };
    let uri: axum::http::Uri = url.parse().map_err(|_| refuse())?;
    let authority = uri.authority().ok_or_else(refuse)?;
    anyhow::ensure!(
        uri.scheme_str() == Some("http")
            && !authority.host().is_empty()
            && authority.port_u16().is_some()
            && !authority.as_str().contains('@')
            && matches!(uri.path(), "" | "/")
            && uri.query().is_none(),
        refuse()
    );
    Ok(format!("http://{authority}"))
}

/// Trims each region, drops empty entries and repeats (keeping the first, which is where the
/// root project id points), and refuses names that are not region names.
fn check_regions(given: Vec<String>) -> anyhow::Result<Vec<String>> {
    let mut regions: Vec<String> = Vec::new();
    for region in given.iter().map(|r| r.trim()).filter(|r| !r.is_empty()) {
        anyhow::ensure!(
            is_region_name(region),
            "region {region:?} is not a region name (lowercase letters, digits and '-', like ap-guangzhou)"
        );
        if !regions.iter().any(|r| r == region) {
            regions.push(region.to_owned());
        }
    }
    anyhow::ensure!(
        !regions.is_empty(),
        "at least one region must be configured (--regions ap-guangzhou,...)"
    );
    Ok(regions)
}

fn is_region_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    s.len() <= 64
        && bytes.first().is_some_and(u8::is_ascii_lowercase)
        && bytes.last().is_some_and(|b| *b != b'-')
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_beats_file_beats_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kmsd.toml");
        std::fs::write(
            &path,
            "listen = \"0.0.0.0:1\"\ndata-dir = \"/from/file\"\nregions = [\"ap-x\"]\n",
        )
        .unwrap();
        let s = Settings::resolve(ServeArgs {
            config: Some(path.clone()),
            listen: Some("127.0.0.1:2".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.listen, "127.0.0.1:2");
        assert_eq!(s.data_dir, PathBuf::from("/from/file"));
        assert_eq!(s.root_key_file, PathBuf::from("/from/file/root.key"));
        assert_eq!(s.regions, vec!["ap-x"]);
        assert_eq!(s.max_body_bytes, 1 << 20);
        assert_eq!(s.seal, SealKind::File);

        let key = dir.path().join("root.key");
        std::fs::write(
            &path,
            format!("root-key-file = {:?}\n", key.display().to_string()),
        )
        .unwrap();
        let s = Settings::resolve(ServeArgs {
            config: Some(path.clone()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.root_key_file, key);

        std::fs::write(&path, "seal = \"shamir\"\n").unwrap();
        let s = Settings::resolve(ServeArgs {
            config: Some(path.clone()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.seal, SealKind::Shamir);
        std::fs::write(&path, "seal = \"shamir\"\n").unwrap();
        let s = Settings::resolve(ServeArgs {
            config: Some(path.clone()),
            seal: Some(SealKind::File),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.seal, SealKind::File);
        std::fs::write(&path, "seal = \"vault\"\n").unwrap();
        assert!(
            Settings::resolve(ServeArgs {
                config: Some(path.clone()),
                ..Default::default()
            })
            .is_err()
        );

        std::fs::write(&path, "lisen = \"typo\"\n").unwrap();
        assert!(
            Settings::resolve(ServeArgs {
                config: Some(path),
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn the_pkcs11_seal_from_the_file_and_flags() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let pin = dir.path().join("pin");
        std::fs::write(&pin, "1234\n").unwrap();
        std::fs::set_permissions(&pin, std::fs::Permissions::from_mode(0o600)).unwrap();
        let path = dir.path().join("kmsd.toml");
        std::fs::write(
            &path,
            format!(
                "seal = \"pkcs11\"\npkcs11-module = \"/hsm/module.so\"\n\
                 pkcs11-token-label = \"file-token\"\npkcs11-key-label = \"file-key\"\n\
                 pkcs11-pin-file = {:?}\n",
                pin.display().to_string()
            ),
        )
        .unwrap();
        let s = Settings::resolve(ServeArgs {
            config: Some(path),
            pkcs11: crate::hsm::Pkcs11Flags {
                key_label: Some("flag-key".into()),
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap();
        let hsm = s.pkcs11.as_ref().unwrap();
        assert_eq!(hsm.module, PathBuf::from("/hsm/module.so"));
        assert_eq!(
            (hsm.token_label.as_str(), hsm.key_label.as_str()),
            ("file-token", "flag-key")
        );
        assert_eq!(
            s.root_of_trust(),
            "the PKCS#11 key \"flag-key\" in token \"file-token\""
        );
        let defaults = Settings::resolve(ServeArgs::default()).unwrap();
        assert!(defaults.pkcs11.is_none());
        assert_eq!(
            defaults.root_of_trust(),
            format!("the root key file {}", defaults.root_key_file.display())
        );
    }

    fn regions(list: &[&str]) -> anyhow::Result<Vec<String>> {
        Settings::resolve(ServeArgs {
            regions: Some(list.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        })
        .map(|s| s.regions)
    }

    #[test]
    fn national_crypto_regions_must_be_served() {
        let settings = |list: &[&str]| {
            Settings::resolve(ServeArgs {
                national_crypto_regions: Some(list.iter().map(|s| s.to_string()).collect()),
                ..Default::default()
            })
        };
        assert_eq!(
            settings(&["ap-shanghai"]).unwrap().national_crypto_regions,
            vec!["ap-shanghai"]
        );
        let err = settings(&["ap-nowhere"]).unwrap_err().to_string();
        assert!(err.contains("ap-nowhere"), "{err}");
    }

    #[test]
    fn regions_are_trimmed_deduplicated_and_checked() {
        assert_eq!(
            regions(&[" ap-shanghai", "ap-guangzhou ", "", "ap-shanghai"]).unwrap(),
            ["ap-shanghai", "ap-guangzhou"]
        );
        for bad in [&[][..], &[""], &[" ", ""]] {
            let err = regions(bad).unwrap_err().to_string();
            assert!(err.contains("at least one region"), "{err}");
        }
        for bad in ["AP-GUANGZHOU", "ap guangzhou", "ap-", "-ap", "ap/x", "1ap"] {
            let err = regions(&[bad]).unwrap_err().to_string();
            assert!(err.contains("is not a region name"), "{bad}: {err}");
        }
        assert_eq!(
            Settings::resolve(ServeArgs::default()).unwrap().regions[0],
            "ap-guangzhou"
        );
    }

    #[test]
    fn rate_limit_and_fault_settings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kmsd.toml");
        std::fs::write(
            &path,
            "rate-limit = 50\naccount-rate-limit = [\"7=0\"]\nfault-rate = 0.25\n\
             fault-kinds = [\"internal\"]\n",
        )
        .unwrap();
        let s = Settings::resolve(ServeArgs {
            config: Some(path),
            account_rate_limit: Some(vec!["8=5".into(), "9=1".into()]),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.rate_limits.default, Some(50));
        assert_eq!(
            s.rate_limits.accounts.len(),
            2,
            "the flag replaces the file's list"
        );
        assert_eq!(s.rate_limits.accounts[&8], 5);
        assert_eq!(
            s.faults,
            Some(FaultSettings {
                rate: 0.25,
                kinds: vec![FaultKind::Internal]
            })
        );

        let defaults = Settings::resolve(ServeArgs::default()).unwrap();
        assert_eq!(defaults.rate_limits, RateSettings::default());
        assert_eq!(defaults.faults, None);

        let resolve = |args: ServeArgs| Settings::resolve(args).map_err(|e| e.to_string());
        for bad in [1.5, -0.1, f64::NAN] {
            let err = resolve(ServeArgs {
                fault_rate: Some(bad),
                ..Default::default()
            })
            .unwrap_err();
            assert!(err.contains("--fault-rate"), "{err}");
        }
        let off = resolve(ServeArgs {
            fault_rate: Some(0.0),
            ..Default::default()
        });
        assert_eq!(off.unwrap().faults, None);
        let err = resolve(ServeArgs {
            account_rate_limit: Some(vec!["7=1".into(), "7=2".into()]),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.contains("twice"), "{err}");
        let err = resolve(ServeArgs {
            account_rate_limit: Some(vec!["seven=1".into()]),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.contains("ACCOUNT=REQUESTS_PER_SECOND"), "{err}");
    }

    #[test]
    fn listen_must_be_host_and_port() {
        for good in ["127.0.0.1:0", "[::1]:8740", "localhost:8740"] {
            Settings::resolve(ServeArgs {
                listen: Some(good.into()),
                ..Default::default()
            })
            .unwrap();
        }
        for bad in ["127.0.0.1", "127.0.0.1:99999", "nonsense", ""] {
            let err = Settings::resolve(ServeArgs {
                listen: Some(bad.into()),
                ..Default::default()
            })
            .unwrap_err();
            assert!(format!("{err:#}").contains("--listen"), "{bad}: {err:#}");
        }
    }

    #[test]
    fn paths_are_absolute_and_the_root_key_may_live_elsewhere() {
        let s = Settings::resolve(ServeArgs {
            data_dir: Some("relative/data".into()),
            ..Default::default()
        })
        .unwrap();
        assert!(s.data_dir.is_absolute());
        assert!(s.data_dir.ends_with("relative/data"));
        assert_eq!(s.root_key_file, s.data_dir.join("root.key"));

        let keys = tempfile::tempdir().unwrap();
        let s = Settings::resolve(ServeArgs {
            data_dir: Some("/srv/kms".into()),
            root_key_file: Some(keys.path().join("root.key")),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.root_key_file, keys.path().join("root.key"));
        let err = Settings::resolve(ServeArgs {
            root_key_file: Some(keys.path().join("missing/root.key")),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("missing does not exist"), "{err}");
        assert!(
            Settings::resolve(ServeArgs {
                data_dir: Some("".into()),
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn the_regions_help_names_the_default_regions() {
        use clap::Args as _;
        let command = ServeArgs::augment_args(clap::Command::new("serve"));
        let help = command
            .get_arguments()
            .find(|a| a.get_id() == "regions")
            .and_then(|a| a.get_help())
            .unwrap()
            .to_string()
            .replace(char::is_whitespace, "");
        assert!(
            help.contains(&format!("[default:{}]", DEFAULT_REGIONS.join(","))),
            "{help}"
        );
    }

    #[test]
    fn the_otel_endpoint_is_off_by_default_and_checked() {
        assert_eq!(
            Settings::resolve(ServeArgs::default())
                .unwrap()
                .otel_endpoint,
            None
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kmsd.toml");
        std::fs::write(&path, "otel-endpoint = \"http://collector:4317/\"\n").unwrap();
        let from_file = Settings::resolve(ServeArgs {
            config: Some(path.clone()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            from_file.otel_endpoint.as_deref(),
            Some("http://collector:4317")
        );
        let from_flag = Settings::resolve(ServeArgs {
            config: Some(path),
            otel_endpoint: Some("http://[::1]:4317".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            from_flag.otel_endpoint.as_deref(),
            Some("http://[::1]:4317")
        );
        for bad in [
            "",
            "127.0.0.1:4317",
            "https://collector:4317",
            "http://collector",
            "http://collector:4317/v1/traces",
            "http://collector:4317/?a=b",
            "http://user:pass@collector:4317",
            "grpc://collector:4317",
        ] {
            let refused = Settings::resolve(ServeArgs {
                otel_endpoint: Some(bad.into()),
                ..Default::default()
            });
            let message = refused.unwrap_err().to_string();
            assert!(message.contains("--otel-endpoint"), "{bad}: {message}");
        }
    }

    #[test]
    fn tls_audit_and_log_settings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kmsd.toml");
        std::fs::write(
            &path,
            "tls-cert = \"/c.pem\"\ntls-key = \"/k.pem\"\naudit-log = \"-\"\n\
             audit-failure = \"log\"\nlog = \"debug\"\nlog-format = \"json\"\n",
        )
        .unwrap();
        let s = Settings::resolve(ServeArgs {
            config: Some(path),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            s.tls,
            Some(TlsFiles {
                cert: "/c.pem".into(),
                key: "/k.pem".into()
            })
        );
        assert_eq!(s.audit_log, Some(AuditTarget::Stdout));
        assert_eq!(s.audit_failure, AuditFailure::Log);
        assert_eq!((s.log.as_str(), s.log_format), ("debug", LogFormat::Json));

        let defaults = Settings::resolve(ServeArgs::default()).unwrap();
        assert_eq!(defaults.tls, None);
        assert_eq!(defaults.audit_log, None);
        assert_eq!(defaults.audit_failure, AuditFailure::Refuse);
        assert_eq!(
            (defaults.log.as_str(), defaults.log_format),
            ("info", LogFormat::Text)
        );

        let half = Settings::resolve(ServeArgs {
            tls_cert: Some("/c.pem".into()),
            ..Default::default()
        });
        assert!(half.unwrap_err().to_string().contains("--tls-key"));
        let file = Settings::resolve(ServeArgs {
            audit_log: Some("/var/log/kmsd-audit.jsonl".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            file.audit_log,
            Some(AuditTarget::File("/var/log/kmsd-audit.jsonl".into()))
        );
    }
}
