//! The Huawei Cloud KMS REST dialect (the paths and bodies of `huaweicloudsdkkms` v2).
//!
//! [`HuaweiApi::prepare`] routes a request, authenticates it (SDK-HMAC-SHA256), resolves its
//! project id to the caller's (account, region) and parses its body; [`HuaweiApi::execute`]
//! runs it on the engine and answers with the vendor's body and HTTP status. It knows nothing
//! of the HTTP server.

pub mod auth;
pub mod errors;
pub mod iam;
pub mod mapping;
pub mod operations;
pub mod permissions;
pub mod projects;
pub mod routes;
pub mod tokens;

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{Value, json};
use zeroize::Zeroizing;

use kms_core::accounts::{Directory, Principal, Stage};
use kms_core::replay::{Refusal, ReplayMemory};
use kms_core::shared::SharedState;
use kms_core::{Caller, Engine, KmsError};

use crate::auth::SignedParts;
use crate::errors::{HwError, INVALID_JSON, INVALID_URL, NO_PERMISSION, error_body, map_error};
use crate::operations::Request;
use crate::routes::{Op, Route, VERSIONS};

/// An answer: HTTP status, JSON body, and what the server logs, counts and audits.
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    /// The operation's name when it is one of the served ones, else "unknown".
    pub action: &'static str,
    pub error_code: Option<&'static str>,
    pub audit: AuditFields,
    /// A token issued, for the `X-Subject-Token` header.
    pub subject_token: Option<Zeroizing<String>>,
}

impl Reply {
    fn error(e: HwError, action: &'static str, audit: AuditFields) -> Self {
        Reply {
            status: e.status,
            body: error_body(&e),
            action,
            error_code: Some(e.code),
            audit,
            subject_token: None,
        }
    }

    /// IAM's answer to a token request it refuses, in Keystone's error body.
    pub fn iam_refusal(e: &iam::IamError) -> Self {
        Reply {
            status: e.status,
            body: e.body(),
            action: iam::ACTION,
            error_code: Some(e.code()),
            audit: AuditFields::default(),
            subject_token: None,
        }
    }

    /// An answer given before (or instead of) the dialect: an unreadable body, a failed worker.
    pub fn refusal(e: HwError) -> Self {
        Self::error(e, "unknown", AuditFields::default())
    }

    fn ok(body: &Value, action: &'static str, audit: AuditFields) -> Self {
        Reply {
            status: 200,
            body: kms_core::json_text::to_vec(body),
            action,
            error_code: None,
            audit,
            subject_token: None,
        }
    }
}

pub use kms_core::audit_fields::AuditFields;
use kms_core::audit_fields::audit_string;

/// An authenticated request with its parsed body: what remains is to run it, inline or on the
/// blocking pool as [`Call::blocking`] says.
pub struct Call {
    op: Op,
    name: &'static str,
    /// The status of a successful answer.
    status: u16,
    body: Value,
    path_key_id: Option<String>,
    path_tag_key: Option<String>,
    path_id: Option<String>,
    query: Vec<(String, String)>,
    caller: Caller,
    audit: AuditFields,
    pub blocking: bool,
}

impl Call {
    /// The operation's name, for logs and metrics.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Who made the call: the server's rate limits count per principal.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The answer to this call when the server refuses to run it (a rate limit, an injected
    /// fault), audited with what the call named.
    pub fn refusal(&self, e: HwError) -> Reply {
        Reply::error(e, self.name, self.audit.clone())
    }
}

/// The signature replay memory's name: in a shared store, a credential's entries are the room
/// `huawei-sdk:AK`.
pub const SIGNATURES: &str = "huawei-sdk";

pub struct HuaweiApi {
    engine: Arc<Engine>,
    directory: Arc<Directory>,
    /// The configured regions; an account's project id is its first region's.
    regions: Vec<String>,
    /// IAM tokens; without them every token request and token is refused.
    tokens: Option<iam::Tokens>,
    /// Verified AK/SK signatures, per AK, when [`HuaweiApi::with_replay_cache`] turned it on.
    signatures: Option<ReplayMemory>,
    /// The state shared by every node over one store, if any: kept so that what is set up
    /// after [`HuaweiApi::with_shared_state`] (tokens, the replay memory) uses it too.
    shared: Option<Arc<dyn SharedState>>,
}

