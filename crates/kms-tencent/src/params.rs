//! Declarative parameter validation: each action's request type lists its fields once (type,
//! required, limits, the vendor code for a bad value), and one validator enforces them for every
//! action, then hands the parameters on normalized for the request type to deserialize.

use serde_json::{Map, Value};

use crate::errors::*;
use crate::requests::Request;

/// A parameter's type and limits.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A string of `min..=max` bytes.
    Str { min: usize, max: usize },
    /// An unsigned integer in `min..=max`.
    UInt { min: u64, max: u64 },
    /// A list of strings, `min..=max` items.
    StrList { min: usize, max: usize },
    /// `[{TagKey, TagValue}]`, at most `max` items.
    Tags { max: usize },
    /// `[{TagKey, TagValue: [..]}]`, at most `max` items.
    TagFilters { max: usize },
    /// A structure this server does not act on (member-account fields).
    Object,
    /// A list of structures this server does not act on.
    ObjectList,
}

/// One parameter of an action.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    /// The code for a value of the right type that breaks a limit.
    pub invalid_code: &'static str,
}

impl Field {
    pub const fn req(name: &'static str, kind: Kind) -> Self {
        Self {
            name,
            kind,
            required: true,
            invalid_code: INVALID_PARAMETER_VALUE,
        }
    }
    pub const fn opt(name: &'static str, kind: Kind) -> Self {
        Self {
            name,
            kind,
            required: false,
            invalid_code: INVALID_PARAMETER_VALUE,
        }
    }
    pub const fn code(mut self, code: &'static str) -> Self {
        self.invalid_code = code;
        self
    }
}

/// Tag keys are 1..=127 bytes and values up to 255, as Tencent's tagging service allows.
const TAG_KEY_MAX: usize = 127;
const TAG_VALUE_MAX: usize = 255;

/// An action's parameters once they passed its declared fields, normalized whichever form they
/// arrived in (JSON, or flattened by the legacy signature and GET): numbers are numbers, lists are
/// arrays, tag filters always carry their list of values, and absent or null parameters are left
/// out. They then deserialize into the action's [`Request`] type.
pub struct Params {
    map: Map<String, Value>,
}

/// Names only: parameter values may be secrets.
impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.map.keys()).finish()
    }
}

fn type_error(name: &str, expected: &str) -> TcError {
    TcError::new(
        INVALID_PARAMETER,
        format!("The type of parameter `{name}` must be {expected}."),
    )
}

/// How parameters arrived: `from_query` marks the flattened form, where every leaf is a string
/// and a list is an object keyed "0", "1", ...
#[derive(Clone, Copy)]
struct Form {
    from_query: bool,
}

impl Params {
    /// Checks `map` against `fields`: unknown names, missing required ones, types and limits;
    /// answers the parameters normalized.
    pub fn validate(
        mut map: Map<String, Value>,
        fields: &[Field],
        from_query: bool,
    ) -> Result<Self, TcError> {
        if let Some(unknown) = map
            .keys()
            .find(|k| !fields.iter().any(|f| f.name == k.as_str()))
        {
            return Err(TcError::new(
                UNKNOWN_PARAMETER,
                format!("The parameter `{unknown}` is not recognized."),
            ));
        }
        let form = Form { from_query };
        let mut normalized = Map::new();
        for field in fields {
            match map.remove_entry(field.name) {
                None | Some((_, Value::Null)) if field.required => {
                    return Err(missing(field.name));
                }
                None | Some((_, Value::Null)) => {}
                Some((name, v)) => {
                    normalized.insert(name, form.check(field, v)?);
                }
            }
        }
        Ok(Self { map: normalized })
    }

    /// The request these parameters make. They passed `R::FIELDS`, so a failure here is a bug
    /// in `R`'s declaration: it answers InternalError, and names neither parameter nor value.
    pub fn into_request<R: Request>(self) -> Result<R, TcError> {
        R::deserialize(self.map).map_err(|_| {
            tracing::error!(
                request = std::any::type_name::<R>(),
                "validated parameters do not deserialize into their request type"
            );
            TcError::new(INTERNAL_ERROR, "internal error")
        })
    }

