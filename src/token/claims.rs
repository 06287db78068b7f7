//! Strict JSON for token headers and claims, and typed access to the registered claims.
//!
//! JSON objects with duplicate member names are refused at every depth: RFC 7515 §5.2 and
//! RFC 7519 §4 allow a parser to reject them, and a parser that silently keeps the first or the
//! last copy invites differentials between this filter and the services behind it.

use core::fmt;

use serde::de::{Deserialize, Deserializer, Error as DeError, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A JSON value parsed with duplicate-member rejection.
pub struct StrictValue(pub Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: DeError>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: DeError>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E: DeError>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: DeError>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E: DeError>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.into()))
    }
    fn visit_string<E: DeError>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E: DeError>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: DeError>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        strict_map(map).map(Value::Object)
    }
}

fn strict_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Map<String, Value>, A::Error> {
    let mut object = Map::new();
    while let Some(key) = map.next_key::<String>()? {
        let StrictValue(value) = map.next_value()?;
        if object.contains_key(&key) {
            return Err(A::Error::custom("duplicate member name"));
        }
        object.insert(key, value);
    }
    Ok(object)
}

/// Parses a JSON object strictly (duplicate names refused at any depth).
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, serde_json::Error> {
    match serde_json::from_slice::<StrictValue>(bytes)?.0 {
        Value::Object(object) => Ok(object),
        _ => Err(serde_json::Error::custom("not a JSON object")),
    }
}

/// The claims of a token other than `exp`, `nbf` and `iat` (which jwt-compact's `Claims` holds
/// as timestamps). Used as the custom-claims type `T` of `jwt_compact::Claims<T>`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClaimSet(pub Map<String, Value>);

impl<'de> Deserialize<'de> for ClaimSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ClaimSetVisitor;
        impl<'de> Visitor<'de> for ClaimSetVisitor {
            type Value = ClaimSet;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object of claims")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ClaimSet, A::Error> {
                strict_map(map).map(ClaimSet)
            }
        }
        deserializer.deserialize_map(ClaimSetVisitor)
    }
}

/// A registered claim with the wrong JSON type (RFC 7519 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongType(pub &'static str);

impl ClaimSet {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// `iss`: a string when present.
    pub fn issuer(&self) -> Result<Option<&str>, WrongType> {
        optional_string(&self.0, "iss")
    }

    /// `aud`: a string or an array of strings when present (RFC 7519 §4.1.3).
    pub fn audiences(&self) -> Result<Option<Vec<&str>>, WrongType> {
        match self.0.get("aud") {
            None => Ok(None),
            Some(Value::String(aud)) => Ok(Some(vec![aud.as_str()])),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().ok_or(WrongType("aud")))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(WrongType("aud")),
        }
    }

    /// Checks the types of the registered string claims this filter does not otherwise read.
    pub fn check_registered_types(&self) -> Result<(), WrongType> {
        self.issuer()?;
        self.audiences()?;
        optional_string(&self.0, "sub")?;
        optional_string(&self.0, "jti")?;
        Ok(())
    }
}

fn optional_string<'a>(
    claims: &'a Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'a str>, WrongType> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(WrongType(name)),
    }
}

/// Renders a scalar claim as a header value. Objects, arrays and null are not forwarded, and
/// neither is any value with a control character, C0, DEL or C1 (header injection, request
/// smuggling, forged log lines).
pub fn scalar_header_value(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        _ => return None,
    };
    without_controls(text)
}

/// Renders a claim for Envoy's filter state (read by access logs): scalars as text, arrays and
/// objects as compact JSON. Null, and a value with a control character anywhere (a forged log
/// line; JSON escapes C0 but leaves DEL and C1 raw), are not exported.
pub fn filter_state_value(value: &Value) -> Option<String> {
    match value {
        Value::Array(_) | Value::Object(_) => without_controls(serde_json::to_string(value).ok()?),
        _ => scalar_header_value(value),
    }
}

