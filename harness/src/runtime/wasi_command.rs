//! WASI command workloads (issue 14): a `wasm32-wasip1` program with `_start`, run with its own directory
//! preopened as `.`, input on stdin, output on stdout, as the sightglass suite runs its benchmarks. What every
//! runtime shares lives here: which imports a command may have, the `bench.start`/`bench.end` phases, and the
//! outcome (stdout digested, a nonzero exit an error row, expected-output files checked).
//! The engines' glue: `wasmtime_command.rs`, `wasmi_command.rs`, `node.rs` (node:wasi), `native.rs`.

use super::{Outcome, span};
use crate::artifacts::{CommandArtifacts, Expected};
use harness_data::{Phases, Status};
use std::path::Path;

/// The sightglass convention's import module: `bench.start()` and `bench.end()`, no params, no results.
pub const BENCH_MODULE: &str = "bench";

/// Every function of WASI preview1 (`wasi_snapshot_preview1`), which all four Wasm runtimes implement.
pub const PREVIEW1: &[&str] = &[
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "clock_res_get",
    "clock_time_get",
    "fd_advise",
    "fd_allocate",
    "fd_close",
    "fd_datasync",
    "fd_fdstat_get",
    "fd_fdstat_set_flags",
    "fd_fdstat_set_rights",
    "fd_filestat_get",
    "fd_filestat_set_size",
    "fd_filestat_set_times",
    "fd_pread",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "fd_pwrite",
    "fd_read",
    "fd_readdir",
    "fd_renumber",
    "fd_seek",
    "fd_sync",
    "fd_tell",
    "fd_write",
    "path_create_directory",
    "path_filestat_get",
    "path_filestat_set_times",
    "path_link",
    "path_open",
    "path_readlink",
    "path_remove_directory",
    "path_rename",
    "path_symlink",
    "path_unlink_file",
    "poll_oneoff",
    "proc_exit",
    "proc_raise",
    "sched_yield",
    "random_get",
    "sock_accept",
    "sock_recv",
    "sock_send",
    "sock_shutdown",
];

/// What a command module declares, checked before a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandShape {
    /// Imports both `bench.start` and `bench.end`.
    pub bench_phases: bool,
}

/// Checks that `wasm` is a command every Wasm runtime can run: it exports `_start`, and imports only WASI
/// preview1 functions and `bench.start`/`bench.end`. The error names the module and the offending import.
pub fn check_module(wasm: &[u8], shown_as: &str) -> Result<CommandShape, String> {
    let engine = wasmi::Engine::default();
    let module =
        wasmi::Module::new(&engine, wasm).map_err(|e| format!("{shown_as} is not a valid Wasm module: {e}"))?;
    let mut bench = (false, false);
    for import in module.imports() {
        let (field, name) = (import.module(), import.name());
        let is_func = import.ty().func().is_some();
        let provided = is_func
            && match field {
                "wasi_snapshot_preview1" => PREVIEW1.contains(&name),
                BENCH_MODULE if name == "start" || name == "end" => {
                    let ty = import.ty().func().expect("checked above");
                    if !ty.params().is_empty() || !ty.results().is_empty() {
                        return Err(format!(
                            "{shown_as} imports `bench.{name}` with the signature {ty:?}; the sightglass \
                             convention is no parameters and no results"
                        ));
                    }
                    if name == "start" {
                        bench.0 = true;
                    } else {
                        bench.1 = true;
                    }
                    true
                }
                _ => false,
            };
        if !provided {
            return Err(format!(
                "{shown_as} imports `{field}.{name}`, which no runtime provides: a command may import only \
                 WASI preview1 functions (`wasi_snapshot_preview1`) and `bench.start`/`bench.end`"
            ));
        }
    }
    if !module
        .exports()
        .any(|e| e.name() == "_start" && e.ty().func().is_some())
    {
        return Err(format!(
            "{shown_as} exports no `_start` function: it is not a WASI command (build it as a program, e.g. \
             `--target wasm32-wasip1` with a `main`, not a library)"
        ));
    }
    if bench.0 != bench.1 {
        return Err(format!(
            "{shown_as} imports only one of `bench.start` and `bench.end`; import both or neither"
        ));
    }
    Ok(CommandShape { bench_phases: bench.0 })
}

