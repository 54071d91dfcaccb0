//! The instance pool of wasmtime's warm engines, sized from the plan rather than wasmtime's defaults.
//!
//! wasmtime's default pool (1000 slots of a 4 GiB reservation plus a 32 MiB guard each) reserves 4 TiB of
//! address space: more than a 39-bit arm64 kernel has (512 GiB, Raspberry Pi OS), and `qemu-aarch64` was killed
//! for memory creating it. Slots are the requests served at once; each slot keeps wasmtime's 4 GiB reservation,
//! whose guard pages stand in for bounds checks (the same machine code as the cold engines, so the same
//! `.cwasm`), while the pool fits in [`ADDRESS_BUDGET`]. A module that declares a maximum memory, or a pool
//! that would not fit, gets slots as large as the memory can grow instead: the module's maximum, else the
//! plan's memory cap, else an equal share of the budget, behind a 64 KiB guard, and the code checks bounds.

use super::engine::engine_config;
use crate::artifacts::WorkloadArtifacts;
use anyhow::Context;
use harness_data::plan::{Interrupt, WasmStack};
use harness_data::{Mode, RuntimeKind};
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Slots beyond the requests served at once, so the pool is never the limit (an instance is dropped a little
/// after its request ends).
pub const SPARE_SLOTS: u32 = 3;
/// Address space one pool may reserve: a quarter of a 39-bit kernel's 512 GiB, room for 31 default slots.
pub const ADDRESS_BUDGET: u64 = 128 << 30;
/// wasmtime's default slot on 64-bit hosts: all of wasm32's 4 GiB, then a 32 MiB guard.
pub const DEFAULT_RESERVATION: u64 = 1 << 32;
pub const DEFAULT_GUARD: u64 = 32 << 20;
/// The guard after a sized slot: small, since a reservation under 4 GiB means explicit bounds checks anyway.
pub const SIZED_GUARD: u64 = 64 << 10;
const WASM_PAGE: u64 = 64 << 10;

/// How one warm engine's pool is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolSizing {
    /// Instances alive at once (memories, tables and core instances each).
    pub slots: u32,
    /// Address space reserved for one instance's linear memory: also the most it can grow to.
    pub reservation: u64,
    pub guard: u64,
}

impl PoolSizing {
    /// Slots for `concurrent` requests; slots of wasmtime's default layout unless the module declares a
    /// maximum memory or they would not fit in [`ADDRESS_BUDGET`] (then the plan's `memory_cap`, in bytes, or
    /// an equal share of the budget); never less than the module's initial memory.
    pub fn new(concurrent: u32, memory_cap: Option<u64>, memory: DeclaredMemory) -> PoolSizing {
        let slots = concurrent.max(1) + SPARE_SLOTS;
        let default_fits = u64::from(slots) * (DEFAULT_RESERVATION + DEFAULT_GUARD) <= ADDRESS_BUDGET;
        let bound = match memory.maximum {
            Some(max) => max,
            None if default_fits => {
                return PoolSizing {
                    slots,
                    reservation: DEFAULT_RESERVATION,
                    guard: DEFAULT_GUARD,
                };
            }
            None => memory_cap.unwrap_or(ADDRESS_BUDGET / u64::from(slots) - SIZED_GUARD),
        };
        let reservation = bound.max(memory.initial).max(WASM_PAGE);
        PoolSizing {
            slots,
            // Whole Wasm pages, and no more than wasm32 can address.
            reservation: (reservation.div_ceil(WASM_PAGE) * WASM_PAGE).min(DEFAULT_RESERVATION),
            guard: SIZED_GUARD,
        }
    }

    /// Whether the slots are wasmtime's default layout (the cold engines' code and `.cwasm`).
    pub fn is_default_layout(&self) -> bool {
        (self.reservation, self.guard) == (DEFAULT_RESERVATION, DEFAULT_GUARD)
    }

