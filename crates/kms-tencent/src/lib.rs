//! The Tencent Cloud API 3.0 dialect (service `kms`, version 2019-01-18).
//!
//! [`TencentApi::prepare`] takes a request as it arrived, authenticates it (TC3-HMAC-SHA256 or
//! the legacy HmacSHA1/HmacSHA256 signature) and validates its parameters against the action
//! table; [`TencentApi::execute`] calls the engine and answers in Tencent's envelope, on the
//! thread the prepared [`Call`] asks for. It knows nothing of the HTTP server.

pub mod actions;
mod asymmetric;
pub mod auth;
mod data_keys;
pub mod errors;
pub mod params;
pub mod permissions;
pub mod requests;
pub mod wire;

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use kms_core::accounts::{Directory, Principal, Stage};
use kms_core::replay::{Refusal, ReplayMemory};
use kms_core::shared::SharedState;
use kms_core::{Caller, Engine};

use crate::auth::SignedParts;
use crate::errors::*;
use crate::params::{MAX_JSON_DEPTH, Params, form_pairs, json_depth_within, unflatten};

/// The API version this dialect speaks.
pub const VERSION: &str = "2019-01-18";

/// The replay memories' names: in a shared store, a credential's entries of each are the room
/// `name:SecretId`.
pub const LEGACY_NONCES: &str = "tencent-legacy";
pub const TC3_SIGNATURES: &str = "tencent-tc3";

/// Parameters common to every action in the flattened (legacy or GET) form; they are not the
/// action's own.
const COMMON_PARAMS: &[&str] = &[
    "Action",
    "Version",
    "Region",
    "Timestamp",
    "Nonce",
    "SecretId",
    "Signature",
    "SignatureMethod",
    "Language",
    "Token",
    "RequestClient",
];

/// An answer: the JSON body, plus what the server logs, counts and audits.
pub struct Reply {
    pub body: Vec<u8>,
    /// The action's name when it is one of the vendor's, else "unknown" (bounded, for metrics).
    pub action: &'static str,
    pub error_code: Option<&'static str>,
    pub audit: AuditFields,
}

impl Reply {
    fn error(e: TcError, action: &'static str, request_id: &str, audit: AuditFields) -> Self {
        Reply {
            body: error_body(e.code, &e.message, request_id),
            action,
            error_code: Some(e.code),
            audit,
        }
    }
}

pub use kms_core::audit_fields::AuditFields;
use kms_core::audit_fields::audit_string;

/// Request parameters that name keys or data keys, and whether each holds a list.
const RESOURCE_PARAMS: &[(&str, bool)] = &[
    ("KeyId", false),
    ("KeyIds", true),
    ("DestinationKeyId", false),
    ("DataKeyId", false),
    ("DataKeyIds", true),
];

/// Answer fields that name keys or data keys: top-level or inside one metadata object.
const RESOURCE_ANSWER_FIELDS: &[&str] = &["KeyId", "SourceKeyId", "DataKeyId"];
const RESOURCE_ANSWER_OBJECTS: &[&str] = &["KeyMetadata", "DataKeyMetadata"];

/// The resources of a Tencent request and answer, for the audit record.
trait TencentResources {
    fn add_request_resources(&mut self, params: &Params);
    fn add_answer_resources(&mut self, answer: &Map<String, Value>);
}

impl TencentResources for AuditFields {
    fn add_request_resources(&mut self, params: &Params) {
        for &(name, is_list) in RESOURCE_PARAMS {
            if is_list {
                params.str_list(name).for_each(|id| self.add_resource(id));
            } else if let Some(id) = params.str(name) {
                self.add_resource(id);
            }
        }
    }

    fn add_answer_resources(&mut self, answer: &Map<String, Value>) {
        let objects = RESOURCE_ANSWER_OBJECTS
            .iter()
            .filter_map(|name| answer.get(*name).and_then(Value::as_object));
        for object in std::iter::once(answer).chain(objects) {
            for name in RESOURCE_ANSWER_FIELDS {
                if let Some(id) = object.get(*name).and_then(Value::as_str) {
                    self.add_resource(id);
                }
            }
        }
    }
}

