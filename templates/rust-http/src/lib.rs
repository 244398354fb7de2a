//! {{name}}: an HTTP handler for the `wasi:http/proxy` world. The host calls `handle` once
//! per request, with a fresh instance each time.
//!
//! - `GET /hello?name=x` answers `Hello, x!`
//! - `POST /echo` streams the request body back
//! - anything else is 404

use std::io::Write;

use wasi::exports::http::incoming_handler::Guest;
use wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse,
    ResponseOutparam,
};

struct Handler;

wasi::http::proxy::export!(Handler);

impl Guest for Handler {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path_with_query = request.path_with_query().unwrap_or_default();
        let (path, query) = path_with_query
            .split_once('?')
            .unwrap_or((path_with_query.as_str(), ""));
        match (request.method(), path) {
            (Method::Get, "/hello") => {
                let name = query_param(query, "name").unwrap_or_else(|| "world".into());
                respond(response_out, 200, format!("Hello, {name}!\n").as_bytes());
            }
            (Method::Post, "/echo") => echo(request, response_out),
            _ => respond(response_out, 404, b"not found\n"),
        }
    }
}

/// Sends a whole text response.
fn respond(response_out: ResponseOutparam, status: u16, body: &[u8]) {
    let (response, outgoing) = text_response(status);
    ResponseOutparam::set(response_out, Ok(response));
    let mut stream = outgoing.write().expect("the body's stream is taken once");
    // A client that went away is no error of the handler's.
    let _ = stream.write_all(body).and_then(|()| Write::flush(&mut stream));
    drop(stream);
    let _ = OutgoingBody::finish(outgoing, None);
}

/// Copies the request body to the response as it arrives, so that a body of any size
/// passes through in constant memory.
fn echo(request: IncomingRequest, response_out: ResponseOutparam) {
    let incoming = request.consume().expect("the body is consumed once");
    let mut input = incoming.stream().expect("the body's stream is taken once");
    let (response, outgoing) = text_response(200);
    ResponseOutparam::set(response_out, Ok(response));
    let mut output = outgoing.write().expect("the body's stream is taken once");
    // std::io::copy moves a buffer at a time; a client that went away ends the copy.
    let _ = std::io::copy(&mut input, &mut output).and_then(|_| Write::flush(&mut output));
    drop(output);
    drop(input);
    IncomingBody::finish(incoming);
    let _ = OutgoingBody::finish(outgoing, None);
}

/// A response with a text content type, and its body to write.
fn text_response(status: u16) -> (OutgoingResponse, OutgoingBody) {
    let headers = Fields::from_list(&[(
        "content-type".to_string(),
        b"text/plain; charset=utf-8".to_vec(),
    )])
    .expect("a valid header");
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).expect("a valid status");
    let body = response.body().expect("the body is taken once");
    (response, body)
}

/// The value of `key` in a query string, percent-decoded (`+` is a space, as forms send it).
fn query_param(query: &str, key: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| percent_decode(k) == key)
        .map(|(_, v)| percent_decode(v))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|b| (*b as char).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
