//! The plugin configuration, any bytes: compiled or refused with a message that names a field,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(error) = jwt_relay::config::FilterConfig::from_json(data) {
        assert!(
            !error.to_string().is_empty(),
            "a config error without a message"
        );
    }
});
