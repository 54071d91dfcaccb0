//! Faults of load mode (issue 21): a kill during a level keeps every row measured before it and every finished
//! level; a level beyond the host's thread limit ends the run with the limit named instead of hanging; a
//! long level's memory does not grow with its requests; answers under load are checked as cold ones are.

use crate::common::*;
use harness_data::{LoadKind, LoadRecord, RequestRecord, RunStatus};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Waits until `ready` holds (polling), or fails naming `what` after `limit`.
fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Data lines of a CSV file (its header left out); 0 while it does not exist.
fn data_lines(path: &Path) -> usize {
    std::fs::read(path).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count().saturating_sub(1))
}

/// Waits for `child` at most `limit`; kills it and fails if it is still running then.
fn wait_or_kill(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: the harness still ran after {limit:?} (hung)");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The plan's text with the first seed whose load levels start with a burst, so a test can kill the run while a
/// long level follows a finished one.
fn burst_first(plan: impl Fn(u32) -> String) -> String {
    (0..256)
        .map(&plan)
        .find(|text| {
            let parsed = harness::plan::Plan::parse(text, Path::new("p.toml")).unwrap();
            let load = parsed.load.clone().unwrap();
            harness::load::levels(&parsed, &load)[0].kind == LoadKind::Burst
        })
        .expect("some seed of 256 orders a burst level first")
}

#[test]
fn sigkill_during_a_load_level_keeps_the_earlier_cold_and_warm_rows_and_the_finished_levels() {
    let dir = tempfile::tempdir().unwrap();
    // 8 invocation rows (2 cells, 3 repetitions and a warm-up each), a burst level, then a level that would
    // run a minute: the kill lands in it. fibonacci 27 takes about a millisecond, so requests.csv grows slowly.
    let text = burst_first(|seed| {
        let plan = PlanBuilder::new()
            .seed(seed)
            .repetitions(3)
            .warmup(1)
            .runtimes(&["native"])
            .modes(&["cold", "warm", "load"])
            .workload("fibonacci", &["27"])
            .text();
        format!("{plan}[load]\nclients = [1]\nburst = [1]\nduration_ms = 60000\nwarmup_ms = 0\nidle_ms = 0\n")
    });
    let plan = write_plan(dir.path(), "kill.toml", &text);
    let run = dir.path().join("run");
    let mut child = spawn_measure(&plan, &run, &[]);
    // The burst level's row is in load.csv, and the long level has served requests for a while.
    wait_until("the burst level's row", Duration::from_secs(120), || {
        data_lines(&run.join("load.csv")) >= 1
    });
    let since = Instant::now();
    wait_until("the long level's requests", Duration::from_secs(60), || {
        data_lines(&run.join("requests.csv")) >= 2
    });
    std::thread::sleep(Duration::from_millis(1500).saturating_sub(since.elapsed()));
    child.kill().unwrap();
    child.wait().unwrap();

    let manifest = manifest(&run);
    assert_eq!(
        manifest.status,
        RunStatus::Partial,
        "killed outright: the manifest stays as written while running, partial"
    );
    let rows = rows(&run);
    assert_eq!(
        rows.len(),
        8,
        "every cold and warm row, measured seconds before the kill"
    );
    assert_eq!(manifest.recorded_invocations, 8, "the manifest counts them");
    let levels: Vec<LoadRecord> = csv_rows(&run.join("load.csv"));
    assert_eq!(levels.len(), 1, "the finished level's row, and none of the killed one");
    assert_eq!(
        (levels[0].kind, levels[0].sequence, levels[0].sent),
        (LoadKind::Burst, 0, 1)
    );
    // requests.csv: whole rows only (its writer writes whole rows a few kilobytes at a time; only a kill
    // inside one such write could cut one), the burst's request, and the killed level's served so far.
    let text = std::fs::read_to_string(run.join("requests.csv")).unwrap();
    assert!(text.ends_with('\n'), "requests.csv ends on a whole row");
    let requests: Vec<RequestRecord> = csv_rows(&run.join("requests.csv"));
    assert_eq!(requests.iter().filter(|r| r.sequence == 0).count(), 1);
    assert!(
        requests.iter().filter(|r| r.sequence == 1).count() > 0,
        "the killed level's requests are on disk as they were served"
    );
}

/// `harness measure` of `plan` into `run`, its processes and threads limited to a few dozen. As root the limit
/// does not apply, so the harness runs as `nobody` (no other process of which shares the limit); otherwise
/// as this user, with room for what the user runs now.
fn measure_with_few_threads(plan: &Path, run: &Path) -> Child {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_harness"));
    let args = |cmd: &mut Command| {
        cmd.arg(&exe)
            .args(["measure", "--plan"])
            .arg(plan)
            .arg("--out")
            .arg(run)
            .arg("--artifacts")
            .arg(artifacts());
    };
    // SAFETY: getuid only reads the calling process's user id.
    let uid = unsafe { libc::getuid() };
    let mut cmd = if uid == 0 {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "prlimit",
            "--nproc=48",
        ]);
        cmd
    } else {
        let mine = Command::new("ps")
            .args(["-L", "-u", &uid.to_string()])
            .output()
            .unwrap();
        let running = mine.stdout.iter().filter(|&&c| c == b'\n').count();
        let mut cmd = Command::new("prlimit");
        cmd.arg(format!("--nproc={}", running + 48));
        cmd
    };
    args(&mut cmd);
    harness(); // this test shares the machine from here
    cmd.env("CI", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running the harness under prlimit")
}

