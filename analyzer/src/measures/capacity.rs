//! Capacity of the secondary after the cutover, from utilization gauges.
//!
//! For each gauge the spec names, over its points (`metric_points` by `name`) in the secondary
//! region from `cutover_at` to the end of the data, per series (service and point
//! attributes): points, peak and when it was first reached, and the time above the threshold.
//!
//! Time above threshold (step rule): a point's value holds until the series' next point, so
//! the time above is the sum of (next point − point) over the points whose value is strictly
//! above the threshold; a series' last point adds nothing (nothing says how long it held).
//! The gauge's own figures are those of its worst series: the highest peak, and the longest
//! time above (series are not added up: two hosts above for 10 s are not 20 s).
//!
//! Spec:
//!
//! ```yaml
//! capacity:
//!   gauges:
//!     - { metric: system.cpu.utilization, threshold: 0.8, service: checkout }  # service optional
//!     - { metric: db_connections_used_ratio, threshold: 0.9 }
//! ```

use serde::{Deserialize, Serialize};

use crate::queries::{self, Param, Query};
use crate::rows::Rows;
use crate::time::Time;
use crate::timeline::Timeline;
use crate::{AnalyzeError, Analyzer, DrillSpec};

const GAUGE: &Query = &queries::CAPACITY_GAUGE;

/// The `capacity` section of the drill spec.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CapacitySpec {
    /// Utilization gauges to watch in the secondary after the cutover. Default none (the
    /// section is then not measurable and says so).
    pub gauges: Vec<GaugeSpec>,
}

/// One utilization gauge.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GaugeSpec {
    /// Metric name (OTLP metric or Prometheus series name).
    pub metric: String,
    /// Values strictly above this count as "above threshold" (same unit as the gauge).
    pub threshold: f64,
    /// Only points of this `service.name`; all services when absent.
    #[serde(default)]
    pub service: Option<String>,
}

impl CapacitySpec {
    /// Checks values that parse but mean nothing (no I/O).
    pub fn validate(&self) -> Result<(), String> {
        for (i, g) in self.gauges.iter().enumerate() {
            if g.metric.trim().is_empty() {
                return Err(format!("gauges[{i}].metric must name a metric"));
            }
            if !g.threshold.is_finite() {
                return Err(format!("gauges[{i}].threshold must be a finite number"));
            }
            if g.service.as_deref().is_some_and(|s| s.trim().is_empty()) {
                return Err(format!(
                    "gauges[{i}].service must not be empty (leave it out for all services)"
                ));
            }
        }
        Ok(())
    }
}

/// The `capacity` section of the report.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Capacity {
    /// Why the section is not measurable (no gauge in the spec, no cutover).
    pub reason: Option<String>,
    /// The region watched (the spec's secondary).
    pub region: String,
    /// Start of the watched time (the cutover); it runs to the end of the data.
    pub from: Option<Time>,
    /// One entry per gauge of the spec, in spec order.
    pub gauges: Vec<GaugeCapacity>,
}

/// One gauge's figures.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct GaugeCapacity {
    /// Metric name.
    pub metric: String,
    /// The spec's service filter.
    pub service: Option<String>,
    /// The spec's threshold.
    pub threshold: f64,
    /// Why this gauge is not measurable (no points).
    pub reason: Option<String>,
    /// Points counted over all series.
    pub points: u64,
    /// Highest value of any series; null without points.
    pub peak: Option<f64>,
    /// When the peak was first reached.
    pub peak_at: Option<Time>,
    /// Longest time above threshold of any series, seconds (step rule); null without points.
    pub seconds_above: Option<f64>,
    /// Evidence per series.
    pub series: Vec<SeriesCapacity>,
}

/// One series of a gauge.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SeriesCapacity {
    /// Service.
    pub service: String,
    /// Point attributes as `keys=values` (comma-separated, in point order); empty for none.
    pub series: String,
    /// Points counted.
    pub points: u64,
    /// Points strictly above the threshold.
    pub points_above: u64,
    /// Highest value.
    pub peak: f64,
    /// When it was first reached.
    pub peak_at: Time,
    /// Time above threshold, seconds (step rule).
    pub seconds_above: f64,
    /// First point counted.
    pub first_at: Time,
    /// Last point counted.
    pub last_at: Time,
}

/// Measures the section.
pub async fn measure(analyzer: &Analyzer, spec: &DrillSpec, timeline: &Timeline) -> Result<Capacity, AnalyzeError> {
    let mut out = Capacity {
        region: spec.regions.secondary.clone(),
        ..Default::default()
    };
    if spec.capacity.gauges.is_empty() {
        out.reason = Some("the spec names no capacity.gauges".into());
        return Ok(out);
    }
    let Some(cutover_at) = timeline.cutover_at else {
        out.reason = Some("no dns_cutover or traffic_shifted marker after the fault".into());
        return Ok(out);
    };
    out.from = Some(Time::new(cutover_at));
    for g in &spec.capacity.gauges {
        out.gauges
            .push(gauge(analyzer, g, &spec.regions.secondary, cutover_at).await?);
    }
    Ok(out)
}

