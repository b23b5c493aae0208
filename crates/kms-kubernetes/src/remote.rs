//! A running kmsd reached through its Tencent API: TC3-signed `Encrypt` and `Decrypt` of one
//! CMK, over HTTPS, or plain HTTP to this machine only (the API server's data keys travel in
//! the request and answer bodies). One connection per call: the API server calls rarely
//! (Status about once a minute, Encrypt when it makes a data key, Decrypt when one is not in
//! its cache).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::{Backend, BackendError};

/// The API version of every Tencent KMS action.
const API_VERSION: &str = "2019-01-18";
/// Binds every blob the plugin makes to this use: a ciphertext of the API server's data keys
/// opens only with this context, and no blob sealed for another use opens here.
pub const ENCRYPTION_CONTEXT: &str = r#"{"kmsd:use":"kubernetes-kms-v2"}"#;
/// kmsd's answers to Encrypt and Decrypt are a few kilobytes at most.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A Tencent API credential of the account that owns the CMK.
pub struct Credential {
    pub secret_id: String,
    pub secret_key: Zeroizing<String>,
}

/// Where kmsd is and how the plugin calls it.
pub struct RemoteSettings {
    /// `https://host:port` (or `http://` on this machine) of kmsd's Tencent API.
    pub endpoint: http::Uri,
    /// Verifies kmsd's certificate; required for `https`.
    pub tls: Option<TlsConnector>,
    pub region: String,
    pub key_id: Uuid,
    pub credential: Credential,
    /// How long one call to kmsd may take.
    pub timeout: Duration,
}

/// kmsd's Tencent API as the plugin's backend.
pub struct Remote {
    settings: RemoteSettings,
    /// The host as a name or address, without brackets.
    host: String,
    port: u16,
    /// The `Host` header and signed host: the endpoint's authority.
    authority: String,
}

impl Remote {
    /// Checks the endpoint: an `https` URI (or `http`, or a bare `host:port`), with no path
    /// beyond `/`.
    pub fn new(settings: RemoteSettings) -> Result<Self, String> {
        let endpoint = &settings.endpoint;
        let default_port = match (endpoint.scheme_str(), &settings.tls) {
            (Some("https"), Some(_)) => 443,
            (Some("https"), None) => {
                return Err(format!(
                    "the endpoint {endpoint} needs the CA certificate that signed kmsd's"
                ));
            }
            // No scheme is plain HTTP: `kmsd dev` writes its endpoint so.
            (Some("http") | None, _) => 80,
            _ => return Err(format!("the endpoint {endpoint} is not an https:// URL")),
        };
        let authority = endpoint
            .authority()
            .ok_or_else(|| format!("the endpoint {endpoint} names no host"))?;
        if !matches!(endpoint.path(), "" | "/") || endpoint.query().is_some() {
            return Err(format!(
                "the endpoint {endpoint} has a path; kmsd's Tencent API is at /"
            ));
        }
        Ok(Remote {
            host: authority.host().trim_matches(['[', ']']).to_owned(),
            port: authority.port_u16().unwrap_or(default_port),
            authority: authority.to_string(),
            settings,
        })
    }

    /// Connects to kmsd; plain HTTP only when every address of the host is loopback.
    pub async fn connect(&self) -> Result<Connection, BackendError> {
        let unreachable = |e: std::io::Error| {
            BackendError::Unreachable(format!("{}:{}: {e}", self.host, self.port))
        };
        let addresses: Vec<std::net::SocketAddr> =
            tokio::net::lookup_host((self.host.as_str(), self.port))
                .await
                .map_err(unreachable)?
                .collect();
        let Some(tls) = self.tls() else {
            if addresses.is_empty() || !addresses.iter().all(|a| a.ip().is_loopback()) {
                return Err(BackendError::PlainHttp(self.host.clone()));
            }
            let tcp = TcpStream::connect(addresses.as_slice())
                .await
                .map_err(unreachable)?;
            return Ok(Connection::Plain(tcp));
        };
        let name = ServerName::try_from(self.host.clone())
            .map_err(|_| BackendError::Unreachable(format!("{} is not a host name", self.host)))?;
        let tcp = TcpStream::connect(addresses.as_slice())
            .await
            .map_err(unreachable)?;
        let stream = tls.connect(name, tcp).await.map_err(unreachable)?;
        Ok(Connection::Tls(Box::new(stream)))
    }

    fn tls(&self) -> Option<&TlsConnector> {
        match self.settings.endpoint.scheme_str() {
            Some("https") => self.settings.tls.as_ref(),
            _ => None,
        }
    }

    /// One signed action; the `Response` object of a success, as `T`.
    async fn call<T: DeserializeOwned>(
        &self,
        action: &str,
        params: &impl Serialize,
    ) -> Result<T, BackendError> {
        let body = serde_json::to_vec(params)
            .map(Zeroizing::new)
            .map_err(|e| BackendError::Malformed(format!("{action}: {e}")))?;
        let answer = tokio::time::timeout(self.settings.timeout, self.exchange(action, &body))
            .await
            .map_err(|_| {
                BackendError::Unreachable(format!(
                    "{action} took longer than {:?}",
                    self.settings.timeout
                ))
            })??;
        let malformed =
            || BackendError::Malformed(format!("{action} answered no Tencent API response"));
        let answer: Answer<T> = serde_json::from_slice(&answer).map_err(|_| malformed())?;
        match answer.response {
            AnswerResponse {
                error: Some(error), ..
            } => Err(BackendError::Refused {
                code: error.code,
                message: error.message,
            }),
            AnswerResponse {
                result: Some(result),
                ..
            } => Ok(result),
            AnswerResponse { .. } => Err(malformed()),
        }
    }

