//! Where users run jwt-relay, checked without a Docker engine or a cluster:
//!
//! - `envoy/docker-compose.yaml` parses; every file it mounts exists (or is the .wasm `make build`
//!   writes); the ports it publishes are exactly the ports its Envoy configs listen on; every
//!   cluster of those configs names a compose service and the port that service listens on; the
//!   Envoy configs it mounts are files `make validate` checks, Envoy accepts them, and their
//!   listeners are the listeners of `envoy/demo.yaml` (so the README's curl lines hold for both);
//! - the compose topology itself runs: both compose Envoy configs, started natively with the
//!   container names pointed at a local echo upstream and identity service, pass the README's
//!   chain (edge narrows, internal hop skips lifetime and narrows again);
//! - every manifest in `deploy/` parses, and each plugin configuration in it passes the filter's
//!   own config parser (`jwt_relay_cli::check`, what `jwt-relay-cli check-config` runs);
//! - the Dockerfiles: the plugin image is `FROM scratch` with `plugin.wasm` alone, the CLI image
//!   copies what its build needs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use jwt_relay_cli::check;
use serde_json::{json, Value};
use support::tokens::{self, DemoKeys, EDGE_AUDIENCE};
use support::{agent, envoy_bin, get, poll, repo_root, scratch_dir, wasm_path, Echo, Envoy};

const COMPOSE: &str = "envoy/docker-compose.yaml";
/// Where `make build` writes the filter (without CARGO_TARGET_DIR), relative to the repository.
const BUILT_WASM: &str = "target/wasm32-wasip1/release/jwt_relay.wasm";
/// Where `make cert` writes the edge's demo certificate and key (`jwt_relay_cli::cert::DEMO_DIR`).
const DEMO_TLS: &str = jwt_relay_cli::cert::DEMO_DIR;
/// Where the compose Envoys read their config (`-c`).
const ENVOY_CONFIG_IN_CONTAINER: &str = "/etc/envoy/envoy.yaml";

// ---------- reading YAML ----------

/// Every document of a YAML file, as JSON values, merge keys (`<<: *anchor`) applied.
fn yaml_documents(path: &Path) -> Vec<Value> {
    use serde::Deserialize as _;
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::Deserializer::from_str(&text)
        .map(|document| {
            let mut yaml = serde_norway::Value::deserialize(document)
                .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()));
            yaml.apply_merge().unwrap();
            serde_json::to_value(yaml).unwrap()
        })
        .filter(|doc| !doc.is_null())
        .collect()
}

fn yaml(path: &Path) -> Value {
    let mut documents = yaml_documents(path);
    assert_eq!(
        documents.len(),
        1,
        "{}: expected one document",
        path.display()
    );
    documents.remove(0)
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| item.as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// `a/b/../c` → `a/c`, without touching the file system (the .wasm may not be built).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

// ---------- the compose file ----------

/// One bind mount of a compose service: host path (resolved against the compose file's folder),
/// container path.
#[derive(Debug)]
struct Mount {
    source: PathBuf,
    target: String,
}

/// One published port: host address, host port, container port.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Published {
    host_ip: String,
    host: u16,
    container: u16,
}

struct Service {
    name: String,
    spec: Value,
}

impl Service {
    fn image(&self) -> &str {
        self.spec["image"].as_str().unwrap_or("")
    }

    fn is_envoy(&self) -> bool {
        self.image().starts_with("envoyproxy/envoy:")
    }

    fn command(&self) -> Vec<String> {
        strings(&self.spec["command"])
    }

    fn mounts(&self) -> Vec<Mount> {
        let base = repo_root().join("envoy");
        let Some(volumes) = self.spec["volumes"].as_array() else {
            return Vec::new();
        };
        volumes
            .iter()
            .map(|volume| {
                let (source, target) = match volume {
                    Value::String(short) => {
                        let parts: Vec<&str> = short.split(':').collect();
                        assert!(
                            parts.len() >= 2,
                            "service {}: volume {short:?} is not SOURCE:TARGET",
                            self.name
                        );
                        (parts[0].to_owned(), parts[1].to_owned())
                    }
                    long => {
                        assert_eq!(long["type"], "bind", "service {}: {long}", self.name);
                        (
                            long["source"].as_str().unwrap().to_owned(),
                            long["target"].as_str().unwrap().to_owned(),
                        )
                    }
                };
                assert!(
                    source.starts_with('.'),
                    "service {}: {source:?} is not a path relative to the compose file (named \
                     volumes and absolute host paths are not part of this demo)",
                    self.name
                );
                Mount {
                    source: normalize(&base.join(source)),
                    target,
                }
            })
            .collect()
    }

    fn published(&self) -> Vec<Published> {
        let Some(ports) = self.spec["ports"].as_array() else {
            return Vec::new();
        };
        ports
            .iter()
            .map(|port| {
                let text = port.as_str().unwrap_or_else(|| {
                    panic!(
                        "service {}: write ports as \"IP:HOST:CONTAINER\"",
                        self.name
                    )
                });
                let parts: Vec<&str> = text.split(':').collect();
                let [ip, host, container] = parts[..] else {
                    panic!(
                        "service {}: port {text:?} is not IP:HOST:CONTAINER",
                        self.name
                    );
                };
                Published {
                    host_ip: ip.to_owned(),
                    host: host.parse().unwrap(),
                    container: container.parse().unwrap(),
                }
            })
            .collect()
    }

