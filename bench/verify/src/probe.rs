//! The same measurements inside Envoy: a proxy-wasm filter that, on one request, runs them in
//! Envoy's own V8 and answers with the table. Its plugin configuration is the JSON `gen`
//! writes (tokens and JWKS). Never deploy it: one request blocks a worker for seconds.
#![cfg(target_family = "wasm")]

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};
use serde_json::Value;

mod bench;

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Probe::default()) });
}}

#[derive(Default)]
struct Probe {
    doc: Option<std::rc::Rc<Value>>,
}

impl Context for Probe {}

impl RootContext for Probe {
    fn on_configure(&mut self, _: usize) -> bool {
        let config = self.get_plugin_configuration().unwrap_or_default();
        self.doc = serde_json::from_slice(&config).ok().map(std::rc::Rc::new);
        self.doc.is_some()
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Request(self.doc.clone()?)))
    }
}

struct Request(std::rc::Rc<Value>);

impl Context for Request {}

impl HttpContext for Request {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        let iterations = self
            .get_http_request_header("x-iterations")
            .and_then(|n| n.parse().ok())
            .unwrap_or(100);
        let table = bench::run(&self.0, iterations, "wasm32-wasip1 in Envoy's V8");
        self.send_http_response(200, vec![], Some(table.as_bytes()));
        Action::Pause
    }
}
