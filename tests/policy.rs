//! The whole decision, natively: `request::evaluate` on real signed tokens with a fixed clock.
//! Each case is named; every failing case is reported, not just the first.

use jwt_relay::config::{FilterConfig, ProviderId};
use jwt_relay::documents::fetched::Fetched;
use jwt_relay::request::cache::TokenCache;
use jwt_relay::request::decision::{
    evaluate, filter_state, Decision, HeaderPlan, Request, Verdict,
};
use jwt_relay_cli::keys::{jwks, KeyKind, SigningKey};
use jwt_relay_cli::token::{sign, sign_default};
use serde_json::{json, Map, Value};

const NOW: i64 = 1_700_000_000;
const ISS: &str = "https://idp.example.com";

struct Keys {
    rsa: SigningKey,
    ec: SigningKey,
    ed: SigningKey,
}

fn demo_keys() -> Keys {
    let load = |file: &str| {
        let path = format!("{}/envoy/demo-keys/{file}", env!("CARGO_MANIFEST_DIR"));
        SigningKey::load(std::path::Path::new(&path)).unwrap()
    };
    Keys {
        rsa: load("rsa.jwk.json"),
        ec: load("ec.jwk.json"),
        ed: load("ed25519.jwk.json"),
    }
}

fn config_json(keys: &Keys, extra: Value) -> Value {
    let mut config = json!({
        "providers": [{
            "issuer": ISS,
            "audiences": ["api.example.com"],
            "algorithms": ["RS256", "ES256", "EdDSA"],
            "local_jwks": { "inline": jwks(&[&keys.rsa, &keys.ec, &keys.ed]) },
            "from_params": ["access_token"],
            "max_lifetime_seconds": 86400
        }],
        "upstreams": { "orders_cluster": { "audience": "orders" } },
        "claim_to_headers": [{ "claim": "sub", "header": "x-jwt-sub" }]
    });
    if let Value::Object(extra) = extra {
        for (key, value) in extra {
            config[key] = value;
        }
    }
    config
}

fn config(keys: &Keys, extra: Value) -> FilterConfig {
    FilterConfig::from_json(config_json(keys, extra).to_string().as_bytes()).unwrap()
}

fn claims(aud: Value) -> Value {
    json!({ "iss": ISS, "sub": "alice", "aud": aud, "iat": NOW - 10, "exp": NOW + 300 })
}

fn with(mut claims: Value, changes: Value) -> Value {
    for (key, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(key);
        } else {
            claims[key.as_str()] = value.clone();
        }
    }
    claims
}

fn header(pairs: Value) -> Map<String, Value> {
    pairs.as_object().unwrap().clone()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with the given header and claims and a junk signature.
fn unsigned(header: Value, claims: &Value) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(b"sig")
    )
}

struct Call<'a> {
    token: Option<String>,
    path: &'a str,
    cluster: Option<&'a str>,
    role: Option<&'a [u8]>,
    extra_headers: Vec<(&'a str, &'a str)>,
    /// The route's `filter_metadata.jwt_relay`, serialised as Envoy does ([`envoy_struct`]).
    route: Option<Vec<u8>>,
}

impl Default for Call<'_> {
    fn default() -> Self {
        Call {
            token: None,
            path: "/",
            cluster: Some("web_cluster"),
            role: None,
            extra_headers: vec![],
            route: None,
        }
    }
}

fn run<'c>(config: &'c FilterConfig, call: &Call<'_>) -> Decision<'c> {
    let mut headers: Vec<(String, Vec<u8>)> = vec![(":path".into(), call.path.as_bytes().to_vec())];
    if let Some(token) = &call.token {
        headers.push((
            "authorization".into(),
            format!("Bearer {token}").into_bytes(),
        ));
    }
    for (name, value) in &call.extra_headers {
        headers.push((name.to_string(), value.as_bytes().to_vec()));
    }
    evaluate(
        config,
        &Fetched::new(config),
        &mut TokenCache::new(config.cache),
        &Request {
            route: call.route.as_deref(),
            headers: &headers,
            listener_role: &|| call.role.map(<[u8]>::to_vec),
            header: &|_| None,
            cluster: &|| call.cluster.map(str::to_owned),
            now: NOW,
            fingerprint: true,
        },
    )
}

