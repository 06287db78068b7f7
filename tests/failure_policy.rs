//! What Envoy does after the filter's VM traps, with the shipped `failure_policy: FAIL_RELOAD`
//! and with `FAIL_CLOSED`, proven with a test-only build that traps on demand
//! (`--features test-trap`; `make test` builds it into `target/test-trap/`).

mod support;

use std::time::{Duration, Instant};

use support::tokens::{self, DemoKeys};
use support::{agent, get, test_trap_wasm_path, wasm_path, Envoy, TRAP_HEADER};

fn valid_token() -> Vec<(String, String)> {
    let keys = DemoKeys::load();
    let token = tokens::sign(&keys.rsa, &tokens::claims(serde_json::json!({})));
    vec![("authorization".into(), format!("Bearer {token}"))]
}

/// Sends the trap request and checks that it was not passed on.
fn trap(envoy: &Envoy) {
    let reply = get(
        &agent(),
        &format!("{}/", envoy.url("edge")),
        &[(TRAP_HEADER.into(), "1".into())],
    );
    if let Ok(reply) = reply {
        assert!(reply.status >= 500, "the trap request got {}", reply.status);
    }
    assert!(
        !envoy.traps().is_empty(),
        "no trap in Envoy's log after the trap request:\n{}",
        envoy.log()
    );
}

#[test]
fn fail_reload_replaces_a_trapped_vm_and_requests_are_decided_again() {
    let mut envoy = Envoy::start_demo_with("failure-reload", &test_trap_wasm_path(), |yaml| {
        assert!(
            yaml.contains("failure_policy: FAIL_RELOAD"),
            "the demo config must ship FAIL_RELOAD"
        );
        yaml
    });
    envoy.allow_traps();
    trap(&envoy);
    let (agent, headers) = (agent(), valid_token());
    let started = Instant::now();
    let healed = support::poll(Duration::from_secs(15), || {
        let edge = get(&agent, &format!("{}/", envoy.url("edge")), &headers)?;
        let missing = get(&agent, &format!("{}/", envoy.url("edge")), &[])?;
        match (edge.status, missing.status) {
            (200, 401) => Ok(()),
            other => Err(format!("not decided yet: {other:?}")),
        }
    });
    assert!(
        healed.is_ok(),
        "the VM was not replaced: {healed:?}\n{}",
        envoy.log()
    );
    eprintln!("decided again {:?} after the trap", started.elapsed());
}

#[test]
fn fail_closed_keeps_refusing_after_a_trap() {
    let mut envoy = Envoy::start_demo_with("failure-closed", &test_trap_wasm_path(), |yaml| {
        yaml.replace("failure_policy: FAIL_RELOAD", "failure_policy: FAIL_CLOSED")
    });
    envoy.allow_traps();
    trap(&envoy);
    let (agent, headers) = (agent(), valid_token());
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if let Ok(reply) = get(&agent, &format!("{}/", envoy.url("edge")), &headers) {
            assert!(
                reply.status >= 500,
                "a crashed VM passed a request: {}",
                reply.status
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn the_shipped_wasm_cannot_trap_on_demand() {
    let shipped = std::fs::read(wasm_path()).unwrap();
    let needle = TRAP_HEADER.as_bytes();
    assert!(
        !shipped.windows(needle.len()).any(|w| w == needle),
        "the shipped .wasm holds the test-trap code"
    );
    let trap_build = std::fs::read(test_trap_wasm_path()).unwrap();
    assert!(trap_build.windows(needle.len()).any(|w| w == needle));
}
