//! Running a guest: compile (or load from the cache), link WASI with the granted context,
//! enforce the limits, and report how it ended.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker as ComponentLinker};
use wasmtime::{Engine, Linker, Module, Trap};
use wasmtime_wasi::I32Exit;

use crate::cache;
use crate::diagnostics::Diagnostics;
use crate::engine::{EngineOptions, baseline_engine, engine};
use crate::grants::Grants;
use crate::host::{self, Host, RunLimits};
use crate::http::Outgoing;
use crate::imports;
use crate::nn::{self, NnCtx};

/// What to run and how.
pub struct RunRequest {
    /// The app's name: argv[0].
    pub name: String,
    /// The component or core module.
    pub wasm: crate::wasm::WasmBytes,
    /// The wasm's content digest when the caller already knows it (a verified bundle).
    pub digest: Option<String>,
    /// Arguments after argv[0].
    pub args: Vec<String>,
    pub grants: Grants,
    /// The models under `/models`, each with the host file that holds its verified bytes.
    pub models: Vec<ModelFile>,
    pub limits: RunLimits,
    /// Use the compile cache.
    pub cache: bool,
    /// How a cache miss is compiled.
    pub cold: ColdStart,
}

/// How a run compiles code that is not in the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ColdStart {
    /// With the baseline compiler (Winch), which compiles about four times faster than
    /// Cranelift into slower code that is not cached: the caller has the optimized code
    /// compiled for the cache afterwards (`qyv cache warm`, in the background). A module
    /// that Winch cannot compile gets [`ColdStart::Optimized`].
    #[default]
    Baseline,
    /// With Cranelift, into the cache, before the guest starts.
    Optimized,
}

/// Where the code that ran came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compiled {
    /// Loaded from the compile cache.
    Cached,
    /// Compiled by Cranelift for this run (and cached, when the cache is on).
    Optimized,
    /// Compiled by Winch for this run, not cached: compile it for the cache next.
    Baseline,
}

/// A model the guest sees under `/models`: wasi-nn loads it from `host` (mapped or read
/// once, never decompressed again), the file the guest's `/models` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFile {
    /// Its path relative to `/models`, e.g. `mnist.onnx` or `digits/mnist.onnx`: the name
    /// wasi-nn's `load-by-name` knows it by (with its stem, when unique).
    pub guest: PathBuf,
    /// The host file with its verified bytes: a file of the bundle's view in the store, or of
    /// the run's scratch space.
    pub host: PathBuf,
}

impl RunRequest {
    /// The models of the run, for the host capabilities that load them (wasi-nn).
    pub fn model_files(&self) -> &[ModelFile] {
        &self.models
    }
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
    /// [`interrupt`] stopped it.
    Interrupted,
}

