//! The workloads, one module (one source) each, shared by every runtime.
//!
//! Calling convention, the same everywhere: a workload is `fn(&[u8]) -> Result<Vec<u8>, String>`, input bytes in
//! and output bytes out. The host turns a plan's input spec (`"25"`, `"64KiB"`) into input bytes with
//! [`prepare_input`] outside the timed window, so every runtime receives identical bytes, and hashes the output
//! with [`digest`] so runtimes that computed different things are caught.

pub mod aes;
pub mod fannkuch;
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

/// Runs the workload named `name`, for the per-workload builds (workloads/entry, workloads/command). Called with
/// their build-time constant and inlined, the match folds to one arm, so the optimizer drops every other workload
/// and each artifact holds one function, as a deployed one would (the workload table's function pointers would
/// keep them all).
#[inline(always)]
pub fn run_named(name: &str, input: &[u8]) -> Result<Vec<u8>, String> {
    match name {
        "noop" => noop::run(input),
        "fibonacci" => fibonacci::run(input),
        "sieve" => sieve::run(input),
        "nbody" => nbody::run(input),
        "mandelbrot" => mandelbrot::run(input),
        "matmul" => matmul::run(input),
        "sha256" => sha256::run(input),
        "aes-gcm" => aes::run(input),
        "json" => json::run(input),
        "fuzzy" => fuzzy::run(input),
        "image-resize" => image_resize::run(input),
        "transfer" => transfer::run(input),
        "fannkuch-redux" => fannkuch::run(input),
        "fault" => fault::run(input),
        other => Err(format!("this build serves no workload named `{other}`")),
    }
}

/// A workload as the host sees it.
#[derive(Debug, Clone, Copy)]
pub struct WorkloadSpec {
    pub name: &'static str,
    /// What the plan's input string means and the sizes the workload is documented for.
    pub input_doc: &'static str,
    /// An input that finishes in well under a second on a laptop, used by tests and the default plan.
    pub small_input: &'static str,
    pub run: fn(&[u8]) -> Result<Vec<u8>, String>,
    prepare: fn(&str, Range) -> Result<Vec<u8>, InputError>,
    /// What `prepare` refuses, found without preparing: a plan is checked without allocating its inputs.
    check: fn(&str, Range) -> Result<(), InputError>,
    /// The inputs the workload accepts: a count (`fibonacci`'s n, an image side) or a size in bytes. Bounded so
    /// that no plan can ask for an input the host (or a 4 GiB wasm32 memory) cannot hold: a plan with
    /// `100GiB` is refused with its line instead of aborting the harness mid-run.
    pub range: Range,
    /// Test-only workloads (traps, endless loops) are left out of the default listings.
    pub test_only: bool,
}

impl WorkloadSpec {
    /// Input bytes for a plan's input spec; deterministic, so every runtime gets the same bytes.
    pub fn prepare_input(&self, spec: &str) -> Result<Vec<u8>, InputError> {
        (self.prepare)(spec, self.range)
    }

    /// Whether [`WorkloadSpec::prepare_input`] would accept `spec`, with its error, decided from the spec and
    /// the range alone: nothing is allocated for the input.
    pub fn check_input(&self, spec: &str) -> Result<(), InputError> {
        (self.check)(spec, self.range)
    }
}

/// The accepted inputs of a workload, inclusive: a count, or a size in bytes (checked before any allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub min: u64,
    pub max: u64,
}

const fn range(min: u64, max: u64) -> Range {
    Range { min, max }
}

/// Blobs and texts stop at 256 MiB: a wasm32 guest holds the input, its output and (aes-gcm) a decrypted copy
/// in one 4 GiB memory, and the host keeps one copy per runtime.
const MAX_BLOB: u64 = 256 << 20;

fn ascii_number(spec: &str, range: Range) -> Result<Vec<u8>, InputError> {
    Ok(count_in_range(spec, range)?.to_string().into_bytes())
}

fn count_in_range(spec: &str, range: Range) -> Result<u64, InputError> {
    let n = input::parse_count(spec)?;
    input::check_range(spec, n, range, "")?;
    Ok(n)
}

fn check_count(spec: &str, range: Range) -> Result<(), InputError> {
    count_in_range(spec, range).map(|_| ())
}

