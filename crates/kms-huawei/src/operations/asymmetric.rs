//! The asymmetric operations.

use serde_json::Value;

use super::{Context, Request, unsupported};
use crate::errors::HwError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsymmetricOp {
    Sign,
    Verify,
    GetPublicKey,
    GenerateMac,
    VerifyMac,
    DeriveSharedSecret,
}

pub fn run(_ctx: &Context<'_>, _op: AsymmetricOp, _req: &Request<'_>) -> Result<Value, HwError> {
    Err(unsupported())
}
