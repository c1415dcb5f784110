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

/// The ground truth the demo prints beside the measured values.
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    /// True RTO, seconds.
    pub rto_seconds: f64,
    /// True RPO, seconds.
    pub rpo_seconds: f64,
    /// True number of lost writes.
    pub lost_writes: u64,
}

/// Nanoseconds.
pub type Ns = i64;
/// One second, ns.
pub const SEC: Ns = 1_000_000_000;
/// One millisecond, ns.
pub const MS: Ns = 1_000_000;

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
    /// The moments the generator chose.
    pub moments: Moments,
    /// The replica's last applied sequence number at the promotion.
    pub last_applied: i64,
}

/// The recovery rule of the demo spec.
pub const SUCCESS_RATIO: f64 = 0.99;
/// Stable window of the demo spec, seconds.
pub const STABLE_SECONDS: i64 = 60;

/// How the store replicates to the secondary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Replication {
    /// Each write reaches the replica after a random lag in `[min, max)` ms; writes the replica
    /// had not applied at the fault are lost.
    Async {
        /// Smallest lag, ms.
        min_lag_ms: i64,
        /// Largest lag (exclusive), ms.
        max_lag_ms: i64,
    },
    /// A write is acknowledged only once the replica has it: nothing is lost.
    Sync,
}

/// The knobs of a generated drill. [`Params::demo`] is the `cutover demo` drill.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Gap between two requests: uniform in `[min, max)` ms (plus sub-millisecond jitter).
    pub request_gap_ms: (i64, i64),
    /// DNS TTL: after `dns_cutover` the secondary's share of traffic grows linearly to 1 over a
    /// TTL drawn uniformly in `[min, max)` ms.
    pub ttl_ms: (i64, i64),
    /// Warm-up of the secondary after `dns_cutover`, drawn in `[min, max)` ms: 30 % of its
    /// requests fail meanwhile.
    pub warmup_ms: (i64, i64),
    /// Extra duration of a failed (503) request, ms (a timeout).
    pub error_extra_ms: i64,
    /// Share of requests failing (HTTP 500) at random outside the outage.
    pub background_error: f64,
    /// Gap between two writes: uniform in `[min, max)` ms.
    pub write_gap_ms: (i64, i64),
    /// Replication of the store.
    pub replication: Replication,
    /// Split brain: the old primary keeps accepting writes for this long after the promotion
    /// (its writes continue its own sequence), in ms. `None` = it stops at the fault.
    pub split_brain_ms: Option<i64>,
    /// Data after `traffic_shifted`, seconds.
    pub tail_seconds: i64,
}

impl Params {
    /// The `cutover demo` drill (~20 requests/s, ~10 writes/s, async replication).
    pub fn demo() -> Params {
        Params {
            request_gap_ms: (10, 90),
            ttl_ms: (5_000, 30_000),
            warmup_ms: (5_000, 20_000),
            error_extra_ms: 2_000,
            background_error: 0.001,
            write_gap_ms: (50, 150),
            replication: Replication::Async {
                min_lag_ms: 300,
                max_lag_ms: 1_500,
            },
            split_brain_ms: None,
            tail_seconds: 240,
        }
    }
}

/// The moments the generator chose (ns).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    /// Drill start (first request after it).
    pub t0: Ns,
    /// `fault_injected`.
    pub fault: Ns,
    /// `failover_declared`.
    pub declared: Ns,
    /// `db_promoted`.
    pub promoted: Ns,
    /// `dns_cutover`.
    pub dns: Ns,
    /// `traffic_shifted`.
    pub shifted: Ns,
    /// The DNS TTL drawn.
    pub ttl: Ns,
    /// The secondary's warm-up drawn.
    pub warmup: Ns,
    /// `drill_ended` (no request starts at or after it).
    pub end: Ns,
}

/// Generates the `cutover demo` drill starting at `t0`.
pub fn generate(seed: u64, t0: Ns) -> Drill {
    generate_with(seed, t0, &Params::demo())
}

