//! The per-request decision: plain inputs in, a decision as data out. No host calls here.

use jwt_compact::Claims;

use crate::config::{FilterConfig, HeaderReads, Location, OnMissingEmbedded, ProviderId};
use crate::documents::Fetched;
use crate::request::cache::TokenCache;
use crate::request::extract::{self, ExtractError};
use crate::request::flow::{Answer, Callout};
use crate::request::narrow;
use crate::request::outcome::Outcome;
use crate::request::reply::{self, Challenge, Denial};
use crate::request::role::{LazyRole, ReadListenerRole};
use crate::request::route::{self, Requirement, RouteError};
use crate::request::verify::{self, AudienceCheck, Inputs};
use crate::token::claims::{filter_state_value, scalar_header_value, ClaimSet};
use crate::token::role::Role;
use crate::token::TokenError;

/// What the host tells the policy about one request.
#[derive(Clone, Copy)]
pub struct Request<'r> {
    /// Request headers as (lower-case name, raw value), pseudo-headers included: all of them,
    /// or only those `config.header_reads` names.
    pub headers: &'r [(String, Vec<u8>)],
    /// Reads the listener's `filter_metadata.jwt_relay.role`, raw, if set; called only when the
    /// decision depends on the role.
    pub listener_role: ReadListenerRole<'r>,
    /// Reads the cluster the route sends this request to, if any; called only for a request
    /// whose token verified, and only when some cluster is a narrowing target.
    pub cluster: &'r dyn Fn() -> Option<String>,
    /// The route's `filter_metadata.jwt_relay` as the host reads it (Envoy's map
    /// serialisation), `None` when the route has none: see `request::route`.
    pub route: Option<&'r [u8]>,
    /// Reads one request header the headers above may lack (one host call); only a rare path
    /// asks (is this tokenless request a CORS preflight?).
    pub header: &'r dyn Fn(&str) -> Option<Vec<u8>>,
    /// Unix seconds from the host clock.
    pub now: i64,
    /// Whether to put a token fingerprint in the facts (a SHA-256: only when it will be logged).
    pub fingerprint: bool,
}

/// Header edits for an allowed request, applied in order: remove, then set, then `:path`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderPlan {
    pub remove: Vec<String>,
    pub set: Vec<(String, String)>,
    /// The new `:path`, when a token must leave the query string.
    pub path: Option<String>,
    /// Response headers to set (replacing the upstream's copies) when the response comes back:
    /// the refresh hint.
    pub response: Vec<(String, String)>,
}

/// Facts for the log line, stats and filter state; never a token. The only claim values are
/// those `filter_state.claims` asks for, and they are not logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts<'c> {
    /// The listener's role, when the decision depended on it (`None`: the same on either role).
    pub role: Option<Role>,
    /// How the request ended; its name (`allowed`, `missing`, `expired`, …) is stable.
    pub outcome: Outcome,
    /// The provider's issuer, once the token's signature, issuer and audience are verified.
    pub issuer: Option<&'c str>,
    /// First 8 hex digits of SHA-256 over the presented token.
    pub fingerprint: Option<String>,
    /// The audience whose narrowed token was forwarded.
    pub narrowed_to: Option<&'c str>,
    /// A provider whose remote JWKS should be refetched: a token named a `kid` it lacks.
    pub refetch_jwks: Option<ProviderId>,
    /// (filter state key, value) of the configured claims of the presented token, once its
    /// signature, issuer and audience are verified (also when it is then refused, e.g. expired).
    pub claims: Vec<(String, String)>,
    /// Why the route's metadata was refused (outcome `route_invalid`), for the error log.
    pub route_error: Option<RouteError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<S = Resume> {
    Allow(HeaderPlan),
    /// Reply locally. `strip` lists client-sent headers the filter owns, removed all the same
    /// so that access logs do not show spoofed identity headers.
    Deny {
        denial: Denial,
        strip: Vec<String>,
    },
    /// Send `call`, pause, and decide again with `state` and the answer ([`resume`]).
    Callout {
        call: Callout,
        state: S,
    },
}

/// What a decision paused for a call out keeps until the answer. No decision calls out yet:
/// introspection (phantom tokens) and token exchange will add their states here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {}

