//! The internal permissions and the two vendors' names for them.

/// What a caller may be allowed to do: one engine capability, whichever dialect asks for it.
/// A policy in either language grants a permission by naming any of the vendor actions that
/// map to it (see the tables in the crate documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    CreateKey,
    DescribeKey,
    ListKeys,
    EnableKey,
    DisableKey,
    /// A key's alias or description.
    UpdateKey,
    ScheduleKeyDeletion,
    CancelKeyDeletion,
    ArchiveKey,
    CancelKeyArchive,
    Encrypt,
    Decrypt,
    ReEncrypt,
    GenerateDataKey,
    GenerateDataKeyPair,
    GenerateRandom,
    EnableKeyRotation,
    DisableKeyRotation,
    GetKeyRotationStatus,
    UpdateKeyRotationInterval,
    RotateKey,
    GetParametersForImport,
    ImportKeyMaterial,
    DeleteImportedKeyMaterial,
    GetPublicKey,
    Sign,
    Verify,
    GenerateMac,
    VerifyMac,
    AsymmetricDecrypt,
    DeriveSharedSecret,
    /// Create, delete or re-point an alias (Huawei's alias objects).
    ManageAliases,
    ListAliases,
    /// Add or remove a key's tags.
    TagKey,
    ListTags,
    /// Service facts: status, regions, algorithms, quotas, instance counts.
    ServiceInfo,
    /// Hosted data keys (Tencent): import and the lifecycle calls.
    ManageDataKey,
    DescribeDataKey,
    ListDataKeys,
    GetDataKeyPlaintext,
    GetDataKeyCiphertext,
    BindCloudResource,
    UnbindCloudResource,
    CreateGrant,
    RevokeGrant,
    RetireGrant,
    ListGrants,
    ManageKeyPolicy,
    GetKeyPolicy,
    ManageAccessPoint,
    ListAccessPoints,
    ManageKeyStore,
    ListKeyStores,
    CreatePin,
    ReplicateKey,
    WhiteBox,
}

impl Permission {
    /// Whether the permission is asked of the account's keys as a whole (`key/*`) before the
    /// call runs: the calls that create keys, list, read service facts or manage what is not
    /// a key. Every other permission is asked of each key the engine touches, as it touches
    /// it, so the question names the key that executes; a call of those that touches no key
    /// (a listing with no key named) is asked of the account's keys instead.
    pub fn account_level(self) -> bool {
        use Permission::*;
        matches!(
            self,
            CreateKey
                | ListKeys
                | GenerateRandom
                | ServiceInfo
                | ManageDataKey
                | DescribeDataKey
                | ListDataKeys
                | GetDataKeyPlaintext
                | GetDataKeyCiphertext
                | ManageAccessPoint
                | ListAccessPoints
                | ManageKeyStore
                | ListKeyStores
                | CreatePin
                | WhiteBox
        )
    }
}

/// One Tencent KMS action (API 2019-01-18): its name, its CAM action (`kms:` and the name, as
/// the vendor's CAM page for KMS lists them) and the permission it needs.
pub struct TencentAction {
    pub name: &'static str,
    pub cam: &'static str,
    pub permission: Permission,
}

macro_rules! tc {
    ($name:literal, $permission:ident) => {
        TencentAction {
            name: $name,
            cam: concat!("kms:", $name),
            permission: Permission::$permission,
        }
    };
}

