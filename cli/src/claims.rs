//! The claim set `mint` puts in a token, and the narrowed copy it embeds for one inner audience.

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};

/// Registered claims as `mint` sets them, plus free-form extras.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClaimSet {
    pub iss: String,
    pub sub: Option<String>,
    /// Written as a string when there is one audience, an array when several, omitted when none.
    pub aud: Vec<String>,
    pub iat: i64,
    pub nbf: Option<i64>,
    pub exp: i64,
    pub sid: Option<String>,
    /// Written last, so an extra can also replace a claim above (e.g. a malformed `exp` for a
    /// negative test).
    pub extra: Map<String, Value>,
}

impl ClaimSet {
    pub fn to_json(&self) -> Value {
        let mut claims = Map::new();
        claims.insert("iss".to_owned(), self.iss.clone().into());
        if let Some(sub) = &self.sub {
            claims.insert("sub".to_owned(), sub.clone().into());
        }
        match self.aud.as_slice() {
            [] => {}
            [one] => {
                claims.insert("aud".to_owned(), one.clone().into());
            }
            many => {
                claims.insert("aud".to_owned(), many.to_vec().into());
            }
        }
        claims.insert("iat".to_owned(), self.iat.into());
        if let Some(nbf) = self.nbf {
            claims.insert("nbf".to_owned(), nbf.into());
        }
        claims.insert("exp".to_owned(), self.exp.into());
        if let Some(sid) = &self.sid {
            claims.insert("sid".to_owned(), sid.clone().into());
        }
        claims.extend(self.extra.clone());
        Value::Object(claims)
    }

    /// The claims of a token narrowed to `aud`: same `iss` and `sub`, issued `now`, and never
    /// outliving this one: `exp = min(self.exp, now + ttl)` (just `self.exp` without a ttl).
    pub fn narrowed(&self, aud: &str, now: i64, ttl: Option<i64>) -> ClaimSet {
        let exp = ttl.map_or(self.exp, |ttl| self.exp.min(now.saturating_add(ttl)));
        ClaimSet {
            iss: self.iss.clone(),
            sub: self.sub.clone(),
            aud: vec![aud.to_owned()],
            iat: now,
            nbf: None,
            exp,
            sid: None,
            extra: Map::new(),
        }
    }
}

/// When a token is issued and stops being valid, relative to a clock reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    /// Seconds from now to `exp`, unless `exp_offset` is given.
    pub ttl: i64,
    pub iat_offset: i64,
    pub nbf_offset: Option<i64>,
    /// Replaces `ttl`: `exp = now + exp_offset`; negative makes an expired token.
    pub exp_offset: Option<i64>,
}

impl Lifetime {
    /// `(iat, nbf, exp)` for a token minted at `now`.
    pub fn at(&self, now: i64) -> (i64, Option<i64>, i64) {
        let iat = now.saturating_add(self.iat_offset);
        let nbf = self.nbf_offset.map(|offset| now.saturating_add(offset));
        let exp = now.saturating_add(self.exp_offset.unwrap_or(self.ttl));
        (iat, nbf, exp)
    }
}

/// `exp = now + DEFAULT_TTL` unless a lifetime is given.
pub const DEFAULT_TTL: i64 = 300;

/// What `mint`'s flags say about the claims: `None` or empty means the flag was not given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClaimFlags {
    pub iss: Option<String>,
    pub sub: Option<String>,
    pub aud: Vec<String>,
    pub sid: Option<String>,
    pub ttl: Option<i64>,
    pub iat_offset: Option<i64>,
    pub nbf_offset: Option<i64>,
    pub exp_offset: Option<i64>,
    /// `--claim NAME=JSON`, applied last.
    pub extra: Vec<(String, Value)>,
}

