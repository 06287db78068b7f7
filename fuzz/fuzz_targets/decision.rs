//! The whole decision under realistic configs, with an oracle: every allowed request must carry
//! exactly one token that the oracle's independent verifier accepts for the right issuer,
//! audience and (at the edge) lifetime, the broad token gone where narrowing applies (a cookie
//! that carried it leaves with it, the other cookies stay), owned headers only as the filter set
//! them; a CORS preflight passes only tokenless and as one; refusals strip client copies of owned
//! headers; and a warm cache decides exactly as a cold one.
#![no_main]

use jwt_relay::request::cache::TokenCache;
use jwt_relay::request::decision::{evaluate, Request, Verdict};
use jwt_relay_fuzz::model::setups;
use jwt_relay_fuzz::oracle::{check_allowed, check_denied, model_role_internal, Case};
use jwt_relay_fuzz::recipe::RequestRecipe;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|recipe: RequestRecipe| {
    let all = setups();
    let setup = &all[usize::from(recipe.setup) % all.len()];
    let built = recipe.build(&setup.model);
    let decide = |cache: &mut TokenCache| {
        let role = built.role.clone();
        let cluster = built.cluster.clone();
        evaluate(
            &setup.config,
            &setup.fetched,
            cache,
            &Request {
                route: None,
                headers: &built.headers,
                listener_role: &move || role.clone(),
                header: &|_| None,
                cluster: &move || cluster.clone(),
                now: built.now,
                fingerprint: recipe.twice,
            },
        )
    };
    let mut warm = TokenCache::new(setup.config.cache);
    let first = decide(&mut warm);
    let second = decide(&mut warm);
    let cold = decide(&mut TokenCache::new(setup.config.cache));
    assert_eq!(
        first.verdict, cold.verdict,
        "a fresh cache decided differently"
    );
    assert_eq!(
        second.verdict, cold.verdict,
        "a warm cache decided differently"
    );
    let case = Case {
        model: &setup.model,
        headers: &built.headers,
        cluster: built.cluster.as_deref(),
        internal: model_role_internal(&setup.model, built.role.as_deref()),
        now: built.now,
        outcome: cold.facts.outcome.name(),
    };
    let verdict = match &cold.verdict {
        Verdict::Allow(plan) => check_allowed(&case, plan),
        Verdict::Deny { strip, .. } => check_denied(&case, strip),
        // No configuration here asks for a call out (introspection, token exchange).
        Verdict::Callout { call, .. } => Err(format!("a call out to {}", call.cluster)),
    };
    if let Err(why) = verdict {
        panic!(
            "oracle: {why}\nmodel {}\nrequest {:?}\nverdict {:?} ({})",
            setup.model.name,
            built.headers,
            cold.verdict,
            cold.facts.outcome.name()
        );
    }
});
