//! Who may call: the users inside each account, their credentials and their stored permission
//! policies. All of it is one document ([`Identity`]) that the store replaces by revision, so
//! every rule across records (unique names, unique secret ids, a policy attached only while it
//! exists) is checked and written in one transaction.
//!
//! Every account also keeps the credential it was created with in its [`Account`] record;
//! [`migrate`] copies it here once (same secret id, same sealed bytes), after which this
//! document alone says which credentials work.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::accounts::{self, NewAccount, secret_aad};
use crate::model::{AccountId, base64_bytes, base64_option};
use crate::seal::Seal;
use crate::store::{Store, StoreError};

/// A document larger than this is refused: the vendors' own limit on a policy document.
/// Source: Tencent CAM's CreatePolicy `PolicyDocument` (6144 characters).
pub const MAX_POLICY_DOCUMENT_CHARS: usize = 6144;
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// How many times a change is retried after losing a race with another writer.
const MAX_ATTEMPTS: usize = 16;

/// The identity document.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Identity {
    pub revision: u64,
    #[serde(default)]
    pub accounts: BTreeMap<AccountId, AccountEntry>,
    /// By user id.
    #[serde(default)]
    pub users: BTreeMap<String, User>,
    /// By secret id.
    #[serde(default)]
    pub credentials: BTreeMap<String, Credential>,
    #[serde(default)]
    pub policies: Vec<Policy>,
    /// SHA-256 (hex) of the operator's admin token; the token itself is never stored.
    #[serde(default)]
    pub operator_token_sha256: Option<String>,
    /// The key Huawei IAM tokens are authenticated with, sealed under the root key: made once,
    /// kept with the store so every node that shares the store accepts the same tokens, and
    /// useless under any other root key.
    #[serde(
        default,
        with = "base64_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub sealed_token_key: Option<Vec<u8>>,
}

/// What the identity document knows of an account beyond its [`Account`] record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountEntry {
    pub enabled: bool,
}

/// A user inside an account: a Tencent sub-account, a Huawei IAM user.
#[derive(Clone, Serialize, Deserialize)]
pub struct User {
    /// Numeric, unique across accounts: the Tencent sub-account UIN and the Huawei user id.
    pub id: String,
    pub account: AccountId,
    /// Unique in the account.
    pub name: String,
    pub enabled: bool,
    /// PHC string of an Argon2id hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// Names of the account's policies attached to the user.
    #[serde(default)]
    pub policies: Vec<String>,
    pub created_at: u64,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("account", &self.account)
            .field("name", &self.name)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// A SecretId/SecretKey pair (a Huawei AK/SK) of a user, or of the account's root when `user`
/// is `None`.
#[derive(Clone, Serialize, Deserialize)]
pub struct Credential {
    pub secret_id: String,
    pub account: AccountId,
    #[serde(default)]
    pub user: Option<String>,
    /// The secret key, sealed under the root key (AAD binds the secret id).
    #[serde(with = "base64_bytes")]
    pub sealed_secret_key: Vec<u8>,
    pub enabled: bool,
    pub created_at: u64,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("secret_id", &self.secret_id)
            .field("account", &self.account)
            .field("user", &self.user)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// The language a policy document is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyLanguage {
    /// Tencent CAM.
    Cam,
    /// Huawei IAM.
    Iam,
}

impl From<PolicyLanguage> for kms_policy::Language {
    fn from(l: PolicyLanguage) -> Self {
        match l {
            PolicyLanguage::Cam => kms_policy::Language::Cam,
            PolicyLanguage::Iam => kms_policy::Language::Iam,
        }
    }
}

/// A named permission policy of an account, kept as the document text it was given.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Policy {
    pub account: AccountId,
    pub name: String,
    pub language: PolicyLanguage,
    pub document: String,
    pub created_at: u64,
}

/// Why an identity operation was refused, in words for the operator.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{0} was not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Exists(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the identity records kept changing under this request; try again")]
    Busy,
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
    #[error("a cryptographic operation (sealing, password hashing) failed: {0}")]
    Crypto(String),
    #[error("the operating system's random source failed")]
    Random,
}

impl From<crate::SealError> for IdentityError {
    fn from(e: crate::SealError) -> Self {
        IdentityError::Crypto(e.to_string())
    }
}

