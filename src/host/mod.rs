//! The proxy-wasm adapter: the only module that talks to Envoy.
//!
//! Per request it reads what the decision needs (headers, the listener's role metadata, the
//! route's cluster, the clock), calls `decision::evaluate`, and applies the answer. On each tick
//! it keeps the remote documents (JWKS, revocation feed) current: one VM per Envoy wins a CAS
//! lease in shared data and fetches; the body is published in shared data; every VM installs a
//! new version once. Host calls go through `proxy_wasm::hostcalls` directly: the `Context`
//! helpers in proxy-wasm 0.2 unwrap host errors and non-UTF-8 header values, and a trap here
//! would fail every request on the worker.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use log::{debug, error, info, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, MetricType, Status};

use crate::config::{FilterConfig, HeaderReads, ProviderId};
use crate::documents::sync::{FeedKind, FeedSync, SharedStore, StoreError};
use crate::documents::Fetched;
use crate::request::cache::TokenCache;
use crate::request::decision::{self, Decision, Request, Resume, Verdict};
use crate::request::flow::{self, Answer, Callout, Flow, HostError, RequestHost, Step};
use crate::request::outcome::Outcome;
use crate::request::reply::Denial;
use crate::token::role::Role;

const ROLE_PROPERTY: [&str; 5] = [
    "xds",
    "listener_metadata",
    "filter_metadata",
    "jwt_relay",
    "role",
];
const CLUSTER_PROPERTY: [&str; 2] = ["xds", "cluster_name"];
/// How often every VM looks for new documents and for a due fetch.
const TICK: Duration = Duration::from_millis(250);

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    std::panic::set_hook(Box::new(|panic| {
        let _ = hostcalls::log(LogLevel::Critical, &format!("jwt-relay panicked: {panic}"));
    }));
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> {
        Box::new(Root { shared: None, in_flight: HashMap::new() })
    });
}}

/// Envoy counters. Fetch outcomes are counted as they happen (rare); request outcomes are
/// counted in memory and added to Envoy's counters on each tick, so that a request costs no
/// host call for its stats (the counters lag by at most one tick).
struct Metrics {
    jwks_fetch_ok: Option<u32>,
    jwks_fetch_failed: Option<u32>,
    revocation_fetch_ok: Option<u32>,
    revocation_fetch_failed: Option<u32>,
    jwks_kid_miss_refetch: Option<u32>,
    /// Request outcomes since the last flush, by counter name suffix.
    pending: RefCell<HashMap<Counter, u64>>,
    /// Counter ids by full name, defined on first use.
    ids: RefCell<HashMap<String, Option<u32>>>,
}

/// A request counter: `jwt_relay.allowed`, `.denied`, `.cache_hit`, `.cache_miss`, then
/// `jwt_relay.<outcome>` for allowed outcomes other than `allowed` and
/// `jwt_relay.denied.<outcome>` for refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Counter {
    Allowed,
    Denied,
    CacheHit,
    CacheMiss,
    AllowedAs(Outcome),
    DeniedAs(Outcome),
}

impl Counter {
    fn name(self) -> String {
        match self {
            Counter::Allowed => "jwt_relay.allowed".into(),
            Counter::Denied => "jwt_relay.denied".into(),
            Counter::CacheHit => "jwt_relay.cache_hit".into(),
            Counter::CacheMiss => "jwt_relay.cache_miss".into(),
            Counter::AllowedAs(outcome) => format!("jwt_relay.{}", outcome.name()),
            Counter::DeniedAs(outcome) => format!("jwt_relay.denied.{}", outcome.name()),
        }
    }
}

/// Counters defined up front, so that they read 0 rather than being absent.
const STANDING_COUNTERS: [Counter; 6] = [
    Counter::Allowed,
    Counter::AllowedAs(Outcome::Narrowed),
    Counter::Denied,
    Counter::CacheHit,
    Counter::CacheMiss,
    Counter::DeniedAs(Outcome::EmbeddedMissing),
];

