//! The `rpo` section: acknowledged writes lost at the promotion, per store, the RPO they
//! measure, the replication-lag gauge's estimate beside it, and split brain. The definitions
//! are in the module docs of [`crate::measures`].

use std::collections::BTreeMap;

use serde::Serialize;

use super::{int_at, one, seconds, str_at, ts_at};
use crate::queries::{self, Param};
use crate::report::{FailOn, compact_ranges};
use crate::rows::f64_at;
use crate::section::{Context, Section};
use crate::spec::LagUnit;
use crate::time::Time;
use crate::{AnalyzeError, Analyzer, DrillSpec};

/// Recovery point objective section.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rpo {
    /// Largest per-store RPO, seconds; null when any store is not measurable or none promoted.
    pub actual_seconds: Option<f64>,
    /// Number of lost writes over all stores.
    pub lost_writes: Option<u64>,
    /// Lost sequence numbers per store.
    pub lost: BTreeMap<String, Vec<i64>>,
    /// The spec's target.
    pub target_seconds: f64,
    /// Whether actual ≤ target; null when not measurable.
    pub met: Option<bool>,
    /// Why it is not measurable.
    pub reason: Option<String>,
    /// Evidence per promoted store.
    pub stores: Vec<StoreRpo>,
    /// The RPO a replication-lag gauge predicted (last value at or before the fault), seconds;
    /// null without `replication.lag_metric` in the spec or without a point before the fault.
    pub estimate_seconds: Option<f64>,
    /// Why there is no estimate.
    pub estimate_reason: Option<String>,
    /// Stores written in two regions over overlapping time.
    pub split_brain: Vec<SplitBrain>,
}

/// Writes to one store accepted in two regions over overlapping time.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SplitBrain {
    /// Store.
    pub store: String,
    /// The two regions.
    pub regions: [String; 2],
    /// Start of the overlap.
    pub overlap_start: Time,
    /// End of the overlap.
    pub overlap_end: Time,
    /// Writes each region accepted in the overlap, in `regions` order.
    pub writes: [u64; 2],
}

/// One store's promotion and what it lost.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StoreRpo {
    /// Store name (`cutover.write.store`).
    pub store: String,
    /// The promotion marker's time.
    pub promoted_at: Time,
    /// The promoted replica's last applied sequence number.
    pub last_applied_seq: Option<i64>,
    /// Event time of that write in the primary region.
    pub newest_surviving_write_at: Option<Time>,
    /// Event time of the newest lost write.
    pub newest_lost_write_at: Option<Time>,
    /// Lost writes.
    pub lost_writes: u64,
    /// newest lost − newest surviving, seconds (0 when nothing lost).
    pub rpo_seconds: Option<f64>,
    /// Why `rpo_seconds` is null.
    pub reason: Option<String>,
}

impl Section for Rpo {
    const NAME: &'static str = "rpo";

    async fn measure(cx: &Context<'_>) -> Result<Self, AnalyzeError> {
        measure_rpo(cx.analyzer, cx.spec, cx.timeline.fault_at).await
    }

    fn markdown(&self) -> String {
        let secs = |v: Option<f64>| {
            v.map(|s| format!("{s:.3} s"))
                .unwrap_or_else(|| "not measurable".into())
        };
        let mut out = String::new();
        out += "\n## Recovery point\n\n";
        if let Some(r) = &self.reason {
            out += &format!("Not measurable: {r}\n\n");
        }
        for s in &self.stores {
            out += &format!(
                "- store `{}`: promoted {} with last applied seq {}; newest surviving write {}; {} lost write(s){}; RPO {}\n",
                s.store,
                s.promoted_at,
                s.last_applied_seq.map(|v| v.to_string()).unwrap_or_else(|| "?".into()),
                s.newest_surviving_write_at.as_deref().unwrap_or("—"),
                s.lost_writes,
                self.lost
                    .get(&s.store)
                    .filter(|v| !v.is_empty())
                    .map(|v| format!(" (seq {})", compact_ranges(v)))
                    .unwrap_or_default(),
                s.rpo_seconds
                    .map(|v| format!("{v:.3} s"))
                    .unwrap_or_else(|| format!("not measurable: {}", s.reason.as_deref().unwrap_or("?"))),
            );
        }
        match (self.estimate_seconds, &self.estimate_reason) {
            (Some(e), _) => {
                out += &format!(
                    "\nReplication-lag estimate at the fault: {e:.3} s (measured RPO: {}).\n",
                    secs(self.actual_seconds)
                )
            }
            (None, Some(r)) => out += &format!("\nNo replication-lag estimate: {r}.\n"),
            _ => {}
        }
        for sb in &self.split_brain {
            out += &format!(
                "\n**Split brain**: store `{}` took writes in {} ({}) and {} ({}) between {} and {}.\n",
                sb.store, sb.regions[0], sb.writes[0], sb.regions[1], sb.writes[1], sb.overlap_start, sb.overlap_end
            );
        }
        out
    }

    fn holds(&self, verdict: FailOn) -> bool {
        match verdict {
            FailOn::Rpo => self.met == Some(false),
            FailOn::Unmeasurable => self.met.is_none(),
            FailOn::SplitBrain => !self.split_brain.is_empty(),
            _ => false,
        }
    }
}

