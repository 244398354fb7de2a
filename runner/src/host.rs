//! The host side of a guest: one [`Host`] per store, holding each capability's context, and
//! the link calls that put those capabilities into a linker. Components and core modules share
//! it, so a new WASI proposal (wasi-nn, wasi-http) is one more context here and one line in
//! [`link_component`] (and [`link_module`] if it has a preview 1 form), linked only when the
//! guest imports it. An HTTP app is linked by [`link_http_component`], the async form.

use std::time::Duration;

use wasmtime::component::Linker as ComponentLinker;
use wasmtime::{Engine, Linker, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};
use wasmtime_wasi_nn::wit::WasiNnView;

use crate::http::Outgoing;
use crate::nn::NnCtx;

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
    /// wasi-nn, when the guest imports it ([`Host::with_nn`]).
    nn: Option<NnCtx>,
    /// wasi:http, for an HTTP app or a command that makes outgoing requests
    /// ([`Host::with_http`]).
    http: Option<HttpCtx>,
}

/// wasi:http's context: the crate's settings, and the hooks that decide where an outgoing
/// request may go.
struct HttpCtx {
    ctx: WasiHttpCtx,
    outgoing: Outgoing,
}

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        let table = self.wasi.ctx().table;
        match &mut self.http {
            Some(http) => WasiHttpCtxView {
                hooks: &mut http.outgoing,
                table,
                ctx: &mut http.ctx,
            },
            None => unreachable!("wasi:http is linked only for a host made with its context"),
        }
    }
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
            nn: None,
            http: None,
        }
    }

    /// This host with wasi:http served, outgoing requests going where `outgoing` lets them.
    pub fn with_http(self, outgoing: Outgoing) -> Host {
        Host {
            http: Some(HttpCtx {
                ctx: WasiHttpCtx::new(),
                outgoing,
            }),
            ..self
        }
    }

    /// Whether wasi:http is served, and so must be linked.
    pub fn has_http(&self) -> bool {
        self.http.is_some()
    }

    /// This host with wasi-nn served from `nn`.
    pub fn with_nn(self, nn: NnCtx) -> Host {
        Host {
            nn: Some(nn),
            ..self
        }
    }

    /// Whether wasi-nn is served, and so must be linked.
    pub fn has_nn(&self) -> bool {
        self.nn.is_some()
    }

    /// The view the WIT form of wasi-nn works through: its context and the resource table it
    /// shares with WASI. Only linked when the host has a component's context.
    fn nn_view(&mut self) -> WasiNnView<'_> {
        let table = self.wasi.ctx().table;
        match &mut self.nn {
            Some(NnCtx::Component(ctx)) => WasiNnView::new(table, ctx),
            _ => unreachable!("wasi:nn is linked only for a host made with a component's context"),
        }
    }

    /// The witx form's context. Only linked when the host has a core module's context.
    fn nn_witx(&mut self) -> &mut wasmtime_wasi_nn::witx::WasiNnCtx {
        match &mut self.nn {
            Some(NnCtx::Module(ctx)) => ctx,
            _ => unreachable!(
                "wasi_ephemeral_nn is linked only for a host made with a module's context"
            ),
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
/// host provides, so it is always linked; wasi-nn and wasi:http (a command's outgoing
/// requests) when `host` serves them.
pub fn link_component(linker: &mut ComponentLinker<Host>, host: &Host) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    if host.has_nn() {
        wasmtime_wasi_nn::wit::add_to_linker(linker, Host::nn_view)?;
    }
    if host.has_http() {
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(linker)?;
    }
    Ok(())
}

/// Links what an HTTP app (the `wasi:http/proxy` world, served by [`crate::http`]) may use: all
/// of WASI, as for a command, and wasi:http, in their async forms, since requests are served
/// concurrently on one runtime; wasi-nn when `nn` (the app imports it), whose calls are
/// synchronous (an inference leaves the runtime's thread to the other requests while it runs:
/// see `nn::tract`).
pub fn link_http_component(linker: &mut ComponentLinker<Host>, nn: bool) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    if nn {
        wasmtime_wasi_nn::wit::add_to_linker(linker, Host::nn_view)?;
    }
    Ok(())
}

/// Links every capability a core module may use: WASI preview 1, and wasi-nn's witx form
/// when `host` serves it.
pub fn link_module(linker: &mut Linker<Host>, host: &Host) -> wasmtime::Result<()> {
    wasmtime_wasi::p1::add_to_linker_sync(linker, |h| &mut h.wasi)?;
    if host.has_nn() {
        wasmtime_wasi_nn::witx::add_to_linker(linker, Host::nn_witx)?;
    }
    Ok(())
}
