//! One row of `invocations.csv`: one call of one workload on one runtime.

use serde::{Deserialize, Serialize};

/// Which boundary an invocation crossed: everything built from scratch, or a runtime kept ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Cold,
    Warm,
}

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::Cold, Mode::Warm];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Cold => "cold",
            Mode::Warm => "warm",
        }
    }
}

/// How an invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Completed and produced an output (whose digest is recorded).
    Ok,
    /// The guest trapped (a panic, `unreachable`, an out-of-bounds access) or the native process crashed.
    Trap,
    /// Stopped by the harness: epoch deadline, fuel budget, or a killed child process.
    Timeout,
    /// The runtime itself failed (spawn error, missing artifact, bad ABI).
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Trap => "trap",
            Status::Timeout => "timeout",
            Status::Error => "error",
        }
    }
}

/// Phase durations in nanoseconds. `None` means the phase does not exist for that runtime and mode
/// (a warm invocation compiles nothing), which is not the same as a phase that took 0 ns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phases {
    /// Process, container or engine start-up.
    pub startup_ns: Option<u64>,
    /// Compiling (JIT), deserializing (AoT) or parsing/validating (interpreter) the module.
    pub compile_ns: Option<u64>,
    /// Creating the instance (store, linking, `_initialize`).
    pub instantiate_ns: Option<u64>,
    /// Moving the input bytes into the runtime.
    pub input_ns: Option<u64>,
    /// The workload's own computation.
    pub execute_ns: Option<u64>,
    /// Moving the output bytes out of the runtime.
    pub output_ns: Option<u64>,
}

/// One row of `invocations.csv`. Times are nanoseconds on CLOCK_MONOTONIC, the clock the probes use too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvocationRecord {
    pub workload: String,
    pub input: String,
    pub runtime: String,
    pub mode: Mode,
    /// Position within its (workload, input, runtime, mode) cell; warm-up rows count from 0 too.
    pub iteration: u32,
    /// Warm-up rows are recorded and marked, and left out of statistics.
    pub warmup: bool,
    /// Position in the run's shuffled schedule, so the executed order can be reconstructed.
    pub sequence: u64,
    /// For warm invocations measured back to back in a batch window (resolution-aware batching): the
    /// `sequence` of the batch's first invocation. Empty when measured alone.
    pub batch: Option<u64>,
    pub start_ns: u64,
    pub end_ns: u64,
    pub latency_ns: u64,
    pub startup_ns: Option<u64>,
    pub compile_ns: Option<u64>,
    pub instantiate_ns: Option<u64>,
    pub input_ns: Option<u64>,
    pub execute_ns: Option<u64>,
    pub output_ns: Option<u64>,
    pub input_bytes: u64,
    pub output_bytes: u64,
    pub status: Status,
    /// First 16 hex digits of the SHA-256 of the output; empty when the invocation failed.
    pub digest: String,
    /// Why it failed, empty when `status` is `ok`.
    pub error: String,
}

impl InvocationRecord {
    /// Column order of `invocations.csv`, as written by the recorder.
    pub const COLUMNS: [&'static str; 22] = [
        "workload",
        "input",
        "runtime",
        "mode",
        "iteration",
        "warmup",
        "sequence",
        "batch",
        "start_ns",
        "end_ns",
        "latency_ns",
        "startup_ns",
        "compile_ns",
        "instantiate_ns",
        "input_ns",
        "execute_ns",
        "output_ns",
        "input_bytes",
        "output_bytes",
        "status",
        "digest",
        "error",
    ];

    pub fn phases(&self) -> Phases {
        Phases {
            startup_ns: self.startup_ns,
            compile_ns: self.compile_ns,
            instantiate_ns: self.instantiate_ns,
            input_ns: self.input_ns,
            execute_ns: self.execute_ns,
            output_ns: self.output_ns,
        }
    }

    /// The cell this row belongs to.
    pub fn key(&self) -> CellKey {
        CellKey {
            workload: self.workload.clone(),
            input: self.input.clone(),
            runtime: self.runtime.clone(),
            mode: self.mode,
        }
    }
}

/// One cell of a plan: a workload with one input on one runtime in one mode. Rows, batches and report groups
/// are keyed by it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CellKey {
    pub workload: String,
    pub input: String,
    pub runtime: String,
    pub mode: Mode,
}

/// What one process of a run used, from `wait4` (its own and its waited-for children's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessUsage {
    pub user_ns: u64,
    pub sys_ns: u64,
    /// Peak resident set size, bytes.
    pub max_rss_bytes: u64,
    /// `None` when it ended by a signal.
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
}

/// One row of `usage.csv` (`harness run`): the process usage of the invocation with this `sequence` in
/// `invocations.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    pub sequence: u64,
    pub user_ns: u64,
    pub sys_ns: u64,
    pub max_rss_bytes: u64,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
}

impl UsageRecord {
    pub const COLUMNS: [&'static str; 6] = ["sequence", "user_ns", "sys_ns", "max_rss_bytes", "exit_code", "signal"];

    pub fn new(sequence: u64, usage: ProcessUsage) -> UsageRecord {
        UsageRecord {
            sequence,
            user_ns: usage.user_ns,
            sys_ns: usage.sys_ns,
            max_rss_bytes: usage.max_rss_bytes,
            exit_code: usage.exit_code,
            signal: usage.signal,
        }
    }

    pub fn usage(&self) -> ProcessUsage {
        ProcessUsage {
            user_ns: self.user_ns,
            sys_ns: self.sys_ns,
            max_rss_bytes: self.max_rss_bytes,
            exit_code: self.exit_code,
            signal: self.signal,
        }
    }
}
