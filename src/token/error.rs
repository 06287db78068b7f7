//! Why a token was refused: the one error type of every token check, a leaf that depends on
//! nothing else in the crate.

use core::fmt;

use crate::token::ProviderId;

/// Why a token was refused. Descriptions are fixed text: nothing from the token is echoed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    TooLarge,
    Malformed,
    Encrypted,
    CriticalHeader,
    UnsupportedAlgorithm,
    UnknownIssuer,
    /// A trusted issuer, but not one the route accepts (route metadata `providers`).
    ProviderNotAllowed,
    LocationNotAllowed,
    AlgorithmNotAllowed,
    /// No key has this `kid`. `refetch` names the provider whose remote JWKS may hold it.
    UnknownKid {
        refetch: Option<ProviderId>,
    },
    /// The provider's keys come from a remote JWKS that has not been fetched yet.
    KeysUnavailable,
    NoKeyForAlgorithm,
    KidRequired,
    BadSignature,
    WrongAudience,
    MissingClaim(String),
    /// The `typ` header names a kind of token this provider does not accept.
    WrongType,
    Expired,
    /// At the edge: less lifetime left than the provider's `min_remaining_seconds`.
    ExpiresTooSoon,
    NotYetValid,
    IssuedInFuture,
    LifetimeTooLong,
    Revoked,
    RevocationUnavailable,
    EmbeddedMalformed,
    EmbeddedOutlivesParent,
    /// An embedded (narrowed) token failed; the inner reason is kept for logs.
    Embedded(Box<TokenError>),
}

/// The kind of a [`TokenError`], without its details: what stats, logs and filter state name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    TooLarge,
    Malformed,
    Encrypted,
    CriticalHeader,
    UnsupportedAlgorithm,
    UnknownIssuer,
    ProviderNotAllowed,
    LocationNotAllowed,
    AlgorithmNotAllowed,
    UnknownKid,
    KeysUnavailable,
    NoKeyForAlgorithm,
    KidRequired,
    BadSignature,
    WrongAudience,
    MissingClaim,
    WrongType,
    Expired,
    /// At the edge: less lifetime left than the provider's `min_remaining_seconds`.
    ExpiresTooSoon,
    NotYetValid,
    IssuedInFuture,
    LifetimeTooLong,
    Revoked,
    RevocationUnavailable,
    EmbeddedMalformed,
    EmbeddedOutlivesParent,
    EmbeddedInvalid,
}

impl Refusal {
    /// A stable snake_case name for logs and stats.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::TooLarge => "too_large",
            Refusal::Malformed => "malformed",
            Refusal::Encrypted => "encrypted",
            Refusal::CriticalHeader => "critical_header",
            Refusal::UnsupportedAlgorithm => "unsupported_algorithm",
            Refusal::UnknownIssuer => "wrong_issuer",
            Refusal::ProviderNotAllowed => "provider_not_allowed",
            Refusal::LocationNotAllowed => "location_not_allowed",
            Refusal::AlgorithmNotAllowed => "algorithm_not_allowed",
            Refusal::UnknownKid => "unknown_kid",
            Refusal::KeysUnavailable => "keys_unavailable",
            Refusal::NoKeyForAlgorithm => "no_key_for_algorithm",
            Refusal::KidRequired => "kid_required",
            Refusal::BadSignature => "bad_signature",
            Refusal::WrongAudience => "wrong_audience",
            Refusal::MissingClaim => "missing_claim",
            Refusal::WrongType => "wrong_type",
            Refusal::Expired => "expired",
            Refusal::ExpiresTooSoon => "expires_too_soon",
            Refusal::NotYetValid => "not_yet_valid",
            Refusal::IssuedInFuture => "issued_in_future",
            Refusal::LifetimeTooLong => "lifetime_too_long",
            Refusal::Revoked => "revoked",
            Refusal::RevocationUnavailable => "revocation_unavailable",
            Refusal::EmbeddedMalformed => "embedded_malformed",
            Refusal::EmbeddedOutlivesParent => "embedded_outlives_parent",
            Refusal::EmbeddedInvalid => "embedded_invalid",
        }
    }
}

