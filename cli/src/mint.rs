//! Minting a token together with the narrowed tokens it carries for inner services
//! in its `embedded_tokens` claim.

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};

use crate::{claims::ClaimSet, keys::SigningKey, token};

/// The outer claim holding `{"<audience>": "<jwt>", ...}`.
pub const EMBEDDED_TOKENS_CLAIM: &str = "embedded_tokens";

/// What goes in the outer token's `embedded_tokens` claim.
#[derive(Debug, Clone, Default)]
pub struct Embeds {
    /// Audiences to mint a narrowed token for (see [`ClaimSet::narrowed`]).
    pub audiences: Vec<String>,
    /// Ready-made tokens by audience; one that embeds tokens itself gives nesting.
    pub tokens: Vec<(String, String)>,
    /// Signs the narrowed tokens with its default alg; `None` uses the outer key and alg.
    pub key: Option<SigningKey>,
    /// Upper bound on a narrowed token's lifetime in seconds.
    pub ttl: Option<i64>,
}

impl Embeds {
    pub fn is_empty(&self) -> bool {
        self.audiences.is_empty() && self.tokens.is_empty()
    }
}

/// Signs `claims` (plus `embedded_tokens` when `embeds` asks for any) with `key` and `alg`.
pub fn mint(
    key: &SigningKey,
    alg: &str,
    header: &Map<String, Value>,
    claims: &ClaimSet,
    embeds: &Embeds,
    now: i64,
) -> Result<String> {
    let mut outer = claims.clone();
    if !embeds.is_empty() {
        if outer.extra.contains_key(EMBEDDED_TOKENS_CLAIM) {
            bail!(
                "the claim {EMBEDDED_TOKENS_CLAIM} is given directly and through embeds; use one"
            );
        }
        let embedded = embedded_tokens(key, alg, claims, embeds, now)?;
        outer
            .extra
            .insert(EMBEDDED_TOKENS_CLAIM.to_owned(), Value::Object(embedded));
    }
    token::sign(key, alg, header, &outer.to_json())
}

/// The `embedded_tokens` object: a narrowed token per audience, then the ready-made ones.
pub fn embedded_tokens(
    outer_key: &SigningKey,
    outer_alg: &str,
    outer: &ClaimSet,
    embeds: &Embeds,
    now: i64,
) -> Result<Map<String, Value>> {
    let (key, alg) = match &embeds.key {
        Some(key) => (key, key.default_alg()),
        None => (outer_key, outer_alg),
    };
    let mut embedded = Map::new();
    for aud in &embeds.audiences {
        let claims = outer.narrowed(aud, now, embeds.ttl).to_json();
        let jwt = token::sign(key, alg, &Map::new(), &claims)
            .with_context(|| format!("minting the embedded token for {aud:?}"))?;
        insert_once(&mut embedded, aud, jwt)?;
    }
    for (aud, jwt) in &embeds.tokens {
        insert_once(&mut embedded, aud, jwt.clone())?;
    }
    Ok(embedded)
}

