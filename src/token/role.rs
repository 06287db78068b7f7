//! The listener role: `edge` validates lifetime, `internal` does not.

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
