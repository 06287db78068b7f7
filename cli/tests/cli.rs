//! The `jwt-relay-cli` binary as a user runs it: help texts, exit codes, errors that name the bad
//! flag, files written, stdin input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const SUBCOMMANDS: [&str; 8] = [
    "keygen",
    "jwks",
    "mint",
    "inspect",
    "check-config",
    "echo",
    "serve",
    "revoke",
];

fn cli(args: &[&str]) -> Output {
    cli_with_stdin(args, "")
}

fn cli_with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jwt-relay-cli"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn scratch(name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn demo_key(file: &str) -> String {
    repo(&format!("envoy/demo-keys/{file}"))
        .display()
        .to_string()
}

#[test]
fn every_subcommand_has_help() {
    let top = cli(&["--help"]);
    assert!(top.status.success());
    for sub in SUBCOMMANDS {
        assert!(stdout(&top).contains(sub), "top-level help lacks {sub}");
        let out = cli(&[sub, "--help"]);
        assert!(
            out.status.success(),
            "{sub} --help failed: {}",
            stderr(&out)
        );
        assert!(
            stdout(&out).contains(&format!("Usage: jwt-relay-cli {sub}")),
            "{sub} --help:\n{}",
            stdout(&out)
        );
    }
}

#[test]
fn usage_errors_name_the_bad_flag_and_exit_2() {
    let cases: [(&[&str], &str); 6] = [
        (&["keygen", "--kind", "dsa", "--kid", "k"], "--kind"),
        (&["keygen", "--kind", "ec", "--kid", "k", "--jwks"], "--out"),
        (&["mint", "--key", "k.json"], "--iss"),
        (
            &["mint", "--key", "k.json", "--iss", "i", "--ttl", "soon"],
            "--ttl",
        ),
        (&["inspect", "t", "--now", "yesterday"], "--now"),
        (
            &["revoke", "--idp", "http://127.0.0.1:1", "--sid", ""],
            "--sid",
        ),
    ];
    for (args, flag) in cases {
        let out = cli(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(flag),
            "{args:?} does not name {flag}:\n{}",
            stderr(&out)
        );
    }
}

#[test]
fn run_errors_name_the_bad_flag_and_exit_1() {
    let dir = scratch("run-errors");
    let missing = dir.join("missing.json").display().to_string();
    let key = demo_key("ec.jwk.json");
    let cases: [(Vec<&str>, &str); 4] = [
        (vec!["mint", "--key", &missing, "--iss", "i"], "--key"),
        (
            vec!["mint", "--key", &key, "--claims-json", &missing],
            "--claims-json",
        ),
        (vec!["inspect", "a.b.c", "--jwks", &missing], "--jwks"),
        (
            vec!["keygen", "--kind", "hmac", "--kid", "k", "--pem", &missing],
            "--pem",
        ),
    ];
    for (args, flag) in cases {
        let out = cli(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with(&format!("error: {flag}")),
            "{args:?} does not name {flag}:\n{}",
            stderr(&out)
        );
    }
}

#[test]
fn keygen_writes_the_jwk_pem_files_and_prints_the_public_jwks() {
    let dir = scratch("keygen");
    let (jwk, pem, public) = (
        dir.join("k.jwk.json"),
        dir.join("k.pem"),
        dir.join("k.pub.pem"),
    );
    let out = cli(&[
        "keygen",
        "--kind",
        "ed25519",
        "--kid",
        "k1",
        "--out",
        jwk.to_str().unwrap(),
        "--pem",
        pem.to_str().unwrap(),
        "--public-pem",
        public.to_str().unwrap(),
        "--jwks",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let jwks: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(jwks["keys"][0]["kid"], "k1");
    assert!(
        jwks["keys"][0].get("d").is_none(),
        "the JWKS must be public"
    );
    let private: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&jwk).unwrap()).unwrap();
    assert_eq!(private["x"], jwks["keys"][0]["x"]);
    assert!(std::fs::read_to_string(&pem)
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(std::fs::read_to_string(&public)
        .unwrap()
        .starts_with("-----BEGIN PUBLIC KEY-----"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for secret in [&jwk, &pem] {
            let mode = std::fs::metadata(secret).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", secret.display());
        }
    }
}

#[test]
fn mint_takes_claims_from_json_and_inspect_reads_stdin() {
    let key = demo_key("ec.jwk.json");
    let claims = r#"{"iss": "https://idp.example.com", "aud": ["api.example.com"], "roles": ["admin"], "sid": "s-9"}"#;
    let out = cli_with_stdin(
        &[
            "mint",
            "--key",
            &key,
            "--claims-json",
            "-",
            "--sub",
            "carol",
        ],
        claims,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let token = stdout(&out);

    let jwks = demo_key("jwks.json");
    let out = cli_with_stdin(&["inspect", "-", "--jwks", &jwks], &token);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for expected in [
        "iss   \"https://idp.example.com\"",
        "sub   \"carol\"",
        "roles [\"admin\"]",
        "aud   [\"api.example.com\"]",
        "revocable: a revocation feed on claim \"sid\" listing \"s-9\"",
        "ok       signature: verifies with key \"demo-ec\" of the JWKS",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn check_config_passes_good_configs_and_fails_naming_the_field() {
    let demo = repo("envoy/demo.yaml").display().to_string();
    let out = cli(&["check-config", &demo]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "one line per listener: {lines:?}");
    assert!(
        lines[1].contains("listener \"internal\": role internal"),
        "{lines:?}"
    );

    let good = r#"{"providers": [{"issuer": "https://i", "audiences": ["a"],
        "local_jwks": {"inline": {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k",
        "x": "f3B0GygV-Zxr5RtW2y5pTi2CfVykbgRjV6suzsQxd0o"}]}}}]}"#;
    let out = cli_with_stdin(&["check-config"], good);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 1, "{}", stdout(&out));
    assert!(stdout(&out).starts_with("ok: stdin: plugin configuration: role edge;"));

    let bad = good.replace("\"kid\": \"k\",", "\"kid\": \"k\", \"d\": \"AAAA\",");
    let out = cli_with_stdin(&["check-config", "-"], &bad);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("invalid jwt-relay configuration at `providers[0].local_jwks"),
        "{}",
        stderr(&out)
    );

    let out = cli_with_stdin(&["check-config", "-"], "admin: {}\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no jwt-relay configuration found"),
        "{}",
        stderr(&out)
    );
}