/// Settings of the dialect.
#[derive(Debug, Clone)]
pub struct Options {
    /// The regions served; `X-TC-Region` must name one of them.
    pub regions: Vec<String>,
    /// Refuse a TC3 signature seen before within its validity window. Off by default: TC3
    /// signs no nonce, so two identical calls in the same second carry the same signature,
    /// and a client that makes them (polling, retries) would see the second refused.
    pub tc3_replay_cache: bool,
    /// Most live entries each credential may hold in each replay cache (legacy nonces, TC3
    /// signatures). An entry lives until its request's timestamp leaves the window, about five
    /// minutes, so the default admits some 400 legacy-signed calls a second per credential.
    /// A bound of the in-memory caches only: over a shared store
    /// ([`TencentApi::with_shared_state`]), a credential's entries are bounded by the window
    /// and the server's rate limit on its requests.
    pub replay_entries_per_credential: usize,
    /// Regions whose ENCRYPT_DECRYPT keys are SM4 (national cryptography) instead of AES-256.
    pub national_crypto_regions: Vec<String>,
}

impl Options {
    pub fn new(regions: Vec<String>) -> Self {
        Self {
            regions,
            tc3_replay_cache: false,
            replay_entries_per_credential: 1 << 17,
            national_crypto_regions: Vec::new(),
        }
    }
}

pub struct TencentApi {
    engine: Arc<Engine>,
    directory: Arc<Directory>,
    signing_keys: auth::SigningKeys,
    regions: Vec<String>,
    national_crypto_regions: Vec<String>,
    /// `(Nonce, Timestamp)` of legacy-signed requests, per SecretId: the vendor documents the
    /// pair as what makes a request unique. The Node.js SDK draws its Nonce from 65,536 values,
    /// so a busy client repeats one within the window, but never within the same second.
    legacy_nonces: ReplayMemory,
    /// Verified TC3 signatures, per SecretId, when [`Options::tc3_replay_cache`] is on.
    tc3_signatures: Option<ReplayMemory>,
}

/// How the request is signed, with what the signature check needs.
enum Style {
    Tc3 {
        authorization: String,
        /// The parameters are a JSON body; otherwise they are flattened, in the query (GET) or
        /// a form body.
        json_body: bool,
    },
    /// The legacy signature covers every parameter, so they are split (flat, bounded in
    /// number) before authentication; nothing is nested until the caller is known.
    Legacy { pairs: Vec<(String, String)> },
}

/// The request's common parameters, read before authentication without building anything
/// from the action's own parameters.
struct Envelope {
    style: Style,
    action: Option<String>,
    version: Option<String>,
    region: Option<String>,
    timestamp: Option<String>,
    token: Option<String>,
    nonce: Option<String>,
}

/// An authenticated request whose parameters passed validation: what remains is to run it.
/// The server runs it inline or on the blocking pool, as [`Call::blocking`] says.
pub struct Call {
    action: &'static actions::Action,
    request: Box<dyn actions::Run>,
    caller: Caller,
    audit: AuditFields,
    /// Whether running it may block for long (a commit, key generation, a region scan).
    pub blocking: bool,
}

/// The common parameters that say what a call is and where it goes.
pub struct Head<'a> {
    pub action: &'a str,
    pub version: Option<&'a str>,
    pub region: Option<&'a str>,
}

impl Call {
    /// The action's name, for logs and metrics.
    pub fn action(&self) -> &'static str {
        self.action.name
    }

    /// Who made the call: the server's rate limits count per principal.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The answer to this call when the server refuses to run it (a rate limit, an injected
    /// fault): the vendor's envelope, audited with what the call named.
    pub fn refusal(&self, code: &'static str, message: &str, request_id: &str) -> Reply {
        let e = TcError::new(code, message);
        Reply::error(e, self.action.name, request_id, self.audit.clone())
    }
}

impl Envelope {
    /// The SecretId the request claims to be signed with, before any check.
    fn credential_id(&self) -> Option<&str> {
        match &self.style {
            Style::Tc3 { authorization, .. } => auth::parse_tc3_authorization(authorization)
                .ok()
                .map(|a| a.secret_id),
            Style::Legacy { pairs } => pairs
                .iter()
                .find(|(k, _)| k == "SecretId")
                .map(|(_, v)| v.as_str()),
        }
        .filter(|id| !id.is_empty())
    }
}

fn header<'a>(req: &'a SignedParts<'_>, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

