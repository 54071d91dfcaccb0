//! `wasmi`: the workload module in the wasmi interpreter (Lumos's "interpreted Wasm").
//!
//! wasmi has no epoch interruption, so endless guests are stopped by fuel, kept in time: calls get fuel in slices
//! of [`FUEL_SLICE`] and the clock is read between slices ([`call_in_time`]), so `timeout_ms` is milliseconds on
//! the run's clock for wasmi as for every engine, whatever its speed (a fixed budget ran out after 12.6 s of a
//! 60 s deadline on one guest). A guest that runs forever ends within `timeout_ms` plus one slice. With
//! `interrupt = "none"` the engine consumes no fuel (its own speed) and in-process invocations have no deadline.

pub mod command;

use crate::artifacts::{CommandArtifacts, Guest, WorkloadArtifacts};
use crate::runtime::teardown::Leftovers;
use crate::runtime::wasi::shim::{self as wasi_shim, Served, WasiState};
use crate::runtime::{Limits, Outcome, Runtime, ServedBy, SharedEngine, span};
use anyhow::{Context, bail};
use harness_data::plan::{Interrupt, WasmStack};
use harness_data::{Mode, Phases, RuntimeKind, Status, Teardown};
use harness_probes::clock::monotonic_ns;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use wasmi::{Config, Engine, Instance, Linker, Module, Store, TrapCode, Val};

/// Fuel per millisecond of the plan's timeout: the `fuel` a runtime carries is `timeout_ms x FUEL_PER_MS`, read
/// back as the deadline in milliseconds, and the budget of a start section (which cannot be resumed).
pub const FUEL_PER_MS: u64 = 1_000_000;

/// Fuel per slice between two readings of the clock: about 1-5 ms of guest work (wasmi burns 1-5 G fuel/s).
pub const FUEL_SLICE: u64 = 5_000_000;

/// The wall-clock deadline `fuel` stands for, in nanoseconds after `started_ns`.
pub fn deadline_ns(fuel: u64, started_ns: u64) -> u64 {
    started_ns.saturating_add((fuel / FUEL_PER_MS).saturating_mul(1_000_000))
}

/// Calls `func`; with a deadline (`fuel`, see [`deadline_ns`]) the fuel comes in slices and the clock is read
/// between them: past the deadline the call ends with wasmi's out-of-fuel trap. Host errors (a WASI
/// `proc_exit`, say) end it as a plain call's would.
pub fn call_in_time<T>(
    func: &wasmi::Func,
    store: &mut Store<T>,
    inputs: &[Val],
    outputs: &mut [Val],
    fuel: Option<u64>,
    started_ns: u64,
) -> Result<(), wasmi::Error> {
    let Some(fuel) = fuel else {
        return func.call(&mut *store, inputs, outputs);
    };
    let deadline = deadline_ns(fuel, started_ns);
    store.set_fuel(FUEL_SLICE)?;
    let mut call = func.call_resumable(&mut *store, inputs, outputs)?;
    loop {
        match call {
            wasmi::ResumableCall::Finished => return Ok(()),
            wasmi::ResumableCall::HostTrap(trap) => return Err(trap.into_host_error()),
            wasmi::ResumableCall::OutOfFuel(rest) => {
                if monotonic_ns() >= deadline {
                    return Err(wasmi::Error::from(TrapCode::OutOfFuel));
                }
                store.set_fuel(FUEL_SLICE)?;
                call = rest.resume(&mut *store, outputs)?;
            }
        }
    }
}

/// The message of a call stopped at its deadline.
pub fn deadline_message(fuel: Option<u64>) -> String {
    format!(
        "stopped at the {} ms deadline (wasmi: fuel in slices of {FUEL_SLICE}, the clock read between them)",
        fuel.unwrap_or(0) / FUEL_PER_MS
    )
}