    /// The port of `--listen ADDR:PORT` in a jwt-relay-cli command.
    fn listen_port(&self) -> Option<u16> {
        let command = self.command();
        let at = command.iter().position(|arg| arg == "--listen")?;
        Some(command[at + 1].rsplit(':').next()?.parse().unwrap())
    }

    /// The names this service answers to on the compose network: its name and its aliases.
    fn dns_names(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::from([self.name.clone()]);
        if let Some(networks) = self.spec["networks"].as_object() {
            for network in networks.values() {
                names.extend(strings(&network["aliases"]));
            }
        }
        names
    }
}

fn compose() -> (Value, Vec<Service>) {
    let file = yaml(&repo_root().join(COMPOSE));
    let services = file["services"]
        .as_object()
        .unwrap_or_else(|| panic!("{COMPOSE} has no services"))
        .iter()
        .map(|(name, spec)| Service {
            name: name.clone(),
            spec: spec.clone(),
        })
        .collect();
    (file, services)
}

/// The Envoy config an Envoy service mounts at ENVOY_CONFIG_IN_CONTAINER, as a repository path.
fn mounted_config(service: &Service) -> PathBuf {
    let mounts = service.mounts();
    let config = mounts
        .iter()
        .find(|m| m.target == ENVOY_CONFIG_IN_CONTAINER)
        .unwrap_or_else(|| {
            panic!(
                "service {} mounts no config at {ENVOY_CONFIG_IN_CONTAINER}",
                service.name
            )
        });
    config.source.clone()
}

fn envoy_services() -> Vec<Service> {
    let (_, services) = compose();
    let envoys: Vec<Service> = services.into_iter().filter(Service::is_envoy).collect();
    let names: Vec<&str> = envoys.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["edge", "internal"],
        "the Envoy services of {COMPOSE}"
    );
    envoys
}

/// Listener and admin ports of an Envoy config, by listener name ("admin" for the admin).
fn envoy_ports(config: &Value) -> BTreeMap<String, u16> {
    let port = |address: &Value| -> u16 {
        let port = &address["socket_address"]["port_value"];
        u16::try_from(port.as_u64().unwrap()).unwrap()
    };
    let mut ports = BTreeMap::from([("admin".to_owned(), port(&config["admin"]["address"]))]);
    for listener in config["static_resources"]["listeners"].as_array().unwrap() {
        ports.insert(
            listener["name"].as_str().unwrap().to_owned(),
            port(&listener["address"]),
        );
    }
    ports
}

#[test]
fn compose_file_parses_and_has_the_demo_services() {
    let (file, services) = compose();
    let names: BTreeSet<&str> = services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["cli", "edge", "idp", "internal", "upstream"]),
        "services of {COMPOSE}"
    );
    assert_eq!(file["name"], "jwt-relay");
    // The CLI services are built from source by the multi-stage Dockerfile.
    for service in services.iter().filter(|s| !s.is_envoy()) {
        assert_eq!(
            service.spec["build"]["dockerfile"], "deploy/cli.Dockerfile",
            "{}",
            service.name
        );
        let context = normalize(
            &repo_root()
                .join("envoy")
                .join(service.spec["build"]["context"].as_str().unwrap()),
        );
        assert_eq!(
            context,
            normalize(&repo_root()),
            "{}: build context",
            service.name
        );
    }
}

#[test]
fn compose_envoys_are_the_envoy_version_make_test_runs() {
    let makefile = fs::read_to_string(repo_root().join("Makefile")).unwrap();
    let version = makefile
        .lines()
        .find_map(|line| line.strip_prefix("ENVOY_VERSION :="))
        .expect("ENVOY_VERSION in the Makefile")
        .trim();
    for service in envoy_services() {
        assert_eq!(
            service.image(),
            format!("envoyproxy/envoy:v{version}"),
            "service {}",
            service.name
        );
    }
}

