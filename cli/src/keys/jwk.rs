//! JWK (RFC 7517) form of a [`SigningKey`]: writing private and public JWKs, reading private ones.
//! jwt-compact does the key-type specific encoding; this module adds `kid`, `alg` and `use`.

use anyhow::{anyhow, bail, Context, Result};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use jwt_compact::{
    alg::{Hs256Key, RsaPrivateKey, SecretBytes},
    jwk::{JsonWebKey, KeyType},
};
use p384::elliptic_curve::sec1::ToEncodedPoint as _;
use rsa::traits::PrivateKeyParts;
use serde_json::{Map, Value};

use super::{Ed25519Key, Material, P256Key, SigningKey};

/// The curve crates' field sizes: `x`, `y` and `d` of a P-384 / P-521 JWK are exactly this long
/// (RFC 7518 §6.2.1.2, §6.2.2.1).
const P384_BYTES: usize = 48;
const P521_BYTES: usize = 66;

pub(super) fn private(key: &SigningKey) -> Value {
    let mut members = members_of(&jwk_of(key.material()));
    if let Material::Rsa(rsa) = key.material() {
        add_rsa_crt_params(&mut members, rsa);
    }
    annotate(&mut members, key);
    Value::Object(members)
}

pub(super) fn public(key: &SigningKey) -> Value {
    // For `oct` keys `to_verifying_key` keeps the secret: HS* verification needs it.
    let mut members = members_of(&jwk_of(key.material()).to_verifying_key());
    annotate(&mut members, key);
    Value::Object(members)
}

pub(super) fn parse_private(json: &str) -> Result<SigningKey> {
    let value: Value = serde_json::from_str(json).context("a JWK must be JSON")?;
    let members = value.as_object().context("a JWK must be a JSON object")?;
    let kid = match members.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() => kid.as_str(),
        _ => bail!("the JWK has no \"kid\" (a non-empty string)"),
    };
    if let Some(usage) = members.get("use") {
        if usage != "sig" {
            bail!("JWK {kid:?} has \"use\": {usage}, but these keys sign (\"use\": \"sig\")");
        }
    }
    let jwk: JsonWebKey<'_> = serde_json::from_value(value.clone())
        .with_context(|| format!("JWK {kid:?} is not a supported key (kty RSA, EC, OKP or oct)"))?;
    if !jwk.is_signing_key() {
        bail!("JWK {kid:?} is a public key; signing needs the private JWK (with \"d\")");
    }
    let material = material_of(&jwk, members).with_context(|| format!("JWK {kid:?}"))?;
    let alg = match members.get("alg") {
        None => material.kind().default_alg(),
        Some(Value::String(alg)) => material
            .kind()
            .algorithms()
            .iter()
            .find(|known| *known == alg)
            .copied()
            .with_context(|| {
                format!(
                    "JWK {kid:?} has \"alg\": {alg:?}, which a {} key cannot sign (expected one of {})",
                    material.kind(),
                    material.kind().algorithms().join(", ")
                )
            })?,
        Some(other) => bail!("JWK {kid:?} has \"alg\": {other}, expected a string"),
    };
    SigningKey::new(kid, alg, material)
}

fn material_of(jwk: &JsonWebKey<'_>, members: &Map<String, Value>) -> Result<Material> {
    Ok(match jwk.key_type() {
        KeyType::Rsa => Material::Rsa(Box::new(RsaPrivateKey::try_from(jwk)?)),
        KeyType::EllipticCurve => {
            // jwt-compact only checks the length of `d`; name the curves we support instead.
            let curve = members.get("crv").and_then(Value::as_str).unwrap_or("");
            match curve {
                "P-256" => Material::P256(P256Key::try_from(jwk)?),
                "P-384" => {
                    let (x, y, d) = ec_members(jwk, curve, P384_BYTES)?;
                    let secret = p384::SecretKey::from_slice(d)
                        .map_err(|_| anyhow!("\"d\" is not a P-384 private key"))?;
                    check_public(secret.public_key().to_encoded_point(false).as_bytes(), x, y)?;
                    Material::P384(secret)
                }
                "P-521" => {
                    let (x, y, d) = ec_members(jwk, curve, P521_BYTES)?;
                    let secret = p521::SecretKey::from_slice(d)
                        .map_err(|_| anyhow!("\"d\" is not a P-521 private key"))?;
                    check_public(secret.public_key().to_encoded_point(false).as_bytes(), x, y)?;
                    Material::P521(secret)
                }
                _ => bail!(
                    "EC curve {curve:?} is not supported (P-256, P-384 or P-521, for ES256, \
                     ES384 or ES512)"
                ),
            }
        }
        KeyType::KeyPair => Material::Ed25519(Ed25519Key::try_from(jwk)?),
        KeyType::Symmetric => Material::Hmac(Hs256Key::try_from(jwk)?.as_ref().to_vec()),
        other => bail!("key type {other} is not supported"),
    })
}

