//! One built-in workload as a WASI command in the sightglass convention, and its native twin from the same source.
//!
//! Contract (`benchmark [FILE]`): the input bytes come from FILE, relative to the working directory (the
//! preopened `.` under WASI, as sightglass preopens a benchmark's own directory), or from stdin when no FILE is
//! given. Then `bench.start`, the workload, `bench.end`, the output bytes on stdout and exit 0. A workload error
//! is its message on stderr and exit 2; an I/O error (unreadable FILE, closed stdout) is exit 3.
//!
//! `bench.start`/`bench.end` are imports from module `bench`, no parameters and no results, as sightglass's
//! engines provide them; the host stamps them so energy can be attributed to the kernel alone. A build with
//! HARNESS_BENCH_IMPORTS=0, and every native build, calls no-ops instead.

use std::io::{Read, Write};

/// The workload this build serves (see build.rs).
const WORKLOAD: &str = env!("HARNESS_WORKLOAD_SELECTED");

/// Runs this build's workload (see [`harness_workloads::run_named`]: only this one is compiled in, as in a
/// sightglass benchmark).
fn run(input: &[u8]) -> Result<Vec<u8>, String> {
    harness_workloads::run_named(WORKLOAD, input)
}

#[cfg(all(target_family = "wasm", bench_imports))]
mod bench {
    #[link(wasm_import_module = "bench")]
    unsafe extern "C" {
        #[link_name = "start"]
        fn bench_start();
        #[link_name = "end"]
        fn bench_end();
    }

    pub fn start() {
        // SAFETY: a host import without parameters or results; it only records a timestamp on the host side.
        unsafe { bench_start() }
    }

    pub fn end() {
        // SAFETY: as for `start`.
        unsafe { bench_end() }
    }
}

#[cfg(not(all(target_family = "wasm", bench_imports)))]
mod bench {
    pub fn start() {}
    pub fn end() {}
}

fn read_input() -> Result<Vec<u8>, String> {
    match std::env::args_os().nth(1) {
        Some(path) => std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.to_string_lossy())),
        None => {
            let mut input = Vec::new();
            std::io::stdin()
                .read_to_end(&mut input)
                .map_err(|e| format!("reading stdin: {e}"))?;
            Ok(input)
        }
    }
}

fn main() {
    let input = match read_input() {
        Ok(input) => input,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(3);
        }
    };
    bench::start();
    // black_box keeps the workload between the two stamps: the optimizer may not hoist or sink it past them.
    let result = run(std::hint::black_box(&input));
    let result = std::hint::black_box(result);
    bench::end();
    match result {
        Ok(output) => {
            let mut stdout = std::io::stdout().lock();
            if let Err(e) = stdout.write_all(&output).and_then(|_| stdout.flush()) {
                eprintln!("writing stdout: {e}");
                std::process::exit(3);
            }
        }
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    }
}
