//! What a request adds to Envoy's counters, as data. Requests are tallied in memory and the host
//! adds the tally to Envoy's counters on each tick, so that a request costs no host call for its
//! stats (the counters lag by at most one tick). Counter names are the filter's stats contract.

use std::collections::HashMap;

use crate::request::decision::{Decision, Verdict};
use crate::request::outcome::Outcome;

/// A request counter: `jwt_relay.allowed`, `.denied`, `.cache_hit`, `.cache_miss`, then
/// `jwt_relay.<outcome>` for allowed outcomes other than `allowed` and
/// `jwt_relay.denied.<outcome>` for refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counter {
    Allowed,
    Denied,
    CacheHit,
    CacheMiss,
    AllowedAs(Outcome),
    DeniedAs(Outcome),
}

impl Counter {
    pub fn name(self) -> String {
        match self {
            Counter::Allowed => "jwt_relay.allowed".into(),
            Counter::Denied => "jwt_relay.denied".into(),
            Counter::CacheHit => "jwt_relay.cache_hit".into(),
            Counter::CacheMiss => "jwt_relay.cache_miss".into(),
            Counter::AllowedAs(outcome) => format!("jwt_relay.{}", outcome.name()),
            Counter::DeniedAs(outcome) => format!("jwt_relay.denied.{}", outcome.name()),
        }
    }
}

/// Counters defined up front, so that they read 0 rather than being absent.
pub const STANDING_COUNTERS: [Counter; 6] = [
    Counter::Allowed,
    Counter::AllowedAs(Outcome::Narrowed),
    Counter::Denied,
    Counter::CacheHit,
    Counter::CacheMiss,
    Counter::DeniedAs(Outcome::EmbeddedMissing),
];

/// Document fetches, counted by the host as they end (they are rare). A 304 Not Modified is a
/// successful fetch (`_ok`) and is also counted as `_not_modified`.
pub const FETCH_COUNTERS: [&str; 7] = [
    "jwt_relay.jwks_fetch_ok",
    "jwt_relay.jwks_fetch_failed",
    "jwt_relay.revocation_fetch_ok",
    "jwt_relay.revocation_fetch_failed",
    "jwt_relay.jwks_kid_miss_refetch",
    "jwt_relay.jwks_fetch_not_modified",
    "jwt_relay.revocation_fetch_not_modified",
];

/// Request outcomes since the host last took them.
#[derive(Debug, Default)]
pub struct Tally {
    pending: HashMap<Counter, u64>,
}

impl Tally {
    /// Counts one decision: every request is `allowed` or `denied` (and `denied.<reason>`);
    /// narrowed and stripped requests are counted as such too. A call out is counted when the
    /// decision it resumes allows or denies.
    pub fn record(&mut self, decision: &Decision<'_>) {
        let outcome = decision.facts.outcome;
        match decision.verdict {
            Verdict::Allow(_) => {
                self.count(Counter::Allowed, 1);
                if outcome != Outcome::Allowed {
                    self.count(Counter::AllowedAs(outcome), 1);
                }
            }
            Verdict::Deny { .. } => {
                self.count(Counter::Denied, 1);
                self.count(Counter::DeniedAs(outcome), 1);
            }
            Verdict::Callout { .. } => {}
        }
    }

    pub fn count(&mut self, counter: Counter, n: u64) {
        if n > 0 {
            let total = self.pending.entry(counter).or_insert(0);
            *total = total.saturating_add(n);
        }
    }

    /// Everything counted so far, with the cache's (hits, misses) since the last take; the
    /// tally starts again from zero.
    pub fn take(&mut self, (hits, misses): (u64, u64)) -> HashMap<Counter, u64> {
        self.count(Counter::CacheHit, hits);
        self.count(Counter::CacheMiss, misses);
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::decision::{Facts, HeaderPlan};
    use crate::request::reply::{self, Challenge};
    use crate::token::Refusal;

    fn decision(verdict: Verdict, outcome: Outcome) -> Decision<'static> {
        let facts = Facts {
            role: None,
            outcome,
            issuer: None,
            fingerprint: None,
            narrowed_to: None,
            refetch_jwks: None,
            claims: Vec::new(),
            route_error: None,
        };
        Decision { verdict, facts }
    }

    fn allow(outcome: Outcome) -> Decision<'static> {
        decision(Verdict::Allow(HeaderPlan::default()), outcome)
    }

    fn deny(outcome: Outcome) -> Decision<'static> {
        let denial = reply::deny("jwt-relay", Challenge::InvalidToken, "refused");
        decision(
            Verdict::Deny {
                denial,
                strip: Vec::new(),
            },
            outcome,
        )
    }

    #[test]
    fn fetch_counters_are_distinct_and_each_document_has_ok_failed_and_not_modified() {
        let mut names = FETCH_COUNTERS.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FETCH_COUNTERS.len());
        for document in ["jwks", "revocation"] {
            for outcome in ["ok", "failed", "not_modified"] {
                let name = format!("jwt_relay.{document}_fetch_{outcome}");
                assert!(FETCH_COUNTERS.contains(&name.as_str()), "{name}");
            }
        }
    }

    #[test]
    fn each_request_counts_once_as_allowed_or_denied_and_once_by_its_outcome() {
        let mut tally = Tally::default();
        tally.record(&allow(Outcome::Allowed));
        tally.record(&allow(Outcome::Narrowed));
        tally.record(&deny(Outcome::Missing));
        tally.record(&deny(Outcome::Invalid(Refusal::Expired)));
        let counts = tally.take((3, 1));
        let named: HashMap<String, u64> = counts.iter().map(|(c, n)| (c.name(), *n)).collect();
        let expected: HashMap<String, u64> = [
            ("jwt_relay.allowed", 2),
            ("jwt_relay.narrowed", 1),
            ("jwt_relay.denied", 2),
            ("jwt_relay.denied.missing", 1),
            ("jwt_relay.denied.expired", 1),
            ("jwt_relay.cache_hit", 3),
            ("jwt_relay.cache_miss", 1),
        ]
        .into_iter()
        .map(|(name, n)| (name.to_owned(), n))
        .collect();
        assert_eq!(named, expected);
        assert!(
            tally.take((0, 0)).is_empty(),
            "a take starts the tally again"
        );
    }
}