/// Decides again once a call out is answered.
pub fn resume(state: Resume, _answer: Answer) -> Verdict {
    match state {}
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision<'c> {
    pub verdict: Verdict,
    pub facts: Facts<'c>,
}

/// Decides one request. `cache` is this VM's verified-token cache: the only state a decision
/// changes, and never in a way that can turn a refusal into a pass.
pub fn evaluate<'c>(
    config: &'c FilterConfig,
    fetched: &Fetched,
    cache: &mut TokenCache,
    request: &Request<'_>,
) -> Decision<'c> {
    let role = LazyRole::new(request.listener_role, config.role);
    let mut facts = Facts {
        role: None,
        outcome: Outcome::Allowed,
        issuer: None,
        fingerprint: None,
        narrowed_to: None,
        refetch_jwks: None,
        claims: Vec::new(),
        route_error: None,
    };
    // Client-sent copies of headers the filter owns. When the host read every header, only
    // those present cost a host call to remove; when it read only what a decision needs, the
    // owned headers were not read (a lookup costs as much as a removal), so all are removed.
    let spoofed: Vec<String> = config
        .owned_headers
        .iter()
        .filter(|owned| {
            config.header_reads != HeaderReads::All
                || request.headers.iter().any(|(name, _)| name == *owned)
        })
        .cloned()
        .collect();
    let deny =
        |facts: Facts<'c>, outcome: Outcome, challenge: Challenge, description: &str| Decision {
            verdict: Verdict::Deny {
                denial: reply::deny(&config.realm, challenge, description),
                strip: spoofed.clone(),
            },
            facts: Facts { outcome, ..facts },
        };
    let invalid = |facts: Facts<'c>, error: &TokenError| {
        let facts = Facts {
            refetch_jwks: error.refetch(),
            ..facts
        };
        deny(
            facts,
            Outcome::Invalid(error.refusal()),
            Challenge::InvalidToken,
            &error.to_string(),
        )
    };
    let rules = match route::parse(request.route, config) {
        Ok(rules) => rules,
        Err(error) => {
            return Decision {
                verdict: Verdict::Deny {
                    denial: reply::server_error("the route's jwt-relay settings are invalid"),
                    strip: spoofed.clone(),
                },
                facts: Facts {
                    outcome: Outcome::RouteInvalid,
                    route_error: Some(error),
                    ..facts
                },
            }
        }
    };
    let anonymous = |facts: Facts<'c>, outcome: Outcome| {
        let plan = HeaderPlan {
            remove: spoofed.clone(),
            ..HeaderPlan::default()
        };
        allow(plan, Facts { outcome, ..facts })
    };
    if rules.requirement == Requirement::None {
        return anonymous(facts, Outcome::NotRequired);
    }
    let path = match request.headers.iter().find(|(name, _)| name == ":path") {
        None => "/",
        Some((_, raw)) => match std::str::from_utf8(raw) {
            Ok(path) => path,
            // HTTP/2 delivers any bytes in `:path`. Read as anything else, a query token in it
            // would go unseen while the upstream still receives it.
            Err(_) if config.reads_query => {
                return deny(
                    facts,
                    Outcome::Ambiguous,
                    Challenge::InvalidRequest,
                    "the request path is not valid UTF-8",
                )
            }
            // No token is read from or removed from the path, so none can hide there.
            Err(_) => "/",
        },
    };

    let found = match extract::extract(request.headers, path, &config.locations) {
        Ok(Some(found)) => found,
        Ok(None) if rules.requirement == Requirement::AllowMissing => {
            return anonymous(facts, Outcome::Anonymous);
        }
        // A browser sends a preflight without credentials (Fetch standard, CORS-preflight
        // request); one that carries a token is not a preflight and is checked like any other.
        Ok(None) if config.bypass_cors_preflight && is_cors_preflight(request) => {
            return anonymous(facts, Outcome::CorsPreflight);
        }
        Ok(None) => {
            return deny(
                facts,
                Outcome::Missing,
                Challenge::Missing,
                "a bearer token is required",
            )
        }
        Err(ExtractError::Ambiguous) => {
            return deny(
                facts,
                Outcome::Ambiguous,
                Challenge::InvalidRequest,
                "more than one token in the request",
            )
        }
        Err(ExtractError::Malformed) => return invalid(facts, &TokenError::Malformed),
    };
    if found.token.len() > config.max_token_bytes {
        // Before the cache lookup, which hashes the whole token: the bound also bounds the work.
        return invalid(facts, &TokenError::TooLarge);
    }
    if request.fingerprint {
        facts.fingerprint = Some(verify::fingerprint(&found.token));
    }
    let inputs = Inputs {
        config,
        fetched,
        now: request.now,
    };

    let token = match verify::verify(
        &found.token,
        inputs,
        cache,
        Some(found.location),
        AudienceCheck::Provider,
    ) {
        Ok(token) => token,
        Err(error) => return invalid(facts, &error),
    };
    facts.issuer = Some(token.provider().issuer.as_str());
    facts.claims = exported_claims(config, token.claims());
    if let Some(accepted) = &rules.providers {
        if !accepted.contains(&token.provider().issuer) {
            return invalid(facts, &TokenError::ProviderNotAllowed);
        }
    }
    let admitted = verify::admit(&token, inputs, &role);
    facts.role = role.known();
    if let Err(error) = admitted {
        return invalid(facts, &error);
    }
    // Scopes are checked on the token presented here, once it is known to be admitted.
    let missing = route::missing_scopes(&token.claims().custom.0, &rules.scopes);
    if !missing.is_empty() {
        return Decision {
            verdict: Verdict::Deny {
                denial: reply::insufficient_scope(
                    &config.realm,
                    "the token lacks a scope this route requires",
                    &rules.scopes,
                ),
                strip: spoofed.clone(),
            },
            facts: Facts {
                outcome: Outcome::InsufficientScope,
                ..facts
            },
        };
    }

    let mut plan = HeaderPlan {
        remove: spoofed.clone(),
        response: refresh_hint(config, &token, request.now, &role),
        ..HeaderPlan::default()
    };
    facts.role = role.known();
    let cluster = if config.upstreams.is_empty() {
        None
    } else {
        (request.cluster)()
    };
    let Some(audience) = cluster.and_then(|cluster| config.upstreams.get(&cluster)) else {
        // Not a narrowing target: the token travels on as it came, already validated.
        set_claim_headers(config, token.claims(), &mut plan);
        return allow(plan, facts);
    };

    let embedded = match narrow::embedded_token(&token, &config.embedded_tokens_claim, audience) {
        Ok(embedded) => embedded,
        Err(error) => return invalid(facts, &error),
    };
    let Some(embedded) = embedded else {
        return match config.on_missing_embedded {
            OnMissingEmbedded::Deny => deny(
                facts,
                Outcome::EmbeddedMissing,
                Challenge::InsufficientScope,
                "no token for the requested service",
            ),
            OnMissingEmbedded::Strip => {
                remove_token(found.location, path, request.headers, &mut plan);
                allow(
                    plan,
                    Facts {
                        outcome: Outcome::Stripped,
                        ..facts
                    },
                )
            }
        };
    };
    let inner = narrow::verify_embedded(embedded, &token, inputs, cache, audience, &role);
    facts.role = role.known();
    let inner = match inner {
        Ok(inner) => inner,
        Err(error) => return invalid(facts, &error),
    };
    remove_token(found.location, path, request.headers, &mut plan);
    plan.set
        .push((config.forward_header.clone(), format!("Bearer {embedded}")));
    // The upstream learns about the caller only through the narrowed token.
    set_claim_headers(config, inner.claims(), &mut plan);
    facts.narrowed_to = Some(audience.as_str());
    allow(
        plan,
        Facts {
            outcome: Outcome::Narrowed,
            ..facts
        },
    )
}

