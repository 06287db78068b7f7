//! Documents the filter fetches: remote JWKS and the revocation feed, parsed and bounded
//! (`fetched`, `revocation`), what an answer said about itself for the next, conditional, fetch
//! (`conditional`: validators, freshness, the stored form), when to fetch them again
//! (`schedule`), and how the VMs of one Envoy share one fetch (`sync`, behind a small store trait
//! the host implements).

pub mod conditional;
pub mod fetched;
pub(crate) mod revocation;
pub(crate) mod schedule;
pub mod sync;

// `fetched`, `conditional` and `sync` (the seam the host implements) are API; the parsers behind
// them are not.
pub use fetched::{parse_remote_jwks, parse_revocations, Fetched};
