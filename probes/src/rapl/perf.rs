//! RAPL through the `power` perf PMU (`/sys/bus/event_source/devices/power`), for machines where powercap is
//! not readable but perf is (CAP_PERFMON, or a permissive `perf_event_paranoid`). The kernel extends these
//! counters to 64 bits, so they do not wrap.

use super::{KIND, read_text};
use crate::{ProbeError, Reading, Source, TimedReading};
use harness_data::{ChannelInfo, SampleKind};
use std::path::Path;

/// One energy event of the PMU, as discovered.
#[derive(Debug, Clone, PartialEq)]
pub struct PerfEvent {
    pub pmu_type: u32,
    /// `config` value from `events/energy-*` (`event=0x02`).
    pub config: u64,
    /// Joules per count (`events/energy-*.scale`, 2^-32 J).
    pub scale: f64,
    /// The CPU the event is opened on (first CPU of each socket, from `cpumask`).
    pub cpu: i32,
    pub channel: String,
}

impl PerfEvent {
    pub fn channel_info(&self, interval_ms: f64) -> ChannelInfo {
        ChannelInfo {
            probe: KIND.into(),
            channel: self.channel.clone(),
            unit: harness_data::Unit::Microjoule,
            kind: SampleKind::EnergyCounter,
            resolution: self.scale * 1e6,
            update_period_ns: (interval_ms.max(1.0) * 1e6) as u64,
            estimated: false,
            scope: harness_data::Scope::Machine,
        }
    }
}

fn parse_config(text: &str) -> Option<u64> {
    let value = text.split(',').find_map(|kv| kv.trim().strip_prefix("event="))?;
    u64::from_str_radix(value.trim_start_matches("0x"), 16).ok()
}

/// `0,36` or `0-1` -> first CPUs of each socket.
fn parse_cpumask(text: &str) -> Vec<i32> {
    text.split(',')
        .filter_map(|part| part.split('-').next()?.trim().parse().ok())
        .collect()
}

/// Lists the energy events of the `power` PMU under `root`.
pub fn discover_perf(root: &Path) -> Result<Vec<PerfEvent>, ProbeError> {
    let pmu = root.join("sys/bus/event_source/devices/power");
    let pmu_type: u32 = read_text(&pmu.join("type"))?
        .parse()
        .map_err(|_| ProbeError::Malformed {
            probe: KIND,
            path: pmu.join("type"),
            message: "not a number".into(),
        })?;
    let cpus = parse_cpumask(&read_text(&pmu.join("cpumask")).unwrap_or_else(|_| "0".into()));
    let mut events = Vec::new();
    for (event, suffix) in [
        ("energy-pkg", ""),
        ("energy-cores", "/core"),
        ("energy-gpu", "/uncore"),
        ("energy-ram", "/dram"),
    ] {
        let Ok(config_text) = read_text(&pmu.join("events").join(event)) else {
            continue;
        };
        let Some(config) = parse_config(&config_text) else {
            continue;
        };
        let scale = read_text(&pmu.join("events").join(format!("{event}.scale")))
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(2f64.powi(-32));
        for (socket, &cpu) in cpus.iter().enumerate() {
            events.push(PerfEvent {
                pmu_type,
                config,
                scale,
                cpu,
                channel: format!("package-{socket}{suffix}"),
            });
        }
    }
    if let Ok(config_text) = read_text(&pmu.join("events/energy-psys"))
        && let Some(config) = parse_config(&config_text)
    {
        let scale = read_text(&pmu.join("events/energy-psys.scale"))
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(2f64.powi(-32));
        events.push(PerfEvent {
            pmu_type,
            config,
            scale,
            cpu: cpus.first().copied().unwrap_or(0),
            channel: "psys".into(),
        });
    }
    Ok(events)
}

/// The part of `struct perf_event_attr` we set; the kernel accepts a shorter struct when `size` says so
/// (PERF_ATTR_SIZE_VER0 = 64 bytes).
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    type_: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
}

