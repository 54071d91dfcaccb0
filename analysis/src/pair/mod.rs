//! Pairing: energy per measured invocation or batch window from a run's samples (`paired.csv`), energy per
//! load level ([`levels`], the energy columns of `load.csv`), and the probes' delays measured from the
//! calibration pattern. Re-analysis: `harness measure` runs it once the samples are on disk, `harness pair`
//! runs it again.

use crate::align::{self, ChannelSeries, Window};
use crate::calibrate;
use crate::run::{read_csv, read_invocations};
use harness_data::{
    Baseline, CellKey, ChannelInfo, EnergyFlag, EnergyQuality, IdleLoad, InvocationRecord, MIN_BUSY_SHARE, Manifest,
    Mode, PairedRecord, SampleRecord, Scope, Status, Teardown, files, fsio,
};
use levels::rewrite_load_csv;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod busy;
mod error;
pub mod levels;
pub mod series;

pub use error::PairError;
pub use levels::LoadAttribution;
use series::baseline;

/// Measures each probe's delay behind the calibration pattern recorded in the manifest, from the run's
/// samples, and records it there (attribution then subtracts it). Returns one line per probe for the log.
pub fn calibrate_delays(samples: &[SampleRecord], manifest: &mut Manifest) -> Vec<String> {
    if manifest.calibration_busy_ns.is_empty() {
        return Vec::new();
    }
    let channels: Vec<ChannelInfo> = manifest.probes.iter().flat_map(|p| p.channels.clone()).collect();
    let series = ChannelSeries::from_records(samples, &channels, |_| 0);
    let unit = calibrate::calibration_unit_ns(&channels);
    let mut lines = Vec::new();
    for probe in &mut manifest.probes {
        let best = series
            .iter()
            .filter(|s| s.info.probe == probe.key())
            .filter_map(|s| {
                Some((
                    s.info.channel.clone(),
                    calibrate::estimate_delay(
                        s,
                        &manifest.calibration_busy_ns,
                        calibrate::max_lag_ns(unit),
                        5_000_000,
                    )?,
                ))
            })
            .max_by(|a, b| a.1.correlation.total_cmp(&b.1.correlation));
        let line = match best {
            Some((channel, estimate)) => {
                probe.delay_ns = Some(estimate.delay_ns);
                format!(
                    "{}: delay {:.1} ms (channel {channel}, correlation {:.2}), applied",
                    probe.key(),
                    estimate.delay_ns as f64 / 1e6,
                    estimate.correlation
                )
            }
            None => format!(
                "{}: its trace does not follow the calibration pattern; no delay applied",
                probe.key()
            ),
        };
        probe.notes.push(line.clone());
        lines.push(line);
    }
    lines
}

/// What pairing produced.
#[derive(Debug, Default)]
pub struct Pairing {
    pub rows: usize,
    pub windows: usize,
    /// Per probe name, per channel.
    pub baselines: BTreeMap<(String, String), Baseline>,
    pub qualities: BTreeMap<EnergyQuality, usize>,
    /// The rewrite of `load.csv`'s energy columns (nothing when the run has no load levels).
    pub load: LoadAttribution,
    /// What reading the run's files noticed (a torn final row of a partial run, dropped).
    pub notes: Vec<String>,
}

/// Reads a run's invocations and samples (or `samples_override`, with the channels its own run declared), pairs
/// them, writes `paired.csv`, and recomputes the energy columns of `load.csv` when the run has one.
pub fn pair_run(dir: &Path, manifest: &Manifest, samples_override: Option<&Path>) -> Result<Pairing, PairError> {
    let samples_path: PathBuf = samples_override.map_or_else(|| dir.join(files::SAMPLES), Path::to_path_buf);
    // Re-pairing from nothing would replace the energy of every invocation by none.
    let no_samples = |why| PairError::NoSamples {
        path: samples_path.clone(),
        why,
    };
    if !samples_path.is_file() {
        return Err(no_samples(if samples_path.exists() {
            "not a regular file"
        } else {
            "no such file"
        }));
    }
    let samples: Vec<SampleRecord> = read_csv(&samples_path)?;
    if samples.is_empty() {
        return Err(no_samples("it holds no sample row"));
    }
    let extra: Vec<ChannelInfo> = samples_override
        .and_then(sibling_manifest)
        .map(|m| m.probes.into_iter().flat_map(|p| p.channels).collect())
        .unwrap_or_default();
    pair_and_write(dir, &samples, manifest, &extra)
}

