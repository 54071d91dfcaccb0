//! harness: measures the latency (and, with probes, the energy) of the same workloads on several runtimes.
//!
//! Data flows one way: [`plan`] -> [`runtime`]s driven by the [`scheduler`] on one monotonic clock ->
//! [`recorder`] (rows on disk as they are measured) -> analysis.

pub mod artifacts;
pub mod batcher;
pub mod bench;
pub mod bench_energy;
pub mod bench_load;
pub mod bench_serving;
pub mod calibration_pattern;
pub mod exec;
pub mod fit_model;
pub mod glance;
pub mod host;
pub mod load;
pub mod measure;
pub mod plan;
pub mod recorder;
pub mod run_dir;
pub mod runtime;
pub mod scheduler;
pub mod selfcheck;
pub mod stop_signals;
