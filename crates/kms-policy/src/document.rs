//! What both front ends share: limits, the error, and JSON helpers.

use serde_json::{Map, Value};

use crate::address::IpBlock;
use crate::model::{Condition, ContextKey, Operator};

/// The longest document accepted, in bytes. Both vendors cap a custom policy far lower; this
/// only bounds the work a hostile document can cause.
pub const MAX_DOCUMENT: usize = 65_536;
/// The longest pattern or condition value accepted, in characters.
pub const MAX_PATTERN: usize = 1_024;
/// Statements in one document.
pub const MAX_STATEMENTS: usize = 256;
/// Actions, resources, condition values or operators in one statement element.
pub const MAX_ITEMS: usize = 512;

/// Why a document was refused: a sentence for the person who wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError(pub String);

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PolicyError {}

pub(crate) fn fail<T>(message: impl Into<String>) -> Result<T, PolicyError> {
    Err(PolicyError(message.into()))
}

/// The document as a JSON object, within the size and nesting limits.
pub(crate) fn object(text: &str) -> Result<Map<String, Value>, PolicyError> {
    if text.len() > MAX_DOCUMENT {
        return fail(format!(
            "the policy document is longer than {MAX_DOCUMENT} bytes"
        ));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => fail("the policy document must be a JSON object"),
        Err(e) => fail(format!("the policy document is not valid JSON: {e}")),
    }
}

/// Refuses members other than `known` (compared with `eq`): an element this engine does not
/// know (a `principal`, a `NotAction`) could change the meaning, so it is not ignored.
pub(crate) fn only(
    map: &Map<String, Value>,
    known: &[&str],
    eq: fn(&str, &str) -> bool,
    what: &str,
) -> Result<(), PolicyError> {
    match map.keys().find(|k| !known.iter().any(|n| eq(n, k))) {
        Some(k) => fail(format!(
            "{what} has an element \"{}\" this server does not support (known: {})",
            clip(k),
            known.join(", ")
        )),
        None => Ok(()),
    }
}

/// A string or a non-empty array of strings, each within the pattern limit.
pub(crate) fn strings(value: &Value, what: &str) -> Result<Vec<String>, PolicyError> {
    let items: Vec<&Value> = match value {
        Value::String(_) => vec![value],
        Value::Array(a) if a.is_empty() => return fail(format!("{what} is an empty list")),
        Value::Array(a) if a.len() > MAX_ITEMS => {
            return fail(format!("{what} has more than {MAX_ITEMS} entries"));
        }
        Value::Array(a) => a.iter().collect(),
        _ => return fail(format!("{what} must be a string or a list of strings")),
    };
    items
        .into_iter()
        .map(|v| match v {
            Value::String(s) if s.chars().count() > MAX_PATTERN => fail(format!(
                "{what} has an entry longer than {MAX_PATTERN} characters"
            )),
            Value::String(s) => Ok(s.clone()),
            _ => fail(format!("{what} must contain only strings")),
        })
        .collect()
}

/// The statements: one object or a non-empty array of them.
pub(crate) fn statements<'a>(
    value: &'a Value,
    what: &str,
) -> Result<Vec<&'a Map<String, Value>>, PolicyError> {
    let items: Vec<&Value> = match value {
        Value::Object(_) => vec![value],
        Value::Array(a) if a.is_empty() => return fail(format!("{what} is an empty list")),
        Value::Array(a) if a.len() > MAX_STATEMENTS => {
            return fail(format!("{what} has more than {MAX_STATEMENTS} statements"));
        }
        Value::Array(a) => a.iter().collect(),
        _ => return fail(format!("{what} must be an object or a list of objects")),
    };
    items
        .into_iter()
        .map(|v| match v {
            Value::Object(m) => Ok(m),
            _ => fail(format!("{what} must contain only objects")),
        })
        .collect()
}

/// A name from the document, shortened for an error message.
pub(crate) fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(64).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// A condition operator a front end accepts: its name, meaning and case rule.
pub(crate) struct OperatorName {
    pub name: &'static str,
    pub operator: Operator,
    pub ignore_case: bool,
}

/// `{ operator: { key: value or [values] } }`, every operator and key one the engine can
/// evaluate; anything else refuses the document, since ignoring a condition would widen an
/// Allow or narrow a Deny.
pub(crate) fn conditions(
    value: &Value,
    operators: &[OperatorName],
    keys: &[(&str, ContextKey)],
    what: &str,
) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(ops) = value else {
        return fail(format!("{what} must be an object"));
    };
    if ops.len() > MAX_ITEMS {
        return fail(format!("{what} has more than {MAX_ITEMS} operators"));
    }
    let mut out = Vec::new();
    for (op, tests) in ops {
        let Some(o) = operators.iter().find(|o| o.name.eq_ignore_ascii_case(op)) else {
            return fail(format!(
                "{what} uses the operator \"{}\", which this server cannot evaluate (it can: {})",
                clip(op),
                operators
                    .iter()
                    .map(|o| o.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        let Value::Object(tests) = tests else {
            return fail(format!("{what}: \"{}\" must map keys to values", o.name));
        };
        if tests.is_empty() {
            return fail(format!("{what}: \"{}\" names no key", o.name));
        }
        for (key, values) in tests {
            let Some((_, k)) = keys.iter().find(|(n, _)| n.eq_ignore_ascii_case(key)) else {
                return fail(format!(
                    "{what} tests the key \"{}\", which this server cannot evaluate (it can: {})",
                    clip(key),
                    keys.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                ));
            };
            let values = strings(values, &format!("{what}: \"{}\" of \"{key}\"", o.name))?;
            if matches!(o.operator, Operator::IpIn | Operator::NotIpIn)
                && let Some(bad) = values.iter().find(|v| IpBlock::parse(v).is_none())
            {
                return fail(format!(
                    "{what}: \"{}\" is not an IP address or CIDR block",
                    clip(bad)
                ));
            }
            out.push(Condition {
                operator: o.operator,
                ignore_case: o.ignore_case,
                key: *k,
                values,
            });
        }
    }
    Ok(out)
}
