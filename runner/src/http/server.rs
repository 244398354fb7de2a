//! The listener: HTTP/1.1 connections for the front app, the epoch ticker, and the graceful
//! shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use wasmtime_wasi_http::io::TokioIo;

use super::app::ServedApp;
use super::outgoing::Services;
use super::{Events, HttpError, STOP, STOP_ASKED, ServeOptions};
use crate::run::RunRequest;

/// How a server ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    /// Connections still open when the grace period ran out (their requests were cut).
    pub abandoned: usize,
}

/// How often the epoch advances: a running request yields to others at least this often,
/// and a timeout is noticed within it.
const TICK: Duration = Duration::from_millis(5);

/// How long a client may take to send a request's head, and a kept-alive connection may sit
/// idle: a client that trickles its headers a byte at a time (slowloris) cannot hold
/// connections open for ever.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `apps[0]` on `options.listen`, and every app of `apps` to the others by name, until
/// [`super::shutdown`]. Returns once the requests in flight finished (or the grace ran out).
pub fn serve(
    apps: &[&RunRequest],
    options: &ServeOptions,
    events: Arc<dyn Events>,
) -> Result<Served, HttpError> {
    // A shutdown asked for from here on (even while compiling) stops this server.
    STOP_ASKED.store(false, Ordering::SeqCst);
    let services: Services = Arc::new(OnceLock::new());
    let abandon = Arc::new(AtomicBool::new(false));
    let mut prepared = Vec::with_capacity(apps.len());
    for (i, req) in apps.iter().enumerate() {
        // The front app is reached through the listener; the others only by name.
        let reachable = qyvpack::manifest::valid_name(&req.name)
            && qyvpack::manifest::net::service_of(&format!("{}.service", req.name)).is_some();
        if i > 0 && !reachable {
            return Err(HttpError::BadServiceName(req.name.clone()));
        }
        if prepared.iter().any(|a: &Arc<ServedApp>| a.name == req.name) {
            return Err(HttpError::DuplicateService(req.name.clone()));
        }
        let app = ServedApp::prepare(req, services.clone(), events.clone(), abandon.clone())?;
        prepared.push(Arc::new(app));
    }
    let table: HashMap<String, std::sync::Weak<ServedApp>> = prepared
        .iter()
        .map(|a| (a.name.clone(), Arc::downgrade(a)))
        .collect();
    let _ = services.set(table);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_io()
        .enable_time()
        .thread_name("http")
        .build()
        .map_err(HttpError::Runtime)?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    {
        let mut stop = STOP.lock().unwrap_or_else(|e| e.into_inner());
        if STOP_ASKED.swap(false, Ordering::SeqCst) {
            let _ = stop_tx.send(true);
        }
        *stop = Some(stop_tx);
    }
    let ticking = Arc::new(AtomicBool::new(true));
    let ticker = start_ticker(
        prepared.iter().map(|a| a.engine().clone()).collect(),
        ticking.clone(),
    );
    let result = runtime.block_on(accept_until_stopped(
        prepared[0].clone(),
        options,
        events,
        stop_rx,
        abandon,
    ));
    *STOP.lock().unwrap_or_else(|e| e.into_inner()) = None;
    // Connections abandoned past the grace period may hold guests blocked in host calls:
    // their threads are not waited for.
    runtime.shutdown_timeout(Duration::from_millis(100));
    ticking.store(false, Ordering::Relaxed);
    if let Some(ticker) = ticker {
        let _ = ticker.join();
    }
    result
}

/// Advances every engine's epoch each [`TICK`] while `ticking`.
fn start_ticker(
    engines: Vec<wasmtime::Engine>,
    ticking: Arc<AtomicBool>,
) -> Option<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("epoch".into())
        .spawn(move || {
            while ticking.load(Ordering::Relaxed) {
                std::thread::sleep(TICK);
                for engine in &engines {
                    engine.increment_epoch();
                }
            }
        })
        .ok()
}

async fn accept_until_stopped(
    front: Arc<ServedApp>,
    options: &ServeOptions,
    events: Arc<dyn Events>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    abandon: Arc<AtomicBool>,
) -> Result<Served, HttpError> {
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| HttpError::Listen {
            addr: options.listen,
            source,
        })?;
    let addr = listener.local_addr().unwrap_or(options.listen);
    events.listening(&front.name, addr);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of descriptors and the like: the listener stays, try again.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                connections.spawn(connection(stream, front.clone(), stop.clone()));
            }
            _ = stop.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    events.stopping(connections.len());
    let finished = tokio::time::timeout(options.grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    let abandoned = if finished.is_ok() {
        0
    } else {
        abandon.store(true, Ordering::Relaxed);
        let left = connections.len();
        connections.abort_all();
        left
    };
    Ok(Served { abandoned })
}

/// One client connection: requests answered in turn (HTTP/1.1 keep-alive); on shutdown, the
/// request in flight finishes and the connection closes.
async fn connection(
    stream: tokio::net::TcpStream,
    app: Arc<ServedApp>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let service = service_fn(move |request| {
        let app = app.clone();
        async move { Ok::<_, std::convert::Infallible>(app.handle(request, 0).await) }
    });
    let conn = http1::Builder::new()
        .keep_alive(true)
        .timer(TokioTimer)
        .header_read_timeout(HEAD_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = stop.changed() => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// hyper's timers on tokio's clock (for [`HEAD_TIMEOUT`]).
#[derive(Clone)]
struct TokioTimer;

impl hyper::rt::Timer for TokioTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(TokioSleep(Box::pin(tokio::time::sleep(duration))))
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(TokioSleep(Box::pin(tokio::time::sleep_until(
            deadline.into(),
        ))))
    }
}

struct TokioSleep(Pin<Box<tokio::time::Sleep>>);

impl Future for TokioSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for TokioSleep {}
