//! Writes the seed corpora of the byte-input targets, made from the fixture keys and the models
//! by code (nothing is committed as a blob): `cargo run --release --example seeds -- <dir>` fills
//! `<dir>/{token,jwks,revocation,config,decision}/`. The structured targets start from validly
//! signed inputs by construction; the decision target gets a few inputs all the same, for paths
//! random bytes reach rarely: a token in a cookie (allowed, narrowed, stripped) and a CORS
//! preflight. Arbitrary has no encoder, so they are found by decoding seeded random bytes.

use std::fs;
use std::path::Path;

use arbitrary::{Arbitrary, Unstructured};
use jwt_relay::request::cache::TokenCache;
use jwt_relay::request::decision::{evaluate, Request};
use jwt_relay_fuzz::fixtures::{keys, KeyId};
use jwt_relay_fuzz::model::setups;
use jwt_relay_fuzz::recipe::{Method, OuterRecipe, Place, RequestRecipe, Signer, TokenRecipe};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use serde_json::json;

fn template(provider: u8, signer: Signer) -> TokenRecipe {
    TokenRecipe {
        provider,
        header: vec![],
        claims: vec![],
        signer,
    }
}

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dir = dir.join(target);
    fs::create_dir_all(&dir)?;
    fs::write(dir.join(format!("seed-{name}")), bytes)
}

fn main() -> std::io::Result<()> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "corpus".to_owned());
    let out = Path::new(&out);
    let mut count = 0;
    for setup in setups() {
        let model = &setup.model;
        let name = model.name;
        write(
            out,
            "config",
            name,
            model.config_json().to_string().as_bytes(),
        )?;
        count += 1;
        if let Some(feed) = model.revocation_json() {
            write(out, "revocation", name, feed.to_string().as_bytes())?;
            count += 1;
        }
        for (p, provider) in model.providers.iter().enumerate() {
            if !provider.remote.is_empty() {
                let jwks = model.jwks_json(p).to_string();
                write(out, "jwks", &format!("{name}-{p}"), jwks.as_bytes())?;
                count += 1;
            }
            let provider_index = u8::try_from(p).expect("few providers");
            // A plain token, one with an embedded token for every upstream, a forged one.
            let embedded = (0..model.upstreams.len())
                .map(|u| {
                    let u = u8::try_from(u).expect("few upstreams");
                    (u, template(provider_index, Signer::Natural))
                })
                .collect();
            let tokens = [
                template(provider_index, Signer::Natural).build(model, None, None),
                OuterRecipe {
                    token: template(provider_index, Signer::Natural),
                    embedded,
                    raw_embedded: None,
                }
                .build(model),
                template(provider_index, Signer::Key(KeyId::EdUntrusted)).build(model, None, None),
            ];
            for (t, token) in tokens.iter().enumerate() {
                write(out, "token", &format!("{name}-{p}-{t}"), token.as_bytes())?;
                count += 1;
            }
        }
    }
    // One JWKS with every fixture key, with and without a declared `alg`.
    let k = keys();
    let all: Vec<_> = KeyId::ALL.iter().map(|&id| k.jwk(id, None)).collect();
    write(
        out,
        "jwks",
        "all",
        json!({ "keys": all }).to_string().as_bytes(),
    )?;
    let with_alg: Vec<_> = KeyId::ALL
        .iter()
        .map(|&id| k.jwk(id, Some(id.natural_alg())))
        .collect();
    write(
        out,
        "jwks",
        "all-alg",
        json!({ "keys": with_alg }).to_string().as_bytes(),
    )?;
    count += 2;
    count += decision_seeds(out)?;
    eprintln!("seeds: {count} files under {}", out.display());
    Ok(())
}

/// The setup and outcome the decision target gives an input, as it decodes and runs it; `None`
/// for inputs that are not worth running (not a clean cookie token, not a tokenless OPTIONS).
fn outcome(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    let recipe = RequestRecipe::arbitrary_take_rest(Unstructured::new(bytes)).ok()?;
    let clean = |t: &TokenRecipe| {
        t.header.is_empty() && t.claims.is_empty() && matches!(t.signer, Signer::Natural)
    };
    let cheap = match recipe.tokens.first() {
        // A clean template token in a cookie of its real name.
        Some((token, Place::Cookie { look_alike: 0, .. })) => {
            clean(&token.token) && token.embedded.iter().all(|(_, t)| clean(t))
        }
        Some(_) => false,
        None => matches!(recipe.method, Method::Options) && recipe.raw_tokens.is_empty(),
    };
    if !cheap {
        return None;
    }
    let all = setups();
    let setup = &all[usize::from(recipe.setup) % all.len()];
    let built = recipe.build(&setup.model);
    let decision = evaluate(
        &setup.config,
        &setup.fetched,
        &mut TokenCache::new(setup.config.cache),
        &Request {
            route: None,
            headers: &built.headers,
            listener_role: &|| built.role.clone(),
            header: &|_| None,
            cluster: &|| built.cluster.clone(),
            now: built.now,
            fingerprint: false,
        },
    );
    Some((setup.model.name, decision.facts.outcome.name()))
}

/// (setup, outcome) of the decision seeds: the cookie setups' passes with the token in a cookie
/// (as presented, narrowed with the cookie removed, refused for want of an embedded token,
/// stripped) and a preflight.
const DECISION_SEEDS: [(&str, &str); 7] = [
    ("D", "allowed"),
    ("D", "narrowed"),
    ("D", "embedded_missing"),
    ("D", "cors_preflight"),
    ("E", "allowed"),
    ("E", "narrowed"),
    ("E", "stripped"),
];

fn decision_seeds(out: &Path) -> std::io::Result<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(6265);
    let mut wanted = DECISION_SEEDS.to_vec();
    let mut count = 0;
    let mut bytes = vec![0u8; 600];
    let setup_count = u8::try_from(setups().len()).expect("few setups");
    for _ in 0..3_000_000 {
        if wanted.is_empty() {
            break;
        }
        // Zeros (empty lists, first variants), ones (`true`) and noise, in even parts.
        rng.fill_bytes(&mut bytes);
        for b in bytes.iter_mut() {
            *b = match *b % 3 {
                0 => 0,
                1 => 1,
                _ => rng.next_u32().to_le_bytes()[0],
            };
        }
        // The first byte picks the setup: a clean request is tried under each.
        for setup in 0..setup_count {
            bytes[0] = setup;
            let Some(found) = outcome(&bytes) else {
                break;
            };
            if let Some(at) = wanted.iter().position(|w| *w == found) {
                write(out, "decision", &format!("{}-{}", found.0, found.1), &bytes)?;
                wanted.remove(at);
                count += 1;
            }
        }
    }
    if !wanted.is_empty() {
        eprintln!("seeds: no decision input found for {wanted:?}");
    }
    Ok(count)
}
