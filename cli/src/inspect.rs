//! `inspect`: decodes a token and explains it the way jwt-relay sees it, without trusting it.
//!
//! The header and claims are shown with human times; the embedded (narrowed) tokens are listed by
//! audience and inspected in turn. The checks are the filter's own code run natively with its
//! default settings: header rules, the algorithm allowlist, the lifetime rules per listener role
//! (`jwt_relay::token::lifetime`), the claim types, and what a revocation feed could match. Signatures
//! are verified only when a JWKS is given, with the filter's key selection and verification
//! (`jwt_relay::token::keys`).

use std::fmt::Write as _;

use anyhow::{bail, Context, Result};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use chrono::DateTime;
use jwt_compact::{Claims, UntrustedToken};
use jwt_relay::config::{
    self as filter_config, DEFAULT_CLOCK_SKEW_SECONDS, DEFAULT_EMBEDDED_TOKENS_CLAIM,
    DEFAULT_MAX_TOKEN_BYTES, DEFAULT_SESSION_CLAIM,
};
use jwt_relay::request::verify::fingerprint;
use jwt_relay::token::alg::Alg;
use jwt_relay::token::claims::{self as filter_claims, ClaimSet};
use jwt_relay::token::keys::{self as filter_keys, KeyError, KeySet, SignatureError};
use jwt_relay::token::lifetime::{self, LifetimePolicy};
use jwt_relay::token::role::Role;
use serde_json::{Map, Value};

use crate::keys::SigningKey;

/// Nesting deeper than this is not followed (the filter itself only ever reads one level per hop).
const MAX_DEPTH: usize = 8;

/// Header members that name keys by reference: the filter never uses them to find keys.
const KEY_REFERENCE_HEADERS: [&str; 4] = ["jku", "x5u", "jwk", "x5c"];

/// The explanation of `token` at `now` (unix seconds). With `jwks`, signatures (the token's and
/// every embedded token's) are verified against it.
pub fn inspect(token: &str, now: i64, jwks: Option<&KeySet>) -> Result<String> {
    let token = token.trim();
    if token.is_empty() {
        bail!("no token given");
    }
    let mut out = String::new();
    explain(&mut out, token, now, jwks, None, 0)?;
    Ok(out)
}

/// Reads a JWKS for `--jwks`: a JWKS document (`{"keys": [...]}`), one public JWK, or a private
/// JWK as `keygen` writes it (its public half is used).
pub fn load_jwks(text: &str) -> Result<KeySet> {
    let value: Value = serde_json::from_str(text).context("not JSON")?;
    let jwks = if value.get("keys").is_some() {
        value
    } else if value.get("d").is_some() {
        let key = SigningKey::from_jwk(text)?;
        serde_json::json!({ "keys": [key.public_jwk()] })
    } else if value.get("kty").is_some() {
        serde_json::json!({ "keys": [value] })
    } else {
        bail!("expected a JWKS ({{\"keys\": [...]}}) or a JWK");
    };
    let parsed = KeySet::from_jwks(&jwks).map_err(|err| anyhow::anyhow!("{err}"))?;
    Ok(parsed.keys)
}

