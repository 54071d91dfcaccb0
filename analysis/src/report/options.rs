//! What a report is asked for, and why one cannot be built.

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("no run directories given")]
    NoRuns,
    #[error("the runs measured different plans; a report compares runs of one plan:\n{0}")]
    MixedPlans(String),
    #[error("baseline runtime `{baseline}` is not in the runs; runtimes present: {present}")]
    MissingBaseline { baseline: String, present: String },
    #[error("{0}")]
    Options(String),
}

/// The most bootstrap resamples a report may ask for: a million resamples already pin a 95% interval's ends
/// far below any measurement's noise, and each comparison holds them all in memory (`usize::MAX` once
/// overflowed that allocation and panicked).
pub const MAX_RESAMPLES: usize = 1_000_000;

#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub baseline: String,
    pub resamples: usize,
    pub seed: u64,
    pub level: f64,
    pub equivalence_band: f64,
    pub alpha: f64,
}

impl ReportOptions {
    /// Refuses options no report can be built with, naming the option and its valid range.
    pub fn check(&self) -> Result<(), ReportError> {
        let bad = |message: String| Err(ReportError::Options(message));
        if !(1..=MAX_RESAMPLES).contains(&self.resamples) {
            return bad(format!(
                "--resamples {} is out of range: use 1 to {MAX_RESAMPLES} (2000 is the default)",
                self.resamples
            ));
        }
        if !(self.equivalence_band.is_finite() && (0.0..1.0).contains(&self.equivalence_band)) {
            return bad(format!(
                "--band {} is out of range: a fraction in [0, 1), e.g. 0.02 for ±2%",
                self.equivalence_band
            ));
        }
        for (name, value) in [("level", self.level), ("alpha", self.alpha)] {
            if !(value > 0.0 && value < 1.0) {
                return bad(format!(
                    "{name} {value} is out of range: a probability strictly between 0 and 1"
                ));
            }
        }
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 11: `--resamples 18446744073709551615` overflowed an allocation and panicked.
    #[test]
    fn options_out_of_range_are_refused() {
        assert!(ReportOptions::default().check().is_ok());
        for options in [
            ReportOptions {
                resamples: usize::MAX,
                ..ReportOptions::default()
            },
            ReportOptions {
                resamples: 0,
                ..ReportOptions::default()
            },
            ReportOptions {
                equivalence_band: f64::NAN,
                ..ReportOptions::default()
            },
            ReportOptions {
                level: 1.0,
                ..ReportOptions::default()
            },
            ReportOptions {
                alpha: f64::NAN,
                ..ReportOptions::default()
            },
        ] {
            assert!(matches!(options.check(), Err(ReportError::Options(_))));
        }
        let msg = ReportOptions {
            resamples: usize::MAX,
            ..ReportOptions::default()
        }
        .check()
        .unwrap_err()
        .to_string();
        assert!(
            msg.contains("--resamples 18446744073709551615") && msg.contains("1 to 1000000"),
            "{msg}"
        );
    }
}
