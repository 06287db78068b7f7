//! A fetched JWKS, any bytes: parsed or refused, never a panic. The same bytes as the headers of
//! the answer (one `name: value` per line): the validators kept are short printable ASCII and
//! round-trip through the stored form, the refresh period stays within its bounds. And as a
//! stored document: decoded or refused.
#![no_main]

use jwt_relay::config::RefreshBounds;
use jwt_relay::documents::conditional::{Described, Stored, MAX_VALIDATOR_BYTES};
use libfuzzer_sys::fuzz_target;

const BOUNDS: RefreshBounds = RefreshBounds {
    min_seconds: 60,
    max_seconds: 600,
};

fn headers(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    data.split(|&b| b == b'\n')
        .map(|line| {
            let mut parts = line.splitn(2, |&b| b == b':');
            let name = String::from_utf8_lossy(parts.next().unwrap_or_default()).to_lowercase();
            (name, parts.next().unwrap_or_default().to_vec())
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let _ = jwt_relay::documents::fetched::parse_remote_jwks(data, 1 << 16);

    let described = Described::from_headers(&headers(data));
    let validators = &described.validators;
    for kept in [&validators.etag, &validators.last_modified]
        .into_iter()
        .flatten()
    {
        assert!(kept.len() <= MAX_VALIDATOR_BYTES, "{kept:?} kept");
        assert!(
            kept.bytes().all(|b| (0x20..=0x7e).contains(&b)),
            "{kept:?} kept"
        );
    }
    let seconds = described.freshness.refresh_seconds(300, Some(BOUNDS));
    assert!((60..=600).contains(&seconds), "{:?}", described.freshness);
    assert_eq!(described.freshness.refresh_seconds(10, None), 10);
    let value = Stored::encode(&described, 7, data);
    let stored = Stored::decode(&value).expect("a stored document decodes");
    assert_eq!(stored.described, described);
    assert_eq!(stored.body, data);

    let _ = Stored::decode(data);
});