/// Clock readings an engine takes around `_start` and in the `bench` imports.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stamps {
    /// Just before `_start` is called.
    pub called: u64,
    pub bench_start: Option<u64>,
    pub bench_end: Option<u64>,
    /// `_start` returned (or exited, or trapped).
    pub returned: u64,
}

/// Fills in `execute` (the `bench` span where the module has one, else all of `_start`) and `output`, and adds
/// the guest's own start-up (before `bench.start`) to `startup`. `collected` is when stdout was in hand.
pub fn phases_from(mut phases: Phases, stamps: Stamps, collected: u64) -> Phases {
    match (stamps.bench_start, stamps.bench_end) {
        (Some(start), Some(end)) if start <= end => {
            let before = start.saturating_sub(stamps.called);
            phases.startup_ns = Some(phases.startup_ns.unwrap_or(0) + before);
            phases.execute_ns = span(start, end);
            phases.output_ns = span(end, collected);
        }
        _ => {
            phases.execute_ns = span(stamps.called, stamps.returned);
            phases.output_ns = span(stamps.returned, collected);
        }
    }
    phases
}

/// How `_start` ended.
#[derive(Debug, Clone)]
pub enum Ended {
    /// Returned, or called `proc_exit` with this code.
    Exit(i32),
    /// Trapped or was stopped: the row's status and message.
    Failed(Status, String),
}

/// The outcome of a command: the row's output is its stdout, so the digest is of stdout for an exit code of 0;
/// any other exit is an error row. With `check_expected`, the expected-output files beside the module are
/// compared, and a difference is an error row naming the first differing line.
pub fn outcome(command: &CommandArtifacts, phases: Phases, ended: Ended, stdout: Vec<u8>, stderr: &[u8]) -> Outcome {
    let said = || {
        let text = String::from_utf8_lossy(stderr);
        let text = text.trim();
        if text.is_empty() {
            String::new()
        } else {
            format!("; stderr: {}", tail(text, 2000))
        }
    };
    match ended {
        Ended::Failed(status, message) => Outcome::failed(phases, status, format!("{message}{}", said())),
        Ended::Exit(code) if code != 0 => Outcome::failed(
            phases,
            Status::Error,
            format!("the command exited with code {code}{}", said()),
        ),
        Ended::Exit(_) => {
            for (expected, got, stream) in [
                (&command.expected_stdout, stdout.as_slice(), "stdout"),
                (&command.expected_stderr, stderr, "stderr"),
            ] {
                if let Some(expected) = expected
                    && let Some(difference) = first_difference(expected, got)
                {
                    return Outcome::failed(phases, Status::Error, format!("{stream} {difference}"));
                }
            }
            Outcome::ok(phases, stdout)
        }
    }
}

fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// `None` when `got` equals the expected bytes, else where they first differ, by line.
pub fn first_difference(expected: &Expected, got: &[u8]) -> Option<String> {
    if expected.bytes == got {
        return None;
    }
    let mut want_lines = expected.bytes.split(|&b| b == b'\n');
    let mut got_lines = got.split(|&b| b == b'\n');
    let shown = |line: Option<&[u8]>| match line {
        Some(l) => format!("{:?}", tail(&String::from_utf8_lossy(l), 200)),
        None => "end of output".to_string(),
    };
    let mut number = 1;
    loop {
        let (want, have) = (want_lines.next(), got_lines.next());
        if want != have {
            return Some(format!(
                "differs from {} at line {number}: expected {}, got {}",
                expected.path.display(),
                shown(want),
                shown(have)
            ));
        }
        number += 1;
    }
}

