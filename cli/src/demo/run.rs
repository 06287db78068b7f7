//! Walking the walkthrough: the demo's topology (Envoy with `envoy/demo.yaml`, the echo upstream,
//! the stub identity service), then every line run as written by bash, and every answer
//! checked. `make demo` runs it on the README's ports; the tests run it on free ones.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use super::{Check, Line, Part, Walkthrough};
use crate::cert;
use crate::envoy::{Envoy, Launch};
use crate::idp::StubIdp;
use crate::keys::SigningKey;
use crate::{echo, token};

/// The addresses the README's lines name. The edge serves HTTPS only, for `localhost` (the
/// certificate's name); the internal hop stays cleartext, as in a mesh whose sidecars add mTLS.
pub const README_EDGE: &str = "https://localhost:10000";
pub const README_INTERNAL: &str = "http://127.0.0.1:10001";
pub const README_IDP: &str = "http://127.0.0.1:8082";
/// The CA certificate the README's curl lines trust (`--cacert`): where `make run` and `make demo`
/// have [`cert::write`] put it.
pub const README_CA: &str = "target/demo-tls/ca.crt";
const README_ECHO_ADDR: &str = "127.0.0.1:8081";
const README_IDP_ADDR: &str = "127.0.0.1:8082";

/// How long the filter may take after Envoy is ready to have its keys and first revocation list
/// (until then it refuses every token).
const FIRST_FETCH_DEADLINE: Duration = Duration::from_secs(10);
const REPEAT_DEADLINE: Duration = Duration::from_secs(10);
const REPEAT_INTERVAL: Duration = Duration::from_millis(200);

/// Where the topology listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ports {
    /// The README's: edge 10000, internal 10001, admin 9901, echo 8081, identity service 8082.
    Readme,
    /// Free ones the kernel picks (tests run in parallel).
    Free,
}

/// The base URLs the walk sends to, and the CA certificate the edge's is signed by; the
/// README's addresses and CA path are rewritten to these.
#[derive(Debug, Clone)]
pub struct Target {
    pub edge: String,
    pub internal: String,
    pub idp: String,
    pub ca: PathBuf,
}

impl Target {
    fn localize(&self, text: &str) -> String {
        text.replace(README_EDGE, &self.edge)
            .replace(README_INTERNAL, &self.internal)
            .replace(README_IDP, &self.idp)
            .replace(README_CA, &self.ca.display().to_string())
    }
}

/// A config of `envoy/` (`demo.yaml`, `identity.yaml`) for one run: the `.wasm` at `wasm`, the
/// edge's certificate and key from `tls` (a directory [`cert::write`] wrote), and with
/// [`Ports::Free`] its admin and listeners on port 0 and its upstreams on the given ports. Fails
/// if the template no longer holds what it rewrites, so a test config cannot drift silently from
/// the shipped one.
pub fn render_config(
    template: &str,
    ports: Ports,
    echo_port: u16,
    idp_port: u16,
    wasm: &Path,
    tls: &Path,
) -> Result<String> {
    let mut yaml = template.to_owned();
    let mut replace = |from: &str, to: &str| -> Result<()> {
        if !yaml.contains(from) {
            bail!("the Envoy config no longer contains {from:?}");
        }
        yaml = yaml.replace(from, to);
        Ok(())
    };
    if ports == Ports::Free {
        for port in ["9901", "10000", "10001"] {
            replace(&format!("port_value: {port}"), "port_value: 0")?;
        }
        replace("port_value: 8081", &format!("port_value: {echo_port}"))?;
        replace("port_value: 8082", &format!("port_value: {idp_port}"))?;
    }
    replace(
        "filename: target/wasm32-wasip1/release/jwt_relay.wasm",
        &format!("filename: {}", wasm.display()),
    )?;
    for file in [cert::CERT_FILE, cert::KEY_FILE] {
        replace(
            &format!("filename: {}/{file}", cert::DEMO_DIR),
            &format!("filename: {}", tls.join(file).display()),
        )?;
    }
    Ok(yaml)
}

