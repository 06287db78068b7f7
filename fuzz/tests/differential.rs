//! The differential harness checks itself: both sides accept what each fixture key signs, both
//! refuse edits, and the one allowed divergence (rsa 0.9.10's PSS excess byte) happens exactly
//! as documented and no wider, so a fuzz run without findings means the verifiers agree.

use jwt_relay::token::es256_verify::Es256VerifyingKey;
use jwt_relay::token::rsa_verify::{RsaVerifier, RsaVerifyingKey};
use jwt_relay_fuzz::differential::{
    check_es256, check_es384, check_rsa, public_em, raise_to_d, rsa_keys, rsa_reference, rsa_sign,
    EcSignatureInput, Es256Case, Es384Case, RsaCase, RsaKeyInput, RsaSignatureInput, RSA_ALGS,
    RSA_BITS,
};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey};

fn filter_key(private: &RsaPrivateKey) -> RsaVerifyingKey {
    RsaVerifyingKey::new(&private.n().to_bytes_be(), &private.e().to_bytes_be()).expect("key")
}

fn verifier(alg: &str) -> RsaVerifier {
    RsaVerifier::from_name(alg).expect("RSA algorithm")
}

fn fixture(bits: usize) -> (u8, &'static RsaPrivateKey) {
    let i = RSA_BITS
        .iter()
        .position(|&b| b == bits)
        .expect("fixture size");
    (i as u8, &rsa_keys()[i])
}

#[test]
fn every_fixture_key_and_algorithm_verifies_on_both_sides() {
    for (i, private) in rsa_keys().iter().enumerate() {
        assert_eq!(private.n().bits(), RSA_BITS[i]);
        let public = private.to_public_key();
        for (a, alg) in RSA_ALGS.iter().enumerate() {
            let message = format!("header.claims-{alg}-{i}");
            let sig = rsa_sign(private, alg, message.as_bytes());
            let key = filter_key(private);
            assert!(
                key.verify(verifier(alg), message.as_bytes(), &sig),
                "{alg} {i}"
            );
            assert!(
                rsa_reference(&public, alg, message.as_bytes(), &sig),
                "{alg} {i}"
            );
            assert!(!key.verify(verifier(alg), b"other", &sig), "{alg} {i}");
            let case = RsaCase {
                key: RsaKeyInput::Fixture(i as u8),
                alg: a as u8,
                message: message.into_bytes(),
                signature: RsaSignatureInput::Valid(vec![(7, 0x10)]),
            };
            assert_eq!(check_rsa(&case), Ok(()), "{alg} {i}");
        }
    }
}

/// rsa 0.9.10 skips the excess leading byte of EM for a modulus of 8k+1 bits; RFC 8017 §8.1.2
/// (I2OSP of m to emLen octets fails when m ≥ 256^emLen) refuses it, and so does the filter.
#[test]
fn pss_excess_byte_is_the_allowed_divergence_and_nothing_wider() {
    let (index, private) = fixture(2049);
    let public = private.to_public_key();
    let key = filter_key(private);
    let mut shown = 0;
    for round in 0..64u32 {
        let message = format!("excess-{round}");
        let valid = rsa_sign(private, "PS256", message.as_bytes());
        let mut em = public_em(&public, &valid);
        assert_eq!(
            em[0], 0,
            "a 2049-bit modulus has one excess byte, zero when valid"
        );
        em[0] = 1;
        if BigUint::from_bytes_be(&em) >= *public.n() {
            continue; // this EM is not a representative mod n: try another message
        }
        let forged = raise_to_d(private, &em);
        assert!(rsa_reference(&public, "PS256", message.as_bytes(), &forged));
        assert!(!key.verify(verifier("PS256"), message.as_bytes(), &forged));
        let case = RsaCase {
            key: RsaKeyInput::Fixture(index),
            alg: 3, // PS256
            message: message.clone().into_bytes(),
            signature: RsaSignatureInput::EditedEm(vec![(0, 1)]),
        };
        assert_eq!(check_rsa(&case), Ok(()));
        // The same byte on a PKCS#1 v1.5 signature: both refuse, no allowance needed.
        let case = RsaCase { alg: 0, ..case };
        assert_eq!(check_rsa(&case), Ok(()));
        shown += 1;
    }
    assert!(shown > 0, "no message gave an EM below n");
}

