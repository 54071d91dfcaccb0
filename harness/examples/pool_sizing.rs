//! What the warm engine's instance pool costs per fresh instance, sized from the plan or not: the arm64
//! figures in docs/arm64.md come from this, cross-built and run under `qemu-aarch64`.
//!
//! Usage: pool_sizing <noop.wasm> [instances] [seconds per configuration]
//!
//! wasmtime's default pool (1000 slots of 4 GiB) is left out: under qemu-aarch64 7.2 creating it alone was
//! killed for memory (the emulator keeps flags for every page of the 4 TiB it reserves).

use harness::runtime::wasmtime::engine::engine_config;
use harness::runtime::wasmtime::pool::{self as wasmtime_pool, PoolSizing};
use harness_data::plan::{Interrupt, WasmStack};
use std::time::{Duration, Instant};
use wasmtime::{Engine, Module, Store};

/// Creates the engine of one configuration.
type NewEngine = Box<dyn Fn() -> anyhow::Result<Engine>>;

fn main() -> anyhow::Result<()> {
    // Each configuration twice, interleaved, so a busy moment of the machine shows as a disagreement.
    let mut args = std::env::args().skip(1);
    let wasm = std::fs::read(args.next().unwrap_or_else(|| "artifacts/wasm/noop.wasm".into()))?;
    let instances: u32 = args.next().map_or(Ok(500), |a| a.parse())?;
    let budget = Duration::from_secs(args.next().map_or(Ok(60), |a| a.parse())?);
    let sized = PoolSizing::new(1, None, wasmtime_pool::declared_memory(&wasm));
    let bounded = PoolSizing::new(
        5,
        None,
        wasmtime_pool::DeclaredMemory {
            initial: 0,
            maximum: Some(64 << 20),
        },
    );
    let configurations: Vec<(String, NewEngine)> = vec![
        (
            format!("sized from the plan, warm ({})", sized.describe()),
            Box::new(move || wasmtime_pool::new_pooled_engine(Interrupt::Epoch, WasmStack::default(), sized)),
        ),
        (
            format!("a module declaring 64 MiB, 5 requests at once ({})", bounded.describe()),
            Box::new(move || wasmtime_pool::new_pooled_engine(Interrupt::Epoch, WasmStack::default(), bounded)),
        ),
        (
            "no pool (mmap per instance)".into(),
            Box::new(|| Ok(Engine::new(&engine_config(Interrupt::Epoch, WasmStack::default()))?)),
        ),
    ];
    for (name, new_engine) in configurations.iter().chain(configurations.iter()) {
        let start = Instant::now();
        let engine = match new_engine() {
            Ok(engine) => engine,
            Err(e) => {
                println!("{name}: engine refused: {e:#}");
                continue;
            }
        };
        let created = start.elapsed();
        let module = Module::new(&engine, &wasm)?;
        let linker = harness::runtime::wasmtime::linker_for(&engine, &module)?;
        let pre = linker.instantiate_pre(&module)?;
        let start = Instant::now();
        let mut done = 0;
        while done < instances && start.elapsed() < budget {
            let mut store = Store::new(&engine, Default::default());
            store.set_epoch_deadline(u64::MAX / 2);
            let instance = pre.instantiate(&mut store)?;
            if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
                init.call(&mut store, ())?;
            }
            done += 1;
        }
        let per = start.elapsed() / done.max(1);
        println!(
            "{name}: engine {:.1} ms; {done} fresh instances, {:.1} us each{}",
            created.as_secs_f64() * 1e3,
            per.as_secs_f64() * 1e6,
            if done < instances {
                " (stopped at the time budget)"
            } else {
                ""
            }
        );
    }
    Ok(())
}
