//! Fixtures shared by this crate's tests and its benchmark (`benches/report.rs` includes this file by path).
//!
//! `paired_from` lives in `paired.rs`, which the top-level end-to-end tests (`tests/all/common/mod.rs`, crate
//! `harness`) include by path too: one fixture for both crates' tests.
#![allow(dead_code)]

mod paired;

use harness_data::{LoadKind, LoadRecord};

// Not every test binary uses it.
#[allow(unused_imports)]
pub use paired::paired_from;

/// A load level of fibonacci 25 on `runtime`, measured over a 1 s window that starts at `start_s` seconds after
/// a 0.5 s idle span: `completed` requests, the latency percentiles from `p50_ms` (p99 at 3x, p99.9 at 5x),
/// no energy yet (the columns the harness leaves empty). A test changes the rest with struct update syntax.
pub fn load_level(runtime: &str, kind: LoadKind, level: f64, start_s: u64, completed: u64, p50_ms: f64) -> LoadRecord {
    let ms = |v: f64| (v * 1e6) as u64;
    let start_ns = start_s * 1_000_000_000;
    LoadRecord {
        workload: "fibonacci".into(),
        input: "25".into(),
        runtime: runtime.into(),
        kind,
        level,
        instances: if kind == LoadKind::Rate { 8 } else { level as u32 },
        sequence: start_s,
        partial: false,
        window_start_ns: start_ns,
        window_end_ns: start_ns + 1_000_000_000,
        duration_ns: 1_000_000_000,
        offered_rps: match kind {
            LoadKind::Clients => None,
            LoadKind::Rate => Some(level),
            LoadKind::Burst => Some(level / (p50_ms * 5e-3)),
        },
        achieved_rps: completed as f64,
        sent: completed,
        completed,
        failed: 0,
        timed_out: 0,
        p50_ns: Some(ms(p50_ms)),
        p90_ns: Some(ms(p50_ms * 2.0)),
        p99_ns: Some(ms(p50_ms * 3.0)),
        p999_ns: Some(ms(p50_ms * 5.0)),
        mean_ns: Some(p50_ms * 1.3e6),
        send_lag_p50_ns: Some(if kind == LoadKind::Rate { 20_000 } else { 0 }),
        send_lag_p99_ns: Some(if kind == LoadKind::Rate { 150_000 } else { 0 }),
        harness_cpu_cores: Some(0.05),
        cpu_util: Some(0.4),
        serving_cpu_cores: Some(0.8),
        memory_bytes: Some(48 << 20),
        memory_source: "pss".into(),
        memory_per_instance_bytes: (kind != LoadKind::Burst).then_some(2.5e6),
        idle_start_ns: (kind != LoadKind::Burst).then_some(start_ns - 500_000_000),
        idle_end_ns: (kind != LoadKind::Burst).then_some(start_ns),
        energy_channel: String::new(),
        energy_j: None,
        energy_per_request_j: None,
        idle_pool_w: None,
        estimated: None,
        unseen: false,
        saturated: (kind == LoadKind::Rate).then_some((completed as f64) < 0.9 * level),
    }
}
