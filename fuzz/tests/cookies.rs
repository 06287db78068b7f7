//! The oracle's cookie and CORS-preflight checks hold for what the filter does, and fail for
//! what it must not do: hand-made plans that leave the broad cookie for a narrowed upstream, drop
//! or touch an unrelated cookie, or pass a request as a preflight that is not one.

use jwt_relay::request::cache::TokenCache;
use jwt_relay::request::decision::{evaluate, Decision, HeaderPlan, Request, Verdict};
use jwt_relay_fuzz::model::{setups, Setup, NOW};
use jwt_relay_fuzz::oracle::{check_allowed, tokens_in, Case, Headers};
use jwt_relay_fuzz::recipe::{OuterRecipe, Signer, TokenRecipe};

const D: usize = 3;
const C: usize = 2;

fn template(provider: u8) -> TokenRecipe {
    TokenRecipe {
        provider,
        header: vec![],
        claims: vec![],
        signer: Signer::Natural,
    }
}

/// An `idp` token of setup D, with an `orders` token embedded.
fn broad(setup: &Setup) -> String {
    OuterRecipe {
        token: template(0),
        embedded: vec![(0, template(0))],
        raw_embedded: None,
    }
    .build(&setup.model)
}

fn headers(pairs: &[(&str, &str)]) -> Headers {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
        .collect()
}

fn decide<'s>(setup: &'s Setup, headers: &Headers, cluster: &str) -> Decision<'s> {
    let cluster = cluster.to_owned();
    evaluate(
        &setup.config,
        &setup.fetched,
        &mut TokenCache::new(setup.config.cache),
        &Request {
            route: None,
            headers,
            listener_role: &|| None,
            header: &|_| None,
            cluster: &move || Some(cluster.clone()),
            now: NOW,
            fingerprint: false,
        },
    )
}

fn case<'a>(
    setup: &'a Setup,
    headers: &'a Headers,
    cluster: &'a str,
    outcome: &'a str,
) -> Case<'a> {
    Case {
        model: &setup.model,
        headers,
        cluster: Some(cluster),
        internal: setup.model.role_internal,
        now: NOW,
        outcome,
    }
}

fn allowed<'d>(decision: &'d Decision<'_>, want: &str) -> &'d HeaderPlan {
    assert_eq!(decision.facts.outcome.name(), want);
    let Verdict::Allow(plan) = &decision.verdict else {
        panic!("refused: {}", decision.facts.outcome.name())
    };
    plan
}

#[test]
fn a_narrowed_cookie_token_leaves_alone() {
    let setup = &setups()[D];
    let token = broad(setup);
    let sent = headers(&[
        (":path", "/orders"),
        (":method", "GET"),
        ("cookie", &format!("theme=dark; access_token={token}")),
        ("cookie", "lang=en"),
    ]);
    let decision = decide(setup, &sent, "orders_cluster");
    let plan = allowed(&decision, "narrowed");
    let at = case(setup, &sent, "orders_cluster", "narrowed");
    check_allowed(&at, plan).unwrap();

    // The broad cookie left in place for the narrowed upstream.
    let mut kept = plan.clone();
    kept.set.retain(|(name, _)| name != "cookie");
    kept.remove.retain(|name| name != "cookie");
    let why = check_allowed(&at, &kept).unwrap_err();
    assert!(why.starts_with("(a)") || why.starts_with("(g)"), "{why}");

    // An unrelated cookie dropped, or reordered, or one added.
    for rest in [
        "theme=dark",
        "lang=en; theme=dark",
        "theme=dark; lang=en; x=1",
    ] {
        let mut edited = plan.clone();
        for (name, value) in &mut edited.set {
            if name == "cookie" {
                *value = rest.to_owned();
            }
        }
        let why = check_allowed(&at, &edited).unwrap_err();
        assert!(why.starts_with("(g) the other cookies"), "{rest}: {why}");
    }

    // The cookie removed entirely is only right when it held nothing else.
    let mut all = plan.clone();
    all.set.retain(|(name, _)| name != "cookie");
    all.remove.push("cookie".into());
    assert!(check_allowed(&at, &all).is_err());
}

