//! The host side of a guest: one [`Host`] per store, holding each capability's context, and
//! the link calls that put those capabilities into a linker. Components and core modules share
//! it, so a new WASI proposal (wasi-nn, wasi-http) is one more context here and one line in
//! [`link_component`] (and [`link_module`] if it has a preview 1 form), linked only when the
//! guest imports it.

use std::time::Duration;

use wasmtime::component::Linker as ComponentLinker;
use wasmtime::{Engine, Linker, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{WasiCtxBuilder, WasiCtxView, WasiView};

/// Resource limits of one run, enforced by the host's store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunLimits {
    /// Linear memory, bytes (per memory, as wasmtime's store limits count).
    pub memory: Option<u64>,
    /// Wall clock.
    pub timeout: Option<Duration>,
    /// Fuel units.
    pub fuel: Option<u64>,
}

/// What a store holds for its guest.
pub struct Host {
    /// WASI, for both shapes: wasmtime's preview 1 context wraps the preview 2 context and its
    /// resource table, so the same value serves a core module's `wasi_snapshot_preview1`
    /// calls and a component's `wasi:*` imports (as the wasmtime CLI does).
    wasi: WasiP1Ctx,
    /// `limits.memory`, enforced by the store's resource limiter.
    limits: StoreLimits,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        self.wasi.ctx()
    }
}

impl Host {
    /// A host with the WASI context `builder` describes (see [`crate::sandbox`]) and the
    /// memory limit of `limits`.
    pub fn new(mut builder: WasiCtxBuilder, limits: &RunLimits) -> Host {
        let mut store_limits = StoreLimitsBuilder::new();
        if let Some(bytes) = limits.memory {
            store_limits = store_limits
                .memory_size(usize::try_from(bytes).unwrap_or(usize::MAX))
                .trap_on_grow_failure(true);
        }
        Host {
            wasi: builder.build_p1(),
            limits: store_limits.build(),
        }
    }

    /// A store for this host with `limits` in force: the memory limiter, the timeout's epoch
    /// deadline and the fuel.
    pub fn into_store(self, engine: &Engine, limits: &RunLimits) -> wasmtime::Result<Store<Host>> {
        let mut store = Store::new(engine, self);
        store.limiter(|h| &mut h.limits);
        if crate::run::engine_options(limits).epochs {
            // One epoch tick is the deadline: only the timeout's ticker (or an interrupt, see
            // `run::interrupt`) advances the epoch.
            store.set_epoch_deadline(1);
            store.epoch_deadline_trap();
        }
        if let Some(fuel) = limits.fuel {
            store.set_fuel(fuel)?;
        }
        Ok(store)
    }
}

/// Links every capability a component may use. `exit-with-code` is stable in the WASI this
/// host provides, so it is always linked.
pub fn link_component(linker: &mut ComponentLinker<Host>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)
}

/// Links every capability a core module may use: WASI preview 1.
pub fn link_module(linker: &mut Linker<Host>) -> wasmtime::Result<()> {
    wasmtime_wasi::p1::add_to_linker_sync(linker, |h| &mut h.wasi)
}
