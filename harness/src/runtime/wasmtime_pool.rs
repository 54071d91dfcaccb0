//! The instance pool of wasmtime's warm engines, sized from the plan rather than wasmtime's defaults.
//!
//! wasmtime's default pool (1000 slots of a 4 GiB reservation plus guard each) reserves terabytes of address
//! space: more than a 39-bit arm64 kernel has (512 GiB), and under `qemu-aarch64` every reservation is emulated
//! page by page (500 fresh instances did not finish in 5 minutes there). A pool sized to the need is enough:
//! slots for the requests served at once, each slot as large as the module can grow.

use super::wasmtime_rt::engine_config;
use crate::artifacts::WorkloadArtifacts;
use crate::plan::Interrupt;
use anyhow::Context;
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Slots beyond the requests served at once, so the pool is never the limit (an instance is dropped a little
/// after its request ends).
pub const SPARE_SLOTS: u32 = 3;
/// A slot's reservation when neither the module nor the plan bounds its memory: room for the largest inputs
/// the workloads document (64 MiB to hash, a 4096 px image) several times over.
pub const DEFAULT_RESERVATION: u64 = 1 << 30;
/// The guard after each slot: small, since a reservation under 4 GiB means explicit bounds checks anyway.
pub const GUARD: u64 = 64 << 10;
const WASM_PAGE: u64 = 64 << 10;

/// How one warm engine's pool is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSizing {
    /// Instances alive at once (memories, tables and core instances each).
    pub slots: u32,
    /// Address space reserved for one instance's linear memory: also the most it can grow to.
    pub reservation: u64,
    pub guard: u64,
}

impl PoolSizing {
    /// Slots for `concurrent` requests; the reservation is the module's declared maximum memory, else the
    /// plan's memory cap (`memory_cap`, bytes), else [`DEFAULT_RESERVATION`]; never less than its initial memory.
    pub fn new(concurrent: u32, memory_cap: Option<u64>, memory: DeclaredMemory) -> PoolSizing {
        let bound = match (memory.maximum, memory_cap) {
            (Some(max), Some(cap)) => max.min(cap),
            (Some(max), None) => max,
            (None, Some(cap)) => cap,
            (None, None) => DEFAULT_RESERVATION,
        };
        PoolSizing {
            slots: concurrent.max(1) + SPARE_SLOTS,
            reservation: bound.max(memory.initial).max(WASM_PAGE).next_multiple_of(WASM_PAGE),
            guard: GUARD,
        }
    }

    /// The sizing as the manifest records it.
    pub fn describe(&self) -> String {
        format!(
            "pooling allocator: {} slots, {} MiB reservation and {} KiB guard per slot",
            self.slots,
            self.reservation >> 20,
            self.guard >> 10
        )
    }
}

/// A warm engine of the same code generation as every other wasmtime engine of the harness, but for the
/// memory layout, which `sizing` sets (so a `.cwasm` for it is compiled by it: [`pooled_cwasm`]).
pub fn new_pooled_engine(interrupt: Interrupt, sizing: PoolSizing) -> anyhow::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_memories(sizing.slots)
        .total_tables(sizing.slots)
        .total_core_instances(sizing.slots)
        .max_memory_size(sizing.reservation as usize);
    let mut config = engine_config(interrupt);
    config
        .memory_reservation(sizing.reservation)
        .memory_guard_size(sizing.guard)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("creating the pooled wasmtime engine ({})", sizing.describe()))
}

/// The `.cwasm` a pooled engine loads: the memory layout is part of the compiled code (wasmtime refuses a
/// `.cwasm` of another layout), so it is compiled by that engine once and kept beside the cold one, named by it.
pub fn pooled_cwasm(
    engine: &Engine,
    workload: &WorkloadArtifacts,
    interrupt: Interrupt,
    sizing: PoolSizing,
) -> anyhow::Result<std::path::PathBuf> {
    let cold = workload.cwasm_for(interrupt);
    let stem = cold.file_stem().and_then(|s| s.to_str()).unwrap_or(workload.name);
    let path = cold.with_file_name(format!(
        "{stem}-pool{}m-{}k.cwasm",
        sizing.reservation >> 20,
        sizing.guard >> 10
    ));
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let fresh = matches!((modified(&path), modified(&workload.wasm)), (Some(c), Some(w)) if c >= w);
    if !fresh {
        let wasm = std::fs::read(&workload.wasm).with_context(|| format!("reading {}", workload.wasm.display()))?;
        let cwasm = engine
            .precompile_module(&wasm)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("precompiling {} for the pooled engine", workload.wasm.display()))?;
        crate::artifacts::write_atomically(&path, &cwasm)?;
    }
    Ok(path)
}

/// A module's own linear memory, in bytes, as its memory section declares it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeclaredMemory {
    pub initial: u64,
    pub maximum: Option<u64>,
}

/// Reads the first memory of the module's memory section; the default (unbounded) for anything else (no
/// memory section, an imported memory, bytes that do not parse: wasmtime reports those when it loads them).
pub fn declared_memory(wasm: &[u8]) -> DeclaredMemory {
    parse_memory_section(wasm).unwrap_or_default()
}

