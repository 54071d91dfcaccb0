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
    /// Jetson INA3221 rails (JetPack 4 iio or 5/6 hwmon) and Thor's INA238 system input: `sysfs_root` (default `/`), `interval_ms` (default 10).
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

/// The longest polling interval (and serial timeout) a plan may ask for: one hour. Longer than any run's
/// baseline, and far below the point where milliseconds overflow the sampler's nanosecond period.
pub const MAX_INTERVAL_MS: f64 = 3_600_000.0;

fn check_millis(field: &'static str, ms: f64, max: f64) -> Result<(), (&'static str, String)> {
    if ms.is_finite() && ms > 0.0 && ms <= max {
        return Ok(());
    }
    Err((
        field,
        format!("field `{field}` is {ms}; use a number of milliseconds above 0 and at most {max}"),
    ))
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

    /// The polling interval the plan asked for, if any.
    pub fn interval_ms(&self) -> Option<f64> {
        match self {
            ProbeSpec::Rapl { interval_ms, .. }
            | ProbeSpec::Model { interval_ms, .. }
            | ProbeSpec::Replay { interval_ms, .. }
            | ProbeSpec::Jetson { interval_ms, .. }
            | ProbeSpec::Nvml { interval_ms, .. }
            | ProbeSpec::Auto { interval_ms, .. }
            | ProbeSpec::UsbMeter { interval_ms, .. } => *interval_ms,
        }
    }

    /// Checks the numeric options: each is a finite number in a range the sampler can use. `Err` holds the
    /// field's name and what is wrong, for the plan parser to place on its line. `interval_ms = inf` once gave
    /// an update period of 2^64-1 ns, and 0 or NaN a sampler that spun; both are refused here.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if let Some(ms) = self.interval_ms() {
            check_millis("interval_ms", ms, MAX_INTERVAL_MS)?;
        }
        match self {
            ProbeSpec::UsbMeter {
                timeout_ms: Some(ms), ..
            } => check_millis("timeout_ms", *ms, MAX_INTERVAL_MS),
            ProbeSpec::Replay { shift_ms: Some(ms), .. } if !ms.is_finite() => Err((
                "shift_ms",
                format!("field `shift_ms` is {ms}; use a finite number of milliseconds"),
            )),
            ProbeSpec::Model {
                idle_w,
                busy_w_per_core,
                tdp_w,
                ..
            } => [
                ("idle_w", idle_w),
                ("busy_w_per_core", busy_w_per_core),
                ("tdp_w", tdp_w),
            ]
            .into_iter()
            .try_for_each(|(field, value)| match value {
                Some(w) if !(w.is_finite() && *w >= 0.0) => Err((
                    field,
                    format!("field `{field}` is {w}; use a finite number of watts, 0 or more"),
                )),
                // The model charges work by its watts per busy core (a TDP spreads over the cores): at 0 every
                // invocation costs nothing and pairing finds no energy in its counter.
                Some(w) if *w == 0.0 && field != "idle_w" => Err((
                    field,
                    format!(
                        "field `{field}` is 0, under which the model charges no work and the run records no \
                         energy; use watts above 0 (`harness fit-model` fits them from a run with a sensor)"
                    ),
                )),
                _ => Ok(()),
            }),
            _ => Ok(()),
        }
    }

    /// Probes with a latency of their own (serial meters, NVML) are calibrated unless the plan says not to.
    pub fn has_own_delay(&self) -> bool {
        matches!(self, ProbeSpec::Nvml { .. } | ProbeSpec::UsbMeter { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rapl(interval_ms: f64) -> ProbeSpec {
        ProbeSpec::Rapl {
            name: None,
            sysfs_root: None,
            interval_ms: Some(interval_ms),
        }
    }

    /// Issue 11: 0, NaN, -1 and inf were accepted (inf gave an update period of 2^64-1 ns).
    #[test]
    fn intervals_that_cannot_be_polled_are_refused() {
        for bad in [0.0, f64::NAN, -1.0, f64::INFINITY, 1e300] {
            let (field, message) = rapl(bad).check().unwrap_err();
            assert_eq!(field, "interval_ms");
            assert!(message.contains("above 0"), "{message}");
        }
        assert!(rapl(0.5).check().is_ok());
        let nvml = ProbeSpec::Nvml {
            name: None,
            interval_ms: Some(f64::INFINITY),
        };
        assert!(nvml.check().is_err());
        let model = ProbeSpec::Model {
            name: None,
            idle_w: Some(f64::NAN),
            busy_w_per_core: None,
            tdp_w: None,
            interval_ms: None,
            scope: None,
            fitted: None,
        };
        assert_eq!(model.check().unwrap_err().0, "idle_w");
    }

    /// Issue 21: a model declaring 0 W per busy core (as a fit against a sensor that ignores the load once
    /// printed) recorded no energy.
    #[test]
    fn a_model_charging_no_watts_per_busy_core_is_refused() {
        let model = |idle_w, busy_w_per_core, tdp_w| ProbeSpec::Model {
            name: None,
            idle_w,
            busy_w_per_core,
            tdp_w,
            interval_ms: None,
            scope: None,
            fitted: None,
        };
        let (field, message) = model(Some(7.0), Some(0.0), None).check().unwrap_err();
        assert_eq!(field, "busy_w_per_core");
        assert!(message.contains("no energy"), "{message}");
        assert_eq!(model(None, None, Some(0.0)).check().unwrap_err().0, "tdp_w");
        assert!(
            model(Some(0.0), Some(11.0), None).check().is_ok(),
            "an idle of 0 W still charges work"
        );
    }
}
