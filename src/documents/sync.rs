//! Keeping remote documents current across the VMs of one Envoy, behind a small store seam.
//!
//! Every VM (one per worker, one on the main thread) holds its own [`Fetched`]. What they share
//! is proxy-wasm shared data, a key-value store with compare-and-swap: per feed a schedule
//! ([`FeedState`], with the fetch lease), the last good document (its body with the validators
//! and freshness it came with, one value: [`Stored`]), and a version key that is bumped after
//! each publish. One VM wins the lease and fetches, conditionally when a document is stored (its
//! `ETag` or `Last-Modified`); it installs and publishes only a body that parses (document first,
//! then the version, so that a VM that sees a new version reads a document at least that new);
//! every other VM installs a changed version once. A 304 Not Modified publishes nothing: the
//! stored document stays, the schedule advances as for a 200.
//!
//! The logic is here, against [`SharedStore`]; the host adapter implements the store with
//! proxy-wasm calls and does the HTTP dispatch, logging and stats. Native tests drive several
//! VMs over one in-memory store, with writers interleaved where the host would let them.

use sha2::{Digest as _, Sha256};

use crate::config::{FeedSource, FilterConfig, ProviderId};
use crate::documents::conditional::{self, Described, Freshness, Stored, Validators};
use crate::documents::fetched::{self, Fetched};
use crate::documents::schedule::FeedState;

/// Attempts at a contended compare-and-swap before giving up until the next tick.
const CAS_ATTEMPTS: usize = 8;
/// Grace beyond a fetch's timeout before its lease counts as abandoned.
pub const LEASE_MARGIN_MS: u64 = 1000;
/// The layout of a feed's shared data; part of its keys, so that builds that keep documents in
/// another form never read each other's (shared data has no delete: each layout keeps its three
/// keys per feed, and no more).
const LAYOUT: &str = "document-1";

/// A compare-and-swap store shared by every VM of one Envoy (proxy-wasm shared data).
pub trait SharedStore {
    /// The value and its CAS token, `(None, _)` for a missing key; `Err` when the host fails.
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), StoreError>;
    /// Writes `value` if the key's CAS token is still `cas` (`None`: unconditionally).
    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// Another VM wrote since this one read (a write only).
    CasMismatch,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedKind {
    Jwks { provider: ProviderId },
    Revocations,
}

/// One remote document and where its shared state lives.
#[derive(Debug, Clone)]
pub struct Feed {
    pub kind: FeedKind,
    pub source: FeedSource,
    kid_miss_cooldown_ms: u64,
    state_key: String,
    document_key: String,
    version_key: String,
}

/// A fetch's answer, as far as [`fetched::check_response`] let the host read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// A 200: its body, and what its headers said about it.
    Full { body: Vec<u8>, described: Described },
    /// A 304 to a conditional request, and what its headers said (a `Cache-Control` here
    /// replaces the stored one; its validators are not taken).
    NotModified { described: Described },
}

impl Feed {
    pub fn new(kind: FeedKind, source: &FeedSource, kid_miss_cooldown_seconds: u64) -> Feed {
        // Keyed by the source itself, so listeners whose configs share a JWKS or feed share one
        // fetch; all fields are in the key so that differing settings never mix.
        let tag = match kind {
            FeedKind::Jwks { .. } => "jwks",
            FeedKind::Revocations => "revocations",
        };
        let digest = Sha256::digest(format!("{tag}|{LAYOUT}|{source:?}").as_bytes());
        let id: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        let base = format!("jwt_relay/{tag}/{id}");
        Feed {
            kind,
            source: source.clone(),
            kid_miss_cooldown_ms: kid_miss_cooldown_seconds.saturating_mul(1000),
            state_key: format!("{base}/state"),
            document_key: format!("{base}/document"),
            version_key: format!("{base}/version"),
        }
    }

    /// For logs: which document, from where.
    pub fn name(&self) -> String {
        let what = match self.kind {
            FeedKind::Jwks { provider } => format!("JWKS of {provider}"),
            FeedKind::Revocations => "revocation feed".to_owned(),
        };
        format!("{what} ({}{})", self.source.cluster, self.source.path)
    }

    /// The GET that fetches this document: its request headers (pseudo-headers included), with
    /// the precondition of `validators` (those of the stored document, see
    /// [`FeedSync::validators`]) when there are any.
    pub fn request_headers<'a>(
        &'a self,
        validators: Option<&'a Validators>,
    ) -> Vec<(&'a str, &'a str)> {
        let mut headers = vec![
            (":method", "GET"),
            (":path", self.source.path.as_str()),
            (":authority", self.source.authority.as_str()),
            ("accept", "application/json"),
        ];
        headers.extend(validators.and_then(Validators::condition));
        headers
    }

    /// The configured period: after a failure, backoff is capped by it.
    fn refresh_ms(&self) -> u64 {
        self.source.refresh_seconds.saturating_mul(1000)
    }

    /// The period until the next fetch after a success whose answer said `freshness`.
    fn next_refresh_ms(&self, freshness: Freshness) -> u64 {
        freshness
            .refresh_seconds(self.source.refresh_seconds, self.source.cache_control)
            .saturating_mul(1000)
    }

    /// Parses `body` and puts it into this VM's `fetched`; nothing changes if it does not parse.
    /// `digest` is [`conditional::digest`] of the body.
    pub fn install(&self, fetched: &mut Fetched, body: &[u8], digest: u64) -> Result<(), String> {
        match self.kind {
            FeedKind::Jwks { provider } => {
                let parsed = fetched::parse_remote_jwks(body, self.source.max_bytes)?;
                // The document's digest versions the keys: cached verifications by keys that
                // have since changed are dropped, and a refetch of the same document keeps them.
                fetched.set_remote_keys(provider, parsed.keys, digest);
            }
            FeedKind::Revocations => {
                let list = fetched::parse_revocations(body, self.source.max_bytes)?;
                fetched.set_revocations(list);
            }
        }
        Ok(())
    }

    /// The stored document, as bytes to decode (`None`: none, or the host failed).
    fn stored(&self, store: &impl SharedStore) -> Option<Vec<u8>> {
        store.get(&self.document_key).ok()?.0
    }
}

