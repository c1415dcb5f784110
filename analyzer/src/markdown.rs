//! The report as Markdown: a heading, the verdict and the RTO/RPO summary table, then each
//! section's own Markdown in registry order ([`crate::section::Section::markdown`]), then what
//! the replay saw. The HTML report renders this text, so the two always agree.

use crate::report::{Report, Truth, Verdict};

impl Report {
    /// Markdown text. `truth` adds a column of ground-truth values (the demo's simulator).
    pub fn to_markdown(&self, truth: Option<&Truth>) -> String {
        let secs = |v: Option<f64>| {
            v.map(|s| format!("{s:.3} s"))
                .unwrap_or_else(|| "not measurable".into())
        };
        let met = |m: Option<bool>| match m {
            Some(true) => "met",
            Some(false) => "**missed**",
            None => "not measurable",
        };
        let mut out = format!("# Drill report: {}\n\n", self.drill);
        out += &format!(
            "Primary region `{}`, secondary `{}`. Verdict: **{}**.\n\n",
            self.regions.get("primary").map(String::as_str).unwrap_or("?"),
            self.regions.get("secondary").map(String::as_str).unwrap_or("?"),
            match self.verdict {
                Verdict::Met => "all targets met",
                Verdict::Missed => "target missed",
                Verdict::NotMeasurable => "not measurable",
            }
        );
        let header = if truth.is_some() {
            "| measure | measured | truth | target | verdict |\n|---|---|---|---|---|\n"
        } else {
            "| measure | measured | target | verdict |\n|---|---|---|---|\n"
        };
        out += header;
        let row = |name: &str, measured: String, truth_v: Option<String>, target: f64, verdict: &str| match &truth_v {
            Some(t) => format!("| {name} | {measured} | {t} | {target} s | {verdict} |\n"),
            None => format!("| {name} | {measured} | {target} s | {verdict} |\n"),
        };
        out += &row(
            "RTO",
            secs(self.rto.actual_seconds),
            truth.map(|t| format!("{:.3} s", t.rto_seconds)),
            self.rto.target_seconds,
            met(self.rto.met),
        );
        out += &row(
            "RPO",
            secs(self.rpo.actual_seconds),
            truth.map(|t| format!("{:.3} s", t.rpo_seconds)),
            self.rpo.target_seconds,
            met(self.rpo.met),
        );
        let lost = self
            .rpo
            .lost_writes
            .map(|n| n.to_string())
            .unwrap_or_else(|| "not measurable".into());
        match truth {
            Some(t) => out += &format!("| lost writes | {lost} | {} | | |\n", t.lost_writes),
            None => out += &format!("| lost writes | {lost} | | |\n"),
        }
        out += &self.sections_markdown();
        out += &format!(
            "\nReplayed {} records ({} duplicate spans dropped, {} undecodable).\n",
            self.replay.records, self.replay.duplicate_spans, self.replay.undecodable
        );
        out
    }
}
