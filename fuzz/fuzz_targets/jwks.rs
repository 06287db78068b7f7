//! A fetched JWKS, any bytes: parsed or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = jwt_relay::documents::fetched::parse_remote_jwks(data, 1 << 16);
});
