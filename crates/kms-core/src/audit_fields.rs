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
    /// Names a resource once (bounded); an empty id names nothing. An id the engine reads as
    /// a key or data key id is recorded as the engine reads it (canonical), so one key has
    /// one name in the trail however the request spelled it.
    pub fn add_resource(&mut self, id: &str) {
        let id = match crate::engine::parse_key_id(id) {
            Ok(canonical) => canonical.to_string(),
            Err(_) => audit_string(id),
        };
        if !id.is_empty() && !self.resources.contains(&id) {
            self.resources.push(id);
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

    #[test]
    fn a_key_id_is_recorded_as_the_engine_reads_it() {
        let mut fields = AuditFields::default();
        fields.add_resource("0A1B2C3D-0000-4000-8000-00000000000F");
        fields.add_resource("0a1b2c3d-0000-4000-8000-00000000000f");
        assert_eq!(fields.resources, ["0a1b2c3d-0000-4000-8000-00000000000f"]);
    }
}
