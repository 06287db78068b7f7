//! The revocation feed: sessions (or refresh tokens) the identity service has revoked.
//!
//! Feed document, served by the identity service at `revocation.path`:
//!
//! ```json
//! {"revoked": [{"sid": "abc", "revoked_at": 1700000000, "expires_at": 1700086400}]}
//! ```
//!
//! `sid` is the value of the token claim named by `revocation.claim`; a token carrying it and
//! issued at or before `revoked_at` is refused. `expires_at` (optional) is when no token issued
//! before the revocation can still be accepted anywhere (the longest token lifetime, plus any
//! `internal_max_expired_seconds`); past it the filter ignores the entry and the feed should drop
//! it, which keeps the document small.

use std::collections::HashMap;
use std::fmt;

use serde_json::Value;

use crate::token::claims::{self, ClaimSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    revoked_at: i64,
    expires_at: Option<i64>,
}

/// A parsed feed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationList {
    entries: HashMap<String, Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedError(pub String);

impl fmt::Display for FeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl RevocationList {
    /// Parses the feed strictly: a malformed document is refused whole, so the last good list
    /// stays in force rather than a partial one.
    pub fn parse(body: &[u8]) -> Result<RevocationList, FeedError> {
        let document =
            claims::parse_object(body).map_err(|e| FeedError(format!("not a JSON object: {e}")))?;
        let revoked = document
            .get("revoked")
            .and_then(Value::as_array)
            .ok_or_else(|| FeedError("\"revoked\" must be an array".into()))?;
        let mut entries = HashMap::with_capacity(revoked.len());
        for (index, item) in revoked.iter().enumerate() {
            let bad = |what: &str| FeedError(format!("revoked[{index}]: {what}"));
            let sid = item
                .get("sid")
                .and_then(Value::as_str)
                .filter(|sid| !sid.is_empty())
                .ok_or_else(|| bad("\"sid\" must be a non-empty string"))?;
            let revoked_at = item
                .get("revoked_at")
                .and_then(Value::as_i64)
                .ok_or_else(|| bad("\"revoked_at\" must be an integer"))?;
            let expires_at = match item.get("expires_at") {
                None | Some(Value::Null) => None,
                Some(value) => Some(
                    value
                        .as_i64()
                        .ok_or_else(|| bad("\"expires_at\" must be an integer"))?,
                ),
            };
            let entry = Entry {
                revoked_at,
                expires_at,
            };
            // A session revoked twice stays revoked from the later point: tokens issued between
            // the two revocations were cut off by the first and must stay so.
            entries
                .entry(sid.to_owned())
                .and_modify(|known: &mut Entry| {
                    known.revoked_at = known.revoked_at.max(revoked_at);
                    known.expires_at = match (known.expires_at, expires_at) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        _ => None,
                    };
                })
                .or_insert(entry);
        }
        Ok(RevocationList { entries })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a token with these claims is revoked at `now`. A token without the claim is not
    /// covered by the feed; a listed token without `iat` cannot show it came after the
    /// revocation, so it is revoked.
    pub fn is_revoked(
        &self,
        claim: &str,
        custom: &ClaimSet,
        issued_at: Option<i64>,
        now: i64,
    ) -> bool {
        let Some(Value::String(session)) = custom.get(claim) else {
            return false;
        };
        let Some(entry) = self.entries.get(session) else {
            return false;
        };
        if entry.expires_at.is_some_and(|expires_at| now > expires_at) {
            return false;
        }
        issued_at.is_none_or(|iat| iat <= entry.revoked_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn session(sid: Value) -> ClaimSet {
        ClaimSet(json!({"sid": sid}).as_object().unwrap().clone())
    }

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn listed_sessions_issued_before_revocation_are_revoked() {
        let list =
            RevocationList::parse(br#"{"revoked": [{"sid": "abc", "revoked_at": 1699999000}]}"#)
                .unwrap();
        let abc = session(json!("abc"));
        assert!(list.is_revoked("sid", &abc, Some(1_699_998_000), NOW));
        assert!(list.is_revoked("sid", &abc, Some(1_699_999_000), NOW));
        assert!(!list.is_revoked("sid", &abc, Some(1_699_999_001), NOW));
        assert!(list.is_revoked("sid", &abc, None, NOW));
        assert!(!list.is_revoked("sid", &session(json!("other")), Some(0), NOW));
        assert!(!list.is_revoked("sid", &ClaimSet::default(), Some(0), NOW));
        assert!(!list.is_revoked("rtid", &abc, Some(0), NOW));
    }

    #[test]
    fn expired_entries_no_longer_apply() {
        let list = RevocationList::parse(
            br#"{"revoked": [{"sid": "abc", "revoked_at": 1699990000, "expires_at": 1699999999}]}"#,
        )
        .unwrap();
        assert!(!list.is_revoked("sid", &session(json!("abc")), Some(1_699_980_000), NOW));
        assert!(list.is_revoked(
            "sid",
            &session(json!("abc")),
            Some(1_699_980_000),
            1_699_999_999
        ));
    }

    #[test]
    fn repeated_sessions_keep_the_later_revocation() {
        let list = RevocationList::parse(
            br#"{"revoked": [{"sid": "a", "revoked_at": 100}, {"sid": "a", "revoked_at": 50}]}"#,
        )
        .unwrap();
        assert_eq!(list.len(), 1);
        assert!(list.is_revoked("sid", &session(json!("a")), Some(99), NOW));
    }

    #[test]
    fn malformed_feeds_are_refused_whole() {
        for body in [
            &br#"{"revoked": {}}"#[..],
            br#"[]"#,
            br#"{"revoked": [{"sid": "", "revoked_at": 1}]}"#,
            br#"{"revoked": [{"sid": "a", "revoked_at": "yesterday"}]}"#,
            br#"{"revoked": [{"sid": "a", "revoked_at": 1, "expires_at": "x"}]}"#,
            br#"{"revoked": [{"sid": 7, "revoked_at": 1}]}"#,
            br#"{"revoked": [], "revoked": []}"#,
            b"<html>",
        ] {
            assert!(
                RevocationList::parse(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(RevocationList::parse(br#"{"revoked": []}"#)
            .unwrap()
            .is_empty());
    }
}
