//! Accounts and their credentials, shared by every dialect: one credential pair is both a
//! Tencent SecretId/SecretKey and a Huawei AK/SK.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use uuid::Uuid;
use zeroize::Zeroizing;

use crate::KmsError;
use crate::identity::{Identity, Policy};

/// What a user's attached documents become when one of them no longer parses (a document
/// stored by an older, more lenient build): everything is denied rather than the broken
/// document (which might have been a Deny) silently dropped.
const DENY_ALL: &str =
    r#"{"version":"2.0","statement":[{"effect":"deny","action":["*"],"resource":["*"]}]}"#;
use crate::model::{Account, AccountId};
use crate::seal::Seal;
use crate::store::{Store, StoreError};

const SECRET_AAD_LABEL: &[u8] = b"kms/account-secret/v1";

/// An authenticated caller's identity and signing secret.
pub struct Principal {
    pub account: AccountId,
    /// The user inside the account whose credential signed; `None` is the account's root.
    pub user: Option<String>,
    /// That user's name, which policy conditions can test (IAM `g:UserName`).
    pub user_name: Option<String>,
    /// The policies attached to the user, parsed, as of the last change of the identity
    /// records; none for the account's root (who is not evaluated).
    pub policies: Arc<[kms_policy::Policy]>,
    pub app_id: u64,
    pub project_id: String,
    secret_key: Zeroizing<Vec<u8>>,
}

impl Principal {
    /// What this principal may do in one call that needs `permission` in `region`, made from
    /// `source_ip` (the client's address as the server determined it): `None` for the
    /// account's root, who is never evaluated, so nothing of the request is read for it.
    pub fn authority(
        &self,
        permission: Option<kms_policy::Permission>,
        region: &str,
        source_ip: Option<IpAddr>,
    ) -> Option<Arc<Authority>> {
        let user = self.user.as_ref()?;
        let account = self.account.to_string();
        let context = kms_policy::Context {
            source_ip: source_ip.map(|ip| ip.to_canonical().to_string()),
            region: Some(region.to_owned()),
            user_id: Some(user.clone()),
            user_name: self.user_name.clone(),
            // The Huawei domain is the account: its name is the account's id, as IAM token
            // requests name it.
            account_name: Some(account.clone()),
            account_uin: Some(account),
        };
        Some(Arc::new(Authority::new(
            self.policies.clone(),
            permission,
            self.account,
            context,
        )))
    }

    /// The secret that request signatures are keyed with.
    pub fn secret_key(&self) -> &[u8] {
        &self.secret_key
    }
}

/// A user's authority for one call: its policies and the question they answer, asked of the
/// account's keys as a whole (the permission the call needs, the account and region, and the
/// request's facts that policy conditions test). The engine asks it about every key the call
/// touches, as it resolves the key (`engine/access.rs`); the dialect asks it about the account's
/// keys as a whole, before the call runs or after (see [`Stage`]). Keys record their account as
/// creator (the engine keeps no creating user), and the Huawei domain id is the account.
#[derive(Debug)]
pub struct Authority {
    policies: Arc<[kms_policy::Policy]>,
    /// The question about the account's keys as a whole; `None` when the action has no
    /// permission (no policy can allow it).
    account_request: Option<kms_policy::Request>,
    /// Set once the engine asked about a key: a call that never did is asked about the
    /// account's keys as a whole instead.
    asked_about_a_key: AtomicBool,
}

/// When the dialect asks a call's authority about the account's keys as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Before the call runs: an account-level permission (or none) must be allowed there.
    BeforeRunning,
    /// After it ran: a key-level call that touched no key (a listing of the whole account, or
    /// one that failed before resolving a key) must be allowed there. Only reads touch no key,
    /// so nothing changed before this question.
    AfterRunning,
}

/// One call's authority is equal only to itself.
impl PartialEq for Authority {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for Authority {}

impl Authority {
    /// The authority of `policies` for `permission` in `account`, in the region `context`
    /// names.
    pub(crate) fn new(
        policies: Arc<[kms_policy::Policy]>,
        permission: Option<kms_policy::Permission>,
        account: AccountId,
        context: kms_policy::Context,
    ) -> Self {
        let account = account.to_string();
        let account_request = permission.map(|permission| kms_policy::Request {
            permission,
            resource: kms_policy::Resource {
                region: context.region.clone().unwrap_or_default(),
                uin: account.clone(),
                domain_id: account,
                key: None,
            },
            context,
        });
        Self {
            policies,
            account_request,
            asked_about_a_key: AtomicBool::new(false),
        }
    }

