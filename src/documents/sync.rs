//! Keeping remote documents current across the VMs of one Envoy, behind a small store seam.
//!
//! Every VM (one per worker, one on the main thread) holds its own [`Fetched`]. What they share
//! is proxy-wasm shared data, a key-value store with compare-and-swap: per feed a schedule
//! ([`FeedState`], with the fetch lease), the body of the last good fetch, and a version key that
//! is bumped after each publish. One VM wins the lease and fetches; it installs and publishes
//! only a body that parses (body first, then the version, so that a VM that sees a new version
//! reads a body at least that new); every other VM installs a changed version once.
//!
//! The logic is here, against [`SharedStore`]; the host adapter implements the store with
//! proxy-wasm calls and does the HTTP dispatch, logging and stats. Native tests drive several
//! VMs over one in-memory store, with writers interleaved where the host would let them.

use sha2::{Digest as _, Sha256};

use crate::config::{FeedSource, FilterConfig, ProviderId};
use crate::documents::fetched::{self, Fetched};
use crate::documents::schedule::FeedState;

/// Attempts at a contended compare-and-swap before giving up until the next tick.
const CAS_ATTEMPTS: usize = 8;
/// Grace beyond a fetch's timeout before its lease counts as abandoned.
pub const LEASE_MARGIN_MS: u64 = 1000;

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
    body_key: String,
    version_key: String,
}

impl Feed {
    pub fn new(kind: FeedKind, source: &FeedSource, kid_miss_cooldown_seconds: u64) -> Feed {
        // Keyed by the source itself, so listeners whose configs share a JWKS or feed share one
        // fetch; all fields are in the key so that differing settings never mix.
        let tag = match kind {
            FeedKind::Jwks { .. } => "jwks",
            FeedKind::Revocations => "revocations",
        };
        let digest = Sha256::digest(format!("{tag}|{source:?}").as_bytes());
        let id: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        let base = format!("jwt_relay/{tag}/{id}");
        Feed {
            kind,
            source: source.clone(),
            kid_miss_cooldown_ms: kid_miss_cooldown_seconds.saturating_mul(1000),
            state_key: format!("{base}/state"),
            body_key: format!("{base}/body"),
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

    /// The GET that fetches this document: its request headers (pseudo-headers included).
    pub fn request_headers(&self) -> [(&str, &str); 4] {
        [
            (":method", "GET"),
            (":path", self.source.path.as_str()),
            (":authority", self.source.authority.as_str()),
            ("accept", "application/json"),
        ]
    }

    fn refresh_ms(&self) -> u64 {
        self.source.refresh_seconds.saturating_mul(1000)
    }

    /// Parses `body` and puts it into this VM's `fetched`; nothing changes if it does not parse.
    pub fn install(&self, fetched: &mut Fetched, body: &[u8]) -> Result<(), String> {
        match self.kind {
            FeedKind::Jwks { provider } => {
                let parsed = fetched::parse_remote_jwks(body, self.source.max_bytes)?;
                // The document's digest versions the keys: cached verifications by keys that
                // have since changed are dropped, and a refetch of the same document keeps them.
                let digest = Sha256::digest(body);
                let mut version = [0u8; 8];
                version
                    .iter_mut()
                    .zip(digest.iter())
                    .for_each(|(to, from)| *to = *from);
                fetched.set_remote_keys(provider, parsed.keys, u64::from_le_bytes(version));
            }
            FeedKind::Revocations => {
                let list = fetched::parse_revocations(body, self.source.max_bytes)?;
                fetched.set_revocations(list);
            }
        }
        Ok(())
    }
}

/// A fetched body this VM installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    pub bytes: usize,
    /// Whether other VMs can see it (else they fetch it again themselves when due).
    pub published: bool,
}

/// One VM's view of every feed: which published version it has installed.
#[derive(Debug)]
pub struct FeedSync {
    feeds: Vec<Feed>,
    installed: Vec<Option<u32>>,
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
            installed: vec![None; feeds.len()],
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

