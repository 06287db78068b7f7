//! How one request ended, as a type: its name feeds stats (`jwt_relay.<name>`,
//! `jwt_relay.denied.<name>`), the debug log and filter state (`jwt_relay.outcome`).

use crate::token::Refusal;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Allowed as presented (with the owned headers the config sets).
    Allowed,
    /// Allowed, and the upstream got the embedded token for its audience instead.
    Narrowed,
    /// Allowed without a token: no embedded token for the upstream, `on_missing_embedded: strip`.
    Stripped,
    /// No token where the config looks for one.
    Missing,
    /// More than one token, or a request whose token cannot be located unambiguously.
    Ambiguous,
    /// No embedded token for the upstream, `on_missing_embedded: deny`.
    EmbeddedMissing,
    /// The token was refused.
    Invalid(Refusal),
    /// The route needs no token (`requirement: none`); tokens were not looked at.
    NotRequired,
    /// No token, on a route that allows that (`requirement: allow_missing`).
    Anonymous,
    /// A valid token without every scope the route requires.
    InsufficientScope,
    /// The route's `filter_metadata.jwt_relay` is not valid: refused, never read as no rules.
    RouteInvalid,
    /// A CORS preflight without a token, passed (`bypass_cors_preflight`).
    CorsPreflight,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Narrowed => "narrowed",
            Outcome::Stripped => "stripped",
            Outcome::Missing => "missing",
            Outcome::Ambiguous => "ambiguous",
            Outcome::EmbeddedMissing => "embedded_missing",
            Outcome::Invalid(refusal) => refusal.name(),
            Outcome::NotRequired => "not_required",
            Outcome::Anonymous => "anonymous",
            Outcome::InsufficientScope => "insufficient_scope",
            Outcome::RouteInvalid => "route_invalid",
            Outcome::CorsPreflight => "cors_preflight",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_stable_snake_case_ones() {
        assert_eq!(Outcome::Allowed.name(), "allowed");
        assert_eq!(Outcome::EmbeddedMissing.name(), "embedded_missing");
        assert_eq!(
            Outcome::Invalid(Refusal::UnknownIssuer).name(),
            "wrong_issuer"
        );
        assert_eq!(
            Outcome::Invalid(Refusal::EmbeddedInvalid).name(),
            "embedded_invalid"
        );
    }
}
