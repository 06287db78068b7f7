//! Verifies one compact JWS: structure, header, issuer, algorithm, key, signature, claims.
//!
//! The cheap checks come first so that garbage costs microseconds, not a signature check.
//! Lifetime (`exp`, `nbf`, `iat`) is not checked here: it depends on the listener role and
//! lives in `lifetime`.

use std::rc::Rc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_compact::{Claims, UntrustedToken};
use serde_json::Value;

use sha2::{Digest as _, Sha256};

use crate::config::{normalize_type, FilterConfig, Location, Provider};
use crate::documents::Fetched;
use crate::request::cache::{CachedToken, TokenCache};
use crate::request::revoked;
use crate::request::role::LazyRole;
use crate::token::alg::Alg;
use crate::token::claims::{self, ClaimSet};
use crate::token::keys::{self, KeyError, KeySet, SignatureError};
use crate::token::lifetime::{self, LifetimePolicy};
use crate::token::role::Role;
use crate::token::{ProviderId, TokenError};

/// Which audiences the token's `aud` must overlap.
#[derive(Debug, Clone, Copy)]
pub enum AudienceCheck<'a> {
    /// The provider's configured `audiences` (the token a client presents).
    Provider,
    /// One upstream's audience (an embedded, narrowed token).
    Exactly(&'a str),
}

/// A token whose signature, issuer, audience and claim types have been verified. Only this
/// module makes one (its fields are private), so holding one proves the checks ran.
#[derive(Debug)]
pub struct VerifiedToken<'c> {
    provider: &'c Provider,
    provider_id: ProviderId,
    alg: Alg,
    /// Shared with the cache: a hit costs a reference count, not a copy.
    claims: Rc<Claims<ClaimSet>>,
}

impl<'c> VerifiedToken<'c> {
    /// The provider whose key verified it.
    pub fn provider(&self) -> &'c Provider {
        self.provider
    }

    pub fn claims(&self) -> &Claims<ClaimSet> {
        &self.claims
    }

    pub fn expiration(&self) -> Option<i64> {
        self.claims.expiration.map(|t| t.timestamp())
    }

    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.custom.get(name)
    }
}

/// A short fingerprint of a token for logs: the first 8 hex digits of its SHA-256, enough to
/// correlate log lines, useless to an attacker. Computed only when a log line wants it.
pub fn fingerprint(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .take(4)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// What a verification reads besides the token.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'c, 'f> {
    pub config: &'c FilterConfig,
    pub fetched: &'f Fetched,
    /// Unix seconds.
    pub now: i64,
}

/// Verifies a token against the configured providers, through the cache. `location` is where
/// the token was found (`None` for embedded tokens): a provider only accepts tokens from its own
/// locations.
pub fn verify<'c>(
    token: &str,
    inputs: Inputs<'c, '_>,
    cache: &mut TokenCache,
    location: Option<&Location>,
    audience: AudienceCheck<'_>,
) -> Result<VerifiedToken<'c>, TokenError> {
    let config = inputs.config;
    let cached = cache.get(token, inputs.now, |provider| {
        inputs.fetched.remote_version(provider)
    });
    let verified = match cached {
        Some(hit) => VerifiedToken {
            provider: config
                .provider(hit.provider)
                .ok_or(TokenError::UnknownIssuer)?,
            provider_id: hit.provider,
            alg: hit.alg,
            claims: hit.claims,
        },
        None => {
            let (verified, key_version) = verify_uncached(token, inputs)?;
            let exp = verified.expiration().unwrap_or(i64::MAX);
            let grace = verified
                .provider
                .clock_skew_seconds
                .saturating_add(config.internal_max_expired_seconds.unwrap_or(0));
            let evict_after = exp.saturating_add(i64::try_from(grace).unwrap_or(i64::MAX));
            // A token past its eviction time would be dropped at its next lookup: don't store it.
            if evict_after >= inputs.now {
                cache.insert(
                    token,
                    CachedToken::new(
                        verified.provider_id,
                        verified.alg,
                        Rc::clone(&verified.claims),
                        key_version,
                        evict_after,
                        token.len(),
                    ),
                );
            }
            verified
        }
    };
    // What depends on the request, checked on every use: a cached token may be presented in
    // another place, or embedded for another audience.
    if let Some(location) = location {
        if !verified.provider.locations.contains(location) {
            return Err(TokenError::LocationNotAllowed);
        }
    }
    check_audience(&verified.claims.custom, verified.provider, audience)?;
    Ok(verified)
}

