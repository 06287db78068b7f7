//! One token on its own: the JOSE algorithms, claims, keys and the signature verifiers, the
//! lifetime rules by listener role, and the error type every check returns. Nothing here reads
//! the request or the fetched documents.

pub mod alg;
pub mod claims;
mod error;
pub mod keys;
pub mod lifetime;
mod provider;
pub mod role;

pub use error::{Refusal, TokenError};
// The signature verifiers are their own crate (verifiers/); these names are the filter's.
pub use jwt_relay_verifiers::{
    es256 as es256_verify, es384 as es384_verify, es512 as es512_verify, rsa as rsa_verify,
};
pub use provider::ProviderId;
