//! Message reconciliation: lost and duplicated messages per destination, before and after
//! the cutover.
//!
//! Definitions (also in `queries/messages_reconcile.sql`): a message is (destination,
//! `messaging.message.id`) over spans whose `messaging.operation.type` is `publish`/`send`
//! (producer) or `receive`/`process` (consumer); `messaging.destination.name` names the
//! destination. Its deliveries are the larger of its receive-span count and its process-span
//! count (a consumer may record one delivery with both). **Lost**: published, never delivered.
//! **Duplicated**: the deliveries beyond the first. A message is on the `before` side when it
//! was published (else first delivered) before `cutover_at`.
//!
//! Spec (optional):
//!
//! ```yaml
//! messages:
//!   list_limit: 20   # at most this many lost and this many duplicated message ids listed
//! ```

use serde::{Deserialize, Serialize};

use crate::queries::{self, Param, Query};
use crate::rows::Rows;
use crate::time::Time;
use crate::timeline::Timeline;
use crate::{AnalyzeError, Analyzer, DrillSpec};

const RECONCILE: &Query = &queries::MESSAGES_RECONCILE;
const EVIDENCE: &Query = &queries::MESSAGES_EVIDENCE;

/// The `messages` section of the drill spec.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MessagesSpec {
    /// At most this many lost and this many duplicated messages are listed as evidence, 1 to
    /// 10000; the counts always cover every message. Default 20.
    pub list_limit: usize,
}

impl Default for MessagesSpec {
    fn default() -> Self {
        MessagesSpec { list_limit: 20 }
    }
}

impl MessagesSpec {
    /// Checks values that parse but mean nothing (no I/O).
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=10_000).contains(&self.list_limit) {
            return Err("list_limit must be between 1 and 10000".into());
        }
        Ok(())
    }
}

/// The `messages` section of the report.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Messages {
    /// Why the section is not measurable (no messaging spans).
    pub reason: Option<String>,
    /// The cutover the counts are split at.
    pub cutover_at: Option<Time>,
    /// Why there is no split (no cutover: every message counts as `before`).
    pub split_reason: Option<String>,
    /// Counts over every destination.
    pub totals: MessageCounts,
    /// Counts per destination, by name.
    pub destinations: Vec<DestinationMessages>,
    /// Lost messages, by publish time (at most `list_limit`).
    pub lost: Vec<MessageEvidence>,
    /// Messages delivered more than once, by publish time (at most `list_limit`).
    pub duplicated: Vec<MessageEvidence>,
}

/// Message counts of one destination (or all) on one side of the cutover (or both).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct MessageCounts {
    /// Messages published (distinct ids).
    pub published: u64,
    /// Messages delivered at least once (distinct ids, published or not).
    pub received: u64,
    /// Published, never delivered.
    pub lost: u64,
    /// Extra deliveries: deliveries beyond the first, summed over messages.
    pub duplicated: u64,
    /// Messages delivered more than once.
    pub duplicated_messages: u64,
    /// Delivered but never published (the producer's telemetry is missing).
    pub unpublished: u64,
    /// Deliveries in all.
    pub deliveries: u64,
}

impl MessageCounts {
    fn add(&mut self, o: &MessageCounts) {
        self.published += o.published;
        self.received += o.received;
        self.lost += o.lost;
        self.duplicated += o.duplicated;
        self.duplicated_messages += o.duplicated_messages;
        self.unpublished += o.unpublished;
        self.deliveries += o.deliveries;
    }
}

/// One destination's counts.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct DestinationMessages {
    /// `messaging.destination.name` (empty when the spans name none).
    pub destination: String,
    /// Messages published (else first delivered) before the cutover.
    pub before: MessageCounts,
    /// Messages published (else first delivered) at or after the cutover.
    pub after: MessageCounts,
    /// Both sides.
    pub total: MessageCounts,
}

/// A lost or duplicated message.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MessageEvidence {
    /// Destination.
    pub destination: String,
    /// `messaging.message.id`.
    pub message_id: String,
    /// `before` or `after` the cutover.
    pub side: String,
    /// Start of its first publish span; null when never published.
    pub published_at: Option<Time>,
    /// Start of its first delivery; null when lost.
    pub first_delivery_at: Option<Time>,
    /// Its deliveries.
    pub deliveries: u64,
}

