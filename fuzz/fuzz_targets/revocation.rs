//! A fetched revocation feed, any bytes: parsed or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = jwt_relay::documents::fetched::parse_revocations(data, 1 << 16);
});
