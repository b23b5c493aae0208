//! IAM's `POST /v3/auth/tokens` with the password method (the SDK's
//! KeystoneCreateUserTokenByPassword), for users an operator gave a password, and the check of
//! the `X-Auth-Token` the KMS routes accept.
//!
//! The domain is the account: its id (the account id, in decimal) names it as `domain.id` and,
//! accounts having no other name, as `domain.name`. Tokens are project-scoped, a project named
//! by its id or by its name (the region). Every request that names a user costs exactly one
//! password check, against a decoy hash when there is no such user or they have no password,
//! so a wrong password and an unknown user answer alike in content and time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use kms_core::accounts::{Directory, Principal, TokenUser};
use kms_core::identity::check_password;
use kms_core::shared::SharedState;
use kms_core::{AccountId, StoreError};

use crate::projects;
use crate::tokens::{TokenClaims, TokenKey, password_fingerprint};

/// The operation's name, as the SDK calls it.
pub const ACTION: &str = "KeystoneCreateUserTokenByPassword";
/// The largest body a token request may have: a user name, a password and a scope fit in a
/// few hundred bytes, and the body is read before anyone is authenticated.
pub const MAX_BODY_BYTES: usize = 8 * 1024;

/// Whether a request asks for a token.
pub fn issues_token(method: &str, path: &str) -> bool {
    method == "POST" && path == "/v3/auth/tokens"
}

/// An IAM refusal: Keystone's `{"error": {"code", "message", "title"}}`, which the vendor's
/// IAM answers (and the SDK reads as error code and message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamError {
    pub status: u16,
    pub message: &'static str,
}

impl IamError {
    const fn bad(message: &'static str) -> Self {
        Self {
            status: 400,
            message,
        }
    }

    /// The one answer to a wrong password, an unknown user or domain, and a user without a
    /// password (the vendor's message).
    pub const WRONG: Self = Self {
        status: 401,
        message: "The username or password is wrong.",
    };

    /// A login locked after too many wrong passwords (any login named so, whether or not such
    /// a user exists).
    pub const LOCKED: Self = Self {
        status: 401,
        message: "Too many wrong passwords: this login is locked for 15 minutes.",
    };

    /// A source address that asks for tokens faster than the server checks passwords for it.
    pub const TOO_MANY: Self = Self {
        status: 429,
        message: "Too many token requests from this address; try again in a few seconds.",
    };

    /// A failure of the server's own.
    pub const INTERNAL: Self = Self {
        status: 500,
        message: "An internal error occurred.",
    };

    /// The shared store that counts failed logins cannot be reached: no password is checked,
    /// or none is answered, until it can (see [`Tokens::with_shared_state`]).
    pub const UNAVAILABLE: Self = Self {
        status: 503,
        message: "The service is temporarily unavailable; try again later.",
    };

    /// A body larger than [`MAX_BODY_BYTES`].
    pub const TOO_LARGE: Self = Self {
        status: 413,
        message: "The request body is too large.",
    };