#[test]
fn compose_mounts_only_files_that_exist_or_the_built_filter() {
    let (_, services) = compose();
    let built = normalize(&repo_root().join(BUILT_WASM));
    let demo_tls = normalize(&repo_root().join(DEMO_TLS));
    let mut wasm_mounts = 0;
    let mut tls_mounts = Vec::new();
    for service in &services {
        for mount in service.mounts() {
            if mount.source == demo_tls {
                // `make cert` writes it; the edge config names the files by their relative path.
                let working_dir = service.spec["working_dir"].as_str().unwrap();
                assert_eq!(
                    mount.target,
                    format!("{working_dir}/{DEMO_TLS}"),
                    "service {}: the certificate must be where its config's relative path points",
                    service.name
                );
                tls_mounts.push(service.name.clone());
                continue;
            }
            if mount.source == built {
                wasm_mounts += 1;
                // The configs name the .wasm by its relative path, below the working directory.
                let working_dir = service.spec["working_dir"].as_str().unwrap();
                assert_eq!(
                    mount.target,
                    format!("{working_dir}/{BUILT_WASM}"),
                    "service {}: the .wasm must be where its config's relative path points",
                    service.name
                );
                continue;
            }
            assert!(
                mount.source.exists(),
                "service {} mounts {}, which is not in the repository",
                service.name,
                mount.source.display()
            );
            assert!(
                mount.source.starts_with(repo_root()),
                "service {} mounts {} from outside the repository",
                service.name,
                mount.source.display()
            );
        }
    }
    assert_eq!(wasm_mounts, 2, "both Envoys load the built filter");
    assert_eq!(
        tls_mounts,
        ["edge"],
        "the edge Envoy, and only it, mounts the certificate `make cert` writes"
    );
    // `make test` builds it; a missing one here means the mount would fail too.
    assert!(wasm_path().is_file());
}

#[test]
fn compose_publishes_exactly_the_ports_its_envoy_configs_listen_on() {
    for service in envoy_services() {
        let config_path = mounted_config(&service);
        let command = service.command();
        assert!(
            command
                .windows(2)
                .any(|w| w == ["-c", ENVOY_CONFIG_IN_CONTAINER]),
            "service {} must run `-c {ENVOY_CONFIG_IN_CONTAINER}`: {command:?}",
            service.name
        );
        let ports = envoy_ports(&yaml(&config_path));
        let listening: BTreeSet<u16> = ports.values().copied().collect();
        let published = service.published();
        let container: BTreeSet<u16> = published.iter().map(|p| p.container).collect();
        assert_eq!(
            container,
            listening,
            "service {}: published container ports vs the ports {} listens on ({ports:?})",
            service.name,
            config_path.display()
        );
        for port in &published {
            // The README's URLs are localhost:PORT with the config's own port numbers.
            assert_eq!(
                port.host, port.container,
                "service {}: {port:?}",
                service.name
            );
            assert_eq!(
                port.host_ip, "127.0.0.1",
                "service {}: {port:?}",
                service.name
            );
        }
    }
    // The CLI services publish what they listen on.
    let (_, services) = compose();
    for service in services.iter().filter(|s| !s.is_envoy()) {
        for port in service.published() {
            assert_eq!(
                Some(port.container),
                service.listen_port(),
                "service {}",
                service.name
            );
            assert_eq!(
                (port.host, port.host_ip.as_str()),
                (port.container, "127.0.0.1")
            );
        }
    }
}

/// Every cluster endpoint of a compose Envoy config is a compose service (or alias) and the port
/// that service listens on: a typo would only show as 503s at run time.
#[test]
fn compose_envoy_clusters_point_at_compose_services() {
    let (_, services) = compose();
    let listeners: BTreeMap<String, u16> = services
        .iter()
        .filter_map(|s| s.listen_port().map(|port| (s, port)))
        .flat_map(|(s, port)| s.dns_names().into_iter().map(move |name| (name, port)))
        .collect();
    for service in envoy_services() {
        let config_path = mounted_config(&service);
        let config = yaml(&config_path);
        for cluster in config["static_resources"]["clusters"].as_array().unwrap() {
            let name = cluster["name"].as_str().unwrap();
            assert_eq!(
                cluster["type"],
                "STRICT_DNS",
                "{}: {name}",
                config_path.display()
            );
            for group in cluster["load_assignment"]["endpoints"].as_array().unwrap() {
                for endpoint in group["lb_endpoints"].as_array().unwrap() {
                    let address = &endpoint["endpoint"]["address"]["socket_address"];
                    let host = address["address"].as_str().unwrap();
                    let port = u16::try_from(address["port_value"].as_u64().unwrap()).unwrap();
                    assert_eq!(
                        listeners.get(host),
                        Some(&port),
                        "{}: cluster {name} points at {host}:{port}, but the compose services \
                         listen on {listeners:?}",
                        config_path.display()
                    );
                }
            }
        }
    }
}

