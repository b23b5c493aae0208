//! The tags operations.

use serde_json::Value;

use super::{Context, Request, unsupported};
use crate::errors::HwError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagOp {
    Create,
    Batch,
    Delete,
    Show,
    ListProjectTags,
    ListByTags,
}

pub fn run(_ctx: &Context<'_>, _op: TagOp, _req: &Request<'_>) -> Result<Value, HwError> {
    Err(unsupported())
}
