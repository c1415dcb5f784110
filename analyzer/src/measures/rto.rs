//! The `rto` section: recovery time, split into phases, with how the SLI was read (spans or
//! metrics, sampled or not). The definitions are in the module docs of [`crate::measures`].

use serde::Serialize;

use super::{TAIL_SAMPLED, int_at, one, probability_of_threshold, seconds, str_at, tail_sampled};
use crate::report::FailOn;
use crate::rows::f64_at;
use crate::section::{Context, Section};
use crate::time::Time;
use crate::timeline::Timeline;
use crate::{AnalyzeError, Analyzer, DrillSpec};

/// Recovery time objective section.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rto {
    /// recovered_at − fault_at, seconds; null when not measurable.
    pub actual_seconds: Option<f64>,
    /// First `fault_injected` marker; without one, the inferred fault (`fault_inferred`).
    pub fault_at: Option<Time>,
    /// `true` when the log had no `fault_injected` marker and `fault_at` is the start of the
    /// first sustained SLI breach (`recovery.breach_seconds`).
    pub fault_inferred: bool,
    /// Start of the first good request of a stable window after the fault.
    pub recovered_at: Option<Time>,
    /// The spec's target.
    pub target_seconds: f64,
    /// Whether actual ≤ target; null when not measurable.
    pub met: Option<bool>,
    /// Why it is not measurable.
    pub reason: Option<String>,
    /// SLI requests seen (all regions).
    pub requests: u64,
    /// `alert` or `sli_breach`: what marked detection; null when nothing did.
    pub detected_by: Option<String>,
    /// The RTO split at detection, failover declared, cutover and first good request in the
    /// secondary; consecutive phases, each measurable on its own.
    pub phases: Vec<Phase>,
    /// What the SLI's requests are: `spans`, or `metrics` (counters, see `sli.metrics`).
    pub sli: String,
    /// With a metrics SLI: the median interval between its points, seconds. Times computed
    /// from it (recovery, the RTO, burn) are precise to about this much.
    pub resolution_seconds: Option<f64>,
    /// With a metrics SLI: how its requests were built (the `total` selector, scaling).
    pub sli_note: Option<String>,
    /// How the SLI's spans were sampled: `none` (every request has its span), `head` or
    /// `tail` (`sli.sampling.mode`).
    pub sampling: String,
    /// With head sampling: the requests the kept spans stand for (each span counts 1 / its
    /// sampling probability); null when nothing was sampled.
    pub estimated_requests: Option<f64>,
    /// What the sampling means for the measures.
    pub sampling_note: Option<String>,
}

/// One phase of the outage.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Phase {
    /// `fault_to_detection`, `detection_to_declared`, `declared_to_cutover`,
    /// `cutover_to_first_good_secondary`, `first_good_secondary_to_recovered`.
    pub name: String,
    /// Start of the phase.
    pub started_at: Option<Time>,
    /// End of the phase.
    pub ended_at: Option<Time>,
    /// Length; null when an end is missing.
    pub seconds: Option<f64>,
    /// Why it is not measurable.
    pub reason: Option<String>,
}

impl Section for Rto {
    const NAME: &'static str = "rto";

    async fn measure(cx: &Context<'_>) -> Result<Self, AnalyzeError> {
        measure_rto(cx.analyzer, cx.spec, cx.timeline).await
    }