/// The demo's processes. Dropping it stops Envoy; the echo upstream and the identity service
/// are threads of this process.
pub struct Topology {
    pub envoy: Envoy,
    pub idp: StubIdp,
    pub target: Target,
}

impl Topology {
    /// Starts the topology and waits until a valid demo token passes the edge.
    pub fn start(
        repo: &Path,
        binary: PathBuf,
        wasm: &Path,
        ports: Ports,
        dir: &Path,
    ) -> Result<Topology> {
        if !wasm.is_file() {
            bail!(
                "the filter is not built: {} is missing (`make build`, or `make demo`, which builds it)",
                wasm.display()
            );
        }
        let (echo_addr, idp_addr) = match ports {
            Ports::Readme => (README_ECHO_ADDR, README_IDP_ADDR),
            Ports::Free => ("127.0.0.1:0", "127.0.0.1:0"),
        };
        let in_use = |what: &str, addr: &str| {
            format!(
                "cannot start the {what} on {addr} (another demo or `make run` running? the demo \
                 needs 127.0.0.1 ports 8081, 8082, 9901, 10000 and 10001 free)"
            )
        };
        let echo_port =
            echo::spawn(echo_addr).with_context(|| in_use("echo upstream", echo_addr))?;
        let idp = StubIdp::spawn(idp_addr).with_context(|| in_use("identity service", idp_addr))?;
        let jwks_path = repo.join("envoy/demo-keys/jwks.json");
        let jwks = fs::read_to_string(&jwks_path)
            .with_context(|| format!("cannot read {}", jwks_path.display()))?;
        idp.set_jwks(serde_json::from_str(&jwks)?);

        // The README's curl lines trust target/demo-tls/ca.crt; a walk on free ports (tests, in
        // parallel) makes its own.
        let tls = match ports {
            Ports::Readme => repo.join(cert::DEMO_DIR),
            Ports::Free => dir.join("tls"),
        };
        let tls = cert::write_default(&tls)?;
        let template = fs::read_to_string(repo.join("envoy/demo.yaml"))?;
        let config = dir.join("envoy.yaml");
        fs::create_dir_all(dir)?;
        fs::write(
            &config,
            render_config(&template, ports, echo_port, idp.port(), wasm, &tls.dir)?,
        )?;
        let mut launch = Launch::new(binary, config, dir.to_path_buf());
        launch.cwd = Some(repo.to_path_buf());
        let envoy = Envoy::start(&launch)?;
        let port = |listener: &str| -> Result<u16> {
            envoy
                .port(listener)
                .ok_or_else(|| anyhow!("envoy/demo.yaml has no listener {listener:?}"))
        };
        let target = Target {
            edge: format!("https://localhost:{}", port("edge")?),
            internal: format!("http://127.0.0.1:{}", port("internal")?),
            idp: idp.base_url(),
            ca: tls.ca,
        };
        let topology = Topology { envoy, idp, target };
        topology.wait_first_fetch(repo)?;
        Ok(topology)
    }

