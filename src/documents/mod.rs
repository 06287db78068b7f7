//! Documents the filter fetches: remote JWKS and the revocation feed, parsed and bounded
//! (`fetched`, `revocation`), and when to fetch them again (`schedule`).

pub mod fetched;
pub mod revocation;
pub mod schedule;

pub use fetched::{parse_remote_jwks, parse_revocations, Fetched};
