//! `nvml`: NVIDIA GPU energy through NVML (`libnvidia-ml.so.1`, loaded at run time by `nvml-wrapper`, so the
//! harness builds and runs where there is no GPU: the probe then says "not available").
//!
//! Per GPU: the total energy counter (mJ since the driver loaded; Volta and newer; refreshed every 20-100 ms)
//! where supported, else the power reading (mW; on Ampere and newer, except GA100, a one-second average),
//! integrated by the alignment code. NVML sits behind [`GpuBackend`], so the logic is tested without a GPU.

use crate::source::{Reading, Source, TimedReading};
use crate::{Discovery, ProbeError};
use harness_data::{ChannelInfo, SampleKind, Unit};

pub const KIND: &str = "nvml";

/// The few NVML calls the probe needs.
pub trait GpuBackend: Send {
    fn device_count(&self) -> Result<u32, String>;
    fn name(&self, index: u32) -> Result<String, String>;
    /// Millijoules since the driver loaded; an error where the GPU does not support it (before Volta).
    fn total_energy_mj(&self, index: u32) -> Result<u64, String>;
    fn power_mw(&self, index: u32) -> Result<u32, String>;
}

/// The real backend.
pub struct Nvml(nvml_wrapper::Nvml);

impl Nvml {
    /// Loads the library; the error says what is missing.
    pub fn init() -> Result<Nvml, ProbeError> {
        nvml_wrapper::Nvml::init().map(Nvml).map_err(|e| ProbeError::Unavailable {
            probe: KIND,
            reason: format!("NVML could not be loaded ({e}): no NVIDIA GPU, or no driver (libnvidia-ml.so.1 comes with the NVIDIA driver)"),
        })
    }
}

impl GpuBackend for Nvml {
    fn device_count(&self) -> Result<u32, String> {
        self.0.device_count().map_err(|e| e.to_string())
    }
    fn name(&self, index: u32) -> Result<String, String> {
        self.0
            .device_by_index(index)
            .and_then(|d| d.name())
            .map_err(|e| e.to_string())
    }
    fn total_energy_mj(&self, index: u32) -> Result<u64, String> {
        self.0
            .device_by_index(index)
            .and_then(|d| d.total_energy_consumption())
            .map_err(|e| e.to_string())
    }
    fn power_mw(&self, index: u32) -> Result<u32, String> {
        self.0
            .device_by_index(index)
            .and_then(|d| d.power_usage())
            .map_err(|e| e.to_string())
    }
}

/// How one GPU is read.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Reads {
    Energy,
    Power,
}

pub struct NvmlSource {
    backend: Box<dyn GpuBackend>,
    gpus: Vec<(u32, Reads)>,
    channels: Vec<ChannelInfo>,
    notes: Vec<String>,
}

impl NvmlSource {
    /// Probes each GPU once to choose energy counter or power.
    pub fn open(backend: Box<dyn GpuBackend>, interval_ms: f64) -> Result<NvmlSource, ProbeError> {
        let count = backend.device_count().map_err(|e| ProbeError::Unavailable {
            probe: KIND,
            reason: format!("NVML device count failed: {e}"),
        })?;
        if count == 0 {
            return Err(ProbeError::Unavailable {
                probe: KIND,
                reason: "NVML reports no GPU".into(),
            });
        }
        let (mut gpus, mut channels, mut notes) = (Vec::new(), Vec::new(), Vec::new());
        for index in 0..count {
            let name = backend.name(index).unwrap_or_else(|e| format!("unknown ({e})"));
            let (reads, info) = match backend.total_energy_mj(index) {
                Ok(_) => {
                    notes.push(format!("gpu{index} ({name}): total energy counter (mJ)"));
                    // The counter refreshes every 20-100 ms whatever the poll interval.
                    let period = (interval_ms * 1e6).max(100e6) as u64;
                    (
                        Reads::Energy,
                        channel(index, Unit::Millijoule, SampleKind::EnergyCounter, period),
                    )
                }
                Err(why) => {
                    notes.push(format!("gpu{index} ({name}): no energy counter ({why}); power readings (mW), a 1 s average on Ampere and newer"));
                    (
                        Reads::Power,
                        channel(
                            index,
                            Unit::Milliwatt,
                            SampleKind::Power,
                            (interval_ms * 1e6).max(1e9) as u64,
                        ),
                    )
                }
            };
            gpus.push((index, reads));
            channels.push(info);
        }
        Ok(NvmlSource {
            backend,
            gpus,
            channels,
            notes,
        })
    }
}

