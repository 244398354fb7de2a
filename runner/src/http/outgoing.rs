//! Where an app's outgoing HTTP requests may go: the hooks wasmtime-wasi-http asks before it
//! sends one. A request is checked against the app's `permissions.net` by the host name (or
//! address) in its URL; a refused one gets wasi:http's `HTTP-request-denied`, and the run's
//! notes ([`Diagnostics`]: each message once, a bounded number) name the grant that would
//! allow it. `http://NAME.service/` (any port, http or https) is
//! answered in-process by the app named NAME of the same server, up to
//! [`MAX_SERVICE_DEPTH`] calls deep.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, OnceLock, Weak};

use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::app::ServedApp;
use crate::diagnostics::Diagnostics;
use crate::grants::NetRules;

/// The apps of one server by name, filled once they are all compiled. Weak: the server owns
/// the apps, and each app's hooks refer to the table.
pub(crate) type Services = Arc<OnceLock<HashMap<String, Weak<ServedApp>>>>;

/// How deep a chain of calls by service name may go (front → back → ... ): a loop between
/// apps (or an app calling itself) is refused with wasi:http's `loop-detected` there, rather
/// than taking an instance per hop until every request times out.
pub const MAX_SERVICE_DEPTH: u32 = 16;

/// The outgoing side of one app's store.
#[derive(Clone)]
pub struct Outgoing {
    net: Arc<NetRules>,
    services: Services,
    /// How many service calls deep the request this store answers is (0: from the network).
    depth: u32,
    /// Where a refusal is explained: the notes of the run, or of the request being served.
    notes: Diagnostics,
}

impl Outgoing {
    /// For a command: no other apps to reach by name; refusals go to the run's notes, which
    /// the CLI prints when the run is over.
    pub fn for_command(net: &NetRules, notes: Diagnostics) -> Outgoing {
        Outgoing::new(net, Arc::new(OnceLock::new())).for_request(0, notes)
    }

    /// For a served app, which reaches the others of `services` by name.
    pub(crate) fn new(net: &NetRules, services: Services) -> Outgoing {
        Outgoing {
            net: Arc::new(net.clone()),
            services,
            depth: 0,
            notes: Diagnostics::default(),
        }
    }

    /// These hooks for the store of a request `depth` service calls deep, whose refusals go to
    /// `notes`.
    pub(crate) fn for_request(&self, depth: u32, notes: Diagnostics) -> Outgoing {
        Outgoing {
            net: self.net.clone(),
            services: self.services.clone(),
            depth,
            notes,
        }
    }

    fn note(&self, message: &str) {
        self.notes.push(message);
    }
}

/// The reply [`WasiHttpHooks::send_request`] gives: the response, and the connection's
/// remaining work.
type Reply = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

fn refused(error: Error) -> Reply {
    Box::new(async move { Err(error) })
}

impl WasiHttpHooks for Outgoing {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _body_sent: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Reply {
        let uri = request.uri();
        let Some(host) = uri.host().map(str::to_ascii_lowercase) else {
            return refused(Error::HttpRequestUriInvalid);
        };
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        if !self.net.allows_http(&host, port) {
            let grant = match qyvpack::manifest::net::service_of(&host) {
                Some(name) => format!("service://{name}/{port}"),
                None => format!("{host}:{port}"),
            };
            self.note(&format!(
                "refused an outgoing request to {host}:{port}: permissions.net does not grant it (add `{grant}`)"
            ));
            return refused(Error::HttpRequestDenied);
        }
        if let Some(name) = qyvpack::manifest::net::service_of(&host) {
            let target = self
                .services
                .get()
                .and_then(|apps| apps.get(name))
                .and_then(Weak::upgrade);
            let Some(target) = target else {
                self.note(&format!(
                    "no app named `{name}` is served in this run, so http://{name}.service/ has no answer"
                ));
                return refused(Error::DestinationNotFound);
            };
            if self.depth >= MAX_SERVICE_DEPTH {
                self.note(&format!(
                    "refused a request to {name}.service: it would be call {} by service name in one chain (at most {MAX_SERVICE_DEPTH}); do the apps call each other in a loop?",
                    self.depth + 1
                ));
                return refused(Error::LoopDetected);
            }
            let depth = self.depth + 1;
            return Box::new(async move {
                let response = target.handle(request, depth).await;
                Ok((
                    response,
                    Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>,
                ))
            });
        }
        Box::new(async move {
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}
