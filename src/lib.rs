//! jwt-relay: an Envoy HTTP filter (proxy-wasm) that validates bearer JWTs at the edge, skips
//! lifetime checks on internal hops, and forwards only a narrowed per-service token inward.
//!
//! Everything but `host` is plain Rust with no proxy-wasm calls: the host adapter gathers a
//! request's facts, `policy::evaluate` returns a decision as data, and the adapter applies it.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod alg;
pub mod cache;
pub mod claims;
pub mod config;
pub mod es256_verify;
pub mod extract;
pub mod fetched;
pub mod keys;
pub mod lifetime;
pub mod narrow;
pub mod policy;
pub mod response;
pub mod revocation;
pub mod role;
pub mod rsa_verify;
pub mod schedule;
pub mod verify;

#[cfg(target_arch = "wasm32")]
mod host;