fn blob(spec: &str, range: Range) -> Result<Vec<u8>, InputError> {
    Ok(input::pseudo_random_bytes(size_in_range(spec, range)?))
}

fn text(spec: &str, range: Range) -> Result<Vec<u8>, InputError> {
    Ok(input::pseudo_text(size_in_range(spec, range)?))
}

fn size_in_range(spec: &str, range: Range) -> Result<usize, InputError> {
    let n = parse_size(spec)?;
    input::check_range(spec, n as u64, range, " bytes")?;
    Ok(n)
}

fn check_size(spec: &str, range: Range) -> Result<(), InputError> {
    size_in_range(spec, range).map(|_| ())
}

/// The input string itself (its length is bounded by `range.max` bytes).
fn as_is(spec: &str, range: Range) -> Result<Vec<u8>, InputError> {
    check_length(spec, range)?;
    Ok(spec.as_bytes().to_vec())
}

fn check_length(spec: &str, range: Range) -> Result<(), InputError> {
    input::check_range(spec, spec.len() as u64, range, " bytes long")
}

/// `fault` accepts only what it knows: anything else would fail every invocation instead of the plan.
fn fault_input(spec: &str, range: Range) -> Result<Vec<u8>, InputError> {
    check_fault(spec, range)?;
    Ok(spec.as_bytes().to_vec())
}

fn check_fault(spec: &str, _range: Range) -> Result<(), InputError> {
    match spec {
        "trap" | "loop" => Ok(()),
        other => Err(InputError(format!("`{other}` is not a fault; use `trap` or `loop`"))),
    }
}

