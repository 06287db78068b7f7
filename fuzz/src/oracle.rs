//! The oracle: an independent model of what an allowed request must look like. It reads the
//! model (`model.rs`), the request as the client sent it and as the upstream receives it (the
//! header plan applied), and checks every token with the reference crates (`jose.rs`). It uses
//! none of the filter's parsing, verification or lifetime code.

use jwt_relay::request::decision::HeaderPlan;
use percent_encoding::percent_decode;
use serde_json::Value;

use crate::fixtures::Family;
use crate::jose::{self, family_algs};
use crate::model::{Model, ModelLoc};

pub type Headers = Vec<(String, Vec<u8>)>;

/// The request the upstream sees: remove, then set (a set replaces every copy), then `:path`.
pub fn apply_plan(headers: &Headers, plan: &HeaderPlan) -> Headers {
    let mut out: Headers = headers
        .iter()
        .filter(|(n, _)| !plan.remove.contains(n))
        .cloned()
        .collect();
    for (name, value) in &plan.set {
        out.retain(|(n, _)| n != name);
        out.push((name.clone(), value.clone().into_bytes()));
    }
    if let Some(path) = &plan.path {
        match out.iter_mut().find(|(n, _)| n == ":path") {
            Some(slot) => slot.1 = path.clone().into_bytes(),
            None => out.push((":path".into(), path.clone().into_bytes())),
        }
    }
    out
}

/// The listener role the model resolves: `internal` exactly (ASCII whitespace around it
/// ignored) is internal, no or empty metadata is the config's role, anything else is edge.
pub fn model_role_internal(model: &Model, listener: Option<&[u8]>) -> bool {
    match listener.map(|raw| raw.trim_ascii()) {
        None | Some(b"") => model.role_internal,
        Some(b"internal") => true,
        Some(_) => false,
    }
}

#[derive(Debug, Clone)]
pub struct Found {
    pub loc: ModelLoc,
    /// The token as the upstream would read it (lossy for non-UTF-8 bytes).
    pub text: String,
}

