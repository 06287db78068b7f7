//! Stub identity service for the end-to-end tests and the demo: serves a JWKS and a revocation
//! feed whose content and failure behaviour the caller controls, and counts how often each was
//! fetched.
//!
//! One server answers:
//! - `GET /.well-known/jwks.json`: the document set with [`StubIdp::set_jwks`] (initially
//!   `{"keys":[]}`).
//! - `GET /revocations`: `{"revoked": [{"sid": "abc", "revoked_at": 1700000000, "expires_at":
//!   1700003600}, ...]}`, entries in the order their sid was first revoked, `expires_at` left out
//!   when unknown (initially `{"revoked": []}`).
//! - `POST /admin/revoke?sid=SID[&revoked_at=N][&expires_at=N]`: revokes SID (`revoked_at`
//!   defaults to now), answers `{"revoked": "SID"}`; 400 for a missing or malformed parameter.
//! - `GET /admin/hits`: `{"jwks": n, "revocations": n, "answers": {"jwks": {"200": n, "304":
//!   n}, "revocations": {...}}}`: requests per feed endpoint, and its answers by status.
//! - anything else: 404.
//!
//! The two feed endpoints answer according to their [`Mode`]; the query string is ignored when
//! matching their paths. Every 200 from them is labelled `application/json`, garbage included: a
//! client must not trust the content type.
//!
//! Conditional requests (unless [`StubIdp::set_conditional`] turns them off): every 200 from a
//! feed endpoint carries `ETag` (a digest of the body, strong) and `Last-Modified` (when that
//! body was first served, one second after the previous body's at the least, so a date always
//! changes with the body), and a request whose `If-None-Match` lists the current tag (or `*`),
//! or, without `If-None-Match`, whose `If-Modified-Since` is not before the current date, gets a
//! 304 with no body. [`StubIdp::set_cache_control`] adds a `Cache-Control` to an endpoint's 200s
//! and 304s (`serve --jwks-max-age N` for the JWKS).

use std::{
    collections::BTreeMap,
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError},
    thread,
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Utc};
use jwt_relay::documents::conditional;
use serde::Serialize;
use serde_json::{json, Value};
use tiny_http::{Header, Method, Request, Response, Server};

use crate::token;

/// Where the JWKS is served.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// Where the revocation feed is served.
pub const REVOCATIONS_PATH: &str = "/revocations";
/// Control API: `POST` here to revoke a session.
pub const ADMIN_REVOKE_PATH: &str = "/admin/revoke";
/// Control API: `GET` the hit counters.
pub const ADMIN_HITS_PATH: &str = "/admin/hits";
/// How long [`Mode::Hang`] holds a request whose endpoint stays in that mode; then it gets 504.
pub const HANG_LIMIT: Duration = Duration::from_secs(60);
/// The body [`Mode::Garbage`] serves.
pub const GARBAGE_BODY: &str = "<html>not json";

/// Threads taking requests off the server. A hung request is handed to a thread of its own, so
/// hangs never use these up.
const WORKERS: usize = 4;

/// The two feeds a filter fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Jwks,
    Revocations,
}

impl Endpoint {
    /// The path the endpoint is served at.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Jwks => JWKS_PATH,
            Endpoint::Revocations => REVOCATIONS_PATH,
        }
    }

    fn index(self) -> usize {
        match self {
            Endpoint::Jwks => 0,
            Endpoint::Revocations => 1,
        }
    }
}

/// How an endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Serve the current document: 200, `application/json`.
    Ok,
    /// Answer with this status and a short text body.
    Status(u16),
    /// Accept and never answer: hold the request until the endpoint's mode changes (then answer
    /// as the new mode says) or [`HANG_LIMIT`] passes (then 504).
    Hang,
    /// 200 with a body that is not JSON ([`GARBAGE_BODY`]).
    Garbage,
    /// 200 with exactly this body (e.g. valid JSON that is not a JWKS).
    Body(String),
}

/// A running stub identity service. Clones share the same server and state; the server runs
/// for the rest of the process.
#[derive(Clone)]
pub struct StubIdp {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

struct Shared {
    state: Mutex<State>,
    /// Notified on every mode change, to release hung requests.
    mode_changed: Condvar,
}

struct State {
    jwks: Value,
    revoked: Vec<Revocation>,
    modes: [Mode; 2],
    hits: [u64; 2],
    /// Answers per endpoint, by status.
    answers: [BTreeMap<u16, u64>; 2],
    /// Whether 200s carry validators and preconditions are answered.
    conditional: bool,
    /// A `Cache-Control` for each endpoint's 200s and 304s.
    cache_control: [Option<String>; 2],
    /// Per endpoint, the digest of the last body served with its `Last-Modified` (unix seconds).
    served: [Option<(u64, i64)>; 2],
}

/// The preconditions of a feed request.
#[derive(Debug, Clone, Default)]
struct Preconditions {
    if_none_match: Option<String>,
    if_modified_since: Option<String>,
}

impl Preconditions {
    fn of(request: &Request) -> Preconditions {
        let header = |name: &'static str| {
            request
                .headers()
                .iter()
                .find(|header| header.field.equiv(name))
                .map(|header| header.value.as_str().to_owned())
        };
        Preconditions {
            if_none_match: header("If-None-Match"),
            if_modified_since: header("If-Modified-Since"),
        }
    }

