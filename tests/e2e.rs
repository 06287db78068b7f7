//! End-to-end: the built filter in a real Envoy (`envoy/demo.yaml`), a real echo upstream and real
//! HTTP requests. One Envoy per `#[test]`; each test runs a table of named cases and reports every
//! failing case by name, with Envoy's log.
//!
//! Every table runs twice, over HTTP/1.1 and over HTTP/2 (cleartext, prior knowledge), with the
//! same assertions; Envoy's per-codec request counters must show each request on the transport
//! it was sent on. A trap in Envoy's log fails the test (see `support`).
//!
//! Routes of the demo config: edge listener `/orders` → orders_cluster (narrowed to aud `orders`),
//! `/inventory` → inventory_cluster (aud `inventory`), `/` → web_cluster (not listed: token kept);
//! internal listener (role `internal` from listener metadata) `/payments` → payments_cluster
//! (aud `payments`), `/` → orders_cluster (not listed there).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

mod support;

use std::time::Duration;

use jwt_relay_cli::keys::KeyKind;
use jwt_relay_cli::token::now;
use serde_json::json;
use support::tokens::{
    claims, sign, sign_with, signature_of, stranger_key, tamper_signature, unsigned, DemoKeys,
    EDGE_AUDIENCE, SUB,
};
use support::{agent, get, run_cases, Client, Echo, Envoy, Reply, RequestCounts, Transport};

#[derive(Clone, Copy, Debug)]
enum Listener {
    Edge,
    Internal,
}

impl Listener {
    fn name(self) -> &'static str {
        match self {
            Listener::Edge => "edge",
            Listener::Internal => "internal",
        }
    }
}

/// One request and what must come of it.
struct Case {
    name: &'static str,
    listener: Listener,
    /// `GET` unless a case says otherwise (`OPTIONS` for CORS preflights).
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    expect: Expect,
}

enum Expect {
    /// The echo upstream answered 200 and had received what every check says.
    Forwarded(Vec<Seen>),
    /// The filter answered itself; the upstream was not reached.
    /// `error` is the body's `error` field (`None`: any non-empty string).
    Denied {
        status: u16,
        challenge: Challenge,
        error: Option<&'static str>,
    },
    /// 500 with a `server_error` body and no Bearer challenge (bad route metadata).
    ServerError,
    /// 403 from Envoy's RBAC filter (after jwt-relay): no Bearer challenge, upstream not reached.
    RbacDenied,
}