impl HuaweiApi {
    pub fn new(engine: Arc<Engine>, directory: Arc<Directory>, regions: Vec<String>) -> Self {
        Self {
            engine,
            directory,
            regions,
            tokens: None,
            signatures: None,
            shared: None,
        }
    }

    /// Issues and accepts IAM tokens; their failed logins are counted in the shared state when
    /// the API has one.
    pub fn with_tokens(mut self, tokens: iam::Tokens) -> Self {
        self.tokens = Some(match &self.shared {
            Some(state) => tokens.with_shared_state(state.clone()),
            None => tokens,
        });
        self
    }

    /// Refuses an AK/SK signature used before while its `X-Sdk-Date` is inside the 15-minute
    /// window, with the gateway's 401 `APIG.0301`. Off unless called: the SDK signs with a
    /// one-second date and no nonce, so two identical calls in one second carry the same
    /// signature, and a client that makes them (polling) would see the second refused; the
    /// SDK's own transport retry (`retry_times`) re-sends the identical signed bytes, so with
    /// the memory on, a retried call is refused as a replay.
    ///
    /// In this process, each credential has room for `per_credential` live entries (an entry
    /// lives until its date leaves the window, at most 30 minutes for a date 15 minutes ahead);
    /// a credential whose room is full is throttled (429 `APIG.0308`) rather than forgotten.
    /// Over a shared store ([`HuaweiApi::with_shared_state`]) there is no such room: entries
    /// are bounded by the window and the server's rate limit on the credential's requests.
    pub fn with_replay_cache(mut self, per_credential: usize) -> Self {
        self.signatures = Some(match &self.shared {
            Some(state) => ReplayMemory::shared(SIGNATURES, state.clone()),
            None => ReplayMemory::local(SIGNATURES, per_credential),
        });
        self
    }

    /// Keeps the security state every node over one store must share in that store's
    /// [`SharedState`] instead of this process: the signature replay memory (when on) and the
    /// tokens' failed logins, whether they were set up before or after this call. A request
    /// whose state the store cannot record or read is refused (fail closed).
    pub fn with_shared_state(mut self, state: Arc<dyn SharedState>) -> Self {
        if self.signatures.is_some() {
            self.signatures = Some(ReplayMemory::shared(SIGNATURES, state.clone()));
        }
        self.tokens = self.tokens.map(|t| t.with_shared_state(state.clone()));
        self.shared = Some(state);
        self
    }

    /// Answers IAM's `POST /v3/auth/tokens` (see [`iam::issues_token`]). It checks a password
    /// (Argon2, tens of milliseconds), so it runs on the blocking pool.
    pub fn issue_token(&self, body: &[u8], query: &str) -> Reply {
        let Some(tokens) = &self.tokens else {
            return Reply::iam_refusal(&iam::IamError::WRONG);
        };
        let (issued, found) = tokens.issue(
            &self.directory,
            &self.regions,
            body,
            query,
            self.engine.now(),
        );
        let mut reply = match issued {
            Ok(issued) => Reply {
                status: 201,
                body: issued.body,
                action: iam::ACTION,
                error_code: None,
                audit: AuditFields {
                    credential_id: Some(token_id(&issued.token)),
                    region: Some(issued.region),
                    ..AuditFields::default()
                },
                subject_token: Some(issued.token),
            },
            Err(e) => Reply::iam_refusal(&e),
        };
        if let Some((account, user)) = found {
            reply.audit.account = Some(account);
            reply.audit.user = Some(user);
        }
        reply
    }

    /// Who made a request: the signer of an AK/SK signature, else the user of an
    /// `X-Auth-Token` (with the project the token is scoped to), else no one.
    fn authenticate(&self, req: &SignedParts<'_>) -> Result<Authenticated, HwError> {
        let now = self.engine.now();
        if req.headers.contains_key("authorization") {
            let verified = auth::verify(req, &self.directory, now)?;
            if let Some(memory) = &self.signatures {
                admit(memory, &verified, now)?;
            }
            return Ok(Authenticated {
                principal: verified.principal,
                token: None,
            });
        }
        let Some(token) = header(req, "x-auth-token") else {
            return Err(HwError::no_credentials());
        };
        let (principal, project_id) = self
            .tokens
            .as_ref()
            .and_then(|t| t.accept(&self.directory, token, now))
            .ok_or_else(HwError::token)?;
        Ok(Authenticated {
            principal,
            token: Some((token_id(token), project_id)),
        })
    }

