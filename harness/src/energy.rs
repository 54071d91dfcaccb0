//! Energy around a run: opening the plan's probes, the discovery report of `harness probes`, and pairing
//! invocations with samples into `paired.csv`.

use crate::plan::ProbeSpec;
use anyhow::Context;
use harness_analysis::align::{self, ChannelSeries, Window};
use harness_analysis::calibrate;
use harness_data::{
    Baseline, ChannelInfo, EnergyFlag, EnergyQuality, InvocationRecord, MIN_BUSY_SHARE, Manifest, PairedRecord,
    ProbeManifest, Status, files,
};
use harness_probes::jetson::JetsonSource;
use harness_probes::model::{ModelScope, ModelSource, PowerCurve};
use harness_probes::nvml::{Nvml, NvmlSource};
use harness_probes::rapl::{self, RaplOptions};
use harness_probes::replay::{ReplaySource, read_samples};
use harness_probes::sampler::ProbeRun;
use harness_probes::usbmeter::{self, UsbMeterOptions};
use harness_probes::{Discovery, ProbeError, Source};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A probe opened for a run, with what the manifest must say about it.
pub struct OpenProbe {
    pub run: ProbeRun,
    pub manifest: ProbeManifest,
}

fn interval_ns(ms: f64) -> u64 {
    (ms.max(0.01) * 1e6) as u64
}

fn model(
    idle_w: Option<f64>,
    busy_w_per_core: Option<f64>,
    tdp_w: Option<f64>,
    interval_ms: f64,
    scope: ModelScope,
) -> Result<Box<dyn Source>, ProbeError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let curve = PowerCurve::from_options(idle_w, busy_w_per_core, tdp_w, cores)?;
    Ok(Box::new(ModelSource::open(curve, interval_ms, scope, Path::new("/"))?))
}

/// Opens every probe a plan names and gives each its name: the plan's, or its kind, then `kind-2`, ... so two
/// probes of one kind never merge.
pub fn open_probes(specs: &[ProbeSpec]) -> Result<Vec<OpenProbe>, ProbeError> {
    let mut opened: Vec<OpenProbe> = Vec::new();
    for spec in specs {
        let mut probe = open_probe(spec)?;
        let name = match spec.name() {
            Some(name) => name.to_string(),
            None => {
                let kind = probe.manifest.kind.clone();
                let taken = |n: &str| opened.iter().any(|p| p.manifest.name == n);
                let mut candidate = kind.clone();
                let mut k = 2;
                while taken(&candidate) {
                    candidate = format!("{kind}-{k}");
                    k += 1;
                }
                candidate
            }
        };
        if opened.iter().any(|p| p.manifest.name == name) {
            return Err(ProbeError::Option {
                probe: "plan",
                message: format!("two probes are named `{name}`: give each `[[probes]]` table its own `name`"),
            });
        }
        if name != probe.manifest.kind {
            probe.run.source = Box::new(Renamed::new(probe.run.source, &name));
        }
        probe.manifest.channels = probe.run.source.channels().to_vec();
        probe.manifest.name = name;
        opened.push(probe);
    }
    Ok(opened)
}

/// A source whose channels carry the probe's name instead of its kind.
struct Renamed {
    inner: Box<dyn Source>,
    channels: Vec<ChannelInfo>,
}

impl Renamed {
    fn new(inner: Box<dyn Source>, name: &str) -> Renamed {
        let channels = inner
            .channels()
            .iter()
            .map(|c| ChannelInfo {
                probe: name.to_string(),
                ..c.clone()
            })
            .collect();
        Renamed { inner, channels }
    }
}

impl Source for Renamed {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    fn channels(&self) -> &[ChannelInfo] {
        &self.channels
    }
    fn poll(&mut self, now_ns: u64, out: &mut Vec<harness_probes::TimedReading>) {
        self.inner.poll(now_ns, out);
    }
    fn notes(&self) -> Vec<String> {
        self.inner.notes()
    }
    fn unseen_runtimes(&self) -> Vec<String> {
        self.inner.unseen_runtimes()
    }
}

/// The key a probe's samples, delays and baselines go by: its name (manifests before names: its kind).
pub fn probe_key(probe: &ProbeManifest) -> &str {
    if probe.name.is_empty() {
        &probe.kind
    } else {
        &probe.name
    }
}

