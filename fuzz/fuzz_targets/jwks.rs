//! A fetched JWKS, any bytes: parsed or refused, never a panic; a parsed set never holds a
//! symmetric key (secrets are never taken from a fetched document).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = jwt_relay::fetched::parse_remote_jwks(data, 1 << 16);
});
