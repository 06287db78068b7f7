//! Writes the token files of `make bench` into a directory, one token per line, all signed with
//! one private JWK:
//!
//! - `valid.txt`: RS256 tokens that differ only in `jti` and `sub`, so each is a cache miss;
//! - `bad-signature.txt`: token i's header and claims with token i+1's signature: well formed,
//!   known `kid`, issuer and audience, a real RSA signature value below the modulus, so a verifier
//!   does the whole signature check and only then refuses (the expensive garbage);
//! - `cheap.txt`: alternately a token whose `kid` no key has and a string that is not a JWT at all
//!   (bad base64url), both refused before any signature work (the cheap garbage).
//!
//! Usage: jwt-relay-bench-mint COUNT KEY_FILE ISS AUD TTL_SECONDS OUT_DIR
//! RSA signing is the cost (a few ms per token here), so it is spread over all cores.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::thread;

use anyhow::{anyhow, bail, Context, Result};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::{BigUint, RsaPrivateKey};
use serde_json::{json, Value};
use sha2::Sha256;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [count, key, iss, aud, ttl, out_dir] = args.as_slice() else {
        bail!("usage: jwt-relay-bench-mint COUNT KEY_FILE ISS AUD TTL_SECONDS OUT_DIR");
    };
    let count: usize = count.parse().context("COUNT")?;
    let ttl: i64 = ttl.parse().context("TTL_SECONDS")?;
    let (kid, key) = load_rsa_jwk(Path::new(key))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    // A run id in every jti keeps two runs' tokens apart.
    let run = format!("{now}-{}", std::process::id());
    let claims = |i: usize| {
        json!({"iss": iss, "sub": format!("bench-{i}"), "aud": aud, "iat": now, "exp": now + ttl,
               "jti": format!("{run}-{i}")})
    };
    // One extra token, so the last bad-signature token has a neighbour's signature to borrow.
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?);
    let signed = sign_all(&key, &header, count + 1, &claims)?;
    let out_dir = Path::new(out_dir);
    write_lines(&out_dir.join("valid.txt"), count, |i| Ok(signed[i].clone()))?;
    write_lines(&out_dir.join("bad-signature.txt"), count, |i| {
        let (input, _) = split_signature(&signed[i])?;
        let (_, signature) = split_signature(&signed[i + 1])?;
        Ok(format!("{input}.{signature}"))
    })?;
    write_lines(&out_dir.join("cheap.txt"), count, |i| {
        if i % 2 == 0 {
            let (input, signature) = split_signature(&signed[i])?;
            let (_, payload) = input.split_once('.').context("no payload")?;
            let header = json!({"alg": "RS256", "typ": "JWT", "kid": format!("no-such-key-{i}")});
            let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?);
            Ok(format!("{header}.{payload}.{signature}"))
        } else {
            // '!' is not base64url: a parser gives up on the first segment.
            Ok(format!("eyJ!not-a-jwt-{i}.{}", &signed[i][..40]))
        }
    })?;
    Ok(())
}

fn write_lines(path: &Path, count: usize, line: impl Fn(usize) -> Result<String>) -> Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    for i in 0..count {
        writeln!(out, "{}", line(i)?)?;
    }
    out.flush()?;
    Ok(())
}

/// A private RSA JWK (as `jwt-relay-cli keygen` writes it): its `kid` and the key, CRT ready.
fn load_rsa_jwk(path: &Path) -> Result<(String, SigningKey<Sha256>)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let jwk: Value = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    if jwk["kty"] != "RSA" {
        bail!("{} is not an RSA key", path.display());
    }
    let int = |name: &str| -> Result<BigUint> {
        let b64 = jwk[name].as_str().ok_or_else(|| anyhow!("{}: no {name:?}", path.display()))?;
        Ok(BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(b64)?))
    };
    let mut key = RsaPrivateKey::from_components(int("n")?, int("e")?, int("d")?, vec![int("p")?, int("q")?])?;
    key.precompute()?;
    let kid = jwk["kid"].as_str().ok_or_else(|| anyhow!("{}: no kid", path.display()))?;
    Ok((kid.to_owned(), SigningKey::<Sha256>::new(key)))
}

/// `count` compact JWS, RS256, header `header` (base64url), claims `claims(i)`.
fn sign_all(
    key: &SigningKey<Sha256>,
    header: &str,
    count: usize,
    claims: &(dyn Fn(usize) -> Value + Sync),
) -> Result<Vec<String>> {
    let sign = |i: usize| -> Result<String> {
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(i))?));
        let signature = key.try_sign(input.as_bytes())?.to_bytes();
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    };
    let workers = thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = count.div_ceil(workers).max(1);
    thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .step_by(chunk)
            .map(|start| scope.spawn(move || (start..(start + chunk).min(count)).map(sign).collect::<Result<Vec<String>>>()))
            .collect();
        let mut all = Vec::with_capacity(count);
        for handle in handles {
            match handle.join() {
                Ok(part) => all.extend(part?),
                Err(_) => bail!("a signing thread panicked"),
            }
        }
        Ok(all)
    })
}

fn split_signature(jwt: &str) -> Result<(&str, &str)> {
    jwt.rsplit_once('.').context("not a compact JWS")
}