/// Opens one probe a plan names. Errors say why it cannot start (and how to fix it).
pub fn open_probe(spec: &ProbeSpec) -> Result<OpenProbe, ProbeError> {
    let mut note = None;
    let (source, interval_ms): (Box<dyn Source>, f64) = match spec {
        ProbeSpec::Rapl {
            sysfs_root,
            interval_ms,
            ..
        } => {
            let interval_ms = interval_ms.unwrap_or(1.0);
            let options = RaplOptions {
                sysfs_root: sysfs_root.clone().unwrap_or_else(|| "/".into()),
                interval_ms,
            };
            (rapl::open(&options)?, interval_ms)
        }
        ProbeSpec::Model {
            idle_w,
            busy_w_per_core,
            tdp_w,
            interval_ms,
            scope,
            fitted,
            ..
        } => {
            let interval_ms = interval_ms.unwrap_or(10.0);
            let declared = "model curve declared".to_string();
            note = Some(fitted.as_ref().map_or(declared, |f| format!("model fitted on {f}")));
            (
                model(
                    *idle_w,
                    *busy_w_per_core,
                    *tdp_w,
                    interval_ms,
                    scope.unwrap_or_default(),
                )?,
                interval_ms,
            )
        }
        ProbeSpec::Replay {
            path,
            align,
            shift_ms,
            interval_ms,
            ..
        } => {
            let interval_ms = interval_ms.unwrap_or(1.0);
            (
                Box::new(ReplaySource::open(
                    path,
                    align.unwrap_or_default(),
                    shift_ms.unwrap_or(0.0),
                )?),
                interval_ms,
            )
        }
        ProbeSpec::Jetson {
            sysfs_root,
            interval_ms,
            ..
        } => {
            let interval_ms = interval_ms.unwrap_or(10.0);
            (
                Box::new(JetsonSource::open(
                    sysfs_root.as_deref().unwrap_or(Path::new("/")),
                    interval_ms,
                )?),
                interval_ms,
            )
        }
        ProbeSpec::Nvml { interval_ms, .. } => {
            let interval_ms = interval_ms.unwrap_or(100.0);
            (
                Box::new(NvmlSource::open(Box::new(Nvml::init()?), interval_ms)?),
                interval_ms,
            )
        }
        ProbeSpec::Auto {
            sysfs_root,
            interval_ms,
            ..
        } => {
            let root = sysfs_root.clone().unwrap_or_else(|| "/".into());
            let options = RaplOptions {
                sysfs_root: root.clone(),
                interval_ms: interval_ms.unwrap_or(1.0),
            };
            match rapl::open(&options) {
                Ok(source) => (source, options.interval_ms),
                Err(rapl_missing) => match JetsonSource::open(&root, 10.0) {
                    Ok(source) => (Box::new(source) as Box<dyn Source>, 10.0),
                    Err(_) => {
                        note = Some(format!(
                            "auto: no RAPL ({rapl_missing}) and no Jetson rails; energy is ESTIMATED by the model"
                        ));
                        (model(None, None, None, 10.0, ModelScope::Machine)?, 10.0)
                    }
                },
            }
        }
        ProbeSpec::UsbMeter {
            model,
            port,
            baud,
            interval_ms,
            timeout_ms,
            ..
        } => {
            let mut options = UsbMeterOptions::new(model.as_deref().unwrap_or("auto"), port)?;
            options.baud = *baud;
            options.interval_ms = interval_ms.unwrap_or(usbmeter::DEFAULT_INTERVAL_MS);
            options.timeout_ms = timeout_ms.unwrap_or(usbmeter::DEFAULT_TIMEOUT_MS);
            (usbmeter::open(&options)?, options.interval_ms)
        }
    };
    let manifest = ProbeManifest {
        name: source.kind().to_string(),
        kind: source.kind().to_string(),
        options: serde_json::to_value(spec).unwrap_or_default(),
        channels: source.channels().to_vec(),
        baselines: BTreeMap::new(),
        delay_ns: None,
        notes: source.notes().into_iter().chain(note).collect(),
        unseen: Vec::new(),
    };
    Ok(OpenProbe {
        run: ProbeRun {
            source,
            interval_ns: interval_ns(interval_ms),
        },
        manifest,
    })
}