impl Metrics {
    fn define() -> Metrics {
        let counter = |name: &str| hostcalls::define_metric(MetricType::Counter, name).ok();
        let metrics = Metrics {
            jwks_fetch_ok: counter("jwt_relay.jwks_fetch_ok"),
            jwks_fetch_failed: counter("jwt_relay.jwks_fetch_failed"),
            revocation_fetch_ok: counter("jwt_relay.revocation_fetch_ok"),
            revocation_fetch_failed: counter("jwt_relay.revocation_fetch_failed"),
            jwks_kid_miss_refetch: counter("jwt_relay.jwks_kid_miss_refetch"),
            pending: RefCell::new(HashMap::new()),
            ids: RefCell::new(HashMap::new()),
        };
        for counter in STANDING_COUNTERS {
            metrics.id(counter);
        }
        metrics
    }

    fn id(&self, counter: Counter) -> Option<u32> {
        *self
            .ids
            .borrow_mut()
            .entry(counter.name())
            .or_insert_with_key(|name| hostcalls::define_metric(MetricType::Counter, name).ok())
    }

    /// Counts one request's outcome: every request is `allowed` or `denied` (and
    /// `denied.<reason>`); narrowed and stripped requests are counted as such too.
    fn record(&self, decision: &Decision<'_>) {
        let mut pending = self.pending.borrow_mut();
        let mut count = |counter| {
            let n = pending.entry(counter).or_insert(0);
            *n = n.saturating_add(1);
        };
        let outcome = decision.facts.outcome;
        match decision.verdict {
            Verdict::Allow(_) => {
                count(Counter::Allowed);
                if outcome != Outcome::Allowed {
                    count(Counter::AllowedAs(outcome));
                }
            }
            Verdict::Deny { .. } => {
                count(Counter::Denied);
                count(Counter::DeniedAs(outcome));
            }
            // Counted when the resumed decision allows or denies.
            Verdict::Callout { .. } => {}
        }
    }