#[test]
fn a_cookie_token_that_is_not_narrowed_travels_with_every_cookie() {
    let setup = &setups()[D];
    let token = broad(setup);
    let sent = headers(&[
        (":path", "/orders"),
        ("cookie", &format!("theme=dark; access_token=\"{token}\"")),
        ("cookie", "lang=en"),
    ]);
    let decision = decide(setup, &sent, "web_cluster");
    let plan = allowed(&decision, "allowed");
    let at = case(setup, &sent, "web_cluster", "allowed");
    check_allowed(&at, plan).unwrap();
    // Envoy's replace drops every copy: setting the cookie header to one of them changes it.
    let mut replaced = plan.clone();
    replaced
        .set
        .push(("cookie".into(), format!("access_token=\"{token}\"")));
    let why = check_allowed(&at, &replaced).unwrap_err();
    assert!(why.starts_with("(g)"), "{why}");
}

#[test]
fn the_model_reads_cookies_as_loosely_as_any_framework() {
    let setup = &setups()[D];
    let model = &setup.model;
    for (cookie, expected) in [
        ("access_token=a.b.c", Some("a.b.c")),
        ("x=1; access_token=\"a.b.c\"", Some("a.b.c")),
        ("x=1, access_token=a.b.c", Some("a.b.c")),
        ("ACCESS.TOKEN=a.b.c", Some("a.b.c")),
        ("access%5Ftoken = a.b.c ", Some("a.b.c")),
        ("access+token=a.b.c", Some("a.b.c")),
        ("acce\u{17f}s_token=a.b.c", Some("a.b.c")),
        ("sessi%6Fn_at=a.b.c", Some("a.b.c")),
        ("access_tokenx=a.b.c", None),
        ("x=access_token", None),
    ] {
        let found = tokens_in(model, &headers(&[("cookie", cookie)]), false);
        assert_eq!(
            found.first().map(|f| f.text.as_str()),
            expected,
            "{cookie}: {found:?}"
        );
    }
    // In a setup without cookie locations, cookies are not tokens.
    let a = &setups()[0].model;
    assert!(tokens_in(a, &headers(&[("cookie", "access_token=a.b.c")]), false).is_empty());
    // A bearer token beside a comma-hidden cookie token: two tokens for the upstream.
    let token = broad(setup);
    let sent = headers(&[
        (":path", "/orders"),
        ("authorization", &format!("Bearer {token}")),
        ("cookie", &format!("theme=dark, access_token={token}")),
    ]);
    let why = check_allowed(
        &case(setup, &sent, "web_cluster", "allowed"),
        &HeaderPlan::default(),
    )
    .unwrap_err();
    assert!(why.starts_with("(a) the upstream sees 2 tokens"), "{why}");
}

fn preflight(method: &str) -> Headers {
    headers(&[
        (":path", "/orders"),
        (":method", method),
        ("origin", "https://app.example.com"),
        ("access-control-request-method", "POST"),
        ("x-jwt-sub", "admin"),
        ("cookie", "theme=dark"),
    ])
}

#[test]
fn only_a_tokenless_options_request_passes_as_a_preflight() {
    let setup = &setups()[D];
    let sent = preflight("OPTIONS");
    let decision = decide(setup, &sent, "orders_cluster");
    let plan = allowed(&decision, "cors_preflight");
    let at = case(setup, &sent, "orders_cluster", "cors_preflight");
    check_allowed(&at, plan).unwrap();
    // The client's owned header let through.
    let why = check_allowed(&at, &HeaderPlan::default()).unwrap_err();
    assert!(why.contains("owned header x-jwt-sub"), "{why}");
    // Not a preflight: another method, no origin, an empty request method, a token.
    for (edit, what) in [
        (0, ":method"),
        (1, ":method"),
        (2, "origin"),
        (3, "access-control-request-method"),
        (4, "tokens"),
    ] {
        let mut sent = match edit {
            0 => preflight("GET"),
            1 => preflight("options"),
            _ => preflight("OPTIONS"),
        };
        match edit {
            2 => sent.retain(|(n, _)| n != "origin"),
            3 => {
                for (n, v) in &mut sent {
                    if n == "access-control-request-method" {
                        v.clear();
                    }
                }
            }
            4 => sent.push((
                "cookie".into(),
                format!("access_token={}", broad(setup)).into_bytes(),
            )),
            _ => {}
        }
        let why = check_allowed(
            &case(setup, &sent, "orders_cluster", "cors_preflight"),
            plan,
        )
        .unwrap_err();
        assert!(
            why.starts_with("(p)") && why.contains(what),
            "{edit}: {why}"
        );
        // And the filter does not pass it as one.
        let decision = decide(setup, &sent, "orders_cluster");
        assert_ne!(decision.facts.outcome.name(), "cors_preflight", "{edit}");
    }
    // With the bypass off (setup C), no preflight passes.
    let c = &setups()[C];
    let sent = preflight("OPTIONS");
    assert_eq!(
        decide(c, &sent, "orders_cluster").facts.outcome.name(),
        "missing"
    );
    let why = check_allowed(&case(c, &sent, "orders_cluster", "cors_preflight"), plan).unwrap_err();
    assert!(why.contains("bypass_cors_preflight off"), "{why}");
}

