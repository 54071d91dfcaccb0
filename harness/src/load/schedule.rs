//! Which levels a load plan runs, in which order, and how each runtime serves them (for the manifest).

use crate::plan::Plan;
use harness_data::{LoadKind, LoadPlan, RuntimeKind, Serving};
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

/// How each runtime serves concurrent requests under `serving`, for the manifest (docs/load.md has the same
/// table): per runtime its shape (`threads`, `processes`, `containers`) and the model in words.
pub fn serving_models(runtimes: &[RuntimeKind], serving: Serving) -> BTreeMap<String, (String, String)> {
    runtimes
        .iter()
        .map(|r| {
            let forked = serving == Serving::Processes;
            let (shape, model) = match r {
                RuntimeKind::Native => ("threads", "one harness thread per instance calling the workload directly"),
                RuntimeKind::WasmtimeJit | RuntimeKind::WasmtimeAot | RuntimeKind::Wasmi if forked => (
                    "processes",
                    "one pre-forked host process per instance (harness serve-wasm): each its own engine (instance pool sized for one request) and compiled module, one request at a time; a fresh instance per request",
                ),
                RuntimeKind::WasmtimeJit | RuntimeKind::WasmtimeAot => (
                    "threads",
                    "one host process: worker threads share one engine (pooling allocator sized for the level) and one compiled module; a fresh instance per request",
                ),
                RuntimeKind::Wasmi => (
                    "threads",
                    "one host process: worker threads share one engine and one parsed module; a fresh instance per request",
                ),
                RuntimeKind::Container => (
                    "containers",
                    "one warm container per instance, one request at a time each (containerConcurrency = 1), dispatched by the harness",
                ),
                RuntimeKind::NodeWasm | RuntimeKind::NodeJs => {
                    ("processes", "one node process per instance, one request at a time each")
                }
                RuntimeKind::ChromiumWasm
                | RuntimeKind::ChromiumJs
                | RuntimeKind::FirefoxWasm
                | RuntimeKind::FirefoxJs => {
                    ("processes", "one headless browser page per instance, one request at a time each")
                }
                // Plans cannot name it, so no load level serves it.
                RuntimeKind::Exec => ("processes", "one process per request"),
            };
            (r.to_string(), (shape.to_string(), model.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_change_the_in_process_engines_only() {
        let threads = serving_models(&RuntimeKind::ALL, Serving::Threads);
        let processes = serving_models(&RuntimeKind::ALL, Serving::Processes);
        for runtime in RuntimeKind::ALL {
            let key = runtime.as_str();
            let (shape, _) = &processes[key];
            if runtime.is_wasm_in_process() {
                assert_eq!((threads[key].0.as_str(), shape.as_str()), ("threads", "processes"));
                assert!(processes[key].1.contains("serve-wasm"));
            } else {
                assert_eq!(threads[key], processes[key], "{key} serves as its platform does");
            }
        }
        assert_eq!(processes["node-js"].0, "processes");
        assert_eq!(threads["native"].0, "threads");
    }
}
