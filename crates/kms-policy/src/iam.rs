//! Huawei IAM custom policy documents (policy syntax version "1.1").
//!
//! `{"Version": "1.1", "Statement": [{"Effect": "Allow", "Action": ["kms:cmk:encryptData"],
//! "Resource": ["KMS:*:*:KeyId:<id>"], "Condition": {"StringEquals": {"g:UserName": ["app"]}}}]}`

use serde_json::Value;

use crate::document::{
    OperatorName, PolicyError, clip, conditions, fail, object, only, statements, strings,
};
use crate::model::{
    ActionPattern, ContextKey, Effect, Language, Operator, Policy, ResourcePattern, Statement,
};

fn exact(a: &str, b: &str) -> bool {
    a == b
}

const OPERATORS: &[OperatorName] = &[
    OperatorName {
        name: "StringEquals",
        operator: Operator::Equals,
        ignore_case: false,
    },
    OperatorName {
        name: "StringNotEquals",
        operator: Operator::NotEquals,
        ignore_case: false,
    },
    OperatorName {
        name: "StringEqualsIgnoreCase",
        operator: Operator::Equals,
        ignore_case: true,
    },
    OperatorName {
        name: "StringNotEqualsIgnoreCase",
        operator: Operator::NotEquals,
        ignore_case: true,
    },
    OperatorName {
        name: "StringLike",
        operator: Operator::Like,
        ignore_case: false,
    },
    OperatorName {
        name: "StringNotLike",
        operator: Operator::NotLike,
        ignore_case: false,
    },
    OperatorName {
        name: "IpAddress",
        operator: Operator::IpIn,
        ignore_case: false,
    },
    OperatorName {
        name: "NotIpAddress",
        operator: Operator::NotIpIn,
        ignore_case: false,
    },
];

const KEYS: &[(&str, ContextKey)] = &[
    ("g:SourceIp", ContextKey::SourceIp),
    ("g:ProjectName", ContextKey::Region),
    ("g:UserId", ContextKey::UserId),
    ("g:UserName", ContextKey::UserName),
    ("g:DomainName", ContextKey::AccountName),
];

/// Parses an IAM custom policy document.
pub fn parse(text: &str) -> Result<Policy, PolicyError> {
    let doc = object(text)?;
    only(&doc, &["Version", "Statement"], exact, "the policy")?;
    match doc.get("Version") {
        Some(Value::String(v)) if v == "1.1" => {}
        Some(Value::String(v)) if v == "5.0" => {
            return fail(
                "\"Version\" 5.0 (identity policies) is not supported; write a 1.1 custom policy",
            );
        }
        Some(_) => return fail("\"Version\" must be \"1.1\""),
        None => return fail("the policy has no \"Version\" (it must be \"1.1\")"),
    }
    let Some(list) = doc.get("Statement") else {
        return fail("the policy has no \"Statement\"");
    };
    let statements = statements(list, "\"Statement\"")?
        .into_iter()
        .enumerate()
        .map(|(i, s)| statement(s, i))
        .collect::<Result<_, _>>()?;
    Ok(Policy {
        language: Language::Iam,
        statements,
    })
}

fn statement(s: &serde_json::Map<String, Value>, i: usize) -> Result<Statement, PolicyError> {
    let what = format!("statement {}", i + 1);
    only(
        s,
        &["Effect", "Action", "Resource", "Condition"],
        exact,
        &what,
    )?;
    let effect = match s.get("Effect") {
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(_) => return fail(format!("{what}: \"Effect\" must be \"Allow\" or \"Deny\"")),
        None => return fail(format!("{what} has no \"Effect\"")),
    };
    let Some(actions) = s.get("Action") else {
        return fail(format!("{what} has no \"Action\""));
    };
    let actions = strings(actions, &format!("{what}: \"Action\""))?
        .iter()
        .map(|a| action(a, &what))
        .collect::<Result<_, _>>()?;
    // Without "Resource" a statement covers every resource of its actions (the vendor's rule).
    let resources = match s.get("Resource") {
        Some(r) => strings(r, &format!("{what}: \"Resource\""))?
            .iter()
            .map(|r| resource(r, &what))
            .collect::<Result<_, _>>()?,
        None => vec![ResourcePattern::All],
    };
    let conditions = match s.get("Condition") {
        Some(c) => conditions(c, OPERATORS, KEYS, &format!("{what}: \"Condition\""))?,
        None => Vec::new(),
    };
    Ok(Statement {
        effect,
        actions,
        resources,
        conditions,
    })
}

/// `<service>:<resource type>:<operation>`, e.g. `kms:cmk:encryptData`, `kms:cmk:*`,
/// `kms:*:get*`, `kms::generateRandom`, or `*`. The service is lower case (the vendor's
/// rule); the rest is matched without regard to case.
fn action(a: &str, what: &str) -> Result<ActionPattern, PolicyError> {
    if a == "*" {
        return Ok(ActionPattern {
            service: "*".into(),
            action: "*".into(),
        });
    }
    let parts: Vec<&str> = a.split(':').collect();
    let [service, _, operation] = parts.as_slice() else {
        return fail(format!(
            "{what}: the action \"{}\" is not of the form <service>:<resource type>:<operation>",
            clip(a)
        ));
    };
    if service.is_empty() || operation.is_empty() {
        return fail(format!("{what}: the action \"{}\" is incomplete", clip(a)));
    }
    if service.chars().any(|c| c.is_ascii_uppercase()) {
        return fail(format!(
            "{what}: the service in \"{}\" must be lower case",
            clip(a)
        ));
    }
    let rest = &a[service.len() + 1..];
    Ok(ActionPattern {
        service: (*service).into(),
        action: rest.into(),
    })
}

/// `*` or `<service>:<region>:<domain id>:<resource type>:<path>`, e.g. `KMS:*:*:KeyId:<id>`.
fn resource(r: &str, what: &str) -> Result<ResourcePattern, PolicyError> {
    if r == "*" {
        return Ok(ResourcePattern::All);
    }
    let parts: Vec<&str> = r.split(':').collect();
    let [service, region, domain, kind, path] = parts.as_slice() else {
        return fail(format!(
            "{what}: the resource \"{}\" does not have five segments (KMS:<region>:<domain id>:KeyId:<key id>)",
            clip(r)
        ));
    };
    if [service, region, domain, kind, path]
        .iter()
        .any(|p| p.is_empty())
    {
        return fail(format!(
            "{what}: the resource \"{}\" has an empty segment (use * for any)",
            clip(r)
        ));
    }
    Ok(ResourcePattern::Iam {
        service: (*service).into(),
        region: (*region).into(),
        domain: (*domain).into(),
        kind: (*kind).into(),
        path: (*path).into(),
    })
}