    /// Whether the representation with `etag` and `last_modified` is "not modified" for these
    /// (RFC 9110 §13.2.2: If-None-Match, weak comparison, and only without it If-Modified-Since).
    fn not_modified(&self, etag: &str, last_modified: i64) -> bool {
        if let Some(list) = &self.if_none_match {
            return list.trim() == "*" || entity_tags(list).iter().any(|tag| weak_eq(tag, etag));
        }
        self.if_modified_since
            .as_deref()
            .and_then(|date| DateTime::parse_from_rfc2822(date.trim()).ok())
            .is_some_and(|since| last_modified <= since.timestamp())
    }
}

/// The entity-tags of an `If-None-Match` list (quoted, so a comma inside one is kept).
fn entity_tags(list: &str) -> Vec<&str> {
    let mut tags = Vec::new();
    let mut rest = list;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let start = rest.len();
        let body = rest.strip_prefix("W/").unwrap_or(rest);
        let Some(inner) = body.strip_prefix('"') else {
            break;
        };
        let Some(end) = inner.find('"') else {
            break;
        };
        let taken = start - inner.len() + end + 1;
        tags.push(&rest[..taken]);
        rest = &rest[taken..];
    }
    tags
}

/// Weak comparison: the opaque tags match, `W/` or not.
fn weak_eq(a: &str, b: &str) -> bool {
    let opaque = |tag: &str| tag.strip_prefix("W/").unwrap_or(tag).to_owned();
    opaque(a) == opaque(b)
}

/// An IMF-fixdate (`Wed, 21 Oct 2015 07:28:00 GMT`).
fn http_date(unix: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix, 0)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// One entry of the revocation feed; fields serialize in this order.
#[derive(Serialize)]
struct Revocation {
    sid: String,
    revoked_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

impl StubIdp {
    /// Binds `addr` (e.g. "127.0.0.1:0"), serves on background threads and returns at once.
    pub fn spawn(addr: &str) -> Result<StubIdp> {
        let server = Server::http(addr).map_err(|err| anyhow!("cannot listen on {addr}: {err}"))?;
        let addr = server
            .server_addr()
            .to_ip()
            .with_context(|| format!("{addr} is not an IP listener"))?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                jwks: json!({ "keys": [] }),
                revoked: Vec::new(),
                modes: [Mode::Ok, Mode::Ok],
                hits: [0, 0],
                answers: [BTreeMap::new(), BTreeMap::new()],
                conditional: true,
                cache_control: [None, None],
                served: [None, None],
            }),
            mode_changed: Condvar::new(),
        });
        let server = Arc::new(server);
        for index in 0..WORKERS {
            let server = Arc::clone(&server);
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("idp-{index}"))
                .spawn(move || serve(&server, &shared))
                .context("cannot start a stub identity service thread")?;
        }
        Ok(StubIdp { shared, addr })
    }

    /// The port the server is bound to.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://IP:PORT` of the server (loopback when bound to an unspecified address).
    pub fn base_url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            });
        }
        format!("http://{addr}")
    }

    /// Replaces the document served at [`JWKS_PATH`].
    pub fn set_jwks(&self, jwks: Value) {
        self.shared.lock().jwks = jwks;
    }

    /// Adds a revocation, or replaces the one for `sid` in place.
    pub fn revoke(&self, sid: &str, revoked_at: i64, expires_at: Option<i64>) {
        self.shared.lock().revoke(sid, revoked_at, expires_at);
    }

    /// Empties the revocation feed.
    pub fn clear_revocations(&self) {
        self.shared.lock().revoked.clear();
    }

    /// Sets how `endpoint` answers from now on, and releases requests it holds in [`Mode::Hang`]
    /// unless the new mode is `Hang` again.
    pub fn set_mode(&self, endpoint: Endpoint, mode: Mode) {
        self.shared.lock().modes[endpoint.index()] = mode;
        self.shared.mode_changed.notify_all();
    }

    /// Requests received on `endpoint` since the start or the last [`reset_hits`](Self::reset_hits),
    /// whatever the mode.
    pub fn hits(&self, endpoint: Endpoint) -> u64 {
        self.shared.lock().hits[endpoint.index()]
    }

    /// Answers with `status` on `endpoint` since the start or the last
    /// [`reset_hits`](Self::reset_hits) (e.g. 200 and 304: full documents and "not modified").
    pub fn answered(&self, endpoint: Endpoint, status: u16) -> u64 {
        self.shared.lock().answers[endpoint.index()]
            .get(&status)
            .copied()
            .unwrap_or(0)
    }

    /// Sets both hit counters, and the answers by status, to 0.
    pub fn reset_hits(&self) {
        let mut state = self.shared.lock();
        state.hits = [0, 0];
        state.answers = [BTreeMap::new(), BTreeMap::new()];
    }

    /// Whether 200s carry `ETag` and `Last-Modified` and matching preconditions get a 304 (the
    /// default), or every request gets the whole document with no validators.
    pub fn set_conditional(&self, conditional: bool) {
        self.shared.lock().conditional = conditional;
    }

    /// The `Cache-Control` of `endpoint`'s 200s and 304s (`None`: none, the default).
    pub fn set_cache_control(&self, endpoint: Endpoint, value: Option<&str>) {
        self.shared.lock().cache_control[endpoint.index()] = value.map(str::to_owned);
    }

    /// The `ETag` the endpoint's current document is served with (in mode [`Mode::Ok`]).
    pub fn etag(&self, endpoint: Endpoint) -> String {
        etag_of(&self.shared.lock().document(endpoint))
    }
}

