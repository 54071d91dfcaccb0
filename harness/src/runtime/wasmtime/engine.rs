//! The configuration every wasmtime engine of the harness shares (cold, warm and pooled, and the AoT
//! precompilation whose `.cwasm` must match it), and the epoch thread that gives engines their deadlines.
//! Both the runtime and the pool build on it, so neither imports the other for it.

use crate::artifacts::WorkloadArtifacts;
use anyhow::Context;
use harness_data::plan::{Interrupt, WasmStack};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use wasmtime::{Config, Engine};

/// The engine configuration every wasmtime path uses, AoT precompilation included: a `.cwasm` only loads into
/// an engine configured the same way (so its file name carries `interrupt`, see artifacts.rs). The stack is
/// not part of that match (wasmtime checks code generation, not `max_wasm_stack`), so one `.cwasm` serves
/// every `wasm_stack_kib`.
pub fn engine_config(interrupt: Interrupt, stack: WasmStack) -> Config {
    let mut config = Config::new();
    config.max_wasm_stack(stack.bytes());
    // wasmtime refuses a Wasm stack larger than its async stacks, even with async off (none are then made).
    config.async_stack_size(stack.bytes().max(DEFAULT_ASYNC_STACK_BYTES));
    // Deadlines by epoch: a check at loop headers and function entries; cheaper than fuel, yet not free
    // (`harness bench` prints what it costs), hence `Interrupt::None`.
    config.epoch_interruption(interrupt == Interrupt::Epoch);
    config
}

/// wasmtime's own `async_stack_size`.
const DEFAULT_ASYNC_STACK_BYTES: usize = 2 << 20;

pub fn new_engine(interrupt: Interrupt, stack: WasmStack) -> anyhow::Result<Engine> {
    Engine::new(&engine_config(interrupt, stack))
        .map_err(anyhow::Error::from)
        .context("creating the wasmtime engine")
}

/// Writes the workload's `.cwasm` for `interrupt` unless it is newer than the `.wasm`.
pub fn ensure_cwasm(workload: &WorkloadArtifacts, interrupt: Interrupt) -> anyhow::Result<()> {
    if !workload.cwasm_is_stale(interrupt) {
        return Ok(());
    }
    let wasm = std::fs::read(&workload.wasm).with_context(|| format!("reading {}", workload.wasm.display()))?;
    let cwasm = precompile(&wasm, interrupt).with_context(|| format!("precompiling {}", workload.wasm.display()))?;
    crate::artifacts::write_atomically(&workload.cwasm_for(interrupt), &cwasm)
}

/// Compiles a module to the `.cwasm` bytes `Module::deserialize` accepts in an engine with `interrupt`.
pub fn precompile(wasm: &[u8], interrupt: Interrupt) -> anyhow::Result<Vec<u8>> {
    Ok(new_engine(interrupt, WasmStack::default())?.precompile_module(wasm)?)
}

/// Epoch length: deadlines are counted in ticks of this many milliseconds.
pub const TICK: Duration = Duration::from_millis(10);

/// One thread for the whole process advances the epoch of every engine in use, so an endless guest reaches its
/// deadline. Engines register for as long as they run guest code.
fn ticked_engines() -> &'static Mutex<Vec<Engine>> {
    static ENGINES: OnceLock<Arc<Mutex<Vec<Engine>>>> = OnceLock::new();
    ENGINES.get_or_init(|| {
        let engines = Arc::new(Mutex::new(Vec::<Engine>::new()));
        let ticked = Arc::clone(&engines);
        std::thread::Builder::new()
            .name("wasmtime-epoch".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(TICK);
                    for engine in ticked.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                        engine.increment_epoch();
                    }
                }
            })
            .expect("spawning the epoch thread");
        engines
    })
}

/// Keeps an engine's epoch advancing while alive (nothing for an engine without epoch interruption).
pub struct Ticking(Option<Engine>);

impl Ticking {
    pub fn start(engine: &Engine, interrupt: Interrupt) -> Ticking {
        if interrupt == Interrupt::None {
            return Ticking(None);
        }
        ticked_engines()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(engine.clone());
        Ticking(Some(engine.clone()))
    }
}

impl Drop for Ticking {
    fn drop(&mut self) {
        if let Some(engine) = &self.0 {
            ticked_engines()
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|e| !Engine::same(e, engine));
        }
    }
}