impl TencentApi {
    pub fn new(engine: Arc<Engine>, directory: Arc<Directory>, options: Options) -> Self {
        Self {
            engine,
            directory,
            signing_keys: auth::SigningKeys::default(),
            regions: options.regions,
            national_crypto_regions: options.national_crypto_regions,
            legacy_nonces: ReplayMemory::local(
                LEGACY_NONCES,
                options.replay_entries_per_credential,
            ),
            tc3_signatures: options.tc3_replay_cache.then(|| {
                ReplayMemory::local(TC3_SIGNATURES, options.replay_entries_per_credential)
            }),
        }
    }

    /// Keeps the replay memories (legacy nonces, and TC3 signatures when that option is on) in
    /// the state every node over one store shares instead of this process: a request admitted
    /// by one node is a replay on every other. A request whose identifier the state cannot
    /// record is refused (fail closed) with the vendor's transient or internal error.
    pub fn with_shared_state(mut self, state: Arc<dyn SharedState>) -> Self {
        self.legacy_nonces = ReplayMemory::shared(LEGACY_NONCES, state.clone());
        if self.tc3_signatures.is_some() {
            self.tc3_signatures = Some(ReplayMemory::shared(TC3_SIGNATURES, state));
        }
        self
    }

    /// Whether a request belongs to this dialect, from its head alone: a request to `/` that
    /// is not a plain GET (the Huawei dialect serves only `GET /`), or that names an Action
    /// or carries Tencent's headers.
    pub fn claims(method: &str, path: &str, headers: &http::HeaderMap, query: &str) -> bool {
        path == "/"
            && (method != "GET"
                || headers.contains_key("x-tc-action")
                || headers
                    .get(http::header::AUTHORIZATION)
                    .is_some_and(|a| a.as_bytes().starts_with(b"TC3-"))
                || form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "Action"))
    }

    /// Serves one request start to end; never panics on any input.
    pub fn handle(
        &self,
        req: &SignedParts<'_>,
        request_id: &str,
        source_ip: Option<IpAddr>,
    ) -> Reply {
        match self.prepare(req, request_id, source_ip) {
            Ok(call) => self.execute(call, request_id),
            Err(reply) => *reply,
        }
    }

    /// Reads, authenticates and validates a request made from `source_ip` (the client's
    /// address, which policy conditions test). Before the signature is checked, work is
    /// linear in the request's size and builds no nested structure; after, parameters are
    /// nested no deeper than the vendor's own.
    pub fn prepare(
        &self,
        req: &SignedParts<'_>,
        request_id: &str,
        source_ip: Option<IpAddr>,
    ) -> Result<Call, Box<Reply>> {
        // A request too malformed to parse is still counted and audited under the action it
        // names.
        let mut action = actions::known_name(header(req, "x-tc-action").unwrap_or_default());
        let mut audit = AuditFields::default();
        self.prepare_call(req, request_id, source_ip, &mut action, &mut audit)
            .map_err(|e| Box::new(Reply::error(e, action, request_id, audit)))
    }

    /// Runs a prepared call and answers in the vendor's envelope.
    pub fn execute(&self, call: Call, request_id: &str) -> Reply {
        self.run(&call, request_id)
    }

    /// Runs a quick call on a thread that must not block. Should it meet blocking work (a due
    /// transition to persist on its key), it is handed back, to be run with [`Self::execute`]
    /// where blocking is fine.
    pub fn execute_inline(&self, call: Call, request_id: &str) -> Result<Reply, Box<Call>> {
        kms_core::engine::nonblocking::without_blocking(|| self.run(&call, request_id))
            .ok_or_else(|| Box::new(call))
    }

    fn run(&self, call: &Call, request_id: &str) -> Reply {
        let action = call.action.name;
        let mut audit = call.audit.clone();
        let ctx = actions::Ctx {
            engine: &self.engine,
            caller: call.caller.clone(),
            request_id,
            regions: &self.regions,
            symmetric_spec: if self.national_crypto_regions.contains(&call.caller.region) {
                kms_core::KeySpec::Sm4
            } else {
                kms_core::KeySpec::Aes256
            },
        };
        let mut answer = call.request.run(&ctx);
        if let Err(refused) = permissions::authorize(
            call.caller.authority.as_deref(),
            Stage::AfterRunning,
            action,
        ) {
            answer = Err(refused);
        } else if let Err(e) = &mut answer
            && e.code == UNAUTHORIZED_OPERATION
        {
            // The engine refused a key it resolved; the refusal names the action.
            *e = permissions::refusal(action);
        }
        match answer {
            Ok(Value::Object(mut fields)) => {
                audit.add_answer_resources(&fields);
                fields.insert("RequestId".into(), Value::String(request_id.to_owned()));
                let mut body = Vec::with_capacity(256);
                body.extend_from_slice(b"{\"Response\":");
                kms_core::json_text::write_object(&mut body, &fields);
                body.push(b'}');
                Reply {
                    body,
                    action,
                    error_code: None,
                    audit,
                }
            }
            Ok(_) => {
                tracing::error!(request_id, action, "handler answered a non-object");
                Reply::error(
                    TcError::new(INTERNAL_ERROR, "internal error"),
                    action,
                    request_id,
                    audit,
                )
            }
            Err(e) => Reply::error(e, action, request_id, audit),
        }
    }

    fn prepare_call(
        &self,
        req: &SignedParts<'_>,
        request_id: &str,
        source_ip: Option<IpAddr>,
        action_label: &mut &'static str,
        audit: &mut AuditFields,
    ) -> Result<Call, TcError> {
        let env = self.envelope(req)?;
        *action_label = actions::known_name(env.action.as_deref().unwrap_or_default());
        let credential_id = env.credential_id().unwrap_or_default().to_owned();
        audit.credential_id = (!credential_id.is_empty()).then(|| audit_string(&credential_id));
        audit.region = env.region.as_deref().map(audit_string);
        let name = env
            .action
            .as_deref()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| missing("Action"))?;
        let principal = self.authenticate(req, &env, request_id)?;
        // Known from here on, also when the parameters cannot be read.
        audit.account = Some(principal.account);
        audit.user = principal.user.clone();
        let (own_params, from_query) = own_params(req, env.style)?;
        let head = Head {
            action: name,
            version: env.version.as_deref(),
            region: env.region.as_deref(),
        };
        self.bind(
            &head,
            &principal,
            credential_id,
            own_params,
            from_query,
            source_ip,
            audit,
        )
    }

    /// Prepares a call of `principal`, whom the server authenticated by other means than a
    /// request signature (a session of the web console, opened with this credential): from
    /// here on it is checked, authorized, run and audited as a signed request is.
    pub fn prepare_authenticated(
        &self,
        principal: &Principal,
        credential_id: &str,
        head: &Head<'_>,
        params: Map<String, Value>,
        request_id: &str,
        source_ip: Option<IpAddr>,
    ) -> Result<Call, Box<Reply>> {
        let action = actions::known_name(head.action);
        let mut audit = AuditFields {
            account: Some(principal.account),
            user: principal.user.clone(),
            credential_id: Some(audit_string(credential_id)),
            region: head.region.map(audit_string),
            ..AuditFields::default()
        };
        let bound = self.bind(
            head,
            principal,
            credential_id.to_owned(),
            params,
            false,
            source_ip,
            &mut audit,
        );
        bound.map_err(|e| Box::new(Reply::error(e, action, request_id, audit)))
    }

    /// What follows authentication: the action, version and region, the caller's authority,
    /// then the action's own parameters.
    #[allow(clippy::too_many_arguments)]
    fn bind(
        &self,
        head: &Head<'_>,
        principal: &Principal,
        credential_id: String,
        own_params: Map<String, Value>,
        from_query: bool,
        source_ip: Option<IpAddr>,
        audit: &mut AuditFields,
    ) -> Result<Call, TcError> {
        let name = head.action;
        let action = match actions::find(name) {
            Some(a) => a,
            None if actions::NOT_YET_SERVED.contains(&name) => {
                return Err(TcError::new(
                    UNSUPPORTED_OPERATION,
                    format!("The action `{name}` is not supported by this server yet."),
                ));
            }
            None => {
                return Err(TcError::new(
                    INVALID_ACTION,
                    format!(
                        "The request action=`{name}` is invalid or not found in service=`kms` and version=`{VERSION}`."
                    ),
                ));
            }
        };
        match head.version {
            None | Some("") => {
                return Err(missing("Version"));
            }
            Some(VERSION) => {}
            Some(v) => {
                return Err(TcError::new(
                    NO_SUCH_VERSION,
                    format!("The specified api version=`{v}` does not exist in service=`kms`."),
                ));
            }
        }
        let region = match head.region {
            None | Some("") => {
                return Err(missing("Region"));
            }
            Some(r) if self.regions.iter().any(|known| known == r) => r.to_owned(),
            Some(r) => {
                return Err(TcError::new(
                    UNSUPPORTED_REGION,
                    format!(
                        "The region `{r}` is not served here; served regions: {}.",
                        self.regions.join(", ")
                    ),
                ));
            }
        };
        let authority = principal.authority(permissions::permission(name), &region, source_ip);
        permissions::authorize(authority.as_deref(), Stage::BeforeRunning, name)?;
        // Parameters refused before any key is resolved answer as a call that touched no key
        // does: a caller who may not use the account's keys as a whole is told it is not
        // authorized, not what was wrong with its parameters.
        let unauthorized_or = |e| {
            permissions::authorize(authority.as_deref(), Stage::AfterRunning, name)
                .err()
                .unwrap_or(e)
        };
        let params =
            Params::validate(own_params, action.fields, from_query).map_err(unauthorized_or)?;
        audit.add_request_resources(&params);
        let prepared = (action.prepare)(params).map_err(unauthorized_or)?;
        Ok(Call {
            audit: std::mem::take(audit),
            blocking: prepared.blocking,
            action,
            request: prepared.request,
            caller: Caller {
                account: principal.account,
                user: principal.user.clone(),
                credential: credential_id,
                region,
                authority,
            },
        })
    }

    /// The common parameters, from the headers (TC3) or the flat parameter list (legacy).
    fn envelope(&self, req: &SignedParts<'_>) -> Result<Envelope, TcError> {
        let content_type = header(req, "content-type")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let is_form = content_type.starts_with("application/x-www-form-urlencoded");
        let is_json = content_type.starts_with("application/json");
        match req.method {
            "GET" => {}
            "POST" if is_form || is_json => {}
            "POST" => {
                return Err(TcError::new(
                    UNSUPPORTED_PROTOCOL,
                    "Content-Type must be application/json or form-encoded.",
                ));
            }
            _ => {
                return Err(TcError::new(
                    UNSUPPORTED_PROTOCOL,
                    "Only GET and POST are supported.",
                ));
            }
        }
        if let Some(authorization) = header(req, "authorization") {
            if !authorization.starts_with("TC3-") {
                return Err(TcError::new(
                    AUTH_INVALID_AUTHORIZATION,
                    "The Authorization header is malformed.",
                ));
            }
            let h = |name| header(req, name).map(str::to_owned);
            return Ok(Envelope {
                style: Style::Tc3 {
                    authorization: authorization.to_owned(),
                    json_body: req.method == "POST" && is_json,
                },
                action: h("x-tc-action"),
                version: h("x-tc-version"),
                region: h("x-tc-region"),
                timestamp: h("x-tc-timestamp"),
                token: h("x-tc-token"),
                nonce: None,
            });
        }
        let pairs = match req.method {
            "POST" if is_json => {
                return Err(TcError::new(
                    AUTH_INVALID_AUTHORIZATION,
                    "The Authorization header is missing.",
                ));
            }
            "POST" => form_pairs(req.body)?,
            _ => form_pairs(req.query.as_bytes())?,
        };
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        Ok(Envelope {
            action: get("Action"),
            version: get("Version"),
            region: get("Region"),
            timestamp: get("Timestamp"),
            token: get("Token"),
            nonce: get("Nonce"),
            style: Style::Legacy { pairs },
        })
    }

    fn authenticate(
        &self,
        req: &SignedParts<'_>,
        env: &Envelope,
        request_id: &str,
    ) -> Result<Arc<Principal>, TcError> {
        let now = self.engine.now();
        let verified = match &env.style {
            Style::Tc3 { authorization, .. } => {
                let timestamp = env
                    .timestamp
                    .as_deref()
                    .ok_or_else(|| missing("X-TC-Timestamp"))?;
                let verified = auth::verify_tc3(
                    req,
                    authorization,
                    timestamp,
                    &self.directory,
                    &self.signing_keys,
                    now,
                )?;
                if let Some(seen) = &self.tc3_signatures {
                    // The signature as parsed, not the header: the header's spacing and the
                    // order of its parts are not signed, so a captured request resent with
                    // them changed carries the same signature in another header.
                    let signature = auth::parse_tc3_authorization(authorization)?.signature;
                    admit(
                        seen,
                        env.credential_id().unwrap_or_default(),
                        &[signature.as_bytes()],
                        now,
                        verified.timestamp,
                        "This signature was already used; sign every request anew.",
                        request_id,
                    )?;
                }
                verified
            }
            Style::Legacy { pairs } => {
                let verified = auth::verify_legacy(req, pairs, &self.directory, now)?;
                let secret_id = pairs
                    .iter()
                    .find(|(k, _)| k == "SecretId")
                    .map(|(_, v)| v.as_str())
                    .unwrap_or_default();
                admit(
                    &self.legacy_nonces,
                    secret_id,
                    &[
                        env.nonce.as_deref().unwrap_or_default().as_bytes(),
                        &verified.timestamp.to_be_bytes(),
                    ],
                    now,
                    verified.timestamp,
                    "This Nonce was already used with this SecretId and Timestamp; \
                     use a fresh random Nonce for every request.",
                    request_id,
                )?;
                verified
            }
        };
        if env.token.as_deref().is_some_and(|t| !t.is_empty()) {
            return Err(TcError::new(
                AUTH_TOKEN_FAILURE,
                "Temporary credentials are not issued by this server.",
            ));
        }
        Ok(verified.principal)
    }
}

