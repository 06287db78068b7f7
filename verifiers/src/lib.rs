//! jwt-relay's own signature verifiers, as jwt-compact [`Algorithm`](jwt_compact::Algorithm)s
//! that only verify: [`rsa`] for `RS256/384/512` and `PS256/384/512`, [`es256`] for `ES256`,
//! [`es384`] and [`es512`] for `ES384` (P-384) and `ES512` (P-521). RS*/PS* and ES256 exist
//! because the generic ones cost several times more inside a Wasm VM; ES384/ES512 are the
//! `p384`/`p521` crates' own ECDSA behind the same interface (jwt-compact has neither). Each
//! module's doc says why and what it checks. Only public values are handled, so nothing here needs to be
//! constant time.
//!
//! Their vectors are Wycheproof's (`tests/wycheproof.rs` in the filter, through its key policy)
//! and their own unit tests; their fuzz targets (`rsa_verify`, `es256_verify` in `fuzz/`) check
//! them differentially against the `rsa` and `p256` crates; `benches/verify.rs` times them.
// No input may panic: these run on the request path of every Envoy worker. Outside tests the
// compiler refuses the constructs that panic on data, as in the filter (see ARCHITECTURE.md).
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

pub mod es256;
pub mod es384;
pub mod es512;
mod nist_ecdsa;
pub mod rsa;
#[cfg(test)]
mod vectors;