#[derive(Debug)]
enum Expect {
    Allow,
    Deny(u32, &'static str),
}

fn check(name: &str, decision: &Decision<'_>, expect: &Expect, failures: &mut Vec<String>) {
    let ok = match (expect, &decision.verdict) {
        (Expect::Allow, Verdict::Allow(_)) => true,
        (Expect::Deny(status, reason), Verdict::Deny { denial, .. }) => {
            denial.status == *status && decision.facts.outcome.name() == *reason
        }
        _ => false,
    };
    if !ok {
        failures.push(format!(
            "{name}: expected {expect:?}, got {:?} ({})",
            decision.verdict,
            decision.facts.outcome.name()
        ));
    }
}

fn assert_all_passed(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn allowed_plan<'d>(decision: &'d Decision<'_>) -> &'d HeaderPlan {
    match &decision.verdict {
        Verdict::Allow(plan) => plan,
        Verdict::Deny { denial, .. } => {
            panic!("denied: {denial:?} ({})", decision.facts.outcome.name())
        }
        Verdict::Callout { call, .. } => panic!("called out to {}", call.cluster),
    }
}

#[test]
fn edge_validation_table() {
    let keys = demo_keys();
    let cfg = config(&keys, json!({}));
    let api = || claims(json!("api.example.com"));
    let forger = SigningKey::generate(KeyKind::P256, "demo-ec").unwrap();
    let hmac = SigningKey::generate(KeyKind::Hmac, "demo-hs").unwrap();
    let rs = sign_default(&keys.rsa, &api()).unwrap();
    let tampered = {
        let parts: Vec<&str> = rs.split('.').collect();
        let forged_claims = with(api(), json!({"sub": "mallory"}));
        format!(
            "{}.{}.{}",
            parts[0],
            b64(forged_claims.to_string().as_bytes()),
            parts[2]
        )
    };
    let none_header = json!({"alg": "none", "typ": "JWT"});
    let none_token = {
        let t = unsigned(none_header.clone(), &api());
        t[..t.rfind('.').unwrap() + 1].to_string()
    };

    let cases: Vec<(&str, Option<String>, Expect)> =
        vec![
        ("valid RS256", Some(rs.clone()), Expect::Allow),
        (
            "valid ES256",
            Some(sign_default(&keys.ec, &api()).unwrap()),
            Expect::Allow,
        ),
        (
            "valid EdDSA",
            Some(sign_default(&keys.ed, &api()).unwrap()),
            Expect::Allow,
        ),
        (
            "aud array with one match",
            Some(sign_default(&keys.rsa, &claims(json!(["x", "api.example.com"]))).unwrap()),
            Expect::Allow,
        ),
        ("missing token", None, Expect::Deny(401, "missing")),
        (
            "expired",
            Some(sign_default(&keys.rsa, &with(api(), json!({"exp": NOW - 61}))).unwrap()),
            Expect::Deny(401, "expired"),
        ),
        (
            "expired within skew",
            Some(sign_default(&keys.rsa, &with(api(), json!({"exp": NOW - 59}))).unwrap()),
            Expect::Allow,
        ),
        (
            "not yet valid",
            Some(sign_default(&keys.rsa, &with(api(), json!({"nbf": NOW + 120}))).unwrap()),
            Expect::Deny(401, "not_yet_valid"),
        ),
        (
            "issued in the future",
            Some(
                sign_default(
                    &keys.rsa,
                    &with(api(), json!({"iat": NOW + 120, "exp": NOW + 400})),
                )
                .unwrap(),
            ),
            Expect::Deny(401, "issued_in_future"),
        ),
        (
            "no exp",
            Some(sign_default(&keys.rsa, &with(api(), json!({"exp": null}))).unwrap()),
            Expect::Deny(401, "missing_claim"),
        ),
        (
            "lifetime over max",
            Some(sign_default(&keys.rsa, &with(api(), json!({"exp": NOW + 90_000}))).unwrap()),
            Expect::Deny(401, "lifetime_too_long"),
        ),
        (
            "exp as a string",
            Some(sign_default(&keys.rsa, &with(api(), json!({"exp": "tomorrow"}))).unwrap()),
            Expect::Deny(401, "malformed"),
        ),
        (
            "tampered payload",
            Some(tampered),
            Expect::Deny(401, "bad_signature"),
        ),
        (
            "forged with a fresh key and a known kid",
            Some(sign_default(&forger, &api()).unwrap()),
            Expect::Deny(401, "bad_signature"),
        ),
        (
            "unknown kid",
            Some(
                sign(
                    &keys.rsa,
                    "RS256",
                    &header(json!({"kid": "rotated-away"})),
                    &api(),
                )
                .unwrap(),
            ),
            Expect::Deny(401, "unknown_kid"),
        ),
        (
            "no kid, the only key that fits",
            Some(sign(&keys.ec, "ES256", &header(json!({"kid": null})), &api()).unwrap()),
            Expect::Allow,
        ),
        (
            "wrong issuer",
            Some(
                sign_default(
                    &keys.rsa,
                    &with(api(), json!({"iss": "https://evil.example"})),
                )
                .unwrap(),
            ),
            Expect::Deny(401, "wrong_issuer"),
        ),
        (
            "no issuer",
            Some(sign_default(&keys.rsa, &with(api(), json!({"iss": null}))).unwrap()),
            Expect::Deny(401, "wrong_issuer"),
        ),
        (
            "wrong audience",
            Some(sign_default(&keys.rsa, &claims(json!("orders"))).unwrap()),
            Expect::Deny(401, "wrong_audience"),
        ),
        (
            "no audience",
            Some(sign_default(&keys.rsa, &with(api(), json!({"aud": null}))).unwrap()),
            Expect::Deny(401, "wrong_audience"),
        ),
        (
            "alg none",
            Some(none_token),
            Expect::Deny(401, "unsupported_algorithm"),
        ),
        (
            "alg None (case)",
            Some(unsigned(json!({"alg": "None"}), &api())),
            Expect::Deny(401, "unsupported_algorithm"),
        ),
        (
            "alg HS256 not allowed",
            Some(sign_default(&hmac, &api()).unwrap()),
            Expect::Deny(401, "algorithm_not_allowed"),
        ),
        (
            "PS256 not in the allowlist",
            Some(sign(&keys.rsa, "PS256", &Map::new(), &api()).unwrap()),
            Expect::Deny(401, "algorithm_not_allowed"),
        ),
        (
            "ES256 header on an RSA kid",
            Some(
                sign(
                    &keys.ec,
                    "ES256",
                    &header(json!({"kid": "demo-rsa"})),
                    &api(),
                )
                .unwrap(),
            ),
            Expect::Deny(401, "no_key_for_algorithm"),
        ),
        (
            "crit header",
            Some(
                sign(
                    &keys.rsa,
                    "RS256",
                    &header(json!({"crit": ["exp"], "exp": 1})),
                    &api(),
                )
                .unwrap(),
            ),
            Expect::Deny(401, "critical_header"),
        ),
        (
            "typ at+jwt (RFC 9068)",
            Some(sign(&keys.rsa, "RS256", &header(json!({"typ": "at+jwt"})), &api()).unwrap()),
            Expect::Allow,
        ),
        (
            "typ application/AT+JWT",
            Some(
                sign(
                    &keys.rsa,
                    "RS256",
                    &header(json!({"typ": "application/AT+JWT"})),
                    &api(),
                )
                .unwrap(),
            ),
            Expect::Allow,
        ),
        (
            "no typ",
            Some(sign(&keys.rsa, "RS256", &header(json!({"typ": null})), &api()).unwrap()),
            Expect::Allow,
        ),
        (
            "typ of a logout token",
            Some(
                sign(
                    &keys.rsa,
                    "RS256",
                    &header(json!({"typ": "logout+jwt"})),
                    &api(),
                )
                .unwrap(),
            ),
            Expect::Deny(401, "wrong_type"),
        ),
        (
            "typ of a DPoP proof",
            Some(sign(&keys.rsa, "RS256", &header(json!({"typ": "dpop+jwt"})), &api()).unwrap()),
            Expect::Deny(401, "wrong_type"),
        ),
        (
            "typ not a string",
            Some(sign(&keys.rsa, "RS256", &header(json!({"typ": 1})), &api()).unwrap()),
            Expect::Deny(401, "malformed"),
        ),
        (
            "duplicate alg in header",
            Some(format!(
                "{}.{}.{}",
                b64(br#"{"alg":"none","alg":"RS256","kid":"demo-rsa"}"#),
                b64(api().to_string().as_bytes()),
                rs.rsplit('.').next().unwrap()
            )),
            Expect::Deny(401, "malformed"),
        ),
        (
            "duplicate sub in claims",
            Some(
                unsigned(json!({"alg": "RS256", "kid": "demo-rsa"}), &json!("x")).replace(
                    &b64(b"\"x\""),
                    &b64(format!(
                        r#"{{"iss":"{ISS}","sub":"a","sub":"b","aud":"api.example.com","exp":{}}}"#,
                        NOW + 60
                    )
                    .as_bytes()),
                ),
            ),
            Expect::Deny(401, "malformed"),
        ),
        (
            "not a JWT",
            Some("not-a-token".into()),
            Expect::Deny(401, "malformed"),
        ),
        (
            "three junk segments",
            Some("a.b.c".into()),
            Expect::Deny(401, "malformed"),
        ),
        (
            "JWE (five segments)",
            Some("a.b.c.d.e".into()),
            Expect::Deny(401, "encrypted"),
        ),
        (
            "padded base64",
            Some(format!("{}=", rs)),
            Expect::Deny(401, "malformed"),
        ),
        (
            "too large",
            Some(format!("{}.{}.{}", "a".repeat(9000), "b".repeat(9000), "c")),
            Expect::Deny(401, "too_large"),
        ),
        (
            "sub is not a string",
            Some(sign_default(&keys.rsa, &with(api(), json!({"sub": 7}))).unwrap()),
            Expect::Deny(401, "malformed"),
        ),
    ];
    let mut failures = Vec::new();
    for (name, token, expect) in &cases {
        let decision = run(
            &cfg,
            &Call {
                token: token.clone(),
                ..Call::default()
            },
        );
        check(name, &decision, expect, &mut failures);
    }
    assert_all_passed(&failures);
}

#[test]
fn denials_carry_rfc_6750_challenges_without_token_content() {
    let keys = demo_keys();
    let cfg = config(&keys, json!({}));
    let token = sign_default(
        &keys.rsa,
        &with(claims(json!("api.example.com")), json!({"exp": NOW - 3600})),
    )
    .unwrap();
    let decision = run(
        &cfg,
        &Call {
            token: Some(token.clone()),
            extra_headers: vec![("x-jwt-sub", "spoofed")],
            ..Call::default()
        },
    );
    let Verdict::Deny { denial, strip } = &decision.verdict else {
        panic!("allowed")
    };
    let www = &denial
        .headers
        .iter()
        .find(|(n, _)| n == "www-authenticate")
        .unwrap()
        .1;
    assert_eq!(
        www,
        "Bearer realm=\"jwt-relay\", error=\"invalid_token\", error_description=\"token expired\""
    );
    assert!(!denial.body.contains(&token[..20]) && !denial.body.contains("alice"));
    assert_eq!(strip, &vec!["x-jwt-sub".to_string()]);
    let unspoofed = run(
        &cfg,
        &Call {
            token: Some(token.clone()),
            ..Call::default()
        },
    );
    let Verdict::Deny { strip, .. } = &unspoofed.verdict else {
        panic!("allowed")
    };
    // The host read only `authorization` (Envoy joins it), not the owned header: a removal
    // costs what a lookup would, so it is removed whether sent or not.
    assert_eq!(strip, &vec!["x-jwt-sub".to_string()]);
    // With a token header Envoy does not join, every header is read, and only what is there
    // costs a removal.
    let mut all_headers = config_json(&keys, json!({}));
    all_headers["providers"][0]["from_headers"] = json!([{"name": "x-token"}]);
    let all_headers = FilterConfig::from_json(all_headers.to_string().as_bytes()).unwrap();
    let headers = vec![(":path".to_string(), b"/".to_vec())];
    let unspoofed = evaluate(
        &all_headers,
        &Fetched::new(&all_headers),
        &mut TokenCache::new(all_headers.cache),
        &Request {
            route: None,
            headers: &headers,
            listener_role: &|| None,
            header: &|_| None,
            cluster: &|| None,
            now: NOW,
            fingerprint: false,
        },
    );
    let Verdict::Deny { strip, .. } = &unspoofed.verdict else {
        panic!("allowed")
    };
    assert!(
        strip.is_empty(),
        "nothing sent, nothing to remove: {strip:?}"
    );
    assert_eq!(decision.facts.fingerprint.as_deref().map(str::len), Some(8));

    let missing = run(&cfg, &Call::default());
    let Verdict::Deny { denial, .. } = &missing.verdict else {
        panic!("allowed")
    };
    assert_eq!(
        denial.headers[0],
        (
            "www-authenticate".into(),
            "Bearer realm=\"jwt-relay\"".into()
        )
    );
}

#[test]
fn ambiguous_requests_are_refused() {
    let keys = demo_keys();
    let cfg = config(&keys, json!({}));
    let token = sign_default(&keys.rsa, &claims(json!("api.example.com"))).unwrap();
    let auth = format!("Bearer {token}");
    let twice = run(
        &cfg,
        &Call {
            extra_headers: vec![("authorization", &auth), ("authorization", &auth)],
            ..Call::default()
        },
    );
    let both_path = format!("/?access_token={token}");
    let both = run(
        &cfg,
        &Call {
            token: Some(token.clone()),
            path: &both_path,
            ..Call::default()
        },
    );
    let mut failures = Vec::new();
    check(
        "two authorization headers",
        &twice,
        &Expect::Deny(400, "ambiguous"),
        &mut failures,
    );
    check(
        "header and query parameter",
        &both,
        &Expect::Deny(400, "ambiguous"),
        &mut failures,
    );
    assert_all_passed(&failures);
}

#[test]
fn internal_role_skips_lifetime_but_not_signature() {
    let keys = demo_keys();
    let edge_cfg = config(&keys, json!({}));
    let internal_cfg = config(&keys, json!({"role": "internal"}));
    let expired = sign_default(
        &keys.rsa,
        &with(
            claims(json!("api.example.com")),
            json!({"exp": NOW - 3600, "iat": NOW - 3700}),
        ),
    )
    .unwrap();
    let forger = SigningKey::generate(KeyKind::Ed25519, "demo-ed25519").unwrap();
    let forged = sign_default(
        &forger,
        &with(
            claims(json!("api.example.com")),
            json!({"exp": NOW - 3600, "iat": NOW - 3700}),
        ),
    )
    .unwrap();
    let bounded = config(
        &keys,
        json!({"role": "internal", "internal_max_expired_seconds": 600}),
    );

    let mut failures = Vec::new();
    fn call<'c>(cfg: &'c FilterConfig, token: &str, role: Option<&'static [u8]>) -> Decision<'c> {
        run(
            cfg,
            &Call {
                token: Some(token.into()),
                role,
                ..Call::default()
            },
        )
    }
    check(
        "expired at the edge",
        &call(&edge_cfg, &expired, None),
        &Expect::Deny(401, "expired"),
        &mut failures,
    );
    check(
        "expired on internal",
        &call(&internal_cfg, &expired, None),
        &Expect::Allow,
        &mut failures,
    );
    check(
        "forged on internal",
        &call(&internal_cfg, &forged, None),
        &Expect::Deny(401, "bad_signature"),
        &mut failures,
    );
    check(
        "metadata internal overrides config edge",
        &call(&edge_cfg, &expired, Some(b"internal")),
        &Expect::Allow,
        &mut failures,
    );
    check(
        "metadata edge overrides config internal",
        &call(&internal_cfg, &expired, Some(b"edge")),
        &Expect::Deny(401, "expired"),
        &mut failures,
    );
    check(
        "unknown metadata means edge",
        &call(&internal_cfg, &expired, Some(b"mesh")),
        &Expect::Deny(401, "expired"),
        &mut failures,
    );
    check(
        "internal bound",
        &call(&bounded, &expired, None),
        &Expect::Deny(401, "expired"),
        &mut failures,
    );
    assert_all_passed(&failures);
}

fn narrowed_token(keys: &Keys, audience: &str, changes: Value) -> String {
    sign_default(&keys.ec, &with(claims(json!(audience)), changes)).unwrap()
}

fn outer_with(keys: &Keys, embedded: Value, changes: Value) -> String {
    let outer = with(claims(json!("api.example.com")), changes);
    sign_default(
        &keys.rsa,
        &with(outer, json!({"embedded_tokens": embedded})),
    )
    .unwrap()
}

#[test]
fn narrowing_forwards_only_the_embedded_token() {
    let keys = demo_keys();
    let cfg = config(&keys, json!({}));
    let inner = narrowed_token(&keys, "orders", json!({"sub": "alice-orders"}));
    let outer = outer_with(&keys, json!({"orders": inner}), json!({}));

    let decision = run(
        &cfg,
        &Call {
            token: Some(outer.clone()),
            cluster: Some("orders_cluster"),
            ..Call::default()
        },
    );
    let plan = allowed_plan(&decision);
    // Both headers are set, and a set replaces every client copy: nothing to remove first.
    assert!(plan.remove.is_empty(), "{plan:?}");
    assert_eq!(
        plan.set,
        vec![
            ("authorization".to_string(), format!("Bearer {inner}")),
            ("x-jwt-sub".to_string(), "alice-orders".to_string())
        ]
    );
    assert_eq!(plan.path, None);
    assert_eq!(decision.facts.narrowed_to, Some("orders"));

    // From the query string: the parameter leaves the path.
    let path = format!("/orders?a=1&access_token={outer}&b=2");
    let decision = run(
        &cfg,
        &Call {
            path: &path,
            cluster: Some("orders_cluster"),
            ..Call::default()
        },
    );
    let plan = allowed_plan(&decision);
    assert_eq!(plan.path.as_deref(), Some("/orders?a=1&b=2"));
    assert_eq!(
        plan.set[0],
        ("authorization".to_string(), format!("Bearer {inner}"))
    );

    // Not a listed cluster: the token stays as it came, claims from the outer token.
    let decision = run(
        &cfg,
        &Call {
            token: Some(outer),
            cluster: Some("web_cluster"),
            ..Call::default()
        },
    );
    let plan = allowed_plan(&decision);
    assert!(!plan.remove.contains(&"authorization".to_string()));
    assert_eq!(
        plan.set,
        vec![("x-jwt-sub".to_string(), "alice".to_string())]
    );
}

#[test]
fn narrowing_refuses_what_it_cannot_vouch_for() {
    let keys = demo_keys();
    let cfg = config(&keys, json!({}));
    let strip_cfg = config(&keys, json!({"on_missing_embedded": "strip"}));
    let forger = SigningKey::generate(KeyKind::P256, "demo-ec").unwrap();
    let orders = |changes: Value| narrowed_token(&keys, "orders", changes);
    fn to_orders<'c>(
        cfg: &'c FilterConfig,
        token: String,
        role: Option<&'static [u8]>,
    ) -> Decision<'c> {
        run(
            cfg,
            &Call {
                token: Some(token),
                cluster: Some("orders_cluster"),
                role,
                ..Call::default()
            },
        )
    }

    let mut failures = Vec::new();
    let no_embed = outer_with(&keys, json!({"inventory": orders(json!({}))}), json!({}));
    check(
        "no token for the cluster",
        &to_orders(&cfg, no_embed.clone(), None),
        &Expect::Deny(403, "embedded_missing"),
        &mut failures,
    );
    let stripped = to_orders(&strip_cfg, no_embed, None);
    check(
        "strip mode forwards no token",
        &stripped,
        &Expect::Allow,
        &mut failures,
    );
    if let Verdict::Allow(plan) = &stripped.verdict {
        if !plan.remove.contains(&"authorization".to_string()) || !plan.set.is_empty() {
            failures.push(format!("strip mode plan: {plan:?}"));
        }
    }
    check(
        "embedded aud is another service",
        &to_orders(
            &cfg,
            outer_with(
                &keys,
                json!({"orders": narrowed_token(&keys, "inventory", json!({}))}),
                json!({}),
            ),
            None,
        ),
        &Expect::Deny(401, "embedded_invalid"),
        &mut failures,
    );
    check(
        "embedded outlives parent",
        &to_orders(
            &cfg,
            outer_with(
                &keys,
                json!({"orders": orders(json!({"exp": NOW + 600}))}),
                json!({}),
            ),
            None,
        ),
        &Expect::Deny(401, "embedded_outlives_parent"),
        &mut failures,
    );
    check(
        "embedded forged",
        &to_orders(
            &cfg,
            outer_with(
                &keys,
                json!({"orders": sign_default(&forger, &claims(json!("orders"))).unwrap()}),
                json!({}),
            ),
            None,
        ),
        &Expect::Deny(401, "embedded_invalid"),
        &mut failures,
    );
    check(
        "embedded not a string",
        &to_orders(
            &cfg,
            outer_with(&keys, json!({"orders": 5}), json!({})),
            None,
        ),
        &Expect::Deny(401, "embedded_malformed"),
        &mut failures,
    );
    check(
        "embedded claim not an object",
        &to_orders(&cfg, outer_with(&keys, json!(["x"]), json!({})), None),
        &Expect::Deny(401, "embedded_malformed"),
        &mut failures,
    );
    let expired_inner = outer_with(
        &keys,
        json!({"orders": orders(json!({"exp": NOW - 120, "iat": NOW - 200}))}),
        json!({}),
    );
    check(
        "embedded expired at the edge",
        &to_orders(&cfg, expired_inner.clone(), None),
        &Expect::Deny(401, "embedded_invalid"),
        &mut failures,
    );
    check(
        "embedded expired on internal",
        &to_orders(&cfg, expired_inner, Some(b"internal")),
        &Expect::Allow,
        &mut failures,
    );
    assert_all_passed(&failures);
}

#[test]
fn claim_headers_replace_client_copies_and_skip_unsafe_values() {
    let keys = demo_keys();
    let cfg = config(&keys, json!({}));
    let evil_sub = sign_default(
        &keys.rsa,
        &with(
            claims(json!("api.example.com")),
            json!({"sub": "alice\r\nx-admin: true"}),
        ),
    )
    .unwrap();
    let decision = run(
        &cfg,
        &Call {
            token: Some(evil_sub),
            extra_headers: vec![("x-jwt-sub", "spoofed")],
            ..Call::default()
        },
    );
    let plan = allowed_plan(&decision);
    assert!(plan.remove.contains(&"x-jwt-sub".to_string()));
    assert!(plan.set.is_empty(), "{plan:?}");
}

#[test]
fn token_types_narrow_what_a_provider_accepts() {
    let keys = demo_keys();
    let mut cfg = config_json(&keys, json!({}));
    cfg["providers"][0]["token_types"] = json!(["at+jwt"]);
    let strict = FilterConfig::from_json(cfg.to_string().as_bytes()).unwrap();
    let api = claims(json!("api.example.com"));
    let typed =
        |typ: Value| sign(&keys.rsa, "RS256", &header(json!({ "typ": typ })), &api).unwrap();
    let mut failures = Vec::new();
    for (name, token, expect) in [
        ("at+jwt", typed(json!("at+jwt")), Expect::Allow),
        (
            "application/at+jwt",
            typed(json!("application/at+jwt")),
            Expect::Allow,
        ),
        ("JWT", typed(json!("JWT")), Expect::Deny(401, "wrong_type")),
        (
            "no typ",
            typed(Value::Null),
            Expect::Deny(401, "wrong_type"),
        ),
    ] {
        let decision = run(
            &strict,
            &Call {
                token: Some(token),
                ..Call::default()
            },
        );
        check(name, &decision, &expect, &mut failures);
    }
    // Embedded tokens answer to the same provider's rule.
    for (inner_type, expect) in [
        ("at+jwt", Expect::Allow),
        ("JWT", Expect::Deny(401, "embedded_invalid")),
    ] {
        let inner = sign(
            &keys.ec,
            "ES256",
            &header(json!({ "typ": inner_type })),
            &claims(json!("orders")),
        )
        .unwrap();
        let outer = sign(
            &keys.rsa,
            "RS256",
            &header(json!({"typ": "at+jwt"})),
            &with(api.clone(), json!({"embedded_tokens": {"orders": inner}})),
        )
        .unwrap();
        let decision = run(
            &strict,
            &Call {
                token: Some(outer),
                cluster: Some("orders_cluster"),
                ..Call::default()
            },
        );
        check(
            &format!("embedded {inner_type} where only at+jwt is accepted"),
            &decision,
            &expect,
            &mut failures,
        );
    }
    assert_all_passed(&failures);
}

#[test]
fn filter_state_names_the_outcome_and_the_presented_tokens_claims() {
    let keys = demo_keys();
    let cfg = config(
        &keys,
        json!({"filter_state": {"claims": ["sub", "scope", "exp", "tenant", "note"]}}),
    );
    let state = |decision: &Decision<'_>| -> Vec<(String, String)> {
        filter_state(&cfg, decision)
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect()
    };
    let pairs = |expected: &[(&str, &str)]| -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    };
    let inner = narrowed_token(&keys, "orders", json!({"sub": "alice-orders"}));
    let exp = (NOW + 300).to_string();
    let outer = outer_with(
        &keys,
        json!({"orders": inner}),
        json!({"scope": ["read", "write"], "tenant": 7, "note": "line\nforged"}),
    );
    // Narrowed: the outer (presented) token's claims, not the forwarded one's; the control
    // character in `note` keeps it out.
    let narrowed = run(
        &cfg,
        &Call {
            token: Some(outer.clone()),
            cluster: Some("orders_cluster"),
            ..Call::default()
        },
    );
    assert_eq!(
        state(&narrowed),
        pairs(&[
            ("jwt_relay.outcome", "narrowed"),
            ("jwt_relay.issuer", ISS),
            ("jwt_relay.narrowed_to", "orders"),
            ("jwt_relay.claim.sub", "alice"),
            ("jwt_relay.claim.scope", r#"["read","write"]"#),
            ("jwt_relay.claim.exp", &exp),
            ("jwt_relay.claim.tenant", "7"),
        ])
    );
    // Verified but refused (expired at the edge): who it was still shows.
    let expired = sign_default(
        &keys.rsa,
        &with(
            claims(json!("api.example.com")),
            json!({"iat": NOW - 900, "exp": NOW - 600}),
        ),
    )
    .unwrap();
    let refused = run(
        &cfg,
        &Call {
            token: Some(expired),
            ..Call::default()
        },
    );
    assert_eq!(
        state(&refused),
        pairs(&[
            ("jwt_relay.outcome", "expired"),
            ("jwt_relay.issuer", ISS),
            ("jwt_relay.claim.sub", "alice"),
            ("jwt_relay.claim.exp", &(NOW - 600).to_string()),
        ])
    );
    // Not verified: no claim of an unverified token is ever exported.
    let forged = sign_default(
        &SigningKey::generate(KeyKind::P256, "demo-ec").unwrap(),
        &claims(json!("api.example.com")),
    )
    .unwrap();
    for (name, token) in [("forged", Some(forged)), ("missing", None)] {
        let decision = run(
            &cfg,
            &Call {
                token,
                ..Call::default()
            },
        );
        let reason = decision.facts.outcome.name();
        assert_eq!(
            state(&decision),
            pairs(&[("jwt_relay.outcome", reason)]),
            "{name}"
        );
        assert_ne!(reason, "allowed", "{name}");
    }
    // Turned off: nothing, so no host call either.
    let off = config(
        &keys,
        json!({"filter_state": {"outcome": false, "claims": []}}),
    );
    let decision = run(
        &off,
        &Call {
            token: Some(outer),
            ..Call::default()
        },
    );
    assert!(filter_state(&off, &decision).is_empty());
}

