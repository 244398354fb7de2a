//! Running a guest: compile (or load from the cache), link WASI with the granted context,
//! enforce the limits, and report how it ended.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker as ComponentLinker, ResourceTable};
use wasmtime::{Engine, Linker, Module, Store, StoreLimits, StoreLimitsBuilder, Trap};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxView, WasiView};

use crate::cache;
use crate::engine::{EngineOptions, engine};
use crate::grants::Grants;
use crate::imports;

/// Resource limits of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunLimits {
    /// Linear memory, bytes (per memory, as wasmtime's store limits count).
    pub memory: Option<u64>,
    /// Wall clock.
    pub timeout: Option<Duration>,
    /// Fuel units.
    pub fuel: Option<u64>,
}

/// What to run and how.
pub struct RunRequest {
    /// The app's name: argv[0].
    pub name: String,
    /// The component or core module.
    pub wasm: Vec<u8>,
    /// The wasm's content digest when the caller already knows it (a verified bundle).
    pub digest: Option<String>,
    /// Arguments after argv[0].
    pub args: Vec<String>,
    pub grants: Grants,
    pub limits: RunLimits,
    /// Use the compile cache.
    pub cache: bool,
}

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    /// The guest returned or exited with this code.
    Exited(i32),
    /// The guest trapped: the message, and the wasm backtrace when there is one.
    Trapped { message: String, backtrace: String },
    /// `limits.timeout` passed.
    TimedOut(Duration),
    /// `limits.memory` stopped a memory growth.
    MemoryLimit(u64),
    /// `limits.fuel` ran out.
    OutOfFuel(u64),
}

/// A finished run.
#[derive(Debug)]
pub struct Finished {
    pub outcome: Outcome,
    /// Phase name and time, in order.
    pub phases: Vec<(&'static str, Duration)>,
    /// Whether the compiled code came from the cache.
    pub cache_hit: bool,
}

/// Why a guest could not be started.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot compile: {0}")]
    Compile(String),
    /// An import the host does not provide, explained (see [`imports`]).
    #[error("{0}")]
    Link(String),
    #[error("nothing to run: {0}")]
    NotRunnable(String),
    #[error("{0}")]
    Setup(String),
}

struct ComponentHost {
    ctx: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
}

impl WasiView for ComponentHost {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

struct ModuleHost {
    ctx: WasiP1Ctx,
    limits: StoreLimits,
}

enum Code {
    Component(Component),
    Module(Module),
}

/// Runs a guest to completion.
pub fn run(req: &RunRequest) -> Result<Finished, RunError> {
    let mut phases = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |name: &'static str, phases: &mut Vec<(&'static str, Duration)>| {
        let now = Instant::now();
        phases.push((name, now - clock));
        clock = now;
    };

    let engine = engine(EngineOptions {
        fuel: req.limits.fuel.is_some(),
        epochs: req.limits.timeout.is_some(),
    })
    .map_err(|e| RunError::Setup(format!("cannot configure wasmtime: {e}")))?;
    let is_component = wasmparser::Parser::is_component(&req.wasm);
    let (code, cache_hit) = compile(&engine, req, is_component)?;
    lap("compile", &mut phases);

    let mut argv = Vec::with_capacity(req.args.len() + 1);
    argv.push(req.name.clone());
    argv.extend(req.args.iter().cloned());
    let mut builder = crate::sandbox::wasi_builder(&argv, &req.grants)
        .map_err(|e| RunError::Setup(format!("{e:#}")))?;
    let limits = store_limits(req.limits.memory);

    let ticker = req.limits.timeout.map(|t| Ticker::start(&engine, t));
    let result = match code {
        Code::Component(component) => {
            let mut linker = ComponentLinker::<ComponentHost>::new(&engine);
            // `exit-with-code` is stable in the WASI this host provides: always linked.
            wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
                .map_err(|e| RunError::Setup(format!("cannot link WASI: {e}")))?;
            let pre = linker
                .instantiate_pre(&component)
                .map_err(|e| RunError::Link(imports::explain_component(&e.to_string())))?;
            let pre = wasmtime_wasi::p2::bindings::sync::CommandPre::new(pre).map_err(|_| {
                RunError::NotRunnable(
                    "the component does not export wasi:cli/run (it is a library, not a command)"
                        .into(),
                )
            })?;
            let mut store = Store::new(
                &engine,
                ComponentHost {
                    ctx: builder.build(),
                    table: ResourceTable::new(),
                    limits,
                },
            );
            prepare_store(&mut store, &req.limits, |h| &mut h.limits)?;
            lap("instantiate", &mut phases);
            match pre.instantiate(&mut store) {
                Ok(command) => match command.wasi_cli_run().call_run(&mut store) {
                    Ok(Ok(())) => Ok(0),
                    Ok(Err(())) => Ok(1),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            }
        }
        Code::Module(module) => {
            if let Some(message) = imports::unknown_module_imports(&module) {
                return Err(RunError::Link(message));
            }
            let start = module.get_export("_start").is_some();
            if !start {
                return Err(RunError::NotRunnable(
                    "the module exports no _start (it is a reactor or a library)".into(),
                ));
            }
            let mut linker = Linker::<ModuleHost>::new(&engine);
            wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |h| &mut h.ctx)
                .map_err(|e| RunError::Setup(format!("cannot link WASI: {e}")))?;
            let pre = linker
                .instantiate_pre(&module)
                .map_err(|e| RunError::Link(e.to_string()))?;
            let mut store = Store::new(
                &engine,
                ModuleHost {
                    ctx: builder.build_p1(),
                    limits,
                },
            );
            prepare_store(&mut store, &req.limits, |h| &mut h.limits)?;
            lap("instantiate", &mut phases);
            pre.instantiate(&mut store)
                .and_then(|instance| instance.get_typed_func::<(), ()>(&mut store, "_start"))
                .and_then(|start| start.call(&mut store, ()))
                .map(|()| 0)
        }
    };
    let timed_out = ticker.map(|t| t.stop()).unwrap_or(false);
    lap("run", &mut phases);
    let outcome = match result {
        Ok(code) => Outcome::Exited(code),
        Err(e) => classify(e, &req.limits, timed_out),
    };
    Ok(Finished {
        outcome,
        phases,
        cache_hit,
    })
}

