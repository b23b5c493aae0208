//! Encryption context: key/value pairs bound to a ciphertext as associated data.
//!
//! What a context may hold (both dialects): the client sends it as the text of a JSON object of
//! at most [`MAX_CONTEXT_CHARS`] characters whose values are all strings, no key twice. Numbers,
//! booleans, null, arrays and nested objects are refused rather than turned into text, so that
//! `{"a":1}` and `{"a":"1"}` cannot stand for one another.
//!
//! The canonical form, part of the ciphertext format (it is in every blob's AAD):
//! `count` then, for each pair in order of the keys' UTF-8 bytes, `len(key) key len(value)
//! value`, every number a 4-byte big-endian integer and every string its UTF-8 bytes. Length
//! prefixes make it injective; sorting makes the order of the pairs in the JSON irrelevant.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserializer as _;
use serde::de::{MapAccess, Visitor};

use crate::error::KmsError;

/// Most characters of a context's JSON text (Tencent: "最大支持1024个字符").
pub const MAX_CONTEXT_CHARS: usize = 1024;

const NOT_AN_OBJECT: &str = "it must be a JSON object of key/value pairs";
const NOT_A_STRING: &str = "every value must be a JSON string";
const DUPLICATE_KEY: &str = "a key appears twice";
const TOO_LONG: &str = "it is longer than 1024 characters";

/// An encryption context: its pairs, sorted by key.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    pub fn new(pairs: BTreeMap<String, String>) -> Self {
        Self(pairs)
    }

    /// Parses a context as a client sends it; empty text is the empty context.
    pub fn from_json(text: &str) -> Result<Self, KmsError> {
        if text.is_empty() {
            return Ok(Self::default());
        }
        if text.chars().count() > MAX_CONTEXT_CHARS {
            return Err(KmsError::InvalidEncryptionContext(TOO_LONG));
        }
        let not_an_object = |_| KmsError::InvalidEncryptionContext(NOT_AN_OBJECT);
        let mut de = serde_json::Deserializer::from_str(text);
        let pairs = de.deserialize_map(PairsVisitor).map_err(not_an_object)?;
        de.end().map_err(not_an_object)?;
        Ok(Self(pairs.map_err(KmsError::InvalidEncryptionContext)?))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The canonical byte encoding used as associated data (see the module documentation).
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

/// Reads a JSON object into pairs; the inner error names the first rule the object breaks. It
/// reads the whole object even then, so the JSON syntax is still checked to the end.
struct PairsVisitor;

impl<'de> Visitor<'de> for PairsVisitor {
    type Value = Result<BTreeMap<String, String>, &'static str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(NOT_AN_OBJECT)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut pairs = BTreeMap::new();
        let mut refusal = None;
        while let Some(key) = map.next_key::<String>()? {
            let value = match map.next_value::<serde_json::Value>()? {
                serde_json::Value::String(s) => s,
                _ => {
                    refusal.get_or_insert(NOT_A_STRING);
                    continue;
                }
            };
            if pairs.insert(key, value).is_some() {
                refusal.get_or_insert(DUPLICATE_KEY);
            }
        }
        Ok(refusal.map_or(Ok(pairs), Err))
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

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn refusal(text: &str) -> Option<&'static str> {
        match EncryptionContext::from_json(text) {
            Err(KmsError::InvalidEncryptionContext(reason)) => Some(reason),
            Err(other) => panic!("unexpected error {other:?}"),
            Ok(_) => None,
        }
    }

    /// The canonical form is part of the ciphertext format: these bytes must never change.
    #[test]
    fn canonical_form_test_vectors() {
        let vectors: &[(&str, &str)] = &[
            ("", "00000000"),
            ("{}", "00000000"),
            (r#"{"a":"1"}"#, "00000001 00000001 61 00000001 31"),
            (
                r#"{"b":"2","a":"1"}"#,
                "00000002\
                 00000001 61 00000001 31\
                 00000001 62 00000001 32",
            ),
            (
                r#"{"\u00e9":"","ab":"c"}"#,
                "00000002\
                 00000002 6162 00000001 63\
                 00000002 c3a9 00000000",
            ),
        ];
        for (json, expected) in vectors {
            let expected: String = expected.split_whitespace().collect();
            let got = EncryptionContext::from_json(json)
                .unwrap()
                .canonical_bytes();
            assert_eq!(hex(&got), expected, "{json}");
        }
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

    #[test]
    fn values_must_be_strings() {
        for text in [
            r#"{"a":1}"#,
            r#"{"a":true}"#,
            r#"{"a":null}"#,
            r#"{"a":["1"]}"#,
            r#"{"a":{"b":"1"}}"#,
            r#"{"a":"1","b":2}"#,
        ] {
            assert_eq!(refusal(text), Some(NOT_A_STRING), "{text}");
        }
        assert_eq!(refusal(r#"{"a":"1"}"#), None);
    }

    #[test]
    fn a_key_given_twice_is_refused() {
        assert_eq!(refusal(r#"{"a":"1","a":"2"}"#), Some(DUPLICATE_KEY));
        assert_eq!(refusal(r#"{"a":"1","a":"1"}"#), Some(DUPLICATE_KEY));
        assert_eq!(
            refusal(r#"{"a":"1","\u0061":"2"}"#),
            Some(DUPLICATE_KEY),
            "keys compare after unescaping"
        );
    }

    #[test]
    fn only_one_json_object_is_a_context() {
        for text in [
            "[]",
            r#""a""#,
            "1",
            "null",
            "{",
            r#"{"a":"1"} {}"#,
            r#"{"a":"1"}x"#,
            r#"{"a":1"#,
        ] {
            assert_eq!(refusal(text), Some(NOT_AN_OBJECT), "{text}");
        }
        assert_eq!(refusal(" {\"a\" : \"1\"}\n"), None, "whitespace is JSON's");
    }

    #[test]
    fn length_is_counted_in_characters() {
        let fits = format!(r#"{{"k":"{}"}}"#, "é".repeat(MAX_CONTEXT_CHARS - 8));
        assert_eq!(fits.chars().count(), MAX_CONTEXT_CHARS);
        assert_eq!(refusal(&fits), None);
        let over = format!(r#"{{"k":"{}"}}"#, "a".repeat(MAX_CONTEXT_CHARS - 7));
        assert_eq!(refusal(&over), Some(TOO_LONG));
    }

    #[test]
    fn differently_typed_contexts_do_not_collide() {
        // {"a":1} used to bind as {"a":"1"}; now only the string form is a context at all.
        assert!(EncryptionContext::from_json(r#"{"a":1}"#).is_err());
        assert_eq!(
            EncryptionContext::from_json(r#"{"a":"1"}"#).unwrap(),
            ctx(&[("a", "1")])
        );
    }
}
