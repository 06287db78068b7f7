//! A proxy-wasm HTTP filter that lets every request through untouched: the `wasm-noop`
//! configuration of `make bench`, the ceiling for any proxy-wasm filter on this Envoy.

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::LogLevel;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_http_context(|_, _| -> Box<dyn HttpContext> { Box::new(Noop) });
}}

struct Noop;

impl Context for Noop {}

impl HttpContext for Noop {}
