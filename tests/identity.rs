//! End-to-end: keys and revocations that follow the identity service. The built filter runs in a
//! real Envoy with `envoy/identity.yaml`, whose providers have no local keys: every key and every
//! revocation comes from a stub identity service (`jwt_relay_cli::idp::StubIdp`) that each test
//! controls (what it serves, failing, hanging, garbage) and that counts how often it was asked.
//!
//! One Envoy and one stub per `#[test]`, so the tests run in parallel. The config's timers are set
//! per test by rewriting its `remote_jwks` and `revocation` lines ([`Feeds`]); the rewrite is
//! checked, so the test cannot drift away from the file.
//!
//! Synchronisation is by polling with a deadline, never by a fixed sleep: every place that waits
//! says `POLL:` with its deadline and why that deadline. A few checks need a stretch of time to
//! pass by design ("no more than N fetches in this window"); they say `WINDOW:`.
//! When a test fails, its Envoy prints its log; a trap in its log fails the test too.
//!
//! Requests go over HTTP/1.1 unless a test says otherwise; the case tables whose outcomes hold
//! still (revocation, the two-worker rounds) run over HTTP/2 as well, and count that they did.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

mod support;

use std::fs;
use std::time::{Duration, Instant};

use jwt_relay_cli::idp::{Endpoint, Mode, StubIdp};
use jwt_relay_cli::keys::{jwks, KeyKind, SigningKey};
use jwt_relay_cli::token::now;
use serde_json::{json, Value};
use support::tokens::{claims, sign, sign_with, SUB};
use support::{
    envoy_bin, poll, poll_until, render_config, run_cases, scratch_dir, wasm_path, Client, Echo,
    Envoy, Reply, Transport, Wait, FIRST_FETCH_DEADLINE,
};

// ---------------------------------------------------------------------------------------------
// The filter's counters, as Envoy's admin /stats lists proxy-wasm metrics.
// ---------------------------------------------------------------------------------------------

const JWKS_FETCH_OK: &str = "wasmcustom.jwt_relay.jwks_fetch_ok";
const JWKS_FETCH_FAILED: &str = "wasmcustom.jwt_relay.jwks_fetch_failed";
const REVOCATION_FETCH_OK: &str = "wasmcustom.jwt_relay.revocation_fetch_ok";
const REVOCATION_FETCH_FAILED: &str = "wasmcustom.jwt_relay.revocation_fetch_failed";
const JWKS_KID_MISS_REFETCH: &str = "wasmcustom.jwt_relay.jwks_kid_miss_refetch";
const JWKS_FETCH_NOT_MODIFIED: &str = "wasmcustom.jwt_relay.jwks_fetch_not_modified";
const REVOCATION_FETCH_NOT_MODIFIED: &str = "wasmcustom.jwt_relay.revocation_fetch_not_modified";

// What the filter says (error_description of a 401 invalid_token).
const KEYS_UNAVAILABLE: &str = "signing keys unavailable";
const REVOCATION_UNAVAILABLE: &str = "revocation status unavailable";
const UNKNOWN_KID: &str = "unknown key id";
const REVOKED: &str = "token revoked";
/// An embedded token's error is described as the filter describes every embedded token's error.
const EMBEDDED_REVOKED: &str = "embedded token invalid: token revoked";

// ---------------------------------------------------------------------------------------------
// The config: envoy/identity.yaml with this test's timers
// ---------------------------------------------------------------------------------------------

/// The timers and limits of `remote_jwks` (both listeners alike) and `revocation`.
#[derive(Clone, Copy)]
struct Feeds {
    jwks_refresh_s: u64,
    jwks_timeout_ms: u64,
    kid_miss_cooldown_s: u64,
    jwks_max_bytes: u64,
    revocation_refresh_s: u64,
    revocation_timeout_ms: u64,
    on_unavailable: &'static str,
    /// `remote_jwks` `min_refresh_seconds` and `max_refresh_seconds` (`None`: not written).
    jwks_refresh_bounds: Option<(u64, u64)>,
}

/// The values as `envoy/identity.yaml` writes them.
const AS_WRITTEN: Feeds = Feeds {
    jwks_refresh_s: 2,
    jwks_timeout_ms: 500,
    kid_miss_cooldown_s: 30,
    jwks_max_bytes: 65536,
    revocation_refresh_s: 1,
    revocation_timeout_ms: 500,
    on_unavailable: "deny",
    jwks_refresh_bounds: None,
};

impl Feeds {
    fn remote_jwks_line(&self) -> String {
        let bounds = self
            .jwks_refresh_bounds
            .map(|(min, max)| {
                format!(r#", "min_refresh_seconds": {min}, "max_refresh_seconds": {max}"#)
            })
            .unwrap_or_default();
        format!(
            r#""remote_jwks": {{"cluster": "idp", "path": "/.well-known/jwks.json", "authority": "idp.example.com", "refresh_seconds": {}, "timeout_ms": {}, "kid_miss_cooldown_seconds": {}, "max_bytes": {}{bounds}}},"#,
            self.jwks_refresh_s,
            self.jwks_timeout_ms,
            self.kid_miss_cooldown_s,
            self.jwks_max_bytes
        )
    }

    fn revocation_line(&self) -> String {
        format!(
            r#""revocation": {{"cluster": "idp", "path": "/revocations", "authority": "idp.example.com", "refresh_seconds": {}, "timeout_ms": {}, "claim": "sid", "on_unavailable": "{}"}},"#,
            self.revocation_refresh_s, self.revocation_timeout_ms, self.on_unavailable
        )
    }

    /// `envoy/identity.yaml` for one run: ports, .wasm path and these timers.
    fn render(&self, echo_port: u16, idp_port: u16) -> String {
        let yaml = render_config("identity.yaml", echo_port, idp_port, &wasm_path());
        let yaml = replace_twice(
            &yaml,
            &AS_WRITTEN.remote_jwks_line(),
            &self.remote_jwks_line(),
        );
        replace_twice(
            &yaml,
            &AS_WRITTEN.revocation_line(),
            &self.revocation_line(),
        )
    }
}

/// Replaces `from` (which must occur exactly twice: once per listener) with `to`.
fn replace_twice(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        2,
        "envoy/identity.yaml no longer has this line once per listener; update tests/identity.rs:\n{from}"
    );
    text.replace(from, to)
}

/// Starts Envoy (`workers` worker threads) on `envoy/identity.yaml` with `feeds`, against `idp`
/// as it is set up now and a fresh echo upstream. Returns once Envoy is ready (listeners bound);
/// the filter may not have fetched anything yet.
fn start(name: &str, feeds: Feeds, idp: &StubIdp, workers: u32) -> Envoy {
    let echo_port = jwt_relay_cli::echo::spawn("127.0.0.1:0").expect("start the echo upstream");
    let dir = scratch_dir(name);
    let config = dir.join("envoy.yaml");
    fs::write(&config, feeds.render(echo_port, idp.port())).unwrap();
    Envoy::start_with_workers(&envoy_bin(), &config, &dir, workers)
}

fn stub() -> StubIdp {
    StubIdp::spawn("127.0.0.1:0").expect("start the stub identity service")
}