    /// Whether a request belongs to this dialect, from its method and path alone.
    pub fn claims(method: &str, path: &str) -> bool {
        routes::claims(method, path)
    }

    /// Routes, authenticates and parses a request; answers at once when there is nothing to
    /// run (version discovery, a refusal).
    /// `source_ip` is the client's address, which policy conditions test.
    pub fn prepare(
        &self,
        req: &SignedParts<'_>,
        source_ip: Option<IpAddr>,
    ) -> Result<Call, Box<Reply>> {
        let mut audit = AuditFields::default();
        let mut action = "unknown";
        self.prepare_call(req, source_ip, &mut action, &mut audit)
            .map_err(|answer| match answer {
                Answer::Error(e) => Box::new(Reply::error(e, action, audit)),
                Answer::Done(body) => Box::new(Reply::ok(&body, action, audit)),
            })
    }

    /// Runs a prepared call.
    pub fn execute(&self, call: Call) -> Reply {
        self.run(&call)
    }

    /// Runs a quick call on a thread that must not block; hands it back should it meet
    /// blocking work, to be run with [`Self::execute`].
    pub fn execute_inline(&self, call: Call) -> Result<Reply, Box<Call>> {
        kms_core::engine::nonblocking::without_blocking(|| self.run(&call))
            .ok_or_else(|| Box::new(call))
    }

    fn run(&self, call: &Call) -> Reply {
        let mut audit = call.audit.clone();
        let request = Request {
            body: &call.body,
            path_key_id: call.path_key_id.as_deref(),
            path_tag_key: call.path_tag_key.as_deref(),
            path_id: call.path_id.as_deref(),
            query: &call.query,
        };
        let context = operations::Context {
            engine: &self.engine,
            caller: &call.caller,
            regions: &self.regions,
        };
        let mut answer = operations::run(&context, call.op, &request);
        if let Err(refused) = permissions::authorize(
            call.caller.authority.as_deref(),
            Stage::AfterRunning,
            call.name,
        ) {
            answer = Err(refused);
        } else if let Err(e) = &mut answer
            && e.code == NO_PERMISSION
        {
            // The engine refused a key it resolved; the refusal names the action.
            *e = permissions::refusal(call.name);
        }
        match answer {
            Ok(answer) => {
                for id in answer_key_ids(&answer) {
                    audit.add_resource(&id);
                }
                let mut reply = Reply::ok(&answer, call.name, audit);
                reply.status = call.status;
                reply
            }
            Err(e) => Reply::error(e, call.name, audit),
        }
    }

    fn prepare_call(
        &self,
        req: &SignedParts<'_>,
        source_ip: Option<IpAddr>,
        action: &mut &'static str,
        audit: &mut AuditFields,
    ) -> Result<Call, Answer> {
        let route = routes::route(req.method, req.path)
            .ok_or_else(|| HwError::new(404, INVALID_URL, "Invalid request URL."))?;
        // Who the request says it is, as `authenticate` reads it: a signature's AK first, else
        // a token, which is named by its hash as an accepted one is, never by itself.
        if req.headers.contains_key("authorization") {
            if let Some(a) =
                header(req, "authorization").and_then(|v| auth::parse_authorization(v).ok())
            {
                audit.credential_id = Some(audit_string(a.access));
            }
        } else if let Some(token) = header(req, "x-auth-token") {
            audit.credential_id = Some(token_id(token));
        }
        let (project_id, spec, params) = match route {
            Route::Versions => {
                *action = "ShowVersions";
                let versions: Vec<Value> = VERSIONS.iter().map(|v| version(v)).collect();
                return Err(Answer::Done(json!({ "versions": versions })));
            }
            Route::Version(v) => {
                *action = "ShowVersion";
                return Err(Answer::Done(json!({ "version": version(v) })));
            }
            Route::Projects => {
                *action = "KeystoneListProjects";
                let principal = self.authenticate(req)?.note(audit);
                return Err(Answer::Done(self.projects(&principal, req.query)));
            }
            Route::Unknown { .. } => {
                self.authenticate(req)?.note(audit);
                return Err(HwError::bad(INVALID_URL, "Invalid request URL.").into());
            }
            Route::Op {
                project_id,
                spec,
                params,
            } => (project_id, spec, params),
        };
        // The route names the operation, so even a call refused at authentication records it.
        *action = spec.name;
        let authenticated = self.authenticate(req)?;
        // A token is good for the one project it is scoped to.
        let token_project = authenticated.token.as_ref().map(|(_, p)| p.clone());
        let principal = authenticated.note(audit);
        let header_project = header(req, "x-project-id");
        let target = Target {
            project_id,
            spec,
            params,
        };
        let request = Bound {
            body: req.body,
            query: req.query,
            header_project,
            token_project: token_project.as_deref(),
        };
        Ok(self.bind(&target, &principal, &request, source_ip, audit)?)
    }

