//! Which levels a load plan runs, in which order, and how each runtime serves them (for the manifest).

use crate::plan::Plan;
use harness_data::{LoadKind, LoadPlan, RuntimeKind};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use std::collections::BTreeMap;

/// One level of one (workload, input, runtime).
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    pub workload: usize,
    pub input: usize,
    pub runtime: usize,
    pub kind: LoadKind,
    /// Clients, requests/s, or burst size.
    pub level: f64,
}

/// Every level of the plan, shuffled with its seed.
pub fn levels(plan: &Plan, load: &LoadPlan) -> Vec<Level> {
    let mut all = Vec::new();
    for (w, workload) in plan.workloads.iter().enumerate() {
        for input in 0..workload.inputs.len() {
            for runtime in 0..plan.runtimes.len() {
                let level = |kind, level| Level {
                    workload: w,
                    input,
                    runtime,
                    kind,
                    level,
                };
                all.extend(load.clients.iter().map(|&c| level(LoadKind::Clients, f64::from(c))));
                all.extend(load.rates.iter().map(|&r| level(LoadKind::Rate, r)));
                all.extend(load.burst.iter().map(|&b| level(LoadKind::Burst, f64::from(b))));
            }
        }
    }
    // Its own stream of the plan's seed: adding load levels leaves the invocation schedule as it was.
    all.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(plan.seed ^ 0x10AD_10AD));
    all
}

/// How each runtime serves concurrent requests, for the manifest (docs/load.md has the same table).
pub fn serving_models(runtimes: &[RuntimeKind]) -> BTreeMap<String, String> {
    runtimes
        .iter()
        .map(|r| {
            let model = match r {
                RuntimeKind::Native => "one harness thread per instance calling the workload directly",
                RuntimeKind::WasmtimeJit | RuntimeKind::WasmtimeAot => {
                    "one host process: worker threads share one engine (pooling allocator sized for the level) and one compiled module; a fresh instance per request"
                }
                RuntimeKind::Wasmi => {
                    "one host process: worker threads share one engine and one parsed module; a fresh instance per request"
                }
                RuntimeKind::Container => {
                    "one warm container per instance, one request at a time each (containerConcurrency = 1), dispatched by the harness"
                }
                RuntimeKind::NodeWasm | RuntimeKind::NodeJs => {
                    "one node process per instance, one request at a time each"
                }
            };
            (r.to_string(), model.to_string())
        })
        .collect()
}
