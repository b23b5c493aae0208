//! Connection settings from a `postgres://` URL, and the TLS they ask for.
//!
//! The URL is parsed here rather than by tokio-postgres: it knows neither `verify-ca` /
//! `verify-full` nor `sslrootcert`, and a parser that echoes what it could not read would echo
//! the password. No error of this module quotes any part of the URL but option names; the
//! settings print (Display and Debug alike) with the password as `***`.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use postgres::config::{SslMode as WireSslMode, TargetSessionAttrs};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How long one connection attempt to one host may take when the URL does not say.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_PORT: u16 = 5432;

/// libpq's `sslmode`, as far as kmsd supports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    /// TLS when the server offers it; the certificate is checked only against `sslrootcert`.
    Prefer,
    /// TLS always; the chain is verified only when `sslrootcert` is given (as libpq does).
    Require,
    /// TLS, the chain verified against `sslrootcert`, any host name.
    VerifyCa,
    /// TLS, the chain verified against `sslrootcert`, and the host name.
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str) -> Result<Self, String> {
        Ok(match text {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            _ => {
                return Err(
                    "sslmode must be one of disable, prefer, require, verify-ca, verify-full"
                        .into(),
                );
            }
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// Where and how to connect to PostgreSQL: what a `postgres://` URL says. Prints (Display and
/// Debug) as a URL with the password replaced by `***`.
#[derive(Clone)]
pub struct PgSettings {
    user: String,
    password: Option<String>,
    hosts: Vec<(String, u16)>,
    dbname: String,
    ssl_mode: SslMode,
    root_cert: Option<PathBuf>,
    read_write: bool,
    connect_timeout: Duration,
    application_name: Option<String>,
}

impl PgSettings {
    /// Parses `postgres://user[:password]@host[:port][,host2[:port]…]/db[?options]` with the
    /// options `sslmode`, `sslrootcert`, `target_session_attrs` (any | read-write),
    /// `connect_timeout` (seconds) and `application_name`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or("the URL must start with postgres:// or postgresql://")?;
        let (before_query, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        // The last '@' ends the user part, so an unencoded '@' or '/' in a password never
        // lands in the host or database name (where an error might show it).
        let (userinfo, location) = before_query
            .rsplit_once('@')
            .ok_or("the URL names no user (user@host)")?;
        let (user, password) = match userinfo.split_once(':') {
            Some((u, p)) => (u, Some(decode(p, "password")?)),
            None => (userinfo, None),
        };
        let user = decode(user, "user name")?;
        if user.is_empty() {
            return Err("the URL names no user (user@host)".into());
        }
        let (host_list, dbname) = match location.split_once('/') {
            Some((h, d)) => (h, decode(d, "database name")?),
            None => (location, String::new()),
        };
        let mut hosts = Vec::new();
        for host in host_list.split(',') {
            hosts.push(parse_host(host)?);
        }
        let dbname = if dbname.is_empty() {
            user.clone()
        } else {
            dbname
        };
        let mut settings = Self {
            user,
            password,
            hosts,
            dbname,
            ssl_mode: SslMode::Prefer,
            root_cert: None,
            read_write: false,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            application_name: None,
        };
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode(value, "value of an option")?;
            match key {
                "sslmode" => settings.ssl_mode = SslMode::parse(&value)?,
                "sslrootcert" => settings.root_cert = Some(PathBuf::from(value)),
                "target_session_attrs" => {
                    settings.read_write = match value.as_str() {
                        "any" => false,
                        "read-write" => true,
                        _ => return Err("target_session_attrs must be any or read-write".into()),
                    }
                }
                "connect_timeout" => {
                    let secs: u64 = value
                        .parse()
                        .map_err(|_| "connect_timeout must be a whole number of seconds")?;
                    // libpq treats 0 as "wait forever"; kmsd never waits unbounded.
                    settings.connect_timeout = if secs == 0 {
                        DEFAULT_CONNECT_TIMEOUT
                    } else {
                        Duration::from_secs(secs)
                    };
                }
                "application_name" => settings.application_name = Some(value),
                // The option's name is not shown: a password with an unencoded '?' would
                // put part of itself there.
                _ => {
                    return Err("unsupported connection option: kmsd reads sslmode, \
                                sslrootcert, target_session_attrs, connect_timeout and \
                                application_name"
                        .into());
                }
            }
        }
        if matches!(settings.ssl_mode, SslMode::VerifyCa | SslMode::VerifyFull)
            && settings.root_cert.is_none()
        {
            return Err(format!(
                "sslmode={} needs sslrootcert=FILE (the CA certificates, PEM)",
                settings.ssl_mode.name()
            ));
        }
        Ok(settings)
    }

    /// The same server with another database (the tests make databases of their own).
    pub fn with_dbname(&self, dbname: &str) -> Self {
        Self {
            dbname: dbname.to_owned(),
            ..self.clone()
        }
    }

    pub fn dbname(&self) -> &str {
        &self.dbname
    }

    /// Replaces every occurrence of the password in `text`: a last guard on error texts, which
    /// come from the driver and the server and are never supposed to hold it.
    pub(super) fn redact(&self, text: String) -> String {
        match &self.password {
            Some(p) if p.len() >= 3 && text.contains(p.as_str()) => text.replace(p.as_str(), "***"),
            _ => text,
        }
    }

    /// The driver's configuration; `application_name` replaces the URL's when given.
    pub(super) fn config(&self, application_name: Option<&str>) -> postgres::Config {
        let mut config = postgres::Config::new();
        config.user(&self.user).dbname(&self.dbname);
        if let Some(p) = &self.password {
            config.password(p);
        }
        for (host, port) in &self.hosts {
            config.host(host).port(*port);
        }
        config
            .ssl_mode(match self.ssl_mode {
                SslMode::Disable => WireSslMode::Disable,
                SslMode::Prefer => WireSslMode::Prefer,
                _ => WireSslMode::Require,
            })
            .target_session_attrs(if self.read_write {
                TargetSessionAttrs::ReadWrite
            } else {
                TargetSessionAttrs::Any
            })
            .connect_timeout(self.connect_timeout)
            // A peer that vanished (a failed-over primary) is noticed by the kernel.
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30));
        if let Some(name) = application_name.or(self.application_name.as_deref()) {
            config.application_name(name);
        }
        config
    }

    pub(super) fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The TLS connector for `sslmode` and `sslrootcert` (rustls with aws-lc-rs; no OpenSSL).
    pub(super) fn tls(&self) -> Result<MakeRustlsConnect, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let algorithms = provider.signature_verification_algorithms;
        let roots = match &self.root_cert {
            Some(path) => Some(Arc::new(read_roots(path)?)),
            None => None,
        };
        let verifier: Arc<dyn ServerCertVerifier> = match (self.ssl_mode, roots) {
            (SslMode::VerifyFull, Some(roots)) => web_pki(roots, &provider)?,
            (_, Some(roots)) => Arc::new(ChainOnly(web_pki(roots, &provider)?)),
            (_, None) => Arc::new(AnyCertificate(algorithms)),
        };
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }
}

