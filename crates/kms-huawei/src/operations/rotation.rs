//! The rotation operations: enable and disable automatic rotation, its status, its interval,
//! and rotation on demand.
//!
//! Enabling rotation that is on answers KMS.2901 ("key rotation is not disabled"), changing or
//! disabling rotation that is off KMS.0313 ("key rotation is not enabled"), as enable-key and
//! disable-key answer KMS.1201 and KMS.1301. Only symmetric keys of KMS material rotate; the
//! vendor's on-demand rotation of external keys rotates to material imported beforehand, which
//! this server does not stage, so external keys answer KMS.0312 there too.

use std::ops::RangeInclusive;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Context, Request, key_id, kms, millis, parse, required};
use crate::errors::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationOp {
    Enable,
    Disable,
    Status,
    UpdateInterval,
    RotateOnDemand,
}

/// The vendor's rotation interval in days (UpdateKeyRotationIntervalRequestBody: 30 to 365).
const ROTATION_DAYS: RangeInclusive<u64> = 30..=365;

/// The interval enable-key-rotation sets (the vendor's default: 365 days).
const DEFAULT_ROTATION_DAYS: u32 = 365;

#[derive(Debug, Default, Deserialize)]
struct UpdateKeyRotationIntervalRequestBody {
    key_id: Option<String>,
    /// A JSON integer in the SDK's model, unlike most numbers it sends.
    rotation_interval: Option<Value>,
}

pub fn run(ctx: &Context<'_>, op: RotationOp, req: &Request<'_>) -> Result<Value, HwError> {
    let (engine, caller, body) = (ctx.engine, ctx.caller, req.body);
    match op {
        RotationOp::Enable => {
            let id = key_id(body)?;
            engine
                .start_rotation(caller, &id, DEFAULT_ROTATION_DAYS, ROTATION_DAYS)
                .map_err(kms)?;
            Ok(json!({}))
        }
        RotationOp::Disable => {
            let id = key_id(body)?;
            engine.stop_rotation(caller, &id).map_err(kms)?;
            Ok(json!({}))
        }
        RotationOp::Status => {
            let id = key_id(body)?;
            let key = engine.describe_key(caller, &id).map_err(kms)?;
            // Rotation never set shows the interval enabling it would set.
            let interval = match key.rotation.rotate_days {
                0 => DEFAULT_ROTATION_DAYS,
                days => days,
            };
            Ok(json!({
                "key_rotation_enabled": key.rotation.enabled,
                "rotation_interval": interval,
                "last_rotation_time": millis(key.last_rotate_time),
                "number_of_rotations": key.versions.len().saturating_sub(1),
            }))
        }
        RotationOp::UpdateInterval => {
            let b: UpdateKeyRotationIntervalRequestBody = parse(body)?;
            let id = required(b.key_id, "key_id")?;
            let days = interval(b.rotation_interval)?;
            engine
                .set_rotation_interval(caller, &id, days, ROTATION_DAYS)
                .map_err(kms)?;
            Ok(json!({}))
        }
        RotationOp::RotateOnDemand => {
            let id = key_id(body)?;
            engine.rotate_key(caller, &id).map_err(kms)?;
            Ok(json!({ "key_id": id }))
        }
    }
}

/// `rotation_interval`: a JSON integer from 30 to 365. A string is a value of the wrong type,
/// as for every field; a number out of range or with a fraction is an invalid interval.
fn interval(v: Option<Value>) -> Result<u32, HwError> {
    let invalid = || HwError::bad(INVALID_ROTATION_INTERVAL, "Invalid rotation_interval.");
    match v {
        None | Some(Value::Null) => Err(HwError::missing("rotation_interval")),
        Some(Value::Number(n)) => n
            .as_u64()
            .filter(|d| ROTATION_DAYS.contains(d))
            .and_then(|d| u32::try_from(d).ok())
            .ok_or_else(invalid),
        Some(_) => Err(HwError::bad(
            INVALID_PARAMETER,
            "A parameter has the wrong type: rotation_interval must be an integer.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_integers_from_30_to_365() {
        for ok in [30, 100, 365] {
            assert_eq!(interval(Some(json!(ok))).unwrap(), ok);
        }
        for bad in [
            json!(29),
            json!(366),
            json!(-1),
            json!(30.5),
            json!(u64::MAX),
        ] {
            let e = interval(Some(bad.clone())).unwrap_err();
            assert_eq!(
                (e.status, e.code),
                (400, INVALID_ROTATION_INTERVAL),
                "{bad}"
            );
        }
        for wrong in [json!("30"), json!(true), json!([30])] {
            assert_eq!(interval(Some(wrong)).unwrap_err().code, INVALID_PARAMETER);
        }
        for missing in [None, Some(Value::Null)] {
            assert_eq!(interval(missing).unwrap_err().code, MISSING_PARAMETER);
        }
    }
}
