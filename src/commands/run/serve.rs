//! `qyv run` of an HTTP app: open the services beside it, print what is served, log each
//! request, and stop gracefully on the first SIGINT or SIGTERM.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use runner::app::Invocation;
use runner::http::{Events, RequestLog, ServeOptions};
use runner::open::Opened;

use super::{Opts, banner, open_input};

/// How long requests in flight may take to finish after SIGINT or SIGTERM (a second signal
/// ends qyv at once).
const GRACE: Duration = Duration::from_secs(30);

/// At most this many apps in one run (services of services included): a manifest listing
/// itself, or a loop of them, must end.
const MAX_APPS: usize = 64;

/// What `qyv run` passes on for serving.
pub struct ServeArgs<'a> {
    pub listen: Option<SocketAddr>,
    pub quiet: bool,
    pub verbose: bool,
    pub opts: &'a Opts,
    pub inv: Invocation,
}

/// Serves `front` (and `more` apps and the services the manifests list, by name) until a
/// signal; the exit code.
pub fn serve(front: Opened, more: &[PathBuf], args: ServeArgs<'_>) -> Result<i32, String> {
    let listen = args
        .listen
        .or(front.serving.listen)
        .unwrap_or(runner::http::DEFAULT_LISTEN);
    let apps = open_services(front, more, &args)?;
    if !args.quiet {
        for app in &apps {
            banner(
                &app.prepared,
                &app.file.display().to_string(),
                app.language.as_deref(),
                args.verbose,
            );
        }
    }
    let names: Vec<String> = apps[1..]
        .iter()
        .map(|a| a.prepared.request.name.clone())
        .collect();
    let events = Arc::new(Log {
        quiet: args.quiet,
        services: names,
    });
    crate::interrupt::stop_server_on_signal();
    let requests: Vec<&runner::run::RunRequest> =
        apps.iter().map(|a| &a.prepared.request).collect();
    let options = ServeOptions {
        listen,
        grace: GRACE,
    };
    let served = runner::http::serve(&requests, &options, events);
    crate::interrupt::served();
    let served = served.map_err(|e| e.to_string())?;
    if served.abandoned > 0 {
        eprintln!(
            "qyv: {} connection(s) were still busy after {}s and were cut",
            served.abandoned,
            GRACE.as_secs()
        );
    }
    Ok(0)
}

/// The front app first, then the apps given after it and those the manifests list under
/// `services:`, each once.
fn open_services(
    front: Opened,
    more: &[PathBuf],
    args: &ServeArgs<'_>,
) -> Result<Vec<Opened>, String> {
    let mut seen: HashSet<PathBuf> = HashSet::new();
    seen.insert(canonical(&front.file));
    let mut queue: Vec<PathBuf> = more.to_vec();
    let mut apps = vec![front];
    let mut next = 0;
    loop {
        let app = &apps[next];
        queue.extend(app.serving.services.iter().cloned());
        if !app.serving.unresolved.is_empty() {
            eprintln!(
                "qyv ▸ note: {} lists services ({}) that a bundle cannot carry; give them after it: qyv run {} SERVICE...",
                app.prepared.request.name,
                app.serving.unresolved.join(", "),
                app.file.display()
            );
        }
        for input in queue.drain(..) {
            let opened = open_input(&input, args.opts, &args.inv)?;
            if !seen.insert(canonical(&opened.file)) {
                continue;
            }
            if apps.len() == MAX_APPS {
                return Err(format!(
                    "more than {MAX_APPS} apps to serve; is a services: list a loop?"
                ));
            }
            apps.push(opened);
        }
        next += 1;
        if next == apps.len() {
            return Ok(apps);
        }
    }
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// Prints what the server reports, on stderr.
struct Log {
    quiet: bool,
    services: Vec<String>,
}

impl Events for Log {
    fn listening(&self, app: &str, addr: SocketAddr) {
        let mut line = format!("qyv ▸ serving {app} on http://{addr}/");
        if !self.services.is_empty() {
            let names: Vec<String> = self
                .services
                .iter()
                .map(|n| format!("http://{n}.service/"))
                .collect();
            line.push_str(&format!(" (in-process: {})", names.join(", ")));
        }
        eprintln!("{line}; Ctrl-C stops");
    }

    fn request(&self, log: &RequestLog) {
        if self.quiet {
            return;
        }
        let app = if log.internal {
            format!("[{}] ", log.app)
        } else {
            String::new()
        };
        eprintln!(
            "qyv ▸ {app}{} {} {} {:.1} ms",
            log.method,
            log.path,
            log.status,
            log.elapsed.as_secs_f64() * 1000.0
        );
    }

    fn note(&self, app: &str, message: &str) {
        eprintln!("qyv: {app}: {message}");
    }

    fn stopping(&self, in_flight: usize) {
        if in_flight == 0 {
            eprintln!("qyv ▸ stopping");
        } else {
            eprintln!(
                "qyv ▸ stopping: {in_flight} connection(s) finishing (a second Ctrl-C ends them)"
            );
        }
    }
}
