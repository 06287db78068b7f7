//! jwt-relay: an Envoy proxy-wasm filter (placeholder while the core lands).
