//! The configurations the decision target runs under, described once as plain data. The filter
//! gets them as its JSON config; the oracle reads this description, never the compiled
//! `FilterConfig`.

use std::sync::OnceLock;

use jwt_relay::config::FilterConfig;
use jwt_relay::documents::fetched::{self, Fetched};
use serde_json::{json, Value};

use crate::fixtures::{keys, KeyId};

/// The base clock of every template token (Unix seconds).
pub const NOW: i64 = 1_700_000_000;
/// chrono's earliest representable timestamp: a signed `nbf` near it once aborted the VM.
pub const CHRONO_MIN: i64 = -8_334_601_228_800;
/// chrono's latest representable timestamp.
pub const CHRONO_MAX: i64 = 8_210_266_876_799;

#[derive(Debug, Clone)]
pub struct ModelKey {
    pub id: KeyId,
    /// The JWK's own `alg`, when it declares one: then the only algorithm it verifies.
    pub alg: Option<&'static str>,
}

#[derive(Debug, Clone)]
pub struct ModelProvider {
    pub iss: &'static str,
    pub audiences: Vec<&'static str>,
    pub algs: Vec<&'static str>,
    pub local: Vec<ModelKey>,
    /// Keys the host has installed from this provider's remote JWKS.
    pub remote: Vec<ModelKey>,
    pub has_remote_jwks: bool,
    /// (header name, value prefix)
    pub headers: Vec<(&'static str, &'static str)>,
    pub params: Vec<&'static str>,
    /// Cookie names (`from_cookies`).
    pub cookies: Vec<&'static str>,
    pub skew: i64,
    pub require_exp: bool,
    pub max_lifetime: Option<i64>,
    pub required_claims: Vec<&'static str>,
    pub token_types: Option<Vec<&'static str>>,
}

#[derive(Debug, Clone)]
pub struct ModelRevocation {
    pub claim: &'static str,
    /// (value, revoked_at, expires_at)
    pub entries: Vec<(&'static str, i64, Option<i64>)>,
    /// Whether a feed has been installed in `Fetched`.
    pub installed: bool,
    pub allow_unavailable: bool,
}

#[derive(Debug, Clone)]
pub struct Model {
    pub name: &'static str,
    pub providers: Vec<ModelProvider>,
    pub role_internal: bool,
    pub internal_max_expired: Option<i64>,
    pub embedded_claim: &'static str,
    /// (cluster, audience)
    pub upstreams: Vec<(&'static str, &'static str)>,
    pub strip: bool,
    pub forward_header: &'static str,
    /// (claim, header)
    pub claim_headers: Vec<(&'static str, &'static str)>,
    pub revocation: Option<ModelRevocation>,
    pub cache: (usize, usize),
    /// `bypass_cors_preflight` (the filter's default is on).
    pub bypass_cors_preflight: bool,
}

/// Where a token was found, in the model's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelLoc {
    Header(String),
    Param(String),
    /// The configured cookie name (a look-alike cookie is read as this one).
    Cookie(String),
}

impl ModelProvider {
    pub fn accepts_location(&self, location: &ModelLoc) -> bool {
        match location {
            ModelLoc::Header(name) => self.headers.iter().any(|(h, _)| h == name),
            ModelLoc::Param(name) => self.params.iter().any(|p| p == name),
            ModelLoc::Cookie(name) => self.cookies.iter().any(|c| c == name),
        }
    }

    pub fn all_keys(&self) -> impl Iterator<Item = &ModelKey> {
        self.local.iter().chain(self.remote.iter())
    }
}

impl Model {
    pub fn provider(&self, iss: &str) -> Option<&ModelProvider> {
        self.providers.iter().find(|p| p.iss == iss)
    }

