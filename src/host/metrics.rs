//! Envoy counters: defined once, then incremented. What a request counts is decided by the core
//! (`request::stats`); this only makes the host calls.

use std::cell::RefCell;
use std::collections::HashMap;

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

use crate::documents::sync::FeedKind;
use crate::request::cache::TokenCache;
use crate::request::stats::{Counter, Tally, FETCH_COUNTERS, STANDING_COUNTERS};

pub(super) struct Metrics {
    /// By [`FETCH_COUNTERS`] index.
    fetches: [Option<u32>; FETCH_COUNTERS.len()],
    /// Request outcomes since the last flush.
    pub(super) tally: RefCell<Tally>,
    /// Counter ids by counter, defined on first use.
    ids: RefCell<HashMap<Counter, Option<u32>>>,
}

const JWKS_OK: usize = 0;
const JWKS_FAILED: usize = 1;
const REVOCATION_OK: usize = 2;
const REVOCATION_FAILED: usize = 3;
const KID_MISS_REFETCH: usize = 4;
const JWKS_NOT_MODIFIED: usize = 5;
const REVOCATION_NOT_MODIFIED: usize = 6;

fn define(name: &str) -> Option<u32> {
    hostcalls::define_metric(MetricType::Counter, name).ok()
}

impl Metrics {
    pub(super) fn define() -> Metrics {
        let metrics = Metrics {
            fetches: FETCH_COUNTERS.map(define),
            tally: RefCell::new(Tally::default()),
            ids: RefCell::new(HashMap::new()),
        };
        for counter in STANDING_COUNTERS {
            metrics.id(counter);
        }
        metrics
    }

    fn id(&self, counter: Counter) -> Option<u32> {
        *self
            .ids
            .borrow_mut()
            .entry(counter)
            .or_insert_with(|| define(&counter.name()))
    }

    /// Adds what was tallied since the last flush (and the cache's lookups) to Envoy's counters.
    pub(super) fn flush(&self, cache: &mut TokenCache) {
        let counts = self.tally.borrow_mut().take(cache.take_counts());
        for (counter, n) in counts {
            if let Some(id) = self.id(counter) {
                let _ = hostcalls::increment_metric(id, i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
    }

    fn bump(&self, index: usize) {
        if let Some(Some(id)) = self.fetches.get(index) {
            let _ = hostcalls::increment_metric(*id, 1);
        }
    }

    pub(super) fn fetched(&self, kind: FeedKind, ok: bool) {
        self.bump(match (kind, ok) {
            (FeedKind::Jwks { .. }, true) => JWKS_OK,
            (FeedKind::Jwks { .. }, false) => JWKS_FAILED,
            (FeedKind::Revocations, true) => REVOCATION_OK,
            (FeedKind::Revocations, false) => REVOCATION_FAILED,
        });
    }

    /// A 304: counted on top of the fetch's `_ok`.
    pub(super) fn not_modified(&self, kind: FeedKind) {
        self.bump(match kind {
            FeedKind::Jwks { .. } => JWKS_NOT_MODIFIED,
            FeedKind::Revocations => REVOCATION_NOT_MODIFIED,
        });
    }

    pub(super) fn kid_miss_refetch(&self) {
        self.bump(KID_MISS_REFETCH);
    }
}
