//! WASI command workloads (issue 14): a `wasm32-wasip1` program with `_start`, run with its own directory
//! preopened as `.`, input on stdin, output on stdout, as the sightglass suite runs its benchmarks. What every
//! runtime shares to run one lives here: the `bench.start`/`bench.end` phases, and the outcome (stdout
//! digested, a nonzero exit an error row, expected-output files checked); which imports a command may have is
//! [`super::contract`]. The engines' glue: `wasmtime/command.rs`, `wasmi/command.rs`, `node.rs` (node:wasi),
//! `native.rs`, `container/command.rs`.

use crate::artifacts::{CommandArtifacts, Expected};
use crate::runtime::{Outcome, span};
use harness_data::{Phases, Status};
use std::path::Path;

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
