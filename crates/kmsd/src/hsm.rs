//! The PKCS#11 seal at start: its settings and PIN, the connection to the token, and the store's
//! root keyring opened with the token's key.

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use zeroize::Zeroizing;

use kms_core::store::{ROOT_KEY_CHECK, ROOT_KEYRING};
use kms_core::{SealError, Store};
use kms_crypto::CryptoProvider;
use kms_hsm::provider::HsmProvider;
use kms_hsm::{Pin, Pkcs11Root, Pkcs11Settings, Token};
use kms_seal::keyring::RootKeys;
use kms_seal::{KeyringOpenError, RootOfTrust, Sealing};

use crate::config::SealKind;

/// The environment variable that may hold the token's PIN (never a flag: command lines are
/// visible to every user of the machine).
pub const PIN_VARIABLE: &str = "KMSD_PKCS11_PIN";
/// A PIN file larger than this is not a PIN file.
const MAX_PIN_FILE_BYTES: u64 = 1024;

/// The PKCS#11 seal's settings as given (flag, environment or config file); `kmsd serve` and
/// the commands that open a stopped store take the same flags. Global, so `kmsd admin` takes
/// them after its subcommand too.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Pkcs11Flags {
    /// The HSM's PKCS#11 module (a shared library), with --seal pkcs11.
    #[arg(
        long = "pkcs11-module",
        env = "KMSD_PKCS11_MODULE",
        value_name = "PATH",
        global = true
    )]
    pub module: Option<PathBuf>,
    /// The label of the PKCS#11 token that holds the seal's key.
    #[arg(
        long = "pkcs11-token-label",
        env = "KMSD_PKCS11_TOKEN_LABEL",
        value_name = "LABEL",
        global = true
    )]
    pub token_label: Option<String>,
    /// The label of the seal's AES key in that token; the key must exist there.
    #[arg(
        long = "pkcs11-key-label",
        env = "KMSD_PKCS11_KEY_LABEL",
        value_name = "LABEL",
        global = true
    )]
    pub key_label: Option<String>,
    /// A file (mode 0600) holding the token's user PIN; or give the PIN in KMSD_PKCS11_PIN.
    #[arg(
        long = "pkcs11-pin-file",
        env = "KMSD_PKCS11_PIN_FILE",
        value_name = "FILE",
        global = true
    )]
    pub pin_file: Option<PathBuf>,
}

/// The seal of a stopped store that `kmsd restore`, `kmsd store copy` or `kmsd admin
/// --data-dir` opens, given as to `kmsd serve`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StoppedSeal {
    /// What protects the store's root keys: `file` (its root key file) or `pkcs11` (an AES key
    /// in an HSM, named by the --pkcs11-* flags; the PIN from --pkcs11-pin-file or
    /// KMSD_PKCS11_PIN). [default: file]
    #[arg(long, env = "KMSD_SEAL", value_enum, global = true)]
    pub seal: Option<SealKind>,
    #[command(flatten)]
    pub pkcs11: Pkcs11Flags,
}

impl StoppedSeal {
    /// The PKCS#11 seal's settings with `--seal pkcs11`, `None` with the key-file seal (whose
    /// store refuses PKCS#11 flags, as `kmsd serve` does). `command` names the refusal of a
    /// Shamir seal, which opens only on a running server given operators' shares.
    pub fn pkcs11_settings(&self, command: &str) -> anyhow::Result<Option<Pkcs11Settings>> {
        let kind = self.seal.unwrap_or_default();
        anyhow::ensure!(
            kind != SealKind::Shamir,
            "--seal shamir: {command} opens stores of the key-file or the PKCS#11 seal; a \
             Shamir-sealed store opens only on a running server, with operators' shares"
        );
        Ok(pkcs11_settings(kind, self.pkcs11.clone(), &[])?.0)
    }
}

/// An HSM cluster: a token of the PKCS#11 module whose keys are made and used there.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    pub id: String,
    pub module: PathBuf,
    pub token_label: String,
    pub pin: Pin,
}

