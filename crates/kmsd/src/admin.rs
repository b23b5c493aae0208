//! The operator's API: accounts, users, credentials and policy documents, as JSON under
//! `/admin/v1/`. [`Admin::execute`] serves one request whatever carried it: the listener (after
//! [`authenticate`]) or `kmsd admin --data-dir` in-process, before any server runs.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use kms_core::accounts::Directory;
use kms_core::identity::{self, Identity, IdentityError, PolicyLanguage};
use kms_core::{Account, AccountId, Clock, Seal, Store};

use crate::bootstrap;
use crate::rotation::{RootKeyRotation, RotationError};

/// Where every admin path begins.
pub const PREFIX: &str = "/admin/v1";
/// The file in the data dir that the operator token is written to at first start.
pub const TOKEN_FILE: &str = "admin-token";

/// An answer of the admin API: HTTP status and JSON body, with what the audit record names.
pub struct AdminReply {
    pub status: u16,
    pub body: Value,
    /// The operation's name, e.g. `CreateCredential`.
    pub action: &'static str,
    /// The account the operation concerned.
    pub account: Option<AccountId>,
    /// The error code, for a refusal.
    pub code: Option<&'static str>,
}

impl AdminReply {
    pub fn ok(action: &'static str, account: Option<AccountId>, body: Value) -> Self {
        Self {
            status: 200,
            body,
            action,
            account,
            code: None,
        }
    }

    /// The words of a refusal (empty for an answer).
    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }

    pub fn error(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({ "error": { "code": code, "message": message.into() } }),
            action: "unknown",
            account: None,
            code: Some(code),
        }
    }
}

impl From<IdentityError> for AdminReply {
    fn from(e: IdentityError) -> Self {
        let (status, code) = match &e {
            IdentityError::NotFound(_) => (404, "NotFound"),
            IdentityError::Exists(_) => (409, "AlreadyExists"),
            IdentityError::Invalid(_) => (400, "InvalidRequest"),
            IdentityError::Busy => (503, "Busy"),
            IdentityError::Store(_) | IdentityError::Crypto(_) | IdentityError::Random => {
                (500, "InternalError")
            }
        };
        if status == 500 {
            tracing::error!(error = %e, "admin operation failed");
        }
        AdminReply::error(status, code, e.to_string())
    }
}

pub struct Admin {
    store: Arc<dyn Store>,
    seal: Arc<dyn Seal>,
    directory: Arc<Directory>,
    clock: Arc<dyn Clock>,
    /// Where `root-credentials.json` lives, rewritten when the root credential rotates.
    data_dir: PathBuf,
    /// Changes run one at a time, so the directory installs them in the order they committed.
    changes: Mutex<()>,
    rotation: Arc<RootKeyRotation>,
}

type Step = Result<AdminReply, AdminReply>;

