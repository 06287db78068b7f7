//! The plugin configuration: parsed from JSON, then compiled into a validated runtime form.
//!
//! Parsing refuses unknown fields and wrong types; compiling checks values and keys. Either way
//! the error names the field (`providers[0].algorithms[1]`), and `on_configure` refuses the
//! config, so Envoy never runs with a config it does not understand.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use crate::token::alg::{Alg, KeyFamily};
use crate::token::keys::KeySet;
use crate::token::role::Role;
pub use crate::token::ProviderId;

pub const DEFAULT_REALM: &str = "jwt-relay";
pub const DEFAULT_EMBEDDED_TOKENS_CLAIM: &str = "embedded_tokens";
pub const DEFAULT_FORWARD_HEADER: &str = "authorization";
pub const DEFAULT_CLOCK_SKEW_SECONDS: u64 = 60;
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 16 * 1024;
pub const DEFAULT_JWKS_REFRESH_SECONDS: u64 = 300;
/// The shortest JWKS refresh a `Cache-Control` can ask for unless configured (or
/// `refresh_seconds`, if that is shorter).
pub const DEFAULT_JWKS_MIN_REFRESH_SECONDS: u64 = 60;
pub const DEFAULT_REVOCATION_REFRESH_SECONDS: u64 = 10;
pub const DEFAULT_FETCH_TIMEOUT_MS: u64 = 2000;
pub const DEFAULT_KID_MISS_COOLDOWN_SECONDS: u64 = 30;
pub const DEFAULT_JWKS_MAX_BYTES: usize = 256 * 1024;
pub const DEFAULT_REVOCATION_MAX_BYTES: usize = 1024 * 1024;
pub const DEFAULT_SESSION_CLAIM: &str = "sid";
pub const DEFAULT_CACHE_MAX_ENTRIES: usize = 1024;
pub const DEFAULT_CACHE_MAX_BYTES: usize = 4 * 1024 * 1024;
pub const DEFAULT_FILTER_STATE_CLAIM: &str = "sub";
pub const DEFAULT_REFRESH_HINT_HEADER: &str = "x-token-expires-in";
/// Upper bound of `min_remaining_seconds` and `refresh_hint_seconds`: a day.
const MAX_REMAINING_SECONDS: u64 = 86_400;
const MAX_CLOCK_SKEW_SECONDS: u64 = 3600;

/// Headers the filter must never set: they frame or route the request.
const PROTECTED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "upgrade",
    "trailer",
];

/// A configuration error, naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub field: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() || self.field == "." {
            write!(f, "invalid jwt-relay configuration: {}", self.reason)
        } else {
            write!(
                f,
                "invalid jwt-relay configuration at `{}`: {}",
                self.field, self.reason
            )
        }
    }
}

fn error(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        reason: reason.into(),
    }
}