/// Every Tencent KMS action, the served ones and the white-box ones alike.
pub static TENCENT: &[TencentAction] = &[
    tc!("CreateKey", CreateKey),
    tc!("DescribeKey", DescribeKey),
    tc!("DescribeKeys", DescribeKey),
    tc!("ListKeys", ListKeys),
    tc!("ListKeyDetail", ListKeys),
    tc!("EnableKey", EnableKey),
    tc!("DisableKey", DisableKey),
    tc!("EnableKeys", EnableKey),
    tc!("DisableKeys", DisableKey),
    tc!("UpdateAlias", UpdateKey),
    tc!("UpdateKeyDescription", UpdateKey),
    tc!("ScheduleKeyDeletion", ScheduleKeyDeletion),
    tc!("CancelKeyDeletion", CancelKeyDeletion),
    tc!("ArchiveKey", ArchiveKey),
    tc!("CancelKeyArchive", CancelKeyArchive),
    tc!("Encrypt", Encrypt),
    tc!("Decrypt", Decrypt),
    tc!("ReEncrypt", ReEncrypt),
    tc!("GenerateDataKey", GenerateDataKey),
    tc!("GenerateRandom", GenerateRandom),
    tc!("EnableKeyRotation", EnableKeyRotation),
    tc!("DisableKeyRotation", DisableKeyRotation),
    tc!("GetKeyRotationStatus", GetKeyRotationStatus),
    tc!("RotateKey", RotateKey),
    tc!("GetParametersForImport", GetParametersForImport),
    tc!("ImportKeyMaterial", ImportKeyMaterial),
    tc!("DeleteImportedKeyMaterial", DeleteImportedKeyMaterial),
    tc!("ImportDataKey", ManageDataKey),
    tc!("DescribeDataKey", DescribeDataKey),
    tc!("DescribeDataKeys", DescribeDataKey),
    tc!("ListDataKeys", ListDataKeys),
    tc!("ListDataKeyDetail", ListDataKeys),
    tc!("EnableDataKey", ManageDataKey),
    tc!("DisableDataKey", ManageDataKey),
    tc!("EnableDataKeys", ManageDataKey),
    tc!("DisableDataKeys", ManageDataKey),
    tc!("ScheduleDataKeyDeletion", ManageDataKey),
    tc!("CancelDataKeyDeletion", ManageDataKey),
    tc!("GetDataKeyPlaintext", GetDataKeyPlaintext),
    tc!("GetDataKeyCiphertextBlob", GetDataKeyCiphertext),
    tc!("UpdateDataKeyName", ManageDataKey),
    tc!("UpdateDataKeyDescription", ManageDataKey),
    tc!("GetServiceStatus", ServiceInfo),
    tc!("GetRegions", ServiceInfo),
    tc!("ListAlgorithms", ServiceInfo),
    tc!("GetPublicKey", GetPublicKey),
    tc!("SignByAsymmetricKey", Sign),
    tc!("VerifyByAsymmetricKey", Verify),
    tc!("AsymmetricRsaDecrypt", AsymmetricDecrypt),
    tc!("AsymmetricSm2Decrypt", AsymmetricDecrypt),
    tc!("PostQuantumCryptoEncrypt", Encrypt),
    tc!("PostQuantumCryptoDecrypt", Decrypt),
    tc!("PostQuantumCryptoSign", Sign),
    tc!("PostQuantumCryptoVerify", Verify),
    tc!("BindCloudResource", BindCloudResource),
    tc!("UnbindCloudResource", UnbindCloudResource),
    tc!("CreateWhiteBoxKey", WhiteBox),
    tc!("DeleteWhiteBoxKey", WhiteBox),
    tc!("DescribeWhiteBoxDecryptKey", WhiteBox),
    tc!("DescribeWhiteBoxDeviceFingerprints", WhiteBox),
    tc!("DescribeWhiteBoxKey", WhiteBox),
    tc!("DescribeWhiteBoxKeyDetails", WhiteBox),
    tc!("DescribeWhiteBoxServiceStatus", WhiteBox),
    tc!("DisableWhiteBoxKey", WhiteBox),
    tc!("DisableWhiteBoxKeys", WhiteBox),
    tc!("EnableWhiteBoxKey", WhiteBox),
    tc!("EnableWhiteBoxKeys", WhiteBox),
    tc!("EncryptByWhiteBox", WhiteBox),
    tc!("OverwriteWhiteBoxDeviceFingerprints", WhiteBox),
];

/// One Huawei KMS operation: its SDK name, the IAM actions that allow it (the first is the
/// name the vendor's "Permissions Policies and Supported Actions" page gives today, the others
/// older names the vendor's policies still use), and the permission it needs.
pub struct HuaweiOperation {
    pub name: &'static str,
    pub actions: &'static [&'static str],
    pub permission: Permission,
}

const fn hw(
    name: &'static str,
    actions: &'static [&'static str],
    permission: Permission,
) -> HuaweiOperation {
    HuaweiOperation {
        name,
        actions,
        permission,
    }
}

