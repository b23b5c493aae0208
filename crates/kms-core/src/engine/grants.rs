//! Grants on keys (Huawei's create-grant, revoke-grant, retire-grant, list-grants and
//! list-retirable-grants). A grant names a grantee (a user, or a whole account) and the
//! operations it may perform on one key; `access.rs` admits the grantee for those operations.
//!
//! Rules where the vendor is silent: a grant lives in its key's account and region, and a
//! grantee reaches the key by its id from that region only. A grant is made by the key's owner,
//! or by a grantee whose grant allows create-grant, and then only for operations its own grants
//! allow. Grants change nothing about key states: each operation still checks the key's state,
//! and a key pending deletion takes no new grant. A key's grants go with it when it is purged.

use kms_crypto::random;
use uuid::Uuid;

use super::{Caller, Engine, access, parse_key_id, require_state};
use crate::error::{Bounded, KmsError, Operation};
use crate::grants::{GrantOperation, GrantRecord, GranteeType, principal_id};
use crate::model::{KeyRecord, KeyState};
use crate::store::{Listed, StoreError};

/// Grants one key may hold (Huawei's `grant_per_CMK` quota, 100 in the vendor's example answer
/// of user-quotas).
pub const GRANTS_PER_KEY: u64 = 100;

/// Longest grant name, and longest principal id (the vendor's create-grant constraints).
const NAME_MAX: usize = 255;
const PRINCIPAL_MAX: usize = 64;

/// Parameters of a new grant.
#[derive(Debug, Clone)]
pub struct NewGrant {
    pub key_id: String,
    pub grantee: String,
    pub grantee_type: GranteeType,
    pub operations: Vec<GrantOperation>,
    /// Empty for none.
    pub name: String,
    /// Empty for none.
    pub retiring_principal: String,
}