/// Re-analysis after a run: reads `samples.csv` once, measures probe delays (recorded in `manifest`), pairs
/// and writes `paired.csv`, then fills the energy columns of `load.csv` when the run has one. Returns the pairing and one calibration line per probe for the log.
pub fn analyse_run(dir: &Path, manifest: &mut Manifest) -> Result<(Pairing, Vec<String>), PairError> {
    let samples: Vec<SampleRecord> = read_csv(&dir.join(files::SAMPLES))?;
    let lines = calibrate_delays(&samples, manifest);
    Ok((pair_and_write(dir, &samples, manifest, &[])?, lines))
}

/// Pairs `samples` with the run's invocations and writes `paired.csv`, then attributes the load levels
/// (after pairing, with the same delays and baselines).
fn pair_and_write(
    dir: &Path,
    samples: &[SampleRecord],
    manifest: &Manifest,
    extra: &[ChannelInfo],
) -> Result<Pairing, PairError> {
    let mut notes = Vec::new();
    let invocations: Vec<InvocationRecord> = read_invocations(dir, manifest, &mut notes)?;
    // A damaged load.csv is refused before paired.csv is rewritten: pairing writes both files or neither.
    levels::read_load_csv(dir)?;
    let (rows, mut pairing) = pair(samples, &invocations, manifest, extra);
    pairing.notes = notes;
    write_paired(&dir.join(files::PAIRED), &rows)?;
    pairing.load = rewrite_load_csv(dir, samples, manifest, extra)?;
    Ok(pairing)
}