    /// The sizing as the manifest records it.
    pub fn describe(&self) -> String {
        let checks = if self.is_default_layout() {
            "guard pages, no bounds checks"
        } else {
            "explicit bounds checks"
        };
        format!(
            "pooling allocator: {} slots, {} reservation and {} guard per slot ({checks})",
            self.slots,
            bytes(self.reservation),
            bytes(self.guard)
        )
    }
}

/// `bytes` in the largest binary unit that divides it: "4 GiB", "32 MiB", "64 KiB".
fn bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b => format!("{} KiB", b >> 10),
    }
}

/// A warm engine of the same code generation as every other wasmtime engine of the harness; a sized layout
/// changes the code (bounds checks), so its `.cwasm` is compiled by it: [`pooled_cwasm`].
pub fn new_pooled_engine(interrupt: Interrupt, stack: WasmStack, sizing: PoolSizing) -> anyhow::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_memories(sizing.slots)
        .total_tables(sizing.slots)
        .total_core_instances(sizing.slots)
        .max_memory_size(sizing.reservation as usize);
    let mut config = engine_config(interrupt, stack);
    if !sizing.is_default_layout() {
        config
            .memory_reservation(sizing.reservation)
            .memory_guard_size(sizing.guard);
    }
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(anyhow::Error::from).with_context(|| {
        format!(
            "creating the pooled wasmtime engine ({}): if the address space is short, set `[load] memory_mb` to size the slots",
            sizing.describe()
        )
    })
}