#[test]
fn hmac_only_when_configured_and_never_with_an_rsa_key() {
    let keys = demo_keys();
    let hmac = SigningKey::generate(KeyKind::Hmac, "demo-hs").unwrap();
    let mut set = jwks(&[&keys.rsa]);
    set["keys"].as_array_mut().unwrap().push(hmac.public_jwk());
    let cfg_json = json!({"providers": [{
        "issuer": ISS, "audiences": ["api.example.com"], "algorithms": ["RS256", "HS256"],
        "local_jwks": {"inline": set.to_string()}
    }]});
    let cfg = FilterConfig::from_json(cfg_json.to_string().as_bytes()).unwrap();
    let api = claims(json!("api.example.com"));
    let mut failures = Vec::new();
    let call = |token: String| {
        run(
            &cfg,
            &Call {
                token: Some(token),
                ..Call::default()
            },
        )
    };
    check(
        "HS256 with the oct key",
        &call(sign_default(&hmac, &api).unwrap()),
        &Expect::Allow,
        &mut failures,
    );
    check(
        "HS256 naming the RSA kid",
        &call(sign(&hmac, "HS256", &header(json!({"kid": "demo-rsa"})), &api).unwrap()),
        &Expect::Deny(401, "no_key_for_algorithm"),
        &mut failures,
    );
    assert_all_passed(&failures);
}