/// A fetch this VM took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// The body's size (a 304: that of the stored document it confirmed).
    pub bytes: usize,
    /// Whether other VMs can see it (else they fetch it again themselves when due).
    pub published: bool,
    /// A 304: the stored document is still current, nothing was published.
    pub not_modified: bool,
}

/// What one VM holds of one feed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Held {
    /// The published version it has looked at (`None`: look at the next sync).
    version: Option<u32>,
    /// The digest of the body it installed (`None`: none yet).
    digest: Option<u64>,
}

/// One VM's view of every feed: which published version it has installed.
#[derive(Debug)]
pub struct FeedSync {
    feeds: Vec<Feed>,
    held: Vec<Held>,
}

impl FeedSync {
    /// The documents a config needs: each provider's remote JWKS, then the revocation feed.
    pub fn for_config(config: &FilterConfig) -> FeedSync {
        let jwks = config
            .providers_with_ids()
            .filter_map(|(provider, settings)| {
                let remote = settings.remote_jwks.as_ref()?;
                Some(Feed::new(
                    FeedKind::Jwks { provider },
                    &remote.source,
                    remote.kid_miss_cooldown_seconds,
                ))
            });
        let revocations = config
            .revocation
            .iter()
            .map(|revocation| Feed::new(FeedKind::Revocations, &revocation.source, 0));
        FeedSync::new(jwks.chain(revocations).collect())
    }

    pub fn new(feeds: Vec<Feed>) -> FeedSync {
        FeedSync {
            held: vec![Held::default(); feeds.len()],
            feeds,
        }
    }

    pub fn feeds(&self) -> &[Feed] {
        &self.feeds
    }

    /// Creates each feed's schedule if absent, so that the first claim is a real
    /// compare-and-swap (a write to a missing key is never checked).
    pub fn create_schedules(&self, store: &impl SharedStore) {
        for feed in &self.feeds {
            if matches!(store.get(&feed.state_key), Ok((None, _))) {
                let _ = store.set(&feed.state_key, &FeedState::default().encode(), None);
            }
        }
    }

    /// Installs the published document of each feed whose version changed since this VM looked
    /// (`only_cold`: only feeds it has never installed, the cheap check a request makes). A
    /// document whose body this VM already holds is not parsed again. Returns the feeds whose
    /// published document did not install, and why.
    pub fn sync(
        &mut self,
        store: &impl SharedStore,
        fetched: &mut Fetched,
        only_cold: bool,
    ) -> Vec<(usize, String)> {
        let mut refused = Vec::new();
        for (index, (feed, held)) in self.feeds.iter().zip(&mut self.held).enumerate() {
            if only_cold && held.digest.is_some() {
                continue;
            }
            // The version first, then the document: the document is at least that new.
            let Ok((_, Some(version))) = store.get(&feed.version_key) else {
                continue;
            };
            if held.version == Some(version) {
                continue;
            }
            let Some(value) = feed.stored(store) else {
                continue;
            };
            match Stored::decode(&value).and_then(|stored| hold(feed, held, fetched, &stored)) {
                Ok(()) => held.version = Some(version),
                Err(why) => refused.push((index, why)),
            }
        }
        refused
    }

    /// The validators of a feed's stored document, for the precondition of its next fetch;
    /// `None` when no document is stored or it came without any (the fetch is unconditional).
    pub fn validators(&self, store: &impl SharedStore, index: usize) -> Option<Validators> {
        let value = self.feeds.get(index)?.stored(store)?;
        let validators = Stored::decode(&value).ok()?.described.validators;
        (!validators.is_empty()).then_some(validators)
    }

    /// Claims the lease of every feed that is due: the indexes this VM must fetch now.
    pub fn claim_due(&self, store: &impl SharedStore, now_ms: u64) -> Vec<usize> {
        let mut won = Vec::new();
        for (index, feed) in self.feeds.iter().enumerate() {
            let lease_ms = feed.source.timeout_ms.saturating_add(LEASE_MARGIN_MS);
            if update_state(store, &feed.state_key, |state| {
                state.claim(now_ms, lease_ms)
            }) {
                won.push(index);
            }
        }
        won
    }

