//! Results at a glance: what `harness measure` prints when it ends. Built and rendered in the analysis crate
//! ([`harness_analysis::terminal`]), as the report is.

use harness_analysis::run::Run;

/// The summary of a finished run, or `None` when it has no measured invocation and no load level.
pub fn summary(run: &Run, out_display: &str) -> Option<String> {
    harness_analysis::terminal::build(run).map(|summary| harness_analysis::terminal::render(&summary, out_display))
}