/// A finished run.
#[derive(Debug)]
pub struct Finished {
    pub outcome: Outcome,
    /// Phase name and time, in order.
    pub phases: Vec<(&'static str, Duration)>,
    /// Where the compiled code came from.
    pub compiled: Compiled,
    /// What the host has to say about the run that the guest could not be told (wasi-nn
    /// reports errors to the guest as a bare code), for the caller to show.
    pub notes: Vec<String>,
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
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
    /// The app's models cannot be offered to its wasi-nn imports (before it starts).
    #[error(transparent)]
    Nn(#[from] crate::nn::NnError),
}

pub(crate) enum Code {
    Component(Component),
    Module(Module),
}

/// Runs a guest to completion.
pub fn run(req: &RunRequest) -> Result<Finished, RunError> {
    let started = Instant::now();

    let current = Current::begin();
    let options = engine_options(&req.limits);
    let is_component = wasmparser::Parser::is_component(&req.wasm);
    let (engine, code, compiled) = compile(options, req, is_component)?;
    current.set(&engine);
    let mut phases = vec![("compile", started.elapsed())];
    let diagnostics = Diagnostics::default();
    let imports = match &code {
        Code::Component(_) => imports::component_imports(&req.wasm),
        Code::Module(_) => Vec::new(),
    };
    let nn = nn_context(&code, &imports, req, &diagnostics)?;
    // A command that makes HTTP requests gets wasi:http's client side, on its net grants.
    let http = crate::http::component_imports_http(&imports)
        .then(|| Outgoing::for_command(&req.grants.net, diagnostics.clone()));
    if nn.is_some() {
        phases.push(("models", started.elapsed().saturating_sub(phases[0].1)));
    }
    let running = Instant::now();
    if INTERRUPTED.load(Ordering::SeqCst) {
        return Ok(Finished {
            outcome: Outcome::Interrupted,
            phases,
            compiled,
            notes: diagnostics.take(),
        });
    }

    let mut argv = Vec::with_capacity(req.args.len() + 1);
    argv.push(req.name.clone());
    argv.extend(req.args.iter().cloned());
    let builder = crate::sandbox::wasi_builder(&argv, &req.grants)?;
    let limits = req.limits;
    let guest = {
        let engine = engine.clone();
        move || execute(&engine, code, builder, nn, http, &limits)
    };
    let (executed, timed_out) = match req.limits.timeout {
        None => (Some(guest()), false),
        Some(timeout) => within(&engine, timeout, guest),
    };
    let interrupted = INTERRUPTED.load(Ordering::SeqCst);
    let Some(executed) = executed else {
        // Still blocked in a host call after the grace period: the caller cleans up and
        // exits, which ends the guest's thread.
        phases.push(("run", running.elapsed()));
        return Ok(Finished {
            outcome: Outcome::TimedOut(limits.timeout.unwrap_or_default()),
            phases,
            compiled,
            notes: diagnostics.take(),
        });
    };
    let (result, instantiated) = executed?;
    phases.push(("instantiate", instantiated));
    phases.push(("run", running.elapsed().saturating_sub(instantiated)));
    let outcome = match result {
        Ok(code) => Outcome::Exited(code),
        Err(e) if interrupted && e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) => {
            Outcome::Interrupted
        }
        Err(e) => classify(e, &req.limits, timed_out),
    };
    Ok(Finished {
        outcome,
        phases,
        compiled,
        notes: diagnostics.take(),
    })
}

/// wasi-nn's context when the guest imports it: the app's models are loaded (and an operator
/// tract lacks refused) now, before the guest starts. Guests that do not import it pay
/// nothing.
fn nn_context(
    code: &Code,
    imports: &[String],
    req: &RunRequest,
    diagnostics: &Diagnostics,
) -> Result<Option<NnCtx>, RunError> {
    let wants = match code {
        Code::Component(_) => nn::component_imports_nn(imports),
        Code::Module(m) => m.imports().any(|i| i.module() == nn::WITX_MODULE),
    };
    if !wants {
        return Ok(None);
    }
    let models = nn::Models::load(&req.models)?;
    Ok(Some(match code {
        Code::Component(_) => NnCtx::Component(models.component_context(diagnostics)),
        Code::Module(_) => NnCtx::Module(models.module_context(diagnostics)),
    }))
}

/// The guest's run: its result and how long instantiation took.
type Executed = Result<(wasmtime::Result<i32>, Duration), RunError>;

/// Links, instantiates and runs the guest.
fn execute(
    engine: &Engine,
    code: Code,
    builder: wasmtime_wasi::WasiCtxBuilder,
    nn: Option<NnCtx>,
    http: Option<Outgoing>,
    limits: &RunLimits,
) -> Executed {
    let started = Instant::now();
    let mut host = Host::new(builder, limits);
    if let Some(nn) = nn {
        host = host.with_nn(nn);
    }
    if let Some(outgoing) = http {
        host = host.with_http(outgoing);
    }
    match code {
        Code::Component(component) => {
            let mut linker = ComponentLinker::<Host>::new(engine);
            host::link_component(&mut linker, &host).map_err(cannot_link)?;
            let pre = linker
                .instantiate_pre(&component)
                .map_err(|e| RunError::Link(imports::explain_component(&e.to_string())))?;
            let pre = wasmtime_wasi::p2::bindings::sync::CommandPre::new(pre).map_err(|_| {
                RunError::NotRunnable(
                    "the component does not export wasi:cli/run (it is a library, not a command)"
                        .into(),
                )
            })?;
            let mut store = host
                .into_store(engine, limits)
                .map_err(|e| RunError::Setup(format!("cannot set up the store: {e}")))?;
            let instantiated = started.elapsed();
            let result = match pre.instantiate(&mut store) {
                Ok(command) => match command.wasi_cli_run().call_run(&mut store) {
                    Ok(Ok(())) => Ok(0),
                    Ok(Err(())) => Ok(1),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            Ok((result, instantiated))
        }
        Code::Module(module) => {
            if let Some(message) = imports::unknown_module_imports(&module) {
                return Err(RunError::Link(message));
            }
            if module.get_export("_start").is_none() {
                return Err(RunError::NotRunnable(
                    "the module exports no _start (it is a reactor or a library)".into(),
                ));
            }
            let mut linker = Linker::<Host>::new(engine);
            host::link_module(&mut linker, &host).map_err(cannot_link)?;
            let pre = linker
                .instantiate_pre(&module)
                .map_err(|e| RunError::Link(e.to_string()))?;
            let mut store = host
                .into_store(engine, limits)
                .map_err(|e| RunError::Setup(format!("cannot set up the store: {e}")))?;
            let instantiated = started.elapsed();
            let result = pre
                .instantiate(&mut store)
                .and_then(|instance| instance.get_typed_func::<(), ()>(&mut store, "_start"))
                .and_then(|start| start.call(&mut store, ()))
                .map(|()| 0);
            Ok((result, instantiated))
        }
    }
}

fn cannot_link(e: wasmtime::Error) -> RunError {
    RunError::Setup(format!("cannot link WASI: {e}"))
}

/// How long a guest may take to come back after the timeout bumped the epoch. Wasm code
/// traps at its next epoch check (microseconds); a guest blocked in a host call (a sleep,
/// a stdin read, a wasi-nn inference running in tract, which nothing can interrupt) does not
/// come back, and is abandoned after this.
const GRACE: Duration = Duration::from_millis(500);

/// Runs `guest` on its own thread under `timeout`. At the timeout the engine's epoch is
/// bumped (running wasm traps); if the guest has not come back after [`GRACE`] it is
/// abandoned, still blocked, and `None` is returned: this library does not exit the process
/// itself, so the caller can remove the scratch data first and then exit (which ends the
/// thread). The flag says whether the timeout passed.
fn within(
    engine: &Engine,
    timeout: Duration,
    guest: impl FnOnce() -> Executed + Send + 'static,
) -> (Option<Executed>, bool) {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("guest".into())
        // As much stack as the main thread it replaces.
        .stack_size(8 << 20)
        .spawn(move || {
            let _ = tx.send(guest());
        });
    if let Err(e) = spawned {
        let e = RunError::Setup(format!("cannot start the guest's thread: {e}"));
        return (Some(Err(e)), false);
    }
    match rx.recv_timeout(timeout) {
        Ok(executed) => return (Some(executed), false),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            return (
                Some(Err(RunError::Setup("the guest's thread died".into()))),
                false,
            );
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {}
    }
    engine.increment_epoch();
    (rx.recv_timeout(GRACE).ok(), true)
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

/// Compiles, or loads from the cache: the engine the code belongs to, the code, and where it
/// came from.
fn compile(
    options: EngineOptions,
    req: &RunRequest,
    is_component: bool,
) -> Result<(Engine, Code, Compiled), RunError> {
    let engine =
        engine(options).map_err(|e| RunError::Setup(format!("cannot configure wasmtime: {e}")))?;
    compile_on(engine, options, req, is_component, req.cold)
}

/// [`compile`] for `engine`, built with `options` (a server's engine allocates differently).
pub(crate) fn compile_on(
    engine: Engine,
    options: EngineOptions,
    req: &RunRequest,
    is_component: bool,
    cold: ColdStart,
) -> Result<(Engine, Code, Compiled), RunError> {
    let fresh = |bytes: &[u8]| -> Result<Code, RunError> {
        new_code(&engine, bytes, is_component).map_err(|e| RunError::Compile(format!("{e:#}")))
    };
    let stable = || {
        req.wasm
            .stable()
            .map_err(|e| RunError::Setup(format!("cannot read the wasm again: {e}")))
    };
    let dir = match (req.cache, cache::compiled_dir()) {
        (true, Some(dir)) => dir,
        _ => {
            let code = fresh(&stable()?)?;
            return Ok((engine, code, Compiled::Optimized));
        }
    };
    let digest = req
        .digest
        .clone()
        .unwrap_or_else(|| cache::content_digest(&req.wasm));
    let entry = cache::Entry::new(&dir, &cache::key(&engine, &digest));
    if entry.is_intact() {
        // SAFETY: the entry was written by `store` below from wasmtime's own output for this
        // engine configuration (the key says so) and its checksum matches.
        let loaded = unsafe {
            if is_component {
                Component::deserialize_file(&engine, &entry.artifact).map(Code::Component)
            } else {
                Module::deserialize_file(&engine, &entry.artifact).map(Code::Module)
            }
        };
        match loaded {
            Ok(code) => return Ok((engine, code, Compiled::Cached)),
            Err(_) => entry.remove(),
        }
    }
    // A miss: compile a private copy (the mapped file may change under the compiler).
    let bytes = stable()?;
    if cold == ColdStart::Baseline
        && let Some((engine, code)) = baseline(options, &bytes, is_component)
    {
        return Ok((engine, code, Compiled::Baseline));
    }
    // File it under that copy's own digest when the bytes were mapped (the file may have
    // changed since its digest was taken).
    let entry = if req.wasm.is_mapped() {
        cache::Entry::new(&dir, &cache::key(&engine, &cache::content_digest(&bytes)))
    } else {
        entry
    };
    let compiled = precompiled(&engine, &bytes, is_component)?;
    // A cache that cannot be written only costs speed.
    let _ = entry.store(&compiled);
    // SAFETY: `compiled` is this engine's own output from a moment ago.
    let code = unsafe {
        if is_component {
            Component::deserialize(&engine, &compiled).map(Code::Component)
        } else {
            Module::deserialize(&engine, &compiled).map(Code::Module)
        }
    }
    .map_err(|e| RunError::Compile(format!("{e:#}")))?;
    Ok((engine, code, Compiled::Optimized))
}

/// `wasm` compiled by Winch, or `None` when Winch cannot compile it (a feature it lacks, a
/// limit it does not implement): the optimizing compiler then does, and reports any error
/// that is really the module's.
fn baseline(options: EngineOptions, wasm: &[u8], is_component: bool) -> Option<(Engine, Code)> {
    let engine = baseline_engine(options).ok()?;
    let code = new_code(&engine, wasm, is_component).ok()?;
    Some((engine, code))
}

fn new_code(engine: &Engine, wasm: &[u8], is_component: bool) -> wasmtime::Result<Code> {
    if is_component {
        Component::new(engine, wasm).map(Code::Component)
    } else {
        Module::new(engine, wasm).map(Code::Module)
    }
}

/// wasmtime's compiled form of `wasm`, as the cache stores it.
fn precompiled(engine: &Engine, wasm: &[u8], is_component: bool) -> Result<Vec<u8>, RunError> {
    if is_component {
        engine.precompile_component(wasm)
    } else {
        engine.precompile_module(wasm)
    }
    .map_err(|e| RunError::Compile(format!("{e:#}")))
}

/// Fills the compile cache with `wasm` compiled for an engine with `options` (what a run with
/// the same limits will look up), unless it is there already or another process is compiling
/// it now; true then. `qyv build`
/// and `qyv pack` have this done in the background, so that the first run is a warm start.
pub fn precompile(wasm: &[u8], digest: &str, options: EngineOptions) -> Result<bool, RunError> {
    let engine =
        engine(options).map_err(|e| RunError::Setup(format!("cannot configure wasmtime: {e}")))?;
    let Some(dir) = cache::compiled_dir() else {
        return Ok(false);
    };
    let key = cache::key(&engine, digest);
    let entry = cache::Entry::new(&dir, &key);
    if entry.is_intact() {
        return Ok(true);
    }
    // One compile per entry at a time: a cold run started while the background compile of
    // the same app is still going starts another, which has nothing to do.
    let Some(_compiling) = cache::CompileLock::try_take(&dir, &key) else {
        return Ok(true);
    };
    if entry.is_intact() {
        return Ok(true);
    }
    let compiled = precompiled(&engine, wasm, wasmparser::Parser::is_component(wasm))?;
    entry
        .store(&compiled)
        .map_err(|e| RunError::Setup(format!("cannot write the compile cache: {e}")))?;
    Ok(false)
}

/// The engine settings a run with `limits` uses (and so the compile cache entry it looks up).
pub fn engine_options(limits: &RunLimits) -> EngineOptions {
    EngineOptions {
        fuel: limits.fuel.is_some(),
        epochs: limits.timeout.is_some() || INTERRUPTIBLE.load(Ordering::Relaxed),
    }
}

/// Whether runs get epoch checks so that [`interrupt`] can stop them.
static INTERRUPTIBLE: AtomicBool = AtomicBool::new(false);

/// Set by [`interrupt`], cleared when the next run begins.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The engine of the run in progress (one at a time: the shell runs its commands in turn).
static CURRENT: Mutex<Option<Engine>> = Mutex::new(None);

/// Makes the runs that follow stoppable by [`interrupt`]: a process that outlives its runs (an
/// interactive shell) stops a run on Ctrl-C instead of dying of it. Their code gets the epoch
/// checks a timeout's does, and so its own compile cache entries.
pub fn make_interruptible() {
    INTERRUPTIBLE.store(true, Ordering::Relaxed);
}

/// Stops the run in progress: its wasm traps at the next epoch check and the run ends as
/// [`Outcome::Interrupted`]. A guest blocked in a host call stops when the call returns (or
/// at its timeout's grace).
pub fn interrupt() {
    INTERRUPTED.store(true, Ordering::SeqCst);
    if let Some(engine) = CURRENT.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        engine.increment_epoch();
    }
}

/// The run in progress, in [`CURRENT`] while it lives.
struct Current;

impl Current {
    /// A run starts: an earlier interrupt is forgotten; one from now on (even during the
    /// compile, before the engine is known) stops this run.
    fn begin() -> Current {
        INTERRUPTED.store(false, Ordering::SeqCst);
        Current
    }

    /// The engine the run's code belongs to (Cranelift's or, on a cold start, Winch's), whose
    /// epoch [`interrupt`] bumps.
    fn set(&self, engine: &Engine) {
        *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = Some(engine.clone());
    }
}

impl Drop for Current {
    fn drop(&mut self) {
        *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}
