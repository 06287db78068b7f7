//! Raw bytes as the bearer token: no panic, and nothing passes that the oracle's independent
//! verifier does not accept.
#![no_main]

use jwt_relay::request::cache::TokenCache;
use jwt_relay::request::decision::{evaluate, Request, Verdict};
use jwt_relay_fuzz::model::setups;
use jwt_relay_fuzz::oracle::{check_allowed, Case};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let setup = &setups()[0];
    let mut value = b"Bearer ".to_vec();
    value.extend_from_slice(data);
    let headers = vec![
        (":path".to_owned(), b"/".to_vec()),
        ("authorization".to_owned(), value),
    ];
    let decision = evaluate(
        &setup.config,
        &setup.fetched,
        &mut TokenCache::new(setup.config.cache),
        &Request {
            route: None,
            headers: &headers,
            listener_role: &|| None,
            header: &|_| None,
            cluster: &|| Some("web_cluster".to_owned()),
            now: jwt_relay_fuzz::model::NOW,
            fingerprint: true,
        },
    );
    if let Verdict::Allow(plan) = &decision.verdict {
        let case = Case {
            model: &setup.model,
            headers: &headers,
            cluster: Some("web_cluster"),
            internal: false,
            now: jwt_relay_fuzz::model::NOW,
            outcome: decision.facts.outcome.name(),
        };
        if let Err(why) = check_allowed(&case, plan) {
            panic!("oracle: {why}");
        }
    }
});
