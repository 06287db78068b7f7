//! Structured inputs for the decision target: a request built from validly signed template
//! tokens, mutated (header, claims, embedded tokens), re-signed with a trusted or an untrusted
//! key (or left unsigned), and placed in the request's token locations. Mutating structure
//! rather than bytes lets the fuzzer reach what lies behind the signature check.

use arbitrary::Arbitrary;
use serde_json::{json, Value};

use crate::fixtures::{b64, KeyId};
use crate::jose::{self, Members};
use crate::model::{Model, CHRONO_MAX, CHRONO_MIN, NOW};
use crate::oracle::Headers;

#[derive(Arbitrary, Debug, Clone)]
pub enum Number {
    Offset(i16),
    Small(i8),
    Extreme(u8),
    Raw(i64),
    Float(f32),
    Text,
}

impl Number {
    fn value(&self) -> Value {
        match self {
            Number::Offset(o) => json!(NOW + i64::from(*o) * 7),
            Number::Small(s) => json!(i64::from(*s)),
            Number::Extreme(which) => {
                let all = [
                    CHRONO_MIN,
                    CHRONO_MIN + 1,
                    CHRONO_MIN + 60,
                    CHRONO_MAX,
                    CHRONO_MAX + 1,
                    i64::MIN,
                    i64::MAX,
                    0,
                    -1,
                ];
                json!(all[usize::from(*which) % all.len()])
            }
            Number::Raw(r) => json!(r),
            Number::Float(f) => serde_json::Number::from_f64(f64::from(*f))
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Number::Text => json!("soon"),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Text {
    Known(u8),
    Raw(String),
}

const TEXTS: [&str; 22] = [
    "https://idp.example.com",
    "https://pss.example.com",
    "https://hs.example.com",
    "https://remote.example.com",
    "https://evil.example",
    "api.example.com",
    "orders",
    "payments",
    "inventory",
    "hs-api",
    "pss-api",
    "alice",
    "revoked-sid",
    "expiring-sid",
    "s-1",
    "JWT",
    "at+jwt",
    "logout+jwt",
    "a\u{7f}b",
    "a\u{85}b",
    "x\r\nx-jwt-sub: admin",
    "",
];

impl Text {
    fn value(&self) -> Value {
        match self {
            Text::Known(i) => json!(TEXTS[usize::from(*i) % TEXTS.len()]),
            Text::Raw(s) => json!(s),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Field {
    Number(Number),
    Text(Text),
    Bool(bool),
    Null,
    List(Vec<Text>),
    Object(Vec<(Text, Text)>),
    Nested(u8),
}

impl Field {
    fn value(&self) -> Value {
        match self {
            Field::Number(n) => n.value(),
            Field::Text(t) => t.value(),
            Field::Bool(b) => json!(b),
            Field::Null => Value::Null,
            Field::List(items) => Value::Array(items.iter().map(Text::value).collect()),
            Field::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.value().as_str().unwrap_or("k").to_owned(), v.value()))
                    .collect(),
            ),
            Field::Nested(depth) => {
                let mut v = json!(1);
                for _ in 0..(*depth % 140) {
                    v = json!([v]);
                }
                v
            }
        }
    }
}

const CLAIM_NAMES: [&str; 14] = [
    "iss",
    "aud",
    "exp",
    "nbf",
    "iat",
    "sub",
    "sid",
    "jti",
    "email",
    "embedded_tokens",
    "narrow",
    "scope",
    "typ",
    "cnf",
];
const HEADER_NAMES: [&str; 7] = ["alg", "kid", "typ", "crit", "jku", "cty", "enc"];

#[derive(Arbitrary, Debug, Clone)]
pub enum Mutation {
    Set(u8, Field),
    Remove(u8),
    /// A second member of the same name (rendered as JSON text with both).
    Duplicate(u8, Field),
}

fn apply(members: &mut Members, mutation: &Mutation, names: &[&str]) {
    let name = |i: &u8| names[usize::from(*i) % names.len()];
    match mutation {
        Mutation::Set(i, field) => jose::set(members, name(i), field.value()),
        Mutation::Remove(i) => jose::remove(members, name(i)),
        Mutation::Duplicate(i, field) => members.push((name(i).to_owned(), field.value())),
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Signer {
    /// The template's own key and algorithm.
    Natural,
    Key(KeyId),
    /// Header names one algorithm, another key signs.
    Unsigned,
    /// Valid signature, then one byte of it flipped.
    Flipped(u8),
}

#[derive(Arbitrary, Debug, Clone)]
pub struct TokenRecipe {
    /// Which provider's template: issuer, audience, key.
    pub provider: u8,
    pub header: Vec<Mutation>,
    pub claims: Vec<Mutation>,
    pub signer: Signer,
}

#[derive(Arbitrary, Debug, Clone)]
pub struct OuterRecipe {
    pub token: TokenRecipe,
    /// Embedded tokens, by upstream index: (upstream, token).
    pub embedded: Vec<(u8, TokenRecipe)>,
    pub raw_embedded: Option<Field>,
}

/// A provider's template key: the first of its keys, local or remote.
fn template_key(model: &Model, provider: usize) -> KeyId {
    let p = &model.providers[provider % model.providers.len()];
    p.local
        .first()
        .or(p.remote.first())
        .map_or(KeyId::Ed, |k| k.id)
}

impl TokenRecipe {
    /// The template for `audience` (the provider's first audience when `None`), mutated, signed.
    pub fn build(
        &self,
        model: &Model,
        audience: Option<&str>,
        extra: Option<(&str, Value)>,
    ) -> String {
        let index = usize::from(self.provider) % model.providers.len();
        let p = &model.providers[index];
        let key = template_key(model, index);
        let alg = p
            .algs
            .iter()
            .find(|a| jose::family_algs(key.family()).contains(a))
            .copied()
            .unwrap_or(key.natural_alg());
        let mut header: Members = vec![
            ("alg".into(), json!(alg)),
            (
                "typ".into(),
                json!(if p.token_types.is_some() {
                    "at+jwt"
                } else {
                    "JWT"
                }),
            ),
            ("kid".into(), json!(key.kid())),
        ];
        let mut claims: Members = vec![
            ("iss".into(), json!(p.iss)),
            ("aud".into(), json!(audience.unwrap_or(p.audiences[0]))),
            ("sub".into(), json!("alice")),
            ("sid".into(), json!("s-1")),
            ("email".into(), json!("alice@example.com")),
            ("iat".into(), json!(NOW - 10)),
            ("exp".into(), json!(NOW + 300)),
        ];
        if let Some((name, value)) = extra {
            claims.push((name.to_owned(), value));
        }
        for m in &self.header {
            apply(&mut header, m, &HEADER_NAMES);
        }
        for m in &self.claims {
            apply(&mut claims, m, &CLAIM_NAMES);
        }
        let input = jose::signing_input(&jose::render(&header), &jose::render(&claims));
        let signed_alg = jose::get(&header, "alg")
            .and_then(Value::as_str)
            .unwrap_or(alg)
            .to_owned();
        let signature = match self.signer {
            Signer::Natural => jose::sign(key, &signed_alg, input.as_bytes()),
            Signer::Key(other) => jose::sign(other, &signed_alg, input.as_bytes()),
            Signer::Unsigned => b"not-a-signature".to_vec(),
            Signer::Flipped(at) => {
                let mut sig = jose::sign(key, &signed_alg, input.as_bytes());
                if !sig.is_empty() {
                    let i = usize::from(at) % sig.len();
                    sig[i] ^= 0x01;
                }
                sig
            }
        };
        format!("{input}.{}", b64(&signature))
    }
}

impl OuterRecipe {
    pub fn build(&self, model: &Model) -> String {
        let mut embedded = serde_json::Map::new();
        for (upstream, recipe) in &self.embedded {
            if model.upstreams.is_empty() {
                break;
            }
            let (_, audience) = model.upstreams[usize::from(*upstream) % model.upstreams.len()];
            embedded.insert(
                audience.to_owned(),
                json!(recipe.build(model, Some(audience), None)),
            );
        }
        let value = match &self.raw_embedded {
            Some(field) => field.value(),
            None => Value::Object(embedded),
        };
        self.token
            .build(model, None, Some((model.embedded_claim, value)))
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Place {
    /// The n-th header location of the model, with its prefix or a variant of it (`PREFIXES`).
    Header { location: u8, style: u8 },
    /// A query parameter: the n-th configured name, or a look-alike of it.
    Param {
        name: u8,
        look_alike: u8,
        encode: bool,
    },
    /// The forward header, whatever its role.
    Forward,
    /// A cookie: the n-th configured cookie name (or `access_token` where none is), a look-alike
    /// of it or an unrelated name, its value quoted or not, in a cookie header of its own or
    /// joined to the last one.
    Cookie {
        name: u8,
        look_alike: u8,
        quote: bool,
        join: Join,
    },
}

/// How a cookie joins the request's cookie headers.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Join {
    /// A `cookie` header of its own (HTTP/2 may send one per cookie).
    Header,
    /// Appended to the last `cookie` header with `; `.
    Semicolon,
    /// Appended with `,` (a pair only comma-splitting parsers see).
    Comma,
    /// Appended with `;` and no space.
    Tight,
}

/// Names some framework reads as the cookie `n`, and two no framework does.
const COOKIE_LOOK_ALIKES: [fn(&str) -> String; 12] = [
    |n| n.to_owned(),
    |n| format!(" {n} "),
    |n| n.to_uppercase(),
    |n| n.replace('_', "%5F"),
    |n| n.replace('_', "."),
    |n| n.replace('_', "+"),
    |n| format!("{n}[]"),
    |n| n.replace('s', "\u{17f}"),
    |n| format!("{}%{:02X}{}", &n[..1], n.as_bytes()[1], &n[2..]),
    |n| format!("\"{n}\""),
    |n| format!("{n}x"),
    |n| format!("x{n}"),
];

#[derive(Arbitrary, Debug, Clone)]
pub enum Method {
    Get,
    Options,
    /// Methods are case-sensitive: `options` is not a preflight.
    LowerOptions,
    Post,
    Missing,
    Raw(Vec<u8>),
}

/// The configured prefix, twice as often as each variant: another case, or the scheme followed by
/// other whitespace than one space (what a lenient upstream still reads as a bearer token).
const PREFIXES: [fn(&str) -> String; 7] = [
    |p| p.to_owned(),
    |p| p.to_owned(),
    |p| p.to_uppercase(),
    |p| p.to_lowercase(),
    |p| p.replace(' ', "\t"),
    |p| p.replace(' ', "  "),
    |p| p.trim_end().to_owned(),
];

const LOOK_ALIKES: [fn(&str) -> String; 9] = [
    |n| n.to_owned(),
    |n| n.to_uppercase(),
    |n| format!("{n}[]"),
    |n| format!("{n}[0]"),
    |n| n.replace('_', "."),
    |n| n.replace('_', "%255F"),
    |n| format!("{n}%00x"),
    |n| format!("a=1;{n}"),
    |n| n.replace('s', "\u{17f}"),
];

#[derive(Arbitrary, Debug, Clone)]
pub enum RoleInput {
    Unset,
    Edge,
    Internal,
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug, Clone)]
pub struct RequestRecipe {
    pub setup: u8,
    pub tokens: Vec<(OuterRecipe, Place)>,
    /// A raw value in a token location (not built from a template).
    pub raw_tokens: Vec<(Vec<u8>, Place)>,
    /// Extra headers: (index into the owned/token header names, or a raw name, value).
    pub headers: Vec<(u8, Vec<u8>)>,
    pub path: Vec<u8>,
    pub role: RoleInput,
    pub cluster: Option<u8>,
    pub clock: i16,
    pub twice: bool,
    /// Raw cookies: (name as for `Place::Cookie`, look-alike, value bytes, join).
    pub cookies: Vec<(u8, u8, Vec<u8>, Join)>,
    pub method: Method,
    pub origin: Option<Vec<u8>>,
    /// `access-control-request-method`.
    pub acrm: Option<Vec<u8>>,
}

/// Adds one `name=value` cookie to the request's cookie headers.
fn add_cookie(jar: &mut Vec<Vec<u8>>, pair: Vec<u8>, join: Join) {
    let separator: &[u8] = match join {
        Join::Header => b"",
        Join::Semicolon => b"; ",
        Join::Comma => b", ",
        Join::Tight => b";",
    };
    match jar.last_mut() {
        Some(last) if !separator.is_empty() => {
            last.extend_from_slice(separator);
            last.extend_from_slice(&pair);
        }
        _ => jar.push(pair),
    }
}

fn cookie_name(model: &Model, name: u8, look_alike: u8) -> String {
    let cookies = model.cookies();
    let base = cookies
        .get(usize::from(name) % cookies.len().max(1))
        .copied()
        .unwrap_or("access_token");
    COOKIE_LOOK_ALIKES[usize::from(look_alike) % COOKIE_LOOK_ALIKES.len()](base)
}

/// One request, as the host would gather it.
pub struct Built {
    pub headers: Headers,
    pub role: Option<Vec<u8>>,
    pub cluster: Option<String>,
    pub now: i64,
}

impl RequestRecipe {
    pub fn build(&self, model: &Model) -> Built {
        let mut headers: Headers = Vec::new();
        let mut query: Vec<String> = Vec::new();
        let locations = model.header_locations();
        let params = model.params();
        let mut jar: Vec<Vec<u8>> = Vec::new();
        let mut place = |token: &[u8], place: &Place, headers: &mut Headers| match place {
            Place::Header { location, style } => {
                let (name, prefix) = locations[usize::from(*location) % locations.len()];
                let prefix = PREFIXES[usize::from(*style) % PREFIXES.len()](prefix);
                let mut value = prefix.into_bytes();
                value.extend_from_slice(token);
                headers.push((name.to_owned(), value));
            }
            Place::Param {
                name,
                look_alike,
                encode,
            } => {
                let base = params
                    .get(usize::from(*name) % params.len().max(1))
                    .copied()
                    .unwrap_or("access_token");
                let name = LOOK_ALIKES[usize::from(*look_alike) % LOOK_ALIKES.len()](base);
                let value = String::from_utf8_lossy(token).into_owned();
                let value = if *encode {
                    value.replace('.', "%2E")
                } else {
                    value
                };
                query.push(format!("{name}={value}"));
            }
            Place::Forward => {
                let mut value = b"Bearer ".to_vec();
                value.extend_from_slice(token);
                headers.push((model.forward_header.to_owned(), value));
            }
            Place::Cookie {
                name,
                look_alike,
                quote,
                join,
            } => {
                let mut pair = cookie_name(model, *name, *look_alike).into_bytes();
                pair.push(b'=');
                if *quote {
                    pair.push(b'"');
                }
                pair.extend_from_slice(token);
                if *quote {
                    pair.push(b'"');
                }
                add_cookie(&mut jar, pair, *join);
            }
        };
        for (recipe, at) in self.tokens.iter().take(3) {
            place(recipe.build(model).as_bytes(), at, &mut headers);
        }
        for (raw, at) in self.raw_tokens.iter().take(2) {
            place(raw, at, &mut headers);
        }
        for (name, look_alike, value, join) in self.cookies.iter().take(4) {
            let mut pair = cookie_name(model, *name, *look_alike).into_bytes();
            pair.push(b'=');
            pair.extend_from_slice(value);
            add_cookie(&mut jar, pair, *join);
        }
        headers.extend(jar.into_iter().map(|value| ("cookie".to_owned(), value)));
        let method: Option<&[u8]> = match &self.method {
            Method::Get => Some(b"GET"),
            Method::Options => Some(b"OPTIONS"),
            Method::LowerOptions => Some(b"options"),
            Method::Post => Some(b"POST"),
            Method::Missing => None,
            Method::Raw(raw) => Some(raw),
        };
        if let Some(method) = method {
            headers.push((":method".to_owned(), method.to_vec()));
        }
        if let Some(origin) = &self.origin {
            headers.push(("origin".to_owned(), origin.clone()));
        }
        if let Some(acrm) = &self.acrm {
            headers.push(("access-control-request-method".to_owned(), acrm.clone()));
        }
        let mut names: Vec<&str> = model.owned_headers();
        names.extend(locations.iter().map(|(n, _)| *n));
        // Never a second `:method`: Envoy's requests have exactly one.
        names.extend([
            "x-other",
            "cookie",
            "origin",
            "access-control-request-method",
        ]);
        for (which, value) in self.headers.iter().take(4) {
            let name = names[usize::from(*which) % names.len()];
            headers.push((name.to_owned(), value.clone()));
        }
        // Envoy joins a repeated `authorization` into one comma-separated value.
        let mut joined: Headers = Vec::new();
        for (name, value) in headers {
            match joined
                .iter_mut()
                .find(|(n, _)| n == "authorization" && name == "authorization")
            {
                Some(slot) => {
                    slot.1.push(b',');
                    slot.1.extend_from_slice(&value);
                }
                None => joined.push((name, value)),
            }
        }
        let mut path = b"/orders".to_vec();
        path.extend_from_slice(&self.path);
        if !query.is_empty() {
            path.push(if path.contains(&b'?') { b'&' } else { b'?' });
            path.extend_from_slice(query.join("&").as_bytes());
        }
        joined.insert(0, (":path".into(), path));
        let clusters: Vec<&str> = model
            .upstreams
            .iter()
            .map(|(c, _)| *c)
            .chain(["web_cluster"])
            .collect();
        Built {
            headers: joined,
            role: match &self.role {
                RoleInput::Unset => None,
                RoleInput::Edge => Some(b"edge".to_vec()),
                RoleInput::Internal => Some(b"internal".to_vec()),
                RoleInput::Raw(raw) => Some(raw.clone()),
            },
            cluster: self
                .cluster
                .map(|c| clusters[usize::from(c) % clusters.len()].to_owned()),
            now: NOW + i64::from(self.clock),
        }
    }
}
