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

/// Runs this build's workload. Matching on the constant (rather than going through the workload table) lets
/// the optimizer drop every other workload, so each artifact holds one function, as a deployed one would.
pub fn run(input: &[u8]) -> Result<Vec<u8>, String> {
    use harness_workloads as w;
    match WORKLOAD {
        "noop" => w::noop::run(input),
        "fibonacci" => w::fibonacci::run(input),
        "sieve" => w::sieve::run(input),
        "nbody" => w::nbody::run(input),
        "mandelbrot" => w::mandelbrot::run(input),
        "matmul" => w::matmul::run(input),
        "sha256" => w::sha256::run(input),
        "aes-gcm" => w::aes::run(input),
        "json" => w::json::run(input),
        "fuzzy" => w::fuzzy::run(input),
        "image-resize" => w::image_resize::run(input),
        "transfer" => w::transfer::run(input),
        "fault" => w::fault::run(input),
        other => Err(format!("this build serves no workload named `{other}`")),
    }
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
