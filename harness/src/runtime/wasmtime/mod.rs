//! `wasmtime-jit` and `wasmtime-aot`: the workload module in wasmtime, compiled by Cranelift at load or
//! deserialized from a `.cwasm` precompiled ahead of time. The engine configuration every path shares (and
//! the epoch thread) is [`engine`], the warm engines' instance pool [`pool`], WASI commands [`command`].

pub mod command;
pub mod engine;
pub mod pool;

use crate::artifacts::{CommandArtifacts, Guest, WorkloadArtifacts};
use crate::runtime::teardown::Leftovers;
use crate::runtime::wasi::shim::{self as wasi_shim, Served, WasiState};
use crate::runtime::{Limits, Outcome, Runtime, ServedBy, SharedEngine, span};
use anyhow::{Context, bail};
use engine::{TICK, Ticking, new_engine};
use harness_data::plan::{Interrupt, WasmStack};
use harness_data::{Mode, Phases, RuntimeKind, Status, Teardown};
use harness_probes::clock::monotonic_ns;
use pool::PoolSizing;
use std::collections::HashMap;
use std::sync::Arc;
use wasmtime::{Engine, Instance, InstancePre, Linker, Module, Store, Trap, Val};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Jit,
    Aot,
}

/// How the pool of a warm engine for `workload` is sized (see pool.rs), and the module's bytes.
pub fn warm_sizing(
    workload: &WorkloadArtifacts,
    concurrent: u32,
    memory_cap: Option<u64>,
) -> anyhow::Result<(Vec<u8>, PoolSizing)> {
    let wasm = std::fs::read(&workload.wasm).with_context(|| format!("reading {}", workload.wasm.display()))?;
    let sizing = PoolSizing::new(concurrent, memory_cap, pool::declared_memory(&wasm));
    Ok((wasm, sizing))
}

/// Loads `workload` into a pooled engine of `sizing`: compiled from `wasm`, or its `.cwasm` for that layout.
fn load_warm(
    flavor: Flavor,
    engine: &Engine,
    workload: &WorkloadArtifacts,
    wasm: &[u8],
    interrupt: Interrupt,
    sizing: PoolSizing,
) -> anyhow::Result<Module> {
    match flavor {
        Flavor::Jit => Module::new(engine, wasm)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("compiling {}", workload.wasm.display())),
        Flavor::Aot => {
            let cwasm = pool::pooled_cwasm(engine, workload, interrupt, sizing)?;
            // SAFETY: the .cwasm was written by `precompile` or this engine's `precompile_module`, with this
            // wasmtime version and configuration (its name carries both; wasmtime checks them before loading).
            unsafe { Module::deserialize_file(engine, &cwasm) }
                .map_err(anyhow::Error::from)
                .with_context(|| format!("loading {}", cwasm.display()))
        }
    }
}

/// A warm engine for `workload` alone and the module loaded into it, as a warm runtime prepares them (for
/// `harness bench` and the pool example). Instances come from a pooling allocator, as long-running Wasm hosts
/// (wasmtime serve, Spin) do: each request still gets a fresh instance; the pool only reuses the reserved
/// address space, which avoids an mmap/munmap pair (and a TLB shootdown) per request. The engine has the
/// default Wasm stack.
pub fn warm_engine_and_module(
    flavor: Flavor,
    workload: &WorkloadArtifacts,
    interrupt: Interrupt,
    concurrent: u32,
    memory_cap: Option<u64>,
) -> anyhow::Result<(Engine, Module, PoolSizing)> {
    let (wasm, sizing) = warm_sizing(workload, concurrent, memory_cap)?;
    let engine = pool::new_pooled_engine(interrupt, WasmStack::default(), sizing)?;
    let module = load_warm(flavor, &engine, workload, &wasm, interrupt, sizing)?;
    Ok((engine, module, sizing))
}

/// A linker holding the WASI shim for exactly the imports `module` declares.
pub fn linker_for(engine: &Engine, module: &Module) -> anyhow::Result<Linker<WasiState>> {
    let mut linker = Linker::new(engine);
    for import in module.imports() {
        let (field, name) = (import.module(), import.name().to_string());
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
            linker.func_new(field, &name, ty, move |_, _, _| {
                Err(wasmtime::Error::msg(message.clone()))
            })?;
            continue;
        }
        let served_name = name.clone();
        linker.func_new(field, &name, ty, move |mut caller, params, results| {
            let args: Vec<i64> = params
                .iter()
                .map(|v| v.i64().unwrap_or_else(|| v.unwrap_i32() as i64))
                .collect();
            let memory = caller
                .get_export("memory")
                .and_then(|e| e.into_memory())
                .ok_or_else(|| wasmtime::Error::msg("the module exports no `memory`"))?;
            let (data, state) = memory.data_and_store_mut(&mut caller);
            match wasi_shim::serve(state, data, &served_name, &args) {
                Served::Errno(errno) => {
                    if let Some(slot) = results.first_mut() {
                        *slot = Val::I32(errno);
                    }
                    Ok(())
                }
                Served::Exit(code) => Err(wasmtime::Error::msg(format!("the workload called proc_exit({code})"))),
            }
        })?;
    }
    Ok(linker)
}

