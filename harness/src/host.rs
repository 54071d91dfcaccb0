//! The host fingerprint recorded in every manifest: enough to tell two devices' runs apart in review.

use harness_data::HostFingerprint;
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
        cpu_model,
        logical_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_bytes,
        kernel: read("proc/sys/kernel/osrelease").trim().to_string(),
        arch: std::env::consts::ARCH.to_string(),
        governor,
    }
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

    #[test]
    fn missing_files_leave_fields_empty() {
        let dir = tempfile::tempdir().unwrap();
        let fp = fingerprint(dir.path());
        assert_eq!(fp.cpu_model, "");
        assert_eq!(fp.governor, None);
    }
}