fn starts_with_ignore_case(value: &[u8], prefix: &[u8]) -> bool {
    value.len() >= prefix.len() && value[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// The token after a `Bearer` scheme, as a lenient upstream reads it: the scheme in any case,
/// then any run of whitespace or control characters (a split on Unicode whitespace).
fn after_bearer(value: &[u8]) -> Option<&[u8]> {
    if !starts_with_ignore_case(value, b"bearer") {
        return None;
    }
    let rest = &value[6..];
    let mut at = 0;
    while at < rest.len() {
        let width = (1..=4.min(rest.len() - at))
            .find(|&w| std::str::from_utf8(&rest[at..at + w]).is_ok())
            .unwrap_or(1);
        let blank = std::str::from_utf8(&rest[at..at + width])
            .ok()
            .and_then(|c| c.chars().next())
            .is_some_and(|c| c.is_whitespace() || c.is_control());
        if !blank {
            break;
        }
        at += width;
    }
    (at > 0).then_some(&rest[at..])
}

/// Every token the model finds in a request: each copy of a token header carrying one (a
/// comma splits a joined header into several), the forward header when the filter owns it, and
/// every query pair whose name, decoded once (`+` as space, `;` splitting too), is a token
/// parameter.
pub fn tokens_in(model: &Model, headers: &Headers, forward_too: bool) -> Vec<Found> {
    let mut found = Vec::new();
    let mut push = |loc: ModelLoc, raw: &[u8]| {
        for piece in raw.split(|&b| b == b',') {
            let piece = piece.trim_ascii();
            if !piece.is_empty() {
                found.push(Found {
                    loc: loc.clone(),
                    text: String::from_utf8_lossy(piece).into_owned(),
                });
            }
        }
    };
    let mut header_names: Vec<(&str, &str)> = model.header_locations();
    if forward_too && !model.is_token_header(model.forward_header) {
        header_names.push((model.forward_header, "Bearer "));
    }
    let mut seen_names: Vec<&str> = Vec::new();
    for (name, _) in &header_names {
        if seen_names.contains(name) {
            continue;
        }
        seen_names.push(name);
        let prefixes: Vec<&str> = header_names
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, p)| *p)
            .collect();
        let owned_forward =
            forward_too && *name == model.forward_header && !model.is_token_header(name);
        for (_, value) in headers.iter().filter(|(n, _)| n == name) {
            let value = value.as_slice();
            let token = if owned_forward || prefixes.contains(&"") {
                // Anything in an owned header or a prefix-less token header counts.
                Some(after_bearer(value).unwrap_or(value))
            } else if prefixes.iter().any(|p| p.eq_ignore_ascii_case("bearer ")) {
                match after_bearer(value) {
                    Some(token) => Some(token),
                    None => {
                        // Envoy's joined copies (`Basic x,Bearer t`): a bearer token after a comma.
                        for piece in value.split(|&b| b == b',').skip(1) {
                            if let Some(token) = after_bearer(piece.trim_ascii_start()) {
                                push(ModelLoc::Header(name.to_string()), token);
                            }
                        }
                        None
                    }
                }
            } else {
                prefixes
                    .iter()
                    .find(|p| starts_with_ignore_case(value, p.as_bytes()))
                    .map(|p| &value[p.len()..])
            };
            if let Some(token) = token {
                push(ModelLoc::Header(name.to_string()), token);
            }
        }
    }
    let params = model.params();
    if !params.is_empty() {
        if let Some((_, path)) = headers.iter().find(|(n, _)| n == ":path") {
            if let Some(q) = path.iter().position(|&b| b == b'?') {
                for pair in path[q + 1..].split(|&b| b == b'&' || b == b';') {
                    let (name, value) = match pair.iter().position(|&b| b == b'=') {
                        Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                        None => (pair, &pair[pair.len()..]),
                    };
                    let spaced: Vec<u8> = name
                        .iter()
                        .map(|&b| if b == b'+' { b' ' } else { b })
                        .collect();
                    let decoded: Vec<u8> = percent_decode(&spaced).collect();
                    if let Some(param) = params.iter().find(|p| p.as_bytes() == decoded.as_slice())
                    {
                        let value: Vec<u8> = percent_decode(value).collect();
                        found.push(Found {
                            loc: ModelLoc::Param(param.to_string()),
                            text: String::from_utf8_lossy(&value).into_owned(),
                        });
                    }
                }
            }
        }
    }
    let cookies = model.cookies();
    if !cookies.is_empty() {
        for pair in cookie_pairs(headers) {
            if let Some(name) = cookie_token_name(&cookies, pair) {
                found.push(Found {
                    loc: ModelLoc::Cookie(name.to_owned()),
                    text: String::from_utf8_lossy(cookie_value(pair)).into_owned(),
                });
            }
        }
    }
    found
}