/// The mounted configs are files `make validate` checks (envoy/*.yaml but *compose.yaml), and
/// their listeners are demo.yaml's: same routes, same metadata, same plugin configuration.
#[test]
fn compose_envoy_configs_are_validated_configs_with_the_demo_listeners() {
    let makefile = fs::read_to_string(repo_root().join("Makefile")).unwrap();
    assert!(
        makefile.contains(
            "ENVOY_CONFIGS := $(filter-out %compose.yaml %compose.yml,$(wildcard envoy/*.yaml envoy/*.yml))"
        ),
        "the Makefile's ENVOY_CONFIGS changed; update this test"
    );
    let demo = yaml(&repo_root().join("envoy/demo.yaml"));
    let demo_listeners = demo["static_resources"]["listeners"].as_array().unwrap();
    let mut seen = Vec::new();
    for service in envoy_services() {
        let config_path = mounted_config(&service);
        let relative = config_path.strip_prefix(repo_root()).unwrap();
        let name = relative.file_name().unwrap().to_str().unwrap();
        assert_eq!(
            relative.parent(),
            Some(Path::new("envoy")),
            "{}",
            relative.display()
        );
        assert!(
            name.ends_with(".yaml") && !name.ends_with("compose.yaml"),
            "{} is not a config `make validate` checks",
            relative.display()
        );
        for listener in yaml(&config_path)["static_resources"]["listeners"]
            .as_array()
            .unwrap()
        {
            let listener_name = listener["name"].as_str().unwrap();
            let twin = demo_listeners
                .iter()
                .find(|l| l["name"] == listener_name)
                .unwrap_or_else(|| panic!("demo.yaml has no listener {listener_name:?}"));
            for part in ["metadata", "filter_chains"] {
                assert_eq!(
                    listener[part],
                    twin[part],
                    "{}: listener {listener_name:?} differs from demo.yaml's in {part}",
                    relative.display()
                );
            }
            // The edge serves HTTPS only (the transport socket is part of filter_chains, so the
            // certificate paths match demo.yaml's too); the internal hop is cleartext.
            let tls = &listener["filter_chains"][0]["transport_socket"];
            if listener_name == "edge" {
                let context = &tls["typed_config"]["common_tls_context"];
                assert_eq!(tls["name"], "envoy.transport_sockets.tls", "{listener}");
                assert_eq!(context["alpn_protocols"], json!(["h2", "http/1.1"]));
                assert_eq!(
                    context["tls_params"]["tls_minimum_protocol_version"],
                    "TLSv1_2"
                );
                assert_eq!(
                    context["tls_certificates"][0]["certificate_chain"]["filename"],
                    format!("{DEMO_TLS}/edge.crt")
                );
            } else {
                assert!(tls.is_null(), "{listener_name}: {tls}");
            }
            assert_eq!(listener["address"]["socket_address"]["address"], "0.0.0.0");
            assert_eq!(
                listener["address"]["socket_address"]["port_value"],
                twin["address"]["socket_address"]["port_value"]
            );
            seen.push(listener_name.to_owned());
        }
    }
    seen.sort();
    assert_eq!(seen, ["edge", "internal"]);
}

/// A compose Envoy config with the container names and ports pointed at local processes, the
/// admin and listeners on free ports and the .wasm at its absolute path.
fn render_compose_config(file: &str, echo_port: u16, idp_port: u16, wasm: &Path) -> String {
    let mut yaml = fs::read_to_string(repo_root().join("envoy").join(file)).unwrap();
    let rewrite = |yaml: &mut String, from: &str, to: &str| {
        *yaml = support::replace_all(yaml, from, to);
    };
    rewrite(&mut yaml, "address: 0.0.0.0", "address: 127.0.0.1");
    for port in ["9901", "9902", "10000", "10001"] {
        if yaml.contains(&format!("port_value: {port}}}")) {
            rewrite(
                &mut yaml,
                &format!("port_value: {port}}}"),
                "port_value: 0}",
            );
        }
    }
    rewrite(
        &mut yaml,
        "{address: idp, port_value: 8082}",
        &format!("{{address: 127.0.0.1, port_value: {idp_port}}}"),
    );
    for host in ["orders", "inventory", "web", "payments"] {
        let from = format!("{{address: {host}, port_value: 8081}}");
        if yaml.contains(&from) {
            rewrite(
                &mut yaml,
                &from,
                &format!("{{address: 127.0.0.1, port_value: {echo_port}}}"),
            );
        }
    }
    rewrite(
        &mut yaml,
        &format!("filename: {BUILT_WASM}"),
        &format!("filename: {}", wasm.display()),
    );
    with_test_certificate(yaml)
}

/// A compose config with the edge's certificate and key (if it names them) this test process's.
fn with_test_certificate(yaml: String) -> String {
    let from = format!("filename: {DEMO_TLS}/");
    if !yaml.contains(&from) {
        return yaml;
    }
    let to = format!("filename: {}/", support::tls().cert.dir.display());
    yaml.replace(&from, &to)
}

/// `envoy --mode validate` on both compose configs (the filter's `on_configure` runs in it).
#[test]
fn envoy_accepts_the_compose_configs() {
    for file in ["compose-edge.yaml", "compose-internal.yaml"] {
        let text = fs::read_to_string(repo_root().join("envoy").join(file)).unwrap();
        let text = support::replace_all(
            &text,
            &format!("filename: {BUILT_WASM}"),
            &format!("filename: {}", wasm_path().display()),
        );
        let (ok, log) =
            support::envoy_validate(&format!("validate-{file}"), &with_test_certificate(text));
        assert!(ok, "envoy --mode validate refused envoy/{file}:\n{log}");
    }
}