fn insert_once(embedded: &mut Map<String, Value>, aud: &str, jwt: String) -> Result<()> {
    if embedded.insert(aud.to_owned(), jwt.into()).is_some() {
        bail!("audience {aud:?} is embedded twice");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use jwt_compact::{alg::Es256, jwk::JsonWebKey, AlgorithmExt, UntrustedToken};
    use serde_json::json;

    use super::*;
    use crate::{
        keys::KeyKind,
        test_support::{key, segment},
    };

    const NOW: i64 = 1_700_000_000;

    fn outer_claims() -> ClaimSet {
        ClaimSet {
            iss: "https://issuer.test".into(),
            sub: Some("alice".into()),
            aud: vec!["edge".into()],
            iat: NOW,
            nbf: None,
            exp: NOW + 300,
            sid: Some("s-1".into()),
            extra: Map::new(),
        }
    }

    fn embeds(audiences: &[&str], ttl: Option<i64>) -> Embeds {
        Embeds {
            audiences: audiences.iter().map(|aud| aud.to_string()).collect(),
            ttl,
            ..Embeds::default()
        }
    }

    #[test]
    fn embed_adds_narrowed_tokens_that_expire_no_later_than_the_outer_one() {
        let signer = key(KeyKind::P256);
        let jwt = mint(
            &signer,
            "ES256",
            &Map::new(),
            &outer_claims(),
            &embeds(&["billing", "ledger"], Some(60)),
            NOW,
        )
        .unwrap();
        let outer = segment(&jwt, 1);
        assert_eq!(outer["aud"], "edge");
        let embedded = outer[EMBEDDED_TOKENS_CLAIM].as_object().unwrap();
        assert_eq!(embedded.len(), 2);
        for aud in ["billing", "ledger"] {
            let inner = embedded[aud].as_str().unwrap();
            let claims = segment(inner, 1);
            assert_eq!(
                claims,
                json!({ "iss": "https://issuer.test", "sub": "alice", "aud": aud,
                        "iat": NOW, "exp": NOW + 60 })
            );
            assert!(claims["exp"].as_i64() <= outer["exp"].as_i64());
            let jwk: JsonWebKey<'_> = serde_json::from_value(signer.public_jwk()).unwrap();
            let token = UntrustedToken::new(inner).unwrap();
            assert!(Es256
                .validator::<Map<String, Value>>(&TryFrom::try_from(&jwk).unwrap())
                .validate(&token)
                .is_ok());
        }
    }

    #[test]
    fn a_long_embed_ttl_is_capped_at_the_outer_exp() {
        let signer = key(KeyKind::Hmac);
        let claims = outer_claims();
        let embedded = embedded_tokens(
            &signer,
            "HS256",
            &claims,
            &embeds(&["billing"], Some(3_600)),
            NOW,
        )
        .unwrap();
        let inner = segment(embedded["billing"].as_str().unwrap(), 1);
        assert_eq!(inner["exp"], claims.exp);
    }

    #[test]
    fn embed_key_signs_the_inner_tokens_with_its_own_alg() {
        let (outer_key, inner_key) = (key(KeyKind::P256), key(KeyKind::Ed25519));
        let plan = Embeds {
            key: Some(inner_key.clone()),
            ..embeds(&["billing"], None)
        };
        let jwt = mint(
            &outer_key,
            "ES256",
            &Map::new(),
            &outer_claims(),
            &plan,
            NOW,
        )
        .unwrap();
        assert_eq!(segment(&jwt, 0)["alg"], "ES256");
        let inner = segment(&jwt, 1)[EMBEDDED_TOKENS_CLAIM]["billing"].clone();
        let header = segment(inner.as_str().unwrap(), 0);
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["kid"], inner_key.kid());
    }

    #[test]
    fn given_tokens_are_embedded_verbatim_for_nesting() {
        let signer = key(KeyKind::Hmac);
        let middle = mint(
            &signer,
            "HS256",
            &Map::new(),
            &outer_claims(),
            &embeds(&["ledger"], None),
            NOW,
        )
        .unwrap();
        let plan = Embeds {
            tokens: vec![("billing".into(), middle.clone())],
            ..Embeds::default()
        };
        let jwt = mint(&signer, "HS256", &Map::new(), &outer_claims(), &plan, NOW).unwrap();
        let embedded = &segment(&jwt, 1)[EMBEDDED_TOKENS_CLAIM];
        assert_eq!(embedded, &json!({ "billing": middle }));
        assert!(segment(&middle, 1)[EMBEDDED_TOKENS_CLAIM]["ledger"].is_string());
    }

    #[test]
    fn no_embeds_means_no_embedded_tokens_claim() {
        let jwt = mint(
            &key(KeyKind::Hmac),
            "HS256",
            &Map::new(),
            &outer_claims(),
            &Embeds::default(),
            NOW,
        )
        .unwrap();
        assert!(segment(&jwt, 1).get(EMBEDDED_TOKENS_CLAIM).is_none());
    }

    #[test]
    fn conflicting_embeds_are_refused() {
        let signer = key(KeyKind::Hmac);
        let twice = Embeds {
            tokens: vec![("billing".into(), "a.b.c".into())],
            ..embeds(&["billing"], None)
        };
        let err = mint(&signer, "HS256", &Map::new(), &outer_claims(), &twice, NOW).unwrap_err();
        assert!(err.to_string().contains("embedded twice"), "{err}");

        let mut claims = outer_claims();
        claims.extra.insert(EMBEDDED_TOKENS_CLAIM.into(), json!({}));
        let err = mint(
            &signer,
            "HS256",
            &Map::new(),
            &claims,
            &embeds(&["x"], None),
            NOW,
        )
        .unwrap_err();
        assert!(err.to_string().contains(EMBEDDED_TOKENS_CLAIM), "{err}");
    }
}