/// Generates a drill starting at `t0` with `params`. The moments are in `drill.moments`.
pub fn generate_with(seed: u64, t0: Ns, params: &Params) -> Drill {
    let mut rng = StdRng::seed_from_u64(seed);
    let fault = t0 + 120 * SEC + rng.random_range(0..10_000) * MS;
    let declared = fault + rng.random_range(10_000..30_000) * MS;
    let promoted = declared + rng.random_range(5_000..15_000) * MS;
    let dns = promoted + rng.random_range(1_000..10_000) * MS;
    let shifted = dns + rng.random_range(5_000..15_000) * MS;
    let ttl = rng.random_range(params.ttl_ms.0..params.ttl_ms.1) * MS;
    let warmup = rng.random_range(params.warmup_ms.0..params.warmup_ms.1) * MS;
    let end = shifted + params.tail_seconds * SEC;
    let moments = Moments {
        t0,
        fault,
        declared,
        promoted,
        dns,
        shifted,
        ttl,
        warmup,
        end,
    };
    let requests = gen_requests(&mut rng, params, &moments);
    let (writes, last_applied) = gen_writes(&mut rng, params, &moments);

    let lost: Vec<&Write> = writes
        .iter()
        .filter(|w| w.primary && w.seq > last_applied && w.time <= promoted)
        .collect();
    let surviving = writes.iter().find(|w| w.primary && w.seq == last_applied);
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
        moments,
        last_applied,
    }
}

/// Requests: Poisson-ish arrivals; the primary fails from the fault on; after `dns_cutover`
/// the secondary's share grows over the TTL and it fails 30 % during its warm-up.
fn gen_requests(rng: &mut StdRng, params: &Params, m: &Moments) -> Vec<Request> {
    let mut requests = Vec::new();
    let mut t = m.t0;
    loop {
        t += rng.random_range(params.request_gap_ms.0..params.request_gap_ms.1) * MS + rng.random_range(0..MS);
        if t >= m.end {
            break;
        }
        let to_secondary_share = if t < m.dns {
            0.0
        } else if m.ttl == 0 {
            1.0
        } else {
            ((t - m.dns) as f64 / m.ttl as f64).min(1.0)
        };
        let primary = rng.random_bool(1.0 - to_secondary_share);
        let status = if primary && t >= m.fault {
            503
        } else if !primary && t < m.dns + m.warmup {
            if rng.random_bool(0.3) { 503 } else { 200 }
        } else if rng.random_bool(params.background_error) {
            500
        } else {
            200
        };
        let extra = if status == 503 { params.error_extra_ms * MS } else { 0 };
        let duration = rng.random_range(5..80) * MS + extra;
        requests.push(Request {
            primary,
            start: t,
            duration,
            status,
        });
    }
    requests
}

/// Writes: the primary's until the fault (or, in split brain, until after the promotion),
/// the secondary's after the promotion. Returns them in time order and the last sequence
/// number the replica had applied when it was promoted.
fn gen_writes(rng: &mut StdRng, params: &Params, m: &Moments) -> (Vec<Write>, i64) {
    let mut writes = Vec::new();
    let mut applied_at = Vec::new();
    let mut seq = 0;
    let mut t = m.t0 + 5 * SEC;
    while t < m.fault {
        seq += 1;
        writes.push(Write {
            primary: true,
            seq,
            time: t,
        });
        let lag = match params.replication {
            Replication::Async { min_lag_ms, max_lag_ms } => rng.random_range(min_lag_ms..max_lag_ms) * MS,
            Replication::Sync => 0,
        };
        applied_at.push((seq, t + lag));
        t += rng.random_range(params.write_gap_ms.0..params.write_gap_ms.1) * MS;
    }
    // The replica applies in order: a write is applied once it and all before it arrived.
    let mut last_applied = 0;
    let mut horizon = Ns::MIN;
    for (s, at) in &applied_at {
        horizon = horizon.max(*at);
        if horizon <= m.fault {
            last_applied = *s;
        } else {
            break;
        }
    }
    if let Some(extra) = params.split_brain_ms {
        // The old primary never learnt of the promotion and keeps taking writes.
        while t < m.promoted + extra * MS {
            seq += 1;
            writes.push(Write {
                primary: true,
                seq,
                time: t,
            });
            t += rng.random_range(params.write_gap_ms.0..params.write_gap_ms.1) * MS;
        }
    }
    let mut s2 = last_applied;
    let mut t = m.promoted + rng.random_range(500..2_000) * MS;
    while t < m.end {
        s2 += 1;
        writes.push(Write {
            primary: false,
            seq: s2,
            time: t,
        });
        t += rng.random_range(params.write_gap_ms.0..params.write_gap_ms.1) * MS;
    }
    writes.sort_by_key(|w| w.time);
    (writes, last_applied)
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