/// Writes the explanation of one token; `embedded_for` is the audience it is embedded for.
fn explain(
    out: &mut String,
    token: &str,
    now: i64,
    jwks: Option<&KeySet>,
    embedded_for: Option<(&str, Option<i64>)>,
    depth: usize,
) -> Result<()> {
    let pad = "  ".repeat(depth);
    let fingerprint = fingerprint(token);
    match embedded_for {
        None => writeln!(
            out,
            "{pad}token: {} bytes, fingerprint {fingerprint} (as jwt-relay logs it)",
            token.len()
        )?,
        Some((audience, _)) => writeln!(
            out,
            "{pad}embedded token for {audience:?}: {} bytes, fingerprint {fingerprint}",
            token.len()
        )?,
    }
    let parts: Vec<&str> = token.split('.').collect();
    match parts.len() {
        3 => {}
        5 => {
            writeln!(
                out,
                "{pad}  refused: an encrypted token (JWE, 5 parts); jwt-relay accepts signed tokens only"
            )?;
            return Ok(());
        }
        n => bail!("not a compact JWS: {n} dot-separated parts, expected 3"),
    }
    let header = decode_part(parts[0]).context("header")?;
    let payload = decode_part(parts[1]).context("claims")?;

    // What the filter's strict parser says, and the members to show.
    let strict_header = filter_claims::parse_object(&header);
    let strict_claims = filter_claims::parse_object(&payload);
    let shown_header = lenient_object(&header).context("the header is not a JSON object")?;
    let shown_claims = lenient_object(&payload).context("the claims are not a JSON object")?;

    writeln!(out, "{pad}  header")?;
    for (name, value) in &shown_header {
        writeln!(out, "{pad}    {name:<5} {}", compact(value))?;
    }
    let embedded_claim = DEFAULT_EMBEDDED_TOKENS_CLAIM;
    writeln!(out, "{pad}  claims")?;
    for (name, value) in &shown_claims {
        let shown = match (name.as_str(), value) {
            ("exp" | "nbf" | "iat", Value::Number(n)) => match n.as_i64() {
                Some(t) => format!("{t}  {}", human_time(t, now)),
                None => compact(value),
            },
            (claim, Value::Object(tokens)) if claim == embedded_claim => {
                let audiences: Vec<&str> = tokens.keys().map(String::as_str).collect();
                format!(
                    "{} embedded token(s): {}",
                    tokens.len(),
                    audiences.join(", ")
                )
            }
            _ => compact(value),
        };
        writeln!(out, "{pad}    {name:<5} {shown}")?;
    }

    writeln!(out, "{pad}  what jwt-relay checks (default settings)")?;
    let mut notes = Checks::default();
    if token.len() > DEFAULT_MAX_TOKEN_BYTES {
        notes.refused(format!(
            "size: {} bytes is over max_token_bytes ({DEFAULT_MAX_TOKEN_BYTES} by default)",
            token.len()
        ));
    }
    if let Err(err) = &strict_header {
        notes.refused(format!(
            "header: {err} (duplicate member names are refused)"
        ));
    }
    if let Err(err) = &strict_claims {
        notes.refused(format!(
            "claims: {err} (duplicate member names are refused)"
        ));
    }
    let alg = check_header(&shown_header, &mut notes);

    let claims = ClaimSet(shown_claims.clone());
    if let Err(wrong) = claims.check_registered_types() {
        notes.refused(format!(
            "claim {} has the wrong type: malformed token",
            wrong.0
        ));
    }
    match claims.issuer() {
        Ok(Some(issuer)) => notes.info(format!(
            "iss: a provider with \"issuer\": {issuer:?} must be configured"
        )),
        Ok(None) => notes.refused("iss: missing, so no provider matches (issuer not trusted)"),
        Err(_) => notes.refused("iss: not a string (malformed token)"),
    }
    check_audience(&claims, embedded_for.map(|(aud, _)| aud), &mut notes);
    let exp = check_lifetime(&payload, now, embedded_for, &mut notes);
    check_revocation(&shown_claims, &mut notes);
    check_signature(token, alg, &shown_header, jwks, &mut notes);
    for line in &notes.lines {
        writeln!(out, "{pad}    {line}")?;
    }

    if let Some(Value::Object(tokens)) = shown_claims.get(embedded_claim) {
        if depth + 1 >= MAX_DEPTH {
            writeln!(
                out,
                "{pad}  (embedded tokens nested deeper than {MAX_DEPTH} levels are not shown)"
            )?;
            return Ok(());
        }
        for (audience, inner) in tokens {
            match inner {
                Value::String(inner) => {
                    let mut section = String::new();
                    match explain(
                        &mut section,
                        inner,
                        now,
                        jwks,
                        Some((audience, exp)),
                        depth + 1,
                    ) {
                        Ok(()) => out.push_str(&section),
                        Err(err) => writeln!(
                            out,
                            "{pad}  embedded token for {audience:?}: REFUSED, malformed: {err:#}"
                        )?,
                    }
                }
                other => writeln!(
                    out,
                    "{pad}  embedded token for {audience:?}: refused, not a string but {}",
                    compact(other)
                )?,
            }
        }
    }
    Ok(())
}

/// Checks as lines, each marked with what it means for the token.
#[derive(Default)]
struct Checks {
    lines: Vec<String>,
}

impl Checks {
    fn ok(&mut self, text: impl AsRef<str>) {
        self.lines.push(format!("ok       {}", text.as_ref()));
    }
    fn refused(&mut self, text: impl AsRef<str>) {
        self.lines.push(format!("REFUSED  {}", text.as_ref()));
    }
    fn info(&mut self, text: impl AsRef<str>) {
        self.lines.push(format!("note     {}", text.as_ref()));
    }
}

