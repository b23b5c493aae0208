//! The aliases operations.

use serde_json::Value;

use super::{Context, Request, unsupported};
use crate::errors::HwError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliasOp {
    Create,
    Delete,
    List,
    Associate,
}

pub fn run(_ctx: &Context<'_>, _op: AliasOp, _req: &Request<'_>) -> Result<Value, HwError> {
    Err(unsupported())
}