struct OpenEvent {
    fd: i32,
    scale: f64,
}

pub struct PerfSource {
    events: Vec<OpenEvent>,
    channels: Vec<ChannelInfo>,
    notes: Vec<String>,
}

impl PerfSource {
    pub fn open(events: Vec<PerfEvent>, powercap_error: &ProbeError) -> Result<PerfSource, ProbeError> {
        let mut open = Vec::new();
        for event in &events {
            let mut attr = PerfEventAttr {
                type_: event.pmu_type,
                size: 64,
                config: event.config,
                ..Default::default()
            };
            // SAFETY: perf_event_open reads `size` bytes of attr, which we own and which are fully initialized.
            let fd = unsafe {
                libc::syscall(
                    libc::SYS_perf_event_open,
                    &mut attr as *mut PerfEventAttr,
                    -1i32,
                    event.cpu,
                    -1i32,
                    0u64,
                )
            };
            if fd < 0 {
                let err = std::io::Error::last_os_error();
                for e in &open {
                    let OpenEvent { fd, .. } = e;
                    // SAFETY: closing descriptors we opened.
                    unsafe { libc::close(*fd) };
                }
                return Err(ProbeError::Unavailable {
                    probe: KIND,
                    reason: format!(
                        "perf_event_open({}) failed: {err}; it needs CAP_PERFMON or kernel.perf_event_paranoid <= 0",
                        event.channel
                    ),
                });
            }
            open.push(OpenEvent {
                fd: fd as i32,
                scale: event.scale,
            });
        }
        Ok(PerfSource {
            events: open,
            channels: events.iter().map(|e| e.channel_info(1.0)).collect(),
            notes: vec![format!("interface: perf_event (powercap unusable: {powercap_error})")],
        })
    }
}

impl Drop for PerfSource {
    fn drop(&mut self) {
        for e in &self.events {
            // SAFETY: closing descriptors this source owns.
            unsafe { libc::close(e.fd) };
        }
    }
}

impl Source for PerfSource {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn channels(&self) -> &[ChannelInfo] {
        &self.channels
    }

    fn poll(&mut self, now_ns: u64, out: &mut Vec<TimedReading>) {
        for (channel, e) in self.events.iter().enumerate() {
            let mut count = 0u64;
            // SAFETY: reading 8 bytes into a u64 we own from a descriptor we own.
            let n = unsafe { libc::read(e.fd, &mut count as *mut u64 as *mut libc::c_void, 8) };
            let reading = if n == 8 {
                Reading::Value(count as f64 * e.scale * 1e6)
            } else {
                Reading::Gap(format!("perf read returned {n}: {}", std::io::Error::last_os_error()))
            };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_power_pmu_tree() {
        let dir = tempfile::tempdir().unwrap();
        let pmu = dir.path().join("sys/bus/event_source/devices/power");
        std::fs::create_dir_all(pmu.join("events")).unwrap();
        std::fs::write(pmu.join("type"), "23\n").unwrap();
        std::fs::write(pmu.join("cpumask"), "0,36\n").unwrap();
        std::fs::write(pmu.join("events/energy-pkg"), "event=0x02\n").unwrap();
        std::fs::write(pmu.join("events/energy-pkg.scale"), "2.3283064365386962890625e-10\n").unwrap();
        std::fs::write(pmu.join("events/energy-pkg.unit"), "Joules\n").unwrap();
        std::fs::write(pmu.join("events/energy-psys"), "event=0x05\n").unwrap();
        let events = discover_perf(dir.path()).unwrap();
        let channels: Vec<&str> = events.iter().map(|e| e.channel.as_str()).collect();
        assert_eq!(channels, ["package-0", "package-1", "psys"]);
        assert_eq!((events[0].pmu_type, events[0].config, events[1].cpu), (23, 2, 36));
        assert!((events[0].scale - 2f64.powi(-32)).abs() < 1e-20);
        assert_eq!(parse_cpumask("0-3"), vec![0]);
    }
}
