//! The fault matrix for what the harness starts outside itself (issue 11): children and their children die with
//! the harness and with their deadline, serving containers stop when their harness goes away, the start-up
//! sweep spares other runs' containers, an out-of-memory container is a trap at once, and the engine settings
//! (DOCKER_HOST, HARNESS_CONTAINER_MEMORY_MB, HARNESS_JS_DIR, the JavaScript search) fail clearly.

use crate::common::*;
use harness_data::Status;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `ppid` and the state letter of a live process, from /proc.
fn stat_of(pid: u32) -> Option<(u32, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut rest = stat[stat.rfind(')')? + 2..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    Some((rest.next()?.parse().ok()?, state))
}

/// Whether `pid` still runs (a zombie has finished).
fn running(pid: u32) -> bool {
    stat_of(pid).is_some_and(|(_, state)| state != 'Z')
}

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The child processes of `parent` (a scan of /proc).
fn children_of(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| stat_of(pid).is_some_and(|(ppid, _)| ppid == parent))
        .collect()
}

/// Waits (at most `limit`) for a child of `parent` whose command name is `name`.
fn wait_for_child(parent: u32, name: &str, limit: Duration) -> u32 {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(pid) = children_of(parent).into_iter().find(|&p| comm(p) == name) {
            return pid;
        }
        assert!(Instant::now() < deadline, "harness {parent} started no `{name}` child");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (at most `limit`) until `pid` has stopped running; kills it and fails when it has not.
fn assert_gone(pid: u32, what: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    while running(pid) {
        if Instant::now() > deadline {
            // SAFETY: a leftover of this test; it is killed so that it does not spin forever.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("{what} (pid {pid}) outlived its harness / deadline");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sigkill(child: &mut Child) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
}

/// Waits (at most `limit`) for the harness to finish; kills it and fails when it does not.
fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            sigkill(&mut child);
            panic!("the harness was still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn endless(dir: &Path, runtime: &str, mode: &str) -> PathBuf {
    PlanBuilder::new()
        .seed(1)
        .repetitions(1)
        .warmup(0)
        .timeout_ms(600_000)
        .runtimes(&[runtime])
        .modes(&[mode])
        .workload("fault", &["loop"])
        .write(dir, &format!("{runtime}-{mode}.toml"))
}

#[test]
fn sigkill_of_the_harness_kills_its_native_cold_child() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = spawn_measure(&endless(dir.path(), "native", "cold"), &dir.path().join("run"), &[]);
    let child = wait_for_child(harness.id(), "fault", Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(200));
    sigkill(&mut harness);
    assert_gone(child, "the native cold child", Duration::from_secs(5));
}

#[test]
fn sigkill_of_the_harness_kills_its_node_runner() {
    let dir = tempfile::tempdir().unwrap();
    for mode in ["cold", "warm"] {
        let run = dir.path().join(mode);
        let mut harness = spawn_measure(&endless(dir.path(), "node-js", mode), &run, &[]);
        let node = wait_for_child(harness.id(), "node", Duration::from_secs(60));
        // Inside the endless request (the warm server's lazy set-up comes first).
        std::thread::sleep(Duration::from_millis(1000));
        sigkill(&mut harness);
        assert_gone(node, &format!("the {mode} node runner"), Duration::from_secs(5));
    }
}

#[test]
fn sigkill_of_the_harness_kills_its_invoke_once_child() {
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::new()
        .seed(1)
        .repetitions(1)
        .warmup(0)
        .timeout_ms(600_000)
        .set("cold_boundary", "process")
        .set("interrupt", "none")
        .runtimes(&["wasmtime-jit"])
        .modes(&["cold"])
        .workload("fault", &["loop"])
        .write(dir.path(), "boundary.toml");
    let mut harness = spawn_measure(&plan, &dir.path().join("run"), &[]);
    let child = wait_for_child(harness.id(), "harness", Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(500));
    sigkill(&mut harness);
    assert_gone(child, "the invoke-once child", Duration::from_secs(5));
}

#[test]
fn sigkill_of_the_harness_kills_its_serve_wasm_workers() {
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::new()
        .seed(1)
        .repetitions(1)
        .timeout_ms(600_000)
        .set("interrupt", "none")
        .runtimes(&["wasmtime-aot"])
        .modes(&["load"])
        .workload("fault", &["loop"])
        .text();
    let plan = write_plan(
        dir.path(),
        "workers.toml",
        &format!("{plan}[load]\nclients = [1]\nidle_ms = 0\nserving = \"processes\"\n"),
    );
    let mut harness = spawn_measure(&plan, &dir.path().join("run"), &[]);
    // The worker is the harness binary; the pool's first request to it never ends.
    let worker = wait_for_child(harness.id(), "harness", Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(1000));
    sigkill(&mut harness);
    assert_gone(worker, "the serve-wasm worker", Duration::from_secs(5));
}

#[test]
fn sigkill_of_the_harness_stops_its_warm_container_mid_computation() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = spawn_measure(&endless(dir.path(), "container", "warm"), &dir.path().join("run"), &[]);
    let pid = harness.id();
    let deadline = Instant::now() + Duration::from_secs(120);
    while containers_of(pid).is_empty() {
        if let Some(status) = harness.try_wait().unwrap() {
            let mut err = String::new();
            let _ = harness.stderr.take().unwrap().read_to_string(&mut err);
            panic!("the harness ended ({status}) before its container started: {err}");
        }
        assert!(Instant::now() < deadline, "harness {pid} started no container");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Inside the endless request.
    std::thread::sleep(Duration::from_millis(1000));
    sigkill(&mut harness);
    // The container's stdin reached EOF while it computed: it exits, and the engine removes it (AutoRemove).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !containers_of(pid).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let left = containers_of(pid);
    for id in &left {
        // A leftover would spin forever.
        let _ = Command::new("docker").args(["rm", "-f", id]).output();
    }
    assert!(left.is_empty(), "the warm container outlived its harness: {left:?}");
}

/// An artifacts folder whose native `fault` is a script: its `sleep` holds the output pipe open and writes its
/// pid to `$SLEEPER_PID`.
fn sleeper_artifacts(dir: &Path) -> PathBuf {
    let arts = dir.join("artifacts");
    std::fs::create_dir_all(arts.join("native")).unwrap();
    let script = arts.join("native/fault");
    std::fs::write(&script, "#!/bin/sh\nsleep 987 &\necho $! > \"$SLEEPER_PID\"\nwait\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    arts
}

#[test]
fn a_native_workload_that_spawns_a_sleeper_is_stopped_with_it_at_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let arts = sleeper_artifacts(dir.path());
    let plan = PlanBuilder::new()
        .seed(1)
        .repetitions(1)
        .warmup(0)
        .timeout_ms(1000)
        .runtimes(&["native"])
        .modes(&["cold"])
        .workload("fault", &["loop"])
        .write(dir.path(), "script.toml");
    let run = dir.path().join("run");
    let marker = dir.path().join("sleeper.pid");
    let started = Instant::now();
    let harness = harness()
        .args(["measure", "--plan"])
        .arg(&plan)
        .arg("--out")
        .arg(&run)
        .arg("--artifacts")
        .arg(&arts)
        .env("SLEEPER_PID", &marker)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = wait_bounded(harness, Duration::from_secs(30));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(started.elapsed() < Duration::from_secs(20));
    let rows = rows(&run);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, Status::Timeout, "{}", rows[0].error);
    let sleeper: u32 = std::fs::read_to_string(&marker).unwrap().trim().parse().unwrap();
    assert_gone(sleeper, "the workload's sleep", Duration::from_secs(2));
}

#[test]
fn sigkill_of_the_harness_kills_what_its_native_cold_child_spawned() {
    let dir = tempfile::tempdir().unwrap();
    let arts = sleeper_artifacts(dir.path());
    let plan = PlanBuilder::new()
        .seed(1)
        .repetitions(1)
        .warmup(0)
        .timeout_ms(600_000)
        .runtimes(&["native"])
        .modes(&["cold"])
        .workload("fault", &["loop"])
        .write(dir.path(), "script.toml");
    let marker = dir.path().join("sleeper.pid");
    let mut harness = harness()
        .args(["measure", "--plan"])
        .arg(&plan)
        .arg("--out")
        .arg(dir.path().join("run"))
        .arg("--artifacts")
        .arg(&arts)
        .env("SLEEPER_PID", &marker)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let sleeper: u32 = loop {
        if let Some(pid) = std::fs::read_to_string(&marker)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "the script never started its sleep");
        std::thread::sleep(Duration::from_millis(20));
    };
    sigkill(&mut harness);
    assert_gone(sleeper, "the sleep the workload started", Duration::from_secs(5));
}

