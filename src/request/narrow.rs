//! Narrowed tokens: the verified token carries, in a claim, one narrower JWT per internal
//! audience; a request routed to a listed cluster travels on with only that narrower token.

use serde_json::Value;

use crate::request::cache::TokenCache;
use crate::request::role::LazyRole;
use crate::request::verify::{self, AudienceCheck, Inputs, VerifiedToken};
use crate::token::TokenError;

/// The compact JWT at `claims[claim][audience]`, if there is one.
pub fn embedded_token<'t>(
    parent: &'t VerifiedToken<'_>,
    claim: &str,
    audience: &str,
) -> Result<Option<&'t str>, TokenError> {
    match parent.claim(claim) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(tokens)) => match tokens.get(audience) {
            None => Ok(None),
            Some(Value::String(token)) => Ok(Some(token)),
            Some(_) => Err(TokenError::EmbeddedMalformed),
        },
        Some(_) => Err(TokenError::EmbeddedMalformed),
    }
}

/// Verifies an embedded token as strictly as the token that carries it: signature by a
/// configured provider, `aud` containing the upstream's audience, lifetime by the same role
/// rules, revocation, and never outliving its parent (a narrower token must not be a
/// longer-lived one).
pub fn verify_embedded<'c>(
    token: &str,
    parent: &VerifiedToken<'_>,
    inputs: Inputs<'c, '_>,
    cache: &mut TokenCache,
    audience: &str,
    role: &LazyRole<'_>,
) -> Result<VerifiedToken<'c>, TokenError> {
    let inside = |error: TokenError| TokenError::Embedded(Box::new(error));
    let inner = verify::verify(token, inputs, cache, None, AudienceCheck::Exactly(audience))
        .map_err(inside)?;
    verify::admit(&inner, inputs, role).map_err(inside)?;
    if let Some(parent_exp) = parent.expiration() {
        match inner.expiration() {
            Some(exp) if exp <= parent_exp => {}
            _ => return Err(TokenError::EmbeddedOutlivesParent),
        }
    }
    Ok(inner)
}
