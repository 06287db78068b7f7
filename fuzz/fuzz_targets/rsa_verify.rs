//! The filter's RSA verifier (RS256…PS512) against the `rsa` crate: same key, message and
//! signature, same answer, but for the two cases where `rsa` 0.9.10 departs from RFC 8017
//! (see `differential.rs`).
#![no_main]

use jwt_relay_fuzz::differential::{check_rsa, RsaCase};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|case: RsaCase| {
    if let Err(why) = check_rsa(&case) {
        panic!("differential: {why}");
    }
});
