//! The `container` runtime on the real Docker engine of this machine: every workload cold and warm with the
//! same digest as native, image sizes in the manifest, failures (killed, out of memory, deadline) recorded with
//! the run going on, a clear error without an engine, and no container left behind by a finished, interrupted,
//! killed or crashed run.

use crate::common::*;
use harness_data::{Mode, RunStatus, Status};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Waits until harness `pid` has a running container, and returns its id.
fn wait_for_container(pid: u32) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(id) = containers_of(pid).into_iter().next() {
            return id;
        }
        assert!(
            Instant::now() < deadline,
            "harness {pid} started no container within 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

const ALL: &[(&str, &str)] = &[
    ("noop", "0"),
    ("fibonacci", "20"),
    ("sieve", "100000"),
    ("nbody", "1000"),
    ("mandelbrot", "64"),
    ("matmul", "32"),
    ("sha256", "64KiB"),
    ("aes-gcm", "16KiB"),
    ("json", "100"),
    ("fuzzy", "16KiB"),
    ("image-resize", "64"),
    ("transfer", "2MiB"),
    ("fannkuch-redux", "8"),
];

#[test]
fn every_workload_cold_and_warm_in_a_container_has_the_native_digest() {
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::new()
        .seed(1)
        .repetitions(1)
        .warmup(1)
        .runtimes(&["native", "container"])
        .modes(&["cold", "warm"])
        .workloads(ALL)
        .write(dir.path(), "all.toml");
    let run = dir.path().join("run");
    let child = spawn_measure(&plan, &run, &[]);
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = rows(&run);
    assert_eq!(rows.len(), ALL.len() * 2 * 2 * 2);
    let mut digests: HashMap<&str, &str> = HashMap::new();
    for r in &rows {
        assert_eq!(
            r.status,
            Status::Ok,
            "{} {} {:?}: {}",
            r.workload,
            r.runtime,
            r.mode,
            r.error
        );
        let first = digests.entry(&r.workload).or_insert(&r.digest);
        assert_eq!(*first, r.digest, "{} on {} {:?}", r.workload, r.runtime, r.mode);
        if r.runtime == "container" {
            // Phases on the harness's clock: the container's CLOCK_MONOTONIC is the host's.
            let phases = [r.compile_ns, r.startup_ns, r.input_ns, r.execute_ns, r.output_ns];
            let sum: u64 = phases.iter().flatten().sum();
            assert!(
                sum <= r.latency_ns,
                "{}: phases {sum} > latency {}",
                r.workload,
                r.latency_ns
            );
            assert!(r.execute_ns.is_some() && r.input_ns.is_some());
            if r.mode == Mode::Cold {
                assert!(r.startup_ns.unwrap() > 0 && r.compile_ns.unwrap() > 0, "{r:?}");
            } else {
                assert_eq!(r.startup_ns, None);
            }
        }
    }
    let manifest = manifest(&run);
    assert_eq!(manifest.status, RunStatus::Complete);
    for (name, _) in ALL {
        let sizes = &manifest.artifacts[*name];
        let image = sizes.container_image_bytes.expect("image size recorded");
        // Built for this host's architecture, as the image config says.
        let host = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        assert_eq!(sizes.container_image_architecture.as_deref(), Some(host), "{name}");
        // A scratch image holds the static executable and nothing else.
        assert!(image > 100_000 && image < 20_000_000, "{name}: {image}");
        assert!(sizes.wasm_bytes.is_some() && sizes.native_bytes.is_some());
    }
    assert_none_left(pid, Duration::from_secs(20));
}

#[test]
fn a_killed_or_out_of_memory_container_is_a_failed_invocation_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    // fib(46) runs for seconds even on a fast host, long enough to `docker kill` its container midway.
    let once = PlanBuilder::new()
        .seed(1)
        .repetitions(1)
        .warmup(0)
        .runtimes(&["container"]);
    let plan = once
        .clone()
        .modes(&["warm"])
        .workload("fibonacci", &["46"])
        .write(dir.path(), "kill.toml");
    let run = dir.path().join("run");
    let child = spawn_measure(&plan, &run, &[]);
    let pid = child.id();
    let id = wait_for_container(pid);
    std::thread::sleep(Duration::from_millis(500));
    let kill = Command::new("docker").args(["kill", &id]).output().unwrap();
    assert!(kill.status.success(), "{}", String::from_utf8_lossy(&kill.stderr));
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let killed = rows(&run);
    assert_eq!(killed.len(), 1);
    assert_eq!(killed[0].status, Status::Trap, "{}", killed[0].error);
    assert!(
        killed[0].error.contains("ended without answering"),
        "{}",
        killed[0].error
    );
    assert_none_left(pid, Duration::from_secs(20));

    // A 200 MB sieve in a 32 MiB container is killed by the kernel's OOM killer; the small one still runs.
    let plan = once
        .modes(&["cold", "warm"])
        .workload("sieve", &["200000000", "1000"])
        .write(dir.path(), "oom.toml");
    let run = dir.path().join("oom");
    let child = spawn_measure(&plan, &run, &[("HARNESS_CONTAINER_MEMORY_MB", "32")]);
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = rows(&run);
    assert_eq!(rows.len(), 4);
    for r in &rows {
        if r.input == "1000" {
            assert_eq!(r.status, Status::Ok, "{:?}: {}", r.mode, r.error);
        } else {
            assert_eq!(r.status, Status::Trap, "{:?}: {}", r.mode, r.error);
            assert!(r.error.contains("137"), "{}", r.error);
        }
    }
    assert_eq!(manifest(&run).status, RunStatus::Complete);
    assert_none_left(pid, Duration::from_secs(20));
}

