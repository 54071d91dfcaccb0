//! Issue 21, command workloads kept to the spine's promises: deadlines that blocking host calls cannot escape,
//! one output cap for every runtime, one size rule for a command's files, container images that keep the
//! module's tree, and names that cannot leave `--artifacts`. Modules are WAT written into tempdirs.

use crate::commands::{module_dir, static_cat};
use crate::common::{artifacts, harness, measure, rows, spawn_measure_until, stderr, write_plan};
use harness_data::Status;
use std::path::Path;
use std::time::{Duration, Instant};

/// `_start` asks `poll_oneoff` for one relative monotonic clock of 60 s: a `sleep(60)`.
const SLEEP_60_S_WAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store8 (i32.const 8) (i32.const 0))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 60000000000))
    (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))))
"#;

/// `_start` reads stdin forever, past its end (each read returns 0 bytes).
const READ_PAST_EOF_WAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 200) (i32.const 300))
    (i32.store (i32.const 204) (i32.const 16))
    (loop $again
      (drop (call $fd_read (i32.const 0) (i32.const 200) (i32.const 1) (i32.const 220)))
      (br $again))))
"#;

/// `_start` writes 300 MiB of zeros to stdout, 1 MiB a call, ignoring errors, and exits 0.
const WRITE_300_MIB_WAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 18)
  (func (export "_start") (local $left i32)
    (i32.store (i32.const 0) (i32.const 65536))
    (i32.store (i32.const 4) (i32.const 1048576))
    (local.set $left (i32.const 300))
    (loop $again
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $left (i32.sub (local.get $left) (i32.const 1)))
      (br_if $again (i32.gt_s (local.get $left) (i32.const 0))))))
"#;

