//! Engine parity: what the harness sets for an engine (its stack, its Wasm proposals, what a deadline means) must
//! not decide a comparison. Third-party-style WASI commands: deep recursion, a SIMD kernel, and a guest that
//! runs forever under a deadline.

use crate::commands::module_dir;
use crate::common::*;
use harness_data::{RunStatus, Status};

const WASM_RUNTIMES: [&str; 4] = ["wasmtime-jit", "wasmtime-aot", "wasmi", "node-wasm"];

/// `_start` prints `text` (at most 64 bytes) with `fd_write` after `body` ran; `body` may use `$rec`, a plain
/// recursive count-down (one frame per level, as sightglass's ackermann nests).
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
    let plan = write_plan(
        root.path(),
        "parity.toml",
        &format!(
            "seed = 1\nrepetitions = 2\nwarmup = 0\nruntimes = {WASM_RUNTIMES:?}\nmodes = [\"cold\", \"warm\"]\n\
             [[workloads]]\nname = \"deep\"\nwasm = \"deep/benchmark.wasm\"\n\
             [[workloads]]\nname = \"simd\"\nwasm = \"simd/benchmark.wasm\"\n"
        ),
    );
    let run = root.path().join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(manifest(&run).status, RunStatus::Complete);
    let rows = rows(&run);
    assert_eq!(rows.len(), 2 * WASM_RUNTIMES.len() * 2 * 2);
    for workload in ["deep", "simd"] {
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
        "seed = 1\nrepetitions = 2\nwarmup = 0\ntimeout_ms = 400\nruntimes = [\"wasmi\"]\nmodes = [\"cold\", \"warm\"]\n\
         [[workloads]]\nname = \"forever\"\nwasm = \"forever/benchmark.wasm\"\n",
    );
    let run = root.path().join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = rows(&run);
    assert_eq!(rows.len(), 4);
    for row in &rows {
        assert_eq!(row.status, Status::Timeout, "{row:?}");
        assert!(row.error.contains("400 ms deadline"), "{}", row.error);
        // A fixed fuel budget ran out long before the deadline (400 M fuel: ~0.1 s here); fuel in slices with
        // the clock read between them stops the guest at the deadline, plus at most one slice and a busy
        // machine's delays.
        assert!(
            row.latency_ns >= 400_000_000,
            "stopped after {} ms",
            row.latency_ns / 1_000_000
        );
        assert!(
            row.latency_ns < 5_000_000_000,
            "stopped after {} ms",
            row.latency_ns / 1_000_000
        );
    }
}
