//! `jwt-relay-bench-decision CONFIG.yaml TOKEN_A TOKEN_CHEAP TOKEN_D`: nanoseconds per decision,
//! natively, for three of the bench's workloads, as `workload=ns` lines:
//!
//! - `a`: the repeated valid token on `/` (a cache hit, allowed);
//! - `c-cheap`: a token with an unknown `kid` (refused before any crypto; never cached);
//! - `d`: the token that embeds an `orders` token, routed to `orders_cluster` (narrowed; both
//!   tokens from the cache).
//!
//! CONFIG.yaml is an Envoy config of `bench/envoy/`: the filter's JSON is read from its
//! `configuration` value. Each figure is the median of 5 rounds after a warm-up round.

use std::time::{Instant, SystemTime, UNIX_EPOCH};
use std::{env, fs, process};

use jwt_relay::request::cache::TokenCache;
use jwt_relay::config::FilterConfig;
use jwt_relay::documents::fetched::Fetched;
use jwt_relay::request::decision::{evaluate, filter_state, Request};

const ROUNDS: usize = 5;
const PER_ROUND: u32 = 100_000;

fn main() {
    let args: Vec<String> = env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: {} CONFIG.yaml TOKEN_A TOKEN_CHEAP TOKEN_D", args[0]);
        process::exit(2);
    }
    let yaml = read(&args[1]);
    let config = match plugin_json(&yaml).map(|json| FilterConfig::from_json(json.as_bytes())) {
        Some(Ok(config)) => config,
        Some(Err(error)) => fail(&format!("{}: {error}", args[1])),
        None => fail(&format!(
            "{}: no jwt-relay configuration value found",
            args[1]
        )),
    };
    let first_line = |path: &str| read(path).lines().next().unwrap_or_default().to_owned();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    for (workload, token, cluster) in [
        ("a", first_line(&args[2]), "web_cluster"),
        ("c-cheap", first_line(&args[3]), "web_cluster"),
        ("d", first_line(&args[4]), "orders_cluster"),
    ] {
        println!(
            "{workload}={:.0}",
            per_decision(&config, &token, cluster, now)
        );
    }
}

/// Median nanoseconds per decision (and its filter state), one VM's cache kept across rounds.
fn per_decision(config: &FilterConfig, token: &str, cluster: &str, now: i64) -> f64 {
    let fetched = Fetched::new(config);
    let mut cache = TokenCache::new(config.cache);
    let headers = vec![(
        "authorization".to_owned(),
        format!("Bearer {token}").into_bytes(),
    )];
    let read_cluster = || Some(cluster.to_owned());
    let mut rounds = Vec::with_capacity(ROUNDS);
    let mut exported = 0usize;
    for round in 0..=ROUNDS {
        let start = Instant::now();
        for _ in 0..PER_ROUND {
            let decision = evaluate(
                config,
                &fetched,
                &mut cache,
                &Request {
                    route: None,
                    headers: &headers,
                    listener_role: &|| None,
                    header: &|_| None,
                    cluster: &read_cluster,
                    now,
                    fingerprint: false,
                },
            );
            exported += filter_state(config, &decision).len();
        }
        if round > 0 {
            rounds.push(start.elapsed().as_nanos() as f64 / f64::from(PER_ROUND));
        }
    }
    // Keeps the work observable, so none of it is optimised away.
    assert!(exported > 0);
    rounds.sort_by(f64::total_cmp);
    rounds[rounds.len() / 2]
}

/// The JSON object that follows `configuration:` in an Envoy YAML config (a `StringValue`
/// written as a block scalar), found by matching braces outside JSON strings.
fn plugin_json(yaml: &str) -> Option<&str> {
    let from = yaml.find("configuration:")?;
    let start = from + yaml[from..].find('{')?;
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (offset, byte) in yaml[start..].bytes().enumerate() {
        match (in_string, escaped, byte) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') => in_string = false,
            (true, false, _) => {}
            (false, _, b'"') => in_string = true,
            (false, _, b'{') => depth += 1,
            (false, _, b'}') => {
                depth -= 1;
                if depth == 0 {
                    return Some(&yaml[start..=start + offset]);
                }
            }
            _ => {}
        }
    }
    None
}

fn read(path: &str) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| fail(&format!("{path}: {e}")))
}

fn fail(why: &str) -> ! {
    eprintln!("jwt-relay-bench-decision: {why}");
    process::exit(1)
}
