//! Engine parity: what the harness sets for an engine (its stack, its Wasm proposals, what a deadline means) must
//! not decide a comparison. Third-party-style WASI commands: deep recursion, a SIMD kernel, and a guest that
//! runs forever under a deadline.

use crate::commands::module_dir;
use crate::common::*;
use harness_data::{RunStatus, Status};

const WASM_RUNTIMES: [&str; 4] = ["wasmtime-jit", "wasmtime-aot", "wasmi", "node-wasm"];

/// `_start` prints `text` (at most 64 bytes) with `fd_write` after `body` ran; `body` may use `$rec`, a plain
/// recursive count-down (one frame per level, as sightglass's ackermann nests), and `$count`, a loop counting
/// down (a long run, as sightglass's SQLite speedtest is on wasmi).
fn command(body: &str, text: &str) -> String {
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "{text}")
  (func $rec (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 0))
      (else (i32.add (call $rec (i32.sub (local.get 0) (i32.const 1))) (i32.const 1)))))
  (func $count (param i32) (result i32)
    (loop $down (local.set 0 (i32.sub (local.get 0) (i32.const 1))) (br_if $down (local.get 0)))
    (local.get 0))
  (func (export "_start")
    {body}
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const {len}))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#,
        len = text.len()
    )
}

#[test]
fn deep_recursion_and_simd_run_on_every_wasm_runtime_with_one_digest() {
    let root = tempfile::tempdir().unwrap();
    // 5,000 nested calls: wasmi's default limit (1,000 frames) trapped it; wasmtime's 512 KiB stack and node hold it.
    module_dir(
        root.path(),
        "deep",
        &command(
            "(if (i32.ne (call $rec (i32.const 5000)) (i32.const 5000)) (then unreachable))",
            "deep",
        ),
        &[],
    );
    // A SIMD kernel: wasmi was built without its `simd` feature and refused the module.
    module_dir(
        root.path(),
        "simd",
        &command(
            "(if (i32.ne (i32x4.extract_lane 3 (i32x4.add (v128.const i32x4 1 2 3 4) (v128.const i32x4 5 6 7 8))) \
             (i32.const 12)) (then unreachable))",
            "simd",
        ),
        &[],
    );
    // A long run: 100 M loop turns, a fraction of a second compiled and about a second on wasmi.
    module_dir(
        root.path(),
        "long",
        &command(
            "(if (i32.ne (call $count (i32.const 100000000)) (i32.const 0)) (then unreachable))",
            "long",
        ),
        &[],
    );
    let plan = write_plan(
        root.path(),
        "parity.toml",
        &format!(
            "seed = 1\nrepetitions = 2\nwarmup = 0\nruntimes = {WASM_RUNTIMES:?}\nmodes = [\"cold\", \"warm\"]\n\
             [[workloads]]\nname = \"deep\"\nwasm = \"deep/benchmark.wasm\"\n\
             [[workloads]]\nname = \"simd\"\nwasm = \"simd/benchmark.wasm\"\n\
             [[workloads]]\nname = \"long\"\nwasm = \"long/benchmark.wasm\"\n"
        ),
    );
    let run = root.path().join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(manifest(&run).status, RunStatus::Complete);
    let rows = rows(&run);
    assert_eq!(rows.len(), 3 * WASM_RUNTIMES.len() * 2 * 2);
    for workload in ["deep", "simd", "long"] {
        let mine: Vec<_> = rows.iter().filter(|r| r.workload == workload).collect();
        for row in &mine {
            assert_eq!(row.status, Status::Ok, "{row:?}");
        }
        let digests: std::collections::BTreeSet<_> = mine.iter().map(|r| r.digest.as_str()).collect();
        assert_eq!(
            digests,
            std::collections::BTreeSet::from([harness_workloads::digest(workload.as_bytes()).as_str()])
        );
    }
}

/// Nested calls past what 512 KiB (wasmtime's default stack, and wasmi's 32,768 frames) holds, yet within 4 MiB.
const DEEPER_THAN_THE_DEFAULT: u32 = 40_000;