fn decode_part(part: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(part)
        .context("not base64url without padding")
}

fn lenient_object(bytes: &[u8]) -> Result<Map<String, Value>> {
    match serde_json::from_slice(bytes)? {
        Value::Object(members) => Ok(members),
        _ => bail!("not an object"),
    }
}

fn compact(value: &Value) -> String {
    value.to_string()
}

/// `2023-11-14T22:13:20Z (5m ago)`.
fn human_time(t: i64, now: i64) -> String {
    let at = DateTime::from_timestamp(t, 0)
        .map(|time| time.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "out of range".to_owned());
    let delta = t.saturating_sub(now);
    let relative = match delta {
        0 => "now".to_owned(),
        d if d > 0 => format!("in {}", human_duration(d)),
        d => format!("{} ago", human_duration(d.saturating_neg())),
    };
    format!("{at} ({relative})")
}

/// `1d2h`, `4m55s`, `12s`: the largest unit and, when not zero, the next one.
pub fn human_duration(seconds: i64) -> String {
    const UNITS: [(&str, i64); 4] = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];
    let seconds = seconds.max(0);
    let Some(first) = UNITS.iter().position(|&(_, size)| seconds >= size) else {
        return "0s".to_owned();
    };
    let (name, size) = UNITS[first];
    let mut text = format!("{}{name}", seconds / size);
    if let Some(&(next, next_size)) = UNITS.get(first + 1) {
        let rest = (seconds % size) / next_size;
        if rest > 0 {
            text.push_str(&format!("{rest}{next}"));
        }
    }
    text
}

/// The header rules; returns the algorithm when it is one the filter knows.
fn check_header(header: &Map<String, Value>, notes: &mut Checks) -> Option<Alg> {
    if header.contains_key("crit") {
        notes.refused("crit: critical header parameters are not understood, so refused");
    }
    for name in KEY_REFERENCE_HEADERS {
        if header.contains_key(name) {
            notes.info(format!(
                "{name}: ignored; keys come from the configured JWKS only, never from the token"
            ));
        }
    }
    match header
        .get("typ")
        .map(|typ| typ.as_str().map(filter_config::normalize_type))
    {
        None => notes.info("typ: absent; accepted unless the provider sets token_types"),
        Some(Some(typ)) if typ == "jwt" || typ == "at+jwt" => notes.info(format!(
            "typ {typ:?}: accepted by default; a provider's token_types can narrow that"
        )),
        Some(Some(typ)) => notes.refused(format!(
            "typ {typ:?}: not an access token type; refused unless the provider's token_types \
             lists it"
        )),
        Some(None) => notes.refused("typ: not a string (malformed token)"),
    }
    match header.get("kid") {
        None => notes.info("kid: absent; the only configured key that fits the alg is used"),
        Some(Value::String(kid)) => notes.info(format!(
            "kid {kid:?}: must name a key of the provider's JWKS (an unknown kid triggers one \
             refetch of a remote JWKS)"
        )),
        Some(_) => notes.refused("kid: not a string (malformed token)"),
    }
    let name = match header.get("alg") {
        Some(Value::String(name)) => name,
        _ => {
            notes.refused("alg: missing or not a string (malformed token)");
            return None;
        }
    };
    match Alg::from_name(name) {
        None => {
            notes.refused(format!(
                "alg {name:?}: not an algorithm jwt-relay verifies (supported: {})",
                Alg::ALL.map(Alg::name).join(", ")
            ));
            None
        }
        Some(alg) if Alg::ASYMMETRIC.contains(&alg) => {
            notes.ok(format!(
                "alg {alg}: allowed by default (a provider's \"algorithms\" may narrow it)"
            ));
            Some(alg)
        }
        Some(alg) => {
            notes.info(format!(
                "alg {alg}: not allowed by default; only for a provider that lists it in \
                 \"algorithms\" and has an \"oct\" key in local_jwks"
            ));
            Some(alg)
        }
    }
}

