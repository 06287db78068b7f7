//! What a route asks of the filter, from its own metadata: Envoy's router has already normalised
//! the path and picked the route, so the filter matches no paths itself (a second matcher is
//! where normalisation bypasses live). The host reads the route's
//! `filter_metadata.jwt_relay` in one property call; Envoy hands a struct over in its map
//! serialisation (the format of header maps), and a list the same way with empty values.
//!
//! ```yaml
//! metadata:
//!   filter_metadata:
//!     jwt_relay:
//!       requirement: allow_missing          # required (default) | allow_missing | none
//!       providers: ["https://idp.example.com"]   # or one issuer as a string
//!       scopes: ["orders:read"]             # or one space-separated string
//! ```
//!
//! Anything else there, or a value of the wrong shape, is an error that names the field: the
//! request fails closed, never as if the route asked for nothing.

use core::fmt;

use crate::config::FilterConfig;

/// Whether a route needs a token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Requirement {
    /// A valid token is required (the default, also for a route without metadata).
    #[default]
    Required,
    /// No token passes without identity headers; a token that is present must be valid.
    AllowMissing,
    /// Tokens are not looked at; client-sent copies of the filter's headers are still removed.
    None,
}

/// A route's rules, checked against the config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteRules {
    pub requirement: Requirement,
    /// The issuers accepted on this route; `None`: every configured provider.
    pub providers: Option<Vec<String>>,
    /// Scopes the token must carry, all of them (`scope` or `scp`).
    pub scopes: Vec<String>,
}

/// Bad route metadata: the field (under `filter_metadata.jwt_relay`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError {
    pub field: String,
    pub why: String,
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "route metadata filter_metadata.jwt_relay.{}: {}",
            self.field, self.why
        )
    }
}

fn refuse(field: &str, why: impl Into<String>) -> RouteError {
    RouteError {
        field: field.to_owned(),
        why: why.into(),
    }
}

/// The rules of a route whose `filter_metadata.jwt_relay` is `raw` (`None`: the route has none).
pub fn parse(raw: Option<&[u8]>, config: &FilterConfig) -> Result<RouteRules, RouteError> {
    let Some(raw) = raw else {
        return Ok(RouteRules::default());
    };
    let fields = pairs(raw).ok_or_else(|| refuse("", "not a struct of fields"))?;
    let mut rules = RouteRules::default();
    let mut seen: Vec<&[u8]> = Vec::new();
    for (name, value) in fields {
        if seen.contains(&name) {
            return Err(refuse(&String::from_utf8_lossy(name), "given twice"));
        }
        seen.push(name);
        match name {
            b"requirement" => {
                rules.requirement = match value {
                    b"required" => Requirement::Required,
                    b"allow_missing" => Requirement::AllowMissing,
                    b"none" => Requirement::None,
                    _ => {
                        return Err(refuse(
                            "requirement",
                            "must be \"required\", \"allow_missing\" or \"none\"",
                        ))
                    }
                }
            }
            b"providers" => {
                let issuers = strings(value, "providers", false)?;
                if issuers.is_empty() {
                    return Err(refuse("providers", "names no issuer"));
                }
                if let Some(unknown) = issuers
                    .iter()
                    .find(|issuer| !config.providers.iter().any(|p| &p.issuer == *issuer))
                {
                    return Err(refuse(
                        "providers",
                        format!("no configured provider has the issuer {unknown:?}"),
                    ));
                }
                rules.providers = Some(issuers);
            }
            b"scopes" => {
                rules.scopes = strings(value, "scopes", true)?;
                if rules.scopes.is_empty() {
                    return Err(refuse("scopes", "names no scope"));
                }
                if let Some(bad) = rules.scopes.iter().find(|scope| !is_scope_token(scope)) {
                    return Err(refuse(
                        "scopes",
                        format!("{bad:?} is not a scope (RFC 6749 §3.3: printable ASCII, no space, '\"' or '\\\\')"),
                    ));
                }
            }
            _ => {
                return Err(refuse(
                    &String::from_utf8_lossy(name),
                    "unknown field (known: requirement, providers, scopes)",
                ))
            }
        }
    }
    Ok(rules)
}

