//! Writes the seed corpora of the byte-input targets, made from the fixture keys and the models
//! by code (nothing is committed as a blob): `cargo run --release --example seeds -- <dir>` fills
//! `<dir>/{token,jwks,revocation,config}/`. The structured targets (decision, rsa_verify,
//! es256_verify) start from validly signed inputs by construction and need no seeds.

use std::fs;
use std::path::Path;

use jwt_relay_fuzz::fixtures::{keys, KeyId};
use jwt_relay_fuzz::model::setups;
use jwt_relay_fuzz::recipe::{OuterRecipe, Signer, TokenRecipe};
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
    eprintln!("seeds: {count} files under {}", out.display());
    Ok(())
}