/// Every operation of `huaweicloudsdkkms` v2. Names marked "derived" in the crate
/// documentation were not on the vendor's page this table was checked against; they follow
/// its `kms:<resource>:<verb>` pattern.
pub static HUAWEI: &[HuaweiOperation] = {
    use Permission::*;
    &[
        hw("CreateKey", &["kms:cmk:create"], CreateKey),
        hw("ListKeyDetail", &["kms:cmk:get"], DescribeKey),
        hw("ListKeys", &["kms:cmk:list"], ListKeys),
        hw("EnableKey", &["kms:cmk:enable"], EnableKey),
        hw("DisableKey", &["kms:cmk:disable"], DisableKey),
        hw("DeleteKey", &["kms:cmk:update"], ScheduleKeyDeletion),
        hw("CancelKeyDeletion", &["kms:cmk:update"], CancelKeyDeletion),
        hw("UpdateKeyAlias", &["kms:cmk:update"], UpdateKey),
        hw("UpdateKeyDescription", &["kms:cmk:update"], UpdateKey),
        hw("CreateAlias", &["kms:alias:create"], ManageAliases),
        hw("DeleteAlias", &["kms:alias:delete"], ManageAliases),
        hw("ListAliases", &["kms:alias:list"], ListAliases),
        hw("AssociateAlias", &["kms:alias:associate"], ManageAliases),
        hw(
            "EncryptData",
            &["kms:cmk:encryptData", "kms:cmk:encrypt", "kms:cmk:crypto"],
            Encrypt,
        ),
        hw(
            "DecryptData",
            &["kms:cmk:decryptData", "kms:cmk:decrypt", "kms:cmk:crypto"],
            Decrypt,
        ),
        hw(
            "ReEncrypt",
            &["kms:cmk:reEncryptFrom", "kms:cmk:reEncryptTo"],
            ReEncrypt,
        ),
        hw(
            "CreateRandom",
            &["kms::generateRandom", "kms:cmk:generate"],
            GenerateRandom,
        ),
        hw(
            "CreateDatakey",
            &["kms:cmk:createDataKey", "kms:dek:create"],
            GenerateDataKey,
        ),
        hw(
            "CreateDatakeyWithoutPlaintext",
            &["kms:cmk:createDataKeyWithoutPlaintext", "kms:dek:create"],
            GenerateDataKey,
        ),
        hw(
            "EncryptDatakey",
            &[
                "kms:cmk:encryptDataKey",
                "kms:dek:crypto",
                "kms:dek:encrypt",
            ],
            Encrypt,
        ),
        hw(
            "DecryptDatakey",
            &[
                "kms:cmk:decryptDataKey",
                "kms:dek:crypto",
                "kms:dek:decrypt",
            ],
            Decrypt,
        ),
        hw(
            "CreateRsaDatakeyPair",
            &["kms:cmk:createDataKeyPair"],
            GenerateDataKeyPair,
        ),
        hw(
            "CreateEcDatakeyPair",
            &["kms:cmk:createDataKeyPair"],
            GenerateDataKeyPair,
        ),
        hw(
            "CreateDatakeyCapsule",
            &["kms:cmk:createDataKeyCapsule"],
            GenerateDataKey,
        ),
        hw(
            "DecryptDatakeyCapsule",
            &["kms:cmk:decryptDataKeyCapsule"],
            Decrypt,
        ),
        hw(
            "CreateParametersForImport",
            &["kms:cmk:getMaterial"],
            GetParametersForImport,
        ),
        hw(
            "ImportKeyMaterial",
            &["kms:cmk:importMaterial"],
            ImportKeyMaterial,
        ),
        hw(
            "DeleteImportedKeyMaterial",
            &["kms:cmk:deleteMaterial"],
            DeleteImportedKeyMaterial,
        ),
        hw("Sign", &["kms:cmk:sign"], Sign),
        hw("ValidateSignature", &["kms:cmk:verify"], Verify),
        hw("ShowPublicKey", &["kms:cmk:getPublicKey"], GetPublicKey),
        hw("GenerateMac", &["kms:cmk:generateMac"], GenerateMac),
        hw("VerifyMac", &["kms:cmk:verifyMac"], VerifyMac),
        hw(
            "DeriveSharedSecret",
            &["kms:cmk:deriveSharedSecret"],
            DeriveSharedSecret,
        ),
        hw(
            "EnableKeyRotation",
            &["kms:cmk:enableRotation"],
            EnableKeyRotation,
        ),
        hw(
            "DisableKeyRotation",
            &["kms:cmk:disableRotation"],
            DisableKeyRotation,
        ),
        hw(
            "ShowKeyRotationStatus",
            &["kms:cmk:getRotation"],
            GetKeyRotationStatus,
        ),
        hw(
            "UpdateKeyRotationInterval",
            &["kms:cmk:updateRotation"],
            UpdateKeyRotationInterval,
        ),
        hw("RotateOnDemand", &["kms:cmk:rotateOnDemand"], RotateKey),
        hw("ListKmsByTags", &["kms:cmkTag:listInstance"], ListTags),
        hw("ListKmsTags", &["kms:cmkTag:list"], ListTags),
        hw("CreateKmsTag", &["kms:cmkTag:create"], TagKey),
        hw("ShowKmsTags", &["kms:cmkTag:list"], ListTags),
        hw("BatchCreateKmsTags", &["kms:cmkTag:batch"], TagKey),
        hw("DeleteTag", &["kms:cmkTag:delete"], TagKey),
        hw("ShowUserInstances", &["kms:cmk:getInstance"], ServiceInfo),
        hw("ShowUserQuotas", &["kms:cmk:getQuota"], ServiceInfo),
        hw("ListSupportRegions", &["kms:cmk:listRegions"], ServiceInfo),
        hw("CreateGrant", &["kms:grant:create"], CreateGrant),
        hw("CancelGrant", &["kms:grant:revoke"], RevokeGrant),
        hw(
            "CancelSelfGrant",
            &["kms:cmk:retireGrant", "kms:grant:retire"],
            RetireGrant,
        ),
        hw("ListGrants", &["kms:grant:list"], ListGrants),
        hw("ListRetirableGrants", &["kms:grant:list"], ListGrants),
        hw(
            "CreateKeyPolicy",
            &["kms:cmk:putKeyPolicy"],
            ManageKeyPolicy,
        ),
        hw("ListKeyPolicy", &["kms:cmk:getKeyPolicy"], GetKeyPolicy),
        hw("ShowKeyPolicy", &["kms:cmk:getKeyPolicy"], GetKeyPolicy),
        hw(
            "UpdateKeyPolicy",
            &["kms:cmk:putKeyPolicy"],
            ManageKeyPolicy,
        ),
        hw(
            "DeleteKeyPolicy",
            &["kms:cmk:putKeyPolicy"],
            ManageKeyPolicy,
        ),
        hw(
            "CreateAccessPoint",
            &["kms:accessPoint:create"],
            ManageAccessPoint,
        ),
        hw(
            "ListAccessPoint",
            &["kms:accessPoint:list"],
            ListAccessPoints,
        ),
        hw(
            "DeleteAccessPoint",
            &["kms:accessPoint:delete"],
            ManageAccessPoint,
        ),
        hw(
            "EnableAccessPoint",
            &["kms:accessPoint:enable"],
            ManageAccessPoint,
        ),
        hw(
            "DisableAccessPoint",
            &["kms:accessPoint:disable"],
            ManageAccessPoint,
        ),
        hw(
            "DownloadAccessPointPrivateKey",
            &["kms:accessPoint:getPrivateKey"],
            ManageAccessPoint,
        ),
        hw("CreatePin", &["kms:pin:create"], CreatePin),
        hw("CreateKeyStore", &["kms:keystore:create"], ManageKeyStore),
        hw("ListKeyStores", &["kms:keystore:list"], ListKeyStores),
        hw("ShowKeyStore", &["kms:keystore:get"], ListKeyStores),
        hw("DeleteKeyStore", &["kms:keystore:delete"], ManageKeyStore),
        hw("EnableKeyStore", &["kms:keystore:enable"], ManageKeyStore),
        hw("DisableKeyStore", &["kms:keystore:disable"], ManageKeyStore),
        hw("ReplicateKey", &["kms:cmk:replicate"], ReplicateKey),
        hw(
            "UpdatePrimaryRegion",
            &["kms:cmk:updatePrimaryRegion"],
            ReplicateKey,
        ),
    ]
};

