//! The Kubernetes KMS v2 plugin: the API server's `KeyManagementService` (Status, Encrypt,
//! Decrypt) over a Unix socket, each call answered by one CMK of a kmsd.
//!
//! The plugin seals what the API server hands it (its data encryption keys, or the seeds it
//! derives them from) under the CMK and answers kmsd's ciphertext blob as is. The blob's header
//! names the CMK and the key version that sealed it, so the key id the plugin answers,
//! `<cmk>:<version>`, changes when the CMK rotates, which tells the API server to make a new
//! data key, and Decrypt needs nothing but the blob.

pub mod remote;
pub mod socket;

use std::future::Future;

use kms_core::ciphertext;
use tonic::{Request, Response, Status};
use uuid::Uuid;
use zeroize::{Zeroize as _, Zeroizing};

/// The code generated from `proto/kms_v2.proto`.
pub mod proto {
    tonic::include_proto!("v2");
}

use proto::key_management_service_server::KeyManagementService;
use proto::{
    DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, StatusRequest, StatusResponse,
};

pub use proto::key_management_service_server::KeyManagementServiceServer;

/// Shows the request without its plaintext.
impl std::fmt::Debug for EncryptRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptRequest")
            .field(
                "plaintext",
                &format_args!("<{} bytes>", self.plaintext.len()),
            )
            .field("uid", &self.uid)
            .finish()
    }
}

/// Shows the answer without its plaintext.
impl std::fmt::Debug for DecryptResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptResponse")
            .field(
                "plaintext",
                &format_args!("<{} bytes>", self.plaintext.len()),
            )
            .finish()
    }
}

/// The KMS plugin API version the API server requires of a v2 plugin.
pub const API_VERSION: &str = "v2";
/// The API server refuses a ciphertext of more than 1 kB (its `encryptedDEKSourceMaxSize`).
pub const MAX_CIPHERTEXT_LEN: usize = 1024;
/// What a Status call seals and opens again to prove the CMK usable.
const PROBE: &[u8] = b"kmsd kms-plugin status";

/// What the plugin asks of kmsd: seal under the CMK, open a blob it sealed.
pub trait Backend: Send + Sync + 'static {
    fn encrypt(
        &self,
        plaintext: &[u8],
    ) -> impl Future<Output = Result<Vec<u8>, BackendError>> + Send;
    fn decrypt(
        &self,
        blob: &[u8],
    ) -> impl Future<Output = Result<Zeroizing<Vec<u8>>, BackendError>> + Send;
}

/// Why kmsd did not answer as asked.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// kmsd answered an error: its Tencent code and message.
    #[error("kmsd answered {code}: {message}")]
    Refused { code: String, message: String },
    /// kmsd could not be reached, or did not answer in time.
    #[error("kmsd is unreachable: {0}")]
    Unreachable(String),
    /// The endpoint is plain HTTP to a host that is not this machine.
    #[error(
        "refusing plain HTTP to {0}, which is not this machine: the data keys would cross the network readable; use https://"
    )]
    PlainHttp(String),
    /// kmsd answered something that is not a Tencent API answer.
    #[error("kmsd answered malformed: {0}")]
    Malformed(String),
}

impl From<BackendError> for Status {
    /// The API server retries what is unavailable; a refusal of kmsd keeps its meaning.
    fn from(e: BackendError) -> Self {
        let message = e.to_string();
        match &e {
            BackendError::Unreachable(_) => Status::unavailable(message),
            BackendError::Malformed(_) => Status::internal(message),
            BackendError::PlainHttp(_) => Status::failed_precondition(message),
            BackendError::Refused { code, .. } => match code.split('.').next() {
                Some("InvalidParameter" | "InvalidParameterValue" | "MissingParameter") => {
                    Status::invalid_argument(message)
                }
                Some("AuthFailure" | "UnauthorizedOperation") => Status::permission_denied(message),
                Some("ResourceUnavailable" | "ResourceNotFound" | "FailedOperation") => {
                    Status::failed_precondition(message)
                }
                Some("InternalError" | "ServiceUnavailable" | "RequestLimitExceeded") => {
                    Status::unavailable(message)
                }
                _ => Status::internal(message),
            },
        }
    }
}

/// The plugin: one CMK of a kmsd behind the API server's service.
pub struct Plugin<B> {
    cmk: Uuid,
    backend: B,
}

impl<B: Backend> Plugin<B> {
    pub fn new(cmk: Uuid, backend: B) -> Self {
        Plugin { cmk, backend }
    }

