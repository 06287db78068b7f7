//! Token lifetime, by listener role.
//!
//! Structural rules (is there an `exp`, is `exp - iat` bounded) hold on every listener. Time
//! against the clock (`exp`, `nbf`, `iat` with skew) is checked only at the edge; an internal
//! hop accepts a token that expired in flight, optionally bounded by
//! `internal_max_expired_seconds`.

use jwt_compact::Claims;

use crate::token::claims::ClaimSet;
use crate::token::role::Role;
use crate::token::TokenError;

/// Lifetime rules for one check.
#[derive(Debug, Clone, Copy)]
pub struct LifetimePolicy {
    pub role: Role,
    pub clock_skew_seconds: u64,
    pub require_expiration: bool,
    pub max_lifetime_seconds: Option<u64>,
    pub internal_max_expired_seconds: Option<u64>,
    /// At the edge: refuse a token with less lifetime left than this, so that no request chain
    /// starts with a token that dies on the way (the client refreshes and retries).
    pub min_remaining_seconds: Option<u64>,
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
        Role::Edge => {
            check_clock(claims, policy.clock_skew_seconds, now)?;
            match (policy.min_remaining_seconds, exp) {
                // Measured on this clock, without skew: skew widens acceptance, and this bound
                // exists to narrow it.
                (Some(min), Some(exp))
                    if exp.saturating_sub(now) < i64::try_from(min).unwrap_or(i64::MAX) =>
                {
                    Err(TokenError::ExpiresTooSoon)
                }
                _ => Ok(()),
            }
        }
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

/// `exp`, `nbf` and `iat` against the clock, in plain `i64` seconds with saturating arithmetic.
///
/// jwt-compact's `validate_expiration`/`validate_maturity` and chrono's `DateTime ± Duration`
/// are not called: they panic on overflow, and a signed `nbf` within the skew of chrono's
/// earliest date (`-8334601228800`) aborted the VM that way. Saturation cannot widen a window:
/// a bound that saturates lies beyond every representable timestamp.
fn check_clock(claims: &Claims<ClaimSet>, skew_seconds: u64, now: i64) -> Result<(), TokenError> {
    let skew = i64::try_from(skew_seconds).unwrap_or(i64::MAX);
    let latest_accepted = now.saturating_add(skew);
    let earliest_accepted = now.saturating_sub(skew);
    if let Some(exp) = claims.expiration.map(|t| t.timestamp()) {
        // RFC 7519 §4.1.4: the token must not be accepted on or after `exp` (+ skew).
        if exp <= earliest_accepted {
            return Err(TokenError::Expired);
        }
    }
    if let Some(nbf) = claims.not_before.map(|t| t.timestamp()) {
        // RFC 7519 §4.1.5: not accepted before `nbf` (− skew).
        if nbf > latest_accepted {
            return Err(TokenError::NotYetValid);
        }
    }
    if let Some(iat) = claims.issued_at.map(|t| t.timestamp()) {
        if iat > latest_accepted {
            return Err(TokenError::IssuedInFuture);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

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
            min_remaining_seconds: None,
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
    fn edge_refuses_tokens_that_expire_too_soon() {
        let edge = LifetimePolicy {
            min_remaining_seconds: Some(30),
            ..policy(Role::Edge)
        };
        let at = |exp: i64| check(&claims(Some(exp), None, None), &edge, NOW);
        assert_eq!(at(NOW + 30), Ok(()));
        assert_eq!(at(NOW + 29), Err(TokenError::ExpiresTooSoon));
        // Inside the skew: still accepted as not expired, but it has nothing left.
        assert_eq!(at(NOW - 10), Err(TokenError::ExpiresTooSoon));
        assert_eq!(at(NOW - 61), Err(TokenError::Expired));
        // Near chrono's last date: no overflow either way.
        const LAST: i64 = 8_200_000_000_000;
        assert_eq!(at(LAST), Ok(()));
        // No `exp` (when not required): nothing runs out.
        let lax = LifetimePolicy {
            require_expiration: false,
            ..edge
        };
        assert_eq!(check(&claims(None, None, None), &lax, NOW), Ok(()));
        // Internal hops never refuse for this: the chain is already under way.
        let internal = LifetimePolicy {
            role: Role::Internal,
            ..edge
        };
        assert_eq!(
            check(&claims(Some(NOW + 1), None, None), &internal, NOW),
            Ok(())
        );
        let huge = LifetimePolicy {
            min_remaining_seconds: Some(u64::MAX),
            ..edge
        };
        assert_eq!(
            check(&claims(Some(LAST), None, None), &huge, NOW),
            Err(TokenError::ExpiresTooSoon)
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
            min_remaining_seconds: None,
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

    /// The token that aborted the VM: `nbf` within the skew of chrono's earliest date. Every
    /// extreme a signed token can carry, on both roles, with every skew, decides without panic.
    #[test]
    fn extreme_timestamps_decide_without_panic() {
        let min = DateTime::<Utc>::MIN_UTC.timestamp();
        let max = DateTime::<Utc>::MAX_UTC.timestamp();
        let extremes = [
            min,
            min + 1,
            min + 60,
            -8_334_601_228_800,
            -1,
            0,
            1,
            NOW,
            max - 60,
            max - 1,
            max,
        ];
        for role in [Role::Edge, Role::Internal] {
            for skew in [0, 1, 60, u64::MAX / 2, u64::MAX] {
                for bound in [None, Some(0), Some(u64::MAX)] {
                    let lifetime = LifetimePolicy {
                        clock_skew_seconds: skew,
                        max_lifetime_seconds: Some(u64::MAX),
                        internal_max_expired_seconds: bound,
                        min_remaining_seconds: None,
                        ..policy(role)
                    };
                    for now in [min, NOW, max] {
                        for &a in &extremes {
                            for &b in &extremes {
                                let _ = check(&claims(Some(a), Some(b), Some(b)), &lifetime, now);
                                let _ = check(&claims(Some(b), Some(a), Some(a)), &lifetime, now);
                            }
                        }
                    }
                }
            }
        }
        let edge = policy(Role::Edge);
        assert_eq!(
            check(
                &claims(Some(NOW + 600), Some(-8_334_601_228_800), None),
                &edge,
                NOW
            ),
            Ok(())
        );
        assert_eq!(
            check(&claims(Some(max), Some(max), None), &edge, NOW),
            Err(TokenError::NotYetValid)
        );
        assert_eq!(
            check(&claims(Some(min), None, Some(min)), &edge, NOW),
            Err(TokenError::Expired)
        );
        // A skew too large for i64 saturates: it widens nothing beyond the representable range.
        let lax = LifetimePolicy {
            clock_skew_seconds: u64::MAX,
            ..edge
        };
        assert_eq!(
            check(&claims(Some(max), Some(max), Some(max)), &lax, min),
            Ok(())
        );
    }

    #[test]
    fn expiry_is_exclusive_at_the_skewed_bound() {
        // RFC 7519 §4.1.4: the current time must be before `exp`; the skew extends that.
        let edge = policy(Role::Edge);
        assert_eq!(
            check(&claims(Some(NOW - 59), None, None), &edge, NOW),
            Ok(())
        );
        assert_eq!(
            check(&claims(Some(NOW - 60), None, None), &edge, NOW),
            Err(TokenError::Expired)
        );
        assert_eq!(
            check(&claims(Some(NOW + 600), Some(NOW + 60), None), &edge, NOW),
            Ok(())
        );
    }
}
