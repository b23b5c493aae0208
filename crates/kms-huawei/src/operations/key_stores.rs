//! The key store operations (the vendor's dedicated keystores): create, list, show, enable,
//! disable, delete. A key store names an HSM cluster this server serves (`--hsm-cluster`);
//! create-key's `keystore_id` creates the key in that cluster. Create's `hsm_ca_cert` is
//! ignored: the clusters are reached through PKCS#11, with nothing to check a CA against.

use serde::Deserialize;
use serde_json::{Value, json};

use kms_core::engine::KeyStore;

use super::{Context, Request, follows_alias_pattern, kms, millis, page_limit, parse, required};
use crate::errors::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStoreOp {
    Create,
    List,
    Show,
    Enable,
    Disable,
    Delete,
}

/// Most key stores one list-keystores page holds, and the page size when none is asked for.
const LIST_LIMIT_MAX: usize = 100;

/// The vendor's `keystore_type` of a key store over a dedicated HSM cluster.
const DEDICATED_HSM: &str = "1";

/// `keystore_state` as the vendor writes key states: 2 enabled, 3 disabled.
const STATE_ENABLED: &str = "2";
const STATE_DISABLED: &str = "3";

#[derive(Debug, Default, Deserialize)]
struct CreateKeyStoreRequestBody {
    keystore_alias: Option<String>,
    hsm_cluster_id: Option<String>,
    cluster_id: Option<String>,
    keystore_type: Option<String>,
}

pub fn run(ctx: &Context<'_>, op: KeyStoreOp, req: &Request<'_>) -> Result<Value, HwError> {
    let (engine, caller) = (ctx.engine, ctx.caller);
    match op {
        KeyStoreOp::Create => {
            let b: CreateKeyStoreRequestBody = parse(req.body)?;
            let alias = keystore_alias(b.keystore_alias)?;
            if b.keystore_type
                .as_deref()
                .is_some_and(|t| !t.is_empty() && t != DEDICATED_HSM)
            {
                return Err(HwError::invalid("keystore_type"));
            }
            let cluster = required(b.hsm_cluster_id.or(b.cluster_id), "hsm_cluster_id")?;
            let store = engine
                .create_key_store(caller, &alias, &cluster)
                .map_err(kms)?;
            Ok(json!({ "keystore": {
                "keystore_id": store.keystore_id.to_string(),
                "domain_id": caller.account.to_string(),
            }}))
        }
        KeyStoreOp::List => {
            let present = |name| req.query(name).filter(|v| !v.is_empty());
            let limit = page_limit(present("limit"), LIST_LIMIT_MAX)?;
            let offset = match present("offset") {
                None => 0,
                Some(o) => o.parse::<usize>().map_err(|_| HwError::invalid("offset"))?,
            };
            let stores = engine.list_key_stores(caller).map_err(kms)?;
            let page: Vec<Value> = stores
                .iter()
                .skip(offset)
                .take(limit)
                .map(|s| details(ctx, s))
                .collect();
            Ok(json!({ "total": stores.len(), "keystores": page }))
        }
        KeyStoreOp::Show => {
            let store = engine.key_store(caller, path_id(req)?).map_err(kms)?;
            Ok(json!({ "keystore": details(ctx, &store) }))
        }
        KeyStoreOp::Enable | KeyStoreOp::Disable => {
            let store = engine
                .set_key_store_enabled(caller, path_id(req)?, op == KeyStoreOp::Enable)
                .map_err(kms)?;
            Ok(json!({ "keystore": {
                "keystore_id": store.keystore_id.to_string(),
                "keystore_state": state(&store),
            }}))
        }
        KeyStoreOp::Delete => {
            engine
                .delete_key_store(caller, path_id(req)?)
                .map_err(kms)?;
            Ok(json!({}))
        }
    }
}

/// The key store the path names.
fn path_id<'a>(req: &Request<'a>) -> Result<&'a str, HwError> {
    req.path_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| HwError::missing("keystore_id"))
}

/// A key store alias as the request names it: the vendor's `^[a-zA-Z0-9:/_-]{1,255}$`.
fn keystore_alias(alias: Option<String>) -> Result<String, HwError> {
    let alias = required(alias, "keystore_alias")?;
    if !follows_alias_pattern(&alias) {
        return Err(HwError::bad(INVALID_ALIAS, "Invalid keystore_alias."));
    }
    Ok(alias)
}

fn state(store: &KeyStore) -> &'static str {
    if store.enabled {
        STATE_ENABLED
    } else {
        STATE_DISABLED
    }
}

/// The SDK's `KeystoreDetails`.
fn details(ctx: &Context<'_>, store: &KeyStore) -> Value {
    json!({
        "keystore_id": store.keystore_id.to_string(),
        "domain_id": ctx.caller.account.to_string(),
        "keystore_alias": store.alias,
        "keystore_type": DEDICATED_HSM,
        "hsm_cluster_id": store.hsm_cluster,
        "cluster_id": store.hsm_cluster,
        "create_time": millis(store.created_at),
    })
}