    /// Prepares the call at `method` and `path` of `principal`, whom the server authenticated
    /// by other means than a signature or token (a session of the web console, opened with the
    /// credential `credential_id`): from here on it is routed, checked, authorized, run and
    /// audited as a signed request is.
    #[allow(clippy::too_many_arguments)]
    pub fn prepare_authenticated(
        &self,
        principal: &Principal,
        credential_id: &str,
        method: &str,
        path: &str,
        query: &str,
        body: &[u8],
        source_ip: Option<IpAddr>,
    ) -> Result<Call, Box<Reply>> {
        let mut audit = AuditFields {
            credential_id: Some(audit_string(credential_id)),
            account: Some(principal.account),
            user: principal.user.clone(),
            ..AuditFields::default()
        };
        let Some(Route::Op {
            project_id,
            spec,
            params,
        }) = routes::route(method, path)
        else {
            let e = HwError::new(404, INVALID_URL, "Invalid request URL.");
            return Err(Box::new(Reply::error(e, "unknown", audit)));
        };
        let target = Target {
            project_id,
            spec,
            params,
        };
        let bound = Bound {
            body,
            query,
            header_project: None,
            token_project: None,
        };
        self.bind(&target, principal, &bound, source_ip, &mut audit)
            .map_err(|e| Box::new(Reply::error(e, spec.name, audit)))
    }

    /// What follows authentication: the project and its region, the body, the caller's
    /// authority.
    fn bind(
        &self,
        target: &Target<'_>,
        principal: &Principal,
        request: &Bound<'_>,
        source_ip: Option<IpAddr>,
        audit: &mut AuditFields,
    ) -> Result<Call, HwError> {
        let Target {
            project_id,
            spec,
            params,
        } = target;
        let region = projects::region_of(&principal.project_id, &self.regions, project_id)
            .filter(|_| request.header_project.is_none_or(|p| p == *project_id))
            .filter(|_| request.token_project.is_none_or(|p| p == *project_id))
            .cloned()
            .ok_or_else(|| project_refusal(project_id))?;
        audit.region = Some(region.clone());
        let body = parse_body(request.body)?;
        let authority = principal.authority(permissions::permission(spec), &region, source_ip);
        permissions::authorize(authority.as_deref(), Stage::BeforeRunning, spec.name)?;
        let path_key_id = params.key_id.map(decode_segment);
        for id in [
            body.get("key_id").and_then(Value::as_str),
            path_key_id.as_deref(),
        ]
        .into_iter()
        .flatten()
        {
            audit.add_resource(id);
        }
        Ok(Call {
            op: spec.op,
            name: spec.name,
            status: spec.status,
            body,
            path_key_id,
            path_tag_key: params.key.map(decode_segment),
            path_id: params.id.map(decode_segment),
            query: form_urlencoded::parse(request.query.as_bytes())
                .into_owned()
                .collect(),
            caller: Caller {
                account: principal.account,
                user: principal.user.clone(),
                credential: audit.credential_id.clone().unwrap_or_default(),
                region,
                authority,
            },
            audit: std::mem::take(audit),
            blocking: spec.blocking,
        })
    }
}

/// The operation a route names, with its path's parameters.
struct Target<'a> {
    project_id: &'a str,
    spec: &'static routes::RouteSpec,
    params: routes::PathParams<'a>,
}

/// What a call carries besides its route, and the projects its credential confines it to.
struct Bound<'a> {
    body: &'a [u8],
    query: &'a str,
    header_project: Option<&'a str>,
    token_project: Option<&'a str>,
}

