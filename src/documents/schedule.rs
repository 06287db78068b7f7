//! When to fetch a remote document (a JWKS, the revocation feed), shared by every VM of one Envoy.
//!
//! Envoy runs one VM per worker thread plus one on the main thread, and each ticks. The state
//! below lives in proxy-wasm shared data; a VM that wants to fetch must first win a
//! compare-and-swap that records a lease, so one Envoy makes one fetch per period however many
//! workers it has. The lease expires on its own, so a VM that vanishes mid-fetch cannot stall it.

/// Backoff after a failed fetch starts here and doubles, capped at the refresh period.
const FIRST_RETRY_MS: u64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeedState {
    /// When the next fetch is due (0: now).
    pub next_due_ms: u64,
    /// A fetch is in flight until then (0: none).
    pub lease_until_ms: u64,
    /// Consecutive failures, for the backoff.
    pub failures: u32,
    /// The last refetch triggered by an unknown `kid`, for its cooldown.
    pub last_kid_miss_ms: u64,
}

impl FeedState {
    pub fn encode(&self) -> Vec<u8> {
        format!(
            "v1 {} {} {} {}",
            self.next_due_ms, self.lease_until_ms, self.failures, self.last_kid_miss_ms
        )
        .into_bytes()
    }

    /// Anything unreadable counts as a fresh state: the worst case is one early fetch.
    pub fn decode(bytes: &[u8]) -> FeedState {
        let text = std::str::from_utf8(bytes).unwrap_or_default();
        let mut fields = text.split(' ');
        if fields.next() != Some("v1") {
            return FeedState::default();
        }
        let mut number = || fields.next().and_then(|f| f.parse::<u64>().ok());
        match (number(), number(), number(), number()) {
            (Some(next_due_ms), Some(lease_until_ms), Some(failures), Some(last_kid_miss_ms)) => {
                FeedState {
                    next_due_ms,
                    lease_until_ms,
                    failures: u32::try_from(failures).unwrap_or(u32::MAX),
                    last_kid_miss_ms,
                }
            }
            _ => FeedState::default(),
        }
    }

    fn in_flight(&self, now_ms: u64) -> bool {
        self.lease_until_ms > now_ms
    }

    /// The state to write to claim a fetch now, or `None` if none is due or one is in flight.
    pub fn claim(&self, now_ms: u64, lease_ms: u64) -> Option<FeedState> {
        (now_ms >= self.next_due_ms && !self.in_flight(now_ms)).then_some(FeedState {
            lease_until_ms: now_ms.saturating_add(lease_ms),
            ..*self
        })
    }

    pub fn succeeded(&self, now_ms: u64, refresh_ms: u64) -> FeedState {
        FeedState {
            next_due_ms: now_ms.saturating_add(refresh_ms),
            lease_until_ms: 0,
            failures: 0,
            ..*self
        }
    }

    /// Keeps the last good data (the caller does not publish) and retries with backoff.
    pub fn failed(&self, now_ms: u64, refresh_ms: u64) -> FeedState {
        let failures = self.failures.saturating_add(1);
        let backoff = FIRST_RETRY_MS
            .saturating_mul(1u64 << failures.saturating_sub(1).min(20))
            .min(refresh_ms.max(FIRST_RETRY_MS));
        FeedState {
            next_due_ms: now_ms.saturating_add(backoff),
            lease_until_ms: 0,
            failures,
            ..*self
        }
    }

    /// A token named an unknown `kid`: make a fetch due now, unless one is in flight or the
    /// last such refetch is within the cooldown. A flood of random `kid`s costs one fetch.
    pub fn kid_miss(&self, now_ms: u64, cooldown_ms: u64) -> Option<FeedState> {
        if self.in_flight(now_ms)
            || (self.last_kid_miss_ms != 0
                && now_ms < self.last_kid_miss_ms.saturating_add(cooldown_ms))
        {
            return None;
        }
        Some(FeedState {
            next_due_ms: now_ms,
            last_kid_miss_ms: now_ms,
            ..*self
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_state_is_due_at_once_and_one_claim_wins() {
        let fresh = FeedState::default();
        let claimed = fresh.claim(5_000, 3_000).unwrap();
        assert_eq!(claimed.lease_until_ms, 8_000);
        assert_eq!(claimed.claim(6_000, 3_000), None, "in flight");
        assert!(
            claimed.claim(8_000, 3_000).is_some(),
            "an abandoned lease expires"
        );
    }

    #[test]
    fn success_schedules_the_next_refresh() {
        let done = FeedState::default()
            .claim(1_000, 3_000)
            .unwrap()
            .succeeded(2_000, 300_000);
        assert_eq!(done.next_due_ms, 302_000);
        assert_eq!(done.lease_until_ms, 0);
        assert_eq!(done.claim(301_999, 3_000), None);
        assert!(done.claim(302_000, 3_000).is_some());
    }

    #[test]
    fn failures_back_off_up_to_the_refresh_period() {
        let mut state = FeedState::default();
        let mut delays = Vec::new();
        for _ in 0..8 {
            state = state.failed(0, 10_000);
            delays.push(state.next_due_ms);
        }
        assert_eq!(
            delays,
            vec![1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000, 10_000]
        );
        assert_eq!(state.succeeded(0, 10_000).failures, 0);
    }

    #[test]
    fn kid_misses_are_rate_limited() {
        let idle = FeedState::default().succeeded(0, 300_000);
        let first = idle.kid_miss(10_000, 30_000).unwrap();
        assert_eq!(first.next_due_ms, 10_000);
        let fetching = first.claim(10_000, 3_000).unwrap();
        assert_eq!(fetching.kid_miss(10_500, 30_000), None, "one in flight");
        let fetched = fetching.succeeded(11_000, 300_000);
        assert_eq!(
            fetched.kid_miss(20_000, 30_000),
            None,
            "within the cooldown"
        );
        assert!(fetched.kid_miss(40_000, 30_000).is_some());
    }

    #[test]
    fn encoding_round_trips_and_garbage_is_fresh() {
        let state = FeedState {
            next_due_ms: 1,
            lease_until_ms: 2,
            failures: 3,
            last_kid_miss_ms: 4,
        };
        assert_eq!(FeedState::decode(&state.encode()), state);
        for junk in [&b""[..], b"v2 1 2 3 4", b"v1 1 2", b"v1 a b c d", b"\xff"] {
            assert_eq!(FeedState::decode(junk), FeedState::default());
        }
    }
}