/// A string, or a list of strings; with `split`, a string is a space-separated list.
fn strings(value: &[u8], field: &str, split: bool) -> Result<Vec<String>, RouteError> {
    let not_text = || refuse(field, "not UTF-8 text");
    // A list arrives as pairs with empty values; a plain string cannot parse as that.
    let items: Vec<&[u8]> = match pairs(value) {
        Some(list) if list.iter().all(|(_, empty)| empty.is_empty()) => {
            list.into_iter().map(|(item, _)| item).collect()
        }
        _ => vec![value],
    };
    let mut out = Vec::new();
    for item in items {
        let text = core::str::from_utf8(item).map_err(|_| not_text())?;
        if split {
            out.extend(text.split(' ').filter(|s| !s.is_empty()).map(str::to_owned));
        } else {
            out.push(text.to_owned());
        }
    }
    Ok(out)
}

/// RFC 6749 §3.3 scope-token: %x21 / %x23-5B / %x5D-7E.
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// Envoy's map serialisation: a u32 count, then a (key length, value length) u32 pair per
/// entry, then each key and value followed by a NUL; all little-endian. `None` unless the bytes
/// are exactly that.
fn pairs(bytes: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let (count, mut rest) = take_u32(bytes)?;
    let lengths_len = count.checked_mul(8)?;
    let (mut lengths, mut data) = (rest.get(..lengths_len)?, rest.get(lengths_len..)?);
    let mut out = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let (key_len, after) = take_u32(lengths)?;
        let (value_len, after) = take_u32(after)?;
        lengths = after;
        let (key, after) = take_terminated(data, key_len)?;
        let (value, after) = take_terminated(after, value_len)?;
        data = after;
        out.push((key, value));
    }
    rest = data;
    rest.is_empty().then_some(out)
}

fn take_u32(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let (head, rest) = bytes.split_at_checked(4)?;
    let value = u32::from_le_bytes(head.try_into().ok()?);
    Some((usize::try_from(value).ok()?, rest))
}

/// `len` bytes, then a NUL.
fn take_terminated(bytes: &[u8], len: usize) -> Option<(&[u8], &[u8])> {
    let (item, rest) = bytes.split_at_checked(len)?;
    let (nul, rest) = rest.split_first()?;
    (*nul == 0).then_some((item, rest))
}