fn store_limits(memory: Option<u64>) -> StoreLimits {
    let mut b = StoreLimitsBuilder::new();
    if let Some(bytes) = memory {
        b = b
            .memory_size(usize::try_from(bytes).unwrap_or(usize::MAX))
            .trap_on_grow_failure(true);
    }
    b.build()
}

fn prepare_store<T: 'static>(
    store: &mut Store<T>,
    limits: &RunLimits,
    get: fn(&mut T) -> &mut StoreLimits,
) -> Result<(), RunError> {
    store.limiter(move |h| get(h) as &mut dyn wasmtime::ResourceLimiter);
    if limits.timeout.is_some() {
        // One epoch tick is the deadline: only the timeout's ticker advances the epoch.
        store.set_epoch_deadline(1);
        store.epoch_deadline_trap();
    }
    if let Some(fuel) = limits.fuel {
        store
            .set_fuel(fuel)
            .map_err(|e| RunError::Setup(format!("cannot set fuel: {e}")))?;
    }
    Ok(())
}

/// What an error from the guest means.
fn classify(e: wasmtime::Error, limits: &RunLimits, timed_out: bool) -> Outcome {
    if let Some(exit) = e.downcast_ref::<I32Exit>() {
        return Outcome::Exited(exit.0);
    }
    let trap = e.downcast_ref::<Trap>().copied();
    if timed_out || trap == Some(Trap::Interrupt) {
        return Outcome::TimedOut(limits.timeout.unwrap_or_default());
    }
    if trap == Some(Trap::OutOfFuel) {
        return Outcome::OutOfFuel(limits.fuel.unwrap_or_default());
    }
    let chain = format!("{e:#}");
    if let Some(max) = limits.memory
        && chain.contains("forcing trap when growing memory")
    {
        return Outcome::MemoryLimit(max);
    }
    let backtrace = e
        .downcast_ref::<wasmtime::WasmBacktrace>()
        .map(|bt| bt.to_string())
        .unwrap_or_default();
    let message = match trap {
        Some(t) => t.to_string(),
        None => e.root_cause().to_string(),
    };
    Outcome::Trapped { message, backtrace }
}

/// Compiles, or loads from the cache.
fn compile(
    engine: &Engine,
    req: &RunRequest,
    is_component: bool,
) -> Result<(Code, bool), RunError> {
    let fresh = |bytes: &[u8]| -> Result<Code, RunError> {
        if is_component {
            Component::new(engine, bytes).map(Code::Component)
        } else {
            Module::new(engine, bytes).map(Code::Module)
        }
        .map_err(|e| RunError::Compile(format!("{e:#}")))
    };
    let dir = match (req.cache, cache::compiled_dir()) {
        (true, Some(dir)) => dir,
        _ => return Ok((fresh(&req.wasm)?, false)),
    };
    let digest = req
        .digest
        .clone()
        .unwrap_or_else(|| cache::content_digest(&req.wasm));
    let entry = cache::Entry::new(&dir, &cache::key(engine, &digest));
    if entry.is_intact() {
        // SAFETY: the entry was written by `store` below from wasmtime's own output for this
        // engine configuration (the key says so) and its checksum matches.
        let loaded = unsafe {
            if is_component {
                Component::deserialize_file(engine, &entry.artifact).map(Code::Component)
            } else {
                Module::deserialize_file(engine, &entry.artifact).map(Code::Module)
            }
        };
        match loaded {
            Ok(code) => return Ok((code, true)),
            Err(_) => entry.remove(),
        }
    }
    let compiled = if is_component {
        engine.precompile_component(&req.wasm)
    } else {
        engine.precompile_module(&req.wasm)
    }
    .map_err(|e| RunError::Compile(format!("{e:#}")))?;
    // A cache that cannot be written only costs speed.
    let _ = entry.store(&compiled);
    // SAFETY: `compiled` is this engine's own output from a moment ago.
    let code = unsafe {
        if is_component {
            Component::deserialize(engine, &compiled).map(Code::Component)
        } else {
            Module::deserialize(engine, &compiled).map(Code::Module)
        }
    }
    .map_err(|e| RunError::Compile(format!("{e:#}")))?;
    Ok((code, false))
}

/// Ends a run after its timeout: bumps the engine's epoch (the guest traps at its next
/// check), and if the guest is stuck in a host call and does not come back within a grace
/// second, exits the process with 124 itself.
struct Ticker {
    done: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<bool>,
}

impl Ticker {
    fn start(engine: &Engine, timeout: Duration) -> Ticker {
        let (done, rx) = mpsc::channel::<()>();
        let engine = engine.clone();
        let thread = std::thread::spawn(move || {
            if rx.recv_timeout(timeout).is_ok() {
                return false;
            }
            engine.increment_epoch();
            if rx.recv_timeout(Duration::from_secs(1)).is_err() {
                eprintln!(
                    "qyv: timed out after {} (limits.timeout)",
                    qyvpack::manifest::units::format_duration(timeout)
                );
                std::process::exit(124);
            }
            true
        });
        Ticker { done, thread }
    }

    /// Stops the ticker; true if the timeout had passed.
    fn stop(self) -> bool {
        let _ = self.done.send(());
        self.thread.join().unwrap_or(false)
    }
}