/// `x`, `y` and `d` of a private EC JWK, each exactly `len` bytes.
fn ec_members<'k>(
    jwk: &'k JsonWebKey<'_>,
    curve: &str,
    len: usize,
) -> Result<(&'k [u8], &'k [u8], &'k [u8])> {
    let JsonWebKey::EllipticCurve {
        x,
        y,
        secret: Some(d),
        ..
    } = jwk
    else {
        bail!("a private {curve} JWK needs \"x\", \"y\" and \"d\"");
    };
    let d: &[u8] = d.as_ref();
    for (name, bytes) in [("x", x.as_ref()), ("y", y.as_ref()), ("d", d)] {
        if bytes.len() != len {
            bail!(
                "\"{name}\" is {} bytes; a {curve} JWK's is exactly {len} bytes",
                bytes.len()
            );
        }
    }
    Ok((x, y, d))
}

/// The public point `d` gives (SEC 1 uncompressed: 0x04 ‖ x ‖ y) must be the JWK's `x`, `y`.
fn check_public(sec1: &[u8], x: &[u8], y: &[u8]) -> Result<()> {
    if sec1.get(1..) != Some(&[x, y].concat()[..]) {
        bail!("\"x\", \"y\" are not the public key of \"d\"");
    }
    Ok(())
}

/// An EC JWK from a SEC 1 uncompressed point (0x04 ‖ x ‖ y) and the scalar `d`.
fn ec_jwk(curve: &'static str, point: &[u8], d: Vec<u8>) -> JsonWebKey<'static> {
    let coordinates = point.get(1..).unwrap_or_default();
    let (x, y) = coordinates.split_at(coordinates.len() / 2);
    JsonWebKey::EllipticCurve {
        curve: curve.into(),
        x: x.to_vec().into(),
        y: y.to_vec().into(),
        secret: Some(SecretBytes::owned(d)),
    }
}

fn jwk_of(material: &Material) -> JsonWebKey<'_> {
    match material {
        Material::Rsa(key) => JsonWebKey::from(key.as_ref()),
        Material::P256(key) => JsonWebKey::from(key),
        Material::P384(key) => ec_jwk(
            "P-384",
            key.public_key().to_encoded_point(false).as_bytes(),
            key.to_bytes().to_vec(),
        ),
        Material::P521(key) => ec_jwk(
            "P-521",
            key.public_key().to_encoded_point(false).as_bytes(),
            key.to_bytes().to_vec(),
        ),
        Material::Ed25519(key) => JsonWebKey::from(key),
        Material::Hmac(secret) => JsonWebKey::Symmetric {
            secret: SecretBytes::borrowed(secret),
        },
    }
}

// JsonWebKey is an internally tagged enum of strings and byte strings: it always becomes a
// JSON object, so neither expect can fire.
#[allow(clippy::expect_used)]
fn members_of(jwk: &JsonWebKey<'_>) -> Map<String, Value> {
    let value = serde_json::to_value(jwk).expect("a JsonWebKey serializes to JSON");
    let members = value
        .as_object()
        .expect("a JsonWebKey serializes to an object");
    members.clone()
}

/// jwt-compact writes only `d`, `p` and `q`; RFC 7518 §6.3.2 wants `dp`, `dq` and `qi` as well,
/// and other JOSE libraries refuse private RSA JWKs without them.
fn add_rsa_crt_params(members: &mut Map<String, Value>, key: &RsaPrivateKey) {
    let params = [
        ("dp", key.dp().cloned()),
        ("dq", key.dq().cloned()),
        ("qi", key.crt_coefficient()),
    ];
    for (name, value) in params {
        if let Some(value) = value {
            let encoded = URL_SAFE_NO_PAD.encode(value.to_bytes_be());
            members.insert(name.to_owned(), Value::String(encoded));
        }
    }
}

fn annotate(members: &mut Map<String, Value>, key: &SigningKey) {
    members.insert("kid".to_owned(), key.kid().into());
    members.insert("alg".to_owned(), key.default_alg().into());
    members.insert("use".to_owned(), "sig".into());
}