/// A provider that takes keys only from a remote JWKS (plus a revocation feed).
fn remote_config(revocation: Value) -> FilterConfig {
    let mut config = json!({
        "providers": [{
            "issuer": ISS,
            "audiences": ["api.example.com"],
            "remote_jwks": {"cluster": "idp", "path": "/.well-known/jwks.json"}
        }],
        "upstreams": { "orders_cluster": { "audience": "orders" } }
    });
    if !revocation.is_null() {
        config["revocation"] = revocation;
    }
    FilterConfig::from_json(config.to_string().as_bytes()).unwrap()
}

fn fetched_keys(cfg: &FilterConfig, keys: &[&SigningKey]) -> Fetched {
    let mut fetched = Fetched::new(cfg);
    install_keys(&mut fetched, keys);
    fetched
}

/// Installs a JWKS as the host does, versioned by its content.
fn install_keys(fetched: &mut Fetched, keys: &[&SigningKey]) {
    let body = jwks(keys).to_string();
    let parsed =
        jwt_relay::documents::fetched::parse_remote_jwks(body.as_bytes(), 1 << 20).unwrap();
    let version = body
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    fetched.set_remote_keys(ProviderId::from_index(0), parsed.keys, version);
}

fn run_with<'c>(
    cfg: &'c FilterConfig,
    fetched: &Fetched,
    token: &str,
    cluster: &str,
    role: Option<&[u8]>,
) -> Decision<'c> {
    let mut cache = TokenCache::new(cfg.cache);
    run_cached(cfg, fetched, &mut cache, token, cluster, role, NOW)
}