/// Findings of the cookie oracle, replayed: a second token next to the one the filter checks,
/// in a form a lenient upstream reads and the filter did not, must not pass.
#[test]
fn past_findings_are_refused() {
    let setup = &setups()[D];
    let token = broad(setup);
    let forged = OuterRecipe {
        token: TokenRecipe {
            signer: Signer::Unsigned,
            ..template(0)
        },
        embedded: vec![],
        raw_embedded: None,
    }
    .build(&setup.model);
    let cases = [
        // The fuzzer's first: `Bearer<TAB>` is no `Bearer ` prefix, so the filter checked the
        // query token and passed the authorization header on, which the upstream may read.
        vec![
            (":path".to_owned(), format!("/orders?access_token={token}")),
            ("authorization".to_owned(), format!("Bearer\t{forged}")),
        ],
        vec![
            (":path".to_owned(), "/orders".to_owned()),
            ("authorization".to_owned(), format!("bearer\u{a0}{forged}")),
            ("cookie".to_owned(), format!("access_token={token}")),
        ],
        // Two authorization headers, joined by Envoy.
        vec![
            (":path".to_owned(), "/orders".to_owned()),
            (
                "authorization".to_owned(),
                format!("Basic eDp5,Bearer {forged}"),
            ),
            ("cookie".to_owned(), format!("access_token={token}")),
        ],
        // A cookie only a comma-splitting parser sees.
        vec![
            (":path".to_owned(), "/orders".to_owned()),
            ("authorization".to_owned(), format!("Bearer {token}")),
            (
                "cookie".to_owned(),
                format!("theme=dark, access_token={forged}"),
            ),
        ],
    ];
    let mut passed = Vec::new();
    for (index, sent) in cases.into_iter().enumerate() {
        let sent: Headers = sent.into_iter().map(|(n, v)| (n, v.into_bytes())).collect();
        // The oracle refuses each as passed unchanged: the model reads the second token.
        let unchanged = check_allowed(
            &case(setup, &sent, "web_cluster", "allowed"),
            &HeaderPlan::default(),
        );
        if !unchanged
            .as_ref()
            .is_err_and(|why| why.starts_with("(a) the upstream sees 2"))
        {
            passed.push(format!("{index}: the oracle says {unchanged:?}"));
        }
        let decision = decide(setup, &sent, "web_cluster");
        if let Verdict::Allow(plan) = &decision.verdict {
            let why = check_allowed(&case(setup, &sent, "web_cluster", "allowed"), plan);
            passed.push(format!("{index} passed, the oracle says {why:?}"));
        }
        // And as a preflight, without the checked token, it is no preflight either.
        let mut preflight: Headers = sent
            .iter()
            .filter(|(n, v)| !v.windows(token.len()).any(|w| w == token.as_bytes()) || n == ":path")
            .cloned()
            .collect();
        preflight[0].1 = b"/orders".to_vec();
        preflight.extend(headers(&[
            (":method", "OPTIONS"),
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "POST"),
        ]));
        let decision = decide(setup, &preflight, "web_cluster");
        if decision.facts.outcome.name() == "cors_preflight" {
            passed.push(format!("{index} passed as a preflight"));
        }
    }
    assert!(passed.is_empty(), "{passed:#?}");
}