/// Filter state keys, the outcome's first, `jwt_relay.issuer` and `jwt_relay.narrowed_to` when
/// known, then the configured claims: what the host stores under `wasm.<key>` for access logs and
/// later filters.
pub fn filter_state<'d>(
    config: &FilterConfig,
    decision: &'d Decision<'_>,
) -> Vec<(&'d str, &'d str)> {
    let facts = &decision.facts;
    let mut state = Vec::with_capacity(facts.claims.len().saturating_add(3));
    if config.filter_state.outcome {
        state.push(("jwt_relay.outcome", facts.outcome.name()));
        if let Some(issuer) = facts.issuer {
            state.push(("jwt_relay.issuer", issuer));
        }
        if let Some(audience) = facts.narrowed_to {
            state.push(("jwt_relay.narrowed_to", audience));
        }
    }
    state.extend(
        facts
            .claims
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str())),
    );
    state
}

fn exported_claims(config: &FilterConfig, claims: &Claims<ClaimSet>) -> Vec<(String, String)> {
    config
        .filter_state
        .claims
        .iter()
        .filter_map(|(claim, key)| {
            // jwt-compact keeps the time claims out of the custom set: Unix seconds, as sent.
            let time =
                |at: Option<chrono::DateTime<chrono::Utc>>| at.map(|at| at.timestamp().to_string());
            let value = match claim.as_str() {
                "exp" => time(claims.expiration),
                "nbf" => time(claims.not_before),
                "iat" => time(claims.issued_at),
                _ => claims.custom.get(claim).and_then(filter_state_value),
            }?;
            Some((key.clone(), value))
        })
        .collect()
}