fn check_audience(claims: &ClaimSet, embedded_for: Option<&str>, notes: &mut Checks) {
    let audiences = match claims.audiences() {
        Ok(Some(list)) => list,
        Ok(None) => {
            notes.refused("aud: missing; every use needs an audience (audience not allowed)");
            return;
        }
        Err(_) => {
            notes.refused("aud: neither a string nor an array of strings (malformed token)");
            return;
        }
    };
    match embedded_for {
        None => notes.info(format!(
            "aud {}: the provider's \"audiences\" must include one of them",
            audiences.join(", ")
        )),
        Some(upstream) if audiences.contains(&upstream) => notes.ok(format!(
            "aud includes {upstream:?}, the audience it is embedded for"
        )),
        Some(upstream) => notes.refused(format!(
            "aud {} does not include {upstream:?}, the audience it is embedded for (403 for \
             that upstream)",
            audiences.join(", ")
        )),
    }
}

/// Runs `jwt_relay::token::lifetime::check` for both roles; returns the token's `exp`.
fn check_lifetime(
    payload: &[u8],
    now: i64,
    embedded_for: Option<(&str, Option<i64>)>,
    notes: &mut Checks,
) -> Option<i64> {
    // jwt-compact's Claims: the time claims apart, as the filter reads them.
    let parsed = serde_json::from_slice::<Claims<ClaimSet>>(payload);
    let Ok(claims) = parsed else {
        notes.refused("exp/nbf/iat: not all numbers (malformed token)");
        return None;
    };
    let exp = claims.expiration.map(|t| t.timestamp());
    let policy = |role| LifetimePolicy {
        role,
        clock_skew_seconds: DEFAULT_CLOCK_SKEW_SECONDS,
        require_expiration: true,
        max_lifetime_seconds: None,
        internal_max_expired_seconds: None,
        min_remaining_seconds: None,
    };
    let skew = DEFAULT_CLOCK_SKEW_SECONDS;
    match lifetime::check(&claims, &policy(Role::Edge), now) {
        Ok(()) => {
            let left = exp.map_or(String::new(), |exp| {
                format!(", expires in {}", human_duration(exp.saturating_sub(now)))
            });
            notes.ok(format!(
                "lifetime at the edge: valid now ({skew} s clock skew{left})"
            ));
        }
        Err(err) => notes.refused(format!(
            "lifetime at the edge: 401 error_description=\"{err}\" ({skew} s clock skew)"
        )),
    }
    match lifetime::check(&claims, &policy(Role::Internal), now) {
        Ok(()) => {
            notes.ok("lifetime on internal listeners: exp/nbf/iat not checked against the clock")
        }
        Err(err) => notes.refused(format!(
            "on internal listeners too: 401 error_description=\"{err}\""
        )),
    }
    if let (Some(exp), Some(iat)) = (exp, claims.issued_at.map(|t| t.timestamp())) {
        notes.info(format!(
            "lifetime exp - iat = {}: refused where a provider's max_lifetime_seconds is lower",
            human_duration(exp.saturating_sub(iat))
        ));
    }
    if let Some((_, parent_exp)) = embedded_for {
        match (exp, parent_exp) {
            (Some(exp), Some(parent)) if exp > parent => notes.refused(format!(
                "expires {} after the token that carries it (embedded token outlives the token \
                 that carries it)",
                human_duration(exp - parent)
            )),
            _ => {}
        }
    }
    exp
}

fn check_revocation(claims: &Map<String, Value>, notes: &mut Checks) {
    let claim = DEFAULT_SESSION_CLAIM;
    match claims.get(claim) {
        Some(Value::String(sid)) => notes.info(format!(
            "revocable: a revocation feed on claim {claim:?} listing {sid:?} refuses it (on \
             every listener) if iat is at or before the revocation"
        )),
        Some(other) => notes.info(format!(
            "{claim} is {}, not a string: a revocation feed cannot list it",
            compact(other)
        )),
        None => notes.info(format!(
            "not revocable by a feed on claim {claim:?} (no {claim})"
        )),
    }
}