/// A wasmi engine as every wasmi runtime of the harness configures it: fuel metering for deadlines, the call
/// depth and value stack `stack` admits (see [`WasmStack::wasmi_frames`]: wasmi's defaults, 1,000 frames and a
/// 1 MB value stack, trapped deep recursion that wasmtime's 512 KiB stack and node run, "call stack
/// exhausted"; wasmtime's 512 KiB holds about 10-16k frames of a small recursive function, wasmi now admits
/// 32,768), and the Wasm proposals wasmtime accepts that wasmi has (SIMD through the crate's `simd` feature,
/// on in the workspace's Cargo.toml).
pub fn engine(interrupt: Interrupt, stack: WasmStack) -> Engine {
    let mut config = Config::default();
    config.consume_fuel(interrupt == Interrupt::Epoch);
    config.set_max_recursion_depth(stack.wasmi_frames());
    config.set_max_stack_height(stack.wasmi_value_stack_bytes());
    config.wasm_simd(true);
    Engine::new(&config)
}

fn linker_for(engine: &Engine, module: &Module) -> anyhow::Result<Linker<WasiState>> {
    let mut linker = Linker::new(engine);
    for import in module.imports() {
        let (field, name) = (import.module().to_string(), import.name().to_string());
        let Some(ty) = import.ty().func().cloned() else {
            bail!(
                "the module imports `{field}.{name}`, which is not a function; the harness provides only WASI functions"
            );
        };
        if field != wasi_shim::MODULE {
            bail!(
                "the module imports `{field}.{name}`; the harness provides only `{}` functions",
                wasi_shim::MODULE
            );
        }
        if !wasi_shim::serves(&name) {
            let message = wasi_shim::unsupported(&name);
            linker.func_new(&field, &name, ty, move |_, _, _| {
                Err(wasmi::Error::new(message.clone()))
            })?;
            continue;
        }
        let served_name = name.clone();
        linker.func_new(&field, &name, ty, move |mut caller, params, results| {
            let args: Vec<i64> = params
                .iter()
                .map(|v| v.i64().or_else(|| v.i32().map(i64::from)).unwrap_or(0))
                .collect();
            let memory = caller
                .get_export("memory")
                .and_then(|e| e.into_memory())
                .ok_or_else(|| wasmi::Error::new("the module exports no `memory`"))?;
            let (data, state) = memory.data_and_store_mut(&mut caller);
            match wasi_shim::serve(state, data, &served_name, &args) {
                Served::Errno(errno) => {
                    if let Some(slot) = results.first_mut() {
                        *slot = Val::I32(errno);
                    }
                    Ok(())
                }
                Served::Exit(code) => Err(wasmi::Error::new(format!("the workload called proc_exit({code})"))),
            }
        })?;
    }
    Ok(linker)
}

fn classify(error: &wasmi::Error, store: &Store<WasiState>, fuel: Option<u64>) -> (Status, String) {
    let guest_said = String::from_utf8_lossy(&store.data().stderr).trim().to_string();
    if let Some(reason) = store.data().memory_cap.reason() {
        return (Status::Trap, reason);
    }
    match error.as_trap_code() {
        Some(TrapCode::OutOfFuel) => (Status::Timeout, deadline_message(fuel)),
        _ if guest_said.is_empty() => (Status::Trap, format!("trap: {error}")),
        _ => (Status::Trap, format!("trap: {error}; guest stderr: {guest_said}")),
    }
}