    /// A string parameter, for the audit record's resource names.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.map.get(name).and_then(Value::as_str)
    }

    /// A list of strings parameter, for the audit record's resource names.
    pub fn str_list(&self, name: &str) -> impl Iterator<Item = &str> {
        self.map
            .get(name)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
    }
}

impl Form {
    /// Checks one given parameter and answers it normalized.
    fn check(self, field: &Field, v: Value) -> Result<Value, TcError> {
        let name = field.name;
        let out_of_range =
            |what: String| TcError::new(field.invalid_code, format!("Invalid `{name}`: {what}."));
        match field.kind {
            Kind::Str { min, max } => {
                let s = v.as_str().ok_or_else(|| type_error(name, "string"))?;
                if s.len() < min || s.len() > max {
                    return Err(out_of_range(format!("length must be {min} to {max} bytes")));
                }
                Ok(v)
            }
            Kind::UInt { min, max } => {
                let n = self
                    .uint_of(&v)
                    .ok_or_else(|| type_error(name, "an unsigned integer"))?;
                if n < min || n > max {
                    return Err(out_of_range(format!("must be {min} to {max}")));
                }
                Ok(Value::from(n))
            }
            Kind::StrList { min, max } => {
                let items = self
                    .list_of(v)
                    .ok_or_else(|| type_error(name, "a list of strings"))?;
                if items.iter().any(|i| !i.is_string()) {
                    return Err(type_error(name, "a list of strings"));
                }
                if items.len() < min || items.len() > max {
                    return Err(out_of_range(format!("must hold {min} to {max} items")));
                }
                Ok(Value::Array(items))
            }
            Kind::Tags { max } | Kind::TagFilters { max } => {
                let filters = matches!(field.kind, Kind::TagFilters { .. });
                let items = self
                    .list_of(v)
                    .ok_or_else(|| type_error(name, "a list of tags"))?;
                if items.len() > max {
                    return Err(out_of_range(format!("at most {max} items")));
                }
                let mut tags = Vec::with_capacity(items.len());
                for item in items {
                    let Value::Object(mut obj) = item else {
                        return Err(type_error(name, "a list of tags"));
                    };
                    if let Some(k) = obj.keys().find(|k| *k != "TagKey" && *k != "TagValue") {
                        return Err(TcError::new(
                            UNKNOWN_PARAMETER,
                            format!("The parameter `{name}.{k}` is not recognized."),
                        ));
                    }
                    let key = obj
                        .remove("TagKey")
                        .filter(Value::is_string)
                        .ok_or_else(|| missing(&format!("{name}.TagKey")))?;
                    let key_len = key.as_str().map_or(0, str::len);
                    if key_len == 0 || key_len > TAG_KEY_MAX {
                        return Err(out_of_range(format!(
                            "tag keys must be 1 to {TAG_KEY_MAX} bytes"
                        )));
                    }
                    let value = match obj.remove("TagValue") {
                        None | Some(Value::Null) if filters => Value::Array(Vec::new()),
                        None | Some(Value::Null) => {
                            return Err(missing(&format!("{name}.TagValue")));
                        }
                        Some(val) if filters => Value::Array(
                            self.list_of(val)
                                .ok_or_else(|| type_error(name, "a list of tag filters"))?,
                        ),
                        Some(val) => val,
                    };
                    let values = match &value {
                        Value::Array(values) if filters => values.as_slice(),
                        single => std::slice::from_ref(single),
                    };
                    for val in values {
                        let s = val
                            .as_str()
                            .ok_or_else(|| type_error(name, "a list of tags"))?;
                        if s.len() > TAG_VALUE_MAX {
                            return Err(out_of_range(format!(
                                "tag values must be at most {TAG_VALUE_MAX} bytes"
                            )));
                        }
                    }
                    let mut tag = Map::new();
                    tag.insert("TagKey".to_owned(), key);
                    tag.insert("TagValue".to_owned(), value);
                    tags.push(Value::Object(tag));
                }
                Ok(Value::Array(tags))
            }
            Kind::Object => {
                if !v.is_object() {
                    return Err(type_error(name, "an object"));
                }
                Ok(v)
            }
            Kind::ObjectList => {
                let items = self
                    .list_of(v)
                    .ok_or_else(|| type_error(name, "a list of objects"))?;
                if items.iter().any(|i| !i.is_object()) {
                    return Err(type_error(name, "a list of objects"));
                }
                Ok(Value::Array(items))
            }
        }
    }

