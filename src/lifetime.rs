//! Token lifetime, by listener role.
//!
//! Structural rules (is there an `exp`, is `exp - iat` bounded) hold on every listener. Time
//! against the clock (`exp`, `nbf`, `iat` with skew) is checked only at the edge; an internal
//! hop accepts a token that expired in flight, optionally bounded by
//! `internal_max_expired_seconds`.

use chrono::{DateTime, Duration, Utc};
use jwt_compact::{Claims, TimeOptions, ValidationError};

use crate::claims::ClaimSet;
use crate::config::Provider;
use crate::role::Role;
use crate::verify::TokenError;

/// Lifetime rules for one check.
#[derive(Debug, Clone, Copy)]
pub struct LifetimePolicy {
    pub role: Role,
    pub clock_skew_seconds: u64,
    pub require_expiration: bool,
    pub max_lifetime_seconds: Option<u64>,
    pub internal_max_expired_seconds: Option<u64>,
}

impl LifetimePolicy {
    pub fn new(provider: &Provider, role: Role, internal_max_expired_seconds: Option<u64>) -> Self {
        LifetimePolicy {
            role,
            clock_skew_seconds: provider.clock_skew_seconds,
            require_expiration: provider.require_expiration,
            max_lifetime_seconds: provider.max_lifetime_seconds,
            internal_max_expired_seconds,
        }
    }
}

/// Checks `claims` at `now` (unix seconds, from the host clock).
pub fn check(
    claims: &Claims<ClaimSet>,
    policy: &LifetimePolicy,
    now: i64,
) -> Result<(), TokenError> {
    let exp = claims.expiration.map(|t| t.timestamp());
    let iat = claims.issued_at.map(|t| t.timestamp());
    if policy.require_expiration && exp.is_none() {
        return Err(TokenError::MissingClaim("exp".into()));
    }
    if let Some(max) = policy.max_lifetime_seconds {
        // Without both ends the lifetime is unbounded, which the bound exists to refuse.
        let (Some(exp), Some(iat)) = (exp, iat) else {
            return Err(TokenError::MissingClaim(
                if exp.is_none() { "exp" } else { "iat" }.into(),
            ));
        };
        if exp.saturating_sub(iat) > i64::try_from(max).unwrap_or(i64::MAX) {
            return Err(TokenError::LifetimeTooLong);
        }
    }
    match policy.role {
        Role::Edge => check_clock(claims, policy.clock_skew_seconds, now),
        Role::Internal => match (policy.internal_max_expired_seconds, exp) {
            (Some(bound), Some(exp)) => {
                let bound = i64::try_from(bound).unwrap_or(i64::MAX);
                if now > exp.saturating_add(bound) {
                    Err(TokenError::Expired)
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        },
    }
}

fn check_clock(claims: &Claims<ClaimSet>, skew_seconds: u64, now: i64) -> Result<(), TokenError> {
    let now_time: DateTime<Utc> =
        DateTime::from_timestamp(now, 0).unwrap_or(DateTime::<Utc>::MIN_UTC);
    let skew = Duration::seconds(i64::try_from(skew_seconds).unwrap_or(0));
    let options = TimeOptions::new(skew, move || now_time);
    if claims.expiration.is_some() {
        claims.validate_expiration(&options).map_err(time_error)?;
    }
    if claims.not_before.is_some() {
        claims.validate_maturity(&options).map_err(time_error)?;
    }
    if let Some(issued_at) = claims.issued_at {
        if issued_at > now_time + skew {
            return Err(TokenError::IssuedInFuture);
        }
    }
    Ok(())
}

fn time_error(error: ValidationError) -> TokenError {
    match error {
        ValidationError::NotMature => TokenError::NotYetValid,
        _ => TokenError::Expired,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn claims(exp: Option<i64>, nbf: Option<i64>, iat: Option<i64>) -> Claims<ClaimSet> {
        let at = |s: i64| DateTime::from_timestamp(s, 0).unwrap();
        let mut claims = Claims::new(ClaimSet::default());
        claims.expiration = exp.map(at);
        claims.not_before = nbf.map(at);
        claims.issued_at = iat.map(at);
        claims
    }

    fn policy(role: Role) -> LifetimePolicy {
        LifetimePolicy {
            role,
            clock_skew_seconds: 60,
            require_expiration: true,
            max_lifetime_seconds: None,
            internal_max_expired_seconds: None,
        }
    }

    #[test]
    fn edge_checks_expiry_with_skew() {
        let edge = policy(Role::Edge);
        assert_eq!(
            check(&claims(Some(NOW + 10), None, None), &edge, NOW),
            Ok(())
        );
        assert_eq!(
            check(&claims(Some(NOW - 30), None, None), &edge, NOW),
            Ok(())
        );
        assert_eq!(
            check(&claims(Some(NOW - 61), None, None), &edge, NOW),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn edge_checks_not_before_and_issued_at_with_skew() {
        let edge = policy(Role::Edge);
        let exp = Some(NOW + 600);
        assert_eq!(
            check(&claims(exp, Some(NOW + 30), None), &edge, NOW),
            Ok(())
        );
        assert_eq!(
            check(&claims(exp, Some(NOW + 61), None), &edge, NOW),
            Err(TokenError::NotYetValid)
        );
        assert_eq!(
            check(&claims(exp, None, Some(NOW + 61)), &edge, NOW),
            Err(TokenError::IssuedInFuture)
        );
    }

    #[test]
    fn internal_ignores_the_clock() {
        let internal = policy(Role::Internal);
        assert_eq!(
            check(&claims(Some(NOW - 86_400), None, None), &internal, NOW),
            Ok(())
        );
        assert_eq!(
            check(
                &claims(Some(NOW + 600), Some(NOW + 300), None),
                &internal,
                NOW
            ),
            Ok(())
        );
    }

    #[test]
    fn internal_bound_limits_how_long_past_exp() {
        let bounded = LifetimePolicy {
            internal_max_expired_seconds: Some(300),
            ..policy(Role::Internal)
        };
        assert_eq!(
            check(&claims(Some(NOW - 299), None, None), &bounded, NOW),
            Ok(())
        );
        assert_eq!(
            check(&claims(Some(NOW - 301), None, None), &bounded, NOW),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn expiration_is_required_on_every_role_unless_disabled() {
        for role in [Role::Edge, Role::Internal] {
            assert_eq!(
                check(&claims(None, None, None), &policy(role), NOW),
                Err(TokenError::MissingClaim("exp".into()))
            );
            let lax = LifetimePolicy {
                require_expiration: false,
                ..policy(role)
            };
            assert_eq!(check(&claims(None, None, None), &lax, NOW), Ok(()));
        }
    }

    #[test]
    fn max_lifetime_needs_both_ends_and_holds_on_every_role() {
        for role in [Role::Edge, Role::Internal] {
            let bounded = LifetimePolicy {
                max_lifetime_seconds: Some(3600),
                ..policy(role)
            };
            assert_eq!(
                check(
                    &claims(Some(NOW + 3000), None, Some(NOW - 600)),
                    &bounded,
                    NOW
                ),
                Ok(())
            );
            assert_eq!(
                check(
                    &claims(Some(NOW + 3600), None, Some(NOW - 1)),
                    &bounded,
                    NOW
                ),
                Err(TokenError::LifetimeTooLong)
            );
            assert_eq!(
                check(&claims(Some(NOW + 60), None, None), &bounded, NOW),
                Err(TokenError::MissingClaim("iat".into()))
            );
        }
    }
}