impl TokenError {
    /// What kind of refusal this is.
    pub fn refusal(&self) -> Refusal {
        match self {
            TokenError::TooLarge => Refusal::TooLarge,
            TokenError::Malformed => Refusal::Malformed,
            TokenError::Encrypted => Refusal::Encrypted,
            TokenError::CriticalHeader => Refusal::CriticalHeader,
            TokenError::UnsupportedAlgorithm => Refusal::UnsupportedAlgorithm,
            TokenError::UnknownIssuer => Refusal::UnknownIssuer,
            TokenError::ProviderNotAllowed => Refusal::ProviderNotAllowed,
            TokenError::LocationNotAllowed => Refusal::LocationNotAllowed,
            TokenError::AlgorithmNotAllowed => Refusal::AlgorithmNotAllowed,
            TokenError::UnknownKid { .. } => Refusal::UnknownKid,
            TokenError::KeysUnavailable => Refusal::KeysUnavailable,
            TokenError::NoKeyForAlgorithm => Refusal::NoKeyForAlgorithm,
            TokenError::KidRequired => Refusal::KidRequired,
            TokenError::BadSignature => Refusal::BadSignature,
            TokenError::WrongAudience => Refusal::WrongAudience,
            TokenError::MissingClaim(_) => Refusal::MissingClaim,
            TokenError::WrongType => Refusal::WrongType,
            TokenError::Expired => Refusal::Expired,
            TokenError::ExpiresTooSoon => Refusal::ExpiresTooSoon,
            TokenError::NotYetValid => Refusal::NotYetValid,
            TokenError::IssuedInFuture => Refusal::IssuedInFuture,
            TokenError::LifetimeTooLong => Refusal::LifetimeTooLong,
            TokenError::Revoked => Refusal::Revoked,
            TokenError::RevocationUnavailable => Refusal::RevocationUnavailable,
            TokenError::EmbeddedMalformed => Refusal::EmbeddedMalformed,
            TokenError::EmbeddedOutlivesParent => Refusal::EmbeddedOutlivesParent,
            TokenError::Embedded(_) => Refusal::EmbeddedInvalid,
        }
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::TooLarge => f.write_str("token too large"),
            TokenError::Malformed => f.write_str("malformed token"),
            TokenError::Encrypted => f.write_str("encrypted tokens (JWE) are not accepted"),
            TokenError::CriticalHeader => f.write_str("unsupported critical header parameter"),
            TokenError::UnsupportedAlgorithm | TokenError::AlgorithmNotAllowed => {
                f.write_str("algorithm not allowed")
            }
            TokenError::UnknownIssuer => f.write_str("issuer not trusted"),
            TokenError::ProviderNotAllowed => f.write_str("issuer not accepted on this route"),
            TokenError::LocationNotAllowed => f.write_str("token not accepted in this location"),
            TokenError::UnknownKid { .. } => f.write_str("unknown key id"),
            TokenError::KeysUnavailable => f.write_str("signing keys unavailable"),
            TokenError::NoKeyForAlgorithm => f.write_str("no key for this algorithm"),
            TokenError::KidRequired => f.write_str("key id required"),
            TokenError::BadSignature => f.write_str("signature verification failed"),
            TokenError::WrongAudience => f.write_str("audience not allowed"),
            TokenError::MissingClaim(name) => write!(f, "missing required claim {name}"),
            TokenError::WrongType => f.write_str("token type not accepted"),
            TokenError::Expired => f.write_str("token expired"),
            TokenError::ExpiresTooSoon => f.write_str("token expires too soon"),
            TokenError::NotYetValid => f.write_str("token not yet valid"),
            TokenError::IssuedInFuture => f.write_str("token issued in the future"),
            TokenError::LifetimeTooLong => f.write_str("token lifetime too long"),
            TokenError::Revoked => f.write_str("token revoked"),
            TokenError::RevocationUnavailable => f.write_str("revocation status unavailable"),
            TokenError::EmbeddedMalformed => f.write_str("malformed embedded tokens claim"),
            TokenError::EmbeddedOutlivesParent => {
                f.write_str("embedded token outlives the token that carries it")
            }
            TokenError::Embedded(inner) => write!(f, "embedded token invalid: {inner}"),
        }
    }
}

impl TokenError {
    /// The provider whose remote JWKS should be refetched, if this failure calls for it
    /// (an unknown `kid`, also inside an embedded token).
    pub fn refetch(&self) -> Option<ProviderId> {
        match self {
            TokenError::UnknownKid { refetch } => *refetch,
            TokenError::Embedded(inner) => inner.refetch(),
            _ => None,
        }
    }
}
