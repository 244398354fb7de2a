//! `qyv run` of HTTP apps (`type: http`): serving, per-request timeouts and traps, the
//! outgoing allowlist, service names between apps, and the graceful shutdown. The app is
//! `tests/fixtures/http_probe`, a Rust handler with routes for each case.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::http::{SIGINT, SIGTERM, Server, get};
use common::{Sandbox, rust_fixture};

/// The probe handler, built once per test binary.
fn probe() -> &'static Path {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE.get_or_init(|| rust_fixture("http_probe", "wasm32-wasip2"))
}

/// A project directory `dir` in the sandbox with the probe as `probe.wasm` and a manifest
/// named `name` whose extra lines are `extra`.
fn app(sb: &Sandbox, dir: &str, name: &str, extra: &str) -> PathBuf {
    let dir = sb.path(dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(probe(), dir.join("probe.wasm")).unwrap();
    std::fs::write(
        dir.join("app.qyv"),
        format!("name: {name}\nentrypoint: probe.wasm\ntype: http\n{extra}"),
    )
    .unwrap();
    dir.join("app.qyv")
}

/// `qyv run INPUTS --listen 127.0.0.1:0` in the sandbox, serving.
fn serve(sb: &Sandbox, inputs: &[&Path], flags: &[&str]) -> Server {
    let mut cmd = sb.command();
    cmd.arg("run")
        .args(inputs)
        .args(["--listen", "127.0.0.1:0"])
        .args(flags);
    Server::start(cmd)
}

#[test]
fn serves_requests_with_a_log_line_each() {
    let sb = Sandbox::new();
    let manifest = app(&sb, "web", "web", "");
    let server = serve(&sb, &[&manifest], &[]);
    let hello = server.get("/hello?name=x");
    assert_eq!(hello.status, 200, "{}", server.stderr());
    assert_eq!(hello.text(), "Hello, x!\n");
    assert_eq!(
        hello.header("content-type"),
        Some("text/plain; charset=utf-8")
    );

    let body: Vec<u8> = (0..1u32 << 20).map(|i| (i * 7 + i / 255) as u8).collect();
    let echoed = server.post("/echo", &body);
    assert_eq!(echoed.status, 200);
    assert_eq!(echoed.body.len(), body.len());
    assert!(echoed.body == body, "the 1 MiB body came back changed");

    assert_eq!(server.get("/nowhere").status, 404);
    // A fresh instance per request: no state is left from the ones before (the pooling
    // allocator reuses slots, zeroed).
    for _ in 0..3 {
        assert_eq!(server.get("/count").text(), "1\n");
    }
    let line = server.wait_for_line("GET /hello?name=x");
    assert!(line.contains(" 200 ") && line.ends_with(" ms"), "{line}");
    server.wait_for_line("POST /echo 200");
    server.wait_for_line("GET /nowhere 404");
}

#[test]
fn quiet_serves_without_the_request_log() {
    let sb = Sandbox::new();
    let manifest = app(&sb, "web", "web", "");
    let server = serve(&sb, &[&manifest], &["-q"]);
    assert_eq!(server.get("/hello").text(), "Hello, world!\n");
    std::thread::sleep(Duration::from_millis(200));
    let stderr = server.stderr();
    assert!(!stderr.contains("GET /hello"), "{stderr}");
    assert!(
        stderr.contains("serving web on http://127.0.0.1:"),
        "{stderr}"
    );
}

#[test]
fn a_request_past_the_timeout_gets_504_while_others_are_answered() {
    let sb = Sandbox::new();
    let manifest = app(&sb, "web", "web", "limits:\n  timeout: 2s\n");
    let server = serve(&sb, &[&manifest], &[]);
    let addr = server.addr;
    let started = Instant::now();
    let slow = std::thread::spawn(move || get(addr, "/loop"));
    std::thread::sleep(Duration::from_millis(300));
    // While /loop spins, other requests are answered, and promptly.
    for _ in 0..3 {
        let t = Instant::now();
        let fast = server.get("/hello?name=fast");
        assert_eq!(fast.text(), "Hello, fast!\n");
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    }
    let looped = slow.join().unwrap();
    assert_eq!(looped.status, 504, "{}", server.stderr());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "{took:?}"
    );
    server.wait_for_line("GET /loop 504");
    server.wait_for_line("ran past limits.timeout (2s)");
    // The server goes on.
    assert_eq!(server.get("/hello").status, 200);
}

