//! Telemetry gaps per stream and whether every stream followed the cutover.
//!
//! Not implemented yet: the section is empty and says so.

use serde::{Deserialize, Serialize};

use crate::timeline::Timeline;
use crate::{AnalyzeError, Analyzer, DrillSpec};

/// The SQL files of this section: (file stem, SQL). Each has a golden file in
/// `queries/golden/`.
pub const QUERIES: &[(&str, &str)] = &[];

/// The `gaps` section of the drill spec.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GapsSpec {}

impl GapsSpec {
    /// Checks values that parse but mean nothing (no I/O).
    pub fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

/// The `gaps` section of the report.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Gaps {
    /// Why the section is not measurable.
    pub reason: Option<String>,
}

/// Measures the section.
pub async fn measure(_analyzer: &Analyzer, _spec: &DrillSpec, _timeline: &Timeline) -> Result<Gaps, AnalyzeError> {
    Ok(Gaps {
        reason: Some("not implemented yet".into()),
    })
}

impl Gaps {
    /// The section in Markdown (starts with a `## ` heading).
    pub fn markdown(&self) -> String {
        let mut out = String::from("\n## Gaps\n\n");
        if let Some(r) = &self.reason {
            out += &format!("Not measurable: {r}\n");
        }
        out
    }
}

/// Whether the section holds a failing verdict for `--fail-on gaps`.
pub fn fails(_section: &Gaps) -> bool {
    false
}
