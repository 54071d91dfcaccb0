//! The native executable of one workload, for cold invocations across a process boundary.
//!
//! Protocol: input bytes on stdin, output bytes on stdout, exit 0; on a workload error the message goes to
//! stderr and the exit code is 2 (a panic exits with 101). The last stderr line is
//! `HARNESS_PHASES main=<ns> input=<ns> execute=<ns>`: CLOCK_MONOTONIC readings at entry to main, after the input
//! was read, and after the workload returned, so the parent splits its latency into phases on one clock.
//!
//! `--serve` answers requests in a loop instead (warm containers; `--serve --once` is a cold container's single
//! request), framed as in `harness/src/runtime/served.rs`: a request is `u32 len` + input; a response is
//! `u32 status` (0 ok, 1 workload error, 2 trap), `u32 len`, six `u64` CLOCK_MONOTONIC readings (main, loaded,
//! received, ready, input, executed; all little-endian) and the output or error text. EOF on stdin ends the loop,
//! and the process when it comes in the middle of a computation.

use std::io::{Read, Write};

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn main() {
    let main_ns = monotonic_ns();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--serve") {
        serve(main_ns, args.iter().any(|a| a == "--once"));
        return;
    }
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
    // One write: the parent reads stderr as it comes, and each write would wake it.
    let phases = format!("HARNESS_PHASES main={main_ns} input={input_ns} execute={execute_ns}\n");
    let _ = std::io::stderr().write_all(phases.as_bytes());
    std::process::exit(code);
}

/// Whether the serve loop is computing (`busy`) and whether the request stream has ended (`eof`).
struct ServeState {
    busy: bool,
    eof: bool,
}

static SERVE_STATE: std::sync::Mutex<ServeState> = std::sync::Mutex::new(ServeState {
    busy: false,
    eof: false,
});

fn serve_state() -> std::sync::MutexGuard<'static, ServeState> {
    SERVE_STATE.lock().unwrap_or_else(|p| p.into_inner())
}

/// The request loop of `--serve`. A panicking workload is answered as a trap and the loop goes on.
///
/// Requests are read on their own thread, so the end of the request stream is seen even while a request
/// computes: a harness that went away (even by SIGKILL, which closes a container's attached stdin) leaves no
/// server computing for nobody. EOF while idle ends the loop; EOF while computing exits the process at once.
fn serve(main_ns: u64, once: bool) {
    let (tx, requests) = std::sync::mpsc::sync_channel::<Vec<u8>>(1);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        loop {
            let mut header = [0u8; 4];
            if stdin.read_exact(&mut header).is_err() {
                break; // EOF: the harness closed the request stream.
            }
            let mut input = vec![0u8; u32::from_le_bytes(header) as usize];
            if let Err(e) = stdin.read_exact(&mut input) {
                eprintln!("reading a request: {e}");
                std::process::exit(3);
            }
            if tx.send(input).is_err() {
                return;
            }
        }
        let mut state = serve_state();
        state.eof = true;
        if state.busy {
            std::process::exit(0);
        }
    });
    let mut stdout = std::io::stdout().lock();
    // The channel closes when the reader thread ends (EOF).
    while let Ok(input) = requests.recv() {
        {
            let mut state = serve_state();
            if state.eof {
                return;
            }
            state.busy = true;
        }
        let received_ns = monotonic_ns();
        let result = std::panic::catch_unwind(|| workload::run(&input));
        let executed_ns = monotonic_ns();
        serve_state().busy = false;
        let (status, payload): (u32, Vec<u8>) = match result {
            Ok(Ok(output)) => (0, output),
            Ok(Err(message)) => (1, message.into_bytes()),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".into());
                (2, format!("panic: {message}").into_bytes())
            }
        };
        let mut frame = Vec::with_capacity(56 + payload.len());
        frame.extend_from_slice(&status.to_le_bytes());
        frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        // Nothing to load or instantiate in a native process: loaded = main, ready = input = received.
        for t in [main_ns, main_ns, received_ns, received_ns, received_ns, executed_ns] {
            frame.extend_from_slice(&t.to_le_bytes());
        }
        frame.extend_from_slice(&payload);
        if stdout.write_all(&frame).and_then(|_| stdout.flush()).is_err() {
            return;
        }
        if once {
            return;
        }
    }
}