#[test]
fn limits_memory_holds_for_each_request() {
    let sb = Sandbox::new();
    let manifest = app(&sb, "web", "web", "limits:\n  memory: 16MiB\n");
    let server = serve(&sb, &[&manifest], &[]);
    assert_eq!(server.get("/grow?mb=4").text(), "grew 4\n");
    // Each request has the whole limit: four of these in turn are no more than one.
    for _ in 0..4 {
        assert_eq!(server.get("/grow?mb=8").status, 200, "{}", server.stderr());
    }
    assert_eq!(server.get("/grow?mb=64").status, 500);
    server.wait_for_line("beyond limits.memory (16.0 MiB)");
    assert_eq!(server.get("/hello").status, 200);
}

#[test]
fn a_trap_is_a_500_for_that_request_only() {
    let sb = Sandbox::new();
    let manifest = app(&sb, "web", "web", "");
    let server = serve(&sb, &[&manifest], &[]);
    let trapped = server.get("/trap");
    assert_eq!(trapped.status, 500);
    server.wait_for_line("the handler trapped");
    assert_eq!(server.get("/hello?name=after").text(), "Hello, after!\n");
}

/// A loopback server that answers every request with `pong` until dropped.
fn pong_server() -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        for stream in listener.incoming().take(1) {
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\npong",
            );
        }
    });
    (addr, handle)
}

#[test]
fn outgoing_requests_go_only_where_permissions_net_allows() {
    let sb = Sandbox::new();
    let (pong, pong_thread) = pong_server();
    let denied = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let denied_port = denied.local_addr().unwrap().port();
    let manifest = app(
        &sb,
        "web",
        "web",
        &format!("permissions:\n  net: [\"127.0.0.1:{}\"]\n", pong.port()),
    );
    let server = serve(&sb, &[&manifest], &[]);
    let allowed = server.get(&format!("/fetch?url=http://127.0.0.1:{}/ping", pong.port()));
    assert_eq!(allowed.text(), "200 pong", "{}", server.stderr());
    pong_thread.join().unwrap();

    let refused = server.get(&format!("/fetch?url=http://127.0.0.1:{denied_port}/"));
    assert_eq!(refused.status, 502);
    assert!(
        refused.text().ends_with("HttpRequestDenied"),
        "{}",
        refused.text()
    );
    let hint = server.wait_for_line("refused an outgoing request");
    assert!(
        hint.contains(&format!("127.0.0.1:{denied_port}"))
            && hint.contains(&format!("add `127.0.0.1:{denied_port}`")),
        "{hint}"
    );
    // A guest that keeps asking does not flood the log: the hint is there once.
    let again = server.get(&format!(
        "/fetch?times=500&url=http://127.0.0.1:{denied_port}/again"
    ));
    assert_eq!(again.status, 502);
    server.wait_for_line(&format!(
        "GET /fetch?times=500&url=http://127.0.0.1:{denied_port}/again 502"
    ));
    assert_eq!(
        server
            .stderr()
            .matches("refused an outgoing request")
            .count(),
        2,
        "{}",
        server.stderr()
    );
    // By name, a host is not granted by an address it may resolve to.
    let by_name = server.get(&format!("/fetch?url=http://localhost:{}/", pong.port()));
    assert!(
        by_name.text().ends_with("HttpRequestDenied"),
        "{}",
        by_name.text()
    );
}

