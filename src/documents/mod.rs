//! Documents the filter fetches: remote JWKS and the revocation feed, parsed and bounded
//! (`fetched`, `revocation`), when to fetch them again (`schedule`), and how the VMs of one
//! Envoy share one fetch (`sync`, behind a small store trait the host implements).

pub mod fetched;
pub mod revocation;
pub mod schedule;
pub mod sync;

pub use fetched::{parse_remote_jwks, parse_revocations, Fetched};