fn web_pki(
    roots: Arc<RootCertStore>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, String> {
    WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| format!("sslrootcert: {e}"))
}

fn read_roots(path: &std::path::Path) -> Result<RootCertStore, String> {
    let shown = path.display();
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("reading sslrootcert {shown}: {e}"))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("reading sslrootcert {shown}: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("sslrootcert {shown}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("sslrootcert {shown} holds no certificate"));
    }
    Ok(roots)
}

/// Verifies the chain to the roots but not the host name (`verify-ca`, and `require` or
/// `prefer` with `sslrootcert`). The inner verifier checks the name only after the chain, so a
/// name error means the chain was good.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Encryption without authentication of the server (`require` / `prefer` without
/// `sslrootcert`, as libpq): the handshake's signatures are still checked, the certificate not.
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; a percent-encoded path is a Unix socket
/// directory.
fn parse_host(text: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("unclosed [ in a host")?;
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err("unexpected text after ] in a host".into()),
        }
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    let host = decode(host, "host")?;
    if host.is_empty() {
        return Err("the URL names an empty host".into());
    }
    let port = match port {
        Some(p) => p
            .parse()
            .map_err(|_| "a port must be a number below 65536")?,
        None => DEFAULT_PORT,
    };
    Ok((host, port))
}

/// Percent-decodes one URL component; `what` names it in the error, never its text.
fn decode(text: &str, what: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-encoding in the {what}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("the {what} is not UTF-8"))
}