/// Every cookie pair of every `cookie` header, as the loosest upstream splits them: on `;` and
/// on `,` (RFC 2965 and old servlet parsers), trimmed, empty ones skipped.
pub fn cookie_pairs(headers: &Headers) -> Vec<&[u8]> {
    headers
        .iter()
        .filter(|(n, _)| n == "cookie")
        .flat_map(|(_, v)| v.split(|&b| b == b';' || b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|pair| !pair.is_empty())
        .collect()
}

/// A cookie name as any framework might read it: `+` as space, percent-decoded, case-folded,
/// letters and digits only.
fn reduce_cookie_name(raw: &[u8]) -> String {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    let decoded: Vec<u8> = percent_decode(&spaced).collect();
    String::from_utf8_lossy(&decoded)
        .chars()
        .flat_map(char::to_uppercase)
        .flat_map(char::to_lowercase)
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// The configured cookie name a pair is read as, if any.
fn cookie_token_name(cookies: &[&'static str], pair: &[u8]) -> Option<&'static str> {
    let name = match pair.iter().position(|&b| b == b'=') {
        Some(eq) => &pair[..eq],
        None => pair,
    };
    let reduced = reduce_cookie_name(name.trim_ascii());
    cookies
        .iter()
        .find(|c| reduce_cookie_name(c.as_bytes()) == reduced)
        .copied()
}

/// A cookie's value: after the first `=`, trimmed, without surrounding double quotes.
fn cookie_value(pair: &[u8]) -> &[u8] {
    let value = match pair.iter().position(|&b| b == b'=') {
        Some(eq) => pair[eq + 1..].trim_ascii(),
        None => &pair[pair.len()..],
    };
    value
        .strip_prefix(b"\"")
        .and_then(|inner| inner.strip_suffix(b"\""))
        .unwrap_or(value)
}

/// The cookie pairs of a request that the model does not read as a token, in order.
fn other_cookies<'h>(model: &Model, headers: &'h Headers) -> Vec<&'h [u8]> {
    let cookies = model.cookies();
    cookie_pairs(headers)
        .into_iter()
        .filter(|pair| cookie_token_name(&cookies, pair).is_none())
        .collect()
}

fn cookie_headers(headers: &Headers) -> Vec<&[u8]> {
    headers
        .iter()
        .filter(|(n, _)| n == "cookie")
        .map(|(_, v)| v.as_slice())
        .collect()
}

#[derive(Debug, Clone, Copy)]
pub enum AudCheck<'a> {
    Provider,
    Exactly(&'a str),
}

#[derive(Debug, Clone)]
pub struct Verified {
    pub iss: String,
    pub claims: serde_json::Map<String, Value>,
    pub exp: Option<i128>,
}

/// A NumericDate as the model reads it: an integer, or a finite number truncated toward zero.
fn numeric_date(
    claims: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<i128>, String> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Ok(Some(i128::from(i)))
            } else if let Some(u) = n.as_u64() {
                Ok(Some(i128::from(u)))
            } else {
                let f = n.as_f64().ok_or("number")?;
                if !f.is_finite() || f.abs() > 1e20 {
                    return Err(format!("{name} {f} out of any range"));
                }
                Ok(Some(f.trunc() as i128))
            }
        }
        Some(other) => Err(format!("{name} is not a number: {other}")),
    }
}

fn normalize_type(typ: &str) -> String {
    let lower = typ.to_ascii_lowercase();
    lower
        .strip_prefix("application/")
        .map(str::to_owned)
        .unwrap_or(lower)
}

