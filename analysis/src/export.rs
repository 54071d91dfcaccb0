//! `harness export`: one tidy paired dataset across runs and devices. One row per (invocation or batch
//! window, probe channel), as `paired.csv`, with `device` and `run` in front; a latency-only run contributes
//! one row per measured `ok` invocation with the energy columns empty. Described in `datasets/SCHEMA.md`.
//!
//! Energy of a `below_resolution` or `gap` row is not a number the probe measured: the export leaves
//! `gross_j`, `net_j` and `power_w` empty for such rows even where a `paired.csv` holds values, so no
//! downstream sum or mean picks them up.

use crate::energy_summary::{Basis, Resampling, shown_channel};
use crate::report::cold_premium::cold_premiums;
use crate::run::Run;
use harness_data::{EnergyFlag, EnergyQuality, LoadRecord, Mode, PairedRecord, Status};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportRecord {
    /// The name given with `export --device`, or the manifest's `host.device` (`measure --device`), or `host.hostname`.
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
    /// Whose work the channel sees (`machine`, `harness`, `gpu`); empty for a latency-only run.
    pub scope: String,
    /// Sum of member latencies / window length; empty where unknown.
    pub busy_share: Option<f64>,
    /// `unseen` or `low_busy_share`: the row's energy must stay out of comparisons; empty when usable.
    pub flag: Option<EnergyFlag>,
    /// Cold rows: `in_window` or `deferred` (see `PairedRecord::teardown`); empty otherwise.
    pub teardown: Option<harness_data::Teardown>,
    /// Browser runtimes: the browser's own idle power above the machine's (see `PairedRecord::idle_browser_w`).
    pub idle_browser_w: Option<f64>,
}

impl ExportRecord {
    /// `device`, `run`, then paired.csv's columns: the export is paired.csv with two columns in front, and its
    /// fields follow `PairedRecord`'s (a test keeps the two in step).
    pub const COLUMNS: [&'static str; 2 + PairedRecord::COLUMNS.len()] = {
        let mut columns = [""; 2 + PairedRecord::COLUMNS.len()];
        columns[0] = "device";
        columns[1] = "run";
        let mut i = 0;
        while i < PairedRecord::COLUMNS.len() {
            columns[2 + i] = PairedRecord::COLUMNS[i];
            i += 1;
        }
        columns
    };
}

/// The same run given twice to `report` or `export` (n doubles and the intervals narrow).
#[derive(Debug, thiserror::Error)]
#[error(
    "{second} is {why} {first}: a run given twice counts every row twice, which doubles n and narrows the \
     confidence intervals; give each run directory once"
)]
pub struct DuplicateRun {
    pub first: PathBuf,
    pub second: PathBuf,
    pub why: &'static str,
}

/// Refuses a run listed twice: the same directory (compared as canonical paths, so `runs/a` and `./runs/a/`
/// match) or a copy of it (the same manifest identity: clock anchor and start time, which no two runs share).
pub fn check_distinct_runs(runs: &[Run]) -> Result<(), DuplicateRun> {
    let mut paths = std::collections::HashMap::new();
    let mut identities = std::collections::HashMap::new();
    for run in runs {
        let canonical = run.dir.canonicalize().unwrap_or_else(|_| run.dir.clone());
        let duplicate = |first: &PathBuf, why| DuplicateRun {
            first: first.clone(),
            second: run.dir.clone(),
            why,
        };
        if let Some(first) = paths.insert(canonical, &run.dir) {
            return Err(duplicate(first, "the same directory as"));
        }
        let m = &run.manifest;
        let identity = (m.anchor.monotonic_ns, m.anchor.unix_ns, m.started_unix_ns);
        if let Some(first) = identities.insert(identity, &run.dir) {
            return Err(duplicate(first, "a copy of the run in"));
        }
    }
    Ok(())
}

/// The export rows of one run: `device` overrides the manifest's device name and hostname.
pub fn export_rows(run: &Run, device: Option<&str>) -> Vec<ExportRecord> {
    let device = device_name(run, device);
    match &run.paired {
        Some(paired) => paired.iter().map(|p| paired_row(&device, &run.name, p)).collect(),
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
                scope: String::new(),
                busy_share: None,
                flag: None,
                teardown: None,
                idle_browser_w: None,
            })
            .collect(),
    }
}

/// `device` (`export --device`), or the run's device name (`measure --device`), or its hostname, or `unknown`.
pub fn device_name(run: &Run, device: Option<&str>) -> String {
    let host = &run.manifest.host;
    let device = device
        .or(host.device.as_deref())
        .map_or_else(|| host.hostname.clone(), str::to_owned);
    if device.is_empty() {
        "unknown".to_owned()
    } else {
        device
    }
}

