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

/// Tencent KMS actions (API 2019-01-18) and the permission each needs. The CAM action name is
/// `kms:` followed by the action (the vendor's CAM page for KMS, product 598/57129).
pub static TENCENT: &[(&str, Permission)] = {
    use Permission::*;
    &[
        ("CreateKey", CreateKey),
        ("DescribeKey", DescribeKey),
        ("DescribeKeys", DescribeKey),
        ("ListKeys", ListKeys),
        ("ListKeyDetail", ListKeys),
        ("EnableKey", EnableKey),
        ("DisableKey", DisableKey),
        ("EnableKeys", EnableKey),
        ("DisableKeys", DisableKey),
        ("UpdateAlias", UpdateKey),
        ("UpdateKeyDescription", UpdateKey),
        ("ScheduleKeyDeletion", ScheduleKeyDeletion),
        ("CancelKeyDeletion", CancelKeyDeletion),
        ("ArchiveKey", ArchiveKey),
        ("CancelKeyArchive", CancelKeyArchive),
        ("Encrypt", Encrypt),
        ("Decrypt", Decrypt),
        ("ReEncrypt", ReEncrypt),
        ("GenerateDataKey", GenerateDataKey),
        ("GenerateRandom", GenerateRandom),
        ("EnableKeyRotation", EnableKeyRotation),
        ("DisableKeyRotation", DisableKeyRotation),
        ("GetKeyRotationStatus", GetKeyRotationStatus),
        ("RotateKey", RotateKey),
        ("GetParametersForImport", GetParametersForImport),
        ("ImportKeyMaterial", ImportKeyMaterial),
        ("DeleteImportedKeyMaterial", DeleteImportedKeyMaterial),
        ("ImportDataKey", ManageDataKey),
        ("DescribeDataKey", DescribeDataKey),
        ("DescribeDataKeys", DescribeDataKey),
        ("ListDataKeys", ListDataKeys),
        ("ListDataKeyDetail", ListDataKeys),
        ("EnableDataKey", ManageDataKey),
        ("DisableDataKey", ManageDataKey),
        ("EnableDataKeys", ManageDataKey),
        ("DisableDataKeys", ManageDataKey),
        ("ScheduleDataKeyDeletion", ManageDataKey),
        ("CancelDataKeyDeletion", ManageDataKey),
        ("GetDataKeyPlaintext", GetDataKeyPlaintext),
        ("GetDataKeyCiphertextBlob", GetDataKeyCiphertext),
        ("UpdateDataKeyName", ManageDataKey),
        ("UpdateDataKeyDescription", ManageDataKey),
        ("GetServiceStatus", ServiceInfo),
        ("GetRegions", ServiceInfo),
        ("ListAlgorithms", ServiceInfo),
        ("GetPublicKey", GetPublicKey),
        ("SignByAsymmetricKey", Sign),
        ("VerifyByAsymmetricKey", Verify),
        ("AsymmetricRsaDecrypt", AsymmetricDecrypt),
        ("AsymmetricSm2Decrypt", AsymmetricDecrypt),
        ("PostQuantumCryptoEncrypt", Encrypt),
        ("PostQuantumCryptoDecrypt", Decrypt),
        ("PostQuantumCryptoSign", Sign),
        ("PostQuantumCryptoVerify", Verify),
        ("BindCloudResource", BindCloudResource),
        ("UnbindCloudResource", UnbindCloudResource),
        ("CreateWhiteBoxKey", WhiteBox),
        ("DeleteWhiteBoxKey", WhiteBox),
        ("DescribeWhiteBoxDecryptKey", WhiteBox),
        ("DescribeWhiteBoxDeviceFingerprints", WhiteBox),
        ("DescribeWhiteBoxKey", WhiteBox),
        ("DescribeWhiteBoxKeyDetails", WhiteBox),
        ("DescribeWhiteBoxServiceStatus", WhiteBox),
        ("DisableWhiteBoxKey", WhiteBox),
        ("DisableWhiteBoxKeys", WhiteBox),
        ("EnableWhiteBoxKey", WhiteBox),
        ("EnableWhiteBoxKeys", WhiteBox),
        ("EncryptByWhiteBox", WhiteBox),
        ("OverwriteWhiteBoxDeviceFingerprints", WhiteBox),
    ]
};

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
        hw("ReEncrypt", &["kms:cmk:reEncrypt"], ReEncrypt),
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
            &["kms:cmk:createRsaDataKeyPair"],
            GenerateDataKeyPair,
        ),
        hw(
            "CreateEcDatakeyPair",
            &["kms:cmk:createEcDataKeyPair"],
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
        hw("RotateOnDemand", &["kms:cmk:rotate"], RotateKey),
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
    "CreateAlias",
    "DeleteAlias",
    "ListAliases",
    "AssociateAlias",
    "ReEncrypt",
    "CreateRsaDatakeyPair",
    "CreateEcDatakeyPair",
    "CreateDatakeyCapsule",
    "DecryptDatakeyCapsule",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
    "RotateOnDemand",
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

/// The permission a Tencent action needs, by the action's name.
pub fn tencent_permission(action: &str) -> Option<Permission> {
    TENCENT.iter().find(|(a, _)| *a == action).map(|(_, p)| *p)
}

/// The Huawei operation of that SDK name.
pub fn huawei_operation(name: &str) -> Option<&'static HuaweiOperation> {
    HUAWEI.iter().find(|o| o.name == name)
}

/// The CAM action names (`kms:<Action>`) that grant `permission`.
pub(crate) fn cam_names(permission: Permission) -> impl Iterator<Item = &'static str> {
    TENCENT
        .iter()
        .filter(move |(_, p)| *p == permission)
        .map(|(a, _)| *a)
}

/// The IAM action names that grant `permission`.
pub(crate) fn iam_names(permission: Permission) -> impl Iterator<Item = &'static str> {
    HUAWEI
        .iter()
        .filter(move |o| o.permission == permission)
        .flat_map(|o| o.actions.iter().copied())
}