/// A signature representative s ≥ n is refused (RFC 8017 §5.2.2 RSAVP1 step 1) on both sides,
/// though s mod n is a valid signature: no allowance for it.
#[test]
fn signature_plus_modulus_is_refused_on_both_sides() {
    let (index, private) = fixture(2049);
    let public = private.to_public_key();
    let key = filter_key(private);
    let message = b"plus-modulus";
    for alg in ["PS256", "PS384", "PS512", "RS256"] {
        let valid = rsa_sign(private, alg, message);
        let raised = BigUint::from_bytes_be(&valid) + public.n();
        let mut sig = raised.to_bytes_be();
        while sig.len() < public.size() {
            sig.insert(0, 0);
        }
        assert_eq!(
            sig.len(),
            public.size(),
            "s + n fits in k bytes for 8k+1 bits"
        );
        assert!(
            !key.verify(verifier(alg), message, &sig),
            "{alg}: the filter refuses s ≥ n"
        );
        assert!(
            !rsa_reference(&public, alg, message, &sig),
            "{alg}: rsa refuses s ≥ n"
        );
        let case = RsaCase {
            key: RsaKeyInput::Fixture(index),
            alg: RSA_ALGS.iter().position(|a| *a == alg).unwrap() as u8,
            message: message.to_vec(),
            signature: RsaSignatureInput::PlusModulus,
        };
        assert_eq!(check_rsa(&case), Ok(()), "{alg}");
    }
}

#[test]
fn the_harness_reports_a_verifier_that_accepts_too_much() {
    // A signature for another message: both refuse; a divergence would be reported. Here the
    // reference is asked to judge a signature the filter accepts, for the wrong algorithm.
    let (_, private) = fixture(2048);
    let public = private.to_public_key();
    let sig = rsa_sign(private, "RS256", b"m");
    assert!(!rsa_reference(&public, "RS384", b"m", &sig));
    assert!(!filter_key(private).verify(verifier("RS384"), b"m", &sig));
    // Raw keys: an even modulus is the filter's to refuse; both refuse what no key signed.
    let case = RsaCase {
        key: RsaKeyInput::Raw {
            n: private.n().to_bytes_be(),
            e: vec![1, 0, 1],
        },
        alg: 0,
        message: b"m".to_vec(),
        signature: RsaSignatureInput::Raw(sig.clone()),
    };
    assert_eq!(check_rsa(&case), Ok(()));
    let case = RsaCase {
        signature: RsaSignatureInput::Raw(vec![0; 256]),
        ..case
    };
    assert_eq!(check_rsa(&case), Ok(()));
}

fn es256_case(signature: EcSignatureInput) -> Es256Case {
    let mut secret = [0x11; 32];
    secret[0] = 0x01;
    Es256Case {
        secret,
        message: b"header.claims".to_vec(),
        signature,
    }
}

