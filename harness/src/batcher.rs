//! Resolution-aware batching: warm invocations shorter than a probe can resolve are measured back to back in
//! windows long enough to measure. The batcher owns the pilot that sizes each cell's batch and the
//! `manifest.batching` entries that record why.

use harness_data::{BatchPlan, CellKey};
use std::collections::HashMap;

/// Pilot invocations that size a batch (recorded as warm-up rows).
pub const PILOT_INVOCATIONS: u32 = 5;
/// A batch window must cover this many update periods of the coarsest channel.
pub const RESOLUTION_FACTOR: u64 = 20;
/// At most this many invocations per batch window: a sub-microsecond native call would otherwise need
/// millions per window (and millions of rows); such windows stay shorter than the target and the paired rows
/// say `below_resolution` where they are.
pub const MAX_BATCH: u64 = 10_000;

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
    /// cell unbatched: its failures are recorded one by one. Returns the size.
    pub fn decide(&mut self, cell: usize, key: &CellKey, mut pilot: Vec<f64>) -> u32 {
        pilot.sort_by(f64::total_cmp);
        let pilot_ns = harness_analysis::summary::median(&pilot).map_or(u64::MAX, |m| m as u64);
        let size = if pilot_ns >= self.window_ns {
            1
        } else {
            self.window_ns.div_ceil(pilot_ns.max(1)).min(MAX_BATCH) as u32
        };
        self.sizes.insert(cell, size);
        if size > 1 {
            self.plans.push(BatchPlan {
                workload: key.workload.clone(),
                input: key.input.clone(),
                runtime: key.runtime.clone(),
                batch_size: size,
                pilot_latency_ns: pilot_ns,
                target_window_ns: self.window_ns,
            });
        }
        size
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_data::Mode;

    fn key() -> CellKey {
        CellKey {
            workload: "noop".into(),
            input: "x".into(),
            runtime: "wasmi".into(),
            mode: Mode::Warm,
        }
    }

    #[test]
    fn batches_fill_the_window_and_are_recorded() {
        // 10 ms period -> a 200 ms window; 1 ms invocations -> 200 per batch.
        let mut batcher = Batcher::new(10_000_000);
        assert_eq!(batcher.decide(3, &key(), vec![1e6; 5]), 200);
        assert_eq!(batcher.size_of(3), Some(200));
        assert_eq!(batcher.plans[0].batch_size, 200);
        // Long invocations and failed pilots stay single.
        assert_eq!(batcher.decide(4, &key(), vec![3e8; 5]), 1);
        assert_eq!(batcher.decide(5, &key(), vec![]), 1);
        assert_eq!(batcher.plans.len(), 1);
        // A sub-microsecond call is capped.
        assert_eq!(batcher.decide(6, &key(), vec![10.0; 5]), MAX_BATCH as u32);
    }
}
