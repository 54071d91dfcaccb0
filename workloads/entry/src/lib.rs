//! The Wasm ABI every runtime calls, exported by the module built from this crate:
//!
//! | export | meaning |
//! |---|---|
//! | `harness_alloc(len) -> ptr` | make room for `len` input bytes, return where the host writes them |
//! | `harness_run(len) -> status` | run the workload on the input; 0 = ok, 1 = the workload returned an error |
//! | `harness_output_ptr() -> ptr`, `harness_output_len() -> len` | where the output (or error text) lies |
//!
//! Splitting the calls lets the host time input transfer, execution and output transfer separately.

use std::sync::Mutex;

/// The workload this build serves (see build.rs).
pub const WORKLOAD: &str = env!("HARNESS_WORKLOAD_SELECTED");

struct Buffers {
    input: Vec<u8>,
    output: Vec<u8>,
}

static BUFFERS: Mutex<Buffers> = Mutex::new(Buffers {
    input: Vec::new(),
    output: Vec::new(),
});

fn buffers() -> std::sync::MutexGuard<'static, Buffers> {
    BUFFERS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs this build's workload (see [`harness_workloads::run_named`]: only this one is compiled in).
pub fn run(input: &[u8]) -> Result<Vec<u8>, String> {
    harness_workloads::run_named(WORKLOAD, input)
}

#[unsafe(no_mangle)]
pub extern "C" fn harness_alloc(len: u32) -> *mut u8 {
    let mut b = buffers();
    b.input.clear();
    b.input.resize(len as usize, 0);
    b.input.as_mut_ptr()
}

#[unsafe(no_mangle)]
pub extern "C" fn harness_run(len: u32) -> u32 {
    let mut b = buffers();
    let len = (len as usize).min(b.input.len());
    let (status, output) = match run(&b.input[..len]) {
        Ok(out) => (0, out),
        Err(message) => (1, message.into_bytes()),
    };
    b.output = output;
    status
}

#[unsafe(no_mangle)]
pub extern "C" fn harness_output_ptr() -> *const u8 {
    buffers().output.as_ptr()
}

#[unsafe(no_mangle)]
pub extern "C" fn harness_output_len() -> u32 {
    buffers().output.len() as u32
}