#[test]
fn a_level_beyond_the_thread_limit_fails_the_run_naming_the_limit_instead_of_hanging() {
    let dir = tempfile::tempdir().unwrap();
    // The harness may run as nobody: it must read the plan and write the run.
    let open = |path: &Path, mode| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    open(dir.path(), 0o777);
    for (name, load) in [("clients", "clients = [400]"), ("burst", "burst = [400]")] {
        let plan = PlanBuilder::new()
            .seed(1)
            .repetitions(1)
            .runtimes(&["native"])
            .modes(&["load"])
            .workload("noop", &["0"])
            .text();
        let plan = write_plan(
            dir.path(),
            &format!("{name}.toml"),
            &format!("{plan}[load]\n{load}\nduration_ms = 300\nwarmup_ms = 0\nidle_ms = 0\n"),
        );
        open(&plan, 0o644);
        let run = dir.path().join(name);
        let mut child = measure_with_few_threads(&plan, &run);
        let status = wait_or_kill(&mut child, Duration::from_secs(120), name);
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.code(), Some(1), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert!(stderr.contains("cannot start"), "{name}: {stderr}");
        assert!(stderr.contains("ulimit -u"), "{name}: {stderr}");
        let manifest = manifest(&run);
        assert_eq!(manifest.status, RunStatus::Failed, "{name}");
        let reason = manifest.status_reason.unwrap_or_default();
        assert!(
            reason.contains(&format!("{name} 400")),
            "{name}: the level is named: {reason}"
        );
        assert_eq!(
            data_lines(&run.join("load.csv")),
            0,
            "{name}: the level that never ran has no row"
        );
    }
}

#[test]
fn a_long_native_noop_level_keeps_the_harness_memory_flat_and_logs_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::new()
        .seed(1)
        .repetitions(1)
        .runtimes(&["native"])
        .modes(&["load"])
        .workload("noop", &["0"])
        .text();
    let plan = write_plan(
        dir.path(),
        "long.toml",
        &format!("{plan}[load]\nclients = [2]\nduration_ms = 3000\nwarmup_ms = 0\nidle_ms = 0\n"),
    );
    let run = dir.path().join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    let levels: Vec<LoadRecord> = csv_rows(&run.join("load.csv"));
    let level = &levels[0];
    let memory = level.memory_bytes.expect("the harness's RSS under load");
    // A log kept in memory cost about 100 bytes a request (68 MB RSS for 626k requests in 2 s here); the
    // harness's memory streaming it is about 10 MB however many requests a level serves.
    assert!(
        level.sent >= 400_000,
        "a native noop serves hundreds of thousands of requests in 3 s even on a busy machine: {}",
        level.sent
    );
    let bound = (24 << 20) + 20 * level.sent;
    assert!(
        memory < bound,
        "{memory} B of RSS for {} requests (bound {bound}): the level's memory grows with its requests",
        level.sent
    );
    assert_eq!(
        data_lines(&run.join("requests.csv")) as u64,
        level.sent,
        "one row per request"
    );
}
