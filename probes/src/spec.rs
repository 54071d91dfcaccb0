//! What a plan says of a probe (`[[probes]]` tables): the kind and its options. [`crate::open`] opens them.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// An energy probe a plan names, with its options (`[[probes]]` tables).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ProbeSpec {
    /// RAPL through powercap (or the perf PMU): `sysfs_root` (default `/`), `interval_ms` (default 1).
    Rapl {
        /// The probe's name in the run (default: its kind, then `kind-2`, ...).
        name: Option<String>,
        sysfs_root: Option<PathBuf>,
        interval_ms: Option<f64>,
    },
    /// Estimated energy from CPU time: `idle_w`, `busy_w_per_core`, or `tdp_w`; `interval_ms` (default 10);
    /// `fitted` (`HOST from RUN`, as `harness fit-model` prints it) says where the figures were fitted.
    Model {
        /// The probe's name in the run (default: its kind, then `kind-2`, ...).
        name: Option<String>,
        idle_w: Option<f64>,
        busy_w_per_core: Option<f64>,
        tdp_w: Option<f64>,
        interval_ms: Option<f64>,
        /// Whose CPU time counts: `machine` (default, as a package sensor sees it) or `harness`.
        scope: Option<crate::model::ModelScope>,
        fitted: Option<String>,
    },
    /// A recorded samples.csv played onto the run: `path`, `align` (`start` or `absolute`), `shift_ms`.
    Replay {
        /// The probe's name in the run (default: its kind, then `kind-2`, ...).
        name: Option<String>,
        path: PathBuf,
        align: Option<crate::replay::Align>,
        shift_ms: Option<f64>,
        interval_ms: Option<f64>,
    },
    /// Jetson INA3221 rails (JetPack 4 iio or 5/6 hwmon): `sysfs_root` (default `/`), `interval_ms` (default 10).
    Jetson {
        /// The probe's name in the run (default: its kind, then `kind-2`, ...).
        name: Option<String>,
        sysfs_root: Option<PathBuf>,
        interval_ms: Option<f64>,
    },
    /// NVIDIA GPUs through NVML: `interval_ms` (default 100).
    Nvml {
        /// The probe's name in the run (default: its kind, then `kind-2`, ...).
        name: Option<String>,
        interval_ms: Option<f64>,
    },
    /// RAPL when readable, else Jetson rails, else the model: energy on any machine.
    Auto {
        /// The probe's name in the run (default: its kind, then `kind-2`, ...).
        name: Option<String>,
        sysfs_root: Option<PathBuf>,
        interval_ms: Option<f64>,
    },
    /// A USB power meter on a serial port: `port`, `model` (`um24c`, `um25c`, `um34c`, `tc66c` or `auto`, the
    /// default), `baud`, `interval_ms` (default 100, at least 50), `timeout_ms` (default 500).
    UsbMeter {
        /// The probe's name in the run (default: its kind, then `kind-2`, ...).
        name: Option<String>,
        model: Option<String>,
        port: PathBuf,
        baud: Option<u32>,
        interval_ms: Option<f64>,
        timeout_ms: Option<f64>,
    },
}

impl ProbeSpec {
    /// The name the plan gave the probe, if any.
    pub fn name(&self) -> Option<&str> {
        match self {
            ProbeSpec::Rapl { name, .. }
            | ProbeSpec::Model { name, .. }
            | ProbeSpec::Replay { name, .. }
            | ProbeSpec::Jetson { name, .. }
            | ProbeSpec::Nvml { name, .. }
            | ProbeSpec::Auto { name, .. }
            | ProbeSpec::UsbMeter { name, .. } => name.as_deref(),
        }
    }

    /// Probes with a latency of their own (serial meters, NVML) are calibrated unless the plan says not to.
    pub fn has_own_delay(&self) -> bool {
        matches!(self, ProbeSpec::Nvml { .. } | ProbeSpec::UsbMeter { .. })
    }
}
