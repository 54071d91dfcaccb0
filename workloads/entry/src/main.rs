//! The native executable of one workload, for cold invocations across a process boundary.
//!
//! Protocol: input bytes on stdin, output bytes on stdout, exit 0; on a workload error the message goes to
//! stderr and the exit code is 2 (a panic exits with 101). The last stderr line is
//! `HARNESS_PHASES main=<ns> input=<ns> execute=<ns>`: CLOCK_MONOTONIC readings at entry to main, after the input
//! was read, and after the workload returned, so the parent splits its latency into phases on one clock.

use std::io::{Read, Write};

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn main() {
    let main_ns = monotonic_ns();
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        eprintln!("reading stdin: {e}");
        std::process::exit(3);
    }
    let input_ns = monotonic_ns();
    let result = workload::run(&input);
    let execute_ns = monotonic_ns();
    let code = match result {
        Ok(output) => {
            let mut stdout = std::io::stdout().lock();
            if let Err(e) = stdout.write_all(&output).and_then(|_| stdout.flush()) {
                eprintln!("writing stdout: {e}");
                3
            } else {
                0
            }
        }
        Err(message) => {
            eprintln!("{message}");
            2
        }
    };
    eprintln!("HARNESS_PHASES main={main_ns} input={input_ns} execute={execute_ns}");
    std::process::exit(code);
}
