//! Tencent CAM policy documents (policy syntax version "2.0").
//!
//! `{"version": "2.0", "statement": [{"effect": "allow", "action": ["kms:Encrypt"],
//! "resource": ["qcs::kms:ap-guangzhou:uin/100000000001:key/creatorUin/100000000001/<id>"],
//! "condition": {"ip_equal": {"qcs:ip": ["10.0.0.0/8"]}}}]}`

use serde_json::Value;

use crate::document::{
    OperatorName, PolicyError, clip, conditions, fail, object, only, statements, strings,
};
use crate::model::{
    ActionPattern, ContextKey, Effect, Language, Operator, Policy, ResourcePattern, Statement,
};

/// Element names: CAM writes them in lower case; the comparison is exact.
fn exact(a: &str, b: &str) -> bool {
    a == b
}

const OPERATORS: &[OperatorName] = &[
    OperatorName {
        name: "string_equal",
        operator: Operator::Equals,
        ignore_case: false,
    },
    OperatorName {
        name: "string_not_equal",
        operator: Operator::NotEquals,
        ignore_case: false,
    },
    OperatorName {
        name: "string_equal_ignore_case",
        operator: Operator::Equals,
        ignore_case: true,
    },
    OperatorName {
        name: "string_not_equal_ignore_case",
        operator: Operator::NotEquals,
        ignore_case: true,
    },
    OperatorName {
        name: "string_like",
        operator: Operator::Like,
        ignore_case: false,
    },
    OperatorName {
        name: "string_not_like",
        operator: Operator::NotLike,
        ignore_case: false,
    },
    OperatorName {
        name: "ip_equal",
        operator: Operator::IpIn,
        ignore_case: false,
    },
    OperatorName {
        name: "ip_not_equal",
        operator: Operator::NotIpIn,
        ignore_case: false,
    },
];

const KEYS: &[(&str, ContextKey)] = &[
    ("qcs:ip", ContextKey::SourceIp),
    ("qcs:requested_region", ContextKey::Region),
];

/// Parses a CAM policy document.
pub fn parse(text: &str) -> Result<Policy, PolicyError> {
    let doc = object(text)?;
    only(&doc, &["version", "statement"], exact, "the policy")?;
    match doc.get("version") {
        Some(Value::String(v)) if v == "2.0" => {}
        Some(_) => return fail("\"version\" must be \"2.0\""),
        None => return fail("the policy has no \"version\" (it must be \"2.0\")"),
    }
    let Some(list) = doc.get("statement") else {
        return fail("the policy has no \"statement\"");
    };
    let statements = statements(list, "\"statement\"")?
        .into_iter()
        .enumerate()
        .map(|(i, s)| statement(s, i))
        .collect::<Result<_, _>>()?;
    Ok(Policy {
        language: Language::Cam,
        statements,
    })
}

fn statement(s: &serde_json::Map<String, Value>, i: usize) -> Result<Statement, PolicyError> {
    let what = format!("statement {}", i + 1);
    only(
        s,
        &["effect", "action", "resource", "condition"],
        exact,
        &what,
    )?;
    let effect = match s.get("effect") {
        Some(Value::String(e)) if e.eq_ignore_ascii_case("allow") => Effect::Allow,
        Some(Value::String(e)) if e.eq_ignore_ascii_case("deny") => Effect::Deny,
        Some(_) => return fail(format!("{what}: \"effect\" must be \"allow\" or \"deny\"")),
        None => return fail(format!("{what} has no \"effect\"")),
    };
    let Some(actions) = s.get("action") else {
        return fail(format!("{what} has no \"action\""));
    };
    let actions = strings(actions, &format!("{what}: \"action\""))?
        .iter()
        .map(|a| action(a, &what))
        .collect::<Result<_, _>>()?;
    let Some(resources) = s.get("resource") else {
        return fail(format!("{what} has no \"resource\""));
    };
    let resources = strings(resources, &format!("{what}: \"resource\""))?
        .iter()
        .map(|r| resource(r, &what))
        .collect::<Result<_, _>>()?;
    let conditions = match s.get("condition") {
        Some(c) => conditions(c, OPERATORS, KEYS, &format!("{what}: \"condition\""))?,
        None => Vec::new(),
    };
    Ok(Statement {
        effect,
        actions,
        resources,
        conditions,
    })
}

/// `kms:Encrypt`, `name/kms:Encrypt`, `kms:Describe*`, `kms:*` or `*`.
fn action(a: &str, what: &str) -> Result<ActionPattern, PolicyError> {
    if a == "*" {
        return Ok(ActionPattern {
            service: "*".into(),
            action: "*".into(),
        });
    }
    if a.starts_with("permid/") {
        return fail(format!(
            "{what}: the feature set \"{}\" is not supported; name the actions",
            clip(a)
        ));
    }
    let bare = a.strip_prefix("name/").unwrap_or(a);
    match bare.split_once(':') {
        Some((service, action))
            if !service.is_empty() && !action.is_empty() && !action.contains(':') =>
        {
            Ok(ActionPattern {
                service: service.into(),
                action: action.into(),
            })
        }
        _ => fail(format!(
            "{what}: the action \"{}\" is not of the form kms:<Action>",
            clip(a)
        )),
    }
}

/// `*` or the six segments `qcs:<project>:<service>:<region>:<account>:<resource>`.
fn resource(r: &str, what: &str) -> Result<ResourcePattern, PolicyError> {
    if r == "*" {
        return Ok(ResourcePattern::All);
    }
    let parts: Vec<&str> = r.split(':').collect();
    let bad = |why: &str| {
        fail(format!(
            "{what}: the resource \"{}\" {why} (qcs::kms:<region>:uin/<uin>:key/creatorUin/<uin>/<key id>)",
            clip(r)
        ))
    };
    let [qcs, project, service, region, account, path] = parts.as_slice() else {
        return bad("does not have six segments");
    };
    if *qcs != "qcs" {
        return bad("does not start with qcs");
    }
    if !project.is_empty() {
        return bad("has a project segment, which CAM no longer accepts");
    }
    if path.is_empty() {
        return bad("names no resource");
    }
    Ok(ResourcePattern::Cam {
        service: (*service).into(),
        region: (*region).into(),
        account: (*account).into(),
        resource: (*path).into(),
    })
}
