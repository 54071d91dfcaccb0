//! Resolution-aware batching: invocations shorter than a probe can resolve are measured back to back in
//! windows long enough to measure, warm ones and cold ones alike (a cold window holds K complete cold starts,
//! each built from nothing, their teardown deferred past the window where the runtime allows). The batcher
//! owns the pilot that sizes each cell's batch and the `manifest.batching` entries that record why.

use harness_data::{BatchPlan, CellKey, Mode, Teardown};
use std::collections::HashMap;

/// Pilot invocations that size a batch (recorded as warm-up rows).
pub const PILOT_INVOCATIONS: u32 = 5;
/// Pilot cold starts that size a cold window: fewer, as a cold start can take a second (a container on a
/// slow board) and its latency varies less than a microsecond warm call's.
pub const COLD_PILOT_INVOCATIONS: u32 = 3;

/// The pilot's length for a cell of `mode`.
pub fn pilot_invocations(mode: Mode) -> u32 {
    match mode {
        Mode::Cold => COLD_PILOT_INVOCATIONS,
        Mode::Warm => PILOT_INVOCATIONS,
    }
}
/// A batch window must cover this many update periods of the coarsest channel.
pub const RESOLUTION_FACTOR: u64 = 20;
/// At most this many invocations per batch window: a sub-microsecond native call would otherwise need
/// millions per window (and millions of rows); such windows stay shorter than the target and the paired rows
/// say `below_resolution` where they are.
pub const MAX_BATCH: u64 = 10_000;
/// At most this many cold starts per cold window: what each leaves behind (an engine, an idle container or
/// node process) is held until the window closed. A window of this many that is still shorter than the target
/// is measured as it is, and its rows say whether it resolved.
pub const MAX_COLD_BATCH: u64 = 200;

pub struct Batcher {
    /// The window a batch must fill (0: no probes, no batching).
    window_ns: u64,
    /// Batch size of each warm cell, decided by its pilot.
    sizes: HashMap<usize, u32>,
    /// Cells measured in batches, for the manifest.
    pub plans: Vec<BatchPlan>,
}

impl Batcher {
    /// `coarsest_period_ns`: the longest update period among the run's channels (0 without probes).
    pub fn new(coarsest_period_ns: u64) -> Batcher {
        Batcher {
            window_ns: coarsest_period_ns * RESOLUTION_FACTOR,
            sizes: HashMap::new(),
            plans: Vec::new(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.window_ns > 0
    }

    /// The batch size of `cell`, once its pilot ran.
    pub fn size_of(&self, cell: usize) -> Option<u32> {
        self.sizes.get(&cell).copied()
    }

    /// Decides `cell`'s batch size from its pilot latencies (successful ones, ns). A failing pilot leaves the
    /// cell unbatched: its failures are recorded one by one. Returns the size. Every cold cell is recorded
    /// (its window's `teardown` with it), batched or not; a warm cell only when batched.
    pub fn decide(
        &mut self,
        cell: usize,
        key: &CellKey,
        mut pilot: Vec<f64>,
        teardown: Option<(Teardown, &str)>,
    ) -> u32 {
        pilot.sort_by(f64::total_cmp);
        let pilot_ns = harness_analysis::summary::median(&pilot).map_or(u64::MAX, |m| m as u64);
        let cap = if key.mode == Mode::Cold {
            MAX_COLD_BATCH
        } else {
            MAX_BATCH
        };
        let size = if pilot_ns >= self.window_ns {
            1
        } else {
            self.window_ns.div_ceil(pilot_ns.max(1)).min(cap) as u32
        };
        self.sizes.insert(cell, size);
        if size > 1 || key.mode == Mode::Cold {
            self.plans.push(BatchPlan {
                workload: key.workload.clone(),
                input: key.input.clone(),
                runtime: key.runtime.clone(),
                batch_size: size,
                pilot_latency_ns: pilot_ns,
                target_window_ns: self.window_ns,
                mode: key.mode,
                teardown: teardown.map(|(t, _)| t),
                teardown_note: teardown.map(|(_, note)| note.to_string()).unwrap_or_default(),
            });
        }
        size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CellKey {
        key_in(Mode::Warm)
    }

    fn key_in(mode: Mode) -> CellKey {
        CellKey {
            workload: "noop".into(),
            input: "x".into(),
            runtime: "wasmi".into(),
            mode,
        }
    }

    #[test]
    fn batches_fill_the_window_and_are_recorded() {
        // 10 ms period -> a 200 ms window; 1 ms invocations -> 200 per batch.
        let mut batcher = Batcher::new(10_000_000);
        assert_eq!(batcher.decide(3, &key(), vec![1e6; 5], None), 200);
        assert_eq!(batcher.size_of(3), Some(200));
        assert_eq!(batcher.plans[0].batch_size, 200);
        // Long invocations and failed pilots stay single.
        assert_eq!(batcher.decide(4, &key(), vec![3e8; 5], None), 1);
        assert_eq!(batcher.decide(5, &key(), vec![], None), 1);
        assert_eq!(batcher.plans.len(), 1);
        // A sub-microsecond call is capped.
        assert_eq!(batcher.decide(6, &key(), vec![10.0; 5], None), MAX_BATCH as u32);
    }

    #[test]
    fn cold_windows_are_capped_and_every_cold_cell_is_recorded_with_its_teardown() {
        let mut batcher = Batcher::new(10_000_000);
        let deferred = Some((Teardown::Deferred, "deferred: engines"));
        // 0.5 ms cold starts would need 400 in a 200 ms window: capped.
        assert_eq!(
            batcher.decide(1, &key_in(Mode::Cold), vec![5e5; 5], deferred),
            MAX_COLD_BATCH as u32
        );
        // 50 ms ones: 4.
        assert_eq!(batcher.decide(2, &key_in(Mode::Cold), vec![5e7; 5], deferred), 4);
        // A cold start that fills the window alone is still recorded, with its teardown.
        let in_window = Some((Teardown::InWindow, "in the window: exit"));
        assert_eq!(batcher.decide(3, &key_in(Mode::Cold), vec![3e8; 5], in_window), 1);
        assert_eq!(batcher.plans.len(), 3);
        assert!(
            batcher
                .plans
                .iter()
                .all(|p| p.mode == Mode::Cold && p.key().mode == Mode::Cold)
        );
        assert_eq!(batcher.plans[2].teardown, Some(Teardown::InWindow));
        assert_eq!(batcher.plans[2].teardown_note, "in the window: exit");
    }
}