/// The compose topology, minus Docker: two Envoys (edge, internal hop), the echo upstream and the
/// identity service, walked through the README's chain.
#[test]
fn compose_topology_passes_the_readme_chain() {
    let echo_port = jwt_relay_cli::echo::spawn("127.0.0.1:0").expect("start the echo upstream");
    let idp = support::demo_idp();
    let wasm = wasm_path();
    let start = |file: &str| {
        let dir = scratch_dir(&format!("compose-{file}"));
        let config = dir.join(file);
        fs::write(
            &config,
            render_compose_config(file, echo_port, idp.port(), &wasm),
        )
        .unwrap();
        Envoy::start(&envoy_bin(), &config, &dir)
    };
    let edge = start("compose-edge.yaml");
    let internal = start("compose-internal.yaml");

    let keys = DemoKeys::load();
    let agent = agent();
    let bearer = |token: &str| vec![("authorization".to_owned(), format!("Bearer {token}"))];
    let now = jwt_relay_cli::token::now();
    let payments = tokens::sign(&keys.rsa, &tokens::claims(json!({"aud": "payments"})));
    let orders = tokens::sign(
        &keys.ec,
        &tokens::claims(json!({"aud": "orders", "embedded_tokens": {"payments": payments}})),
    );
    let chain = tokens::sign(
        &keys.rsa,
        &tokens::claims(json!({"aud": EDGE_AUDIENCE, "embedded_tokens": {"orders": orders}})),
    );
    let expired = tokens::sign(
        &keys.rsa,
        &tokens::claims(
            json!({"aud": [EDGE_AUDIENCE, "orders"], "iat": now - 600, "exp": now - 300}),
        ),
    );

    // Until the first revocation list arrives the filter refuses every token.
    let edge_url = edge.url("edge");
    let internal_url = internal.url("internal");
    for (url, token) in [(&edge_url, &chain), (&internal_url, &orders)] {
        poll(support::FIRST_FETCH_DEADLINE, || {
            match get(&agent, &format!("{url}/"), &bearer(token)) {
                Ok(reply) if reply.status == 200 => Ok(()),
                Ok(reply) => Err(format!("{url}: {} {}", reply.status, reply.body)),
                Err(e) => Err(e),
            }
        })
        .unwrap_or_else(|why| panic!("the compose Envoys do not serve: {why}"));
    }

    let forwarded = |url: String, token: &str| -> Vec<String> {
        let reply = get(&agent, &url, &bearer(token)).unwrap();
        assert_eq!(reply.status, 200, "{url}: {}", reply.body);
        Echo::parse(&reply)
            .unwrap()
            .header_values("authorization")
            .iter()
            .map(|v| v.to_string())
            .collect()
    };
    let no_token = get(&agent, &format!("{edge_url}/"), &[]).unwrap();
    assert_eq!(no_token.status, 401);
    assert_eq!(
        forwarded(format!("{edge_url}/orders"), &chain),
        [format!("Bearer {orders}")],
        "the edge forwards only the orders token"
    );
    assert_eq!(
        forwarded(format!("{internal_url}/payments"), &orders),
        [format!("Bearer {payments}")],
        "the internal hop narrows again for payments"
    );
    let refused = get(&agent, &format!("{edge_url}/"), &bearer(&expired)).unwrap();
    assert_eq!(refused.status, 401, "the edge refuses an expired token");
    assert_eq!(
        forwarded(format!("{internal_url}/"), &expired),
        [format!("Bearer {expired}")],
        "the internal hop accepts an expired token"
    );
}

// ---------- deploy/ ----------

fn deploy_manifests() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path
                .extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
            {
                out.push(path);
            }
        }
    }
    let mut manifests = Vec::new();
    walk(&repo_root().join("deploy"), &mut manifests);
    manifests.sort();
    manifests
}

