//! jwt-relay: an Envoy HTTP filter (proxy-wasm) that validates bearer JWTs at the edge, skips
//! lifetime checks on internal hops, and forwards only a narrowed per-service token inward.
//!
//! Everything but `host` is plain Rust with no proxy-wasm calls: the host adapter gathers a
//! request's facts, `request::evaluate` returns a decision as data, and the adapter applies it.
// No input may panic: a panic aborts the Wasm VM and fails every request on its worker. Outside
// tests the compiler refuses the constructs that panic on data (indexing and slicing, overflowing
// arithmetic, truncating casts) as well as the explicit ones; see ARCHITECTURE.md.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented,
        clippy::indexing_slicing,
        clippy::string_slice,
        clippy::arithmetic_side_effects,
        clippy::cast_possible_truncation,
        clippy::cast_possible_wrap,
        clippy::cast_sign_loss,
    )
)]

pub mod config;
pub mod documents;
pub mod request;
pub mod token;

#[cfg(target_arch = "wasm32")]
mod host;