/// `text`, unless it holds a Unicode control character (category Cc: U+0000–U+001F, U+007F,
/// U+0080–U+009F).
fn without_controls(text: String) -> Option<String> {
    (!text.chars().any(char::is_control)).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn duplicate_names_are_refused_at_every_depth() {
        assert!(parse_object(br#"{"a":1,"a":2}"#).is_err());
        assert!(parse_object(br#"{"a":{"b":1,"b":2}}"#).is_err());
        assert!(parse_object(br#"{"a":[{"b":1,"b":2}]}"#).is_err());
        assert_eq!(
            parse_object(br#"{"a":{"b":[1,true,null,"x",1.5]}}"#).unwrap(),
            json!({"a":{"b":[1,true,null,"x",1.5]}})
                .as_object()
                .unwrap()
                .clone()
        );
    }

    #[test]
    fn filter_state_values_are_single_line_text() {
        assert_eq!(
            filter_state_value(&json!("alice")).as_deref(),
            Some("alice")
        );
        assert_eq!(filter_state_value(&json!(42)).as_deref(), Some("42"));
        assert_eq!(filter_state_value(&json!(true)).as_deref(), Some("true"));
        assert_eq!(
            filter_state_value(&json!(["a", "b\nc"])).as_deref(),
            Some(r#"["a","b\nc"]"#)
        );
        assert_eq!(
            filter_state_value(&json!({"k": 1})).as_deref(),
            Some(r#"{"k":1}"#)
        );
        assert_eq!(filter_state_value(&json!(null)), None);
        assert_eq!(filter_state_value(&json!("alice\n127.0.0.1 - admin")), None);
        // DEL and C1 controls are refused wherever they sit: JSON leaves them unescaped.
        for bad in ["a\u{7f}b", "a\u{80}b", "a\u{85}b", "a\u{9f}b"] {
            for value in [
                json!(bad),
                json!([bad]),
                json!({"k": bad}),
                json!({bad: 1}),
                json!([[{"k": [bad]}]]),
            ] {
                assert_eq!(filter_state_value(&value), None, "{value}");
            }
            assert_eq!(scalar_header_value(&json!(bad)), None, "{bad:?}");
        }
        // Other non-ASCII text is fine.
        assert_eq!(
            filter_state_value(&json!(["é", "\u{a0}"])).as_deref(),
            Some("[\"é\",\"\u{a0}\"]")
        );
    }

    #[test]
    fn non_objects_are_refused() {
        for text in [&b"[]"[..], b"\"x\"", b"1", b"null", b"", b"{"] {
            assert!(parse_object(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn claim_set_refuses_duplicates_inside_jwt_compact_claims() {
        type Claims = jwt_compact::Claims<ClaimSet>;
        assert!(serde_json::from_str::<Claims>(r#"{"sub":"a","sub":"b"}"#).is_err());
        assert!(serde_json::from_str::<Claims>(r#"{"exp":1,"exp":2}"#).is_err());
        let claims: Claims = serde_json::from_str(r#"{"sub":"a","exp":5}"#).unwrap();
        assert_eq!(claims.custom.get("sub"), Some(&json!("a")));
        assert_eq!(claims.expiration.map(|t| t.timestamp()), Some(5));
        assert!(serde_json::from_str::<Claims>(r#"{"exp":"soon"}"#).is_err());
    }

    #[test]
    fn audience_is_string_or_array_of_strings() {
        let set = |v: Value| ClaimSet(v.as_object().unwrap().clone());
        assert_eq!(set(json!({"aud":"a"})).audiences(), Ok(Some(vec!["a"])));
        assert_eq!(
            set(json!({"aud":["a","b"]})).audiences(),
            Ok(Some(vec!["a", "b"]))
        );
        assert_eq!(set(json!({})).audiences(), Ok(None));
        assert_eq!(set(json!({"aud":1})).audiences(), Err(WrongType("aud")));
        assert_eq!(
            set(json!({"aud":["a",1]})).audiences(),
            Err(WrongType("aud"))
        );
        assert_eq!(
            set(json!({"sub":1})).check_registered_types(),
            Err(WrongType("sub"))
        );
        assert_eq!(set(json!({"iss":["x"]})).issuer(), Err(WrongType("iss")));
    }

    #[test]
    fn only_clean_scalars_become_header_values() {
        assert_eq!(scalar_header_value(&json!("alice")), Some("alice".into()));
        assert_eq!(scalar_header_value(&json!(42)), Some("42".into()));
        assert_eq!(scalar_header_value(&json!(true)), Some("true".into()));
        assert_eq!(scalar_header_value(&json!(null)), None);
        assert_eq!(scalar_header_value(&json!(["a"])), None);
        assert_eq!(scalar_header_value(&json!({"a":1})), None);
        for bad in ["a\r\nx-admin: 1", "a\nb", "a\0b", "a\x7fb"] {
            assert_eq!(scalar_header_value(&json!(bad)), None, "{bad:?}");
        }
    }
}
