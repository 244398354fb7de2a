//! A plain HTTP/1.1 client over std's `TcpStream`, `qyv run` of an HTTP app as a child
//! process to point it at (its address read from the line it prints, its stderr kept), and the
//! checks every handler template must pass.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// A running `qyv run` of an HTTP app.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `cmd` (a `qyv run` with `--listen 127.0.0.1:0`) and waits until it says where it
    /// serves (compiling may take a while on a cold cache).
    pub fn start(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting qyv run");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(addr) = line
                        .split("serving ")
                        .nth(1)
                        .and_then(|rest| rest.split(" on http://").nth(1))
                        .and_then(|rest| rest.split('/').next())
                        .and_then(|a| a.parse::<SocketAddr>().ok())
                    {
                        let _ = tx.send(addr);
                    }
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let addr = match rx.recv_timeout(Duration::from_secs(300)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "qyv run did not start serving; stderr:\n{}",
                    lines.lock().unwrap().join("\n")
                );
            }
        };
        Server {
            child,
            addr,
            stderr: lines,
        }
    }

    /// Its stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Waits (up to 10 s) until stderr has a line containing `text`.
    pub fn wait_for_line(&self, text: &str) -> String {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(line) = self
                .stderr
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(text))
            {
                return line.clone();
            }
            assert!(
                Instant::now() < until,
                "no line with {text:?} on stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn get(&self, path: &str) -> Response {
        get(self.addr, path)
    }

    pub fn post(&self, path: &str, body: &[u8]) -> Response {
        post(self.addr, path, body)
    }

    /// Sends `signal` and waits (up to 60 s) for the exit.
    pub fn stop(&mut self, signal: i32) -> ExitStatus {
        // SAFETY: kill(2) on our own child.
        unsafe { libc_kill(self.child.id() as i32, signal) };
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < until,
                "qyv did not stop:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The TCP sockets the server process listens on (from /proc: its descriptors' socket
    /// inodes among the listening entries of /proc/net/tcp and tcp6).
    pub fn listening_sockets(&self) -> usize {
        let pid = self.child.id();
        let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter_map(|t| {
                let t = t.to_string_lossy().to_string();
                t.strip_prefix("socket:[")?
                    .strip_suffix(']')
                    .map(str::to_string)
            })
            .collect();
        ["/proc/net/tcp", "/proc/net/tcp6"]
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .flat_map(|t| t.lines().skip(1).map(str::to_string).collect::<Vec<_>>())
            .filter(|line| {
                let cols: Vec<&str> = line.split_whitespace().collect();
                cols.get(3) == Some(&"0A")
                    && cols.get(9).is_some_and(|i| inodes.iter().any(|n| n == i))
            })
            .count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, signal: i32) -> i32;
}

pub const SIGINT: i32 = 2;
pub const SIGTERM: i32 = 15;

/// What every `qyv new --template http` handler does: `GET /hello?name=x`, `POST /echo` of
/// 1 MiB streamed back intact, 404 otherwise.
pub fn check_template_handler(server: &Server) {
    let addr = server.addr;
    let hello = get(addr, "/hello?name=x");
    assert_eq!(hello.status, 200, "{hello:?}\n{}", server.stderr());
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
    assert_eq!(echo.status, 200, "{}", server.stderr());
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
