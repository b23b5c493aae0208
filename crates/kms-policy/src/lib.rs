//! Permission policies: one model, two front ends, one evaluator.
//!
//! A user's access is decided by its policies, written in either vendor's language and parsed
//! into one [`Policy`] model: [`cam::parse`] reads Tencent CAM documents (`version` "2.0"),
//! [`iam::parse`] Huawei IAM custom policies (`Version` "1.1"). [`evaluate`] answers one
//! [`Request`]: an explicit Deny beats any Allow, and without a matching Allow the answer is an
//! implicit deny. [`authorize`] adds the account rule: the account's root is not evaluated.
//!
//! ## One permission, both dialects
//!
//! Requests name an internal [`Permission`], not a vendor action, so a policy written in one
//! language governs the same engine operation reached through either dialect: CAM
//! `kms:Encrypt` allows Tencent `Encrypt` and Huawei `encrypt-data` alike, and IAM
//! `kms:cmk:encryptData` allows both as well. A statement's action pattern matches a request
//! when it matches any of its language's names for the requested permission. A permission
//! only one vendor names (Tencent's archive calls and hosted data keys, Huawei's grants and
//! aliases) is reached in the other language only by a pattern covering every action (`*`,
//! `kms:*`, `kms:*:*`). Actions are compared without regard to case (Huawei documents this;
//! Tencent is silent, and a Deny that missed a differently-cased name would fail open);
//! resource segments are compared exactly, except a resource's key part (`key/creatorUin/...`,
//! `KeyId:...`), which ignores case: key ids are hex, and the engine reads any spelling of an
//! id as the one key, so a Deny written in upper case must still name it.
//!
//! Some requests need more than one question: Tencent's DescribeKeys, EnableKeys and
//! DisableKeys ask once per key; ReEncrypt asks ReEncrypt of the source key and of the
//! destination key; Decrypt-type calls name the key their ciphertext names.
//!
//! ## Resources
//!
//! CAM: `qcs::kms:{region}:uin/{uin}:key/creatorUin/{creator uin}/{key id}` for a key, and
//! `qcs::kms:{region}:uin/{uin}:key/*` for account-level actions (CreateKey, ListKeys...), so
//! only a pattern covering all of the account's keys (`key/*`, `*`) grants those. An empty
//! region segment means every region, an empty account segment the caller's own account
//! ([`Context::account_uin`]), as the vendor's six-segment rules say. IAM:
//! `KMS:{region}:{domain id}:KeyId:{key id}`, with `*` as the key id for account-level
//! actions; a statement without `Resource` covers all.
//!
//! ## Conditions
//!
//! Only what the engine can evaluate; any other operator or key refuses the whole document
//! (ignoring it would widen an Allow or disarm a Deny). CAM: `string_equal`,
//! `string_not_equal`, `string_equal_ignore_case`, `string_not_equal_ignore_case`,
//! `string_like`, `string_not_like`, `ip_equal`, `ip_not_equal` on `qcs:ip` (source address)
//! and `qcs:requested_region`. IAM: `StringEquals`, `StringNotEquals`,
//! `StringEqualsIgnoreCase`, `StringNotEqualsIgnoreCase`, `StringLike`, `StringNotLike`,
//! `IpAddress`, `NotIpAddress` on `g:SourceIp`, `g:ProjectName` (the region), `g:UserId`,
//! `g:UserName` and `g:DomainName`. The dialects supply every one of these (the source address
//! from the connection, or from `X-Forwarded-For` behind a proxy the operator trusts; the
//! account as the domain name); a value a request does not carry (a caller with no known
//! address) satisfies only the negated operators. Values are any of a list; negated operators
//! hold when none matches.
//!
//! ## Refusals
//!
//! The dialects answer a denied request with the vendor's code: Tencent
//! `UnauthorizedOperation`, Huawei HTTP 403 with `KMS.0306` (no permission).
//!
//! ## The mapping
//!
//! Tencent actions are those of API 2019-01-18 (CAM name `kms:<Action>`); Huawei operations are
//! the SDK's, with their IAM actions, the first being the vendor's current name and the others
//! older names its policies still carry. "Derived" names were not on the vendor's page this
//! table was checked against and follow its `kms:<type>:<operation>` pattern.
//!
//! | permission | Tencent CAM actions | Huawei operations (IAM actions) |
//! |---|---|---|
//! | `CreateKey` | `kms:CreateKey` | CreateKey (`kms:cmk:create`) |
//! | `DescribeKey` | `kms:DescribeKey`, `kms:DescribeKeys` | ListKeyDetail (`kms:cmk:get`) |
//! | `ListKeys` | `kms:ListKeys`, `kms:ListKeyDetail` | ListKeys (`kms:cmk:list`) |
//! | `EnableKey` | `kms:EnableKey`, `kms:EnableKeys` | EnableKey (`kms:cmk:enable`) |
//! | `DisableKey` | `kms:DisableKey`, `kms:DisableKeys` | DisableKey (`kms:cmk:disable`) |
//! | `UpdateKey` | `kms:UpdateAlias`, `kms:UpdateKeyDescription` | UpdateKeyAlias (`kms:cmk:update`); UpdateKeyDescription (`kms:cmk:update`) |
//! | `ScheduleKeyDeletion` | `kms:ScheduleKeyDeletion` | DeleteKey (`kms:cmk:update`) |
//! | `CancelKeyDeletion` | `kms:CancelKeyDeletion` | CancelKeyDeletion (`kms:cmk:update`) |
//! | `ArchiveKey` | `kms:ArchiveKey` | - |
//! | `CancelKeyArchive` | `kms:CancelKeyArchive` | - |
//! | `Encrypt` | `kms:Encrypt`, `kms:PostQuantumCryptoEncrypt` | EncryptData (`kms:cmk:encryptData`, `kms:cmk:encrypt`, `kms:cmk:crypto`); EncryptDatakey (`kms:cmk:encryptDataKey`, `kms:dek:crypto`, `kms:dek:encrypt`) |
//! | `Decrypt` | `kms:Decrypt`, `kms:PostQuantumCryptoDecrypt` | DecryptData (`kms:cmk:decryptData`, `kms:cmk:decrypt`, `kms:cmk:crypto`); DecryptDatakey (`kms:cmk:decryptDataKey`, `kms:dek:crypto`, `kms:dek:decrypt`); DecryptDatakeyCapsule (`kms:cmk:decryptDataKeyCapsule`; derived) |
//! | `ReEncrypt` | `kms:ReEncrypt` | ReEncrypt (`kms:cmk:reEncryptFrom`, `kms:cmk:reEncryptTo`; derived) |
//! | `GenerateDataKey` | `kms:GenerateDataKey` | CreateDatakey (`kms:cmk:createDataKey`, `kms:dek:create`); CreateDatakeyWithoutPlaintext (`kms:cmk:createDataKeyWithoutPlaintext`, `kms:dek:create`); CreateDatakeyCapsule (`kms:cmk:createDataKeyCapsule`; derived) |
//! | `GenerateDataKeyPair` | - | CreateRsaDatakeyPair (`kms:cmk:createDataKeyPair`; derived); CreateEcDatakeyPair (`kms:cmk:createDataKeyPair`) |
//! | `GenerateRandom` | `kms:GenerateRandom` | CreateRandom (`kms::generateRandom`, `kms:cmk:generate`) |
//! | `EnableKeyRotation` | `kms:EnableKeyRotation` | EnableKeyRotation (`kms:cmk:enableRotation`) |
//! | `DisableKeyRotation` | `kms:DisableKeyRotation` | DisableKeyRotation (`kms:cmk:disableRotation`) |
//! | `GetKeyRotationStatus` | `kms:GetKeyRotationStatus` | ShowKeyRotationStatus (`kms:cmk:getRotation`) |
//! | `UpdateKeyRotationInterval` | - | UpdateKeyRotationInterval (`kms:cmk:updateRotation`) |
//! | `RotateKey` | `kms:RotateKey` | RotateOnDemand (`kms:cmk:rotateOnDemand`) |
//! | `GetParametersForImport` | `kms:GetParametersForImport` | CreateParametersForImport (`kms:cmk:getMaterial`) |
//! | `ImportKeyMaterial` | `kms:ImportKeyMaterial` | ImportKeyMaterial (`kms:cmk:importMaterial`) |
//! | `DeleteImportedKeyMaterial` | `kms:DeleteImportedKeyMaterial` | DeleteImportedKeyMaterial (`kms:cmk:deleteMaterial`) |
//! | `GetPublicKey` | `kms:GetPublicKey` | ShowPublicKey (`kms:cmk:getPublicKey`) |
//! | `Sign` | `kms:SignByAsymmetricKey`, `kms:PostQuantumCryptoSign` | Sign (`kms:cmk:sign`) |
//! | `Verify` | `kms:VerifyByAsymmetricKey`, `kms:PostQuantumCryptoVerify` | ValidateSignature (`kms:cmk:verify`) |
//! | `GenerateMac` | - | GenerateMac (`kms:cmk:generateMac`) |
//! | `VerifyMac` | - | VerifyMac (`kms:cmk:verifyMac`) |
//! | `AsymmetricDecrypt` | `kms:AsymmetricRsaDecrypt`, `kms:AsymmetricSm2Decrypt` | - |
//! | `DeriveSharedSecret` | - | DeriveSharedSecret (`kms:cmk:deriveSharedSecret`; derived) |
//! | `ManageAliases` | - | CreateAlias (`kms:alias:create`); DeleteAlias (`kms:alias:delete`; derived); AssociateAlias (`kms:alias:associate`) |
//! | `ListAliases` | - | ListAliases (`kms:alias:list`; derived) |
//! | `TagKey` | - | CreateKmsTag (`kms:cmkTag:create`); BatchCreateKmsTags (`kms:cmkTag:batch`); DeleteTag (`kms:cmkTag:delete`) |
//! | `ListTags` | - | ListKmsByTags (`kms:cmkTag:listInstance`); ListKmsTags (`kms:cmkTag:list`); ShowKmsTags (`kms:cmkTag:list`) |
//! | `ServiceInfo` | `kms:GetServiceStatus`, `kms:GetRegions`, `kms:ListAlgorithms` | ShowUserInstances (`kms:cmk:getInstance`); ShowUserQuotas (`kms:cmk:getQuota`); ListSupportRegions (`kms:cmk:listRegions`; derived) |
//! | `ManageDataKey` | `kms:ImportDataKey`, `kms:EnableDataKey`, `kms:DisableDataKey`, `kms:EnableDataKeys`, `kms:DisableDataKeys`, `kms:ScheduleDataKeyDeletion`, `kms:CancelDataKeyDeletion`, `kms:UpdateDataKeyName`, `kms:UpdateDataKeyDescription` | - |
//! | `DescribeDataKey` | `kms:DescribeDataKey`, `kms:DescribeDataKeys` | - |
//! | `ListDataKeys` | `kms:ListDataKeys`, `kms:ListDataKeyDetail` | - |
//! | `GetDataKeyPlaintext` | `kms:GetDataKeyPlaintext` | - |
//! | `GetDataKeyCiphertext` | `kms:GetDataKeyCiphertextBlob` | - |
//! | `BindCloudResource` | `kms:BindCloudResource` | - |
//! | `UnbindCloudResource` | `kms:UnbindCloudResource` | - |
//! | `CreateGrant` | - | CreateGrant (`kms:grant:create`) |
//! | `RevokeGrant` | - | CancelGrant (`kms:grant:revoke`) |
//! | `RetireGrant` | - | CancelSelfGrant (`kms:cmk:retireGrant`, `kms:grant:retire`) |
//! | `ListGrants` | - | ListGrants (`kms:grant:list`); ListRetirableGrants (`kms:grant:list`) |
//! | `ManageKeyPolicy` | - | CreateKeyPolicy (`kms:cmk:putKeyPolicy`; derived); UpdateKeyPolicy (`kms:cmk:putKeyPolicy`; derived); DeleteKeyPolicy (`kms:cmk:putKeyPolicy`; derived) |
//! | `GetKeyPolicy` | - | ListKeyPolicy (`kms:cmk:getKeyPolicy`; derived); ShowKeyPolicy (`kms:cmk:getKeyPolicy`; derived) |
//! | `ManageAccessPoint` | - | CreateAccessPoint (`kms:accessPoint:create`; derived); DeleteAccessPoint (`kms:accessPoint:delete`; derived); EnableAccessPoint (`kms:accessPoint:enable`; derived); DisableAccessPoint (`kms:accessPoint:disable`; derived); DownloadAccessPointPrivateKey (`kms:accessPoint:getPrivateKey`; derived) |
//! | `ListAccessPoints` | - | ListAccessPoint (`kms:accessPoint:list`; derived) |
//! | `ManageKeyStore` | - | CreateKeyStore (`kms:keystore:create`; derived); DeleteKeyStore (`kms:keystore:delete`; derived); EnableKeyStore (`kms:keystore:enable`; derived); DisableKeyStore (`kms:keystore:disable`; derived) |
//! | `ListKeyStores` | - | ListKeyStores (`kms:keystore:list`; derived); ShowKeyStore (`kms:keystore:get`; derived) |
//! | `CreatePin` | - | CreatePin (`kms:pin:create`; derived) |
//! | `ReplicateKey` | - | ReplicateKey (`kms:cmk:replicate`; derived); UpdatePrimaryRegion (`kms:cmk:updatePrimaryRegion`; derived) |
//! | `WhiteBox` | `kms:CreateWhiteBoxKey`, `kms:DeleteWhiteBoxKey`, `kms:DescribeWhiteBoxDecryptKey`, `kms:DescribeWhiteBoxDeviceFingerprints`, `kms:DescribeWhiteBoxKey`, `kms:DescribeWhiteBoxKeyDetails`, `kms:DescribeWhiteBoxServiceStatus`, `kms:DisableWhiteBoxKey`, `kms:DisableWhiteBoxKeys`, `kms:EnableWhiteBoxKey`, `kms:EnableWhiteBoxKeys`, `kms:EncryptByWhiteBox`, `kms:OverwriteWhiteBoxDeviceFingerprints` | - |

mod address;
pub mod cam;
mod document;
mod glob;
pub mod iam;
mod model;
mod permission;

pub use address::{IpBlock, TrustedProxies};
pub use document::{MAX_DOCUMENT, MAX_PATTERN, PolicyError};
pub use glob::matches as wildcard_match;
pub use model::{
    ActionPattern, Condition, Context, ContextKey, Decision, Effect, KeyRef, Language, Operator,
    Policy, Principal, Request, Resource, ResourcePattern, Statement, authorize, evaluate,
};
pub use permission::{
    HUAWEI, HUAWEI_DERIVED, HuaweiOperation, Permission, TENCENT, TencentAction, huawei_operation,
    tencent_action,
};

/// Parses a document in the given language.
pub fn parse(language: Language, text: &str) -> Result<Policy, PolicyError> {
    match language {
        Language::Cam => cam::parse(text),
        Language::Iam => iam::parse(text),
    }
}

#[cfg(test)]
mod tests;