    /// A fetch this VM started has ended (or could not start: `Err`); `sent` is the validators
    /// its request carried. A 200's body is installed here, then published with its validators;
    /// a 304 confirms the stored document (installed here if this VM lacks it). Either schedules
    /// the next fetch after the refresh period the answer asked for, within the configured
    /// bounds. Anything that fails keeps the last good copy and backs off. Returns what was
    /// taken, or why nothing was.
    pub fn fetched(
        &mut self,
        store: &impl SharedStore,
        fetched: &mut Fetched,
        index: usize,
        outcome: Result<Response, String>,
        sent: Option<&Validators>,
        now_ms: u64,
    ) -> Result<Taken, String> {
        let (Some(feed), Some(held)) = (self.feeds.get(index), self.held.get_mut(index)) else {
            return Err("no such feed".into());
        };
        let taken = outcome.and_then(|response| match response {
            Response::Full { body, described } => {
                take_full(feed, held, store, fetched, &body, &described)
            }
            Response::NotModified { described } => {
                take_not_modified(feed, held, store, fetched, sent, described.freshness)
            }
        });
        match taken {
            Ok((taken, freshness)) => {
                let refresh_ms = feed.next_refresh_ms(freshness);
                update_state(store, &feed.state_key, |state| {
                    Some(state.succeeded(now_ms, refresh_ms))
                });
                Ok(taken)
            }
            Err(why) => {
                let refresh_ms = feed.refresh_ms();
                update_state(store, &feed.state_key, |state| {
                    Some(state.failed(now_ms, refresh_ms))
                });
                Err(why)
            }
        }
    }

    /// A token named a `kid` the provider's keys lack: make its JWKS due now, rate-limited.
    /// Returns whether this request made it due.
    pub fn kid_miss(&self, store: &impl SharedStore, provider: ProviderId, now_ms: u64) -> bool {
        self.feeds
            .iter()
            .find(|feed| feed.kind == FeedKind::Jwks { provider })
            .is_some_and(|feed| {
                update_state(store, &feed.state_key, |state| {
                    state.kid_miss(now_ms, feed.kid_miss_cooldown_ms)
                })
            })
    }
}

/// Makes `stored` this VM's copy of the feed, parsing it only if its body is not the one held.
fn hold(
    feed: &Feed,
    held: &mut Held,
    fetched: &mut Fetched,
    stored: &Stored<'_>,
) -> Result<(), String> {
    if held.digest != Some(stored.digest) {
        feed.install(fetched, stored.body, stored.digest)?;
        held.digest = Some(stored.digest);
    }
    Ok(())
}

/// A 200: installs the body, then publishes it with what its headers said.
fn take_full(
    feed: &Feed,
    held: &mut Held,
    store: &impl SharedStore,
    fetched: &mut Fetched,
    body: &[u8],
    described: &Described,
) -> Result<(Taken, Freshness), String> {
    let digest = conditional::digest(body);
    feed.install(fetched, body, digest)?;
    held.digest = Some(digest);
    // Publish, then bump the version: a VM that sees the new version reads this document.
    let published = store
        .set(
            &feed.document_key,
            &Stored::encode(described, digest, body),
            None,
        )
        .and_then(|()| store.set(&feed.version_key, b"v", None));
    held.version = if published.is_ok() {
        // Which version holds this document is not known (another VM may publish between the
        // two writes and a read): the next sync looks, and parses only a body this VM lacks.
        None
    } else {
        // Not published: keep this document rather than go back to the stored one.
        store.get(&feed.version_key).ok().and_then(|(_, cas)| cas)
    };
    let taken = Taken {
        bytes: body.len(),
        published: published.is_ok(),
        not_modified: false,
    };
    Ok((taken, described.freshness))
}

/// A 304: the stored document is current, if it is still the one whose validators were sent.
fn take_not_modified(
    feed: &Feed,
    held: &mut Held,
    store: &impl SharedStore,
    fetched: &mut Fetched,
    sent: Option<&Validators>,
    freshness: Freshness,
) -> Result<(Taken, Freshness), String> {
    let Some(sent) = sent else {
        return Err("status 304 to a request that sent no validator".into());
    };
    // The version first, then the document, as in `sync`.
    let version = store.get(&feed.version_key).ok().and_then(|(_, cas)| cas);
    let value = feed
        .stored(store)
        .ok_or("status 304, but no document is stored")?;
    let stored = Stored::decode(&value)?;
    if stored.described.validators != *sent {
        // Another VM published since this request was sent: what the 304 confirms is gone.
        return Err("status 304 for a document that is no longer the stored one".into());
    }
    hold(feed, held, fetched, &stored)?;
    held.version = version;
    let freshness = match freshness {
        Freshness::Unstated => stored.described.freshness,
        stated => stated,
    };
    let taken = Taken {
        bytes: stored.body.len(),
        published: true,
        not_modified: true,
    };
    Ok((taken, freshness))
}