/// Admits a verified signature to the replay memory under its AK until its date leaves the
/// window. A shared store that cannot record it refuses the request (503 when it is unavailable,
/// else 500), never admits it: what it did not record could be replayed on every node.
fn admit(memory: &ReplayMemory, verified: &auth::Verified<'_>, now: u64) -> Result<(), HwError> {
    let auth = &verified.authorization;
    let id = [auth.algorithm.name().as_bytes(), auth.signature.as_bytes()];
    let expires = verified.signed_at.saturating_add(auth::DATE_WINDOW_SECS);
    match memory.admit(auth.access, &id, now, expires) {
        Ok(()) => Ok(()),
        Err(Refusal::Replayed) => Err(HwError::replayed()),
        Err(Refusal::Full) => Err(HwError::replay_memory_full()),
        Err(Refusal::Unavailable(e)) => {
            tracing::error!(error = %e, "the signature replay memory failed; request refused");
            Err(map_error(&KmsError::from(e)))
        }
    }
}

/// The refusal of a path's project id. A project id is 32 hex digits; anything else (above all
/// the SDK's unfilled `{project_id}` placeholder, sent when it was given no project id and no IAM
/// endpoint to look one up) is a missing project id, and the message says where to find one.
fn project_refusal(project_id: &str) -> HwError {
    let message = if project_id.len() == 32 && project_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        "The project id is not one of the caller's.".to_owned()
    } else {
        format!(
            "The project id is missing: the path has {:?} where a project id (32 hex digits) \
             belongs. Give the SDK's credentials the project id (root-credentials.json's \
             project_id for the root account, or one listed by GET /v3/projects), or this \
             server as their IAM endpoint.",
            // Bounded: the path is the client's, and an error echoes only a glimpse of it.
            decode_segment(project_id)
                .chars()
                .take(64)
                .collect::<String>()
        )
    };
    HwError::new(403, NO_PERMISSION, message)
}

/// A path segment, percent-decoded (lossily: a key id or tag key is text).
fn decode_segment(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

impl HuaweiApi {
    /// IAM's answer to `GET /v3/projects`: one project per served region, optionally only the
    /// one whose name (the region) the `name` query parameter gives.
    fn projects(&self, principal: &kms_core::accounts::Principal, query: &str) -> Value {
        let name = form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "name")
            .map(|(_, v)| v.into_owned());
        let domain = principal.account.to_string();
        let projects: Vec<Value> = self
            .regions
            .iter()
            .filter(|r| name.as_ref().is_none_or(|n| n == *r))
            .map(|region| {
                let id = projects::project_id(&principal.project_id, &self.regions, region);
                json!({
                    "id": id,
                    "name": region,
                    "domain_id": domain,
                    "parent_id": domain,
                    "is_domain": false,
                    "enabled": true,
                    "description": "",
                    "links": { "self": format!("/v3/projects/{id}") },
                })
            })
            .collect();
        json!({
            "projects": projects,
            "links": { "self": "/v3/projects", "next": null, "previous": null },
        })
    }
}

/// An authenticated caller: the principal, and for a token its audit id and project.
struct Authenticated {
    principal: Arc<Principal>,
    token: Option<(String, String)>,
}

impl Authenticated {
    /// Records who called in the audit fields; answers the principal.
    fn note(self, audit: &mut AuditFields) -> Arc<Principal> {
        audit.account = Some(self.principal.account);
        audit.user = self.principal.user.clone();
        if let Some((id, _)) = self.token {
            audit.credential_id = Some(id);
        }
        self.principal
    }
}

/// How the audit trail names a token without holding it: `token:` and the first 16 hex digits
/// of its SHA-256, the same when it is issued and whenever it is used.
fn token_id(token: &str) -> String {
    let digest = kms_crypto::digest::sha256(token.as_bytes());
    format!("token:{}", hex::encode(&digest[..8]))
}

/// What `prepare` answers instead of a call.
enum Answer {
    Error(HwError),
    Done(Value),
}

impl From<HwError> for Answer {
    fn from(e: HwError) -> Self {
        Answer::Error(e)
    }
}

fn header<'a>(req: &'a SignedParts<'_>, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The JSON object of the body; an empty body is the empty object.
fn parse_body(body: &[u8]) -> Result<Value, HwError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(HwError::bad(
            INVALID_JSON,
            "The JSON format of the request message is invalid.",
        )),
    }
}

/// The version object of version discovery (`ApiVersionDetail`).
fn version(id: &str) -> Value {
    json!({
        "id": id,
        "links": [{ "href": format!("/{id}/"), "rel": "self" }],
        "version": "",
        "status": "CURRENT",
        "updated": "2018-09-30T00:00:00Z",
        "min_version": "",
    })
}

fn answer_key_ids(answer: &Value) -> Vec<String> {
    [answer.get("key_id"), answer.pointer("/key_info/key_id")]
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests;
