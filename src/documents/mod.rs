//! Documents the filter fetches: remote JWKS and the revocation feed, parsed and bounded
//! (`fetched`, `revocation`), when to fetch them again (`schedule`), and how the VMs of one
//! Envoy share one fetch (`sync`, behind a small store trait the host implements).

pub mod fetched;
pub(crate) mod revocation;
pub(crate) mod schedule;
pub mod sync;

// `fetched` and `sync` (the seam the host implements) are API; the parsers behind them are not.
pub use fetched::{parse_remote_jwks, parse_revocations, Fetched};
