//! TLS for the one listener: the server configuration from PEM files, and a certificate that is
//! reloaded when its files change, without a restart.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use zeroize::Zeroizing;

/// How often the certificate files are checked for a change.
const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// The PEM files the server's identity comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// What identifies one version of a file: a replaced or rewritten file differs in at least one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileVersion {
    device: u64,
    inode: u64,
    len: u64,
    modified: Option<SystemTime>,
}

impl FileVersion {
    fn of(meta: &Metadata) -> Self {
        Self {
            device: meta.dev(),
            inode: meta.ino(),
            len: meta.len(),
            modified: meta.modified().ok(),
        }
    }
}

/// The versions of the certificate and key files last loaded (or last found unusable).
type FilesVersion = (FileVersion, FileVersion);

fn files_version(files: &TlsFiles) -> std::io::Result<FilesVersion> {
    // `metadata` follows symbolic links, so a link swapped to a new target reads as a change.
    Ok((
        FileVersion::of(&std::fs::metadata(&files.cert)?),
        FileVersion::of(&std::fs::metadata(&files.key)?),
    ))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Reads and checks a certificate chain and its private key: the key must match the leaf.
fn load(files: &TlsFiles, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading certificates from {}", files.cert.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "{} holds no PEM certificate",
        files.cert.display()
    );
    let pem = Zeroizing::new(
        std::fs::read(&files.key)
            .with_context(|| format!("reading private key {}", files.key.display()))?,
    );
    let key = PrivateKeyDer::from_pem_slice(&pem)
        .with_context(|| format!("reading private key from {}", files.key.display()))?;
    CertifiedKey::from_der(chain, key, provider).with_context(|| {
        format!(
            "the key in {} does not serve the certificate in {}",
            files.key.display(),
            files.cert.display()
        )
    })
}

/// Serves the current certificate to every handshake; [`ReloadingCertificate::reload_if_changed`]
/// swaps in a new one when the files change. A new pair that cannot be used (unreadable, not PEM,
/// a key that does not match) leaves the previous certificate in place.
#[derive(Debug)]
pub struct ReloadingCertificate {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    seen: Mutex<Option<FilesVersion>>,
}

impl ReloadingCertificate {
    /// Loads the files; fails if they are not a usable certificate and key.
    pub fn load(files: TlsFiles) -> anyhow::Result<Self> {
        let provider = provider();
        let seen = files_version(&files).ok();
        let current = load(&files, &provider)?;
        Ok(Self {
            files,
            provider,
            current: RwLock::new(Arc::new(current)),
            seen: Mutex::new(seen),
        })
    }

    /// Loads the files again if either changed since they were last looked at. Returns whether a
    /// new certificate is now served.
    pub fn reload_if_changed(&self) -> bool {
        let version = match files_version(&self.files) {
            Ok(v) => Some(v),
            Err(e) => {
                // A file mid-replacement can be missing for a moment; the next check sees it.
                tracing::debug!(error = %e, "TLS certificate files not readable; keeping the current certificate");
                return false;
            }
        };
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if *seen == version {
                return false;
            }
            *seen = version;
        }
        match load(&self.files, &self.provider) {
            Ok(key) => {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
                tracing::info!(cert = %self.files.cert.display(), "reloaded the TLS certificate");
                true
            }
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "the changed TLS certificate or key is not usable; keeping the previous certificate"
                );
                false
            }
        }
    }

    fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The server's TLS configuration (TLS 1.3 and 1.2, HTTP/1.1) over a reloading certificate.
pub fn server_config(certificate: Arc<ReloadingCertificate>) -> anyhow::Result<ServerConfig> {
    let mut config = ServerConfig::builder_with_provider(certificate.provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("choosing TLS versions")?
        .with_no_client_auth()
        .with_cert_resolver(certificate);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Checks the certificate files for a change every second, for as long as the server runs.
pub fn spawn_reloader(certificate: Arc<ReloadingCertificate>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RELOAD_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            certificate.reload_if_changed();
        }
    });
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Self-signed P-256 test identities (CN "kmsd unit test a" and "... b"), made with openssl.
    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/tls")
            .join(name)
    }

    /// Replaces `to` with a copy of `from` the way deployments do: write aside, then rename.
    fn install(from: &str, to: &Path) {
        let aside = to.with_extension("new");
        std::fs::copy(fixture(from), &aside).unwrap();
        std::fs::rename(&aside, to).unwrap();
    }

    fn leaf(certificate: &ReloadingCertificate) -> Vec<u8> {
        certificate.current().end_entity_cert().unwrap().to_vec()
    }

    fn pem_leaf(name: &str) -> Vec<u8> {
        CertificateDer::from_pem_file(fixture(name))
            .unwrap()
            .to_vec()
    }

    #[test]
    fn reloads_a_replaced_certificate_and_keeps_the_old_one_when_the_new_is_unusable() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles {
            cert: dir.path().join("server.crt"),
            key: dir.path().join("server.key"),
        };
        install("a.crt", &files.cert);
        install("a.key", &files.key);
        let certificate = ReloadingCertificate::load(files.clone()).unwrap();
        assert_eq!(leaf(&certificate), pem_leaf("a.crt"));
        assert!(
            !certificate.reload_if_changed(),
            "unchanged files are not reloaded"
        );

        // A new certificate whose key has not arrived yet does not match: the old pair stays.
        install("b.crt", &files.cert);
        assert!(!certificate.reload_if_changed());
        assert_eq!(leaf(&certificate), pem_leaf("a.crt"));

        install("b.key", &files.key);
        assert!(certificate.reload_if_changed());
        assert_eq!(leaf(&certificate), pem_leaf("b.crt"));

        std::fs::write(&files.cert, b"not a certificate").unwrap();
        assert!(!certificate.reload_if_changed());
        assert_eq!(leaf(&certificate), pem_leaf("b.crt"));

        std::fs::remove_file(&files.key).unwrap();
        assert!(
            !certificate.reload_if_changed(),
            "a missing file keeps the certificate"
        );
        install("a.key", &files.key);
        install("a.crt", &files.cert);
        assert!(certificate.reload_if_changed());
        assert_eq!(leaf(&certificate), pem_leaf("a.crt"));
    }

    #[test]
    fn refuses_to_start_without_a_matching_pair() {
        let mismatched = TlsFiles {
            cert: fixture("a.crt"),
            key: fixture("b.key"),
        };
        let e = ReloadingCertificate::load(mismatched).unwrap_err();
        assert!(
            format!("{e:#}").contains("does not serve the certificate"),
            "{e:#}"
        );
        let not_pem = TlsFiles {
            cert: fixture("a.key"),
            key: fixture("a.key"),
        };
        assert!(ReloadingCertificate::load(not_pem).is_err());
        let missing = TlsFiles {
            cert: fixture("absent.crt"),
            key: fixture("a.key"),
        };
        assert!(ReloadingCertificate::load(missing).is_err());
    }
}