fn key(kid: &str) -> SigningKey {
    SigningKey::generate(KeyKind::P256, kid).unwrap()
}

fn serve_keys(idp: &StubIdp, keys: &[&SigningKey]) {
    idp.set_jwks(jwks(keys));
}

// ---------------------------------------------------------------------------------------------
// Requests and what came of them
// ---------------------------------------------------------------------------------------------

/// A request: a bearer token to a path of one listener.
#[derive(Clone)]
struct Req {
    listener: &'static str,
    path: &'static str,
    token: String,
}

impl Req {
    fn edge(token: &str) -> Req {
        Req {
            listener: "edge",
            path: "/",
            token: token.to_string(),
        }
    }

    fn internal(token: &str) -> Req {
        Req {
            listener: "internal",
            path: "/",
            token: token.to_string(),
        }
    }

    fn at(mut self, path: &'static str) -> Req {
        self.path = path;
        self
    }

    fn send(&self, envoy: &Envoy, client: &Client) -> Result<Reply, String> {
        client.get(
            &format!("{}{}", envoy.url(self.listener), self.path),
            &[(
                "authorization".to_string(),
                format!("Bearer {}", self.token),
            )],
        )
    }
}

/// What should come of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// The echo upstream answered 200 and had received `x-jwt-sub: alice`.
    Pass,
    /// 401 `invalid_token` with this `error_description`, in the challenge and in the body alike.
    Refused(&'static str),
}

/// What a reply was, in the terms of [`Outcome`] (`Err`: neither, with the details).
fn outcome_of(reply: &Reply) -> Result<Outcome, String> {
    if reply.status == 200 {
        let echo = Echo::parse(reply)?;
        return match echo.header_values("x-jwt-sub").as_slice() {
            [sub] if *sub == SUB => Ok(Outcome::Pass),
            other => Err(format!("200 but the upstream got x-jwt-sub {other:?}")),
        };
    }
    let challenge = reply.header_values("www-authenticate");
    let body = reply.json().unwrap_or(Value::Null);
    let described = body["error_description"].as_str().unwrap_or_default();
    let expected_challenge = format!(
        r#"Bearer realm="jwt-relay", error="invalid_token", error_description="{described}""#
    );
    if reply.status == 401
        && body["error"] == "invalid_token"
        && challenge == [expected_challenge.as_str()]
    {
        // The known descriptions are 'static; anything else is reported as unexpected.
        for known in [
            KEYS_UNAVAILABLE,
            REVOCATION_UNAVAILABLE,
            UNKNOWN_KID,
            REVOKED,
            EMBEDDED_REVOKED,
        ] {
            if described == known {
                return Ok(Outcome::Refused(known));
            }
        }
    }
    Err(format!(
        "HTTP {}, www-authenticate {challenge:?}, body {}",
        reply.status, reply.body
    ))
}

/// Sends `req` once (HTTP/1.1) and checks the outcome.
fn expect(envoy: &Envoy, req: &Req, want: Outcome) -> Result<(), String> {
    expect_over(envoy, req, want, Transport::Http1)
}

/// Sends `req` once over `transport` and checks the outcome.
fn expect_over(
    envoy: &Envoy,
    req: &Req,
    want: Outcome,
    transport: Transport,
) -> Result<(), String> {
    let reply = req.send(envoy, &Client::new(transport))?;
    match outcome_of(&reply) {
        Ok(got) if got == want => Ok(()),
        Ok(got) => Err(format!(
            "{}: expected {want:?}, got {got:?}",
            transport.name()
        )),
        Err(why) => Err(format!(
            "{}: expected {want:?}, got {why}",
            transport.name()
        )),
    }
}

/// Sends `req` over HTTP/1.1, then over HTTP/2; both must come out as `want`. Only for outcomes
/// that hold still between the two requests.
fn expect_both(envoy: &Envoy, req: &Req, want: Outcome) -> Result<(), String> {
    Transport::ALL
        .iter()
        .try_for_each(|&t| expect_over(envoy, req, want, t))
}

/// POLL: sends `req` every 50 ms until it comes out as `want`, for at most `deadline`; every
/// answer before must be one of `meanwhile` (anything else fails at once). Returns how long it
/// took.
fn await_outcome(
    envoy: &Envoy,
    req: &Req,
    want: Outcome,
    meanwhile: &[Outcome],
    deadline: Duration,
) -> Result<Duration, String> {
    let client = Client::new(Transport::Http1);
    poll_until(deadline, || {
        let reply = req.send(envoy, &client)?;
        match outcome_of(&reply) {
            Ok(got) if got == want => Ok(()),
            Ok(got) if meanwhile.contains(&got) => {
                Err(Wait::Retry(format!("waiting for {want:?}, got {got:?}")))
            }
            Ok(got) => Err(Wait::Fail(format!(
                "waiting for {want:?}, got {got:?}, which must not happen meanwhile \
                 (allowed: {meanwhile:?})"
            ))),
            Err(why) => Err(Wait::Fail(format!("waiting for {want:?}, got {why}"))),
        }
    })
    .map(|((), took)| took)
}

/// Unwraps a step's result, failing the test with the step's name (the Envoy prints its log).
fn step<T>(what: &str, result: Result<T, String>) -> T {
    result.unwrap_or_else(|why| panic!("{what}: {why}"))
}

/// POLL: until the stat is at least `at_least`, for at most `deadline`. Returns its value.
fn await_stat(envoy: &Envoy, name: &str, at_least: u64, deadline: Duration) -> Result<u64, String> {
    poll(deadline, || {
        let value = envoy.stat(name)?;
        if value >= at_least {
            Ok(value)
        } else {
            Err(format!("{name} is {value}, waiting for >= {at_least}"))
        }
    })
    .map(|(value, _)| value)
}

fn stat(envoy: &Envoy, name: &str) -> u64 {
    step(&format!("read {name}"), envoy.stat(name))
}

/// Edge claims (aud api.example.com) for session `sid`, issued at `iat`.
fn edge_claims(sid: &str, iat: i64) -> Value {
    claims(json!({"sid": sid, "iat": iat, "exp": now() + 600}))
}

/// Claims for the internal hop (aud orders) for session `sid`, issued at `iat`.
fn orders_claims(sid: &str, iat: i64) -> Value {
    claims(json!({"aud": "orders", "sid": sid, "iat": iat, "exp": now() + 600}))
}

/// Waits for the filter's first fetches: `req` passes (POLL, [`FIRST_FETCH_DEADLINE`]: the first
/// fetch is on the first tick, ~0.5 s; until then the answer may say keys or revocation status
/// are unavailable, and nothing else).
fn await_serving(envoy: &Envoy, req: &Req) {
    step(
        &format!("{} serves once the first fetches land", req.listener),
        await_outcome(
            envoy,
            req,
            Outcome::Pass,
            &[
                Outcome::Refused(KEYS_UNAVAILABLE),
                Outcome::Refused(REVOCATION_UNAVAILABLE),
            ],
            FIRST_FETCH_DEADLINE,
        ),
    );
}

// ---------------------------------------------------------------------------------------------
// JWKS down at start: fail closed, then recover without a restart
// ---------------------------------------------------------------------------------------------