#[test]
fn es256_valid_negated_and_edited_signatures_agree() {
    for (negate_s, swap, edits) in [
        (false, false, vec![]),
        (true, false, vec![]),
        (false, true, vec![]),
        (false, false, vec![(40, 1)]),
        (false, false, vec![(0, 0x80)]),
    ] {
        let case = es256_case(EcSignatureInput::Valid {
            negate_s,
            swap,
            edits,
        });
        assert_eq!(check_es256(&case), Ok(()), "{case:?}");
    }
    assert_eq!(
        check_es256(&es256_case(EcSignatureInput::OtherMessage(b"x".to_vec()))),
        Ok(())
    );
    assert_eq!(
        check_es256(&es256_case(EcSignatureInput::Raw(vec![0; 64]))),
        Ok(())
    );
    // Q = G (secret 1) and Q = −G (secret n − 1): the edge keys of the wNAF tables.
    let mut one = [0; 32];
    one[31] = 1;
    let minus_one = hex32("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc63254f");
    for secret in [one, minus_one] {
        let case = Es256Case {
            secret,
            ..es256_case(EcSignatureInput::Valid {
                negate_s: false,
                swap: false,
                edits: vec![],
            })
        };
        assert_eq!(check_es256(&case), Ok(()));
    }
}

#[test]
fn es256_both_sides_give_the_expected_answers() {
    use p256::ecdsa::signature::Signer;
    let signing = p256::ecdsa::SigningKey::from_slice(&[0x23; 32]).unwrap();
    let public = *signing.verifying_key();
    let key = Es256VerifyingKey::new(&public);
    let sig: p256::ecdsa::Signature = signing.sign(b"m");
    assert!(key.verify(b"m", &sig));
    // ECDSA is malleable: (r, n − s) verifies too, on both sides (JWS does not forbid it).
    let (r, s) = sig.split_scalars();
    let high = p256::ecdsa::Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).unwrap();
    assert!(key.verify(b"m", &high));
    assert!(!key.verify(b"n", &sig));
}

fn hex32(hex: &str) -> [u8; 32] {
    let mut out = [0; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

/// The ES384 differential agrees on valid, malleated, edited, swapped, foreign and malformed
/// signatures, and ring (its reference) does accept what it should: a valid signature and its
/// (r, n − s) twin, never one edited or for another message.
#[test]
fn es384_agrees_with_ring() {
    use p384::ecdsa::signature::Signer;
    let case = |signature| Es384Case {
        secret: [0x23; 48],
        message: b"header.claims".to_vec(),
        signature,
    };
    for (negate_s, swap, edits) in [
        (false, false, vec![]),
        (true, false, vec![]),
        (false, true, vec![]),
        (false, false, vec![(60, 1)]),
        (false, false, vec![(0, 0x80)]),
    ] {
        let case = case(EcSignatureInput::Valid {
            negate_s,
            swap,
            edits,
        });
        assert_eq!(check_es384(&case), Ok(()), "{case:?}");
    }
    for raw in [
        vec![],
        vec![0; 96],
        vec![0xff; 96],
        vec![1; 95],
        vec![1; 97],
    ] {
        assert_eq!(check_es384(&case(EcSignatureInput::Raw(raw))), Ok(()));
    }
    assert_eq!(
        check_es384(&case(EcSignatureInput::OtherMessage(b"x".to_vec()))),
        Ok(())
    );
    // Out-of-range secrets fall back to a fixed key rather than fail.
    let zero = Es384Case {
        secret: [0; 48],
        ..case(EcSignatureInput::Raw(vec![]))
    };
    assert_eq!(check_es384(&zero), Ok(()));

    let signing = p384::ecdsa::SigningKey::from_slice(&[0x23; 48]).unwrap();
    let point = signing.verifying_key().to_encoded_point(false);
    let ring_accepts = |message: &[u8], signature: &[u8]| {
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P384_SHA384_FIXED,
            point.as_bytes(),
        )
        .verify(message, signature)
        .is_ok()
    };
    let sig: p384::ecdsa::Signature = signing.sign(b"m");
    let (r, s) = sig.split_scalars();
    let high = p384::ecdsa::Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).unwrap();
    assert!(ring_accepts(b"m", &sig.to_bytes()));
    assert!(ring_accepts(b"m", &high.to_bytes()));
    assert!(!ring_accepts(b"n", &sig.to_bytes()));
    let mut edited = sig.to_bytes().to_vec();
    edited[10] ^= 1;
    assert!(!ring_accepts(b"m", &edited));
}