    fn wait_first_fetch(&self, repo: &Path) -> Result<()> {
        let key = SigningKey::load(&repo.join("envoy/demo-keys/rsa.jwk.json"))?;
        let now = token::now();
        let probe = token::sign_default(
            &key,
            &json!({
                "iss": "https://idp.example.com", "sub": "probe", "aud": "api.example.com",
                "iat": now, "exp": now + 300,
            }),
        )?;
        // Over HTTPS, trusting only the demo CA, as the README's curl lines do.
        let ca = fs::read(&self.target.ca)
            .with_context(|| format!("cannot read {}", self.target.ca.display()))?;
        let agent = cert::agent_trusting(&ca)?;
        let deadline = Instant::now() + FIRST_FETCH_DEADLINE;
        loop {
            let status = agent
                .get(&format!("{}/", self.target.edge))
                .header("authorization", &format!("Bearer {probe}"))
                .call()
                .map(|reply| reply.status().as_u16());
            if matches!(status, Ok(200)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "a valid demo token still does not pass the edge {FIRST_FETCH_DEADLINE:?} \
                     after Envoy was ready (last answer: {status:?}): has the filter fetched from \
                     the identity service?\n{}",
                    self.envoy.log_tail(40)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// What a walk did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub scenarios: usize,
    pub lines: usize,
    pub checks: usize,
}

/// Runs every line of `walkthrough` against `target` (bash, in `repo`, with the CLI of
/// `cli_dir` first on PATH), printing as it goes, and checks every answer; the first check that
/// fails ends the walk with an error that says which, and what came back.
pub fn walk(
    walkthrough: &Walkthrough,
    target: &Target,
    repo: &Path,
    cli_dir: &Path,
    out: &mut dyn Write,
) -> Result<Summary> {
    let scratch = tempdir()?;
    let mut shell = Shell::new(target, repo, cli_dir, &scratch)?;
    let mut summary = Summary::default();
    writeln!(out, "== Setup ==")?;
    for line in walkthrough.setup {
        shell.run(line, out)?;
        summary.lines += 1;
    }
    // Whatever the setup put first on PATH, the CLI this demo was built with comes first.
    shell.put_cli_first();
    for paragraph in walkthrough.after_setup {
        print_prose(out, paragraph)?;
    }
    let total = walkthrough.scenarios.len();
    for (number, scenario) in walkthrough.scenarios.iter().enumerate() {
        writeln!(out, "\n== {}/{total}. {} ==", number + 1, scenario.title)?;
        for part in scenario.parts {
            match part {
                Part::Prose(paragraph) => print_prose(out, paragraph)?,
                Part::Block { lines, checks } => {
                    let mut answer = None;
                    for line in *lines {
                        answer = shell.run(line, out)?;
                        summary.lines += 1;
                    }
                    if checks.is_empty() {
                        continue;
                    }
                    let answer = answer.ok_or_else(|| {
                        anyhow!(
                            "{}: checks after a block that sent no request",
                            scenario.title
                        )
                    })?;
                    answer.show(&shell, out)?;
                    for check in *checks {
                        answer.check(check, &shell).map_err(|why| {
                            anyhow!(
                                "FAILED in \"{}\": expected {}: {why}\n{}",
                                scenario.title,
                                check.describe(),
                                answer.dump()
                            )
                        })?;
                        writeln!(out, "  ok: {}", check.describe())?;
                        summary.checks += 1;
                    }
                }
            }
        }
        summary.scenarios += 1;
    }
    let _ = fs::remove_dir_all(&scratch);
    writeln!(
        out,
        "\nAll {} scenarios passed: {} lines run, {} checks held.",
        summary.scenarios, summary.lines, summary.checks
    )?;
    Ok(summary)
}

fn print_prose(out: &mut dyn Write, paragraph: &str) -> Result<()> {
    // Backticks are for the README; the terminal gets plain text.
    for line in paragraph.replace('`', "").lines() {
        writeln!(out, "  {line}")?;
    }
    Ok(())
}

fn tempdir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "jwt-relay-demo-{}-{}",
        std::process::id(),
        token::now()
    ));
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The shell state between lines: the variables the lines set, passed to each bash.
struct Shell<'a> {
    target: &'a Target,
    repo: &'a Path,
    cli_dir: &'a Path,
    vars: BTreeMap<String, String>,
    body: PathBuf,
    headers: PathBuf,
}

/// The demo's `curl`: the line's own arguments, then the demo takes the answer apart (status on
/// stdout, headers and body in files); `--no-include` undoes a line's `-i` for the body file.
const CURL_WRAPPER: &str = r#"curl() { command curl -sS --max-time 10 "$@" --no-include -o "$JWT_RELAY_DEMO_BODY" -D "$JWT_RELAY_DEMO_HEADERS" -w '%{http_code}'; }"#;