/// The `.cwasm` a pooled engine loads: the cold one for the default layout; for a sized layout (part of the
/// compiled code: wasmtime refuses a `.cwasm` of another) one compiled by that engine, named by its layout.
pub fn pooled_cwasm(
    engine: &Engine,
    workload: &WorkloadArtifacts,
    interrupt: Interrupt,
    sizing: PoolSizing,
) -> anyhow::Result<std::path::PathBuf> {
    let cold = workload.cwasm_for(interrupt);
    if sizing.is_default_layout() {
        return Ok(cold);
    }
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

/// What the manifest records of the warm pools a plan sets up (`engines["wasmtime-pool"]`), for modules that
/// declare no maximum memory (every built-in workload); `None` when no wasmtime runtime runs warm.
pub fn manifest_note(plan: &crate::plan::Plan) -> Option<String> {
    let wasmtime = plan
        .runtimes
        .iter()
        .any(|r| matches!(r, RuntimeKind::WasmtimeJit | RuntimeKind::WasmtimeAot));
    let warm = plan.modes.contains(&Mode::Warm);
    if !wasmtime || (!warm && plan.load.is_none()) {
        return None;
    }
    let mut notes = Vec::new();
    if warm {
        notes.push(format!(
            "warm: {}",
            PoolSizing::new(1, None, DeclaredMemory::default()).describe()
        ));
    }
    if let Some(load) = &plan.load {
        let most = load
            .clients
            .iter()
            .chain(&load.burst)
            .copied()
            .chain([load.instances])
            .max();
        let cap = load.memory_mb.map(|mb| mb << 20);
        let sizing = PoolSizing::new(most.unwrap_or(1), cap, DeclaredMemory::default());
        notes.push(format!("load, largest level: {}", sizing.describe()));
    }
    notes.push("a module declaring a maximum memory gets slots of that size".into());
    Some(notes.join("; "))
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
    fn a_workload_module_declares_no_maximum_so_it_keeps_the_default_layout_while_it_fits() {
        let wasm = std::fs::read(crate::artifacts::default_dir().join("wasm/noop.wasm"))
            .expect("artifacts/wasm/noop.wasm: run scripts/build-workloads.sh");
        let memory = declared_memory(&wasm);
        assert!(memory.initial >= WASM_PAGE && memory.maximum.is_none(), "{memory:?}");
        let plain = PoolSizing::new(1, None, memory);
        assert_eq!(plain.slots, 1 + SPARE_SLOTS);
        assert!(plain.is_default_layout(), "{plain:?}");
        let text = plain.describe();
        assert!(
            text.contains("4 slots, 4 GiB reservation and 32 MiB guard per slot (guard pages"),
            "{text}"
        );
        // A memory cap alone keeps the layout (the limiter enforces the cap), as before pools were sized.
        assert!(PoolSizing::new(8, Some(64 << 20), memory).is_default_layout());
        // 28 + 3 slots of 4 GiB + 32 MiB fit in 128 GiB; 29 + 3 do not: the cap sizes them.
        assert!(PoolSizing::new(28, None, memory).is_default_layout());
        let many = PoolSizing::new(29, Some(64 << 20), memory);
        assert_eq!((many.slots, many.reservation, many.guard), (32, 64 << 20, SIZED_GUARD));
        // No cap: an equal share of the budget, in whole pages, and the pool stays inside it.
        let share = PoolSizing::new(125, None, memory);
        assert_eq!(
            share.reservation,
            (ADDRESS_BUDGET / 128 - SIZED_GUARD) / WASM_PAGE * WASM_PAGE
        );
        assert!(u64::from(share.slots) * (share.reservation + share.guard) <= ADDRESS_BUDGET);
    }

    #[test]
    fn a_declared_maximum_sizes_the_slots_and_they_hold_the_initial_memory() {
        let declared = DeclaredMemory {
            initial: WASM_PAGE,
            maximum: Some(32 << 20),
        };
        let sized = PoolSizing::new(2, None, declared);
        assert_eq!((sized.reservation, sized.guard), (32 << 20, SIZED_GUARD));
        let text = sized.describe();
        assert!(
            text.contains("32 MiB reservation and 64 KiB guard per slot (explicit bounds checks)"),
            "{text}"
        );
        let grown = DeclaredMemory {
            initial: 40 << 20,
            maximum: Some(100_000),
        };
        assert_eq!(PoolSizing::new(1, None, grown).reservation, 40 << 20);
        let tiny = DeclaredMemory {
            initial: 0,
            maximum: Some(100_000),
        };
        assert_eq!(PoolSizing::new(1, None, tiny).reservation, 2 * WASM_PAGE);
        assert_eq!(PoolSizing::new(0, None, declared).slots, 1 + SPARE_SLOTS);
    }

    #[test]
    fn a_sized_pool_serves_fresh_instances_and_holds_no_more_than_its_slots() {
        let sizing = PoolSizing::new(
            2,
            None,
            DeclaredMemory {
                initial: WASM_PAGE,
                maximum: Some(4 << 20),
            },
        );
        let engine = new_pooled_engine(Interrupt::None, WasmStack::default(), sizing).unwrap();
        let bounded = wasmtime::Module::new(&engine, module(1, Some(64))).unwrap();
        // More instances than slots, one after another: each returns its slot.
        for _ in 0..3 * sizing.slots {
            let mut store = wasmtime::Store::new(&engine, ());
            wasmtime::Instance::new(&mut store, &bounded, &[]).unwrap();
        }
        // All slots held at once, then one more: the pool is the limit, as sized.
        let mut stores: Vec<_> = (0..sizing.slots).map(|_| wasmtime::Store::new(&engine, ())).collect();
        let instances: Vec<_> = stores
            .iter_mut()
            .map(|store| wasmtime::Instance::new(store, &bounded, &[]).unwrap())
            .collect();
        let mut extra = wasmtime::Store::new(&engine, ());
        assert!(wasmtime::Instance::new(&mut extra, &bounded, &[]).is_err());
        assert_eq!(instances.len(), 5);
        // The default layout loads the cold engines' code: same tunables, so a module compiled for one loads
        // into the other.
        let plain = PoolSizing::new(1, None, DeclaredMemory::default());
        let pooled = new_pooled_engine(Interrupt::None, WasmStack::default(), plain).unwrap();
        let cold = super::super::engine::precompile(&module(1, None), Interrupt::None).unwrap();
        // SAFETY: the bytes were just produced by `precompile` with this wasmtime version.
        assert!(unsafe { wasmtime::Module::deserialize(&pooled, &cold) }.is_ok());
        // SAFETY: as above; a sized layout is another configuration, which wasmtime refuses.
        assert!(unsafe { wasmtime::Module::deserialize(&engine, &cold) }.is_err());
    }
}