// ---------- parsed form: the JSON contract ----------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    providers: Vec<RawProvider>,
    #[serde(default)]
    role: Role,
    #[serde(default)]
    internal_max_expired_seconds: Option<u64>,
    #[serde(default)]
    embedded_tokens_claim: Option<String>,
    #[serde(default)]
    upstreams: BTreeMap<String, RawUpstream>,
    #[serde(default)]
    on_missing_embedded: OnMissingEmbedded,
    #[serde(default)]
    forward_header: Option<String>,
    #[serde(default)]
    claim_to_headers: Vec<RawClaimHeader>,
    #[serde(default)]
    max_token_bytes: Option<usize>,
    #[serde(default)]
    realm: Option<String>,
    #[serde(default)]
    revocation: Option<RawRevocation>,
    #[serde(default)]
    cache: Option<RawCache>,
    #[serde(default)]
    filter_state: Option<RawFilterState>,
    #[serde(default)]
    bypass_cors_preflight: Option<bool>,
    #[serde(default)]
    refresh_hint_header: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFilterState {
    #[serde(default)]
    outcome: Option<bool>,
    #[serde(default)]
    claims: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCache {
    #[serde(default)]
    max_entries: Option<usize>,
    #[serde(default)]
    max_bytes: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    issuer: String,
    audiences: Vec<String>,
    #[serde(default)]
    algorithms: Option<Vec<String>>,
    #[serde(default)]
    local_jwks: Option<RawLocalJwks>,
    #[serde(default)]
    remote_jwks: Option<RawRemoteJwks>,
    #[serde(default)]
    from_headers: Option<Vec<RawHeaderSource>>,
    #[serde(default)]
    from_params: Vec<String>,
    #[serde(default)]
    from_cookies: Vec<String>,
    #[serde(default)]
    clock_skew_seconds: Option<u64>,
    #[serde(default)]
    min_remaining_seconds: Option<u64>,
    #[serde(default)]
    refresh_hint_seconds: Option<u64>,
    #[serde(default)]
    require_expiration: Option<bool>,
    #[serde(default)]
    max_lifetime_seconds: Option<u64>,
    #[serde(default)]
    required_claims: Vec<String>,
    #[serde(default)]
    token_types: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLocalJwks {
    /// The JWKS as a JSON string, or the JWKS object itself.
    inline: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRemoteJwks {
    cluster: String,
    path: String,
    #[serde(default)]
    authority: Option<String>,
    #[serde(default)]
    refresh_seconds: Option<u64>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    kid_miss_cooldown_seconds: Option<u64>,
    #[serde(default)]
    max_bytes: Option<usize>,
    #[serde(default)]
    min_refresh_seconds: Option<u64>,
    #[serde(default)]
    max_refresh_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRevocation {
    cluster: String,
    path: String,
    #[serde(default)]
    authority: Option<String>,
    #[serde(default)]
    refresh_seconds: Option<u64>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    claim: Option<String>,
    #[serde(default)]
    max_bytes: Option<usize>,
    #[serde(default)]
    on_unavailable: OnUnavailable,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeaderSource {
    name: String,
    #[serde(default)]
    value_prefix: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpstream {
    audience: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClaimHeader {
    claim: String,
    header: String,
}

// ---------- compiled form: what a request reads ----------

/// What to do when a listed upstream has no embedded token for its audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnMissingEmbedded {
    /// 403 `insufficient_scope`.
    #[default]
    Deny,
    /// Forward the request with no token at all.
    Strip,
}

/// What to do while no revocation list has been fetched yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUnavailable {
    /// 401: a token cannot be shown not to be revoked.
    #[default]
    Deny,
    /// Proceed without revocation checks until the first list arrives.
    Allow,
}

/// An HTTP document the filter fetches from an Envoy cluster (a JWKS, the revocation feed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedSource {
    pub cluster: String,
    pub path: String,
    pub authority: String,
    /// The refresh period, when the answer's `Cache-Control` says nothing usable (or is not
    /// honoured: `cache_control` is `None`).
    pub refresh_seconds: u64,
    pub timeout_ms: u64,
    pub max_bytes: usize,
    /// Whether a `Cache-Control: max-age` (or `no-cache`, `no-store`) on the answer sets the next
    /// refresh, and within which bounds (a JWKS: yes; the revocation feed: no, `None`).
    pub cache_control: Option<RefreshBounds>,
}

/// The bounds a `Cache-Control` is held to (`min_refresh_seconds`, `max_refresh_seconds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshBounds {
    pub min_seconds: u64,
    pub max_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteJwks {
    pub source: FeedSource,
    /// At most one refetch per this many seconds for tokens with an unknown `kid`.
    pub kid_miss_cooldown_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub source: FeedSource,
    /// The claim whose value the feed lists (a session or refresh-token id).
    pub claim: String,
    pub on_unavailable: OnUnavailable,
}

/// Where a token may be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A request header (lower-case name); the prefix (e.g. `Bearer `) matches case-insensitively.
    Header { name: String, prefix: String },
    /// A query parameter of `:path`.
    Param(String),
    /// A cookie of the `cookie` header (RFC 6265 §4.2), by its exact name.
    Cookie(String),
}

#[derive(Debug)]
pub struct Provider {
    pub issuer: String,
    pub audiences: Vec<String>,
    pub algorithms: Vec<Alg>,
    /// Keys from `local_jwks` (empty when only `remote_jwks` is set).
    pub keys: KeySet,
    pub remote_jwks: Option<RemoteJwks>,
    pub locations: Vec<Location>,
    pub clock_skew_seconds: u64,
    /// At the edge, a token with less lifetime left than this is refused (the client refreshes).
    pub min_remaining_seconds: Option<u64>,
    /// At the edge, a token that passes with less lifetime left than this gets the refresh
    /// hint response header.
    pub refresh_hint_seconds: Option<u64>,
    pub require_expiration: bool,
    pub max_lifetime_seconds: Option<u64>,
    pub required_claims: Vec<String>,
    /// Accepted `typ` header values, normalised by [`normalize_type`]. `None`: no `typ`, `JWT`
    /// or `at+jwt`; a list: `typ` present and listed (RFC 8725 §3.11 explicit typing).
    pub token_types: Option<Vec<String>>,
}

/// A `typ` value as compared: media types are case-insensitive and `application/` may be
/// left out (RFC 7515 §4.1.9), so `application/AT+JWT` and `at+jwt` are one type.
pub fn normalize_type(typ: &str) -> String {
    let lower = typ.to_ascii_lowercase();
    match lower.strip_prefix("application/") {
        Some(rest) => rest.to_owned(),
        None => lower,
    }
}

/// Headers Envoy itself joins when a request repeats them (inline headers: `a, b` in one value),
/// so a single-value lookup still sees every copy and the ambiguity check holds.
const JOINED_BY_ENVOY: &[&str] = &["authorization"];

/// Which request headers the host reads for a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderReads {
    /// All of them in one call: some token header is one Envoy may pass as separate copies.
    All,
    /// Only these, one lookup each: every token header is joined by Envoy, so one lookup cannot
    /// miss a second token. The token headers, and `:path` when a token may be in the query.
    /// The headers the filter owns are not read: their client copies are removed (or replaced)
    /// whether present or not, which costs what a lookup would.
    Only(Vec<String>),
}

/// What the filter leaves in Envoy's filter state for access logs and later filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterStateExport {
    /// `jwt_relay.outcome`, and `jwt_relay.issuer` / `jwt_relay.narrowed_to` when known.
    pub outcome: bool,
    /// (claim, filter state key `jwt_relay.claim.<claim>`) of the verified token.
    pub claims: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimHeader {
    pub claim: String,
    pub header: String,
}

/// Bounds of the verified-token cache (`cache`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    pub max_entries: usize,
    pub max_bytes: usize,
}

#[derive(Debug)]
pub struct FilterConfig {
    pub providers: Vec<Provider>,
    pub role: Role,
    pub internal_max_expired_seconds: Option<u64>,
    pub embedded_tokens_claim: String,
    /// Cluster name → the audience of the narrowed token it receives.
    pub upstreams: BTreeMap<String, String>,
    pub on_missing_embedded: OnMissingEmbedded,
    pub forward_header: String,
    pub claim_to_headers: Vec<ClaimHeader>,
    pub max_token_bytes: usize,
    pub realm: String,
    pub revocation: Option<Revocation>,
    /// Bounds of the per-VM verified-token cache (`max_entries` 0 turns it off).
    pub cache: CacheLimits,
    pub filter_state: FilterStateExport,
    /// Every location of every provider, without repeats: where the filter looks for a token.
    pub locations: Vec<Location>,
    /// Whether some location is a query parameter: then `:path` is read for tokens.
    pub reads_query: bool,
    /// Client-sent copies of these headers are removed from every request: the filter sets them.
    pub owned_headers: Vec<String>,
    pub header_reads: HeaderReads,
    /// CORS preflights (`OPTIONS` with `Origin` and `Access-Control-Request-Method`, no token)
    /// pass without a token.
    pub bypass_cors_preflight: bool,
    /// The response header that tells a client how many seconds its token has left.
    pub refresh_hint_header: String,
    /// Notes for the start-up log (skipped keys and the like).
    pub notes: Vec<String>,
}

impl FilterConfig {
    /// Parses and validates the plugin configuration JSON.
    pub fn from_json(bytes: &[u8]) -> Result<FilterConfig, ConfigError> {
        let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
        let raw: RawConfig = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let field = e.path().to_string();
            error(field, e.into_inner().to_string())
        })?;
        compile(raw)
    }

    pub fn provider(&self, id: ProviderId) -> Option<&Provider> {
        self.providers.get(id.index())
    }

    /// Every provider with its id, in config order.
    pub fn providers_with_ids(&self) -> impl Iterator<Item = (ProviderId, &Provider)> {
        self.providers
            .iter()
            .enumerate()
            .map(|(index, provider)| (ProviderId::from_index(index), provider))
    }
}

