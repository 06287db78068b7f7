//! The plugin configuration, any bytes: compiled or refused with a message that names a field,
//! never a panic. The same bytes as a route's `filter_metadata.jwt_relay` (Envoy's map
//! serialisation): parsed or refused, and what parses keeps the rules' invariants.
#![no_main]

use std::sync::OnceLock;

use jwt_relay::config::FilterConfig;
use jwt_relay::request::route::{self, RouteRules};
use libfuzzer_sys::fuzz_target;

const ISSUER: &str = "https://idp.example.com";

fn route_config() -> &'static FilterConfig {
    static CONFIG: OnceLock<FilterConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let json = format!(
            r#"{{"providers": [{{"issuer": "{ISSUER}", "audiences": ["api"],
                "local_jwks": {{"inline": {{"keys": [{{"kty": "OKP", "crv": "Ed25519", "kid": "k",
                "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}]}}}}}}]}}"#
        );
        FilterConfig::from_json(json.as_bytes()).expect("the fixture config")
    })
}

fn check_rules(rules: &RouteRules) {
    if let Some(providers) = &rules.providers {
        assert!(
            !providers.is_empty(),
            "an empty providers list was accepted"
        );
        assert!(
            providers.iter().all(|issuer| issuer == ISSUER),
            "an issuer no provider has was accepted: {providers:?}"
        );
    }
    for scope in &rules.scopes {
        assert!(
            !scope.is_empty()
                && scope
                    .bytes()
                    .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E)),
            "not an RFC 6749 scope-token: {scope:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    if let Err(error) = FilterConfig::from_json(data) {
        assert!(
            !error.to_string().is_empty(),
            "a config error without a message"
        );
    }
    match route::parse(Some(data), route_config()) {
        Ok(rules) => check_rules(&rules),
        Err(error) => assert!(!error.why.is_empty(), "a route error without a reason"),
    }
});