fn call_workload(
    store: &mut Store<WasiState>,
    instance: &Instance,
    input: &[u8],
    phases: &mut Phases,
    fuel: Option<u64>,
    started_ns: u64,
) -> Result<Vec<u8>, (Status, String)> {
    let abi_error = |e: wasmi::Error| {
        (
            Status::Error,
            format!("the module does not follow the harness ABI: {e}"),
        )
    };
    // Looking the exports up is part of getting the instance ready: timed as instantiation, whose end stamp
    // starts the input phase (one clock read fewer per invocation, and phases that tile the call).
    let looked_up = (|| {
        let memory = instance
            .get_memory(&*store, "memory")
            .ok_or((Status::Error, "the module exports no `memory`".to_string()))?;
        Ok((
            memory,
            instance
                .get_typed_func::<u32, u32>(&*store, "harness_alloc")
                .map_err(abi_error)?,
            instance
                .get_typed_func::<u32, u32>(&*store, "harness_run")
                .map_err(abi_error)?,
            instance
                .get_typed_func::<(), u32>(&*store, "harness_output_ptr")
                .map_err(abi_error)?,
            instance
                .get_typed_func::<(), u32>(&*store, "harness_output_len")
                .map_err(abi_error)?,
        ))
    })();
    let t0 = monotonic_ns();
    phases.instantiate_ns = span(started_ns, t0);
    let (memory, alloc, run, out_ptr, out_len) = looked_up?;
    let mut ptr = [Val::I32(0)];
    call_in_time(
        alloc.func(),
        store,
        &[Val::I32(input.len() as i32)],
        &mut ptr,
        fuel,
        started_ns,
    )
    .map_err(|e| classify(&e, store, fuel))?;
    let ptr = ptr[0].i32().unwrap_or(0) as u32;
    memory
        .write(&mut *store, ptr as usize, input)
        .map_err(|e| (Status::Error, format!("writing the input into linear memory: {e}")))?;
    let t1 = monotonic_ns();
    // Typed above to check the ABI; called untyped, resumably, to keep the deadline in time.
    let run = run.func();
    let mut status = [Val::I32(0)];
    call_in_time(
        run,
        store,
        &[Val::I32(input.len() as i32)],
        &mut status,
        fuel,
        started_ns,
    )
    .map_err(|e| classify(&e, store, fuel))?;
    let t2 = monotonic_ns();
    if fuel.is_some() {
        // Two getters: a slice is plenty, whatever the last call left.
        store
            .set_fuel(FUEL_SLICE)
            .map_err(|e| (Status::Error, format!("setting fuel: {e}")))?;
    }
    let status = status[0].i32().unwrap_or(-1);
    let ptr = out_ptr.call(&mut *store, ()).map_err(|e| classify(&e, store, fuel))? as usize;
    let len = out_len.call(&mut *store, ()).map_err(|e| classify(&e, store, fuel))? as usize;
    let output = memory
        .data(&*store)
        .get(ptr..ptr + len)
        .ok_or((Status::Error, "output range outside linear memory".to_string()))?
        .to_vec();
    let t3 = monotonic_ns();
    phases.input_ns = span(t0, t1);
    phases.execute_ns = span(t1, t2);
    phases.output_ns = span(t2, t3);
    if status != 0 {
        return Err((
            Status::Error,
            format!("workload error: {}", String::from_utf8_lossy(&output)),
        ));
    }
    Ok(output)
}

struct WarmModule {
    module: Module,
    linker: Linker<WasiState>,
}

struct WarmCommand {
    module: Module,
    linker: Linker<command::CommandState>,
}

pub struct WasmiRuntime {
    /// The budget per invocation; `None` without fuel metering.
    fuel: Option<u64>,
    interrupt: Interrupt,
    stack: WasmStack,
    memory_cap: Option<usize>,
    warm_engine: Engine,
    /// Shared with replicas: one parsed module serves every worker of a load level.
    warm: HashMap<String, Arc<WarmModule>>,
    /// WASI command workloads, parsed and linked once (keyed by the module's cache key).
    warm_commands: HashMap<String, Arc<WarmCommand>>,
    /// Instances kept idle for a warm pool's memory (load mode).
    held: Vec<Store<WasiState>>,
    /// Engines and modules of cold starts in an open cold window, dropped once it closed.
    leftovers: RefCell<Leftovers>,
}

impl wasmi::ResourceLimiter for WasiState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, wasmi_core::LimiterError> {
        if self.memory_cap.allows(desired) {
            Ok(true)
        } else {
            // An error, not `false`: the guest stops here, and `classify` says the cap was why.
            Err(wasmi_core::LimiterError::ResourceLimiterDeniedAllocation)
        }
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, wasmi_core::LimiterError> {
        Ok(true)
    }

    fn instances(&self) -> usize {
        usize::MAX
    }

    fn tables(&self) -> usize {
        usize::MAX
    }

    fn memories(&self) -> usize {
        usize::MAX
    }
}

impl WasmiRuntime {
    pub fn new(limits: Limits) -> WasmiRuntime {
        WasmiRuntime {
            fuel: (limits.interrupt == Interrupt::Epoch).then(|| limits.timeout_ms.saturating_mul(FUEL_PER_MS)),
            interrupt: limits.interrupt,
            stack: limits.engine_stack(),
            memory_cap: limits.memory_mb.map(|mb| (mb << 20) as usize),
            warm_engine: engine(limits.interrupt, limits.engine_stack()),
            warm: HashMap::new(),
            warm_commands: HashMap::new(),
            held: Vec::new(),
            leftovers: RefCell::default(),
        }
    }