/// Measures the section.
pub async fn measure(analyzer: &Analyzer, spec: &DrillSpec, timeline: &Timeline) -> Result<Messages, AnalyzeError> {
    let mut out = Messages::default();
    // Without a cutover every message falls before a cutover at the end of time.
    let cutover_at = match timeline.cutover_at {
        Some(t) => {
            out.cutover_at = Some(Time::new(t));
            t
        }
        None => {
            out.split_reason =
                Some("no dns_cutover or traffic_shifted marker after the fault: every message counts as before".into());
            i64::MAX
        }
    };
    let sql = queries::fill(RECONCILE, &[("cutover_at", Param::Time(cutover_at))])?;
    let rows = Rows::query(analyzer, &sql).await?;
    if rows.len() == 0 {
        out.reason = Some(
            "no spans with messaging.message.id and messaging.operation.type publish, send, receive or process".into(),
        );
        return Ok(out);
    }
    let (dest, side) = (rows.strs("destination")?, rows.strs("side")?);
    let col = |c: &str| rows.u64s(c);
    let (published, received, lost) = (col("published")?, col("received")?, col("lost")?);
    let (dup_msgs, extra, unpublished, deliveries) = (
        col("duplicated_messages")?,
        col("extra_deliveries")?,
        col("unpublished")?,
        col("deliveries")?,
    );
    for i in 0..rows.len() {
        let counts = MessageCounts {
            published: published[i],
            received: received[i],
            lost: lost[i],
            duplicated: extra[i],
            duplicated_messages: dup_msgs[i],
            unpublished: unpublished[i],
            deliveries: deliveries[i],
        };
        let name = dest[i].clone().unwrap_or_default();
        // Rows come ordered by destination, so a destination's sides are adjacent.
        if out.destinations.last().is_none_or(|d| d.destination != name) {
            out.destinations.push(DestinationMessages {
                destination: name,
                ..Default::default()
            });
        }
        let d = out.destinations.last_mut().expect("pushed above");
        match side[i].as_deref() {
            Some("before") => d.before = counts.clone(),
            _ => d.after = counts.clone(),
        }
        d.total.add(&counts);
        out.totals.add(&counts);
    }
    // The evidence query repeats the per-message work: skip it when there is nothing to show.
    if out.totals.lost + out.totals.duplicated_messages > 0 {
        (out.lost, out.duplicated) = evidence(analyzer, spec.messages.list_limit, cutover_at).await?;
    }
    Ok(out)
}

/// The lost and the duplicated messages (`messages_evidence.sql`).
async fn evidence(
    analyzer: &Analyzer,
    limit: usize,
    cutover_at: i64,
) -> Result<(Vec<MessageEvidence>, Vec<MessageEvidence>), AnalyzeError> {
    let sql = queries::fill(
        EVIDENCE,
        &[
            ("cutover_at", Param::Time(cutover_at)),
            ("limit", Param::Int(limit as i64)),
        ],
    )?;
    let rows = Rows::query(analyzer, &sql).await?;
    let (problem, dest, id, side) = (
        rows.strs("problem")?,
        rows.strs("destination")?,
        rows.strs("message_id")?,
        rows.strs("side")?,
    );
    let (published, first, deliveries) = (
        rows.i64s("published_at")?,
        rows.i64s("first_delivery_at")?,
        rows.u64s("deliveries")?,
    );
    let (mut lost, mut duplicated) = (Vec::new(), Vec::new());
    for i in 0..rows.len() {
        let e = MessageEvidence {
            destination: dest[i].clone().unwrap_or_default(),
            message_id: id[i].clone().unwrap_or_default(),
            side: side[i].clone().unwrap_or_default(),
            published_at: published[i].map(Time::new),
            first_delivery_at: first[i].map(Time::new),
            deliveries: deliveries[i],
        };
        match problem[i].as_deref() {
            Some("lost") => lost.push(e),
            _ => duplicated.push(e),
        }
    }
    Ok((lost, duplicated))
}

fn counts_row(name: &str, c: &MessageCounts) -> String {
    format!(
        "| {name} | {} | {} | {} | {} | {} |\n",
        c.published, c.received, c.lost, c.duplicated, c.unpublished
    )
}

impl Messages {
    /// The section in Markdown (starts with a `## ` heading).
    pub fn markdown(&self) -> String {
        let mut out = String::from("\n## Messages\n\n");
        if let Some(r) = &self.reason {
            out += &format!("Not measurable: {r}\n");
            return out;
        }
        match (&self.cutover_at, &self.split_reason) {
            (Some(c), _) => out += &format!("Split at the cutover ({c}) by publish time.\n\n"),
            (None, Some(r)) => out += &format!("No split: {r}.\n\n"),
            _ => {}
        }
        out += "| destination | published | received | lost | duplicated deliveries | never published |\n";
        out += "|---|---|---|---|---|---|\n";
        for d in &self.destinations {
            let name = if d.destination.is_empty() {
                "(unnamed)"
            } else {
                &d.destination
            };
            out += &counts_row(&format!("{name} before"), &d.before);
            out += &counts_row(&format!("{name} after"), &d.after);
        }
        out += &counts_row("**all**", &self.totals);
        for (what, list, total) in [
            ("Lost", &self.lost, self.totals.lost),
            ("Duplicated", &self.duplicated, self.totals.duplicated_messages),
        ] {
            if list.is_empty() {
                continue;
            }
            out += &format!("\n{what} ({} of {total} listed):\n", list.len());
            for e in list {
                out += &format!(
                    "- `{}` in {} ({}; published {}; {} deliveries)\n",
                    e.message_id,
                    e.destination,
                    e.side,
                    e.published_at.as_deref().unwrap_or("never"),
                    e.deliveries
                );
            }
        }
        out
    }
}

impl crate::section::Section for Messages {
    const NAME: &'static str = "messages";

    async fn measure(cx: &crate::section::Context<'_>) -> Result<Self, AnalyzeError> {
        measure(cx.analyzer, cx.spec, cx.timeline).await
    }

    fn markdown(&self) -> String {
        Messages::markdown(self)
    }
}