    /// The key id of a blob of the CMK: the CMK and the version that sealed it.
    fn key_id_of(&self, blob: &[u8]) -> Result<String, Status> {
        let (header, _) = ciphertext::decode(blob)
            .ok_or_else(|| Status::invalid_argument("the ciphertext is not a kmsd blob"))?;
        if header.key_id != self.cmk {
            return Err(Status::invalid_argument(
                "the ciphertext was not sealed under this plugin's key",
            ));
        }
        Ok(format!("{}:{}", self.cmk, header.key_version))
    }

    /// Seals under the CMK and checks the answer against the API server's limits.
    async fn seal(&self, plaintext: &[u8]) -> Result<(Vec<u8>, String), Status> {
        let blob = self.backend.encrypt(plaintext).await?;
        let key_id = self
            .key_id_of(&blob)
            .map_err(|_| Status::internal("kmsd answered a blob of another key"))?;
        if blob.len() > MAX_CIPHERTEXT_LEN {
            return Err(Status::invalid_argument(format!(
                "the ciphertext would be {} bytes; the API server takes at most {MAX_CIPHERTEXT_LEN}",
                blob.len()
            )));
        }
        Ok((blob, key_id))
    }

    async fn encrypt_plaintext(
        &self,
        plaintext: &[u8],
        uid: &str,
    ) -> Result<(Vec<u8>, String), Status> {
        if plaintext.is_empty() {
            return Err(Status::invalid_argument("the plaintext is empty"));
        }
        // Its ciphertext would be longer still: not worth a round trip to kmsd.
        if plaintext.len() > MAX_CIPHERTEXT_LEN {
            return Err(Status::invalid_argument(format!(
                "the plaintext is {} bytes; its ciphertext would exceed the API server's {MAX_CIPHERTEXT_LEN}",
                plaintext.len()
            )));
        }
        let sealed = self.seal(plaintext).await?;
        tracing::debug!(uid, key_id = sealed.1, "encrypt");
        Ok(sealed)
    }

    /// Seals and opens the probe: healthy only when both work and agree.
    async fn health(&self) -> Result<String, Status> {
        let (blob, key_id) = self.seal(PROBE).await?;
        let opened = self.backend.decrypt(&blob).await?;
        if opened.as_slice() != PROBE {
            return Err(Status::internal("kmsd opened the probe to other bytes"));
        }
        Ok(key_id)
    }
}

#[tonic::async_trait]
impl<B: Backend> KeyManagementService for Plugin<B> {
    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let (healthz, key_id) = match self.health().await {
            Ok(key_id) => ("ok".to_owned(), key_id),
            // Still an answer: the API server shows healthz in its own health check, and wants
            // a key id even then.
            Err(e) => (e.message().to_owned(), self.cmk.to_string()),
        };
        Ok(Response::new(StatusResponse {
            version: API_VERSION.to_owned(),
            healthz,
            key_id,
        }))
    }

    async fn encrypt(
        &self,
        request: Request<EncryptRequest>,
    ) -> Result<Response<EncryptResponse>, Status> {
        let mut request = request.into_inner();
        let result = self
            .encrypt_plaintext(&request.plaintext, &request.uid)
            .await;
        request.plaintext.zeroize();
        let (ciphertext, key_id) = result?;
        Ok(Response::new(EncryptResponse {
            ciphertext,
            key_id,
            annotations: Default::default(),
        }))
    }

    async fn decrypt(
        &self,
        request: Request<DecryptRequest>,
    ) -> Result<Response<DecryptResponse>, Status> {
        let request = request.into_inner();
        // Encrypt answers no annotations, so any here were not made by this plugin.
        if !request.annotations.is_empty() {
            return Err(Status::invalid_argument(
                "annotations given; this plugin makes none",
            ));
        }
        let key_id = self.key_id_of(&request.ciphertext)?;
        if request.key_id != key_id {
            return Err(Status::invalid_argument(format!(
                "the ciphertext was sealed under key id {key_id}, not the key id given"
            )));
        }
        tracing::debug!(uid = %request.uid, key_id, "decrypt");
        let plaintext = self.backend.decrypt(&request.ciphertext).await?;
        Ok(Response::new(DecryptResponse {
            plaintext: plaintext.to_vec(),
        }))
    }
}

/// Serves `plugin` on `socket` until `shutdown` completes, then lets calls in flight finish.
pub async fn serve<B: Backend>(
    socket: socket::BoundSocket,
    plugin: Plugin<B>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let socket::BoundSocket { listener, path } = socket;
    let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
    let served = tonic::transport::Server::builder()
        .serve_with_incoming_shutdown(KeyManagementServiceServer::new(plugin), incoming, shutdown)
        .await;
    drop(path);
    served
}

#[cfg(test)]
mod tests;
