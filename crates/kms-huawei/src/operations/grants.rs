//! The grant operations: create-grant, revoke-grant, retire-grant, list-grants and
//! list-retirable-grants. Also which grant operation each served operation is, so that a
//! grantee reaches a key only for what its grant allows.

use serde::Deserialize;
use serde_json::{Value, json};

use kms_core::engine::{GRANTS_PER_KEY, NewGrant};
use kms_core::grants::{GrantOperation, GrantRecord, GranteeType};

use super::{Context, CryptoOp, KeyOp, Request, kms, millis, parse, required};
use crate::errors::{HwError, INVALID_LIMIT, INVALID_MARKER, INVALID_SEQUENCE};
use crate::routes::Op;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantOp {
    Create,
    Revoke,
    Retire,
    List,
    ListRetirable,
}

/// The vendor's `sequence`: "a 36-byte serial number".
const SEQUENCE_MAX: usize = 36;
/// A grant id: 64 hex digits (the SDK's `RevokeGrantRequestBody`).
const GRANT_ID_LEN: usize = 64;

#[derive(Debug, Default, Deserialize)]
struct CreateGrantRequestBody {
    key_id: Option<String>,
    grantee_principal: Option<String>,
    operations: Option<Vec<String>>,
    name: Option<String>,
    retiring_principal: Option<String>,
    grantee_principal_type: Option<String>,
    sequence: Option<String>,
}

