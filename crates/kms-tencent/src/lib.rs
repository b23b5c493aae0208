//! The Tencent Cloud API 3.0 dialect (service `kms`, version 2019-01-18).
//!
//! [`TencentApi::handle`] takes a request as it arrived, authenticates it (TC3-HMAC-SHA256 or the
//! legacy HmacSHA1/HmacSHA256 signature), validates its parameters against the action table,
//! calls the engine, and answers in Tencent's envelope. It knows nothing of the HTTP server.

pub mod actions;
pub mod auth;
mod data_keys;
pub mod errors;
pub mod params;
pub mod wire;

use std::sync::Arc;

use serde_json::{Map, Value, json};

use kms_core::accounts::{Directory, Principal};
use kms_core::{AccountId, Caller, Engine};

use crate::auth::SignedParts;
use crate::errors::*;
use crate::params::{Params, unflatten};

/// The API version this dialect speaks.
pub const VERSION: &str = "2019-01-18";

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

/// Who asked for what, as far as the request got: what an audit record names besides the outcome.
/// Never a secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFields {
    /// The account whose signature the request carried, once verified.
    pub account: Option<AccountId>,
    /// The SecretId the request was signed with, as presented (also when it was refused).
    pub credential_id: Option<String>,
    /// The region the request named, as presented.
    pub region: Option<String>,
    /// The key and data key ids the request named (once its parameters were valid) and the answer
    /// names, each once.
    pub resources: Vec<String>,
}

/// Longest presented string an audit record keeps (ids and regions are far shorter).
const AUDIT_STRING_MAX: usize = 128;

