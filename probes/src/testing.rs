//! Fake sensor trees for tests and benchmarks, laid out exactly as the kernel lays them out, so the real
//! parsing code runs against them (as alumet's tests do).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// A powercap tree: zones under `sys/devices/virtual/powercap/intel-rapl/`, subzones nested in their parent,
/// and `sys/class/powercap/<zone>` symlinks to them, as on a real kernel.
pub struct FakePowercap {
    dir: tempfile::TempDir,
}

impl Default for FakePowercap {
    fn default() -> Self {
        Self::new()
    }
}

impl FakePowercap {
    pub fn new() -> FakePowercap {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::create_dir_all(dir.path().join("sys/class/powercap")).expect("class dir");
        FakePowercap { dir }
    }

    /// The sysfs root to give the probe.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    fn zone_dir(&self, id: &str) -> PathBuf {
        let control = if id.starts_with("intel-rapl-mmio") {
            "intel-rapl-mmio"
        } else {
            "intel-rapl"
        };
        let mut dir = self.root().join("sys/devices/virtual/powercap").join(control);
        // intel-rapl:0:1 lives inside intel-rapl:0.
        let parts: Vec<&str> = id.split(':').collect();
        if parts.len() == 3 {
            dir.push(format!("{}:{}", parts[0], parts[1]));
        }
        dir.join(id)
    }

    /// Adds a zone with its `name`, `max_energy_range_uj` and starting `energy_uj`.
    pub fn zone(&self, id: &str, name: &str, max_energy_range_uj: u64, energy_uj: u64) {
        let dir = self.zone_dir(id);
        std::fs::create_dir_all(&dir).expect("zone dir");
        std::fs::write(dir.join("name"), format!("{name}\n")).expect("name");
        std::fs::write(dir.join("max_energy_range_uj"), format!("{max_energy_range_uj}\n")).expect("range");
        std::fs::write(dir.join("enabled"), "1\n").expect("enabled");
        self.set(id, energy_uj);
        std::os::unix::fs::symlink(&dir, self.root().join("sys/class/powercap").join(id)).expect("class symlink");
    }

    /// Sets `energy_uj`, in place, fixed width: the probe keeps the file open and re-reads it.
    pub fn set(&self, id: &str, energy_uj: u64) {
        write_counter(&self.energy_file(id), energy_uj);
    }

    /// Writes arbitrary text into `energy_uj` (garbage, an empty file).
    pub fn write_raw(&self, id: &str, text: &str) {
        std::fs::write(self.zone_dir(id).join("energy_uj"), text).expect("energy_uj");
    }

    pub fn make_unreadable(&self, id: &str) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            self.zone_dir(id).join("energy_uj"),
            std::fs::Permissions::from_mode(0o200),
        )
        .expect("chmod");
    }

    fn energy_file(&self, id: &str) -> PathBuf {
        self.zone_dir(id).join("energy_uj")
    }

    /// Advances `id`'s counter as a zone drawing `watts` would, on CLOCK_MONOTONIC, updating it every
    /// `period_us` (real RAPL: about 1000) and wrapping at its `max_energy_range_uj`, until the returned
    /// guard is dropped.
    pub fn drive(&self, id: &str, watts: f64, period_us: u64) -> CounterDriver {
        self.drive_wave(id, PowerWave::constant(watts), period_us)
    }

    /// As [`FakePowercap::drive`], with a power that follows `wave`: the counter holds the wave's exact
    /// integral since the driver started, so a test knows the true energy of any span
    /// ([`CounterDriver::true_energy_j`]).
    pub fn drive_wave(&self, id: &str, wave: PowerWave, period_us: u64) -> CounterDriver {
        let path = self.energy_file(id);
        let max: u64 = std::fs::read_to_string(self.zone_dir(id).join("max_energy_range_uj"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(u64::MAX);
        let start: u64 = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let t0 = crate::clock::monotonic_ns();
        let thread = std::thread::spawn(move || {
            // Hardware counts whether or not the machine is busy: a starved driver would be a stalled counter.
            // A real-time slot where the process may take one (it sleeps between updates).
            let param = libc::sched_param { sched_priority: 20 };
            // SAFETY: pid 0 is the calling thread; `param` lives across the call. Failure leaves it as it was.
            unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
            let file = OpenOptions::new().write(true).open(&path).expect("energy_uj");
            while !stopping.load(Ordering::Relaxed) {
                let elapsed_ns = crate::clock::monotonic_ns() - t0;
                let total = start + (wave.energy_j(elapsed_ns) * 1e6) as u64;
                let value = if max == 0 || max == u64::MAX {
                    total
                } else {
                    // The kernel's counter runs modulo its range: it reaches max and reads 0.
                    total % max
                };
                write_at(&file, value);
                std::thread::sleep(std::time::Duration::from_micros(period_us));
            }
        });
        CounterDriver {
            stop,
            thread: Some(thread),
            t0,
            wave,
        }
    }
}

/// A power known at every instant of CLOCK_MONOTONIC: `low_w` and `high_w` alternating every `half_period_ns`
/// from the driver's start (equal for a constant power).
#[derive(Debug, Clone, Copy)]
pub struct PowerWave {
    pub low_w: f64,
    pub high_w: f64,
    pub half_period_ns: u64,
}

impl PowerWave {
    pub fn constant(watts: f64) -> PowerWave {
        PowerWave {
            low_w: watts,
            high_w: watts,
            half_period_ns: 1_000_000_000,
        }
    }

    /// The exact energy from 0 to `t_ns`, in joules.
    pub fn energy_j(&self, t_ns: u64) -> f64 {
        let half = self.half_period_ns.max(1);
        let period_j = (self.low_w + self.high_w) * half as f64 * 1e-9;
        let periods = t_ns / (2 * half);
        let rest = t_ns % (2 * half);
        let partial = if rest <= half {
            self.low_w * rest as f64 * 1e-9
        } else {
            self.low_w * half as f64 * 1e-9 + self.high_w * (rest - half) as f64 * 1e-9
        };
        periods as f64 * period_j + partial
    }
}

/// Stops a [`FakePowercap::drive`] thread when dropped.
pub struct CounterDriver {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    t0: u64,
    wave: PowerWave,
}

impl CounterDriver {
    /// The true energy the zone drew between two instants of CLOCK_MONOTONIC (the run's clock), in joules.
    pub fn true_energy_j(&self, start_ns: u64, end_ns: u64) -> f64 {
        let at = |t: u64| self.wave.energy_j(t.saturating_sub(self.t0));
        at(end_ns) - at(start_ns)
    }
}

impl Drop for CounterDriver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn write_counter(path: &Path, value: u64) {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .expect("energy_uj");
    file.set_len(0).expect("truncate");
    write_at(&file, value);
}

/// One fixed-width `pwrite` (20 digits and a newline), so a concurrent reader sees a whole number.
fn write_at(file: &File, value: u64) {
    let text = format!("{value:020}\n");
    file.write_all_at(text.as_bytes(), 0).expect("pwrite");
}

/// Jetson power-monitor trees: INA3221 rails as JetPack 4 (iio) and JetPack 5 and later (hwmon) lay them out,
/// and the INA238 of Jetson Thor's carrier as the mainline `ina238` hwmon driver does.
pub struct FakeJetson {
    dir: tempfile::TempDir,
}

impl Default for FakeJetson {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeJetson {
    /// An empty tree: add monitors to it.
    pub fn new() -> FakeJetson {
        FakeJetson {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    fn hwmon(&self, device: &str) -> PathBuf {
        self.root()
            .join("sys/bus/i2c/drivers/ina3221")
            .join(device)
            .join("hwmon/hwmon3")
    }

    /// A JetPack 5/6 monitor: rails 1..=3 with label, mV and mA.
    pub fn add_hwmon(&self, device: &str, rails: &[(&str, u32, u32)]) {
        let dir = self.hwmon(device);
        std::fs::create_dir_all(&dir).expect("hwmon dir");
        std::fs::write(dir.join("name"), "ina3221\n").unwrap();
        std::fs::write(dir.join("update_interval"), "1\n").unwrap();
        std::fs::write(dir.join("samples"), "4\n").unwrap();
        // in7 is the sum of shunt voltages: present on real boards, never a rail.
        std::fs::write(dir.join("in7_input"), "12\n").unwrap();
        for (k, (label, mv, ma)) in rails.iter().enumerate() {
            let k = k + 1;
            std::fs::write(dir.join(format!("in{k}_label")), format!("{label}\n")).unwrap();
            std::fs::write(dir.join(format!("in{k}_input")), format!("{mv}\n")).unwrap();
            std::fs::write(dir.join(format!("curr{k}_input")), format!("{ma}\n")).unwrap();
        }
    }

    /// Overwrites `in{k}_input` (`kind = "in"`) or `curr{k}_input` (`kind = "curr"`) of a hwmon monitor.
    pub fn write(&self, device: &str, k: u32, kind: &str, text: &str) {
        std::fs::write(self.hwmon(device).join(format!("{kind}{k}_input")), text).expect("rail file");
    }

    /// Orin NX / Orin Nano / Xavier NX, JetPack 5: VDD_IN, VDD_CPU_GPU_CV, VDD_SOC on 1-0040.
    pub fn orin_nx() -> FakeJetson {
        let fake = FakeJetson::new();
        fake.add_hwmon(
            "1-0040",
            &[
                ("VDD_IN", 5080, 1234),
                ("VDD_CPU_GPU_CV", 5080, 500),
                ("VDD_SOC", 5080, 300),
            ],
        );
        fake
    }

    /// AGX Orin, JetPack 6: two monitors, an NC rail, and no total-input rail.
    pub fn agx_orin() -> FakeJetson {
        let fake = FakeJetson::new();
        fake.add_hwmon(
            "1-0040",
            &[
                ("VDD_GPU_SOC", 19_000, 800),
                ("VDD_CPU_CV", 19_000, 400),
                ("VIN_SYS_5V0", 5_000, 600),
            ],
        );
        fake.add_hwmon("1-0041", &[("NC", 0, 0), ("VDDQ_VDD2_1V8AO", 1_800, 200), ("NC", 0, 0)]);
        fake
    }

    /// An INA238-family monitor as the mainline `ina238` hwmon driver lays it out, under `hwmon<number>`: `name`
    /// = `chip`, shunt (`in0_*`) and bus (`in1_*`) voltages in mV with their limits and alarms, `curr1_input`
    /// (mA), `power1_input` (uW), the die temperature (m°C), and `energy1_input` (uJ, from 0) only on the chips
    /// the driver shows it for (INA228, INA780, SQ52206). No label: the driver gives none.
    pub fn add_ina238(&self, device: &str, number: u32, chip: &str, mv: u32, ma: u32, uw: u64) {
        let dir = self
            .root()
            .join("sys/bus/i2c/drivers/ina238")
            .join(device)
            .join(format!("hwmon/hwmon{number}"));
        std::fs::create_dir_all(&dir).expect("hwmon dir");
        let mut files = vec![
            ("name", chip.to_string()),
            ("in0_input", "3".into()),
            ("in0_max", "163".into()),
            ("in0_min", "-163".into()),
            ("in0_max_alarm", "0".into()),
            ("in0_min_alarm", "0".into()),
            ("in1_input", mv.to_string()),
            ("in1_max", "102396".into()),
            ("in1_min", "0".into()),
            ("in1_max_alarm", "0".into()),
            ("in1_min_alarm", "0".into()),
            ("curr1_input", ma.to_string()),
            ("power1_input", uw.to_string()),
            ("power1_max", "4294967295".into()),
            ("power1_max_alarm", "0".into()),
            ("temp1_input", "41125".into()),
            ("temp1_max", "255875".into()),
            ("temp1_max_alarm", "0".into()),
        ];
        if ["ina228", "ina780", "sq52206"].contains(&chip) {
            files.push(("energy1_input", "0".into()));
        }
        for (file, value) in files {
            std::fs::write(dir.join(file), format!("{value}\n")).expect("ina238 file");
        }
    }

    /// A file of the INA238 monitor on `device`, whatever its hwmon number.
    pub fn ina238_file(&self, device: &str, file: &str) -> PathBuf {
        let hwmon = self
            .root()
            .join("sys/bus/i2c/drivers/ina238")
            .join(device)
            .join("hwmon");
        let number = std::fs::read_dir(&hwmon)
            .expect("an INA238 on that device")
            .flatten()
            .next()
            .expect("a hwmon directory");
        number.path().join(file)
    }

    /// Writes `text` into a file of the INA238 monitor on `device` (a new value, garbage, a `label`).
    pub fn write_ina238(&self, device: &str, file: &str, text: &str) {
        std::fs::write(self.ina238_file(device, file), text).expect("ina238 file");
    }

    /// Jetson AGX Thor, JetPack 7: the module's INA3221 rails (named as jetson-stats' Thor page names them) and
    /// the carrier's INA238 on the system input, unlabelled. The INA238's bus, address and hwmon number are
    /// made up: they are unverified on a real Thor.
    pub fn thor() -> FakeJetson {
        let fake = FakeJetson::new();
        fake.add_hwmon(
            "1-0040",
            &[
                ("VDD_GPU", 19_000, 900),
                ("VDD_CPU_SOC_MSS", 19_000, 700),
                ("VIN_SYS_5V0", 5_000, 600),
            ],
        );
        // 19.968 V x 2.065 A = 41.23392 W; the driver computes power on the chip, not from its own V and I.
        fake.add_ina238("2-0044", 5, "ina238", 19_968, 2_065, 41_233_920);
        fake
    }

    /// Nano, JetPack 4: iio device with power files.
    pub fn nano_jetpack4() -> FakeJetson {
        let fake = FakeJetson::new();
        let dir = fake.root().join("sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0");
        std::fs::create_dir_all(&dir).expect("iio dir");
        for (k, (rail, mw)) in [("POM_5V_IN", 3200), ("POM_5V_GPU", 400), ("POM_5V_CPU", 900)]
            .iter()
            .enumerate()
        {
            std::fs::write(dir.join(format!("rail_name_{k}")), format!("{rail}\n")).unwrap();
            std::fs::write(dir.join(format!("in_power{k}_input")), format!("{mw}\n")).unwrap();
            std::fs::write(dir.join(format!("in_voltage{k}_input")), "5000\n").unwrap();
            std::fs::write(
                dir.join(format!("in_current{k}_input")),
                format!("{}\n", mw * 1000 / 5000),
            )
            .unwrap();
        }
        fake
    }
}
