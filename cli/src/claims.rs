//! The claim set `mint` puts in a token, and the narrowed copy it embeds for one inner audience.

use anyhow::{bail, Result};
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