impl<'a> Shell<'a> {
    fn new(target: &'a Target, repo: &'a Path, cli_dir: &'a Path, scratch: &Path) -> Result<Self> {
        let mut shell = Shell {
            target,
            repo,
            cli_dir,
            vars: BTreeMap::new(),
            body: scratch.join("body"),
            headers: scratch.join("headers"),
        };
        shell
            .vars
            .insert("PATH".to_owned(), std::env::var("PATH").unwrap_or_default());
        shell.put_cli_first();
        Ok(shell)
    }

    fn put_cli_first(&mut self) {
        let path = self.vars.get("PATH").cloned().unwrap_or_default();
        self.vars.insert(
            "PATH".to_owned(),
            format!("{}:{path}", self.cli_dir.display()),
        );
    }

    fn bash(&self, script: &str) -> Result<(bool, String, String)> {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("set -euo pipefail\n{CURL_WRAPPER}\n{script}"))
            .current_dir(self.repo)
            .envs(&self.vars)
            .env("JWT_RELAY_DEMO_BODY", &self.body)
            .env("JWT_RELAY_DEMO_HEADERS", &self.headers)
            .output()
            .context("cannot run bash")?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// Runs one line; a curl returns its answer.
    fn run(&mut self, line: &Line, out: &mut dyn Write) -> Result<Option<Answer>> {
        let text = line.text();
        writeln!(out, "  $ {text}")?;
        let failed = |stderr: &str| anyhow!("the line failed: {text}\n{stderr}");
        match line {
            Line::Set { var, .. } => {
                let (ok, stdout, stderr) = self.bash(&format!(
                    "{}\nprintf '%s' \"${{{var}}}\"",
                    self.target.localize(&text)
                ))?;
                if !ok {
                    return Err(failed(&stderr));
                }
                self.vars.insert((*var).to_owned(), stdout);
                Ok(None)
            }
            Line::Run { .. } => {
                let (ok, stdout, stderr) = self.bash(&self.target.localize(&text))?;
                if !ok {
                    return Err(failed(&format!("{stdout}{stderr}")));
                }
                for shown in format!("{stdout}{stderr}").lines() {
                    writeln!(out, "    {shown}")?;
                }
                Ok(None)
            }
            Line::Curl { repeat_until, .. } => {
                let started = Instant::now();
                loop {
                    let _ = fs::remove_file(&self.body);
                    let _ = fs::remove_file(&self.headers);
                    let (ok, stdout, stderr) = self.bash(&self.target.localize(&text))?;
                    if !ok {
                        return Err(failed(&stderr));
                    }
                    let status: u16 = stdout
                        .trim()
                        .parse()
                        .map_err(|_| anyhow!("curl printed no status: {stdout:?}"))?;
                    let answer = Answer::read(status, &self.headers, &self.body)?;
                    match repeat_until {
                        Some(code) if *code != status && started.elapsed() < REPEAT_DEADLINE => {
                            std::thread::sleep(REPEAT_INTERVAL);
                        }
                        Some(_) => {
                            writeln!(
                                out,
                                "  (repeated: HTTP {status} after {:.1} s)",
                                started.elapsed().as_secs_f64()
                            )?;
                            return Ok(Some(answer));
                        }
                        None => return Ok(Some(answer)),
                    }
                }
            }
        }
    }

    /// A variable's name for a token, for the output: `$TOKEN`, or the token embedded in one.
    fn name_of(&self, token: &str) -> String {
        if let Some((var, _)) = self.vars.iter().find(|(_, value)| value.as_str() == token) {
            return format!("${var}");
        }
        for (var, value) in &self.vars {
            let embedded = claims_of(value)
                .and_then(|claims| claims.get("embedded_tokens").cloned())
                .and_then(|embedded| embedded.as_object().cloned())
                .unwrap_or_default();
            for (aud, child) in embedded {
                if child.as_str() == Some(token) {
                    return format!("(the token embedded in ${var} for {aud:?})");
                }
            }
        }
        let head: String = token.chars().take(16).collect();
        format!("{head}... (not one the demo minted)")
    }
}

