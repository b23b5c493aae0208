//! Settings: each from a flag, else `KMSD_<FLAG>`, else the TOML file given by `--config`, else
//! its default.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

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
    /// Comma-separated regions to serve; the first one is the root project's.
    #[arg(long, env = "KMSD_REGIONS", value_delimiter = ',')]
    pub regions: Option<Vec<String>>,
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
    /// Refuse a TC3 signature already used within its 5-minute window (replay protection for
    /// plain HTTP). Off by default: identical calls in one second then fail. [default: false]
    #[arg(long, env = "KMSD_TC3_REPLAY_CACHE", num_args = 0..=1, default_missing_value = "true")]
    pub tc3_replay_cache: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    regions: Option<Vec<String>>,
    max_keys_per_region: Option<u64>,
    max_data_keys_per_region: Option<u64>,
    max_body_bytes: Option<usize>,
    shutdown_grace_secs: Option<u64>,
    tc3_replay_cache: Option<bool>,
}

/// The resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub data_dir: PathBuf,
    pub regions: Vec<String>,
    pub max_keys_per_region: u64,
    pub max_data_keys_per_region: u64,
    pub max_body_bytes: usize,
    pub shutdown_grace_secs: u64,
    pub tc3_replay_cache: bool,
}

fn read_file(path: &Path) -> anyhow::Result<FileSettings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
}

impl Settings {
    /// Resolves flags (which clap has already merged with the environment) over the file.
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let regions = args
            .regions
            .or(file.regions)
            .unwrap_or_else(|| DEFAULT_REGIONS.iter().map(|s| s.to_string()).collect());
        anyhow::ensure!(
            !regions.is_empty(),
            "at least one region must be configured"
        );
        Ok(Self {
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| "127.0.0.1:8740".into()),
            data_dir: args
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("./kms-data")),
            regions,
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
            shutdown_grace_secs: args
                .shutdown_grace_secs
                .or(file.shutdown_grace_secs)
                .unwrap_or(10),
            tc3_replay_cache: args
                .tc3_replay_cache
                .or(file.tc3_replay_cache)
                .unwrap_or(false),
        })
    }

    /// The Tencent dialect's settings.
    pub fn tencent_options(&self) -> kms_tencent::Options {
        kms_tencent::Options {
            tc3_replay_cache: self.tc3_replay_cache,
            ..kms_tencent::Options::new(self.regions.clone())
        }
    }
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
        assert_eq!(s.regions, vec!["ap-x"]);
        assert_eq!(s.max_body_bytes, 1 << 20);

        std::fs::write(&path, "lisen = \"typo\"\n").unwrap();
        assert!(
            Settings::resolve(ServeArgs {
                config: Some(path),
                ..Default::default()
            })
            .is_err()
        );
    }
}
