//! Issue 14, "Bring your own workload": WASI command modules named by path in a plan, run by the real binary
//! on wasmtime-jit, wasmtime-aot, wasmi, node-wasm (and their native and JavaScript twins), cold and warm.
//! The modules are WAT written into tempdirs here, in the sightglass convention: `_start`, input on stdin or
//! from a file in the module's directory, output on stdout, `bench.start`/`bench.end` around the kernel.

use crate::common::{measure, rows, stderr, write_plan};
use harness_data::{InvocationRecord, Status};
use std::collections::BTreeSet;
use std::path::Path;

/// Where a command's input comes from.
#[derive(Clone, Copy)]
enum Source {
    Stdin,
    /// `data.txt` in the preopened directory.
    File,
}

/// A command that spins `spin` loop iterations (its start-up), then, between `bench.start` and `bench.end`
/// when `bench`, reads its whole input, and after them writes it to stdout.
fn command_wat(bench: bool, source: Source, spin: u32) -> String {
    let bench_imports = if bench {
        r#"(import "bench" "start" (func $bench_start)) (import "bench" "end" (func $bench_end))"#
    } else {
        ""
    };
    let (start, end) = if bench {
        ("(call $bench_start)", "(call $bench_end)")
    } else {
        ("", "")
    };
    let open = match source {
        Source::Stdin => "(local.set $fd (i32.const 0))".to_string(),
        // path_open(dirfd 3, no lookup flags, "data.txt", no oflags, rights fd_read, none, no fdflags, &fd)
        Source::File => "(if (call $path_open (i32.const 3) (i32.const 0) (i32.const 16) (i32.const 8) \
             (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 12)) \
             (then (call $proc_exit (i32.const 3)))) \
             (local.set $fd (i32.load (i32.const 12)))"
            .to_string(),
    };
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  {bench_imports}
  (memory (export "memory") 2)
  (data (i32.const 16) "data.txt")
  (global $sink (mut i32) (i32.const 0))
  (func $spin (param $n i32) (local $acc i32)
    (loop $again
      (local.set $acc (i32.add (local.get $acc) (i32.mul (local.get $n) (i32.const 7))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $again (i32.gt_s (local.get $n) (i32.const 0))))
    (global.set $sink (local.get $acc)))
  (func (export "_start") (local $fd i32) (local $total i32)
    (call $spin (i32.const {spin}))
    {open}
    {start}
    ;; read until EOF into 1024.., iovec at 0, nread at 8
    (block $done
      (loop $more
        (i32.store (i32.const 0) (i32.add (i32.const 1024) (local.get $total)))
        (i32.store (i32.const 4) (i32.sub (i32.const 120000) (local.get $total)))
        (br_if $done (call $fd_read (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
        (br_if $done (i32.eqz (i32.load (i32.const 8))))
        (local.set $total (i32.add (local.get $total) (i32.load (i32.const 8))))
        (br $more)))
    {end}
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (local.get $total))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"#
    )
}

/// Writes `benchmark.wasm` (from WAT) into `dir/name/`, with `files` beside it; returns the directory.
pub(crate) fn module_dir(root: &Path, name: &str, wat: &str, files: &[(&str, &[u8])]) -> std::path::PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("benchmark.wasm"), wat::parse_str(wat).unwrap()).unwrap();
    for (file, bytes) in files {
        std::fs::write(dir.join(file), bytes).unwrap();
    }
    dir
}

fn input_text() -> Vec<u8> {
    (0..200)
        .map(|i| format!("line {i} of the input\n"))
        .collect::<String>()
        .into_bytes()
}

fn median(rows: &[&InvocationRecord], phase: impl Fn(&InvocationRecord) -> Option<u64>) -> u64 {
    crate::common::median(rows.iter().map(|r| phase(r).unwrap_or(0)).collect())
}

const WASM_RUNTIMES: [&str; 4] = ["wasmtime-jit", "wasmtime-aot", "wasmi", "node-wasm"];

/// Spin of the commands' start-up: a few milliseconds in wasmi, well under one in wasmtime.
const SPIN: u32 = 3_000_000;

#[test]
fn commands_with_and_without_bench_run_everywhere_cold_and_warm_with_one_digest() {
    let root = tempfile::tempdir().unwrap();
    let input = input_text();
    let echo_js = b"'use strict';\nexports.run = (input) => Buffer.from(input);\n";
    let echo_sh = b"#!/bin/sh\nexec cat\n";
    let bench = module_dir(
        root.path(),
        "echo",
        &command_wat(true, Source::Stdin, SPIN),
        &[
            ("default.input", &input),
            ("benchmark.stdout.expected", &input),
            ("echo.js", echo_js),
            ("echo.sh", echo_sh),
        ],
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bench.join("echo.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    module_dir(
        root.path(),
        "echo-nobench",
        &command_wat(false, Source::Stdin, SPIN),
        &[("default.input", &input)],
    );
    let plan = write_plan(
        root.path(),
        "commands.toml",
        r#"seed = 3
repetitions = 2
warmup = 0
runtimes = ["native", "wasmtime-jit", "wasmtime-aot", "wasmi", "node-wasm", "node-js"]
modes = ["cold", "warm"]
[[workloads]]
name = "echo"
wasm = "echo/benchmark.wasm"
stdin = "default.input"
native = "echo/echo.sh"
js = "echo/echo.js"
[[workloads]]
name = "echo-nobench"
wasm = "echo-nobench/benchmark.wasm"
stdin = "default.input"
native = "echo/echo.sh"
js = "echo/echo.js"
"#,
    );
    let run = root.path().join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = rows(&run);
    assert_eq!(rows.len(), 2 * 6 * 2 * 2);
    for row in &rows {
        assert_eq!(row.status, Status::Ok, "{row:?}");
        assert_eq!(row.input, "default");
        assert_eq!(row.input_bytes, input.len() as u64);
        assert_eq!(row.output_bytes, input.len() as u64);
    }
    // Every runtime, cold and warm, with or without bench imports, printed the input back: one digest.
    let digests: BTreeSet<_> = rows.iter().map(|r| r.digest.as_str()).collect();
    assert_eq!(digests, BTreeSet::from([harness_workloads::digest(&input).as_str()]));

    // With bench imports, execute is the bench span (reading the input), and the start-up spin before it is
    // start-up; without them, execute is all of `_start`, spin included.
    for runtime in WASM_RUNTIMES {
        for mode in [harness_data::Mode::Cold, harness_data::Mode::Warm] {
            let cell = |workload: &str| -> Vec<&InvocationRecord> {
                rows.iter()
                    .filter(|r| r.workload == workload && r.runtime == runtime && r.mode == mode)
                    .collect()
            };
            let (with, without) = (cell("echo"), cell("echo-nobench"));
            let with_execute = median(&with, |r| r.execute_ns);
            let without_execute = median(&without, |r| r.execute_ns);
            assert!(
                median(&with, |r| r.startup_ns) > 3 * with_execute,
                "{runtime} {mode:?}: the spin before bench.start is start-up: {with:?}"
            );
            assert!(
                without_execute > 3 * with_execute,
                "{runtime} {mode:?}: without bench, execute ({without_execute} ns) holds the spin; with it \
                 ({with_execute} ns) only the read"
            );
            for row in with.iter().chain(&without) {
                assert!(row.output_ns.is_some() && row.instantiate_ns.is_some(), "{row:?}");
                let phases = [
                    row.startup_ns,
                    row.compile_ns,
                    row.instantiate_ns,
                    row.input_ns,
                    row.execute_ns,
                    row.output_ns,
                ];
                let sum: u64 = phases.iter().flatten().sum();
                assert!(
                    sum <= row.latency_ns,
                    "{runtime} {mode:?}: phases {sum} ns > latency {}",
                    row.latency_ns
                );
            }
        }
    }
}

#[test]
fn a_preopened_file_is_read_and_an_expected_output_mismatch_is_an_error_row_naming_the_line() {
    let root = tempfile::tempdir().unwrap();
    let data = b"alpha\nbeta\ngamma\n";
    let wat = command_wat(true, Source::File, 1000);
    module_dir(
        root.path(),
        "cat",
        &wat,
        &[("data.txt", data), ("benchmark.stdout.expected", data)],
    );
    module_dir(
        root.path(),
        "cat-wrong",
        &wat,
        &[
            ("data.txt", data),
            ("benchmark.stdout.expected", b"alpha\nBETA\ngamma\n"),
        ],
    );
    let plan = write_plan(
        root.path(),
        "files.toml",
        r#"seed = 1
repetitions = 1
warmup = 0
runtimes = ["wasmtime-jit", "wasmtime-aot", "wasmi", "node-wasm"]
modes = ["cold", "warm"]
[[workloads]]
name = "cat"
wasm = "cat/benchmark.wasm"
[[workloads]]
name = "cat-wrong"
wasm = "cat-wrong/benchmark.wasm"
"#,
    );
    let run = root.path().join("run");
    let output = measure(&plan, &run);
    let rows = rows(&run);
    assert_eq!(rows.len(), 2 * 4 * 2, "{}", stderr(&output));
    for row in &rows {
        if row.workload == "cat" {
            assert_eq!(row.status, Status::Ok, "{row:?}");
            assert_eq!(row.digest, harness_workloads::digest(data), "{row:?}");
            assert_eq!(row.input_bytes, 0, "no stdin: the input is the preopened file");
        } else {
            assert_eq!(row.status, Status::Error, "{row:?}");
            assert!(
                row.error
                    .contains("benchmark.stdout.expected at line 2: expected \"BETA\", got \"beta\""),
                "{}",
                row.error
            );
        }
    }
}

#[test]
fn a_module_importing_what_no_runtime_provides_is_a_plan_error_naming_the_import() {
    let root = tempfile::tempdir().unwrap();
    module_dir(
        root.path(),
        "foreign",
        r#"(module (import "env" "foo" (func)) (memory (export "memory") 1) (func (export "_start")))"#,
        &[],
    );
    module_dir(root.path(), "reactor", r#"(module (func (export "_initialize")))"#, &[]);
    for (dir, wanted) in [
        ("foreign", "imports `env.foo`, which no runtime provides"),
        ("reactor", "exports no `_start`"),
    ] {
        let plan = write_plan(
            root.path(),
            &format!("{dir}.toml"),
            &format!(
                "repetitions = 1\nruntimes = [\"wasmtime-jit\"]\nmodes = [\"cold\"]\n[[workloads]]\nname = \"m\"\n\
                 wasm = \"${{MODULES}}/{dir}/benchmark.wasm\"\n"
            ),
        );
        let run = root.path().join(format!("run-{dir}"));
        let output = crate::common::harness()
            .args(["measure", "--plan"])
            .arg(&plan)
            .arg("--out")
            .arg(&run)
            .arg("--var")
            .arg(format!("MODULES={}", root.path().display()))
            .output()
            .unwrap();
        let text = stderr(&output);
        assert!(!output.status.success());
        assert!(text.contains(&format!("{dir}.toml:6:8")), "{text}");
        assert!(
            text.contains(&format!("{dir}/benchmark.wasm")) && text.contains(wanted),
            "{text}"
        );
    }
    // Without `--var` or the environment, the variable is named with the fix.
    let plan = root.path().join("foreign.toml");
    let output = measure(&plan, &root.path().join("run-unset"));
    assert!(stderr(&output).contains("--var MODULES=<value>"), "{}", stderr(&output));
}

/// A statically linked C program with the command contract: copies FILE (argv[1], relative to its working
/// directory) or stdin to stdout. Built here with the system's C compiler (`-static`), so that it runs in a
/// `FROM scratch` image.
pub(crate) fn static_cat(dir: &Path) -> std::path::PathBuf {
    let source = dir.join("cat.c");
    std::fs::write(
        &source,
        "#include <fcntl.h>\n#include <unistd.h>\nint main(int argc, char **argv) {\n  int fd = argc > 1 ? \
         open(argv[1], O_RDONLY) : 0;\n  if (fd < 0) return 3;\n  char b[65536]; ssize_t n;\n  while ((n = read(fd, \
         b, sizeof b)) > 0) if (write(1, b, n) != n) return 3;\n  return 0;\n}\n",
    )
    .unwrap();
    let binary = dir.join("cat-static");
    let built = std::process::Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(&binary)
        .arg(&source)
        .output()
        .expect("running cc (the C compiler Rust links with)");
    assert!(
        built.status.success(),
        "cc -static: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    binary
}

#[test]
fn a_command_runs_in_containers_cold_and_warm_with_its_directory_as_working_directory() {
    let root = tempfile::tempdir().unwrap();
    let data = b"one\ntwo\nthree\n";
    let cat = static_cat(root.path());
    let dir = module_dir(
        root.path(),
        "cat",
        &command_wat(true, Source::File, 1000),
        &[("data.txt", data), ("benchmark.stdout.expected", data)],
    );
    std::fs::copy(&cat, dir.join("cat-static")).unwrap();
    let plan = write_plan(
        root.path(),
        "containers.toml",
        r#"seed = 5
repetitions = 2
warmup = 0
runtimes = ["container", "native", "wasmtime-aot"]
modes = ["cold", "warm"]
[[workloads]]
name = "Cat Static"
wasm = "cat/benchmark.wasm"
native = "cat/cat-static"
args = ["data.txt"]
"#,
    );
    let run = root.path().join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = rows(&run);
    assert_eq!(rows.len(), 3 * 2 * 2);
    for row in &rows {
        assert_eq!(row.status, Status::Ok, "{row:?}");
        assert_eq!(row.digest, harness_workloads::digest(data), "{row:?}");
    }
    let warm_container = rows
        .iter()
        .find(|r| r.runtime == "container" && r.mode == harness_data::Mode::Warm)
        .unwrap();
    assert!(
        warm_container.instantiate_ns.is_some(),
        "the exec is the warm container's instantiate"
    );
}

/// A command that creates `out.txt` in its preopened directory and exits with path_open's errno (0: created).
const CREATE_FILE_WAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "out.txt")
  ;; oflags CREAT (1), rights fd_write (64)
  (func (export "_start")
    (call $proc_exit (call $path_open (i32.const 3) (i32.const 0) (i32.const 16) (i32.const 7)
      (i32.const 1) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 32)))))
"#;

#[test]
fn the_preopened_directory_is_read_only_unless_the_plan_says_writable() {
    let root = tempfile::tempdir().unwrap();
    let read_only = module_dir(root.path(), "ro", CREATE_FILE_WAT, &[]);
    let writable = module_dir(root.path(), "rw", CREATE_FILE_WAT, &[]);
    // node:wasi has no read-only preopen (docs/commands.md), so only the engines that enforce it are asked to.
    let plan = write_plan(
        root.path(),
        "perms.toml",
        r#"seed = 1
repetitions = 1
warmup = 0
runtimes = ["wasmtime-jit", "wasmi"]
modes = ["cold"]
[[workloads]]
name = "ro"
wasm = "ro/benchmark.wasm"
[[workloads]]
name = "rw"
wasm = "rw/benchmark.wasm"
preopen_writable = true
"#,
    );
    let run = root.path().join("run");
    let output = measure(&plan, &run);
    let rows = rows(&run);
    assert_eq!(rows.len(), 4, "{}", stderr(&output));
    for row in &rows {
        if row.workload == "ro" {
            assert_eq!(row.status, Status::Error, "{row:?}");
            assert!(row.error.starts_with("the command exited with code "), "{}", row.error);
            assert_ne!(row.error, "the command exited with code 0");
        } else {
            assert_eq!(row.status, Status::Ok, "{row:?}");
        }
    }
    assert!(!read_only.join("out.txt").exists());
    assert!(writable.join("out.txt").exists());
}
