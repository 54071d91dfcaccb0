//! The host fingerprint recorded in every manifest: enough to tell two devices' runs apart in review.

use harness_data::HostFingerprint;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// Reads the fingerprint under `root` (`/` on a real machine, a fake tree in tests). Missing files give empty
/// fields rather than errors: a fingerprint must never stop a run.
pub fn fingerprint(root: &Path) -> HostFingerprint {
    let read = |p: &str| fs::read_to_string(root.join(p)).unwrap_or_default();
    let cpuinfo = read("proc/cpuinfo");
    let field = |key: &str| {
        cpuinfo
            .lines()
            .find(|l| l.split(':').next().map(str::trim) == Some(key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    let cpu_model = field("model name")
        .or_else(|| field("Model"))
        .or_else(|| field("Hardware"))
        .unwrap_or_default();
    let memory_bytes = read("proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024);
    let governor = fs::read_to_string(root.join("sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"))
        .ok()
        .map(|s| s.trim().to_string());
    HostFingerprint {
        hostname: read("proc/sys/kernel/hostname").trim().to_string(),
        device: None,
        cpu_model,
        logical_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_bytes,
        kernel: read("proc/sys/kernel/osrelease").trim().to_string(),
        arch: std::env::consts::ARCH.to_string(),
        governor,
        power_state: power_state(root),
    }
}

/// Raspberry Pi firmware `get_throttled` bits: (bit, meaning).
const THROTTLED_BITS: [(u32, &str); 8] = [
    (0, "under-voltage now"),
    (1, "ARM frequency capped now"),
    (2, "throttled now"),
    (3, "soft temperature limit now"),
    (16, "under-voltage has occurred"),
    (17, "ARM frequency capping has occurred"),
    (18, "throttling has occurred"),
    (19, "soft temperature limit has occurred"),
];

/// The board's power state where the files say it (see `HostFingerprint::power_state`).
fn power_state(root: &Path) -> BTreeMap<String, String> {
    let read = |p: &str| {
        fs::read_to_string(root.join(p))
            .ok()
            .map(|s| s.trim_matches(['\0', '\n', ' ']).to_string())
    };
    let mut state = BTreeMap::new();
    let model = read("proc/device-tree/model");
    if let Some(model) = &model {
        state.insert("model".into(), model.clone());
    }
    // Per CPU governor and clock range.
    let mut governors = Vec::new();
    let mut pinned = Vec::new();
    for cpu in 0.. {
        let base = format!("sys/devices/system/cpu/cpu{cpu}");
        if !root.join(&base).is_dir() {
            break;
        }
        let dir = format!("{base}/cpufreq");
        if let Some(g) = read(&format!("{dir}/scaling_governor")) {
            governors.push(format!("cpu{cpu}={g}"));
        }
        if let (Some(min), Some(max)) = (
            read(&format!("{dir}/scaling_min_freq")),
            read(&format!("{dir}/scaling_max_freq")),
        ) {
            pinned.push(min == max);
        }
    }
    let distinct: std::collections::BTreeSet<&str> = governors
        .iter()
        .filter_map(|g| g.split_once('='))
        .map(|(_, g)| g)
        .collect();
    if distinct.len() > 1 {
        state.insert("governors".into(), governors.join(", "));
    }
    let jetson = model
        .as_deref()
        .is_some_and(|m| m.contains("Jetson") || m.contains("NVIDIA"));
    if jetson {
        if let Some(mode) = read("var/lib/nvpmodel/status") {
            state.insert("nvpmodel".into(), mode);
        }
        if !pinned.is_empty() {
            let on = pinned.iter().all(|&p| p);
            let text = if on {
                "on (every CPU's min = max frequency)"
            } else {
                "off"
            };
            state.insert("jetson_clocks".into(), text.into());
        }
    }
    if let Some(raw) = read("sys/devices/platform/soc/soc:firmware/get_throttled")
        && let Ok(bits) = u32::from_str_radix(raw.trim_start_matches("0x"), 16)
    {
        let flags: Vec<&str> = THROTTLED_BITS
            .iter()
            .filter(|(bit, _)| bits & (1 << bit) != 0)
            .map(|(_, meaning)| *meaning)
            .collect();
        let decoded = if flags.is_empty() {
            "none".to_string()
        } else {
            flags.join(", ")
        };
        state.insert("throttled".into(), format!("0x{bits:x}: {decoded}"));
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_fake_proc_tree() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("proc/sys/kernel")).unwrap();
        fs::create_dir_all(root.join("sys/devices/system/cpu/cpu0/cpufreq")).unwrap();
        fs::write(
            root.join("proc/cpuinfo"),
            "processor\t: 0\nmodel name\t: Fake CPU @ 2.0GHz\n",
        )
        .unwrap();
        fs::write(root.join("proc/meminfo"), "MemTotal:       2048 kB\nMemFree: 1 kB\n").unwrap();
        fs::write(root.join("proc/sys/kernel/osrelease"), "6.1.0-test\n").unwrap();
        fs::write(root.join("proc/sys/kernel/hostname"), "bench-01\n").unwrap();
        fs::write(
            root.join("sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
            "performance\n",
        )
        .unwrap();
        let fp = fingerprint(root);
        assert_eq!(fp.cpu_model, "Fake CPU @ 2.0GHz");
        assert_eq!(fp.memory_bytes, 2048 * 1024);
        assert_eq!(fp.kernel, "6.1.0-test");
        assert_eq!(fp.hostname, "bench-01");
        assert_eq!(fp.governor.as_deref(), Some("performance"));
    }

    fn write(root: &Path, path: &str, text: &str) {
        let file = root.join(path);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(file, text).unwrap();
    }

    #[test]
    fn a_jetson_records_its_power_mode_and_pinned_clocks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "proc/device-tree/model", "NVIDIA Jetson AGX Orin Developer Kit\0");
        write(root, "var/lib/nvpmodel/status", "pmode:0000 fmode:normal\n");
        for cpu in 0..2 {
            let d = format!("sys/devices/system/cpu/cpu{cpu}/cpufreq");
            write(root, &format!("{d}/scaling_governor"), "schedutil\n");
            write(root, &format!("{d}/scaling_min_freq"), "2201600\n");
            write(root, &format!("{d}/scaling_max_freq"), "2201600\n");
        }
        let state = fingerprint(root).power_state;
        assert_eq!(state["model"], "NVIDIA Jetson AGX Orin Developer Kit");
        assert_eq!(state["nvpmodel"], "pmode:0000 fmode:normal");
        assert!(state["jetson_clocks"].starts_with("on"), "{state:?}");
        // One governor everywhere: `governor` says it, no per-CPU list.
        assert!(!state.contains_key("governors"));
        write(root, "sys/devices/system/cpu/cpu1/cpufreq/scaling_min_freq", "115200\n");
        write(
            root,
            "sys/devices/system/cpu/cpu1/cpufreq/scaling_governor",
            "performance\n",
        );
        let state = fingerprint(root).power_state;
        assert_eq!(state["jetson_clocks"], "off");
        assert_eq!(state["governors"], "cpu0=schedutil, cpu1=performance");
    }

    #[test]
    fn a_raspberry_pi_records_its_throttling_flags_decoded() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "proc/device-tree/model", "Raspberry Pi 5 Model B Rev 1.0\0");
        write(root, "sys/devices/platform/soc/soc:firmware/get_throttled", "50005\n");
        let state = fingerprint(root).power_state;
        assert_eq!(
            state["throttled"],
            "0x50005: under-voltage now, throttled now, under-voltage has occurred, throttling has occurred"
        );
        assert!(!state.contains_key("nvpmodel") && !state.contains_key("jetson_clocks"));
    }

    #[test]
    fn missing_files_leave_fields_empty() {
        let dir = tempfile::tempdir().unwrap();
        let fp = fingerprint(dir.path());
        assert_eq!(fp.cpu_model, "");
        assert_eq!(fp.governor, None);
        assert!(fp.power_state.is_empty());
    }
}