/// The PKCS#11 seal's settings when `seal` is `pkcs11`, and the HSM clusters (`ID=TOKEN_LABEL`),
/// which share the seal's module and PIN. The seal's labels are refused with another seal, and
/// the module and PIN file without a PKCS#11 seal or cluster, so a half-configured HSM never
/// goes unnoticed.
pub fn pkcs11_settings(
    seal: SealKind,
    flags: Pkcs11Flags,
    clusters: &[String],
) -> anyhow::Result<(Option<Pkcs11Settings>, Vec<ClusterSettings>)> {
    let clusters = parse_clusters(clusters)?;
    let seal_only = [
        ("--pkcs11-token-label", flags.token_label.is_some()),
        ("--pkcs11-key-label", flags.key_label.is_some()),
    ];
    let shared = [
        ("--pkcs11-module", flags.module.is_some()),
        ("--pkcs11-pin-file", flags.pin_file.is_some()),
    ];
    if seal != SealKind::Pkcs11 {
        if let Some((flag, _)) = seal_only.iter().find(|(_, set)| *set) {
            anyhow::bail!("{flag} belongs to the PKCS#11 seal: give --seal pkcs11 with it");
        }
        if clusters.is_empty() {
            if let Some((flag, _)) = shared.iter().find(|(_, set)| *set) {
                anyhow::bail!(
                    "{flag} belongs to the PKCS#11 seal or an HSM cluster: give --seal pkcs11 \
                     or --hsm-cluster with it"
                );
            }
            return Ok((None, Vec::new()));
        }
    }
    let needs = if seal == SealKind::Pkcs11 {
        "--seal pkcs11"
    } else {
        "--hsm-cluster"
    };
    let module = flags
        .module
        .filter(|m| !m.as_os_str().is_empty())
        .ok_or_else(|| anyhow::anyhow!("{needs} needs --pkcs11-module PATH"))?;
    let module = std::path::absolute(&module)
        .with_context(|| format!("resolving the path {}", module.display()))?;
    let from_environment =
        std::env::var_os(PIN_VARIABLE).map(|v| Zeroizing::new(v.into_string().unwrap_or_default()));
    let pin = read_pin(needs, flags.pin_file.as_deref(), from_environment)?;
    let seal = if seal == SealKind::Pkcs11 {
        let required = |value: Option<String>, flag: &str| {
            value
                .filter(|v| !v.is_empty())
                .ok_or_else(|| anyhow::anyhow!("--seal pkcs11 needs {flag}"))
        };
        Some(Pkcs11Settings {
            module: module.clone(),
            token_label: required(flags.token_label, "--pkcs11-token-label LABEL")?,
            key_label: required(flags.key_label, "--pkcs11-key-label LABEL")?,
            pin: pin.clone(),
        })
    } else {
        None
    };
    let clusters = clusters
        .into_iter()
        .map(|(id, token_label)| ClusterSettings {
            id,
            module: module.clone(),
            token_label,
            pin: pin.clone(),
        })
        .collect();
    Ok((seal, clusters))
}

/// `ID=TOKEN_LABEL` pairs: an id as Tencent's cluster ids are (letters, digits, `-`, `_`, at
/// most 128), each id once, and a token label.
fn parse_clusters(given: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let mut clusters: Vec<(String, String)> = Vec::new();
    for text in given {
        let (id, label) = text
            .split_once('=')
            .filter(|(id, label)| !id.is_empty() && !label.is_empty())
            .ok_or_else(|| anyhow::anyhow!("--hsm-cluster {text:?} is not ID=TOKEN_LABEL"))?;
        anyhow::ensure!(
            id.len() <= 128
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "--hsm-cluster {id:?}: an id is at most 128 letters, digits, '-' and '_'"
        );
        anyhow::ensure!(
            !clusters.iter().any(|(known, _)| known == id),
            "--hsm-cluster names {id:?} twice"
        );
        clusters.push((id.to_owned(), label.to_owned()));
    }
    Ok(clusters)
}