    pub fn audience_of(&self, cluster: &str) -> Option<&'static str> {
        self.upstreams
            .iter()
            .find(|(c, _)| *c == cluster)
            .map(|(_, a)| *a)
    }

    /// Every (header, prefix) a token is read from, each once.
    pub fn header_locations(&self) -> Vec<(&'static str, &'static str)> {
        let mut out: Vec<(&str, &str)> = Vec::new();
        for p in &self.providers {
            for h in &p.headers {
                if !out.contains(h) {
                    out.push(*h);
                }
            }
        }
        out
    }

    pub fn params(&self) -> Vec<&'static str> {
        let mut out: Vec<&str> = Vec::new();
        for p in &self.providers {
            for q in &p.params {
                if !out.contains(q) {
                    out.push(q);
                }
            }
        }
        out
    }

    /// Every cookie name a token is read from, each once.
    pub fn cookies(&self) -> Vec<&'static str> {
        let mut out: Vec<&str> = Vec::new();
        for p in &self.providers {
            for c in &p.cookies {
                if !out.contains(c) {
                    out.push(c);
                }
            }
        }
        out
    }

    pub fn is_token_header(&self, name: &str) -> bool {
        self.header_locations().iter().any(|(h, _)| *h == name)
    }

    /// Headers the filter sets, whose client copies must never reach the upstream.
    pub fn owned_headers(&self) -> Vec<&'static str> {
        let mut out: Vec<&str> = self.claim_headers.iter().map(|(_, h)| *h).collect();
        if !self.is_token_header(self.forward_header) {
            out.push(self.forward_header);
        }
        out
    }

    /// The plugin configuration JSON for this model.
    pub fn config_json(&self) -> Value {
        let k = keys();
        let providers: Vec<Value> = self
            .providers
            .iter()
            .map(|p| {
                let mut v = json!({
                    "issuer": p.iss,
                    "audiences": p.audiences,
                    "algorithms": p.algs,
                    "from_headers": p.headers.iter().map(|(n, prefix)| json!({"name": n, "value_prefix": prefix})).collect::<Vec<_>>(),
                    "from_params": p.params,
                    "from_cookies": p.cookies,
                    "clock_skew_seconds": p.skew,
                    "require_expiration": p.require_exp,
                    "required_claims": p.required_claims,
                });
                if !p.local.is_empty() {
                    let jwks: Vec<Value> = p.local.iter().map(|key| k.jwk(key.id, key.alg)).collect();
                    // Alternate the two accepted forms of `inline`.
                    v["local_jwks"] = if p.local.len() % 2 == 0 {
                        json!({"inline": json!({"keys": jwks}).to_string()})
                    } else {
                        json!({"inline": {"keys": jwks}})
                    };
                }
                if p.has_remote_jwks {
                    v["remote_jwks"] = json!({"cluster": "idp", "path": "/jwks.json"});
                }
                if let Some(max) = p.max_lifetime {
                    v["max_lifetime_seconds"] = json!(max);
                }
                if let Some(types) = &p.token_types {
                    v["token_types"] = json!(types);
                }
                v
            })
            .collect();
        let upstreams: serde_json::Map<String, Value> = self
            .upstreams
            .iter()
            .map(|(c, a)| (c.to_string(), json!({"audience": a})))
            .collect();
        let mut config = json!({
            "providers": providers,
            "role": if self.role_internal { "internal" } else { "edge" },
            "internal_max_expired_seconds": self.internal_max_expired,
            "embedded_tokens_claim": self.embedded_claim,
            "upstreams": upstreams,
            "on_missing_embedded": if self.strip { "strip" } else { "deny" },
            "forward_header": self.forward_header,
            "claim_to_headers": self.claim_headers.iter().map(|(c, h)| json!({"claim": c, "header": h})).collect::<Vec<_>>(),
            "cache": {"max_entries": self.cache.0, "max_bytes": self.cache.1},
            "filter_state": {"outcome": true, "claims": ["sub", "exp", "embedded_tokens"]},
        });
        // Left to its default when on, so that the default is what is fuzzed.
        if !self.bypass_cors_preflight {
            config["bypass_cors_preflight"] = json!(false);
        }
        if let Some(r) = &self.revocation {
            config["revocation"] = json!({
                "cluster": "idp", "path": "/revocations", "claim": r.claim,
                "on_unavailable": if r.allow_unavailable { "allow" } else { "deny" },
            });
        }
        config
    }

    pub fn jwks_json(&self, provider: usize) -> Value {
        let k = keys();
        let keys: Vec<Value> = self.providers[provider]
            .remote
            .iter()
            .map(|key| k.jwk(key.id, key.alg))
            .collect();
        json!({ "keys": keys })
    }

    pub fn revocation_json(&self) -> Option<Value> {
        let r = self.revocation.as_ref()?;
        let entries: Vec<Value> = r
            .entries
            .iter()
            .map(|(sid, at, exp)| match exp {
                Some(exp) => json!({"sid": sid, "revoked_at": at, "expires_at": exp}),
                None => json!({"sid": sid, "revoked_at": at}),
            })
            .collect();
        Some(json!({ "revoked": entries }))
    }
}