/// One gauge (`capacity_gauge.sql`).
async fn gauge(
    analyzer: &Analyzer,
    g: &GaugeSpec,
    region: &str,
    cutover_at: i64,
) -> Result<GaugeCapacity, AnalyzeError> {
    let sql = queries::fill(
        GAUGE,
        &[
            ("metric", Param::Literal(g.metric.clone())),
            ("secondary", Param::Literal(region.to_string())),
            ("cutover_at", Param::Time(cutover_at)),
            ("threshold", Param::Number(g.threshold)),
            ("service", Param::Literal(g.service.clone().unwrap_or_default())),
        ],
    )?;
    let rows = Rows::query(analyzer, &sql).await?;
    let (service, label) = (rows.strs("service")?, rows.strs("series")?);
    let (points, above) = (rows.u64s("points")?, rows.u64s("points_above")?);
    let (peak, secs) = (rows.f64s("peak")?, rows.f64s("seconds_above")?);
    let (peak_at, first, last) = (rows.i64s("peak_at")?, rows.i64s("first_at")?, rows.i64s("last_at")?);
    let time = |v: Option<i64>| v.map(Time::new).unwrap_or_default();
    let series: Vec<SeriesCapacity> = (0..rows.len())
        .map(|i| SeriesCapacity {
            service: service[i].clone().unwrap_or_default(),
            series: label[i].clone().unwrap_or_default(),
            points: points[i],
            points_above: above[i],
            peak: peak[i].unwrap_or(f64::NAN),
            peak_at: time(peak_at[i]),
            seconds_above: (secs[i].unwrap_or(0.0) * 1e3).round() / 1e3,
            first_at: time(first[i]),
            last_at: time(last[i]),
        })
        .collect();
    let mut out = GaugeCapacity {
        metric: g.metric.clone(),
        service: g.service.clone(),
        threshold: g.threshold,
        points: series.iter().map(|s| s.points).sum(),
        ..Default::default()
    };
    // The first series with the highest peak; ties go to the earlier peak.
    let worst = (0..series.len()).max_by(|&a, &b| {
        let (x, y) = (&series[a], &series[b]);
        x.peak.total_cmp(&y.peak).then_with(|| peak_at[b].cmp(&peak_at[a]))
    });
    match worst {
        None => {
            out.reason = Some(format!(
                "no points of {} in {region}{} at or after the cutover",
                g.metric,
                g.service
                    .as_ref()
                    .map(|s| format!(" for service {s}"))
                    .unwrap_or_default()
            ))
        }
        Some(w) => {
            out.peak = Some(series[w].peak);
            out.peak_at = Some(series[w].peak_at.clone());
            out.seconds_above = series.iter().map(|s| s.seconds_above).reduce(f64::max);
        }
    }
    out.series = series;
    Ok(out)
}

impl Capacity {
    /// The section in Markdown (starts with a `## ` heading).
    pub fn markdown(&self) -> String {
        let mut out = String::from("\n## Capacity\n\n");
        if let Some(r) = &self.reason {
            out += &format!("Not measurable: {r}\n");
            return out;
        }
        out += &format!(
            "Utilization in `{}` from the cutover ({}) on; time above counts each point's value until the next point.\n\n",
            self.region,
            self.from.as_deref().unwrap_or("?")
        );
        out += "| gauge | threshold | points | peak | peak at | longest time above |\n|---|---|---|---|---|---|\n";
        for g in &self.gauges {
            let name = match &g.service {
                Some(s) => format!("{} ({s})", g.metric),
                None => g.metric.clone(),
            };
            match (&g.reason, g.peak) {
                (Some(r), _) => out += &format!("| {name} | {} | 0 | not measurable: {r} | | |\n", g.threshold),
                (None, Some(p)) => {
                    out += &format!(
                        "| {name} | {} | {} | {p} | {} | {:.3} s |\n",
                        g.threshold,
                        g.points,
                        g.peak_at.as_deref().unwrap_or("?"),
                        g.seconds_above.unwrap_or(0.0)
                    )
                }
                (None, None) => {}
            }
        }
        out
    }
}

impl crate::section::Section for Capacity {
    const NAME: &'static str = "capacity";

    async fn measure(cx: &crate::section::Context<'_>) -> Result<Self, AnalyzeError> {
        measure(cx.analyzer, cx.spec, cx.timeline).await
    }

    fn markdown(&self) -> String {
        Capacity::markdown(self)
    }
}
