//! One served app: its compiled component linked once (`ProxyPre`), and the answer to one
//! request from a fresh instance in a store of its own. An app that imports wasi-nn gets its
//! models loaded (and checked) once, before the server listens, and each request a context
//! over them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime::component::Linker as ComponentLinker;
use wasmtime::{Engine, Store, Trap, UpdateDeadline};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use super::outgoing::{Outgoing, Services};
use super::{Events, HttpError, RequestLog};
use crate::diagnostics::Diagnostics;
use crate::engine::EngineOptions;
use crate::grants::Grants;
use crate::host::{self, Host, RunLimits};
use crate::nn::{self, Models, NnCtx};
use crate::run::{Code, ColdStart, RunError, RunRequest};

/// An app ready to answer requests.
pub struct ServedApp {
    pub(crate) name: String,
    engine: Engine,
    pre: ProxyPre<Host>,
    argv: Vec<String>,
    grants: Grants,
    limits: RunLimits,
    /// Where its outgoing requests may go: made once, cloned (shared) into each store.
    outgoing: Outgoing,
    /// The app's models, when it imports wasi-nn.
    models: Option<Models>,
    events: Arc<dyn Events>,
    /// Set when the server's grace period is over: running guests stop at their next epoch
    /// check.
    pub(crate) abandon: Arc<AtomicBool>,
}

impl ServedApp {
    /// Compiles (or loads from the cache) and links `req`'s component as an HTTP handler.
    pub(crate) fn prepare(
        req: &RunRequest,
        services: Services,
        events: Arc<dyn Events>,
        abandon: Arc<AtomicBool>,
    ) -> Result<ServedApp, HttpError> {
        if !wasmparser::Parser::is_component(&req.wasm) {
            return Err(HttpError::CoreModule(req.name.clone()));
        }
        // An operator tract lacks is found here, before the server listens.
        let models = nn::component_imports_nn(&crate::imports::component_imports(&req.wasm))
            .then(|| Models::load(&req.models))
            .transpose()
            .map_err(RunError::from)?;
        let options = engine_options(&req.limits);
        // A server lives long: its code is Cranelift's, compiled before the first request.
        let engine = crate::engine::serving_engine(options)
            .map_err(|e| RunError::Setup(format!("cannot configure wasmtime: {e}")))?;
        let (engine, code, _) =
            crate::run::compile_on(engine, options, req, true, ColdStart::Optimized)?;
        let Code::Component(component) = code else {
            return Err(HttpError::CoreModule(req.name.clone()));
        };
        let mut linker = ComponentLinker::<Host>::new(&engine);
        host::link_http_component(&mut linker, models.is_some())
            .map_err(|e| RunError::Setup(format!("cannot link wasi:http: {e}")))?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| RunError::Link(crate::imports::explain_component(&e.to_string())))?;
        let pre = ProxyPre::new(pre).map_err(|_| HttpError::NotHandler(req.name.clone()))?;
        Ok(ServedApp {
            name: req.name.clone(),
            engine,
            pre,
            argv: std::iter::once(req.name.clone())
                .chain(req.args.iter().cloned())
                .collect(),
            grants: req.grants.clone(),
            limits: req.limits,
            outgoing: Outgoing::new(&req.grants.net, services),
            models,
            events,
            abandon,
        })
    }

    /// Logs the notes of a request so far.
    fn flush(&self, diagnostics: &Diagnostics) {
        for message in diagnostics.take() {
            self.events.note(&self.name, &message);
        }
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Answers `request` with a fresh instance: the guest's response, or 500 when it trapped
    /// or answered nothing, 504 past `limits.timeout`. Logged through the events; `depth` is
    /// 0 for a request from the network, and one more than its caller's for a request another
    /// app made by service name.
    pub(crate) async fn handle<B>(
        self: Arc<Self>,
        request: http::Request<B>,
        depth: u32,
    ) -> http::Response<wasmtime_wasi_http::WasiBody>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let started = Instant::now();
        let method = request.method().to_string();
        let path = request
            .uri()
            .path_and_query()
            .map(ToString::to_string)
            .unwrap_or_else(|| "/".into());
        // What the guest could only be told as an error code (by wasi-nn, or a refused
        // outgoing request), for the log: each message once, and a bounded number of them.
        let diagnostics = Diagnostics::default();
        let answered = self
            .clone()
            .answer(request, started, depth, &diagnostics)
            .await;
        self.flush(&diagnostics);
        let response = match answered {
            Ok(response) => response,
            Err(failure) => {
                self.events.note(&self.name, &failure.message);
                plain(failure.status, failure.status_text())
            }
        };
        self.events.request(&RequestLog {
            app: self.name.clone(),
            method,
            path,
            status: response.status().as_u16(),
            elapsed: started.elapsed(),
            internal: depth > 0,
        });
        response
    }

    async fn answer<B>(
        self: Arc<Self>,
        request: http::Request<B>,
        started: Instant,
        depth: u32,
        diagnostics: &Diagnostics,
    ) -> Result<http::Response<wasmtime_wasi_http::WasiBody>, Failure>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let mut store = self
            .store(started, depth, diagnostics)
            .map_err(Failure::internal)?;
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(Failure::internal)?;
        let out = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(Failure::internal)?;
        let pre = self.pre.clone();
        let guest = tokio::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, out)
                .await
        });
        // The guest keeps running after it set the response: it streams the body. The
        // timeout covers that too; past it the stream is cut.
        let deadline = self
            .limits
            .timeout
            .map(|t| tokio::time::Instant::from_std(started + t));
        let guest = Guarded::new(guest, deadline);
        let head = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, receiver).await {
                Ok(head) => head,
                Err(_) => {
                    guest.abort();
                    return Err(Failure::timeout(self.limits.timeout.unwrap_or_default()));
                }
            },
            None => receiver.await,
        };
        // Once answered, the guest may go on (streaming its body) and note more.
        let app = self.clone();
        let notes = diagnostics.clone();
        let after = move || app.flush(&notes);
        match head {
            Ok(Ok(response)) => {
                guest.detach(after);
                Ok(response)
            }
            Ok(Err(code)) => {
                guest.detach(after);
                Err(Failure {
                    status: 500,
                    message: format!("the handler answered with an error: {code:?}"),
                })
            }
            // The guest dropped its response-outparam: it trapped, or returned without
            // answering.
            Err(_) => Err(guest.outcome(&self.limits).await),
        }
    }

    /// A store for one request `depth` service calls deep: the app's grants, its memory
    /// limit, its models (reporting to `diagnostics`), and the epoch callback that lets other
    /// requests run (a yield each tick) and stops this one past its deadline or when the server
    /// gives up on it.
    fn store(
        &self,
        started: Instant,
        depth: u32,
        diagnostics: &Diagnostics,
    ) -> wasmtime::Result<Store<Host>> {
        let builder = crate::sandbox::wasi_builder(&self.argv, &self.grants)?;
        let mut host = Host::new(builder, &self.limits)
            .with_http(self.outgoing.for_request(depth, diagnostics.clone()));
        if let Some(models) = &self.models {
            host = host.with_nn(NnCtx::Component(models.component_context(diagnostics)));
        }
        let mut store = host.into_store(&self.engine, &self.limits)?;
        let deadline = self.limits.timeout.map(|t| started + t);
        let abandon = self.abandon.clone();
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if abandon.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Trap::Interrupt.into());
            }
            Ok(UpdateDeadline::Yield(1))
        });
        Ok(store)
    }
}

