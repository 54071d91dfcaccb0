//! Energy of each load level (`load.csv`): the level's window and its idle warm-pool span, on one channel per
//! run, with the run's baseline subtracted as pairing subtracts it.
//!
//! Which channel: a load level's energy is a whole-machine figure (the harness, the clients, the serving
//! processes and containers all draw from it), so one channel that sees the whole machine is chosen per run:
//! 1. only declared channels with at least one reading; never a `gpu`-scoped channel, nor a sub-domain of a
//!    package (`package-0/core`, `dram`, `core`, `uncore`), nor a Jetson rail other than the total input rail;
//! 2. `machine`-scoped channels before `harness`-scoped ones (a harness-scoped model is the last resort: its
//!    blind spots are flagged `unseen`);
//! 3. then the first probe in the manifest's order;
//! 4. within the probe, `psys` (the platform) or a total input rail first, then `package-N` (on a machine
//!    with several sockets, `package-0` sees one socket only: psys is preferred where it exists), then the
//!    rest (a USB meter's reading, the model's estimate), in the probe's channel order.

use crate::align::{self, ChannelSeries, Window};
use crate::load::{LoadError, read_csv};
use crate::pair::{PairError, baseline};
use harness_data::{ChannelInfo, LoadRecord, Manifest, SampleRecord, files};
use std::path::Path;

/// Jetson's total input rails (JetPack 5/6, JetPack 4): the module's whole draw.
const TOTAL_INPUT_RAILS: [&str; 2] = ["VDD_IN", "POM_5V_IN"];

/// Package sub-domains: each sees one part of a package.
const SUB_DOMAINS: [&str; 3] = ["core", "uncore", "dram"];

/// Recomputes the energy columns of the run's `load.csv` from its `samples.csv` and rewrites the file (rows
/// and order kept). Returns the rows rewritten: 0 when the run has no `load.csv`. A run without `samples.csv`
/// gets its energy columns cleared.
pub fn attribute_load_energy(dir: &Path, manifest: &Manifest) -> Result<usize, PairError> {
    let load_path = dir.join(files::LOAD);
    if !load_path.is_file() {
        return Ok(0);
    }
    let samples_path = dir.join(files::SAMPLES);
    let samples: Vec<SampleRecord> = if samples_path.is_file() {
        read_csv(&samples_path)?
    } else {
        Vec::new()
    };
    Ok(rewrite_load_csv(dir, &samples, manifest, &[])?.rows)
}

/// What a rewrite of `load.csv` did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadAttribution {
    /// Rows rewritten.
    pub rows: usize,
    /// Rows that got an energy figure.
    pub with_energy: usize,
    /// The channel used (`probe/channel`), none when no channel qualified.
    pub channel: Option<String>,
}

/// Reads `load.csv` (absent: nothing to do), attributes `samples` to its rows, and writes it back atomically.
/// `extra` are channels declared by another run (samples replayed from elsewhere).
pub(crate) fn rewrite_load_csv(
    dir: &Path,
    samples: &[SampleRecord],
    manifest: &Manifest,
    extra: &[ChannelInfo],
) -> Result<LoadAttribution, PairError> {
    let path = dir.join(files::LOAD);
    if !path.is_file() {
        return Ok(LoadAttribution::default());
    }
    let mut rows: Vec<LoadRecord> = read_csv(&path)?;
    let channel = attribute_load_rows(&mut rows, samples, manifest, extra);
    write_load_csv(&path, &rows)?;
    Ok(LoadAttribution {
        rows: rows.len(),
        with_energy: rows.iter().filter(|r| r.energy_j.is_some()).count(),
        channel,
    })
}