fn compile(raw: RawConfig) -> Result<FilterConfig, ConfigError> {
    if raw.providers.is_empty() {
        return Err(error("providers", "at least one provider is required"));
    }
    let mut notes = Vec::new();
    let mut providers: Vec<Provider> = Vec::new();
    for (index, raw_provider) in raw.providers.into_iter().enumerate() {
        let field = format!("providers[{index}]");
        let provider = compile_provider(&field, raw_provider, &mut notes)?;
        if providers.iter().any(|p| p.issuer == provider.issuer) {
            return Err(error(
                format!("{field}.issuer"),
                "another provider has the same issuer",
            ));
        }
        providers.push(provider);
    }

    let mut locations: Vec<Location> = Vec::new();
    for location in providers.iter().flat_map(|p| p.locations.iter()) {
        if !locations.contains(location) {
            locations.push(location.clone());
        }
    }
    // Header names that carry tokens, each once (two providers may read one header with
    // different prefixes).
    let mut token_headers: Vec<&str> = Vec::new();
    for location in &locations {
        if let Location::Header { name, .. } = location {
            if !token_headers.contains(&name.as_str()) {
                token_headers.push(name);
            }
        }
    }

    let embedded_tokens_claim = raw
        .embedded_tokens_claim
        .unwrap_or_else(|| DEFAULT_EMBEDDED_TOKENS_CLAIM.into());
    if embedded_tokens_claim.is_empty() {
        return Err(error("embedded_tokens_claim", "must not be empty"));
    }

    let mut upstreams = BTreeMap::new();
    for (cluster, upstream) in raw.upstreams {
        if cluster.is_empty() {
            return Err(error("upstreams", "cluster names must not be empty"));
        }
        if upstream.audience.is_empty() {
            return Err(error(
                format!("upstreams.{cluster}.audience"),
                "must not be empty",
            ));
        }
        upstreams.insert(cluster, upstream.audience);
    }

    let forward_header = header_name(
        "forward_header",
        raw.forward_header
            .as_deref()
            .unwrap_or(DEFAULT_FORWARD_HEADER),
    )?;

    let mut claim_to_headers: Vec<ClaimHeader> = Vec::new();
    for (index, mapping) in raw.claim_to_headers.into_iter().enumerate() {
        let field = format!("claim_to_headers[{index}]");
        if mapping.claim.is_empty() {
            return Err(error(format!("{field}.claim"), "must not be empty"));
        }
        let header = header_name(&format!("{field}.header"), &mapping.header)?;
        if header == forward_header || token_headers.contains(&header.as_str()) {
            return Err(error(
                format!("{field}.header"),
                "must differ from forward_header and from every token header",
            ));
        }
        if claim_to_headers.iter().any(|c| c.header == header) {
            return Err(error(
                format!("{field}.header"),
                "is already set from another claim",
            ));
        }
        claim_to_headers.push(ClaimHeader {
            claim: mapping.claim,
            header,
        });
    }

    let max_token_bytes = raw.max_token_bytes.unwrap_or(DEFAULT_MAX_TOKEN_BYTES);
    if !(256..=64 * 1024).contains(&max_token_bytes) {
        return Err(error("max_token_bytes", "must be between 256 and 65536"));
    }

    let revocation = raw.revocation.map(compile_revocation).transpose()?;
    let cache = CacheLimits {
        max_entries: raw
            .cache
            .as_ref()
            .and_then(|c| c.max_entries)
            .unwrap_or(DEFAULT_CACHE_MAX_ENTRIES),
        max_bytes: raw
            .cache
            .as_ref()
            .and_then(|c| c.max_bytes)
            .unwrap_or(DEFAULT_CACHE_MAX_BYTES),
    };
    if cache.max_entries > 1_000_000 {
        return Err(error("cache.max_entries", "must be at most 1000000"));
    }
    if cache.max_bytes > 1024 * 1024 * 1024 {
        return Err(error("cache.max_bytes", "must be at most 1073741824"));
    }

    let filter_state = compile_filter_state(raw.filter_state)?;

    let realm = raw.realm.unwrap_or_else(|| DEFAULT_REALM.into());
    // A quoted-string without escapes (RFC 6750 §3), so it can be written into the header as is.
    if realm.is_empty()
        || !realm
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        return Err(error(
            "realm",
            "must be non-empty printable ASCII without '\"' or '\\'",
        ));
    }

    // Client-sent copies of every header the filter sets are removed. The forward header is
    // exempt when it is also where tokens come from: there the filter replaces it instead.
    let mut owned_headers: Vec<String> =
        claim_to_headers.iter().map(|c| c.header.clone()).collect();
    if !token_headers.contains(&forward_header.as_str()) {
        owned_headers.push(forward_header.clone());
    }

    let reads_query = locations.iter().any(|l| matches!(l, Location::Param(_)));
    // A request may carry several `cookie` headers (HTTP/1.1 and HTTP/2 alike), and a single
    // lookup returns only the first: cookies need every header.
    let reads_cookies = locations.iter().any(|l| matches!(l, Location::Cookie(_)));
    let header_reads = if !reads_cookies
        && token_headers
            .iter()
            .all(|name| JOINED_BY_ENVOY.contains(name))
    {
        let mut names: Vec<String> = token_headers.iter().map(|name| name.to_string()).collect();
        if reads_query {
            names.push(":path".to_owned());
        }
        HeaderReads::Only(names)
    } else {
        HeaderReads::All
    };

    let refresh_hint_header = header_name(
        "refresh_hint_header",
        raw.refresh_hint_header
            .as_deref()
            .unwrap_or(DEFAULT_REFRESH_HINT_HEADER),
    )?;
    if matches!(
        refresh_hint_header.as_str(),
        "www-authenticate" | "set-cookie" | "cache-control" | "content-type" | "location"
    ) {
        return Err(error(
            "refresh_hint_header",
            "must not be a header the response already uses for something else",
        ));
    }

    Ok(FilterConfig {
        providers,
        role: raw.role,
        internal_max_expired_seconds: raw.internal_max_expired_seconds,
        embedded_tokens_claim,
        upstreams,
        on_missing_embedded: raw.on_missing_embedded,
        forward_header,
        claim_to_headers,
        max_token_bytes,
        realm,
        revocation,
        cache,
        filter_state,
        locations,
        reads_query,
        owned_headers,
        header_reads,
        bypass_cors_preflight: raw.bypass_cors_preflight.unwrap_or(true),
        refresh_hint_header,
        notes,
    })
}