fn run_cached<'c>(
    cfg: &'c FilterConfig,
    fetched: &Fetched,
    cache: &mut TokenCache,
    token: &str,
    cluster: &str,
    role: Option<&[u8]>,
    now: i64,
) -> Decision<'c> {
    let headers = vec![
        (":path".to_string(), b"/".to_vec()),
        (
            "authorization".to_string(),
            format!("Bearer {token}").into_bytes(),
        ),
    ];
    evaluate(
        cfg,
        fetched,
        cache,
        &Request {
            route: None,
            headers: &headers,
            listener_role: &|| role.map(<[u8]>::to_vec),
            header: &|_| None,
            cluster: &|| Some(cluster.to_owned()),
            now,
            fingerprint: true,
        },
    )
}

#[test]
fn remote_keys_fail_closed_until_fetched_and_signal_kid_misses() {
    let keys = demo_keys();
    let cfg = remote_config(Value::Null);
    let token = sign_default(&keys.ec, &claims(json!("api.example.com"))).unwrap();
    let mut failures = Vec::new();

    let cold = run_with(&cfg, &Fetched::new(&cfg), &token, "web", None);
    check(
        "no JWKS fetched yet",
        &cold,
        &Expect::Deny(401, "keys_unavailable"),
        &mut failures,
    );

    let fetched = fetched_keys(&cfg, &[&keys.ec]);
    check(
        "remote key verifies",
        &run_with(&cfg, &fetched, &token, "web", None),
        &Expect::Allow,
        &mut failures,
    );

    let rotated = SigningKey::generate(KeyKind::Ed25519, "rotated-in").unwrap();
    let new_kid = sign_default(&rotated, &claims(json!("api.example.com"))).unwrap();
    let miss = run_with(&cfg, &fetched, &new_kid, "web", None);
    check(
        "new kid before refetch",
        &miss,
        &Expect::Deny(401, "unknown_kid"),
        &mut failures,
    );
    if miss.facts.refetch_jwks != Some(ProviderId::from_index(0)) {
        failures.push(format!(
            "kid miss should ask to refetch provider 0: {:?}",
            miss.facts
        ));
    }
    let refreshed = fetched_keys(&cfg, &[&keys.ec, &rotated]);
    check(
        "new kid after refetch",
        &run_with(&cfg, &refreshed, &new_kid, "web", None),
        &Expect::Allow,
        &mut failures,
    );
    let removed = fetched_keys(&cfg, &[&rotated]);
    check(
        "removed key stops verifying",
        &run_with(&cfg, &removed, &token, "web", None),
        &Expect::Deny(401, "unknown_kid"),
        &mut failures,
    );

    // A local-only provider never asks for a refetch.
    let local = config(&keys, json!({}));
    let unknown = sign(
        &keys.rsa,
        "RS256",
        &header(json!({"kid": "nope"})),
        &claims(json!("api.example.com")),
    )
    .unwrap();
    let local_miss = run_with(&local, &Fetched::new(&local), &unknown, "web", None);
    if local_miss.facts.refetch_jwks.is_some() {
        failures.push("local-only provider asked for a refetch".into());
    }
    assert_all_passed(&failures);
}

fn revocations(fetched: &mut Fetched, body: Value) {
    let list =
        jwt_relay::documents::fetched::parse_revocations(body.to_string().as_bytes(), 1 << 20)
            .unwrap();
    fetched.set_revocations(list);
}

#[test]
fn revoked_sessions_fail_on_every_role_including_embedded_tokens() {
    let keys = demo_keys();
    let cfg = remote_config(json!({"cluster": "idp", "path": "/revocations"}));
    let mut fetched = fetched_keys(&cfg, &[&keys.rsa, &keys.ec]);
    let session = |sid: &str, iat: i64| {
        with(
            claims(json!("api.example.com")),
            json!({"sid": sid, "iat": iat, "exp": NOW + 300}),
        )
    };
    let s1 = sign_default(&keys.rsa, &session("s1", NOW - 100)).unwrap();
    let mut failures = Vec::new();

    check(
        "feed not fetched yet: deny",
        &run_with(&cfg, &fetched, &s1, "web", None),
        &Expect::Deny(401, "revocation_unavailable"),
        &mut failures,
    );
    let lenient =
        remote_config(json!({"cluster": "idp", "path": "/revocations", "on_unavailable": "allow"}));
    let lenient_fetched = fetched_keys(&lenient, &[&keys.rsa]);
    check(
        "feed not fetched yet: allow",
        &run_with(&lenient, &lenient_fetched, &s1, "web", None),
        &Expect::Allow,
        &mut failures,
    );

    revocations(
        &mut fetched,
        json!({"revoked": [{"sid": "s1", "revoked_at": NOW - 50}]}),
    );
    check(
        "revoked at the edge",
        &run_with(&cfg, &fetched, &s1, "web", None),
        &Expect::Deny(401, "revoked"),
        &mut failures,
    );
    check(
        "revoked on internal",
        &run_with(&cfg, &fetched, &s1, "web", Some(b"internal")),
        &Expect::Deny(401, "revoked"),
        &mut failures,
    );
    let other = sign_default(&keys.rsa, &session("s2", NOW - 100)).unwrap();
    check(
        "other session passes",
        &run_with(&cfg, &fetched, &other, "web", None),
        &Expect::Allow,
        &mut failures,
    );
    let later = sign_default(&keys.rsa, &session("s1", NOW - 10)).unwrap();
    check(
        "issued after the revocation passes",
        &run_with(&cfg, &fetched, &later, "web", None),
        &Expect::Allow,
        &mut failures,
    );

    let inner = sign_default(
        &keys.ec,
        &with(
            claims(json!("orders")),
            json!({"sid": "s1", "iat": NOW - 100}),
        ),
    )
    .unwrap();
    let outer = sign_default(
        &keys.rsa,
        &with(
            session("s9", NOW - 10),
            json!({"embedded_tokens": {"orders": inner}}),
        ),
    )
    .unwrap();
    check(
        "revoked embedded token",
        &run_with(&cfg, &fetched, &outer, "orders_cluster", None),
        &Expect::Deny(401, "embedded_invalid"),
        &mut failures,
    );
    check(
        "its carrier alone passes",
        &run_with(&cfg, &fetched, &outer, "web", None),
        &Expect::Allow,
        &mut failures,
    );
    assert_all_passed(&failures);
}

#[test]
fn cached_tokens_are_rechecked_for_everything_that_can_change() {
    let keys = demo_keys();
    let cfg = remote_config(json!({"cluster": "idp", "path": "/revocations"}));
    let mut fetched = fetched_keys(&cfg, &[&keys.ec, &keys.ed]);
    revocations(&mut fetched, json!({"revoked": []}));
    let mut cache = TokenCache::new(cfg.cache);
    let session = with(claims(json!("api.example.com")), json!({"sid": "s1"}));
    let token = sign_default(&keys.ec, &session).unwrap();
    let mut failures = Vec::new();
    let call =
        |fetched: &Fetched, cache: &mut TokenCache, token: &str, now: i64, role: Option<&[u8]>| {
            run_cached(&cfg, fetched, cache, token, "web", role, now)
        };

    check(
        "first use verifies",
        &call(&fetched, &mut cache, &token, NOW, None),
        &Expect::Allow,
        &mut failures,
    );
    if cache.len() != 1 {
        failures.push(format!(
            "a verified token is cached: {} entries",
            cache.len()
        ));
    }
    check(
        "second use hits",
        &call(&fetched, &mut cache, &token, NOW + 1, None),
        &Expect::Allow,
        &mut failures,
    );
    check(
        "a hit still checks lifetime at the edge",
        &call(&fetched, &mut cache, &token, NOW + 400, None),
        &Expect::Deny(401, "expired"),
        &mut failures,
    );
    check(
        "and not on internal",
        &call(&fetched, &mut cache, &token, NOW + 10, Some(b"internal")),
        &Expect::Allow,
        &mut failures,
    );

    revocations(
        &mut fetched,
        json!({"revoked": [{"sid": "s1", "revoked_at": NOW}]}),
    );
    check(
        "a hit still checks revocation",
        &call(&fetched, &mut cache, &token, NOW + 1, None),
        &Expect::Deny(401, "revoked"),
        &mut failures,
    );
    revocations(&mut fetched, json!({"revoked": []}));

    // The key that verified the cached entry is rotated away: the entry must not vouch for it.
    install_keys(&mut fetched, &[&keys.ed]);
    check(
        "rotated-away key",
        &call(&fetched, &mut cache, &token, NOW + 1, None),
        &Expect::Deny(401, "unknown_kid"),
        &mut failures,
    );

    install_keys(&mut fetched, &[&keys.ec, &keys.ed]);
    let forged = {
        let parts: Vec<&str> = token.split('.').collect();
        format!("{}.{}.{}", parts[0], parts[1], b64(&[7u8; 64]))
    };
    let before = cache.len();
    check(
        "bad signature",
        &call(&fetched, &mut cache, &forged, NOW, None),
        &Expect::Deny(401, "bad_signature"),
        &mut failures,
    );
    check(
        "bad signature again",
        &call(&fetched, &mut cache, &forged, NOW, None),
        &Expect::Deny(401, "bad_signature"),
        &mut failures,
    );
    if cache.len() != before {
        failures.push("an invalid token was cached".into());
    }
    assert_all_passed(&failures);
}