#[test]
fn apps_call_each_other_by_service_name_without_a_host_port() {
    let sb = Sandbox::new();
    let front = app(
        &sb,
        "front",
        "front",
        "permissions:\n  net: [\"service://back/80\"]\n",
    );
    let back = app(&sb, "back", "back", "");
    let other = app(&sb, "other", "other", "");
    let server = serve(&sb, &[&front, &back, &other], &[]);
    let called = server.get("/fetch?url=http://back.service/hello?name=b");
    assert_eq!(called.text(), "200 Hello, b!\n", "{}", server.stderr());
    server.wait_for_line("[back] GET /hello?name=b 200");
    // Each app keeps its own grants: front may not call `other`, and back may call no one.
    let refused = server.get("/fetch?url=http://other.service/hello");
    assert!(
        refused.text().ends_with("HttpRequestDenied"),
        "{}",
        refused.text()
    );
    server.wait_for_line("add `service://other/80`");
    let nested = server.get("/fetch?url=http://back.service/fetch?url=http://other.service/hello");
    // back answers front with its own 502: back was refused.
    assert!(
        nested.text().starts_with("502 ") && nested.text().ends_with("HttpRequestDenied"),
        "{}",
        nested.text()
    );
    // One listening socket: the front's.
    assert_eq!(server.listening_sockets(), 1, "{}", server.stderr());
    assert_eq!(
        server.stderr().matches("serving ").count(),
        1,
        "{}",
        server.stderr()
    );
}

#[test]
fn a_loop_of_service_calls_is_stopped_at_the_depth_limit() {
    let sb = Sandbox::new();
    let looping = app(
        &sb,
        "echo",
        "echo",
        "permissions:\n  net: [\"service://echo/80\"]\n",
    );
    let server = serve(&sb, &[&looping], &[]);
    // echo calls itself 20 times over (the probe's /fetch takes the rest of the URL as is):
    // the 17th call is refused with loop-detected, and each app above it answers with what it got.
    let url = "/fetch?url=http://echo.service".repeat(20) + "/hello";
    let answer = server.get(&url);
    assert_eq!(answer.status, 200, "{}", server.stderr());
    assert_eq!(
        answer.text(),
        format!("{}502 ErrorCode::LoopDetected", "200 ".repeat(15)),
        "{}",
        server.stderr()
    );
    server.wait_for_line(
        "refused a request to echo.service: it would be call 17 by service name in one chain (at most 16)",
    );
    // Chains below the limit work.
    let url = "/fetch?url=http://echo.service".repeat(3) + "/hello?name=deep";
    assert_eq!(server.get(&url).text(), "200 200 200 Hello, deep!\n");
}

#[test]
fn a_manifest_lists_its_services() {
    let sb = Sandbox::new();
    let front = app(
        &sb,
        "front",
        "front",
        "permissions:\n  net: [\"back.service:*\"]\nservices:\n  - back\n",
    );
    app(&sb, "front/back", "back", "");
    let server = serve(&sb, &[&front], &[]);
    let called = server.get("/fetch?url=http://back.service:8080/hello?name=listed");
    assert_eq!(called.text(), "200 Hello, listed!\n", "{}", server.stderr());
}

#[test]
fn services_outside_the_project_are_refused() {
    let sb = Sandbox::new();
    let front = app(&sb, "front", "front", "services:\n  - ../back\n");
    app(&sb, "back", "back", "");
    let out = sb
        .command()
        .args(["run", "--listen", "127.0.0.1:0"])
        .arg(&front)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("services"), "{stderr}");

    // Nor through a symbolic link inside it that leads out.
    std::os::unix::fs::symlink("../back", sb.path("front/link")).unwrap();
    let front = app(&sb, "front", "front", "services:\n  - link\n");
    let out = sb
        .command()
        .args(["run", "--listen", "127.0.0.1:0"])
        .arg(&front)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("services: `link`"), "{stderr}");
    assert!(!stderr.contains("serving"), "{stderr}");
}

#[test]
fn sigterm_lets_the_request_in_flight_finish() {
    let sb = Sandbox::new();
    let manifest = app(&sb, "web", "web", "");
    let mut server = serve(&sb, &[&manifest], &[]);
    let addr = server.addr;
    let slow = std::thread::spawn(move || get(addr, "/sleep?ms=1500"));
    std::thread::sleep(Duration::from_millis(400));
    let status = server.stop(SIGTERM);
    let answered = slow.join().unwrap();
    assert_eq!(answered.status, 200, "{}", server.stderr());
    assert_eq!(answered.text(), "slept 1500\n");
    assert_eq!(status.code(), Some(0), "{}", server.stderr());
    assert!(
        server
            .stderr()
            .contains("stopping: 1 connection(s) finishing")
    );
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still listening"
    );
}