fn bad(message: impl Into<String>) -> AdminReply {
    AdminReply::error(400, "InvalidRequest", message)
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, AdminReply> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| bad(format!("the request body is not valid: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCredential {
    #[serde(default)]
    user: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPassword {
    password: Option<Zeroizing<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPolicy {
    name: String,
    language: PolicyLanguage,
    document: String,
}

fn account_view(account: &Account, identity: &Identity) -> Value {
    json!({
        "uin": account.uin,
        "app_id": account.app_id,
        "project_id": account.project_id,
        "domain_id": account.uin.to_string(),
        "enabled": identity.accounts.get(&account.uin).is_none_or(|a| a.enabled),
        "created_at": account.created_at,
        "users": identity.users.values().filter(|u| u.account == account.uin).count(),
        "credentials": identity.credentials.values().filter(|c| c.account == account.uin).count(),
    })
}

fn user_view(user: &identity::User) -> Value {
    json!({
        "id": user.id,
        "account": user.account,
        "name": user.name,
        "enabled": user.enabled,
        "has_password": user.password_hash.is_some(),
        "policies": user.policies,
        "created_at": user.created_at,
    })
}

fn credential_view(credential: &identity::Credential) -> Value {
    json!({
        "secret_id": credential.secret_id,
        "account": credential.account,
        "user": credential.user,
        "enabled": credential.enabled,
        "created_at": credential.created_at,
    })
}

fn policy_view(policy: &identity::Policy, with_document: bool) -> Value {
    let mut v = json!({
        "account": policy.account,
        "name": policy.name,
        "language": policy.language,
        "created_at": policy.created_at,
    });
    if with_document {
        v["document"] = Value::String(policy.document.clone());
    }
    v
}

impl Admin {
    pub fn new(
        store: Arc<dyn Store>,
        seal: Arc<dyn Seal>,
        directory: Arc<Directory>,
        clock: Arc<dyn Clock>,
        data_dir: PathBuf,
        rotation: Arc<RootKeyRotation>,
    ) -> Self {
        Self {
            store,
            seal,
            directory,
            clock,
            data_dir,
            changes: Mutex::new(()),
            rotation,
        }
    }

    /// Serves one request; `path` is what follows [`PREFIX`].
    pub fn execute(&self, method: &str, path: &str, body: &[u8]) -> AdminReply {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let reading = method == "GET";
        let _change = (!reading).then(|| self.changes.lock().unwrap_or_else(|e| e.into_inner()));
        match self.route(method, &segments, body) {
            Ok(reply) | Err(reply) => reply,
        }
    }

    /// Makes what `kmsd dev`'s fixtures name and the store lacks: accounts, then policies,
    /// users with their credentials, and the users' policies attached; `root` is the account
    /// of entries that name none. How many entries it made.
    pub fn make_fixture_identity(
        &self,
        fixtures: &kms_fixtures::Fixtures,
        root: AccountId,
    ) -> Result<usize, AdminReply> {
        let _change = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        let (store, seal, now) = (self.store.as_ref(), self.seal.as_ref(), self.clock.now());
        let mut made = 0;
        let existing: Vec<AccountId> = self.accounts()?.iter().map(|a| a.uin).collect();
        for a in fixtures
            .accounts
            .iter()
            .filter(|a| !existing.contains(&a.uin))
        {
            let new = kms_core::accounts::NewAccount {
                uin: a.uin,
                app_id: a.app_id,
                secret_id: a.secret_id.clone(),
                secret_key: a.secret_key.clone(),
                project_id: a.project_id.clone(),
            };
            kms_core::accounts::create_account(store, seal, &new, now)
                .map_err(|e| bad(format!("account {}: {e}", a.uin)))?;
            identity::migrate(store)?;
            made += 1;
        }
        for p in &fixtures.policies {
            let account = p.account.unwrap_or(root);
            if self.identity()?.policy(account, &p.name).is_err() {
                identity::create_policy(store, account, &p.name, p.language, &p.document, now)?;
                made += 1;
            }
        }
        for u in &fixtures.users {
            let account = u.account.unwrap_or(root);
            if !self.identity()?.users.contains_key(&u.id) {
                identity::create_user_as(store, account, &u.name, Some(&u.id), now)?;
                made += 1;
            }
            if let Some((secret_id, secret_key)) = &u.credential
                && !self.identity()?.credentials.contains_key(secret_id)
            {
                let secret = (secret_id.clone(), secret_key.clone());
                identity::create_credential_as(store, seal, account, Some(&u.id), secret, now)?;
            }
            for policy in &u.policies {
                let attached = self
                    .identity()?
                    .user(account, &u.id)?
                    .policies
                    .contains(policy);
                if !attached {
                    identity::set_attached(store, account, &u.id, policy, true)?;
                }
            }
        }
        self.install(&self.identity()?)?;
        Ok(made)
    }

    fn identity(&self) -> Result<Identity, AdminReply> {
        Ok(self.store.identity().map_err(IdentityError::from)?)
    }

    fn accounts(&self) -> Result<Vec<Account>, AdminReply> {
        Ok(self.store.accounts().map_err(IdentityError::from)?)
    }

    fn account(&self, uin: &str) -> Result<Account, AdminReply> {
        let uin: AccountId = uin
            .parse()
            .map_err(|_| bad(format!("{uin:?} is not an account id (a number)")))?;
        self.accounts()?
            .into_iter()
            .find(|a| a.uin == uin)
            .ok_or_else(|| IdentityError::NotFound(format!("account {uin}")).into())
    }

    /// The account the server created at its first start, as it recorded it (a store made
    /// before that record: the oldest account).
    pub fn root_account(&self) -> Result<Account, AdminReply> {
        let recorded = bootstrap::recorded_root_uin(self.store.as_ref());
        let accounts = self.accounts()?;
        recorded
            .and_then(|uin| accounts.iter().find(|a| a.uin == uin).cloned())
            .or_else(|| accounts.into_iter().min_by_key(|a| (a.created_at, a.uin)))
            .ok_or_else(|| IdentityError::NotFound("the root account".into()).into())
    }

    /// The id of the account's user named by `user`, its id or its name.
    fn user_id(&self, account: AccountId, user: &str) -> Result<String, AdminReply> {
        let identity = self.identity()?;
        if identity.user(account, user).is_ok() {
            return Ok(user.to_owned());
        }
        Ok(identity
            .users
            .values()
            .find(|u| u.account == account && u.name == user)
            .map_or_else(|| user.to_owned(), |u| u.id.clone()))
    }

    /// Makes the next request of every dialect see `identity`.
    fn install(&self, identity: &Identity) -> Result<(), AdminReply> {
        self.directory
            .install(identity, self.store.as_ref(), self.seal.as_ref())
            .map_err(|e| {
                tracing::error!(error = %e, "installing the changed credentials failed");
                AdminReply::error(
                    500,
                    "InternalError",
                    "the change is stored, but installing it failed; restart the server",
                )
            })
    }

    fn route(&self, method: &str, segments: &[&str], body: &[u8]) -> Step {
        let store = self.store.as_ref();
        let seal = self.seal.as_ref();
        let now = self.clock.now();
        match (method, segments) {
            ("GET", ["accounts"]) => {
                let identity = self.identity()?;
                let list: Vec<Value> = self
                    .accounts()?
                    .iter()
                    .map(|a| account_view(a, &identity))
                    .collect();
                Ok(AdminReply::ok(
                    "ListAccounts",
                    None,
                    json!({ "accounts": list }),
                ))
            }
            ("POST", ["accounts"]) => {
                parse::<serde::de::IgnoredAny>(body)?;
                let created = identity::create_account(store, seal, now)?;
                self.install(&self.identity()?)?;
                Ok(AdminReply::ok(
                    "CreateAccount",
                    Some(created.uin),
                    json!({
                        "uin": created.uin,
                        "app_id": created.app_id,
                        "project_id": created.project_id,
                        "domain_id": created.uin.to_string(),
                        "secret_id": created.secret_id,
                        "secret_key": created.secret_key.as_str(),
                    }),
                ))
            }
            ("GET", ["root-key"]) => Ok(AdminReply::ok(
                "DescribeRootKey",
                None,
                json!(self.rotation.status()),
            )),
            ("POST", ["root-key", "rotate"]) => {
                parse::<serde::de::IgnoredAny>(body)?;
                match self.rotation.start() {
                    Ok(status) => Ok(AdminReply::ok("RotateRootKey", None, json!(status))),
                    Err(e @ RotationError::Running) => {
                        Err(AdminReply::error(409, "RotationInProgress", e.to_string()))
                    }
                    Err(e @ RotationError::Sealed) => {
                        Err(AdminReply::error(503, "Sealed", e.to_string()))
                    }
                    Err(e @ RotationError::Unreachable(_)) => {
                        tracing::warn!(error = %e, "a root key rotation could not start");
                        Err(AdminReply::error(
                            503,
                            "RootOfTrustUnreachable",
                            e.to_string(),
                        ))
                    }
                    Err(RotationError::Failed(e)) => {
                        tracing::error!(error = %e, "starting a root key rotation failed");
                        Err(AdminReply::error(500, "InternalError", e))
                    }
                }
            }
            ("POST", ["root", "rotate"]) => {
                let root = self.root_account()?;
                let (secret_key, identity) =
                    identity::rotate_credential(store, seal, root.uin, &root.secret_id)?;
                self.install(&identity)?;
                self.rewrite_root_file(&root, &secret_key);
                Ok(AdminReply::ok(
                    "RotateRootCredential",
                    Some(root.uin),
                    json!({ "uin": root.uin, "secret_id": root.secret_id, "secret_key": secret_key.as_str() }),
                ))
            }
            (_, ["accounts", uin, rest @ ..]) => {
                let account = self.account(uin)?;
                let mut rest = rest.to_vec();
                let resolved;
                if let ["users", user, ..] = rest.as_slice() {
                    resolved = self.user_id(account.uin, user)?;
                    rest[1] = resolved.as_str();
                }
                self.account_route(method, &account, &rest, body, now)
            }
            _ => Err(AdminReply::error(
                404,
                "NotFound",
                format!(
                    "no admin operation is {method} {}/{}",
                    PREFIX,
                    segments.join("/")
                ),
            )),
        }
    }

    fn account_route(
        &self,
        method: &str,
        account: &Account,
        rest: &[&str],
        body: &[u8],
        now: u64,
    ) -> Step {
        let store = self.store.as_ref();
        let seal = self.seal.as_ref();
        let uin = account.uin;
        let ok = |action, body| Ok(AdminReply::ok(action, Some(uin), body));
        let changed = |action, identity: Identity| -> Step {
            self.install(&identity)?;
            Ok(AdminReply::ok(action, Some(uin), json!({})))
        };
        match (method, rest) {
            ("GET", []) => {
                let identity = self.identity()?;
                let mut view = account_view(account, &identity);
                view["users"] = identity
                    .users
                    .values()
                    .filter(|u| u.account == uin)
                    .map(user_view)
                    .collect();
                view["credentials"] = identity
                    .credentials
                    .values()
                    .filter(|c| c.account == uin)
                    .map(credential_view)
                    .collect();
                view["policies"] = identity
                    .policies
                    .iter()
                    .filter(|p| p.account == uin)
                    .map(|p| policy_view(p, false))
                    .collect();
                ok("ShowAccount", view)
            }
            ("POST", [verb @ ("enable" | "disable")]) => {
                let identity = identity::set_account_enabled(store, uin, *verb == "enable")?;
                changed(
                    if *verb == "enable" {
                        "EnableAccount"
                    } else {
                        "DisableAccount"
                    },
                    identity,
                )
            }
            ("GET", ["users"]) => {
                let identity = self.identity()?;
                let users: Vec<Value> = identity
                    .users
                    .values()
                    .filter(|u| u.account == uin)
                    .map(user_view)
                    .collect();
                ok("ListUsers", json!({ "users": users }))
            }
            ("POST", ["users"]) => {
                let new: NewUser = parse(body)?;
                let (user, identity) = identity::create_user(store, uin, &new.name, now)?;
                self.install(&identity)?;
                ok("CreateUser", user_view(&user))
            }
            ("GET", ["users", user]) => {
                let identity = self.identity()?;
                let view = user_view(identity.user(uin, user)?);
                ok("ShowUser", view)
            }
            ("DELETE", ["users", user]) => {
                changed("DeleteUser", identity::delete_user(store, uin, user)?)
            }
            ("POST", ["users", user, verb @ ("enable" | "disable")]) => {
                let identity = identity::set_user_enabled(store, uin, user, *verb == "enable")?;
                changed(
                    if *verb == "enable" {
                        "EnableUser"
                    } else {
                        "DisableUser"
                    },
                    identity,
                )
            }
            ("PUT", ["users", user, "password"]) => {
                let new: NewPassword = parse(body)?;
                let identity = identity::set_password(
                    store,
                    uin,
                    user,
                    new.password.as_deref().map(|p| p.as_str()),
                )?;
                changed("SetUserPassword", identity)
            }
            ("GET", ["users", user, "policies"]) => {
                let identity = self.identity()?;
                identity.user(uin, user)?;
                let policies: Vec<Value> = identity
                    .user_policies(uin, user)
                    .into_iter()
                    .map(|p| policy_view(p, true))
                    .collect();
                ok("ListUserPolicies", json!({ "policies": policies }))
            }
            ("PUT" | "DELETE", ["users", user, "policies", policy]) => {
                let attach = method == "PUT";
                let identity = identity::set_attached(store, uin, user, policy, attach)?;
                changed(
                    if attach {
                        "AttachUserPolicy"
                    } else {
                        "DetachUserPolicy"
                    },
                    identity,
                )
            }
            ("GET", ["credentials"]) => {
                let identity = self.identity()?;
                let list: Vec<Value> = identity
                    .credentials
                    .values()
                    .filter(|c| c.account == uin)
                    .map(credential_view)
                    .collect();
                ok("ListCredentials", json!({ "credentials": list }))
            }
            ("POST", ["credentials"]) => {
                let new: NewCredential = parse(body)?;
                let user = match &new.user {
                    Some(user) => Some(self.user_id(uin, user)?),
                    None => None,
                };
                let (credential, secret_key, identity) =
                    identity::create_credential(store, seal, uin, user.as_deref(), now)?;
                self.install(&identity)?;
                let mut view = credential_view(&credential);
                view["secret_key"] = Value::String(secret_key.as_str().to_owned());
                ok("CreateCredential", view)
            }
            ("POST", ["credentials", id, verb @ ("enable" | "disable")]) => {
                let identity = identity::set_credential_enabled(store, uin, id, *verb == "enable")?;
                changed(
                    if *verb == "enable" {
                        "EnableCredential"
                    } else {
                        "DisableCredential"
                    },
                    identity,
                )
            }
            ("POST", ["credentials", id, "rotate"]) => {
                let (secret_key, identity) = identity::rotate_credential(store, seal, uin, id)?;
                self.install(&identity)?;
                if *id == account.secret_id && self.root_account()?.uin == uin {
                    self.rewrite_root_file(account, &secret_key);
                }
                ok(
                    "RotateCredential",
                    json!({ "secret_id": id, "secret_key": secret_key.as_str() }),
                )
            }
            ("DELETE", ["credentials", id]) => changed(
                "DeleteCredential",
                identity::delete_credential(store, uin, id)?,
            ),
            ("GET", ["policies"]) => {
                let identity = self.identity()?;
                let list: Vec<Value> = identity
                    .policies
                    .iter()
                    .filter(|p| p.account == uin)
                    .map(|p| policy_view(p, false))
                    .collect();
                ok("ListPolicies", json!({ "policies": list }))
            }
            ("POST", ["policies"]) => {
                let new: NewPolicy = parse(body)?;
                let policy = identity::create_policy(
                    store,
                    uin,
                    &new.name,
                    new.language,
                    &new.document,
                    now,
                )?;
                ok("CreatePolicy", policy_view(&policy, true))
            }
            ("GET", ["policies", name]) => {
                let identity = self.identity()?;
                let view = policy_view(identity.policy(uin, name)?, true);
                ok("ShowPolicy", view)
            }
            ("DELETE", ["policies", name]) => {
                changed("DeletePolicy", identity::delete_policy(store, uin, name)?)
            }
            _ => Err(AdminReply::error(
                404,
                "NotFound",
                format!(
                    "no admin operation is {method} {PREFIX}/accounts/{uin}/{}",
                    rest.join("/")
                ),
            )),
        }
    }

    /// Keeps `root-credentials.json`, where the operator was told to find the root credential,
    /// true after a rotation; the new key is also in the answer, so a failure is only logged.
    fn rewrite_root_file(&self, root: &Account, secret_key: &str) {
        let path = self.data_dir.join(bootstrap::CREDENTIALS_FILE);
        if !path.exists() {
            return;
        }
        if let Err(e) = bootstrap::write_root_file(&path, root, secret_key) {
            tracing::warn!(path = %path.display(), error = %e, "could not rewrite the root credentials file after rotating the root credential; the new key was shown to the operator");
        }
    }
}

/// Whether `token` is the operator's: its SHA-256 compared in constant time with the stored one.
/// No account credential can satisfy this: it is a different secret in another header. Needs
/// only the store, so a sealed node authenticates its operators too.
pub fn authenticate(store: &dyn Store, token: &str) -> Result<bool, IdentityError> {
    let Some(expected) = store.identity()?.operator_token_sha256 else {
        return Ok(false);
    };
    let presented = identity::hex_sha256(token.as_bytes());
    Ok(constant_time_eq(presented.as_bytes(), expected.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Makes the operator token when the store has none: written and synced to [`TOKEN_FILE`]
/// (mode 0600) before its hash is committed, so a token is never valid without being written
/// down. Answers the file when one was made.
pub fn ensure_operator_token(
    store: &dyn Store,
    data_dir: &std::path::Path,
) -> anyhow::Result<Option<PathBuf>> {
    if store.identity()?.operator_token_sha256.is_some() {
        return Ok(None);
    }
    let (token, path) = write_operator_token(data_dir)?;
    if !identity::init_operator_token(store, &token)? {
        // Another node of a shared store made the token first; this file names no token.
        std::fs::remove_file(&path)
            .map_err(|e| anyhow::anyhow!("removing {}: {e}", path.display()))?;
        return Ok(None);
    }
    tracing::info!(path = %path.display(), "made the operator's admin token; it is in this file");
    Ok(Some(path))
}

/// A new operator token, written and synced to [`TOKEN_FILE`] before anything commits it.
fn write_operator_token(
    data_dir: &std::path::Path,
) -> anyhow::Result<(Zeroizing<String>, PathBuf)> {
    let token = Zeroizing::new(format!("kmsadm-{}", *identity::random_alnum(43)?));
    let path = data_dir.join(TOKEN_FILE);
    bootstrap::write_synced(&path, format!("{}\n", *token).as_bytes())
        .map_err(|e| anyhow::anyhow!("writing the admin token to {}: {e}", path.display()))?;
    Ok((token, path))
}

/// Makes a new operator token, replacing any earlier one: written to [`TOKEN_FILE`] first, then
/// its hash committed.
pub fn issue_operator_token(
    store: &dyn Store,
    data_dir: &std::path::Path,
) -> anyhow::Result<PathBuf> {
    let (token, path) = write_operator_token(data_dir)?;
    identity::set_operator_token(store, &token)?;
    tracing::info!(path = %path.display(), "made the operator's admin token; it is in this file");
    Ok(path)
}

#[cfg(test)]
mod tests {
    use kms_core::ManualClock;
    use kms_core::testing::{MemorySeal, MemoryStore};

    use super::*;

    fn admin() -> (Admin, Arc<Directory>, Arc<MemoryStore>) {
        let store = Arc::new(MemoryStore::default());
        let seal = Arc::new(MemorySeal::generate());
        let directory = Arc::new(Directory::default());
        let keyring = kms_seal::keyring::Keyring::generate().unwrap();
        let rotation = RootKeyRotation::new(
            store.clone(),
            Arc::new(kms_seal::keyring::RootKeys::unsealed(keyring)),
            Arc::new(kms_seal::KeyRoot::new(
                kms_crypto::Aes256GcmKey::generate().unwrap(),
            )),
            std::time::Duration::ZERO,
        );
        let admin = Admin::new(
            store.clone(),
            seal,
            directory.clone(),
            Arc::new(ManualClock::new(1_700_000_000)),
            std::env::temp_dir(),
            rotation,
        );
        (admin, directory, store)
    }

    #[test]
    fn only_the_operator_token_authenticates() {
        let (_, _, store) = admin();
        let store = store.as_ref();
        assert!(!authenticate(store, "anything").unwrap(), "no token yet");
        identity::set_operator_token(store, "kmsadm-right").unwrap();
        assert!(authenticate(store, "kmsadm-right").unwrap());
        assert!(!authenticate(store, "kmsadm-wrong").unwrap());
        assert!(!authenticate(store, "").unwrap());
    }

    #[test]
    fn changes_reach_the_directory_at_once() {
        let (admin, directory, _) = admin();
        let account = admin.execute("POST", "/accounts", b"");
        assert_eq!(account.status, 200, "{}", account.body);
        let uin = account.body["uin"].as_u64().unwrap();
        let root_id = account.body["secret_id"].as_str().unwrap();
        assert!(directory.by_secret_id(root_id).is_some());
        let user = admin.execute(
            "POST",
            &format!("/accounts/{uin}/users"),
            br#"{"name":"app"}"#,
        );
        let user_id = user.body["id"].as_str().unwrap();
        let body = format!(r#"{{"user":"{user_id}"}}"#);
        let credential = admin.execute(
            "POST",
            &format!("/accounts/{uin}/credentials"),
            body.as_bytes(),
        );
        assert_eq!(credential.action, "CreateCredential");
        let sid = credential.body["secret_id"].as_str().unwrap();
        let principal = directory.by_secret_id(sid).unwrap();
        assert_eq!(principal.user.as_deref(), Some(user_id));
        let disabled = admin.execute(
            "POST",
            &format!("/accounts/{uin}/credentials/{sid}/disable"),
            b"",
        );
        assert_eq!(disabled.status, 200);
        assert!(directory.by_secret_id(sid).is_none());
        let listed = admin.execute("GET", &format!("/accounts/{uin}/credentials"), b"");
        assert!(!listed.body.to_string().contains("secret_key"));
    }

    #[test]
    fn refusals_carry_a_status_code_and_words() {
        let (admin, _, _) = admin();
        let missing = admin.execute("GET", "/accounts/42", b"");
        assert_eq!((missing.status, missing.code), (404, Some("NotFound")));
        let unknown = admin.execute("PATCH", "/nothing", b"");
        assert_eq!(unknown.status, 404);
        let account = admin.execute("POST", "/accounts", b"");
        let uin = account.body["uin"].as_u64().unwrap();
        let bad = admin.execute("POST", &format!("/accounts/{uin}/users"), b"{\"nom\":1}");
        assert_eq!((bad.status, bad.code), (400, Some("InvalidRequest")));
        assert!(
            bad.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("nom")
        );
    }
}