    /// Adds what was counted since the last flush to Envoy's counters.
    fn flush(&self, cache: &mut TokenCache) {
        let mut pending = std::mem::take(&mut *self.pending.borrow_mut());
        let (hits, misses) = cache.take_counts();
        for (counter, n) in [(Counter::CacheHit, hits), (Counter::CacheMiss, misses)] {
            if n > 0 {
                pending.insert(counter, n);
            }
        }
        for (counter, n) in pending {
            if let Some(id) = self.id(counter) {
                let _ = hostcalls::increment_metric(id, i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
    }

    fn bump(metric: Option<u32>) {
        if let Some(id) = metric {
            let _ = hostcalls::increment_metric(id, 1);
        }
    }

    fn fetched(&self, kind: FeedKind, ok: bool) {
        Metrics::bump(match (kind, ok) {
            (FeedKind::Jwks { .. }, true) => self.jwks_fetch_ok,
            (FeedKind::Jwks { .. }, false) => self.jwks_fetch_failed,
            (FeedKind::Revocations, true) => self.revocation_fetch_ok,
            (FeedKind::Revocations, false) => self.revocation_fetch_failed,
        });
    }
}

/// What the root context and its HTTP contexts share within one VM.
struct Shared {
    config: FilterConfig,
    fetched: RefCell<Fetched>,
    cache: RefCell<TokenCache>,
    feeds: RefCell<FeedSync>,
    metrics: Metrics,
}

impl Shared {
    /// Installs published documents this VM lacks (`only_cold`) or has an older version of.
    fn sync(&self, only_cold: bool) {
        let mut feeds = self.feeds.borrow_mut();
        let refused = feeds.sync(&HostStore, &mut self.fetched.borrow_mut(), only_cold);
        for (index, why) in refused {
            if let Some(feed) = feeds.feeds().get(index) {
                warn!("jwt-relay: published {} not installed: {why}", feed.name());
            }
        }
    }

    /// A token named a `kid` the provider's keys lack: make its JWKS due now, rate-limited.
    fn request_refetch(&self, provider: ProviderId) {
        if self.feeds.borrow().kid_miss(&HostStore, provider, now_ms()) {
            info!("jwt-relay: unknown kid, refetching the JWKS of {provider}");
            Metrics::bump(self.metrics.jwks_kid_miss_refetch);
        }
    }

    /// Hands a fetch's outcome to the feed logic; logs and counts what happened.
    fn fetch_ended(&self, index: usize, outcome: Result<Vec<u8>, String>) {
        let mut feeds = self.feeds.borrow_mut();
        let Some(feed) = feeds.feeds().get(index).cloned() else {
            return;
        };
        let result = feeds.fetched(
            &HostStore,
            &mut self.fetched.borrow_mut(),
            index,
            outcome,
            now_ms(),
        );
        match result {
            Ok(taken) => {
                if !taken.published {
                    warn!("jwt-relay: could not publish {}", feed.name());
                }
                info!("jwt-relay: fetched {} ({} bytes)", feed.name(), taken.bytes);
                self.metrics.fetched(feed.kind, true);
            }
            Err(why) => {
                warn!(
                    "jwt-relay: fetching {} failed, keeping the last good copy: {why}",
                    feed.name()
                );
                self.metrics.fetched(feed.kind, false);
            }
        }
    }
}

/// Proxy-wasm shared data, as the feed logic's store.
struct HostStore;

impl SharedStore for HostStore {
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), StoreError> {
        hostcalls::get_shared_data(key).map_err(|_| StoreError::Failed)
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError> {
        hostcalls::set_shared_data(key, Some(value), cas).map_err(|status| match status {
            Status::CasMismatch => StoreError::CasMismatch,
            _ => StoreError::Failed,
        })
    }
}

struct Root {
    shared: Option<Rc<Shared>>,
    /// Fetches this VM started: call token → feed index.
    in_flight: HashMap<u32, usize>,
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token: u32,
        _headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        let (Some(shared), Some(index)) = (self.shared.clone(), self.in_flight.remove(&token))
        else {
            return;
        };
        let max_bytes = shared
            .feeds
            .borrow()
            .feeds()
            .get(index)
            .map(|feed| feed.source.max_bytes);
        let Some(max_bytes) = max_bytes else {
            return;
        };
        shared.fetch_ended(index, read_response(max_bytes, body_size));
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes = match hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                error!("invalid jwt-relay configuration: the plugin configuration is empty");
                return false;
            }
            Err(status) => {
                error!("jwt-relay could not read its configuration: {status:?}");
                return false;
            }
        };
        let config = match FilterConfig::from_json(&bytes) {
            Ok(config) => config,
            Err(problem) => {
                error!("{problem}");
                return false;
            }
        };
        follow_host_log_level();
        for note in &config.notes {
            warn!("jwt-relay: {note}");
        }
        let feeds = FeedSync::for_config(&config);
        info!(
            "jwt-relay {} configured: role {}, {} provider(s), {} narrowing upstream(s), {} remote document(s)",
            env!("CARGO_PKG_VERSION"),
            config.role.name(),
            config.providers.len(),
            config.upstreams.len(),
            feeds.feeds().len()
        );
        feeds.create_schedules(&HostStore);
        if let Err(status) = hostcalls::set_tick_period(TICK) {
            error!("jwt-relay could not start its timer: {status:?}");
            return false;
        }
        let shared = Shared {
            fetched: RefCell::new(Fetched::new(&config)),
            cache: RefCell::new(TokenCache::new(config.cache)),
            feeds: RefCell::new(feeds),
            config,
            metrics: Metrics::define(),
        };
        shared.sync(false);
        self.shared = Some(Rc::new(shared));
        self.in_flight.clear();
        true
    }

