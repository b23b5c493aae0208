//! The operations, one module per family: each parses the SDK's model of its request, calls
//! the engine and shapes the answer as the SDK's response model. Wire types live beside the
//! operation that reads them and are named as the SDK names them.

mod aliases;
mod asymmetric;
mod crypto;
mod grants;
mod import;
mod key_stores;
mod keys;
mod rotation;
mod service;
mod tags;

pub use aliases::AliasOp;
pub use asymmetric::AsymmetricOp;
pub use crypto::{AAD_CONTEXT_KEY, CryptoOp};
pub use grants::{GrantOp, grant_operation};
pub use import::ImportOp;
pub use key_stores::KeyStoreOp;
pub use keys::KeyOp;
pub use rotation::RotationOp;
pub use service::ServiceOp;
pub use tags::TagOp;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use kms_core::{Caller, Engine};

use crate::errors::*;
use crate::routes::Op;

/// What an operation reads of its request.
pub struct Request<'a> {
    /// The JSON body (the empty object when there was none).
    pub body: &'a Value,
    /// `{key_id}` of the path, when the route has one.
    pub path_key_id: Option<&'a str>,
    /// `{key}` (a tag key) of the path, percent-decoded.
    pub path_tag_key: Option<&'a str>,
    /// `{id}` of the path (a key store's id), percent-decoded.
    pub path_id: Option<&'a str>,
    /// The query's pairs, percent-decoded, in order.
    pub query: &'a [(String, String)],
}

impl Request<'_> {
    /// The first value of a query parameter.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub fn run(ctx: &Context<'_>, op: Op, req: &Request<'_>) -> Result<Value, HwError> {
    match grant_operation(op) {
        Some(granted) => kms_core::engine::with_grant_operation(granted, || run_op(ctx, op, req)),
        None => run_op(ctx, op, req),
    }
}

fn run_op(ctx: &Context<'_>, op: Op, req: &Request<'_>) -> Result<Value, HwError> {
    match op {
        Op::Key(op) => keys::run(ctx, op, req),
        Op::Alias(op) => aliases::run(ctx, op, req),
        Op::Crypto(op) => crypto::run(ctx, op, req),
        Op::Import(op) => import::run(ctx, op, req),
        Op::Asymmetric(op) => asymmetric::run(ctx, op, req),
        Op::Rotation(op) => rotation::run(ctx, op, req),
        Op::Tag(op) => tags::run(ctx, op, req),
        Op::Service(op) => service::run(ctx, op, req),
        Op::Grant(op) => grants::run(ctx, op, req),
        Op::KeyStore(op) => key_stores::run(ctx, op, req),
        Op::Unsupported => Err(unsupported()),
    }
}

/// The engine, who is calling it, and the regions this server serves.
pub struct Context<'a> {
    pub engine: &'a Engine,
    pub caller: &'a Caller,
    pub regions: &'a [String],
}

/// The answer to an operation this server does not offer.
pub fn unsupported() -> HwError {
    HwError::bad(
        INVALID_URL,
        "This operation is not supported by this server yet.",
    )
}

/// Reads a request body into its SDK model; a field of the wrong JSON type is refused.
pub fn parse<T: DeserializeOwned>(body: &Value) -> Result<T, HwError> {
    T::deserialize(body).map_err(|e| {
        HwError::bad(
            INVALID_PARAMETER,
            format!("A parameter has the wrong type: {e}."),
        )
    })
}

/// A field the operation cannot go without; empty counts as missing.
pub fn required(v: Option<String>, field: &str) -> Result<String, HwError> {
    v.filter(|s| !s.is_empty())
        .ok_or_else(|| HwError::missing(field))
}

/// The body of every operation that names one key and nothing else.
#[derive(Debug, Default, Deserialize)]
pub struct OperateKeyRequestBody {
    pub key_id: Option<String>,
    pub sequence: Option<String>,
}

/// The `key_id` of a body that names one key.
pub fn key_id(body: &Value) -> Result<String, HwError> {
    let b: OperateKeyRequestBody = parse(body)?;
    required(b.key_id, "key_id")
}

/// A length in bits, a positive multiple of 8, as bytes.
pub fn bits_to_bytes(bits: &str, code: &'static str, field: &str) -> Result<usize, HwError> {
    bits.parse::<usize>()
        .ok()
        .filter(|b| *b > 0 && b % 8 == 0)
        .map(|b| b / 8)
        .ok_or_else(|| HwError::bad(code, format!("Invalid {field}.")))
}

/// A page size from the query or body: absent is `max`; outside 1..=`max` is the vendor's
/// `KMS.1601`.
pub fn page_limit(value: Option<&str>, max: usize) -> Result<usize, HwError> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok(max),
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=max).contains(l))
            .ok_or_else(|| {
                HwError::bad(INVALID_LIMIT, "The value of limit falls beyond the range.")
            }),
    }
}

/// Whether a name follows the vendor's alias pattern `^[a-zA-Z0-9:/_-]{1,255}$` (key aliases,
/// aliases and key store aliases share it).
pub fn follows_alias_pattern(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '_' | '-');
    (1..=255).contains(&name.len()) && name.chars().all(allowed)
}

/// Milliseconds since the epoch as the SDK's string; 0 (never) is the empty string.
pub fn millis(secs: u64) -> String {
    if secs == 0 {
        String::new()
    } else {
        (secs * 1000).to_string()
    }
}

/// Shorthand for mapping an engine error.
pub fn kms(e: kms_core::KmsError) -> HwError {
    map_error(&e)
}
