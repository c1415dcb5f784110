//! The drill simulator: a two-region service, an async-replicated store and a failover,
//! generated from a seed, with the ground truth computed from what was generated.
//!
//! Scenario (times from the drill start `t0`; jitter comes from the seed):
//! - `frontend` serves ~20 requests/s from the primary; 0.1 % fail at random.
//! - At `fault` (~120 s) the primary breaks: its requests fail (HTTP 503, status ERROR).
//! - `failover_declared`, then `db_promoted`, `dns_cutover`, `traffic_shifted` follow within a
//!   minute. After `dns_cutover` the secondary takes a growing share of traffic (DNS TTL), its
//!   first seconds with a warm-up error rate; residual primary traffic keeps failing.
//! - The store `orders-db` takes ~10 writes/s in the primary, replicated with a random lag
//!   of 0.3–1.5 s; at the fault replication stops, so writes the replica had not applied are
//!   lost. After promotion the secondary writes again, reusing sequence numbers.
//! - Some span batches are exported twice (client retries).
//!
//! Truth: RTO is computed with the spec's definition over the generated requests, and lost
//! writes and RPO from the replica's real apply times: an implementation independent of the
//! analyzer's SQL.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use cutover_analyzer::report::Truth;

/// Nanoseconds.
pub type Ns = i64;
const SEC: Ns = 1_000_000_000;
const MS: Ns = 1_000_000;

/// One SLI request (a server span of `frontend`).
#[derive(Debug, Clone)]
pub struct Request {
    /// `true` = primary region.
    pub primary: bool,
    /// Start.
    pub start: Ns,
    /// Duration.
    pub duration: Ns,
    /// HTTP status.
    pub status: u16,
}

impl Request {
    /// Bad by the SLI convention.
    pub fn bad(&self) -> bool {
        self.status >= 500
    }
}

/// One acknowledged write.
#[derive(Debug, Clone)]
pub struct Write {
    /// `true` = primary region.
    pub primary: bool,
    /// Sequence number.
    pub seq: i64,
    /// Ack time.
    pub time: Ns,
}

