//! Verified-token cache, per VM: a token seen before skips parsing and the signature check.
//!
//! Only tokens whose signature, issuer and claim types verified are stored; a hit still goes
//! through everything that can change between requests (location, audience, lifetime by role,
//! revocation). Entries are keyed by the token itself — a hit is an exact match of the whole
//! token, so a different token can never use another's entry, and no digest is computed on the
//! request path (std's `HashMap` hashes with a per-process random key, so keys cannot be chosen
//! to collide). Entries leave when the token expires, when the remote keys that verified them
//! change, or first-in-first-out when the entry or byte bound is reached, so a flood of unique
//! tokens cannot grow memory past the bound.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use jwt_compact::Claims;

use crate::config::CacheLimits;
use crate::token::alg::Alg;
use crate::token::claims::ClaimSet;
use crate::token::ProviderId;

/// Bytes accounted per entry beyond the token itself (map slot, claims structure).
const ENTRY_OVERHEAD: usize = 256;

/// A verified token, as the cache keeps it.
#[derive(Debug, Clone)]
pub struct CachedToken {
    pub provider: ProviderId,
    pub alg: Alg,
    pub claims: Rc<Claims<ClaimSet>>,
    /// The remote key set version that verified it; `None` when a local key did.
    pub key_version: Option<u64>,
    /// Unix seconds after which the entry is dropped.
    pub evict_after: i64,
    size: usize,
}

impl CachedToken {
    pub fn new(
        provider: ProviderId,
        alg: Alg,
        claims: Rc<Claims<ClaimSet>>,
        key_version: Option<u64>,
        evict_after: i64,
        token_len: usize,
    ) -> CachedToken {
        CachedToken {
            provider,
            alg,
            claims,
            key_version,
            evict_after,
            // The key holds the token; the parsed claims take about as much again.
            size: token_len.saturating_mul(2).saturating_add(ENTRY_OVERHEAD),
        }
    }
}

#[derive(Debug)]
pub struct TokenCache {
    limits: CacheLimits,
    entries: HashMap<Rc<str>, CachedToken>,
    order: VecDeque<Rc<str>>,
    bytes: usize,
    /// Lookups since the last `take_counts`, for stats.
    hits: u64,
    misses: u64,
}

