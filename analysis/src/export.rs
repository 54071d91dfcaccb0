//! `harness export`: one tidy paired dataset across runs and devices. One row per (invocation or batch
//! window, probe channel), as `paired.csv`, with `device` and `run` in front; a latency-only run contributes
//! one row per measured `ok` invocation with the energy columns empty. Described in `datasets/SCHEMA.md`.

use crate::load::Run;
use harness_data::{EnergyQuality, Mode, Status};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportRecord {
    /// `manifest.host.hostname`, or the name given with `--device`.
    pub device: String,
    /// The run directory's name.
    pub run: String,
    pub workload: String,
    pub input: String,
    pub runtime: String,
    pub mode: Mode,
    pub iteration: u32,
    pub sequence: u64,
    pub count: u32,
    pub window_start_ns: u64,
    pub window_end_ns: u64,
    pub latency_ns: f64,
    /// Empty for a latency-only run.
    pub probe: String,
    pub channel: String,
    pub gross_j: Option<f64>,
    pub net_j: Option<f64>,
    pub baseline_w: Option<f64>,
    pub power_w: Option<f64>,
    pub samples: Option<u32>,
    pub uncertainty_j: Option<f64>,
    /// Empty for a latency-only run.
    pub quality: Option<EnergyQuality>,
    /// Empty for a latency-only run.
    pub estimated: Option<bool>,
}

impl ExportRecord {
    pub const COLUMNS: [&'static str; 22] = [
        "device",
        "run",
        "workload",
        "input",
        "runtime",
        "mode",
        "iteration",
        "sequence",
        "count",
        "window_start_ns",
        "window_end_ns",
        "latency_ns",
        "probe",
        "channel",
        "gross_j",
        "net_j",
        "baseline_w",
        "power_w",
        "samples",
        "uncertainty_j",
        "quality",
        "estimated",
    ];
}

/// The export rows of one run: `device` overrides the manifest's hostname.
pub fn export_rows(run: &Run, device: Option<&str>) -> Vec<ExportRecord> {
    let device = device
        .map(str::to_owned)
        .unwrap_or_else(|| run.manifest.host.hostname.clone());
    let device = if device.is_empty() {
        "unknown".to_owned()
    } else {
        device
    };
    match &run.paired {
        Some(paired) => paired
            .iter()
            .map(|p| ExportRecord {
                device: device.clone(),
                run: run.name.clone(),
                workload: p.workload.clone(),
                input: p.input.clone(),
                runtime: p.runtime.clone(),
                mode: p.mode,
                iteration: p.iteration,
                sequence: p.sequence,
                count: p.count,
                window_start_ns: p.window_start_ns,
                window_end_ns: p.window_end_ns,
                latency_ns: p.latency_ns,
                probe: p.probe.clone(),
                channel: p.channel.clone(),
                gross_j: p.gross_j,
                net_j: p.net_j,
                baseline_w: p.baseline_w,
                power_w: p.power_w,
                samples: Some(p.samples),
                uncertainty_j: p.uncertainty_j,
                quality: Some(p.quality),
                estimated: Some(p.estimated),
            })
            .collect(),
        None => run
            .invocations
            .iter()
            .filter(|r| !r.warmup && r.status == Status::Ok)
            .map(|r| ExportRecord {
                device: device.clone(),
                run: run.name.clone(),
                workload: r.workload.clone(),
                input: r.input.clone(),
                runtime: r.runtime.clone(),
                mode: r.mode,
                iteration: r.iteration,
                sequence: r.sequence,
                count: 1,
                window_start_ns: r.start_ns,
                window_end_ns: r.end_ns,
                latency_ns: r.latency_ns as f64,
                probe: String::new(),
                channel: String::new(),
                gross_j: None,
                net_j: None,
                baseline_w: None,
                power_w: None,
                samples: None,
                uncertainty_j: None,
                quality: None,
                estimated: None,
            })
            .collect(),
    }
}

/// The CSV bytes of an export (header first, even when there are no rows).
pub fn to_csv(rows: &[ExportRecord]) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    writer.write_record(ExportRecord::COLUMNS).expect("writing to memory");
    for row in rows {
        writer.serialize(row).expect("writing to memory");
    }
    writer.into_inner().expect("writing to memory")
}