/// Why a request got no answer from the guest: its status and what the log says.
struct Failure {
    status: u16,
    message: String,
}

impl Failure {
    fn internal(e: impl std::fmt::Display) -> Failure {
        Failure {
            status: 500,
            message: format!("cannot start the handler: {e}"),
        }
    }

    fn timeout(limit: Duration) -> Failure {
        Failure {
            status: 504,
            message: format!(
                "a request ran past limits.timeout ({}) and was stopped",
                qyvpack::manifest::units::format_duration(limit)
            ),
        }
    }

    fn status_text(&self) -> &'static str {
        match self.status {
            504 => "504 Gateway Timeout: the handler ran past limits.timeout\n",
            _ => "500 Internal Server Error: the handler failed; the server's log says why\n",
        }
    }
}

/// The guest's task, aborted when dropped unless detached, and bounded by the deadline once
/// detached (the body it streams is cut there).
struct Guarded {
    task: Option<tokio::task::JoinHandle<wasmtime::Result<()>>>,
    deadline: Option<tokio::time::Instant>,
}

impl Guarded {
    fn new(
        task: tokio::task::JoinHandle<wasmtime::Result<()>>,
        deadline: Option<tokio::time::Instant>,
    ) -> Guarded {
        Guarded {
            task: Some(task),
            deadline,
        }
    }

    fn abort(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Lets the guest finish its body on its own, within the deadline; `after` runs when it
    /// has ended.
    fn detach(mut self, after: impl FnOnce() + Send + 'static) {
        let Some(task) = self.task.take() else {
            return;
        };
        let deadline = self.deadline;
        tokio::spawn(async move {
            let abort = task.abort_handle();
            match deadline {
                Some(deadline) => {
                    if tokio::time::timeout_at(deadline, task).await.is_err() {
                        abort.abort();
                    }
                }
                None => {
                    let _ = task.await;
                }
            }
            after();
        });
    }

    /// How the guest ended without answering.
    async fn outcome(mut self, limits: &RunLimits) -> Failure {
        let Some(task) = self.task.take() else {
            return Failure::internal("the handler is gone");
        };
        match task.await {
            Ok(Ok(())) => Failure {
                status: 500,
                message: "the handler returned without setting a response".into(),
            },
            Ok(Err(e))
                if limits.memory.is_some()
                    && format!("{e:#}").contains("forcing trap when growing memory") =>
            {
                Failure {
                    status: 500,
                    message: format!(
                        "a request tried to grow its memory beyond limits.memory ({})",
                        qyvpack::manifest::units::human_size(limits.memory.unwrap_or_default())
                    ),
                }
            }
            Ok(Err(e)) => match e.downcast_ref::<Trap>() {
                Some(Trap::Interrupt) => Failure::timeout(limits.timeout.unwrap_or_default()),
                Some(trap) => Failure {
                    status: 500,
                    message: format!("the handler trapped: {trap}"),
                },
                None => Failure {
                    status: 500,
                    message: format!("the handler failed: {:#}", e.root_cause()),
                },
            },
            Err(e) => Failure::internal(e),
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A short plain-text response from the host itself.
fn plain(status: u16, text: &'static str) -> http::Response<wasmtime_wasi_http::WasiBody> {
    let body = Full::new(Bytes::from_static(text.as_bytes()))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = http::Response::new(body);
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The engine settings of a served app: epoch checks always (fairness between requests and
/// the shutdown's deadline need them), fuel when the limits ask.
pub(crate) fn engine_options(limits: &RunLimits) -> EngineOptions {
    EngineOptions {
        fuel: limits.fuel.is_some(),
        epochs: true,
    }
}
