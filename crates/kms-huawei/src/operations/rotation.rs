//! The rotation operations.

use serde_json::Value;

use super::{Context, Request, unsupported};
use crate::errors::HwError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationOp {
    Enable,
    Disable,
    Status,
    UpdateInterval,
    RotateOnDemand,
}

pub fn run(_ctx: &Context<'_>, _op: RotationOp, _req: &Request<'_>) -> Result<Value, HwError> {
    Err(unsupported())
}