/// Whether the token's scopes (`scope`: space-separated, RFC 8693 §4.2 and RFC 9068 §2.2.3;
/// or `scp`: an array of strings, as several identity providers send) include every one of
/// `required`. Returns the missing ones.
pub fn missing_scopes<'r>(
    claims: &serde_json::Map<String, serde_json::Value>,
    required: &'r [String],
) -> Vec<&'r str> {
    let mut held: Vec<&str> = Vec::new();
    if let Some(scope) = claims.get("scope").and_then(serde_json::Value::as_str) {
        held.extend(scope.split(' ').filter(|s| !s.is_empty()));
    }
    if let Some(scp) = claims.get("scp").and_then(serde_json::Value::as_array) {
        held.extend(scp.iter().filter_map(serde_json::Value::as_str));
    }
    required
        .iter()
        .map(String::as_str)
        .filter(|scope| !held.contains(scope))
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Envoy's map serialisation of `entries`.
    pub(crate) fn serialize(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut out = u32::try_from(entries.len()).unwrap().to_le_bytes().to_vec();
        for (key, value) in entries {
            out.extend(u32::try_from(key.len()).unwrap().to_le_bytes());
            out.extend(u32::try_from(value.len()).unwrap().to_le_bytes());
        }
        for (key, value) in entries {
            out.extend(*key);
            out.push(0);
            out.extend(*value);
            out.push(0);
        }
        out
    }

    fn list(items: &[&str]) -> Vec<u8> {
        let entries: Vec<(&[u8], &[u8])> = items.iter().map(|i| (i.as_bytes(), &b""[..])).collect();
        serialize(&entries)
    }

    fn config() -> FilterConfig {
        FilterConfig::from_json(
            br#"{"providers": [
                {"issuer": "https://a.example", "audiences": ["api"],
                 "local_jwks": {"inline": {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k",
                   "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}}},
                {"issuer": "https://b.example", "audiences": ["api"],
                 "local_jwks": {"inline": {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k",
                   "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}}}
            ]}"#,
        )
        .unwrap()
    }

    #[test]
    fn a_route_without_metadata_requires_a_token() {
        assert_eq!(parse(None, &config()), Ok(RouteRules::default()));
        assert_eq!(RouteRules::default().requirement, Requirement::Required);
    }

    #[test]
    fn fields_as_envoy_serialises_them() {
        let scopes = list(&["orders:read", "orders:write"]);
        let raw = serialize(&[
            (b"requirement", b"allow_missing"),
            (b"scopes", &scopes),
            (b"providers", b"https://b.example"),
        ]);
        let rules = parse(Some(&raw), &config()).unwrap();
        assert_eq!(rules.requirement, Requirement::AllowMissing);
        assert_eq!(rules.scopes, ["orders:read", "orders:write"]);
        assert_eq!(rules.providers, Some(vec!["https://b.example".to_owned()]));
        // A scope string is space-separated; a provider list is a list.
        let providers = list(&["https://a.example", "https://b.example"]);
        let raw = serialize(&[(b"scopes", b"a  b"), (b"providers", &providers)]);
        let rules = parse(Some(&raw), &config()).unwrap();
        assert_eq!(rules.scopes, ["a", "b"]);
        assert_eq!(rules.providers.unwrap().len(), 2);
    }

    #[test]
    fn the_bytes_envoy_1_40_sent_for_a_route_parse() {
        // Captured from Envoy 1.40: requirement allow_missing, scopes [orders:read,
        // orders:write], providers "https://idp.example.com" (as a struct, then the list alone).
        let scopes = list(&["orders:read", "orders:write"]);
        assert_eq!(
            scopes,
            [
                &b"\x02\x00\x00\x00\x0b\x00\x00\x00\x00\x00\x00\x00\x0c\x00\x00\x00\x00\x00\x00\x00"[..],
                b"orders:read\0\0orders:write\0\0"
            ]
            .concat()
        );
    }

    #[test]
    fn bad_metadata_is_refused_with_its_field() {
        let config = config();
        let empty_list = list(&[]);
        let cases: [(Vec<u8>, &str); 7] = [
            (serialize(&[(b"requirement", b"optional")]), "requirement"),
            (serialize(&[(b"scopes", b"")]), "scopes"),
            (serialize(&[(b"scopes", b"a\"b")]), "scopes"),
            (
                serialize(&[(b"providers", b"https://c.example")]),
                "providers",
            ),
            (serialize(&[(b"providers", &empty_list)]), "providers"),
            (serialize(&[(b"scope", b"a")]), "scope"),
            (
                serialize(&[(b"requirement", b"none"), (b"requirement", b"required")]),
                "requirement",
            ),
        ];
        for (raw, field) in cases {
            let refused = parse(Some(&raw), &config).unwrap_err();
            assert_eq!(refused.field, field, "{refused}");
        }
        assert_eq!(parse(Some(b"garbage"), &config).unwrap_err().field, "");
    }

    #[test]
    fn truncated_or_padded_pairs_are_not_pairs() {
        let good = serialize(&[(b"requirement", b"none")]);
        assert!(pairs(&good).is_some());
        for cut in 0..good.len() {
            assert!(pairs(good.get(..cut).unwrap()).is_none(), "cut at {cut}");
        }
        let mut padded = good.clone();
        padded.push(0);
        assert!(pairs(&padded).is_none());
        // A count the bytes cannot hold.
        assert!(pairs(&[0xff, 0xff, 0xff, 0xff]).is_none());
        assert_eq!(pairs(&[0, 0, 0, 0]), Some(Vec::new()));
    }

    #[test]
    fn scopes_come_from_scope_or_scp() {
        let claims = |json: serde_json::Value| json.as_object().unwrap().clone();
        let need = vec!["a".to_owned(), "b".to_owned()];
        assert!(missing_scopes(&claims(serde_json::json!({"scope": "b x a"})), &need).is_empty());
        assert!(missing_scopes(&claims(serde_json::json!({"scp": ["a", "b"]})), &need).is_empty());
        assert_eq!(
            missing_scopes(&claims(serde_json::json!({"scope": "a"})), &need),
            ["b"]
        );
        assert_eq!(
            missing_scopes(&claims(serde_json::json!({"scope": ["a", "b"]})), &need),
            ["a", "b"],
            "scope must be a string"
        );
        assert_eq!(
            missing_scopes(&claims(serde_json::json!({})), &need),
            ["a", "b"]
        );
    }
}