/// `_start` copies the file at `path` (relative to the preopened directory) to stdout.
fn cat_wat(path: &str) -> String {
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 2)
  (data (i32.const 16) "{path}")
  (func (export "_start") (local $fd i32) (local $total i32)
    (if (call $path_open (i32.const 3) (i32.const 1) (i32.const 16) (i32.const {len}) (i32.const 0)
          (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 12))
      (then (call $proc_exit (i32.const 3))))
    (local.set $fd (i32.load (i32.const 12)))
    (block $done
      (loop $more
        (i32.store (i32.const 0) (i32.add (i32.const 1024) (local.get $total)))
        (i32.store (i32.const 4) (i32.sub (i32.const 120000) (local.get $total)))
        (br_if $done (call $fd_read (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
        (br_if $done (i32.eqz (i32.load (i32.const 8))))
        (local.set $total (i32.add (local.get $total) (i32.load (i32.const 8))))
        (br $more)))
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (local.get $total))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"#,
        len = path.len()
    )
}

#[test]
fn a_command_asleep_or_reading_past_its_input_stops_at_its_deadline_on_wasmtime_and_wasmi() {
    let root = tempfile::tempdir().unwrap();
    module_dir(root.path(), "sleep", SLEEP_60_S_WAT, &[]);
    module_dir(root.path(), "read", READ_PAST_EOF_WAT, &[]);
    let plan = write_plan(
        root.path(),
        "blocking.toml",
        r#"seed = 1
repetitions = 1
warmup = 0
timeout_ms = 300
runtimes = ["wasmtime-jit", "wasmtime-aot", "wasmi"]
modes = ["cold", "warm"]
[[workloads]]
name = "sleep"
wasm = "sleep/benchmark.wasm"
[[workloads]]
name = "read"
wasm = "read/benchmark.wasm"
"#,
    );
    let run = root.path().join("run");
    let started = Instant::now();
    let output = measure(&plan, &run);
    let took = started.elapsed();
    let rows = rows(&run);
    assert_eq!(rows.len(), 2 * 3 * 2, "{}", stderr(&output));
    for row in &rows {
        assert_eq!(row.status, Status::Timeout, "{row:?}");
        // Before: the sleep ran its 60 s, and wasmi's reads ran on for seconds (fuel counts guest instructions
        // only). 5 s is 16 deadlines: room for a busy machine, far below either.
        assert!(
            row.latency_ns < 5_000_000_000,
            "{} {} {:?}: {} ms against a 300 ms deadline",
            row.workload,
            row.runtime,
            row.mode,
            row.latency_ns / 1_000_000
        );
    }
    let slept = rows
        .iter()
        .find(|r| r.workload == "sleep" && r.runtime == "wasmi")
        .unwrap();
    assert!(slept.error.contains("deadline"), "{}", slept.error);
    assert!(took < Duration::from_secs(60), "the run took {took:?}");
}

#[test]
fn ctrl_c_during_a_sleeping_command_ends_the_run_at_the_invocations_deadline() {
    let root = tempfile::tempdir().unwrap();
    module_dir(root.path(), "sleep", SLEEP_60_S_WAT, &[]);
    let plan = write_plan(
        root.path(),
        "sleep.toml",
        r#"seed = 1
repetitions = 200
warmup = 0
timeout_ms = 300
runtimes = ["wasmi", "wasmtime-jit"]
modes = ["cold"]
[[workloads]]
name = "sleep"
wasm = "sleep/benchmark.wasm"
"#,
    );
    let run = root.path().join("run");
    let mut child = spawn_measure_until(&plan, &run, 2);
    let interrupted = Instant::now();
    // SAFETY: sending SIGINT to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    // Before, each invocation slept its 60 s, Ctrl-C or not.
    assert!(
        interrupted.elapsed() < Duration::from_secs(30),
        "Ctrl-C took {:?}",
        interrupted.elapsed()
    );
    assert_eq!(status.code(), Some(130), "{status:?}");
}

#[test]
fn output_past_the_cap_is_an_error_row_on_every_runtime_never_a_digest_mismatch() {
    let root = tempfile::tempdir().unwrap();
    let dir = module_dir(root.path(), "loud", WRITE_300_MIB_WAT, &[]);
    let script = dir.join("loud.sh");
    std::fs::write(&script, "#!/bin/sh\nhead -c 314572800 /dev/zero\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let plan = write_plan(
        root.path(),
        "loud.toml",
        r#"seed = 1
repetitions = 1
warmup = 0
runtimes = ["native", "wasmtime-jit", "wasmi", "node-wasm"]
modes = ["cold", "warm"]
[[workloads]]
name = "loud"
wasm = "loud/benchmark.wasm"
native = "loud/loud.sh"
"#,
    );
    let run = root.path().join("run");
    let output = measure(&plan, &run);
    let text = stderr(&output);
    assert!(!text.contains("digest mismatch"), "{text}");
    let rows = rows(&run);
    assert_eq!(rows.len(), 4 * 2, "{text}");
    for row in &rows {
        // Before: wasmtime cut stdout at 256 MiB and kept the row `ok`, the others kept all 300 MiB, and the
        // run failed with a digest mismatch blamed on the runtimes.
        assert_eq!(
            row.status,
            Status::Error,
            "{} {:?}: {}",
            row.runtime,
            row.mode,
            row.error
        );
        assert!(
            row.error.contains("more than 256 MiB to stdout and stderr together"),
            "{} {:?}: {}",
            row.runtime,
            row.mode,
            row.error
        );
    }
}

#[test]
fn command_files_over_the_size_rule_are_refused_before_anything_runs() {
    let root = tempfile::tempdir().unwrap();
    let dir = module_dir(root.path(), "big", &cat_wat("data.txt"), &[("data.txt", b"small\n")]);
    // Sparse: 256 MiB + 1 byte that take no disk and are never read.
    std::fs::File::create(dir.join("huge.input"))
        .unwrap()
        .set_len((256 << 20) + 1)
        .unwrap();
    let plan = write_plan(
        root.path(),
        "stdin.toml",
        "repetitions = 1\nruntimes = [\"wasmtime-jit\"]\nmodes = [\"cold\"]\n[[workloads]]\nname = \"big\"\n\
         wasm = \"big/benchmark.wasm\"\nstdin = \"huge.input\"\n",
    );
    let output = measure(&plan, &root.path().join("run-stdin"));
    let text = stderr(&output);
    assert!(!output.status.success());
    assert!(text.contains("stdin.toml:7:9"), "{text}");
    assert!(
        text.contains("huge.input is 268435457 bytes, more than the 256 MiB"),
        "{text}"
    );

    // The same file beside the module, for a container image: refused before the first invocation.
    let cat = static_cat(root.path());
    std::fs::copy(&cat, dir.join("cat-static")).unwrap();
    let plan = write_plan(
        root.path(),
        "image.toml",
        "repetitions = 1\nruntimes = [\"container\"]\nmodes = [\"cold\"]\n[[workloads]]\nname = \"big\"\n\
         wasm = \"big/benchmark.wasm\"\nnative = \"big/cat-static\"\nargs = [\"data.txt\"]\n",
    );
    let run = root.path().join("run-image");
    let output = measure(&plan, &run);
    let text = stderr(&output);
    assert!(!output.status.success());
    assert!(
        text.contains("huge.input is 268435457 bytes") && text.contains("copied into its container image"),
        "{text}"
    );
    assert!(
        !run.join("invocations.csv").exists() || rows(&run).is_empty(),
        "nothing is measured"
    );
}

#[test]
fn a_command_in_a_container_reads_files_in_subdirectories_and_through_symlinks() {
    let root = tempfile::tempdir().unwrap();
    let data = b"deep\ninside\n";
    let cat = static_cat(root.path());
    for (name, path) in [("sub", "sub/data.txt"), ("link", "link.txt")] {
        let dir = module_dir(root.path(), name, &cat_wat(path), &[]);
        std::fs::create_dir(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/data.txt"), data).unwrap();
        std::os::unix::fs::symlink("sub/data.txt", dir.join("link.txt")).unwrap();
        std::fs::copy(&cat, dir.join("cat-static")).unwrap();
    }
    let plan = write_plan(
        root.path(),
        "tree.toml",
        r#"seed = 2
repetitions = 1
warmup = 0
runtimes = ["container", "wasmtime-jit"]
modes = ["cold", "warm"]
[[workloads]]
name = "sub"
wasm = "sub/benchmark.wasm"
native = "sub/cat-static"
args = ["sub/data.txt"]
[[workloads]]
name = "link"
wasm = "link/benchmark.wasm"
native = "link/cat-static"
args = ["link.txt"]
"#,
    );
    let run = root.path().join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = rows(&run);
    assert_eq!(rows.len(), 2 * 2 * 2);
    for row in &rows {
        // Before: the image held the directory's regular files only; `cat` exited 3 in the container.
        assert_eq!(row.status, Status::Ok, "{row:?}");
        assert_eq!(row.digest, harness_workloads::digest(data), "{row:?}");
    }
}

/// `harness measure` of `plan` with its own `--artifacts` folder.
fn measure_with_artifacts(plan: &Path, run: &Path, artifacts_dir: &Path) -> std::process::Output {
    harness()
        .args(["measure", "--plan"])
        .arg(plan)
        .arg("--out")
        .arg(run)
        .arg("--artifacts")
        .arg(artifacts_dir)
        .output()
        .unwrap()
}

#[test]
fn command_names_that_would_leave_artifacts_or_overflow_a_file_name_are_plan_errors_at_their_line() {
    let root = tempfile::tempdir().unwrap();
    module_dir(root.path(), "m", &cat_wat("data.txt"), &[("data.txt", b"x\n")]);
    let nested = root.path().join("a/b");
    std::fs::create_dir_all(&nested).unwrap();
    assert!(artifacts().is_dir());
    let long = "n".repeat(300);
    for (name, said) in [
        ("../../../escaped", "'/'"),
        ("..", "starts with `.`"),
        (long.as_str(), "300 bytes long"),
    ] {
        let plan = write_plan(
            root.path(),
            "names.toml",
            &format!(
                "repetitions = 1\nruntimes = [\"wasmtime-aot\"]\nmodes = [\"cold\"]\n[[workloads]]\n\
                 name = \"{name}\"\nwasm = \"m/benchmark.wasm\"\n"
            ),
        );
        let run = root.path().join("run");
        let output = measure_with_artifacts(&plan, &run, &nested);
        let text = stderr(&output);
        assert!(!output.status.success(), "{name}");
        assert!(text.contains("names.toml:5:8") && text.contains(said), "{name}: {text}");
        assert!(!run.exists(), "{name}: a refused plan leaves no run folder");
    }
    // Before: the `.cwasm` of `../../../escaped` was written beside `a/`, outside `--artifacts`.
    let escaped: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("escaped"))
        .collect();
    assert!(escaped.is_empty(), "{escaped:?}");
}