/// An HTTP answer as curl saw it; for a 2xx, the body is the echo upstream's report.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn read(status: u16, headers: &Path, body: &Path) -> Result<Answer> {
        let headers = fs::read_to_string(headers).unwrap_or_default();
        let headers = headers
            .lines()
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        let body = fs::read_to_string(body).unwrap_or_default();
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    fn challenge(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(name, _)| name == "www-authenticate")
            .map(|(_, value)| value.as_str())
    }

    fn echoed(&self) -> Result<Value, String> {
        serde_json::from_str(&self.body)
            .map_err(|_| format!("the body is not the echo upstream's report: {}", self.body))
    }

    /// Values of a header the upstream received.
    fn upstream_header(&self, name: &str) -> Result<Vec<String>, String> {
        let echoed = self.echoed()?;
        Ok(echoed["headers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|pair| pair[0].as_str() == Some(name))
            .filter_map(|pair| pair[1].as_str().map(str::to_owned))
            .collect())
    }

    /// The one bearer token the upstream received.
    fn forwarded_token(&self) -> Result<String, String> {
        let values = self.upstream_header("authorization")?;
        match values.as_slice() {
            [one] => Ok(one
                .strip_prefix("Bearer ")
                .unwrap_or(one.as_str())
                .to_owned()),
            _ => Err(format!(
                "the upstream got {} authorization headers",
                values.len()
            )),
        }
    }

    fn check(&self, check: &Check, shell: &Shell<'_>) -> Result<(), String> {
        let var = |name: &str| {
            shell
                .vars
                .get(name)
                .cloned()
                .ok_or_else(|| format!("${name} is not set"))
        };
        let holds = |ok: bool, got: String| if ok { Ok(()) } else { Err(got) };
        match *check {
            Check::Status(code) => holds(self.status == code, format!("got {}", self.status)),
            Check::ChallengeIs(text) => holds(
                self.challenge() == Some(text),
                format!("got {:?}", self.challenge()),
            ),
            Check::ChallengeHas(text) => holds(
                self.challenge().is_some_and(|value| value.contains(text)),
                format!("got {:?}", self.challenge()),
            ),
            Check::ForwardedTokenIs(name) => {
                let token = self.forwarded_token()?;
                holds(
                    token == var(name)?,
                    format!("got {}", shell.name_of(&token)),
                )
            }
            Check::ForwardedAudIs(aud) => {
                let token = self.forwarded_token()?;
                let got = claims_of(&token).map(|claims| claims["aud"].clone());
                holds(got == Some(json!(aud)), format!("its aud is {got:?}"))
            }
            Check::NowhereUpstream(name) => holds(
                !self.body.contains(&var(name)?),
                "it is in what the upstream received".to_owned(),
            ),
            Check::UpstreamPathIs(path) => {
                let echoed = self.echoed()?;
                let got = echoed["path"].as_str().unwrap_or_default();
                holds(got == path, format!("got {got}"))
            }
            Check::XJwtSubIs(sub) => {
                let got = self.upstream_header("x-jwt-sub")?;
                holds(got == [sub], format!("got {got:?}"))
            }
            Check::RefreshHint(expected) => {
                let got: Vec<&str> = self
                    .headers
                    .iter()
                    .filter(|(name, _)| name == "x-token-expires-in")
                    .map(|(_, value)| value.as_str())
                    .collect();
                let ok = match (expected, got.as_slice()) {
                    (None, []) => true,
                    (Some(most), [one]) => one.parse::<u64>().is_ok_and(|left| left <= most),
                    _ => false,
                };
                holds(ok, format!("got {got:?}"))
            }
        }
    }

    /// What the upstream received, or the refusal, for the demo's output.
    fn show(&self, shell: &Shell<'_>, out: &mut dyn Write) -> Result<()> {
        writeln!(out, "  -> HTTP {}", self.status)?;
        if !(200..300).contains(&self.status) {
            writeln!(
                out,
                "  www-authenticate: {}",
                self.challenge().unwrap_or("(none)")
            )?;
            writeln!(out, "  body: {}", self.body.trim())?;
            return Ok(());
        }
        let Ok(echoed) = self.echoed() else {
            writeln!(out, "  body: {}", self.body.trim())?;
            return Ok(());
        };
        let mut shown = String::new();
        let _ = writeln!(
            shown,
            "  upstream received: {} {}",
            echoed["method"].as_str().unwrap_or("?"),
            echoed["path"].as_str().unwrap_or("?")
        );
        let tokens = self.upstream_header("authorization").unwrap_or_default();
        if tokens.is_empty() {
            let _ = writeln!(shown, "    no authorization header");
        }
        for value in tokens {
            let token = value.strip_prefix("Bearer ").unwrap_or(&value);
            let _ = writeln!(shown, "    authorization: Bearer {}", shell.name_of(token));
            let _ = writeln!(shown, "      {}", describe(token));
        }
        for sub in self.upstream_header("x-jwt-sub").unwrap_or_default() {
            let _ = writeln!(shown, "    x-jwt-sub: {sub}");
        }
        write!(out, "{shown}")?;
        Ok(())
    }

    fn dump(&self) -> String {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(name, value)| format!("    {name}: {value}"))
            .collect();
        format!(
            "got HTTP {}, response headers:\n{}\nresponse body:\n    {}",
            self.status,
            headers.join("\n"),
            self.body.trim()
        )
    }
}

