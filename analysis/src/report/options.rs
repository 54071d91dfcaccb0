//! What a report is asked for, and why one cannot be built.

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("no run directories given")]
    NoRuns,
    #[error("the runs measured different plans; a report compares runs of one plan:\n{0}")]
    MixedPlans(String),
    #[error("baseline runtime `{baseline}` is not in the runs; runtimes present: {present}")]
    MissingBaseline { baseline: String, present: String },
}

#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub baseline: String,
    pub resamples: usize,
    pub seed: u64,
    pub level: f64,
    pub equivalence_band: f64,
    pub alpha: f64,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            baseline: harness_data::RuntimeKind::Native.to_string(),
            resamples: 2000,
            seed: 2026,
            level: 0.95,
            equivalence_band: 0.02,
            alpha: 0.05,
        }
    }
}
