//! What every dialect's audit record names besides the outcome: who asked for what, as far as
//! the request got. Never a secret.

use crate::model::AccountId;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFields {
    /// The account whose signature (or token) the request carried, once verified.
    pub account: Option<AccountId>,
    /// The user inside the account whose credential signed, once verified; `None` for the
    /// account's root.
    pub user: Option<String>,
    /// The credential (SecretId, AK) the request claimed, as presented (also when refused).
    pub credential_id: Option<String>,
    /// The region the request named or its project resolved to.
    pub region: Option<String>,
    /// The key and data key ids the request named and the answer names, each once.
    pub resources: Vec<String>,
}

/// Longest presented string an audit record keeps (ids and regions are far shorter).
const AUDIT_STRING_MAX: usize = 128;

/// A presented string as an audit record keeps it: bounded, cut on a character boundary.
pub fn audit_string(s: &str) -> String {
    s[..s.floor_char_boundary(AUDIT_STRING_MAX)].to_owned()
}

impl AuditFields {
    /// Names a resource once (bounded); an empty id names nothing.
    pub fn add_resource(&mut self, id: &str) {
        if !id.is_empty() && !self.resources.iter().any(|r| r == id) {
            self.resources.push(audit_string(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_strings_are_bounded_on_a_char_boundary() {
        assert_eq!(audit_string("ap-guangzhou"), "ap-guangzhou");
        let long = "é".repeat(100);
        let kept = audit_string(&long);
        assert_eq!(kept.len(), AUDIT_STRING_MAX);
        assert!(long.starts_with(&kept));
    }

    #[test]
    fn a_resource_is_named_once_and_empty_names_nothing() {
        let mut fields = AuditFields::default();
        for id in ["k1", "", "k1", "k2"] {
            fields.add_resource(id);
        }
        assert_eq!(fields.resources, ["k1", "k2"]);
    }
}