#[test]
fn an_endless_workload_in_a_container_is_stopped_at_its_deadline_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::new()
        .seed(1)
        .repetitions(1)
        .warmup(0)
        .timeout_ms(1000)
        .runtimes(&["container"])
        .modes(&["cold", "warm"])
        .workload("fault", &["loop", "trap"])
        .write(dir.path(), "loop.toml");
    let run = dir.path().join("run");
    let child = spawn_measure(&plan, &run, &[]);
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = rows(&run);
    assert_eq!(rows.len(), 4);
    for r in &rows {
        let expected = if r.input == "loop" {
            Status::Timeout
        } else {
            Status::Trap
        };
        assert_eq!(r.status, expected, "{} {:?}: {}", r.input, r.mode, r.error);
        if r.input == "loop" {
            assert!(r.latency_ns >= 1_000_000_000 && r.latency_ns < 30_000_000_000);
        } else {
            assert!(r.error.contains("fault workload asked to trap"), "{}", r.error);
        }
    }
    assert_none_left(pid, Duration::from_secs(20));
}

fn long_container_plan(dir: &Path) -> PathBuf {
    PlanBuilder::new()
        .seed(1)
        .repetitions(50)
        .warmup(0)
        .runtimes(&["container"])
        .modes(&["warm", "cold"])
        .workload("fibonacci", &["38"])
        .write(dir, "long.toml")
}

#[test]
fn ctrl_c_or_sigkill_midway_leaves_no_container_behind() {
    for signal in [libc::SIGINT, libc::SIGKILL] {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let child = spawn_measure(&long_container_plan(dir.path()), &run, &[]);
        let pid = child.id();
        wait_for_container(pid);
        std::thread::sleep(Duration::from_millis(300));
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid as i32, signal) };
        let output = child.wait_with_output().unwrap();
        if signal == libc::SIGINT {
            assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
            assert_eq!(manifest(&run).status, RunStatus::Partial);
        }
        // After SIGKILL no handler runs: the attach connection closes, the container's stdin reaches EOF, its
        // serve loop ends, and the engine removes it (AutoRemove).
        assert_none_left(pid, Duration::from_secs(60));
    }
}

#[test]
fn no_docker_engine_is_a_clear_error_naming_the_socket_before_any_invocation() {
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::new()
        .seed(1)
        .repetitions(1)
        .runtimes(&["native", "container"])
        .modes(&["cold"])
        .workload("noop", &["0"])
        .write(dir.path(), "p.toml");
    // A socket file nobody listens on (a stopped engine), and no socket at all.
    let dead = dir.path().join("dead.sock");
    drop(std::os::unix::net::UnixListener::bind(&dead).unwrap());
    let missing = dir.path().join("missing.sock");
    for socket in [&dead, &missing] {
        let run = dir.path().join(socket.file_stem().unwrap());
        let output = harness()
            .args(["measure", "--plan"])
            .arg(&plan)
            .arg("--out")
            .arg(&run)
            .arg("--artifacts")
            .arg(artifacts())
            .env("DOCKER_HOST", format!("unix://{}", socket.display()))
            .output()
            .unwrap();
        assert!(!output.status.success());
        let err = stderr(&output);
        assert!(err.contains(&socket.display().to_string()), "{err}");
        assert!(err.contains("systemctl start docker"), "{err}");
        assert!(!run.join("invocations.csv").exists(), "no workload ran");
    }
}

#[test]
fn a_docker_socket_the_user_may_not_use_is_a_clear_error_with_the_fix() {
    // Starts the harness as another user, not through `harness()`.
    machine::share();
    // A listening socket with mode 000. Root ignores file modes, so as root the harness runs as `nobody`.
    let dir = tempfile::tempdir().unwrap();
    let open =
        |p: &Path, mode: u32| std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    open(dir.path(), 0o777);
    let socket = dir.path().join("docker.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    open(&socket, 0o000);
    let plan = PlanBuilder::new()
        .seed(1)
        .repetitions(1)
        .runtimes(&["container"])
        .modes(&["cold"])
        .workload("noop", &["0"])
        .write(dir.path(), "p.toml");
    open(&plan, 0o644);
    let run = dir.path().join("run");
    // SAFETY: geteuid has no preconditions.
    let mut cmd = if unsafe { libc::geteuid() } == 0 {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_harness"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_harness"))
    };
    let output = cmd
        .args(["measure", "--quiet", "--plan"])
        .arg(&plan)
        .arg("--out")
        .arg(&run)
        .arg("--artifacts")
        .arg(artifacts())
        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(err.contains("permission denied on the Docker engine socket"), "{err}");
    assert!(
        err.contains(&socket.display().to_string()) && err.contains("docker` group"),
        "{err}"
    );
    assert!(!run.join("invocations.csv").exists(), "no workload ran");
}