/// Fills the energy columns of `rows` from `samples` (clearing them first, so a recomputation never keeps a
/// stale figure). Returns the channel used as `probe/channel`.
pub fn attribute_load_rows(
    rows: &mut [LoadRecord],
    samples: &[SampleRecord],
    manifest: &Manifest,
    extra: &[ChannelInfo],
) -> Option<String> {
    for row in rows.iter_mut() {
        row.energy_channel.clear();
        row.energy_j = None;
        row.energy_per_request_j = None;
        row.idle_pool_w = None;
        row.estimated = None;
        row.unseen = false;
    }
    let info = choose_channel(samples, manifest, extra)?;
    let delay = manifest
        .probes
        .iter()
        .find(|p| p.key() == info.probe)
        .and_then(|p| p.delay_ns)
        .unwrap_or(0);
    let readings: Vec<(u64, Option<f64>)> = samples
        .iter()
        .filter(|s| s.probe == info.probe && s.channel == info.channel)
        .map(|s| {
            (
                s.t_ns,
                if s.kind == harness_data::SampleKind::Gap {
                    None
                } else {
                    s.value
                },
            )
        })
        .collect();
    let series = ChannelSeries::new(info.clone(), readings, delay);
    let baseline_w = baseline(&series, manifest).used_w;
    let unseen: &[String] = manifest
        .probes
        .iter()
        .find(|p| p.key() == info.probe)
        .map_or(&[], |p| p.unseen.as_slice());

    // Every level's window and idle span in one sweep: `attribute` needs the spans sorted by start.
    let mut spans: Vec<(usize, bool, Window)> = Vec::with_capacity(rows.len() * 2);
    for (i, row) in rows.iter().enumerate() {
        if row.window_end_ns > row.window_start_ns {
            spans.push((i, false, window(row.window_start_ns, row.window_end_ns)));
        }
        if let (Some(start), Some(end)) = (row.idle_start_ns, row.idle_end_ns)
            && end > start
        {
            spans.push((i, true, window(start, end)));
        }
    }
    spans.sort_by_key(|(_, _, w)| w.start_ns);
    let windows: Vec<Window> = spans.iter().map(|(_, _, w)| *w).collect();
    let label = format!("{}/{}", info.probe, info.channel);
    for row in rows.iter_mut() {
        row.energy_channel = label.clone();
        row.estimated = Some(info.estimated);
        row.unseen = unseen.contains(&row.runtime);
    }
    for ((i, idle, w), a) in spans.iter().zip(align::attribute(&series, &windows)) {
        let Some(gross_j) = a.window_j.filter(|_| a.quality.has_energy()) else {
            continue;
        };
        let seconds = (w.end_ns - w.start_ns) as f64 * 1e-9;
        let row = &mut rows[*i];
        if *idle {
            row.idle_pool_w = baseline_w.map(|b| gross_j / seconds - b);
        } else {
            let net_j = baseline_w.map(|b| gross_j - b * seconds);
            row.energy_j = net_j;
            row.energy_per_request_j = net_j.filter(|_| row.completed > 0).map(|j| j / row.completed as f64);
        }
    }
    Some(label)
}

fn window(start_ns: u64, end_ns: u64) -> Window {
    Window {
        start_ns,
        end_ns,
        count: 1,
    }
}

/// The run's load energy channel, by the rule in the module's documentation.
pub fn choose_channel(samples: &[SampleRecord], manifest: &Manifest, extra: &[ChannelInfo]) -> Option<ChannelInfo> {
    // (scope rank, probe index, name rank, channel index) of each candidate.
    let mut candidates: Vec<((u8, usize, u8, usize), ChannelInfo)> = Vec::new();
    let probes = manifest
        .probes
        .iter()
        .map(|p| (p.kind.as_str(), p.channels.as_slice()))
        .chain(std::iter::once(("", extra)));
    for (p, (kind, channels)) in probes.enumerate() {
        for (c, info) in channels.iter().enumerate() {
            let scope_rank = match info.scope.as_str() {
                "machine" => 0,
                "harness" => 1,
                _ => continue,
            };
            let Some(name_rank) = name_rank(kind, &info.channel) else {
                continue;
            };
            if !candidates
                .iter()
                .any(|(_, k)| (&k.probe, &k.channel) == (&info.probe, &info.channel))
            {
                candidates.push(((scope_rank, p, name_rank, c), info.clone()));
            }
        }
    }
    candidates.sort_by_key(|(rank, _)| *rank);
    // Only channels that actually read something: a declared channel can stay silent (permissions, a gap).
    let mut read = vec![false; candidates.len()];
    for s in samples.iter().filter(|s| s.value.is_some()) {
        if let Some(i) = candidates
            .iter()
            .position(|(_, k)| k.probe == s.probe && k.channel == s.channel)
        {
            read[i] = true;
        }
    }
    candidates
        .into_iter()
        .zip(read)
        .find_map(|((_, info), read)| read.then_some(info))
}