/// Read-modify-write of a shared `FeedState` under compare-and-swap. `change` returns `None`
/// to leave the state as it is. Returns whether this VM's change was written.
fn update_state(
    store: &impl SharedStore,
    key: &str,
    change: impl Fn(&FeedState) -> Option<FeedState>,
) -> bool {
    for _ in 0..CAS_ATTEMPTS {
        let Ok((raw, cas)) = store.get(key) else {
            return false;
        };
        let state = raw.as_deref().map(FeedState::decode).unwrap_or_default();
        let Some(next) = change(&state) else {
            return false;
        };
        match store.set(key, &next.encode(), cas) {
            Ok(()) => return true,
            Err(StoreError::CasMismatch) => continue,
            Err(StoreError::Failed) => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;
    use crate::config::FilterConfig;

    type Interleave = Box<dyn FnOnce(&MemoryStore)>;

    /// Shared data as Envoy keeps it: a CAS token per key, bumped on every write; a write with
    /// a token is refused once another VM has written, a write to a missing key always lands.
    /// `before_set` runs another VM's steps just before the next write, as a worker thread can.
    #[derive(Default)]
    struct MemoryStore {
        data: RefCell<HashMap<String, (Vec<u8>, u32)>>,
        before_set: RefCell<Vec<(String, Interleave)>>,
    }

    impl MemoryStore {
        fn before_next_set(&self, key: &str, other: impl FnOnce(&MemoryStore) + 'static) {
            self.before_set
                .borrow_mut()
                .push((key.to_owned(), Box::new(other)));
        }
    }

    impl SharedStore for MemoryStore {
        fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), StoreError> {
            Ok(match self.data.borrow().get(key) {
                Some((value, cas)) => (Some(value.clone()), Some(*cas)),
                None => (None, None),
            })
        }

        fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError> {
            let hook = {
                let mut hooks = self.before_set.borrow_mut();
                let at = hooks.iter().position(|(k, _)| key.ends_with(k.as_str()));
                at.map(|at| hooks.remove(at).1)
            };
            if let Some(other) = hook {
                other(self);
            }
            let mut data = self.data.borrow_mut();
            let current = data.get(key).map(|(_, c)| *c);
            if let (Some(want), Some(have)) = (cas, current) {
                if want != have {
                    return Err(StoreError::CasMismatch);
                }
            }
            let next = current.unwrap_or(0) + 1;
            data.insert(key.to_owned(), (value.to_vec(), next));
            Ok(())
        }
    }

    fn config() -> FilterConfig {
        let config = json!({
            "providers": [{
                "issuer": "https://idp.example.com",
                "audiences": ["api"],
                "remote_jwks": {"cluster": "idp", "path": "/jwks", "refresh_seconds": 60, "timeout_ms": 1000,
                    "min_refresh_seconds": 10, "max_refresh_seconds": 600},
            }],
            "revocation": {"cluster": "idp", "path": "/revocations", "claim": "sid", "refresh_seconds": 60, "timeout_ms": 1000},
        });
        FilterConfig::from_json(config.to_string().as_bytes()).unwrap()
    }

    /// One VM: its own `Fetched` and view of the feeds.
    struct Vm {
        sync: FeedSync,
        fetched: Fetched,
    }

    const JWKS: usize = 0;
    const FIRST: ProviderId = ProviderId::from_index(0);
    const FEED: usize = 1;

    impl Vm {
        /// A fetch's end as the host reports it: a 200 with this body and no validators (or
        /// the failure), for a request that sent none.
        fn take(
            &mut self,
            store: &MemoryStore,
            index: usize,
            outcome: Result<Vec<u8>, String>,
            now_ms: u64,
        ) -> Result<Taken, String> {
            let response = outcome.map(|body| Response::Full {
                body,
                described: Described::default(),
            });
            self.sync
                .fetched(store, &mut self.fetched, index, response, None, now_ms)
        }
    }

    fn vm() -> Vm {
        let config = config();
        let sync = FeedSync::for_config(&config);
        let kinds: Vec<FeedKind> = sync.feeds().iter().map(|feed| feed.kind).collect();
        assert_eq!(
            kinds,
            [
                FeedKind::Jwks {
                    provider: ProviderId::from_index(0)
                },
                FeedKind::Revocations
            ]
        );
        Vm {
            sync,
            fetched: Fetched::new(&config),
        }
    }

    fn feed_body(sids: &[&str]) -> Vec<u8> {
        let revoked: Vec<_> = sids
            .iter()
            .map(|sid| json!({"sid": sid, "revoked_at": 1}))
            .collect();
        json!({ "revoked": revoked }).to_string().into_bytes()
    }

    fn jwks_body() -> Vec<u8> {
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]})
        .to_string()
        .into_bytes()
    }

    fn revoked_count(vm: &Vm) -> Option<usize> {
        vm.fetched.revocations().map(|list| list.len())
    }

    #[test]
    fn one_vm_fetches_and_every_other_installs_what_it_published() {
        let store = MemoryStore::default();
        let (mut a, mut b) = (vm(), vm());
        a.sync.create_schedules(&store);
        b.sync.create_schedules(&store);
        assert_eq!(a.sync.claim_due(&store, 1_000), vec![JWKS, FEED]);
        assert_eq!(b.sync.claim_due(&store, 1_000), Vec::<usize>::new());
        let taken = a
            .take(&store, FEED, Ok(feed_body(&["s1", "s2"])), 1_100)
            .unwrap();
        assert!(taken.published);
        assert_eq!(revoked_count(&a), Some(2));
        assert_eq!(revoked_count(&b), None);
        assert!(b.sync.sync(&store, &mut b.fetched, true).is_empty());
        assert_eq!(revoked_count(&b), Some(2));
        // Installed once: the same version is not parsed again.
        b.fetched.set_revocations(Default::default());
        assert!(b.sync.sync(&store, &mut b.fetched, false).is_empty());
        assert_eq!(
            revoked_count(&b),
            Some(0),
            "an unchanged version is not reinstalled"
        );
        // The JWKS fetch is in flight until its timeout and margin; then anyone may take it over.
        assert_eq!(
            b.sync.claim_due(&store, 2_999),
            Vec::<usize>::new(),
            "JWKS lease held"
        );
        assert_eq!(b.sync.claim_due(&store, 3_000), vec![JWKS]);
        b.take(&store, JWKS, Ok(jwks_body()), 3_100).unwrap();
        // Each is due again after its refresh period, not before.
        assert_eq!(a.sync.claim_due(&store, 61_099), Vec::<usize>::new());
        assert_eq!(a.sync.claim_due(&store, 61_100), vec![FEED]);
    }

    #[test]
    fn two_vms_racing_for_a_lease_make_one_fetch() {
        let store = Rc::new(MemoryStore::default());
        let a = vm();
        a.sync.create_schedules(&*store);
        // B reads and claims between A's read and A's write: A's CAS fails, it reads again,
        // sees B's lease and does not fetch.
        let won_by_b = Rc::new(RefCell::new(Vec::new()));
        let record = Rc::clone(&won_by_b);
        store.before_next_set("/state", move |store| {
            *record.borrow_mut() = vm().sync.claim_due(store, 1_000);
        });
        let won_by_a = a.sync.claim_due(&*store, 1_000);
        assert_eq!(*won_by_b.borrow(), vec![JWKS, FEED], "B claimed both");
        assert_eq!(won_by_a, Vec::<usize>::new(), "A lost both to B's write");
    }

    #[test]
    fn a_lease_lost_mid_fetch_is_taken_over_and_the_late_answer_does_no_harm() {
        let store = MemoryStore::default();
        let (mut a, mut b, mut c) = (vm(), vm(), vm());
        a.sync.create_schedules(&store);
        assert_eq!(a.sync.claim_due(&store, 1_000), vec![JWKS, FEED]);
        // A's fetch hangs past timeout + margin: its lease has expired, B takes it over.
        let lease_end = 1_000 + 1_000 + LEASE_MARGIN_MS;
        assert_eq!(b.sync.claim_due(&store, lease_end - 1), Vec::<usize>::new());
        assert_eq!(b.sync.claim_due(&store, lease_end), vec![JWKS, FEED]);
        b.take(&store, FEED, Ok(feed_body(&["new"])), lease_end + 10)
            .unwrap();
        // A's answer arrives late with an older document: it is valid, installed and published
        // like any other; the next VM to look installs whatever was published last, whole.
        a.take(
            &store,
            FEED,
            Ok(feed_body(&["old", "older"])),
            lease_end + 20,
        )
        .unwrap();
        assert!(c.sync.sync(&store, &mut c.fetched, false).is_empty());
        assert_eq!(revoked_count(&c), Some(2));
        // B sees a new version and follows it: every VM converges on one document.
        assert!(b.sync.sync(&store, &mut b.fetched, false).is_empty());
        assert_eq!(revoked_count(&b), Some(2));
        // A's late success schedules no feed fetch before the refresh period (and B still
        // holds the JWKS lease).
        assert_eq!(
            c.sync.claim_due(&store, lease_end + 1_000),
            Vec::<usize>::new()
        );
        assert_eq!(c.sync.claim_due(&store, lease_end + 2_000), vec![JWKS]);
    }

    #[test]
    fn a_publish_torn_by_a_concurrent_writer_still_installs_a_whole_document() {
        let store = MemoryStore::default();
        let (mut a, mut c) = (vm(), vm());
        a.sync.create_schedules(&store);
        a.sync.claim_due(&store, 1_000);
        // Between A's body write and its version bump, B publishes a whole other document.
        store.before_next_set("/version", |store| {
            let mut b = vm();
            b.take(store, FEED, Ok(feed_body(&["b1", "b2", "b3"])), 1_050)
                .unwrap();
        });
        a.take(&store, FEED, Ok(feed_body(&["a1"])), 1_100).unwrap();
        // C reads the version, then the body: B's, whole (a body is one write), never half.
        assert!(c.sync.sync(&store, &mut c.fetched, false).is_empty());
        assert_eq!(revoked_count(&c), Some(3));
        // A has its own fetch installed until its next sync, which finds B's document stored
        // and installs it: every VM holds the stored document (else a 304 could confirm the
        // stored one forever while A kept another).
        assert_eq!(revoked_count(&a), Some(1));
        assert!(a.sync.sync(&store, &mut a.fetched, false).is_empty());
        assert_eq!(revoked_count(&a), Some(3));
    }

    #[test]
    fn a_body_that_fails_to_parse_keeps_the_last_good_copy_and_is_never_published() {
        let store = MemoryStore::default();
        let (mut a, mut b) = (vm(), vm());
        a.sync.create_schedules(&store);
        a.sync.claim_due(&store, 1_000);
        a.take(&store, JWKS, Ok(jwks_body()), 1_100).unwrap();
        let good = a.fetched.remote_version(FIRST);
        assert!(good.is_some());
        b.sync.sync(&store, &mut b.fetched, false);
        assert_eq!(b.fetched.remote_version(FIRST), good);

        // Due again after the refresh period; the identity service now serves garbage.
        assert_eq!(a.sync.claim_due(&store, 61_100), vec![JWKS, FEED]);
        let why = a
            .take(&store, JWKS, Ok(b"<html>oops".to_vec()), 61_200)
            .unwrap_err();
        assert!(why.contains("JSON"), "{why}");
        assert_eq!(a.fetched.remote_version(FIRST), good, "last good keys kept");
        assert!(b.sync.sync(&store, &mut b.fetched, false).is_empty());
        assert_eq!(
            b.fetched.remote_version(FIRST),
            good,
            "nothing new was published"
        );
        // Backoff: retried after 1 s, not at once and not only after the refresh period.
        assert_eq!(a.sync.claim_due(&store, 61_300), Vec::<usize>::new());
        assert_eq!(a.sync.claim_due(&store, 62_200), vec![JWKS]);
        // A failed dispatch counts the same.
        assert!(a
            .take(&store, JWKS, Err("no cluster".into()), 62_300)
            .is_err());

        // A published body another VM cannot parse (shared data written by a different build,
        // say) is refused there and its keys stay as they were.
        store
            .set(&a.sync.feeds()[JWKS].document_key, b"{", None)
            .unwrap();
        store
            .set(&a.sync.feeds()[JWKS].version_key, b"v", None)
            .unwrap();
        let refused = b.sync.sync(&store, &mut b.fetched, false);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].0, JWKS);
        assert_eq!(b.fetched.remote_version(FIRST), good);
    }

    #[test]
    fn an_unknown_kid_makes_the_jwks_due_once_per_cooldown() {
        let store = MemoryStore::default();
        let mut a = vm();
        a.sync.create_schedules(&store);
        a.sync.claim_due(&store, 1_000);
        a.take(&store, JWKS, Ok(jwks_body()), 1_100).unwrap();
        assert_eq!(a.sync.claim_due(&store, 5_000), vec![FEED]);
        assert!(a.sync.kid_miss(&store, FIRST, 5_000));
        assert!(
            !a.sync.kid_miss(&store, FIRST, 5_001),
            "within the cooldown"
        );
        assert!(
            !a.sync.kid_miss(&store, ProviderId::from_index(7), 5_002),
            "no such provider"
        );
        assert_eq!(a.sync.claim_due(&store, 5_003), vec![JWKS]);
    }

    // ---------- conditional fetches ----------

    const ETAG: &str = "\"jwks-1\"";
    const DATE: &str = "Wed, 21 Oct 2015 07:28:00 GMT";

    /// A 200 with this body and these headers.
    fn full(body: Vec<u8>, headers: &[(&str, &str)]) -> Result<Response, String> {
        Ok(Response::Full {
            body,
            described: Described::from_headers(&header_list(headers)),
        })
    }

    /// A 304 with these headers.
    fn not_modified(headers: &[(&str, &str)]) -> Result<Response, String> {
        Ok(Response::NotModified {
            described: Described::from_headers(&header_list(headers)),
        })
    }

    fn header_list(headers: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.as_bytes().to_vec()))
            .collect()
    }

    fn etag(value: &str) -> Validators {
        Validators {
            etag: Some(value.to_owned()),
            last_modified: None,
        }
    }

    fn next_due(store: &MemoryStore, vm: &Vm, index: usize) -> u64 {
        let (raw, _) = store.get(&vm.sync.feeds()[index].state_key).unwrap();
        FeedState::decode(&raw.unwrap()).next_due_ms
    }

    /// The precondition headers a fetch of `index` would send now.
    fn preconditions(store: &MemoryStore, vm: &Vm, index: usize) -> Vec<(String, String)> {
        let sent = vm.sync.validators(store, index);
        vm.sync.feeds()[index]
            .request_headers(sent.as_ref())
            .into_iter()
            .filter(|(name, _)| name.starts_with("if-"))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect()
    }

    #[test]
    fn validators_are_stored_with_the_document_and_sent_by_whichever_vm_fetches_next() {
        let store = MemoryStore::default();
        let (mut a, b) = (vm(), vm());
        a.sync.create_schedules(&store);
        assert_eq!(b.sync.validators(&store, JWKS), None, "nothing stored yet");
        assert!(preconditions(&store, &b, JWKS).is_empty());
        a.sync.claim_due(&store, 1_000);
        a.sync
            .fetched(
                &store,
                &mut a.fetched,
                JWKS,
                full(jwks_body(), &[("etag", ETAG), ("last-modified", DATE)]),
                None,
                1_100,
            )
            .unwrap();
        let stored = b.sync.validators(&store, JWKS).unwrap();
        assert_eq!(stored.etag.as_deref(), Some(ETAG));
        assert_eq!(stored.last_modified.as_deref(), Some(DATE));
        // If-None-Match is preferred; the request is otherwise the same GET.
        assert_eq!(
            preconditions(&store, &b, JWKS),
            [("if-none-match".to_owned(), ETAG.to_owned())]
        );
        assert_eq!(b.sync.feeds()[JWKS].request_headers(None).len(), 4);
        // Only a date: If-Modified-Since.
        a.sync
            .fetched(
                &store,
                &mut a.fetched,
                FEED,
                full(feed_body(&["s1"]), &[("last-modified", DATE)]),
                None,
                1_200,
            )
            .unwrap();
        assert_eq!(
            preconditions(&store, &b, FEED),
            [("if-modified-since".to_owned(), DATE.to_owned())]
        );
    }

    #[test]
    fn a_304_keeps_the_document_and_advances_the_schedule_as_a_200_does() {
        let store = MemoryStore::default();
        let (mut a, mut b, mut cold) = (vm(), vm(), vm());
        a.sync.create_schedules(&store);
        a.sync.claim_due(&store, 1_000);
        a.sync
            .fetched(
                &store,
                &mut a.fetched,
                JWKS,
                full(jwks_body(), &[("etag", ETAG)]),
                None,
                1_100,
            )
            .unwrap();
        let keys = a.fetched.remote_version(FIRST);
        assert!(b.sync.sync(&store, &mut b.fetched, false).is_empty());

        // Due after the refresh period; the identity service fails once, then answers 304.
        assert_eq!(a.sync.claim_due(&store, 61_100), vec![JWKS, FEED]);
        let sent = a.sync.validators(&store, JWKS);
        a.take(&store, JWKS, Err("status 503".into()), 61_200)
            .unwrap_err();
        assert_eq!(next_due(&store, &a, JWKS), 62_200, "backoff 1 s");
        assert_eq!(a.sync.claim_due(&store, 62_200), vec![JWKS]);
        let taken = a
            .sync
            .fetched(
                &store,
                &mut a.fetched,
                JWKS,
                not_modified(&[("etag", ETAG)]),
                sent.as_ref(),
                62_300,
            )
            .unwrap();
        assert!(taken.not_modified);
        assert_eq!(taken.bytes, jwks_body().len());
        assert_eq!(a.fetched.remote_version(FIRST), keys, "same keys");
        // The normal interval, and the failure count is reset: the next failure backs off 1 s.
        assert_eq!(next_due(&store, &a, JWKS), 62_300 + 60_000);
        let (raw, _) = store.get(&a.sync.feeds()[JWKS].state_key).unwrap();
        assert_eq!(FeedState::decode(&raw.unwrap()).failures, 0);
        // Nothing was published: other VMs have nothing new to install.
        let version = store.get(&a.sync.feeds()[JWKS].version_key).unwrap().1;
        b.fetched.set_remote_keys(FIRST, Default::default(), 0);
        assert!(b.sync.sync(&store, &mut b.fetched, false).is_empty());
        assert_eq!(b.fetched.remote_version(FIRST), Some(0), "not reinstalled");
        assert_eq!(
            store.get(&a.sync.feeds()[JWKS].version_key).unwrap().1,
            version
        );

        // A VM that holds nothing yet fetches conditionally too: a 304 installs the stored copy.
        assert_eq!(cold.fetched.remote_version(FIRST), None);
        let sent = cold.sync.validators(&store, JWKS);
        assert_eq!(sent, Some(etag(ETAG)));
        let taken = cold
            .sync
            .fetched(
                &store,
                &mut cold.fetched,
                JWKS,
                not_modified(&[]),
                sent.as_ref(),
                70_000,
            )
            .unwrap();
        assert!(taken.not_modified);
        assert_eq!(cold.fetched.remote_version(FIRST), keys);
    }

    #[test]
    fn a_304_that_confirms_nothing_sent_is_a_failed_fetch() {
        let store = MemoryStore::default();
        let (mut a, mut b) = (vm(), vm());
        a.sync.create_schedules(&store);
        a.sync.claim_due(&store, 1_000);
        // No validator sent (none stored): a 304 is a failure, whatever it carries.
        let why = a
            .sync
            .fetched(
                &store,
                &mut a.fetched,
                JWKS,
                not_modified(&[("etag", ETAG)]),
                None,
                1_100,
            )
            .unwrap_err();
        assert!(why.contains("no validator"), "{why}");
        assert_eq!(a.fetched.remote_version(FIRST), None);
        assert_eq!(next_due(&store, &a, JWKS), 2_100, "backoff 1 s");
        // Validators sent, but no document stored (or another one): a failure too.
        let why = a
            .sync
            .fetched(
                &store,
                &mut a.fetched,
                JWKS,
                not_modified(&[]),
                Some(&etag(ETAG)),
                2_200,
            )
            .unwrap_err();
        assert!(why.contains("no document"), "{why}");
        a.take(&store, JWKS, Ok(jwks_body()), 3_000).unwrap();
        b.sync
            .fetched(
                &store,
                &mut b.fetched,
                JWKS,
                full(jwks_body(), &[("etag", "\"newer\"")]),
                None,
                3_100,
            )
            .unwrap();
        let why = a
            .sync
            .fetched(
                &store,
                &mut a.fetched,
                JWKS,
                not_modified(&[]),
                Some(&etag(ETAG)),
                3_200,
            )
            .unwrap_err();
        assert!(why.contains("no longer the stored one"), "{why}");
    }

    #[test]
    fn overlong_or_garbage_validators_are_not_kept_and_the_next_fetch_is_unconditional() {
        let store = MemoryStore::default();
        let (mut a, b) = (vm(), vm());
        a.sync.create_schedules(&store);
        let long = format!("\"{}\"", "a".repeat(300));
        for headers in [
            vec![("etag", long.as_str())],
            vec![("etag", "no-quotes"), ("last-modified", "")],
            vec![("etag", "\"tab\there\"")],
            vec![("etag", "\"a\""), ("etag", "\"b\"")],
        ] {
            a.sync
                .fetched(
                    &store,
                    &mut a.fetched,
                    JWKS,
                    full(jwks_body(), &headers),
                    None,
                    1_100,
                )
                .unwrap();
            assert_eq!(b.sync.validators(&store, JWKS), None, "{headers:?}");
            assert!(preconditions(&store, &b, JWKS).is_empty(), "{headers:?}");
        }
        // A bad ETag does not take a good Last-Modified with it.
        a.sync
            .fetched(
                &store,
                &mut a.fetched,
                JWKS,
                full(
                    jwks_body(),
                    &[("etag", long.as_str()), ("last-modified", DATE)],
                ),
                None,
                1_200,
            )
            .unwrap();
        assert_eq!(
            preconditions(&store, &b, JWKS),
            [("if-modified-since".to_owned(), DATE.to_owned())]
        );
    }

    #[test]
    fn the_jwks_follows_cache_control_within_its_bounds_and_the_feed_does_not() {
        // Bounds of the test config: 10..=600 s, refresh_seconds 60.
        let store = MemoryStore::default();
        let mut a = vm();
        a.sync.create_schedules(&store);
        let cases: [(&[(&str, &str)], u64); 7] = [
            (&[], 60),
            (&[("cache-control", "public, max-age=120")], 120),
            (&[("cache-control", "max-age=3")], 10),
            (&[("cache-control", "max-age=99999999999999999999999")], 600),
            (&[("cache-control", "max-age=300"), ("age", "100")], 200),
            (&[("cache-control", "no-cache")], 10),
            (&[("cache-control", "no-store, max-age=300")], 10),
        ];
        let mut now = 1_000;
        for (headers, seconds) in cases {
            now += 1_000;
            a.sync
                .fetched(
                    &store,
                    &mut a.fetched,
                    JWKS,
                    full(jwks_body(), headers),
                    None,
                    now,
                )
                .unwrap();
            assert_eq!(
                next_due(&store, &a, JWKS),
                now + seconds * 1000,
                "{headers:?}"
            );
            // The revocation feed keeps its own period whatever the headers say.
            a.sync
                .fetched(
                    &store,
                    &mut a.fetched,
                    FEED,
                    full(feed_body(&[]), headers),
                    None,
                    now,
                )
                .unwrap();
            assert_eq!(next_due(&store, &a, FEED), now + 60_000, "{headers:?}");
        }
        // A 304 without Cache-Control keeps what the stored document said; one with it says anew.
        a.sync
            .fetched(
                &store,
                &mut a.fetched,
                JWKS,
                full(
                    jwks_body(),
                    &[("etag", ETAG), ("cache-control", "max-age=120")],
                ),
                None,
                20_000,
            )
            .unwrap();
        let sent = a.sync.validators(&store, JWKS);
        for (headers, seconds) in [
            (&[][..], 120),
            (&[("cache-control", "max-age=200")][..], 200),
            (&[("cache-control", "no-cache")][..], 10),
        ] {
            a.sync
                .fetched(
                    &store,
                    &mut a.fetched,
                    JWKS,
                    not_modified(headers),
                    sent.as_ref(),
                    30_000,
                )
                .unwrap();
            assert_eq!(
                next_due(&store, &a, JWKS),
                30_000 + seconds * 1000,
                "{headers:?}"
            );
        }
    }

    #[test]
    fn a_200_with_the_same_body_is_not_parsed_again_by_the_other_vms() {
        let store = MemoryStore::default();
        let (mut a, mut b) = (vm(), vm());
        a.sync.create_schedules(&store);
        a.take(&store, FEED, Ok(feed_body(&["s1"])), 1_000).unwrap();
        assert!(b.sync.sync(&store, &mut b.fetched, false).is_empty());
        assert_eq!(revoked_count(&b), Some(1));
        // A marker: if B parsed the document again, the count would be back to 1.
        b.fetched.set_revocations(Default::default());
        a.take(&store, FEED, Ok(feed_body(&["s1"])), 61_000)
            .unwrap();
        assert!(b.sync.sync(&store, &mut b.fetched, false).is_empty());
        assert_eq!(revoked_count(&b), Some(0), "same body: not parsed again");
        a.take(&store, FEED, Ok(feed_body(&["s1", "s2"])), 121_000)
            .unwrap();
        assert!(b.sync.sync(&store, &mut b.fetched, false).is_empty());
        assert_eq!(revoked_count(&b), Some(2), "a new body is");
    }

    #[test]
    fn validators_never_pair_with_another_vms_body() {
        let store = MemoryStore::default();
        let (mut a, mut c) = (vm(), vm());
        a.sync.create_schedules(&store);
        // B publishes between A's document write and A's version bump; then, the last word.
        store.before_next_set("/version", |store| {
            let mut b = vm();
            b.sync
                .fetched(
                    store,
                    &mut b.fetched,
                    FEED,
                    full(feed_body(&["b1", "b2"]), &[("etag", "\"b\"")]),
                    None,
                    1_050,
                )
                .unwrap();
        });
        a.sync
            .fetched(
                &store,
                &mut a.fetched,
                FEED,
                full(feed_body(&["a1"]), &[("etag", "\"a\"")]),
                None,
                1_100,
            )
            .unwrap();
        // The stored validators are those of the stored body: a 304 to them confirms B's list.
        let sent = c.sync.validators(&store, FEED);
        assert_eq!(sent, Some(etag("\"b\"")));
        c.sync
            .fetched(
                &store,
                &mut c.fetched,
                FEED,
                not_modified(&[]),
                sent.as_ref(),
                2_000,
            )
            .unwrap();
        assert_eq!(revoked_count(&c), Some(2));
        assert!(a.sync.sync(&store, &mut a.fetched, false).is_empty());
        assert_eq!(revoked_count(&a), Some(2));
    }

    use std::rc::Rc;
}