    /// Sends a signed request; the answer's body.
    async fn exchange(
        &self,
        action: &str,
        body: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, BackendError> {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| BackendError::Unreachable("the clock is before 1970".to_owned()))?
            .as_secs();
        let credential = &self.settings.credential;
        let authorization = kms_tencent::auth::tc3_authorization(
            &credential.secret_id,
            credential.secret_key.as_bytes(),
            &self.authority,
            timestamp,
            body,
        );
        let request = http::Request::post("/")
            .header(http::header::HOST, &self.authority)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::AUTHORIZATION, authorization)
            .header("X-TC-Action", action)
            .header("X-TC-Version", API_VERSION)
            .header("X-TC-Timestamp", timestamp.to_string())
            .header("X-TC-Region", &self.settings.region)
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| BackendError::Malformed(format!("building the request: {e}")))?;
        let failed = |e: hyper::Error| BackendError::Unreachable(format!("{action}: {e}"));
        let answer = match self.connect().await? {
            Connection::Plain(tcp) => send(TokioIo::new(tcp), request).await,
            Connection::Tls(tls) => send(TokioIo::new(*tls), request).await,
        }
        .map_err(failed)?;
        let bytes = Limited::new(answer.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| BackendError::Unreachable(format!("{action}: reading the answer: {e}")))?
            .to_bytes();
        Ok(Zeroizing::new(bytes.to_vec()))
    }
}

/// A connection to kmsd.
pub enum Connection {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// One request on a fresh HTTP/1.1 connection.
async fn send<T>(
    io: TokioIo<T>,
    request: http::Request<Full<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, hyper::Error>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(connection);
    sender.send_request(request).await
}

#[derive(Deserialize)]
struct Answer<T> {
    #[serde(rename = "Response")]
    response: AnswerResponse<T>,
}

/// The `Response` object: an `Error`, or the action's fields.
#[derive(Deserialize)]
struct AnswerResponse<T> {
    #[serde(rename = "Error")]
    error: Option<AnswerError>,
    #[serde(flatten)]
    result: Option<T>,
}

#[derive(Deserialize)]
struct AnswerError {
    #[serde(rename = "Code")]
    code: String,
    #[serde(rename = "Message")]
    message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EncryptParams<'a> {
    key_id: String,
    plaintext: &'a str,
    encryption_context: &'static str,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EncryptAnswer {
    ciphertext_blob: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DecryptParams {
    ciphertext_blob: String,
    encryption_context: &'static str,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DecryptAnswer {
    plaintext: Zeroizing<String>,
}

fn decode_base64(text: &str, action: &str) -> Result<Zeroizing<Vec<u8>>, BackendError> {
    BASE64
        .decode(text)
        .map(Zeroizing::new)
        .map_err(|_| BackendError::Malformed(format!("{action} answered malformed base64")))
}

impl Backend for Remote {
    async fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, BackendError> {
        let plaintext = Zeroizing::new(BASE64.encode(plaintext));
        let params = EncryptParams {
            key_id: self.settings.key_id.to_string(),
            plaintext: &plaintext,
            encryption_context: ENCRYPTION_CONTEXT,
        };
        let answer: EncryptAnswer = self.call("Encrypt", &params).await?;
        Ok(decode_base64(&answer.ciphertext_blob, "Encrypt")?.to_vec())
    }

    async fn decrypt(&self, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, BackendError> {
        let params = DecryptParams {
            ciphertext_blob: BASE64.encode(blob),
            encryption_context: ENCRYPTION_CONTEXT,
        };
        let answer: DecryptAnswer = self.call("Decrypt", &params).await?;
        decode_base64(&answer.plaintext, "Decrypt")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(endpoint: &str) -> RemoteSettings {
        RemoteSettings {
            endpoint: endpoint.parse().unwrap(),
            tls: None,
            region: "ap-guangzhou".to_owned(),
            key_id: Uuid::new_v4(),
            credential: Credential {
                secret_id: "AKIDEXAMPLE".to_owned(),
                secret_key: Zeroizing::new("secret".to_owned()),
            },
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn endpoints_name_a_host_and_nothing_more() {
        let plain = Remote::new(settings("http://[::1]:8740")).unwrap();
        assert_eq!((plain.host.as_str(), plain.port), ("::1", 8740));
        assert_eq!(plain.authority, "[::1]:8740");
        let bare = Remote::new(settings("127.0.0.1:8740")).unwrap();
        assert_eq!((bare.host.as_str(), bare.port), ("127.0.0.1", 8740));
        assert_eq!(Remote::new(settings("http://localhost")).unwrap().port, 80);
        for refused in [
            "https://kmsd.example:8740",
            "ftp://kmsd.example",
            "http://127.0.0.1:8740/v1",
            "http://127.0.0.1:8740/?a=b",
        ] {
            assert!(Remote::new(settings(refused)).is_err(), "{refused}");
        }
    }

    #[tokio::test]
    async fn plain_http_goes_only_to_this_machine() {
        let remote = Remote::new(settings("http://192.0.2.1:8740")).unwrap();
        assert!(matches!(
            remote.connect().await,
            Err(BackendError::PlainHttp(_))
        ));
    }
}