    fn on_tick(&mut self) {
        follow_host_log_level();
        let Some(shared) = self.shared.clone() else {
            return;
        };
        shared.metrics.flush(&mut shared.cache.borrow_mut());
        shared.sync(false);
        let due = shared.feeds.borrow().claim_due(&HostStore, now_ms());
        for index in due {
            let Some(source) = shared
                .feeds
                .borrow()
                .feeds()
                .get(index)
                .map(|feed| feed.source.clone())
            else {
                continue;
            };
            let headers = vec![
                (":method", "GET"),
                (":path", source.path.as_str()),
                (":authority", source.authority.as_str()),
                ("accept", "application/json"),
            ];
            let timeout = Duration::from_millis(source.timeout_ms);
            match hostcalls::dispatch_http_call(&source.cluster, headers, None, vec![], timeout) {
                Ok(token) => {
                    self.in_flight.insert(token, index);
                }
                Err(status) => {
                    shared.fetch_ended(index, Err(format!("could not start: {status:?}")));
                }
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Filter {
            shared: self.shared.clone(),
            flow: Flow::default(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// Reads a finished fetch: a 200 whose body fits `max_bytes`.
fn read_response(max_bytes: usize, body_size: usize) -> Result<Vec<u8>, String> {
    let status = hostcalls::get_map_value_bytes(MapType::HttpCallResponseHeaders, ":status")
        .ok()
        .flatten();
    match status.as_deref() {
        Some(b"200") => {}
        Some(other) => return Err(format!("status {}", String::from_utf8_lossy(other))),
        None => return Err("no response (connection failure or timeout)".into()),
    }
    if body_size > max_bytes {
        return Err(format!(
            "body of {body_size} bytes is over max_bytes {max_bytes}"
        ));
    }
    match hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size) {
        Ok(Some(body)) => Ok(body),
        Ok(None) => Err("empty body".into()),
        Err(status) => Err(format!("body unavailable: {status:?}")),
    }
}

/// Time since the Unix epoch by the host's clock.
fn host_clock() -> Option<Duration> {
    hostcalls::get_current_time()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
}

/// For fetch scheduling, where a missing clock only means an early fetch.
fn now_ms() -> u64 {
    host_clock().map_or(0, |since| {
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    })
}

struct Filter {
    /// `None` only if Envoy created a stream before a successful `on_configure`.
    shared: Option<Rc<Shared>>,
    /// This request's call outs, if its decision asks for any.
    flow: Flow<Resume>,
}

impl Context for Filter {
    fn on_http_call_response(
        &mut self,
        token: u32,
        _headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        if !self.flow.waiting() {
            return;
        }
        let answer = read_answer(body_size);
        // The step needs no action: a paused request is resumed or answered by the flow itself.
        let _ = self
            .flow
            .answered(&mut HostRequest, token, answer, decision::resume);
    }
}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        // Tests only (`--features test-trap`, never in the shipped .wasm): trap on demand, to
        // prove that the configured failure_policy heals (or keeps refusing) after a VM crash.
        #[cfg(feature = "test-trap")]
        #[allow(clippy::panic)]
        if hostcalls::get_map_value(MapType::HttpRequestHeaders, "x-jwt-relay-test-trap")
            .is_ok_and(|v| v.is_some())
        {
            panic!("test-trap: x-jwt-relay-test-trap asked for a trap");
        }
        let Some(shared) = self.shared.clone() else {
            return fail_closed("no configuration");
        };
        let headers = match read_headers(&shared.config.header_reads) {
            Ok(headers) => headers,
            Err(status) => return fail_closed(&format!("request headers unavailable: {status:?}")),
        };
        let Some(since_epoch) = host_clock() else {
            return fail_closed("host clock unavailable");
        };
        let now = i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX);
        // A worker that has not ticked yet picks up documents another VM already published.
        shared.sync(true);
        let read_role = || property(&ROLE_PROPERTY);
        let read_cluster =
            || property(&CLUSTER_PROPERTY).and_then(|raw| String::from_utf8(raw).ok());
        let mut decision = decision::evaluate(
            &shared.config,
            &shared.fetched.borrow(),
            &mut shared.cache.borrow_mut(),
            &Request {
                headers: &headers,
                listener_role: &read_role,
                cluster: &read_cluster,
                now,
                fingerprint: log::log_enabled!(log::Level::Debug),
            },
        );
        if decision.facts.role.is_none() && log::log_enabled!(log::Level::Debug) {
            // For the debug line only: the decision did not need the role.
            decision.facts.role = Some(Role::resolve(read_role().as_deref(), shared.config.role));
        }
        if let Some(provider) = decision.facts.refetch_jwks {
            shared.request_refetch(provider);
        }
        shared.metrics.record(&decision);
        export_filter_state(&shared.config, &decision);
        apply(&mut self.flow, decision)
    }
}

/// The request headers the decision needs: all in one copy, or only the named ones (one lookup
/// each: about one copy's cost with few headers, less the more headers a client sends).
fn read_headers(reads: &HeaderReads) -> Result<Vec<(String, Vec<u8>)>, Status> {
    match reads {
        HeaderReads::All => hostcalls::get_map_bytes(MapType::HttpRequestHeaders),
        HeaderReads::Only(names) => {
            let mut headers = Vec::with_capacity(names.len());
            for name in names {
                if let Some(value) =
                    hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, name)?
                {
                    headers.push((name.clone(), value));
                }
            }
            Ok(headers)
        }
    }
}

/// Envoy filters log lines by level itself, but formatting a line the host will drop still
/// costs time on every request: mirror the host's level so disabled lines are skipped early.
/// Checked on configure and on each tick, so an admin `/logging` change takes effect.
fn follow_host_log_level() {
    if let Ok(level) = hostcalls::get_log_level() {
        proxy_wasm::set_log_level(level);
    }
}

fn property(path: &[&str]) -> Option<Vec<u8>> {
    hostcalls::get_property(path.to_vec()).ok().flatten()
}

/// Leaves the outcome and the configured claims in the stream's filter state, where Envoy keeps
/// them as `wasm.<key>` for access logs (`%FILTER_STATE(wasm.jwt_relay.outcome:PLAIN)%`) and
/// later filters. Best effort: a host that refuses loses a log field, never the decision.
fn export_filter_state(config: &FilterConfig, decision: &Decision<'_>) {
    for (key, value) in decision::filter_state(config, decision) {
        if let Err(status) = hostcalls::set_property(vec![key], Some(value.as_bytes())) {
            debug!("jwt-relay: filter state {key} not set: {status:?}");
        }
    }
}

/// Logs the decision (debug), then carries it out through the flow.
fn apply(flow: &mut Flow<Resume>, decision: Decision<'_>) -> Action {
    let facts = &decision.facts;
    match &decision.verdict {
        Verdict::Allow(_) => debug!(
            "jwt-relay allowed: outcome={} role={} issuer={} token={} narrowed_to={}",
            facts.outcome.name(),
            facts.role.map_or("-", Role::name),
            facts.issuer.unwrap_or("-"),
            facts.fingerprint.as_deref().unwrap_or("-"),
            facts.narrowed_to.unwrap_or("-"),
        ),
        Verdict::Deny { denial, .. } => debug!(
            "jwt-relay denied: reason={} status={} role={} issuer={} token={}",
            facts.outcome.name(),
            denial.status,
            facts.role.map_or("-", Role::name),
            facts.issuer.unwrap_or("-"),
            facts.fingerprint.as_deref().unwrap_or("-"),
        ),
        Verdict::Callout { call, .. } => debug!("jwt-relay calling out to {}", call.cluster),
    }
    action(flow.carry_out(&mut HostRequest, decision.verdict))
}

fn action(step: Step) -> Action {
    match step {
        Step::Continue => Action::Continue,
        Step::Pause => Action::Pause,
    }
}

/// The current HTTP stream, as the flow's host.
struct HostRequest;

impl RequestHost for HostRequest {
    fn remove_header(&mut self, name: &str) -> Result<(), HostError> {
        hostcalls::set_map_value(MapType::HttpRequestHeaders, name, None)
            .map_err(|status| HostError(format!("{status:?}")))
    }