fn parse_memory_section(wasm: &[u8]) -> Option<DeclaredMemory> {
    let mut at = 8; // magic and version
    if wasm.get(..4)? != b"\0asm" {
        return None;
    }
    while at < wasm.len() {
        let id = *wasm.get(at)?;
        at += 1;
        let size = leb128(wasm, &mut at)? as usize;
        if id == 5 {
            let mut p = at;
            if leb128(wasm, &mut p)? == 0 {
                return None;
            }
            let flags = *wasm.get(p)?;
            p += 1;
            // bit 0: a maximum follows; bit 2: memory64 (sizes are still LEB128-encoded page counts).
            let page = |pages: u64| pages.saturating_mul(WASM_PAGE);
            let initial = page(leb128(wasm, &mut p)?);
            let maximum = if flags & 1 == 1 {
                Some(page(leb128(wasm, &mut p)?))
            } else {
                None
            };
            return Some(DeclaredMemory { initial, maximum });
        }
        at = at.checked_add(size)?;
    }
    None
}

fn leb128(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes of a module with one memory of `min` pages (and `max`, if given).
    fn module(min: u8, max: Option<u8>) -> Vec<u8> {
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        let limits = match max {
            Some(max) => vec![1, 1, min, max],
            None => vec![1, 0, min],
        };
        wasm.extend([5, limits.len() as u8]);
        wasm.extend(limits);
        wasm
    }

    #[test]
    fn the_declared_memory_is_read_from_the_module() {
        let bounded = declared_memory(&module(2, Some(10)));
        assert_eq!(
            bounded,
            DeclaredMemory {
                initial: 2 * WASM_PAGE,
                maximum: Some(10 * WASM_PAGE)
            }
        );
        assert_eq!(declared_memory(&module(17, None)).maximum, None);
        assert_eq!(declared_memory(&module(17, None)).initial, 17 * WASM_PAGE);
        // No memory at all, or not a module: unbounded, so the plan or the default decides.
        assert_eq!(declared_memory(b"\0asm\x01\0\0\0"), DeclaredMemory::default());
        assert_eq!(declared_memory(b"not wasm"), DeclaredMemory::default());
    }

    #[test]
    fn a_workload_module_declares_no_maximum_so_the_plan_or_the_default_sizes_the_pool() {
        let wasm = std::fs::read(crate::artifacts::default_dir().join("wasm/noop.wasm"))
            .expect("artifacts/wasm/noop.wasm: run scripts/build-workloads.sh");
        let memory = declared_memory(&wasm);
        assert!(memory.initial >= WASM_PAGE, "{memory:?}");
        let plain = PoolSizing::new(1, None, memory);
        assert_eq!(
            (plain.slots, plain.reservation, plain.guard),
            (1 + SPARE_SLOTS, DEFAULT_RESERVATION, GUARD)
        );
        let capped = PoolSizing::new(8, Some(64 << 20), memory);
        assert_eq!((capped.slots, capped.reservation), (8 + SPARE_SLOTS, 64 << 20));
    }

    #[test]
    fn the_reservation_is_the_smaller_bound_and_holds_the_initial_memory() {
        let declared = DeclaredMemory {
            initial: WASM_PAGE,
            maximum: Some(32 << 20),
        };
        assert_eq!(PoolSizing::new(2, Some(128 << 20), declared).reservation, 32 << 20);
        assert_eq!(PoolSizing::new(2, Some(16 << 20), declared).reservation, 16 << 20);
        // A cap below the initial memory cannot shrink the slot under it (the cap itself refuses growth).
        let big = DeclaredMemory {
            initial: 40 << 20,
            maximum: None,
        };
        assert_eq!(PoolSizing::new(1, Some(1 << 20), big).reservation, 40 << 20);
        // Rounded up to whole Wasm pages.
        assert_eq!(
            PoolSizing::new(1, Some(100_000), DeclaredMemory::default()).reservation,
            2 * WASM_PAGE
        );
        assert_eq!(
            PoolSizing::new(0, None, DeclaredMemory::default()).slots,
            1 + SPARE_SLOTS
        );
    }

    #[test]
    fn a_sized_pool_serves_fresh_instances_and_stays_small() {
        let sizing = PoolSizing::new(2, Some(4 << 20), DeclaredMemory::default());
        let engine = new_pooled_engine(Interrupt::None, sizing).unwrap();
        let module = wasmtime::Module::new(&engine, module(1, Some(64))).unwrap();
        // More instances than slots, one after another: each returns its slot.
        for _ in 0..3 * sizing.slots {
            let mut store = wasmtime::Store::new(&engine, ());
            wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
        }
        // All slots held at once, then one more: the pool is the limit, as sized.
        let mut stores: Vec<_> = (0..sizing.slots).map(|_| wasmtime::Store::new(&engine, ())).collect();
        for store in &mut stores {
            wasmtime::Instance::new(store, &module, &[]).unwrap();
        }
        let mut extra = wasmtime::Store::new(&engine, ());
        assert!(wasmtime::Instance::new(&mut extra, &module, &[]).is_err());
        assert!(
            sizing
                .describe()
                .contains("5 slots, 4 MiB reservation and 64 KiB guard"),
            "{}",
            sizing.describe()
        );
    }
}
