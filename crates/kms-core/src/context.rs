//! Encryption context: key/value pairs bound to a ciphertext as associated data.

use std::collections::BTreeMap;

/// An encryption context in canonical form: keys sorted, each pair length-prefixed, so two
/// contexts with the same pairs in a different order bind identically and no two different
/// contexts share an encoding.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    pub fn new(pairs: BTreeMap<String, String>) -> Self {
        Self(pairs)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The canonical byte encoding used as associated data.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(self.0.len() as u32).to_be_bytes());
        for (k, v) in &self.0 {
            for part in [k, v] {
                out.extend_from_slice(&(part.len() as u32).to_be_bytes());
                out.extend_from_slice(part.as_bytes());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
        EncryptionContext::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn order_does_not_matter() {
        assert_eq!(
            ctx(&[("a", "1"), ("b", "2")]).canonical_bytes(),
            ctx(&[("b", "2"), ("a", "1")]).canonical_bytes()
        );
    }

    #[test]
    fn boundaries_are_unambiguous() {
        assert_ne!(
            ctx(&[("ab", "c")]).canonical_bytes(),
            ctx(&[("a", "bc")]).canonical_bytes()
        );
        assert_ne!(
            ctx(&[]).canonical_bytes(),
            ctx(&[("", "")]).canonical_bytes()
        );
    }
}