fn paired_row(device: &str, run: &str, p: &PairedRecord) -> ExportRecord {
    // Below resolution or in a gap, the energy columns hold no measurement.
    let measured = |v: Option<f64>| v.filter(|_| p.quality.has_energy());
    ExportRecord {
        device: device.to_owned(),
        run: run.to_owned(),
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
        gross_j: measured(p.gross_j),
        net_j: measured(p.net_j),
        baseline_w: p.baseline_w,
        power_w: measured(p.power_w),
        samples: Some(p.samples),
        uncertainty_j: p.uncertainty_j,
        quality: Some(p.quality),
        estimated: Some(p.estimated),
        scope: p.scope.as_str().to_owned(),
        busy_share: p.busy_share,
        flag: p.flag,
        teardown: p.teardown,
        idle_browser_w: p.idle_browser_w,
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

/// One row of the export's load file: a `load.csv` row with `device` and `run` in front.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadExportRecord {
    pub device: String,
    pub run: String,
    pub load: LoadRecord,
}

impl LoadExportRecord {
    /// `device`, `run`, then load.csv's columns.
    pub const COLUMNS: [&'static str; 2 + LoadRecord::COLUMNS.len()] = {
        let mut columns = [""; 2 + LoadRecord::COLUMNS.len()];
        columns[0] = "device";
        columns[1] = "run";
        let mut i = 0;
        while i < LoadRecord::COLUMNS.len() {
            columns[2 + i] = LoadRecord::COLUMNS[i];
            i += 1;
        }
        columns
    };
}

/// The load rows of one run (one per level), `device` overriding the manifest's hostname.
pub fn load_export_rows(run: &Run, device: Option<&str>) -> Vec<LoadExportRecord> {
    let device = device_name(run, device);
    run.load
        .iter()
        .map(|load| LoadExportRecord {
            device: device.clone(),
            run: run.name.clone(),
            load: load.clone(),
        })
        .collect()
}

/// The CSV bytes of the export's load file (header first, even when there are no rows).
pub fn load_to_csv(rows: &[LoadExportRecord]) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    writer
        .write_record(LoadExportRecord::COLUMNS)
        .expect("writing to memory");
    for row in rows {
        // A tuple is written as its fields in order, the record's fields flattened after the two in front.
        writer
            .serialize((&row.device, &row.run, &row.load))
            .expect("writing to memory");
    }
    writer.into_inner().expect("writing to memory")
}

/// Where the load file of an export to `out` goes: `study.csv` -> `study.load.csv`.
pub fn load_export_path(out: &Path) -> PathBuf {
    out.with_extension("load.csv")
}

/// One row of the export's cold premium file (`study.cold-premium.csv`): per run and (workload, input,
/// runtime) measured cold and warm, the energy of a cold start minus a warm invocation on the run's
/// whole-machine channel, as the report's cold premium table computes it (default resamples and seed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColdPremiumRecord {
    pub device: String,
    pub run: String,
    pub workload: String,
    pub input: String,
    pub runtime: String,
    pub probe: String,
    pub channel: String,
    pub estimated: bool,
    /// `net` (of idle) or `gross`, both sides alike.
    pub basis: Basis,
    /// Median energy per cold start / per warm invocation, J; empty where under half the units are usable.
    pub cold_j: Option<f64>,
    pub warm_j: Option<f64>,
    /// Sampled units (invocations or batch windows) and those with usable energy, per side.
    pub cold_units: usize,
    pub cold_usable: usize,
    pub warm_units: usize,
    pub warm_usable: usize,
    /// cold_j - warm_j with its bootstrap interval (`level`); empty where either side has no figure.
    pub premium_j: Option<f64>,
    pub ci_low_j: Option<f64>,
    pub ci_high_j: Option<f64>,
    pub level: f64,
    /// Median cold latency / median warm latency.
    pub latency_ratio: Option<f64>,
    /// Why there is no premium ("cold: 9 of 10 below resolution"); empty when there is one.
    pub reason: String,
}

/// The cold premium rows of one run, `device` overriding the manifest's hostname; none without usable energy.
pub fn cold_premium_rows(run: &Run, device: Option<&str>) -> Vec<ColdPremiumRecord> {
    let Some(channel) = shown_channel([run]) else {
        return Vec::new();
    };
    let device = device_name(run, device);
    let resampling = Resampling::default();
    cold_premiums(std::slice::from_ref(run), &channel, resampling)
        .into_iter()
        .map(|p| ColdPremiumRecord {
            device: device.clone(),
            run: run.name.clone(),
            probe: channel.probe.clone(),
            channel: channel.channel.clone(),
            estimated: p.cold.estimated || p.warm.estimated,
            basis: p.basis,
            cold_j: p.cold.figure.map(|f| f.estimate),
            warm_j: p.warm.figure.map(|f| f.estimate),
            cold_units: p.cold.units,
            cold_usable: p.cold.usable,
            warm_units: p.warm.units,
            warm_usable: p.warm.usable,
            premium_j: p.premium_j.map(|i| i.estimate),
            ci_low_j: p.premium_j.map(|i| i.ci_low),
            ci_high_j: p.premium_j.map(|i| i.ci_high),
            level: resampling.level,
            latency_ratio: p.latency_ratio,
            reason: p.reason.unwrap_or_default(),
            workload: p.workload,
            input: p.input,
            runtime: p.runtime,
        })
        .collect()
}