    fn load(engine: &Engine, workload: &WorkloadArtifacts) -> anyhow::Result<Module> {
        let bytes = std::fs::read(&workload.wasm).with_context(|| format!("reading {}", workload.wasm.display()))?;
        Module::new(engine, &bytes).with_context(|| format!("validating {}", workload.wasm.display()))
    }

    /// Store, instance and `_initialize`, then the call; shared by cold and warm.
    fn instantiate_and_call(
        &self,
        engine: &Engine,
        module: &Module,
        linker: &Linker<WasiState>,
        input: &[u8],
        mut phases: Phases,
    ) -> Outcome {
        let t0 = monotonic_ns();
        let mut store = Store::new(engine, WasiState::capped(self.memory_cap));
        if self.memory_cap.is_some() {
            store.limiter(|state| state as &mut dyn wasmi::ResourceLimiter);
        }
        if let Some(fuel) = self.fuel
            && let Err(e) = store.set_fuel(fuel)
        {
            return Outcome::failed(phases, Status::Error, format!("setting fuel: {e}"));
        }
        let instance = match linker.instantiate_and_start(&mut store, module) {
            Ok(i) => i,
            Err(e) => return Outcome::failed(phases, Status::Error, format!("instantiating: {e}")),
        };
        if let Ok(init) = instance.get_typed_func::<(), ()>(&store, "_initialize")
            && let Err(e) = call_in_time(init.func(), &mut store, &[], &mut [], self.fuel, t0)
        {
            let (status, message) = classify(&e, &store, self.fuel);
            return Outcome::failed(phases, status, message);
        }
        let outcome = match call_workload(&mut store, &instance, input, &mut phases, self.fuel, t0) {
            Ok(output) => Outcome::ok(phases, output),
            Err((status, message)) => Outcome::failed(phases, status, message),
        };
        // Dropped now, or after an open cold window (warm calls never run in one).
        self.leftovers.borrow_mut().keep(store);
        outcome
    }
}

impl WasmiRuntime {
    /// The built-in ABI, cold: a new engine, parse and validate, link, instantiate, call.
    fn cold(&self, workload: &WorkloadArtifacts, input: &[u8]) -> Outcome {
        let mut phases = Phases::default();
        let t0 = monotonic_ns();
        let engine = engine(self.interrupt, self.stack);
        let t1 = monotonic_ns();
        let loaded = Self::load(&engine, workload).and_then(|m| Ok((linker_for(&engine, &m)?, m)));
        let t2 = monotonic_ns();
        phases.startup_ns = span(t0, t1);
        phases.compile_ns = span(t1, t2);
        match loaded {
            Ok((linker, module)) => {
                let outcome = self.instantiate_and_call(&engine, &module, &linker, input, phases);
                self.leftovers.borrow_mut().keep((linker, module, engine));
                outcome
            }
            Err(e) => Outcome::failed(phases, Status::Error, format!("{e:#}")),
        }
    }

    /// The built-in ABI, warm: the module parsed and linked once; a fresh store and instance.
    fn warm(&self, workload: &WorkloadArtifacts, input: &[u8]) -> Outcome {
        let phases = Phases::default();
        match self.warm.get(workload.name) {
            Some(warm) => self.instantiate_and_call(&self.warm_engine, &warm.module, &warm.linker, input, phases),
            None => Outcome::failed(phases, Status::Error, "warm invocation before prepare_warm"),
        }
    }

    /// A WASI command: cold parses and links in a new engine, warm reuses the parsed module; a fresh store,
    /// WASI context and instance either way.
    fn invoke_command(
        &self,
        mode: Mode,
        workload: &WorkloadArtifacts,
        command: &CommandArtifacts,
        input: &[u8],
    ) -> Outcome {
        let mut phases = Phases::default();
        match mode {
            Mode::Cold => {
                let t0 = monotonic_ns();
                let engine = engine(self.interrupt, self.stack);
                let t1 = monotonic_ns();
                let loaded = Self::load(&engine, workload).and_then(|m| Ok((command::linker(&engine)?, m)));
                phases.startup_ns = span(t0, t1);
                phases.compile_ns = span(t1, monotonic_ns());
                match loaded {
                    Ok((linker, module)) => {
                        let loaded = command::Loaded {
                            engine: &engine,
                            module: &module,
                            linker: &linker,
                        };
                        let outcome = command::run(loaded, workload, command, input, self.fuel, phases);
                        self.leftovers.borrow_mut().keep((linker, module, engine));
                        outcome
                    }
                    Err(e) => Outcome::failed(phases, Status::Error, format!("{e:#}")),
                }
            }
            Mode::Warm => match self.warm_commands.get(&workload.cache_key) {
                Some(warm) => command::run(
                    command::Loaded {
                        engine: &self.warm_engine,
                        module: &warm.module,
                        linker: &warm.linker,
                    },
                    workload,
                    command,
                    input,
                    self.fuel,
                    phases,
                ),
                None => Outcome::failed(phases, Status::Error, "warm invocation before prepare_warm"),
            },
        }
    }
}

