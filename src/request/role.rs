//! The listener role of one request, read from the host only when a decision needs it.

use std::cell::Cell;
use std::fmt;

use crate::token::role::Role;

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
}