/// The JWKS endpoint answers as `down` from the start: a token signed by a key only the identity
/// service knows is refused "signing keys unavailable" (never passed) on both listeners; once the
/// endpoint answers, the same token passes, with no restart.
fn keys_unavailable_until_the_jwks_answers(name: &str, down: Mode) {
    let idp = stub();
    let signer = key("k1");
    serve_keys(&idp, &[&signer]);
    idp.set_mode(Endpoint::Jwks, down);
    // Refresh 4 s: backoff after failures is 1 s, 2 s, then capped at 4 s.
    let feeds = Feeds {
        jwks_refresh_s: 4,
        ..AS_WRITTEN
    };
    let envoy = start(name, feeds, &idp, 1);
    let edge = Req::edge(&sign(&signer, &edge_claims("s1", now())));
    let internal = Req::internal(&sign(&signer, &orders_claims("s1", now())));

    for req in [&edge, &internal] {
        // POLL, first-fetch deadline: until the revocation list is in, the answer may say so.
        step(
            &format!("{}: keys unavailable while the JWKS is down", req.listener),
            await_outcome(
                &envoy,
                req,
                Outcome::Refused(KEYS_UNAVAILABLE),
                &[Outcome::Refused(REVOCATION_UNAVAILABLE)],
                FIRST_FETCH_DEADLINE,
            ),
        );
    }
    // POLL, 5 s: a failed fetch is counted once it fails (Hang: after timeout_ms 500).
    let failed = step(
        "the failed fetch is counted",
        await_stat(&envoy, JWKS_FETCH_FAILED, 1, Duration::from_secs(5)),
    );
    assert!(idp.hits(Endpoint::Jwks) >= 1, "the stub was never asked");
    assert_eq!(
        stat(&envoy, JWKS_FETCH_OK),
        0,
        "no fetch can have succeeded"
    );

    idp.set_mode(Endpoint::Jwks, Mode::Ok);
    for req in [&edge, &internal] {
        // POLL, 10 s: the next retry is at most the refresh period (4 s) away, then a worker tick.
        let took = step(
            &format!(
                "{}: the same token passes once the JWKS answers",
                req.listener
            ),
            await_outcome(
                &envoy,
                req,
                Outcome::Pass,
                &[Outcome::Refused(KEYS_UNAVAILABLE)],
                Duration::from_secs(10),
            ),
        );
        eprintln!("{}: passes {took:?} after the JWKS came up", req.listener);
    }
    assert!(stat(&envoy, JWKS_FETCH_OK) >= 1);
    assert!(stat(&envoy, JWKS_FETCH_FAILED) >= failed);
}

#[test]
fn jwks_answering_503_at_start() {
    keys_unavailable_until_the_jwks_answers("jwks-503-at-start", Mode::Status(503));
}

#[test]
fn jwks_hanging_at_start() {
    keys_unavailable_until_the_jwks_answers("jwks-hang-at-start", Mode::Hang);
}

// ---------------------------------------------------------------------------------------------
// Rotation: new kid, flood of unknown kids, removed key
// ---------------------------------------------------------------------------------------------

/// Refresh 300 s: within a test, the only JWKS fetches are the first one and kid-miss refetches.
const NO_PERIODIC_JWKS: Feeds = Feeds {
    jwks_refresh_s: 300,
    ..AS_WRITTEN
};

#[test]
fn new_kid_passes_after_one_refetch() {
    let idp = stub();
    let old = key("k1");
    serve_keys(&idp, &[&old]);
    let envoy = start("new-kid", NO_PERIODIC_JWKS, &idp, 1);
    await_serving(&envoy, &Req::edge(&sign(&old, &edge_claims("s1", now()))));
    await_serving(
        &envoy,
        &Req::internal(&sign(&old, &orders_claims("s1", now()))),
    );
    let before = idp.hits(Endpoint::Jwks);

    // The identity service rotates: a new key, which the filter has not seen.
    let new = key("k2");
    serve_keys(&idp, &[&old, &new]);
    let edge = Req::edge(&sign(&new, &edge_claims("s1", now())));
    step(
        "the first request with the new kid is refused",
        expect(&envoy, &edge, Outcome::Refused(UNKNOWN_KID)),
    );
    // POLL, 5 s: the refetch starts at once (the next tick at the latest), then a worker tick.
    let took = step(
        "the new kid passes once the refetch has landed",
        await_outcome(
            &envoy,
            &edge,
            Outcome::Pass,
            &[Outcome::Refused(UNKNOWN_KID)],
            Duration::from_secs(5),
        ),
    );
    eprintln!("the new kid passes {took:?} after the first refusal");
    step(
        "the internal listener has the new key too",
        expect(
            &envoy,
            &Req::internal(&sign(&new, &orders_claims("s1", now()))),
            Outcome::Pass,
        ),
    );
    assert_eq!(
        idp.hits(Endpoint::Jwks) - before,
        1,
        "the new kid must cost exactly one refetch"
    );
    assert_eq!(stat(&envoy, JWKS_KID_MISS_REFETCH), 1);
}