/// Everything an accepted token must satisfy, by the model. `loc`: where it was presented
/// (`None` for an embedded token).
pub fn model_verify(
    model: &Model,
    token: &str,
    loc: Option<&ModelLoc>,
    aud: AudCheck<'_>,
    internal: bool,
    now: i64,
) -> Result<Verified, String> {
    let decoded = jose::decode(token)?;
    let header = &decoded.header;
    let claims = &decoded.claims;
    if header.contains_key("crit") {
        return Err("crit header".into());
    }
    let alg = match header.get("alg") {
        Some(Value::String(alg)) => alg.as_str(),
        other => return Err(format!("alg {other:?}")),
    };
    if let Some(kid) = header.get("kid") {
        if !kid.is_string() {
            return Err("kid not a string".into());
        }
    }
    let typ = match header.get("typ") {
        None => None,
        Some(Value::String(t)) => Some(normalize_type(t)),
        Some(_) => return Err("typ not a string".into()),
    };
    let iss = match claims.get("iss") {
        Some(Value::String(iss)) => iss.as_str(),
        other => return Err(format!("iss {other:?}")),
    };
    let provider = model
        .provider(iss)
        .ok_or_else(|| format!("untrusted issuer {iss:?}"))?;
    if let Some(loc) = loc {
        if !provider.accepts_location(loc) {
            return Err(format!("provider {iss} does not read tokens from {loc:?}"));
        }
    }
    if !provider.algs.contains(&alg) {
        return Err(format!("alg {alg} not allowed for {iss}"));
    }
    let typ_ok = match (&provider.token_types, &typ) {
        (None, None) => true,
        (None, Some(t)) => t == "jwt" || t == "at+jwt",
        (Some(types), Some(t)) => types.iter().any(|x| normalize_type(x) == *t),
        (Some(_), None) => false,
    };
    if !typ_ok {
        return Err(format!("typ {typ:?} not accepted by {iss}"));
    }
    let signed = provider.all_keys().any(|key| {
        let fits = family_algs(key.id.family()).contains(&alg)
            && key.alg.is_none_or(|own| own == alg)
            && (key.id.family() != Family::Hmac || alg.starts_with("HS"));
        fits && jose::reference_verify(
            key.id,
            alg,
            decoded.signing_input.as_bytes(),
            &decoded.signature,
        )
    });
    if !signed {
        return Err(format!("no key of {iss} verifies the {alg} signature"));
    }
    // Registered claim types.
    for name in ["sub", "jti"] {
        if let Some(v) = claims.get(name) {
            if !v.is_string() {
                return Err(format!("{name} not a string"));
            }
        }
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for item in items {
                out.push(item.as_str().ok_or("aud array holds a non-string")?);
            }
            out
        }
        other => return Err(format!("aud {other:?}")),
    };
    let aud_ok = match aud {
        AudCheck::Provider => audiences.iter().any(|a| provider.audiences.contains(a)),
        AudCheck::Exactly(want) => audiences.contains(&want),
    };
    if !aud_ok {
        return Err(format!("aud {audiences:?} does not fit {aud:?} of {iss}"));
    }
    let exp = numeric_date(claims, "exp")?;
    let nbf = numeric_date(claims, "nbf")?;
    let iat = numeric_date(claims, "iat")?;
    for name in &provider.required_claims {
        if claims.get(*name).is_none_or(Value::is_null) {
            return Err(format!("required claim {name} missing"));
        }
    }
    // Lifetime.
    if provider.require_exp && exp.is_none() {
        return Err("no exp".into());
    }
    if let Some(max) = provider.max_lifetime {
        match (exp, iat) {
            (Some(e), Some(i)) if e - i <= i128::from(max) => {}
            _ => {
                return Err(format!(
                    "lifetime exp-iat {exp:?}-{iat:?} over {max} or unbounded"
                ))
            }
        }
    }
    let now = i128::from(now);
    let skew = i128::from(provider.skew);
    if internal {
        if let (Some(bound), Some(e)) = (model.internal_max_expired, exp) {
            if now > e + i128::from(bound) {
                return Err(format!("internal: exp {e} + {bound} < now {now}"));
            }
        }
    } else {
        if let Some(e) = exp {
            if e <= now - skew {
                return Err(format!("edge: expired, exp {e}, now {now}, skew {skew}"));
            }
        }
        if let Some(n) = nbf {
            if n > now + skew {
                return Err(format!(
                    "edge: not yet valid, nbf {n}, now {now}, skew {skew}"
                ));
            }
        }
        if let Some(i) = iat {
            if i > now + skew {
                return Err(format!(
                    "edge: issued in the future, iat {i}, now {now}, skew {skew}"
                ));
            }
        }
    }
    // Revocation.
    if let Some(r) = &model.revocation {
        if !r.installed {
            if !r.allow_unavailable {
                return Err("revocation list unavailable".into());
            }
        } else if let Some(Value::String(session)) = claims.get(r.claim) {
            for (sid, revoked_at, expires_at) in &r.entries {
                let live = expires_at.is_none_or(|e| now <= i128::from(e));
                if sid == session && live && iat.is_none_or(|i| i <= i128::from(*revoked_at)) {
                    return Err(format!("session {sid} revoked"));
                }
            }
        }
    }
    Ok(Verified {
        iss: iss.to_owned(),
        claims: claims.clone(),
        exp,
    })
}

/// A claim as a header value: scalars only, and none with a control character.
pub fn header_value(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (!text.chars().any(char::is_control)).then_some(text)
}

/// The facts of one decided request that the oracle reads.
pub struct Case<'a> {
    pub model: &'a Model,
    /// As Envoy holds them (a repeated `authorization` joined), every header, `:path` included.
    pub headers: &'a Headers,
    pub cluster: Option<&'a str>,
    pub internal: bool,
    pub now: i64,
    /// The decision's outcome name (`allowed`, `narrowed`, `cors_preflight`, …).
    pub outcome: &'a str,
}

