//! What this VM currently holds from the remote documents: each provider's remote keys and the
//! revocation list. The host installs new data when the shared copy changes; requests only read.

use serde_json::Value;

use crate::config::FilterConfig;
use crate::documents::revocation::{FeedError, RevocationList};
use crate::token::keys::{KeySet, ParsedJwks};
use crate::token::ProviderId;

#[derive(Debug, Default)]
pub struct Fetched {
    /// By provider, with the version of the document they came from; `None` until a
    /// first good JWKS arrives.
    remote_keys: Vec<Option<(KeySet, u64)>>,
    /// `None` until a first good feed arrives.
    revocations: Option<RevocationList>,
}

impl Fetched {
    pub fn new(config: &FilterConfig) -> Fetched {
        Fetched {
            remote_keys: config.providers.iter().map(|_| None).collect(),
            revocations: None,
        }
    }

    pub fn remote_keys(&self, provider: ProviderId) -> Option<&KeySet> {
        self.remote_keys
            .get(provider.index())
            .and_then(Option::as_ref)
            .map(|(keys, _)| keys)
    }

    /// Identifies the remote key set in use: cached verifications by another version are void.
    pub fn remote_version(&self, provider: ProviderId) -> Option<u64> {
        self.remote_keys
            .get(provider.index())
            .and_then(Option::as_ref)
            .map(|(_, version)| *version)
    }

    pub fn revocations(&self) -> Option<&RevocationList> {
        self.revocations.as_ref()
    }

    /// Installs a provider's remote keys; `version` should change whenever the document does
    /// (a digest of it), and only then.
    pub fn set_remote_keys(&mut self, provider: ProviderId, keys: KeySet, version: u64) {
        if let Some(slot) = self.remote_keys.get_mut(provider.index()) {
            *slot = Some((keys, version));
        }
    }

    pub fn set_revocations(&mut self, list: RevocationList) {
        self.revocations = Some(list);
    }
}

/// What to read of a finished fetch that [`check_response`] accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// A 200: the body.
    Body,
    /// A 304 to a conditional request: nothing, the stored document is still current.
    NotModified,
}

/// Whether a finished fetch is worth reading: a 200 whose body fits `max_bytes`, or a 304 Not
/// Modified when the request was conditional (`conditional`: it sent a validator; a 304 to a
/// request without one answers a question that was not asked, and is a failure). Checked before
/// the body is copied out of the host, so an oversized answer costs no allocation and a 304's
/// body, if any, is never read. `status` is `None` when there was no response (connection
/// failure or timeout).
pub fn check_response(
    status: Option<&[u8]>,
    body_size: usize,
    max_bytes: usize,
    conditional: bool,
) -> Result<Read, String> {
    match status {
        Some(b"200") => {}
        Some(b"304") if conditional => return Ok(Read::NotModified),
        Some(b"304") => return Err("status 304 to a request that sent no validator".into()),
        Some(other) => return Err(format!("status {}", String::from_utf8_lossy(other))),
        None => return Err("no response (connection failure or timeout)".into()),
    }
    if body_size > max_bytes {
        return Err(format!(
            "body of {body_size} bytes is over max_bytes {max_bytes}"
        ));
    }
    Ok(Read::Body)
}

/// Checks and parses a fetched JWKS. Symmetric (`oct`) keys are secrets and are never taken
/// from a fetched document.
pub fn parse_remote_jwks(body: &[u8], max_bytes: usize) -> Result<ParsedJwks, String> {
    if body.len() > max_bytes {
        return Err(format!(
            "JWKS is {} bytes, over max_bytes {max_bytes}",
            body.len()
        ));
    }
    let document: Value =
        serde_json::from_slice(body).map_err(|e| format!("JWKS is not valid JSON: {e}"))?;
    KeySet::from_jwks_without_secrets(&document).map_err(|e| e.0)
}

/// Checks and parses a fetched revocation feed.
pub fn parse_revocations(body: &[u8], max_bytes: usize) -> Result<RevocationList, String> {
    if body.len() > max_bytes {
        return Err(format!(
            "revocation feed is {} bytes, over max_bytes {max_bytes}",
            body.len()
        ));
    }
    RevocationList::parse(body).map_err(|FeedError(why)| why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversize_and_garbage_documents_are_refused() {
        assert!(parse_remote_jwks(&[b' '; 2048], 1024)
            .unwrap_err()
            .contains("max_bytes"));
        assert!(parse_remote_jwks(b"<html>", 1024)
            .unwrap_err()
            .contains("JSON"));
        assert!(parse_remote_jwks(br#"{"keys": []}"#, 1024).is_err());
        assert!(parse_revocations(br#"{"revoked": []}"#, 1024).is_ok());
        assert!(parse_revocations(&[b' '; 2048], 1024).is_err());
    }

    #[test]
    fn only_a_200_that_fits_is_read() {
        assert_eq!(
            check_response(Some(b"200"), 1024, 1024, false),
            Ok(Read::Body)
        );
        assert_eq!(
            check_response(Some(b"200"), 1024, 1024, true),
            Ok(Read::Body)
        );
        let over = check_response(Some(b"200"), 1025, 1024, false).unwrap_err();
        assert!(over.contains("max_bytes"), "{over}");
        assert_eq!(
            check_response(Some(b"503"), 10, 1024, true),
            Err("status 503".to_owned())
        );
        let absent = check_response(None, 0, 1024, true).unwrap_err();
        assert!(absent.contains("no response"), "{absent}");
        // A status the host garbled is reported, not trusted.
        assert!(check_response(Some(b"\xff200"), 10, 1024, false).is_err());
    }

    #[test]
    fn a_304_is_read_only_as_the_answer_to_a_conditional_request() {
        // Its body (a 304 has none; a broken server may send one anyway) is never read.
        assert_eq!(
            check_response(Some(b"304"), 1 << 30, 1024, true),
            Ok(Read::NotModified)
        );
        let unasked = check_response(Some(b"304"), 0, 1024, false).unwrap_err();
        assert!(unasked.contains("no validator"), "{unasked}");
        for other in [&b"204"[..], b"206", b"301", b"412", b"3040", b" 304"] {
            assert!(check_response(Some(other), 0, 1024, true).is_err());
        }
    }

    #[test]
    fn fetched_secrets_are_skipped() {
        let body = br#"{"keys": [
            {"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI"},
            {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
        ]}"#;
        let parsed = parse_remote_jwks(body, 4096).unwrap();
        assert_eq!(parsed.keys.len(), 1);
        assert_eq!(parsed.skipped.len(), 1, "{:?}", parsed.skipped);
    }
}