fn audit_string(s: &str) -> String {
    let mut end = s.len().min(AUDIT_STRING_MAX);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

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

impl AuditFields {
    fn add_resource(&mut self, id: &str) {
        if !id.is_empty() && !self.resources.iter().any(|r| r == id) {
            self.resources.push(audit_string(id));
        }
    }

    fn add_request_resources(&mut self, params: &Params) {
        for &(name, is_list) in RESOURCE_PARAMS {
            if is_list {
                params
                    .str_list(name)
                    .iter()
                    .for_each(|id| self.add_resource(id));
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

pub struct TencentApi {
    engine: Arc<Engine>,
    directory: Arc<Directory>,
    signing_keys: auth::SigningKeys,
    regions: Vec<String>,
}

/// Where the request's common parameters and signature came from.
enum Style {
    Tc3 { authorization: String },
    Legacy { pairs: Vec<(String, String)> },
}

/// The request before its action runs.
struct Envelope {
    style: Style,
    action: Option<String>,
    version: Option<String>,
    region: Option<String>,
    timestamp: Option<String>,
    token: Option<String>,
    params: Map<String, Value>,
    from_query: bool,
}

impl Envelope {
    /// The SecretId the request claims to be signed with, before any check.
    fn credential_id(&self) -> Option<&str> {
        match &self.style {
            Style::Tc3 { authorization } => auth::parse_tc3_authorization(authorization)
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

fn form_pairs(s: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(s).into_owned().collect()
}

impl TencentApi {
    pub fn new(engine: Arc<Engine>, directory: Arc<Directory>, regions: Vec<String>) -> Self {
        Self {
            engine,
            directory,
            signing_keys: auth::SigningKeys::default(),
            regions,
        }
    }

    /// Whether a request to `/` belongs to this dialect: it names an Action in a header, the
    /// query string or a form body.
    pub fn claims(headers: &http::HeaderMap, query: &str, form_body: Option<&[u8]>) -> bool {
        let names_action = |pairs: Vec<(String, String)>| pairs.iter().any(|(k, _)| k == "Action");
        headers.contains_key("x-tc-action")
            || names_action(form_pairs(query.as_bytes()))
            || form_body.is_some_and(|b| names_action(form_pairs(b)))
    }

    /// Serves one request; never panics on any input.
    pub fn handle(&self, req: &SignedParts<'_>, request_id: &str) -> Reply {
        // A request too malformed to parse is still counted and audited under the action it names.
        let mut action = actions::known_name(header(req, "x-tc-action").unwrap_or_default());
        let mut audit = AuditFields::default();
        let result = self.parse(req).and_then(|env| {
            action = actions::known_name(env.action.as_deref().unwrap_or_default());
            audit.credential_id = env.credential_id().map(audit_string);
            audit.region = env.region.as_deref().map(audit_string);
            self.run(req, env, request_id, &mut audit)
        });
        match result {
            Ok(Value::Object(mut fields)) => {
                audit.add_answer_resources(&fields);
                fields.insert("RequestId".into(), Value::String(request_id.to_owned()));
                let body = json!({ "Response": Value::Object(fields) });
                Reply {
                    body: serde_json::to_vec(&body).unwrap_or_default(),
                    action,
                    error_code: None,
                    audit,
                }
            }
            Ok(_) => {
                tracing::error!(request_id, action, "handler answered a non-object");
                Reply {
                    body: error_body(INTERNAL_ERROR, "internal error", request_id),
                    action,
                    error_code: Some(INTERNAL_ERROR),
                    audit,
                }
            }
            Err(e) => Reply {
                body: error_body(e.code, &e.message, request_id),
                action,
                error_code: Some(e.code),
                audit,
            },
        }
    }

    fn parse(&self, req: &SignedParts<'_>) -> Result<Envelope, TcError> {
        let content_type = header(req, "content-type")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let is_form = content_type.starts_with("application/x-www-form-urlencoded");
        if let Some(authorization) = header(req, "authorization").filter(|a| a.starts_with("TC3-"))
        {
            let (params, from_query) = match req.method {
                "GET" => (unflatten(&form_pairs(req.query.as_bytes()))?, true),
                "POST" if is_form => (unflatten(&form_pairs(req.body))?, true),
                "POST" if content_type.starts_with("application/json") => {
                    let body = if req.body.iter().all(u8::is_ascii_whitespace) {
                        b"{}".as_slice()
                    } else {
                        req.body
                    };
                    match serde_json::from_slice::<Value>(body) {
                        Ok(Value::Object(m)) => (m, false),
                        _ => {
                            return Err(TcError::new(
                                INVALID_PARAMETER,
                                "The request body is not a JSON object.",
                            ));
                        }
                    }
                }
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
            };
            let h = |name| header(req, name).map(str::to_owned);
            return Ok(Envelope {
                style: Style::Tc3 {
                    authorization: authorization.to_owned(),
                },
                action: h("x-tc-action"),
                version: h("x-tc-version"),
                region: h("x-tc-region"),
                timestamp: h("x-tc-timestamp"),
                token: h("x-tc-token"),
                params,
                from_query,
            });
        }
        if header(req, "authorization").is_some() {
            return Err(TcError::new(
                AUTH_INVALID_AUTHORIZATION,
                "The Authorization header is malformed.",
            ));
        }
        let pairs = match req.method {
            "GET" => form_pairs(req.query.as_bytes()),
            "POST" if is_form => form_pairs(req.body),
            "POST" if content_type.starts_with("application/json") => {
                return Err(TcError::new(
                    AUTH_INVALID_AUTHORIZATION,
                    "The Authorization header is missing.",
                ));
            }
            _ => {
                return Err(TcError::new(
                    UNSUPPORTED_PROTOCOL,
                    "A request without TC3 authorization must be GET or a form POST.",
                ));
            }
        };
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let own: Vec<(String, String)> = pairs
            .iter()
            .filter(|(k, _)| !COMMON_PARAMS.contains(&k.as_str()))
            .cloned()
            .collect();
        Ok(Envelope {
            action: get("Action"),
            version: get("Version"),
            region: get("Region"),
            timestamp: get("Timestamp"),
            token: get("Token"),
            params: unflatten(&own)?,
            from_query: true,
            style: Style::Legacy { pairs },
        })
    }

    fn authenticate(
        &self,
        req: &SignedParts<'_>,
        env: &Envelope,
    ) -> Result<Arc<Principal>, TcError> {
        let now = self.engine.now();
        let principal = match &env.style {
            Style::Tc3 { authorization } => {
                let timestamp = env
                    .timestamp
                    .as_deref()
                    .ok_or_else(|| missing("X-TC-Timestamp"))?;
                auth::verify_tc3(
                    req,
                    authorization,
                    timestamp,
                    &self.directory,
                    &self.signing_keys,
                    now,
                )?
            }
            Style::Legacy { pairs } => auth::verify_legacy(req, pairs, &self.directory, now)?,
        };
        if env.token.as_deref().is_some_and(|t| !t.is_empty()) {
            return Err(TcError::new(
                AUTH_TOKEN_FAILURE,
                "Temporary credentials are not issued by this server.",
            ));
        }
        Ok(principal)
    }

    fn run(
        &self,
        req: &SignedParts<'_>,
        env: Envelope,
        request_id: &str,
        audit: &mut AuditFields,
    ) -> Result<Value, TcError> {
        let name = env
            .action
            .as_deref()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| missing("Action"))?;
        let principal = self.authenticate(req, &env)?;
        audit.account = Some(principal.account);
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
        match env.version.as_deref() {
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
        let region = match env.region.as_deref() {
            None | Some("") => {
                return Err(missing("Region"));
            }
            Some(r) if self.regions.iter().any(|known| known == r) => r.to_owned(),
            Some(r) => {
                return Err(TcError::new(
                    UNSUPPORTED_REGION,
                    format!("The action not support this region `{r}`."),
                ));
            }
        };
        let params = Params::validate(env.params, action.fields, env.from_query)?;
        audit.add_request_resources(&params);
        let ctx = actions::Ctx {
            engine: &self.engine,
            caller: Caller {
                account: principal.account,
                region,
            },
            request_id,
            regions: &self.regions,
        };
        (action.handler)(&ctx, &params)
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
mod tests {
    use super::*;

    #[test]
    fn audit_fields_name_each_resource_once() {
        let params = Params::validate(
            json!({ "KeyIds": ["k1", "k2"], "KeyId": "k1", "Plaintext": "c2VjcmV0" })
                .as_object()
                .cloned()
                .unwrap(),
            &[
                params::Field::opt("KeyId", params::Kind::Str { min: 0, max: 128 }),
                params::Field::opt("KeyIds", params::Kind::StrList { min: 1, max: 100 }),
                params::Field::opt("Plaintext", params::Kind::Str { min: 0, max: 100 }),
            ],
            false,
        )
        .unwrap();
        let mut audit = AuditFields::default();
        audit.add_request_resources(&params);
        let answer = json!({
            "KeyId": "k2",
            "SourceKeyId": "k0",
            "DataKeyMetadata": { "DataKeyId": "dk1", "KeyId": "k1" },
            "Plaintext": "c2VjcmV0",
        });
        audit.add_answer_resources(answer.as_object().unwrap());
        assert_eq!(audit.resources, ["k1", "k2", "k0", "dk1"]);
    }

    #[test]
    fn audit_strings_are_bounded_on_a_char_boundary() {
        assert_eq!(audit_string("ap-guangzhou"), "ap-guangzhou");
        let long = "é".repeat(100);
        let kept = audit_string(&long);
        assert_eq!(kept.len(), AUDIT_STRING_MAX);
        assert!(long.starts_with(&kept));
    }
}