/// Checks an allowed request; returns what is wrong.
pub fn check_allowed(case: &Case<'_>, plan: &HeaderPlan) -> Result<(), String> {
    let model = case.model;
    let upstream = apply_plan(case.headers, plan);
    if case.outcome == "cors_preflight" {
        return check_preflight(case, &upstream);
    }
    let up = tokens_in(model, &upstream, true);
    let target = case.cluster.and_then(|c| model.audience_of(c));
    let verify_outer = |found: &Found| {
        model_verify(
            model,
            &found.text,
            Some(&found.loc),
            AudCheck::Provider,
            case.internal,
            case.now,
        )
    };
    // The token the filter must have accepted, from the request as the client sent it.
    let original = tokens_in(model, case.headers, false);
    if up.len() > 1 {
        return Err(format!(
            "(a) the upstream sees {} tokens: {:?}",
            up.len(),
            up
        ));
    }
    // Where the outer token that was narrowed or stripped came from.
    let mut carrier_loc: Option<ModelLoc> = None;
    let effective: Option<Verified> = match (target, up.first()) {
        (None, Some(t)) => {
            let verified = verify_outer(t)
                .map_err(|e| format!("(b-d) forwarded token refused by the model: {e}"))?;
            Some(verified)
        }
        (Some(aud), Some(t)) => {
            if t.loc != ModelLoc::Header(model.forward_header.to_owned()) {
                return Err(format!(
                    "(a) the narrowed token is not in the forward header: {t:?}"
                ));
            }
            let inner = model_verify(
                model,
                &t.text,
                None,
                AudCheck::Exactly(aud),
                case.internal,
                case.now,
            )
            .map_err(|e| format!("(b-d) narrowed token for {aud} refused by the model: {e}"))?;
            // Its carrier: an outer token of the request, valid, embedding exactly this one.
            let carrier = original.iter().find_map(|o| {
                let outer = verify_outer(o).ok()?;
                let embedded = outer.claims.get(model.embedded_claim)?.get(aud)?.as_str()?;
                (embedded == t.text).then_some((o, outer))
            });
            let Some((o, outer)) = carrier else {
                return Err(format!(
                    "(c) no valid outer token of the request embeds the forwarded {aud} token; original tokens: {original:?}"
                ));
            };
            if let Some(parent_exp) = outer.exp {
                if inner.exp.is_none_or(|e| e > parent_exp) {
                    return Err(format!(
                        "(d) the narrowed token outlives its carrier: {:?} > {parent_exp}",
                        inner.exp
                    ));
                }
            }
            if upstream_mentions(model, &upstream, &o.text) {
                return Err("(e) the broad token still reaches the upstream".into());
            }
            carrier_loc = Some(o.loc.clone());
            Some(inner)
        }
        (None, None) => {
            return Err(
                "(a) allowed, yet the upstream sees no token and nothing is narrowed".into(),
            )
        }
        (Some(aud), None) => {
            if !model.strip {
                return Err(format!(
                    "(a) allowed for {aud} with no token upstream, but on_missing_embedded is deny"
                ));
            }
            let stripped = original.iter().find(|o| {
                verify_outer(o).is_ok_and(|outer| {
                    !upstream_mentions(model, &upstream, &o.text)
                        && match outer.claims.get(model.embedded_claim) {
                            None | Some(Value::Null) => true,
                            Some(Value::Object(map)) => !map.contains_key(aud),
                            Some(_) => false,
                        }
                })
            });
            let Some(o) = stripped else {
                return Err(format!(
                    "(a) stripped for {aud}, but no valid outer token without an {aud} token was sent; original tokens: {original:?}"
                ));
            };
            carrier_loc = Some(o.loc.clone());
            None
        }
    };
    // (g) cookies: the one that carried a narrowed or stripped token leaves with it, every other
    // pair stays, in order; otherwise the cookie headers travel on untouched.
    if let Some(ModelLoc::Cookie(name)) = &carrier_loc {
        let left: Vec<Found> = tokens_in(model, &upstream, false)
            .into_iter()
            .filter(|f| matches!(f.loc, ModelLoc::Cookie(_)))
            .collect();
        if !left.is_empty() {
            return Err(format!(
                "(g) the broad token came from the cookie {name}, yet the upstream's cookies still hold tokens: {left:?}"
            ));
        }
        let before = other_cookies(model, case.headers);
        let after = other_cookies(model, &upstream);
        if before != after {
            return Err(format!(
                "(g) the other cookies changed: sent {:?}, upstream {:?}",
                lossy_all(&before),
                lossy_all(&after)
            ));
        }
    } else if cookie_headers(case.headers) != cookie_headers(&upstream) {
        return Err(format!(
            "(g) no cookie carried the token, yet the cookie headers changed: sent {:?}, upstream {:?}",
            lossy_all(&cookie_headers(case.headers)),
            lossy_all(&cookie_headers(&upstream))
        ));
    }
    // (f) owned headers: what the filter set from the forwarded token, or nothing.
    for (claim, header) in &model.claim_headers {
        let copies: Vec<String> = upstream
            .iter()
            .filter(|(n, _)| n == header)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect();
        let expected = effective
            .as_ref()
            .and_then(|v| v.claims.get(*claim))
            .and_then(header_value);
        let ok = match &expected {
            Some(value) => copies.len() == 1 && copies[0] == *value,
            None => copies.is_empty(),
        };
        if !ok {
            return Err(format!(
                "(f) owned header {header} reaches the upstream as {copies:?}; the token says {expected:?}"
            ));
        }
    }
    Ok(())
}