impl From<kms_crypto::random::RandomError> for IdentityError {
    fn from(_: kms_crypto::random::RandomError) -> Self {
        IdentityError::Random
    }
}

impl Identity {
    fn account_entry(&mut self, account: AccountId) -> Result<&mut AccountEntry, IdentityError> {
        self.accounts
            .get_mut(&account)
            .ok_or_else(|| IdentityError::NotFound(format!("account {account}")))
    }

    /// The user `id` of `account`.
    pub fn user(&self, account: AccountId, id: &str) -> Result<&User, IdentityError> {
        self.users
            .get(id)
            .filter(|u| u.account == account)
            .ok_or_else(|| IdentityError::NotFound(format!("user {id} in account {account}")))
    }

    fn user_mut(&mut self, account: AccountId, id: &str) -> Result<&mut User, IdentityError> {
        self.users
            .get_mut(id)
            .filter(|u| u.account == account)
            .ok_or_else(|| IdentityError::NotFound(format!("user {id} in account {account}")))
    }

    fn credential_mut(
        &mut self,
        account: AccountId,
        secret_id: &str,
    ) -> Result<&mut Credential, IdentityError> {
        self.credentials
            .get_mut(secret_id)
            .filter(|c| c.account == account)
            .ok_or_else(|| {
                IdentityError::NotFound(format!("credential {secret_id} in account {account}"))
            })
    }

    /// The policy `name` of `account`.
    pub fn policy(&self, account: AccountId, name: &str) -> Result<&Policy, IdentityError> {
        self.policies
            .iter()
            .find(|p| p.account == account && p.name == name)
            .ok_or_else(|| IdentityError::NotFound(format!("policy {name} in account {account}")))
    }

    /// The documents of the policies attached to a user, for the policy evaluator; none for
    /// an unknown user.
    pub fn user_policies(&self, account: AccountId, user: &str) -> Vec<&Policy> {
        let Ok(user) = self.user(account, user) else {
            return Vec::new();
        };
        user.policies
            .iter()
            .filter_map(|name| self.policy(account, name).ok())
            .collect()
    }

    /// Whether `secret_id` may sign requests now: the credential, its user and its account are
    /// all enabled.
    pub fn credential_usable(&self, credential: &Credential) -> bool {
        credential.enabled
            && self
                .accounts
                .get(&credential.account)
                .is_some_and(|a| a.enabled)
            && credential
                .user
                .as_ref()
                .is_none_or(|u| self.users.get(u).is_some_and(|u| u.enabled))
    }
}