/// Writes accepted in two regions over overlapping time (`split_brain.sql`).
async fn split_brain(analyzer: &Analyzer) -> Result<Vec<SplitBrain>, AnalyzeError> {
    let Some(b) = one(analyzer.sql(&queries::SPLIT_BRAIN).await?)? else {
        return Ok(Vec::new());
    };
    (0..b.num_rows())
        .map(|row| {
            Ok(SplitBrain {
                store: str_at(&b, "store", row)?.unwrap_or_default(),
                regions: [
                    str_at(&b, "region_a", row)?.unwrap_or_default(),
                    str_at(&b, "region_b", row)?.unwrap_or_default(),
                ],
                overlap_start: ts_at(&b, "overlap_start", row)?.map(Time::new).unwrap_or_default(),
                overlap_end: ts_at(&b, "overlap_end", row)?.map(Time::new).unwrap_or_default(),
                writes: [
                    int_at(&b, "writes_a", row)?.unwrap_or(0) as u64,
                    int_at(&b, "writes_b", row)?.unwrap_or(0) as u64,
                ],
            })
        })
        .collect()
}

/// The RPO a replication-lag gauge predicted: its last value at or before the fault.
async fn lag_estimate(
    analyzer: &Analyzer,
    spec: &DrillSpec,
    fault_at: Option<i64>,
) -> Result<(Option<f64>, Option<String>), AnalyzeError> {
    let Some(replication) = &spec.replication else {
        return Ok((None, Some("the spec names no replication.lag_metric".into())));
    };
    let Some(fault_at) = fault_at else {
        return Ok((None, Some("no fault_injected marker".into())));
    };
    let sql = queries::fill(
        &queries::LAG_ESTIMATE,
        &[
            ("lag_metric", Param::Literal(replication.lag_metric.clone())),
            ("fault_at", Param::Time(fault_at)),
        ],
    )?;
    let row = one(analyzer.sql(&sql).await?)?;
    let value = row.as_ref().map(|b| f64_at(b, "lag", 0)).transpose()?.flatten();
    Ok(match value {
        Some(v) => {
            let secs = match replication.lag_unit {
                LagUnit::Seconds => v,
                LagUnit::Milliseconds => v / 1000.0,
            };
            (Some((secs * 1000.0).round() / 1000.0), None)
        }
        None => (
            None,
            Some(format!("no point of {} at or before the fault", replication.lag_metric)),
        ),
    })
}

async fn measure_rpo(analyzer: &Analyzer, spec: &DrillSpec, fault_at: Option<i64>) -> Result<Rpo, AnalyzeError> {
    let mut rpo = Rpo {
        actual_seconds: None,
        lost_writes: None,
        lost: BTreeMap::new(),
        target_seconds: spec.targets.rpo_seconds,
        met: None,
        reason: None,
        stores: Vec::new(),
        estimate_seconds: None,
        estimate_reason: None,
        split_brain: split_brain(analyzer).await?,
    };
    (rpo.estimate_seconds, rpo.estimate_reason) = lag_estimate(analyzer, spec, fault_at).await?;
    let primary = [("primary", Param::Literal(spec.regions.primary.clone()))];
    let promotions = one(analyzer
        .sql(&queries::fill(&queries::SURVIVING_WRITES, &primary)?)
        .await?)?;
    let Some(promotions) = promotions else {
        rpo.reason = Some("no db_promoted marker carrying cutover.write.store in the log".into());
        return Ok(rpo);
    };
    let lost = one(analyzer.sql(&queries::fill(&queries::LOST_WRITES, &primary)?).await?)?;
    let mut lost_by_store: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    if let Some(b) = &lost {
        for row in 0..b.num_rows() {
            if let (Some(store), Some(seq), Some(t)) =
                (str_at(b, "store", row)?, int_at(b, "seq", row)?, ts_at(b, "time", row)?)
            {
                lost_by_store.entry(store).or_default().push((seq, t));
            }
        }
    }
    let mut total_lost = 0u64;
    let mut worst: Option<f64> = Some(0.0);
    let mut reasons = Vec::new();
    for row in 0..promotions.num_rows() {
        let store = str_at(&promotions, "store", row)?.unwrap_or_default();
        let last_applied = int_at(&promotions, "last_applied_seq", row)?;
        let surviving = ts_at(&promotions, "time", row)?;
        let lost = lost_by_store.remove(&store).unwrap_or_default();
        let newest_lost = lost.iter().map(|(_, t)| *t).max();
        let (rpo_s, reason) = match (last_applied, newest_lost, surviving) {
            (None, _, _) => (
                None,
                Some("db_promoted marker has no integer cutover.write.last_applied_seq".to_string()),
            ),
            (Some(_), None, _) => (Some(0.0), None),
            (Some(seq), Some(_), None) => (
                None,
                Some(format!(
                    "the newest surviving write (seq {seq}) is not in the log, so the data-loss window has no start"
                )),
            ),
            (Some(_), Some(l), Some(s)) => (Some(seconds(l - s).max(0.0)), None),
        };
        if let Some(r) = &reason {
            reasons.push(format!("store {store}: {r}"));
        }
        worst = match (worst, rpo_s) {
            (Some(w), Some(v)) => Some(w.max(v)),
            _ => None,
        };
        total_lost += lost.len() as u64;
        rpo.lost.insert(store.clone(), lost.iter().map(|(s, _)| *s).collect());
        rpo.stores.push(StoreRpo {
            store,
            promoted_at: ts_at(&promotions, "promoted_at", row)?
                .map(Time::new)
                .unwrap_or_default(),
            last_applied_seq: last_applied,
            newest_surviving_write_at: surviving.map(Time::new),
            newest_lost_write_at: newest_lost.map(Time::new),
            lost_writes: lost.len() as u64,
            rpo_seconds: rpo_s,
            reason,
        });
    }
    rpo.lost_writes = Some(total_lost);
    rpo.actual_seconds = worst;
    if worst.is_none() {
        rpo.reason = Some(reasons.join("; "));
    }
    rpo.met = worst.map(|w| w <= spec.targets.rpo_seconds);
    Ok(rpo)
}