    /// Whether the policies allow the call's permission on the key `key_id` (canonical).
    pub fn allows_key(&self, key_id: &Uuid) -> bool {
        self.asked_about_a_key.store(true, Ordering::Relaxed);
        let Some(account_request) = &self.account_request else {
            return false;
        };
        let mut request = account_request.clone();
        request.resource.key = Some(kms_policy::KeyRef {
            id: key_id.to_string(),
            creator: request.resource.uin.clone(),
        });
        kms_policy::evaluate(&self.policies, &request).allowed()
    }

    /// Whether the engine asked about any key during the call.
    pub fn asked_about_a_key(&self) -> bool {
        self.asked_about_a_key.load(Ordering::Relaxed)
    }

    /// Whether the call is refused at `stage`.
    pub fn refuses(&self, stage: Stage) -> bool {
        let Some(request) = &self.account_request else {
            // No permission: nothing is allowed, and the dialect refuses before running.
            return stage == Stage::BeforeRunning;
        };
        let asked_here = match stage {
            Stage::BeforeRunning => request.permission.account_level(),
            Stage::AfterRunning => !request.permission.account_level() && !self.asked_about_a_key(),
        };
        asked_here && !kms_policy::evaluate(&self.policies, request).allowed()
    }
}

impl std::fmt::Debug for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Principal")
            .field("account", &self.account)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// A new account's credentials, as given by the operator or generated.
pub struct NewAccount {
    pub uin: AccountId,
    pub app_id: u64,
    pub secret_id: String,
    pub secret_key: Zeroizing<String>,
    pub project_id: String,
}

pub(crate) fn secret_aad(secret_id: &str) -> Vec<u8> {
    [SECRET_AAD_LABEL, secret_id.as_bytes()].concat()
}

/// Stores a new account with its secret key sealed under the root key.
pub fn create_account(
    store: &dyn Store,
    seal: &dyn Seal,
    new: &NewAccount,
    now: u64,
) -> Result<(), KmsError> {
    let sealed_secret_key = seal.seal(&secret_aad(&new.secret_id), new.secret_key.as_bytes())?;
    store
        .create_account(&Account {
            uin: new.uin,
            app_id: new.app_id,
            secret_id: new.secret_id.clone(),
            sealed_secret_key,
            project_id: new.project_id.clone(),
            created_at: now,
        })
        .map_err(|e| match e {
            StoreError::AlreadyExists => KmsError::invalid("account", "already exists"),
            other => other.into(),
        })
}

/// A user's attached documents, parsed; one that does not parse denies everything.
fn parse_policies(documents: Vec<&Policy>) -> Vec<kms_policy::Policy> {
    let parsed: Result<Vec<_>, _> = documents
        .iter()
        .map(|p| kms_policy::parse(p.language.into(), &p.document))
        .collect();
    parsed.unwrap_or_else(|_| {
        kms_policy::parse(kms_policy::Language::Cam, DENY_ALL)
            .into_iter()
            .collect()
    })
}

/// A user as Huawei IAM tokens need them: who they are when a token speaks for them, whether
/// they may act now, and what their password is checked against.
pub struct TokenUser {
    /// The principal a token of the user's acts as (it signs nothing: no secret key).
    pub principal: Arc<Principal>,
    pub name: String,
    /// The names of the policies attached to the user (a token's roles).
    pub policy_names: Vec<String>,
    /// The user and their account are both enabled.
    pub enabled: bool,
    /// PHC string of the password's Argon2id hash; none when the user has no password.
    pub password_hash: Option<String>,
}

impl std::fmt::Debug for TokenUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenUser")
            .field("principal", &self.principal)
            .field("name", &self.name)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Snapshot {
    by_secret_id: HashMap<String, Arc<Principal>>,
    /// Every user, by id.
    users: HashMap<String, Arc<TokenUser>>,
    /// User ids by account and name.
    user_names: HashMap<(AccountId, String), String>,
}

/// The usable credentials, unsealed, and the users, looked up per request. Every change of the
/// identity records installs a new snapshot, swapped in whole, so the next request of every
/// dialect sees it.
#[derive(Default)]
pub struct Directory {
    current: RwLock<Arc<Snapshot>>,
}

impl Directory {
    pub fn load(store: &dyn Store, seal: &dyn Seal) -> Result<Self, KmsError> {
        let directory = Self::default();
        directory.reload(store, seal)?;
        Ok(directory)
    }

    /// Rebuilds the map from the store.
    pub fn reload(&self, store: &dyn Store, seal: &dyn Seal) -> Result<(), KmsError> {
        self.install(&store.identity()?, store, seal)
    }