/// The expected-output file `<module stem>.<stream>.expected` beside `wasm`, read now (outside any timed window).
pub fn read_expected(wasm: &Path, stream: &str) -> std::io::Result<Option<Expected>> {
    let stem = wasm
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let path = wasm.with_file_name(format!("{stem}.{stream}.expected"));
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(Expected { path, bytes })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// argv as the guest sees it: the module's file name, then the plan's `args`.
pub fn argv(wasm: &Path, command: &CommandArtifacts) -> Vec<String> {
    let program = wasm
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "command.wasm".into());
    std::iter::once(program).chain(command.args.iter().cloned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn module(text: &str) -> Vec<u8> {
        wat::parse_str(text).unwrap()
    }

    #[test]
    fn a_command_with_bench_imports_has_bench_phases() {
        let wasm = module(
            r#"(module (import "bench" "start" (func)) (import "bench" "end" (func))
               (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
               (memory (export "memory") 1) (func (export "_start")))"#,
        );
        assert_eq!(check_module(&wasm, "m.wasm"), Ok(CommandShape { bench_phases: true }));
        let plain = module(r#"(module (memory (export "memory") 1) (func (export "_start")))"#);
        assert_eq!(check_module(&plain, "m.wasm"), Ok(CommandShape { bench_phases: false }));
    }

    #[test]
    fn unprovided_imports_and_missing_start_are_named() {
        let foreign = module(r#"(module (import "env" "foo" (func)) (func (export "_start")))"#);
        let e = check_module(&foreign, "x/m.wasm").unwrap_err();
        assert!(e.contains("x/m.wasm imports `env.foo`"), "{e}");
        let unknown_wasi =
            module(r#"(module (import "wasi_snapshot_preview1" "fd_frobnicate" (func)) (func (export "_start")))"#);
        assert!(
            check_module(&unknown_wasi, "m")
                .unwrap_err()
                .contains("`wasi_snapshot_preview1.fd_frobnicate`")
        );
        let reactor = module(r#"(module (func (export "_initialize")))"#);
        assert!(check_module(&reactor, "m").unwrap_err().contains("exports no `_start`"));
        let half = module(r#"(module (import "bench" "start" (func)) (func (export "_start")))"#);
        assert!(check_module(&half, "m").unwrap_err().contains("only one of"));
    }

    #[test]
    fn execute_is_the_bench_span_and_the_rest_goes_to_startup_and_output() {
        let stamps = Stamps {
            called: 100,
            bench_start: Some(130),
            bench_end: Some(190),
            returned: 195,
        };
        let base = Phases {
            startup_ns: Some(10),
            ..Phases::default()
        };
        let phases = phases_from(base, stamps, 200);
        assert_eq!(
            (phases.startup_ns, phases.execute_ns, phases.output_ns),
            (Some(40), Some(60), Some(10))
        );
        let whole = phases_from(
            base,
            Stamps {
                bench_start: None,
                bench_end: None,
                ..stamps
            },
            200,
        );
        assert_eq!(
            (whole.startup_ns, whole.execute_ns, whole.output_ns),
            (Some(10), Some(95), Some(5))
        );
    }

    #[test]
    fn an_expected_output_mismatch_names_the_first_differing_line() {
        let expected = Expected {
            path: PathBuf::from("d/benchmark.stdout.expected"),
            bytes: b"one\ntwo\nthree\n".to_vec(),
        };
        assert_eq!(first_difference(&expected, b"one\ntwo\nthree\n"), None);
        let diff = first_difference(&expected, b"one\nTWO\nthree\n").unwrap();
        assert_eq!(
            diff,
            "differs from d/benchmark.stdout.expected at line 2: expected \"two\", got \"TWO\""
        );
        let short = first_difference(&expected, b"one\n").unwrap();
        assert!(short.contains("line 2: expected \"two\", got \"\""), "{short}");
        let command = CommandArtifacts {
            expected_stdout: Some(expected),
            ..CommandArtifacts::default()
        };
        let row = outcome(&command, Phases::default(), Ended::Exit(0), b"one\nTWO\n".to_vec(), b"");
        assert_eq!(row.status(), Status::Error);
        assert!(row.error.starts_with("stdout differs from"), "{}", row.error);
        let exit = outcome(
            &CommandArtifacts::default(),
            Phases::default(),
            Ended::Exit(3),
            Vec::new(),
            b"bad",
        );
        assert_eq!(exit.error, "the command exited with code 3; stderr: bad");
    }
}
