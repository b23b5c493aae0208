//! Grants: records that let a principal other than a key's owner use the key for named
//! operations (Huawei's create-grant). The engine decides with them in `engine/access.rs`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::engine::Caller;
use crate::model::AccountId;

/// An operation a grant may allow, as the Huawei SDK's `CreateGrantRequestBody` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum GrantOperation {
    CreateDatakey,
    CreateDatakeyWithoutPlaintext,
    EncryptDatakey,
    DecryptDatakey,
    DescribeKey,
    CreateGrant,
    RetireGrant,
    EncryptData,
    DecryptData,
}

impl GrantOperation {
    pub const ALL: [GrantOperation; 9] = [
        GrantOperation::CreateDatakey,
        GrantOperation::CreateDatakeyWithoutPlaintext,
        GrantOperation::EncryptDatakey,
        GrantOperation::DecryptDatakey,
        GrantOperation::DescribeKey,
        GrantOperation::CreateGrant,
        GrantOperation::RetireGrant,
        GrantOperation::EncryptData,
        GrantOperation::DecryptData,
    ];

    /// The vendor's name of the operation.
    pub fn name(self) -> &'static str {
        match self {
            GrantOperation::CreateDatakey => "create-datakey",
            GrantOperation::CreateDatakeyWithoutPlaintext => "create-datakey-without-plaintext",
            GrantOperation::EncryptDatakey => "encrypt-datakey",
            GrantOperation::DecryptDatakey => "decrypt-datakey",
            GrantOperation::DescribeKey => "describe-key",
            GrantOperation::CreateGrant => "create-grant",
            GrantOperation::RetireGrant => "retire-grant",
            GrantOperation::EncryptData => "encrypt-data",
            GrantOperation::DecryptData => "decrypt-data",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.name() == name)
    }
}

/// What a grantee principal names: one user, or a whole account (Huawei's domain).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GranteeType {
    User,
    Domain,
}

/// One grant on one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    /// 64 hex digits, random.
    pub grant_id: String,
    pub key_id: Uuid,
    /// The key's owning account and region: a grant lives beside its key.
    pub account: AccountId,
    pub region: String,
    pub grantee: String,
    pub grantee_type: GranteeType,
    /// Each once, in the order the grant was asked for.
    pub operations: Vec<GrantOperation>,
    /// Empty when none was given.
    pub name: String,
    /// The principal who may retire the grant besides its issuer; empty when none was given.
    pub retiring_principal: String,
    /// [`principal_id`] of the caller who created the grant.
    pub issuing_principal: String,
    pub created_at: u64,
}

impl GrantRecord {
    /// Whether the grant names `caller` as its grantee: a domain grant every principal of that
    /// account, a user grant that one user. The region is the key's.
    pub fn names_grantee(&self, caller: &Caller) -> bool {
        self.region == caller.region
            && match self.grantee_type {
                GranteeType::Domain => self.grantee == caller.account.to_string(),
                GranteeType::User => caller.user.as_deref() == Some(self.grantee.as_str()),
            }
    }

    /// Whether the grant lets `caller` perform `op` on its key.
    pub fn allows(&self, caller: &Caller, op: GrantOperation) -> bool {
        self.names_grantee(caller) && self.operations.contains(&op)
    }
}

/// How grants name the caller as a principal: its user id, or for the account's root the
/// account id (Huawei's domain id).
pub fn principal_id(caller: &Caller) -> String {
    caller
        .user
        .clone()
        .unwrap_or_else(|| caller.account.to_string())
}