fn provider(
    iss: &'static str,
    audiences: Vec<&'static str>,
    algs: Vec<&'static str>,
) -> ModelProvider {
    ModelProvider {
        iss,
        audiences,
        algs,
        local: vec![],
        remote: vec![],
        has_remote_jwks: false,
        headers: vec![("authorization", "Bearer ")],
        params: vec![],
        cookies: vec![],
        skew: 60,
        require_exp: true,
        max_lifetime: None,
        required_claims: vec![],
        token_types: None,
    }
}

fn key(id: KeyId, alg: Option<&'static str>) -> ModelKey {
    ModelKey { id, alg }
}

pub const ISS_IDP: &str = "https://idp.example.com";
pub const ISS_PSS: &str = "https://pss.example.com";
pub const ISS_HS: &str = "https://hs.example.com";
pub const ISS_REMOTE: &str = "https://remote.example.com";

/// A: an edge listener's config; four providers (RS256/ES256/EdDSA, PS256 on its own header,
/// HS256, remote EdDSA), narrowing that denies, a revocation feed installed.
fn model_a() -> Model {
    let idp = ModelProvider {
        local: vec![
            key(KeyId::RsaA, Some("RS256")),
            key(KeyId::Ec, None),
            key(KeyId::Ed, None),
        ],
        params: vec!["access_token"],
        max_lifetime: Some(86_400),
        ..provider(
            ISS_IDP,
            vec!["api.example.com"],
            vec!["RS256", "ES256", "EdDSA"],
        )
    };
    let pss = ModelProvider {
        local: vec![key(KeyId::RsaB, None)],
        headers: vec![("x-pss-token", "")],
        skew: 30,
        required_claims: vec!["sub"],
        ..provider(ISS_PSS, vec!["pss-api", "api.example.com"], vec!["PS256"])
    };
    let hs = ModelProvider {
        local: vec![key(KeyId::Hs, None)],
        skew: 0,
        token_types: Some(vec!["at+jwt"]),
        ..provider(ISS_HS, vec!["hs-api"], vec!["HS256"])
    };
    let remote = ModelProvider {
        remote: vec![key(KeyId::EdRemote, Some("EdDSA"))],
        has_remote_jwks: true,
        params: vec!["access_token"],
        ..provider(ISS_REMOTE, vec!["api.example.com"], vec!["EdDSA", "ES256"])
    };
    Model {
        name: "A",
        providers: vec![idp, pss, hs, remote],
        role_internal: false,
        internal_max_expired: None,
        embedded_claim: "embedded_tokens",
        upstreams: vec![
            ("orders_cluster", "orders"),
            ("payments_cluster", "payments"),
        ],
        strip: false,
        forward_header: "authorization",
        claim_headers: vec![("sub", "x-jwt-sub"), ("email", "x-jwt-email")],
        revocation: Some(ModelRevocation {
            claim: "sid",
            entries: vec![
                ("revoked-sid", NOW - 100, None),
                ("expiring-sid", NOW - 100, Some(NOW + 50)),
            ],
            installed: true,
            allow_unavailable: false,
        }),
        cache: (1024, 4 * 1024 * 1024),
        bypass_cors_preflight: true,
    }
}

