//! Serving `type: http` apps: components that export `wasi:http/incoming-handler` (the
//! `wasi:http/proxy` world), through wasmtime-wasi-http, as `wasmtime serve` and Spin do.
//!
//! - [`serve`] listens on one address for the first app and answers each request with a fresh
//!   instance of it, made from one `InstancePre` (linking and type checks are done once). A
//!   request gets `limits.timeout` (504 past it) and `limits.memory` for itself; a trap ends that
//!   request only (500). The code is compiled once by Cranelift (a server lives long, so its
//!   start-up does not pay for baseline code), with epoch checks, so that a long request yields
//!   to the others and can be stopped.
//! - Outgoing requests ([`Outgoing`]) go only to the hosts the app's `permissions.net` names
//!   (checked by name, like the URL says it), and a request to `http://NAME.service/` is routed
//!   in-process to the app named NAME among those served together: no host port is opened for
//!   them (the original design's virtual network, `service://NAME/PORT`).
//! - [`shutdown`] (SIGINT or SIGTERM in the CLI) stops accepting, lets requests in flight finish
//!   within [`ServeOptions::grace`], and returns.
//!
//! The library prints nothing: what a server has to say (listening, one line per request, a
//! refused request, a trap) goes to the caller's [`Events`].

mod app;
mod outgoing;
mod server;

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use app::ServedApp;
pub use outgoing::Outgoing;
pub use server::{Served, serve};

/// Where and how to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The front app's address (port 0: a free port, which [`Events::listening`] tells).
    pub listen: SocketAddr,
    /// How long requests in flight may take to finish once [`shutdown`] is called.
    pub grace: Duration,
}

/// The default address: loopback only, as a development server should.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

/// One finished request, for the request log.
#[derive(Debug, Clone)]
pub struct RequestLog {
    /// The app that answered (a service's name for a routed request).
    pub app: String,
    pub method: String,
    /// The path and query.
    pub path: String,
    pub status: u16,
    /// Until the response's head was ready (its body may stream for longer).
    pub elapsed: Duration,
    /// Whether it came from another app by service name rather than from the listener.
    pub internal: bool,
}

/// What a server reports while it runs. Called from the server's threads.
pub trait Events: Send + Sync + 'static {
    /// The front app listens on `addr` (the port is the real one when 0 was asked for).
    fn listening(&self, app: &str, addr: SocketAddr);
    /// A request was answered.
    fn request(&self, log: &RequestLog);
    /// Something the guest could only be told as an error code (a refused outgoing request,
    /// with the grant that would allow it), or why a request got a 500 or 504.
    fn note(&self, app: &str, message: &str);
    /// Shutting down: no new connections; `in_flight` connections are finishing.
    fn stopping(&self, in_flight: usize);
}

/// Why serving could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the server's runtime: {0}")]
    Runtime(std::io::Error),
    /// The component cannot be compiled or linked.
    #[error(transparent)]
    Run(#[from] crate::run::RunError),
    #[error(
        "{0} does not export wasi:http/incoming-handler, so it is not an HTTP handler (a type: cli app runs with `qyv run` as a command)"
    )]
    NotHandler(String),
    #[error(
        "{0} is a core module; an HTTP app must be a component exporting wasi:http/incoming-handler"
    )]
    CoreModule(String),
    #[error("two apps are named `{0}`; service names must be unique in one qyv run")]
    DuplicateService(String),
    #[error("the app name `{0}` cannot be a service name (`{0}.service` is no host name)")]
    BadServiceName(String),
}

/// The server in progress: [`shutdown`] tells it to stop. `None` inside: no server yet, and
/// a shutdown asked for before it listens is kept in [`STOP_ASKED`].
static STOP: Mutex<Option<tokio::sync::watch::Sender<bool>>> = Mutex::new(None);

/// A shutdown asked for while the apps were still compiling: the server stops at once.
static STOP_ASKED: AtomicBool = AtomicBool::new(false);

/// Stops the server in progress gracefully (see [`ServeOptions::grace`]), or the one about to
/// start. Safe to call from any thread, e.g. the CLI's signal thread.
pub fn shutdown() {
    let stop = STOP.lock().unwrap_or_else(|e| e.into_inner());
    match stop.as_ref() {
        Some(stop) => {
            let _ = stop.send(true);
        }
        None => STOP_ASKED.store(true, Ordering::SeqCst),
    }
}

/// Whether a component's imports ask for wasi:http's outgoing handler (a command that makes
/// requests gets it linked; see [`crate::host::link_component`]).
pub fn component_imports_http(imports: &[String]) -> bool {
    imports
        .iter()
        .any(|i| i.starts_with("wasi:http/outgoing-handler@") || i.starts_with("wasi:http/types@"))
}

/// Whether a component exports `wasi:http/incoming-handler`: an HTTP app even without a
/// manifest saying `type: http`.
pub fn component_exports_handler(bytes: &[u8]) -> bool {
    crate::imports::component_exports(bytes)
        .iter()
        .any(|e| e.starts_with("wasi:http/incoming-handler@"))
}