/// The claims of a token minted at `now`: `base` (from `--claims-json`, or empty), then every
/// claim a flag sets, then the `--claim` extras. `iat` and `exp` come from the lifetime flags
/// when given, else from `base`, else `iat = now` and `exp = now + DEFAULT_TTL`.
pub fn merge(base: Map<String, Value>, flags: ClaimFlags, now: i64) -> Result<ClaimSet> {
    let mut claims = base;
    let mut set = |name: &str, value: Value| {
        claims.insert(name.to_owned(), value);
    };
    if let Some(iss) = flags.iss.clone() {
        set("iss", iss.into());
    }
    if let Some(sub) = flags.sub {
        set("sub", sub.into());
    }
    match flags.aud.as_slice() {
        [] => {}
        [one] => set("aud", one.clone().into()),
        many => set("aud", many.to_vec().into()),
    }
    if let Some(sid) = flags.sid {
        set("sid", sid.into());
    }
    let lifetime = Lifetime {
        ttl: flags.ttl.unwrap_or(DEFAULT_TTL),
        iat_offset: flags.iat_offset.unwrap_or(0),
        nbf_offset: flags.nbf_offset,
        exp_offset: flags.exp_offset,
    };
    let (iat, nbf, exp) = lifetime.at(now);
    if flags.iat_offset.is_some() || !claims.contains_key("iat") {
        claims.insert("iat".to_owned(), iat.into());
    }
    if let Some(nbf) = nbf {
        claims.insert("nbf".to_owned(), nbf.into());
    }
    let exp_given = flags.ttl.is_some() || flags.exp_offset.is_some();
    if exp_given || !claims.contains_key("exp") {
        claims.insert("exp".to_owned(), exp.into());
    }
    claims.extend(flags.extra);

    let iss = match (claims.get("iss"), flags.iss) {
        (Some(Value::String(iss)), _) => iss.clone(),
        // An odd `iss` from --claim, for a negative test: the flag's value is the issuer of
        // any narrowed token.
        (_, Some(iss)) => iss,
        (None, None) => bail!("--iss is required (or an \"iss\" in --claims-json)"),
        (Some(other), None) => bail!("\"iss\" must be a string, got {other}"),
    };
    // Typed copies for narrowing; `extra` holds every claim as it is, so the token carries
    // exactly `claims`, odd values included.
    Ok(ClaimSet {
        iss,
        sub: claims.get("sub").and_then(Value::as_str).map(str::to_owned),
        aud: Vec::new(),
        iat: claims.get("iat").and_then(Value::as_i64).unwrap_or(iat),
        nbf: None,
        exp: claims.get("exp").and_then(Value::as_i64).unwrap_or(exp),
        sid: None,
        extra: claims,
    })
}

/// Parses the `--claims-json` document: a JSON object of claims.
pub fn parse_claims_json(text: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str(text).context("not JSON")? {
        Value::Object(claims) => Ok(claims),
        other => bail!("expected a JSON object of claims, got {other}"),
    }
}