/// Every workload, in a stable order.
pub const WORKLOADS: &[WorkloadSpec] = &[
    WorkloadSpec {
        name: "noop",
        input_doc: "ignored (any string); returns nothing",
        small_input: "0",
        run: noop::run,
        prepare: as_is,
        check: check_length,
        range: range(0, 1 << 20),
        test_only: false,
    },
    WorkloadSpec {
        name: "fibonacci",
        input_doc: "n for naive recursive fib(n); 20-35 (fib(30) ~ 1.3M calls)",
        small_input: "20",
        run: fibonacci::run,
        prepare: ascii_number,
        check: check_count,
        range: range(0, 90),
        test_only: false,
    },
    WorkloadSpec {
        name: "sieve",
        input_doc: "limit of the Eratosthenes sieve; 10000-10000000",
        small_input: "100000",
        run: sieve::run,
        prepare: ascii_number,
        check: check_count,
        range: range(0, 1_000_000_000),
        test_only: false,
    },
    WorkloadSpec {
        name: "nbody",
        input_doc: "steps of the 5-body simulation (dt 0.01); 1000-1000000",
        small_input: "10000",
        run: nbody::run,
        prepare: ascii_number,
        check: check_count,
        range: range(0, 1_000_000_000),
        test_only: false,
    },
    WorkloadSpec {
        name: "mandelbrot",
        input_doc: "side of the square bitmap in pixels; 64-4000",
        small_input: "128",
        run: mandelbrot::run,
        prepare: ascii_number,
        check: check_count,
        range: range(1, 16_000),
        test_only: false,
    },
    WorkloadSpec {
        name: "matmul",
        input_doc: "side n of two n x n f64 matrices; 16-512",
        small_input: "64",
        run: matmul::run,
        prepare: ascii_number,
        check: check_count,
        range: range(1, 4096),
        test_only: false,
    },
    WorkloadSpec {
        name: "sha256",
        input_doc: "bytes hashed, with a size suffix (1KiB-64MiB)",
        small_input: "64KiB",
        run: sha256::run,
        prepare: blob,
        check: check_size,
        range: range(0, MAX_BLOB),
        test_only: false,
    },
    WorkloadSpec {
        name: "aes-gcm",
        input_doc: "bytes encrypted then decrypted with AES-256-GCM (1KiB-16MiB)",
        small_input: "64KiB",
        run: aes::run,
        prepare: blob,
        check: check_size,
        range: range(0, MAX_BLOB),
        test_only: false,
    },
    WorkloadSpec {
        name: "json",
        input_doc: "records serialized to JSON and parsed back; 10-100000",
        small_input: "1000",
        run: json::run,
        prepare: ascii_number,
        check: check_count,
        range: range(0, 2_000_000),
        test_only: false,
    },
    WorkloadSpec {
        name: "fuzzy",
        input_doc: "bytes of text searched for a pattern with up to 2 edits (1KiB-16MiB)",
        small_input: "64KiB",
        run: fuzzy::run,
        prepare: text,
        check: check_size,
        range: range(0, MAX_BLOB),
        test_only: false,
    },
    WorkloadSpec {
        name: "image-resize",
        input_doc: "side of a square RGB image halved with a bilinear filter; 64-4096",
        small_input: "256",
        run: image_resize::run,
        prepare: image_resize::prepare,
        check: image_resize::check,
        range: range(2, 8192),
        test_only: false,
    },
    WorkloadSpec {
        name: "transfer",
        input_doc: "blob moved into and back out of the runtime (1KiB-2MiB)",
        small_input: "64KiB",
        run: transfer::run,
        prepare: blob,
        check: check_size,
        range: range(0, MAX_BLOB),
        test_only: false,
    },
    WorkloadSpec {
        name: "fannkuch-redux",
        input_doc: "n of the Benchmarks Game's fannkuch-redux (every permutation of n, flipped); 7-12 (10: 3.6M permutations)",
        small_input: "8",
        run: fannkuch::run,
        prepare: ascii_number,
        check: check_count,
        range: range(1, 12),
        test_only: false,
    },
    // `transfer`'s bytes through WASI instead of linear memory: a WASI command (`fd_read` of stdin, `fd_write` of
    // stdout) built by scripts/build-commands.sh; the harness runs it through its command path, so only the input
    // and the in-process reference below are shared with `transfer`.
    WorkloadSpec {
        name: "transfer-wasi",
        input_doc: "blob moved through WASI: stdin in, stdout out (1KiB-2MiB); digest equals `transfer`'s",
        small_input: "64KiB",
        run: transfer::run,
        prepare: blob,
        check: check_size,
        range: range(0, MAX_BLOB),
        test_only: false,
    },
    WorkloadSpec {
        name: "fault",
        input_doc: "`trap` panics (a Wasm trap), `loop` never returns: for testing failure handling",
        small_input: "trap",
        run: fault::run,
        prepare: fault_input,
        check: check_fault,
        range: range(4, 4),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workload_accepts_its_small_input() {
        for w in WORKLOADS {
            assert!(w.prepare_input(w.small_input).is_ok(), "{}", w.name);
        }
    }

    /// Issue 11: `18446744073709551615` overflowed a capacity (panic) and `100GiB` aborted the allocation.
    /// Every workload refuses inputs beyond its range before allocating anything.
    #[test]
    fn inputs_beyond_what_a_host_can_hold_are_refused() {
        for w in WORKLOADS {
            for huge in ["18446744073709551615", "100GiB", "4294967296", "300MiB"] {
                if w.name == "noop" {
                    continue;
                }
                let err = w.prepare_input(huge).expect_err(&format!("{} {huge}", w.name));
                assert!(!err.0.is_empty());
            }
        }
        let err = find("sha256").unwrap().prepare_input("100GiB").unwrap_err();
        assert!(err.0.contains("outside what this workload accepts"), "{err}");
        assert!(find("noop").unwrap().prepare_input(&"x".repeat(2 << 20)).is_err());
        assert!(find("fault").unwrap().prepare_input("oops").is_err());
        assert!(find("fibonacci").unwrap().prepare_input("91").is_err());
        assert!(
            find("sha256")
                .unwrap()
                .prepare_input("256MiB")
                .is_ok_and(|b| b.len() == 256 << 20)
        );
    }

    /// A plan is checked with `check_input`, a run prepares with `prepare_input`: they must agree.
    #[test]
    fn checking_an_input_refuses_what_preparing_it_refuses() {
        let specs = [
            "",
            "0",
            "1",
            "91",
            "trap",
            "loop",
            "oops",
            "2XB",
            "64KiB",
            "1_000",
            "300MiB",
            "100GiB",
            "4294967296",
            "18446744073709551615",
        ];
        for w in WORKLOADS {
            for spec in specs.iter().chain([&w.small_input]) {
                assert_eq!(
                    w.check_input(spec),
                    w.prepare_input(spec).map(|_| ()),
                    "{} {spec:?}",
                    w.name
                );
            }
        }
    }
}