    fn set_header(&mut self, name: &str, value: &str) -> Result<(), HostError> {
        hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value))
            .map_err(|status| HostError(format!("{status:?}")))
    }

    fn send_reply(&mut self, denial: &Denial) -> Result<(), HostError> {
        let headers: Vec<(&str, &str)> = denial
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        hostcalls::send_http_response(denial.status, headers, Some(denial.body.as_bytes()))
            .map_err(|status| HostError(format!("{status:?}")))
    }

    fn dispatch(&mut self, call: &Callout) -> Result<u32, HostError> {
        let headers: Vec<(&str, &str)> = call
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let body = (!call.body.is_empty()).then_some(call.body.as_slice());
        let timeout = Duration::from_millis(call.timeout_ms);
        hostcalls::dispatch_http_call(&call.cluster, headers, body, vec![], timeout)
            .map_err(|status| HostError(format!("{status:?}")))
    }

    fn resume_request(&mut self) -> Result<(), HostError> {
        hostcalls::resume_http_request().map_err(|status| HostError(format!("{status:?}")))
    }

    fn log_failure(&mut self, why: &str) {
        error!("jwt-relay: {why}");
    }
}

/// Something the filter needs from the host is missing: refuse the request, never pass it.
fn fail_closed(why: &str) -> Action {
    action(flow::fail_closed(&mut HostRequest, why))
}

/// A call out's answer, as far as the host gives it.
fn read_answer(body_size: usize) -> Answer {
    let headers = hostcalls::get_map_bytes(MapType::HttpCallResponseHeaders).unwrap_or_default();
    let status = headers
        .iter()
        .find(|(name, _)| name == ":status")
        .and_then(|(_, value)| std::str::from_utf8(value).ok()?.parse().ok());
    let body = hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)
        .ok()
        .flatten()
        .unwrap_or_default();
    Answer {
        status,
        headers,
        body,
    }
}