#[test]
fn sigint_stops_an_idle_server_at_once() {
    let sb = Sandbox::new();
    let manifest = app(&sb, "web", "web", "");
    let mut server = serve(&sb, &[&manifest], &[]);
    let t = Instant::now();
    assert_eq!(server.stop(SIGINT).code(), Some(0));
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn a_command_is_no_http_app_and_runs_alone() {
    let sb = Sandbox::new();
    let hello = rust_fixture("hello-rust", "wasm32-wasip2");
    let out = sb
        .command()
        .args(["run", "-q"])
        .arg(&hello)
        .arg(&hello)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not an HTTP app"), "{stderr}");

    // type: http on a command component: not a handler.
    let dir = sb.path("cmd");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&hello, dir.join("hello.wasm")).unwrap();
    std::fs::write(
        dir.join("app.qyv"),
        "name: cmd\nentrypoint: hello.wasm\ntype: http\n",
    )
    .unwrap();
    let out = sb.command().args(["run", "-q"]).arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("does not export wasi:http/incoming-handler"),
        "{stderr}"
    );

    // qyv build says so already, and says nothing of a real handler.
    for (name, wasm, warned) in [("cmd", hello.as_path(), true), ("web", probe(), false)] {
        let dir = sb.path(&format!("built-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(wasm, dir.join("src.wasm")).unwrap();
        std::fs::write(
            dir.join("app.qyv"),
            format!("name: {name}\nentrypoint: out.wasm\ntype: http\nbuild:\n  command: cp src.wasm built.wasm\n  output: built.wasm\n"),
        )
        .unwrap();
        let out = sb.command().arg("build").arg(&dir).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert_eq!(
            stderr.contains("warning: the manifest says type: http, but")
                && stderr.contains(
                    "does not export wasi:http/incoming-handler, so qyv run cannot serve it"
                ),
            warned,
            "{name}: {stderr}"
        );
    }
}

#[test]
fn a_client_that_never_finishes_its_headers_is_cut_off() {
    use std::io::{Read, Write};
    let sb = Sandbox::new();
    let manifest = app(&sb, "web", "web", "");
    let server = serve(&sb, &[&manifest], &[]);
    let mut slow = std::net::TcpStream::connect(server.addr).unwrap();
    slow.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(90)))
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    // The server closes the connection at its head timeout (30 s), answering nothing or 408;
    // before that, other clients are served.
    assert_eq!(server.get("/hello").status, 200);
    let read = slow.read_to_end(&mut answer);
    let took = started.elapsed();
    assert!(read.is_ok(), "{read:?} after {took:?}");
    assert!(
        took >= Duration::from_secs(25) && took < Duration::from_secs(60),
        "{took:?}"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
}

#[test]
fn a_bare_handler_component_is_served_by_what_it_exports() {
    let sb = Sandbox::new();
    let server = serve(&sb, &[probe()], &[]);
    assert_eq!(server.get("/hello?name=bare").text(), "Hello, bare!\n");
}

#[test]
fn a_command_makes_outgoing_requests_on_its_grants() {
    let sb = Sandbox::new();
    let fetch = probe().with_file_name("http_fetch.wasm");
    let (pong, pong_thread) = pong_server();
    let dir = sb.path("fetch");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&fetch, dir.join("fetch.wasm")).unwrap();
    std::fs::write(
        dir.join("app.qyv"),
        format!(
            "name: fetch\nentrypoint: fetch.wasm\npermissions:\n  net: [\"127.0.0.1:{}\"]\n",
            pong.port()
        ),
    )
    .unwrap();
    let url = format!("http://127.0.0.1:{}/", pong.port());
    let out = sb
        .command()
        .args(["run", "-q"])
        .arg(&dir)
        .args(["--", &url])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200 pong\n");
    assert_eq!(out.status.code(), Some(0));
    pong_thread.join().unwrap();

    let other = format!("http://127.0.0.1:{}/", pong.port() ^ 1);
    let out = sb
        .command()
        .args(["run", "-q"])
        .arg(&dir)
        .args(["--", &other])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("HttpRequestDenied"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("add `127.0.0.1:{}`", pong.port() ^ 1)),
        "{stderr}"
    );
}
