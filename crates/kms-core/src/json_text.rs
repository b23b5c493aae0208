//! JSON text of a `serde_json::Value`, byte for byte what `serde_json::to_vec` writes, faster
//! for the strings answers carry: base64 and hex blobs of kilobytes, which need no escape.
//! serde_json looks each byte up in its escape table as it copies; here a string is first
//! checked whole, in a loop the compiler vectorizes, and copied at once when nothing in it
//! needs escaping (the rest goes to serde_json's own escaping).

use serde_json::{Map, Value};

/// Appends the JSON text of `value` to `out`.
pub fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(fields) => write_object(out, fields),
    }
}

/// Appends the JSON text of an object.
pub fn write_object(out: &mut Vec<u8>, fields: &Map<String, Value>) {
    out.push(b'{');
    for (i, (name, field)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, name);
        out.push(b':');
        write_value(out, field);
    }
    out.push(b'}');
}

/// The JSON text of `value`.
pub fn to_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    write_value(&mut out, value);
    out
}

/// Appends `s` as a JSON string.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    if needs_no_escape(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing a string into a Vec cannot fail.
        serde_json::to_writer(&mut *out, s).expect("writing into a Vec");
    }
}

/// Whether no byte is one JSON escapes: a control character, `"` or `\`. Each chunk is folded
/// without an early exit so the compiler turns it into vector compares.
fn needs_no_escape(bytes: &[u8]) -> bool {
    bytes.chunks(32).all(|chunk| {
        chunk
            .iter()
            .fold(true, |ok, &b| ok & (b >= 0x20) & (b != b'"') & (b != b'\\'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn same_as_serde_json(value: &Value) {
        assert_eq!(
            String::from_utf8(to_vec(value)).unwrap(),
            serde_json::to_string(value).unwrap()
        );
    }

    #[test]
    fn writes_what_serde_json_writes() {
        same_as_serde_json(&json!(null));
        same_as_serde_json(&json!({}));
        same_as_serde_json(&json!([]));
        same_as_serde_json(&json!({
            "Response": {
                "CiphertextBlob": "QUJD".repeat(400),
                "KeyId": "5f0b3a1e-0000-4000-8000-000000000001",
                "Numbers": [0, 1, -1, 18446744073709551615u64, 1.5, -0.25, 1e300],
                "Flags": [true, false, null],
                "Nested": {"a": [{"b": []}], "": ""},
                "RequestId": "e2a3c1d0-0000-4000-8000-00000000000a",
            }
        }));
    }

    #[test]
    fn escapes_what_serde_json_escapes() {
        // Every byte value JSON treats specially, at the start, middle and end of a string,
        // and in object names too.
        let specials: Vec<char> = (0u8..0x20)
            .map(char::from)
            .chain(['"', '\\', '/', '\u{7f}', 'é', '\u{2028}', '😀'])
            .collect();
        for c in specials {
            for s in [
                format!("{c}"),
                format!("{c}abc"),
                format!("abc{c}"),
                format!("{}{c}{}", "x".repeat(40), "y".repeat(40)),
            ] {
                same_as_serde_json(&json!(s));
                same_as_serde_json(&json!({ s.clone(): s }));
            }
        }
    }
}
