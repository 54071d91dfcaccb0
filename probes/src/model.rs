//! `model`: energy *estimated* from the CPU time of the harness's process tree and a declared power curve, for
//! cloud VMs and machines with no sensor. Every value it produces is labelled estimated.
//!
//! E(t) = idle_w x (t - t0) + busy_w_per_core x (cpu(t) - cpu(t0)), with cpu the user + system time of the
//! harness and of the children it has waited for (spawned native workloads, node). Containers run under the
//! Docker daemon, outside this tree: their CPU time is not seen.

use crate::ProbeError;
use crate::source::{Reading, Source, TimedReading};
use harness_data::{ChannelInfo, SampleKind};

pub const KIND: &str = "model";

/// The declared power curve.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerCurve {
    pub idle_w: f64,
    pub busy_w_per_core: f64,
}

impl PowerCurve {
    /// Generic defaults when nothing is declared: a server-class core. Declare your machine's for a better
    /// estimate (a TDP, or measured idle and per-core figures).
    pub const DEFAULT: PowerCurve = PowerCurve {
        idle_w: 10.0,
        busy_w_per_core: 15.0,
    };

    /// From the plan's options: explicit figures win; a TDP spreads over the logical cores, with idle at 20%
    /// of it (the share typical of server parts at idle).
    pub fn from_options(
        idle_w: Option<f64>,
        busy_w_per_core: Option<f64>,
        tdp_w: Option<f64>,
        cores: usize,
    ) -> Result<PowerCurve, ProbeError> {
        let (idle, busy) = match tdp_w {
            Some(tdp) => (
                idle_w.unwrap_or(0.2 * tdp),
                busy_w_per_core.unwrap_or(tdp / cores.max(1) as f64),
            ),
            None => (
                idle_w.unwrap_or(Self::DEFAULT.idle_w),
                busy_w_per_core.unwrap_or(Self::DEFAULT.busy_w_per_core),
            ),
        };
        if !(idle >= 0.0 && busy >= 0.0 && idle.is_finite() && busy.is_finite()) {
            return Err(ProbeError::Option {
                probe: KIND,
                message: format!("power figures must be non-negative watts (idle_w {idle}, busy_w_per_core {busy})"),
            });
        }
        Ok(PowerCurve {
            idle_w: idle,
            busy_w_per_core: busy,
        })
    }
}

/// CPU time of the process tree, in nanoseconds.
pub trait CpuClock: Send {
    fn cpu_ns(&mut self) -> Option<u64>;
}

/// `getrusage(RUSAGE_SELF)` + `getrusage(RUSAGE_CHILDREN)`: microsecond resolution, children once reaped.
pub struct ProcessTreeCpu;

impl CpuClock for ProcessTreeCpu {
    fn cpu_ns(&mut self) -> Option<u64> {
        let mut total = 0u64;
        for who in [libc::RUSAGE_SELF, libc::RUSAGE_CHILDREN] {
            // SAFETY: getrusage writes the struct we own.
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            if unsafe { libc::getrusage(who, &mut usage) } != 0 {
                return None;
            }
            let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
            total += (us(usage.ru_utime) + us(usage.ru_stime)) * 1000;
        }
        Some(total)
    }
}

pub struct ModelSource {
    curve: PowerCurve,
    clock: Box<dyn CpuClock>,
    start: Option<(u64, u64)>,
    channels: Vec<ChannelInfo>,
}

impl ModelSource {
    pub fn new(curve: PowerCurve, interval_ms: f64, clock: Box<dyn CpuClock>) -> ModelSource {
        let channels = vec![ChannelInfo {
            probe: KIND.into(),
            channel: "cpu-estimate".into(),
            unit: "J".into(),
            kind: SampleKind::EnergyCounter,
            // CPU time has microsecond resolution.
            resolution: curve.busy_w_per_core * 1e-6,
            update_period_ns: (interval_ms.max(0.1) * 1e6) as u64,
            estimated: true,
            scope: "machine".into(),
        }];
        ModelSource {
            curve,
            clock,
            start: None,
            channels,
        }
    }
}

impl Source for ModelSource {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn channels(&self) -> &[ChannelInfo] {
        &self.channels
    }

    fn poll(&mut self, now_ns: u64, out: &mut Vec<TimedReading>) {
        let reading = match self.clock.cpu_ns() {
            Some(cpu) => {
                let (t0, cpu0) = *self.start.get_or_insert((now_ns, cpu));
                let joules = self.curve.idle_w * (now_ns - t0) as f64 * 1e-9
                    + self.curve.busy_w_per_core * cpu.saturating_sub(cpu0) as f64 * 1e-9;
                Reading::Value(joules)
            }
            None => Reading::Gap("getrusage failed".into()),
        };
        out.push(TimedReading {
            channel: 0,
            t_ns: now_ns,
            reading,
        });
    }

    fn notes(&self) -> Vec<String> {
        vec![format!(
            "ESTIMATED energy: idle {} W + {} W per busy core, from the CPU time of the harness and its reaped children (containers are not seen)",
            self.curve.idle_w, self.curve.busy_w_per_core
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct ScriptedCpu(Vec<u64>);

    impl CpuClock for ScriptedCpu {
        fn cpu_ns(&mut self) -> Option<u64> {
            if self.0.is_empty() {
                None
            } else {
                Some(self.0.remove(0))
            }
        }
    }

    #[test]
    fn integrates_idle_and_busy_power() {
        let curve = PowerCurve {
            idle_w: 10.0,
            busy_w_per_core: 20.0,
        };
        // One second in which half a core was busy, then a failed read.
        let mut source = ModelSource::new(curve, 10.0, Box::new(ScriptedCpu(vec![5_000_000_000, 5_500_000_000])));
        let mut out = Vec::new();
        source.poll(1_000_000_000, &mut out);
        source.poll(2_000_000_000, &mut out);
        source.poll(3_000_000_000, &mut out);
        assert_eq!(out[0].reading, Reading::Value(0.0));
        assert_eq!(out[1].reading, Reading::Value(10.0 + 10.0));
        assert!(matches!(out[2].reading, Reading::Gap(_)));
        assert!(source.channels()[0].estimated);
        assert!(source.notes()[0].starts_with("ESTIMATED"));
    }

    #[test]
    fn curves_from_options() {
        assert_eq!(
            PowerCurve::from_options(None, None, None, 4).unwrap(),
            PowerCurve::DEFAULT
        );
        assert_eq!(
            PowerCurve::from_options(None, None, Some(100.0), 4).unwrap(),
            PowerCurve {
                idle_w: 20.0,
                busy_w_per_core: 25.0
            }
        );
        assert_eq!(
            PowerCurve::from_options(Some(5.0), Some(7.0), Some(100.0), 4).unwrap(),
            PowerCurve {
                idle_w: 5.0,
                busy_w_per_core: 7.0
            }
        );
        assert!(PowerCurve::from_options(Some(-1.0), None, None, 4).is_err());
    }

    #[test]
    fn the_real_clock_advances_with_work() {
        let mut clock = ProcessTreeCpu;
        let a = clock.cpu_ns().unwrap();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(clock.cpu_ns().unwrap() > a);
    }
}