impl Runtime for WasmiRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Wasmi
    }

    fn prepare_warm(&mut self, workload: &WorkloadArtifacts) -> anyhow::Result<()> {
        match &workload.guest {
            Guest::Command(_) if !self.warm_commands.contains_key(&workload.cache_key) => {
                let module = Self::load(&self.warm_engine, workload)?;
                let linker = command::linker(&self.warm_engine)?;
                self.warm_commands
                    .insert(workload.cache_key.clone(), Arc::new(WarmCommand { module, linker }));
            }
            Guest::Builtin(_) if !self.warm.contains_key(workload.name) => {
                let module = Self::load(&self.warm_engine, workload)?;
                let linker = linker_for(&self.warm_engine, &module)?;
                self.warm
                    .insert(workload.name.to_string(), Arc::new(WarmModule { module, linker }));
            }
            Guest::Command(_) | Guest::Builtin(_) => {}
        }
        Ok(())
    }

    fn invoke(&mut self, mode: Mode, workload: &WorkloadArtifacts, input: &[u8]) -> Outcome {
        match (&workload.guest, mode) {
            (Guest::Command(command), _) => self.invoke_command(mode, workload, command, input),
            (Guest::Builtin(_), Mode::Cold) => self.cold(workload, input),
            (Guest::Builtin(_), Mode::Warm) => self.warm(workload, input),
        }
    }

    fn served_by(&self) -> Vec<ServedBy> {
        // Its instances run inside the harness process.
        Vec::new()
    }

    fn shared_engine(&mut self) -> Option<&mut dyn SharedEngine> {
        Some(self)
    }

    fn defer_teardown(&mut self, _: &WorkloadArtifacts) -> (Teardown, &'static str) {
        self.leftovers.get_mut().open();
        (
            Teardown::Deferred,
            "deferred: each cold start's store, engine, parsed module and linker are dropped after the window (a \
             WASI command's store within it)",
        )
    }

    fn finish_teardown(&mut self) {
        self.leftovers.get_mut().close();
    }
}

impl SharedEngine for WasmiRuntime {
    fn replicate(&self) -> Box<dyn Runtime> {
        Box::new(WasmiRuntime {
            fuel: self.fuel,
            interrupt: self.interrupt,
            stack: self.stack,
            memory_cap: self.memory_cap,
            warm_engine: self.warm_engine.clone(),
            warm: self.warm.clone(),
            warm_commands: self.warm_commands.clone(),
            held: Vec::new(),
            leftovers: RefCell::default(),
        })
    }

    fn hold_idle_instance(&mut self, workload: &WorkloadArtifacts) -> anyhow::Result<()> {
        if let Guest::Command(_) = &workload.guest {
            bail!(
                "load mode's idle instances are not kept for WASI command workloads (`{}`): measure them cold and warm",
                workload.name
            );
        }
        let Some(warm) = self.warm.get(workload.name) else {
            bail!("holding an instance before prepare_warm");
        };
        let mut store = Store::new(&self.warm_engine, WasiState::capped(self.memory_cap));
        if let Some(fuel) = self.fuel {
            store.set_fuel(fuel)?;
        }
        let instance = warm.linker.instantiate_and_start(&mut store, &warm.module)?;
        if let Ok(init) = instance.get_typed_func::<(), ()>(&store, "_initialize") {
            init.call(&mut store, ())?;
        }
        self.held.push(store);
        Ok(())
    }

    fn release_idle(&mut self) {
        self.held.clear();
    }
}