/// Admits a verified request to a replay memory under the credential that signed it: its
/// identifier stays refused until its timestamp leaves the validity window. A shared store
/// that cannot record it refuses the request as the engine's store errors answer (the vendor's
/// transient code when it is unavailable, else an internal error), never admits it.
fn admit(
    memory: &ReplayMemory,
    credential: &str,
    id: &[&[u8]],
    now: u64,
    timestamp: u64,
    replayed: &str,
    request_id: &str,
) -> Result<(), TcError> {
    match memory.admit(credential, id, now, timestamp + auth::TIMESTAMP_WINDOW_SECS) {
        Ok(()) => Ok(()),
        Err(Refusal::Replayed) => Err(TcError::new(AUTH_INVALID_AUTHORIZATION, replayed)),
        Err(Refusal::Full) => Err(TcError::new(
            REQUEST_LIMIT_EXCEEDED,
            "Too many signed requests of this credential within the signature window; \
             retry later.",
        )),
        Err(Refusal::Unavailable(e)) => Err(from_kms(e.into(), request_id)),
    }
}

/// The action's own parameters, nested, and whether they came flattened (every leaf a
/// string). Runs only after authentication.
fn own_params(req: &SignedParts<'_>, style: Style) -> Result<(Map<String, Value>, bool), TcError> {
    match style {
        Style::Legacy { pairs } => {
            let own: Vec<(String, String)> = pairs
                .into_iter()
                .filter(|(k, _)| !COMMON_PARAMS.contains(&k.as_str()))
                .collect();
            Ok((unflatten(&own)?, true))
        }
        Style::Tc3 {
            json_body: false, ..
        } => {
            let flattened = if req.method == "GET" {
                req.query.as_bytes()
            } else {
                req.body
            };
            Ok((unflatten(&form_pairs(flattened)?)?, true))
        }
        Style::Tc3 {
            json_body: true, ..
        } => {
            let body = if req.body.iter().all(u8::is_ascii_whitespace) {
                b"{}".as_slice()
            } else {
                req.body
            };
            let not_object =
                || TcError::new(INVALID_PARAMETER, "The request body is not a JSON object.");
            if !json_depth_within(body, MAX_JSON_DEPTH) {
                return Err(TcError::new(
                    INVALID_PARAMETER,
                    format!("The request body nests deeper than {MAX_JSON_DEPTH} levels."),
                ));
            }
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(m)) => Ok((m, false)),
                _ => Err(not_object()),
            }
        }
    }
}

/// A Tencent error envelope, for answers the server gives before (or instead of) the dialect:
/// an oversize body, a request worker that failed.
pub fn error_body(code: &str, message: &str, request_id: &str) -> Vec<u8> {
    let body = json!({ "Response": {
        "Error": { "Code": code, "Message": message },
        "RequestId": request_id,
    }});
    serde_json::to_vec(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests;