fn lossy_all(values: &[&[u8]]) -> Vec<String> {
    values
        .iter()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect()
}

/// (p) A request passed as a CORS preflight: the bypass is on, it carries no token the model
/// finds anywhere, `:method` is exactly `OPTIONS`, `origin` and `access-control-request-method`
/// are there and non-empty, and the upstream gets no owned header and no token.
fn check_preflight(case: &Case<'_>, upstream: &Headers) -> Result<(), String> {
    let model = case.model;
    if !model.bypass_cors_preflight {
        return Err("(p) passed as a CORS preflight with bypass_cors_preflight off".into());
    }
    let original = tokens_in(model, case.headers, false);
    if !original.is_empty() {
        return Err(format!(
            "(p) passed as a CORS preflight, yet the request carries tokens: {original:?}"
        ));
    }
    let methods: Vec<&[u8]> = case
        .headers
        .iter()
        .filter(|(n, _)| n == ":method")
        .map(|(_, v)| v.as_slice())
        .collect();
    if methods.is_empty() || methods.iter().any(|m| *m != b"OPTIONS") {
        return Err(format!(
            "(p) passed as a CORS preflight with :method {:?}",
            lossy_all(&methods)
        ));
    }
    for name in ["origin", "access-control-request-method"] {
        if !case.headers.iter().any(|(n, v)| n == name && !v.is_empty()) {
            return Err(format!(
                "(p) passed as a CORS preflight without a non-empty {name}"
            ));
        }
    }
    for owned in model.owned_headers() {
        if upstream.iter().any(|(n, _)| n == owned) {
            return Err(format!(
                "(p) a CORS preflight passed with the owned header {owned}"
            ));
        }
    }
    let up = tokens_in(model, upstream, true);
    if !up.is_empty() {
        return Err(format!(
            "(p) a CORS preflight reaches the upstream with tokens: {up:?}"
        ));
    }
    if cookie_headers(case.headers) != cookie_headers(upstream) {
        return Err("(p) a CORS preflight's cookie headers changed".into());
    }
    Ok(())
}

/// Whether a token string is still in a token location of the upstream request, raw or decoded.
fn upstream_mentions(model: &Model, upstream: &Headers, token: &str) -> bool {
    if tokens_in(model, upstream, true)
        .iter()
        .any(|f| f.text == token)
    {
        return true;
    }
    let token_headers: Vec<&str> = model.header_locations().iter().map(|(h, _)| *h).collect();
    upstream.iter().any(|(name, value)| {
        // Header locations only: the query is covered by `tokens_in`, and a client may copy its
        // token into a parameter the filter does not read.
        let in_scope = name == model.forward_header || token_headers.contains(&name.as_str());
        in_scope && {
            let raw = String::from_utf8_lossy(value);
            let decoded: Vec<u8> = percent_decode(value).collect();
            raw.contains(token) || String::from_utf8_lossy(&decoded).contains(token)
        }
    })
}

/// A refused request: the owned headers the client sent are listed for removal.
pub fn check_denied(case: &Case<'_>, strip: &[String]) -> Result<(), String> {
    for owned in case.model.owned_headers() {
        if case.headers.iter().any(|(n, _)| n == owned) && !strip.iter().any(|s| s == owned) {
            return Err(format!(
                "(f) denied, but the client's {owned} is not stripped: {strip:?}"
            ));
        }
    }
    Ok(())
}
