//! IAM's `POST /v3/auth/tokens` with the password method (the SDK's
//! KeystoneCreateUserTokenByPassword), for users an operator gave a password, and the check of
//! the `X-Auth-Token` the KMS routes accept.
//!
//! The domain is the account: its id (the account id, in decimal) names it as `domain.id` and,
//! accounts having no other name, as `domain.name`. Tokens are project-scoped, a project named
//! by its id or by its name (the region). Every request that names a user costs exactly one
//! password check, against a decoy hash when there is no such user or they have no password,
//! so a wrong password and an unknown user answer alike in content and time.

use serde::Deserialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use kms_core::AccountId;
use kms_core::accounts::{Directory, Principal, TokenUser};
use kms_core::identity::check_password;

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

    /// A failure of the server's own.
    pub const INTERNAL: Self = Self {
        status: 500,
        message: "An internal error occurred.",
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
            _ => "500",
        }
    }

    fn title(&self) -> &'static str {
        match self.status {
            400 => "Bad Request",
            401 => "Unauthorized",
            413 => "Request Entity Too Large",
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
}

impl Tokens {
    pub fn new(key: TokenKey, lifetime_secs: u64) -> Self {
        Self { key, lifetime_secs }
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
        if !check_password(hash, &login.password) {
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
    let (year, month, day) = kms_core::utc_civil_date(secs);
    let s = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.000000Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// The answer's body (the SDK's TokenResult): who, where, until when. The roles are the
/// user's attached policies; the catalog is empty, this server being the one endpoint.
fn token_body(user: &TokenUser, claims: &TokenClaims, region: &str, nocatalog: bool) -> Vec<u8> {
    let domain = json!({
        "id": claims.account.to_string(),
        "name": claims.account.to_string(),
    });
    let roles: Vec<Value> = user
        .principal
        .policies
        .iter()
        .map(|p| json!({ "id": p.name, "name": p.name }))
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