#[test]
fn one_plan_key_sets_the_stack_of_every_engine_and_the_manifest_says_what_each_admitted() {
    let root = tempfile::tempdir().unwrap();
    let depth = DEEPER_THAN_THE_DEFAULT;
    module_dir(
        root.path(),
        "deeper",
        &command(
            &format!("(if (i32.ne (call $rec (i32.const {depth})) (i32.const {depth})) (then unreachable))"),
            "deeper",
        ),
        &[],
    );
    let plan_text = |runtimes: &[&str], stack: &str| {
        format!(
            "seed = 1\nrepetitions = 1\nwarmup = 0\n{stack}runtimes = {runtimes:?}\nmodes = [\"cold\", \"warm\"]\n\
             [[workloads]]\nname = \"deeper\"\nwasm = \"deeper/benchmark.wasm\"\n"
        )
    };
    // The default: wasmtime's 512 KiB, and wasmi's frames for it; both stop the program, each with its own trap.
    let in_process = ["wasmtime-jit", "wasmtime-aot", "wasmi"];
    let plan = write_plan(root.path(), "default.toml", &plan_text(&in_process, ""));
    let run = root.path().join("default");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    let trapped = rows(&run);
    assert_eq!(trapped.len(), in_process.len() * 2);
    for row in &trapped {
        assert_eq!(row.status, Status::Trap, "{row:?}");
    }
    let stack = manifest(&run).stack;
    assert_eq!(stack["wasmtime-aot"], "512 KiB of Wasm stack (max_wasm_stack)");
    assert!(stack["wasmi"].starts_with("32768 frames"), "{}", stack["wasmi"]);
    // 4 MiB for every engine, node's V8 included: the same program runs everywhere, with one digest.
    let plan = write_plan(
        root.path(),
        "big.toml",
        &plan_text(&WASM_RUNTIMES, "wasm_stack_kib = 4096\n"),
    );
    let run = root.path().join("big");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    let everywhere = rows(&run);
    assert_eq!(everywhere.len(), WASM_RUNTIMES.len() * 2);
    for row in &everywhere {
        assert_eq!(row.status, Status::Ok, "{row:?}");
        assert_eq!(row.digest, harness_workloads::digest(b"deeper"));
    }
    let stack = manifest(&run).stack;
    assert_eq!(stack["wasmtime-jit"], "4096 KiB of Wasm stack (max_wasm_stack)");
    assert!(stack["wasmi"].starts_with("262144 frames"), "{}", stack["wasmi"]);
    assert!(
        stack["node-wasm"].starts_with("V8 --stack-size=4096 KiB"),
        "{}",
        stack["node-wasm"]
    );
    // At the process boundary (built-in workloads only) the `invoke-once` child takes the same key.
    let plan = write_plan(
        root.path(),
        "process.toml",
        "seed = 1\nrepetitions = 1\nwarmup = 0\nwasm_stack_kib = 4096\ncold_boundary = \"process\"\n\
         runtimes = [\"wasmtime-aot\", \"wasmi\"]\nmodes = [\"cold\"]\n[[workloads]]\nname = \"noop\"\ninputs = [\"0\"]\n",
    );
    let run = root.path().join("process");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    let at_boundary = rows(&run);
    assert_eq!(at_boundary.len(), 2);
    assert!(
        at_boundary.iter().all(|row| row.status == Status::Ok),
        "{at_boundary:?}"
    );
}

#[test]
fn a_wasmi_deadline_is_time_not_a_fuel_budget() {
    let root = tempfile::tempdir().unwrap();
    module_dir(
        root.path(),
        "forever",
        &command("(loop $spin (br $spin))", "never"),
        &[],
    );
    let plan = write_plan(
        root.path(),
        "forever.toml",
        "seed = 1\nrepetitions = 2\nwarmup = 0\ntimeout_ms = 2000\nruntimes = [\"wasmi\"]\nmodes = [\"cold\", \"warm\"]\n\
         [[workloads]]\nname = \"forever\"\nwasm = \"forever/benchmark.wasm\"\n",
    );
    let run = root.path().join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = rows(&run);
    assert_eq!(rows.len(), 4);
    for row in &rows {
        assert_eq!(row.status, Status::Timeout, "{row:?}");
        assert!(row.error.contains("2000 ms deadline"), "{}", row.error);
        // A fixed fuel budget ran out long before the deadline (2 G fuel: 0.4-2 s of wasmi); fuel in slices with
        // the clock read between them stops the guest at the deadline, plus at most one slice (1-5 ms) and a busy
        // machine's delays.
        assert!(
            row.latency_ns >= 2_000_000_000,
            "stopped after {} ms",
            row.latency_ns / 1_000_000
        );
        assert!(
            row.latency_ns < 2_500_000_000,
            "stopped after {} ms",
            row.latency_ns / 1_000_000
        );
    }
}

#[test]
fn a_wasm_stack_the_os_stack_cannot_hold_is_refused_before_anything_runs() {
    use std::os::unix::process::CommandExt;
    let root = tempfile::tempdir().unwrap();
    let plan = write_plan(
        root.path(),
        "big.toml",
        "seed = 1\nrepetitions = 1\nwasm_stack_kib = 4096\nruntimes = [\"wasmtime-aot\"]\nmodes = [\"cold\"]\n\
         [[workloads]]\nname = \"noop\"\ninputs = [\"0\"]\n",
    );
    let run = root.path().join("run");
    let mut command = harness();
    command
        .env("RUST_BACKTRACE", "1")
        .args(["measure", "--plan"])
        .arg(&plan)
        .arg("--out")
        .arg(&run)
        .arg("--artifacts")
        .arg(artifacts());
    // SAFETY: the closure only calls getrlimit/setrlimit, which are async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::getrlimit(libc::RLIMIT_STACK, &mut limit);
            limit.rlim_cur = 2048 * 1024;
            if libc::setrlimit(libc::RLIMIT_STACK, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = command.output().unwrap();
    let err = stderr(&output);
    assert!(!output.status.success(), "{err}");
    assert!(
        err.contains("wasm_stack_kib = 4096 needs an OS stack of at least 5120 KiB") && err.contains("ulimit -s 5120"),
        "{err}"
    );
    // A message, not a panic, and no backtrace although RUST_BACKTRACE is set.
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
    // Refused while preparing, before the first invocation: no row was measured.
    let invocations = run.join("invocations.csv");
    assert!(!invocations.exists() || rows(&run).is_empty());
}
