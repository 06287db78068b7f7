//! `envoy/demo.yaml` itself: it inlines the demo JWKS, Envoy accepts it, and Envoy refuses it once
//! the plugin configuration is wrong (the filter's `on_configure` runs in `--mode validate`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

mod support;

use std::fs;
use std::process::Command;

use serde_json::Value;
use support::{envoy_bin, render_demo_config, replace_all, repo_root, scratch_dir, wasm_path};

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

/// Runs `envoy --mode validate` on `yaml`; returns (success, log).
fn validate(name: &str, yaml: &str) -> (bool, String) {
    let dir = scratch_dir(name);
    let config = dir.join("envoy.yaml");
    fs::write(&config, yaml).unwrap();
    let out = Command::new(envoy_bin())
        .args([
            "--mode",
            "validate",
            "--disable-hot-restart",
            "-l",
            "info",
            "-c",
        ])
        .arg(&config)
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), log)
}

fn rendered() -> String {
    render_demo_config(8081, &wasm_path())
}

#[test]
fn envoy_accepts_the_demo_config() {
    let (ok, log) = validate("validate-demo", &rendered());
    assert!(ok, "envoy --mode validate refused envoy/demo.yaml:\n{log}");
}

#[test]
fn envoy_refuses_an_unknown_plugin_config_field() {
    let yaml = replace_all(
        &rendered(),
        r#""role": "edge","#,
        r#""role": "edge", "rol": "internal","#,
    );
    let (ok, log) = validate("validate-unknown-field", &yaml);
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
    let (ok, log) = validate("validate-bad-role", &yaml);
    assert!(!ok, "Envoy accepted \"role\": \"gateway\":\n{log}");
    assert!(
        log.contains("role"),
        "the log does not name the field `role`:\n{log}"
    );
}