/// Writes `paired.csv`, its header even when there are no rows (a run of load levels only), atomically: a
/// failed write (a full disk) leaves the previous paired.csv whole.
pub fn write_paired(path: &Path, rows: &[PairedRecord]) -> Result<(), PairError> {
    fsio::write_atomically(path, |out| {
        let mut writer = csv::WriterBuilder::new().has_headers(false).from_writer(out);
        writer.write_record(PairedRecord::COLUMNS)?;
        for row in rows {
            writer.serialize(row)?;
        }
        writer.flush()?;
        Ok::<(), csv::Error>(())
    })
    .map_err(|e| PairError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Attributes energy from `samples` to every measured invocation or batch window of `invocations`, with the
/// channels the manifest declares (and `extra` ones, for samples recorded by another run). Rows come sorted
/// by window, then channel.
pub fn pair(
    samples: &[SampleRecord],
    invocations: &[InvocationRecord],
    manifest: &Manifest,
    extra: &[ChannelInfo],
) -> (Vec<PairedRecord>, Pairing) {
    let mut channels: Vec<ChannelInfo> = manifest.probes.iter().flat_map(|p| p.channels.clone()).collect();
    for c in extra {
        if !channels
            .iter()
            .any(|k| (&k.probe, &k.channel) == (&c.probe, &c.channel))
        {
            channels.push(c.clone());
        }
    }
    let unseen: BTreeMap<&str, &[String]> = manifest.probes.iter().map(|p| (p.key(), p.unseen.as_slice())).collect();
    let series = ChannelSeries::from_records(samples, &channels, |probe| series::delay_ns(manifest, probe));
    let groups = windows(invocations);
    let windows: Vec<Window> = groups.iter().map(|g| g.window).collect();
    let teardowns: BTreeMap<CellKey, Teardown> = manifest
        .batching
        .iter()
        .filter_map(|b| Some((b.key(), b.teardown?)))
        .collect();

    let mut pairing = Pairing {
        windows: windows.len(),
        ..Default::default()
    };
    let mut rows: Vec<(usize, usize, PairedRecord)> = Vec::new();
    for (c, s) in series.iter().enumerate() {
        let baseline = baseline(s, manifest);
        let used = baseline.used_w;
        let idle_up = idle_runtime_power(s, manifest, used);
        pairing
            .baselines
            .insert((s.info.probe.clone(), s.info.channel.clone()), baseline.clone());
        for (g, (group, a)) in groups.iter().zip(align::attribute(s, &windows)).enumerate() {
            let count = f64::from(group.window.count);
            let duration_s = (group.window.end_ns - group.window.start_ns) as f64 * 1e-9;
            // A batch with a failed member is a gap: its window holds work that did not complete.
            let quality = if group.failed_members > 0 {
                EnergyQuality::Gap
            } else {
                a.quality
            };
            let window_j = a.window_j.filter(|_| quality.has_energy());
            let gross = window_j.map(|j| j / count);
            *pairing.qualities.entry(quality).or_default() += 1;
            let first = group.first;
            let busy_share = group.busy_share();
            // A cold start measured on its own (no cold window recorded) holds its whole teardown.
            let teardown =
                (first.mode == Mode::Cold).then(|| teardowns.get(&first.key()).copied().unwrap_or(Teardown::InWindow));
            let flag = if unseen
                .get(s.info.probe.as_str())
                .is_some_and(|u| u.contains(&first.runtime))
            {
                Some(EnergyFlag::Unseen)
            } else if group.window.count > 1 && busy_share < MIN_BUSY_SHARE {
                Some(EnergyFlag::LowBusyShare)
            } else if baseline.busy_baseline.is_some() && used.is_some() {
                Some(EnergyFlag::BusyBaseline)
            } else {
                None
            };
            rows.push((
                g,
                c,
                PairedRecord {
                    workload: first.workload.clone(),
                    input: first.input.clone(),
                    runtime: first.runtime.clone(),
                    mode: first.mode,
                    iteration: first.iteration,
                    sequence: first.sequence,
                    count: group.window.count,
                    window_start_ns: group.window.start_ns,
                    window_end_ns: group.window.end_ns,
                    latency_ns: group.mean_latency_ns,
                    probe: s.info.probe.clone(),
                    channel: s.info.channel.clone(),
                    gross_j: gross,
                    net_j: gross.zip(used).map(|(g, w)| g - w * duration_s / count),
                    baseline_w: used,
                    power_w: window_j.map(|j| j / duration_s.max(1e-12)),
                    samples: a.samples,
                    uncertainty_j: a.uncertainty_j.map(|u| u / count),
                    quality,
                    estimated: s.info.estimated,
                    scope: s.info.scope,
                    busy_share: Some(busy_share),
                    flag,
                    teardown,
                    idle_browser_w: idle_up.get(first.runtime.as_str()).copied(),
                },
            ));
        }
    }
    rows.sort_by_key(|(g, c, _)| (*g, *c));
    pairing.rows = rows.len();
    (rows.into_iter().map(|(_, _, r)| r).collect(), pairing)
}

/// Per browser runtime with an idle span in the manifest: the channel's mean power over the span with the
/// browser up, less the machine's idle power `baseline_w` (no figure without both). A span the machine was
/// busy in (other processes, or the browser itself not idle) gives none on a machine-wide channel, as a busy
/// machine baseline gives no net energy.
fn idle_runtime_power<'m>(
    series: &ChannelSeries,
    manifest: &'m Manifest,
    baseline_w: Option<f64>,
) -> BTreeMap<&'m str, f64> {
    let Some(baseline_w) = baseline_w else {
        return BTreeMap::new();
    };
    let mut spans: Vec<(&str, Window)> = manifest
        .browsers
        .iter()
        .filter(|(_, facts)| {
            series.info.scope != Scope::Machine || !facts.idle_load.as_ref().is_some_and(IdleLoad::is_busy)
        })
        .filter_map(|(name, facts)| {
            let [start_ns, end_ns] = facts.idle_span_ns?;
            (end_ns > start_ns).then_some((
                name.as_str(),
                Window {
                    start_ns,
                    end_ns,
                    count: 1,
                },
            ))
        })
        .collect();
    // `attribute` walks the series once: the spans in order of their start.
    spans.sort_by_key(|(_, w)| w.start_ns);
    let windows: Vec<Window> = spans.iter().map(|(_, w)| *w).collect();
    spans
        .iter()
        .zip(align::attribute(series, &windows))
        .filter_map(|((name, w), a)| {
            let joules = a.window_j.filter(|_| a.quality.has_energy())?;
            let seconds = (w.end_ns - w.start_ns) as f64 * 1e-9;
            Some((*name, joules / seconds - baseline_w))
        })
        .collect()
}