    /// Installs the credentials `identity` lets sign: enabled, of an enabled user (or the
    /// root) of an enabled account. An account that [`crate::identity::migrate`] has not yet
    /// brought into `identity` signs with the credential it was created with.
    pub fn install(
        &self,
        identity: &Identity,
        store: &dyn Store,
        seal: &dyn Seal,
    ) -> Result<(), KmsError> {
        let accounts: HashMap<AccountId, Account> =
            store.accounts()?.into_iter().map(|a| (a.uin, a)).collect();
        let mut by_secret_id = HashMap::new();
        let mut add = |secret_id: &str, account: &Account, user: Option<String>, sealed: &[u8]| {
            let secret_key = seal.unseal(&secret_aad(secret_id), sealed)?;
            let policies: Arc<[kms_policy::Policy]> = match &user {
                Some(user) => parse_policies(identity.user_policies(account.uin, user)).into(),
                None => Arc::new([]),
            };
            let user_name = user
                .as_ref()
                .and_then(|id| identity.user(account.uin, id).ok())
                .map(|u| u.name.clone());
            by_secret_id.insert(
                secret_id.to_owned(),
                Arc::new(Principal {
                    account: account.uin,
                    user,
                    user_name,
                    policies,
                    app_id: account.app_id,
                    project_id: account.project_id.clone(),
                    secret_key,
                }),
            );
            Ok::<(), KmsError>(())
        };
        for account in accounts.values() {
            if !identity.accounts.contains_key(&account.uin) {
                add(
                    &account.secret_id,
                    account,
                    None,
                    &account.sealed_secret_key,
                )?;
            }
        }
        for credential in identity.credentials.values() {
            if let Some(account) = accounts.get(&credential.account)
                && identity.credential_usable(credential)
            {
                add(
                    &credential.secret_id,
                    account,
                    credential.user.clone(),
                    &credential.sealed_secret_key,
                )?;
            }
        }
        let mut users = HashMap::new();
        let mut user_names = HashMap::new();
        for user in identity.users.values() {
            let Some(account) = accounts.get(&user.account) else {
                continue;
            };
            let principal = Arc::new(Principal {
                account: account.uin,
                user: Some(user.id.clone()),
                user_name: Some(user.name.clone()),
                policies: parse_policies(identity.user_policies(account.uin, &user.id)).into(),
                app_id: account.app_id,
                project_id: account.project_id.clone(),
                secret_key: Zeroizing::new(Vec::new()),
            });
            let enabled = user.enabled
                && identity
                    .accounts
                    .get(&account.uin)
                    .is_none_or(|a| a.enabled);
            user_names.insert((account.uin, user.name.clone()), user.id.clone());
            users.insert(
                user.id.clone(),
                Arc::new(TokenUser {
                    principal,
                    name: user.name.clone(),
                    policy_names: user.policies.clone(),
                    enabled,
                    password_hash: user.password_hash.clone(),
                }),
            );
        }
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Snapshot {
            by_secret_id,
            users,
            user_names,
        });
        Ok(())
    }

    fn current(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn by_secret_id(&self, secret_id: &str) -> Option<Arc<Principal>> {
        self.current().by_secret_id.get(secret_id).cloned()
    }

    /// The user `id` (user ids are unique across accounts), enabled or not.
    pub fn user(&self, id: &str) -> Option<Arc<TokenUser>> {
        self.current().users.get(id).cloned()
    }

    /// The user named `name` in `account`, enabled or not.
    pub fn user_named(&self, account: AccountId, name: &str) -> Option<Arc<TokenUser>> {
        let current = self.current();
        current
            .user_names
            .get(&(account, name.to_owned()))
            .and_then(|id| current.users.get(id))
            .cloned()
    }

    pub fn is_empty(&self) -> bool {
        self.current().by_secret_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemorySeal, MemoryStore};

    #[test]
    fn secrets_round_trip_sealed() {
        let store = MemoryStore::default();
        let seal = MemorySeal::generate();
        let new = NewAccount {
            uin: 7,
            app_id: 8,
            secret_id: "AKIDtest".into(),
            secret_key: Zeroizing::new("sekrit".into()),
            project_id: "0".repeat(32),
        };
        create_account(&store, &seal, &new, 0).unwrap();
        let stored = store.accounts().unwrap().remove(0);
        assert!(!stored.sealed_secret_key.windows(6).any(|w| w == b"sekrit"));
        let dir = Directory::load(&store, &seal).unwrap();
        let p = dir.by_secret_id("AKIDtest").unwrap();
        assert_eq!(p.secret_key(), b"sekrit");
        assert_eq!(p.account, 7);
        assert!(!format!("{p:?}").contains("sekrit"));
        assert!(dir.by_secret_id("other").is_none());
    }
}
