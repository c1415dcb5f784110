//! Alert audit: expected alerts, delivery delay, suppression windows, silences.
//!
//! Not implemented yet: the section is empty and says so.

use serde::{Deserialize, Serialize};

use crate::timeline::Timeline;
use crate::{AnalyzeError, Analyzer, DrillSpec};

/// The SQL files of this section: (file stem, SQL). Each has a golden file in
/// `queries/golden/`.
pub const QUERIES: &[(&str, &str)] = &[];

/// The `alerts` section of the drill spec.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertsSpec {}

impl AlertsSpec {
    /// Checks values that parse but mean nothing (no I/O).
    pub fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

/// The `alerts` section of the report.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Alerts {
    /// Why the section is not measurable.
    pub reason: Option<String>,
}

/// Measures the section.
pub async fn measure(_analyzer: &Analyzer, _spec: &DrillSpec, _timeline: &Timeline) -> Result<Alerts, AnalyzeError> {
    Ok(Alerts {
        reason: Some("not implemented yet".into()),
    })
}

impl Alerts {
    /// The section in Markdown (starts with a `## ` heading).
    pub fn markdown(&self) -> String {
        let mut out = String::from("\n## Alerts\n\n");
        if let Some(r) = &self.reason {
            out += &format!("Not measurable: {r}\n");
        }
        out
    }
}

/// Whether the section holds a failing verdict for `--fail-on alerts`.
pub fn fails(_section: &Alerts) -> bool {
    false
}
