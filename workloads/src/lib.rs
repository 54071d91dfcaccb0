//! The workloads, one module (one source) each, shared by every runtime.
//!
//! Calling convention, the same everywhere: a workload is `fn(&[u8]) -> Result<Vec<u8>, String>`, input bytes in
//! and output bytes out. The host turns a plan's input spec (`"25"`, `"64KiB"`) into input bytes with
//! [`prepare_input`] outside the timed window, so every runtime receives identical bytes, and hashes the output
//! with [`digest`] so runtimes that computed different things are caught.

pub mod aes;
pub mod fault;
pub mod fibonacci;
pub mod fuzzy;
pub mod image_resize;
pub mod input;
pub mod json;
pub mod mandelbrot;
pub mod matmul;
pub mod nbody;
pub mod noop;
pub mod sha256;
pub mod sieve;
pub mod transfer;

pub use input::{InputError, parse_size};

/// A workload as the host sees it.
#[derive(Debug, Clone, Copy)]
pub struct WorkloadSpec {
    pub name: &'static str,
    /// What the plan's input string means and the sizes the workload is documented for.
    pub input_doc: &'static str,
    /// An input that finishes in well under a second on a laptop, used by tests and the default plan.
    pub small_input: &'static str,
    pub run: fn(&[u8]) -> Result<Vec<u8>, String>,
    prepare: fn(&str) -> Result<Vec<u8>, InputError>,
    /// Test-only workloads (traps, endless loops) are left out of the default listings.
    pub test_only: bool,
}

impl WorkloadSpec {
    /// Input bytes for a plan's input spec; deterministic, so every runtime gets the same bytes.
    pub fn prepare_input(&self, spec: &str) -> Result<Vec<u8>, InputError> {
        (self.prepare)(spec)
    }
}

fn ascii_number(spec: &str) -> Result<Vec<u8>, InputError> {
    input::parse_count(spec).map(|n| n.to_string().into_bytes())
}

fn blob(spec: &str) -> Result<Vec<u8>, InputError> {
    parse_size(spec).map(input::pseudo_random_bytes)
}

fn text(spec: &str) -> Result<Vec<u8>, InputError> {
    parse_size(spec).map(input::pseudo_text)
}

fn as_is(spec: &str) -> Result<Vec<u8>, InputError> {
    Ok(spec.as_bytes().to_vec())
}

/// Every workload, in a stable order.
pub const WORKLOADS: &[WorkloadSpec] = &[
    WorkloadSpec {
        name: "noop",
        input_doc: "ignored (any string); returns nothing",
        small_input: "0",
        run: noop::run,
        prepare: as_is,
        test_only: false,
    },
    WorkloadSpec {
        name: "fibonacci",
        input_doc: "n for naive recursive fib(n); 20-35 (fib(30) ~ 1.3M calls)",
        small_input: "20",
        run: fibonacci::run,
        prepare: ascii_number,
        test_only: false,
    },
    WorkloadSpec {
        name: "sieve",
        input_doc: "limit of the Eratosthenes sieve; 10000-10000000",
        small_input: "100000",
        run: sieve::run,
        prepare: ascii_number,
        test_only: false,
    },
    WorkloadSpec {
        name: "nbody",
        input_doc: "steps of the 5-body simulation (dt 0.01); 1000-1000000",
        small_input: "10000",
        run: nbody::run,
        prepare: ascii_number,
        test_only: false,
    },
    WorkloadSpec {
        name: "mandelbrot",
        input_doc: "side of the square bitmap in pixels; 64-4000",
        small_input: "128",
        run: mandelbrot::run,
        prepare: ascii_number,
        test_only: false,
    },
    WorkloadSpec {
        name: "matmul",
        input_doc: "side n of two n x n f64 matrices; 16-512",
        small_input: "64",
        run: matmul::run,
        prepare: ascii_number,
        test_only: false,
    },
    WorkloadSpec {
        name: "sha256",
        input_doc: "bytes hashed, with a size suffix (1KiB-64MiB)",
        small_input: "64KiB",
        run: sha256::run,
        prepare: blob,
        test_only: false,
    },
    WorkloadSpec {
        name: "aes-gcm",
        input_doc: "bytes encrypted then decrypted with AES-256-GCM (1KiB-16MiB)",
        small_input: "64KiB",
        run: aes::run,
        prepare: blob,
        test_only: false,
    },
    WorkloadSpec {
        name: "json",
        input_doc: "records serialized to JSON and parsed back; 10-100000",
        small_input: "1000",
        run: json::run,
        prepare: ascii_number,
        test_only: false,
    },
    WorkloadSpec {
        name: "fuzzy",
        input_doc: "bytes of text searched for a pattern with up to 2 edits (1KiB-16MiB)",
        small_input: "64KiB",
        run: fuzzy::run,
        prepare: text,
        test_only: false,
    },
    WorkloadSpec {
        name: "image-resize",
        input_doc: "side of a square RGB image halved with a bilinear filter; 64-4096",
        small_input: "256",
        run: image_resize::run,
        prepare: image_resize::prepare,
        test_only: false,
    },
    WorkloadSpec {
        name: "transfer",
        input_doc: "blob moved into and back out of the runtime (1KiB-2MiB)",
        small_input: "64KiB",
        run: transfer::run,
        prepare: blob,
        test_only: false,
    },
    WorkloadSpec {
        name: "fault",
        input_doc: "`trap` panics (a Wasm trap), `loop` never returns: for testing failure handling",
        small_input: "trap",
        run: fault::run,
        prepare: as_is,
        test_only: true,
    },
];

/// Looks a workload up by name.
pub fn find(name: &str) -> Option<&'static WorkloadSpec> {
    WORKLOADS.iter().find(|w| w.name == name)
}

/// Names of the workloads a plan may use, for error messages.
pub fn names() -> Vec<&'static str> {
    WORKLOADS.iter().map(|w| w.name).collect()
}

/// Runs a workload by name; the native warm path and the entry crate both come through here.
pub fn run(name: &str, input: &[u8]) -> Result<Vec<u8>, String> {
    match find(name) {
        Some(w) => (w.run)(input),
        None => Err(format!("unknown workload `{name}`")),
    }
}

/// First 16 hex digits of the SHA-256 of an output: enough to tell runtimes apart, short enough for a CSV.
pub fn digest(output: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hash = Sha256::digest(output);
    let mut text = String::with_capacity(16);
    for byte in &hash[..8] {
        text.push(HEX[usize::from(byte >> 4)] as char);
        text.push(HEX[usize::from(byte & 15)] as char);
    }
    text
}

/// Parses the ASCII decimal number a numeric workload receives.
pub(crate) fn input_number(input: &[u8]) -> Result<u64, String> {
    std::str::from_utf8(input)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| format!("expected a decimal number as input, got {} bytes", input.len()))
}