    fn uint_of(self, v: &Value) -> Option<u64> {
        match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) if self.from_query => s.parse().ok(),
            _ => None,
        }
    }

    /// A list; in the flattened form a list arrives as an object keyed "0", "1", ...
    fn list_of(self, v: Value) -> Option<Vec<Value>> {
        match v {
            Value::Array(items) => Some(items),
            Value::Object(mut obj) if self.from_query => {
                let mut items = Vec::with_capacity(obj.len());
                for i in 0..obj.len() {
                    items.push(obj.remove(&i.to_string())?);
                }
                Some(items)
            }
            _ => None,
        }
    }
}

/// The most `.`-separated segments a flattened parameter name may have: the vendor's deepest
/// parameter, `TagFilters.N.TagValue.N`, has four.
pub const MAX_NAME_SEGMENTS: usize = 4;
/// The most containers (objects and arrays) a JSON body may nest, the body itself included:
/// `{"TagFilters": [{"TagValue": [..]}]}` needs four.
pub const MAX_JSON_DEPTH: usize = 4;
/// The most parameters one request may carry. The largest request the vendor defines (100 key
/// ids plus the common parameters, or 50 tag filters with their values) stays well below it.
pub const MAX_PARAMS: usize = 1000;

/// Splits a form-encoded string into pairs, refusing more than [`MAX_PARAMS`] of them: the
/// legacy signature sorts them, so their number bounds the work done before authentication.
pub fn form_pairs(s: &[u8]) -> Result<Vec<(String, String)>, TcError> {
    let mut pairs = Vec::new();
    for (k, v) in form_urlencoded::parse(s) {
        if pairs.len() == MAX_PARAMS {
            return Err(too_many_params());
        }
        pairs.push((k.into_owned(), v.into_owned()));
    }
    Ok(pairs)
}

fn too_many_params() -> TcError {
    TcError::new(
        INVALID_PARAMETER,
        format!("A request may carry at most {MAX_PARAMS} parameters."),
    )
}