/// The HSM clusters' providers, each logged in to its token; a refusal names the cluster.
pub fn connect_clusters(
    clusters: &[ClusterSettings],
) -> anyhow::Result<Vec<(String, Arc<dyn CryptoProvider>)>> {
    clusters
        .iter()
        .map(|cluster| {
            let token = Token::open(&cluster.module, &cluster.token_label, &cluster.pin)
                .map_err(|e| anyhow::anyhow!("--hsm-cluster {}: {e}", cluster.id))?;
            let provider: Arc<dyn CryptoProvider> = Arc::new(HsmProvider::new(token));
            Ok((cluster.id.clone(), provider))
        })
        .collect()
}

/// The PIN from exactly one of the PIN file and the environment variable; `needs` names what
/// asked for it.
fn read_pin(
    needs: &str,
    file: Option<&Path>,
    from_environment: Option<Zeroizing<String>>,
) -> anyhow::Result<Pin> {
    let text = match (file, from_environment) {
        (Some(_), Some(_)) => anyhow::bail!(
            "the PKCS#11 PIN is given twice, by --pkcs11-pin-file and {PIN_VARIABLE}: give one"
        ),
        (None, None) => {
            anyhow::bail!("{needs} needs the token's PIN: --pkcs11-pin-file FILE or {PIN_VARIABLE}")
        }
        (None, Some(pin)) => pin,
        (Some(path), None) => read_pin_file(path)?,
    };
    anyhow::ensure!(!text.is_empty(), "the PKCS#11 PIN is empty (or not UTF-8)");
    Ok(Pin::new(text))
}

/// The PIN file's text without its final line break. Like the root key file, a PIN file
/// readable by other users is refused: it may have been read.
fn read_pin_file(path: &Path) -> anyhow::Result<Zeroizing<String>> {
    let shown = path.display();
    let file = std::fs::File::open(path).with_context(|| format!("PIN file {shown}"))?;
    let metadata = file
        .metadata()
        .with_context(|| format!("PIN file {shown}"))?;
    anyhow::ensure!(
        metadata.permissions().mode() & 0o077 == 0,
        "PIN file {shown} is readable by other users; it must be mode 0600"
    );
    anyhow::ensure!(
        metadata.len() <= MAX_PIN_FILE_BYTES,
        "PIN file {shown} is larger than {MAX_PIN_FILE_BYTES} bytes: it holds no PIN"
    );
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_PIN_FILE_BYTES)
        .read_to_end(&mut bytes)
        .with_context(|| format!("PIN file {shown}"))?;
    let text = std::str::from_utf8(&bytes).unwrap_or_default();
    let line = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(text);
    Ok(Zeroizing::new(line.to_owned()))
}

/// How a refusal names the seal's key.
pub fn describe(settings: &Pkcs11Settings) -> String {
    format!(
        "the PKCS#11 key {:?} in token {:?}",
        settings.key_label, settings.token_label
    )
}

/// The PKCS#11 seal, logged in to its token.
pub struct HsmSeal<'a> {
    root: Arc<Pkcs11Root>,
    settings: &'a Pkcs11Settings,
}

impl<'a> HsmSeal<'a> {
    /// The token's key, as the root of trust that wraps a keyring.
    pub fn root(&self) -> &dyn RootOfTrust {
        self.root.as_ref()
    }

    /// Logs in to the token and finds the key; each refusal says in one line what is wrong.
    pub fn connect(settings: &'a Pkcs11Settings) -> anyhow::Result<Self> {
        let root =
            Pkcs11Root::connect(settings).map_err(|e| anyhow::anyhow!("--seal pkcs11: {e}"))?;
        Ok(Self {
            root: Arc::new(root),
            settings,
        })
    }