/// Every manifest parses; every WasmPlugin and EnvoyExtensionPolicy in them passes the filter's
/// own configuration parser, with the settings that keep it failing closed.
#[test]
fn deploy_manifests_parse_and_their_plugin_configs_pass_the_filters_check() {
    let manifests = deploy_manifests();
    let mut kinds = Vec::new();
    for path in &manifests {
        let shown = path
            .strip_prefix(repo_root())
            .unwrap()
            .display()
            .to_string();
        let documents = yaml_documents(path);
        assert!(!documents.is_empty(), "{shown} is empty");
        let mut plugins = 0;
        for document in &documents {
            let kind = document["kind"]
                .as_str()
                .unwrap_or_else(|| panic!("{shown}: no kind"));
            assert!(document["apiVersion"].is_string(), "{shown}: no apiVersion");
            kinds.push(kind.to_owned());
            let spec = &document["spec"];
            match kind {
                "WasmPlugin" => {
                    plugins += 1;
                    assert_eq!(spec["phase"], "AUTHN", "{shown}");
                    assert_eq!(spec["failStrategy"], "FAIL_RELOAD", "{shown}");
                    assert_eq!(spec["pluginName"], check::ROOT_ID, "{shown}");
                    assert_oci_image(&shown, spec["url"].as_str().unwrap(), "oci://");
                }
                "EnvoyExtensionPolicy" => {
                    for plugin in spec["wasm"].as_array().unwrap() {
                        plugins += 1;
                        assert_eq!(plugin["failOpen"], false, "{shown}");
                        assert_eq!(plugin["rootID"], check::ROOT_ID, "{shown}");
                        assert_eq!(plugin["code"]["type"], "Image", "{shown}");
                        assert_oci_image(
                            &shown,
                            plugin["code"]["image"]["url"].as_str().unwrap(),
                            "",
                        );
                    }
                }
                "EnvoyFilter" => {
                    for patch in spec["configPatches"].as_array().unwrap() {
                        let value = &patch["patch"]["value"];
                        let jwt_relay = &value["metadata"]["filter_metadata"]["jwt_relay"];
                        match patch["applyTo"].as_str() {
                            // The listener role, read as jwt_relay.role.
                            Some("LISTENER") => {
                                let role = &jwt_relay["role"];
                                assert!(
                                    role == "internal" || role == "edge",
                                    "{shown}: role {role}"
                                );
                            }
                            // A route's requirements: see istio_route_requirements_name_real_routes.
                            Some("HTTP_ROUTE") => assert!(jwt_relay.is_object(), "{shown}"),
                            other => panic!("{shown}: patch applied to {other:?}"),
                        }
                    }
                }
                // The TLS recipes are checked by deploy_recipes_serve_https_at_the_edge.
                "Gateway" | "PeerAuthentication" | "VirtualService" | "HTTPRoute" => {}
                other => panic!("{shown}: unexpected kind {other}"),
            }
        }
        if plugins == 0 {
            continue;
        }
        let outcomes = check::check_text(&fs::read_to_string(path).unwrap())
            .unwrap_or_else(|e| panic!("{shown}: {e:#}"));
        assert_eq!(
            outcomes.len(),
            plugins,
            "{shown}: every plugin is checked: {outcomes:?}"
        );
        for outcome in outcomes {
            if let Err(problem) = &outcome.result {
                panic!("{shown}: {}: {problem}", outcome.location);
            }
        }
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "EnvoyExtensionPolicy",
            "EnvoyFilter",
            "EnvoyFilter",
            "Gateway",
            "Gateway",
            "HTTPRoute",
            "PeerAuthentication",
            "VirtualService",
            "WasmPlugin",
            "WasmPlugin"
        ],
        "the manifests in deploy/"
    );
}

/// The documents of a deploy/ manifest, by kind.
fn documents_of_kind(manifest: &str, kind: &str) -> Vec<Value> {
    yaml_documents(&repo_root().join(manifest))
        .into_iter()
        .filter(|doc| doc["kind"] == kind)
        .collect()
}

/// The recipes terminate TLS at the edge and nowhere offer plain HTTP: Istio's ingress Gateway
/// serves HTTPS (SIMPLE, a credentialName Secret, TLS 1.2+) and the mesh is STRICT mTLS; Envoy
/// Gateway's Gateway, the one the EnvoyExtensionPolicy targets, has only HTTPS listeners with
/// certificateRefs.
#[test]
fn deploy_recipes_serve_https_at_the_edge() {
    let istio = "deploy/istio/gateway.yaml";
    let gateways = documents_of_kind(istio, "Gateway");
    assert_eq!(gateways.len(), 1, "{istio}");
    let gateway = &gateways[0];
    assert_eq!(
        gateway["spec"]["selector"]["istio"], "ingressgateway",
        "{istio}: the gateway jwt-relay-gateway runs on"
    );
    let servers = gateway["spec"]["servers"].as_array().unwrap();
    assert!(!servers.is_empty(), "{istio}");
    for server in servers {
        assert_eq!(server["port"]["protocol"], "HTTPS", "{istio}: {server}");
        assert_eq!(server["tls"]["mode"], "SIMPLE", "{istio}: {server}");
        assert!(
            server["tls"]["credentialName"].is_string(),
            "{istio}: {server}"
        );
        assert_eq!(server["tls"]["minProtocolVersion"], "TLSV1_2", "{istio}");
    }
    let peer = documents_of_kind(istio, "PeerAuthentication");
    assert_eq!(peer.len(), 1, "{istio}");
    assert_eq!(peer[0]["spec"]["mtls"]["mode"], "STRICT", "{istio}");
    assert_eq!(
        peer[0]["metadata"]["namespace"], "istio-system",
        "{istio}: mesh-wide (the root namespace)"
    );
    assert!(peer[0]["spec"]["selector"].is_null(), "{istio}: mesh-wide");
    let wasm = yaml_documents(&repo_root().join("deploy/istio/wasmplugin.yaml"));
    assert_eq!(
        wasm[0]["spec"]["selector"]["matchLabels"]["istio"], gateway["spec"]["selector"]["istio"],
        "the edge plugin runs on the HTTPS gateway"
    );

    let eg = "deploy/envoy-gateway/gateway.yaml";
    let gateways = documents_of_kind(eg, "Gateway");
    assert_eq!(gateways.len(), 1, "{eg}");
    let listeners = gateways[0]["spec"]["listeners"].as_array().unwrap();
    assert!(!listeners.is_empty(), "{eg}");
    for listener in listeners {
        assert_eq!(listener["protocol"], "HTTPS", "{eg}: {listener}");
        assert_eq!(listener["tls"]["mode"], "Terminate", "{eg}: {listener}");
        let refs = listener["tls"]["certificateRefs"].as_array().unwrap();
        assert!(
            refs.iter()
                .all(|r| r["kind"] == "Secret" && r["name"].is_string()),
            "{eg}: {listener}"
        );
        assert!(!refs.is_empty(), "{eg}: {listener}");
    }
    let policy =
        yaml_documents(&repo_root().join("deploy/envoy-gateway/envoyextensionpolicy.yaml"));
    let target = &policy[0]["spec"]["targetRefs"][0];
    assert_eq!(target["kind"], "Gateway");
    assert_eq!(
        target["name"], gateways[0]["metadata"]["name"],
        "the EnvoyExtensionPolicy targets the HTTPS Gateway"
    );
}

