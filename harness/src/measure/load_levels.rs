//! The plan's load levels, after its invocations: [`crate::load`] serves them, checked against the digests the
//! invocations recorded.

use super::Session;
use harness_data::RunStatus;
use std::sync::atomic::AtomicBool;

impl Session {
    /// The plan's load levels, after its invocations (see [`crate::load`]). Returns why it stopped early.
    pub(super) fn run_load(&mut self, interrupted: &AtomicBool) -> Option<(RunStatus, String)> {
        let load = self.plan.load.clone()?;
        let known = self
            .recorder()
            .digests()
            .into_iter()
            .map(|(cell, digest)| {
                let key = &self.labels[cell].key;
                let who = format!("{} ({})", key.runtime, key.mode.as_str());
                ((key.workload.clone(), key.input.clone()), (digest, who))
            })
            .collect();
        let result = crate::load::run(
            &self.plan,
            &load,
            &self.workloads,
            &self.out,
            interrupted,
            &self.containers,
            known,
        );
        // A failed level leaves the levels before it in load.csv: the summary counts those, not 0.
        self.load_levels = Some(match &result {
            Ok(outcome) => outcome.levels,
            Err(_) => harness_analysis::pair::levels::read_load_csv(&self.out).map_or(0, |rows| rows.len() as u64),
        });
        match result {
            Ok(outcome) if outcome.interrupted => Some((
                RunStatus::Partial,
                format!(
                    "interrupted ({}) during load levels: {} level(s) in load.csv, the last one marked partial",
                    crate::stop_signals::received_name(),
                    outcome.levels
                ),
            )),
            Ok(_) => None,
            Err(e) => Some((RunStatus::Failed, format!("load mode: {e:#}"))),
        }
    }
}