/// Reads the identity document, applies `change` and writes it back in one transaction of the
/// store, again from a fresh read when another writer got there first.
pub fn change<T>(
    store: &dyn Store,
    mut change: impl FnMut(&mut Identity) -> Result<T, IdentityError>,
) -> Result<(T, Identity), IdentityError> {
    for _ in 0..MAX_ATTEMPTS {
        let mut identity = store.identity()?;
        let expected = identity.revision;
        let out = change(&mut identity)?;
        match store.replace_identity(expected, &identity) {
            Ok(()) => {
                identity.revision = expected + 1;
                return Ok((out, identity));
            }
            Err(StoreError::Conflict) => continue,
            Err(StoreError::AlreadyExists) => {
                return Err(IdentityError::Exists(
                    "a credential with that secret id".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(IdentityError::Busy)
}

/// Brings every account into the identity document, its creation credential with it; answers
/// whether anything was written. Runs at every start, and after an account is created.
pub fn migrate(store: &dyn Store) -> Result<bool, IdentityError> {
    let accounts = store.accounts()?;
    let current = store.identity()?;
    if accounts
        .iter()
        .all(|a| current.accounts.contains_key(&a.uin))
    {
        return Ok(false);
    }
    change(store, |identity| {
        for account in &accounts {
            if identity.accounts.contains_key(&account.uin) {
                continue;
            }
            identity
                .accounts
                .insert(account.uin, AccountEntry { enabled: true });
            identity.credentials.insert(
                account.secret_id.clone(),
                Credential {
                    secret_id: account.secret_id.clone(),
                    account: account.uin,
                    user: None,
                    sealed_secret_key: account.sealed_secret_key.clone(),
                    enabled: true,
                    created_at: account.created_at,
                },
            );
        }
        Ok(())
    })?;
    Ok(true)
}

/// `len` random characters from [A-Za-z0-9], without modulo bias.
pub fn random_alnum(len: usize) -> Result<Zeroizing<String>, IdentityError> {
    let mut out = Zeroizing::new(String::with_capacity(len));
    while out.len() < len {
        let bytes = kms_crypto::random::secret_bytes(64)?;
        for &byte in bytes.iter() {
            // 248 = 4 * 62: the tail is rejected so every character is equally likely.
            if byte < 248 && out.len() < len {
                out.push(ALNUM[usize::from(byte % 62)] as char);
            }
        }
    }
    Ok(out)
}

fn random_u64() -> Result<u64, IdentityError> {
    let mut b = [0u8; 8];
    kms_crypto::random::fill(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// A Huawei project id as this server makes them: 32 lowercase hex characters.
pub fn is_project_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A secret id an operator chooses: it travels inside the Authorization header, so it keeps to
/// a plain alphabet.
pub fn is_secret_id(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// A secret key an operator chooses: printable ASCII without spaces.
pub fn is_secret_key(s: &str) -> bool {
    (1..=256).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic())
}

/// A fresh secret id and key: 36 and 32 characters, the lengths of the vendor's own.
fn new_secret() -> Result<(String, Zeroizing<String>), IdentityError> {
    Ok((format!("AKID{}", *random_alnum(32)?), random_alnum(32)?))
}

/// A fresh account's identifiers and root credential, as created.
pub struct CreatedAccount {
    pub uin: AccountId,
    pub app_id: u64,
    pub project_id: String,
    pub secret_id: String,
    pub secret_key: Zeroizing<String>,
}

/// Creates an account with generated identifiers and a root credential.
pub fn create_account(
    store: &dyn Store,
    seal: &dyn Seal,
    now: u64,
) -> Result<CreatedAccount, IdentityError> {
    let (secret_id, secret_key) = new_secret()?;
    // Tencent account ids are 12-digit numbers starting with 1; app ids 10 digits starting 125.
    let new = NewAccount {
        uin: 100_000_000_000 + random_u64()? % 900_000_000_000,
        app_id: 1_250_000_000 + random_u64()? % 10_000_000,
        secret_id,
        secret_key,
        project_id: format!("{:016x}{:016x}", random_u64()?, random_u64()?),
    };
    accounts::create_account(store, seal, &new, now).map_err(|e| match e {
        crate::KmsError::InvalidParameter { .. } => {
            IdentityError::Exists("an account with that id".into())
        }
        other => IdentityError::Invalid(other.to_string()),
    })?;
    migrate(store)?;
    Ok(CreatedAccount {
        uin: new.uin,
        app_id: new.app_id,
        project_id: new.project_id,
        secret_id: new.secret_id,
        secret_key: new.secret_key,
    })
}

/// Enables or disables an account: a disabled account's credentials all stop working.
pub fn set_account_enabled(
    store: &dyn Store,
    account: AccountId,
    enabled: bool,
) -> Result<Identity, IdentityError> {
    migrate(store)?;
    change(store, |identity| {
        identity.account_entry(account)?.enabled = enabled;
        Ok(())
    })
    .map(|(_, identity)| identity)
}

/// Names of users and policies, in the alphabet Tencent CAM allows them (`A-Za-z0-9+=,.@_-`);
/// users' at most 64 characters, as CAM's sub-user names, policies' at most 128.
fn check_name(what: &str, name: &str, max: usize) -> Result<(), IdentityError> {
    if (1..=max).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
    {
        Ok(())
    } else {
        Err(IdentityError::Invalid(format!(
            "a {what} name is 1 to {max} characters from A-Z, a-z, 0-9 and + = , . @ _ -; got {name:?}"
        )))
    }
}

/// Creates an enabled user without credentials or policies.
pub fn create_user(
    store: &dyn Store,
    account: AccountId,
    name: &str,
    now: u64,
) -> Result<(User, Identity), IdentityError> {
    create_user_as(store, account, name, None, now)
}

/// [`create_user`] with a chosen id (`kmsd dev`'s fixtures): digits, as a sub-account UIN, and
/// no user's or account's id already.
pub fn create_user_as(
    store: &dyn Store,
    account: AccountId,
    name: &str,
    chosen_id: Option<&str>,
    now: u64,
) -> Result<(User, Identity), IdentityError> {
    check_name("user", name, 64)?;
    if let Some(id) = chosen_id
        && (id.is_empty() || id.len() > 20 || !id.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(IdentityError::Invalid(format!(
            "a user id is 1 to 20 digits; got {id:?}"
        )));
    }
    let accounts = store.accounts()?;
    change(store, |identity| {
        identity.account_entry(account)?;
        if identity
            .users
            .values()
            .any(|u| u.account == account && u.name == name)
        {
            return Err(IdentityError::Exists(format!(
                "a user named {name:?} in account {account}"
            )));
        }
        // The id doubles as a sub-account UIN, so it must not be any account's either.
        let free = |id: &str| {
            !identity.users.contains_key(id) && accounts.iter().all(|a| a.uin.to_string() != id)
        };
        let id = match chosen_id {
            Some(id) if free(id) => id.to_owned(),
            Some(id) => {
                return Err(IdentityError::Exists(format!(
                    "a user or account with id {id}"
                )));
            }
            None => loop {
                let candidate = (100_000_000_000 + random_u64()? % 900_000_000_000).to_string();
                if free(&candidate) {
                    break candidate;
                }
            },
        };
        let user = User {
            id,
            account,
            name: name.to_owned(),
            enabled: true,
            password_hash: None,
            policies: Vec::new(),
            created_at: now,
        };
        identity.users.insert(user.id.clone(), user.clone());
        Ok(user)
    })
}

/// Enables or disables a user: a disabled user's credentials stop working.
pub fn set_user_enabled(
    store: &dyn Store,
    account: AccountId,
    user: &str,
    enabled: bool,
) -> Result<Identity, IdentityError> {
    change(store, |identity| {
        identity.user_mut(account, user)?.enabled = enabled;
        Ok(())
    })
    .map(|(_, identity)| identity)
}

/// Deletes a user and every credential of theirs.
pub fn delete_user(
    store: &dyn Store,
    account: AccountId,
    user: &str,
) -> Result<Identity, IdentityError> {
    change(store, |identity| {
        identity.user(account, user)?;
        identity.users.remove(user);
        identity
            .credentials
            .retain(|_, c| c.user.as_deref() != Some(user));
        Ok(())
    })
    .map(|(_, identity)| identity)
}

/// Gives a user a password (for Huawei tokens), stored as an Argon2id hash with a random salt;
/// `None` removes it.
pub fn set_password(
    store: &dyn Store,
    account: AccountId,
    user: &str,
    password: Option<&str>,
) -> Result<Identity, IdentityError> {
    let hash = match password {
        Some(p) => {
            if !(8..=128).contains(&p.chars().count()) {
                return Err(IdentityError::Invalid(
                    "a password is 8 to 128 characters".into(),
                ));
            }
            Some(hash_password(p)?)
        }
        None => None,
    };
    change(store, |identity| {
        identity.user_mut(account, user)?.password_hash = hash.clone();
        Ok(())
    })
    .map(|(_, identity)| identity)
}

fn hash_password(password: &str) -> Result<String, IdentityError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    kms_crypto::random::fill(&mut salt)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| IdentityError::Crypto(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| IdentityError::Crypto(e.to_string()))
}

/// Whether `password` is the one whose hash is `hash` (in constant time, as argon2 compares).
pub fn verify_password(hash: &str, password: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Creates an enabled credential for a user, or for the account's root when `user` is `None`;
/// answers it with its secret key, which is shown this once.
pub fn create_credential(
    store: &dyn Store,
    seal: &dyn Seal,
    account: AccountId,
    user: Option<&str>,
    now: u64,
) -> Result<(Credential, Zeroizing<String>, Identity), IdentityError> {
    create_credential_as(store, seal, account, user, new_secret()?, now)
}

/// [`create_credential`] with a chosen secret id and key (`kmsd dev`'s fixtures).
pub fn create_credential_as(
    store: &dyn Store,
    seal: &dyn Seal,
    account: AccountId,
    user: Option<&str>,
    (secret_id, secret_key): (String, Zeroizing<String>),
    now: u64,
) -> Result<(Credential, Zeroizing<String>, Identity), IdentityError> {
    migrate(store)?;
    let sealed_secret_key = seal.seal(&secret_aad(&secret_id), secret_key.as_bytes())?;
    let (credential, identity) = change(store, |identity| {
        identity.account_entry(account)?;
        if let Some(user) = user {
            identity.user(account, user)?;
        }
        if identity.credentials.contains_key(&secret_id) {
            return Err(IdentityError::Exists(
                "a credential with that secret id".into(),
            ));
        }
        let credential = Credential {
            secret_id: secret_id.clone(),
            account,
            user: user.map(str::to_owned),
            sealed_secret_key: sealed_secret_key.clone(),
            enabled: true,
            created_at: now,
        };
        identity
            .credentials
            .insert(secret_id.clone(), credential.clone());
        Ok(credential)
    })?;
    Ok((credential, secret_key, identity))
}

/// Enables or disables a credential.
pub fn set_credential_enabled(
    store: &dyn Store,
    account: AccountId,
    secret_id: &str,
    enabled: bool,
) -> Result<Identity, IdentityError> {
    migrate(store)?;
    change(store, |identity| {
        identity.credential_mut(account, secret_id)?.enabled = enabled;
        Ok(())
    })
    .map(|(_, identity)| identity)
}

/// Gives a credential a new secret key under the same secret id; the old key stops working at
/// once. Answers the new key, shown this once.
pub fn rotate_credential(
    store: &dyn Store,
    seal: &dyn Seal,
    account: AccountId,
    secret_id: &str,
) -> Result<(Zeroizing<String>, Identity), IdentityError> {
    migrate(store)?;
    let secret_key = random_alnum(32)?;
    let sealed = seal.seal(&secret_aad(secret_id), secret_key.as_bytes())?;
    let (_, identity) = change(store, |identity| {
        identity
            .credential_mut(account, secret_id)?
            .sealed_secret_key = sealed.clone();
        Ok(())
    })?;
    Ok((secret_key, identity))
}

/// Deletes a credential; its secret id is never reused.
pub fn delete_credential(
    store: &dyn Store,
    account: AccountId,
    secret_id: &str,
) -> Result<Identity, IdentityError> {
    migrate(store)?;
    change(store, |identity| {
        identity.credential_mut(account, secret_id)?;
        identity.credentials.remove(secret_id);
        Ok(())
    })
    .map(|(_, identity)| identity)
}

/// Checks what can be checked of a document without knowing its language's rules: it is a JSON
/// object of at most [`MAX_POLICY_DOCUMENT_CHARS`] characters.
fn check_document(document: &str) -> Result<(), IdentityError> {
    if document.chars().count() > MAX_POLICY_DOCUMENT_CHARS {
        return Err(IdentityError::Invalid(format!(
            "a policy document is at most {MAX_POLICY_DOCUMENT_CHARS} characters"
        )));
    }
    match serde_json::from_str::<serde_json::Value>(document) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        Ok(_) => Err(IdentityError::Invalid(
            "a policy document is a JSON object".into(),
        )),
        Err(e) => Err(IdentityError::Invalid(format!(
            "the policy document is not valid JSON: {e}"
        ))),
    }
}

/// Whether a policy of this name and document can be stored: the name's alphabet, the
/// document's size, JSON, and what the language's parser accepts.
pub fn check_policy(
    name: &str,
    language: PolicyLanguage,
    document: &str,
) -> Result<(), IdentityError> {
    check_name("policy", name, 128)?;
    check_document(document)?;
    kms_policy::parse(language.into(), document)
        .map_err(|e| IdentityError::Invalid(format!("the policy document is refused: {e}")))?;
    Ok(())
}

/// Stores a named policy document in an account.
pub fn create_policy(
    store: &dyn Store,
    account: AccountId,
    name: &str,
    language: PolicyLanguage,
    document: &str,
    now: u64,
) -> Result<Policy, IdentityError> {
    check_policy(name, language, document)?;
    migrate(store)?;
    change(store, |identity| {
        identity.account_entry(account)?;
        if identity.policy(account, name).is_ok() {
            return Err(IdentityError::Exists(format!(
                "a policy named {name:?} in account {account}"
            )));
        }
        let policy = Policy {
            account,
            name: name.to_owned(),
            language,
            document: document.to_owned(),
            created_at: now,
        };
        identity.policies.push(policy.clone());
        Ok(policy)
    })
    .map(|(policy, _)| policy)
}

/// Deletes a policy that no user has attached.
pub fn delete_policy(
    store: &dyn Store,
    account: AccountId,
    name: &str,
) -> Result<Identity, IdentityError> {
    change(store, |identity| {
        identity.policy(account, name)?;
        if let Some(user) = identity
            .users
            .values()
            .find(|u| u.account == account && u.policies.iter().any(|p| p == name))
        {
            return Err(IdentityError::Invalid(format!(
                "policy {name:?} is attached to user {} ({}); detach it first",
                user.id, user.name
            )));
        }
        identity
            .policies
            .retain(|p| !(p.account == account && p.name == name));
        Ok(())
    })
    .map(|(_, identity)| identity)
}

/// Attaches (or, with `attach` false, detaches) a policy to a user of the same account.
pub fn set_attached(
    store: &dyn Store,
    account: AccountId,
    user: &str,
    policy: &str,
    attach: bool,
) -> Result<Identity, IdentityError> {
    change(store, |identity| {
        identity.policy(account, policy)?;
        let user = identity.user_mut(account, user)?;
        let attached = user.policies.iter().any(|p| p == policy);
        match (attach, attached) {
            (true, false) => user.policies.push(policy.to_owned()),
            (false, true) => user.policies.retain(|p| p != policy),
            (true, true) => {
                return Err(IdentityError::Exists(format!(
                    "policy {policy:?} on user {}",
                    user.id
                )));
            }
            (false, false) => {
                return Err(IdentityError::NotFound(format!(
                    "policy {policy:?} on user {}",
                    user.id
                )));
            }
        }
        Ok(())
    })
    .map(|(_, identity)| identity)
}

/// Records the hash of the operator's admin token, replacing any earlier one.
pub fn set_operator_token(store: &dyn Store, token: &str) -> Result<(), IdentityError> {
    let hash = hex_sha256(token.as_bytes());
    change(store, |identity| {
        identity.operator_token_sha256 = Some(hash.clone());
        Ok(())
    })
    .map(drop)
}

/// Stores the operator token's hash unless the store has one: answers whether this token is
/// the store's now (nodes starting together over one shared store make one token between them).
pub fn init_operator_token(store: &dyn Store, token: &str) -> Result<bool, IdentityError> {
    let hash = hex_sha256(token.as_bytes());
    change(store, |identity| {
        Ok(match identity.operator_token_sha256 {
            Some(_) => false,
            None => {
                identity.operator_token_sha256 = Some(hash.clone());
                true
            }
        })
    })
    .map(|(set, _)| set)
}

pub(crate) const TOKEN_KEY_AAD: &[u8] = b"kms/huawei-token-key/v1";

/// The key Huawei IAM tokens are authenticated with: the stored one, or 32 fresh random bytes
/// stored sealed on first use (a concurrent first use by another node wins, and both then use
/// its key).
pub fn token_key(store: &dyn Store, seal: &dyn Seal) -> Result<Zeroizing<[u8; 32]>, IdentityError> {
    let sealed = match store.identity()?.sealed_token_key {
        Some(sealed) => sealed,
        None => {
            let fresh = kms_crypto::random::secret_bytes(32)?;
            let sealed = seal.seal(TOKEN_KEY_AAD, &fresh)?;
            change(store, |identity| {
                Ok(identity
                    .sealed_token_key
                    .get_or_insert_with(|| sealed.clone())
                    .clone())
            })?
            .0
        }
    };
    let key = seal.unseal(TOKEN_KEY_AAD, &sealed)?;
    let mut out = Zeroizing::new([0u8; 32]);
    if key.len() != out.len() {
        return Err(IdentityError::Crypto(
            "the stored token key is not 32 bytes".into(),
        ));
    }
    out.copy_from_slice(&key);
    Ok(out)
}

/// Checks a password against a user's hash, or, when there is none (no such user, no password
/// set), against a hash of a random password made once, so the answer takes as long either way
/// and is false.
pub fn check_password(hash: Option<&str>, password: &str) -> bool {
    static DECOY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    match hash {
        Some(hash) => verify_password(hash, password),
        None => {
            let decoy =
                DECOY.get_or_init(|| random_alnum(32).ok().and_then(|p| hash_password(&p).ok()));
            if let Some(decoy) = decoy {
                verify_password(decoy, password);
            }
            false
        }
    }
}

/// SHA-256 of `data` in lowercase hex.
pub fn hex_sha256(data: &[u8]) -> String {
    kms_crypto::digest::sha256(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests;