/// Image references name the plugin image `make image` tags: jwt-relay:<crate version>.
fn assert_oci_image(manifest: &str, url: &str, scheme: &str) {
    let version = env!("CARGO_PKG_VERSION");
    let rest = url
        .strip_prefix(scheme)
        .unwrap_or_else(|| panic!("{manifest}: {url:?} should start with {scheme:?}"));
    assert!(
        rest.ends_with(&format!("/jwt-relay:{version}")),
        "{manifest}: {url:?} is not the jwt-relay:{version} image"
    );
}

/// The Istio gateway plugin is the edge, the sidecar plugin an internal hop.
#[test]
fn istio_gateway_is_the_edge_and_sidecars_are_internal() {
    let path = repo_root().join("deploy/istio/wasmplugin.yaml");
    let documents = yaml_documents(&path);
    let roles: Vec<(&str, &str)> = documents
        .iter()
        .map(|doc| {
            (
                doc["metadata"]["name"].as_str().unwrap(),
                doc["spec"]["pluginConfig"]["role"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("jwt-relay-gateway", "edge"),
            ("jwt-relay-sidecar", "internal")
        ]
    );
    assert_eq!(
        documents[0]["spec"]["selector"]["matchLabels"]["istio"],
        "ingressgateway"
    );
    assert_eq!(documents[1]["spec"]["match"][0]["mode"], "CLIENT");
}

/// Every Envoy config in envoy/ passes `check-config`, including its fetch clusters.
#[test]
fn envoy_configs_pass_check_config() {
    let mut checked = 0;
    for entry in fs::read_dir(repo_root().join("envoy")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if !name.ends_with(".yaml") || name.ends_with("compose.yaml") {
            continue;
        }
        let outcomes = check::check_text(&fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("envoy/{name}: {e:#}"));
        for outcome in outcomes {
            checked += 1;
            if let Err(problem) = outcome.result {
                panic!("envoy/{name}: {}: {problem}", outcome.location);
            }
        }
    }
    // demo, identity, compose-edge, compose-internal: two listeners, two, one, one.
    assert!(
        checked >= 6,
        "only {checked} plugin configurations found in envoy/"
    );
}

// ---------- Dockerfiles ----------

/// Dockerfile instructions (comments and blank lines dropped, continuations joined).
fn instructions(path: &str) -> Vec<String> {
    let text = fs::read_to_string(repo_root().join(path)).unwrap();
    let mut out: Vec<String> = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => pending.push_str(part),
            None => {
                pending.push_str(line);
                out.push(std::mem::take(&mut pending));
            }
        }
    }
    out
}

/// The layout Istio and Envoy Gateway pull: an image from scratch with one layer holding only
/// plugin.wasm; `make image` copies the built filter into the build context under that name.
#[test]
fn plugin_image_is_scratch_with_plugin_wasm_alone() {
    assert_eq!(
        instructions("deploy/plugin.Dockerfile"),
        ["FROM scratch", "COPY plugin.wasm ./"]
    );
    let makefile = fs::read_to_string(repo_root().join("Makefile")).unwrap();
    assert!(
        makefile.contains("cp '$(WASM)' \"$$ctx/plugin.wasm\""),
        "make image must put the built filter into the context as plugin.wasm"
    );
    assert!(makefile.contains("$(DOCKER) build -f deploy/plugin.Dockerfile"));
}

/// Copies a file, or a directory recursively (a build context, as `COPY` makes it).
fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        fs::create_dir_all(to).unwrap();
        for entry in fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        fs::copy(from, to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    }
}