/// Creates a stopped container of the noop image with these labels; returns its id.
fn labelled_container(image: &str, labels: &[String]) -> String {
    let mut cmd = Command::new("docker");
    cmd.arg("create");
    for label in labels {
        cmd.args(["--label", label]);
    }
    let created = cmd.arg(image).arg("--serve").output().unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    String::from_utf8_lossy(&created.stdout).trim().to_string()
}

fn exists(id: &str) -> bool {
    Command::new("docker")
        .args(["inspect", "--format", "{{.Id}}", id])
        .output()
        .unwrap()
        .status
        .success()
}

fn noop_container_plan(dir: &Path) -> PathBuf {
    PlanBuilder::new()
        .seed(1)
        .repetitions(1)
        .warmup(0)
        .runtimes(&["container"])
        .modes(&["cold"])
        .workload("noop", &["0"])
        .write(dir, "noop.toml")
}

#[test]
fn the_startup_sweep_removes_only_containers_of_provably_dead_local_owners() {
    let dir = tempfile::tempdir().unwrap();
    let plan = noop_container_plan(dir.path());
    // The first run builds the image.
    let first = measure(&plan, &dir.path().join("first"));
    assert!(first.status.success(), "{}", stderr(&first));
    let images = Command::new("docker")
        .args([
            "images",
            "harness-workload/noop",
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ])
        .output()
        .unwrap();
    let image = String::from_utf8_lossy(&images.stdout)
        .lines()
        .next()
        .unwrap()
        .to_string();
    let link = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let ns = link
        .to_str()
        .unwrap()
        .trim_start_matches("pid:[")
        .trim_end_matches(']')
        .to_string();
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .unwrap()
        .trim()
        .to_string();
    let owner = |pid_start: &str, ns: &str, boot: &str| {
        vec![
            "harness.managed=true".to_string(),
            format!("harness.owner={pid_start}"),
            format!("harness.owner.pidns={ns}"),
            format!("harness.owner.boot={boot}"),
        ]
    };
    let dead_local = labelled_container(&image, &owner("999999999:1", &ns, &boot));
    let other_namespace = labelled_container(&image, &owner("999999999:1", "1", &boot));
    let other_boot = labelled_container(
        &image,
        &owner("999999999:1", &ns, "00000000-0000-0000-0000-000000000000"),
    );
    let mut unmanaged = owner("999999999:1", &ns, &boot);
    unmanaged[0] = "harness.managed=no".to_string();
    let not_managed = labelled_container(&image, &unmanaged);
    let second = measure(&plan, &dir.path().join("second"));
    assert!(second.status.success(), "{}", stderr(&second));
    let survivors = [&other_namespace, &other_boot, &not_managed].map(|id| exists(id));
    let removed = !exists(&dead_local);
    for id in [&dead_local, &other_namespace, &other_boot, &not_managed] {
        let _ = Command::new("docker").args(["rm", "-f", id]).output();
    }
    assert!(removed, "the container of a dead local owner was not swept");
    assert_eq!(
        survivors, [true; 3],
        "another namespace's, another boot's and an unmanaged container must survive"
    );
}