/// What can change between two uses of a verified token, checked on every use (cached or not):
/// its lifetime by the listener's role, then revocation. The role is read only when the two
/// roles would decide differently (most tokens are inside their lifetime: both pass).
pub fn admit(
    token: &VerifiedToken<'_>,
    inputs: Inputs<'_, '_>,
    role: &LazyRole<'_>,
) -> Result<(), TokenError> {
    let config = inputs.config;
    let check = |role: Role| {
        let policy = LifetimePolicy {
            role,
            clock_skew_seconds: token.provider.clock_skew_seconds,
            require_expiration: token.provider.require_expiration,
            max_lifetime_seconds: token.provider.max_lifetime_seconds,
            internal_max_expired_seconds: config.internal_max_expired_seconds,
            min_remaining_seconds: token.provider.min_remaining_seconds,
        };
        lifetime::check(&token.claims, &policy, inputs.now)
    };
    match role.known() {
        Some(known) => check(known)?,
        None => {
            let edge = check(Role::Edge);
            if edge == check(Role::Internal) {
                edge?;
            } else {
                check(role.get())?;
            }
        }
    }
    revoked::check(config, inputs.fetched, &token.claims, inputs.now)
}

/// The full check: structure, header, issuer, algorithm, key, signature, claim types and
/// required claims. Returns the version of the remote keys that verified it, if they did.
fn verify_uncached<'c>(
    token: &str,
    inputs: Inputs<'c, '_>,
) -> Result<(VerifiedToken<'c>, Option<u64>), TokenError> {
    let config = inputs.config;
    if token.len() > config.max_token_bytes {
        return Err(TokenError::TooLarge);
    }
    match token.bytes().filter(|&b| b == b'.').count() {
        2 => {}
        4 => return Err(TokenError::Encrypted),
        _ => return Err(TokenError::Malformed),
    }
    let header = check_header(token)?;
    // The issuer finds the provider and its keys; nothing else of the claims is read before the
    // signature check. Parsed here, strictly, so that a token whose key is not there costs no
    // more than this (jwt-compact's own parse of the whole token comes after the key is found).
    let issuer = unverified_issuer(token)?;
    let (provider_id, provider) = config
        .providers_with_ids()
        .find(|(_, p)| p.issuer == issuer)
        .ok_or(TokenError::UnknownIssuer)?;
    check_type(header.typ.as_deref(), provider)?;
    let alg = Alg::from_name(&header.alg).ok_or(TokenError::UnsupportedAlgorithm)?;
    if !provider.algorithms.contains(&alg) {
        return Err(TokenError::AlgorithmNotAllowed);
    }
    let remote = inputs.fetched.remote_keys(provider_id);
    if provider.keys.is_empty() && remote.is_none() {
        return Err(TokenError::KeysUnavailable);
    }
    let sets: Vec<&KeySet> = core::iter::once(&provider.keys).chain(remote).collect();
    let key = keys::select(&sets, header.kid.as_deref(), alg).map_err(|error| match error {
        KeyError::UnknownKid => TokenError::UnknownKid {
            refetch: provider.remote_jwks.as_ref().map(|_| provider_id),
        },
        KeyError::NoKeyForAlgorithm => TokenError::NoKeyForAlgorithm,
        KeyError::KidRequired => TokenError::KidRequired,
    })?;

    let untrusted = UntrustedToken::new(token).map_err(|_| TokenError::Malformed)?;
    if untrusted.algorithm() != header.alg {
        return Err(TokenError::Malformed);
    }
    let trusted = key.verify(alg, &untrusted).map_err(|error| match error {
        SignatureError::BadSignature => TokenError::BadSignature,
        SignatureError::MalformedClaims => TokenError::Malformed,
    })?;
    let (_, claims) = trusted.into_parts();
    check_claims(&claims, provider)?;
    let key_version = if provider.keys.holds(key) {
        None
    } else {
        inputs.fetched.remote_version(provider_id)
    };
    Ok((
        VerifiedToken {
            provider,
            provider_id,
            alg,
            claims: Rc::new(claims),
        },
        key_version,
    ))
}