fn compile_provider(
    field: &str,
    raw: RawProvider,
    notes: &mut Vec<String>,
) -> Result<Provider, ConfigError> {
    if raw.issuer.is_empty() {
        return Err(error(format!("{field}.issuer"), "must not be empty"));
    }
    // RFC 8725 §3.9: a token meant for another service must not be accepted here.
    if raw.audiences.is_empty() {
        return Err(error(
            format!("{field}.audiences"),
            "at least one audience is required",
        ));
    }
    if let Some(index) = raw.audiences.iter().position(String::is_empty) {
        return Err(error(
            format!("{field}.audiences[{index}]"),
            "must not be empty",
        ));
    }

    let algorithms = match raw.algorithms {
        None => Alg::ASYMMETRIC.to_vec(),
        Some(names) => {
            if names.is_empty() {
                return Err(error(
                    format!("{field}.algorithms"),
                    "must list at least one algorithm",
                ));
            }
            let mut algorithms = Vec::new();
            for (index, name) in names.iter().enumerate() {
                let alg = Alg::from_name(name).ok_or_else(|| {
                    let supported: Vec<&str> = Alg::ALL.iter().map(|a| a.name()).collect();
                    error(
                        format!("{field}.algorithms[{index}]"),
                        format!(
                            "unsupported algorithm {name:?}; supported: {}",
                            supported.join(", ")
                        ),
                    )
                })?;
                if !algorithms.contains(&alg) {
                    algorithms.push(alg);
                }
            }
            algorithms
        }
    };

    if raw.local_jwks.is_none() && raw.remote_jwks.is_none() {
        return Err(error(
            format!("{field}.local_jwks"),
            "set local_jwks, remote_jwks, or both",
        ));
    }
    let keys = match raw.local_jwks {
        None => KeySet::default(),
        Some(local) => {
            let jwks_field = format!("{field}.local_jwks.inline");
            let jwks = match local.inline {
                Value::String(text) => serde_json::from_str::<Value>(&text)
                    .map_err(|e| error(&jwks_field, format!("not valid JSON: {e}")))?,
                object @ Value::Object(_) => object,
                _ => {
                    return Err(error(
                        &jwks_field,
                        "must be a JWKS object or a JSON string holding one",
                    ))
                }
            };
            let parsed = KeySet::from_jwks(&jwks).map_err(|e| error(&jwks_field, e.0))?;
            notes.extend(
                parsed
                    .skipped
                    .into_iter()
                    .map(|note| format!("{jwks_field}: {note}")),
            );
            parsed.keys
        }
    };
    let remote_jwks = match raw.remote_jwks {
        None => None,
        Some(remote) => {
            let remote_field = format!("{field}.remote_jwks");
            let cooldown = remote
                .kid_miss_cooldown_seconds
                .unwrap_or(DEFAULT_KID_MISS_COOLDOWN_SECONDS);
            if !(1..=3600).contains(&cooldown) {
                return Err(error(
                    format!("{remote_field}.kid_miss_cooldown_seconds"),
                    "must be between 1 and 3600",
                ));
            }
            let bounds_set = RefreshFields {
                refresh_seconds: remote.refresh_seconds.is_some(),
                min_refresh_seconds: remote.min_refresh_seconds,
                max_refresh_seconds: remote.max_refresh_seconds,
            };
            let mut source = compile_source(
                &remote_field,
                SourceFields {
                    cluster: remote.cluster,
                    path: remote.path,
                    authority: remote.authority,
                    refresh_seconds: remote.refresh_seconds,
                    timeout_ms: remote.timeout_ms,
                    max_bytes: remote.max_bytes,
                },
                DEFAULT_JWKS_REFRESH_SECONDS,
                DEFAULT_JWKS_MAX_BYTES,
            )?;
            source.cache_control = Some(compile_refresh_bounds(
                &remote_field,
                source.refresh_seconds,
                bounds_set,
            )?);
            Some(RemoteJwks {
                source,
                kid_miss_cooldown_seconds: cooldown,
            })
        }
    };

    let allows_hmac = algorithms
        .iter()
        .any(|a| a.key_family() == KeyFamily::Symmetric);
    if allows_hmac && !keys.has_family(KeyFamily::Symmetric) {
        // Symmetric keys are secrets: they are only taken from local_jwks, never fetched.
        return Err(error(
            format!("{field}.algorithms"),
            "an HS algorithm is listed but local_jwks holds no \"oct\" key",
        ));
    }
    if !allows_hmac && keys.has_family(KeyFamily::Symmetric) {
        notes.push(format!(
            "{field}.local_jwks: \"oct\" keys are ignored because no HS algorithm is listed"
        ));
    }

    let mut locations = Vec::new();
    let headers = raw.from_headers.unwrap_or_else(|| {
        vec![RawHeaderSource {
            name: "authorization".into(),
            value_prefix: "Bearer ".into(),
        }]
    });
    for (index, source) in headers.into_iter().enumerate() {
        let name = header_name(&format!("{field}.from_headers[{index}].name"), &source.name)?;
        locations.push(Location::Header {
            name,
            prefix: source.value_prefix,
        });
    }
    for (index, name) in raw.from_params.into_iter().enumerate() {
        if name.is_empty()
            || name
                .bytes()
                .any(|b| matches!(b, b'&' | b'=' | b'#' | b'?') || !b.is_ascii_graphic())
        {
            return Err(error(
                format!("{field}.from_params[{index}]"),
                "not a valid query parameter name",
            ));
        }
        locations.push(Location::Param(name));
    }
    for (index, name) in raw.from_cookies.into_iter().enumerate() {
        // An RFC 6265 cookie-name: an RFC 9110 token.
        let separator = |b: u8| b"()<>@,;:\\\"/[]?={}".contains(&b);
        if name.is_empty() || name.bytes().any(|b| !b.is_ascii_graphic() || separator(b)) {
            return Err(error(
                format!("{field}.from_cookies[{index}]"),
                "not a valid cookie name",
            ));
        }
        locations.push(Location::Cookie(name));
    }
    if locations.is_empty() {
        return Err(error(
            format!("{field}.from_headers"),
            "no token location: set from_headers, from_params or from_cookies",
        ));
    }

    let clock_skew_seconds = raw.clock_skew_seconds.unwrap_or(DEFAULT_CLOCK_SKEW_SECONDS);
    if clock_skew_seconds > MAX_CLOCK_SKEW_SECONDS {
        return Err(error(
            format!("{field}.clock_skew_seconds"),
            format!("must be at most {MAX_CLOCK_SKEW_SECONDS}"),
        ));
    }
    for (name, value) in [
        ("min_remaining_seconds", raw.min_remaining_seconds),
        ("refresh_hint_seconds", raw.refresh_hint_seconds),
    ] {
        if value.is_some_and(|seconds| !(1..=MAX_REMAINING_SECONDS).contains(&seconds)) {
            return Err(error(
                format!("{field}.{name}"),
                format!("must be between 1 and {MAX_REMAINING_SECONDS}"),
            ));
        }
    }
    if let (Some(hint), Some(min)) = (raw.refresh_hint_seconds, raw.min_remaining_seconds) {
        if hint <= min {
            // Every token inside the hint window would be refused before it got the hint.
            return Err(error(
                format!("{field}.refresh_hint_seconds"),
                "must be greater than min_remaining_seconds",
            ));
        }
    }
    if let (Some(min), Some(max)) = (raw.min_remaining_seconds, raw.max_lifetime_seconds) {
        if min >= max {
            return Err(error(
                format!("{field}.min_remaining_seconds"),
                "must be less than max_lifetime_seconds, or no token could pass",
            ));
        }
    }
    if raw.max_lifetime_seconds == Some(0) {
        return Err(error(
            format!("{field}.max_lifetime_seconds"),
            "must be greater than 0",
        ));
    }
    if let Some(index) = raw
        .required_claims
        .iter()
        .position(|c| c.is_empty() || c.contains(['"', '\\']))
    {
        return Err(error(
            format!("{field}.required_claims[{index}]"),
            "not a valid claim name",
        ));
    }

    let token_types = match raw.token_types {
        None => None,
        Some(types) => {
            if types.is_empty() {
                return Err(error(
                    format!("{field}.token_types"),
                    "list at least one type, or leave the field out for the default",
                ));
            }
            let mut normalized: Vec<String> = Vec::new();
            for (index, typ) in types.iter().enumerate() {
                let valid = !typ.is_empty() && typ.bytes().all(|b| b.is_ascii_graphic());
                if !valid {
                    return Err(error(
                        format!("{field}.token_types[{index}]"),
                        format!("{typ:?} is not a media type"),
                    ));
                }
                let typ = normalize_type(typ);
                if !normalized.contains(&typ) {
                    normalized.push(typ);
                }
            }
            Some(normalized)
        }
    };

    Ok(Provider {
        issuer: raw.issuer,
        audiences: raw.audiences,
        algorithms,
        keys,
        remote_jwks,
        locations,
        clock_skew_seconds,
        min_remaining_seconds: raw.min_remaining_seconds,
        refresh_hint_seconds: raw.refresh_hint_seconds,
        require_expiration: raw.require_expiration.unwrap_or(true),
        max_lifetime_seconds: raw.max_lifetime_seconds,
        required_claims: raw.required_claims,
        token_types,
    })
}