/// The Huawei operation names whose IAM action is derived rather than read on the vendor's page.
pub const HUAWEI_DERIVED: &[&str] = &[
    "DeleteAlias",
    "ListAliases",
    "ReEncrypt",
    "CreateRsaDatakeyPair",
    "CreateDatakeyCapsule",
    "DecryptDatakeyCapsule",
    "DeriveSharedSecret",
    "ListSupportRegions",
    "CreateKeyPolicy",
    "ListKeyPolicy",
    "ShowKeyPolicy",
    "UpdateKeyPolicy",
    "DeleteKeyPolicy",
    "CreateAccessPoint",
    "ListAccessPoint",
    "DeleteAccessPoint",
    "EnableAccessPoint",
    "DisableAccessPoint",
    "DownloadAccessPointPrivateKey",
    "CreatePin",
    "CreateKeyStore",
    "ListKeyStores",
    "ShowKeyStore",
    "DeleteKeyStore",
    "EnableKeyStore",
    "DisableKeyStore",
    "ReplicateKey",
    "UpdatePrimaryRegion",
];

/// The Tencent action of that name.
pub fn tencent_action(action: &str) -> Option<&'static TencentAction> {
    TENCENT.iter().find(|a| a.name == action)
}

/// The Huawei operation of that SDK name.
pub fn huawei_operation(name: &str) -> Option<&'static HuaweiOperation> {
    HUAWEI.iter().find(|o| o.name == name)
}

/// The CAM action names, without their `kms:`, that grant `permission`.
pub(crate) fn cam_names(permission: Permission) -> impl Iterator<Item = &'static str> {
    TENCENT
        .iter()
        .filter(move |a| a.permission == permission)
        .map(|a| a.name)
}

/// The IAM action names that grant `permission`.
pub(crate) fn iam_names(permission: Permission) -> impl Iterator<Item = &'static str> {
    HUAWEI
        .iter()
        .filter(move |o| o.permission == permission)
        .flat_map(|o| o.actions.iter().copied())
}