fn check_signature(
    token: &str,
    alg: Option<Alg>,
    header: &Map<String, Value>,
    jwks: Option<&KeySet>,
    notes: &mut Checks,
) {
    let Some(keys) = jwks else {
        notes.info("signature: not verified (give --jwks FILE to verify it)");
        return;
    };
    let Some(alg) = alg else {
        notes.refused("signature: cannot be verified, the alg is not one jwt-relay knows");
        return;
    };
    let kid = header.get("kid").and_then(Value::as_str);
    let key = match filter_keys::select(&[keys], kid, alg) {
        Ok(key) => key,
        Err(KeyError::UnknownKid) => {
            notes.refused("signature: the JWKS has no key with this kid (unknown key id)");
            return;
        }
        Err(KeyError::NoKeyForAlgorithm) => {
            notes.refused(format!(
                "signature: the JWKS has no key for {alg} (no key for this algorithm)"
            ));
            return;
        }
        Err(KeyError::KidRequired) => {
            notes.refused("signature: no kid, and several keys fit (key id required)");
            return;
        }
    };
    let Ok(untrusted) = UntrustedToken::new(token) else {
        notes.refused("signature: the token cannot be parsed (malformed token)");
        return;
    };
    let which = key.kid().map_or("the key without kid".to_owned(), |kid| {
        format!("key {kid:?}")
    });
    match key.verify(alg, &untrusted) {
        Ok(_) => notes.ok(format!("signature: verifies with {which} of the JWKS")),
        Err(SignatureError::BadSignature) => notes.refused(format!(
            "signature: does NOT verify with {which} (signature verification failed)"
        )),
        Err(SignatureError::MalformedClaims) => notes.refused(format!(
            "signature: verifies with {which}, but the claims are malformed"
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map};

    use super::*;
    use crate::claims::ClaimSet as Minted;
    use crate::keys::KeyKind;
    use crate::mint::{self, Embeds};
    use crate::test_support::key;
    use crate::token;

    const NOW: i64 = 1_700_000_000;

    fn claims(sid: Option<&str>, exp: i64) -> Minted {
        Minted {
            iss: "https://idp.test".into(),
            sub: Some("alice".into()),
            aud: vec!["api".into()],
            iat: NOW - 10,
            nbf: None,
            exp,
            sid: sid.map(Into::into),
            extra: Map::new(),
        }
    }

    fn keyset(signer: &SigningKey) -> KeySet {
        load_jwks(&crate::keys::jwks(&[signer]).to_string()).unwrap()
    }

    #[test]
    fn explains_header_claims_and_checks_without_verifying() {
        let signer = key(KeyKind::P256);
        let jwt = mint::mint(
            &signer,
            "ES256",
            &Map::new(),
            &claims(Some("s-1"), NOW + 300),
            &Embeds::default(),
            NOW,
        )
        .unwrap();
        let text = inspect(&jwt, NOW, None).unwrap();
        for expected in [
            "alg   \"ES256\"",
            "iss   \"https://idp.test\"",
            "exp   1700000300  2023-11-14T22:18:20Z (in 5m)",
            "iat   1699999990  2023-11-14T22:13:10Z (10s ago)",
            "ok       alg ES256: allowed by default",
            "ok       lifetime at the edge: valid now (60 s clock skew, expires in 5m)",
            "note     aud api: the provider's \"audiences\" must include one of them",
            "note     revocable: a revocation feed on claim \"sid\" listing \"s-1\"",
            "note     signature: not verified (give --jwks FILE to verify it)",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        assert!(!text.contains("REFUSED"), "{text}");
    }

    #[test]
    fn an_expired_token_is_refused_at_the_edge_only() {
        let signer = key(KeyKind::Ed25519);
        let jwt = token::sign_default(&signer, &claims(None, NOW - 600).to_json()).unwrap();
        let text = inspect(&jwt, NOW, None).unwrap();
        assert!(
            text.contains("REFUSED  lifetime at the edge: 401 error_description=\"token expired\""),
            "{text}"
        );
        assert!(
            text.contains("ok       lifetime on internal listeners"),
            "{text}"
        );
        assert!(
            text.contains("not revocable by a feed on claim \"sid\""),
            "{text}"
        );
        assert!(text.contains("(10m ago)"), "{text}");
    }

    #[test]
    fn flags_what_the_filter_refuses_in_the_header_and_claims() {
        let signer = key(KeyKind::Hmac);
        let header: Map<String, Value> =
            serde_json::from_value(json!({"crit": ["b64"], "jku": "https://evil.test/jwks"}))
                .unwrap();
        let mut odd = claims(None, NOW + 60).to_json();
        odd["exp"] = json!("soon");
        odd["aud"] = json!(5);
        let jwt = token::sign(&signer, "HS256", &header, &odd).unwrap();
        let text = inspect(&jwt, NOW, None).unwrap();
        for expected in [
            "REFUSED  crit:",
            "note     jku: ignored",
            "note     alg HS256: not allowed by default",
            "REFUSED  claim aud has the wrong type",
            "REFUSED  aud: neither a string nor an array of strings",
            "REFUSED  exp/nbf/iat: not all numbers",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        let jwe = inspect("a.b.c.d.e", NOW, None).unwrap();
        assert!(jwe.contains("encrypted token (JWE"), "{jwe}");
        let err = inspect("not-a-token", NOW, None).unwrap_err();
        assert!(err.to_string().contains("1 dot-separated parts"), "{err}");
    }

    #[test]
    fn embedded_tokens_are_listed_and_explained_recursively() {
        let signer = key(KeyKind::P256);
        let inner = mint::mint(
            &signer,
            "ES256",
            &Map::new(),
            &Minted {
                aud: vec!["orders".into()],
                ..claims(None, NOW + 900)
            },
            &Embeds {
                audiences: vec!["payments".into()],
                ..Embeds::default()
            },
            NOW,
        )
        .unwrap();
        let outer = mint::mint(
            &signer,
            "ES256",
            &Map::new(),
            &claims(None, NOW + 300),
            &Embeds {
                tokens: vec![("orders".into(), inner), ("billing".into(), "x.y".into())],
                ..Embeds::default()
            },
            NOW,
        );
        let text = inspect(&outer.unwrap(), NOW, None).unwrap();
        assert!(
            text.contains(
                "  embedded token for \"billing\": REFUSED, malformed: not a compact JWS"
            ),
            "{text}"
        );

        let outer = mint::mint(
            &signer,
            "ES256",
            &Map::new(),
            &claims(None, NOW + 300),
            &Embeds {
                tokens: vec![(
                    "orders".into(),
                    mint::mint(
                        &signer,
                        "ES256",
                        &Map::new(),
                        &Minted {
                            aud: vec!["orders".into()],
                            ..claims(None, NOW + 900)
                        },
                        &Embeds {
                            audiences: vec!["payments".into()],
                            ..Embeds::default()
                        },
                        NOW,
                    )
                    .unwrap(),
                )],
                audiences: vec!["inventory".into()],
                ..Embeds::default()
            },
            NOW,
        )
        .unwrap();
        let text = inspect(&outer, NOW, Some(&keyset(&signer))).unwrap();
        for expected in [
            "embedded_tokens 2 embedded token(s): inventory, orders",
            "  embedded token for \"inventory\":",
            "  embedded token for \"orders\":",
            "    embedded token for \"payments\":",
            "ok       aud includes \"orders\", the audience it is embedded for",
            "REFUSED  expires 10m after the token that carries it",
            "ok       signature: verifies with key \"test-P-256\" of the JWKS",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
    }

    #[test]
    fn with_a_jwks_the_signature_is_verified_by_the_filters_code() {
        let signer = key(KeyKind::Ed25519);
        let jwt = token::sign_default(&signer, &claims(None, NOW + 60).to_json()).unwrap();
        let text = inspect(&jwt, NOW, Some(&keyset(&signer))).unwrap();
        assert!(
            text.contains("ok       signature: verifies with key"),
            "{text}"
        );

        // Same kid, another key: a forgery.
        let forger = SigningKey::generate(KeyKind::Ed25519, signer.kid()).unwrap();
        let forged = token::sign_default(&forger, &claims(None, NOW + 60).to_json()).unwrap();
        let text = inspect(&forged, NOW, Some(&keyset(&signer))).unwrap();
        assert!(
            text.contains("REFUSED  signature: does NOT verify"),
            "{text}"
        );

        let stranger = SigningKey::generate(KeyKind::Ed25519, "other").unwrap();
        let text = inspect(&jwt, NOW, Some(&keyset(&stranger))).unwrap();
        assert!(text.contains("no key with this kid"), "{text}");
    }

    #[test]
    fn load_jwks_takes_a_jwks_a_public_jwk_or_a_private_jwk() {
        let signer = key(KeyKind::P256);
        for text in [
            crate::keys::jwks(&[&signer]).to_string(),
            signer.public_jwk().to_string(),
            signer.to_private_jwk().to_string(),
        ] {
            assert_eq!(load_jwks(&text).unwrap().len(), 1, "{text}");
        }
        assert!(load_jwks("{\"a\": 1}").is_err());
        assert!(load_jwks("[").is_err());
    }

    #[test]
    fn durations_read_as_the_two_largest_units() {
        let cases = [
            (0, "0s"),
            (12, "12s"),
            (300, "5m"),
            (295, "4m55s"),
            (3_601, "1h"),
            (93_784, "1d2h"),
        ];
        for (seconds, text) in cases {
            assert_eq!(human_duration(seconds), text, "{seconds}");
        }
    }
}