fn channel(index: u32, unit: Unit, kind: SampleKind, update_period_ns: u64) -> ChannelInfo {
    ChannelInfo {
        probe: KIND.into(),
        channel: format!("gpu{index}"),
        unit,
        kind,
        resolution: 1.0,
        update_period_ns,
        estimated: false,
        scope: harness_data::Scope::Gpu,
    }
}

impl Source for NvmlSource {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn channels(&self) -> &[ChannelInfo] {
        &self.channels
    }

    fn poll(&mut self, now_ns: u64, out: &mut Vec<TimedReading>) {
        for (channel, &(index, reads)) in self.gpus.iter().enumerate() {
            let reading = match reads {
                Reads::Energy => self.backend.total_energy_mj(index).map(|mj| mj as f64),
                Reads::Power => self.backend.power_mw(index).map(f64::from),
            };
            let reading = reading.map_or_else(|e| Reading::Gap(format!("gpu{index}: {e}")), Reading::Value);
            out.push(TimedReading {
                channel,
                t_ns: now_ns,
                reading,
            });
        }
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}

/// What `harness probes` shows: "not available" with the reason where NVML cannot load.
pub fn discover() -> Discovery {
    match Nvml::init().and_then(|nvml| NvmlSource::open(Box::new(nvml), 100.0)) {
        Ok(source) => Discovery {
            kind: KIND,
            channels: source.channels.clone(),
            missing: None,
            notes: source.notes.clone(),
        },
        Err(ProbeError::Unavailable { reason, .. }) => Discovery {
            kind: KIND,
            channels: Vec::new(),
            missing: Some(reason),
            notes: Vec::new(),
        },
        Err(other) => Discovery {
            kind: KIND,
            channels: Vec::new(),
            missing: Some(other.to_string()),
            notes: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Two GPUs: a Volta-or-newer one with an energy counter, and an older one with power only.
    struct FakeGpus {
        energy: Arc<AtomicU64>,
        fail_next: Arc<AtomicU64>,
    }

    impl GpuBackend for FakeGpus {
        fn device_count(&self) -> Result<u32, String> {
            Ok(2)
        }
        fn name(&self, index: u32) -> Result<String, String> {
            Ok(["NVIDIA H100", "Tesla P4"][index as usize].to_string())
        }
        fn total_energy_mj(&self, index: u32) -> Result<u64, String> {
            if index == 1 {
                return Err("Not Supported".into());
            }
            if self.fail_next.swap(0, Ordering::SeqCst) == 1 {
                return Err("GPU is lost".into());
            }
            Ok(self.energy.load(Ordering::SeqCst))
        }
        fn power_mw(&self, _: u32) -> Result<u32, String> {
            Ok(42_000)
        }
    }

    #[test]
    fn counter_where_supported_power_elsewhere_and_errors_are_gaps() {
        let energy = Arc::new(AtomicU64::new(1_000));
        let fail_next = Arc::new(AtomicU64::new(0));
        let backend = FakeGpus {
            energy: Arc::clone(&energy),
            fail_next: Arc::clone(&fail_next),
        };
        let mut source = NvmlSource::open(Box::new(backend), 50.0).unwrap();
        assert_eq!(source.channels()[0].kind, SampleKind::EnergyCounter);
        assert_eq!(source.channels()[0].unit, "mJ");
        assert_eq!(source.channels()[0].update_period_ns, 100_000_000);
        assert_eq!(source.channels()[1].kind, SampleKind::Power);
        assert!(source.notes()[1].contains("Tesla P4") && source.notes()[1].contains("Not Supported"));
        let mut out = Vec::new();
        source.poll(5, &mut out);
        energy.store(1_250, Ordering::SeqCst);
        fail_next.store(1, Ordering::SeqCst);
        source.poll(6, &mut out);
        source.poll(7, &mut out);
        let values: Vec<&Reading> = out.iter().filter(|r| r.channel == 0).map(|r| &r.reading).collect();
        assert_eq!(values[0], &Reading::Value(1000.0));
        assert!(matches!(values[1], Reading::Gap(why) if why.contains("lost")));
        assert_eq!(values[2], &Reading::Value(1250.0));
        assert!(
            out.iter()
                .filter(|r| r.channel == 1)
                .all(|r| r.reading == Reading::Value(42_000.0))
        );
    }

    #[test]
    fn without_the_library_it_is_not_available() {
        // On machines without the NVIDIA driver (CI, this VM) NVML cannot load; with one, it lists GPUs.
        let found = discover();
        match found.missing {
            Some(reason) => assert!(reason.contains("NVML") || reason.contains("GPU"), "{reason}"),
            None => assert!(!found.channels.is_empty()),
        }
    }
}