#[test]
fn a_cold_container_out_of_memory_is_a_trap_at_once_not_a_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::new()
        .seed(1)
        .repetitions(1)
        .warmup(0)
        .timeout_ms(30_000)
        .runtimes(&["container"])
        .modes(&["cold", "warm"])
        .workload("sieve", &["200000000"])
        .write(dir.path(), "oom.toml");
    let run = dir.path().join("run");
    let child = spawn_measure(&plan, &run, &[("HARNESS_CONTAINER_MEMORY_MB", "32")]);
    let pid = child.id();
    let output = wait_bounded(child, Duration::from_secs(120));
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = rows(&run);
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r.status, Status::Trap, "{:?}: {}", r.mode, r.error);
        assert!(
            r.error.contains("out of memory") && r.error.contains("OOM killer") && r.error.contains("32 MiB"),
            "{:?}: {}",
            r.mode,
            r.error
        );
        assert!(r.latency_ns < 10_000_000_000, "{:?} took {} ns", r.mode, r.latency_ns);
    }
    assert_none_left(pid, Duration::from_secs(20));
}

/// A TCP front of the local engine's unix socket, as `dockerd -H tcp://` would be; returns its address.
fn tcp_proxy_to_docker() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { return };
            let Ok(unix) = std::os::unix::net::UnixStream::connect("/var/run/docker.sock") else {
                continue;
            };
            let (mut tcp_in, mut unix_in) = (tcp.try_clone().unwrap(), unix.try_clone().unwrap());
            let (mut tcp_out, mut unix_out) = (tcp, unix);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut tcp_in, &mut unix_out);
                let _ = unix_out.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let mut buf = [0u8; 64 * 1024];
                while let Ok(n) = unix_in.read(&mut buf) {
                    if n == 0 || tcp_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = tcp_out.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    addr
}

