//! The filter's ES256 verifier (an interleaved wNAF over p256's arithmetic) against `p256`'s own
//! ECDSA verification: same key, message and signature, same answer.
#![no_main]

use jwt_relay_fuzz::differential::{check_es256, Es256Case};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|case: Es256Case| {
    if let Err(why) = check_es256(&case) {
        panic!("differential: {why}");
    }
});
