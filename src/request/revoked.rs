//! The revocation step of a verified token: is it in the installed feed, and what to do when no
//! feed is installed.

use jwt_compact::Claims;

use crate::config::{FilterConfig, OnUnavailable};
use crate::documents::Fetched;
use crate::token::claims::ClaimSet;
use crate::token::TokenError;

/// The revocation step for one verified token, on every listener role.
pub fn check(
    config: &FilterConfig,
    fetched: &Fetched,
    claims: &Claims<ClaimSet>,
    now: i64,
) -> Result<(), TokenError> {
    let Some(revocation) = &config.revocation else {
        return Ok(());
    };
    match fetched.revocations() {
        Some(list) => {
            let issued_at = claims.issued_at.map(|t| t.timestamp());
            if list.is_revoked(&revocation.claim, &claims.custom, issued_at, now) {
                Err(TokenError::Revoked)
            } else {
                Ok(())
            }
        }
        None => match revocation.on_unavailable {
            OnUnavailable::Deny => Err(TokenError::RevocationUnavailable),
            OnUnavailable::Allow => Ok(()),
        },
    }
}
