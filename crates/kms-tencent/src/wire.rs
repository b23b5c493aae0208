//! Response structures, named and shaped as Tencent's API documents them.

use serde::Serialize;

use kms_core::{DataKeyState, KeyRecord, KeySpec, KeyState, KeyUsage, Origin};

pub fn key_state(s: KeyState) -> &'static str {
    match s {
        KeyState::Enabled => "Enabled",
        KeyState::Disabled => "Disabled",
        KeyState::PendingDelete => "PendingDelete",
        KeyState::PendingImport => "PendingImport",
        KeyState::Archived => "Archived",
    }
}

/// Tencent's KeyUsage names a usage and a spec at once. ENCRYPT_DECRYPT keys are AES-256 or
/// SM4 (the region's national-crypto setting); the other names each fix one spec.
pub const KEY_USAGES: &[(&str, KeyUsage, KeySpec)] = &[
    ("ENCRYPT_DECRYPT", KeyUsage::EncryptDecrypt, KeySpec::Aes256),
    ("ENCRYPT_DECRYPT", KeyUsage::EncryptDecrypt, KeySpec::Sm4),
    (
        "ASYMMETRIC_DECRYPT_RSA_2048",
        KeyUsage::EncryptDecrypt,
        KeySpec::Rsa2048,
    ),
    (
        "ASYMMETRIC_DECRYPT_SM2",
        KeyUsage::EncryptDecrypt,
        KeySpec::Sm2,
    ),
    (
        "ASYMMETRIC_SIGN_VERIFY_SM2",
        KeyUsage::SignVerify,
        KeySpec::Sm2,
    ),
    (
        "ASYMMETRIC_SIGN_VERIFY_ECC",
        KeyUsage::SignVerify,
        KeySpec::EccP256,
    ),
    (
        "ASYMMETRIC_SIGN_VERIFY_ECDSA384",
        KeyUsage::SignVerify,
        KeySpec::EccP384,
    ),
    (
        "ASYMMETRIC_SIGN_VERIFY_RSA_2048",
        KeyUsage::SignVerify,
        KeySpec::Rsa2048,
    ),
    (
        "ASYMMETRIC_SIGN_VERIFY_RSA_3072",
        KeyUsage::SignVerify,
        KeySpec::Rsa3072,
    ),
    (
        "ASYMMETRIC_SIGN_VERIFY_DILITHIUM",
        KeyUsage::SignVerify,
        KeySpec::MlDsa65,
    ),
    (
        "ASYMMETRIC_Encrypt_Decrypt_Kyber_AES",
        KeyUsage::EncryptDecrypt,
        KeySpec::MlKem768,
    ),
];

/// The KeyUsage Tencent shows for a key. A key made through another dialect with a pair Tencent
/// has no name for is shown under a name of the same pattern, so it is never mistaken for one
/// Tencent defines.
pub fn key_usage(usage: KeyUsage, spec: KeySpec) -> &'static str {
    if let Some((name, _, _)) = KEY_USAGES
        .iter()
        .find(|(_, u, s)| *u == usage && *s == spec)
    {
        return name;
    }
    match (usage, spec) {
        (KeyUsage::EncryptDecrypt, KeySpec::Rsa3072) => "ASYMMETRIC_DECRYPT_RSA_3072",
        (KeyUsage::EncryptDecrypt, _) => "ASYMMETRIC_DECRYPT_RSA_4096",
        (KeyUsage::SignVerify, KeySpec::Rsa4096) => "ASYMMETRIC_SIGN_VERIFY_RSA_4096",
        (KeyUsage::SignVerify, KeySpec::Ed25519) => "ASYMMETRIC_SIGN_VERIFY_ED25519",
        (KeyUsage::SignVerify, _) => "ASYMMETRIC_SIGN_VERIFY_SECP256K1",
        (KeyUsage::GenerateVerifyMac, _) => "GENERATE_VERIFY_MAC",
        (KeyUsage::KeyAgreement, _) => "KEY_AGREEMENT",
    }
}