/// A drill marker.
#[derive(Debug, Clone)]
pub struct Marker {
    /// Kind.
    pub kind: &'static str,
    /// Time.
    pub time: Ns,
    /// Region that emitted it.
    pub primary: bool,
    /// Extra attributes (key, integer or string value).
    pub attrs: Vec<(&'static str, String)>,
}

/// Everything generated.
#[derive(Debug, Clone)]
pub struct Drill {
    /// Requests in time order.
    pub requests: Vec<Request>,
    /// Writes in time order.
    pub writes: Vec<Write>,
    /// Markers in time order.
    pub markers: Vec<Marker>,
    /// Ground truth.
    pub truth: Truth,
    /// Store name.
    pub store: &'static str,
}

/// The recovery rule of the demo spec.
pub const SUCCESS_RATIO: f64 = 0.99;
/// Stable window of the demo spec, seconds.
pub const STABLE_SECONDS: i64 = 60;

/// Generates a drill starting at `t0`.
pub fn generate(seed: u64, t0: Ns) -> Drill {
    let mut rng = StdRng::seed_from_u64(seed);
    let fault = t0 + 120 * SEC + rng.random_range(0..10_000) * MS;
    let declared = fault + rng.random_range(10_000..30_000) * MS;
    let promoted = declared + rng.random_range(5_000..15_000) * MS;
    let dns = promoted + rng.random_range(1_000..10_000) * MS;
    let shifted = dns + rng.random_range(5_000..15_000) * MS;
    let ttl = rng.random_range(5_000..30_000) * MS;
    let warmup = rng.random_range(5_000..20_000) * MS;
    let end = shifted + 240 * SEC;

    // Requests: Poisson-ish arrivals at ~20/s.
    let mut requests = Vec::new();
    let mut t = t0;
    while t < end {
        t += rng.random_range(10..90) * MS + rng.random_range(0..MS);
        let to_secondary_share = if t < dns {
            0.0
        } else {
            ((t - dns) as f64 / ttl as f64).min(1.0)
        };
        let primary = rng.random_bool(1.0 - to_secondary_share);
        let status = if primary && t >= fault {
            503
        } else if !primary && t < dns + warmup {
            if rng.random_bool(0.3) { 503 } else { 200 }
        } else if rng.random_bool(0.001) {
            500
        } else {
            200
        };
        let duration = rng.random_range(5..80) * MS + if status == 503 { 2 * SEC } else { 0 };
        requests.push(Request {
            primary,
            start: t,
            duration,
            status,
        });
    }

    // Writes: primary until the fault, replicated with lag; secondary after promotion.
    let mut writes = Vec::new();
    let mut applied_at = Vec::new();
    let mut seq = 0;
    let mut t = t0 + 5 * SEC;
    while t < fault {
        seq += 1;
        writes.push(Write {
            primary: true,
            seq,
            time: t,
        });
        applied_at.push((seq, t + rng.random_range(300..1_500) * MS));
        t += rng.random_range(50..150) * MS;
    }
    // The replica applies in order: a write is applied once it and all before it arrived.
    let mut last_applied = 0;
    let mut horizon = Ns::MIN;
    for (s, at) in &applied_at {
        horizon = horizon.max(*at);
        if horizon <= fault {
            last_applied = *s;
        } else {
            break;
        }
    }
    let primary_writes = writes.clone();
    let mut s2 = last_applied;
    let mut t = promoted + rng.random_range(500..2_000) * MS;
    while t < end {
        s2 += 1;
        writes.push(Write {
            primary: false,
            seq: s2,
            time: t,
        });
        t += rng.random_range(50..150) * MS;
    }

    let lost: Vec<&Write> = primary_writes
        .iter()
        .filter(|w| w.seq > last_applied && w.time <= promoted)
        .collect();
    let surviving = primary_writes.iter().find(|w| w.seq == last_applied);
    let rpo = match (lost.iter().map(|w| w.time).max(), surviving) {
        (Some(l), Some(s)) => (l - s.time) as f64 / 1e9,
        _ => 0.0,
    };
    let recovered = recovered_at(&requests, fault);
    let truth = Truth {
        rto_seconds: recovered.map(|r| (r - fault) as f64 / 1e9).unwrap_or(f64::NAN),
        rpo_seconds: rpo,
        lost_writes: lost.len() as u64,
    };

    let store = "orders-db";
    let m = |kind, time, primary| Marker {
        kind,
        time,
        primary,
        attrs: vec![],
    };
    let mut markers = vec![
        m("drill_started", t0 + 2 * SEC, true),
        m("fault_injected", fault, true),
        m("failover_declared", declared, false),
        Marker {
            kind: "db_promoted",
            time: promoted,
            primary: false,
            attrs: vec![
                ("cutover.write.store", store.into()),
                ("cutover.write.last_applied_seq", last_applied.to_string()),
            ],
        },
        m("dns_cutover", dns, false),
        m("traffic_shifted", shifted, false),
        m(
            "failover_completed",
            recovered.unwrap_or(shifted).max(shifted) + SEC,
            false,
        ),
        m("drill_ended", end, false),
    ];
    markers.sort_by_key(|m| m.time);
    Drill {
        requests,
        writes,
        markers,
        truth,
        store,
    }
}

/// The spec's recovery definition over the generated requests (two pointers, O(n)).
pub fn recovered_at(requests: &[Request], fault: Ns) -> Option<Ns> {
    let after: Vec<&Request> = requests.iter().filter(|r| r.start > fault).collect();
    let last = requests.iter().map(|r| r.start).max()?;
    let window = STABLE_SECONDS * SEC;
    let (mut hi, mut good) = (0usize, 0usize);
    for (lo, r) in after.iter().enumerate() {
        if hi < lo {
            hi = lo;
            good = 0;
        }
        while hi < after.len() && after[hi].start <= r.start + window {
            good += usize::from(!after[hi].bad());
            hi += 1;
        }
        // Requests sharing this start time that came earlier in the list are in the window too.
        let peers = after[..lo].iter().rev().take_while(|p| p.start == r.start);
        let (peer_n, peer_good) = peers.fold((0, 0), |(n, g), p| (n + 1, g + usize::from(!p.bad())));
        let total = hi - lo + peer_n;
        let ok = (good + peer_good) as f64 >= SUCCESS_RATIO * total as f64;
        if !r.bad() && ok && r.start + window <= last {
            return Some(r.start);
        }
        good -= usize::from(!r.bad());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_reproducible_and_loses_writes() {
        let a = generate(7, 0);
        let b = generate(7, 0);
        assert_eq!(a.requests.len(), b.requests.len());
        assert_eq!(a.truth, b.truth);
        assert!(a.truth.rto_seconds.is_finite());
        assert!(a.truth.lost_writes > 0, "async lag should lose writes: {:?}", a.truth);
    }

    #[test]
    fn recovery_needs_a_good_request_and_a_stable_window() {
        let r = |s: i64, status: u16| Request {
            primary: false,
            start: s * SEC,
            duration: 0,
            status,
        };
        let mut reqs: Vec<Request> = (1..=200).map(|s| r(s, if s < 10 { 503 } else { 200 })).collect();
        assert_eq!(recovered_at(&reqs, 0), Some(10 * SEC));
        // A bad request inside the window of 10 drops its ratio below 0.99 (60 of 61).
        reqs[30].status = 503;
        assert_eq!(recovered_at(&reqs, 0), Some(32 * SEC));
    }
}
