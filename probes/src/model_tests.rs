use super::*;
use std::fs;

struct ScriptedCpu(Vec<u64>);

impl CpuClock for ScriptedCpu {
    fn cpu_ns(&mut self) -> Option<u64> {
        if self.0.is_empty() {
            None
        } else {
            Some(self.0.remove(0))
        }
    }
    fn describe(&self) -> String {
        "script".into()
    }
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

#[test]
fn integrates_idle_and_busy_power() {
    let curve = PowerCurve {
        idle_w: 10.0,
        busy_w_per_core: 20.0,
    };
    // One second in which half a core was busy, then a failed read.
    let mut source = ModelSource::new(
        curve,
        10.0,
        ModelScope::Machine,
        Box::new(ScriptedCpu(vec![5_000_000_000, 5_500_000_000])),
    );
    let mut out = Vec::new();
    source.poll(1_000_000_000, &mut out);
    source.poll(2_000_000_000, &mut out);
    source.poll(3_000_000_000, &mut out);
    assert_eq!(out[0].reading, Reading::Value(0.0));
    assert_eq!(out[1].reading, Reading::Value(10.0 + 10.0));
    assert!(matches!(out[2].reading, Reading::Gap(_)));
    assert!(source.channels()[0].estimated);
    assert_eq!(source.channels()[0].scope, "machine");
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
fn machine_scope_reads_cgroup_v2_then_v1_then_proc_stat() {
    let v2 = tempfile::tempdir().unwrap();
    write(
        v2.path(),
        "sys/fs/cgroup/cpu.stat",
        "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
    );
    let mut clock = MachineCpu::open(v2.path()).unwrap();
    assert_eq!(clock.cpu_ns(), Some(1_500_000));
    assert!(clock.describe().contains("v2"));

    let v1 = tempfile::tempdir().unwrap();
    write(v1.path(), "sys/fs/cgroup/cpuacct/cpuacct.usage", "389671898740\n");
    let mut clock = MachineCpu::open(v1.path()).unwrap();
    assert_eq!(clock.cpu_ns(), Some(389_671_898_740));
    assert_eq!(clock.resolution_ns(), 1);

    let proc = tempfile::tempdir().unwrap();
    write(
        proc.path(),
        "proc/stat",
        "cpu  100 20 30 9000 50 5 5 7 0 0\ncpu0 50 10 15 4500 25 2 2 3 0 0\n",
    );
    let mut clock = MachineCpu::open(proc.path()).unwrap();
    // user + nice + system + irq + softirq = 160 ticks; idle, iowait and steal are left out.
    assert_eq!(clock.cpu_ns(), Some(160 * 1_000_000_000 / clock_ticks()));

    let empty = tempfile::tempdir().unwrap();
    let err = MachineCpu::open(empty.path()).err().unwrap().to_string();
    assert!(err.contains("scope = \"harness\""), "{err}");
}

#[test]
fn the_real_machine_clock_sees_another_process() {
    // A busy child that the harness never waits for is seen by the machine scope.
    let Ok(mut clock) = MachineCpu::open(Path::new("/")) else {
        return;
    };
    let before = clock.cpu_ns().unwrap();
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done")
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let during = clock.cpu_ns().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(during - before >= 50_000_000, "{} ns", during - before);
}

#[test]
fn harness_scope_walks_the_kernels_children_lists() {
    let root = tempfile::tempdir().unwrap();
    let me = std::process::id();
    // The harness's second thread started a node server, which started a worker; another process is unrelated.
    write(root.path(), &format!("proc/{me}/task/{me}/children"), "");
    write(root.path(), &format!("proc/{me}/task/{}/children", me + 1), "70001 ");
    write(root.path(), "proc/70001/task/70001/children", "70002 ");
    write(root.path(), "proc/70002/task/70002/children", "");
    write(
        root.path(),
        "proc/70001/stat",
        &format!("70001 (node) S {me} 1 1 0 -1 0 0 0 0 0 300 100 0 0 20 0 1 0"),
    );
    write(
        root.path(),
        "proc/70002/stat",
        "70002 (w) S 70001 1 1 0 -1 0 0 0 0 0 50 50 0 0 20 0 1 0",
    );
    write(
        root.path(),
        "proc/70003/stat",
        "70003 (other) S 1 1 1 0 -1 0 0 0 0 0 999 999 0 0 20 0 1 0",
    );
    let clock = HarnessCpu::new(root.path(), ContainerLedger::default());
    assert_eq!(clock.descendants().values().map(|(_, t)| t).sum::<u64>(), 500);
}

#[test]
fn harness_scope_adds_live_descendants_and_containers() {
    let root = tempfile::tempdir().unwrap();
    let me = std::process::id();
    // A child of the harness (a warm node server), its own child, and an unrelated process.
    write(
        root.path(),
        "proc/70001/stat",
        &format!("70001 (node server) S {me} 1 1 0 -1 0 0 0 0 0 300 100 0 0 20 0 1 0"),
    );
    write(
        root.path(),
        "proc/70002/stat",
        "70002 (worker (x)) S 70001 1 1 0 -1 0 0 0 0 0 50 50 0 0 20 0 1 0",
    );
    write(
        root.path(),
        "proc/70003/stat",
        "70003 (other) S 1 1 1 0 -1 0 0 0 0 0 999 999 0 0 20 0 1 0",
    );
    let ledger = ContainerLedger::default();
    ledger.record("container", "abc123");
    ledger.record("container-b", "gone456");
    write(
        root.path(),
        "sys/fs/cgroup/cpuacct/docker/abc123/cpuacct.usage",
        "2000000000\n",
    );
    let mut clock = HarnessCpu::new(root.path(), ledger);
    let own = rusage_ns().unwrap();
    let total = clock.cpu_ns().unwrap();
    let descendants = 500 * 1_000_000_000 / clock_ticks();
    let extra = total - own;
    // rusage keeps moving while we read: allow 50 ms of our own CPU.
    assert!(
        extra >= descendants + 2_000_000_000 - 50_000_000 && extra <= descendants + 2_000_000_000 + 50_000_000,
        "extra {extra}"
    );
    // The daemon's work for either is not seen, cgroup or not.
    assert_eq!(
        clock.unseen_runtimes(),
        vec!["container".to_string(), "container-b".to_string()]
    );
    // A removed container keeps what it used; the total never steps back.
    fs::remove_dir_all(root.path().join("sys/fs/cgroup/cpuacct/docker/abc123")).unwrap();
    assert!(clock.cpu_ns().unwrap() >= total);
}

#[test]
fn harness_scope_keeps_what_descendants_left_unreaped_used_and_counts_nothing_twice() {
    let root = tempfile::tempdir().unwrap();
    let me = std::process::id();
    let stat = |pid: u32, parent: u32, ticks: u64, reaped: u64| {
        write(
            root.path(),
            &format!("proc/{pid}/stat"),
            &format!("{pid} (p) S {parent} 1 1 0 -1 0 0 0 0 0 {ticks} 0 {reaped} 0 20 0 1 0"),
        )
    };
    // A browser (its zygote under it, a renderer under that) and a node server with a worker.
    stat(70001, me, 100, 0);
    stat(70002, 70001, 50, 0);
    stat(70003, 70002, 500, 0);
    stat(70004, me, 100, 0);
    stat(70005, 70004, 30, 0);
    let mut clock = HarnessCpu::new(root.path(), ContainerLedger::default());
    let ns = |ticks: u64| ticks * 1_000_000_000 / clock_ticks();
    // Our own rusage moves a little while the test reads: 50 ms of slack.
    let near = |moved: u64, ticks: u64| moved >= ns(ticks) && moved < ns(ticks) + 50_000_000;
    let first = clock.cpu_ns().unwrap();
    // The browser's group is killed: the harness reaps the browser (its 100 ticks move into our own rusage,
    // not simulated here), zygote and renderer go to init. The node server reaps its worker (30 ticks move to
    // its cutime) and does 200 ticks of work.
    for pid in [70001, 70002, 70003, 70005] {
        fs::remove_file(root.path().join(format!("proc/{pid}/stat"))).unwrap();
    }
    stat(70004, me, 300, 30);
    let second = clock.cpu_ns().unwrap();
    // The 550 ticks the zygote and renderer used stay counted, the worker's 30 are not counted twice, and the
    // server's 200 count at once; only the browser's own 100 (reaped into our rusage for real) is missing.
    assert!(near(second - first + ns(100), 200), "moved {} ns", second - first);
    stat(70004, me, 400, 30);
    let third = clock.cpu_ns().unwrap();
    assert!(near(third - second, 100), "moved {} ns", third - second);
}