/// 0: the platform or the total input; 1: a package; 2: anything else whole; none: a part of the machine.
fn name_rank(probe_kind: &str, channel: &str) -> Option<u8> {
    if channel == "psys" || TOTAL_INPUT_RAILS.contains(&channel) {
        return Some(0);
    }
    if probe_kind == "jetson" || channel.contains('/') || SUB_DOMAINS.contains(&channel) {
        return None;
    }
    Some(if channel.starts_with("package") { 1 } else { 2 })
}

/// Writes `load.csv` through a temporary file in the same directory, so a reader never sees half a file.
pub fn write_load_csv(path: &Path, rows: &[LoadRecord]) -> Result<(), PairError> {
    let temp = path.with_extension("csv.tmp");
    let write = |e: &dyn std::fmt::Display| PairError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_path(&temp)
        .map_err(|e| write(&e))?;
    writer.write_record(LoadRecord::COLUMNS).map_err(|e| write(&e))?;
    for row in rows {
        writer.serialize(row).map_err(|e| write(&e))?;
    }
    writer.flush().map_err(|e| write(&e))?;
    drop(writer);
    std::fs::rename(&temp, path).map_err(|e| write(&e))
}

/// `load.csv` of a run directory, empty when the run has none.
pub fn read_load_csv(dir: &Path) -> Result<Vec<LoadRecord>, LoadError> {
    let path = dir.join(files::LOAD);
    if path.is_file() {
        read_csv(&path)
    } else {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_data::{LoadKind, ProbeManifest, SampleKind, Unit};
    use std::collections::BTreeMap;

    const MS: u64 = 1_000_000;

    /// Watts at `ms`: 10 W idle host, 14 W with the warm pool up (500-1000 ms), 40 W serving (1000-2000 ms),
    /// 10 W again until 3000 ms. Baselines are measured over 50-450 ms and 2550-2950 ms.
    fn watts(ms: u64) -> f64 {
        match ms {
            500..1000 => 14.0,
            1000..2000 => 40.0,
            _ => 10.0,
        }
    }

    fn channel(probe: &str, name: &str, kind: SampleKind, unit: Unit, scope: &str) -> ChannelInfo {
        ChannelInfo {
            probe: probe.into(),
            channel: name.into(),
            unit,
            kind,
            resolution: if kind == SampleKind::EnergyCounter { 61.0 } else { 0.0 },
            update_period_ns: MS,
            estimated: probe == "model",
            scope: scope.into(),
        }
    }

    /// The profile as power readings (W) every millisecond, stamped `delay_ms` late.
    fn power_trace(probe: &str, name: &str, delay_ms: u64) -> Vec<SampleRecord> {
        (0..=3000)
            .map(|ms| SampleRecord {
                probe: probe.into(),
                channel: name.into(),
                t_ns: (ms + delay_ms) * MS,
                value: Some(watts(ms)),
                unit: Unit::Watt,
                kind: SampleKind::Power,
            })
            .collect()
    }

    /// The profile as a cumulative counter in uJ, every millisecond.
    fn counter_trace(probe: &str, name: &str) -> Vec<SampleRecord> {
        let mut energy_uj = 0.0;
        (0..=3000)
            .map(|ms| {
                let row = SampleRecord {
                    probe: probe.into(),
                    channel: name.into(),
                    t_ns: ms * MS,
                    value: Some(energy_uj),
                    unit: Unit::Microjoule,
                    kind: SampleKind::EnergyCounter,
                };
                // Power over [ms, ms + 1) is watts(ms): 1 ms at P watts is 1000 P uJ.
                energy_uj += watts(ms) * 1000.0;
                row
            })
            .collect()
    }

    fn probe(name: &str, kind: &str, channels: Vec<ChannelInfo>, unseen: &[&str]) -> ProbeManifest {
        ProbeManifest {
            name: name.into(),
            kind: kind.into(),
            options: serde_json::Value::Null,
            channels,
            baselines: BTreeMap::new(),
            delay_ns: None,
            notes: Vec::new(),
            unseen: unseen.iter().map(|r| r.to_string()).collect(),
        }
    }

    fn manifest(probes: Vec<ProbeManifest>) -> Manifest {
        let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/reference/vm-spine/manifest.json");
        let mut manifest: Manifest = serde_json::from_slice(&std::fs::read(reference).unwrap()).unwrap();
        manifest.probes = probes;
        manifest.baseline_before_ns = Some([50 * MS, 450 * MS]);
        manifest.baseline_after_ns = Some([2550 * MS, 2950 * MS]);
        manifest
    }

    fn rapl_manifest(unseen: &[&str]) -> Manifest {
        let package = channel(
            "rapl",
            "package-0",
            SampleKind::EnergyCounter,
            Unit::Microjoule,
            "machine",
        );
        manifest(vec![probe("rapl", "rapl", vec![package], unseen)])
    }

    /// A closed-loop level of `runtime` measured over 1100-1900 ms after an idle span over 600-900 ms.
    fn level(runtime: &str, completed: u64) -> LoadRecord {
        LoadRecord {
            workload: "fibonacci".into(),
            input: "25".into(),
            runtime: runtime.into(),
            kind: LoadKind::Clients,
            level: 4.0,
            instances: 4,
            sequence: 0,
            partial: false,
            window_start_ns: 1100 * MS,
            window_end_ns: 1900 * MS,
            duration_ns: 800 * MS,
            offered_rps: None,
            achieved_rps: completed as f64 / 0.8,
            sent: completed,
            completed,
            failed: 0,
            timed_out: 0,
            p50_ns: Some(MS),
            p90_ns: Some(2 * MS),
            p99_ns: Some(3 * MS),
            p999_ns: Some(4 * MS),
            mean_ns: Some(1.2e6),
            send_lag_p50_ns: Some(0),
            send_lag_p99_ns: Some(0),
            harness_cpu_cores: Some(0.1),
            cpu_util: Some(0.5),
            serving_cpu_cores: Some(0.9),
            memory_bytes: Some(64 << 20),
            memory_source: "pss".into(),
            memory_per_instance_bytes: Some(4e6),
            idle_start_ns: Some(600 * MS),
            idle_end_ns: Some(900 * MS),
            energy_channel: String::new(),
            energy_j: None,
            energy_per_request_j: None,
            idle_pool_w: None,
            estimated: None,
            unseen: false,
            saturated: None,
        }
    }

    fn close(actual: Option<f64>, expected: f64) -> bool {
        actual.is_some_and(|a| (a - expected).abs() < 1e-6)
    }

    #[test]
    fn a_counter_gives_net_window_energy_per_request_and_idle_pool_power() {
        let mut rows = vec![level("wasmi", 100), level("wasmi", 0)];
        let used = attribute_load_rows(&mut rows, &counter_trace("rapl", "package-0"), &rapl_manifest(&[]), &[]);
        assert_eq!(used.as_deref(), Some("rapl/package-0"));
        let row = &rows[0];
        // 40 W over 0.8 s is 32 J gross; the 10 W baseline over 0.8 s is 8 J.
        assert!(close(row.energy_j, 24.0), "{row:?}");
        assert!(close(row.energy_per_request_j, 0.24), "{row:?}");
        // 14 W with the pool up, 10 W without.
        assert!(close(row.idle_pool_w, 4.0), "{row:?}");
        assert_eq!(
            (row.energy_channel.as_str(), row.estimated, row.unseen),
            ("rapl/package-0", Some(false), false)
        );
        // Nothing completed: energy, but no energy per request.
        assert!(close(rows[1].energy_j, 24.0));
        assert_eq!(rows[1].energy_per_request_j, None);
    }

    #[test]
    fn a_power_trace_is_integrated_and_a_probe_delay_applied() {
        let model = channel("model", "cpu-estimate", SampleKind::Power, Unit::Watt, "machine");
        let mut delayed = probe("model", "model", vec![model], &[]);
        // 300 ms late: uncorrected, the window would catch 200 ms of the idle pool.
        delayed.delay_ns = Some(300 * MS as i64);
        let manifest = manifest(vec![delayed]);
        let mut rows = vec![level("native", 50)];
        attribute_load_rows(&mut rows, &power_trace("model", "cpu-estimate", 300), &manifest, &[]);
        assert!(close(rows[0].energy_j, 24.0), "{:?}", rows[0]);
        assert!(close(rows[0].energy_per_request_j, 24.0 / 50.0));
        assert!(close(rows[0].idle_pool_w, 4.0));
        assert_eq!(rows[0].estimated, Some(true), "a model's energy is estimated");
    }

    #[test]
    fn the_baseline_is_what_pairing_subtracts_and_none_leaves_net_energy_unknown() {
        // Only the idle span before the run: still 10 W.
        let mut before_only = rapl_manifest(&[]);
        before_only.baseline_after_ns = None;
        let mut rows = vec![level("wasmi", 100)];
        attribute_load_rows(&mut rows, &counter_trace("rapl", "package-0"), &before_only, &[]);
        assert!(close(rows[0].energy_j, 24.0));
        // A baseline taken over the busy window itself would leave nothing: the subtraction is the run's own.
        let mut over_window = rapl_manifest(&[]);
        over_window.baseline_before_ns = Some([1100 * MS, 1900 * MS]);
        over_window.baseline_after_ns = None;
        attribute_load_rows(&mut rows, &counter_trace("rapl", "package-0"), &over_window, &[]);
        assert!(close(rows[0].energy_j, 0.0), "{:?}", rows[0]);
        assert!(close(rows[0].idle_pool_w, 14.0 - 40.0));
        // No baseline at all: gross energy is known, net is not, and no number is made up.
        let mut none = rapl_manifest(&[]);
        none.baseline_before_ns = None;
        none.baseline_after_ns = None;
        attribute_load_rows(&mut rows, &counter_trace("rapl", "package-0"), &none, &[]);
        assert_eq!(
            (rows[0].energy_j, rows[0].energy_per_request_j, rows[0].idle_pool_w),
            (None, None, None)
        );
        assert_eq!(rows[0].energy_channel, "rapl/package-0");
    }

    #[test]
    fn without_samples_the_energy_columns_are_cleared() {
        let mut rows = vec![LoadRecord {
            energy_channel: "stale/channel".into(),
            energy_j: Some(1.0),
            energy_per_request_j: Some(0.1),
            idle_pool_w: Some(2.0),
            estimated: Some(false),
            unseen: true,
            ..level("wasmi", 10)
        }];
        assert_eq!(
            attribute_load_rows(&mut rows, &[], &rapl_manifest(&["wasmi"]), &[]),
            None
        );
        let r = &rows[0];
        assert_eq!(
            (
                r.energy_channel.as_str(),
                r.energy_j,
                r.energy_per_request_j,
                r.idle_pool_w,
                r.estimated,
                r.unseen
            ),
            ("", None, None, None, None, false)
        );
    }

    #[test]
    fn runtimes_the_probe_cannot_see_are_flagged_unseen() {
        let mut rows = vec![level("container", 100), level("wasmi", 100)];
        attribute_load_rows(
            &mut rows,
            &counter_trace("rapl", "package-0"),
            &rapl_manifest(&["container"]),
            &[],
        );
        assert_eq!((rows[0].unseen, rows[1].unseen), (true, false));
        // The energy is still written; the report leaves unseen rows out of its figures.
        assert!(close(rows[0].energy_j, 24.0));
    }

    #[test]
    fn the_channel_is_the_whole_machine_psys_first_and_never_a_part() {
        let counter = |name: &str| channel("rapl", name, SampleKind::EnergyCounter, Unit::Microjoule, "machine");
        let rapl = probe(
            "rapl",
            "rapl",
            vec![counter("package-0/core"), counter("package-0"), counter("psys")],
            &[],
        );
        let gpu = probe(
            "nvml",
            "nvml",
            vec![channel("nvml", "gpu0", SampleKind::Power, Unit::Watt, "gpu")],
            &[],
        );
        let m = manifest(vec![gpu, rapl]);
        let mut samples = counter_trace("rapl", "package-0/core");
        samples.extend(counter_trace("rapl", "package-0"));
        samples.extend(power_trace("nvml", "gpu0", 0));
        // psys declared but silent: the package it is.
        assert_eq!(choose_channel(&samples, &m, &[]).unwrap().channel, "package-0");
        samples.extend(counter_trace("rapl", "psys"));
        assert_eq!(choose_channel(&samples, &m, &[]).unwrap().channel, "psys");
        // A harness-scoped model is a last resort, behind any machine-wide channel of a later probe.
        let harness = channel("model", "cpu-estimate", SampleKind::Power, Unit::Watt, "harness");
        let m = manifest(vec![
            probe("model", "model", vec![harness], &[]),
            probe(
                "jetson",
                "jetson",
                vec![
                    channel(
                        "jetson",
                        "VDD_CPU_GPU_CV",
                        SampleKind::Power,
                        Unit::Milliwatt,
                        "machine",
                    ),
                    channel("jetson", "VDD_IN", SampleKind::Power, Unit::Milliwatt, "machine"),
                ],
                &[],
            ),
        ]);
        let mut samples = power_trace("model", "cpu-estimate", 0);
        samples.extend(power_trace("jetson", "VDD_CPU_GPU_CV", 0));
        assert_eq!(
            choose_channel(&samples, &m, &[]).unwrap().channel,
            "cpu-estimate",
            "a Jetson sub-rail never"
        );
        samples.extend(power_trace("jetson", "VDD_IN", 0));
        assert_eq!(choose_channel(&samples, &m, &[]).unwrap().channel, "VDD_IN");
    }

    #[test]
    fn the_file_is_rewritten_in_place_with_rows_and_order_kept() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            attribute_load_energy(dir.path(), &rapl_manifest(&[])).unwrap(),
            0,
            "no load.csv"
        );
        let path = dir.path().join(files::LOAD);
        let rows = vec![
            LoadRecord {
                sequence: 1,
                ..level("wasmi", 100)
            },
            LoadRecord {
                sequence: 0,
                ..level("native", 40)
            },
        ];
        write_load_csv(&path, &rows).unwrap();
        // No samples.csv: the rows stay, without energy.
        assert_eq!(attribute_load_energy(dir.path(), &rapl_manifest(&[])).unwrap(), 2);
        assert_eq!(read_load_csv(dir.path()).unwrap(), rows);
        let mut writer = csv::Writer::from_path(dir.path().join(files::SAMPLES)).unwrap();
        for s in counter_trace("rapl", "package-0") {
            writer.serialize(s).unwrap();
        }
        writer.flush().unwrap();
        assert_eq!(attribute_load_energy(dir.path(), &rapl_manifest(&[])).unwrap(), 2);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().next().unwrap(), LoadRecord::COLUMNS.join(","));
        let back = read_load_csv(dir.path()).unwrap();
        assert_eq!(
            back.iter().map(|r| r.runtime.as_str()).collect::<Vec<_>>(),
            ["wasmi", "native"]
        );
        assert!(close(back[1].energy_per_request_j, 24.0 / 40.0), "{:?}", back[1]);
        // `harness pair` on a run of load levels only (no invocations.csv): no paired rows, the levels again.
        let pairing = crate::pair::pair_run(dir.path(), &rapl_manifest(&[]), None).unwrap();
        assert_eq!((pairing.rows, pairing.load.rows, pairing.load.with_energy), (0, 2, 2));
        assert_eq!(pairing.load.channel.as_deref(), Some("rapl/package-0"));
        let paired = std::fs::read_to_string(dir.path().join(files::PAIRED)).unwrap();
        assert_eq!(paired.trim_end(), harness_data::PairedRecord::COLUMNS.join(","));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
