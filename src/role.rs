//! The listener role: `edge` validates lifetime, `internal` does not.

use std::cell::Cell;
use std::fmt;

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Ingress: full validation, including `exp`, `nbf` and `iat`.
    #[default]
    Edge,
    /// Inside the mesh: signature, issuer, audience and the rest, but not lifetime, so that a
    /// request chain does not fail midway when its token expires in flight.
    Internal,
}

impl Role {
    /// The role for one request. The listener's own metadata
    /// (`filter_metadata.jwt_relay.role`) wins over the plugin config, so one config can serve a
    /// whole fleet. A metadata value that is neither `edge` nor `internal` means `edge`: an
    /// unrecognised label must never relax validation.
    pub fn resolve(listener_metadata: Option<&[u8]>, configured: Role) -> Role {
        match listener_metadata.map(|raw| raw.trim_ascii()) {
            None | Some(b"") => configured,
            Some(b"internal") => Role::Internal,
            Some(_) => Role::Edge,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Edge => "edge",
            Role::Internal => "internal",
        }
    }
}

/// Reads the listener's raw `filter_metadata.jwt_relay.role`, if it has one.
pub type ReadListenerRole<'r> = &'r dyn Fn() -> Option<Vec<u8>>;

/// The role of one request, read from the listener on first need. Reading listener metadata is
/// one of the dearer host calls, and most requests do not need it: a token inside its lifetime
/// passes on either role.
pub struct LazyRole<'r> {
    read: ReadListenerRole<'r>,
    configured: Role,
    resolved: Cell<Option<Role>>,
}

impl<'r> LazyRole<'r> {
    pub fn new(read: ReadListenerRole<'r>, configured: Role) -> Self {
        LazyRole {
            read,
            configured,
            resolved: Cell::new(None),
        }
    }

    /// The role, reading the listener's metadata the first time.
    pub fn get(&self) -> Role {
        if let Some(role) = self.resolved.get() {
            return role;
        }
        let role = Role::resolve((self.read)().as_deref(), self.configured);
        self.resolved.set(Some(role));
        role
    }

    /// The role if it has been read: `None` when no decision needed it.
    pub fn known(&self) -> Option<Role> {
        self.resolved.get()
    }
}

impl fmt::Debug for LazyRole<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyRole")
            .field("configured", &self.configured)
            .field("resolved", &self.resolved.get())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_metadata_overrides_config() {
        assert_eq!(Role::resolve(Some(b"internal"), Role::Edge), Role::Internal);
        assert_eq!(Role::resolve(Some(b"edge"), Role::Internal), Role::Edge);
    }

    #[test]
    fn absent_metadata_keeps_config() {
        assert_eq!(Role::resolve(None, Role::Internal), Role::Internal);
        assert_eq!(Role::resolve(Some(b""), Role::Internal), Role::Internal);
        assert_eq!(Role::resolve(None, Role::Edge), Role::Edge);
    }

    #[test]
    fn a_lazy_role_reads_the_listener_once_and_only_when_asked() {
        let reads = Cell::new(0);
        let read = || {
            reads.set(reads.get() + 1);
            Some(b"internal".to_vec())
        };
        let role = LazyRole::new(&read, Role::Edge);
        assert_eq!(role.known(), None);
        assert_eq!(reads.get(), 0);
        assert_eq!(role.get(), Role::Internal);
        assert_eq!(role.get(), Role::Internal);
        assert_eq!(role.known(), Some(Role::Internal));
        assert_eq!(reads.get(), 1);
    }

    #[test]
    fn unknown_metadata_means_edge() {
        for raw in [
            &b"Internal"[..],
            b"INTERNAL",
            b"mesh",
            b"\"internal\"",
            b"internal2",
        ] {
            assert_eq!(
                Role::resolve(Some(raw), Role::Internal),
                Role::Edge,
                "{raw:?}"
            );
        }
    }
}
