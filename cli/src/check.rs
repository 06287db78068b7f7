//! `check-config`: runs the filter's own configuration parser ([`FilterConfig::from_json`], the
//! code `on_configure` runs inside Envoy) on every jwt-relay plugin configuration in a document,
//! so a bad config is caught in CI instead of by a listener Envoy refuses at deploy time.
//!
//! A document is one of:
//! - the plugin configuration itself (a JSON object);
//! - an Envoy config (YAML or JSON): every `envoy.filters.http.wasm` filter whose `root_id` is
//!   `jwt_relay` or whose code is a `jwt_relay.wasm` file is checked, with its listener's role
//!   (listener metadata over the config's `role`), and the clusters it fetches from must exist
//!   when the config defines its clusters statically;
//! - Kubernetes manifests (YAML, several documents allowed): an Istio `WasmPlugin`'s
//!   `pluginConfig`, and an Envoy Gateway `EnvoyExtensionPolicy`'s `wasm[].config`, for the
//!   plugins that name jwt-relay (in their name, URL or image).

use std::collections::BTreeSet;

use anyhow::{bail, Context, Result};
use jwt_relay::config::FilterConfig;
use jwt_relay::token::role::Role;
use serde::Deserialize as _;
use serde_json::Value;

/// The `@type` of Envoy's HTTP Wasm filter.
const WASM_FILTER_TYPE: &str = "envoy.extensions.filters.http.wasm.v3.Wasm";
/// The only `configuration` type whose value reaches the plugin as text.
const STRING_VALUE_TYPE: &str = "google.protobuf.StringValue";
/// The filter's own root id, as every example config names it.
pub const ROOT_ID: &str = "jwt_relay";

/// One plugin configuration found in a document, and how it fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Where it was found, e.g. `listener "edge"` or `WasmPlugin istio-system/jwt-relay`.
    pub location: String,
    /// On success a one-line summary; on failure the filter's error, naming the field.
    pub result: Result<String, String>,
}

impl Outcome {
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }
}

/// Checks every jwt-relay configuration in `text`. An error means the text is neither JSON nor
/// YAML, or holds no jwt-relay configuration at all: a check that checked nothing must fail.
pub fn check_text(text: &str) -> Result<Vec<Outcome>> {
    let outcomes = if let Some(plugin) = as_plugin_config(text) {
        vec![Outcome {
            location: "plugin configuration".to_owned(),
            result: check_plugin_json(plugin, None, None),
        }]
    } else {
        let mut outcomes = Vec::new();
        for (index, document) in yaml_documents(text)?.into_iter().enumerate() {
            outcomes.extend(check_document(&document, index));
        }
        outcomes
    };
    if outcomes.is_empty() {
        bail!(
            "no jwt-relay configuration found: expected the plugin's JSON, an Envoy config with an \
             envoy.filters.http.wasm filter whose root_id is \"{ROOT_ID}\", an Istio WasmPlugin or \
             an Envoy Gateway EnvoyExtensionPolicy"
        );
    }
    Ok(outcomes)
}

/// The text itself when it is a plugin configuration: a JSON object that is not an Envoy config.
/// The bytes are then given to the filter's parser as they are, as Envoy would give them.
fn as_plugin_config(text: &str) -> Option<&str> {
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') {
        return None;
    }
    match serde_json::from_str::<Value>(trimmed) {
        Ok(Value::Object(members)) => {
            let envoy_or_k8s = [
                "static_resources",
                "dynamic_resources",
                "admin",
                "apiVersion",
            ]
            .iter()
            .any(|key| members.contains_key(*key));
            (!envoy_or_k8s).then_some(text)
        }
        // Broken JSON that starts like an object: let the filter's parser say where it breaks.
        Err(_) => Some(text),
        Ok(_) => None,
    }
}

/// Every document of a YAML stream (JSON is YAML too), as JSON values.
fn yaml_documents(text: &str) -> Result<Vec<Value>> {
    let mut documents = Vec::new();
    for (index, document) in serde_norway::Deserializer::from_str(text).enumerate() {
        let mut yaml = serde_norway::Value::deserialize(document)
            .with_context(|| format!("document {} is not valid YAML", index + 1))?;
        yaml.apply_merge()
            .with_context(|| format!("document {}: bad YAML merge key", index + 1))?;
        if yaml.is_null() {
            continue; // an empty document, e.g. after a trailing `---`
        }
        let json = serde_json::to_value(&yaml).with_context(|| {
            format!(
                "document {} cannot be read as JSON (a map key that is not a string?)",
                index + 1
            )
        })?;
        documents.push(json);
    }
    Ok(documents)
}