/// B: internal by config, bounded expiry inside, narrowing that strips, a forward header of
/// its own, query tokens under two names, a tiny cache (eviction), authorization-only reads.
fn model_b() -> Model {
    let idp = ModelProvider {
        local: vec![
            key(KeyId::RsaA, None),
            key(KeyId::Ed, Some("EdDSA")),
            key(KeyId::Ec, Some("ES256")),
        ],
        params: vec!["access_token", "token"],
        skew: 120,
        require_exp: false,
        ..provider(
            ISS_IDP,
            vec!["api.example.com"],
            vec!["RS256", "EdDSA", "ES256"],
        )
    };
    let hs = ModelProvider {
        local: vec![key(KeyId::Hs, Some("HS256"))],
        max_lifetime: Some(3600),
        ..provider(ISS_HS, vec!["hs-api", "orders"], vec!["HS256", "HS384"])
    };
    Model {
        name: "B",
        providers: vec![idp, hs],
        role_internal: true,
        internal_max_expired: Some(600),
        embedded_claim: "narrow",
        upstreams: vec![
            ("orders_cluster", "orders"),
            ("inventory_cluster", "inventory"),
        ],
        strip: true,
        forward_header: "x-forwarded-token",
        claim_headers: vec![("sub", "x-jwt-sub"), ("sid", "x-session")],
        revocation: Some(ModelRevocation {
            claim: "sid",
            entries: vec![("revoked-sid", NOW - 100, Some(NOW + 1000))],
            installed: true,
            allow_unavailable: false,
        }),
        cache: (2, 4096),
        bypass_cors_preflight: true,
    }
}

/// C: A's providers, internal by config, cache off, revocation configured but no feed yet
/// (`on_unavailable: allow`).
fn model_c() -> Model {
    let mut c = model_a();
    c.name = "C";
    c.role_internal = true;
    c.cache = (0, 0);
    if let Some(r) = &mut c.revocation {
        r.installed = false;
        r.allow_unavailable = true;
    }
    c.bypass_cors_preflight = false;
    c
}

/// D: A at the edge with tokens in cookies too: `idp` reads `authorization` and the cookie
/// `access_token` (also its query parameter's name), `remote` the cookie `session_at` only, so
/// a narrowed or refused cookie token must leave with the broad token (narrowing denies here).
fn model_d() -> Model {
    let mut d = model_a();
    d.name = "D";
    d.providers[0].cookies = vec!["access_token"];
    let remote = &mut d.providers[3];
    remote.headers = vec![];
    remote.params = vec![];
    remote.cookies = vec!["session_at"];
    d
}

/// E: B (internal, narrowing that strips, a forward header of its own, a tiny cache) with the
/// `idp` token in the cookie `at` as well, and `hs` in the cookie `token` (also a query
/// parameter of `idp`'s).
fn model_e() -> Model {
    let mut e = model_b();
    e.name = "E";
    e.providers[0].cookies = vec!["at"];
    e.providers[1].cookies = vec!["token"];
    e
}

pub struct Setup {
    pub model: Model,
    pub config: FilterConfig,
    pub fetched: Fetched,
}

fn setup(model: Model) -> Setup {
    let text = model.config_json().to_string();
    let config = FilterConfig::from_json(text.as_bytes())
        .unwrap_or_else(|e| panic!("fixture config {} refused: {e}", model.name));
    let mut fetched = Fetched::new(&config);
    for (index, p) in model.providers.iter().enumerate() {
        if p.has_remote_jwks && !p.remote.is_empty() {
            let body = model.jwks_json(index).to_string();
            let parsed =
                fetched::parse_remote_jwks(body.as_bytes(), 1 << 20).expect("fixture JWKS");
            fetched.set_remote_keys(
                jwt_relay::config::ProviderId::from_index(index),
                parsed.keys,
                7,
            );
        }
    }
    if let Some(r) = &model.revocation {
        if r.installed {
            let body = model.revocation_json().expect("feed").to_string();
            fetched.set_revocations(
                fetched::parse_revocations(body.as_bytes(), 1 << 20).expect("fixture feed"),
            );
        }
    }
    Setup {
        model,
        config,
        fetched,
    }
}

pub fn setups() -> &'static [Setup] {
    static SETUPS: OnceLock<Vec<Setup>> = OnceLock::new();
    SETUPS.get_or_init(|| {
        vec![
            setup(model_a()),
            setup(model_b()),
            setup(model_c()),
            setup(model_d()),
            setup(model_e()),
        ]
    })
}