/// The JOSE header fields the filter acts on.
#[derive(Debug)]
struct JoseHeader {
    alg: String,
    kid: Option<String>,
    /// Normalised by [`normalize_type`].
    typ: Option<String>,
}

/// The JOSE header, parsed strictly: an object, no duplicate names, `alg` a string, `kid` and
/// `typ` strings when present, and no `crit` (RFC 7515 §4.1.11: critical extensions this
/// filter does not understand must fail).
fn check_header(token: &str) -> Result<JoseHeader, TokenError> {
    let encoded = token.split('.').next().unwrap_or_default();
    let decoded = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| TokenError::Malformed)?;
    let mut header = claims::parse_object(&decoded).map_err(|_| TokenError::Malformed)?;
    if header.contains_key("crit") {
        return Err(TokenError::CriticalHeader);
    }
    let mut optional_string = |name: &str| match header.remove(name) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(TokenError::Malformed),
    };
    let alg = optional_string("alg")?.ok_or(TokenError::Malformed)?;
    let kid = optional_string("kid")?;
    let typ = optional_string("typ")?.map(|typ| normalize_type(&typ));
    Ok(JoseHeader { alg, kid, typ })
}

/// The `iss` of a token not yet verified, from its claims parsed strictly (duplicate names
/// refused): a string, or the token names no issuer this filter trusts.
fn unverified_issuer(token: &str) -> Result<String, TokenError> {
    let encoded = token.split('.').nth(1).unwrap_or_default();
    let decoded = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| TokenError::Malformed)?;
    let mut claims = claims::parse_object(&decoded).map_err(|_| TokenError::Malformed)?;
    match claims.remove("iss") {
        Some(Value::String(issuer)) => Ok(issuer),
        Some(_) => Err(TokenError::Malformed),
        None => Err(TokenError::UnknownIssuer),
    }
}

/// Explicit typing (RFC 8725 §3.11): another kind of JWT from the same issuer (an ID token
/// marked as such, a logout or security event token, a DPoP proof) is not an access token.
/// By default a token without `typ`, or with `JWT` or `at+jwt` (RFC 9068), passes.
fn check_type(typ: Option<&str>, provider: &Provider) -> Result<(), TokenError> {
    let accepted = match (&provider.token_types, typ) {
        (None, None) => true,
        (None, Some(typ)) => typ == "jwt" || typ == "at+jwt",
        (Some(types), Some(typ)) => types.iter().any(|t| t == typ),
        (Some(_), None) => false,
    };
    if accepted {
        Ok(())
    } else {
        Err(TokenError::WrongType)
    }
}

/// Claim types and required claims: facts of the token alone, checked once per token.
fn check_claims(all: &Claims<ClaimSet>, provider: &Provider) -> Result<(), TokenError> {
    let claims = &all.custom;
    claims
        .check_registered_types()
        .map_err(|_| TokenError::Malformed)?;
    for name in &provider.required_claims {
        // jwt-compact holds the timestamps apart from the other claims.
        let present = match name.as_str() {
            "exp" => all.expiration.is_some(),
            "nbf" => all.not_before.is_some(),
            "iat" => all.issued_at.is_some(),
            _ => claims.get(name).is_some_and(|value| !value.is_null()),
        };
        if !present {
            return Err(TokenError::MissingClaim(name.clone()));
        }
    }
    Ok(())
}

/// The token's `aud` must overlap the audiences this use of it allows.
fn check_audience(
    claims: &ClaimSet,
    provider: &Provider,
    audience: AudienceCheck<'_>,
) -> Result<(), TokenError> {
    let token_audiences = claims
        .audiences()
        .map_err(|_| TokenError::Malformed)?
        .ok_or(TokenError::WrongAudience)?;
    let allowed = match audience {
        AudienceCheck::Provider => token_audiences
            .iter()
            .any(|aud| provider.audiences.iter().any(|allowed| allowed == aud)),
        AudienceCheck::Exactly(expected) => token_audiences.contains(&expected),
    };
    if allowed {
        Ok(())
    } else {
        Err(TokenError::WrongAudience)
    }
}