/// A measured invocation, or a batch window of them.
struct Group<'a> {
    first: &'a InvocationRecord,
    window: Window,
    mean_latency_ns: f64,
    /// Members that failed or timed out (batch windows only: failed single invocations are not paired).
    failed_members: u32,
}

impl Group<'_> {
    /// Sum of member latencies / window length.
    fn busy_share(&self) -> f64 {
        let span = (self.window.end_ns - self.window.start_ns) as f64;
        if span <= 0.0 {
            1.0
        } else {
            self.mean_latency_ns * f64::from(self.window.count) / span
        }
    }
}

/// Measured (not warm-up) invocations grouped into windows, sorted by start: successful single invocations,
/// and whole batch windows (failed members included, so the window can be marked a gap).
fn windows(invocations: &[InvocationRecord]) -> Vec<Group<'_>> {
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut batches: BTreeMap<u64, usize> = BTreeMap::new();
    for r in invocations
        .iter()
        .filter(|r| !r.warmup && (r.status == Status::Ok || r.batch.is_some()))
    {
        let failed = u32::from(r.status != Status::Ok);
        match r.batch.and_then(|b| batches.get(&b).copied()) {
            Some(i) => {
                let g = &mut groups[i];
                let n = f64::from(g.window.count);
                g.mean_latency_ns = (g.mean_latency_ns * n + r.latency_ns as f64) / (n + 1.0);
                g.window.count += 1;
                g.window.start_ns = g.window.start_ns.min(r.start_ns);
                g.window.end_ns = g.window.end_ns.max(r.end_ns);
                g.failed_members += failed;
            }
            None => {
                if let Some(b) = r.batch {
                    batches.insert(b, groups.len());
                }
                groups.push(Group {
                    first: r,
                    window: Window {
                        start_ns: r.start_ns,
                        end_ns: r.end_ns,
                        count: 1,
                    },
                    mean_latency_ns: r.latency_ns as f64,
                    failed_members: failed,
                });
            }
        }
    }
    groups.sort_by_key(|g| g.window.start_ns);
    groups
}

