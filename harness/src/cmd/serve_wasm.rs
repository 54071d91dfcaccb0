//! `harness serve-wasm` (hidden): one pre-forked worker of `[load] serving = "processes"`
//! (`harness::runtime::served_wasm`).

use super::Outcome;
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

/// Serves warm requests of one workload on stdin and stdout with its own engine, as the in-process runtime
/// would in the harness, until stdin ends.
#[derive(Args)]
pub struct ServeWasmArgs {
    /// wasmtime-jit, wasmtime-aot or wasmi.
    #[arg(long)]
    runtime: harness_data::RuntimeKind,
    #[arg(long)]
    workload: String,
    #[arg(long)]
    artifacts: PathBuf,
    #[arg(long, default_value_t = 60_000)]
    timeout_ms: u64,
    /// The plan's `interrupt`: `epoch` or `none`.
    #[arg(long, default_value = "epoch")]
    interrupt: harness_data::plan::Interrupt,
    /// The plan's `[load] memory_mb`: the instance's linear memory cap.
    #[arg(long)]
    memory_mb: Option<u64>,
    /// The plan's `wasm_stack_kib` (absent: the engines' default).
    #[arg(long)]
    wasm_stack_kib: Option<u32>,
}

pub fn run(args: ServeWasmArgs) -> anyhow::Result<Outcome> {
    let main_ns = harness_probes::clock::monotonic_ns();
    if !args.runtime.is_wasm_in_process() {
        anyhow::bail!(
            "serve-wasm serves wasmtime-jit, wasmtime-aot and wasmi, not {}",
            args.runtime
        );
    }
    let spec =
        harness_workloads::find(&args.workload).with_context(|| format!("unknown workload `{}`", args.workload))?;
    let artifacts = harness::artifacts::WorkloadArtifacts::at(&args.artifacts, spec);
    let limits = harness::runtime::Limits {
        timeout_ms: args.timeout_ms,
        interrupt: args.interrupt,
        memory_mb: args.memory_mb,
        wasm_stack: args.wasm_stack_kib.map(|kib| harness_data::plan::WasmStack { kib }),
    };
    // The engine the in-process runtime creates, its instance pool sized for the one request served at a time.
    let mut runtime =
        harness::runtime::create(args.runtime, limits, &harness_probes::model::ContainerLedger::default())?;
    runtime.prepare_warm(&artifacts)?;
    let loaded_ns = harness_probes::clock::monotonic_ns();
    harness::runtime::served_wasm::serve_requests(
        runtime.as_mut(),
        &artifacts,
        [main_ns, loaded_ns],
        std::io::stdin().lock(),
        std::io::BufWriter::new(std::io::stdout().lock()),
    )
    .context("serving requests")?;
    Ok(Outcome::Complete)
}