    /// Installs the published body of each feed whose version changed since this VM looked
    /// (`only_cold`: only feeds it has never installed, the cheap check a request makes).
    /// Returns the feeds whose published body did not install, and why.
    pub fn sync(
        &mut self,
        store: &impl SharedStore,
        fetched: &mut Fetched,
        only_cold: bool,
    ) -> Vec<(usize, String)> {
        let mut refused = Vec::new();
        for (index, (feed, installed)) in self.feeds.iter().zip(&mut self.installed).enumerate() {
            if only_cold && installed.is_some() {
                continue;
            }
            let Ok((_, Some(version))) = store.get(&feed.version_key) else {
                continue;
            };
            if *installed == Some(version) {
                continue;
            }
            let Ok((Some(body), _)) = store.get(&feed.body_key) else {
                continue;
            };
            match feed.install(fetched, &body) {
                Ok(()) => *installed = Some(version),
                Err(why) => refused.push((index, why)),
            }
        }
        refused
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

    /// A fetch this VM started has ended (or could not start: `Err`). A body is installed here,
    /// then published; anything that fails keeps the last good copy and backs off. Returns what
    /// was taken, or why nothing was.
    pub fn fetched(
        &mut self,
        store: &impl SharedStore,
        fetched: &mut Fetched,
        index: usize,
        outcome: Result<Vec<u8>, String>,
        now_ms: u64,
    ) -> Result<Taken, String> {
        let (Some(feed), Some(installed)) = (self.feeds.get(index), self.installed.get_mut(index))
        else {
            return Err("no such feed".into());
        };
        let refresh_ms = feed.refresh_ms();
        let taken = outcome.and_then(|body| feed.install(fetched, &body).map(|()| body));
        match taken {
            Ok(body) => {
                // Publish, then bump the version: a VM that sees the new version reads this body.
                let published = store
                    .set(&feed.body_key, &body, None)
                    .and_then(|()| store.set(&feed.version_key, b"v", None));
                if let Ok((_, Some(version))) = store.get(&feed.version_key) {
                    *installed = Some(version);
                }
                update_state(store, &feed.state_key, |state| {
                    Some(state.succeeded(now_ms, refresh_ms))
                });
                Ok(Taken {
                    bytes: body.len(),
                    published: published.is_ok(),
                })
            }
            Err(why) => {
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
                "remote_jwks": {"cluster": "idp", "path": "/jwks", "refresh_seconds": 60, "timeout_ms": 1000},
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
            .sync
            .fetched(
                &store,
                &mut a.fetched,
                FEED,
                Ok(feed_body(&["s1", "s2"])),
                1_100,
            )
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
        b.sync
            .fetched(&store, &mut b.fetched, JWKS, Ok(jwks_body()), 3_100)
            .unwrap();
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
        b.sync
            .fetched(
                &store,
                &mut b.fetched,
                FEED,
                Ok(feed_body(&["new"])),
                lease_end + 10,
            )
            .unwrap();
        // A's answer arrives late with an older document: it is valid, installed and published
        // like any other; the next VM to look installs whatever was published last, whole.
        a.sync
            .fetched(
                &store,
                &mut a.fetched,
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
            b.sync
                .fetched(
                    store,
                    &mut b.fetched,
                    FEED,
                    Ok(feed_body(&["b1", "b2", "b3"])),
                    1_050,
                )
                .unwrap();
        });
        a.sync
            .fetched(&store, &mut a.fetched, FEED, Ok(feed_body(&["a1"])), 1_100)
            .unwrap();
        // C reads the version, then the body: B's, whole (a body is one write), never half.
        assert!(c.sync.sync(&store, &mut c.fetched, false).is_empty());
        assert_eq!(revoked_count(&c), Some(3));
        // A has its own fetch installed and a version no older than the store's body: at the
        // next change of version it installs again.
        assert_eq!(revoked_count(&a), Some(1));
    }

    #[test]
    fn a_body_that_fails_to_parse_keeps_the_last_good_copy_and_is_never_published() {
        let store = MemoryStore::default();
        let (mut a, mut b) = (vm(), vm());
        a.sync.create_schedules(&store);
        a.sync.claim_due(&store, 1_000);
        a.sync
            .fetched(&store, &mut a.fetched, JWKS, Ok(jwks_body()), 1_100)
            .unwrap();
        let good = a.fetched.remote_version(FIRST);
        assert!(good.is_some());
        b.sync.sync(&store, &mut b.fetched, false);
        assert_eq!(b.fetched.remote_version(FIRST), good);

        // Due again after the refresh period; the identity service now serves garbage.
        assert_eq!(a.sync.claim_due(&store, 61_100), vec![JWKS, FEED]);
        let why = a
            .sync
            .fetched(
                &store,
                &mut a.fetched,
                JWKS,
                Ok(b"<html>oops".to_vec()),
                61_200,
            )
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
            .sync
            .fetched(
                &store,
                &mut a.fetched,
                JWKS,
                Err("no cluster".into()),
                62_300
            )
            .is_err());

        // A published body another VM cannot parse (shared data written by a different build,
        // say) is refused there and its keys stay as they were.
        store
            .set(&a.sync.feeds()[JWKS].body_key, b"{", None)
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
        a.sync
            .fetched(&store, &mut a.fetched, JWKS, Ok(jwks_body()), 1_100)
            .unwrap();
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

    use std::rc::Rc;
}