/// The manifest.json beside a samples file, when there is one (and this harness reads its format).
fn sibling_manifest(samples: &Path) -> Option<Manifest> {
    crate::run::read_manifest(samples.parent()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_data::{Mode, ProbeManifest, SampleKind, Unit};

    /// A 100 W counter sampled every millisecond from 0 to 1 s.
    fn samples() -> Vec<SampleRecord> {
        (0..=1000u64)
            .map(|ms| SampleRecord {
                probe: "rapl".into(),
                channel: "package-0".into(),
                t_ns: ms * 1_000_000,
                value: Some(ms as f64 * 100_000.0),
                unit: Unit::Microjoule,
                kind: SampleKind::EnergyCounter,
            })
            .collect()
    }

    fn manifest(unseen: Vec<String>) -> Manifest {
        let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/reference/vm-spine/manifest.json");
        let mut manifest: Manifest = serde_json::from_slice(&std::fs::read(reference).unwrap()).unwrap();
        manifest.probes = vec![ProbeManifest {
            name: "rapl".into(),
            kind: "rapl".into(),
            options: serde_json::Value::Null,
            channels: vec![ChannelInfo {
                probe: "rapl".into(),
                channel: "package-0".into(),
                unit: Unit::Microjoule,
                kind: SampleKind::EnergyCounter,
                resolution: 61.0,
                update_period_ns: 1_000_000,
                estimated: false,
                scope: harness_data::Scope::Machine,
            }],
            baselines: BTreeMap::new(),
            delay_ns: None,
            notes: Vec::new(),
            unseen,
        }];
        manifest.baseline_before_ns = None;
        manifest.baseline_after_ns = None;
        manifest
    }

    /// A batch of `latencies_ms` members starting at `start_ms`, one member every `spacing_ms`.
    fn batch(runtime: &str, first: u64, start_ms: u64, spacing_ms: u64, latencies_ms: &[u64]) -> Vec<InvocationRecord> {
        latencies_ms
            .iter()
            .enumerate()
            .map(|(k, &latency)| {
                let start_ns = (start_ms + k as u64 * spacing_ms) * 1_000_000;
                InvocationRecord {
                    workload: "fibonacci".into(),
                    input: "25".into(),
                    runtime: runtime.into(),
                    mode: Mode::Warm,
                    iteration: 0,
                    warmup: false,
                    sequence: first + k as u64,
                    batch: Some(first),
                    start_ns,
                    end_ns: start_ns + latency * 1_000_000,
                    latency_ns: latency * 1_000_000,
                    startup_ns: None,
                    compile_ns: None,
                    instantiate_ns: None,
                    input_ns: None,
                    execute_ns: None,
                    output_ns: None,
                    input_bytes: 0,
                    output_bytes: 0,
                    status: if latency == 0 { Status::Timeout } else { Status::Ok },
                    digest: String::new(),
                    error: String::new(),
                }
            })
            .collect()
    }

    #[test]
    fn batch_windows_carry_busy_share_and_their_flags() {
        let mut invocations = Vec::new();
        // Busy back to back: 10 x 10 ms over 100 ms.
        invocations.extend(batch("wasmi", 0, 100, 10, &[10; 10]));
        // 10 x 5 ms members, one every 10 ms: busy half of the window.
        invocations.extend(batch("wasmi", 100, 300, 10, &[5; 10]));
        // A timed-out member (latency 0 here) makes the whole window a gap.
        invocations.extend(batch("wasmi", 200, 500, 10, &[10, 10, 0, 10]));
        // The probe cannot see this runtime.
        invocations.extend(batch("container", 300, 700, 10, &[10; 10]));
        let (rows, pairing) = pair(&samples(), &invocations, &manifest(vec!["container".into()]), &[]);
        assert_eq!(rows.len(), 4);
        let busy = &rows[0];
        assert!((busy.busy_share.unwrap() - 1.0).abs() < 1e-9);
        assert_eq!((busy.flag, busy.quality, busy.count), (None, EnergyQuality::Ok, 10));
        // 100 W over 100 ms, 10 invocations: 1 J each.
        assert!((busy.gross_j.unwrap() - 1.0).abs() < 1e-6, "{busy:?}");
        let idle = &rows[1];
        assert!((idle.busy_share.unwrap() - 50.0 / 95.0).abs() < 1e-9, "{idle:?}");
        assert_eq!(idle.flag, Some(EnergyFlag::LowBusyShare));
        let failed = &rows[2];
        assert_eq!((failed.quality, failed.count), (EnergyQuality::Gap, 4));
        assert_eq!((failed.gross_j, failed.net_j, failed.power_w), (None, None, None));
        assert_eq!(rows[3].flag, Some(EnergyFlag::Unseen));
        assert_eq!(pairing.qualities[&EnergyQuality::Gap], 1);
    }

    #[test]
    fn a_browsers_idle_span_gives_its_power_above_idle_unless_the_machine_was_busy_in_it() {
        let mut manifest = manifest(Vec::new());
        let load = |foreign_cores: f64| IdleLoad {
            machine_cores: foreign_cores,
            harness_cores: 0.0,
            foreign_cores,
            source: "/proc/stat".into(),
        };
        let facts = |span: [u64; 2], foreign: f64| harness_data::BrowserFacts {
            cross_origin_isolated: true,
            timer_step_us: 5.0,
            clock_bound_ns: 200_000,
            idle_span_ns: Some(span),
            idle_load: Some(load(foreign)),
        };
        manifest
            .browsers
            .insert("chromium-js".into(), facts([100_000_000, 300_000_000], 0.02));
        manifest
            .browsers
            .insert("firefox-js".into(), facts([400_000_000, 600_000_000], 0.9));
        let series = ChannelSeries::from_records(&samples(), &manifest.probes[0].channels, |_| 0);
        // The counter runs at 100 W throughout; with a machine idle of 60 W a browser up costs 40 W more.
        let power = idle_runtime_power(&series[0], &manifest, Some(60.0));
        assert!((power["chromium-js"] - 40.0).abs() < 1e-6, "{power:?}");
        assert!(
            !power.contains_key("firefox-js"),
            "a busy span gives no figure: {power:?}"
        );
        assert!(idle_runtime_power(&series[0], &manifest, None).is_empty());
    }
}

#[cfg(test)]
mod busy_tests;
