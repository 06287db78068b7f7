//! The proxy-wasm adapter: the only module that talks to Envoy.
//!
//! Per request it reads what the decision needs (headers, the listener's role metadata, the
//! route's cluster, the clock), calls `decision::evaluate`, and hands the verdict to the flow,
//! which applies it through `calls::HostRequest`. On each tick it flushes the stats tally and
//! dispatches the document fetches `documents::sync` says are due (its lease, install and
//! publish logic runs against `calls::HostStore`). `calls` wraps every host call once; host
//! calls go through `proxy_wasm::hostcalls` directly, because the `Context` helpers in
//! proxy-wasm 0.2 unwrap host errors and non-UTF-8 header values, and a trap here would fail
//! every request on the worker. `metrics` defines and increments Envoy's counters.

mod calls;
mod metrics;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use log::{debug, error, info, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel};

use crate::config::{FilterConfig, ProviderId};
use crate::documents::conditional::Validators;
use crate::documents::sync::{FeedSync, Response};
use crate::documents::Fetched;
use crate::request::cache::TokenCache;
use crate::request::decision::{self, Decision, Request, Resume, Verdict};
use crate::request::flow::Flow;
use crate::token::role::Role;
use calls::{
    action, export_filter_state, fail_closed, follow_host_log_level, host_clock, now_ms, property,
    read_answer, read_fetch, read_headers, request_header, set_response_header, HostRequest,
    HostStore,
};
use metrics::Metrics;

const ROLE_PROPERTY: [&str; 5] = [
    "xds",
    "listener_metadata",
    "filter_metadata",
    "jwt_relay",
    "role",
];
const CLUSTER_PROPERTY: [&str; 2] = ["xds", "cluster_name"];
const ROUTE_PROPERTY: [&str; 4] = ["xds", "route_metadata", "filter_metadata", "jwt_relay"];
const ROUTE_NAME_PROPERTY: [&str; 2] = ["xds", "route_name"];
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
            self.metrics.kid_miss_refetch();
        }
    }

    /// Hands a fetch's outcome to the feed logic (`sent`: the validators its request carried);
    /// logs and counts what happened.
    fn fetch_ended(
        &self,
        index: usize,
        outcome: Result<Response, String>,
        sent: Option<&Validators>,
    ) {
        let mut feeds = self.feeds.borrow_mut();
        let Some(feed) = feeds.feeds().get(index).cloned() else {
            return;
        };
        let result = feeds.fetched(
            &HostStore,
            &mut self.fetched.borrow_mut(),
            index,
            outcome,
            sent,
            now_ms(),
        );
        match result {
            Ok(taken) if taken.not_modified => {
                debug!(
                    "jwt-relay: {} not modified ({} bytes kept)",
                    feed.name(),
                    taken.bytes
                );
                self.metrics.fetched(feed.kind, true);
                self.metrics.not_modified(feed.kind);
            }
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

struct Root {
    shared: Option<Rc<Shared>>,
    /// Fetches this VM started: call token → feed index and the validators the request sent.
    in_flight: HashMap<u32, (usize, Option<Validators>)>,
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token: u32,
        _headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        let (Some(shared), Some((index, sent))) =
            (self.shared.clone(), self.in_flight.remove(&token))
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
        let outcome = read_fetch(max_bytes, body_size, sent.is_some());
        shared.fetch_ended(index, outcome, sent.as_ref());
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
            let Some(feed) = shared.feeds.borrow().feeds().get(index).cloned() else {
                continue;
            };
            let timeout = Duration::from_millis(feed.source.timeout_ms);
            // Conditional when a document is stored: only what changed comes back.
            let sent = shared.feeds.borrow().validators(&HostStore, index);
            let headers = feed.request_headers(sent.as_ref());
            match hostcalls::dispatch_http_call(
                &feed.source.cluster,
                headers,
                None,
                vec![],
                timeout,
            ) {
                Ok(token) => {
                    self.in_flight.insert(token, (index, sent));
                }
                Err(status) => {
                    let why = format!("could not start: {status:?}");
                    shared.fetch_ended(index, Err(why), sent.as_ref());
                }
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Filter {
            shared: self.shared.clone(),
            flow: Flow::default(),
            response_headers: Vec::new(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Filter {
    /// `None` only if Envoy created a stream before a successful `on_configure`.
    shared: Option<Rc<Shared>>,
    /// This request's call outs, if its decision asks for any.
    flow: Flow<Resume>,
    /// Headers the decision set on the response (the refresh hint), applied when it comes.
    response_headers: Vec<(String, String)>,
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
        if hostcalls::get_map_value(
            proxy_wasm::types::MapType::HttpRequestHeaders,
            "x-jwt-relay-test-trap",
        )
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
        // One host call for all of the route's rules (none: the route has no jwt_relay metadata).
        let route = property(&ROUTE_PROPERTY);
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
                route: route.as_deref(),
                header: &request_header,
                now,
                fingerprint: log::log_enabled!(log::Level::Debug),
            },
        );
        if decision.facts.role.is_none() && log::log_enabled!(log::Level::Debug) {
            // For the debug line only: the decision did not need the role.
            decision.facts.role = Some(Role::resolve(read_role().as_deref(), shared.config.role));
        }
        if let Some(error) = &decision.facts.route_error {
            let name = property(&ROUTE_NAME_PROPERTY)
                .map(|raw| String::from_utf8_lossy(&raw).into_owned())
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| "(unnamed)".to_owned());
            error!("jwt-relay: route {name}: {error}; refusing its requests with 500");
        }
        if let Some(provider) = decision.facts.refetch_jwks {
            shared.request_refetch(provider);
        }
        shared.metrics.tally.borrow_mut().record(&decision);
        export_filter_state(&shared.config, &decision);
        if let Verdict::Allow(plan) = &mut decision.verdict {
            self.response_headers = std::mem::take(&mut plan.response);
        }
        apply(&mut self.flow, decision)
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        for (name, value) in std::mem::take(&mut self.response_headers) {
            // Only a hint: a response that cannot carry it still goes out.
            if let Err(status) = set_response_header(&name, &value) {
                warn!("jwt-relay: could not set the {name} response header: {status:?}");
            }
        }
        Action::Continue
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