/// Why a guest call failed, from wasmtime's error.
fn classify(error: &wasmtime::Error, store: &Store<WasiState>) -> (Status, String) {
    let guest_said = String::from_utf8_lossy(&store.data().stderr).trim().to_string();
    let with_stderr = |m: String| {
        if guest_said.is_empty() {
            m
        } else {
            format!("{m}; guest stderr: {guest_said}")
        }
    };
    if let Some(reason) = store.data().memory_cap.reason() {
        return (Status::Trap, reason);
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => (Status::Timeout, "deadline reached (epoch interruption)".into()),
        Some(trap) => (Status::Trap, with_stderr(format!("trap: {trap}"))),
        None => (Status::Trap, with_stderr(format!("{error:#}"))),
    }
}

/// The harness ABI's exports of an instance.
struct Exports {
    memory: wasmtime::Memory,
    alloc: wasmtime::TypedFunc<u32, u32>,
    run: wasmtime::TypedFunc<u32, u32>,
    out_ptr: wasmtime::TypedFunc<(), u32>,
    out_len: wasmtime::TypedFunc<(), u32>,
}

/// Looks up the harness ABI's exports: part of getting an instance ready, so timed as instantiation.
fn exports(store: &mut Store<WasiState>, instance: &Instance) -> Result<Exports, (Status, String)> {
    let abi_error = |e: wasmtime::Error| {
        (
            Status::Error,
            format!("the module does not follow the harness ABI: {e:#}"),
        )
    };
    Ok(Exports {
        memory: instance
            .get_memory(&mut *store, "memory")
            .ok_or((Status::Error, "the module exports no `memory`".to_string()))?,
        alloc: instance
            .get_typed_func(&mut *store, "harness_alloc")
            .map_err(abi_error)?,
        run: instance.get_typed_func(&mut *store, "harness_run").map_err(abi_error)?,
        out_ptr: instance
            .get_typed_func(&mut *store, "harness_output_ptr")
            .map_err(abi_error)?,
        out_len: instance
            .get_typed_func(&mut *store, "harness_output_len")
            .map_err(abi_error)?,
    })
}

/// Runs `_initialize` and looks up the ABI's exports: what makes an instance ready to call.
fn ready(store: &mut Store<WasiState>, instance: &Instance) -> Result<Exports, (Status, String)> {
    initialize(store, instance)?;
    exports(store, instance)
}

