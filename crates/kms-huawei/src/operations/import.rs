//! The import operations.

use serde_json::Value;

use super::{Context, Request, unsupported};
use crate::errors::HwError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOp {
    GetParameters,
    ImportMaterial,
    DeleteMaterial,
}

pub fn run(_ctx: &Context<'_>, _op: ImportOp, _req: &Request<'_>) -> Result<Value, HwError> {
    Err(unsupported())
}
