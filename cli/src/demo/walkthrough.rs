//! The walkthrough itself: what README.md shows between its demo markers (see `super`).

use super::{Check, Line, Part, Scenario, Walkthrough};

pub static WALKTHROUGH: Walkthrough = Walkthrough {
    intro: &[
        r##"`make demo` runs these commands for you, exactly as written here, and checks every result. To try
them by hand, start the demo with `make run` (Envoy, the echo upstream on :8081 and the stub
identity service on :8082, which serves the demo JWKS and the revocation feed) and, in another
shell, build the CLI that mints tokens (`cargo build --release -p jwt-relay-cli`; it lands in
`target/release/jwt-relay-cli`) and set:"##,
    ],
    setup: &[
        Line::Set {
            var: "PATH",
            value: r##""$PWD/target/release:$PATH""##,
            export: true,
            comment: None,
        },
        Line::Set {
            var: "KEY",
            value: r##"envoy/demo-keys/rsa.jwk.json"##,
            export: false,
            comment: Some(r##"demo keys: never use them anywhere else"##),
        },
        Line::Set {
            var: "ISS",
            value: r##"https://idp.example.com"##,
            export: false,
            comment: None,
        },
        Line::Set {
            var: "SID",
            value: r##"alice-session-1"##,
            export: false,
            comment: None,
        },
        Line::Set {
            var: "CACERT",
            value: r##"target/demo-tls/ca.crt"##,
            export: false,
            comment: Some(
                r##"the edge's CA: make run and make demo write it; trust it for the demo only"##,
            ),
        },
        Line::Set {
            var: "FORGED_KEY",
            value: r##"${TMPDIR:-/tmp}/forged-rsa.jwk.json"##,
            export: false,
            comment: Some(r##"scratch: a key that is not the identity service's"##),
        },
    ],
    after_setup: &[
        r##"Envoy listens on 127.0.0.1: the edge on port 10000, HTTPS only (TLS 1.2+, HTTP/1.1 or HTTP/2 by
ALPN, a certificate for `localhost` signed by the throwaway CA in `$CACERT`), and an internal hop
on 10001 in cleartext, standing for a hop inside a mesh whose sidecars add mTLS (see
[HTTPS at the edge](#https-at-the-edge)). The echo upstream answers with the method, path and
headers it received, so each answer shows what the service behind Envoy would see."##,
    ],
    scenarios: &[
        Scenario {
            title: r##"No token: 401"##,
            parts: &[
                Part::Prose(
                    r##"The edge refuses a request that carries no token, with a Bearer challenge."##,
                ),
                Part::Block {
                    lines: &[Line::Curl {
                        args: r##"--cacert $CACERT -i https://localhost:10000/"##,
                        repeat_until: None,
                    }],
                    checks: &[
                        Check::Status(401),
                        Check::ChallengeIs(r##"Bearer realm="jwt-relay""##),
                    ],
                },
                Part::Prose(r##"`401`, `www-authenticate: Bearer realm="jwt-relay"`."##),
            ],
        },
        Scenario {
            title: r##"A valid token passes the edge"##,
            parts: &[
                Part::Prose(
                    r##"A token signed with the identity service's key, for this API's audience. It also carries a
narrower token for the orders service (`--embed orders`), for the next scenarios."##,
                ),
                Part::Block {
                    lines: &[
                        Line::Set {
                            var: "TOKEN",
                            value: r##"$(jwt-relay-cli mint --key $KEY --iss $ISS --sub alice --aud api.example.com --embed orders)"##,
                            export: false,
                            comment: None,
                        },
                        Line::Curl {
                            args: r##"--cacert $CACERT -H "authorization: Bearer $TOKEN" https://localhost:10000/"##,
                            repeat_until: None,
                        },
                    ],
                    checks: &[
                        Check::Status(200),
                        Check::ForwardedTokenIs(r##"TOKEN"##),
                        Check::XJwtSubIs(r##"alice"##),
                    ],
                },
                Part::Prose(
                    r##"`200`; `/` routes to `web_cluster`, which is not a narrowing target, so the upstream sees `$TOKEN`
as it came, plus `x-jwt-sub: alice`."##,
                ),
            ],
        },
        Scenario {
            title: r##"The edge forwards only the narrowed token"##,
            parts: &[
                Part::Prose(
                    r##"`/orders` routes to `orders_cluster`, whose audience is `orders`: the filter swaps the broad token
for the one embedded in it for `orders`."##,
                ),
                Part::Block {
                    lines: &[Line::Curl {
                        args: r##"--cacert $CACERT -H "authorization: Bearer $TOKEN" https://localhost:10000/orders"##,
                        repeat_until: None,
                    }],
                    checks: &[
                        Check::Status(200),
                        Check::ForwardedAudIs(r##"orders"##),
                        Check::NowhereUpstream(r##"TOKEN"##),
                    ],
                },
                Part::Prose(
                    r##"`200`; the upstream sees `authorization: Bearer <the embedded token>` whose `aud` is `orders`. The
outer token appears nowhere in what the upstream received."##,
                ),
            ],
        },
        Scenario {
            title: r##"A token in the query string is narrowed and removed from the URL"##,
            parts: &[
                Part::Prose(
                    r##"A token passed as `?access_token=` is swapped the same way, and taken out of the URL the upstream
sees."##,
                ),
                Part::Block {
                    lines: &[Line::Curl {
                        args: r##"--cacert $CACERT "https://localhost:10000/orders?access_token=$TOKEN&page=2""##,
                        repeat_until: None,
                    }],
                    checks: &[
                        Check::Status(200),
                        Check::UpstreamPathIs(r##"/orders?page=2"##),
                        Check::ForwardedAudIs(r##"orders"##),
                        Check::NowhereUpstream(r##"TOKEN"##),
                    ],
                },
                Part::Prose(
                    r##"`200`; the upstream path is `/orders?page=2` and its `authorization` holds the `orders` token."##,
                ),
            ],
        },
        Scenario {
            title: r##"No narrowed token for that service: 403"##,
            parts: &[
                Part::Prose(
                    r##"`/inventory` routes to a service that needs a token embedded for `inventory`. `$TOKEN` has none,
and the broad token is never forwarded in its place."##,
                ),
                Part::Block {
                    lines: &[Line::Curl {
                        args: r##"--cacert $CACERT -i -H "authorization: Bearer $TOKEN" https://localhost:10000/inventory"##,
                        repeat_until: None,
                    }],
                    checks: &[
                        Check::Status(403),
                        Check::ChallengeHas(
                            r##"Bearer realm="jwt-relay", error="insufficient_scope""##,
                        ),
                    ],
                },
                Part::Prose(
                    r##"`403`, `www-authenticate: Bearer realm="jwt-relay", error="insufficient_scope", ...`."##,
                ),
            ],
        },
        Scenario {
            title: r##"Spoofed identity headers are replaced"##,
            parts: &[
                Part::Prose(
                    r##"A client cannot claim to be someone else: the headers the filter sets are removed from the
request first."##,
                ),
                Part::Block {
                    lines: &[Line::Curl {
                        args: r##"--cacert $CACERT -H "authorization: Bearer $TOKEN" -H "x-jwt-sub: admin" https://localhost:10000/"##,
                        repeat_until: None,
                    }],
                    checks: &[Check::Status(200), Check::XJwtSubIs(r##"alice"##)],
                },
                Part::Prose(r##"`200`; the upstream sees exactly one `x-jwt-sub: alice`."##),
            ],
        },
        Scenario {
            title: r##"A public route needs no token; an admin route needs a scope"##,
            parts: &[
                Part::Prose(
                    r##"Each route says what it needs in its own route metadata (`filter_metadata.jwt_relay`, see
"Per-route requirements" below): `/public` allows a caller without a token, `/admin` requires
the scope `orders:admin`. `$TOKEN` has no scope at all."##,
                ),
                Part::Block {
                    lines: &[Line::Curl {
                        args: r##"--cacert $CACERT https://localhost:10000/public"##,
                        repeat_until: None,
                    }],
                    checks: &[Check::Status(200)],
                },
                Part::Prose(r##"`200` without a token (and without identity headers upstream)."##),
                Part::Block {
                    lines: &[Line::Curl {
                        args: r##"--cacert $CACERT -i -H "authorization: Bearer $TOKEN" https://localhost:10000/admin"##,
                        repeat_until: None,
                    }],
                    checks: &[
                        Check::Status(403),
                        Check::ChallengeHas(r##"error="insufficient_scope""##),
                        Check::ChallengeHas(r##"scope="orders:admin""##),
                    ],
                },
                Part::Prose(
                    r##"`403`, `www-authenticate: Bearer realm="jwt-relay", error="insufficient_scope", ...,
scope="orders:admin"`. A token that carries the scope passes:"##,
                ),
                Part::Block {
                    lines: &[
                        Line::Set {
                            var: "ADMIN",
                            value: r##"$(jwt-relay-cli mint --key $KEY --iss $ISS --sub alice --aud api.example.com --claim scope=orders:admin)"##,
                            export: false,
                            comment: None,
                        },
                        Line::Curl {
                            args: r##"--cacert $CACERT -H "authorization: Bearer $ADMIN" https://localhost:10000/admin"##,
                            repeat_until: None,
                        },
                    ],
                    checks: &[Check::Status(200), Check::ForwardedTokenIs(r##"ADMIN"##)],
                },
                Part::Prose(r##"`200`."##),
            ],
        },
        Scenario {
            title: r##"A token about to expire gets a refresh hint"##,
            parts: &[
                Part::Prose(
                    r##"A token that passes the edge with less than 60 s left (the demo's `refresh_hint_seconds`)
comes back with a header saying how long it has, so the client refreshes before its next call
rather than after a 401 (see "Refresh before expiry" below)."##,
                ),
                Part::Block {
                    lines: &[
                        Line::Set {
                            var: "SHORT",
                            value: r##"$(jwt-relay-cli mint --key $KEY --iss $ISS --sub alice --aud api.example.com --exp-offset 30)"##,
                            export: false,
                            comment: None,
                        },
                        Line::Curl {
                            args: r##"--cacert $CACERT -i -H "authorization: Bearer $SHORT" https://localhost:10000/"##,
                            repeat_until: None,
                        },
                    ],
                    checks: &[Check::Status(200), Check::RefreshHint(Some(30))],
                },
                Part::Prose(
                    r##"`200`, `x-token-expires-in: 30` (or a second less). `$TOKEN`, with ten minutes left, gets no
such header."##,
                ),
            ],
        },
        Scenario {
            title: r##"An expired token is refused at the edge…"##,
            parts: &[
                Part::Prose(
                    r##"The edge checks the token's lifetime (`exp`, with 60 s of clock skew)."##,
                ),
                Part::Block {
                    lines: &[
                        Line::Set {
                            var: "EXPIRED",
                            value: r##"$(jwt-relay-cli mint --key $KEY --iss $ISS --sub alice --aud api.example.com --aud orders --iat-offset -600 --exp-offset -300)"##,
                            export: false,
                            comment: None,
                        },
                        Line::Curl {
                            args: r##"--cacert $CACERT -i -H "authorization: Bearer $EXPIRED" https://localhost:10000/"##,
                            repeat_until: None,
                        },
                    ],
                    checks: &[
                        Check::Status(401),
                        Check::ChallengeHas(
                            r##"error="invalid_token", error_description="token expired""##,
                        ),
                    ],
                },
                Part::Prose(
                    r##"`401`, `error="invalid_token", error_description="token expired"`."##,
                ),
            ],
        },
        Scenario {
            title: r##"…but an internal hop accepts it"##,
            parts: &[
                Part::Prose(
                    r##"Inside, a chain of calls must not fail midway because a token expired on the way."##,
                ),
                Part::Block {
                    lines: &[Line::Curl {
                        args: r##"-H "authorization: Bearer $EXPIRED" http://127.0.0.1:10001/"##,
                        repeat_until: None,
                    }],
                    checks: &[Check::Status(200), Check::ForwardedTokenIs(r##"EXPIRED"##)],
                },
                Part::Prose(
                    r##"`200`, and the upstream sees `$EXPIRED` as it came: port 10001 is the internal listener (its
listener metadata says `role: internal`), so the signature, issuer and audience are checked but
the lifetime is not."##,
                ),
            ],
        },
        Scenario {
            title: r##"A forged token fails on the internal hop"##,
            parts: &[
                Part::Prose(
                    r##"The internal hop skips only the lifetime check: a token signed with another key is refused, even
one that names the real key's `kid`."##,
                ),
                Part::Block {
                    lines: &[
                        Line::Run {
                            command: r##"jwt-relay-cli keygen --kind rsa --kid demo-rsa --out "$FORGED_KEY""##,
                            comment: Some(r##"same kid, other key"##),
                        },
                        Line::Set {
                            var: "FORGED",
                            value: r##"$(jwt-relay-cli mint --key "$FORGED_KEY" --iss $ISS --sub alice --aud orders)"##,
                            export: false,
                            comment: None,
                        },
                        Line::Curl {
                            args: r##"-i -H "authorization: Bearer $FORGED" http://127.0.0.1:10001/"##,
                            repeat_until: None,
                        },
                    ],
                    checks: &[
                        Check::Status(401),
                        Check::ChallengeHas(
                            r##"error_description="signature verification failed""##,
                        ),
                    ],
                },
                Part::Prose(r##"`401`, `error_description="signature verification failed"`."##),
            ],
        },
        Scenario {
            title: r##"The internal hop narrows again for the next service"##,
            parts: &[
                Part::Prose(
                    r##"Tokens follow the call graph: the client's token embeds one for the orders service, which embeds
one for payments. The client calls orders through the edge:"##,
                ),
                Part::Block {
                    lines: &[
                        Line::Set {
                            var: "PAYMENTS",
                            value: r##"$(jwt-relay-cli mint --key $KEY --iss $ISS --sub alice --aud payments --ttl 300)"##,
                            export: false,
                            comment: None,
                        },
                        Line::Set {
                            var: "ORDERS_TOKEN",
                            value: r##"$(jwt-relay-cli mint --key $KEY --iss $ISS --sub alice --aud orders --embed-token payments=$PAYMENTS)"##,
                            export: false,
                            comment: None,
                        },
                        Line::Set {
                            var: "CHAIN",
                            value: r##"$(jwt-relay-cli mint --key $KEY --iss $ISS --sub alice --aud api.example.com --embed-token orders=$ORDERS_TOKEN)"##,
                            export: false,
                            comment: None,
                        },
                        Line::Curl {
                            args: r##"--cacert $CACERT -H "authorization: Bearer $CHAIN" https://localhost:10000/orders"##,
                            repeat_until: None,
                        },
                    ],
                    checks: &[
                        Check::Status(200),
                        Check::ForwardedTokenIs(r##"ORDERS_TOKEN"##),
                        Check::NowhereUpstream(r##"CHAIN"##),
                    ],
                },
                Part::Prose(
                    r##"`200`; the upstream (orders) sees `$ORDERS_TOKEN`, and `$CHAIN` nowhere. Orders then calls payments
through the internal listener with the token it received:"##,
                ),
                Part::Block {
                    lines: &[Line::Curl {
                        args: r##"-H "authorization: Bearer $ORDERS_TOKEN" http://127.0.0.1:10001/payments"##,
                        repeat_until: None,
                    }],
                    checks: &[
                        Check::Status(200),
                        Check::ForwardedTokenIs(r##"PAYMENTS"##),
                        Check::ForwardedAudIs(r##"payments"##),
                        Check::NowhereUpstream(r##"ORDERS_TOKEN"##),
                    ],
                },
                Part::Prose(
                    r##"`200`; the upstream (payments) sees `$PAYMENTS`, and `$ORDERS_TOKEN` nowhere."##,
                ),
            ],
        },
        Scenario {
            title: r##"Revoking a session cuts off the whole chain within seconds"##,
            parts: &[
                Part::Prose(
                    r##"Short-lived tokens cannot be recalled, so the identity service publishes revoked sessions; Envoy
fetches the list (every 2 s here) and refuses every token of a listed session issued before the
revocation, at the edge and on internal hops, where no lifetime check would stop a stolen token.
The same chain as above, for session `$SID`, passes both hops:"##,
                ),
                Part::Block {
                    lines: &[
                        Line::Set {
                            var: "PAYMENTS",
                            value: r##"$(jwt-relay-cli mint --key $KEY --iss $ISS --sub alice --sid $SID --aud payments --ttl 300)"##,
                            export: false,
                            comment: None,
                        },
                        Line::Set {
                            var: "ORDERS_TOKEN",
                            value: r##"$(jwt-relay-cli mint --key $KEY --iss $ISS --sub alice --sid $SID --aud orders --embed-token payments=$PAYMENTS)"##,
                            export: false,
                            comment: None,
                        },
                        Line::Set {
                            var: "CHAIN",
                            value: r##"$(jwt-relay-cli mint --key $KEY --iss $ISS --sub alice --sid $SID --aud api.example.com --embed-token orders=$ORDERS_TOKEN)"##,
                            export: false,
                            comment: None,
                        },
                        Line::Curl {
                            args: r##"--cacert $CACERT -H "authorization: Bearer $CHAIN" https://localhost:10000/orders"##,
                            repeat_until: None,
                        },
                    ],
                    checks: &[
                        Check::Status(200),
                        Check::ForwardedTokenIs(r##"ORDERS_TOKEN"##),
                    ],
                },
                Part::Block {
                    lines: &[Line::Curl {
                        args: r##"-H "authorization: Bearer $ORDERS_TOKEN" http://127.0.0.1:10001/payments"##,
                        repeat_until: None,
                    }],
                    checks: &[Check::Status(200), Check::ForwardedTokenIs(r##"PAYMENTS"##)],
                },
                Part::Prose(
                    r##"`200` twice: the upstreams see `$ORDERS_TOKEN`, then `$PAYMENTS`. Now the identity service revokes
the session. Repeat each curl until it answers `401`: it takes up to one refresh of the list (2 s)."##,
                ),
                Part::Block {
                    lines: &[
                        Line::Run {
                            command: r##"jwt-relay-cli revoke --idp http://127.0.0.1:8082 --sid $SID"##,
                            comment: None,
                        },
                        Line::Curl {
                            args: r##"--cacert $CACERT -i -H "authorization: Bearer $CHAIN" https://localhost:10000/orders"##,
                            repeat_until: Some(401),
                        },
                    ],
                    checks: &[
                        Check::Status(401),
                        Check::ChallengeHas(
                            r##"error="invalid_token", error_description="token revoked""##,
                        ),
                    ],
                },
                Part::Block {
                    lines: &[Line::Curl {
                        args: r##"-i -H "authorization: Bearer $ORDERS_TOKEN" http://127.0.0.1:10001/payments"##,
                        repeat_until: Some(401),
                    }],
                    checks: &[
                        Check::Status(401),
                        Check::ChallengeHas(
                            r##"error="invalid_token", error_description="token revoked""##,
                        ),
                    ],
                },
                Part::Prose(
                    r##"`401` on both hops, `error="invalid_token", error_description="token revoked"`. Tokens of other
sessions keep working:"##,
                ),
                Part::Block {
                    lines: &[
                        Line::Set {
                            var: "OTHER",
                            value: r##"$(jwt-relay-cli mint --key $KEY --iss $ISS --sub alice --sid alice-session-2 --aud api.example.com)"##,
                            export: false,
                            comment: None,
                        },
                        Line::Curl {
                            args: r##"--cacert $CACERT -H "authorization: Bearer $OTHER" https://localhost:10000/"##,
                            repeat_until: None,
                        },
                    ],
                    checks: &[Check::Status(200), Check::ForwardedTokenIs(r##"OTHER"##)],
                },
                Part::Prose(r##"`200`."##),
            ],
        },
    ],
};