impl Engine {
    /// Creates a grant on a key of the caller's, or on a key granted to it with create-grant.
    pub fn create_grant(&self, caller: &Caller, new: NewGrant) -> Result<GrantRecord, KmsError> {
        check_principal("grantee_principal", &new.grantee)?;
        if !new.retiring_principal.is_empty() {
            check_principal("retiring_principal", &new.retiring_principal)?;
        }
        check_name(&new.name)?;
        let mut operations = Vec::with_capacity(new.operations.len());
        for op in new.operations {
            if !operations.contains(&op) {
                operations.push(op);
            }
        }
        if operations.is_empty() || operations == [GrantOperation::CreateGrant] {
            return Err(KmsError::invalid(
                "operations",
                "name at least one operation besides create-grant",
            ));
        }
        let id = parse_key_id(&new.key_id)?;
        let key =
            access::with_grant_operation(GrantOperation::CreateGrant, || self.load(caller, id))?;
        require_state(
            &key,
            Operation::CreateGrant,
            &[
                KeyState::Enabled,
                KeyState::Disabled,
                KeyState::PendingImport,
                KeyState::Archived,
            ],
        )?;
        if !access::may_use(caller, &key) {
            // A grantee passes on no more than its own grants allow it.
            let held: Vec<GrantOperation> = self
                .store
                .key_grants(&key.key_id)?
                .into_iter()
                .filter(|g| g.names_grantee(caller))
                .flat_map(|g| g.operations)
                .collect();
            if let Some(op) = operations.iter().find(|op| !held.contains(op)) {
                return Err(KmsError::invalid(
                    "operations",
                    format!("{} is not granted to the caller", op.name()),
                ));
            }
        }
        // A version 7 UUID first, so grant ids sort by creation within a second as listings
        // need, then 16 random bytes: 64 hex digits, as the vendor's grant ids are.
        let random = random::secret_bytes(16).map_err(|e| KmsError::Internal(e.to_string()))?;
        let grant_id = Uuid::now_v7()
            .as_bytes()
            .iter()
            .chain(random.iter())
            .map(|b| format!("{b:02x}"))
            .collect();
        let grant = GrantRecord {
            grant_id,
            key_id: key.key_id,
            account: key.account,
            region: key.region.clone(),
            grantee: new.grantee,
            grantee_type: new.grantee_type,
            operations,
            name: new.name,
            retiring_principal: new.retiring_principal,
            issuing_principal: principal_id(caller),
            created_at: self.now(),
        };
        match self.store.create_grant(&grant, GRANTS_PER_KEY) {
            Ok(()) => Ok(grant),
            Err(StoreError::LimitReached) => Err(KmsError::OutOfRange {
                what: Bounded::GrantCount,
                min: 0,
                max: GRANTS_PER_KEY,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Revokes a grant of a key of the caller's (only the key's owner revokes).
    pub fn revoke_grant(
        &self,
        caller: &Caller,
        key_id: &str,
        grant_id: &str,
    ) -> Result<(), KmsError> {
        let key = self.owned_key(caller, key_id)?;
        if self.store.delete_grant(&key.key_id, grant_id)? {
            Ok(())
        } else {
            Err(grant_not_found())
        }
    }

    /// Retires a grant: allowed to the key's owner, the grant's issuer, its retiring principal,
    /// and its grantee when the grant allows retire-grant. To anyone else the grant, and the key
    /// unless it is theirs, is not found.
    pub fn retire_grant(
        &self,
        caller: &Caller,
        key_id: &str,
        grant_id: &str,
    ) -> Result<(), KmsError> {
        let id = parse_key_id(key_id)?;
        access::authorize_key(caller, &id)?;
        let key = self.store.get_key(&id)?.ok_or(KmsError::KeyNotFound)?;
        let owner = access::may_use(caller, &key);
        let me = principal_id(caller);
        let grant = self
            .store
            .key_grants(&id)?
            .into_iter()
            .find(|g| g.grant_id == grant_id);
        let may_retire = grant.as_ref().is_some_and(|g| {
            owner
                || (g.region == caller.region
                    && ((g.retiring_principal == me || g.issuing_principal == me)
                        || g.allows(caller, GrantOperation::RetireGrant)))
        });
        if !may_retire {
            return Err(if owner {
                grant_not_found()
            } else {
                KmsError::KeyNotFound
            });
        }
        if self.store.delete_grant(&id, grant_id)? {
            Ok(())
        } else {
            Err(grant_not_found())
        }
    }

    /// The grants of a key of the caller's: how many, and the page at `offset` of at most
    /// `limit`, oldest first.
    pub fn list_grants(
        &self,
        caller: &Caller,
        key_id: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Listed<GrantRecord>, KmsError> {
        let key = self.owned_key(caller, key_id)?;
        let grants = self.store.key_grants(&key.key_id)?;
        Ok(Listed {
            total: grants.len() as u64,
            page: grants.into_iter().skip(offset).take(limit).collect(),
        })
    }

    /// The grants in the caller's region that name the caller as retiring principal.
    pub fn list_retirable_grants(
        &self,
        caller: &Caller,
        offset: usize,
        limit: usize,
    ) -> Result<Listed<GrantRecord>, KmsError> {
        Ok(self
            .store
            .retirable_grants(&caller.region, &principal_id(caller), offset, limit)?)
    }

    /// The most grants one key of the caller's scope holds, for the quota report.
    pub fn most_grants_on_a_key(&self, caller: &Caller) -> Result<u64, KmsError> {
        Ok(self
            .store
            .most_grants_on_a_key(caller.account, &caller.region)?)
    }

    /// A key of the caller's own; a key only granted to it is not found here.
    fn owned_key(&self, caller: &Caller, key_id: &str) -> Result<KeyRecord, KmsError> {
        let key = self.load(caller, parse_key_id(key_id)?)?;
        if access::may_use(caller, &key) {
            Ok(key)
        } else {
            Err(KmsError::KeyNotFound)
        }
    }
}

fn grant_not_found() -> KmsError {
    KmsError::invalid("grant_id", "the key has no grant with this id")
}

/// A principal id as the vendor constrains it: 1 to 64 ASCII letters and digits.
fn check_principal(field: &'static str, id: &str) -> Result<(), KmsError> {
    if (1..=PRINCIPAL_MAX).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(KmsError::invalid(field, "1 to 64 letters and digits"))
    }
}

/// A grant name as the vendor constrains it: empty (none), or 1 to 255 of `a-zA-Z0-9:/_-`.
fn check_name(name: &str) -> Result<(), KmsError> {
    if name.len() <= NAME_MAX
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":/_-".contains(&b))
    {
        Ok(())
    } else {
        Err(KmsError::invalid("name", "1 to 255 of a-zA-Z0-9:/_-"))
    }
}