/// The CLI image builds from the sources it copies, with the locked dependencies, on a toolchain
/// at least as new as the workspace needs.
#[test]
fn cli_image_copies_what_its_build_needs() {
    let steps = instructions("deploy/cli.Dockerfile");
    let ignore =
        fs::read_to_string(repo_root().join("deploy/cli.Dockerfile.dockerignore")).unwrap();
    let mut copied = Vec::new();
    for step in &steps {
        let Some(args) = step.strip_prefix("COPY ") else {
            continue;
        };
        if args.starts_with("--from=") {
            continue;
        }
        let parts: Vec<&str> = args.split_whitespace().collect();
        for source in &parts[..parts.len() - 1] {
            let source = source.trim_end_matches('/');
            assert!(
                repo_root().join(source).exists(),
                "COPY {source}: not in the repository"
            );
            assert!(
                ignore
                    .lines()
                    .any(|l| l.trim().trim_end_matches('/') == format!("!{source}")),
                "deploy/cli.Dockerfile.dockerignore leaves {source} out of the context"
            );
            copied.push(source.to_owned());
        }
    }
    assert_eq!(
        copied,
        ["Cargo.toml", "Cargo.lock", "src", "verifiers", "cli"]
    );
    // The build context holds only those: the workspace must load there, with nothing else of
    // the repository (bench/, tests/, envoy/, ...). That Cargo.lock is current (the image builds
    // `--locked`) is what `make build` and `make test` check, with `--locked` too.
    let context = scratch_dir("cli-image-context");
    for source in &copied {
        copy_tree(&repo_root().join(source), &context.join(source));
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let resolved = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .current_dir(&context)
        .output()
        .unwrap();
    assert!(
        resolved.status.success(),
        "the CLI image's build context does not resolve as a workspace:\n{}",
        String::from_utf8_lossy(&resolved.stderr)
    );
    let metadata: Value = serde_json::from_slice(&resolved.stdout).unwrap();
    let members: BTreeSet<&str> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        members,
        BTreeSet::from(["jwt-relay", "jwt-relay-cli", "jwt-relay-verifiers"])
    );
    assert!(
        steps
            .iter()
            .any(|s| s.contains("cargo build --release --locked -p jwt-relay-cli")),
        "{steps:?}"
    );
    // rust:1.NN-... must satisfy every rust-version of the workspace.
    let from = steps.iter().find(|s| s.starts_with("FROM rust:")).unwrap();
    let minor = |version: &str| -> u32 { version.split('.').nth(1).unwrap().parse().unwrap() };
    let image_minor = minor(
        from.trim_start_matches("FROM rust:")
            .split('-')
            .next()
            .unwrap(),
    );
    for manifest in ["Cargo.toml", "cli/Cargo.toml"] {
        let text = fs::read_to_string(repo_root().join(manifest)).unwrap();
        let needed = text
            .lines()
            .find_map(|l| l.strip_prefix("rust-version = "))
            .unwrap()
            .trim_matches('"');
        assert!(
            image_minor >= minor(needed),
            "{from} is older than {manifest}'s {needed}"
        );
    }
    assert!(
        steps.contains(&"ENTRYPOINT [\"jwt-relay-cli\"]".to_owned()),
        "{steps:?}"
    );
}

/// The Istio route requirements patch routes the gateway's VirtualService really names, on the
/// gateway jwt-relay-gateway runs on, with metadata the filter understands: only its three fields,
/// a known requirement, issuers the gateway plugin trusts, and non-empty scopes.
#[test]
fn istio_route_requirements_name_real_routes() {
    let manifest = "deploy/istio/route-requirements.yaml";
    let filters = documents_of_kind(manifest, "EnvoyFilter");
    assert_eq!(filters.len(), 1, "{manifest}");
    let spec = &filters[0]["spec"];
    assert_eq!(
        spec["workloadSelector"]["labels"]["istio"],
        "ingressgateway"
    );
    let services = documents_of_kind("deploy/istio/gateway.yaml", "VirtualService");
    let names: Vec<&str> = services[0]["spec"]["http"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|route| route["name"].as_str())
        .collect();
    let plugins = documents_of_kind("deploy/istio/wasmplugin.yaml", "WasmPlugin");
    let issuers: Vec<&str> = plugins[0]["spec"]["pluginConfig"]["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|provider| provider["issuer"].as_str().unwrap())
        .collect();
    let mut patched = Vec::new();
    for patch in spec["configPatches"].as_array().unwrap() {
        assert_eq!(patch["applyTo"], "HTTP_ROUTE");
        assert_eq!(patch["match"]["context"], "GATEWAY");
        assert_eq!(patch["patch"]["operation"], "MERGE");
        let route = patch["match"]["routeConfiguration"]["vhost"]["route"]["name"]
            .as_str()
            .unwrap();
        assert!(
            names.contains(&route),
            "{manifest}: no VirtualService route {route:?}"
        );
        let rules = patch["patch"]["value"]["metadata"]["filter_metadata"]["jwt_relay"]
            .as_object()
            .unwrap();
        for (key, value) in rules {
            match key.as_str() {
                "requirement" => assert!(
                    ["required", "allow_missing", "none"].contains(&value.as_str().unwrap()),
                    "{route}: {value:?}"
                ),
                "providers" => {
                    for issuer in value.as_array().unwrap() {
                        assert!(
                            issuers.contains(&issuer.as_str().unwrap()),
                            "{route}: {issuer:?}"
                        );
                    }
                }
                "scopes" => {
                    let scopes = value.as_array().unwrap();
                    assert!(!scopes.is_empty(), "{route}");
                    assert!(scopes.iter().all(|s| s
                        .as_str()
                        .is_some_and(|s| !s.is_empty() && !s.contains(' '))));
                }
                other => panic!("{manifest}: {route}: unknown field {other}"),
            }
        }
        patched.push(route);
    }
    assert_eq!(patched, ["health", "public", "admin"]);
}