/// Parses `NAME=JSON`; a value that is not JSON is taken as a string, so `role=admin` works.
pub fn parse_claim(arg: &str) -> Result<(String, Value)> {
    let Some((name, raw)) = arg.split_once('=') else {
        bail!("expected NAME=JSON, got {arg:?}");
    };
    if name.is_empty() {
        bail!("the claim name before '=' is empty in {arg:?}");
    }
    let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
    Ok((name.to_owned(), value))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sample() -> ClaimSet {
        ClaimSet {
            iss: "https://issuer.test".into(),
            sub: Some("alice".into()),
            aud: vec!["edge".into()],
            iat: 1_000,
            nbf: None,
            exp: 1_300,
            sid: Some("s-1".into()),
            extra: Map::new(),
        }
    }

    #[test]
    fn aud_is_a_string_for_one_an_array_for_several_absent_for_none() {
        let mut claims = sample();
        assert_eq!(claims.to_json()["aud"], "edge");
        claims.aud.push("billing".into());
        assert_eq!(claims.to_json()["aud"], json!(["edge", "billing"]));
        claims.aud.clear();
        assert!(claims.to_json().get("aud").is_none());
    }

    #[test]
    fn to_json_writes_the_set_claims_and_extras_override() {
        let mut claims = sample();
        claims.nbf = Some(990);
        claims.extra.insert("exp".into(), json!("soon"));
        claims.extra.insert("role".into(), json!(["admin"]));
        assert_eq!(
            claims.to_json(),
            json!({
                "iss": "https://issuer.test", "sub": "alice", "aud": "edge", "iat": 1_000,
                "nbf": 990, "exp": "soon", "sid": "s-1", "role": ["admin"],
            })
        );
    }

    #[test]
    fn narrowed_claims_never_outlive_the_outer_token() {
        let outer = sample();
        let short = outer.narrowed("billing", 1_100, Some(60));
        assert_eq!(short.exp, 1_160);
        assert_eq!(outer.narrowed("billing", 1_100, Some(600)).exp, outer.exp);
        assert_eq!(outer.narrowed("billing", 1_100, None).exp, outer.exp);
        assert_eq!(
            short.to_json(),
            json!({ "iss": "https://issuer.test", "sub": "alice", "aud": "billing",
                    "iat": 1_100, "exp": 1_160 })
        );
    }

    #[test]
    fn lifetime_offsets_are_from_now_and_exp_offset_wins_over_ttl() {
        let mut lifetime = Lifetime {
            ttl: 300,
            iat_offset: -10,
            nbf_offset: None,
            exp_offset: None,
        };
        assert_eq!(lifetime.at(1_000), (990, None, 1_300));
        lifetime.nbf_offset = Some(5);
        lifetime.exp_offset = Some(-60);
        assert_eq!(lifetime.at(1_000), (990, Some(1_005), 940));
    }

    fn flags() -> ClaimFlags {
        ClaimFlags {
            iss: Some("https://issuer.test".into()),
            sub: Some("alice".into()),
            aud: vec!["edge".into()],
            ..ClaimFlags::default()
        }
    }

    #[test]
    fn merge_without_a_base_is_what_the_flags_say() {
        let merged = merge(Map::new(), flags(), 1_000).unwrap();
        assert_eq!(
            merged.to_json(),
            json!({ "iss": "https://issuer.test", "sub": "alice", "aud": "edge",
                    "iat": 1_000, "exp": 1_300 })
        );
        let mut many = flags();
        many.aud.push("billing".into());
        many.sid = Some("s-1".into());
        many.nbf_offset = Some(-5);
        many.exp_offset = Some(-60);
        many.extra = vec![("exp".into(), json!("soon"))];
        let merged = merge(Map::new(), many, 1_000).unwrap();
        assert_eq!(
            merged.to_json(),
            json!({ "iss": "https://issuer.test", "sub": "alice", "aud": ["edge", "billing"],
                    "iat": 1_000, "nbf": 995, "exp": "soon", "sid": "s-1" })
        );
        // The narrowed tokens still get a numeric exp.
        assert_eq!(merged.exp, 940);
    }

    #[test]
    fn merge_keeps_the_base_unless_a_flag_says_otherwise() {
        let base = parse_claims_json(
            r#"{"iss": "https://base.test", "sub": "bob", "aud": ["x"], "iat": 10, "exp": 20,
                "roles": ["admin"]}"#,
        )
        .unwrap();
        let kept = merge(
            base.clone(),
            ClaimFlags {
                extra: vec![("tier".into(), json!(2))],
                ..ClaimFlags::default()
            },
            1_000,
        )
        .unwrap();
        assert_eq!(
            kept.to_json(),
            json!({ "iss": "https://base.test", "sub": "bob", "aud": ["x"], "iat": 10,
                    "exp": 20, "roles": ["admin"], "tier": 2 })
        );
        assert_eq!((kept.iss.as_str(), kept.exp), ("https://base.test", 20));

        let overridden = merge(
            base,
            ClaimFlags {
                ttl: Some(60),
                ..flags()
            },
            1_000,
        )
        .unwrap();
        assert_eq!(
            overridden.to_json(),
            json!({ "iss": "https://issuer.test", "sub": "alice", "aud": "edge", "iat": 10,
                    "exp": 1_060, "roles": ["admin"] })
        );
    }

    #[test]
    fn merge_needs_an_issuer_and_the_base_must_be_an_object() {
        let err = merge(Map::new(), ClaimFlags::default(), 0).unwrap_err();
        assert!(err.to_string().contains("--iss"), "{err}");
        let odd = parse_claims_json(r#"{"iss": 7}"#).unwrap();
        assert!(merge(odd, ClaimFlags::default(), 0).is_err());
        assert!(parse_claims_json("[1]")
            .unwrap_err()
            .to_string()
            .contains("JSON object"));
        assert!(parse_claims_json("{").is_err());
    }

    #[test]
    fn parse_claim_reads_json_or_falls_back_to_a_string() {
        let cases = [
            ("n=5", ("n", json!(5))),
            ("flag=true", ("flag", json!(true))),
            ("roles=[\"a\",\"b\"]", ("roles", json!(["a", "b"]))),
            ("quoted=\"5\"", ("quoted", json!("5"))),
            ("role=admin", ("role", json!("admin"))),
            ("eq=a=b", ("eq", json!("a=b"))),
            ("empty=", ("empty", json!(""))),
        ];
        for (arg, (name, value)) in cases {
            assert_eq!(parse_claim(arg).unwrap(), (name.to_owned(), value), "{arg}");
        }
        assert!(parse_claim("no-equals").is_err());
        assert!(parse_claim("=5").is_err());
    }
}
