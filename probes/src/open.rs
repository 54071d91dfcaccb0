//! The probe factory: opens the probes a plan names, names them, and reports what this machine has
//! (`harness probes`).

use crate::jetson::JetsonSource;
use crate::model::{ContainerLedger, ModelScope, ModelSource, PowerCurve};
use crate::nvml::{Nvml, NvmlSource};
use crate::rapl::{self, RaplOptions};
use crate::replay::ReplaySource;
use crate::sampler::ProbeRun;
use crate::spec::ProbeSpec;
use crate::usbmeter::{self, UsbMeterOptions};
use crate::{Discovery, ProbeError, Source};
use harness_data::{ChannelInfo, ProbeManifest};
use std::collections::BTreeMap;
use std::path::Path;

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
    ledger: &ContainerLedger,
) -> Result<Box<dyn Source>, ProbeError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let curve = PowerCurve::from_options(idle_w, busy_w_per_core, tdp_w, cores)?;
    Ok(Box::new(ModelSource::open(
        curve,
        interval_ms,
        scope,
        Path::new("/"),
        ledger,
    )?))
}

/// Opens every probe a plan names and gives each its name: the plan's, or its kind, then `kind-2`, ... so two
/// probes of one kind never merge. A harness-scoped model counts the containers `ledger` names.
pub fn open_probes(specs: &[ProbeSpec], ledger: &ContainerLedger) -> Result<Vec<OpenProbe>, ProbeError> {
    let mut opened: Vec<OpenProbe> = Vec::new();
    for spec in specs {
        let mut probe = open_probe(spec, ledger)?;
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
    fn poll(&mut self, now_ns: u64, out: &mut Vec<crate::TimedReading>) {
        self.inner.poll(now_ns, out);
    }
    fn notes(&self) -> Vec<String> {
        self.inner.notes()
    }
    fn unseen_runtimes(&self) -> Vec<String> {
        self.inner.unseen_runtimes()
    }
}

/// Opens one probe a plan names. Errors say why it cannot start (and how to fix it).
pub fn open_probe(spec: &ProbeSpec, ledger: &ContainerLedger) -> Result<OpenProbe, ProbeError> {
    let (source, interval_ms, note) = open_source(spec, ledger)?;
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

/// An opened source, its poll interval in ms, and a note for the manifest.
type Opened = (Box<dyn Source>, f64, Option<String>);

fn open_source(spec: &ProbeSpec, ledger: &ContainerLedger) -> Result<Opened, ProbeError> {
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
                    ledger,
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
        } => return open_auto(sysfs_root.as_deref(), *interval_ms),
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
    Ok((source, interval_ms, note))
}

/// RAPL when readable, else Jetson rails, else the model (machine scope), with a note saying which.
fn open_auto(sysfs_root: Option<&Path>, interval_ms: Option<f64>) -> Result<Opened, ProbeError> {
    let root = sysfs_root.map_or_else(|| "/".into(), Path::to_path_buf);
    let options = RaplOptions {
        sysfs_root: root.clone(),
        interval_ms: interval_ms.unwrap_or(1.0),
    };
    let rapl_missing = match rapl::open(&options) {
        Ok(source) => return Ok((source, options.interval_ms, None)),
        Err(e) => e,
    };
    if let Ok(source) = JetsonSource::open(&root, 10.0) {
        return Ok((Box::new(source), 10.0, None));
    }
    let note = format!("auto: no RAPL ({rapl_missing}) and no Jetson rails; energy is ESTIMATED by the model");
    let ledger = ContainerLedger::default(); // machine scope: it sees every container anyway
    Ok((
        model(None, None, None, 10.0, ModelScope::Machine, &ledger)?,
        10.0,
        Some(note),
    ))
}

/// Every probe kind and what this machine has of it, for `harness probes`.
pub fn discover_all(sysfs_root: &Path) -> Vec<Discovery> {
    discover_all_on(sysfs_root, std::env::consts::ARCH)
}

/// [`discover_all`] as it would answer on a CPU of architecture `arch` (only RAPL depends on it).
pub fn discover_all_on(sysfs_root: &Path, arch: &str) -> Vec<Discovery> {
    // The model reads the real machine's CPU time, whatever sysfs root the sensors are looked for under.
    let ledger = ContainerLedger::default();
    let model = ModelSource::open(PowerCurve::DEFAULT, 10.0, ModelScope::Machine, Path::new("/"), &ledger);
    let (model_channels, model_missing) = match &model {
        Ok(m) => (m.channels().to_vec(), None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    vec![
        rapl::discover_on(sysfs_root, arch),
        crate::jetson::discover(sysfs_root),
        crate::nvml::discover(),
        Discovery {
            kind: crate::model::KIND,
            channels: model_channels,
            missing: model_missing,
            notes: vec![
                "its energy is ESTIMATED from the machine's CPU time and a declared or fitted power curve".into(),
                "`scope = \"harness\"` counts only the harness, its descendants and its containers".into(),
            ],
        },
        usbmeter::discover(sysfs_root),
        Discovery {
            kind: crate::replay::KIND,
            channels: Vec::new(),
            missing: Some("replays a recorded samples.csv: name it with `path = ...` in the plan".into()),
            notes: Vec::new(),
        },
    ]
}