/// The strong entity-tag of a body: its digest.
fn etag_of(body: &str) -> String {
    format!("\"{:016x}\"", conditional::digest(body.as_bytes()))
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every update is one assignment.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn revoke(&mut self, sid: &str, revoked_at: i64, expires_at: Option<i64>) {
        let entry = Revocation {
            sid: sid.to_owned(),
            revoked_at,
            expires_at,
        };
        match self.revoked.iter_mut().find(|old| old.sid == sid) {
            Some(old) => *old = entry,
            None => self.revoked.push(entry),
        }
    }

    fn document(&self, endpoint: Endpoint) -> String {
        match endpoint {
            Endpoint::Jwks => self.jwks.to_string(),
            Endpoint::Revocations => {
                #[derive(Serialize)]
                struct Feed<'a> {
                    revoked: &'a [Revocation],
                }
                // Serializing plain strings and integers cannot fail.
                serde_json::to_string(&Feed {
                    revoked: &self.revoked,
                })
                .unwrap_or_default()
            }
        }
    }

    /// The answer for `endpoint` in its current mode to a request with `conditions`, counted;
    /// `None` while it hangs.
    fn reply(&mut self, endpoint: Endpoint, conditions: &Preconditions) -> Option<Reply> {
        let index = endpoint.index();
        let body = match &self.modes[index] {
            Mode::Ok => self.document(endpoint),
            // No validators: a 304 (or 204) has no body, and the status is what the test asked for.
            Mode::Status(status @ (204 | 304)) => {
                return Some(self.count(index, Reply::empty(*status)))
            }
            Mode::Status(status) => {
                let text = format!("stub identity service: status {status}\n");
                return Some(self.count(index, Reply::text(*status, text)));
            }
            Mode::Hang => return None,
            Mode::Garbage => GARBAGE_BODY.to_owned(),
            Mode::Body(body) => body.clone(),
        };
        let mut headers = Vec::new();
        if let Some(value) = &self.cache_control[index] {
            headers.push(("Cache-Control", value.clone()));
        }
        if !self.conditional {
            return Some(self.count(index, Reply::json(200, body).with(headers)));
        }
        let digest = conditional::digest(body.as_bytes());
        let last_modified = match self.served[index] {
            Some((served, date)) if served == digest => date,
            previous => {
                let date = previous.map_or(i64::MIN, |(_, date)| date.saturating_add(1));
                let date = date.max(crate::token::now());
                self.served[index] = Some((digest, date));
                date
            }
        };
        let etag = etag_of(&body);
        let not_modified = conditions.not_modified(&etag, last_modified);
        headers.push(("ETag", etag));
        headers.push(("Last-Modified", http_date(last_modified)));
        let reply = if not_modified {
            Reply::empty(304)
        } else {
            Reply::json(200, body)
        };
        Some(self.count(index, reply.with(headers)))
    }

    fn count(&mut self, index: usize, reply: Reply) -> Reply {
        *self.answers[index].entry(reply.status).or_insert(0) += 1;
        reply
    }
}

struct Reply {
    status: u16,
    content_type: Option<&'static str>,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Reply {
    fn json(status: u16, body: String) -> Reply {
        Reply {
            status,
            content_type: Some("application/json"),
            headers: Vec::new(),
            body,
        }
    }

    fn text(status: u16, body: String) -> Reply {
        Reply {
            status,
            content_type: Some("text/plain; charset=utf-8"),
            headers: Vec::new(),
            body,
        }
    }

