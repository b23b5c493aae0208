//! Declarative parameter validation: each action lists its fields once (type, required, limits,
//! the vendor code for a bad value), and one validator enforces them for every action.

use serde_json::{Map, Value};

use crate::errors::*;

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

/// An action's validated parameters. `from_query` marks the flattened form (legacy signature or
/// GET), where every leaf arrives as a string and numbers are parsed from it.
#[derive(Debug)]
pub struct Params {
    map: Map<String, Value>,
    from_query: bool,
}

fn type_error(name: &str, expected: &str) -> TcError {
    TcError::new(
        INVALID_PARAMETER,
        format!("The type of parameter `{name}` must be {expected}."),
    )
}

impl Params {
    /// Checks `map` against `fields`: unknown names, missing required ones, types and limits.
    pub fn validate(
        map: Map<String, Value>,
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
        let params = Self { map, from_query };
        for field in fields {
            match params.map.get(field.name) {
                None | Some(Value::Null) if field.required => {
                    return Err(missing(field.name));
                }
                None | Some(Value::Null) => {}
                Some(v) => params.check(field, v)?,
            }
        }
        Ok(params)
    }

    fn check(&self, field: &Field, v: &Value) -> Result<(), TcError> {
        let name = field.name;
        let out_of_range =
            |what: String| TcError::new(field.invalid_code, format!("Invalid `{name}`: {what}."));
        match field.kind {
            Kind::Str { min, max } => {
                let s = v.as_str().ok_or_else(|| type_error(name, "string"))?;
                if s.len() < min || s.len() > max {
                    return Err(out_of_range(format!("length must be {min} to {max} bytes")));
                }
            }
            Kind::UInt { min, max } => {
                let n = self
                    .uint_of(v)
                    .ok_or_else(|| type_error(name, "an unsigned integer"))?;
                if n < min || n > max {
                    return Err(out_of_range(format!("must be {min} to {max}")));
                }
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
            }
            Kind::Tags { max } | Kind::TagFilters { max } => {
                let filters = matches!(field.kind, Kind::TagFilters { .. });
                let items = self
                    .list_of(v)
                    .ok_or_else(|| type_error(name, "a list of tags"))?;
                if items.len() > max {
                    return Err(out_of_range(format!("at most {max} items")));
                }
                for item in &items {
                    let obj = item
                        .as_object()
                        .ok_or_else(|| type_error(name, "a list of tags"))?;
                    if let Some(k) = obj.keys().find(|k| *k != "TagKey" && *k != "TagValue") {
                        return Err(TcError::new(
                            UNKNOWN_PARAMETER,
                            format!("The parameter `{name}.{k}` is not recognized."),
                        ));
                    }
                    let key = obj
                        .get("TagKey")
                        .and_then(Value::as_str)
                        .ok_or_else(|| missing(&format!("{name}.TagKey")))?;
                    if key.is_empty() || key.len() > TAG_KEY_MAX {
                        return Err(out_of_range(format!(
                            "tag keys must be 1 to {TAG_KEY_MAX} bytes"
                        )));
                    }
                    let values: Vec<Value> = match obj.get("TagValue") {
                        None | Some(Value::Null) if filters => Vec::new(),
                        None | Some(Value::Null) => {
                            return Err(missing(&format!("{name}.TagValue")));
                        }
                        Some(val) if filters => self
                            .list_of(val)
                            .ok_or_else(|| type_error(name, "a list of tag filters"))?,
                        Some(val) => vec![val.clone()],
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
                }
            }
            Kind::Object => {
                if !v.is_object() {
                    return Err(type_error(name, "an object"));
                }
            }
            Kind::ObjectList => {
                let items = self
                    .list_of(v)
                    .ok_or_else(|| type_error(name, "a list of objects"))?;
                if items.iter().any(|i| !i.is_object()) {
                    return Err(type_error(name, "a list of objects"));
                }
            }
        }
        Ok(())
    }

    fn uint_of(&self, v: &Value) -> Option<u64> {
        match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) if self.from_query => s.parse().ok(),
            _ => None,
        }
    }

    /// A list; in the flattened form a list arrives as an object keyed "0", "1", ...
    fn list_of(&self, v: &Value) -> Option<Vec<Value>> {
        match v {
            Value::Array(items) => Some(items.clone()),
            Value::Object(obj) if self.from_query => {
                let mut items = Vec::with_capacity(obj.len());
                for i in 0..obj.len() {
                    items.push(obj.get(&i.to_string())?.clone());
                }
                Some(items)
            }
            _ => None,
        }
    }

    /// Whether the parameter was given (and not null).
    pub fn has(&self, name: &str) -> bool {
        !matches!(self.map.get(name), None | Some(Value::Null))
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        self.map.get(name).and_then(Value::as_str)
    }

    /// A required string: validation guarantees it, so absence reads as empty.
    pub fn req_str(&self, name: &str) -> &str {
        self.str(name).unwrap_or_default()
    }

    pub fn uint(&self, name: &str) -> Option<u64> {
        self.map.get(name).and_then(|v| self.uint_of(v))
    }

    pub fn str_list(&self, name: &str) -> Vec<String> {
        self.map
            .get(name)
            .and_then(|v| self.list_of(v))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    }

    pub fn tags(&self, name: &str) -> Vec<kms_core::Tag> {
        self.objects(name)
            .into_iter()
            .map(|o| kms_core::Tag {
                key: o
                    .get("TagKey")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                value: o
                    .get("TagValue")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            })
            .collect()
    }

    pub fn tag_filters(&self, name: &str) -> Vec<(String, Vec<String>)> {
        self.objects(name)
            .into_iter()
            .map(|o| {
                let key = o
                    .get("TagKey")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let values = o
                    .get("TagValue")
                    .and_then(|v| self.list_of(v))
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect();
                (key, values)
            })
            .collect()
    }

    fn objects(&self, name: &str) -> Vec<Map<String, Value>> {
        self.map
            .get(name)
            .and_then(|v| self.list_of(v))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| v.as_object().cloned())
            .collect()
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
/// Brackets inside strings do not count; the text's validity is the parser's business.
pub fn json_depth_within(text: &[u8], max: usize) -> bool {
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
    use serde_json::json;

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

    #[test]
    fn json_form() {
        let p = check(json!({"KeyId": "k", "Limit": 5, "KeyIds": ["a"], "Tags": [{"TagKey": "a", "TagValue": "b"}]})).unwrap();
        assert_eq!(p.req_str("KeyId"), "k");
        assert_eq!(p.uint("Limit"), Some(5));
        assert_eq!(p.str_list("KeyIds"), vec!["a"]);
        assert_eq!(p.tags("Tags")[0].value, "b");
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
        let p = check(json!({"KeyId": "k", "TagFilters": [{"TagKey": "a"}, {"TagKey": "b", "TagValue": ["1", "2"]}]})).unwrap();
        assert_eq!(
            p.tag_filters("TagFilters"),
            vec![
                ("a".into(), vec![]),
                ("b".into(), vec!["1".into(), "2".into()])
            ]
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
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let p = Params::validate(unflatten(&pairs).unwrap(), FIELDS, true).unwrap();
        assert_eq!(p.uint("Limit"), Some(5));
        assert_eq!(p.str_list("KeyIds"), vec!["a", "b"]);
        assert_eq!(p.tags("Tags")[0].key, "t");
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
