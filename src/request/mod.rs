//! The decision for one request, read top to bottom: extract the token (`extract`), the
//! listener role (`role`), verify it (`verify`, with the verified-token `cache` and the
//! `revoked` step), narrow it for the upstream (`narrow`), and the decision with its header
//! plan and reply (`decision`, `reply`); carrying the verdict out, pausing for a call out and
//! resuming (`flow`). Pure: the host adapter gathers the facts and performs the host calls.

pub mod cache;
pub mod decision;
pub(crate) mod extract;
pub mod flow;
pub(crate) mod narrow;
pub(crate) mod outcome;
pub(crate) mod reply;
pub(crate) mod revoked;
pub(crate) mod role;
pub mod route;
pub mod stats;
pub mod verify;

// The deliberate API: `decision`, `cache` and `verify` (tests, fuzz, benches, the CLI), `flow` (the
// seam the host implements) and the types a decision is made of. The other stages are the
// crate's own.
pub use decision::{evaluate, Decision, HeaderPlan, Request, Verdict};
pub use outcome::Outcome;
pub use reply::Denial;
