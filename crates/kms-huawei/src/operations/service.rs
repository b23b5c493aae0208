//! The service operations: how many keys the project holds, its key quota, and the regions it
//! is served in. Each answers what this server holds and enforces, not the vendor's figures.

use serde_json::{Value, json};

use kms_core::KeyListFilter;
use kms_core::engine::GRANTS_PER_KEY;

use super::{Context, Request, kms};
use crate::errors::{HwError, INVALID_LIMIT, INVALID_OFFSET};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceOp {
    UserInstances,
    UserQuotas,
    Regions,
}

pub fn run(ctx: &Context<'_>, op: ServiceOp, req: &Request<'_>) -> Result<Value, HwError> {
    let (engine, caller) = (ctx.engine, ctx.caller);
    match op {
        // Every key the project holds, whatever its state (this server has no default keys,
        // which the vendor leaves out).
        ServiceOp::UserInstances => {
            let filter = KeyListFilter {
                limit: 0,
                ..KeyListFilter::default()
            };
            let (total, _) = engine.list_keys(caller, &filter).map_err(kms)?;
            Ok(json!({ "instance_num": total }))
        }
        // The configured key limit and what counts toward it (keys pending deletion do not);
        // the grant quota per key and, as used, the most grants one key of the project holds.
        ServiceOp::UserQuotas => {
            let used = engine.count_keys(caller).map_err(kms)?;
            let grants = engine.most_grants_on_a_key(caller).map_err(kms)?;
            Ok(json!({ "quotas": { "resources": [
                {
                    "type": "CMK",
                    "used": used,
                    "quota": engine.config().max_keys_per_region,
                },
                {
                    "type": "grant_per_CMK",
                    "used": grants,
                    "quota": GRANTS_PER_KEY,
                },
            ]}}))
        }
        // The regions this server serves (each with a project of the caller's); keys are not
        // replicated between them. The query's `limit` and `offset` page the list as the SDK's
        // request model has them.
        ServiceOp::Regions => {
            let offset = number(req.query("offset"), INVALID_OFFSET, "offset")?.unwrap_or(0);
            let limit = number(req.query("limit"), INVALID_LIMIT, "limit")?.unwrap_or(usize::MAX);
            let regions: Vec<&str> = ctx
                .regions
                .iter()
                .map(String::as_str)
                .skip(offset)
                .take(limit)
                .collect();
            Ok(json!({ "regions": regions }))
        }
    }
}

/// A count of the query: absent or empty is `None`; anything but a whole number is refused.
fn number(v: Option<&str>, code: &'static str, field: &str) -> Result<Option<usize>, HwError> {
    match v {
        None | Some("") => Ok(None),
        Some(n) => n
            .parse()
            .map(Some)
            .map_err(|_| HwError::bad(code, format!("Invalid {field}."))),
    }
}
