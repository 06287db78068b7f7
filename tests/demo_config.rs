//! The configs in `envoy/` themselves: `demo.yaml` inlines the demo JWKS, every cluster the filter
//! fetches from exists, Envoy accepts `demo.yaml` and `identity.yaml`, and Envoy refuses them once
//! the plugin configuration is wrong (the filter's `on_configure` runs in `--mode validate`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

mod support;

use std::fs;

use serde_json::Value;
use support::{
    envoy_validate, render_config, render_demo_config, replace_all, repo_root, wasm_path,
};

/// Every JWKS given as `"local_jwks": {"inline": <JWKS>}` in the YAML text.
fn inline_jwks(yaml: &str) -> Vec<Value> {
    const MARK: &str = r#""local_jwks": {"inline": "#;
    yaml.match_indices(MARK)
        .map(|(at, _)| {
            let rest = &yaml[at + MARK.len()..];
            serde_json::Deserializer::from_str(rest)
                .into_iter::<Value>()
                .next()
                .unwrap()
                .unwrap()
        })
        .collect()
}

#[test]
fn demo_config_inlines_the_demo_jwks() {
    let yaml = fs::read_to_string(repo_root().join("envoy/demo.yaml")).unwrap();
    let jwks: Value = serde_json::from_str(
        &fs::read_to_string(repo_root().join("envoy/demo-keys/jwks.json")).unwrap(),
    )
    .unwrap();
    let inlined = inline_jwks(&yaml);
    assert_eq!(inlined.len(), 2, "expected one inline JWKS per listener");
    for found in inlined {
        assert_eq!(
            found, jwks,
            "envoy/demo.yaml inlines a JWKS that differs from envoy/demo-keys/jwks.json"
        );
    }
}

fn rendered() -> String {
    render_demo_config(8081, 8082, &wasm_path())
}

fn rendered_identity() -> String {
    render_config("identity.yaml", 8081, 8082, &wasm_path())
}

/// Every `"cluster": "<name>"` in the filter configs (remote_jwks, revocation) names a cluster the
/// config defines: Envoy does not check this, a fetch from a missing cluster fails only at run time.
#[test]
fn filter_fetches_only_from_defined_clusters() {
    for file in ["demo.yaml", "identity.yaml"] {
        let yaml = fs::read_to_string(repo_root().join("envoy").join(file)).unwrap();
        const MARK: &str = r#""cluster": ""#;
        let named: Vec<&str> = yaml
            .match_indices(MARK)
            .map(|(at, _)| {
                let rest = &yaml[at + MARK.len()..];
                &rest[..rest.find('"').unwrap()]
            })
            .collect();
        assert!(
            named.len() >= 4,
            "envoy/{file}: expected remote_jwks and revocation on both listeners, found clusters {named:?}"
        );
        for cluster in named {
            assert!(
                yaml.contains(&format!("\n  - name: {cluster}\n")),
                "envoy/{file}: the filter fetches from cluster {cluster:?}, which is not defined"
            );
        }
    }
}

#[test]
fn envoy_accepts_the_demo_config() {
    let (ok, log) = envoy_validate("validate-demo", &rendered());
    assert!(ok, "envoy --mode validate refused envoy/demo.yaml:\n{log}");
}

#[test]
fn envoy_accepts_the_identity_config() {
    let (ok, log) = envoy_validate("validate-identity", &rendered_identity());
    assert!(
        ok,
        "envoy --mode validate refused envoy/identity.yaml:\n{log}"
    );
}

/// Broken `remote_jwks` / `revocation` settings: Envoy must refuse the config, and its log must
/// name the offending field.
#[test]
fn envoy_refuses_bad_identity_service_settings() {
    const REMOTE: &str = r#""remote_jwks": {"cluster": "idp", "path": "/.well-known/jwks.json", "authority": "idp.example.com", "refresh_seconds": 2, "timeout_ms": 500, "kid_miss_cooldown_seconds": 30, "max_bytes": 65536},"#;
    const REVOCATION: &str = r#""revocation": {"cluster": "idp", "path": "/revocations", "authority": "idp.example.com", "refresh_seconds": 1, "timeout_ms": 500, "claim": "sid", "on_unavailable": "deny"},"#;
    // (name, text replaced, replacement, a word the log must contain)
    let cases: [(&str, &str, &str, &str); 5] = [
        ("a provider with no keys at all", REMOTE, "", "jwks"),
        (
            "remote_jwks without a path",
            REMOTE,
            r#""remote_jwks": {"cluster": "idp"},"#,
            "path",
        ),
        (
            "an unknown remote_jwks field",
            REMOTE,
            r#""remote_jwks": {"cluster": "idp", "path": "/jwks", "refresh": 5},"#,
            "`refresh`",
        ),
        (
            "revocation without a cluster",
            REVOCATION,
            r#""revocation": {"path": "/revocations"},"#,
            "cluster",
        ),
        (
            "revocation.on_unavailable neither deny nor allow",
            REVOCATION,
            r#""revocation": {"cluster": "idp", "path": "/revocations", "on_unavailable": "open"},"#,
            "on_unavailable",
        ),
    ];
    let mut failures = Vec::new();
    for (name, from, to, word) in cases {
        let yaml = replace_all(&rendered_identity(), from, to);
        let (ok, log) = envoy_validate("validate-identity-bad", &yaml);
        if ok {
            failures.push(format!("{name}: Envoy accepted it"));
        } else if !log.contains(word) {
            failures.push(format!("{name}: the log does not mention {word:?}:\n{log}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn envoy_refuses_an_unknown_plugin_config_field() {
    let yaml = replace_all(
        &rendered(),
        r#""role": "edge","#,
        r#""role": "edge", "rol": "internal","#,
    );
    let (ok, log) = envoy_validate("validate-unknown-field", &yaml);
    assert!(
        !ok,
        "Envoy accepted a plugin config with an unknown field:\n{log}"
    );
    assert!(
        log.contains("`rol`"),
        "the log does not name the unknown field `rol`:\n{log}"
    );
}

#[test]
fn envoy_refuses_a_bad_role() {
    let yaml = replace_all(&rendered(), r#""role": "edge","#, r#""role": "gateway","#);
    let (ok, log) = envoy_validate("validate-bad-role", &yaml);
    assert!(!ok, "Envoy accepted \"role\": \"gateway\":\n{log}");
    assert!(
        log.contains("role"),
        "the log does not name the field `role`:\n{log}"
    );
}
