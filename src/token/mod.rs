//! One token on its own: the JOSE algorithms, claims, keys and the signature verifiers, the
//! lifetime rules by listener role, and the error type every check returns. Nothing here reads
//! the request or the fetched documents.

pub mod alg;
pub mod claims;
mod error;
pub mod es256_verify;
pub mod keys;
pub mod lifetime;
mod provider;
pub mod role;
pub mod rsa_verify;

pub use error::{Refusal, TokenError};
pub use provider::ProviderId;
