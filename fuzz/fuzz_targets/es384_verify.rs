//! The filter's ES384 verifier (the `p384` crate, behind the filter's JWS signature decoding)
//! against ring's P-384 ECDSA (BoringSSL's arithmetic): same key, message and signature, same
//! answer. Valid signatures are made, edited, negated and swapped so both sides see more than
//! random bytes.
#![no_main]

use jwt_relay_fuzz::differential::{check_es384, Es384Case};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|case: Es384Case| {
    if let Err(why) = check_es384(&case) {
        panic!("differential: {why}");
    }
});