fn check_document(document: &Value, index: usize) -> Vec<Outcome> {
    match document.get("kind").and_then(Value::as_str) {
        Some("WasmPlugin") => check_wasm_plugin(document),
        Some("EnvoyExtensionPolicy") => check_extension_policy(document),
        Some(_) => Vec::new(),
        None => check_envoy_config(document, index),
    }
}

fn k8s_name(document: &Value) -> String {
    let metadata = document.get("metadata");
    let name = metadata
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("?");
    match metadata
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
    {
        Some(namespace) => format!("{namespace}/{name}"),
        None => name.to_owned(),
    }
}

fn names_jwt_relay(text: &str) -> bool {
    text.contains("jwt-relay") || text.contains("jwt_relay")
}

/// Istio `WasmPlugin`: `spec.pluginConfig` reaches the plugin as JSON text.
fn check_wasm_plugin(document: &Value) -> Vec<Outcome> {
    let spec = document.get("spec");
    let url = spec
        .and_then(|s| s.get("url"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let name = k8s_name(document);
    if !names_jwt_relay(url) && !names_jwt_relay(&name) {
        return Vec::new();
    }
    let location = format!("WasmPlugin {name}");
    let result = match spec.and_then(|s| s.get("pluginConfig")) {
        Some(config) => check_plugin_value(config, None),
        None => Err(
            "spec.pluginConfig is missing: the filter refuses to start without a \
                     configuration"
                .to_owned(),
        ),
    };
    vec![Outcome { location, result }]
}

/// Envoy Gateway `EnvoyExtensionPolicy`: each `spec.wasm[i].config` reaches its plugin as JSON.
fn check_extension_policy(document: &Value) -> Vec<Outcome> {
    let name = k8s_name(document);
    let plugins = document
        .get("spec")
        .and_then(|s| s.get("wasm"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut outcomes = Vec::new();
    for (index, plugin) in plugins.iter().enumerate() {
        let field = |path: &[&str]| {
            path.iter()
                .try_fold(plugin, |value, key| value.get(key))
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        let ours = field(&["rootID"]) == ROOT_ID
            || names_jwt_relay(field(&["name"]))
            || names_jwt_relay(field(&["code", "image", "url"]))
            || names_jwt_relay(field(&["code", "http", "url"]));
        if !ours {
            continue;
        }
        let result = match plugin.get("config") {
            Some(config) => check_plugin_value(config, None),
            None => Err(format!(
                "spec.wasm[{index}].config is missing: the filter refuses to start without a \
                 configuration"
            )),
        };
        outcomes.push(Outcome {
            location: format!("EnvoyExtensionPolicy {name} wasm[{index}]"),
            result,
        });
    }
    outcomes
}

/// A jwt-relay Wasm filter found in an Envoy config.
struct Found<'a> {
    location: String,
    /// The filter's `typed_config.config` (a `PluginConfig`).
    plugin: &'a Value,
    /// The `jwt_relay.role` of the enclosing listener's metadata, if it says one.
    listener_role: Option<String>,
}

fn check_envoy_config(document: &Value, index: usize) -> Vec<Outcome> {
    let mut found = Vec::new();
    collect_wasm_filters(document, &mut Vec::new(), None, &mut found);
    // With clusters from CDS, a missing static cluster proves nothing.
    let clusters: Option<BTreeSet<&str>> = if document
        .get("dynamic_resources")
        .and_then(|d| d.get("cds_config"))
        .is_some()
    {
        None
    } else {
        Some(
            document
                .get("static_resources")
                .and_then(|s| s.get("clusters"))
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str))
                .collect(),
        )
    };
    found
        .into_iter()
        .map(|filter| {
            let location = if index == 0 {
                filter.location
            } else {
                format!("document {}: {}", index + 1, filter.location)
            };
            let result = plugin_configuration(filter.plugin).and_then(|json| {
                check_plugin_json(json, filter.listener_role.as_deref(), clusters.as_ref())
            });
            Outcome { location, result }
        })
        .collect()
}

/// The `configuration` string Envoy hands to the plugin.
fn plugin_configuration(plugin: &Value) -> Result<&str, String> {
    let Some(configuration) = plugin.get("configuration") else {
        return Err(
            "no configuration: the filter refuses to start without one (set configuration to a \
             google.protobuf.StringValue holding the JSON)"
                .to_owned(),
        );
    };
    let kind = configuration
        .get("@type")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !kind.ends_with(STRING_VALUE_TYPE) {
        return Err(format!(
            "configuration has \"@type\": {kind:?}; jwt-relay reads its JSON from a \
             type.googleapis.com/{STRING_VALUE_TYPE}"
        ));
    }
    configuration
        .get("value")
        .and_then(Value::as_str)
        .ok_or_else(|| "configuration.value must be a string holding the JSON".to_owned())
}

/// Walks the config; `path` names where we are, `listener` is the enclosing listener, if any.
fn collect_wasm_filters<'a>(
    value: &'a Value,
    path: &mut Vec<String>,
    listener: Option<(&str, Option<String>)>,
    found: &mut Vec<Found<'a>>,
) {
    match value {
        Value::Object(members) => {
            // A listener: it has a name and filter chains (or a listener filter list).
            let here = if members.contains_key("filter_chains") {
                let name = members.get("name").and_then(Value::as_str).unwrap_or("?");
                let role = members
                    .get("metadata")
                    .and_then(|m| m.get("filter_metadata"))
                    .and_then(|m| m.get("jwt_relay"))
                    .and_then(|m| m.get("role"))
                    .map(|role| match role {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    });
                Some((name, role))
            } else {
                listener.clone()
            };
            if let Some(typed) = members.get("typed_config") {
                let kind = typed.get("@type").and_then(Value::as_str).unwrap_or("");
                if kind.ends_with(WASM_FILTER_TYPE) {
                    if let Some(plugin) = typed.get("config").filter(|c| is_jwt_relay(c)) {
                        let location = match &here {
                            Some((name, _)) => format!("listener {name:?}"),
                            None => path.join("."),
                        };
                        found.push(Found {
                            location,
                            plugin,
                            listener_role: here.as_ref().and_then(|(_, role)| role.clone()),
                        });
                    }
                }
            }
            for (key, child) in members {
                path.push(key.clone());
                collect_wasm_filters(child, path, here.clone(), found);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                let last = path.pop().unwrap_or_default();
                path.push(format!("{last}[{index}]"));
                collect_wasm_filters(child, path, listener.clone(), found);
                path.pop();
                path.push(last);
            }
        }
        _ => {}
    }
}

/// A Wasm `PluginConfig` that runs jwt-relay: its root id, or its code is a jwt_relay .wasm.
fn is_jwt_relay(plugin: &Value) -> bool {
    if plugin.get("root_id").and_then(Value::as_str) == Some(ROOT_ID) {
        return true;
    }
    let code = plugin.get("vm_config").and_then(|vm| vm.get("code"));
    let local = code
        .and_then(|c| c.get("local"))
        .and_then(|l| l.get("filename"))
        .and_then(Value::as_str);
    let remote = code
        .and_then(|c| c.get("remote"))
        .and_then(|r| r.get("http_uri"))
        .and_then(|u| u.get("uri"))
        .and_then(Value::as_str);
    [local, remote]
        .into_iter()
        .flatten()
        .any(|source| source.ends_with("jwt_relay.wasm") || source.ends_with("jwt-relay.wasm"))
}

fn check_plugin_value(config: &Value, listener_role: Option<&str>) -> Result<String, String> {
    let json = serde_json::to_string(config).map_err(|err| err.to_string())?;
    check_plugin_json(&json, listener_role, None)
}

/// The filter's parser on `json`, then a summary; `clusters`, when known, must include every
/// cluster the config fetches from.
fn check_plugin_json(
    json: &str,
    listener_role: Option<&str>,
    clusters: Option<&BTreeSet<&str>>,
) -> Result<String, String> {
    let config = FilterConfig::from_json(json.as_bytes()).map_err(|err| err.to_string())?;
    if let Some(clusters) = clusters {
        for (field, cluster) in fetch_clusters(&config) {
            if !clusters.contains(cluster.as_str()) {
                return Err(format!(
                    "`{field}` is {cluster:?}, which is not a cluster of this Envoy config: \
                     the fetch would fail at run time and the filter would fail closed"
                ));
            }
        }
    }
    Ok(summary(&config, listener_role))
}

/// Every (field, cluster) the config fetches documents from.
fn fetch_clusters(config: &FilterConfig) -> Vec<(String, String)> {
    let mut clusters = Vec::new();
    for (index, provider) in config.providers.iter().enumerate() {
        if let Some(remote) = &provider.remote_jwks {
            clusters.push((
                format!("providers[{index}].remote_jwks.cluster"),
                remote.source.cluster.clone(),
            ));
        }
    }
    if let Some(revocation) = &config.revocation {
        clusters.push((
            "revocation.cluster".to_owned(),
            revocation.source.cluster.clone(),
        ));
    }
    clusters
}

/// One line: the role that applies, the providers and their keys, narrowing and revocation.
pub fn summary(config: &FilterConfig, listener_role: Option<&str>) -> String {
    let role = match listener_role {
        Some(label) => {
            let role = Role::resolve(Some(label.as_bytes()), config.role);
            format!(
                "role {} (listener metadata; config says {})",
                role.name(),
                config.role.name()
            )
        }
        None => format!("role {}", config.role.name()),
    };
    let providers: Vec<String> = config
        .providers
        .iter()
        .map(|provider| {
            let mut keys = Vec::new();
            if !provider.keys.is_empty() {
                keys.push(format!("{} local key(s)", provider.keys.len()));
            }
            if let Some(remote) = &provider.remote_jwks {
                keys.push(format!("JWKS from cluster {}", remote.source.cluster));
            }
            format!(
                "{} (aud {}; {})",
                provider.issuer,
                provider.audiences.join(", "),
                keys.join(" + ")
            )
        })
        .collect();
    let narrowing = if config.upstreams.is_empty() {
        "no narrowing".to_owned()
    } else {
        let pairs: Vec<String> = config
            .upstreams
            .iter()
            .map(|(cluster, audience)| format!("{cluster}→{audience}"))
            .collect();
        format!("narrows {}", pairs.join(", "))
    };
    let revocation = match &config.revocation {
        Some(revocation) => format!(
            "revocation feed from cluster {} (claim {})",
            revocation.source.cluster, revocation.claim
        ),
        None => "no revocation feed".to_owned(),
    };
    format!(
        "{role}; {} provider(s): {}; {narrowing}; {revocation}",
        config.providers.len(),
        providers.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWKS: &str = r#"{"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1", "x": "f3B0GygV-Zxr5RtW2y5pTi2CfVykbgRjV6suzsQxd0o"}]}"#;

    fn plugin(extra: &str) -> String {
        format!(
            r#"{{"providers": [{{"issuer": "https://idp.test", "audiences": ["api"],
                "local_jwks": {{"inline": {JWKS}}}}}]{extra}}}"#
        )
    }

    fn envoy(listener_metadata: &str, configuration: &str, clusters: &str) -> String {
        let indented: String = configuration
            .lines()
            .map(|line| format!("                      {line}\n"))
            .collect();
        format!(
            r#"static_resources:
  listeners:
  - name: inner
    address: {{socket_address: {{address: 0.0.0.0, port_value: 10001}}}}
{listener_metadata}    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: inner
          http_filters:
          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                root_id: jwt_relay
                vm_config:
                  runtime: envoy.wasm.runtime.v8
                  code: {{local: {{filename: /etc/envoy/jwt_relay.wasm}}}}
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: |
{indented}  clusters:
{clusters}"#
        )
    }

    fn only(outcomes: Vec<Outcome>) -> Outcome {
        assert_eq!(outcomes.len(), 1, "{outcomes:?}");
        outcomes.into_iter().next().unwrap()
    }

    #[test]
    fn a_plugin_config_is_checked_as_the_filter_reads_it() {
        let outcome = only(check_text(&plugin("")).unwrap());
        assert_eq!(outcome.location, "plugin configuration");
        let summary = outcome.result.unwrap();
        assert!(
            summary.starts_with(
                "role edge; 1 provider(s): https://idp.test (aud api; 1 local key(s))"
            ),
            "{summary}"
        );
        assert!(
            summary.contains("no narrowing; no revocation feed"),
            "{summary}"
        );
    }

    #[test]
    fn a_bad_plugin_config_reports_the_filters_error_naming_the_field() {
        let cases = [
            (plugin(r#", "rol": "internal""#), "`rol`"),
            (plugin(r#", "role": "gateway""#), "role"),
            (
                plugin("").replace(r#""audiences": ["api"]"#, r#""audiences": []"#),
                "providers[0].audiences",
            ),
            (
                "{\"providers\": [".to_owned(),
                "invalid jwt-relay configuration",
            ),
        ];
        for (text, expected) in cases {
            let outcome = only(check_text(&text).unwrap());
            let err = outcome.result.unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
            assert!(err.starts_with("invalid jwt-relay configuration"), "{err}");
        }
    }

    #[test]
    fn an_envoy_config_is_checked_per_listener_with_the_listeners_role() {
        let metadata =
            "    metadata:\n      filter_metadata:\n        jwt_relay: {role: internal}\n";
        let text = envoy(metadata, &plugin(""), "  - name: other\n");
        let outcome = only(check_text(&text).unwrap());
        assert_eq!(outcome.location, "listener \"inner\"");
        let summary = outcome.result.unwrap();
        assert!(
            summary.starts_with("role internal (listener metadata; config says edge)"),
            "{summary}"
        );
        // Without the metadata, the config's role applies.
        let outcome = only(check_text(&envoy("", &plugin(""), "  - name: other\n")).unwrap());
        assert!(outcome.result.unwrap().starts_with("role edge;"));
    }

    #[test]
    fn an_envoy_config_fails_on_a_bad_plugin_config_or_a_missing_fetch_cluster() {
        let bad = envoy("", &plugin(r#", "max_token_bytes": 1"#), "  - name: idp\n");
        let err = only(check_text(&bad).unwrap()).result.unwrap_err();
        assert!(err.contains("`max_token_bytes`"), "{err}");

        let fetching = plugin(r#", "revocation": {"cluster": "idp", "path": "/revocations"}"#);
        let missing = envoy("", &fetching, "  - name: other\n");
        let err = only(check_text(&missing).unwrap()).result.unwrap_err();
        assert!(err.contains("`revocation.cluster` is \"idp\""), "{err}");
        let present = envoy("", &fetching, "  - name: idp\n");
        let summary = only(check_text(&present).unwrap()).result.unwrap();
        assert!(
            summary.contains("revocation feed from cluster idp (claim sid)"),
            "{summary}"
        );
    }

    #[test]
    fn an_envoy_config_needs_a_string_value_configuration() {
        let text = envoy("", &plugin(""), "  - name: idp\n")
            .replace("google.protobuf.StringValue", "google.protobuf.Struct");
        let err = only(check_text(&text).unwrap()).result.unwrap_err();
        assert!(err.contains("StringValue"), "{err}");
    }

    #[test]
    fn kubernetes_manifests_are_checked_and_other_plugins_ignored() {
        let text = format!(
            r#"apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {{name: jwt-relay-gateway, namespace: istio-system}}
spec:
  url: oci://registry.example.com/jwt-relay:0.1.0
  pluginConfig: {}
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {{name: other}}
spec:
  url: oci://registry.example.com/other:1
  pluginConfig: {{anything: 1}}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyExtensionPolicy
metadata: {{name: jwt-relay, namespace: default}}
spec:
  wasm:
  - name: something-else
    code: {{type: HTTP, http: {{url: "https://example.com/x.wasm"}}}}
  - name: jwt-relay
    rootID: jwt_relay
    code: {{type: Image, image: {{url: registry.example.com/jwt-relay:0.1.0}}}}
    config: {}
"#,
            plugin(""),
            plugin(r#", "role": "internal""#)
        );
        let outcomes = check_text(&text).unwrap();
        let locations: Vec<&str> = outcomes.iter().map(|o| o.location.as_str()).collect();
        assert_eq!(
            locations,
            [
                "WasmPlugin istio-system/jwt-relay-gateway",
                "EnvoyExtensionPolicy default/jwt-relay wasm[1]"
            ]
        );
        assert!(outcomes[0]
            .result
            .as_ref()
            .unwrap()
            .starts_with("role edge;"));
        assert!(outcomes[1]
            .result
            .as_ref()
            .unwrap()
            .starts_with("role internal;"));

        let broken = text.replace(r#""audiences": ["api"]"#, r#""audiences": "api""#);
        for outcome in check_text(&broken).unwrap() {
            let err = outcome.result.unwrap_err();
            assert!(err.contains("providers[0].audiences"), "{err}");
        }
    }

    #[test]
    fn nothing_to_check_is_an_error() {
        for text in ["", "admin: {}\n", "kind: Deployment\n", "[1, 2]", "a: [\n"] {
            assert!(check_text(text).is_err(), "{text:?}");
        }
    }
}