/// Revoke and retire share the SDK's `RevokeGrantRequestBody`.
#[derive(Debug, Default, Deserialize)]
struct RevokeGrantRequestBody {
    key_id: Option<String>,
    grant_id: Option<String>,
    sequence: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ListGrantsRequestBody {
    key_id: Option<String>,
    limit: Option<String>,
    marker: Option<String>,
    sequence: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ListRetirableGrantsRequestBody {
    limit: Option<String>,
    marker: Option<String>,
    sequence: Option<String>,
}

/// The grant operation a served operation performs, when grants can allow it. Requests of
/// every other operation reach only the caller's own keys.
pub fn grant_operation(op: Op) -> Option<GrantOperation> {
    Some(match op {
        Op::Key(KeyOp::Describe) => GrantOperation::DescribeKey,
        Op::Crypto(CryptoOp::EncryptData) => GrantOperation::EncryptData,
        Op::Crypto(CryptoOp::DecryptData) => GrantOperation::DecryptData,
        Op::Crypto(CryptoOp::CreateDatakey) => GrantOperation::CreateDatakey,
        Op::Crypto(CryptoOp::CreateDatakeyWithoutPlaintext) => {
            GrantOperation::CreateDatakeyWithoutPlaintext
        }
        Op::Crypto(CryptoOp::EncryptDatakey) => GrantOperation::EncryptDatakey,
        Op::Crypto(CryptoOp::DecryptDatakey) => GrantOperation::DecryptDatakey,
        _ => return None,
    })
}

pub fn run(ctx: &Context<'_>, op: GrantOp, req: &Request<'_>) -> Result<Value, HwError> {
    let (engine, caller) = (ctx.engine, ctx.caller);
    match op {
        GrantOp::Create => {
            let b: CreateGrantRequestBody = parse(req.body)?;
            check_sequence(b.sequence.as_deref())?;
            let key_id = required(b.key_id, "key_id")?;
            let grantee = required(b.grantee_principal, "grantee_principal")?;
            let operations = b
                .operations
                .filter(|o| !o.is_empty())
                .ok_or_else(|| HwError::missing("operations"))?
                .iter()
                .map(|name| {
                    GrantOperation::from_name(name).ok_or_else(|| HwError::invalid("operations"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            // The SDK's default type is user.
            let grantee_type = match b.grantee_principal_type.as_deref() {
                None | Some("") | Some("user") => GranteeType::User,
                Some("domain") => GranteeType::Domain,
                Some(_) => return Err(HwError::invalid("grantee_principal_type")),
            };
            let grant = engine
                .create_grant(
                    caller,
                    NewGrant {
                        key_id,
                        grantee,
                        grantee_type,
                        operations,
                        name: b.name.unwrap_or_default(),
                        retiring_principal: b.retiring_principal.unwrap_or_default(),
                    },
                )
                .map_err(kms)?;
            Ok(json!({ "grant_id": grant.grant_id }))
        }
        GrantOp::Revoke | GrantOp::Retire => {
            let b: RevokeGrantRequestBody = parse(req.body)?;
            check_sequence(b.sequence.as_deref())?;
            let key_id = required(b.key_id, "key_id")?;
            let grant_id = required(b.grant_id, "grant_id")?;
            if grant_id.len() != GRANT_ID_LEN || !grant_id.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(HwError::invalid("grant_id"));
            }
            // Ids are made in lowercase; the vendor's pattern admits either case.
            let grant_id = grant_id.to_ascii_lowercase();
            if op == GrantOp::Revoke {
                engine.revoke_grant(caller, &key_id, &grant_id)
            } else {
                engine.retire_grant(caller, &key_id, &grant_id)
            }
            .map_err(kms)?;
            Ok(json!({}))
        }
        GrantOp::List => {
            let b: ListGrantsRequestBody = parse(req.body)?;
            check_sequence(b.sequence.as_deref())?;
            let key_id = required(b.key_id, "key_id")?;
            let (offset, limit) = page(b.limit.as_deref(), b.marker.as_deref())?;
            let listed = engine
                .list_grants(caller, &key_id, offset, limit)
                .map_err(kms)?;
            Ok(listing(listed.total, listed.page, offset))
        }
        GrantOp::ListRetirable => {
            let b: ListRetirableGrantsRequestBody = parse(req.body)?;
            check_sequence(b.sequence.as_deref())?;
            let (offset, limit) = page(b.limit.as_deref(), b.marker.as_deref())?;
            let listed = engine
                .list_retirable_grants(caller, offset, limit)
                .map_err(kms)?;
            Ok(listing(listed.total, listed.page, offset))
        }
    }
}

/// The offset and page size of a listing: `limit` from 1 to the grant quota (the quota when
/// absent), `marker` the offset a previous page's `next_marker` gave.
fn page(limit: Option<&str>, marker: Option<&str>) -> Result<(usize, usize), HwError> {
    let max = usize::try_from(GRANTS_PER_KEY).unwrap_or(usize::MAX);
    let limit = match limit {
        None | Some("") => max,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=max).contains(l))
            .ok_or_else(|| {
                HwError::bad(INVALID_LIMIT, "The value of limit falls beyond the range.")
            })?,
    };
    let offset = match marker {
        None | Some("") => 0,
        Some(m) => m.parse::<usize>().map_err(|_| {
            HwError::bad(
                INVALID_MARKER,
                "The value of marker must be greater than or equal to 0.",
            )
        })?,
    };
    Ok((offset, limit))
}

/// The SDK's `ListGrantsResponse` (and `ListRetirableGrantsResponse`).
fn listing(total: u64, page: Vec<GrantRecord>, offset: usize) -> Value {
    let next = offset.saturating_add(page.len());
    let truncated = (next as u64) < total;
    json!({
        "grants": page.iter().map(grant_entity).collect::<Vec<_>>(),
        "next_marker": if truncated { next.to_string() } else { String::new() },
        "truncated": truncated.to_string(),
        "total": total,
    })
}

/// The SDK's `Grants`.
fn grant_entity(g: &GrantRecord) -> Value {
    json!({
        "key_id": g.key_id.to_string(),
        "grant_id": g.grant_id,
        "grantee_principal": g.grantee,
        "grantee_principal_type": match g.grantee_type {
            GranteeType::User => "user",
            GranteeType::Domain => "domain",
        },
        "operations": g.operations.iter().map(|op| op.name()).collect::<Vec<_>>(),
        "issuing_principal": g.issuing_principal,
        "creation_date": millis(g.created_at),
        "name": g.name,
        "retiring_principal": g.retiring_principal,
    })
}

fn check_sequence(sequence: Option<&str>) -> Result<(), HwError> {
    if sequence.is_some_and(|s| s.len() > SEQUENCE_MAX) {
        return Err(HwError::bad(INVALID_SEQUENCE, "Invalid sequence number."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_bounded_by_the_quota() {
        assert_eq!(page(None, None).unwrap(), (0, 100));
        assert_eq!(page(Some("5"), Some("10")).unwrap(), (10, 5));
        for bad in ["0", "101", "-1", "x"] {
            assert_eq!(page(Some(bad), None).unwrap_err().code, INVALID_LIMIT);
        }
        assert_eq!(page(None, Some("-1")).unwrap_err().code, INVALID_MARKER);
    }

    #[test]
    fn every_grant_operation_is_served_by_one_route_or_by_the_engine() {
        let served: Vec<GrantOperation> = [
            Op::Key(KeyOp::Describe),
            Op::Crypto(CryptoOp::EncryptData),
            Op::Crypto(CryptoOp::DecryptData),
            Op::Crypto(CryptoOp::CreateDatakey),
            Op::Crypto(CryptoOp::CreateDatakeyWithoutPlaintext),
            Op::Crypto(CryptoOp::EncryptDatakey),
            Op::Crypto(CryptoOp::DecryptDatakey),
        ]
        .into_iter()
        .filter_map(grant_operation)
        .collect();
        for op in GrantOperation::ALL {
            let by_engine = matches!(
                op,
                GrantOperation::CreateGrant | GrantOperation::RetireGrant
            );
            assert!(served.contains(&op) != by_engine, "{op:?}");
        }
        assert_eq!(grant_operation(Op::Crypto(CryptoOp::ReEncrypt)), None);
        assert_eq!(grant_operation(Op::Key(KeyOp::Disable)), None);
    }
}