#[test]
fn docker_host_tcp_reaches_a_live_engine_and_a_dead_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let plan = noop_container_plan(dir.path());
    let addr = tcp_proxy_to_docker();
    let run = dir.path().join("tcp");
    let child = spawn_measure(&plan, &run, &[("DOCKER_HOST", &format!("tcp://{addr}"))]);
    let output = wait_bounded(child, Duration::from_secs(120));
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = rows(&run);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, Status::Ok, "{}", rows[0].error);

    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let run = dir.path().join("dead");
    let output = wait_bounded(
        spawn_measure(&plan, &run, &[("DOCKER_HOST", &format!("tcp://{closed}"))]),
        Duration::from_secs(60),
    );
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains(&format!("tcp://{closed}")) && !err.contains("on its socket"),
        "{err}"
    );
    assert!(!run.join("invocations.csv").exists());

    let output = wait_bounded(
        spawn_measure(&plan, &dir.path().join("ssh"), &[("DOCKER_HOST", "ssh://me@elsewhere")]),
        Duration::from_secs(60),
    );
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("ssh://me@elsewhere") && err.contains("tcp://HOST:PORT"),
        "{err}"
    );
}

#[test]
fn a_container_memory_cap_that_is_no_number_of_mib_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let plan = noop_container_plan(dir.path());
    for value in ["lots", "99999999999999999", "0"] {
        let run = dir.path().join(format!("run-{value}"));
        let output = wait_bounded(
            spawn_measure(&plan, &run, &[("HARNESS_CONTAINER_MEMORY_MB", value)]),
            Duration::from_secs(60),
        );
        assert!(!output.status.success(), "{value} was accepted");
        let err = stderr(&output);
        assert!(
            err.contains("HARNESS_CONTAINER_MEMORY_MB") && err.contains(value) && err.contains("from 6 to 1048576"),
            "{err}"
        );
        assert!(!run.join("invocations.csv").exists(), "no workload ran");
    }
}

fn node_plan(dir: &Path) -> PathBuf {
    PlanBuilder::new()
        .seed(1)
        .repetitions(1)
        .warmup(0)
        .runtimes(&["node-js"])
        .modes(&["cold"])
        .workload("noop", &["0"])
        .write(dir, "node.toml")
}

#[test]
fn a_js_dir_that_does_not_exist_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let output = harness()
        .args(["measure", "--plan"])
        .arg(node_plan(dir.path()))
        .arg("--out")
        .arg(dir.path().join("run"))
        .arg("--artifacts")
        .arg(artifacts())
        .env("HARNESS_JS_DIR", "/nonexistent/js")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("HARNESS_JS_DIR") && err.contains("/nonexistent/js") && err.contains("does not exist"),
        "{err}"
    );
    assert!(!err.contains("no JavaScript port"), "{err}");
}

#[test]
fn a_copied_harness_looks_for_js_next_to_itself_and_says_where_it_looked() {
    // Starts a copy of the harness, not through `harness()`.
    machine::share();
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let copy = bin.join("harness");
    std::fs::copy(env!("CARGO_BIN_EXE_harness"), &copy).unwrap();
    let plan = node_plan(dir.path());
    let run_copy = |run: &str| {
        Command::new(&copy)
            .env("CI", "true")
            .env_remove("HARNESS_JS_DIR")
            .current_dir(dir.path())
            .args(["measure", "--plan"])
            .arg(&plan)
            .arg("--out")
            .arg(dir.path().join(run))
            .arg("--artifacts")
            .arg(artifacts())
            .output()
            .unwrap()
    };
    // Not the checkout it was built from.
    let output = run_copy("none");
    assert!(
        !output.status.success(),
        "a copied harness found the checkout's workloads/js"
    );
    let err = stderr(&output);
    assert!(
        err.contains(&bin.join("js").display().to_string()) && err.contains("HARNESS_JS_DIR"),
        "{err}"
    );
    // `js` next to the executable is found.
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workloads/js");
    std::os::unix::fs::symlink(js.canonicalize().unwrap(), bin.join("js")).unwrap();
    let output = run_copy("next-to-it");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(rows(&dir.path().join("next-to-it"))[0].status, Status::Ok);
}
