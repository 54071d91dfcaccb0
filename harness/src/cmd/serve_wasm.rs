//! `harness serve-wasm` (hidden): one pre-forked worker of `[load] serving = "processes"`
//! (`harness::runtime::served_wasm`).

use super::Outcome;
use anyhow::Context;
use clap::Args;

/// Serves warm requests of one workload on stdin and stdout with its own engine, as the in-process runtime
/// would in the harness, until stdin ends.
#[derive(Args)]
pub struct ServeWasmArgs {
    #[command(flatten)]
    engine: super::child_engine::ChildEngineArgs,
    /// The plan's `[load] memory_mb`: the instance's linear memory cap.
    #[arg(long)]
    memory_mb: Option<u64>,
}

pub fn run(args: ServeWasmArgs) -> anyhow::Result<Outcome> {
    let main_ns = harness_probes::clock::monotonic_ns();
    if !args.engine.runtime.is_wasm_in_process() {
        anyhow::bail!(
            "serve-wasm serves wasmtime-jit, wasmtime-aot and wasmi, not {}",
            args.engine.runtime
        );
    }
    // The engine the in-process runtime creates, its instance pool sized for the one request served at a time.
    let (artifacts, mut runtime) = args.engine.open(args.memory_mb)?;
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
