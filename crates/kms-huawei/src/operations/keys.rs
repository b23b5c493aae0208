//! The key operations: create, describe, list, enable, disable, schedule and cancel deletion,
//! update alias and description.

use serde::Deserialize;
use serde_json::{Value, json};

use kms_core::engine::{DeletableFrom, KeyStore, NewKey};
use kms_core::{KeyListFilter, KeyRecord, KeySpec, KeyState, SortOrder};

use super::{Context, Request, key_id, kms, millis, page_limit, parse, required};
use crate::errors::*;
use crate::mapping::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOp {
    Create,
    Describe,
    List,
    Enable,
    Disable,
    ScheduleDeletion,
    CancelDeletion,
    UpdateAlias,
    UpdateDescription,
}

/// Most keys one list-keys page holds.
const LIST_LIMIT_MAX: usize = 1000;

/// Longest key alias and description, in characters (the SDK's model).
const ALIAS_MAX_CHARS: usize = 255;
const DESCRIPTION_MAX_CHARS: usize = 255;

#[derive(Debug, Default, Deserialize)]
struct CreateKeyRequestBody {
    key_alias: Option<String>,
    key_spec: Option<String>,
    key_usage: Option<String>,
    key_description: Option<String>,
    origin: Option<String>,
    enterprise_project_id: Option<String>,
    keystore_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ListKeysRequestBody {
    limit: Option<String>,
    marker: Option<String>,
    key_state: Option<String>,
    key_spec: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ScheduleKeyDeletionRequestBody {
    key_id: Option<String>,
    pending_days: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct UpdateKeyAliasRequestBody {
    key_id: Option<String>,
    key_alias: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct UpdateKeyDescriptionRequestBody {
    key_id: Option<String>,
    key_description: Option<String>,
}

pub fn run(ctx: &Context<'_>, op: KeyOp, req: &Request<'_>) -> Result<Value, HwError> {
    let (engine, caller, body) = (ctx.engine, ctx.caller, req.body);
    match op {
        KeyOp::Create => {
            let b: CreateKeyRequestBody = parse(body)?;
            let spec = match b.key_spec.as_deref() {
                None | Some("") => KeySpec::Aes256,
                Some(s) => spec_from_name(s).ok_or_else(|| HwError::invalid("key_spec"))?,
            };
            let usage = match b.key_usage.as_deref() {
                None | Some("") => default_usage(spec),
                Some(u) => usage_from_name(u).ok_or_else(|| HwError::invalid("key_usage"))?,
            };
            let origin = origin_from_name(b.origin.as_deref().unwrap_or_default())
                .ok_or_else(|| HwError::invalid("origin"))?;
            // Only the default enterprise project exists here.
            if b.enterprise_project_id
                .as_deref()
                .is_some_and(|p| !p.is_empty() && p != "0")
            {
                return Err(HwError::invalid("enterprise_project_id"));
            }
            let alias = key_alias(b.key_alias)?;
            let description = key_description(b.key_description.unwrap_or_default())?;
            let new = NewKey {
                hsm_cluster: None,
                alias,
                description,
                usage,
                spec,
                origin,
                tags: Vec::new(),
            };
            // "0" and absent name the default key store: the software one.
            let key = match b.keystore_id.as_deref() {
                None | Some("" | "0") => engine.create_key(caller, new),
                Some(id) => engine.create_key_in_key_store(caller, id, new),
            }
            .map_err(kms)?;
            Ok(json!({ "key_info": {
                "key_id": key.key_id.to_string(),
                "domain_id": key.account.to_string(),
                "region_id": key.region,
            }}))
        }
        KeyOp::Describe => {
            let id = key_id(body)?;
            let key = engine.describe_key(caller, &id).map_err(kms)?;
            let stores = key_stores_of(ctx, std::slice::from_ref(&key))?;
            Ok(json!({ "key_info": key_details_in(&key, &stores) }))
        }
        KeyOp::List => list_keys(ctx, parse(body)?),
        KeyOp::Enable | KeyOp::Disable => {
            let id = key_id(body)?;
            if op == KeyOp::Enable {
                engine.enable_key(caller, &id).map_err(kms)?;
            } else {
                engine.disable_key(caller, &id).map_err(kms)?;
            }
            let key = engine.describe_key(caller, &id).map_err(kms)?;
            Ok(json!({ "key_info": { "key_id": id, "key_state": state_name(key.state) } }))
        }
        KeyOp::ScheduleDeletion => {
            let b: ScheduleKeyDeletionRequestBody = parse(body)?;
            let id = required(b.key_id, "key_id")?;
            let days = required(b.pending_days, "pending_days")?;
            let days: u32 = days
                .parse()
                .ok()
                .filter(|d| (7..=1096).contains(d))
                .ok_or_else(|| {
                    HwError::bad(PENDING_DAYS, "pending_days must be from 7 to 1096.")
                })?;
            engine
                .schedule_deletion(caller, &id, days, DeletableFrom::EnabledOrDisabled)
                .map_err(kms)?;
            Ok(json!({ "key_id": id, "key_state": state_name(KeyState::PendingDelete) }))
        }
        KeyOp::CancelDeletion => {
            let id = key_id(body)?;
            engine.cancel_deletion(caller, &id).map_err(kms)?;
            let key = engine.describe_key(caller, &id).map_err(kms)?;
            Ok(json!({ "key_id": id, "key_state": state_name(key.state) }))
        }
        KeyOp::UpdateAlias => {
            let b: UpdateKeyAliasRequestBody = parse(body)?;
            let id = required(b.key_id, "key_id")?;
            let alias = key_alias(b.key_alias)?;
            engine
                .update_alias(caller, &id, alias.clone())
                .map_err(kms)?;
            Ok(json!({ "key_info": { "key_id": id, "key_alias": alias } }))
        }
        KeyOp::UpdateDescription => {
            let b: UpdateKeyDescriptionRequestBody = parse(body)?;
            let id = required(b.key_id, "key_id")?;
            let description = key_description(required(b.key_description, "key_description")?)?;
            engine
                .update_description(caller, &id, description.clone())
                .map_err(kms)?;
            Ok(json!({ "key_info": { "key_id": id, "key_description": description } }))
        }
    }
}

/// A key alias as the vendor allows it: 1 to 255 of `a-zA-Z0-9:/_-`, and not a default master
/// key's (those end in `/default` and belong to cloud services).
fn key_alias(alias: Option<String>) -> Result<String, HwError> {
    let alias = required(alias, "key_alias")?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '_' | '-');
    if alias.chars().count() > ALIAS_MAX_CHARS
        || !alias.chars().all(allowed)
        || alias.ends_with("/default")
    {
        return Err(HwError::bad(INVALID_ALIAS, "Invalid key_alias."));
    }
    Ok(alias)
}

/// A key description: at most 255 characters.
fn key_description(description: String) -> Result<String, HwError> {
    if description.chars().count() > DESCRIPTION_MAX_CHARS {
        return Err(HwError::bad(
            INVALID_DESCRIPTION,
            "Invalid key_description.",
        ));
    }
    Ok(description)
}

fn list_keys(ctx: &Context<'_>, b: ListKeysRequestBody) -> Result<Value, HwError> {
    let limit = page_limit(b.limit.as_deref(), LIST_LIMIT_MAX)?;
    let offset = match b.marker.as_deref() {
        None | Some("") => 0,
        Some(m) => m.parse::<usize>().map_err(|_| {
            HwError::bad(
                INVALID_MARKER,
                "The value of marker must be greater than or equal to 0.",
            )
        })?,
    };
    let specs = match b.key_spec.as_deref() {
        None | Some("") => Some(vec![KeySpec::Aes256]),
        Some("ALL") => None,
        Some(s) => Some(vec![
            spec_from_name(s).ok_or_else(|| HwError::invalid("key_spec"))?,
        ]),
    };
    let states = match b.key_state.as_deref() {
        None | Some("") => None,
        Some(s) => Some(state_from_name(s).ok_or_else(|| HwError::invalid("key_state"))?),
    };
    let filter = KeyListFilter {
        states,
        specs,
        order: SortOrder::OldestFirst,
        offset,
        limit,
        ..KeyListFilter::default()
    };
    let (total, page) = ctx.engine.list_keys(ctx.caller, &filter).map_err(kms)?;
    let stores = key_stores_of(ctx, &page)?;
    let next = offset + page.len();
    let truncated = next < total;
    Ok(json!({
        "keys": page.iter().map(|k| k.key_id.to_string()).collect::<Vec<_>>(),
        "key_details": page
            .iter()
            .map(|k| key_details_in(k, &stores))
            .collect::<Vec<_>>(),
        "next_marker": if truncated { next.to_string() } else { String::new() },
        "truncated": truncated.to_string(),
        "total": total,
    }))
}

/// The caller's key stores when one of `keys` lives in an HSM cluster (else none are needed,
/// and the store is not read).
pub(super) fn key_stores_of(
    ctx: &Context<'_>,
    keys: &[KeyRecord],
) -> Result<Vec<KeyStore>, HwError> {
    if keys.iter().all(|k| k.hsm_cluster.is_none()) {
        return Ok(Vec::new());
    }
    ctx.engine.list_key_stores(ctx.caller).map_err(kms)
}

/// The SDK's `KeyDetails` of a key, naming the key store among `stores` whose HSM cluster
/// holds it.
pub(super) fn key_details_in(k: &KeyRecord, stores: &[KeyStore]) -> Value {
    let mut details = key_details(k);
    if let Some(store) = stores
        .iter()
        .find(|s| k.hsm_cluster.as_deref() == Some(s.hsm_cluster.as_str()))
    {
        details["keystore_id"] = json!(store.keystore_id.to_string());
    }
    details
}

/// The SDK's `KeyDetails`, in the default key store.
fn key_details(k: &KeyRecord) -> Value {
    json!({
        "key_id": k.key_id.to_string(),
        "domain_id": k.account.to_string(),
        "key_alias": k.alias,
        "realm": k.region,
        "key_spec": spec_name(k.spec),
        "key_usage": usage_name(k.usage),
        "key_description": k.description,
        "creation_date": millis(k.created_at),
        "scheduled_deletion_date": millis(k.deletion_date),
        "key_state": state_name(k.state),
        "default_key_flag": "0",
        "key_type": "1",
        "expiration_time": millis(k.valid_to),
        "origin": origin_name(k.origin),
        "key_rotation_enabled": k.rotation.enabled.to_string(),
        "sys_enterprise_project_id": "0",
        "keystore_id": "0",
    })
}