pub fn origin(o: Origin) -> &'static str {
    match o {
        Origin::Kms => "TENCENT_KMS",
        Origin::External => "EXTERNAL",
    }
}

/// The multi-region (sync replica) and member-account fields of both metadata shapes, with the
/// vendor's values for a resource of the caller's own account that is not replicated: this
/// server has neither feature. The member-account fields are null.
#[derive(Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct OwnUnreplicated {
    pub is_sync_replica: i64,
    pub source_region: String,
    pub sync_status: i64,
    pub sync_messages: String,
    pub sync_start_time: u64,
    pub sync_end_time: u64,
    pub source_hsm_cluster_id: String,
    pub account_app_id: Option<u64>,
    pub account_uin: Option<u64>,
    pub account_name: Option<String>,
}

/// `KeyMetadata`: every field the SDK model carries, with the vendor's zero values for the
/// multi-region and member-account features this server does not have.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadata {
    pub key_id: String,
    pub alias: String,
    pub create_time: u64,
    pub description: String,
    pub key_state: &'static str,
    pub key_usage: &'static str,
    #[serde(rename = "Type")]
    pub key_type: i64,
    pub creator_uin: u64,
    pub key_rotation_enabled: bool,
    pub owner: &'static str,
    pub next_rotate_time: u64,
    pub deletion_date: u64,
    pub origin: &'static str,
    pub valid_to: u64,
    pub resource_id: String,
    pub hsm_cluster_id: String,
    pub rotate_days: u64,
    pub last_rotate_time: u64,
    #[serde(flatten)]
    pub own_unreplicated: OwnUnreplicated,
    pub creator_uin_string: String,
}

/// `Type` 2: the key's algorithm is FIPS 140-2 approved (AES-256); 4 would be the SM suite.
const TYPE_FIPS: i64 = 2;

impl From<&KeyRecord> for KeyMetadata {
    fn from(k: &KeyRecord) -> Self {
        Self {
            key_id: k.key_id.to_string(),
            alias: k.alias.clone(),
            create_time: k.created_at,
            description: k.description.clone(),
            key_state: key_state(k.state),
            key_usage: key_usage(k.usage, k.spec),
            key_type: TYPE_FIPS,
            creator_uin: k.creator,
            key_rotation_enabled: k.rotation.enabled,
            owner: "user",
            next_rotate_time: if k.rotation.enabled {
                k.rotation.next_rotate_time
            } else {
                0
            },
            deletion_date: k.deletion_date,
            origin: origin(k.origin),
            valid_to: k.valid_to,
            resource_id: format!("creatorUin/{}/{}", k.creator, k.key_id),
            hsm_cluster_id: k.hsm_cluster.clone().unwrap_or_default(),
            rotate_days: u64::from(k.rotation.rotate_days),
            last_rotate_time: k.last_rotate_time,
            own_unreplicated: OwnUnreplicated::default(),
            creator_uin_string: k.creator.to_string(),
        }
    }
}

/// `DataKeyMetadata`, with the vendor's zero values for features this server does not have.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DataKeyMetadata {
    pub data_key_id: String,
    pub key_id: String,
    pub key_name: String,
    pub data_key_name: String,
    pub number_of_bytes: u32,
    pub create_time: u64,
    pub description: String,
    pub key_state: &'static str,
    pub creator_uin: u64,
    pub owner: &'static str,
    pub deletion_date: u64,
    pub origin: &'static str,
    pub hsm_cluster_id: String,
    pub resource_id: String,
    #[serde(flatten)]
    pub own_unreplicated: OwnUnreplicated,
    pub creator_uin_string: String,
}

pub fn data_key_state(s: DataKeyState) -> &'static str {
    match s {
        DataKeyState::Enabled => "Enabled",
        DataKeyState::Disabled => "Disabled",
        DataKeyState::PendingDelete => "PendingDelete",
    }
}