/// The CSV bytes of the export's cold premium file (header first).
pub fn cold_premium_to_csv(rows: &[ColdPremiumRecord]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.serialize(row).expect("writing to memory");
    }
    writer.into_inner().expect("writing to memory")
}

/// Where the cold premium file of an export to `out` goes: `study.csv` -> `study.cold-premium.csv`.
pub fn cold_premium_export_path(out: &Path) -> PathBuf {
    out.with_extension("cold-premium.csv")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 11: the same run directory given twice doubled n; a copy of it too.
    #[test]
    fn a_run_given_twice_or_copied_is_refused() {
        let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/reference/vm-spine");
        let run = crate::run::read_run(&reference).unwrap();
        assert!(check_distinct_runs(std::slice::from_ref(&run)).is_ok());
        let mut again = crate::run::read_run(&reference.join(".")).unwrap();
        let msg = check_distinct_runs(&[run.clone(), again.clone()])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("the same directory as") && msg.contains("doubles n"),
            "{msg}"
        );
        let copy = tempfile::tempdir().unwrap();
        again.dir = copy.path().to_path_buf();
        let msg = check_distinct_runs(&[run.clone(), again.clone()])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("a copy of the run in"), "{msg}");
        again.manifest.started_unix_ns += 1;
        assert!(check_distinct_runs(&[run, again]).is_ok());
    }

    /// The header serde derives from each record type, so a field added to one and not the other fails here.
    fn serde_header<T: Serialize>(row: &T) -> String {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.serialize(row).unwrap();
        let text = String::from_utf8(writer.into_inner().unwrap()).unwrap();
        text.lines().next().unwrap().to_string()
    }

    #[test]
    fn load_columns_are_load_csv_columns_with_device_and_run_in_front() {
        let text = String::from_utf8(load_to_csv(&[])).unwrap();
        assert_eq!(text.trim_end(), LoadExportRecord::COLUMNS.join(","));
        assert_eq!(&LoadExportRecord::COLUMNS[2..], LoadRecord::COLUMNS);
        assert_eq!(
            load_export_path(Path::new("out/study.csv")),
            Path::new("out/study.load.csv")
        );
        assert_eq!(load_export_path(Path::new("study")), Path::new("study.load.csv"));
    }

    #[test]
    fn export_columns_are_paired_columns_with_device_and_run_in_front() {
        let p = paired(EnergyQuality::Ok);
        assert_eq!(serde_header(&p), PairedRecord::COLUMNS.join(","));
        assert_eq!(serde_header(&paired_row("d", "r", &p)), ExportRecord::COLUMNS.join(","));
    }
    use harness_data::Mode;

    fn paired(quality: EnergyQuality) -> PairedRecord {
        PairedRecord {
            workload: "w".into(),
            input: "i".into(),
            runtime: "r".into(),
            mode: Mode::Warm,
            iteration: 1,
            sequence: 1,
            count: 10,
            window_start_ns: 0,
            window_end_ns: 1000,
            latency_ns: 100.0,
            probe: "rapl".into(),
            channel: "package-0".into(),
            gross_j: Some(1.0),
            net_j: Some(0.5),
            baseline_w: Some(4.0),
            power_w: Some(10.0),
            samples: 2,
            uncertainty_j: Some(0.1),
            quality,
            estimated: false,
            scope: harness_data::Scope::Machine,
            busy_share: Some(0.95),
            flag: Some(EnergyFlag::LowBusyShare),
            teardown: None,
            idle_browser_w: None,
        }
    }

    #[test]
    fn the_device_is_the_export_flag_then_the_measure_flag_then_the_hostname() {
        let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/reference/vm-spine");
        let mut run = crate::run::read_run(&reference).unwrap();
        assert_eq!(device_name(&run, None), "vm");
        run.manifest.host.device = Some("orin-1".into());
        assert_eq!(device_name(&run, None), "orin-1");
        assert_eq!(device_name(&run, Some("xeon")), "xeon");
        assert!(export_rows(&run, None).iter().all(|r| r.device == "orin-1"));
        run.manifest.host.device = None;
        run.manifest.host.hostname.clear();
        assert_eq!(device_name(&run, None), "unknown");
    }

    #[test]
    fn rows_without_a_measurement_have_empty_energy_columns() {
        for quality in [EnergyQuality::BelowResolution, EnergyQuality::Gap] {
            let row = paired_row("d", "run", &paired(quality));
            assert_eq!((row.gross_j, row.net_j, row.power_w), (None, None, None), "{quality:?}");
            assert_eq!(row.baseline_w, Some(4.0), "idle power is still known");
        }
        let row = paired_row("d", "run", &paired(EnergyQuality::Ok));
        assert_eq!(
            (row.gross_j, row.net_j, row.power_w),
            (Some(1.0), Some(0.5), Some(10.0))
        );
        assert_eq!(
            (row.scope.as_str(), row.busy_share, row.flag),
            ("machine", Some(0.95), Some(EnergyFlag::LowBusyShare))
        );
        let csv = String::from_utf8(to_csv(&[row])).unwrap();
        assert!(
            csv.lines().nth(1).unwrap().ends_with(",machine,0.95,low_busy_share,,"),
            "{csv}"
        );
    }
}
