//! The plan as run, recorded in the manifest: what was scheduled, with every default applied. `harness`
//! parses plans from TOML (with line-numbered errors) into this shape's fields.

use crate::{Mode, RuntimeKind};
use serde::{Deserialize, Serialize};

/// Where the cold boundary lies (see MISSION.md): the platform-natural one, or a fresh process per invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ColdBoundary {
    #[default]
    Platform,
    Process,
}

/// How an endless guest is stopped inside a Wasm engine. The mechanism taxes guest speed (wasmtime's epoch
/// checks cost 1.2-2.6x on compute loops, wasmi's fuel 0-13%; `harness bench` prints the cost per workload), so
/// the manifest records what ran (`Manifest.interrupt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Interrupt {
    /// What hosts such as Spin run: wasmtime epoch interruption, wasmi fuel; every invocation has a deadline.
    #[default]
    Epoch,
    /// The engines at their own speed: no epoch checks, no fuel. In-process Wasm invocations (warm, and cold at
    /// the platform boundary) then have no deadline; cold ones at the process boundary are killed at
    /// `timeout_ms` by a watchdog.
    None,
}

impl Interrupt {
    pub const VALUES: &'static str = "epoch (wasmtime epoch interruption, wasmi fuel: deadlines in-process), none (the engines' own speed: no deadline in-process)";

    pub fn as_str(self) -> &'static str {
        match self {
            Interrupt::Epoch => "epoch",
            Interrupt::None => "none",
        }
    }
}

/// The Wasm stack every in-process engine gets (the plan's `wasm_stack_kib`; wasmtime's 512 KiB by default).
/// wasmtime takes it as `max_wasm_stack`; wasmi counts frames rather than bytes, so it admits
/// [`WasmStack::wasmi_frames`], the most frames the same stack could hold in wasmtime, and a value stack
/// grown on demand up to [`WasmStack::wasmi_value_stack_bytes`]; node gets V8's `--stack-size` only when the
/// plan sets the key (its own default, 984 KiB, otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WasmStack {
    pub kib: u32,
}

impl Default for WasmStack {
    fn default() -> WasmStack {
        WasmStack {
            kib: WasmStack::DEFAULT_KIB,
        }
    }
}

impl WasmStack {
    /// wasmtime's own default.
    pub const DEFAULT_KIB: u32 = 512;
    /// Bounds of the plan key: below 64 KiB even WASI's start-up traps; above 4 MiB the host threads that run
    /// guests would need stacks no platform default gives.
    pub const MIN_KIB: u32 = 64;
    pub const MAX_KIB: u32 = 4096;
    /// The smallest frame wasmtime's code can have on the host stack: a return address and a frame pointer.
    const MIN_FRAME_BYTES: usize = 16;
    /// Value-stack bytes wasmi may use per admitted frame (grown on demand: only deep programs use it).
    const WASMI_CELLS_BYTES_PER_FRAME: usize = 2048;

    pub fn bytes(self) -> usize {
        self.kib as usize * 1024
    }

    /// Frames wasmi admits: as many as the stack could hold at wasmtime's densest, so the harness's setting,
    /// not wasmi's count, never stops a program wasmtime runs (32,768 at 512 KiB).
    pub fn wasmi_frames(self) -> usize {
        self.bytes() / Self::MIN_FRAME_BYTES
    }

    pub fn wasmi_value_stack_bytes(self) -> usize {
        self.wasmi_frames() * Self::WASMI_CELLS_BYTES_PER_FRAME
    }
}

impl std::str::FromStr for Interrupt {
    type Err = String;

    fn from_str(s: &str) -> Result<Interrupt, String> {
        match s {
            "epoch" => Ok(Interrupt::Epoch),
            "none" => Ok(Interrupt::None),
            other => Err(format!(
                "unknown interrupt `{other}`; valid values: {}",
                Interrupt::VALUES
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanWorkload {
    pub name: String,
    pub inputs: Vec<String>,
    /// A WASI command module given by path (issue 14), as resolved from the plan; absent for built-ins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandWorkload>,
}

/// An external WASI command workload, paths resolved (absolute) when the plan was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandWorkload {
    /// The WASI preview1 command (`_start`); its directory is preopened as `.`.
    pub wasm: String,
    /// argv after the program name.
    #[serde(default)]
    pub args: Vec<String>,
    /// A file in the module's directory given on stdin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// An executable with the same contract, for `native` (run in the module's directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native: Option<String>,
    /// A JavaScript module with the ports' contract, for `node-js`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub js: Option<String>,
    /// The preopened directory is writable (default read-only, as sightglass runs).
    #[serde(default)]
    pub preopen_writable: bool,
}

/// The plan as run. Fields a run of an older harness did not record take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AsRunPlan {
    pub seed: u64,
    pub repetitions: u32,
    #[serde(default = "default_warmup")]
    pub warmup: u32,
    pub runtimes: Vec<RuntimeKind>,
    /// The name each runtime's rows carry, where a runtime runs as a second arm (`wasmtime-aot:b`); absent
    /// when every name is its runtime's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arms: Vec<String>,
    pub modes: Vec<Mode>,
    #[serde(default)]
    pub cooldown_ms: u64,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub cold_boundary: ColdBoundary,
    #[serde(default)]
    pub interrupt: Interrupt,
    /// `wasm_stack_kib` as the plan gave it (absent: every engine's default, wasmtime's 512 KiB for wasmtime
    /// and wasmi).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasm_stack_kib: Option<WasmStack>,
    #[serde(default = "default_baseline_ms")]
    pub baseline_ms: u64,
    #[serde(default)]
    pub calibrate_delay: bool,
    #[serde(default)]
    pub skip_unavailable: bool,
    pub workloads: Vec<PlanWorkload>,
    /// Each probe's `[[probes]]` table as given (its kind and options).
    #[serde(default)]
    pub probes: Vec<serde_json::Value>,
    /// The `[load]` table, when the plan's modes include `load`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<crate::LoadPlan>,
    /// `baseline`: the runtime the report compares against by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// `precision` and its budget, with the looks it planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<crate::precision::PrecisionPlan>,
}

impl AsRunPlan {
    /// The name each runtime's rows carry, in plan order: `arms` where recorded (second arms, `harness run`'s
    /// commands), else the kinds' names.
    pub fn runtime_names(&self) -> Vec<String> {
        if self.arms.len() == self.runtimes.len() {
            self.arms.clone()
        } else {
            self.runtimes.iter().map(|r| r.as_str().to_string()).collect()
        }
    }
}

pub fn default_warmup() -> u32 {
    1
}

pub fn default_timeout_ms() -> u64 {
    60_000
}

pub fn default_baseline_ms() -> u64 {
    1000
}

#[cfg(test)]
mod wasm_stack_tests {
    use super::WasmStack;

    #[test]
    fn wasmi_admits_what_the_same_stack_holds_in_wasmtime_at_its_densest() {
        let default = WasmStack::default();
        assert_eq!(default.bytes(), 512 * 1024);
        assert_eq!(default.wasmi_frames(), 32_768);
        assert_eq!(default.wasmi_value_stack_bytes(), 64 << 20);
        let big = WasmStack { kib: 4096 };
        assert_eq!(big.wasmi_frames(), 8 * default.wasmi_frames());
        assert_eq!(serde_json::to_string(&big).unwrap(), "4096");
    }
}
