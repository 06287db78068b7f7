//! The decision for one request, read top to bottom: extract the token (`extract`), the
//! listener role (`role`), verify it (`verify`, with the verified-token `cache` and the
//! `revoked` step), narrow it for the upstream (`narrow`), and the decision with its header
//! plan and reply (`decision`, `reply`); carrying the verdict out, pausing for a call out and
//! resuming (`flow`). Pure: the host adapter gathers the facts and performs the host calls.

pub mod cache;
pub mod decision;
pub mod extract;
pub mod flow;
pub mod narrow;
pub mod outcome;
pub mod reply;
pub mod revoked;
pub mod role;
pub mod verify;

pub use decision::{evaluate, Decision, HeaderPlan, Request, Verdict};
pub use outcome::Outcome;