/// An allowed request's plan, final: a header the plan sets needs no removal first (Envoy's
/// replace drops every client copy).
fn allow<'c>(mut plan: HeaderPlan, facts: Facts<'c>) -> Decision<'c> {
    plan.remove
        .retain(|name| !plan.set.iter().any(|(set, _)| set == name));
    Decision {
        verdict: Verdict::Allow(plan),
        facts,
    }
}

/// Takes the presented token off the request so that it does not travel upstream.
fn remove_token(
    location: &Location,
    path: &str,
    headers: &[(String, Vec<u8>)],
    plan: &mut HeaderPlan,
) {
    let mut remove = |name: &str| {
        if !plan.remove.iter().any(|removed| removed == name) {
            plan.remove.push(name.to_owned());
        }
    };
    match location {
        Location::Header { name, .. } => remove(name),
        Location::Param(name) => plan.path = Some(extract::remove_query_param(path, name)),
        // The other cookies travel on; the one that held the token does not.
        Location::Cookie(name) => match extract::remove_cookie(headers, name) {
            Some(rest) => plan.set.push(("cookie".to_owned(), rest)),
            None => remove("cookie"),
        },
    }
}

/// `OPTIONS` with `Origin` and `Access-Control-Request-Method` (Fetch standard §4.8). Read only
/// for a request without a token, so the common path pays nothing for it.
fn is_cors_preflight(request: &Request<'_>) -> bool {
    let read = |name: &str| match request.headers.iter().find(|(n, _)| n == name) {
        Some((_, value)) => Some(value.clone()),
        None => (request.header)(name),
    };
    let present = |name: &str| read(name).is_some_and(|value| !value.is_empty());
    read(":method").as_deref() == Some(b"OPTIONS")
        && present("origin")
        && present("access-control-request-method")
}

/// The refresh hint for an admitted token: at the edge, when it has less than the provider's
/// `refresh_hint_seconds` left, the response tells the client how many seconds remain.
fn refresh_hint(
    config: &FilterConfig,
    token: &verify::VerifiedToken<'_>,
    now: i64,
    role: &LazyRole<'_>,
) -> Vec<(String, String)> {
    let (Some(window), Some(exp)) = (
        token.provider().refresh_hint_seconds,
        token.claims().expiration.map(|exp| exp.timestamp()),
    ) else {
        return Vec::new();
    };
    let left = exp.saturating_sub(now);
    if left >= i64::try_from(window).unwrap_or(i64::MAX) || role.get() != Role::Edge {
        return Vec::new();
    }
    vec![(config.refresh_hint_header.clone(), left.max(0).to_string())]
}

fn set_claim_headers(config: &FilterConfig, claims: &Claims<ClaimSet>, plan: &mut HeaderPlan) {
    for mapping in &config.claim_to_headers {
        if let Some(value) = claims
            .custom
            .get(&mapping.claim)
            .and_then(scalar_header_value)
        {
            plan.set.push((mapping.header.clone(), value));
        }
    }
}