    /// No body, no content type (a 304, a 204).
    fn empty(status: u16) -> Reply {
        Reply {
            status,
            content_type: None,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    fn with(mut self, headers: Vec<(&'static str, String)>) -> Reply {
        self.headers.extend(headers);
        self
    }
}

fn serve(server: &Server, shared: &Arc<Shared>) {
    loop {
        match server.recv() {
            Ok(request) => handle(request, shared),
            // An accept error concerns one connection; keep serving the others.
            Err(err) => eprintln!("stub identity service: {err}"),
        }
    }
}

fn handle(mut request: Request, shared: &Arc<Shared>) {
    // Read the body so the next request on a keep-alive connection starts where it should.
    let _ = io::copy(request.as_reader(), &mut io::sink());
    let url = request.url().to_owned();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let reply = match path {
        JWKS_PATH => return feed(request, Endpoint::Jwks, shared),
        REVOCATIONS_PATH => return feed(request, Endpoint::Revocations, shared),
        ADMIN_REVOKE_PATH if *request.method() == Method::Post => admin_revoke(query, shared),
        ADMIN_HITS_PATH if *request.method() == Method::Get => {
            let state = shared.lock();
            let answers = |endpoint: Endpoint| -> Value {
                state.answers[endpoint.index()]
                    .iter()
                    .map(|(status, n)| (status.to_string(), json!(n)))
                    .collect::<serde_json::Map<_, _>>()
                    .into()
            };
            let hits = json!({
                "jwks": state.hits[Endpoint::Jwks.index()],
                "revocations": state.hits[Endpoint::Revocations.index()],
                "answers": {
                    "jwks": answers(Endpoint::Jwks),
                    "revocations": answers(Endpoint::Revocations),
                },
            });
            Reply::json(200, hits.to_string())
        }
        ADMIN_REVOKE_PATH | ADMIN_HITS_PATH => {
            Reply::text(405, format!("{} not allowed here\n", request.method()))
        }
        _ => Reply::text(404, format!("no such path: {path}\n")),
    };
    send(request, reply);
}

fn feed(request: Request, endpoint: Endpoint, shared: &Arc<Shared>) {
    let conditions = Preconditions::of(&request);
    let reply = {
        let mut state = shared.lock();
        state.hits[endpoint.index()] += 1;
        state.reply(endpoint, &conditions)
    };
    match reply {
        Some(reply) => send(request, reply),
        None => {
            let shared = Arc::clone(shared);
            let spawned = thread::Builder::new()
                .name("idp-hang".to_owned())
                .spawn(move || hold(request, endpoint, &conditions, &shared));
            // The request went down with the closure; tiny_http answers it with a 500.
            if let Err(err) = spawned {
                eprintln!("stub identity service: cannot hold a request: {err}");
            }
        }
    }
}

/// Holds a request while its endpoint hangs, then answers as the endpoint's mode then says.
fn hold(request: Request, endpoint: Endpoint, conditions: &Preconditions, shared: &Shared) {
    let deadline = Instant::now() + HANG_LIMIT;
    let mut state = shared.lock();
    let reply = loop {
        if let Some(reply) = state.reply(endpoint, conditions) {
            break reply;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let timeout = Reply::text(504, "stub identity service: hung for 60 s\n".to_owned());
            break state.count(endpoint.index(), timeout);
        }
        state = shared
            .mode_changed
            .wait_timeout(state, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    };
    drop(state);
    send(request, reply);
}

fn send(request: Request, reply: Reply) {
    let mut response = Response::from_string(reply.body).with_status_code(reply.status);
    let headers = reply
        .content_type
        .map(|value| ("Content-Type", value.to_owned()))
        .into_iter()
        .chain(reply.headers);
    for (name, value) in headers {
        if let Ok(header) = Header::from_bytes(name, value) {
            response.add_header(header);
        }
    }
    // A client that hung up before the answer only affects itself.
    let _ = request.respond(response);
}

fn admin_revoke(query: &str, shared: &Shared) -> Reply {
    match parse_revoke_query(query) {
        Ok((sid, revoked_at, expires_at)) => {
            shared
                .lock()
                .revoke(&sid, revoked_at.unwrap_or_else(token::now), expires_at);
            Reply::json(200, json!({ "revoked": sid }).to_string())
        }
        Err(err) => Reply::text(400, format!("{err}\n")),
    }
}

type RevokeQuery = (String, Option<i64>, Option<i64>);

fn parse_revoke_query(query: &str) -> Result<RevokeQuery> {
    let (mut sid, mut revoked_at, mut expires_at) = (None, None, None);
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, value) = (percent_decode(name)?, percent_decode(value)?);
        match name.as_str() {
            "sid" => set_once(&mut sid, &name, value)?,
            "revoked_at" => set_once(&mut revoked_at, &name, parse_seconds(&name, &value)?)?,
            "expires_at" => set_once(&mut expires_at, &name, parse_seconds(&name, &value)?)?,
            _ => bail!("unknown parameter {name:?} (expected sid, revoked_at, expires_at)"),
        }
    }
    match sid {
        Some(sid) if !sid.is_empty() => Ok((sid, revoked_at, expires_at)),
        _ => bail!("missing sid (POST {ADMIN_REVOKE_PATH}?sid=SID[&revoked_at=N][&expires_at=N])"),
    }
}

fn set_once<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<()> {
    if slot.replace(value).is_some() {
        bail!("{name} given twice");
    }
    Ok(())
}

fn parse_seconds(name: &str, value: &str) -> Result<i64> {
    value
        .parse()
        .map_err(|_| anyhow!("{name} must be an integer (unix seconds), got {value:?}"))
}

/// Decodes `%XX` escapes and `+` (a space in a query string).
fn percent_decode(text: &str) -> Result<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        rest = tail;
        match byte {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = rest
                    .get(..2)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                    .with_context(|| format!("bad %-escape in {text:?}"))?;
                bytes.push(hex);
                rest = rest.get(2..).unwrap_or_default();
            }
            _ => bytes.push(byte),
        }
    }
    String::from_utf8(bytes).with_context(|| format!("{text:?} is not UTF-8 once decoded"))
}

