//! Host calls, each wrapped once: a failure comes back as a value, never a trap. The seams the
//! core defines (`SharedStore`, `RequestHost`) are implemented here.

use std::time::{Duration, UNIX_EPOCH};

use log::{debug, error};
use proxy_wasm::hostcalls;
use proxy_wasm::types::{Action, BufferType, MapType, Status};

use crate::config::{FilterConfig, HeaderReads};
use crate::documents::conditional::Described;
use crate::documents::fetched::{self, Read};
use crate::documents::sync::{Response, SharedStore, StoreError};
use crate::request::decision::{self, Decision};
use crate::request::flow::{self, Answer, Callout, HostError, RequestHost, Step};
use crate::request::reply::Denial;

/// Proxy-wasm shared data, as the feed logic's store.
pub(super) struct HostStore;

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

/// The current HTTP stream, as the flow's host.
pub(super) struct HostRequest;

fn host_error(status: Status) -> HostError {
    HostError(format!("{status:?}"))
}

impl RequestHost for HostRequest {
    fn remove_header(&mut self, name: &str) -> Result<(), HostError> {
        hostcalls::set_map_value(MapType::HttpRequestHeaders, name, None).map_err(host_error)
    }

    fn set_header(&mut self, name: &str, value: &str) -> Result<(), HostError> {
        hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value)).map_err(host_error)
    }

    fn send_reply(&mut self, denial: &Denial) -> Result<(), HostError> {
        let headers: Vec<(&str, &str)> = denial
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        hostcalls::send_http_response(denial.status, headers, Some(denial.body.as_bytes()))
            .map_err(host_error)
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
            .map_err(host_error)
    }

    fn resume_request(&mut self) -> Result<(), HostError> {
        hostcalls::resume_http_request().map_err(host_error)
    }

    fn log_failure(&mut self, why: &str) {
        error!("jwt-relay: {why}");
    }
}

pub(super) fn action(step: Step) -> Action {
    match step {
        Step::Continue => Action::Continue,
        Step::Pause => Action::Pause,
    }
}

/// Something the filter needs from the host is missing: refuse the request, never pass it.
pub(super) fn fail_closed(why: &str) -> Action {
    action(flow::fail_closed(&mut HostRequest, why))
}

/// The request headers the decision needs: all in one copy, or only the named ones (one lookup
/// each: about one copy's cost with few headers, less the more headers a client sends).
pub(super) fn read_headers(reads: &HeaderReads) -> Result<Vec<(String, Vec<u8>)>, Status> {
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

/// One request header by name, `None` when absent or unreadable.
pub(super) fn request_header(name: &str) -> Option<Vec<u8>> {
    hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, name)
        .ok()
        .flatten()
}

/// Sets a response header, replacing every copy the upstream sent.
pub(super) fn set_response_header(name: &str, value: &str) -> Result<(), Status> {
    hostcalls::set_map_value(MapType::HttpResponseHeaders, name, Some(value))
}

pub(super) fn property(path: &[&str]) -> Option<Vec<u8>> {
    hostcalls::get_property(path.to_vec()).ok().flatten()
}

/// Time since the Unix epoch by the host's clock.
pub(super) fn host_clock() -> Option<Duration> {
    hostcalls::get_current_time()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
}

/// For fetch scheduling, where a missing clock only means an early fetch.
pub(super) fn now_ms() -> u64 {
    host_clock().map_or(0, |since| {
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    })
}

/// Envoy filters log lines by level itself, but formatting a line the host will drop still
/// costs time on every request: mirror the host's level so disabled lines are skipped early.
/// Checked on configure and on each tick, so an admin `/logging` change takes effect.
pub(super) fn follow_host_log_level() {
    if let Ok(level) = hostcalls::get_log_level() {
        proxy_wasm::set_log_level(level);
    }
}

/// Leaves the outcome and the configured claims in the stream's filter state, where Envoy keeps
/// them as `wasm.<key>` for access logs (`%FILTER_STATE(wasm.jwt_relay.outcome:PLAIN)%`) and
/// later filters. Best effort: a host that refuses loses a log field, never the decision.
pub(super) fn export_filter_state(config: &FilterConfig, decision: &Decision<'_>) {
    for (key, value) in decision::filter_state(config, decision) {
        if let Err(status) = hostcalls::set_property(vec![key], Some(value.as_bytes())) {
            debug!("jwt-relay: filter state {key} not set: {status:?}");
        }
    }
}

/// A finished document fetch, as far as `fetched::check_response` accepts it: a 200's body, or a
/// 304 to a conditional request (`conditional`), each with what its headers said.
pub(super) fn read_fetch(
    max_bytes: usize,
    body_size: usize,
    conditional: bool,
) -> Result<Response, String> {
    // All headers in one copy: the status, the validators and Cache-Control (repeatable).
    let headers = hostcalls::get_map_bytes(MapType::HttpCallResponseHeaders).unwrap_or_default();
    let status = headers
        .iter()
        .find(|(name, _)| name == ":status")
        .map(|(_, value)| value.as_slice());
    let read = fetched::check_response(status, body_size, max_bytes, conditional)?;
    let described = Described::from_headers(&headers);
    match read {
        Read::NotModified => Ok(Response::NotModified { described }),
        Read::Body => match hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size) {
            Ok(Some(body)) => Ok(Response::Full { body, described }),
            Ok(None) => Err("empty body".into()),
            Err(status) => Err(format!("body unavailable: {status:?}")),
        },
    }
}

/// A call out's answer, as far as the host gives it.
pub(super) fn read_answer(body_size: usize) -> Answer {
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
