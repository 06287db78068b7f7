//! PEM forms of a [`SigningKey`]: the private key as PKCS#8 (`BEGIN PRIVATE KEY`, RFC 5208 / RFC
//! 8410) and the public key as SPKI (`BEGIN PUBLIC KEY`, RFC 5280), the forms OpenSSL, identity
//! providers and other JOSE libraries read. HMAC secrets have no PEM form.

use anyhow::{anyhow, bail, Result};
use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};

use super::{Material, SigningKey};

/// The private key as PKCS#8 PEM.
pub(super) fn private(key: &SigningKey) -> Result<String> {
    Ok(match key.material() {
        Material::Rsa(rsa) => rsa
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|err| anyhow!("cannot encode the RSA key as PKCS#8: {err}"))?
            .to_string(),
        Material::P256(ec) => ec
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|err| anyhow!("cannot encode the P-256 key as PKCS#8: {err}"))?
            .to_string(),
        Material::P384(ec) => ec
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|err| anyhow!("cannot encode the P-384 key as PKCS#8: {err}"))?
            .to_string(),
        Material::P521(ec) => ec
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|err| anyhow!("cannot encode the P-521 key as PKCS#8: {err}"))?
            .to_string(),
        Material::Ed25519(ed) => ed.to_pem(),
        Material::Hmac(_) => bail!(no_pem(key)),
    })
}

/// The public key as SPKI PEM.
pub(super) fn public(key: &SigningKey) -> Result<String> {
    Ok(match key.material() {
        Material::Rsa(rsa) => rsa
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|err| anyhow!("cannot encode the RSA public key: {err}"))?,
        Material::P256(ec) => ec
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|err| anyhow!("cannot encode the P-256 public key: {err}"))?,
        Material::P384(ec) => ec
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|err| anyhow!("cannot encode the P-384 public key: {err}"))?,
        Material::P521(ec) => ec
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|err| anyhow!("cannot encode the P-521 public key: {err}"))?,
        Material::Ed25519(ed) => ed.public_key().to_pem(),
        Material::Hmac(_) => bail!(no_pem(key)),
    })
}

fn no_pem(key: &SigningKey) -> String {
    format!(
        "key {:?} is an HMAC secret, which has no PEM form (the JWK holds it as \"k\")",
        key.kid()
    )
}

#[cfg(test)]
mod tests {
    use jwt_compact::{alg::Ed25519, AlgorithmExt, Header, UntrustedToken};
    use p256::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
    use serde_json::{json, Map, Value};

    use crate::keys::KeyKind;
    use crate::test_support::key;
    use crate::token;

    #[test]
    fn rsa_pem_round_trips_to_the_same_key() {
        let signer = key(KeyKind::Rsa);
        let private = signer.private_pem().unwrap();
        assert!(
            private.starts_with("-----BEGIN PRIVATE KEY-----\n"),
            "{private}"
        );
        let Material::Rsa(original) = signer.material() else {
            panic!("not RSA")
        };
        let parsed = rsa::RsaPrivateKey::from_pkcs8_pem(&private).unwrap();
        assert_eq!(&parsed, original.as_ref());

        let public = signer.public_pem().unwrap();
        assert!(
            public.starts_with("-----BEGIN PUBLIC KEY-----\n"),
            "{public}"
        );
        let parsed = rsa::RsaPublicKey::from_public_key_pem(&public).unwrap();
        assert_eq!(parsed, original.to_public_key());
    }

    #[test]
    fn p256_pem_round_trips_to_the_same_key() {
        let signer = key(KeyKind::P256);
        let Material::P256(original) = signer.material() else {
            panic!("not P-256")
        };
        let parsed =
            p256::ecdsa::SigningKey::from_pkcs8_pem(&signer.private_pem().unwrap()).unwrap();
        assert_eq!(parsed.to_bytes(), original.to_bytes());
        let public =
            p256::ecdsa::VerifyingKey::from_public_key_pem(&signer.public_pem().unwrap()).unwrap();
        assert_eq!(&public, original.verifying_key());
    }

    #[test]
    fn p384_and_p521_pem_round_trip_to_the_same_key() {
        let signer = key(KeyKind::P384);
        let Material::P384(original) = signer.material() else {
            panic!("not P-384")
        };
        let parsed = p384::SecretKey::from_pkcs8_pem(&signer.private_pem().unwrap()).unwrap();
        assert_eq!(parsed.to_bytes(), original.to_bytes());
        let public = p384::PublicKey::from_public_key_pem(&signer.public_pem().unwrap()).unwrap();
        assert_eq!(public, original.public_key());

        let signer = key(KeyKind::P521);
        let Material::P521(original) = signer.material() else {
            panic!("not P-521")
        };
        let parsed = p521::SecretKey::from_pkcs8_pem(&signer.private_pem().unwrap()).unwrap();
        assert_eq!(parsed.to_bytes(), original.to_bytes());
        let public = p521::PublicKey::from_public_key_pem(&signer.public_pem().unwrap()).unwrap();
        assert_eq!(public, original.public_key());
    }

    /// RFC 8410: the PKCS#8 form of an Ed25519 key is a fixed 16-byte prefix and the 32-byte seed.
    #[test]
    fn ed25519_pem_is_the_rfc_8410_form_of_the_same_key() {
        let signer = key(KeyKind::Ed25519);
        let private = signer.private_pem().unwrap();
        let der = pem_body(&private, "PRIVATE KEY");
        assert_eq!(
            der[..16],
            [
                0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
                0x04, 0x20
            ]
        );
        let Material::Ed25519(original) = signer.material() else {
            panic!("not Ed25519")
        };
        assert_eq!(der[16..], original.seed()[..]);

        // A token signed by the key read back from the PEM verifies with the JWK's public key.
        let reread = ed25519_compact::SecretKey::from_pem(&private).unwrap();
        let jwt = Ed25519
            .token(
                &Header::empty(),
                &jwt_compact::Claims::new(json!({})),
                &reread,
            )
            .unwrap();
        let public = ed25519_compact::PublicKey::from_pem(&signer.public_pem().unwrap()).unwrap();
        Ed25519
            .validator::<Value>(&public)
            .validate(&UntrustedToken::new(&jwt).unwrap())
            .unwrap();
        // And the JWK and PEM public keys are the same key.
        let from_jwk = token::sign(&signer, "EdDSA", &Map::new(), &json!({})).unwrap();
        Ed25519
            .validator::<Value>(&public)
            .validate(&UntrustedToken::new(&from_jwk).unwrap())
            .unwrap();
    }

    #[test]
    fn hmac_keys_have_no_pem() {
        let signer = key(KeyKind::Hmac);
        for err in [
            signer.private_pem().unwrap_err(),
            signer.public_pem().unwrap_err(),
        ] {
            assert!(err.to_string().contains("no PEM form"), "{err}");
        }
    }

    fn pem_body(pem: &str, label: &str) -> Vec<u8> {
        use base64::{engine::general_purpose::STANDARD, Engine as _};
        let body: String = pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        assert!(pem.contains(&format!("-----BEGIN {label}-----")), "{pem}");
        STANDARD.decode(body).unwrap()
    }

    use super::super::Material;
}