/// Whether a JSON text nests at most `max` containers deep. One pass over the bytes, no
/// allocation: it runs before the parser so no client chooses how deep the parser recurses.
/// Brackets inside strings do not count; the text's validity is the parser's business. A
/// string's interior is skipped with `memchr` (a vectorized search for its end or an escape),
/// since a request's bulk is its base64 strings.
pub fn json_depth_within(text: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut at = 0;
    while let Some(&b) = text.get(at) {
        at += 1;
        match b {
            b'"' => at = string_end(text, at),
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return false;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

/// Where the string whose interior starts at `at` ends (just past its closing quote), or the
/// text's end if it never closes.
fn string_end(text: &[u8], mut at: usize) -> usize {
    while let Some(found) = text
        .get(at..)
        .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
    {
        at += found;
        if text[at] == b'"' {
            return at + 1;
        }
        // An escape: its next byte is part of it, whatever it is.
        at += 2;
    }
    text.len()
}

/// Turns flattened `A.0.B=v` pairs into nested JSON; lists stay objects keyed by index, which
/// [`Params`] reads as lists. Names are split into at most [`MAX_NAME_SEGMENTS`] parts, so the
/// structure built (and later dropped) is never deeper than the vendor's own parameters.
pub fn unflatten(pairs: &[(String, String)]) -> Result<Map<String, Value>, TcError> {
    if pairs.len() > MAX_PARAMS {
        return Err(too_many_params());
    }
    let mut root = Map::new();
    for (key, value) in pairs {
        let mut node = &mut root;
        let parts: Vec<&str> = key.splitn(MAX_NAME_SEGMENTS + 1, '.').collect();
        if parts.len() > MAX_NAME_SEGMENTS {
            return Err(TcError::new(
                UNKNOWN_PARAMETER,
                format!("The parameter `{key}` is not recognized."),
            ));
        }
        let (last, path) = parts
            .split_last()
            .ok_or_else(|| TcError::new(INVALID_PARAMETER, "Empty parameter name."))?;
        for part in path {
            let entry = node
                .entry(part.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            node = entry.as_object_mut().ok_or_else(|| {
                TcError::new(
                    INVALID_PARAMETER,
                    format!("The parameter `{key}` conflicts with another."),
                )
            })?;
        }
        if node
            .insert(last.to_string(), Value::String(value.clone()))
            .is_some()
        {
            return Err(TcError::new(
                INVALID_PARAMETER,
                format!("The parameter `{key}` is repeated."),
            ));
        }
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests::{Tag, TagFilter};
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase", deny_unknown_fields)]
    struct Sample {
        key_id: String,
        limit: Option<u64>,
        #[serde(default)]
        key_ids: Vec<String>,
        #[serde(default)]
        tags: Vec<Tag>,
        #[serde(default)]
        tag_filters: Vec<TagFilter>,
        days: Option<u64>,
    }

    impl Request for Sample {
        const FIELDS: &'static [Field] = FIELDS;
    }

    const FIELDS: &[Field] = &[
        Field::req("KeyId", Kind::Str { min: 1, max: 128 }),
        Field::opt("Limit", Kind::UInt { min: 1, max: 200 }),
        Field::opt("KeyIds", Kind::StrList { min: 1, max: 3 }),
        Field::opt("Tags", Kind::Tags { max: 2 }),
        Field::opt("TagFilters", Kind::TagFilters { max: 2 }),
        Field::opt("Days", Kind::UInt { min: 7, max: 30 })
            .code("InvalidParameter.InvalidPendingWindowInDays"),
    ];

    fn check(v: Value) -> Result<Params, TcError> {
        Params::validate(v.as_object().unwrap().clone(), FIELDS, false)
    }

    fn code(v: Value) -> &'static str {
        check(v).unwrap_err().code
    }

    fn sample(v: Value) -> Sample {
        check(v).unwrap().into_request().unwrap()
    }

    #[test]
    fn json_form() {
        let s = sample(
            json!({"KeyId": "k", "Limit": 5, "KeyIds": ["a"], "Tags": [{"TagKey": "a", "TagValue": "b"}]}),
        );
        assert_eq!(s.key_id, "k");
        assert_eq!(s.limit, Some(5));
        assert_eq!(s.key_ids, vec!["a"]);
        assert_eq!(s.tags[0].tag_value, "b");
        assert_eq!(s.days, None);
        let s = sample(json!({"KeyId": "k", "Limit": null, "Tags": null}));
        assert_eq!((s.limit, s.tags.len()), (None, 0));
        assert_eq!(code(json!({})), MISSING_PARAMETER);
        assert_eq!(code(json!({"KeyId": null})), MISSING_PARAMETER);
        assert_eq!(code(json!({"KeyId": "k", "Other": 1})), UNKNOWN_PARAMETER);
        assert_eq!(code(json!({"KeyId": 5})), INVALID_PARAMETER);
        assert_eq!(code(json!({"KeyId": "k", "Limit": "5"})), INVALID_PARAMETER);
        assert_eq!(code(json!({"KeyId": "k", "Limit": -1})), INVALID_PARAMETER);
        assert_eq!(
            code(json!({"KeyId": "k", "Limit": 201})),
            INVALID_PARAMETER_VALUE
        );
        assert_eq!(code(json!({"KeyId": ""})), INVALID_PARAMETER_VALUE);
        assert_eq!(
            code(json!({"KeyId": "k", "KeyIds": []})),
            INVALID_PARAMETER_VALUE
        );
        assert_eq!(
            code(json!({"KeyId": "k", "KeyIds": [1]})),
            INVALID_PARAMETER
        );
        assert_eq!(
            code(json!({"KeyId": "k", "Days": 31})),
            "InvalidParameter.InvalidPendingWindowInDays"
        );
        assert_eq!(
            code(json!({"KeyId": "k", "Tags": [{"TagKey": "a"}]})),
            MISSING_PARAMETER
        );
        assert_eq!(
            code(json!({"KeyId": "k", "Tags": [{"TagKey": "", "TagValue": "x"}]})),
            INVALID_PARAMETER_VALUE
        );
        assert_eq!(
            code(json!({"KeyId": "k", "Tags": [{"TagKey": "a", "TagValue": "x", "Z": 1}]})),
            UNKNOWN_PARAMETER
        );
        let s = sample(
            json!({"KeyId": "k", "TagFilters": [{"TagKey": "a"}, {"TagKey": "b", "TagValue": ["1", "2"]}]}),
        );
        assert_eq!(
            crate::requests::engine_tag_filters(&s.tag_filters),
            vec![
                ("a".into(), vec![]),
                ("b".into(), vec!["1".into(), "2".into()])
            ]
        );
    }

    /// A declaration its request type does not match is a bug, answered InternalError.
    #[test]
    fn a_request_type_that_misses_a_declared_field_is_an_internal_error() {
        #[derive(Deserialize, Debug)]
        #[serde(rename_all = "PascalCase", deny_unknown_fields)]
        struct Narrow {
            #[serde(rename = "KeyId")]
            _key_id: String,
        }
        impl Request for Narrow {
            const FIELDS: &'static [Field] = FIELDS;
        }
        let p = check(json!({"KeyId": "k", "Limit": 5})).unwrap();
        assert_eq!(p.into_request::<Narrow>().unwrap_err().code, INTERNAL_ERROR);
    }

    #[test]
    fn debug_output_names_parameters_without_their_values() {
        let p = check(json!({"KeyId": "secret-value"})).unwrap();
        let shown = format!("{p:?}");
        assert!(
            shown.contains("KeyId") && !shown.contains("secret-value"),
            "{shown}"
        );
    }

    #[test]
    fn random_flattened_input_never_panics() {
        let parts = [
            "KeyId",
            "Limit",
            "KeyIds",
            "Tags",
            "TagFilters",
            "0",
            "1",
            "TagKey",
            "TagValue",
            "",
            "x",
        ];
        let mut seed = [0u8; 64];
        for _ in 0..2000 {
            kms_crypto::random::fill(&mut seed).unwrap();
            let pairs: Vec<(String, String)> = seed
                .chunks(4)
                .map(|c| {
                    let depth = 1 + usize::from(c[0] % 3);
                    let name: Vec<&str> = c[1..=depth.min(3)]
                        .iter()
                        .map(|b| parts[usize::from(*b) % parts.len()])
                        .collect();
                    (name.join("."), c[3].to_string())
                })
                .collect();
            if let Ok(map) = unflatten(&pairs) {
                let _ = Params::validate(map, FIELDS, true);
            }
        }
    }

    #[test]
    fn flattened_form() {
        let pairs: Vec<(String, String)> = [
            ("KeyId", "k"),
            ("Limit", "5"),
            ("KeyIds.0", "a"),
            ("KeyIds.1", "b"),
            ("Tags.0.TagKey", "t"),
            ("Tags.0.TagValue", "v"),
            ("TagFilters.0.TagKey", "f"),
            ("TagFilters.0.TagValue.0", "x"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let p = Params::validate(unflatten(&pairs).unwrap(), FIELDS, true).unwrap();
        assert_eq!(p.str_list("KeyIds").collect::<Vec<_>>(), vec!["a", "b"]);
        let s: Sample = p.into_request().unwrap();
        assert_eq!(s.limit, Some(5));
        assert_eq!(s.key_ids, vec!["a", "b"]);
        assert_eq!(s.tags[0].tag_key, "t");
        assert_eq!(s.tag_filters[0].tag_value, vec!["x"]);
        let gap: Vec<(String, String)> = vec![
            ("KeyId".into(), "k".into()),
            ("KeyIds.1".into(), "b".into()),
        ];
        assert_eq!(
            Params::validate(unflatten(&gap).unwrap(), FIELDS, true)
                .unwrap_err()
                .code,
            INVALID_PARAMETER
        );
        let dup: Vec<(String, String)> =
            vec![("KeyId".into(), "k".into()), ("KeyId".into(), "j".into())];
        assert_eq!(unflatten(&dup).unwrap_err().code, INVALID_PARAMETER);
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn deep_names_are_refused_without_nesting() {
        // About 40 KB of `a.a.a...`: once this overflowed the stack when the nesting was
        // built and dropped.
        let deep = format!("{}b", "a.".repeat(20_000));
        let e = unflatten(&pairs(&[("KeyId", "k"), (&deep, "1")])).unwrap_err();
        assert_eq!(e.code, UNKNOWN_PARAMETER);
        // The vendor's deepest parameter still nests.
        let map = unflatten(&pairs(&[
            ("TagFilters.0.TagKey", "a"),
            ("TagFilters.0.TagValue.0", "b"),
        ]))
        .unwrap();
        assert_eq!(map["TagFilters"]["0"]["TagValue"]["0"], "b");
        let e = unflatten(&pairs(&[("TagFilters.0.TagValue.0.x", "b")])).unwrap_err();
        assert_eq!(e.code, UNKNOWN_PARAMETER);
    }

    #[test]
    fn parameter_count_is_bounded() {
        let many: String = (0..=MAX_PARAMS).map(|i| format!("p{i}=1&")).collect();
        assert_eq!(
            form_pairs(many.as_bytes()).unwrap_err().code,
            INVALID_PARAMETER
        );
        let enough: String = (0..MAX_PARAMS).map(|i| format!("p{i}=1&")).collect();
        assert_eq!(form_pairs(enough.as_bytes()).unwrap().len(), MAX_PARAMS);
    }

    #[test]
    fn json_depth_is_measured_outside_strings() {
        assert!(json_depth_within(
            br#"{"TagFilters":[{"TagValue":["a"]}]}"#,
            4
        ));
        assert!(!json_depth_within(br#"{"a":[{"b":[[1]]}]}"#, 4));
        assert!(json_depth_within(br#"{"a":"[[[[[[\"[[["}"#, 1));
        assert!(!json_depth_within(&vec![b'['; 900_000], 4));
        let nested_objects = "{\"a\":".repeat(100_000);
        assert!(!json_depth_within(nested_objects.as_bytes(), 4));
        assert!(json_depth_within(b"", 0));
    }

    /// The depth rule stated byte by byte, against which the memchr version is checked.
    fn depth_within_byte_by_byte(text: &[u8], max: usize) -> bool {
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        for &b in text {
            if in_string {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => {
                    depth += 1;
                    if depth > max {
                        return false;
                    }
                }
                b'}' | b']' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        true
    }

    #[test]
    fn json_depth_agrees_with_the_byte_by_byte_rule() {
        // Texts over the bytes that matter (and one that does not), every escape and quote
        // placement among them, from a fixed-seed generator so a failure replays.
        let alphabet = b"{}[]\"\\a";
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 24) as usize;
            let text: Vec<u8> = (0..len)
                .map(|i| alphabet[((state >> (i * 2 % 60)) as usize + i) % alphabet.len()])
                .collect();
            for max in 0..4 {
                assert_eq!(
                    json_depth_within(&text, max),
                    depth_within_byte_by_byte(&text, max),
                    "{:?} at depth {max}",
                    String::from_utf8_lossy(&text)
                );
            }
        }
    }

    #[test]
    fn unknown_nested_parameters_are_refused() {
        let map = unflatten(&pairs(&[
            ("KeyId", "k"),
            ("TagFilters.0.TagKey", "a"),
            ("TagFilters.0.TagValues.0", "b"),
        ]))
        .unwrap();
        let e = Params::validate(map, FIELDS, true).unwrap_err();
        assert_eq!(e.code, UNKNOWN_PARAMETER);
        assert!(e.message.contains("TagFilters.TagValues"), "{}", e.message);
    }
}