/// A token's claims, decoded without any check (for display and the `aud` check).
fn claims_of(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

fn describe(token: &str) -> String {
    let Some(claims) = claims_of(token) else {
        return "(not a JWT)".to_owned();
    };
    let exp = match claims["exp"].as_i64() {
        None => "no exp".to_owned(),
        Some(exp) if exp >= token::now() => format!("exp in {}s", exp - token::now()),
        Some(exp) => format!("expired {}s ago", token::now() - exp),
    };
    let mut line = format!(
        "iss={} sub={} aud={} {exp}",
        claims["iss"].as_str().unwrap_or("-"),
        claims["sub"].as_str().unwrap_or("-"),
        claims["aud"]
    );
    if let Some(embedded) = claims["embedded_tokens"].as_object() {
        let names: Vec<&str> = embedded.keys().map(String::as_str).collect();
        let _ = write!(line, " embeds={}", names.join(","));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell_with<'a>(target: &'a Target, vars: &[(&str, &str)]) -> Shell<'a> {
        let mut shell = Shell::new(target, Path::new("."), Path::new("."), Path::new(".")).unwrap();
        for (name, value) in vars {
            shell.vars.insert((*name).to_owned(), (*value).to_owned());
        }
        shell
    }

    fn token_for(aud: &str) -> String {
        let claims = URL_SAFE_NO_PAD.encode(json!({ "aud": aud }).to_string());
        format!("e30.{claims}.sig")
    }

    fn echoed(status: u16, path: &str, headers: &[(&str, &str)]) -> Answer {
        let headers: Vec<Value> = headers.iter().map(|(n, v)| json!([n, v])).collect();
        Answer {
            status,
            headers: vec![("www-authenticate".into(), "Bearer realm=\"x\"".into())],
            body: json!({ "method": "GET", "path": path, "headers": headers }).to_string(),
        }
    }

    #[test]
    fn each_check_holds_only_for_the_answer_it_describes() {
        let target = Target {
            edge: README_EDGE.into(),
            internal: README_INTERNAL.into(),
            idp: README_IDP.into(),
            ca: README_CA.into(),
        };
        let orders = token_for("orders");
        let shell = shell_with(&target, &[("ORDERS", &orders), ("BROAD", "broad.token.x")]);
        let bearer = format!("Bearer {orders}");
        let good = echoed(
            200,
            "/orders?page=2",
            &[("authorization", &bearer), ("x-jwt-sub", "alice")],
        );
        let two_tokens = echoed(
            200,
            "/orders",
            &[("authorization", &bearer), ("authorization", &bearer)],
        );
        let leaked = echoed(200, "/", &[("authorization", "Bearer broad.token.x")]);
        let mut hinted = echoed(200, "/", &[]);
        hinted
            .headers
            .push(("x-token-expires-in".into(), "29".into()));
        let cases: [(Check, &Answer, bool); 20] = [
            (Check::RefreshHint(Some(30)), &hinted, true),
            (Check::RefreshHint(Some(20)), &hinted, false),
            (Check::RefreshHint(None), &good, true),
            (Check::RefreshHint(None), &hinted, false),
            (Check::Status(200), &good, true),
            (Check::Status(401), &good, false),
            (Check::ChallengeIs("Bearer realm=\"x\""), &good, true),
            (Check::ChallengeIs("Bearer"), &good, false),
            (Check::ChallengeHas("realm"), &good, true),
            (Check::ChallengeHas("error="), &good, false),
            (Check::ForwardedTokenIs("ORDERS"), &good, true),
            (Check::ForwardedTokenIs("ORDERS"), &two_tokens, false),
            (Check::ForwardedTokenIs("UNSET"), &good, false),
            (Check::ForwardedAudIs("orders"), &good, true),
            (Check::ForwardedAudIs("payments"), &good, false),
            (Check::NowhereUpstream("BROAD"), &good, true),
            (Check::NowhereUpstream("BROAD"), &leaked, false),
            (Check::UpstreamPathIs("/orders?page=2"), &good, true),
            (Check::XJwtSubIs("alice"), &good, true),
            (Check::XJwtSubIs("alice"), &leaked, false),
        ];
        for (check, answer, holds) in cases {
            assert_eq!(
                answer.check(&check, &shell).is_ok(),
                holds,
                "{}",
                check.describe()
            );
        }
    }

    #[test]
    fn the_readme_addresses_are_rewritten_to_the_target() {
        let target = Target {
            edge: "https://localhost:1".into(),
            internal: "http://127.0.0.1:2".into(),
            idp: "http://127.0.0.1:3".into(),
            ca: "/tmp/run/tls/ca.crt".into(),
        };
        assert_eq!(
            target.localize("curl --cacert target/demo-tls/ca.crt https://localhost:10000/a http://127.0.0.1:10001/b --idp http://127.0.0.1:8082"),
            "curl --cacert /tmp/run/tls/ca.crt https://localhost:1/a http://127.0.0.1:2/b --idp http://127.0.0.1:3"
        );
    }

    #[test]
    fn a_template_without_what_it_rewrites_is_refused() {
        let (wasm, tls) = (Path::new("/x.wasm"), Path::new("/tls"));
        let refused = render_config("port_value: 9901", Ports::Free, 1, 2, wasm, tls).unwrap_err();
        assert!(
            refused.to_string().contains("port_value: 10000"),
            "{refused}"
        );
        let template = "filename: target/wasm32-wasip1/release/jwt_relay.wasm\n\
                        filename: target/demo-tls/edge.crt\n\
                        filename: target/demo-tls/edge.key";
        let rendered = render_config(template, Ports::Readme, 1, 2, wasm, tls).unwrap();
        assert_eq!(
            rendered,
            "filename: /x.wasm\nfilename: /tls/edge.crt\nfilename: /tls/edge.key"
        );
        // A config whose edge serves no TLS is not the demo's.
        let cleartext = "filename: target/wasm32-wasip1/release/jwt_relay.wasm";
        let refused = render_config(cleartext, Ports::Readme, 1, 2, wasm, tls).unwrap_err();
        assert!(refused.to_string().contains("edge.crt"), "{refused}");
    }
}