#[test]
fn a_cached_token_is_checked_against_the_audience_of_each_use() {
    let keys = demo_keys();
    let cfg = config(&keys, json!({}));
    let fetched = Fetched::new(&cfg);
    let mut cache = TokenCache::new(cfg.cache);
    // Verified once as an embedded orders token, then presented directly at the edge.
    let inner = narrowed_token(&keys, "orders", json!({}));
    let outer = outer_with(&keys, json!({"orders": inner.clone()}), json!({}));
    let mut failures = Vec::new();
    check(
        "narrowed",
        &run_cached(
            &cfg,
            &fetched,
            &mut cache,
            &outer,
            "orders_cluster",
            None,
            NOW,
        ),
        &Expect::Allow,
        &mut failures,
    );
    check(
        "embedded token presented at the edge",
        &run_cached(&cfg, &fetched, &mut cache, &inner, "web", None, NOW),
        &Expect::Deny(401, "wrong_audience"),
        &mut failures,
    );
    assert_all_passed(&failures);
}

/// The listener's role is read from the host only when the two roles would decide differently.
#[test]
fn the_listener_role_is_read_only_when_the_decision_depends_on_it() {
    use std::cell::Cell;

    let keys = demo_keys();
    let cfg = config(&keys, json!({}));
    let bounded = config(&keys, json!({"internal_max_expired_seconds": 0}));
    let token = |changes: Value| {
        sign_default(&keys.rsa, &with(claims(json!("api.example.com")), changes)).unwrap()
    };
    let fresh = token(json!({}));
    let expired = token(json!({"iat": NOW - 900, "exp": NOW - 600}));
    // Past exp by 30 s: inside the edge's 60 s of skew, outside an internal bound of 0.
    let just_expired = token(json!({"iat": NOW - 300, "exp": NOW - 30}));
    let forged = sign_default(
        &SigningKey::generate(KeyKind::P256, "demo-ec").unwrap(),
        &claims(json!("api.example.com")),
    )
    .unwrap();

    let mut failures = Vec::new();
    for (name, cfg, token, metadata, reads, expect) in [
        (
            "fresh token",
            &cfg,
            &fresh,
            Some("internal"),
            0,
            Expect::Allow,
        ),
        (
            "forged token",
            &cfg,
            &forged,
            Some("internal"),
            0,
            Expect::Deny(401, "bad_signature"),
        ),
        (
            "expired, internal listener",
            &cfg,
            &expired,
            Some("internal"),
            1,
            Expect::Allow,
        ),
        (
            "expired, edge listener",
            &cfg,
            &expired,
            Some("edge"),
            1,
            Expect::Deny(401, "expired"),
        ),
        (
            "expired, no metadata, config edge",
            &cfg,
            &expired,
            None,
            1,
            Expect::Deny(401, "expired"),
        ),
        (
            "in skew, internal bound 0, internal",
            &bounded,
            &just_expired,
            Some("internal"),
            1,
            Expect::Deny(401, "expired"),
        ),
        (
            "in skew, internal bound 0, edge",
            &bounded,
            &just_expired,
            Some("edge"),
            1,
            Expect::Allow,
        ),
    ] {
        let count = Cell::new(0);
        let read = || {
            count.set(count.get() + 1);
            metadata.map(|m: &str| m.as_bytes().to_vec())
        };
        let headers = vec![
            (":path".to_string(), b"/".to_vec()),
            (
                "authorization".to_string(),
                format!("Bearer {token}").into_bytes(),
            ),
        ];
        let decision = evaluate(
            cfg,
            &Fetched::new(cfg),
            &mut TokenCache::new(cfg.cache),
            &Request {
                route: None,
                headers: &headers,
                listener_role: &read,
                header: &|_| None,
                cluster: &|| Some("web_cluster".to_owned()),
                now: NOW,
                fingerprint: false,
            },
        );
        check(name, &decision, &expect, &mut failures);
        if count.get() != reads {
            failures.push(format!(
                "{name}: listener role read {} times, want {reads}",
                count.get()
            ));
        }
        if (decision.facts.role.is_some()) != (reads > 0) {
            failures.push(format!("{name}: facts.role {:?}", decision.facts.role));
        }
    }
    assert_all_passed(&failures);
}

/// Signed tokens whose times lie at chrono's extremes. One of them (`nbf` within the skew of
/// chrono's earliest date) once panicked inside jwt-compact and aborted the VM.
#[test]
fn extreme_times_in_signed_tokens_are_decided() {
    let keys = demo_keys();
    let cfg = config(&keys, json!({"role": "edge"}));
    let api = || claims(json!("api.example.com"));
    let min = -8_334_601_228_800_i64; // chrono's earliest second, 262143 BCE
    let max = 8_210_266_876_799_i64; // chrono's latest second, 262142 CE
    let cases: Vec<(&str, Value, Expect, Expect)> = vec![
        (
            "nbf at chrono's earliest date",
            json!({"nbf": min}),
            Expect::Allow,
            Expect::Allow,
        ),
        (
            "nbf one second later",
            json!({"nbf": min + 1}),
            Expect::Allow,
            Expect::Allow,
        ),
        (
            "nbf at chrono's latest date",
            json!({"nbf": max}),
            Expect::Deny(401, "not_yet_valid"),
            Expect::Allow,
        ),
        (
            "exp at chrono's earliest date",
            json!({"exp": min}),
            Expect::Deny(401, "expired"),
            Expect::Allow,
        ),
        (
            "iat at chrono's latest date",
            json!({"iat": max}),
            Expect::Deny(401, "issued_in_future"),
            Expect::Allow,
        ),
        (
            "iat at chrono's earliest date: lifetime unbounded",
            json!({"iat": min}),
            Expect::Deny(401, "lifetime_too_long"),
            Expect::Deny(401, "lifetime_too_long"),
        ),
        (
            "exp beyond chrono's range",
            json!({"exp": max + 1}),
            Expect::Deny(401, "malformed"),
            Expect::Deny(401, "malformed"),
        ),
        (
            "nbf as i64::MIN",
            json!({"nbf": i64::MIN}),
            Expect::Deny(401, "malformed"),
            Expect::Deny(401, "malformed"),
        ),
    ];
    let mut failures = Vec::new();
    for (name, changes, at_edge, inside) in &cases {
        let token = sign_default(&keys.rsa, &with(api(), changes.clone())).unwrap();
        for (role, expect) in [(&b"edge"[..], at_edge), (&b"internal"[..], inside)] {
            let call = Call {
                token: Some(token.clone()),
                role: Some(role),
                ..Call::default()
            };
            let label = format!("{name} ({})", String::from_utf8_lossy(role));
            check(&label, &run(&cfg, &call), expect, &mut failures);
        }
    }
    assert_all_passed(&failures);
}

/// HTTP/2 delivers any bytes in `:path`. A path that is not UTF-8 cannot be searched for a
/// query token, so it is refused where tokens may come from the query, never read as `/`.
#[test]
fn a_path_that_is_not_utf8_is_refused_where_the_query_holds_tokens() {
    let keys = demo_keys();
    let token = sign_default(&keys.rsa, &claims(json!("api.example.com"))).unwrap();
    let forged = unsigned(
        json!({"alg": "RS256", "kid": "demo-rsa"}),
        &claims(json!("api.example.com")),
    );
    let decide = |cfg: &FilterConfig, path: &[u8]| {
        let headers: Vec<(String, Vec<u8>)> = vec![
            (":path".into(), path.to_vec()),
            (
                "authorization".into(),
                format!("Bearer {token}").into_bytes(),
            ),
        ];
        let decision = evaluate(
            cfg,
            &Fetched::new(cfg),
            &mut TokenCache::new(cfg.cache),
            &Request {
                route: None,
                headers: &headers,
                listener_role: &|| None,
                header: &|_| None,
                cluster: &|| Some("web_cluster".to_owned()),
                now: NOW,
                fingerprint: false,
            },
        );
        (decision.verdict, decision.facts.outcome.name())
    };
    let mut path = b"/orders\xff?access_token=".to_vec();
    path.extend_from_slice(forged.as_bytes());
    let with_params = config(&keys, json!({}));
    match decide(&with_params, &path) {
        (Verdict::Deny { denial, .. }, reason) => {
            assert_eq!((denial.status, reason), (400, "ambiguous"));
        }
        other => panic!("a non-UTF-8 path with a query token passed: {other:?}"),
    }
    // Without query-string tokens the path is not read, and the header token decides.
    let mut headers_only = config_json(&keys, json!({}));
    headers_only["providers"][0]
        .as_object_mut()
        .unwrap()
        .remove("from_params");
    let headers_only = FilterConfig::from_json(headers_only.to_string().as_bytes()).unwrap();
    assert!(matches!(
        decide(&headers_only, &path).0,
        Verdict::Allow(HeaderPlan { path: None, .. })
    ));
}

