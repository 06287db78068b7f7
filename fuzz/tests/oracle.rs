//! The harness checks itself: template requests pass the filter and the oracle alike, and the
//! oracle refuses what must not pass (so a fuzz run without findings means something). Past
//! findings replay here as regressions.

use jwt_relay::request::cache::TokenCache;
use jwt_relay::request::decision::{evaluate, Decision, Verdict};
use jwt_relay_fuzz::model::{setups, Setup, CHRONO_MIN, NOW};
use jwt_relay_fuzz::oracle::{check_allowed, Case, Headers};
use jwt_relay_fuzz::recipe::{Mutation, OuterRecipe, Signer, TokenRecipe};

fn token(provider: u8, claims: Vec<Mutation>, signer: Signer) -> OuterRecipe {
    OuterRecipe {
        token: TokenRecipe {
            provider,
            header: vec![],
            claims,
            signer,
        },
        embedded: vec![],
        raw_embedded: None,
    }
}

fn decide<'s>(setup: &'s Setup, headers: &Headers, cluster: &str) -> Decision<'s> {
    let cluster = cluster.to_owned();
    evaluate(
        &setup.config,
        &setup.fetched,
        &mut TokenCache::new(setup.config.cache),
        &jwt_relay::request::decision::Request {
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

fn bearer(path: &[u8], token: &str) -> Headers {
    vec![
        (":path".into(), path.to_vec()),
        (
            "authorization".into(),
            format!("Bearer {token}").into_bytes(),
        ),
    ]
}

fn case<'a>(setup: &'a Setup, headers: &'a Headers, cluster: &'a str) -> Case<'a> {
    Case {
        model: &setup.model,
        headers,
        cluster: Some(cluster),
        internal: setup.model.role_internal,
        now: NOW,
        outcome: "allowed",
    }
}

#[test]
fn template_tokens_pass_the_filter_and_the_oracle() {
    let setup = &setups()[0];
    for provider in [0, 2, 3] {
        let t = token(provider, vec![], Signer::Natural).build(&setup.model);
        let headers = bearer(b"/orders", &t);
        let decision = decide(setup, &headers, "web_cluster");
        let Verdict::Allow(plan) = &decision.verdict else {
            panic!(
                "provider {provider}: template refused: {}",
                decision.facts.outcome.name()
            );
        };
        check_allowed(&case(setup, &headers, "web_cluster"), plan).unwrap();
    }
}

#[test]
fn the_oracle_refuses_what_must_not_pass() {
    let setup = &setups()[0];
    let forged = token(
        0,
        vec![],
        Signer::Key(jwt_relay_fuzz::fixtures::KeyId::EcUntrusted),
    )
    .build(&setup.model);
    let headers = bearer(b"/orders", &forged);
    let allow_all = jwt_relay::request::decision::HeaderPlan::default();
    assert!(check_allowed(&case(setup, &headers, "web_cluster"), &allow_all).is_err());
    let valid = token(0, vec![], Signer::Natural).build(&setup.model);
    let two = bearer(format!("/orders?access_token={valid}").as_bytes(), &valid);
    assert!(check_allowed(&case(setup, &two, "web_cluster"), &allow_all).is_err());
}

#[test]
fn past_findings_are_refused() {
    use jwt_relay_fuzz::recipe::{Field, Number};
    let setup = &setups()[0];
    // nbf within the skew of chrono's earliest date: once a panic in jwt-compact.
    let nbf = Mutation::Set(3, Field::Number(Number::Raw(CHRONO_MIN)));
    let t = token(0, vec![nbf], Signer::Natural).build(&setup.model);
    let _ = decide(setup, &bearer(b"/orders", &t), "web_cluster");
    // A non-UTF-8 path hiding a forged query token.
    let valid = token(0, vec![], Signer::Natural).build(&setup.model);
    let forged = token(0, vec![], Signer::Unsigned).build(&setup.model);
    let mut path = b"/orders\xff?access_token=".to_vec();
    path.extend_from_slice(forged.as_bytes());
    let decision = decide(setup, &bearer(&path, &valid), "web_cluster");
    assert!(
        matches!(decision.verdict, Verdict::Deny { .. }),
        "{}",
        decision.facts.outcome.name()
    );
    for look_alike in ["Access_Token", "access_token[]", "a=1;access_token"] {
        let path = format!("/orders?{look_alike}={forged}");
        let decision = decide(setup, &bearer(path.as_bytes(), &valid), "web_cluster");
        assert_eq!(decision.facts.outcome.name(), "ambiguous", "{look_alike}");
    }
}