/// Escapes everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// The control-API URL that revokes `sid` on the stub at `base_url` (e.g. "http://127.0.0.1:8082").
pub fn revoke_url(
    base_url: &str,
    sid: &str,
    revoked_at: Option<i64>,
    expires_at: Option<i64>,
) -> String {
    let mut url = format!(
        "{}{ADMIN_REVOKE_PATH}?sid={}",
        base_url.trim_end_matches('/'),
        percent_encode(sid)
    );
    if let Some(revoked_at) = revoked_at {
        url.push_str(&format!("&revoked_at={revoked_at}"));
    }
    if let Some(expires_at) = expires_at {
        url.push_str(&format!("&expires_at={expires_at}"));
    }
    url
}

/// Revokes `sid` on a running stub through its control API and returns its answer
/// (`{"revoked": "<sid>"}`). Fails on a connection error, a non-2xx answer or a non-JSON body.
pub fn request_revoke(
    base_url: &str,
    sid: &str,
    revoked_at: Option<i64>,
    expires_at: Option<i64>,
) -> Result<Value> {
    let url = revoke_url(base_url, sid, revoked_at, expires_at);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut response = agent
        .post(&url)
        .send_empty()
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let body = response
        .body_mut()
        .read_to_string()
        .with_context(|| format!("POST {url}: reading the answer"))?;
    if !status.is_success() {
        bail!("POST {url}: {status}: {}", body.trim());
    }
    serde_json::from_str(&body).with_context(|| format!("POST {url}: answer is not JSON: {body:?}"))
}

#[cfg(test)]
mod tests {
    use std::thread::JoinHandle;

    use super::*;

    /// What came back for one request.
    #[derive(Debug)]
    struct Answer {
        status: u16,
        content_type: String,
        body: String,
        headers: ureq::http::HeaderMap,
    }

    impl Answer {
        fn json(&self) -> Value {
            serde_json::from_str(&self.body).unwrap()
        }
    }

