//! Which configured provider (issuer) a key, token or document belongs to.

use core::fmt;

/// A provider's place in the compiled config's `providers` list. A type of its own so that it
/// cannot be mixed up with a count or a byte length; `config::FilterConfig::provider` looks one
/// up, and it prints as the config field it names (`providers[0]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProviderId(usize);

impl ProviderId {
    pub const fn from_index(index: usize) -> ProviderId {
        ProviderId(index)
    }

    pub const fn index(self) -> usize {
        self.0
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "providers[{}]", self.0)
    }
}
