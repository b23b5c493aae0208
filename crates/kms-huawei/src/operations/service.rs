//! The service operations.

use serde_json::Value;

use super::{Context, Request, unsupported};
use crate::errors::HwError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceOp {
    UserInstances,
    UserQuotas,
    Regions,
}

pub fn run(_ctx: &Context<'_>, _op: ServiceOp, _req: &Request<'_>) -> Result<Value, HwError> {
    Err(unsupported())
}
