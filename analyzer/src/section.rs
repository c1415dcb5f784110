//! What a report section is, and the one registry of them.
//!
//! A section is a type that measures itself from the replayed log, the drill spec and the
//! drill's timeline ([`Section::measure`]), renders itself as Markdown, and says which
//! `--fail-on` verdicts it holds. The registry is the `sections!` invocation in
//! [`crate::report`]: one line per section, in report order. From that line come the report's
//! field (JSON key = [`Section::NAME`]), the order sections are measured and rendered in, the
//! progress line, the per-section timing log and the verdicts. Adding a section is a module
//! with a type that implements [`Section`] plus that one line; its SQL goes in
//! [`crate::queries`]'s registry with `section` set to its name, and its tables for the SQL
//! endpoint are declared in the `sqlwire` crate (checked against the scenario reports there).

use std::future::Future;

use serde::Serialize;

use crate::report::FailOn;
use crate::timeline::Timeline;
use crate::{AnalyzeError, Analyzer, DrillSpec};

/// What every section measures from.
pub struct Context<'a> {
    /// The replayed log.
    pub analyzer: &'a Analyzer,
    /// The drill spec.
    pub spec: &'a DrillSpec,
    /// The drill's moments, built before any section.
    pub timeline: &'a Timeline,
}

/// One section of the report.
pub trait Section: Serialize + Sized {
    /// Its key in the JSON report, its name in the progress line and the log, and the `section`
    /// of its queries.
    const NAME: &'static str;

    /// Measures it (sections are measured in registry order, after the timeline).
    fn measure(cx: &Context<'_>) -> impl Future<Output = Result<Self, AnalyzeError>> + Send;

    /// Its Markdown, starting with a `## ` heading.
    fn markdown(&self) -> String;

    /// Whether `verdict` holds here; a section answers only for the verdicts it decides.
    fn holds(&self, _verdict: FailOn) -> bool {
        false
    }
}

/// Declares the report from the list of its sections: the `Report` struct (fixed fields
/// around one field per section), [`SECTIONS`](crate::report::SECTIONS), measuring in order,
/// the sections' Markdown and their verdicts.
macro_rules! sections {
    ($($(#[$doc:meta])* $field:ident: $ty:ty,)*) => {
        /// The whole report.
        #[derive(Debug, Clone, Serialize, PartialEq)]
        pub struct Report {
            /// [`REPORT_VERSION`].
            pub report_version: u32,
            /// The spec's name.
            pub drill: String,
            /// Primary and secondary region.
            pub regions: BTreeMap<String, String>,
            /// Every drill marker in time order.
            pub markers: Vec<MarkerRow>,
            $($(#[$doc])* pub $field: $ty,)*
            /// [`Report::overall_verdict`].
            pub verdict: Verdict,
            /// What the replay saw.
            pub replay: crate::tables::ReplayStats,
            /// The drill's moments in ns (for the HTML charts; the JSON has them as strings).
            #[serde(skip)]
            pub timeline: crate::timeline::Timeline,
        }

        /// The sections' names, in report order.
        pub const SECTIONS: &[&str] = &[$(<$ty as crate::section::Section>::NAME),*];

        /// The sections of a report, measured in registry order.
        pub(crate) struct Measured {
            $(pub(crate) $field: $ty,)*
        }

        /// Measures every section in order; `announce` gets each name first.
        pub(crate) async fn measure_sections(
            cx: &crate::section::Context<'_>,
            announce: &(dyn Fn(&str) + Send + Sync),
        ) -> Result<Measured, crate::AnalyzeError> {
            $(
                let name = <$ty as crate::section::Section>::NAME;
                announce(name);
                let started = std::time::Instant::now();
                let $field = <$ty as crate::section::Section>::measure(cx).await?;
                // Timings go to the log (CUTOVER_LOG=cutover_analyzer=info), never into the
                // report, which must stay identical across runs.
                tracing::info!(section = name, ms = started.elapsed().as_millis() as u64, "measured");
            )*
            Ok(Measured { $($field,)* })
        }

        impl Report {
            /// The report from its fixed fields and its measured sections.
            pub(crate) fn assemble(
                drill: String,
                regions: BTreeMap<String, String>,
                markers: Vec<MarkerRow>,
                sections: Measured,
                replay: crate::tables::ReplayStats,
                timeline: crate::timeline::Timeline,
            ) -> Report {
                let mut report = Report {
                    report_version: REPORT_VERSION,
                    drill,
                    regions,
                    markers,
                    $($field: sections.$field,)*
                    verdict: Verdict::NotMeasurable,
                    replay,
                    timeline,
                };
                report.verdict = report.overall_verdict();
                report
            }

            /// Every section's Markdown, in report order.
            pub fn sections_markdown(&self) -> String {
                let mut out = String::new();
                $(out += &crate::section::Section::markdown(&self.$field);)*
                out
            }

            /// Whether `verdict` holds in any section.
            pub fn holds(&self, verdict: FailOn) -> bool {
                false $(|| crate::section::Section::holds(&self.$field, verdict))*
            }
        }
    };
}

pub(crate) use sections;
