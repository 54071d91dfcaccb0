//! What the harness's own Wasm child processes (`invoke-once`, `serve-wasm`) are told: the engine, the
//! workload, and the plan's settings that configure the engine, as the parent process has them.

use anyhow::Context;
use clap::Args;
use harness::artifacts::WorkloadArtifacts;
use harness::runtime::{self, Limits, Runtime};
use std::path::PathBuf;

#[derive(Args)]
pub struct ChildEngineArgs {
    /// wasmtime-jit, wasmtime-aot or wasmi.
    #[arg(long)]
    pub runtime: harness_data::RuntimeKind,
    #[arg(long)]
    workload: String,
    #[arg(long)]
    artifacts: PathBuf,
    #[arg(long, default_value_t = 60_000)]
    timeout_ms: u64,
    /// The plan's `interrupt`: `epoch` or `none`.
    #[arg(long, default_value = "epoch")]
    interrupt: harness_data::plan::Interrupt,
    /// The plan's `wasm_stack_kib` (absent: the engines' default).
    #[arg(long)]
    wasm_stack_kib: Option<u32>,
}

impl ChildEngineArgs {
    /// The built-in workload's artifacts, and the runtime configured as the parent's (with `memory_mb`).
    pub fn open(&self, memory_mb: Option<u64>) -> anyhow::Result<(WorkloadArtifacts, Box<dyn Runtime>)> {
        let spec =
            harness_workloads::find(&self.workload).with_context(|| format!("unknown workload `{}`", self.workload))?;
        let limits = Limits {
            timeout_ms: self.timeout_ms,
            interrupt: self.interrupt,
            memory_mb,
            wasm_stack: self.wasm_stack_kib.map(|kib| harness_data::plan::WasmStack { kib }),
        };
        // In-process Wasm only: no containers to record.
        let runtime = runtime::create(self.runtime, limits, &harness_probes::model::ContainerLedger::default())?;
        Ok((WorkloadArtifacts::at(&self.artifacts, spec), runtime))
    }
}
