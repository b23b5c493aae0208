use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use kms_core::ciphertext::{BlobAlgorithm, BlobHeader, encode};
use tonic::Code;

use super::*;

/// Stands in for a kmsd: "seals" by framing the plaintext in a real blob header of the current
/// version, with nonce and tag bytes around it.
struct FakeKmsd {
    cmk: Uuid,
    version: AtomicU32,
    /// When set, every call is refused with this Tencent code.
    refusing: Mutex<Option<&'static str>>,
}

const AEAD_OVERHEAD: usize = 12 + 16;

impl FakeKmsd {
    fn refused(&self) -> Result<(), BackendError> {
        match *self.refusing.lock().unwrap() {
            Some(code) => Err(BackendError::Refused {
                code: code.to_owned(),
                message: "refused".to_owned(),
            }),
            None => Ok(()),
        }
    }
}

impl Backend for &'static FakeKmsd {
    async fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, BackendError> {
        self.refused()?;
        let header = BlobHeader {
            algorithm: BlobAlgorithm::Aes256Gcm,
            key_id: self.cmk,
            key_version: self.version.load(Ordering::SeqCst),
        };
        let mut sealed = vec![0u8; 12];
        sealed.extend_from_slice(plaintext);
        sealed.extend_from_slice(&[0u8; 16]);
        Ok(encode(header, &sealed))
    }

    async fn decrypt(&self, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, BackendError> {
        self.refused()?;
        let (_, sealed) = ciphertext::decode(blob).unwrap();
        Ok(Zeroizing::new(sealed[12..sealed.len() - 16].to_vec()))
    }
}

fn plugin() -> (Plugin<&'static FakeKmsd>, &'static FakeKmsd) {
    let cmk = Uuid::new_v4();
    let kmsd: &'static FakeKmsd = Box::leak(Box::new(FakeKmsd {
        cmk,
        version: AtomicU32::new(1),
        refusing: Mutex::new(None),
    }));
    (Plugin::new(cmk, kmsd), kmsd)
}

async fn status(plugin: &Plugin<&'static FakeKmsd>) -> StatusResponse {
    plugin
        .status(Request::new(StatusRequest {}))
        .await
        .unwrap()
        .into_inner()
}

async fn encrypt(
    plugin: &Plugin<&'static FakeKmsd>,
    plaintext: &[u8],
) -> Result<EncryptResponse, Status> {
    plugin
        .encrypt(Request::new(EncryptRequest {
            plaintext: plaintext.to_vec(),
            uid: "uid-1".to_owned(),
        }))
        .await
        .map(Response::into_inner)
}

async fn decrypt(
    plugin: &Plugin<&'static FakeKmsd>,
    ciphertext: &[u8],
    key_id: &str,
) -> Result<Vec<u8>, Status> {
    plugin
        .decrypt(Request::new(DecryptRequest {
            ciphertext: ciphertext.to_vec(),
            uid: "uid-2".to_owned(),
            key_id: key_id.to_owned(),
            annotations: Default::default(),
        }))
        .await
        .map(|r| r.into_inner().plaintext)
}

#[tokio::test]
async fn key_id_names_the_version_and_follows_rotation() {
    let (plugin, kmsd) = plugin();
    let before = status(&plugin).await;
    assert_eq!(before.version, "v2");
    assert_eq!(before.healthz, "ok");
    assert_eq!(before.key_id, format!("{}:1", kmsd.cmk));
    let old = encrypt(&plugin, &[7u8; 32]).await.unwrap();
    assert_eq!(old.key_id, before.key_id);
    assert!(old.annotations.is_empty());

    kmsd.version.store(2, Ordering::SeqCst);
    let after = status(&plugin).await;
    assert_eq!(after.key_id, format!("{}:2", kmsd.cmk));
    let new = encrypt(&plugin, &[8u8; 32]).await.unwrap();
    assert_eq!(new.key_id, after.key_id);

    assert_eq!(
        decrypt(&plugin, &old.ciphertext, &old.key_id)
            .await
            .unwrap(),
        [7u8; 32]
    );
    assert_eq!(
        decrypt(&plugin, &new.ciphertext, &new.key_id)
            .await
            .unwrap(),
        [8u8; 32]
    );
    // The key id must be the one the ciphertext was made under.
    let wrong = decrypt(&plugin, &old.ciphertext, &new.key_id)
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn refuses_what_the_api_server_would_not_take() {
    let (plugin, _) = plugin();
    assert_eq!(
        encrypt(&plugin, b"").await.unwrap_err().code(),
        Code::InvalidArgument
    );
    // The largest plaintext whose blob is still under 1 kB, and one byte more.
    let fits = MAX_CIPHERTEXT_LEN - 22 - AEAD_OVERHEAD;
    let sealed = encrypt(&plugin, &vec![1u8; fits]).await.unwrap();
    assert_eq!(sealed.ciphertext.len(), MAX_CIPHERTEXT_LEN);
    assert_eq!(
        encrypt(&plugin, &vec![1u8; fits + 1])
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    assert_eq!(
        encrypt(&plugin, &vec![1u8; 64 * 1024])
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
}

#[tokio::test]
async fn decrypt_refuses_foreign_and_malformed_input() {
    let (ours, _) = plugin();
    let sealed = encrypt(&ours, &[3u8; 32]).await.unwrap();
    for garbage in [&b""[..], b"not a blob", &sealed.ciphertext[..30]] {
        let refusal = decrypt(&ours, garbage, &sealed.key_id).await.unwrap_err();
        assert_eq!(refusal.code(), Code::InvalidArgument);
    }
    // A blob of another CMK (another plugin's, say) is refused before kmsd is asked.
    let (other, _) = plugin();
    let foreign = encrypt(&other, &[3u8; 32]).await.unwrap();
    let refusal = decrypt(&ours, &foreign.ciphertext, &foreign.key_id)
        .await
        .unwrap_err();
    assert_eq!(refusal.code(), Code::InvalidArgument);
    // Annotations this plugin never made.
    let refusal = ours
        .decrypt(Request::new(DecryptRequest {
            ciphertext: sealed.ciphertext.clone(),
            uid: String::new(),
            key_id: sealed.key_id.clone(),
            annotations: [("a.example.com".to_owned(), b"x".to_vec())].into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(refusal.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn kmsd_refusals_keep_their_meaning() {
    let (plugin, kmsd) = plugin();
    *kmsd.refusing.lock().unwrap() = Some("ResourceUnavailable.CmkDisabled");
    let unhealthy = status(&plugin).await;
    assert_eq!(unhealthy.version, "v2");
    assert!(
        unhealthy
            .healthz
            .contains("ResourceUnavailable.CmkDisabled")
    );
    assert!(!unhealthy.key_id.is_empty());
    assert_eq!(
        encrypt(&plugin, &[1u8; 32]).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    *kmsd.refusing.lock().unwrap() = Some("InternalError");
    assert_eq!(
        encrypt(&plugin, &[1u8; 32]).await.unwrap_err().code(),
        Code::Unavailable
    );
    let unreachable: Status = BackendError::Unreachable("refused".to_owned()).into();
    assert_eq!(unreachable.code(), Code::Unavailable);
}