/// The fields every fetched document shares.
struct SourceFields {
    cluster: String,
    path: String,
    authority: Option<String>,
    refresh_seconds: Option<u64>,
    timeout_ms: Option<u64>,
    max_bytes: Option<usize>,
}

fn compile_source(
    field: &str,
    raw: SourceFields,
    default_refresh: u64,
    default_max_bytes: usize,
) -> Result<FeedSource, ConfigError> {
    if raw.cluster.is_empty() {
        return Err(error(
            format!("{field}.cluster"),
            "must name an Envoy cluster",
        ));
    }
    let printable = |text: &str| text.bytes().all(|b| b.is_ascii_graphic());
    if !raw.path.starts_with('/') || !printable(&raw.path) {
        return Err(error(
            format!("{field}.path"),
            "must start with '/' and hold no spaces or control characters",
        ));
    }
    let authority = raw.authority.unwrap_or_else(|| raw.cluster.clone());
    if authority.is_empty() || !printable(&authority) || authority.contains('/') {
        return Err(error(
            format!("{field}.authority"),
            "not a valid host[:port]",
        ));
    }
    let refresh_seconds = raw.refresh_seconds.unwrap_or(default_refresh);
    if !(1..=86_400).contains(&refresh_seconds) {
        return Err(error(
            format!("{field}.refresh_seconds"),
            "must be between 1 and 86400",
        ));
    }
    let timeout_ms = raw.timeout_ms.unwrap_or(DEFAULT_FETCH_TIMEOUT_MS);
    if !(1..=60_000).contains(&timeout_ms) {
        return Err(error(
            format!("{field}.timeout_ms"),
            "must be between 1 and 60000",
        ));
    }
    let max_bytes = raw.max_bytes.unwrap_or(default_max_bytes);
    if !(1024..=16 * 1024 * 1024).contains(&max_bytes) {
        return Err(error(
            format!("{field}.max_bytes"),
            "must be between 1024 and 16777216",
        ));
    }
    Ok(FeedSource {
        cluster: raw.cluster,
        path: raw.path,
        authority,
        refresh_seconds,
        timeout_ms,
        max_bytes,
        cache_control: None,
    })
}

/// What a `remote_jwks` says about its refresh bounds.
struct RefreshFields {
    /// Whether `refresh_seconds` was set (it is compiled already).
    refresh_seconds: bool,
    min_refresh_seconds: Option<u64>,
    max_refresh_seconds: Option<u64>,
}

/// The bounds a JWKS's `Cache-Control` is held to. By default a `max-age` may bring the next
/// refresh forward to [`DEFAULT_JWKS_MIN_REFRESH_SECONDS`] (or `refresh_seconds`, if shorter),
/// never put it off past `refresh_seconds`: unconfigured, keys are never older than today.
/// An inconsistent set is refused naming a field the config sets.
fn compile_refresh_bounds(
    field: &str,
    refresh_seconds: u64,
    raw: RefreshFields,
) -> Result<RefreshBounds, ConfigError> {
    for (name, value) in [
        ("min_refresh_seconds", raw.min_refresh_seconds),
        ("max_refresh_seconds", raw.max_refresh_seconds),
    ] {
        if value.is_some_and(|value| !(1..=86_400).contains(&value)) {
            return Err(error(
                format!("{field}.{name}"),
                "must be between 1 and 86400",
            ));
        }
    }
    let min_seconds = raw
        .min_refresh_seconds
        .unwrap_or(DEFAULT_JWKS_MIN_REFRESH_SECONDS.min(refresh_seconds));
    let max_seconds = raw.max_refresh_seconds.unwrap_or(refresh_seconds);
    if min_seconds > max_seconds {
        let name = if raw.min_refresh_seconds.is_none() {
            "max_refresh_seconds"
        } else {
            "min_refresh_seconds"
        };
        return Err(error(
            format!("{field}.{name}"),
            format!(
                "min_refresh_seconds ({min_seconds}) must not be more than max_refresh_seconds ({max_seconds})"
            ),
        ));
    }
    if !(min_seconds..=max_seconds).contains(&refresh_seconds) {
        let name = if raw.refresh_seconds {
            "refresh_seconds"
        } else if refresh_seconds < min_seconds {
            "min_refresh_seconds"
        } else {
            "max_refresh_seconds"
        };
        return Err(error(
            format!("{field}.{name}"),
            format!(
                "refresh_seconds ({refresh_seconds}) must be within min_refresh_seconds ({min_seconds}) and max_refresh_seconds ({max_seconds})"
            ),
        ));
    }
    Ok(RefreshBounds {
        min_seconds,
        max_seconds,
    })
}

fn compile_revocation(raw: RawRevocation) -> Result<Revocation, ConfigError> {
    let claim = raw.claim.unwrap_or_else(|| DEFAULT_SESSION_CLAIM.into());
    if claim.is_empty() {
        return Err(error("revocation.claim", "must not be empty"));
    }
    Ok(Revocation {
        source: compile_source(
            "revocation",
            SourceFields {
                cluster: raw.cluster,
                path: raw.path,
                authority: raw.authority,
                refresh_seconds: raw.refresh_seconds,
                timeout_ms: raw.timeout_ms,
                max_bytes: raw.max_bytes,
            },
            DEFAULT_REVOCATION_REFRESH_SECONDS,
            DEFAULT_REVOCATION_MAX_BYTES,
        )?,
        claim,
        on_unavailable: raw.on_unavailable,
    })
}

/// Validates a header name the filter reads or writes, returning it in lower case.
fn compile_filter_state(raw: Option<RawFilterState>) -> Result<FilterStateExport, ConfigError> {
    let outcome = raw.as_ref().and_then(|r| r.outcome).unwrap_or(true);
    let names = raw
        .and_then(|r| r.claims)
        .unwrap_or_else(|| vec![DEFAULT_FILTER_STATE_CLAIM.to_owned()]);
    let mut claims: Vec<(String, String)> = Vec::new();
    for (index, claim) in names.into_iter().enumerate() {
        // The key is written into access-log formats (`%FILTER_STATE(wasm.<key>:PLAIN)%`), where
        // `:` and `)` would end it: keep claim names to a safe set.
        let safe = !claim.is_empty()
            && claim
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        if !safe {
            return Err(error(
                format!("filter_state.claims[{index}]"),
                format!("{claim:?} must be non-empty and only letters, digits, '_', '-' or '.'"),
            ));
        }
        if claims.iter().any(|(seen, _)| *seen == claim) {
            return Err(error(
                format!("filter_state.claims[{index}]"),
                format!("{claim:?} is listed twice"),
            ));
        }
        let key = format!("jwt_relay.claim.{claim}");
        claims.push((claim, key));
    }
    Ok(FilterStateExport { outcome, claims })
}

