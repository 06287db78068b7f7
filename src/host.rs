//! The proxy-wasm adapter: the only module that talks to Envoy.
//!
//! It reads what the decision needs (headers, the listener's role metadata, the route's
//! cluster, the clock), calls `policy::evaluate`, and applies the answer. Host calls go through
//! `proxy_wasm::hostcalls` directly: the `Context` helpers in proxy-wasm 0.2 unwrap host errors
//! and non-UTF-8 header values, and a trap here would fail every request on the worker.

use std::rc::Rc;
use std::time::UNIX_EPOCH;

use log::{debug, error, info, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType};

use crate::config::FilterConfig;
use crate::policy::{self, Decision, Request, Verdict};
use crate::response::{self, Challenge};

const ROLE_PROPERTY: [&str; 5] = [
    "xds",
    "listener_metadata",
    "filter_metadata",
    "jwt_relay",
    "role",
];
const CLUSTER_PROPERTY: [&str; 2] = ["xds", "cluster_name"];

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    std::panic::set_hook(Box::new(|panic| {
        let _ = hostcalls::log(LogLevel::Critical, &format!("jwt-relay panicked: {panic}"));
    }));
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { config: None }) });
}}

struct Root {
    config: Option<Rc<FilterConfig>>,
}

impl Context for Root {}

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
        match FilterConfig::from_json(&bytes) {
            Ok(config) => {
                for note in &config.notes {
                    warn!("jwt-relay: {note}");
                }
                info!(
                    "jwt-relay {} configured: role {}, {} provider(s), {} narrowing upstream(s)",
                    env!("CARGO_PKG_VERSION"),
                    config.role.name(),
                    config.providers.len(),
                    config.upstreams.len()
                );
                self.config = Some(Rc::new(config));
                true
            }
            Err(problem) => {
                error!("{problem}");
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Filter {
            config: self.config.clone(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Filter {
    /// `None` only if Envoy created a stream before a successful `on_configure`.
    config: Option<Rc<FilterConfig>>,
}

impl Context for Filter {}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(config) = self.config.clone() else {
            return fail_closed("no configuration");
        };
        let headers: Vec<(String, Vec<u8>)> =
            match hostcalls::get_map_bytes(MapType::HttpRequestHeaders) {
                Ok(headers) => headers,
                Err(status) => {
                    return fail_closed(&format!("request headers unavailable: {status:?}"))
                }
            };
        let now = match hostcalls::get_current_time().map(|time| time.duration_since(UNIX_EPOCH)) {
            Ok(Ok(since_epoch)) => i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX),
            _ => return fail_closed("host clock unavailable"),
        };
        let listener_role = property(&ROLE_PROPERTY);
        let cluster = property(&CLUSTER_PROPERTY).and_then(|raw| String::from_utf8(raw).ok());
        let decision = policy::evaluate(
            &config,
            &Request {
                headers: &headers,
                listener_role: listener_role.as_deref(),
                cluster: cluster.as_deref(),
                now,
            },
        );
        apply(decision)
    }
}

fn property(path: &[&str]) -> Option<Vec<u8>> {
    hostcalls::get_property(path.to_vec()).ok().flatten()
}

fn apply(decision: Decision) -> Action {
    let facts = &decision.facts;
    match decision.verdict {
        Verdict::Allow(plan) => {
            debug!(
                "jwt-relay allowed: outcome={} role={} issuer={} token={} narrowed_to={}",
                facts.reason,
                facts.role.name(),
                facts.issuer.as_deref().unwrap_or("-"),
                facts.fingerprint.as_deref().unwrap_or("-"),
                facts.narrowed_to.as_deref().unwrap_or("-"),
            );
            let mut applied = plan.remove.iter().try_for_each(|name| {
                hostcalls::set_map_value(MapType::HttpRequestHeaders, name, None)
            });
            for (name, value) in &plan.set {
                applied = applied.and_then(|()| {
                    hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value))
                });
            }
            if let Some(path) = &plan.path {
                applied = applied.and_then(|()| {
                    hostcalls::set_map_value(MapType::HttpRequestHeaders, ":path", Some(path))
                });
            }
            match applied {
                Ok(()) => Action::Continue,
                // A half-applied plan could forward the broad token: refuse instead.
                Err(status) => {
                    fail_closed(&format!("could not rewrite request headers: {status:?}"))
                }
            }
        }
        Verdict::Deny { denial, strip } => {
            debug!(
                "jwt-relay denied: reason={} status={} role={} issuer={} token={}",
                facts.reason,
                denial.status,
                facts.role.name(),
                facts.issuer.as_deref().unwrap_or("-"),
                facts.fingerprint.as_deref().unwrap_or("-"),
            );
            for name in &strip {
                let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, None);
            }
            let headers: Vec<(&str, &str)> = denial
                .headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect();
            if let Err(status) =
                hostcalls::send_http_response(denial.status, headers, Some(denial.body.as_bytes()))
            {
                error!("jwt-relay could not send its reply: {status:?}");
            }
            Action::Pause
        }
    }
}

/// Something the filter needs from the host is missing: refuse the request, never pass it.
fn fail_closed(why: &str) -> Action {
    error!("jwt-relay refusing request: {why}");
    let denial = response::deny("jwt-relay", Challenge::InvalidRequest, "");
    let headers = vec![("content-type", "application/json")];
    let _ = hostcalls::send_http_response(500, headers, Some(denial.body.as_bytes()));
    Action::Pause
}