#[test]
fn burst_of_unknown_kids_costs_at_most_one_fetch() {
    let idp = stub();
    let signer = key("k1");
    serve_keys(&idp, &[&signer]);
    let envoy = start("kid-burst", NO_PERIODIC_JWKS, &idp, 1);
    await_serving(
        &envoy,
        &Req::edge(&sign(&signer, &edge_claims("s1", now()))),
    );
    await_serving(
        &envoy,
        &Req::internal(&sign(&signer, &orders_claims("s1", now()))),
    );
    let before = idp.hits(Endpoint::Jwks);

    // 200 tokens, each naming a kid nobody has, sent by 4 clients at once.
    let stranger = key("stranger");
    let tokens: Vec<String> = (0..200)
        .map(|i| {
            sign_with(
                &stranger,
                "ES256",
                json!({"kid": format!("random-{i}-{}", now())}),
                &edge_claims("s1", now()),
            )
        })
        .collect();
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = tokens
            .chunks(50)
            .map(|chunk| {
                let envoy = &envoy;
                scope.spawn(move || {
                    let client = Client::new(Transport::Http1);
                    chunk
                        .iter()
                        .filter_map(|token| {
                            let reply = Req::edge(token).send(envoy, &client);
                            match reply.as_ref().map(outcome_of) {
                                Ok(Ok(Outcome::Refused(UNKNOWN_KID))) => None,
                                other => Some(format!("{other:?}")),
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert!(
        failures.is_empty(),
        "every unknown kid must be refused \"unknown key id\"; {} were not, e.g. {}",
        failures.len(),
        failures[0]
    );
    // WINDOW, 2 s: a refetch the burst caused lands well within this (timeout_ms 500); anything
    // after it would be a fetch the burst should not have caused.
    std::thread::sleep(Duration::from_secs(2));
    let extra = idp.hits(Endpoint::Jwks) - before;
    assert!(
        extra <= 1,
        "200 unknown kids caused {extra} JWKS fetches (at most 1 allowed)"
    );
    assert_eq!(stat(&envoy, JWKS_KID_MISS_REFETCH), extra);
    step(
        "the known key still verifies",
        expect(
            &envoy,
            &Req::edge(&sign(&signer, &edge_claims("s1", now()))),
            Outcome::Pass,
        ),
    );
}

#[test]
fn removed_key_stops_verifying_after_the_next_refresh() {
    let idp = stub();
    let kept = key("k1");
    let dropped = key("k2");
    serve_keys(&idp, &[&kept, &dropped]);
    let feeds = Feeds {
        jwks_refresh_s: 2,
        ..AS_WRITTEN
    };
    let envoy = start("removed-key", feeds, &idp, 1);
    let kept_req = Req::edge(&sign(&kept, &edge_claims("s1", now())));
    let dropped_req = Req::edge(&sign(&dropped, &edge_claims("s1", now())));
    let dropped_internal = Req::internal(&sign(&dropped, &orders_claims("s1", now())));
    await_serving(&envoy, &kept_req);
    await_serving(&envoy, &dropped_req);
    await_serving(&envoy, &dropped_internal);

    serve_keys(&idp, &[&kept]);
    for req in [&dropped_req, &dropped_internal] {
        // POLL, refresh (2 s) + 3 s: the next refresh, then a worker tick.
        let took = step(
            &format!("{}: the removed key stops verifying", req.listener),
            await_outcome(
                &envoy,
                req,
                Outcome::Refused(UNKNOWN_KID),
                &[Outcome::Pass],
                Duration::from_secs(5),
            ),
        );
        eprintln!("{}: removed key refused after {took:?}", req.listener);
    }
    step(
        "the kept key still verifies",
        expect(&envoy, &kept_req, Outcome::Pass),
    );
}

// ---------------------------------------------------------------------------------------------
// A failing JWKS after a good fetch: the last good keys stay in use
// ---------------------------------------------------------------------------------------------

#[test]
fn last_good_keys_survive_a_failing_jwks() {
    let idp = stub();
    let signer = key("k1");
    serve_keys(&idp, &[&signer]);
    // Refresh 1 s: a failed fetch is retried within a second. max_bytes 4 KiB for "oversize".
    let feeds = Feeds {
        jwks_refresh_s: 1,
        jwks_max_bytes: 4096,
        ..AS_WRITTEN
    };
    let envoy = start("jwks-failing", feeds, &idp, 1);
    let edge = Req::edge(&sign(&signer, &edge_claims("s1", now())));
    let internal = Req::internal(&sign(&signer, &orders_claims("s1", now())));
    await_serving(&envoy, &edge);
    await_serving(&envoy, &internal);

    // Each bad document would, if taken, drop k1: a valid JWKS of another key, too big.
    let other = jwks(&[&key("k9")]);
    let oversize = json!({"keys": other["keys"], "padding": "x".repeat(8192)}).to_string();
    let cases: Vec<(&str, Mode)> = vec![
        ("HTTP 500", Mode::Status(500)),
        ("garbage (not JSON)", Mode::Garbage),
        ("timeout (hangs past timeout_ms 500)", Mode::Hang),
        (
            "valid JSON, not a JWKS",
            Mode::Body(r#"{"hello": "world"}"#.to_string()),
        ),
        (
            "a JWKS with no key",
            Mode::Body(r#"{"keys": []}"#.to_string()),
        ),
        (
            "a JWKS with no usable key (a symmetric secret)",
            Mode::Body(r#"{"keys": [{"kty": "oct", "kid": "k1", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}]}"#.to_string()),
        ),
        ("a valid JWKS over max_bytes", Mode::Body(oversize)),
    ];
    run_cases(
        &cases,
        |(name, _)| name.to_string(),
        |(_, mode)| {
            let ok_before = envoy.stat(JWKS_FETCH_OK)?;
            let failed_before = envoy.stat(JWKS_FETCH_FAILED)?;
            idp.set_mode(Endpoint::Jwks, mode.clone());
            // POLL, 8 s: two failed fetches (the one due, one retry after 1 s; Hang adds 0.5 s
            // each); k1 must pass on both listeners at every poll meanwhile.
            poll_until(Duration::from_secs(8), || {
                expect(&envoy, &edge, Outcome::Pass).map_err(|e| format!("edge: {e}"))?;
                expect(&envoy, &internal, Outcome::Pass).map_err(|e| format!("internal: {e}"))?;
                let failed = envoy.stat(JWKS_FETCH_FAILED)?;
                if failed >= failed_before + 2 {
                    Ok(())
                } else {
                    Err(Wait::Retry(format!(
                        "{JWKS_FETCH_FAILED} {failed_before} -> {failed}"
                    )))
                }
            })
            .map_err(|e| format!("while the JWKS fails: {e}"))?;
            let ok_during = envoy.stat(JWKS_FETCH_OK)?;
            if ok_during != ok_before {
                return Err(format!(
                    "a failing fetch was counted as ok ({JWKS_FETCH_OK} {ok_before} -> {ok_during})"
                ));
            }
            idp.set_mode(Endpoint::Jwks, Mode::Ok);
            // POLL, 5 s: the next retry (at most the refresh period, 1 s) succeeds.
            await_stat(&envoy, JWKS_FETCH_OK, ok_before + 1, Duration::from_secs(5))
                .map_err(|e| format!("after the JWKS recovered: {e}"))?;
            expect(&envoy, &edge, Outcome::Pass)
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Revocation
// ---------------------------------------------------------------------------------------------

#[test]
fn revoked_session_is_refused_on_both_listeners() {
    let idp = stub();
    let signer = key("k1");
    serve_keys(&idp, &[&signer]);
    let feeds = Feeds {
        revocation_refresh_s: 1,
        ..AS_WRITTEN
    };
    let envoy = start("revocation", feeds, &idp, 1);

    let t = now();
    let revoked_at = t - 10;
    let before = t - 20; // issued before the revocation
    let after = t - 5; // issued after it
    let s = |key: &SigningKey, c: Value| sign(key, &c);
    let orders_token = |sid: &str, iat: i64| s(&signer, orders_claims(sid, iat));
    let payments_token = |sid: &str| {
        s(
            &signer,
            claims(json!({"aud": "payments", "sid": sid, "iat": before, "exp": t + 300})),
        )
    };
    let with_orders = |outer_sid: &str, inner_sid: &str| {
        let mut c = edge_claims(outer_sid, before);
        c["embedded_tokens"] = json!({"orders": orders_token(inner_sid, before)});
        s(&signer, c)
    };
    let with_payments = |outer_sid: &str, inner_sid: &str| {
        let mut c = orders_claims(outer_sid, before);
        c["embedded_tokens"] = json!({"payments": payments_token(inner_sid)});
        s(&signer, c)
    };
    // The internal hop checks no lifetime: there, revocation is what cuts a stolen token off.
    let expired_s1 = s(
        &signer,
        claims(json!({"aud": "orders", "sid": "s1", "iat": t - 7200, "exp": t - 3600})),
    );

    // (name, request, outcome once s1 is revoked at `revoked_at`)
    let cases: Vec<(&str, Req, Outcome)> = vec![
        (
            "edge: s1 issued before the revocation",
            Req::edge(&s(&signer, edge_claims("s1", before))),
            Outcome::Refused(REVOKED),
        ),
        (
            "edge: s1 issued after the revocation",
            Req::edge(&s(&signer, edge_claims("s1", after))),
            Outcome::Pass,
        ),
        (
            "edge: s1 issued at the revocation instant (iat == revoked_at)",
            Req::edge(&s(&signer, edge_claims("s1", revoked_at))),
            Outcome::Refused(REVOKED),
        ),
        (
            "edge: another session (s2)",
            Req::edge(&s(&signer, edge_claims("s2", before))),
            Outcome::Pass,
        ),
        (
            "edge /orders: s2 outside, embedded orders token of s1",
            Req::edge(&with_orders("s2", "s1")).at("/orders"),
            Outcome::Refused(EMBEDDED_REVOKED),
        ),
        (
            "edge /orders: s1 outside, embedded orders token of s2",
            Req::edge(&with_orders("s1", "s2")).at("/orders"),
            Outcome::Refused(REVOKED),
        ),
        (
            "edge /orders: s2 outside and inside",
            Req::edge(&with_orders("s2", "s2")).at("/orders"),
            Outcome::Pass,
        ),
        (
            "internal: s1 issued before the revocation",
            Req::internal(&orders_token("s1", before)),
            Outcome::Refused(REVOKED),
        ),
        (
            "internal: s1, long expired (no lifetime check here)",
            Req::internal(&expired_s1),
            Outcome::Refused(REVOKED),
        ),
        (
            "internal: s1 issued after the revocation",
            Req::internal(&orders_token("s1", after)),
            Outcome::Pass,
        ),
        (
            "internal: another session (s2)",
            Req::internal(&orders_token("s2", before)),
            Outcome::Pass,
        ),
        (
            "internal /payments: s2 outside, embedded payments token of s1",
            Req::internal(&with_payments("s2", "s1")).at("/payments"),
            Outcome::Refused(EMBEDDED_REVOKED),
        ),
        (
            "internal /payments: s2 outside and inside",
            Req::internal(&with_payments("s2", "s2")).at("/payments"),
            Outcome::Pass,
        ),
    ];
    let name = |(name, _, _): &(&str, Req, Outcome)| name.to_string();

    // Before any revocation, every case passes, over HTTP/1.1 and HTTP/2.
    await_serving(&envoy, &cases[0].1);
    let h2_before = ["edge", "internal"].map(|l| envoy.requests_over(l, Transport::Http2));
    run_cases(&cases, name, |(_, req, _)| {
        expect_both(&envoy, req, Outcome::Pass)
    });

    idp.revoke("s1", revoked_at, None);
    for (what, req) in [("edge", &cases[0].1), ("internal", &cases[7].1)] {
        // POLL, 4 s: one refresh period (1 s) plus the fetcher's and a worker's tick (0.5 s
        // each), with room for a loaded machine.
        let took = step(
            &format!("{what}: s1 is refused within one refresh period"),
            await_outcome(
                &envoy,
                req,
                Outcome::Refused(REVOKED),
                &[Outcome::Pass],
                Duration::from_secs(4),
            ),
        );
        eprintln!("{what}: s1 refused {took:?} after the revocation was published");
    }
    run_cases(&cases, name, |(_, req, want)| {
        expect_both(&envoy, req, *want)
    });
    // Both tables went over HTTP/2 too: twice each case, on its listener.
    for (listener, before) in ["edge", "internal"].iter().zip(h2_before) {
        let sent = cases
            .iter()
            .filter(|(_, r, _)| r.listener == *listener)
            .count()
            * 2;
        let after = envoy.requests_over(listener, Transport::Http2);
        assert_eq!(
            after,
            before.map(|b| b + u64::try_from(sent).unwrap()),
            "{listener}: HTTP/2 requests counted"
        );
    }

    // The feed fails: the last list stays in force.
    let failed_before = stat(&envoy, REVOCATION_FETCH_FAILED);
    idp.set_mode(Endpoint::Revocations, Mode::Status(500));
    // POLL, 6 s: two failed fetches (refresh 1 s, retry after 1 s); the cases hold meanwhile.
    step(
        "the revocation list is kept while the feed fails",
        poll_until(Duration::from_secs(6), || {
            for (name, req, want) in &cases {
                expect(&envoy, req, *want).map_err(|e| format!("{name}: {e}"))?;
            }
            let failed = envoy.stat(REVOCATION_FETCH_FAILED)?;
            if failed >= failed_before + 2 {
                Ok(())
            } else {
                Err(Wait::Retry(format!(
                    "{REVOCATION_FETCH_FAILED} {failed_before} -> {failed}"
                )))
            }
        }),
    );

    // The feed recovers without s1 (e.g. its entry expired): the new list replaces the old one.
    idp.clear_revocations();
    idp.set_mode(Endpoint::Revocations, Mode::Ok);
    // POLL, 4 s: the next retry (1 s at most) and a worker tick.
    step(
        "a session no longer listed passes again",
        await_outcome(
            &envoy,
            &cases[0].1,
            Outcome::Pass,
            &[Outcome::Refused(REVOKED)],
            Duration::from_secs(4),
        ),
    );
}

/// The revocation feed answers 503 from the start. `on_unavailable` "deny": a valid token is
/// refused "revocation status unavailable" until the first list arrives; "allow": it passes.
fn revocation_feed_down_at_start(name: &str, on_unavailable: &'static str) {
    let idp = stub();
    let signer = key("k1");
    serve_keys(&idp, &[&signer]);
    idp.revoke("s1", now() - 10, None);
    idp.set_mode(Endpoint::Revocations, Mode::Status(503));
    let feeds = Feeds {
        revocation_refresh_s: 2,
        on_unavailable,
        ..AS_WRITTEN
    };
    let envoy = start(name, feeds, &idp, 1);
    let s1 = Req::edge(&sign(&signer, &edge_claims("s1", now() - 20)));
    let s2 = Req::edge(&sign(&signer, &edge_claims("s2", now() - 20)));
    let s1_internal = Req::internal(&sign(&signer, &orders_claims("s1", now() - 20)));

    let while_down = if on_unavailable == "deny" {
        Outcome::Refused(REVOCATION_UNAVAILABLE)
    } else {
        Outcome::Pass
    };
    for req in [&s2, &s1, &s1_internal] {
        // POLL, first-fetch deadline: the keys arrive first.
        step(
            &format!("{}: while the feed is down", req.listener),
            await_outcome(
                &envoy,
                req,
                while_down,
                &[Outcome::Refused(KEYS_UNAVAILABLE)],
                FIRST_FETCH_DEADLINE,
            ),
        );
    }
    // POLL, 5 s: the failure is counted.
    step(
        "the failed feed fetch is counted",
        await_stat(&envoy, REVOCATION_FETCH_FAILED, 1, Duration::from_secs(5)),
    );
    step(
        "still so after the failure was counted",
        expect(&envoy, &s1, while_down),
    );

    idp.set_mode(Endpoint::Revocations, Mode::Ok);
    // POLL, 6 s: the next retry is at most the refresh period (2 s) away, then a worker tick.
    for (req, want) in [
        (&s1, Outcome::Refused(REVOKED)),
        (&s1_internal, Outcome::Refused(REVOKED)),
        (&s2, Outcome::Pass),
    ] {
        step(
            &format!("{}: once the feed answers", req.listener),
            await_outcome(&envoy, req, want, &[while_down], Duration::from_secs(6)),
        );
    }
}

#[test]
fn revocation_feed_down_at_start_denies() {
    revocation_feed_down_at_start("revocation-down-deny", "deny");
}

#[test]
fn revocation_feed_down_at_start_allows_when_configured() {
    revocation_feed_down_at_start("revocation-down-allow", "allow");
}

// ---------------------------------------------------------------------------------------------
// Two workers: one fetcher per Envoy, every worker sees the same data
// ---------------------------------------------------------------------------------------------

const LISTENERS: [&str; 2] = ["edge", "internal"];

/// Sends every case on `connections` fresh connections (each its own client, HTTP/1.1 and HTTP/2
/// in turn); the first answer that is not the case's outcome is the error.
fn round(envoy: &Envoy, cases: &[(&str, Req, Outcome)], connections: usize) -> Result<(), String> {
    for connection in 0..connections {
        let transport = Transport::ALL[connection % Transport::ALL.len()];
        for (name, req, want) in cases {
            let reply = req.send(envoy, &Client::new(transport))?;
            match outcome_of(&reply) {
                Ok(got) if got == *want => {}
                Ok(got) => return Err(format!("{name}: expected {want:?}, got {got:?}")),
                Err(why) => return Err(format!("{name}: expected {want:?}, got {why}")),
            }
        }
    }
    Ok(())
}

/// `downstream_cx_total` of each worker for a listener, as (stat name, value).
fn connections_per_worker(envoy: &Envoy, listener: &str) -> Vec<(String, u64)> {
    // identity.yaml gives each listener its name as stat_prefix.
    let prefix = format!("listener.{listener}.worker_");
    let stats = step("read the listener stats", envoy.stats(&prefix));
    stats
        .into_iter()
        .filter(|(name, _)| name.starts_with(&prefix) && name.ends_with(".downstream_cx_total"))
        .collect()
}

#[test]
fn two_workers_share_keys_revocations_and_one_fetcher() {
    let idp = stub();
    let first = key("k1");
    serve_keys(&idp, &[&first]);
    let feeds = Feeds {
        jwks_refresh_s: 1,
        revocation_refresh_s: 1,
        ..AS_WRITTEN
    };
    let envoy = start("two-workers", feeds, &idp, 2);
    let window_start = Instant::now();
    let jwks_hits_start = idp.hits(Endpoint::Jwks);
    let revocation_hits_start = idp.hits(Endpoint::Revocations);
    await_serving(&envoy, &Req::edge(&sign(&first, &edge_claims("s2", now()))));

    // New data on the identity service: a key and a revoked session.
    let second = key("k2");
    serve_keys(&idp, &[&first, &second]);
    let t = now();
    idp.revoke("s1", t - 10, None);
    let cases: Vec<(&str, Req, Outcome)> = vec![
        (
            "edge: the new key",
            Req::edge(&sign(&second, &edge_claims("s2", t - 20))),
            Outcome::Pass,
        ),
        (
            "edge: the revoked session",
            Req::edge(&sign(&first, &edge_claims("s1", t - 20))),
            Outcome::Refused(REVOKED),
        ),
        (
            "internal: the new key",
            Req::internal(&sign(&second, &orders_claims("s2", t - 20))),
            Outcome::Pass,
        ),
        (
            "internal: the revoked session",
            Req::internal(&sign(&first, &orders_claims("s1", t - 20))),
            Outcome::Refused(REVOKED),
        ),
    ];
    for (name, req, want) in &cases {
        // POLL, 4 s: the next refresh (1 s) and a worker tick, on whichever worker answers.
        step(
            name,
            await_outcome(
                &envoy,
                req,
                *want,
                &[
                    Outcome::Pass,
                    Outcome::Refused(UNKNOWN_KID),
                    Outcome::Refused(REVOKED),
                ],
                Duration::from_secs(4),
            ),
        );
    }
    // POLL, 3 s: the other worker picks the data up on its own tick (0.5 s), so for a moment a
    // connection it serves may still be answered the old way: until one round of 20 fresh
    // connections per case agrees.
    step(
        "every worker has the new data",
        poll(Duration::from_secs(3), || round(&envoy, &cases, 20)),
    );
    // From now on every answer must agree, round after round, until both workers have served
    // connections of both listeners (the kernel spreads connections over the workers).
    let served_before: Vec<_> = LISTENERS
        .iter()
        .map(|l| connections_per_worker(&envoy, l))
        .collect();
    for rounds in 1.. {
        step(
            "all workers agree",
            round(&envoy, &cases, 20).map_err(|e| format!("round {rounds}: {e}")),
        );
        let served_now: Vec<_> = LISTENERS
            .iter()
            .map(|l| connections_per_worker(&envoy, l))
            .collect();
        let both_workers_served = served_before.iter().zip(&served_now).all(|(before, now)| {
            now.len() == 2
                && now
                    .iter()
                    .all(|(name, v)| before.iter().any(|(n, b)| n == name && v > b))
        });
        if both_workers_served {
            eprintln!("connections per worker: {served_now:?}");
            break;
        }
        assert!(
            rounds < 10,
            "after {rounds} rounds a worker has still served no connection: {served_now:?}"
        );
    }

    // WINDOW: at least 5 s in all since Envoy was ready, to count fetches over several periods.
    let rest = Duration::from_secs(5).saturating_sub(window_start.elapsed());
    std::thread::sleep(rest);
    let periods = window_start.elapsed().as_secs_f64().ceil() as u64;
    let jwks_hits = idp.hits(Endpoint::Jwks) - jwks_hits_start;
    let revocation_hits = idp.hits(Endpoint::Revocations) - revocation_hits_start;
    eprintln!(
        "over {periods} periods of 1 s: {jwks_hits} JWKS fetches, {revocation_hits} feed fetches"
    );
    // One fetcher per Envoy: one fetch per period, plus the first one and a kid-miss refetch
    // (the new key may be asked for before the periodic refresh brings it).
    assert!(
        jwks_hits <= periods + 2,
        "{jwks_hits} JWKS fetches in {periods} periods of 1 s: more than one fetcher per Envoy?"
    );
    assert!(
        revocation_hits <= periods + 2,
        "{revocation_hits} feed fetches in {periods} periods of 1 s: more than one fetcher per Envoy?"
    );
}

// ---------------------------------------------------------------------------------------------
// Counters
// ---------------------------------------------------------------------------------------------

#[test]
fn counters_count_every_fetch_outcome() {
    let idp = stub();
    let signer = key("k1");
    serve_keys(&idp, &[&signer]);
    // No periodic refresh within the test (300 s), a short kid-miss cooldown (1 s): every fetch
    // after the first is one this test causes.
    let feeds = Feeds {
        jwks_refresh_s: 300,
        revocation_refresh_s: 300,
        kid_miss_cooldown_s: 1,
        ..AS_WRITTEN
    };
    let envoy = start("counters", feeds, &idp, 1);
    let unknown = |kid: &str| {
        Req::edge(&sign_with(
            &signer,
            "ES256",
            json!({"kid": kid}),
            &edge_claims("s1", now()),
        ))
    };
    let counters = |envoy: &Envoy| {
        [
            JWKS_FETCH_OK,
            JWKS_FETCH_FAILED,
            JWKS_KID_MISS_REFETCH,
            REVOCATION_FETCH_OK,
            REVOCATION_FETCH_FAILED,
        ]
        .map(|name| stat(envoy, name))
    };

    // 1. Start: one good fetch of each.
    await_serving(
        &envoy,
        &Req::edge(&sign(&signer, &edge_claims("s1", now()))),
    );
    await_serving(
        &envoy,
        &Req::internal(&sign(&signer, &orders_claims("s1", now()))),
    );
    assert_eq!(
        counters(&envoy),
        [1, 0, 0, 1, 0],
        "after start [jwks ok, jwks failed, kid-miss refetches, revocation ok, revocation failed]"
    );

    // 2. An unknown kid: one refetch, which succeeds.
    step(
        "unknown kid",
        expect(&envoy, &unknown("nope-1"), Outcome::Refused(UNKNOWN_KID)),
    );
    // POLL, 5 s: the refetch lands.
    step(
        "the refetch is counted ok",
        await_stat(&envoy, JWKS_FETCH_OK, 2, Duration::from_secs(5)),
    );
    assert_eq!(counters(&envoy), [2, 0, 1, 1, 0], "after one kid miss");
    // The JWKS had not changed: the refetch was conditional and came back 304.
    assert_eq!(stat(&envoy, JWKS_FETCH_NOT_MODIFIED), 1);
    assert_eq!(idp.answered(Endpoint::Jwks, 304), 1);

    // 3. The JWKS fails; after the cooldown (1 s), an unknown kid refetches, and that fails.
    idp.set_mode(Endpoint::Jwks, Mode::Status(500));
    // POLL, 5 s: keep asking for unknown kids until the cooldown lets one refetch.
    step(
        "a second kid miss refetches after the cooldown",
        poll_until(Duration::from_secs(5), || {
            expect(&envoy, &unknown("nope-2"), Outcome::Refused(UNKNOWN_KID))?;
            match envoy.stat(JWKS_KID_MISS_REFETCH)? {
                2 => Ok(()),
                1 => Err(Wait::Retry(format!("{JWKS_KID_MISS_REFETCH} is still 1"))),
                n => Err(Wait::Fail(format!("{JWKS_KID_MISS_REFETCH} is {n}"))),
            }
        }),
    );
    // POLL, 5 s: the failure is counted.
    step(
        "the failed refetch is counted",
        await_stat(&envoy, JWKS_FETCH_FAILED, 1, Duration::from_secs(5)),
    );
    step(
        "the last good keys stay in use",
        expect(
            &envoy,
            &Req::edge(&sign(&signer, &edge_claims("s1", now()))),
            Outcome::Pass,
        ),
    );

    // 4. The JWKS recovers: the backoff retry (1 s, 2 s, ...) succeeds.
    idp.set_mode(Endpoint::Jwks, Mode::Ok);
    // POLL, 10 s: retries after 1, 2, 4 s of backoff.
    step(
        "the retry after the failure is counted ok",
        await_stat(&envoy, JWKS_FETCH_OK, 3, Duration::from_secs(10)),
    );
    let [ok, failed, kid_miss, revocation_ok, revocation_failed] = counters(&envoy);
    assert_eq!(
        [ok, kid_miss, revocation_ok, revocation_failed],
        [3, 2, 1, 0],
        "at the end [jwks ok, kid-miss refetches, revocation ok, revocation failed]"
    );
    // Every request the stub saw is counted once, as ok or failed.
    assert_eq!(
        ok + failed,
        idp.hits(Endpoint::Jwks),
        "jwks ok {ok} + failed {failed} != JWKS requests the stub saw"
    );
    assert_eq!(
        revocation_ok + revocation_failed,
        idp.hits(Endpoint::Revocations)
    );
}

// ---------------------------------------------------------------------------------------------
// Fetch only what changed: conditional requests, 304s, Cache-Control
// ---------------------------------------------------------------------------------------------

/// POLL, 3 s: until the Envoy counter equals `expected()` (a fetch the stub has answered is
/// counted once the answer reaches the filter, within a tick). Returns the value.
fn await_stat_equal(envoy: &Envoy, name: &str, expected: impl Fn() -> u64) -> Result<u64, String> {
    poll(Duration::from_secs(3), || {
        let (value, want) = (envoy.stat(name)?, expected());
        if value == want {
            Ok(value)
        } else {
            Err(format!("{name} is {value}, the stub says {want}"))
        }
    })
    .map(|(value, _)| value)
}

#[test]
fn unchanged_documents_come_back_304_until_they_change() {
    let idp = stub();
    let first = key("k1");
    serve_keys(&idp, &[&first]);
    let feeds = Feeds {
        jwks_refresh_s: 1,
        revocation_refresh_s: 1,
        ..AS_WRITTEN
    };
    let envoy = start("conditional", feeds, &idp, 2);
    let edge = Req::edge(&sign(&first, &edge_claims("s1", now())));
    let internal = Req::internal(&sign(&first, &orders_claims("s1", now())));
    await_serving(&envoy, &edge);
    await_serving(&envoy, &internal);

    // POLL, 8 s: refresh 1 s, so a few periods; each refetch sends the stored ETag and the stub
    // answers 304 only when it matches the document it serves.
    step(
        "the refetches are conditional and answered 304",
        poll(Duration::from_secs(8), || {
            let jwks = idp.answered(Endpoint::Jwks, 304);
            let feed = idp.answered(Endpoint::Revocations, 304);
            if jwks >= 3 && feed >= 3 {
                Ok(())
            } else {
                Err(format!("304s so far: JWKS {jwks}, feed {feed}"))
            }
        }),
    );
    // One whole document each, at start, for the Envoy (two workers, one fetcher).
    assert_eq!(idp.answered(Endpoint::Jwks, 200), 1, "JWKS 200s");
    assert_eq!(idp.answered(Endpoint::Revocations, 200), 1, "feed 200s");
    // The keys and the (empty) list are still in force on every worker, after many 304s.
    step(
        "tokens still verify",
        round(
            &envoy,
            &[
                ("edge", edge.clone(), Outcome::Pass),
                ("internal", internal.clone(), Outcome::Pass),
            ],
            10,
        ),
    );
    // Every 304 is a successful fetch, counted as such and as not modified.
    let not_modified = step(
        "JWKS 304s counted",
        await_stat_equal(&envoy, JWKS_FETCH_NOT_MODIFIED, || {
            idp.answered(Endpoint::Jwks, 304)
        }),
    );
    assert!(not_modified >= 3);
    step(
        "JWKS fetches counted ok",
        await_stat_equal(&envoy, JWKS_FETCH_OK, || idp.hits(Endpoint::Jwks)),
    );
    step(
        "feed 304s counted",
        await_stat_equal(&envoy, REVOCATION_FETCH_NOT_MODIFIED, || {
            idp.answered(Endpoint::Revocations, 304)
        }),
    );
    assert_eq!(stat(&envoy, JWKS_FETCH_FAILED), 0);
    assert_eq!(stat(&envoy, REVOCATION_FETCH_FAILED), 0);

    // A rotation and a revocation: both bodies change, so do their tags; one 200 each.
    let second = key("k2");
    serve_keys(&idp, &[&first, &second]);
    idp.revoke("s1", now() - 10, None);
    let rotated = Req::edge(&sign(&second, &edge_claims("s2", now())));
    // POLL, 4 s: the next refresh (1 s) or the kid-miss refetch, and a worker tick.
    step(
        "the new key verifies",
        await_outcome(
            &envoy,
            &rotated,
            Outcome::Pass,
            &[Outcome::Refused(UNKNOWN_KID)],
            Duration::from_secs(4),
        ),
    );
    let revoked = Req::edge(&sign(&first, &edge_claims("s1", now() - 20)));
    step(
        "the revocation applies",
        await_outcome(
            &envoy,
            &revoked,
            Outcome::Refused(REVOKED),
            &[Outcome::Pass],
            Duration::from_secs(4),
        ),
    );
    // POLL, 8 s: then 304s again, to the new tags.
    let (jwks_304, feed_304) = (
        idp.answered(Endpoint::Jwks, 304),
        idp.answered(Endpoint::Revocations, 304),
    );
    step(
        "304s to the new tags",
        poll(Duration::from_secs(8), || {
            let (jwks, feed) = (
                idp.answered(Endpoint::Jwks, 304),
                idp.answered(Endpoint::Revocations, 304),
            );
            if jwks >= jwks_304 + 2 && feed >= feed_304 + 2 {
                Ok(())
            } else {
                Err(format!(
                    "304s: JWKS {jwks_304} -> {jwks}, feed {feed_304} -> {feed}"
                ))
            }
        }),
    );
    assert_eq!(
        idp.answered(Endpoint::Jwks, 200),
        2,
        "JWKS 200s: start, rotation"
    );
    assert_eq!(
        idp.answered(Endpoint::Revocations, 200),
        2,
        "feed 200s: start, revocation"
    );
    step(
        "every worker has the new key and the revocation",
        round(
            &envoy,
            &[
                ("edge: new key", rotated.clone(), Outcome::Pass),
                ("edge: revoked", revoked.clone(), Outcome::Refused(REVOKED)),
            ],
            10,
        ),
    );
    step(
        "JWKS 304s counted",
        await_stat_equal(&envoy, JWKS_FETCH_NOT_MODIFIED, || {
            idp.answered(Endpoint::Jwks, 304)
        }),
    );
    eprintln!(
        "JWKS: {} requests, {} answered 200, {} answered 304",
        idp.hits(Endpoint::Jwks),
        idp.answered(Endpoint::Jwks, 200),
        idp.answered(Endpoint::Jwks, 304)
    );
}

#[test]
fn a_service_without_validators_gets_whole_fetches_and_an_unasked_304_fails() {
    let idp = stub();
    idp.set_conditional(false);
    let signer = key("k1");
    serve_keys(&idp, &[&signer]);
    let feeds = Feeds {
        jwks_refresh_s: 1,
        ..AS_WRITTEN
    };
    let envoy = start("unconditional", feeds, &idp, 1);
    let edge = Req::edge(&sign(&signer, &edge_claims("s1", now())));
    await_serving(&envoy, &edge);
    // POLL, 6 s: a few refreshes, each a whole document (nothing to send a precondition with).
    step(
        "whole fetches",
        poll(Duration::from_secs(6), || {
            match idp.answered(Endpoint::Jwks, 200) {
                n if n >= 3 => Ok(()),
                n => Err(format!("{n} JWKS 200s")),
            }
        }),
    );
    assert_eq!(idp.answered(Endpoint::Jwks, 304), 0);
    assert_eq!(stat(&envoy, JWKS_FETCH_NOT_MODIFIED), 0);

    // A 304 to a request that sent no validator answers a question never asked: a failed fetch.
    let failed_before = stat(&envoy, JWKS_FETCH_FAILED);
    idp.set_mode(Endpoint::Jwks, Mode::Status(304));
    // POLL, 5 s: the next refresh (1 s) fails, then the retry (1 s); the keys stay meanwhile.
    step(
        "an unasked 304 is a failure and the keys stay",
        poll_until(Duration::from_secs(5), || {
            expect(&envoy, &edge, Outcome::Pass)?;
            let failed = envoy.stat(JWKS_FETCH_FAILED)?;
            if failed >= failed_before + 2 {
                Ok(())
            } else {
                Err(Wait::Retry(format!(
                    "{JWKS_FETCH_FAILED} {failed_before} -> {failed}"
                )))
            }
        }),
    );
    assert_eq!(stat(&envoy, JWKS_FETCH_NOT_MODIFIED), 0);
    // POLL, 3 s: Envoy flushes its log file on its own schedule.
    step(
        "the log says why",
        poll(Duration::from_secs(3), || {
            let why = "status 304 to a request that sent no validator";
            match envoy.log().contains(why) {
                true => Ok(()),
                false => Err(format!("no {why:?} in the log yet")),
            }
        }),
    );
}

#[test]
fn the_jwks_refresh_follows_cache_control_within_its_bounds() {
    let idp = stub();
    let signer = key("k1");
    serve_keys(&idp, &[&signer]);
    idp.set_cache_control(Endpoint::Jwks, Some("max-age=1"));
    // refresh_seconds 30: without Cache-Control, one fetch in this test. Bounds 1..=30 s.
    let feeds = Feeds {
        jwks_refresh_s: 30,
        jwks_refresh_bounds: Some((1, 30)),
        ..AS_WRITTEN
    };
    let envoy = start("cache-control", feeds, &idp, 1);
    await_serving(
        &envoy,
        &Req::edge(&sign(&signer, &edge_claims("s1", now()))),
    );
    // POLL, 8 s: max-age=1 brings each refresh forward to 1 s (a few 304s, also max-age=1).
    let (_, took) = step(
        "max-age=1 refreshes every second",
        poll(Duration::from_secs(8), || match idp.hits(Endpoint::Jwks) {
            n if n >= 4 => Ok(()),
            n => Err(format!("{n} JWKS fetches")),
        }),
    );
    eprintln!("4 JWKS fetches within {took:?}");
    assert!(idp.answered(Endpoint::Jwks, 304) >= 3);

    // A max-age past the bound is held to max_refresh_seconds (30 s): once a fetch has seen it,
    // no other comes within this test.
    idp.set_cache_control(Endpoint::Jwks, Some("max-age=86400"));
    let seen = idp.hits(Endpoint::Jwks);
    // POLL, 3 s: the fetch already scheduled (1 s away) brings the new max-age.
    step(
        "one more fetch sees the long max-age",
        poll(Duration::from_secs(3), || match idp.hits(Endpoint::Jwks) {
            n if n > seen => Ok(n),
            n => Err(format!("{n} JWKS fetches")),
        }),
    );
    // Let that fetch's answer land (and its counters, as a check it has).
    step(
        "its answer is counted",
        await_stat_equal(&envoy, JWKS_FETCH_OK, || idp.hits(Endpoint::Jwks)),
    );
    let after = idp.hits(Endpoint::Jwks);
    // WINDOW, 3 s: with max-age=1 this would be three more fetches.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        idp.hits(Endpoint::Jwks),
        after,
        "no fetch within 3 s of a max-age held to 30 s"
    );
}
