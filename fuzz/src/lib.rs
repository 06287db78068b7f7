//! The fuzz harness of jwt-relay: fixture keys, the configurations the decision runs under (as
//! plain data), structured token recipes, and the oracle that says what may pass.

pub mod differential;
pub mod fixtures;
pub mod jose;
pub mod model;
pub mod oracle;
pub mod recipe;