    fn markdown(&self) -> String {
        let mut out = String::new();
        out += "\n## Recovery time\n\n";
        out += &format!(
            "- fault {}: {}\n",
            if self.fault_inferred {
                "inferred from the first sustained SLI breach (no fault_injected marker)"
            } else {
                "injected"
            },
            self.fault_at.as_deref().unwrap_or("—")
        );
        out += &format!("- recovered: {}\n", self.recovered_at.as_deref().unwrap_or("—"));
        out += &format!("- SLI requests: {}\n", self.requests);
        if let Some(note) = &self.sli_note {
            out += &format!("- SLI from metrics: {note}\n");
        }
        if let Some(note) = &self.sampling_note {
            out += &format!("- sampled traces: {note}\n");
        }
        if let Some(r) = &self.reason {
            out += &format!("- not measurable: {r}\n");
        }
        if !self.phases.is_empty() {
            out += "\n| phase | from | to | duration |\n|---|---|---|---|\n";
            for p in &self.phases {
                let d = match (p.seconds, &p.reason) {
                    (Some(s), _) => format!("{s:.3} s"),
                    (None, Some(r)) => format!("not measurable: {r}"),
                    (None, None) => "not measurable".into(),
                };
                out += &format!(
                    "| {} | {} | {} | {d} |\n",
                    p.name.replace('_', " "),
                    p.started_at.as_deref().unwrap_or("—"),
                    p.ended_at.as_deref().unwrap_or("—")
                );
            }
            if let Some(by) = &self.detected_by {
                out += &format!(
                    "\nDetection by {}.\n",
                    if by == "alert" {
                        "an alert"
                    } else {
                        "the SLI (first bad request)"
                    }
                );
            }
        }
        out
    }

    fn holds(&self, verdict: FailOn) -> bool {
        match verdict {
            FailOn::Rto => self.met == Some(false),
            FailOn::Unmeasurable => self.met.is_none(),
            _ => false,
        }
    }
}

/// How the SLI requests were sampled: (mode, estimated requests, note) for the report.
async fn sampling(
    analyzer: &Analyzer,
    spec: &DrillSpec,
) -> Result<(String, Option<f64>, Option<String>), AnalyzeError> {
    if spec.sli.metrics.is_some() {
        return Ok(("none".into(), None, None));
    }
    if tail_sampled(spec) {
        return Ok(("tail".into(), None, Some(TAIL_SAMPLED.into())));
    }
    let Some(b) = one(analyzer
        .sql("SELECT sampling_th, sampling_probability, COUNT(*) AS n FROM requests GROUP BY sampling_th, sampling_probability")
        .await?)?
    else {
        return Ok(("none".into(), None, None));
    };
    let default = spec.sli.sampling.probability.unwrap_or(1.0);
    let (mut spans, mut estimated, mut lo, mut hi, mut from_trace) = (0u64, 0.0f64, 1.0f64, 0.0f64, 0u64);
    for row in 0..b.num_rows() {
        let n = int_at(&b, "n", row)?.unwrap_or(0).max(0) as u64;
        let th = str_at(&b, "sampling_th", row)?.and_then(|t| probability_of_threshold(&t));
        let attr = f64_at(&b, "sampling_probability", row)?.filter(|p| *p > 0.0 && *p <= 1.0);
        if th.is_some() || attr.is_some() {
            from_trace += n;
        }
        let p = th.or(attr).unwrap_or(default);
        spans += n;
        estimated += n as f64 / p;
        lo = lo.min(p);
        hi = hi.max(p);
    }
    if spans == 0 || lo >= 1.0 {
        return Ok(("none".into(), None, None));
    }
    let note = format!(
        "{spans} SLI spans were kept with probabilities {}{}, standing for about {} requests ({from_trace} spans carry their own probability, the others take {default}); request counts are estimates, and ratios (recovery, budget, abort) rest on the kept spans, a fair sample under head sampling",
        (lo * 1e4).round() / 1e4,
        if hi > lo {
            format!("–{}", (hi * 1e4).round() / 1e4)
        } else {
            String::new()
        },
        estimated.round()
    );
    Ok(("head".into(), Some(estimated.round()), Some(note)))
}