    /// A client that reports 4xx/5xx as answers and gives up after `timeout`.
    fn agent(timeout: Duration) -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into()
    }

    fn request(method: &str, url: &str, timeout: Duration) -> Result<Answer, ureq::Error> {
        request_with(method, url, &[], timeout)
    }

    fn request_with(
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<Answer, ureq::Error> {
        let mut request = ureq::http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(()).unwrap();
        let mut response = agent(timeout).run(request)?;
        let content_type = response
            .headers()
            .get("content-type")
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_default();
        Ok(Answer {
            status: response.status().as_u16(),
            content_type,
            headers: response.headers().clone(),
            body: response.body_mut().read_to_string()?,
        })
    }

    impl Answer {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers.get(name).map(|value| value.to_str().unwrap())
        }
    }

    fn get_with(idp: &StubIdp, path: &str, headers: &[(&str, &str)]) -> Answer {
        request_with(
            "GET",
            &format!("{}{path}", idp.base_url()),
            headers,
            Duration::from_secs(10),
        )
        .unwrap()
    }

    fn get(idp: &StubIdp, path: &str) -> Answer {
        request(
            "GET",
            &format!("{}{path}", idp.base_url()),
            Duration::from_secs(10),
        )
        .unwrap()
    }

    fn post(idp: &StubIdp, path: &str) -> Answer {
        request(
            "POST",
            &format!("{}{path}", idp.base_url()),
            Duration::from_secs(10),
        )
        .unwrap()
    }

    fn stub() -> StubIdp {
        StubIdp::spawn("127.0.0.1:0").unwrap()
    }

    /// Waits until the stub has seen `count` requests on `endpoint` (a bound on a wait, not a
    /// timing assertion).
    fn wait_for_hits(idp: &StubIdp, endpoint: Endpoint, count: u64) {
        let give_up = Instant::now() + Duration::from_secs(10);
        while idp.hits(endpoint) < count {
            assert!(
                Instant::now() < give_up,
                "{endpoint:?} never saw {count} requests"
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn serves_the_jwks_it_is_given_and_counts_each_fetch() {
        let idp = stub();
        let initial = get(&idp, JWKS_PATH);
        assert_eq!(initial.status, 200);
        assert_eq!(initial.content_type, "application/json");
        assert_eq!(initial.json(), json!({ "keys": [] }));

        let jwks = json!({ "keys": [{ "kty": "oct", "kid": "k1", "k": "c2VjcmV0" }] });
        idp.set_jwks(jwks.clone());
        assert_eq!(get(&idp, JWKS_PATH).json(), jwks);
        // The query string does not change which endpoint answers.
        assert_eq!(get(&idp, &format!("{JWKS_PATH}?x=1")).json(), jwks);

        assert_eq!(idp.hits(Endpoint::Jwks), 3);
        assert_eq!(idp.hits(Endpoint::Revocations), 0);
    }

    #[test]
    fn revocations_appear_in_the_feed_in_insertion_order_replaced_in_place() {
        let idp = stub();
        let empty = get(&idp, REVOCATIONS_PATH);
        assert_eq!(empty.status, 200);
        assert_eq!(empty.content_type, "application/json");
        assert_eq!(empty.body, r#"{"revoked":[]}"#);

        idp.revoke("s-1", 1_700_000_000, None);
        idp.revoke("s-2", 1_700_000_100, Some(1_700_003_700));
        idp.revoke("s-1", 1_700_000_200, Some(1_700_003_800));
        // Exact text: field order as documented, expires_at absent rather than null.
        assert_eq!(
            get(&idp, REVOCATIONS_PATH).body,
            r#"{"revoked":[{"sid":"s-1","revoked_at":1700000200,"expires_at":1700003800},{"sid":"s-2","revoked_at":1700000100,"expires_at":1700003700}]}"#
        );

        idp.revoke("s-3", 5, None);
        assert_eq!(
            get(&idp, REVOCATIONS_PATH).json()["revoked"][2],
            json!({ "sid": "s-3", "revoked_at": 5 })
        );

        idp.clear_revocations();
        assert_eq!(get(&idp, REVOCATIONS_PATH).json(), json!({ "revoked": [] }));
        assert_eq!(idp.hits(Endpoint::Revocations), 4);
        assert_eq!(idp.hits(Endpoint::Jwks), 0);
    }

    #[test]
    fn status_garbage_and_body_modes_answer_as_specified_and_are_counted() {
        let idp = stub();
        idp.set_mode(Endpoint::Jwks, Mode::Status(500));
        let failed = get(&idp, JWKS_PATH);
        assert_eq!(failed.status, 500);
        assert!(failed.content_type.starts_with("text/plain"), "{failed:?}");
        assert!(failed.body.contains("500"), "{failed:?}");
        // The other endpoint keeps its own mode.
        assert_eq!(get(&idp, REVOCATIONS_PATH).status, 200);

        idp.set_mode(Endpoint::Jwks, Mode::Garbage);
        let garbage = get(&idp, JWKS_PATH);
        assert_eq!(garbage.status, 200);
        assert_eq!(garbage.body, GARBAGE_BODY);
        assert!(serde_json::from_str::<Value>(&garbage.body).is_err());

        idp.set_mode(
            Endpoint::Revocations,
            Mode::Body(r#"{"keys":"nope"}"#.into()),
        );
        let body = get(&idp, REVOCATIONS_PATH);
        assert_eq!(
            (body.status, body.body.as_str()),
            (200, r#"{"keys":"nope"}"#)
        );

        idp.set_mode(Endpoint::Revocations, Mode::Status(404));
        assert_eq!(get(&idp, REVOCATIONS_PATH).status, 404);

        idp.set_mode(Endpoint::Jwks, Mode::Ok);
        assert_eq!(get(&idp, JWKS_PATH).json(), json!({ "keys": [] }));

        assert_eq!(idp.hits(Endpoint::Jwks), 3);
        assert_eq!(idp.hits(Endpoint::Revocations), 3);
    }

    #[test]
    fn hanging_requests_time_out_while_the_other_endpoint_and_the_control_api_still_answer() {
        let idp = stub();
        idp.set_mode(Endpoint::Jwks, Mode::Hang);
        // More hung requests than worker threads: hangs must not use the workers up.
        let hung: Vec<JoinHandle<Result<Answer, ureq::Error>>> = (0..WORKERS + 2)
            .map(|_| {
                let url = format!("{}{JWKS_PATH}", idp.base_url());
                thread::spawn(move || request("GET", &url, Duration::from_secs(1)))
            })
            .collect();
        for client in hung {
            let outcome = client.join().unwrap();
            assert!(
                matches!(outcome, Err(ureq::Error::Timeout(_))),
                "expected a client timeout, got {outcome:?}"
            );
        }
        // The stub still holds all of them (until the mode changes or HANG_LIMIT), yet answers
        // the other endpoint and the control API within the same 1 s client timeout.
        let quick = Duration::from_secs(1);
        let feed = request(
            "GET",
            &format!("{}{REVOCATIONS_PATH}", idp.base_url()),
            quick,
        );
        assert_eq!(feed.unwrap().json(), json!({ "revoked": [] }));
        let hits = request(
            "GET",
            &format!("{}{ADMIN_HITS_PATH}", idp.base_url()),
            quick,
        );
        let expected = u64::try_from(WORKERS + 2).unwrap();
        let hits = hits.unwrap().json();
        assert_eq!(
            (&hits["jwks"], &hits["revocations"]),
            (&json!(expected), &json!(1))
        );
        // The hung requests have no answer yet.
        assert_eq!(
            hits["answers"],
            json!({ "jwks": {}, "revocations": { "200": 1 } })
        );
    }

    #[test]
    fn a_hung_request_is_answered_by_the_new_mode_once_the_mode_changes() {
        let idp = stub();
        idp.set_jwks(json!({ "keys": [{ "kid": "after-hang" }] }));
        idp.set_mode(Endpoint::Jwks, Mode::Hang);
        let url = format!("{}{JWKS_PATH}", idp.base_url());
        let client = thread::spawn(move || request("GET", &url, Duration::from_secs(10)));
        wait_for_hits(&idp, Endpoint::Jwks, 1);
        // Setting Hang again is no change: the request stays held.
        idp.set_mode(Endpoint::Jwks, Mode::Hang);
        idp.set_mode(Endpoint::Jwks, Mode::Ok);
        let answer = client.join().unwrap().unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.json(), json!({ "keys": [{ "kid": "after-hang" }] }));
        assert_eq!(idp.hits(Endpoint::Jwks), 1);
    }

    #[test]
    fn a_matching_if_none_match_gets_a_304_and_a_changed_body_a_new_tag() {
        let idp = stub();
        idp.set_cache_control(Endpoint::Jwks, Some("max-age=120"));
        let first = get(&idp, JWKS_PATH);
        assert_eq!(first.status, 200);
        let etag = first.header("etag").unwrap().to_owned();
        assert_eq!(etag, idp.etag(Endpoint::Jwks));
        assert!(
            etag.starts_with('"') && etag.ends_with('"') && etag.len() == 18,
            "{etag}"
        );
        let date = first.header("last-modified").unwrap().to_owned();
        assert!(date.ends_with(" GMT"), "{date}");
        assert_eq!(first.header("cache-control"), Some("max-age=120"));

        // The same tag (also weak, also in a list): 304, no body, the same validators again.
        for condition in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"x,y\", {etag}"),
            "*".into(),
        ] {
            let again = get_with(&idp, JWKS_PATH, &[("if-none-match", &condition)]);
            assert_eq!(again.status, 304, "{condition}");
            assert_eq!(again.body, "");
            assert_eq!(again.header("etag"), Some(etag.as_str()));
            assert_eq!(again.header("last-modified"), Some(date.as_str()));
            assert_eq!(again.header("cache-control"), Some("max-age=120"));
        }
        // Another tag: the whole document. If-None-Match wins over If-Modified-Since.
        let other = get_with(
            &idp,
            JWKS_PATH,
            &[("if-none-match", "\"other\""), ("if-modified-since", &date)],
        );
        assert_eq!(other.status, 200);
        // If-Modified-Since alone: 304 at or after the date, 200 before it or unreadable.
        assert_eq!(
            get_with(&idp, JWKS_PATH, &[("if-modified-since", &date)]).status,
            304
        );
        for old in ["Thu, 01 Jan 1970 00:00:00 GMT", "yesterday"] {
            assert_eq!(
                get_with(&idp, JWKS_PATH, &[("if-modified-since", old)]).status,
                200,
                "{old}"
            );
        }

        // A new document: a new tag and a later date; the old validators get the whole body.
        idp.set_jwks(json!({ "keys": [{ "kid": "rotated" }] }));
        let rotated = get_with(&idp, JWKS_PATH, &[("if-none-match", &etag)]);
        assert_eq!(rotated.status, 200);
        assert_eq!(rotated.json(), json!({ "keys": [{ "kid": "rotated" }] }));
        assert_ne!(rotated.header("etag"), Some(etag.as_str()));
        let later = rotated.header("last-modified").unwrap();
        let parse = |d: &str| DateTime::parse_from_rfc2822(d).unwrap().timestamp();
        assert!(parse(later) > parse(&date), "{date} then {later}");
        assert_eq!(
            get_with(&idp, JWKS_PATH, &[("if-modified-since", &date)]).status,
            200,
            "a date before the change"
        );

        assert_eq!(idp.answered(Endpoint::Jwks, 200), 6);
        assert_eq!(idp.answered(Endpoint::Jwks, 304), 5);
        assert_eq!(idp.hits(Endpoint::Jwks), 11);
        assert_eq!(
            get(&idp, ADMIN_HITS_PATH).json()["answers"]["jwks"],
            json!({ "200": 6, "304": 5 })
        );
    }

    #[test]
    fn without_conditional_requests_every_answer_is_the_whole_document() {
        let idp = stub();
        let etag = get(&idp, REVOCATIONS_PATH)
            .header("etag")
            .unwrap()
            .to_owned();
        idp.set_conditional(false);
        let plain = get_with(&idp, REVOCATIONS_PATH, &[("if-none-match", &etag)]);
        assert_eq!(plain.status, 200);
        assert_eq!(plain.header("etag"), None);
        assert_eq!(plain.header("last-modified"), None);
        assert_eq!(plain.header("cache-control"), None);
        // A 304 the client did not ask for, as a misbehaving service might send: no body.
        idp.set_mode(Endpoint::Revocations, Mode::Status(304));
        let unasked = get(&idp, REVOCATIONS_PATH);
        assert_eq!((unasked.status, unasked.body.as_str()), (304, ""));
        assert_eq!(idp.answered(Endpoint::Revocations, 200), 2);
        assert_eq!(idp.answered(Endpoint::Revocations, 304), 1);
    }

    #[test]
    fn entity_tag_lists_are_split_outside_quotes() {
        assert_eq!(
            entity_tags(r#" "a", W/"b,c" ,"d""#),
            vec![r#""a""#, r#"W/"b,c""#, r#""d""#]
        );
        assert!(entity_tags("garbage").is_empty());
        assert_eq!(entity_tags(r#""a", "unterminated"#), vec![r#""a""#]);
    }

    #[test]
    fn control_api_revokes_with_given_or_current_times() {
        let idp = stub();
        let answer = post(
            &idp,
            "/admin/revoke?sid=a%2Fb+c&revoked_at=100&expires_at=200",
        );
        assert_eq!(answer.status, 200);
        assert_eq!(answer.json(), json!({ "revoked": "a/b c" }));

        let before = token::now();
        let answer = post(&idp, "/admin/revoke?sid=later");
        let after = token::now();
        assert_eq!(answer.json(), json!({ "revoked": "later" }));

        let feed = get(&idp, REVOCATIONS_PATH).json();
        let entries = feed["revoked"].as_array().unwrap();
        assert_eq!(entries.len(), 2, "{feed}");
        assert_eq!(
            entries[0],
            json!({ "sid": "a/b c", "revoked_at": 100, "expires_at": 200 })
        );
        assert_eq!(entries[1]["sid"], "later");
        assert!(entries[1].get("expires_at").is_none(), "{feed}");
        let revoked_at = entries[1]["revoked_at"].as_i64().unwrap();
        assert!((before..=after).contains(&revoked_at), "{revoked_at}");
    }

    #[test]
    fn control_api_refuses_bad_requests_with_the_reason() {
        let idp = stub();
        for (query, reason) in [
            ("", "missing sid"),
            ("sid=", "missing sid"),
            ("sid=a&revoked_at=soon", "revoked_at must be an integer"),
            ("sid=a&expires_at=1.5", "expires_at must be an integer"),
            ("sid=a&sid=b", "sid given twice"),
            ("sid=a&revokedAt=1", "unknown parameter \"revokedAt\""),
            ("sid=%zz", "bad %-escape"),
            ("sid=%ff", "not UTF-8"),
        ] {
            let answer = post(&idp, &format!("{ADMIN_REVOKE_PATH}?{query}"));
            assert_eq!(answer.status, 400, "{query}: {answer:?}");
            assert!(answer.body.contains(reason), "{query}: {answer:?}");
        }
        assert_eq!(get(&idp, REVOCATIONS_PATH).json(), json!({ "revoked": [] }));
    }

    #[test]
    fn wrong_methods_are_405_and_unknown_paths_404() {
        let idp = stub();
        assert_eq!(get(&idp, &format!("{ADMIN_REVOKE_PATH}?sid=a")).status, 405);
        assert_eq!(post(&idp, ADMIN_HITS_PATH).status, 405);
        for path in ["/", "/jwks.json", "/.well-known/jwks.json/x", "/admin"] {
            assert_eq!(get(&idp, path).status, 404, "{path}");
        }
        assert_eq!(get(&idp, REVOCATIONS_PATH).json(), json!({ "revoked": [] }));
        assert_eq!(idp.hits(Endpoint::Jwks), 0);
        assert_eq!(idp.hits(Endpoint::Revocations), 1);
    }

    #[test]
    fn reset_hits_zeroes_both_counters_and_the_control_api_reports_them() {
        let idp = stub();
        get(&idp, JWKS_PATH);
        get(&idp, JWKS_PATH);
        get(&idp, REVOCATIONS_PATH);
        assert_eq!(
            get(&idp, ADMIN_HITS_PATH).json(),
            json!({ "jwks": 2, "revocations": 1,
                    "answers": { "jwks": { "200": 2 }, "revocations": { "200": 1 } } })
        );
        let clone = idp.clone();
        clone.reset_hits();
        assert_eq!(
            (idp.hits(Endpoint::Jwks), idp.hits(Endpoint::Revocations)),
            (0, 0)
        );
        assert_eq!(idp.answered(Endpoint::Jwks, 200), 0);
        assert_eq!(
            get(&idp, ADMIN_HITS_PATH).json(),
            json!({ "jwks": 0, "revocations": 0, "answers": { "jwks": {}, "revocations": {} } })
        );
        get(&idp, REVOCATIONS_PATH);
        assert_eq!(idp.hits(Endpoint::Revocations), 1);
    }

    #[test]
    fn request_revoke_round_trips_an_awkward_sid_through_the_control_api() {
        let idp = stub();
        let sid = "sess/1 &x=ü+%";
        let answer =
            request_revoke(&format!("{}/", idp.base_url()), sid, Some(7), Some(9)).unwrap();
        assert_eq!(answer, json!({ "revoked": sid }));
        assert_eq!(
            get(&idp, REVOCATIONS_PATH).json(),
            json!({ "revoked": [{ "sid": sid, "revoked_at": 7, "expires_at": 9 }] })
        );
    }

    #[test]
    fn request_revoke_reports_refusals_and_unreachable_services() {
        let idp = stub();
        let refused = request_revoke(&format!("{}/nope", idp.base_url()), "a", None, None)
            .unwrap_err()
            .to_string();
        assert!(refused.contains("404"), "{refused}");

        // A port that was just free: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = request_revoke(&format!("http://127.0.0.1:{port}"), "a", None, None).unwrap_err();
        assert!(
            format!("{err:#}").contains(&format!("POST http://127.0.0.1:{port}")),
            "{err:#}"
        );
    }

    #[test]
    fn a_taken_address_is_a_clear_error() {
        let idp = stub();
        let err = StubIdp::spawn(&format!("127.0.0.1:{}", idp.port()))
            .err()
            .unwrap();
        assert!(err.to_string().contains("cannot listen on"), "{err}");
    }
}
