//! `make demo`'s walk, run by the tests: the README's lines, as written, against a real Envoy
//! with envoy/demo.yaml (on free ports, the README's addresses rewritten to them), every answer
//! checked. Missing Envoy or the built filter fails the test: `make test` provides both.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use std::path::{Path, PathBuf};

use jwt_relay_cli::demo::{self, run};
use jwt_relay_cli::envoy;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn wasm() -> PathBuf {
    let path = std::env::var_os("JWT_RELAY_WASM")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/wasm32-wasip1/release/jwt_relay.wasm"));
    assert!(
        path.is_file(),
        "the filter is not built: {} is missing; run `make test` or `make build`",
        path.display()
    );
    path
}

#[test]
fn the_readme_walkthrough_passes_against_envoy() {
    let repo = repo();
    let binary = envoy::find_binary(&repo).unwrap_or_else(|e| panic!("{e:#}"));
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("walkthrough-{}", std::process::id()));
    let topology = run::Topology::start(&repo, binary, &wasm(), run::Ports::Free, &dir)
        .unwrap_or_else(|e| panic!("{e:#}"));
    let cli = PathBuf::from(env!("CARGO_BIN_EXE_jwt-relay-cli"));
    let mut out = Vec::new();
    let walked = run::walk(
        &demo::WALKTHROUGH,
        &topology.target,
        &repo,
        cli.parent().unwrap(),
        &mut out,
    );
    let out = String::from_utf8_lossy(&out);
    let summary =
        walked.unwrap_or_else(|e| panic!("{out}\n{e:#}\n{}", topology.envoy.log_tail(40)));
    assert_eq!(summary.scenarios, demo::WALKTHROUGH.scenarios.len());
    assert!(summary.checks >= summary.scenarios, "{summary:?}");
    assert!(out.contains("ok: status 401"), "{out}");
    let log = topology.envoy.log();
    assert!(
        !log.contains("panicked") && !log.contains("wasm trap"),
        "Envoy's log shows a trap:\n{log}"
    );
}
