//! Hostile requests against a real Envoy, over HTTP/2 (bytes sent raw through Python's h2) and
//! HTTP/1.1: a second, unverified token must never reach an upstream, and no request may trap the
//! VM. Each case asserts the status and that Envoy's upstream request counters did not move.

mod support;

use serde_json::json;
use support::tokens::{self, DemoKeys};
use support::{agent, get, raw_http1, raw_http2, Envoy, RawRequest};

const UPSTREAMS: [&str; 3] = ["orders_cluster", "inventory_cluster", "web_cluster"];

struct Tokens {
    valid: String,
    forged: String,
}

fn tokens() -> Tokens {
    let keys = DemoKeys::load();
    let valid = tokens::sign(&keys.rsa, &tokens::claims(json!({})));
    let forged = tokens::sign(&keys.rsa, &tokens::claims(json!({"sub": "admin"})));
    // Same header and claims as a real one, signature of another token: unverifiable.
    let (head, _) = forged.rsplit_once('.').unwrap();
    let (_, sig) = valid.rsplit_once('.').unwrap();
    Tokens {
        forged: format!("{head}.{sig}"),
        valid,
    }
}

/// (name, request): each carries a token the filter did not verify.
fn hostile(t: &Tokens) -> Vec<(String, RawRequest)> {
    let bearer = format!("Bearer {}", t.valid);
    let with_bearer = |path: Vec<u8>| RawRequest::new(path).header("authorization", bearer.clone());
    let mut cases = Vec::new();
    let mut non_utf8 = b"/orders\xff?access_token=".to_vec();
    non_utf8.extend_from_slice(t.forged.as_bytes());
    cases.push((
        "non-UTF-8 :path with a query token".to_owned(),
        with_bearer(non_utf8),
    ));
    for name in [
        "Access_Token",
        "ACCESS_TOKEN",
        "acce\u{17f}s_token",
        "access_to\u{212a}en",
        "access_token[]",
        "access_token[0]",
        "access_token[",
        "access.token",
        "access+token",
        "access%20token",
        "access%255Ftoken",
        "access_token%00x",
        "a=1;access_token",
        "access_token=x;access_token",
    ] {
        let path = format!("/orders?q=1&{name}={}", t.forged);
        cases.push((
            format!("look-alike {name} beside a header token"),
            with_bearer(path.into_bytes()),
        ));
        let alone = format!("/orders?{name}={}", t.forged);
        cases.push((
            format!("look-alike {name} alone"),
            RawRequest::new(alone.into_bytes()),
        ));
    }
    let two = format!(
        "/orders?access_token={}&access%5Ftoken={}",
        t.valid, t.forged
    );
    cases.push((
        "two access_token parameters".into(),
        RawRequest::new(two.into_bytes()),
    ));
    let query = format!("/orders?access_token={}", t.forged);
    cases.push((
        "a query token beside a header token".into(),
        with_bearer(query.into_bytes()),
    ));
    // Cookies (the demo's edge reads the `access_token` cookie): a second, unverified token in a
    // cookie a framework would read as the same one, or bytes that are not UTF-8 beside it.
    for (name, cookie) in [
        (
            "the same cookie twice",
            format!("access_token={}; access_token={}", t.valid, t.forged),
        ),
        (
            "a case variant",
            format!("access_token={}; ACCESS_TOKEN={}", t.valid, t.forged),
        ),
        (
            "a percent-encoded name",
            format!("access_token={}; access%5Ftoken={}", t.valid, t.forged),
        ),
        ("a dotted name", format!("access.token={}", t.forged)),
        (
            "a quoted forged token",
            format!("theme=dark; access_token=\"{}\"", t.forged),
        ),
    ] {
        cases.push((
            format!("cookie: {name}"),
            RawRequest::new(b"/orders".to_vec()).header("cookie", cookie.clone()),
        ));
        cases.push((
            format!("cookie: {name}, beside a header token"),
            with_bearer(b"/orders".to_vec()).header("cookie", cookie),
        ));
    }
    cases.push((
        "a cookie token in a second cookie header beside one in the first".into(),
        RawRequest::new(b"/orders".to_vec())
            .header("cookie", format!("access_token={}", t.valid))
            .header("cookie", format!("access_token={}", t.forged)),
    ));
    let mut binary = b"theme=\xff\xfe; access_token=".to_vec();
    binary.extend_from_slice(t.valid.as_bytes());
    cases.push((
        "a cookie header that is not UTF-8".into(),
        RawRequest::new(b"/orders".to_vec()).header("cookie", binary),
    ));
    cases.push((
        "two authorization headers".into(),
        RawRequest::new(b"/orders".to_vec())
            .header("authorization", bearer.clone())
            .header("authorization", format!("Bearer {}", t.forged)),
    ));
    cases
}