/// A URL component with the characters that would end it percent-encoded.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl fmt::Display for PgSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "postgres://{}", encode(&self.user))?;
        if self.password.is_some() {
            f.write_str(":***")?;
        }
        f.write_str("@")?;
        for (i, (host, port)) in self.hosts.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if host.contains(':') {
                write!(f, "[{host}]:{port}")?;
            } else {
                write!(f, "{}:{port}", encode(host))?;
            }
        }
        write!(
            f,
            "/{}?sslmode={}",
            encode(&self.dbname),
            self.ssl_mode.name()
        )?;
        if let Some(path) = &self.root_cert {
            write!(f, "&sslrootcert={}", encode(&path.to_string_lossy()))?;
        }
        if self.read_write {
            f.write_str("&target_session_attrs=read-write")?;
        }
        write!(f, "&connect_timeout={}", self.connect_timeout.as_secs())?;
        if let Some(name) = &self.application_name {
            write!(f, "&application_name={}", encode(name))?;
        }
        Ok(())
    }
}

impl fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_hosts_options_and_a_hidden_password() {
        let s = PgSettings::parse(
            "postgresql://kms:s%40cr%2Ft@db1:6432,[::1],db3/kmsd?sslmode=require\
             &target_session_attrs=read-write&connect_timeout=3&application_name=node%201",
        )
        .unwrap();
        assert_eq!(s.user, "kms");
        assert_eq!(s.password.as_deref(), Some("s@cr/t"));
        assert_eq!(
            s.hosts,
            vec![
                ("db1".into(), 6432),
                ("::1".into(), 5432),
                ("db3".into(), 5432)
            ]
        );
        assert_eq!(s.dbname, "kmsd");
        assert_eq!(s.ssl_mode, SslMode::Require);
        assert!(s.read_write);
        assert_eq!(s.connect_timeout, Duration::from_secs(3));
        let shown = s.to_string();
        assert_eq!(
            shown,
            "postgres://kms:***@db1:6432,[::1]:5432,db3:5432/kmsd?sslmode=require\
             &target_session_attrs=read-write&connect_timeout=3&application_name=node%201"
        );
        assert_eq!(format!("{s:?}"), shown);
        assert!(!format!("{:?}", s.config(None)).contains("s@cr/t"));
        let reparsed = PgSettings::parse(&shown).unwrap();
        assert_eq!(reparsed.hosts, s.hosts);
    }

    #[test]
    fn a_password_with_unencoded_delimiters_stays_out_of_errors() {
        for url in [
            "postgres://u:pa/ss@wd9@h/db?sslmode=bogus",
            "postgres://u:pa/ss@wd9@h:99999/db",
            "postgres://u:pa/ss@wd9@h/db?frobnicate=pa/ss@wd9",
            "postgres://u:pa/ss@wd9@h/db?sslmode=verify-full",
            "postgres://u:pa/ss@wd9@h/db?connect_timeout=pa/ss@wd9",
            "mysql://u:pa/ss@wd9@h/db",
            "postgres://u:pa%zzss@wd9@h/db",
            "postgres://u:pa?frob=ss@wd9@h/db",
        ] {
            let err = PgSettings::parse(url).unwrap_err();
            assert!(!err.contains("pa/ss") && !err.contains("wd9"), "{err}");
        }
        let s = PgSettings::parse("postgres://u:pa/ss@wd9@h/db").unwrap();
        assert_eq!(s.password.as_deref(), Some("pa/ss@wd9"));
        assert_eq!(s.hosts, vec![("h".into(), 5432)]);
    }

    #[test]
    fn defaults_follow_libpq() {
        let s = PgSettings::parse("postgres://kms@localhost").unwrap();
        assert_eq!(s.dbname, "kms");
        assert_eq!(s.ssl_mode, SslMode::Prefer);
        assert!(!s.read_write);
        assert_eq!(s.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert!(PgSettings::parse("postgres://localhost/db").is_err());
        assert!(PgSettings::parse("postgres://kms@/db").is_err());
        let sock = PgSettings::parse("postgres://kms@%2Fvar%2Frun%2Fpostgresql/db").unwrap();
        assert_eq!(sock.hosts, vec![("/var/run/postgresql".into(), 5432)]);
    }

    #[test]
    fn verify_modes_need_a_root_certificate_file() {
        let err = PgSettings::parse("postgres://u@h/db?sslmode=verify-ca").unwrap_err();
        assert!(err.contains("sslrootcert"), "{err}");
        let s = PgSettings::parse("postgres://u@h/db?sslmode=verify-full&sslrootcert=/nonexistent")
            .unwrap();
        let err = s.tls().err().unwrap();
        assert!(err.contains("/nonexistent"), "{err}");
    }
}