/// Every probe kind and what this machine has of it, for `harness probes`.
pub fn discover_all(sysfs_root: &Path) -> Vec<Discovery> {
    // The model reads the real machine's CPU time, whatever sysfs root the sensors are looked for under.
    let model = ModelSource::open(PowerCurve::DEFAULT, 10.0, ModelScope::Machine, Path::new("/"));
    let (model_channels, model_missing) = match &model {
        Ok(m) => (m.channels().to_vec(), None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    vec![
        rapl::discover(sysfs_root),
        harness_probes::jetson::discover(sysfs_root),
        harness_probes::nvml::discover(),
        Discovery {
            kind: harness_probes::model::KIND,
            channels: model_channels,
            missing: model_missing,
            notes: vec![
                "its energy is ESTIMATED from the machine's CPU time and a declared or fitted power curve".into(),
                "`scope = \"harness\"` counts only the harness, its descendants and its containers".into(),
            ],
        },
        usbmeter::discover(sysfs_root),
        Discovery {
            kind: harness_probes::replay::KIND,
            channels: Vec::new(),
            missing: Some("replays a recorded samples.csv: name it with `path = ...` in the plan".into()),
            notes: Vec::new(),
        },
    ]
}

/// Measures each probe's delay behind the calibration pattern recorded in the manifest, from the run's
/// samples, and records it there (attribution then subtracts it). Returns one line per probe for the log.
pub fn calibrate_delays(dir: &Path, manifest: &mut Manifest) -> anyhow::Result<Vec<String>> {
    if manifest.calibration_busy_ns.is_empty() {
        return Ok(Vec::new());
    }
    let samples = read_samples(&dir.join(files::SAMPLES))?;
    let channels: Vec<ChannelInfo> = manifest.probes.iter().flat_map(|p| p.channels.clone()).collect();
    let series = ChannelSeries::from_records(&samples, &channels, |_| 0);
    let unit = calibration_unit_ns(&channels);
    let mut lines = Vec::new();
    for probe in &mut manifest.probes {
        let best = series
            .iter()
            .filter(|s| s.info.probe == probe_key(probe))
            .filter_map(|s| {
                Some((
                    s.info.channel.clone(),
                    calibrate::estimate_delay(s, &manifest.calibration_busy_ns, max_lag_ns(unit), 5_000_000)?,
                ))
            })
            .max_by(|a, b| a.1.correlation.total_cmp(&b.1.correlation));
        let line = match best {
            Some((channel, estimate)) => {
                probe.delay_ns = Some(estimate.delay_ns);
                format!(
                    "{}: delay {:.1} ms (channel {channel}, correlation {:.2}), applied",
                    probe_key(probe),
                    estimate.delay_ns as f64 / 1e6,
                    estimate.correlation
                )
            }
            None => format!(
                "{}: its trace does not follow the calibration pattern; no delay applied",
                probe_key(probe)
            ),
        };
        probe.notes.push(line.clone());
        lines.push(line);
    }
    Ok(lines)
}

/// The pattern's time unit: the coarsest channel's update period, at least 50 ms.
pub fn calibration_unit_ns(channels: &[ChannelInfo]) -> u64 {
    channels
        .iter()
        .map(|c| c.update_period_ns)
        .max()
        .unwrap_or(0)
        .max(50_000_000)
}

/// The longest delay looked for (and idled for after the pattern): ten units, at most 2 s.
pub fn max_lag_ns(unit_ns: u64) -> u64 {
    (unit_ns * 10).min(2_000_000_000)
}

/// Plays the calibration pattern: every core spins during each busy span and sleeps between them; then idles
/// for the longest delay looked for, so a late probe's trace of the last burst is recorded.
pub fn play_calibration_pattern(unit_ns: u64) -> Vec<[u64; 2]> {
    let spans = calibrate::pattern_spans(harness_probes::clock::monotonic_ns(), unit_ns, 6);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for &[start, end] in &spans {
        harness_probes::sampler::sleep_until(start);
        std::thread::scope(|scope| {
            for _ in 0..cores {
                scope.spawn(|| {
                    let mut x = 0u64;
                    while harness_probes::clock::monotonic_ns() < end {
                        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                    }
                });
            }
        });
    }
    harness_probes::sampler::sleep_until(spans.last().map_or(0, |s| s[1]) + max_lag_ns(unit_ns));
    spans
}

/// What pairing produced.
#[derive(Debug, Default)]
pub struct Pairing {
    pub rows: usize,
    pub windows: usize,
    /// Per probe kind, per channel.
    pub baselines: BTreeMap<(String, String), Baseline>,
    pub qualities: BTreeMap<EnergyQuality, usize>,
}

/// Reads a run's invocations and samples (or `samples_override`), attributes energy to every measured
/// invocation or batch window, and writes `paired.csv`.
pub fn pair_run(dir: &Path, manifest: &Manifest, samples_override: Option<&Path>) -> anyhow::Result<Pairing> {
    let samples_path: PathBuf = samples_override.map_or_else(|| dir.join(files::SAMPLES), Path::to_path_buf);
    let samples = read_samples(&samples_path)?;
    let mut channels: Vec<ChannelInfo> = manifest.probes.iter().flat_map(|p| p.channels.clone()).collect();
    if let Some(other) = samples_override.and_then(sibling_manifest) {
        // Samples from another run keep what that run declared of them (estimated, scope, resolution).
        for c in other.probes.iter().flat_map(|p| p.channels.clone()) {
            if !channels
                .iter()
                .any(|k| (&k.probe, &k.channel) == (&c.probe, &c.channel))
            {
                channels.push(c);
            }
        }
    }
    let delays: BTreeMap<String, i64> = manifest
        .probes
        .iter()
        .filter_map(|p| Some((probe_key(p).to_string(), p.delay_ns?)))
        .collect();
    let unseen: BTreeMap<&str, &[String]> = manifest
        .probes
        .iter()
        .map(|p| (probe_key(p), p.unseen.as_slice()))
        .collect();
    let series = ChannelSeries::from_records(&samples, &channels, |probe| delays.get(probe).copied().unwrap_or(0));

    let invocations: Vec<InvocationRecord> = harness_analysis::load::read_csv(&dir.join(files::INVOCATIONS))?;
    let groups = windows(&invocations);
    let windows: Vec<Window> = groups.iter().map(|g| g.window).collect();

    let mut pairing = Pairing {
        windows: windows.len(),
        ..Default::default()
    };
    let mut rows: Vec<(usize, usize, PairedRecord)> = Vec::new();
    for (c, s) in series.iter().enumerate() {
        let baseline = baseline(s, manifest);
        let used = baseline.used_w;
        pairing
            .baselines
            .insert((s.info.probe.clone(), s.info.channel.clone()), baseline.clone());
        for (g, (group, a)) in groups.iter().zip(align::attribute(s, &windows)).enumerate() {
            let count = f64::from(group.window.count);
            let duration_s = (group.window.end_ns - group.window.start_ns) as f64 * 1e-9;
            // A batch with a failed member is a gap: its window holds work that did not complete.
            let quality = if group.failed_members > 0 {
                EnergyQuality::Gap
            } else if s.info.estimated && a.quality == EnergyQuality::Ok {
                EnergyQuality::Estimated
            } else {
                a.quality
            };
            let usable = matches!(quality, EnergyQuality::Ok | EnergyQuality::Estimated);
            let window_j = a.window_j.filter(|_| usable);
            let gross = window_j.map(|j| j / count);
            *pairing.qualities.entry(quality).or_default() += 1;
            let first = group.first;
            let busy_share = group.busy_share();
            let flag = if unseen
                .get(s.info.probe.as_str())
                .is_some_and(|u| u.contains(&first.runtime))
            {
                Some(EnergyFlag::Unseen)
            } else if group.window.count > 1 && busy_share < MIN_BUSY_SHARE {
                Some(EnergyFlag::LowBusyShare)
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
                    scope: s.info.scope.clone(),
                    busy_share: Some(busy_share),
                    flag,
                },
            ));
        }
    }
    rows.sort_by_key(|(g, c, _)| (*g, *c));
    let path = dir.join(files::PAIRED);
    let mut writer = csv::Writer::from_path(&path).with_context(|| format!("creating {}", path.display()))?;
    for (_, _, row) in &rows {
        writer
            .serialize(row)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    writer.flush()?;
    pairing.rows = rows.len();
    Ok(pairing)
}

fn baseline(series: &ChannelSeries, manifest: &Manifest) -> Baseline {
    let span = |w: Option<[u64; 2]>| w.and_then(|[a, b]| align::mean_power(series, a, b));
    let (before_w, after_w) = (span(manifest.baseline_before_ns), span(manifest.baseline_after_ns));
    let used_w = match (before_w, after_w) {
        (Some(a), Some(b)) => Some((a + b) / 2.0),
        (a, b) => a.or(b),
    };
    Baseline {
        before_w,
        after_w,
        used_w,
    }
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

/// The manifest.json beside a samples file, when there is one.
fn sibling_manifest(samples: &Path) -> Option<Manifest> {
    let bytes = std::fs::read(samples.parent()?.join(files::MANIFEST)).ok()?;
    serde_json::from_slice(&bytes).ok()
}