impl TokenCache {
    pub fn new(limits: CacheLimits) -> TokenCache {
        TokenCache {
            limits,
            entries: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            hits: 0,
            misses: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Hits and misses since the last call.
    pub fn take_counts(&mut self) -> (u64, u64) {
        let counts = (self.hits, self.misses);
        self.hits = 0;
        self.misses = 0;
        counts
    }

    /// A copy of the entry for `token` (a reference count and a few words), unless it has
    /// expired or its remote keys have changed since (`key_version` gives the current version
    /// of a provider's remote keys). One hash of the token per lookup.
    pub fn get(
        &mut self,
        token: &str,
        now: i64,
        key_version: impl Fn(ProviderId) -> Option<u64>,
    ) -> Option<CachedToken> {
        let Some(entry) = self.entries.get(token).cloned() else {
            self.misses = self.misses.saturating_add(1);
            return None;
        };
        let stale = now > entry.evict_after
            || entry
                .key_version
                .is_some_and(|version| key_version(entry.provider) != Some(version));
        if stale {
            self.remove(token);
            self.misses = self.misses.saturating_add(1);
            return None;
        }
        self.hits = self.hits.saturating_add(1);
        Some(entry)
    }

    pub fn insert(&mut self, token: &str, entry: CachedToken) {
        if self.limits.max_entries == 0 || entry.size > self.limits.max_bytes {
            return;
        }
        self.remove(token);
        while self.entries.len() >= self.limits.max_entries
            || self.bytes.saturating_add(entry.size) > self.limits.max_bytes
        {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.remove(&oldest);
        }
        self.bytes = self.bytes.saturating_add(entry.size);
        let key: Rc<str> = Rc::from(token);
        self.entries.insert(Rc::clone(&key), entry);
        self.order.push_back(key);
        // Keys of entries dropped out of order (expired, re-keyed) linger in `order`; keep it
        // from outgrowing the map.
        if self.order.len() > self.limits.max_entries.saturating_mul(2) {
            let entries = &self.entries;
            self.order.retain(|key| entries.contains_key(key));
        }
    }

    fn remove(&mut self, token: &str) {
        if let Some(entry) = self.entries.remove(token) {
            self.bytes = self.bytes.saturating_sub(entry.size);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key_version: Option<u64>, evict_after: i64, token_len: usize) -> CachedToken {
        CachedToken::new(
            ProviderId::from_index(0),
            Alg::Rs256,
            Rc::new(Claims::new(ClaimSet::default())),
            key_version,
            evict_after,
            token_len,
        )
    }

    fn token(n: u32) -> String {
        format!("token-{n}")
    }

    fn limits(max_entries: usize, max_bytes: usize) -> CacheLimits {
        CacheLimits {
            max_entries,
            max_bytes,
        }
    }

    #[test]
    fn hits_until_expiry() {
        let mut cache = TokenCache::new(limits(10, 1 << 20));
        cache.insert(&token(1), entry(None, 100, 500));
        assert!(cache.get(&token(1), 100, |_| None).is_some());
        assert!(cache.get(&token(2), 100, |_| None).is_none());
        assert!(cache.get(&token(1), 101, |_| None).is_none());
        assert!(cache.is_empty(), "expired entries leave");
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn changed_remote_keys_invalidate() {
        let mut cache = TokenCache::new(limits(10, 1 << 20));
        cache.insert(&token(1), entry(Some(7), 100, 500));
        assert!(cache.get(&token(1), 0, |_| Some(7)).is_some());
        assert!(cache.get(&token(1), 0, |_| Some(8)).is_none());
        assert!(
            cache.get(&token(1), 0, |_| Some(7)).is_none(),
            "gone for good"
        );
        cache.insert(&token(2), entry(None, 100, 500));
        assert!(
            cache.get(&token(2), 0, |_| Some(9)).is_some(),
            "local keys never change"
        );
    }

    #[test]
    fn a_flood_of_unique_tokens_stays_within_both_bounds() {
        let mut cache = TokenCache::new(limits(100, 60_000));
        for n in 0..10_000 {
            cache.insert(&token(n), entry(None, i64::MAX, 400));
            assert!(cache.len() <= 100);
            assert!(cache.bytes() <= 60_000);
        }
        assert!(
            cache.get(&token(9_999), 0, |_| None).is_some(),
            "newest kept"
        );
        assert!(
            cache.get(&token(0), 0, |_| None).is_none(),
            "oldest evicted"
        );
        assert!(cache.order.len() <= 200);
    }

    #[test]
    fn zero_entries_disables_and_oversize_entries_are_skipped() {
        let mut off = TokenCache::new(limits(0, 1 << 20));
        off.insert(&token(1), entry(None, 100, 10));
        assert!(off.is_empty());
        let mut small = TokenCache::new(limits(10, 1000));
        small.insert(&token(1), entry(None, 100, 5000));
        assert!(small.is_empty());
    }

    #[test]
    fn lookups_are_counted_for_stats() {
        let mut cache = TokenCache::new(limits(10, 1 << 20));
        cache.insert(&token(1), entry(None, 100, 10));
        cache.get(&token(1), 0, |_| None);
        cache.get(&token(1), 0, |_| None);
        cache.get(&token(2), 0, |_| None);
        cache.get(&token(1), 101, |_| None);
        assert_eq!(cache.take_counts(), (2, 2));
        assert_eq!(cache.take_counts(), (0, 0));
    }

    #[test]
    fn reinserting_does_not_double_count() {
        let mut cache = TokenCache::new(limits(10, 1 << 20));
        cache.insert(&token(1), entry(None, 100, 100));
        let once = cache.bytes();
        cache.insert(&token(1), entry(None, 100, 100));
        assert_eq!(cache.bytes(), once);
        assert_eq!(cache.len(), 1);
    }
}