/// Envoy's serialisation of a struct or list for a property read (u32 count, (key, value)
/// length pairs, then NUL-terminated keys and values, little-endian); a list has empty values.
fn envoy_struct(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = u32::try_from(entries.len()).unwrap().to_le_bytes().to_vec();
    for (key, value) in entries {
        out.extend(u32::try_from(key.len()).unwrap().to_le_bytes());
        out.extend(u32::try_from(value.len()).unwrap().to_le_bytes());
    }
    for (key, value) in entries {
        out.extend(key.as_bytes());
        out.push(0);
        out.extend(*value);
        out.push(0);
    }
    out
}

fn envoy_list(items: &[&str]) -> Vec<u8> {
    let entries: Vec<(&str, &[u8])> = items.iter().map(|item| (*item, &b""[..])).collect();
    envoy_struct(&entries)
}

/// Per-route requirements from route metadata: `requirement`, `providers`, `scopes`; bad
/// metadata fails closed; owned headers are stripped whatever the route says.
#[test]
fn route_requirements_table() {
    let keys = demo_keys();
    let cfg = config(&keys, json!({}));
    let api = || claims(json!("api.example.com"));
    let token = sign_default(&keys.rsa, &api()).unwrap();
    let scoped = |scope: Value| sign_default(&keys.rsa, &with(api(), scope)).unwrap();
    let expired = sign_default(&keys.rsa, &with(api(), json!({"exp": NOW - 3600}))).unwrap();
    let route = |entries: &[(&str, &[u8])]| Some(envoy_struct(entries));
    let admin_list = envoy_list(&["orders:read", "admin"]);
    let other_issuer = envoy_list(&["https://other.example.com"]);
    let cases: Vec<(&str, Call, Expect)> = vec![
        (
            "no metadata, no token",
            Call::default(),
            Expect::Deny(401, "missing"),
        ),
        (
            "requirement none, no token",
            Call {
                route: route(&[("requirement", b"none")]),
                ..Call::default()
            },
            Expect::Allow,
        ),
        (
            "requirement none ignores an invalid token",
            Call {
                route: route(&[("requirement", b"none")]),
                token: Some(expired.clone()),
                ..Call::default()
            },
            Expect::Allow,
        ),
        (
            "allow_missing, no token",
            Call {
                route: route(&[("requirement", b"allow_missing")]),
                ..Call::default()
            },
            Expect::Allow,
        ),
        (
            "allow_missing, a valid token",
            Call {
                route: route(&[("requirement", b"allow_missing")]),
                token: Some(token.clone()),
                ..Call::default()
            },
            Expect::Allow,
        ),
        (
            "allow_missing, an expired token is still refused",
            Call {
                route: route(&[("requirement", b"allow_missing")]),
                token: Some(expired.clone()),
                ..Call::default()
            },
            Expect::Deny(401, "expired"),
        ),
        (
            "allow_missing, two tokens are still ambiguous",
            Call {
                route: route(&[("requirement", b"allow_missing")]),
                token: Some(token.clone()),
                path: "/?access_token=x",
                ..Call::default()
            },
            Expect::Deny(400, "ambiguous"),
        ),
        (
            "explicit required, no token",
            Call {
                route: route(&[("requirement", b"required")]),
                ..Call::default()
            },
            Expect::Deny(401, "missing"),
        ),
        (
            "providers: the issuer is listed",
            Call {
                route: route(&[("providers", ISS.as_bytes())]),
                token: Some(token.clone()),
                ..Call::default()
            },
            Expect::Allow,
        ),
        (
            "scopes held in scope",
            Call {
                route: route(&[("scopes", b"orders:read admin")]),
                token: Some(scoped(json!({"scope": "admin orders:read profile"}))),
                ..Call::default()
            },
            Expect::Allow,
        ),
        (
            "scopes held in scp",
            Call {
                route: route(&[("scopes", &admin_list)]),
                token: Some(scoped(json!({"scp": ["orders:read", "admin"]}))),
                ..Call::default()
            },
            Expect::Allow,
        ),
        (
            "one scope missing",
            Call {
                route: route(&[("scopes", &admin_list)]),
                token: Some(scoped(json!({"scope": "orders:read"}))),
                ..Call::default()
            },
            Expect::Deny(403, "insufficient_scope"),
        ),
        (
            "no scope claim at all",
            Call {
                route: route(&[("scopes", b"admin")]),
                token: Some(token.clone()),
                ..Call::default()
            },
            Expect::Deny(403, "insufficient_scope"),
        ),
        (
            "a scope as a prefix of another is not that scope",
            Call {
                route: route(&[("scopes", b"admin")]),
                token: Some(scoped(json!({"scope": "administrator"}))),
                ..Call::default()
            },
            Expect::Deny(403, "insufficient_scope"),
        ),
        (
            "scopes do not rescue an expired token",
            Call {
                route: route(&[("scopes", b"admin")]),
                token: Some(
                    sign_default(
                        &keys.rsa,
                        &with(api(), json!({"exp": NOW - 3600, "scope": "admin"})),
                    )
                    .unwrap(),
                ),
                ..Call::default()
            },
            Expect::Deny(401, "expired"),
        ),
        (
            "bad metadata: unknown requirement",
            Call {
                route: route(&[("requirement", b"optional")]),
                token: Some(token.clone()),
                ..Call::default()
            },
            Expect::Deny(500, "route_invalid"),
        ),
        (
            "bad metadata: an issuer no provider has",
            Call {
                route: route(&[("providers", &other_issuer)]),
                token: Some(token.clone()),
                ..Call::default()
            },
            Expect::Deny(500, "route_invalid"),
        ),
        (
            "bad metadata: a misspelt field",
            Call {
                route: route(&[("scope", b"admin")]),
                token: Some(token.clone()),
                ..Call::default()
            },
            Expect::Deny(500, "route_invalid"),
        ),
        (
            "bad metadata: not Envoy's serialisation",
            Call {
                route: Some(b"requirement=none".to_vec()),
                ..Call::default()
            },
            Expect::Deny(500, "route_invalid"),
        ),
    ];
    let mut failures = Vec::new();
    for (name, call, expect) in &cases {
        let decision = run(&cfg, call);
        check(name, &decision, expect, &mut failures);
        if let Verdict::Allow(plan) = &decision.verdict {
            // Removed, or set (a set replaces every client-sent copy).
            let owned = plan.remove.iter().any(|h| h == "x-jwt-sub")
                || plan.set.iter().any(|(h, _)| h == "x-jwt-sub");
            if !owned {
                failures.push(format!(
                    "{name}: client x-jwt-sub is not replaced: {plan:?}"
                ));
            }
        }
    }
    assert_all_passed(&failures);

    // What the challenges say, and what an anonymous request carries upstream.
    let denied = run(
        &cfg,
        &Call {
            route: route(&[("scopes", &admin_list)]),
            token: Some(scoped(json!({"scope": "orders:read"}))),
            ..Call::default()
        },
    );
    let Verdict::Deny { denial, .. } = &denied.verdict else {
        panic!("allowed without the admin scope");
    };
    let challenge = &denial
        .headers
        .iter()
        .find(|(n, _)| n == "www-authenticate")
        .unwrap()
        .1;
    assert!(
        challenge.contains(r#"error="insufficient_scope""#)
            && challenge.ends_with(r#"scope="orders:read admin""#),
        "{challenge}"
    );
    let anonymous = run(
        &cfg,
        &Call {
            route: route(&[("requirement", b"allow_missing")]),
            extra_headers: vec![("x-jwt-sub", "admin")],
            ..Call::default()
        },
    );
    let plan = allowed_plan(&anonymous);
    assert!(
        plan.set.is_empty(),
        "an anonymous request gets no identity: {plan:?}"
    );
    assert_eq!(anonymous.facts.outcome.name(), "anonymous");
    let refused = run(
        &cfg,
        &Call {
            route: route(&[("providers", &other_issuer)]),
            ..Call::default()
        },
    );
    let error = refused
        .facts
        .route_error
        .as_ref()
        .expect("the error is kept for the log");
    assert_eq!(error.field, "providers");
}

#[test]
fn cors_preflights_pass_without_a_token_and_nothing_else_does() {
    let keys = demo_keys();
    let cfg = config(&keys, json!({}));
    let preflight = |method: &'static str, origin: bool, acrm: bool| {
        let mut headers = vec![(":method", method), ("x-jwt-sub", "spoofed")];
        if origin {
            headers.push(("origin", "https://app.example.com"));
        }
        if acrm {
            headers.push(("access-control-request-method", "POST"));
        }
        headers
    };
    let decision = run(
        &cfg,
        &Call {
            extra_headers: preflight("OPTIONS", true, true),
            ..Call::default()
        },
    );
    assert_eq!(decision.facts.outcome.name(), "cors_preflight");
    // Anonymous: no identity headers, and the client's copies are stripped.
    let plan = allowed_plan(&decision);
    assert_eq!(plan.remove, vec!["x-jwt-sub".to_string()]);
    assert!(plan.set.is_empty(), "{plan:?}");

    let mut failures = Vec::new();
    for (name, headers) in [
        ("GET with CORS headers", preflight("GET", true, true)),
        ("OPTIONS without Origin", preflight("OPTIONS", false, true)),
        (
            "OPTIONS without Access-Control-Request-Method",
            preflight("OPTIONS", true, false),
        ),
        ("lower-case method", preflight("options", true, true)),
    ] {
        let decision = run(
            &cfg,
            &Call {
                extra_headers: headers,
                ..Call::default()
            },
        );
        check(
            name,
            &decision,
            &Expect::Deny(401, "missing"),
            &mut failures,
        );
    }
    // A "preflight" with a token is not one a browser sends: the token is checked.
    let bad = unsigned(
        json!({"alg": "RS256", "kid": "demo-rsa"}),
        &claims(json!("api.example.com")),
    );
    let decision = run(
        &cfg,
        &Call {
            token: Some(bad),
            extra_headers: preflight("OPTIONS", true, true),
            ..Call::default()
        },
    );
    check(
        "preflight with a bad token",
        &decision,
        &Expect::Deny(401, "bad_signature"),
        &mut failures,
    );
    // Turned off: a preflight needs a token like anything else.
    let strict = config(&keys, json!({"bypass_cors_preflight": false}));
    let decision = run(
        &strict,
        &Call {
            extra_headers: preflight("OPTIONS", true, true),
            ..Call::default()
        },
    );
    check(
        "bypass off",
        &decision,
        &Expect::Deny(401, "missing"),
        &mut failures,
    );
    // The lazy read is what a host without all headers answers with.
    let headers = vec![(":path".to_string(), b"/".to_vec())];
    let lookup = |name: &str| match name {
        ":method" => Some(b"OPTIONS".to_vec()),
        "origin" => Some(b"https://app.example.com".to_vec()),
        "access-control-request-method" => Some(b"PUT".to_vec()),
        _ => None,
    };
    let decision = evaluate(
        &cfg,
        &Fetched::new(&cfg),
        &mut TokenCache::new(cfg.cache),
        &Request {
            route: None,
            headers: &headers,
            listener_role: &|| None,
            header: &lookup,
            cluster: &|| None,
            now: NOW,
            fingerprint: false,
        },
    );
    check(
        "preflight read lazily",
        &decision,
        &Expect::Allow,
        &mut failures,
    );
    assert_all_passed(&failures);
}

#[test]
fn cookie_tokens_are_verified_and_leave_with_the_narrowed_token() {
    let keys = demo_keys();
    let mut json = config_json(&keys, json!({}));
    json["providers"][0]["from_cookies"] = json!(["at"]);
    let cfg = FilterConfig::from_json(json.to_string().as_bytes()).unwrap();
    let inner = narrowed_token(&keys, "orders", json!({"sub": "alice-orders"}));
    let outer = outer_with(&keys, json!({"orders": inner}), json!({}));
    let cookie = format!("theme=dark; at={outer}; lang=en");

    // Narrowed: the upstream gets the narrow token and every other cookie, not the broad one.
    let decision = run(
        &cfg,
        &Call {
            cluster: Some("orders_cluster"),
            extra_headers: vec![("cookie", &cookie)],
            ..Call::default()
        },
    );
    let plan = allowed_plan(&decision);
    assert_eq!(
        plan.set,
        vec![
            ("cookie".to_string(), "theme=dark; lang=en".to_string()),
            ("authorization".to_string(), format!("Bearer {inner}")),
            ("x-jwt-sub".to_string(), "alice-orders".to_string()),
        ]
    );
    // The only cookie: the header goes.
    let only = format!("at={outer}");
    let decision = run(
        &cfg,
        &Call {
            cluster: Some("orders_cluster"),
            extra_headers: vec![("cookie", &only)],
            ..Call::default()
        },
    );
    assert!(allowed_plan(&decision)
        .remove
        .contains(&"cookie".to_string()));
    // Not a narrowing target: the request goes on as it came.
    let decision = run(
        &cfg,
        &Call {
            extra_headers: vec![("cookie", &cookie)],
            ..Call::default()
        },
    );
    let plan = allowed_plan(&decision);
    assert!(
        plan.set.iter().all(|(name, _)| name != "cookie"),
        "{plan:?}"
    );
    assert!(!plan.remove.contains(&"cookie".to_string()));

    let mut failures = Vec::new();
    let forged = unsigned(
        json!({"alg": "RS256", "kid": "demo-rsa"}),
        &claims(json!("api.example.com")),
    );
    let forged_cookie = format!("at={forged}");
    let twice = format!("at={outer}; at={outer}");
    for (name, call, expect) in [
        (
            "forged cookie",
            Call {
                extra_headers: vec![("cookie", &forged_cookie)],
                ..Call::default()
            },
            Expect::Deny(401, "bad_signature"),
        ),
        (
            "cookie and header",
            Call {
                token: Some(outer.clone()),
                extra_headers: vec![("cookie", &cookie)],
                ..Call::default()
            },
            Expect::Deny(400, "ambiguous"),
        ),
        (
            "cookie twice",
            Call {
                extra_headers: vec![("cookie", &twice)],
                ..Call::default()
            },
            Expect::Deny(400, "ambiguous"),
        ),
    ] {
        check(name, &run(&cfg, &call), &expect, &mut failures);
    }
    // A provider that does not read cookies does not take a token from one.
    let plain = config(&keys, json!({}));
    let decision = run(
        &plain,
        &Call {
            extra_headers: vec![("cookie", &cookie)],
            ..Call::default()
        },
    );
    check(
        "cookies not configured",
        &decision,
        &Expect::Deny(401, "missing"),
        &mut failures,
    );
    assert_all_passed(&failures);
}

#[test]
fn refresh_before_expiry_at_the_edge_only() {
    let keys = demo_keys();
    let mut json = config_json(&keys, json!({"refresh_hint_header": "x-refresh-in"}));
    json["providers"][0]["min_remaining_seconds"] = json!(30);
    json["providers"][0]["refresh_hint_seconds"] = json!(120);
    let cfg = FilterConfig::from_json(json.to_string().as_bytes()).unwrap();
    let token = |left: i64| {
        sign_default(
            &keys.rsa,
            &with(claims(json!("api.example.com")), json!({"exp": NOW + left})),
        )
        .unwrap()
    };
    let call = |left: i64, role: Option<&'static [u8]>| Call {
        token: Some(token(left)),
        role,
        ..Call::default()
    };

    let mut failures = Vec::new();
    let soon = run(&cfg, &call(29, Some(b"edge")));
    check(
        "29 s left at the edge",
        &soon,
        &Expect::Deny(401, "expires_too_soon"),
        &mut failures,
    );
    if let Verdict::Deny { denial, .. } = &soon.verdict {
        let challenge = &denial
            .headers
            .iter()
            .find(|(n, _)| n == "www-authenticate")
            .unwrap()
            .1;
        assert!(
            challenge.contains("error=\"invalid_token\"")
                && challenge.contains("error_description=\"token expires too soon\""),
            "{challenge}"
        );
    }
    check(
        "29 s left inside",
        &run(&cfg, &call(29, Some(b"internal"))),
        &Expect::Allow,
        &mut failures,
    );
    assert_all_passed(&failures);

    let hint = |left: i64, role: Option<&'static [u8]>| {
        let decision = run(&cfg, &call(left, role));
        allowed_plan(&decision).response.clone()
    };
    assert_eq!(
        hint(30, Some(b"edge")),
        vec![("x-refresh-in".to_string(), "30".to_string())]
    );
    assert_eq!(
        hint(119, None),
        vec![("x-refresh-in".to_string(), "119".to_string())]
    );
    assert_eq!(hint(120, Some(b"edge")), vec![]);
    assert_eq!(hint(3600, Some(b"edge")), vec![]);
    // Never on an internal listener, however little is left.
    assert_eq!(hint(31, Some(b"internal")), vec![]);
    assert_eq!(hint(5, Some(b"internal")), vec![]);
    // Narrowed: the hint is about the token the client holds.
    let inner = narrowed_token(&keys, "orders", json!({"exp": NOW + 60}));
    let outer = outer_with(&keys, json!({"orders": inner}), json!({"exp": NOW + 90}));
    let decision = run(
        &cfg,
        &Call {
            token: Some(outer),
            cluster: Some("orders_cluster"),
            role: Some(b"edge"),
            ..Call::default()
        },
    );
    assert_eq!(
        allowed_plan(&decision).response,
        vec![("x-refresh-in".to_string(), "90".to_string())]
    );
    // No hint configured: nothing on the response.
    let plain = config(&keys, json!({}));
    let decision = run(
        &plain,
        &Call {
            token: Some(token(5)),
            role: Some(b"edge"),
            ..Call::default()
        },
    );
    assert!(allowed_plan(&decision).response.is_empty());
}