/// Calls the harness ABI on an instance made ready at `ready_ns`, timing input transfer, execution and output
/// transfer (the input phase begins at `ready_ns`: one clock read fewer on every invocation).
fn call_workload(
    store: &mut Store<WasiState>,
    abi: &Exports,
    input: &[u8],
    ready_ns: u64,
    phases: &mut Phases,
) -> Result<Vec<u8>, (Status, String)> {
    let fail = |e: wasmtime::Error, store: &Store<WasiState>| classify(&e, store);
    let ptr = abi
        .alloc
        .call(&mut *store, input.len() as u32)
        .map_err(|e| fail(e, store))?;
    abi.memory
        .write(&mut *store, ptr as usize, input)
        .map_err(|e| (Status::Error, format!("writing the input into linear memory: {e}")))?;
    let t1 = monotonic_ns();
    let status = abi
        .run
        .call(&mut *store, input.len() as u32)
        .map_err(|e| fail(e, store))?;
    let t2 = monotonic_ns();
    let (ptr, len) = (
        abi.out_ptr.call(&mut *store, ()).map_err(|e| fail(e, store))? as usize,
        abi.out_len.call(&mut *store, ()).map_err(|e| fail(e, store))? as usize,
    );
    let output = abi
        .memory
        .data(&*store)
        .get(ptr..ptr + len)
        .ok_or((Status::Error, "output range outside linear memory".to_string()))?
        .to_vec();
    let t3 = monotonic_ns();
    phases.input_ns = span(ready_ns, t1);
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

/// Runs `_initialize` where the module has one (Rust cdylibs built for WASI do): it runs static constructors.
fn initialize(store: &mut Store<WasiState>, instance: &Instance) -> Result<(), (Status, String)> {
    if let Ok(init) = instance.get_typed_func::<(), ()>(&mut *store, "_initialize") {
        init.call(&mut *store, ()).map_err(|e| classify(&e, store))?;
    }
    Ok(())
}

/// A workload ready for warm invocations: the pooled engine of its sizing and its instantiation prepared.
#[derive(Clone)]
struct WarmModule {
    engine: Engine,
    pre: InstancePre<WasiState>,
}

pub struct WasmtimeRuntime {
    flavor: Flavor,
    interrupt: Interrupt,
    stack: WasmStack,
    deadline_ticks: u64,
    memory_cap: Option<usize>,
    /// Requests served at once by this runtime and its replicas (sizes the instance pool).
    concurrent: u32,
    /// The pooled engines, one per sizing (workloads of one sizing share it, as one host serves many modules),
    /// ticking while the runtime or a replica lives. Created by `prepare_warm`, so a runtime used only cold
    /// (an `invoke-once` child) never sets up a pool.
    warm_engines: HashMap<PoolSizing, (Engine, Arc<Ticking>)>,
    warm: Vec<(&'static str, WarmModule)>,
    /// WASI command workloads, linked once in the pooled engine of their sizing (keyed by the module's cache key).
    warm_commands: HashMap<String, (Engine, command::WarmCommand)>,
    /// Instances kept idle for a warm pool's memory (load mode).
    held: Vec<Store<WasiState>>,
    /// Engines, modules and stores of cold starts in an open cold window, dropped once it closed.
    leftovers: Leftovers,
}

impl wasmtime::ResourceLimiter for WasiState {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if self.memory_cap.allows(desired) {
            Ok(true)
        } else {
            // An error, not `false`: the guest stops here, and `classify` says the cap was why.
            Err(wasmtime::Error::msg("memory cap reached"))
        }
    }

    fn table_growing(&mut self, _current: usize, _desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

impl WasmtimeRuntime {
    pub fn new(flavor: Flavor, limits: Limits) -> anyhow::Result<WasmtimeRuntime> {
        Self::with_pool(flavor, limits, 1)
    }

    /// A runtime whose warm engine serves `concurrent` requests at once, with [`SharedEngine::replicate`] giving
    /// the workers that share it.
    pub fn with_pool(flavor: Flavor, limits: Limits, concurrent: u32) -> anyhow::Result<WasmtimeRuntime> {
        Ok(WasmtimeRuntime {
            flavor,
            interrupt: limits.interrupt,
            stack: limits.engine_stack(),
            deadline_ticks: limits.timeout_ms.div_ceil(TICK.as_millis() as u64) + 1,
            memory_cap: limits.memory_mb.map(|mb| (mb << 20) as usize),
            concurrent: concurrent.max(1),
            warm_engines: HashMap::new(),
            warm: Vec::new(),
            warm_commands: HashMap::new(),
            held: Vec::new(),
            leftovers: Leftovers::default(),
        })
    }

    fn load(&self, engine: &Engine, workload: &WorkloadArtifacts) -> anyhow::Result<Module> {
        match self.flavor {
            Flavor::Jit => Module::from_file(engine, &workload.wasm)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("compiling {}", workload.wasm.display())),
            Flavor::Aot => {
                let cwasm = workload.cwasm_for(self.interrupt);
                // SAFETY: the .cwasm was written by `precompile` with this wasmtime version and configuration
                // (artifacts.rs keys the file by version and interrupt); wasmtime checks both before loading.
                unsafe { Module::deserialize_file(engine, &cwasm) }
                    .map_err(anyhow::Error::from)
                    .with_context(|| format!("loading {}", cwasm.display()))
            }
        }
    }

    fn new_store(&self, engine: &Engine) -> Store<WasiState> {
        let mut store = Store::new(engine, WasiState::capped(self.memory_cap));
        if self.interrupt == Interrupt::Epoch {
            store.set_epoch_deadline(self.deadline_ticks);
        }
        if self.memory_cap.is_some() {
            store.limiter(|state| state as &mut dyn wasmtime::ResourceLimiter);
        }
        store
    }

    /// What every cold invocation starts with, the built-in ABI's and a WASI command's: a new engine (its epoch
    /// ticking while the returned guard lives) and the module compiled or deserialized, `startup` and `compile`
    /// stamped. Returns the instant the module was ready, where `instantiate` begins.
    fn cold_start(
        &self,
        workload: &WorkloadArtifacts,
        phases: &mut Phases,
    ) -> anyhow::Result<(Engine, Ticking, Module, u64)> {
        let t0 = monotonic_ns();
        let engine = new_engine(self.interrupt, self.stack)?;
        let ticking = Ticking::start(&engine, self.interrupt);
        let t1 = monotonic_ns();
        let module = self.load(&engine, workload)?;
        let t2 = monotonic_ns();
        phases.startup_ns = span(t0, t1);
        phases.compile_ns = span(t1, t2);
        Ok((engine, ticking, module, t2))
    }

    fn cold(&mut self, workload: &WorkloadArtifacts, input: &[u8]) -> Outcome {
        let mut phases = Phases::default();
        let (engine, ticking, module, t2) = match self.cold_start(workload, &mut phases) {
            Ok(started) => started,
            Err(e) => return Outcome::failed(phases, Status::Error, format!("{e:#}")),
        };
        let mut store = self.new_store(&engine);
        let instance = match linker_for(&engine, &module).and_then(|l| Ok(l.instantiate(&mut store, &module)?)) {
            Ok(i) => i,
            Err(e) => {
                return Outcome::failed(phases, Status::Error, format!("instantiating: {e:#}"));
            }
        };
        let abi = match ready(&mut store, &instance) {
            Ok(abi) => abi,
            Err((status, message)) => return Outcome::failed(phases, status, message),
        };
        let ready_ns = monotonic_ns();
        phases.instantiate_ns = span(t2, ready_ns);
        let outcome = finish(call_workload(&mut store, &abi, input, ready_ns, &mut phases), phases);
        // In a cold window the store, module and engine are dropped after it (store first, engine last).
        self.leftovers.keep((store, module, ticking, engine));
        outcome
    }

    /// A WASI command, cold: new engine, compile or deserialize, link WASI, instantiate, `_start`.
    fn command_cold(&mut self, workload: &WorkloadArtifacts, command: &CommandArtifacts, input: &[u8]) -> Outcome {
        let mut phases = Phases::default();
        let (engine, ticking, module, t2) = match self.cold_start(workload, &mut phases) {
            Ok(started) => started,
            Err(e) => return Outcome::failed(phases, Status::Error, format!("{e:#}")),
        };
        let ready = command::prepare(&engine, &module).and_then(|pre| {
            Ok((
                pre,
                command::new_store(&engine, workload, command, input, self.host_deadline())?,
            ))
        });
        let (pre, (mut store, pipes)) = match ready {
            Ok(r) => r,
            Err(e) => return Outcome::failed(phases, Status::Error, format!("{e:#}")),
        };
        self.set_deadline(&mut store);
        phases.instantiate_ns = span(t2, monotonic_ns());
        let outcome = command::run(store, pipes, &pre, command, phases);
        self.leftovers.keep((pre, module, ticking, engine));
        outcome
    }

    /// A WASI command, warm: the module linked once; a fresh WASI context and instance per request.
    fn command_warm(&self, workload: &WorkloadArtifacts, command: &CommandArtifacts, input: &[u8]) -> Outcome {
        let mut phases = Phases::default();
        let Some((engine, pre)) = self.warm_commands.get(&workload.cache_key) else {
            return Outcome::failed(phases, Status::Error, "warm invocation before prepare_warm");
        };
        let t0 = monotonic_ns();
        let (mut store, pipes) = match command::new_store(engine, workload, command, input, self.host_deadline()) {
            Ok(s) => s,
            Err(e) => return Outcome::failed(phases, Status::Error, format!("{e:#}")),
        };
        self.set_deadline(&mut store);
        phases.instantiate_ns = span(t0, monotonic_ns());
        command::run(store, pipes, pre, command, phases)
    }

    /// The instant the epoch deadline of a store made now falls at, for host calls that wait (a command's
    /// `poll_oneoff`), which the epoch cannot interrupt.
    fn host_deadline(&self) -> Option<std::time::Instant> {
        (self.interrupt == Interrupt::Epoch)
            .then(|| std::time::Instant::now() + TICK.saturating_mul(self.deadline_ticks.saturating_sub(1) as u32))
    }

    fn set_deadline<T>(&self, store: &mut Store<T>) {
        if self.interrupt == Interrupt::Epoch {
            store.set_epoch_deadline(self.deadline_ticks);
        }
    }

    fn warm(&self, workload: &WorkloadArtifacts, input: &[u8]) -> Outcome {
        let mut phases = Phases::default();
        let Some(warm) = self.warm_module(workload.name) else {
            return Outcome::failed(phases, Status::Error, "warm invocation before prepare_warm");
        };
        let t0 = monotonic_ns();
        let mut store = self.new_store(&warm.engine);
        let instance = match warm.pre.instantiate(&mut store) {
            Ok(i) => i,
            Err(e) => {
                return Outcome::failed(phases, Status::Error, format!("instantiating: {e:#}"));
            }
        };
        let abi = match ready(&mut store, &instance) {
            Ok(abi) => abi,
            Err((status, message)) => return Outcome::failed(phases, status, message),
        };
        let ready_ns = monotonic_ns();
        phases.instantiate_ns = span(t0, ready_ns);
        finish(call_workload(&mut store, &abi, input, ready_ns, &mut phases), phases)
    }

    /// The prepared module of a built-in workload: a short list searched by name (cheaper per invocation than
    /// hashing the name).
    fn warm_module(&self, name: &str) -> Option<&WarmModule> {
        self.warm.iter().find(|(n, _)| *n == name).map(|(_, m)| m)
    }
}

fn finish(result: Result<Vec<u8>, (Status, String)>, phases: Phases) -> Outcome {
    match result {
        Ok(output) => Outcome::ok(phases, output),
        Err((status, message)) => Outcome::failed(phases, status, message),
    }
}

impl Runtime for WasmtimeRuntime {
    fn kind(&self) -> RuntimeKind {
        match self.flavor {
            Flavor::Jit => RuntimeKind::WasmtimeJit,
            Flavor::Aot => RuntimeKind::WasmtimeAot,
        }
    }

    fn prepare_warm(&mut self, workload: &WorkloadArtifacts) -> anyhow::Result<()> {
        if self.warm_module(workload.name).is_some() || self.warm_commands.contains_key(&workload.cache_key) {
            return Ok(());
        }
        let memory_cap = self.memory_cap.map(|bytes| bytes as u64);
        let (wasm, sizing) = warm_sizing(workload, self.concurrent, memory_cap)?;
        if !self.warm_engines.contains_key(&sizing) {
            let engine = pool::new_pooled_engine(self.interrupt, self.stack, sizing)?;
            let ticking = Arc::new(Ticking::start(&engine, self.interrupt));
            self.warm_engines.insert(sizing, (engine, ticking));
        }
        let engine = self.warm_engines[&sizing].0.clone();
        let module = load_warm(self.flavor, &engine, workload, &wasm, self.interrupt, sizing)?;
        match &workload.guest {
            Guest::Command(_) => {
                let pre = command::prepare(&engine, &module)?;
                self.warm_commands.insert(workload.cache_key.clone(), (engine, pre));
            }
            Guest::Builtin(_) => {
                let pre = linker_for(&engine, &module)?.instantiate_pre(&module)?;
                self.warm.push((workload.name, WarmModule { engine, pre }));
            }
        }
        Ok(())
    }

    fn invoke(&mut self, mode: Mode, workload: &WorkloadArtifacts, input: &[u8]) -> Outcome {
        match (&workload.guest, mode) {
            (Guest::Command(command), Mode::Cold) => self.command_cold(workload, command, input),
            (Guest::Command(command), Mode::Warm) => self.command_warm(workload, command, input),
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
        self.leftovers.open();
        (
            Teardown::Deferred,
            "deferred: each cold start's store, module and engine (its epoch ticker too) are dropped after the window",
        )
    }

    fn finish_teardown(&mut self) {
        self.leftovers.close();
    }
}

impl SharedEngine for WasmtimeRuntime {
    fn replicate(&self) -> Box<dyn Runtime> {
        Box::new(WasmtimeRuntime {
            flavor: self.flavor,
            interrupt: self.interrupt,
            stack: self.stack,
            deadline_ticks: self.deadline_ticks,
            memory_cap: self.memory_cap,
            concurrent: self.concurrent,
            warm_engines: self.warm_engines.clone(),
            warm: self.warm.clone(),
            warm_commands: self.warm_commands.clone(),
            held: Vec::new(),
            leftovers: Leftovers::default(),
        })
    }

    fn hold_idle_instance(&mut self, workload: &WorkloadArtifacts) -> anyhow::Result<()> {
        if let Guest::Command(_) = &workload.guest {
            bail!(
                "load mode's idle instances are not kept for WASI command workloads (`{}`): measure them cold and warm",
                workload.name
            );
        }
        let Some(warm) = self.warm_module(workload.name) else {
            bail!("holding an instance before prepare_warm");
        };
        let mut store = self.new_store(&warm.engine);
        let instance = warm.pre.instantiate(&mut store)?;
        initialize(&mut store, &instance).map_err(|(_, message)| anyhow::anyhow!(message))?;
        self.held.push(store);
        Ok(())
    }

    fn release_idle(&mut self) {
        self.held.clear();
    }
}