async fn measure_rto(analyzer: &Analyzer, spec: &DrillSpec, timeline: &Timeline) -> Result<Rto, AnalyzeError> {
    let mut rto = Rto {
        actual_seconds: None,
        fault_at: None,
        recovered_at: None,
        target_seconds: spec.targets.rto_seconds,
        met: None,
        reason: None,
        requests: 0,
        detected_by: None,
        phases: Vec::new(),
        fault_inferred: false,
        sli: "spans".into(),
        resolution_seconds: None,
        sli_note: None,
        sampling: "none".into(),
        estimated_requests: None,
        sampling_note: None,
    };
    (rto.sampling, rto.estimated_requests, rto.sampling_note) = sampling(analyzer, spec).await?;
    if let Some(m) = &analyzer.metrics_sli {
        rto.sli = "metrics".into();
        rto.resolution_seconds = m.resolution_ns.map(seconds);
        let mut note = format!(
            "{} requests from {}; times are precise to the {} s between its points",
            m.requests,
            m.total,
            rto.resolution_seconds.map_or("—".to_string(), |r| r.to_string())
        );
        if m.scaled {
            note += &format!(
                "; intervals with more than {} requests were scaled down (ratios exact, counts not)",
                crate::metrics_sli::MAX_ROWS_PER_INTERVAL
            );
        }
        if m.unpaired > 0 {
            note += &format!(
                "; {} increments of the other selector had no total to pair with",
                m.unpaired
            );
        }
        rto.sli_note = Some(note);
    }
    let counts = one(analyzer.sql("SELECT COUNT(*) AS n FROM requests").await?)?;
    rto.requests = counts
        .as_ref()
        .map(|b| int_at(b, "n", 0))
        .transpose()?
        .flatten()
        .unwrap_or(0) as u64;
    let Some(fault_at) = timeline.fault_at else {
        rto.reason =
            Some("no fault_injected marker in the log, and no sustained SLI breach to infer the fault from".into());
        return Ok(rto);
    };
    rto.fault_at = Some(Time::new(fault_at));
    rto.fault_inferred = timeline.fault_inferred;
    if rto.requests == 0 {
        rto.reason = Some(match &spec.sli.metrics {
            Some(m) => format!(
                "no SLI requests: sli.metrics total {:?} has no counter increase in the log",
                m.total
            ),
            None => format!(
                "no SLI requests: no spans of service(s) {} with kind(s) {}",
                spec.sli.services.join(", "),
                spec.sli.span_kinds.join(", ")
            ),
        });
        return Ok(rto);
    }
    rto.detected_by = timeline.detected_by.map(str::to_string);
    rto.phases = phases(timeline);
    if tail_sampled(spec) {
        rto.reason = Some(TAIL_SAMPLED.into());
        return Ok(rto);
    }
    let Some(recovered_at) = timeline.recovered_at else {
        rto.reason = Some(format!(
            "no recovery observed: after the fault, no good request opens a {} s window with at least {} good requests that ends within the data",
            spec.recovery.stable_seconds, spec.recovery.success_ratio
        ));
        return Ok(rto);
    };
    rto.recovered_at = Some(Time::new(recovered_at));
    let actual = seconds(recovered_at - fault_at);
    rto.actual_seconds = Some(actual);
    rto.met = Some(actual <= spec.targets.rto_seconds);
    Ok(rto)
}

/// Splits the outage at the timeline's phase boundaries.
fn phases(t: &Timeline) -> Vec<Phase> {
    let Some(fault_at) = t.fault_at else {
        return Vec::new();
    };
    let bounds: [(&str, Option<i64>, &str); 6] = [
        ("fault", Some(fault_at), "no fault_injected marker"),
        (
            "detection",
            t.detected_at,
            "no firing alert for an SLI service and no bad request after the fault",
        ),
        ("declared", t.declared_at, "no failover_declared marker after the fault"),
        (
            "cutover",
            t.cutover_at,
            "no dns_cutover or traffic_shifted marker after the fault",
        ),
        (
            "first_good_secondary",
            t.first_good_secondary_at,
            "no good request served by the secondary region after the fault",
        ),
        ("recovered", t.recovered_at, "no recovery observed"),
    ];
    bounds
        .windows(2)
        .map(|w| {
            let ((from, start, why_start), (to, end, why_end)) = (w[0], w[1]);
            let reason = match (start, end) {
                (None, _) => Some(why_start.to_string()),
                (_, None) => Some(why_end.to_string()),
                (Some(s), Some(e)) if e < s => Some(format!("{to} came before {from}")),
                _ => None,
            };
            Phase {
                name: format!("{from}_to_{to}"),
                started_at: start.map(Time::new),
                ended_at: end.map(Time::new),
                seconds: match (start, end, &reason) {
                    (Some(s), Some(e), None) => Some(seconds(e - s)),
                    _ => None,
                },
                reason,
            }
        })
        .collect()
}