#[test]
fn hostile_requests_never_reach_an_upstream_over_http2_or_http1() {
    let envoy = Envoy::start_demo("hostile");
    let t = tokens();
    let cases = hostile(&t);
    // The edge serves HTTPS only: the raw clients speak TLS to it (ALPN h2 or http/1.1).
    let edge = envoy.endpoint("edge");
    assert!(edge.tls, "the demo's edge listener serves TLS");
    let before = envoy.upstream_requests(&UPSTREAMS).unwrap();
    let requests: Vec<RawRequest> = cases.iter().map(|(_, r)| r.clone()).collect();
    let mut failures = Vec::new();
    for ((name, _), reply) in cases.iter().zip(raw_http2(edge, &requests)) {
        match reply {
            Ok(reply) if [400, 401].contains(&reply.status) => {}
            Ok(reply) => failures.push(format!("h2 {name}: {} {}", reply.status, reply.body)),
            // A stream Envoy resets itself never reached an upstream either.
            Err(why) => eprintln!("h2 {name}: {why}"),
        }
    }
    for (name, request) in &cases {
        match raw_http1(edge, request) {
            Ok(reply) if [400, 401].contains(&reply.status) => {}
            Ok(reply) => failures.push(format!("http/1.1 {name}: {} {}", reply.status, reply.body)),
            Err(why) => eprintln!("http/1.1 {name}: {why}"),
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) passed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Each case was refused by the filter or Envoy's codec: no upstream request at all.
    let after = envoy.upstream_requests(&UPSTREAMS).unwrap();
    assert_eq!(after, before, "a hostile request reached an upstream");
    // And a plain request still passes, over both transports.
    let valid =
        RawRequest::new(b"/".to_vec()).header("authorization", format!("Bearer {}", t.valid));
    assert_eq!(
        raw_http2(edge, std::slice::from_ref(&valid))[0]
            .as_ref()
            .map(|r| r.status),
        Ok(200)
    );
    assert_eq!(raw_http1(edge, &valid).map(|r| r.status), Ok(200));
    envoy.assert_no_traps();
}

/// The token that once aborted the VM: `nbf` within the skew of chrono's earliest date, signed
/// by a configured key. Both listeners decide it, and keep deciding afterwards.
#[test]
fn a_signed_extreme_nbf_does_not_take_a_worker_down() {
    let envoy = Envoy::start_demo("extreme-nbf");
    let keys = DemoKeys::load();
    let agent = agent();
    // Both listeners' audiences (the internal one accepts `orders`).
    let both = |mut extra: serde_json::Value| {
        extra["aud"] = json!(["api.example.com", "orders"]);
        tokens::claims(extra)
    };
    let bearer = |claims| {
        vec![(
            "authorization".to_string(),
            format!("Bearer {}", tokens::sign(&keys.rsa, &claims)),
        )]
    };
    // (claims, the edge's answer): an nbf long past is fine; the rest are refused at the edge.
    for (overrides, at_edge) in [
        (json!({"nbf": -8_334_601_228_800_i64}), 200),
        (json!({"nbf": 8_210_266_876_799_i64}), 401),
        (json!({"exp": -8_334_601_228_800_i64}), 401),
        (json!({"iat": 8_210_266_876_799_i64}), 401),
    ] {
        for listener in ["edge", "internal"] {
            let reply = get(
                &agent,
                &format!("{}/", envoy.url(listener)),
                &bearer(both(overrides.clone())),
            )
            .unwrap();
            assert!(
                reply.status < 500,
                "{listener} {overrides}: {} {}",
                reply.status,
                reply.body
            );
            if listener == "edge" {
                assert_eq!(reply.status, at_edge, "edge {overrides}");
            }
        }
    }
    for listener in ["edge", "internal"] {
        let valid = get(
            &agent,
            &format!("{}/", envoy.url(listener)),
            &bearer(both(json!({}))),
        )
        .unwrap();
        assert_eq!(
            valid.status, 200,
            "{listener} after the extremes: {}",
            valid.body
        );
        let missing = get(&agent, &format!("{}/", envoy.url(listener)), &[]).unwrap();
        assert_eq!(missing.status, 401, "{listener} after the extremes");
    }
    envoy.assert_no_traps();
}