fn header_name(field: &str, name: &str) -> Result<String, ConfigError> {
    let lower = name.to_ascii_lowercase();
    // RFC 9110 token characters; pseudo-headers (`:path`) are not headers a filter may own.
    let is_token = !lower.is_empty()
        && lower
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !is_token {
        return Err(error(field, format!("{name:?} is not a valid header name")));
    }
    if PROTECTED_HEADERS.contains(&lower.as_str()) {
        return Err(error(
            field,
            format!("{name:?} frames or routes the request and cannot be used"),
        ));
    }
    Ok(lower)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Public test keys from RFC 8037 §A.2 (Ed25519) and RFC 7515 §A.3 (P-256).
    fn jwks() -> Value {
        json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty": "EC", "crv": "P-256", "kid": "ec",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
        ]})
    }

    fn minimal() -> Value {
        json!({"providers": [{"issuer": "https://idp", "audiences": ["api"], "local_jwks": {"inline": jwks()}}]})
    }

    fn parse(config: &Value) -> Result<FilterConfig, ConfigError> {
        FilterConfig::from_json(config.to_string().as_bytes())
    }

    fn refused(config: Value) -> ConfigError {
        parse(&config).unwrap_err()
    }

    /// Applies each case's changes to the minimal config (or to its provider) and expects a
    /// refusal naming `field`.
    fn assert_refused_at(cases: Vec<(&str, Value, &str)>, in_provider: bool) {
        for (name, changes, field) in cases {
            let mut config = minimal();
            let target = if in_provider {
                &mut config["providers"][0]
            } else {
                &mut config
            };
            for (key, value) in changes.as_object().unwrap() {
                target[key] = value.clone();
            }
            let error = refused(config);
            assert_eq!(error.field, field, "{name}: {error}");
        }
    }

    #[test]
    fn defaults_are_documented_values() {
        let config = parse(&minimal()).unwrap();
        assert_eq!(config.role, Role::Edge);
        assert_eq!(config.embedded_tokens_claim, "embedded_tokens");
        assert_eq!(config.forward_header, "authorization");
        assert!(config.bypass_cors_preflight);
        assert_eq!(config.refresh_hint_header, "x-token-expires-in");
        assert_eq!(config.providers[0].min_remaining_seconds, None);
        assert_eq!(config.providers[0].refresh_hint_seconds, None);
        assert_eq!(config.on_missing_embedded, OnMissingEmbedded::Deny);
        assert_eq!(config.max_token_bytes, DEFAULT_MAX_TOKEN_BYTES);
        assert_eq!(config.realm, "jwt-relay");
        assert_eq!(config.internal_max_expired_seconds, None);
        let provider = &config.providers[0];
        assert_eq!(provider.clock_skew_seconds, 60);
        assert!(provider.require_expiration);
        assert_eq!(provider.algorithms, Alg::ASYMMETRIC.to_vec());
        assert_eq!(
            provider.locations,
            vec![Location::Header {
                name: "authorization".into(),
                prefix: "Bearer ".into()
            }]
        );
        assert!(config.owned_headers.is_empty());
        assert_eq!(
            config.filter_state,
            FilterStateExport {
                outcome: true,
                claims: vec![("sub".into(), "jwt_relay.claim.sub".into())],
            }
        );
    }

    #[test]
    fn only_the_headers_a_decision_needs_are_read_when_envoy_joins_the_token_header() {
        let mut config = minimal();
        config["claim_to_headers"] = json!([{"claim": "sub", "header": "x-jwt-sub"}]);
        assert_eq!(
            parse(&config).unwrap().header_reads,
            HeaderReads::Only(vec!["authorization".into()])
        );
        config["providers"][0]["from_params"] = json!(["access_token"]);
        assert_eq!(
            parse(&config).unwrap().header_reads,
            HeaderReads::Only(vec!["authorization".into(), ":path".into()])
        );
        // Two providers reading `authorization` with different prefixes: one lookup, not two
        // (two copies of one header would read as two tokens).
        let mut second = config["providers"][0].clone();
        second["issuer"] = json!("https://other.example.com");
        second["from_headers"] = json!([{"name": "authorization", "value_prefix": "JWT "}]);
        second["from_params"] = json!([]);
        config["providers"] = json!([config["providers"][0].clone(), second]);
        assert_eq!(
            parse(&config).unwrap().header_reads,
            HeaderReads::Only(vec!["authorization".into(), ":path".into()])
        );
        // A custom token header may arrive twice as two entries, and a single lookup returns
        // only the first: every header is read so that the second copy is seen.
        config["providers"][0]["from_headers"] = json!([{"name": "x-token"}]);
        assert_eq!(parse(&config).unwrap().header_reads, HeaderReads::All);
        // Several `cookie` headers are several values: only reading them all sees every one.
        let mut config = minimal();
        config["providers"][0]["from_cookies"] = json!(["session_at"]);
        let compiled = parse(&config).unwrap();
        assert_eq!(compiled.header_reads, HeaderReads::All);
        assert!(compiled
            .locations
            .contains(&Location::Cookie("session_at".into())));
    }

    #[test]
    fn token_types_are_compared_as_media_types() {
        let mut config = minimal();
        assert_eq!(parse(&config).unwrap().providers[0].token_types, None);
        config["providers"][0]["token_types"] = json!(["application/AT+JWT", "at+jwt", "JWT"]);
        assert_eq!(
            parse(&config).unwrap().providers[0].token_types,
            Some(vec!["at+jwt".to_owned(), "jwt".to_owned()])
        );
    }

    #[test]
    fn filter_state_can_be_turned_off_or_widened() {
        let mut config = minimal();
        config["filter_state"] = json!({"outcome": false, "claims": []});
        let off = parse(&config).unwrap().filter_state;
        assert!(!off.outcome && off.claims.is_empty());
        config["filter_state"] = json!({"claims": ["sub", "client_id", "org.id"]});
        let wide = parse(&config).unwrap().filter_state;
        assert!(wide.outcome);
        assert_eq!(
            wide.claims
                .iter()
                .map(|(_, key)| key.as_str())
                .collect::<Vec<_>>(),
            [
                "jwt_relay.claim.sub",
                "jwt_relay.claim.client_id",
                "jwt_relay.claim.org.id"
            ]
        );
    }

    #[test]
    fn the_contract_example_parses() {
        let mut config = minimal();
        let provider = &mut config["providers"][0];
        provider["algorithms"] = json!(["RS256", "ES256", "EdDSA"]);
        provider["local_jwks"]["inline"] = json!(jwks().to_string());
        provider["from_headers"] = json!([{"name": "Authorization", "value_prefix": "Bearer "}]);
        provider["from_params"] = json!([]);
        provider["clock_skew_seconds"] = json!(60);
        provider["require_expiration"] = json!(true);
        provider["max_lifetime_seconds"] = json!(3600);
        config["role"] = json!("edge");
        config["internal_max_expired_seconds"] = Value::Null;
        config["embedded_tokens_claim"] = json!("embedded_tokens");
        config["upstreams"] = json!({"orders_cluster": {"audience": "orders"}});
        config["on_missing_embedded"] = json!("deny");
        config["forward_header"] = json!("authorization");
        config["claim_to_headers"] = json!([{"claim": "sub", "header": "x-jwt-sub"}]);
        let config = parse(&config).unwrap();
        assert_eq!(
            config.upstreams.get("orders_cluster").map(String::as_str),
            Some("orders")
        );
        assert_eq!(config.owned_headers, vec!["x-jwt-sub".to_string()]);
        assert_eq!(config.providers[0].keys.len(), 2);
    }

    #[test]
    fn errors_name_the_field() {
        let cases: Vec<(&str, Value, &str)> = vec![
            ("unknown top-level field", json!({"rol": "edge"}), "rol"),
            (
                "unknown provider field",
                json!({"providers": [{"issuer": "i", "audiences": ["a"], "local_jwks": {"inline": jwks()}, "audience": "x"}]}),
                "providers[0].audience",
            ),
            ("bad role", json!({"role": "gateway"}), "role"),
            (
                "bad on_missing_embedded",
                json!({"on_missing_embedded": "allow"}),
                "on_missing_embedded",
            ),
            (
                "wrong type",
                json!({"internal_max_expired_seconds": "10"}),
                "internal_max_expired_seconds",
            ),
            (
                "bad refresh hint header",
                json!({"refresh_hint_header": "x hint"}),
                "refresh_hint_header",
            ),
            (
                "refresh hint header that means something else",
                json!({"refresh_hint_header": "WWW-Authenticate"}),
                "refresh_hint_header",
            ),
            (
                "preflight switch not a bool",
                json!({"bypass_cors_preflight": "yes"}),
                "bypass_cors_preflight",
            ),
        ];
        assert_refused_at(cases, false);
    }

    #[test]
    fn bad_values_are_refused_with_their_path() {
        let provider_cases: Vec<(&str, Value, &str)> = vec![
            (
                "unsupported algorithm",
                json!({"algorithms": ["ES256", "ES256K"]}),
                "providers[0].algorithms[1]",
            ),
            (
                "empty algorithms",
                json!({"algorithms": []}),
                "providers[0].algorithms",
            ),
            (
                "HS without an oct key",
                json!({"algorithms": ["HS256"]}),
                "providers[0].algorithms",
            ),
            (
                "no audiences",
                json!({"audiences": []}),
                "providers[0].audiences",
            ),
            ("empty issuer", json!({"issuer": ""}), "providers[0].issuer"),
            (
                "JWKS string is not JSON",
                json!({"local_jwks": {"inline": "{nope"}}),
                "providers[0].local_jwks.inline",
            ),
            (
                "JWKS without keys",
                json!({"local_jwks": {"inline": {"keys": []}}}),
                "providers[0].local_jwks.inline",
            ),
            (
                "bad header name",
                json!({"from_headers": [{"name": "bad header"}]}),
                "providers[0].from_headers[0].name",
            ),
            (
                "no token location",
                json!({"from_headers": []}),
                "providers[0].from_headers",
            ),
            (
                "bad param name",
                json!({"from_params": ["a&b"]}),
                "providers[0].from_params[0]",
            ),
            (
                "bad cookie name",
                json!({"from_cookies": ["a;b"]}),
                "providers[0].from_cookies[0]",
            ),
            (
                "empty cookie name",
                json!({"from_cookies": ["ok", ""]}),
                "providers[0].from_cookies[1]",
            ),
            (
                "min remaining zero",
                json!({"min_remaining_seconds": 0}),
                "providers[0].min_remaining_seconds",
            ),
            (
                "refresh hint over a day",
                json!({"refresh_hint_seconds": 86401}),
                "providers[0].refresh_hint_seconds",
            ),
            (
                "refresh hint inside the refused window",
                json!({"min_remaining_seconds": 60, "refresh_hint_seconds": 60}),
                "providers[0].refresh_hint_seconds",
            ),
            (
                "min remaining beyond the longest lifetime",
                json!({"min_remaining_seconds": 600, "max_lifetime_seconds": 600}),
                "providers[0].min_remaining_seconds",
            ),
            (
                "huge skew",
                json!({"clock_skew_seconds": 86400}),
                "providers[0].clock_skew_seconds",
            ),
            (
                "neither local nor remote keys",
                json!({"local_jwks": null}),
                "providers[0].local_jwks",
            ),
            (
                "remote JWKS path without a slash",
                json!({"remote_jwks": {"cluster": "idp", "path": "jwks.json"}}),
                "providers[0].remote_jwks.path",
            ),
            (
                "remote JWKS without a cluster",
                json!({"remote_jwks": {"cluster": "", "path": "/jwks"}}),
                "providers[0].remote_jwks.cluster",
            ),
            (
                "remote JWKS refreshed never",
                json!({"remote_jwks": {"cluster": "idp", "path": "/jwks", "refresh_seconds": 0}}),
                "providers[0].remote_jwks.refresh_seconds",
            ),
            (
                "JWKS min refresh of zero",
                json!({"remote_jwks": {"cluster": "idp", "path": "/jwks", "min_refresh_seconds": 0}}),
                "providers[0].remote_jwks.min_refresh_seconds",
            ),
            (
                "JWKS max refresh over a day",
                json!({"remote_jwks": {"cluster": "idp", "path": "/jwks", "max_refresh_seconds": 86401}}),
                "providers[0].remote_jwks.max_refresh_seconds",
            ),
            (
                "JWKS min refresh above max",
                json!({"remote_jwks": {"cluster": "idp", "path": "/jwks", "refresh_seconds": 300,
                    "min_refresh_seconds": 600, "max_refresh_seconds": 120}}),
                "providers[0].remote_jwks.min_refresh_seconds",
            ),
            (
                "JWKS min refresh above the default max (refresh_seconds)",
                json!({"remote_jwks": {"cluster": "idp", "path": "/jwks", "min_refresh_seconds": 600}}),
                "providers[0].remote_jwks.min_refresh_seconds",
            ),
            (
                "JWKS max refresh below the default min",
                json!({"remote_jwks": {"cluster": "idp", "path": "/jwks", "max_refresh_seconds": 30}}),
                "providers[0].remote_jwks.max_refresh_seconds",
            ),
            (
                "JWKS refresh outside its bounds",
                json!({"remote_jwks": {"cluster": "idp", "path": "/jwks", "refresh_seconds": 900,
                    "min_refresh_seconds": 60, "max_refresh_seconds": 600}}),
                "providers[0].remote_jwks.refresh_seconds",
            ),
            (
                "JWKS default refresh above a configured max",
                json!({"remote_jwks": {"cluster": "idp", "path": "/jwks", "max_refresh_seconds": 120}}),
                "providers[0].remote_jwks.max_refresh_seconds",
            ),
            (
                "JWKS refresh bound of the wrong type",
                json!({"remote_jwks": {"cluster": "idp", "path": "/jwks", "min_refresh_seconds": "60"}}),
                "providers[0].remote_jwks.min_refresh_seconds",
            ),
            (
                "remote JWKS unknown field",
                json!({"remote_jwks": {"cluster": "idp", "path": "/jwks", "url": "https://x"}}),
                "providers[0].remote_jwks.url",
            ),
            (
                "no token type",
                json!({"token_types": []}),
                "providers[0].token_types",
            ),
            (
                "token type with a space",
                json!({"token_types": ["at+jwt", "at jwt"]}),
                "providers[0].token_types[1]",
            ),
            (
                "zero max lifetime",
                json!({"max_lifetime_seconds": 0}),
                "providers[0].max_lifetime_seconds",
            ),
        ];
        assert_refused_at(provider_cases, true);
        let top_cases: Vec<(&str, Value, &str)> = vec![
            ("no providers", json!({"providers": []}), "providers"),
            (
                "claim header is the token header",
                json!({"claim_to_headers": [{"claim": "sub", "header": "Authorization"}]}),
                "claim_to_headers[0].header",
            ),
            (
                "claim header frames the request",
                json!({"claim_to_headers": [{"claim": "sub", "header": "content-length"}]}),
                "claim_to_headers[0].header",
            ),
            (
                "filter state claim that would end an access-log key",
                json!({"filter_state": {"claims": ["sub", "a:b"]}}),
                "filter_state.claims[1]",
            ),
            (
                "filter state claim twice",
                json!({"filter_state": {"claims": ["sub", "sub"]}}),
                "filter_state.claims[1]",
            ),
            (
                "filter state unknown field",
                json!({"filter_state": {"subject": true}}),
                "filter_state.subject",
            ),
            (
                "claim header twice",
                json!({"claim_to_headers": [{"claim": "sub", "header": "x-a"}, {"claim": "email", "header": "x-a"}]}),
                "claim_to_headers[1].header",
            ),
            (
                "pseudo forward header",
                json!({"forward_header": ":path"}),
                "forward_header",
            ),
            (
                "empty upstream audience",
                json!({"upstreams": {"c": {"audience": ""}}}),
                "upstreams.c.audience",
            ),
            (
                "tiny max token",
                json!({"max_token_bytes": 10}),
                "max_token_bytes",
            ),
            ("realm with a quote", json!({"realm": "a\"b"}), "realm"),
            (
                "revocation with a bad on_unavailable",
                json!({"revocation": {"cluster": "idp", "path": "/r", "on_unavailable": "open"}}),
                "revocation.on_unavailable",
            ),
            (
                "revocation with an empty claim",
                json!({"revocation": {"cluster": "idp", "path": "/r", "claim": ""}}),
                "revocation.claim",
            ),
            (
                "revocation feed with refresh bounds (it ignores Cache-Control)",
                json!({"revocation": {"cluster": "idp", "path": "/r", "max_refresh_seconds": 60}}),
                "revocation.max_refresh_seconds",
            ),
            (
                "revocation timeout of zero",
                json!({"revocation": {"cluster": "idp", "path": "/r", "timeout_ms": 0}}),
                "revocation.timeout_ms",
            ),
            (
                "huge cache",
                json!({"cache": {"max_entries": 10_000_000}}),
                "cache.max_entries",
            ),
        ];
        assert_refused_at(top_cases, false);
    }

    #[test]
    fn remote_documents_and_cache_have_documented_defaults() {
        let mut config = minimal();
        config["providers"][0]["remote_jwks"] = json!({"cluster": "idp", "path": "/jwks"});
        config["revocation"] = json!({"cluster": "idp", "path": "/revocations"});
        let config = parse(&config).unwrap();
        let remote = config.providers[0].remote_jwks.as_ref().unwrap();
        assert_eq!(remote.source.authority, "idp");
        assert_eq!(remote.source.refresh_seconds, 300);
        assert_eq!(remote.source.timeout_ms, 2000);
        assert_eq!(remote.source.max_bytes, 256 * 1024);
        assert_eq!(remote.kid_miss_cooldown_seconds, 30);
        // A Cache-Control may bring the refresh forward to 60 s, never put it off.
        assert_eq!(
            remote.source.cache_control,
            Some(RefreshBounds {
                min_seconds: 60,
                max_seconds: 300
            })
        );
        let revocation = config.revocation.as_ref().unwrap();
        assert_eq!(revocation.source.refresh_seconds, 10);
        assert_eq!(revocation.source.cache_control, None, "not honoured");
        assert_eq!(revocation.source.max_bytes, 1024 * 1024);
        assert_eq!(revocation.claim, "sid");
        assert_eq!(revocation.on_unavailable, OnUnavailable::Deny);
        assert_eq!(
            config.cache,
            CacheLimits {
                max_entries: 1024,
                max_bytes: 4 * 1024 * 1024
            }
        );
    }

    #[test]
    fn jwks_refresh_bounds_default_around_refresh_seconds() {
        let bounds = |remote: Value| {
            let mut config = minimal();
            config["providers"][0]["remote_jwks"] = remote;
            let config = parse(&config).unwrap();
            let source = &config.providers[0].remote_jwks.as_ref().unwrap().source;
            let bounds = source.cache_control.unwrap();
            (
                source.refresh_seconds,
                bounds.min_seconds,
                bounds.max_seconds,
            )
        };
        // A short refresh is its own minimum: the defaults never refuse a config.
        assert_eq!(
            bounds(json!({"cluster": "idp", "path": "/j", "refresh_seconds": 2})),
            (2, 2, 2)
        );
        assert_eq!(
            bounds(json!({"cluster": "idp", "path": "/j", "refresh_seconds": 3600})),
            (3600, 60, 3600)
        );
        assert_eq!(
            bounds(
                json!({"cluster": "idp", "path": "/j", "min_refresh_seconds": 5,
                "max_refresh_seconds": 86400})
            ),
            (300, 5, 86400)
        );
        assert_eq!(
            bounds(
                json!({"cluster": "idp", "path": "/j", "refresh_seconds": 30,
                "min_refresh_seconds": 30, "max_refresh_seconds": 30})
            ),
            (30, 30, 30)
        );
        // The messages say which values clash.
        let mut config = minimal();
        config["providers"][0]["remote_jwks"] =
            json!({"cluster": "idp", "path": "/j", "min_refresh_seconds": 600});
        let error = refused(config);
        assert!(
            error.reason.contains("(600)") && error.reason.contains("(300)"),
            "{error}"
        );
    }

    #[test]
    fn duplicate_issuers_are_refused() {
        let mut config = minimal();
        let provider = config["providers"][0].clone();
        config["providers"] = json!([provider.clone(), provider]);
        assert_eq!(refused(config).field, "providers[1].issuer");
    }

    #[test]
    fn a_forward_header_that_is_not_a_token_header_is_owned() {
        let mut config = minimal();
        config["forward_header"] = json!("X-Narrow-Token");
        let config = parse(&config).unwrap();
        assert_eq!(config.forward_header, "x-narrow-token");
        assert_eq!(config.owned_headers, vec!["x-narrow-token".to_string()]);
    }

    #[test]
    fn error_messages_read_well() {
        let error = refused(json!({"providers": "x"}));
        assert!(
            error
                .to_string()
                .starts_with("invalid jwt-relay configuration at `providers`"),
            "{error}"
        );
        assert!(FilterConfig::from_json(b"not json").is_err());
    }
}