    /// The root keys of `store` (at `place`), whose keyring the token's key wraps; a new store
    /// gets a fresh keyring. A store with data but no wrapped keyring was made by the key-file
    /// seal, whose key the HSM does not hold: it is refused, not given a second keyring.
    pub fn root_keys(&self, store: &dyn Store, place: &str) -> anyhow::Result<Sealing> {
        // The operator token may already be there (it is made before any seal opens); a store
        // some seal has served has a check value or an account.
        let has_data = store.setting(ROOT_KEY_CHECK)?.is_some() || !store.accounts()?.is_empty();
        if store.setting(ROOT_KEYRING)?.is_none() && has_data {
            anyhow::bail!(
                "the store {place} is sealed by a root key file, not by an HSM: start it \
                 without --seal pkcs11 (with its --root-key-file)"
            );
        }
        match kms_seal::open_keyring(store, self.root.as_ref(), None) {
            Ok(keyring) => Ok(Sealing {
                keys: Arc::new(RootKeys::unsealed(keyring)),
                root: self.root.clone(),
            }),
            Err(KeyringOpenError::Seal(SealError::Authentication)) => anyhow::bail!(
                "{} does not open the root keyring of the store {place}: it is not the key \
                 this store was sealed with",
                describe(self.settings)
            ),
            Err(e) => Err(anyhow::anyhow!("{e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn flags(pin_file: Option<PathBuf>) -> Pkcs11Flags {
        Pkcs11Flags {
            module: Some("/usr/lib/softhsm/libsofthsm2.so".into()),
            token_label: Some("token".into()),
            key_label: Some("key".into()),
            pin_file,
        }
    }

    fn pin_file(dir: &Path, contents: &[u8], mode: u32) -> PathBuf {
        let path = dir.join("pin");
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn a_stopped_store_takes_the_seal_flags_of_serve() {
        let dir = tempfile::tempdir().unwrap();
        let pin = pin_file(dir.path(), b"1234\n", 0o600);
        let hsm = StoppedSeal {
            seal: Some(SealKind::Pkcs11),
            pkcs11: flags(Some(pin.clone())),
        };
        let settings = hsm.pkcs11_settings("kmsd restore").unwrap().unwrap();
        assert_eq!(
            (settings.token_label.as_str(), settings.key_label.as_str()),
            ("token", "key")
        );
        assert!(
            StoppedSeal::default()
                .pkcs11_settings("kmsd restore")
                .unwrap()
                .is_none()
        );
        let stray = StoppedSeal {
            seal: None,
            pkcs11: flags(Some(pin)),
        };
        let err = stray.pkcs11_settings("kmsd restore").unwrap_err();
        assert!(err.to_string().contains("give --seal pkcs11"), "{err}");
        let shamir = StoppedSeal {
            seal: Some(SealKind::Shamir),
            ..StoppedSeal::default()
        };
        let err = shamir.pkcs11_settings("kmsd store copy").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--seal shamir: kmsd store copy opens"),
            "{err}"
        );
    }

    #[test]
    fn pkcs11_settings_need_every_flag_and_only_with_that_seal() {
        let dir = tempfile::tempdir().unwrap();
        let pin = pin_file(dir.path(), b"1234\n", 0o600);
        let settings = pkcs11_settings(SealKind::Pkcs11, flags(Some(pin.clone())), &[])
            .unwrap()
            .0
            .unwrap();
        assert_eq!(settings.token_label, "token");
        assert_eq!(settings.key_label, "key");
        assert_eq!(
            settings.module,
            PathBuf::from("/usr/lib/softhsm/libsofthsm2.so")
        );
        assert!(!format!("{settings:?}").contains("1234"));
        let (seal, clusters) =
            pkcs11_settings(SealKind::File, Pkcs11Flags::default(), &[]).unwrap();
        assert!(seal.is_none() && clusters.is_empty());
        let err = pkcs11_settings(SealKind::File, flags(None), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--pkcs11-token-label belongs to the PKCS#11 seal: give --seal pkcs11 with it"
        );
        let module_only = Pkcs11Flags {
            module: Some("/m.so".into()),
            ..Pkcs11Flags::default()
        };
        let err = pkcs11_settings(SealKind::File, module_only, &[]).unwrap_err();
        assert!(
            err.to_string()
                .contains("--pkcs11-module belongs to the PKCS#11 seal or an HSM cluster"),
            "{err}"
        );
        for (missing, flag) in [
            (
                Pkcs11Flags {
                    module: None,
                    ..flags(Some(pin.clone()))
                },
                "--pkcs11-module",
            ),
            (
                Pkcs11Flags {
                    token_label: Some(String::new()),
                    ..flags(Some(pin.clone()))
                },
                "--pkcs11-token-label",
            ),
            (
                Pkcs11Flags {
                    key_label: None,
                    ..flags(Some(pin.clone()))
                },
                "--pkcs11-key-label",
            ),
        ] {
            let err = pkcs11_settings(SealKind::Pkcs11, missing, &[]).unwrap_err();
            assert!(err.to_string().contains(flag), "{err}");
        }
    }

    #[test]
    fn hsm_clusters_share_the_module_and_pin() {
        let dir = tempfile::tempdir().unwrap();
        let pin = pin_file(dir.path(), b"1234\n", 0o600);
        let shared = || Pkcs11Flags {
            module: Some("/m.so".into()),
            pin_file: Some(pin.clone()),
            ..Pkcs11Flags::default()
        };
        let given = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (seal, clusters) = pkcs11_settings(
            SealKind::File,
            shared(),
            &given(&["c1=token-a", "c_2=token b"]),
        )
        .unwrap();
        assert!(seal.is_none());
        let pairs: Vec<_> = clusters
            .iter()
            .map(|c| (c.id.as_str(), c.token_label.as_str(), c.module.clone()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("c1", "token-a", PathBuf::from("/m.so")),
                ("c_2", "token b", PathBuf::from("/m.so"))
            ]
        );
        let (seal, clusters) = pkcs11_settings(
            SealKind::Pkcs11,
            flags(Some(pin.clone())),
            &given(&["c1=t"]),
        )
        .unwrap();
        assert!(seal.is_some() && clusters.len() == 1);
        for (bad, message) in [
            (&["c1"][..], "is not ID=TOKEN_LABEL"),
            (&["=token"], "is not ID=TOKEN_LABEL"),
            (&["c1="], "is not ID=TOKEN_LABEL"),
            (&["c 1=token"], "an id is at most 128"),
            (&["c1=a", "c1=b"], "names \"c1\" twice"),
        ] {
            let err = pkcs11_settings(SealKind::File, shared(), &given(bad)).unwrap_err();
            assert!(err.to_string().contains(message), "{bad:?}: {err}");
        }
        let err =
            pkcs11_settings(SealKind::File, Pkcs11Flags::default(), &given(&["c1=t"])).unwrap_err();
        assert_eq!(err.to_string(), "--hsm-cluster needs --pkcs11-module PATH");
    }

    #[test]
    fn the_pin_comes_from_one_place_without_its_line_break() {
        let dir = tempfile::tempdir().unwrap();
        let from_env = || Some(Zeroizing::new("env-pin".to_owned()));
        let shown = |pin: Pin| format!("{pin:?}");
        assert_eq!(
            shown(read_pin("--seal pkcs11", None, from_env()).unwrap()),
            "Pin(<redacted>)"
        );
        for (contents, expected) in [
            (&b"file-pin\n"[..], "file-pin"),
            (b"file-pin\r\n", "file-pin"),
            (b"file-pin", "file-pin"),
            (b" spaced pin \n\n", " spaced pin \n"),
        ] {
            let path = pin_file(dir.path(), contents, 0o600);
            assert_eq!(&read_pin_file(&path).unwrap()[..], expected);
        }
        let path = pin_file(dir.path(), b"1234", 0o600);
        let err = read_pin("--seal pkcs11", Some(&path), from_env())
            .unwrap_err()
            .to_string();
        assert!(err.contains("given twice"), "{err}");
        let err = read_pin("--seal pkcs11", None, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs the token's PIN"), "{err}");
        let path = pin_file(dir.path(), b"\n", 0o600);
        let err = read_pin("--seal pkcs11", Some(&path), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("PIN is empty"), "{err}");
        let path = pin_file(dir.path(), b"1234", 0o640);
        let err = read_pin("--seal pkcs11", Some(&path), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("readable by other users"), "{err}");
        assert!(!err.contains("1234"), "{err}");
        let path = pin_file(dir.path(), &[b'1'; 2000], 0o600);
        let err = read_pin("--seal pkcs11", Some(&path), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("larger than 1024 bytes"), "{err}");
        let err = read_pin("--seal pkcs11", Some(&dir.path().join("missing")), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("PIN file"), "{err}");
    }
}