    pub fn code(&self) -> &'static str {
        match self.status {
            400 => "400",
            401 => "401",
            413 => "413",
            429 => "429",
            503 => "503",
            _ => "500",
        }
    }

    fn title(&self) -> &'static str {
        match self.status {
            400 => "Bad Request",
            401 => "Unauthorized",
            413 => "Request Entity Too Large",
            429 => "Too Many Requests",
            503 => "Service Unavailable",
            _ => "Internal Server Error",
        }
    }

    pub fn body(&self) -> Vec<u8> {
        let body = json!({ "error": {
            "code": self.status,
            "message": self.message,
            "title": self.title(),
        }});
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

#[derive(Deserialize)]
struct Request {
    auth: Auth,
}

#[derive(Deserialize)]
struct Auth {
    identity: IdentityPart,
    scope: Option<Scope>,
}

#[derive(Deserialize)]
struct IdentityPart {
    methods: Vec<String>,
    password: Option<PasswordPart>,
}

#[derive(Deserialize)]
struct PasswordPart {
    user: UserPart,
}

#[derive(Deserialize)]
struct UserPart {
    id: Option<String>,
    name: Option<String>,
    password: Zeroizing<String>,
    domain: Option<NamedRef>,
}

#[derive(Deserialize)]
struct NamedRef {
    id: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct Scope {
    project: Option<NamedRef>,
}

/// Wrong passwords a login may give within [`LOCKOUT_SECS`] before it is locked for as long;
/// the vendor's login policy allows 3 to 10 failures in 15 to 60 minutes and locks for 15 to
/// 1440, and the least strict of those keeps a mistyping person from locking themselves out.
pub const MAX_FAILURES: u32 = 10;
pub const LOCKOUT_SECS: u64 = 15 * 60;
/// Logins whose failures are remembered at once; past it the stalest are forgotten, which
/// gives an attacker who pays for that many password checks a few more guesses, not a way to
/// lock everyone out.
const MAX_TRACKED: usize = 1 << 16;

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    /// When the first failure of the current window was.
    since: u64,
}

impl Failures {
    fn current(&self, now: u64) -> bool {
        now < self.since.saturating_add(LOCKOUT_SECS)
    }

    fn locked(&self, now: u64) -> bool {
        self.current(now) && self.count >= MAX_FAILURES
    }
}

/// Failed logins, by the SHA-256 of the login as presented (so a name that is no user locks
/// the same way, and a long name costs no more memory than a short one).
enum Lockouts {
    /// In this process: a single node.
    Local(LocalLockouts),
    /// In the state every node over one store shares: ten wrong passwords are ten across the
    /// cluster. The store bounds it by the window ([`SharedState::forget_expired`]), not by
    /// [`MAX_TRACKED`].
    Shared(Arc<dyn SharedState>),
}

impl Lockouts {
    fn locked(&self, login: &[u8; 32], now: u64) -> Result<bool, StoreError> {
        match self {
            Lockouts::Local(local) => Ok(local.locked(login, now)),
            Lockouts::Shared(state) => {
                Ok(state.login_failures(login, now, LOCKOUT_SECS)? >= MAX_FAILURES)
            }
        }
    }

    fn failed(&self, login: &[u8; 32], now: u64) -> Result<(), StoreError> {
        match self {
            Lockouts::Local(local) => local.failed(login, now),
            Lockouts::Shared(state) => {
                state.login_failed(login, now, LOCKOUT_SECS)?;
            }
        }
        Ok(())
    }

    fn succeeded(&self, login: &[u8; 32]) -> Result<(), StoreError> {
        match self {
            Lockouts::Local(local) => local.succeeded(login),
            Lockouts::Shared(state) => state.login_succeeded(login)?,
        }
        Ok(())
    }
}

/// Failed logins in this process, at most [`MAX_TRACKED`] of them.
#[derive(Default)]
struct LocalLockouts {
    by_login: Mutex<HashMap<[u8; 32], Failures>>,
}

impl LocalLockouts {
    fn locked(&self, login: &[u8; 32], now: u64) -> bool {
        let map = self.by_login.lock().unwrap_or_else(|e| e.into_inner());
        map.get(login).is_some_and(|f| f.locked(now))
    }

    fn failed(&self, login: &[u8; 32], now: u64) {
        let mut map = self.by_login.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(login) {
            map.retain(|_, f| f.current(now));
            if map.len() >= MAX_TRACKED
                && let Some(stalest) = map.iter().min_by_key(|(_, f)| f.since).map(|(k, _)| *k)
            {
                map.remove(&stalest);
            }
        }
        let entry = map.entry(*login).or_insert(Failures {
            count: 0,
            since: now,
        });
        if !entry.current(now) {
            *entry = Failures {
                count: 0,
                since: now,
            };
        }
        entry.count = entry.count.saturating_add(1);
    }

    fn succeeded(&self, login: &[u8; 32]) {
        let mut map = self.by_login.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(login);
    }
}

/// Who the body names, before any password is checked.
struct Login {
    user: UserRef,
    password: Zeroizing<String>,
    project: ProjectRef,
}

enum UserRef {
    Id(String),
    Name {
        domain: Option<AccountId>,
        name: String,
    },
}

impl UserRef {
    /// The login as presented, for counting its failures.
    fn login(&self) -> [u8; 32] {
        let text = match self {
            UserRef::Id(id) => format!("id:{id}"),
            UserRef::Name {
                domain: Some(domain),
                name,
            } => format!("name:{domain}:{name}"),
            UserRef::Name { domain: None, name } => format!("name:-:{name}"),
        };
        kms_crypto::digest::sha256(text.as_bytes())
    }
}

enum ProjectRef {
    Id(String),
    Name(String),
}

/// A domain reference: the account id, given as `id` or `name` (both must agree). A reference
/// to no account is `None`, answered as a wrong password once the password is checked.
fn domain_of(domain: &NamedRef) -> Option<AccountId> {
    let parse = |s: &Option<String>| s.as_deref().map(|s| s.parse::<AccountId>().ok());
    match (parse(&domain.id), parse(&domain.name)) {
        (Some(id), Some(name)) if id == name => id,
        (Some(_), Some(_)) => None,
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => None,
    }
}

fn parse(body: &[u8]) -> Result<Login, IamError> {
    let request: Request = serde_json::from_slice(body)
        .map_err(|_| IamError::bad("The request body is not a valid token request."))?;
    let auth = request.auth;
    if auth.identity.methods != ["password"] {
        return Err(IamError::bad(
            "Only the password method is supported: identity.methods must be [\"password\"].",
        ));
    }
    let user = auth
        .identity
        .password
        .ok_or(IamError::bad("identity.password is required."))?
        .user;
    let user_ref = match (user.id, user.name) {
        (Some(id), _) => UserRef::Id(id),
        (None, Some(name)) => {
            let domain = user
                .domain
                .as_ref()
                .filter(|d| d.id.is_some() || d.name.is_some())
                .ok_or(IamError::bad(
                    "A user named by name needs its domain (domain.id or domain.name).",
                ))?;
            UserRef::Name {
                domain: domain_of(domain),
                name,
            }
        }
        (None, None) => return Err(IamError::bad("The user needs an id or a name.")),
    };
    let project = auth
        .scope
        .and_then(|s| s.project)
        .and_then(|p| match (p.id, p.name) {
            (Some(id), _) => Some(ProjectRef::Id(id)),
            (None, Some(name)) => Some(ProjectRef::Name(name)),
            (None, None) => None,
        })
        .ok_or(IamError::bad(
            "Tokens are project-scoped here: give scope.project with an id or a name.",
        ))?;
    Ok(Login {
        user: user_ref,
        password: user.password,
        project,
    })
}

/// A token issued: the token itself (for `X-Subject-Token`), its claims and the answer's body.
pub struct Issued {
    pub token: Zeroizing<String>,
    pub claims: TokenClaims,
    /// The region of the project the token is scoped to.
    pub region: String,
    pub body: Vec<u8>,
}

/// What issuing and accepting tokens needs.
pub struct Tokens {
    key: TokenKey,
    lifetime_secs: u64,
    lockouts: Lockouts,
}

impl Tokens {
    /// Also makes the decoy hash now, so that the first request naming an unknown user is not
    /// the one that pays for it.
    pub fn new(key: TokenKey, lifetime_secs: u64) -> Self {
        check_password(None, "");
        Self {
            key,
            lifetime_secs,
            lockouts: Lockouts::Local(LocalLockouts::default()),
        }
    }

    /// Counts failed logins in the state every node over one store shares instead of this
    /// process, with the same limits ([`MAX_FAILURES`] in [`LOCKOUT_SECS`]) and answers.
    ///
    /// A request whose failures the store cannot read or count is refused (fail closed) with
    /// 503 (500 for a store failure other than unavailability), and no token is issued:
    /// - when the lock cannot be read, before any password is checked, so no guess is made;
    /// - when the outcome of the password check cannot be recorded (a failure counted, or a
    ///   success's failures forgotten), whether the password was right or wrong: the answer
    ///   is the same either way, so a guess the store did not count tells nothing.
    pub fn with_shared_state(mut self, state: Arc<dyn SharedState>) -> Self {
        self.lockouts = Lockouts::Shared(state);
        self
    }

    /// Answers a token request; blocks for the password check (Argon2), so it runs on the
    /// blocking pool. The account and user it found, if any, are for the audit trail.
    pub fn issue(
        &self,
        directory: &Directory,
        regions: &[String],
        body: &[u8],
        query: &str,
        now: u64,
    ) -> (Result<Issued, IamError>, Option<(AccountId, String)>) {
        let login = match parse(body) {
            Ok(login) => login,
            Err(e) => return (Err(e), None),
        };
        let user = match &login.user {
            UserRef::Id(id) => directory.user(id),
            UserRef::Name { domain, name } => {
                domain.and_then(|account| directory.user_named(account, name))
            }
        };
        let hash = user.as_ref().and_then(|u| u.password_hash.as_deref());
        let found = user.as_ref().map(|u| {
            let p = &u.principal;
            (p.account, p.user.clone().unwrap_or_default())
        });
        let presented = login.user.login();
        match self.lockouts.locked(&presented, now) {
            Ok(false) => {}
            Ok(true) => return (Err(IamError::LOCKED), found),
            Err(e) => return (Err(uncounted(e)), found),
        }
        let right = check_password(hash, &login.password);
        let recorded = if right {
            self.lockouts.succeeded(&presented)
        } else {
            self.lockouts.failed(&presented, now)
        };
        if let Err(e) = recorded {
            return (Err(uncounted(e)), found);
        }
        if !right {
            return (Err(IamError::WRONG), found);
        }
        let (Some(user), Some(hash)) = (&user, hash) else {
            return (Err(IamError::WRONG), found);
        };
        if !user.enabled {
            return (
                Err(IamError {
                    status: 401,
                    message: "The user or its account is disabled.",
                }),
                found,
            );
        }
        let (project_id, region) = match resolve_project(&user.principal, regions, &login.project) {
            Some(found) => found,
            None => {
                return (
                    Err(IamError::bad("The project is not one of the domain's.")),
                    found,
                );
            }
        };
        let claims = TokenClaims {
            account: user.principal.account,
            user: user.principal.user.clone(),
            project_id,
            issued_at: now,
            expires_at: now.saturating_add(self.lifetime_secs),
            password: password_fingerprint(hash),
        };
        let token = Zeroizing::new(self.key.issue(&claims));
        let nocatalog = form_urlencoded::parse(query.as_bytes())
            .any(|(k, v)| k == "nocatalog" && !v.is_empty());
        let body = token_body(user, &claims, &region, nocatalog);
        (
            Ok(Issued {
                token,
                claims,
                region,
                body,
            }),
            found,
        )
    }

    /// The principal an `X-Auth-Token` speaks for and the project it is scoped to, if the
    /// token is one of ours, unexpired, and its user still exists, is enabled (with their
    /// account) and has the password the token was issued under.
    pub fn accept(
        &self,
        directory: &Directory,
        token: &str,
        now: u64,
    ) -> Option<(std::sync::Arc<Principal>, String)> {
        let claims = self.key.verify(token, now).ok()?;
        let user = directory.user(claims.user.as_deref()?)?;
        let current = user.password_hash.as_deref().map(password_fingerprint);
        (user.enabled
            && user.principal.account == claims.account
            && current.as_deref() == Some(claims.password.as_str()))
        .then(|| (user.principal.clone(), claims.project_id))
    }
}

/// The refusal of a token request whose failed logins the shared store could not read or count.
fn uncounted(e: StoreError) -> IamError {
    tracing::error!(error = %e, "failed logins could not be counted; token request refused");
    match e {
        StoreError::Unavailable(_) => IamError::UNAVAILABLE,
        _ => IamError::INTERNAL,
    }
}

fn resolve_project(
    principal: &Principal,
    regions: &[String],
    project: &ProjectRef,
) -> Option<(String, String)> {
    match project {
        ProjectRef::Id(id) => projects::region_of(&principal.project_id, regions, id)
            .map(|region| (id.clone(), region.clone())),
        ProjectRef::Name(name) => regions.iter().find(|r| *r == name).map(|region| {
            (
                projects::project_id(&principal.project_id, regions, region),
                region.clone(),
            )
        }),
    }
}

/// The vendor's `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
fn timestamp(secs: u64) -> String {
    let mut text = kms_core::utc_date_time(secs);
    text.truncate(text.len() - 1);
    text.push_str(".000000Z");
    text
}

/// The answer's body (the SDK's TokenResult): who, where, until when. The roles are the
/// user's attached policies; the catalog is empty, this server being the one endpoint.
fn token_body(user: &TokenUser, claims: &TokenClaims, region: &str, nocatalog: bool) -> Vec<u8> {
    let domain = json!({
        "id": claims.account.to_string(),
        "name": claims.account.to_string(),
    });
    let roles: Vec<Value> = user
        .policy_names
        .iter()
        .map(|name| json!({ "id": name, "name": name }))
        .collect();
    let mut token = json!({
        "expires_at": timestamp(claims.expires_at),
        "issued_at": timestamp(claims.issued_at),
        "methods": ["password"],
        "user": {
            "id": claims.user,
            "name": user.name,
            "domain": domain,
            "password_expires_at": "",
        },
        "project": {
            "id": claims.project_id,
            "name": region,
            "domain": domain,
        },
        "roles": roles,
    });
    if !nocatalog {
        token["catalog"] = json!([]);
    }
    serde_json::to_vec(&json!({ "token": token })).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kms_core::identity::{self, CreatedAccount};
    use kms_core::testing::{FailingSharedState, MemorySeal, MemorySharedState, MemoryStore};

    const PASSWORD: &str = "a long enough password";
    const NOW: u64 = 1_750_000_000;

    struct Fixture {
        store: MemoryStore,
        seal: MemorySeal,
        directory: Directory,
        account: CreatedAccount,
        user: String,
        tokens: Tokens,
        regions: Vec<String>,
    }

    impl Fixture {
        fn new() -> Self {
            let store = MemoryStore::default();
            let seal = MemorySeal::generate();
            let account = identity::create_account(&store, &seal, 0).unwrap();
            let (user, _) = identity::create_user(&store, account.uin, "alice", 0).unwrap();
            identity::set_password(&store, account.uin, &user.id, Some(PASSWORD)).unwrap();
            let directory = Directory::load(&store, &seal).unwrap();
            let key = identity::token_key(&store, &seal).unwrap();
            Fixture {
                store,
                seal,
                directory,
                account,
                user: user.id,
                tokens: Tokens::new(TokenKey::new(key), 3600),
                regions: vec!["ap-guangzhou".into(), "ap-shanghai".into()],
            }
        }

        fn body(&self, user: Value, project: Value) -> Vec<u8> {
            serde_json::to_vec(&json!({"auth": {
                "identity": {"methods": ["password"], "password": {"user": user}},
                "scope": {"project": project},
            }}))
            .unwrap()
        }

        fn by_name(&self, password: &str) -> Vec<u8> {
            self.body(
                json!({"name": "alice", "password": password,
                       "domain": {"name": self.account.uin.to_string()}}),
                json!({"name": "ap-guangzhou"}),
            )
        }

        fn issue(&self, body: &[u8]) -> Result<Issued, IamError> {
            self.tokens
                .issue(&self.directory, &self.regions, body, "", NOW)
                .0
        }

        fn reload(&self) {
            self.directory.reload(&self.store, &self.seal).unwrap();
        }
    }

    #[test]
    fn a_password_issues_a_token_the_routes_accept_until_it_expires() {
        let f = Fixture::new();
        let issued = f.issue(&f.by_name(PASSWORD)).unwrap();
        assert_eq!(issued.claims.user.as_deref(), Some(f.user.as_str()));
        assert_eq!(issued.claims.project_id, f.account.project_id);
        assert_eq!(issued.claims.expires_at, NOW + 3600);
        assert_eq!(issued.region, "ap-guangzhou");
        let body: Value = serde_json::from_slice(&issued.body).unwrap();
        assert_eq!(body["token"]["issued_at"], "2025-06-15T15:06:40.000000Z");
        assert_eq!(body["token"]["expires_at"], "2025-06-15T16:06:40.000000Z");
        assert_eq!(body["token"]["user"]["name"], "alice");
        assert_eq!(body["token"]["project"]["name"], "ap-guangzhou");
        assert_eq!(body["token"]["catalog"], json!([]));
        assert!(!String::from_utf8_lossy(&issued.body).contains(PASSWORD));

        let (principal, project) = f.tokens.accept(&f.directory, &issued.token, NOW).unwrap();
        assert_eq!(principal.user.as_deref(), Some(f.user.as_str()));
        assert_eq!(principal.account, f.account.uin);
        assert_eq!(project, f.account.project_id);
        assert!(
            f.tokens
                .accept(&f.directory, &issued.token, NOW + 3599)
                .is_some()
        );
        assert!(
            f.tokens
                .accept(&f.directory, &issued.token, NOW + 3600)
                .is_none()
        );
    }

    #[test]
    fn wrong_passwords_unknown_users_and_users_without_passwords_answer_alike() {
        let f = Fixture::new();
        identity::create_user(&f.store, f.account.uin, "bob", 0).unwrap();
        f.reload();
        let uin = f.account.uin.to_string();
        let project = json!({"name": "ap-guangzhou"});
        for body in [
            f.by_name("not the password"),
            f.body(
                json!({"name": "nobody", "password": PASSWORD, "domain": {"name": uin}}),
                project.clone(),
            ),
            f.body(
                json!({"name": "bob", "password": PASSWORD, "domain": {"id": uin}}),
                project.clone(),
            ),
            f.body(
                json!({"name": "alice", "password": PASSWORD, "domain": {"name": "1"}}),
                project.clone(),
            ),
            f.body(
                json!({"name": "alice", "password": PASSWORD,
                       "domain": {"name": uin, "id": "100000000001"}}),
                project.clone(),
            ),
            f.body(
                json!({"id": "424242424242", "password": PASSWORD}),
                project.clone(),
            ),
        ] {
            assert_eq!(f.issue(&body).err(), Some(IamError::WRONG));
        }
    }

    #[test]
    fn bad_bodies_are_refused_before_a_password_is_checked() {
        let f = Fixture::new();
        let uin = f.account.uin.to_string();
        let user = json!({"name": "alice", "password": PASSWORD, "domain": {"name": uin}});
        let bodies = [
            b"{".to_vec(),
            b"[]".to_vec(),
            br#"{"auth": {"identity": {"methods": ["token"]}}}"#.to_vec(),
            br#"{"auth": {"identity": {"methods": ["password"]}}}"#.to_vec(),
            f.body(
                json!({"password": PASSWORD}),
                json!({"name": "ap-guangzhou"}),
            ),
            f.body(
                json!({"name": "alice", "password": PASSWORD}),
                json!({"name": "ap-guangzhou"}),
            ),
            f.body(user.clone(), json!({})),
            serde_json::to_vec(&json!({"auth": {
                "identity": {"methods": ["password", "totp"], "password": {"user": user}},
                "scope": {"project": {"name": "ap-guangzhou"}},
            }}))
            .unwrap(),
        ];
        for body in bodies {
            let e = f.issue(&body).err().unwrap();
            assert_eq!(e.status, 400, "{}", String::from_utf8_lossy(&body));
        }
        let e = IamError::bad("x");
        let answer: Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(
            answer,
            json!({"error": {"code": 400, "message": "x", "title": "Bad Request"}})
        );
    }

    #[test]
    fn projects_by_id_or_name_and_only_the_accounts() {
        let f = Fixture::new();
        let user = json!({"id": f.user, "password": PASSWORD});
        let shanghai = projects::project_id(&f.account.project_id, &f.regions, "ap-shanghai");
        let by_id = f
            .issue(&f.body(user.clone(), json!({"id": shanghai})))
            .unwrap();
        assert_eq!(
            (by_id.claims.project_id.as_str(), by_id.region.as_str()),
            (shanghai.as_str(), "ap-shanghai")
        );
        for project in [json!({"id": "f".repeat(32)}), json!({"name": "mars-1"})] {
            assert_eq!(
                f.issue(&f.body(user.clone(), project))
                    .err()
                    .unwrap()
                    .status,
                400
            );
        }
    }

    #[test]
    fn disabling_deleting_or_changing_the_password_ends_tokens_at_once() {
        let f = Fixture::new();
        let token = f.issue(&f.by_name(PASSWORD)).unwrap().token;
        let accepted = || f.tokens.accept(&f.directory, &token, NOW).is_some();
        assert!(accepted());

        identity::set_user_enabled(&f.store, f.account.uin, &f.user, false).unwrap();
        f.reload();
        assert!(!accepted());
        let refused = f.issue(&f.by_name(PASSWORD)).err().unwrap();
        assert_eq!(refused.message, "The user or its account is disabled.");
        assert_eq!(
            f.issue(&f.by_name("not the password")).err(),
            Some(IamError::WRONG)
        );
        identity::set_user_enabled(&f.store, f.account.uin, &f.user, true).unwrap();
        f.reload();
        assert!(accepted());

        identity::set_account_enabled(&f.store, f.account.uin, false).unwrap();
        f.reload();
        assert!(!accepted());
        identity::set_account_enabled(&f.store, f.account.uin, true).unwrap();
        f.reload();
        assert!(accepted());

        identity::set_password(&f.store, f.account.uin, &f.user, Some(PASSWORD)).unwrap();
        f.reload();
        assert!(
            !accepted(),
            "a new hash, even of the same password, ends old tokens"
        );
        let token = f.issue(&f.by_name(PASSWORD)).unwrap().token;
        identity::delete_user(&f.store, f.account.uin, &f.user).unwrap();
        f.reload();
        assert!(f.tokens.accept(&f.directory, &token, NOW).is_none());
    }

    #[test]
    fn too_many_wrong_passwords_lock_a_login_whether_or_not_it_is_a_user() {
        let f = Fixture::new();
        let unknown = f.body(
            json!({"name": "nobody", "password": PASSWORD,
                   "domain": {"name": f.account.uin.to_string()}}),
            json!({"name": "ap-guangzhou"}),
        );
        for body in [f.by_name("not the password"), unknown] {
            for _ in 0..MAX_FAILURES {
                assert_eq!(f.issue(&body).err(), Some(IamError::WRONG));
            }
            assert_eq!(f.issue(&body).err(), Some(IamError::LOCKED));
        }
        assert_eq!(f.issue(&f.by_name(PASSWORD)).err(), Some(IamError::LOCKED));
        let later = NOW + LOCKOUT_SECS;
        let issued = f
            .tokens
            .issue(&f.directory, &f.regions, &f.by_name(PASSWORD), "", later)
            .0;
        assert!(issued.is_ok(), "the lock ends after its time");
        // A success forgets earlier failures.
        for _ in 0..MAX_FAILURES - 1 {
            let body = f.by_name("not the password");
            let (answer, _) = f.tokens.issue(&f.directory, &f.regions, &body, "", later);
            assert_eq!(answer.err(), Some(IamError::WRONG));
        }
        let (answer, _) = f
            .tokens
            .issue(&f.directory, &f.regions, &f.by_name(PASSWORD), "", later);
        assert!(answer.is_ok());
        let (answer, _) = f.tokens.issue(
            &f.directory,
            &f.regions,
            &f.by_name("not the password"),
            "",
            later,
        );
        assert_eq!(answer.err(), Some(IamError::WRONG));
    }

    /// A node's tokens over the fixture's store, counting failed logins in `state`.
    fn node(f: &Fixture, state: Arc<dyn SharedState>) -> Tokens {
        let key = identity::token_key(&f.store, &f.seal).unwrap();
        Tokens::new(TokenKey::new(key), 3600).with_shared_state(state)
    }

    fn issue_on(
        f: &Fixture,
        tokens: &Tokens,
        password: &str,
        now: u64,
    ) -> Result<Issued, IamError> {
        tokens
            .issue(&f.directory, &f.regions, &f.by_name(password), "", now)
            .0
    }

    #[test]
    fn wrong_passwords_split_across_nodes_lock_the_login_on_every_node() {
        let f = Fixture::new();
        let state: Arc<dyn SharedState> = Arc::new(MemorySharedState::default());
        let nodes = [node(&f, state.clone()), node(&f, state.clone())];
        for i in 0..MAX_FAILURES as usize {
            let answer = issue_on(&f, &nodes[i % 2], "not the password", NOW);
            assert_eq!(answer.err(), Some(IamError::WRONG));
        }
        for tokens in &nodes {
            assert_eq!(
                issue_on(&f, tokens, PASSWORD, NOW).err(),
                Some(IamError::LOCKED)
            );
        }
        let later = NOW + LOCKOUT_SECS;
        assert!(issue_on(&f, &nodes[1], PASSWORD, later).is_ok());
        // A success on one node forgets the failures counted on the other.
        for _ in 0..MAX_FAILURES - 1 {
            let answer = issue_on(&f, &nodes[0], "not the password", later);
            assert_eq!(answer.err(), Some(IamError::WRONG));
        }
        assert!(issue_on(&f, &nodes[1], PASSWORD, later).is_ok());
        let answer = issue_on(&f, &nodes[0], "not the password", later);
        assert_eq!(answer.err(), Some(IamError::WRONG));
        assert!(issue_on(&f, &nodes[0], PASSWORD, later).is_ok());
    }

    /// A store that answers reads but cannot record: the outcome of a password check.
    struct RecordsNothing;

    impl SharedState for RecordsNothing {
        fn first_use(&self, _: &str, _: &[u8; 16], _: u64, _: u64) -> Result<bool, StoreError> {
            Ok(true)
        }
        fn login_failed(&self, _: &[u8; 32], _: u64, _: u64) -> Result<u32, StoreError> {
            Err(StoreError::Unavailable("failover".into()))
        }
        fn login_failures(&self, _: &[u8; 32], _: u64, _: u64) -> Result<u32, StoreError> {
            Ok(0)
        }
        fn login_succeeded(&self, _: &[u8; 32]) -> Result<(), StoreError> {
            Err(StoreError::Unavailable("failover".into()))
        }
        fn forget_expired(&self, _: u64, _: u64) -> Result<(), StoreError> {
            Ok(())
        }
    }

    /// A login the store cannot count is refused, and no token issued, whether the password is
    /// right or wrong: a guess it did not count tells nothing.
    #[test]
    fn a_login_the_shared_state_cannot_count_is_refused_either_way() {
        let f = Fixture::new();
        for (state, refusal) in [
            (
                Arc::new(FailingSharedState::Unavailable) as Arc<dyn SharedState>,
                IamError::UNAVAILABLE,
            ),
            (Arc::new(FailingSharedState::Broken), IamError::INTERNAL),
            (Arc::new(RecordsNothing), IamError::UNAVAILABLE),
        ] {
            let tokens = node(&f, state);
            for password in [PASSWORD, "not the password"] {
                let answer = issue_on(&f, &tokens, password, NOW);
                assert_eq!(answer.err(), Some(refusal.clone()), "{password}");
            }
        }
        let answer: Value = serde_json::from_slice(&IamError::UNAVAILABLE.body()).unwrap();
        assert_eq!(answer["error"]["code"], 503);
        assert_eq!(answer["error"]["title"], "Service Unavailable");
        assert_eq!(IamError::UNAVAILABLE.code(), "503");
    }

    #[test]
    fn a_token_of_another_key_or_for_no_user_is_refused() {
        let f = Fixture::new();
        let issued = f.issue(&f.by_name(PASSWORD)).unwrap();
        let other = Tokens::new(TokenKey::new(Zeroizing::new([7; 32])), 3600);
        assert!(other.accept(&f.directory, &issued.token, NOW).is_none());
        let mut root = issued.claims.clone();
        root.user = None;
        let forged = f.tokens.key.issue(&root);
        assert!(f.tokens.accept(&f.directory, &forged, NOW).is_none());
    }

    #[test]
    fn the_token_key_is_kept_and_opens_only_under_its_root_key() {
        let f = Fixture::new();
        let again = identity::token_key(&f.store, &f.seal).unwrap();
        let issued = f.issue(&f.by_name(PASSWORD)).unwrap();
        let reopened = Tokens::new(TokenKey::new(again), 3600);
        assert!(reopened.accept(&f.directory, &issued.token, NOW).is_some());
        assert!(identity::token_key(&f.store, &MemorySeal::generate()).is_err());
    }
}