/// A check on what the upstream received.
enum Seen {
    /// Exactly one header of this name, with exactly this value.
    Header(&'static str, String),
    /// No header of this name.
    NoHeader(&'static str),
    /// The request target (path and query) exactly.
    Path(String),
    /// This text appears in no header value and not in the path.
    Nowhere(String),
    /// The client's answer carries the refresh hint with a value in this range of seconds
    /// (`None`: no hint at all).
    RefreshHint(Option<(u64, u64)>),
}

const REFRESH_HINT: &str = "x-token-expires-in";

/// The expected `WWW-Authenticate` response header.
enum Challenge {
    /// Exactly this value.
    Exactly(&'static str),
    /// `Bearer realm="jwt-relay", error="<code>", error_description="<something>"`.
    Error(&'static str),
}

const REALM_ONLY: &str = r#"Bearer realm="jwt-relay""#;

fn bearer(token: &str) -> Vec<(String, String)> {
    vec![("authorization".to_string(), format!("Bearer {token}"))]
}

fn header(name: &str, value: &str) -> (String, String) {
    (name.to_string(), value.to_string())
}

fn forwarded(seen: Vec<Seen>) -> Expect {
    Expect::Forwarded(seen)
}

fn invalid_token() -> Expect {
    Expect::Denied {
        status: 401,
        challenge: Challenge::Error("invalid_token"),
        error: Some("invalid_token"),
    }
}

fn insufficient_scope() -> Expect {
    Expect::Denied {
        status: 403,
        challenge: Challenge::Error("insufficient_scope"),
        error: Some("insufficient_scope"),
    }
}

fn invalid_request() -> Expect {
    Expect::Denied {
        status: 400,
        challenge: Challenge::Error("invalid_request"),
        error: Some("invalid_request"),
    }
}

/// The upstream got exactly `token` as the bearer token and the verified `sub`.
fn passed_as_is(token: &str) -> Vec<Seen> {
    vec![
        Seen::Header("authorization", format!("Bearer {token}")),
        Seen::Header("x-jwt-sub", SUB.to_string()),
    ]
}

/// The upstream got exactly `inner` and nothing of `outer`.
fn narrowed(inner: &str, outer: &str) -> Vec<Seen> {
    vec![
        Seen::Header("authorization", format!("Bearer {inner}")),
        Seen::Header("x-jwt-sub", SUB.to_string()),
        Seen::Nowhere(outer.to_string()),
        Seen::Nowhere(signature_of(outer).to_string()),
    ]
}

fn case(
    name: &'static str,
    listener: Listener,
    path: &str,
    headers: Vec<(String, String)>,
    expect: Expect,
) -> Case {
    Case {
        name,
        listener,
        method: "GET",
        path: path.to_string(),
        headers,
        expect,
    }
}

/// The client really sends a repeated header twice (checked against the echo upstream directly),
/// so what the filter sees for "two authorization headers" is Envoy's doing, not the client's.
#[test]
fn client_sends_a_repeated_header_twice() {
    let port = jwt_relay_cli::echo::spawn("127.0.0.1:0").unwrap();
    let reply = get(
        &agent(),
        &format!("http://127.0.0.1:{port}/"),
        &[
            header("authorization", "Bearer a"),
            header("authorization", "Bearer b"),
        ],
    )
    .unwrap();
    let echo = Echo::parse(&reply).unwrap();
    assert_eq!(
        echo.header_values("authorization"),
        ["Bearer a", "Bearer b"]
    );
}

#[test]
fn edge_listener() {
    let keys = DemoKeys::load();
    let now = now();
    let edge = Listener::Edge;
    // An edge token whose only embedded token is `inner`, for `orders`, presented as a bearer.
    let carrying_orders = |inner: String| {
        bearer(&sign(
            &keys.rsa,
            &claims(json!({"embedded_tokens": {"orders": inner}})),
        ))
    };

    let rs256 = sign(&keys.rsa, &claims(json!({})));
    let es256 = sign(&keys.ec, &claims(json!({})));
    let eddsa = sign(&keys.ed25519, &claims(json!({})));

    // Narrowed tokens: expire before their parent (exp now+600).
    let orders_inner = sign(
        &keys.ec,
        &claims(json!({"aud": "orders", "exp": now + 300})),
    );
    let inventory_inner = sign(
        &keys.ed25519,
        &claims(json!({"aud": "inventory", "exp": now + 300})),
    );
    let with_orders = sign(
        &keys.rsa,
        &claims(json!({"embedded_tokens": {"orders": orders_inner}})),
    );
    let with_inventory = sign(
        &keys.rsa,
        &claims(json!({"embedded_tokens": {"inventory": inventory_inner, "orders": orders_inner}})),
    );

    let expired = json!({"iat": now - 7200, "exp": now - 3600});
    let expired_orders = sign(
        &keys.rsa,
        &claims(json!({"aud": "orders", "iat": now - 7200, "exp": now - 3600})),
    );
    let expired_both_audiences = sign(
        &keys.rsa,
        &claims(json!({"aud": [EDGE_AUDIENCE, "orders"], "iat": now - 7200, "exp": now - 3600})),
    );

    let cases = vec![
        case(
            "valid RS256 token passes unchanged",
            edge,
            "/",
            bearer(&rs256),
            forwarded(passed_as_is(&rs256)),
        ),
        case(
            "valid ES256 token passes unchanged",
            edge,
            "/",
            bearer(&es256),
            forwarded(passed_as_is(&es256)),
        ),
        case(
            "valid EdDSA token passes unchanged",
            edge,
            "/",
            bearer(&eddsa),
            forwarded(passed_as_is(&eddsa)),
        ),
        case(
            "bearer scheme is case-insensitive",
            edge,
            "/",
            vec![header("authorization", &format!("bearer {rs256}"))],
            forwarded(vec![
                Seen::Header("authorization", format!("bearer {rs256}")),
                Seen::Header("x-jwt-sub", SUB.to_string()),
            ]),
        ),
        case(
            "expired within clock skew (60 s) passes",
            edge,
            "/",
            bearer(&sign(
                &keys.rsa,
                &claims(json!({"iat": now - 600, "exp": now - 20})),
            )),
            forwarded(vec![Seen::Header("x-jwt-sub", SUB.to_string())]),
        ),
        case(
            "expired token",
            edge,
            "/",
            bearer(&sign(&keys.rsa, &claims(expired.clone()))),
            invalid_token(),
        ),
        case(
            "not yet valid token",
            edge,
            "/",
            bearer(&sign(
                &keys.rsa,
                &claims(json!({"nbf": now + 3600, "exp": now + 7200})),
            )),
            invalid_token(),
        ),
        case(
            "token without exp (require_expiration)",
            edge,
            "/",
            bearer(&sign(&keys.rsa, &claims(json!({"exp": null})))),
            invalid_token(),
        ),
        case(
            "lifetime over max_lifetime_seconds",
            edge,
            "/",
            bearer(&sign(
                &keys.rsa,
                &claims(json!({"iat": now, "exp": now + 2 * 86400})),
            )),
            invalid_token(),
        ),
        case(
            "bad signature",
            edge,
            "/",
            bearer(&tamper_signature(&rs256)),
            invalid_token(),
        ),
        case(
            "forged: another key with the demo kid",
            edge,
            "/",
            bearer(&sign(
                &stranger_key(KeyKind::Rsa, "demo-rsa"),
                &claims(json!({})),
            )),
            invalid_token(),
        ),
        case(
            "unknown kid",
            edge,
            "/",
            bearer(&sign_with(
                &keys.rsa,
                "RS256",
                json!({"kid": "no-such-kid"}),
                &claims(json!({})),
            )),
            invalid_token(),
        ),
        case(
            "wrong iss",
            edge,
            "/",
            bearer(&sign(
                &keys.rsa,
                &claims(json!({"iss": "https://evil.example.com"})),
            )),
            invalid_token(),
        ),
        case(
            "wrong aud",
            edge,
            "/",
            bearer(&sign(
                &keys.rsa,
                &claims(json!({"aud": "other.example.com"})),
            )),
            invalid_token(),
        ),
        case(
            "alg none",
            edge,
            "/",
            bearer(&unsigned("demo-rsa", &claims(json!({})))),
            invalid_token(),
        ),
        case(
            "alg not allowed: PS256 with the demo RSA key",
            edge,
            "/",
            bearer(&sign_with(
                &keys.rsa,
                "PS256",
                json!({}),
                &claims(json!({})),
            )),
            invalid_token(),
        ),
        case(
            "alg not allowed: HS256",
            edge,
            "/",
            bearer(&sign_with(
                &stranger_key(KeyKind::Hmac, "demo-rsa"),
                "HS256",
                json!({}),
                &claims(json!({})),
            )),
            invalid_token(),
        ),
        case(
            "key does not fit alg: ES256 naming the RSA kid",
            edge,
            "/",
            bearer(&sign_with(
                &keys.ec,
                "ES256",
                json!({"kid": "demo-rsa"}),
                &claims(json!({})),
            )),
            invalid_token(),
        ),
        case(
            "malformed: not a JWT",
            edge,
            "/",
            bearer("not-a-jwt"),
            invalid_token(),
        ),
        case(
            "malformed: bad base64 segments",
            edge,
            "/",
            bearer("e30.!!!.@@@"),
            invalid_token(),
        ),
        case(
            "missing token",
            edge,
            "/",
            vec![],
            Expect::Denied {
                status: 401,
                challenge: Challenge::Exactly(REALM_ONLY),
                error: None,
            },
        ),
        // Envoy folds a repeated `authorization` into one value, "Bearer A,Bearer B" (it is one
        // of Envoy's inline headers), so this is what the filter sees; a JWT has no comma.
        case(
            "two authorization headers",
            edge,
            "/",
            vec![
                header("authorization", &format!("Bearer {rs256}")),
                header("authorization", &format!("Bearer {es256}")),
            ],
            invalid_request(),
        ),
        case(
            "token in header and in ?access_token=",
            edge,
            &format!("/?access_token={es256}"),
            bearer(&rs256),
            invalid_request(),
        ),
        case(
            "?access_token= to an unlisted cluster is kept as it came",
            edge,
            &format!("/?access_token={rs256}&page=2"),
            vec![],
            forwarded(vec![
                Seen::Path(format!("/?access_token={rs256}&page=2")),
                Seen::NoHeader("authorization"),
                Seen::Header("x-jwt-sub", SUB.to_string()),
            ]),
        ),
        case(
            "/orders sees only the narrowed orders token",
            edge,
            "/orders/42",
            bearer(&with_orders),
            forwarded({
                let mut seen = narrowed(&orders_inner, &with_orders);
                seen.push(Seen::Path("/orders/42".to_string()));
                seen
            }),
        ),
        case(
            "/orders with ?access_token=: param removed, narrowed token in the header",
            edge,
            &format!("/orders/42?access_token={with_orders}&page=2"),
            vec![],
            forwarded({
                let mut seen = narrowed(&orders_inner, &with_orders);
                seen.push(Seen::Path("/orders/42?page=2".to_string()));
                seen
            }),
        ),
        case(
            "/orders with a percent-encoded ?access%5Ftoken=: decoded, removed, narrowed",
            edge,
            &format!(
                "/orders/42?access%5Ftoken={}&page=2",
                with_orders.replace('.', "%2E")
            ),
            vec![],
            forwarded({
                let mut seen = narrowed(&orders_inner, &with_orders);
                seen.push(Seen::Path("/orders/42?page=2".to_string()));
                seen
            }),
        ),
        case(
            "/inventory sees only the narrowed inventory token",
            edge,
            "/inventory/7",
            bearer(&with_inventory),
            forwarded(narrowed(&inventory_inner, &with_inventory)),
        ),
        case(
            "/inventory without an inventory token",
            edge,
            "/inventory/7",
            bearer(&with_orders),
            insufficient_scope(),
        ),
        case(
            "/orders with a plain token (nothing embedded)",
            edge,
            "/orders/42",
            bearer(&rs256),
            insufficient_scope(),
        ),
        case(
            "/orders: embedded token for another audience is refused",
            edge,
            "/orders/42",
            carrying_orders(sign(
                &keys.ec,
                &claims(json!({"aud": "inventory", "exp": now + 300})),
            )),
            invalid_token(),
        ),
        case(
            "/orders: forged embedded token is refused",
            edge,
            "/orders/42",
            carrying_orders(sign(
                &stranger_key(KeyKind::P256, "demo-ec"),
                &claims(json!({"aud": "orders", "exp": now + 300})),
            )),
            invalid_token(),
        ),
        case(
            "/orders: expired embedded token is refused at the edge",
            edge,
            "/orders/42",
            carrying_orders(sign(
                &keys.ec,
                &claims(json!({"aud": "orders", "iat": now - 7200, "exp": now - 3600})),
            )),
            invalid_token(),
        ),
        case(
            "/orders: embedded token outliving its parent is refused",
            edge,
            "/orders/42",
            carrying_orders(sign(
                &keys.ec,
                &claims(json!({"aud": "orders", "exp": now + 1200})),
            )),
            invalid_token(),
        ),
        case(
            "client-sent x-jwt-sub is replaced, not appended",
            edge,
            "/",
            vec![
                header("x-jwt-sub", "evil"),
                header("authorization", &format!("Bearer {rs256}")),
            ],
            forwarded(vec![Seen::Header("x-jwt-sub", SUB.to_string())]),
        ),
        case(
            "two client-sent x-jwt-sub headers are both replaced",
            edge,
            "/",
            vec![
                header("x-jwt-sub", "evil"),
                header("x-jwt-sub", "mallory"),
                header("authorization", &format!("Bearer {rs256}")),
            ],
            forwarded(vec![Seen::Header("x-jwt-sub", SUB.to_string())]),
        ),
        case(
            "client-sent x-jwt-sub is replaced on a narrowed route",
            edge,
            "/orders/1",
            vec![
                header("x-jwt-sub", "evil"),
                header("authorization", &format!("Bearer {with_orders}")),
            ],
            forwarded(narrowed(&orders_inner, &with_orders)),
        ),
        case(
            "role override, edge half: expired token for [api, orders] is refused",
            edge,
            "/",
            bearer(&expired_both_audiences),
            invalid_token(),
        ),
        case(
            "expired narrowed orders token is refused at the edge",
            edge,
            "/",
            bearer(&expired_orders),
            invalid_token(),
        ),
    ];

    run(&Envoy::start_demo("edge"), &cases);
}

/// ES384 (P-384) and ES512 (P-521) at the edge: the demo config's edge provider with the two
/// algorithms allowed and a fresh key of each curve in its local JWKS. Valid tokens pass as they
/// came; a changed signature, a stranger's key of the right curve, and every curve/alg mix-up
/// (an ES384 header on the P-521 kid, ES256 on the P-384 kid, an ES512 signature naming the P-384
/// kid) are a 401 — counted as bad_signature or no_key_for_algorithm, as each should be.
#[test]
fn es384_and_es512_at_the_edge() {
    let p384 = stranger_key(KeyKind::P384, "e2e-p384");
    let p521 = stranger_key(KeyKind::P521, "e2e-p521");
    let ed25519_jwk = r#"{"alg": "EdDSA", "crv": "Ed25519", "kid": "demo-ed25519", "kty": "OKP", "use": "sig", "x": "f3B0GygV-Zxr5RtW2y5pTi2CfVykbgRjV6suzsQxd0o"}"#;
    let with_keys = format!(
        "{ed25519_jwk}, {}, {}",
        p384.public_jwk(),
        p521.public_jwk()
    );
    let envoy = Envoy::start_demo_with("es384", &support::wasm_path(), |yaml| {
        let yaml = support::replace_all(
            &yaml,
            r#""algorithms": ["RS256", "ES256", "EdDSA"],"#,
            r#""algorithms": ["RS256", "ES256", "ES384", "ES512", "EdDSA"],"#,
        );
        support::replace_all(&yaml, ed25519_jwk, &with_keys)
    });
    let edge = Listener::Edge;
    let es384 = sign(&p384, &claims(json!({})));
    let es512 = sign(&p521, &claims(json!({})));
    assert!(es384.starts_with("eyJhbGciOiJFUzM4NCI"), "{es384}");
    assert!(es512.starts_with("eyJhbGciOiJFUzUxMiI"), "{es512}");
    let bad_signature = [
        ("ES384 with a changed signature", tamper_signature(&es384)),
        ("ES512 with a changed signature", tamper_signature(&es512)),
        (
            "ES384 by a stranger's P-384 key under the P-384 kid",
            sign(&stranger_key(KeyKind::P384, "e2e-p384"), &claims(json!({}))),
        ),
        (
            "ES512 by a stranger's P-521 key under the P-521 kid",
            sign(&stranger_key(KeyKind::P521, "e2e-p521"), &claims(json!({}))),
        ),
    ];
    let no_key_for_algorithm = [
        (
            "wrong curve: an ES384 header on the P-521 kid",
            sign_with(&p521, "ES512", json!({"alg": "ES384"}), &claims(json!({}))),
        ),
        (
            "wrong curve: an ES512 signature naming the P-384 kid",
            sign_with(
                &p521,
                "ES512",
                json!({"kid": "e2e-p384"}),
                &claims(json!({})),
            ),
        ),
        (
            "wrong curve: an ES256 header on the P-384 kid",
            sign_with(&p384, "ES384", json!({"alg": "ES256"}), &claims(json!({}))),
        ),
        (
            "wrong curve: an ES384 header on the P-256 demo kid",
            sign_with(
                &p384,
                "ES384",
                json!({"kid": "demo-ec"}),
                &claims(json!({})),
            ),
        ),
    ];
    let mut cases = vec![
        case(
            "valid ES384 token passes unchanged",
            edge,
            "/",
            bearer(&es384),
            forwarded(passed_as_is(&es384)),
        ),
        case(
            "valid ES512 token passes unchanged",
            edge,
            "/",
            bearer(&es512),
            forwarded(passed_as_is(&es512)),
        ),
    ];
    for (name, token) in bad_signature.iter().chain(&no_key_for_algorithm) {
        cases.push(case(name, edge, "/", bearer(token), invalid_token()));
    }
    run(&envoy, &cases);

    // Each refusal for its own reason, on both transports.
    let count = |name: &str, stats: &[(String, u64)]| {
        let full = format!("wasmcustom.jwt_relay.denied.{name}");
        stats
            .iter()
            .find(|(n, _)| *n == full)
            .map_or(0, |(_, v)| *v)
    };
    let transports = support::Transport::ALL.len() as u64;
    let expected = [
        ("bad_signature", transports * bad_signature.len() as u64),
        (
            "no_key_for_algorithm",
            transports * no_key_for_algorithm.len() as u64,
        ),
    ];
    support::poll(Duration::from_secs(5), || {
        let stats = envoy.stats("wasmcustom.jwt_relay.")?;
        let got: Vec<(&str, u64)> = expected
            .iter()
            .map(|(name, _)| (*name, count(name, &stats)))
            .collect();
        if got
            .iter()
            .zip(&expected)
            .all(|((_, got), (_, want))| got == want)
        {
            Ok(())
        } else {
            Err(format!("denials {got:?}, expected {expected:?}"))
        }
    })
    .unwrap();
}

#[test]
fn internal_listener() {
    let keys = DemoKeys::load();
    let now = now();
    let internal = Listener::Internal;
    let expired =
        |aud: serde_json::Value| claims(json!({"aud": aud, "iat": now - 7200, "exp": now - 3600}));

    let expired_orders = sign(&keys.rsa, &expired(json!("orders")));
    let forged_orders = sign(
        &stranger_key(KeyKind::Rsa, "demo-rsa"),
        &expired(json!("orders")),
    );
    let expired_both_audiences = sign(&keys.rsa, &expired(json!([EDGE_AUDIENCE, "orders"])));

    let payments_inner = sign(
        &keys.ed25519,
        &claims(json!({"aud": "payments", "exp": now + 300})),
    );
    let orders_with_payments = sign(
        &keys.ec,
        &claims(
            json!({"aud": "orders", "exp": now + 600, "embedded_tokens": {"payments": payments_inner}}),
        ),
    );
    // The whole chain expired: an internal hop checks neither exp.
    let expired_payments_inner = sign(
        &keys.ed25519,
        &claims(json!({"aud": "payments", "iat": now - 7200, "exp": now - 3700})),
    );
    let expired_orders_with_payments = sign(
        &keys.ec,
        &claims(json!({
            "aud": "orders", "iat": now - 7200, "exp": now - 3600,
            "embedded_tokens": {"payments": expired_payments_inner}
        })),
    );

    let cases = vec![
        case(
            "expired, well-signed narrowed orders token passes",
            internal,
            "/",
            bearer(&expired_orders),
            forwarded(passed_as_is(&expired_orders)),
        ),
        case(
            "forged orders token (same kid, other key) fails",
            internal,
            "/",
            bearer(&forged_orders),
            invalid_token(),
        ),
        case(
            "role override, internal half: listener metadata beats the config's \"edge\"",
            internal,
            "/",
            bearer(&expired_both_audiences),
            forwarded(passed_as_is(&expired_both_audiences)),
        ),
        case(
            "token for the edge audience only fails (aud still checked)",
            internal,
            "/",
            bearer(&sign(&keys.rsa, &claims(json!({})))),
            invalid_token(),
        ),
        case(
            "wrong iss fails",
            internal,
            "/",
            bearer(&sign(
                &keys.rsa,
                &claims(json!({"aud": "orders", "iss": "https://evil.example.com"})),
            )),
            invalid_token(),
        ),
        case(
            "bad signature fails",
            internal,
            "/",
            bearer(&tamper_signature(&expired_orders)),
            invalid_token(),
        ),
        case(
            "alg none fails",
            internal,
            "/",
            bearer(&unsigned("demo-rsa", &expired(json!("orders")))),
            invalid_token(),
        ),
        case(
            "missing token",
            internal,
            "/",
            vec![],
            Expect::Denied {
                status: 401,
                challenge: Challenge::Exactly(REALM_ONLY),
                error: None,
            },
        ),
        case(
            "/payments sees only the narrowed payments token",
            internal,
            "/payments/9",
            bearer(&orders_with_payments),
            forwarded({
                let mut seen = narrowed(&payments_inner, &orders_with_payments);
                seen.push(Seen::Path("/payments/9".to_string()));
                seen
            }),
        ),
        case(
            "/payments with the whole chain expired is still narrowed",
            internal,
            "/payments/9",
            bearer(&expired_orders_with_payments),
            forwarded(narrowed(
                &expired_payments_inner,
                &expired_orders_with_payments,
            )),
        ),
        case(
            "/payments without a payments token",
            internal,
            "/payments/9",
            bearer(&expired_orders),
            insufficient_scope(),
        ),
        case(
            "client-sent x-jwt-sub is replaced, not appended",
            internal,
            "/",
            vec![
                header("authorization", &format!("Bearer {expired_orders}")),
                header("x-jwt-sub", "evil"),
            ],
            forwarded(passed_as_is(&expired_orders)),
        ),
    ];

    run(&Envoy::start_demo("internal"), &cases);
}

/// Runs every case over each transport (HTTP/1.1, then HTTP/2); then checks that Envoy counted
/// each request on the transport it was sent on, and that its log shows no trap.
fn run(envoy: &Envoy, cases: &[Case]) {
    let listeners = ["edge", "internal"];
    let before = envoy.request_counts(&listeners).unwrap();
    let mut sent = RequestCounts::new();
    let runs: Vec<(Transport, &Case)> = Transport::ALL
        .iter()
        .flat_map(|&t| cases.iter().map(move |c| (t, c)))
        .collect();
    let clients: Vec<Client> = Transport::ALL.iter().map(|&t| Client::new(t)).collect();
    run_cases(
        &runs,
        |(t, c)| format!("{}: {}: {}", t.name(), c.listener.name(), c.name),
        |&(t, c)| {
            let client = clients.iter().find(|cl| cl.transport() == t).unwrap();
            let reply = client.send(
                c.method,
                &format!("{}{}", envoy.url(c.listener.name()), c.path),
                &c.headers,
            )?;
            check(c, &reply)
        },
    );
    for (t, c) in &runs {
        *sent.entry((c.listener.name().to_string(), *t)).or_insert(0) += 1;
    }
    envoy.await_request_counts(&before, &sent);
    envoy.assert_no_traps();
}

fn check(case: &Case, reply: &Reply) -> Result<(), String> {
    match &case.expect {
        Expect::ServerError => {
            let body = reply.json()?;
            if reply.status != 500
                || body["error"] != "server_error"
                || !reply.header_values("www-authenticate").is_empty()
            {
                return Err(format!(
                    "expected 500 server_error without a challenge, got {} {:?} {}",
                    reply.status,
                    reply.header_values("www-authenticate"),
                    reply.body
                ));
            }
            Ok(())
        }
        Expect::Forwarded(seen) => {
            if reply.status != 200 {
                return Err(format!(
                    "expected 200 from the upstream, got {} (www-authenticate {:?}, body {:?})",
                    reply.status,
                    reply.header_values("www-authenticate"),
                    reply.body
                ));
            }
            let echo = Echo::parse(reply)?;
            for check in seen {
                match check {
                    Seen::RefreshHint(expected) => check_refresh_hint(*expected, reply)?,
                    _ => check_seen(check, &echo)?,
                }
            }
            Ok(())
        }
        Expect::RbacDenied => {
            if reply.status != 403
                || !reply.body.contains("RBAC: access denied")
                || !reply.header_values("www-authenticate").is_empty()
            {
                return Err(format!(
                    "expected Envoy's RBAC 403, got {} {:?} {:?}",
                    reply.status,
                    reply.header_values("www-authenticate"),
                    reply.body
                ));
            }
            Ok(())
        }
        Expect::Denied {
            status,
            challenge,
            error,
        } => {
            if reply.status != *status {
                return Err(format!(
                    "expected status {status}, got {} (body {:?})",
                    reply.status, reply.body
                ));
            }
            let challenges = reply.header_values("www-authenticate");
            let [value] = challenges.as_slice() else {
                return Err(format!(
                    "expected one WWW-Authenticate header, got {challenges:?}"
                ));
            };
            match challenge {
                Challenge::Exactly(expected) if value != expected => {
                    return Err(format!(
                        "WWW-Authenticate: expected {expected:?}, got {value:?}"
                    ));
                }
                Challenge::Error(code) => {
                    let prefix =
                        format!(r#"Bearer realm="jwt-relay", error="{code}", error_description=""#);
                    if !(value.starts_with(&prefix)
                        && value.ends_with('"')
                        && value.len() > prefix.len() + 1)
                    {
                        return Err(format!(
                            "WWW-Authenticate: expected {prefix}...\", got {value:?}"
                        ));
                    }
                }
                Challenge::Exactly(_) => {}
            }
            let body = reply.json()?;
            if body.get("headers").is_some() {
                return Err(format!("the request reached the upstream: {}", reply.body));
            }
            let error_ok = match error {
                Some(code) => body["error"] == *code,
                None => body["error"].as_str().is_some_and(|e| !e.is_empty()),
            };
            if !error_ok {
                return Err(format!(
                    "body error: expected {error:?}, got {}",
                    body["error"]
                ));
            }
            let described = body["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty());
            if !described {
                return Err(format!("body has no error_description: {}", reply.body));
            }
            for token in sent_tokens(case) {
                let leaked = reply.body.contains(token)
                    || reply.headers.iter().any(|(_, v)| v.contains(token));
                if leaked {
                    return Err("the response echoes the token".to_string());
                }
            }
            Ok(())
        }
    }
}

fn check_refresh_hint(expected: Option<(u64, u64)>, reply: &Reply) -> Result<(), String> {
    let values = reply.header_values(REFRESH_HINT);
    match (expected, values.as_slice()) {
        (None, []) => Ok(()),
        (Some((low, high)), [value])
            if value
                .parse::<u64>()
                .is_ok_and(|s| (low..=high).contains(&s)) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "{REFRESH_HINT}: expected {expected:?}, got {values:?}"
        )),
    }
}

fn check_seen(check: &Seen, echo: &Echo) -> Result<(), String> {
    match check {
        Seen::RefreshHint(_) => {}
        Seen::Header(name, expected) => {
            let values = echo.header_values(name);
            if values != [expected.as_str()] {
                return Err(format!(
                    "upstream {name}: expected exactly [{expected:?}], got {values:?}"
                ));
            }
        }
        Seen::NoHeader(name) => {
            let values = echo.header_values(name);
            if !values.is_empty() {
                return Err(format!("upstream {name}: expected none, got {values:?}"));
            }
        }
        Seen::Path(expected) => {
            if echo.path != *expected {
                return Err(format!(
                    "upstream path: expected {expected:?}, got {:?}",
                    echo.path
                ));
            }
        }
        Seen::Nowhere(text) => {
            if echo.path.contains(text.as_str()) {
                return Err(format!(
                    "the upstream path contains the outer token: {:?}",
                    echo.path
                ));
            }
            if let Some((name, _)) = echo.headers.iter().find(|(_, v)| v.contains(text.as_str())) {
                return Err(format!(
                    "the upstream header {name} contains the outer token"
                ));
            }
        }
    }
    Ok(())
}

/// The long tokens a case sends (header values and `access_token`), which a reply must never echo.
fn sent_tokens(case: &Case) -> Vec<&str> {
    let from_headers = case
        .headers
        .iter()
        .filter_map(|(_, v)| v.split_whitespace().last());
    let from_query = case
        .path
        .split_once('?')
        .into_iter()
        .flat_map(|(_, q)| q.split('&'))
        .filter_map(|kv| kv.strip_prefix("access_token="));
    from_headers
        .chain(from_query)
        .filter(|t| t.len() > 40)
        .collect()
}

/// The request-outcome counters in Envoy's `/stats` after a known sequence of requests.
#[test]
fn stats_count_each_request_outcome() {
    let envoy = Envoy::start_demo("stats");
    let agent = agent();
    let keys = DemoKeys::load();
    let edge = envoy.url("edge");
    const NAMES: [&str; 8] = [
        "allowed",
        "narrowed",
        "denied",
        "denied.missing",
        "denied.expired",
        "denied.embedded_missing",
        "cache_hit",
        "cache_miss",
    ];
    let read = || -> Result<Vec<u64>, String> {
        let stats = envoy.stats("wasmcustom.jwt_relay.")?;
        Ok(NAMES
            .iter()
            .map(|name| {
                let full = format!("wasmcustom.jwt_relay.{name}");
                stats
                    .iter()
                    .find(|(n, _)| *n == full)
                    .map_or(0, |(_, v)| *v)
            })
            .collect())
    };
    // start_demo ends with a request that passed: once it is counted, the start-up requests
    // before it are too (counters are flushed on the filter's tick).
    let (baseline, _) = support::poll(Duration::from_secs(5), || {
        let now = read()?;
        if now[0] >= 1 {
            Ok(now)
        } else {
            Err(format!("start-up not counted yet: {now:?}"))
        }
    })
    .unwrap();

    let bearer = |token: &str| vec![("authorization".to_string(), format!("Bearer {token}"))];
    let send = |path: &str, headers: Vec<(String, String)>, expected: u16| {
        let reply = get(&agent, &format!("{edge}{path}"), &headers).unwrap();
        assert_eq!(reply.status, expected, "{path}: {}", reply.body);
    };
    // A jti of its own: RS256 is deterministic, so the same claims in the same second would be
    // the very token start_demo sent, already cached.
    let valid = sign(&keys.rsa, &claims(json!({"jti": "stats-valid"})));
    for _ in 0..3 {
        send("/", bearer(&valid), 200); // 1 miss, then 2 hits
    }
    send("/", vec![], 401);
    send("/", vec![], 401);
    let expired = sign(
        &keys.rsa,
        &claims(json!({"iat": now() - 7200, "exp": now() - 3600})),
    );
    send("/", bearer(&expired), 401); // a miss; an expired token is not cached
    let inner = sign(&keys.ec, &claims(json!({"aud": "orders"})));
    let outer = sign(
        &keys.rsa,
        &claims(json!({"embedded_tokens": {"orders": inner}})),
    );
    send("/orders", bearer(&outer), 200); // 2 misses: the outer and the embedded token
    send("/inventory", bearer(&outer), 403); // a hit

    let expected: Vec<u64> = [4, 1, 4, 2, 1, 1, 3, 4]
        .iter()
        .zip(&baseline)
        .map(|(delta, base)| base + delta)
        .collect();
    let result = support::poll(Duration::from_secs(5), || {
        let now = read()?;
        if now == expected {
            Ok(())
        } else {
            Err(format!(
                "{NAMES:?}\n expected {expected:?}\n      got {now:?}"
            ))
        }
    });
    if let Err(why) = result {
        panic!("counters after the sequence: {why}");
    }
}

/// The filter state the filter leaves, as the demo's access log prints it: outcome, subject and
/// narrowing audience per request, and never a token, not even one sent in the query string.
#[test]
fn access_log_shows_outcome_and_subject_from_filter_state() {
    let envoy = Envoy::start_demo("access-log");
    let agent = agent();
    let keys = DemoKeys::load();
    let edge = envoy.url("edge");
    let internal = envoy.url("internal");
    let bearer = |token: &str| vec![("authorization".to_string(), format!("Bearer {token}"))];
    let send = |url: String, headers: Vec<(String, String)>, expected: u16| {
        let reply = get(&agent, &url, &headers).unwrap();
        assert_eq!(reply.status, expected, "{url}: {}", reply.body);
    };
    // Each request has a path of its own, so that its log line is found by path.
    let carol = sign(&keys.rsa, &claims(json!({"sub": "carol"})));
    send(format!("{edge}/log-allowed"), bearer(&carol), 200);
    let inner = sign(&keys.ec, &claims(json!({"aud": "orders", "sub": "dave"})));
    let outer = sign(
        &keys.rsa,
        &claims(json!({"sub": "dave", "embedded_tokens": {"orders": inner}})),
    );
    send(
        format!("{edge}/orders/log-narrowed?access_token={outer}"),
        vec![],
        200,
    );
    send(format!("{edge}/log-missing"), vec![], 401);
    let expired = sign(
        &keys.rsa,
        &claims(json!({"sub": "erin", "iat": now() - 7200, "exp": now() - 3600})),
    );
    send(format!("{edge}/log-expired"), bearer(&expired), 401);
    let forged = sign(
        &stranger_key(KeyKind::P256, "demo-ec"),
        &claims(json!({"sub": "mallory"})),
    );
    send(format!("{edge}/log-forged"), bearer(&forged), 401);
    send(format!("{internal}/log-internal"), bearer(&inner), 200);

    let expected = [
        (
            "edge \"GET /log-allowed\" 200",
            "jwt_relay=allowed sub=carol narrowed_to=- upstream=web_cluster",
        ),
        (
            "edge \"GET /orders/log-narrowed\" 200",
            "jwt_relay=narrowed sub=dave narrowed_to=orders upstream=orders_cluster",
        ),
        (
            "edge \"GET /log-missing\" 401",
            "jwt_relay=missing sub=- narrowed_to=-",
        ),
        // Verified, then refused for its age: who it was still shows.
        (
            "edge \"GET /log-expired\" 401",
            "jwt_relay=expired sub=erin narrowed_to=-",
        ),
        // Not verified: its claims are not believed, so not logged.
        (
            "edge \"GET /log-forged\" 401",
            "jwt_relay=bad_signature sub=- narrowed_to=-",
        ),
        (
            "internal \"GET /log-internal\" 200",
            "jwt_relay=allowed sub=dave narrowed_to=- upstream=orders_cluster",
        ),
    ];
    // Envoy flushes access logs on its own schedule (about once a second).
    let result = support::poll(Duration::from_secs(10), || {
        let log = envoy.log();
        let missing: Vec<String> = expected
            .iter()
            .filter(|(request, outcome)| {
                !log.lines()
                    .any(|line| line.contains(request) && line.contains(outcome))
            })
            .map(|(request, outcome)| format!("{request} … {outcome}"))
            .collect();
        if missing.is_empty() {
            Ok(log)
        } else {
            Err(format!("no access-log line for: {missing:#?}"))
        }
    });
    let (log, _) = result.unwrap_or_else(|why| panic!("{why}\nEnvoy's log:\n{}", envoy.log()));
    for token in [&carol, &outer, &inner, &expired, &forged] {
        let signature = signature_of(token);
        assert!(
            !log.contains(signature),
            "a token's signature appears in Envoy's log"
        );
    }
}

/// Per-route requirements from route metadata (envoy/demo.yaml's `health`, `public`, `admin`
/// and `internal-admin` routes), on both listeners and both transports.
#[test]
fn route_requirements() {
    let keys = DemoKeys::load();
    let now = now();
    let edge = Listener::Edge;
    let internal = Listener::Internal;
    let valid = sign(&keys.rsa, &claims(json!({})));
    let admin = sign(&keys.rsa, &claims(json!({"scope": "profile orders:admin"})));
    let admin_scp = sign(&keys.ec, &claims(json!({"scp": ["orders:admin"]})));
    let expired = sign(
        &keys.rsa,
        &claims(json!({"iat": now - 7200, "exp": now - 3600, "scope": "orders:admin"})),
    );
    // Internal hop: an expired narrowed token still passes; its scopes are still checked.
    let internal_admin = sign(
        &keys.rsa,
        &claims(
            json!({"aud": "orders", "iat": now - 7200, "exp": now - 3600, "scope": "orders:admin"}),
        ),
    );
    let internal_plain = sign(
        &keys.rsa,
        &claims(json!({"aud": "orders", "iat": now - 7200, "exp": now - 3600})),
    );
    let spoof = || header("x-jwt-sub", "admin");
    let anonymous = || vec![Seen::NoHeader("authorization"), Seen::NoHeader("x-jwt-sub")];
    let scope_challenge = Expect::Denied {
        status: 403,
        challenge: Challenge::Exactly(
            r#"Bearer realm="jwt-relay", error="insufficient_scope", error_description="the token lacks a scope this route requires", scope="orders:admin""#,
        ),
        error: Some("insufficient_scope"),
    };
    let internal_scope_challenge = Expect::Denied {
        status: 403,
        challenge: Challenge::Error("insufficient_scope"),
        error: Some("insufficient_scope"),
    };
    let cases = vec![
        case(
            "health needs no token",
            edge,
            "/health",
            vec![spoof()],
            forwarded(anonymous()),
        ),
        case(
            "health does not look at a broken token, and forwards it as it came",
            edge,
            "/health",
            bearer("not.a.token"),
            forwarded(vec![
                Seen::Header("authorization", "Bearer not.a.token".into()),
                Seen::NoHeader("x-jwt-sub"),
            ]),
        ),
        case(
            "public without a token",
            edge,
            "/public/page",
            vec![spoof()],
            forwarded(anonymous()),
        ),
        case(
            "public with a valid token gets the identity",
            edge,
            "/public/page",
            bearer(&valid),
            forwarded(passed_as_is(&valid)),
        ),
        case(
            "public with an expired token is refused",
            edge,
            "/public/page",
            bearer(&expired),
            invalid_token(),
        ),
        case(
            "admin without a token",
            edge,
            "/admin",
            vec![],
            Expect::Denied {
                status: 401,
                challenge: Challenge::Exactly(REALM_ONLY),
                error: None,
            },
        ),
        case(
            "admin without the scope",
            edge,
            "/admin",
            bearer(&valid),
            scope_challenge,
        ),
        case(
            "admin with the scope in scope",
            edge,
            "/admin/users",
            bearer(&admin),
            forwarded(passed_as_is(&admin)),
        ),
        case(
            "admin with the scope in scp",
            edge,
            "/admin/users",
            bearer(&admin_scp),
            forwarded(passed_as_is(&admin_scp)),
        ),
        case(
            "admin: an expired token with the scope is refused at the edge",
            edge,
            "/admin",
            bearer(&expired),
            invalid_token(),
        ),
        case(
            "internal admin: the scope, on an expired narrowed token",
            internal,
            "/admin",
            bearer(&internal_admin),
            forwarded(passed_as_is(&internal_admin)),
        ),
        case(
            "internal admin: no scope",
            internal,
            "/admin",
            bearer(&internal_plain),
            internal_scope_challenge,
        ),
    ];
    run(&Envoy::start_demo("routes"), &cases);
}

/// A route whose metadata is wrong is refused with 500, never read as "no requirement", and the
/// log names the route and the field.
#[test]
fn bad_route_metadata_fails_closed() {
    let keys = DemoKeys::load();
    let valid = sign(&keys.rsa, &claims(json!({})));
    let envoy = Envoy::start_demo_with("bad-route", &support::wasm_path(), |yaml| {
        support::replace_all(
            &yaml,
            "{requirement: allow_missing}",
            "{requirement: optional}",
        )
    });
    let cases = vec![
        case(
            "no token",
            Listener::Edge,
            "/public",
            vec![],
            Expect::ServerError,
        ),
        case(
            "a valid token",
            Listener::Edge,
            "/public",
            bearer(&valid),
            Expect::ServerError,
        ),
        case(
            "other routes are unaffected",
            Listener::Edge,
            "/",
            bearer(&valid),
            forwarded(passed_as_is(&valid)),
        ),
    ];
    run(&envoy, &cases);
    let log = envoy.log();
    assert!(
        log.contains("route public: route metadata filter_metadata.jwt_relay.requirement:"),
        "the log does not name the route and field:\n{log}"
    );
}

/// Browser and client realities: CORS preflights, tokens in cookies, the refresh hint, and
/// Envoy's RBAC filter deciding on a claim jwt-relay exported.
#[test]
fn browsers_cookies_refresh_hints_and_rbac() {
    let keys = DemoKeys::load();
    let now = now();
    let edge = Listener::Edge;
    let internal = Listener::Internal;
    let preflight = |extra: Vec<(String, String)>| {
        let mut headers = vec![
            header("origin", "https://app.example.com"),
            header("access-control-request-method", "POST"),
        ];
        headers.extend(extra);
        headers
    };
    let options = |mut case: Case| {
        case.method = "OPTIONS";
        case
    };
    let valid = sign(&keys.rsa, &claims(json!({})));
    let forged = tamper_signature(&valid);
    let inner = sign(&keys.ec, &claims(json!({"aud": "orders"})));
    let outer = sign(
        &keys.rsa,
        &claims(json!({"embedded_tokens": {"orders": inner}})),
    );
    let in_a_cookie = format!("theme=dark; access_token={outer}; lang=en");
    // 30 s left (the demo hints below 60 s); the narrowed token must not outlive it.
    let short_inner = sign(&keys.ec, &claims(json!({"aud": "orders", "exp": now + 30})));
    let short = sign(
        &keys.rsa,
        &claims(json!({"exp": now + 30, "embedded_tokens": {"orders": short_inner}})),
    );
    let internal_short = sign(
        &keys.rsa,
        &claims(json!({"aud": "orders", "exp": now + 30})),
    );
    let reader = sign(&keys.rsa, &claims(json!({"scope": "profile reports:read"})));
    let reader_ish = sign(&keys.rsa, &claims(json!({"scope": "reports:reader"})));
    let anonymous = || vec![Seen::NoHeader("authorization"), Seen::NoHeader("x-jwt-sub")];
    let cases = vec![
        options(case(
            "CORS preflight passes without a token; spoofed identity is stripped",
            edge,
            "/orders",
            preflight(vec![header("x-jwt-sub", "admin")]),
            forwarded(anonymous()),
        )),
        options(case(
            "CORS preflight on an internal hop",
            internal,
            "/payments",
            preflight(vec![header("x-jwt-sub", "admin")]),
            forwarded(anonymous()),
        )),
        options(case(
            "OPTIONS without Access-Control-Request-Method needs a token",
            edge,
            "/orders",
            vec![header("origin", "https://app.example.com")],
            Expect::Denied {
                status: 401,
                challenge: Challenge::Exactly(REALM_ONLY),
                error: None,
            },
        )),
        options(case(
            "a preflight that carries a forged token is checked like any request",
            edge,
            "/",
            preflight(bearer(&forged)),
            invalid_token(),
        )),
        case(
            "token in a cookie, narrowed: the cookie leaves with the broad token",
            edge,
            "/orders",
            vec![header("cookie", &in_a_cookie)],
            forwarded(vec![
                Seen::Header("authorization", format!("Bearer {inner}")),
                Seen::Header("cookie", "theme=dark; lang=en".into()),
                Seen::Nowhere(outer.clone()),
                Seen::Nowhere(signature_of(&outer).to_string()),
            ]),
        ),
        case(
            "token in the second of two cookie headers",
            edge,
            "/orders",
            vec![
                header("cookie", "theme=dark"),
                header("cookie", &format!("access_token={outer}")),
            ],
            forwarded(vec![
                Seen::Header("authorization", format!("Bearer {inner}")),
                Seen::Header("cookie", "theme=dark".into()),
                Seen::Nowhere(outer.clone()),
            ]),
        ),
        case(
            "token in a cookie for a service that is not narrowed travels as it came",
            edge,
            "/",
            vec![header("cookie", &format!("access_token={valid}"))],
            forwarded(vec![
                Seen::Header("cookie", format!("access_token={valid}")),
                Seen::Header("x-jwt-sub", SUB.to_string()),
            ]),
        ),
        case(
            "a forged token in a cookie",
            edge,
            "/",
            vec![header("cookie", &format!("access_token={forged}"))],
            invalid_token(),
        ),
        case(
            "a token in a cookie and another in the header are ambiguous",
            edge,
            "/",
            vec![
                header("cookie", &format!("access_token={valid}")),
                bearer(&valid).remove(0),
            ],
            invalid_request(),
        ),
        case(
            "a token with 30 s left gets the refresh hint",
            edge,
            "/",
            bearer(&short),
            forwarded(vec![Seen::RefreshHint(Some((20, 30)))]),
        ),
        case(
            "narrowed, the hint is about the token the client holds",
            edge,
            "/orders",
            bearer(&short),
            forwarded(vec![
                Seen::Header("authorization", format!("Bearer {short_inner}")),
                Seen::RefreshHint(Some((20, 30))),
            ]),
        ),
        case(
            "a token with 10 minutes left gets no hint",
            edge,
            "/",
            bearer(&valid),
            forwarded(vec![Seen::RefreshHint(None)]),
        ),
        case(
            "never a hint on an internal hop",
            internal,
            "/",
            bearer(&internal_short),
            forwarded(vec![
                Seen::Header("authorization", format!("Bearer {internal_short}")),
                Seen::RefreshHint(None),
            ]),
        ),
        case(
            "RBAC after jwt-relay allows the exported scope",
            edge,
            "/reports/q3",
            bearer(&reader),
            forwarded(vec![Seen::Header(
                "x-jwt-scope",
                "profile reports:read".into(),
            )]),
        ),
        case(
            "RBAC denies a scope that only looks alike",
            edge,
            "/reports/q3",
            bearer(&reader_ish),
            Expect::RbacDenied,
        ),
        case(
            "RBAC denies a client-sent scope header: jwt-relay stripped it",
            edge,
            "/reports/q3",
            vec![
                bearer(&valid).remove(0),
                header("x-jwt-scope", "reports:read"),
            ],
            Expect::RbacDenied,
        ),
        case(
            "no token never reaches RBAC",
            edge,
            "/reports/q3",
            vec![header("x-jwt-scope", "reports:read")],
            Expect::Denied {
                status: 401,
                challenge: Challenge::Exactly(REALM_ONLY),
                error: None,
            },
        ),
    ];
    run(&Envoy::start_demo("browsers"), &cases);
}

/// `min_remaining_seconds`: at the edge a token about to expire is refused so that the client
/// refreshes first; an internal hop lets the chain finish.
#[test]
fn tokens_that_expire_too_soon_are_refused_at_the_edge_only() {
    let keys = DemoKeys::load();
    let now = now();
    let envoy = Envoy::start_demo_with("too-soon", &support::wasm_path(), |yaml| {
        support::replace_all(
            &yaml,
            r#""refresh_hint_seconds": 60"#,
            r#""refresh_hint_seconds": 60, "min_remaining_seconds": 20"#,
        )
    });
    let soon = sign(&keys.rsa, &claims(json!({"exp": now + 10})));
    let enough = sign(&keys.rsa, &claims(json!({"exp": now + 45})));
    let internal_soon = sign(
        &keys.rsa,
        &claims(json!({"aud": "orders", "exp": now + 10})),
    );
    let cases = vec![
        case(
            "10 s left at the edge: refresh first",
            Listener::Edge,
            "/",
            bearer(&soon),
            Expect::Denied {
                status: 401,
                challenge: Challenge::Exactly(
                    r#"Bearer realm="jwt-relay", error="invalid_token", error_description="token expires too soon""#,
                ),
                error: Some("invalid_token"),
            },
        ),
        case(
            "45 s left at the edge passes, with the hint",
            Listener::Edge,
            "/",
            bearer(&enough),
            forwarded(vec![Seen::RefreshHint(Some((35, 45)))]),
        ),
        case(
            "10 s left on an internal hop passes",
            Listener::Internal,
            "/",
            bearer(&internal_soon),
            forwarded(vec![Seen::RefreshHint(None)]),
        ),
    ];
    run(&envoy, &cases);
    // Counted under its own name: one refusal per transport (counters follow on the next tick).
    support::poll(Duration::from_secs(5), || {
        match envoy.stat("wasmcustom.jwt_relay.denied.expires_too_soon") {
            Ok(2) => Ok(()),
            other => Err(format!("jwt_relay.denied.expires_too_soon: {other:?}")),
        }
    })
    .unwrap();
}
