//! Test and demo companion for jwt-relay: makes signing keys and their JWKS, mints tokens
//! (including deliberately broken ones and tokens that embed narrowed tokens), and runs an
//! echo upstream that shows exactly what the filter forwarded, and a stub identity service
//! (JWKS and revocation feed) whose answers and failures a test controls.
//!
//! The `jwt-relay-cli` binary is a thin command-line front for these modules; the end-to-end
//! tests use them directly.

// Tests may unwrap: a panic there is a failed assertion with a location.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod cert;
pub mod check;
pub mod claims;
pub mod demo;
pub mod echo;
pub mod envoy;
pub mod idp;
pub mod inspect;
pub mod keys;
pub mod mint;
pub mod token;

#[cfg(test)]
mod test_support;
