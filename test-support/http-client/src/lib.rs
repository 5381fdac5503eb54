//! The HTTP/1.1 client of our tests, over std sockets: the e2e suites (`tests/`) and the
//! gateway's conformance tests (`gateway/tests/`) both speak through it. One connection per
//! request (`Connection: close`), no automatic redirects, every response header kept (several
//! `Set-Cookie`), chunked bodies and their trailers read; [`Client`] adds a browser's cookie jar
//! for one site. [`Wire`] and [`Message`] are also what the gateway's test servers parse
//! requests with.
// Test code: a broken exchange should stop the test where it broke, so this crate may unwrap,
// panic and index like a test body.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod ports;

pub use ports::free_port;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::ops::Deref;
use std::time::Duration;

/// An HTTP/1.1 message: its start line, headers (names as sent), body and trailers.
#[derive(Debug, Clone, Default)]
pub struct Message {
    pub start: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub trailers: Vec<(String, String)>,
}

impl Message {
    /// The first header of that name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header of that name (any case), in order.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// A response: its status and the message (`response.header(..)`, `response.body` reach the
/// message's).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub message: Message,
}

impl Deref for Response {
    type Target = Message;

    fn deref(&self) -> &Message {
        &self.message
    }
}

/// A byte stream with a read buffer, for parsing HTTP/1.1 by hand.
pub struct Wire<S> {
    pub stream: S,
    buffer: Vec<u8>,
}

impl<S: Read + Write> Wire<S> {
    pub fn new(stream: S) -> Wire<S> {
        Wire {
            stream,
            buffer: Vec::new(),
        }
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    fn line(&mut self) -> Option<String> {
        loop {
            if let Some(at) = self.buffer.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buffer[..at]).into_owned();
                self.buffer.drain(..at + 2);
                return Some(line);
            }
            if !self.fill() {
                return None;
            }
        }
    }

    fn exact(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buffer.len() < n {
            if !self.fill() {
                return None;
            }
        }
        Some(self.buffer.drain(..n).collect())
    }

    fn rest(&mut self) -> Vec<u8> {
        while self.fill() {}
        std::mem::take(&mut self.buffer)
    }

    /// Reads one message. Without a length or chunking, its body runs to the end of the
    /// stream when `read_to_eof_without_length` (a response), else it has none (a request).
    /// `bodyless`: a response to HEAD, whose length headers describe a body never sent.
    pub fn message(&mut self, read_to_eof_without_length: bool, bodyless: bool) -> Option<Message> {
        let start = self.line()?;
        if start.is_empty() {
            return None;
        }
        let mut headers = Vec::new();
        loop {
            let line = self.line()?;
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':')?;
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        let mut message = Message {
            start,
            headers,
            body: Vec::new(),
            trailers: Vec::new(),
        };
        if bodyless {
            return Some(message);
        }
        let chunked = message
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        if chunked {
            loop {
                let size_line = self.line()?;
                let size = usize::from_str_radix(size_line.split(';').next()?.trim(), 16).ok()?;
                if size == 0 {
                    loop {
                        let line = self.line()?;
                        if line.is_empty() {
                            break;
                        }
                        if let Some((n, v)) = line.split_once(':') {
                            message
                                .trailers
                                .push((n.trim().to_string(), v.trim().to_string()));
                        }
                    }
                    break;
                }
                message.body.extend(self.exact(size)?);
                self.line()?;
            }
        } else if let Some(length) = message
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok())
        {
            message.body = self.exact(length)?;
        } else if read_to_eof_without_length {
            message.body = self.rest();
        }
        Some(message)
    }
}

/// Sends `parts` to `addr` (`host:port`), one write each, runs `after_sent` once all are
/// written, then reads one response (`bodyless`: the request was a HEAD). An answer that
/// came before the server took the whole request counts (then `after_sent` is not run).
pub fn try_exchange(
    addr: &str,
    parts: &[&[u8]],
    bodyless: bool,
    after_sent: impl FnOnce(),
) -> Result<Response, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    // A server may answer before it has read the whole request (a 413 to a body too large)
    // and close: a failed write ends the sending, and the answer is still read.
    let unsent = parts
        .iter()
        .find_map(|part| stream.write_all(part).and_then(|()| stream.flush()).err());
    if unsent.is_none() {
        after_sent();
    }
    let mut wire = Wire::new(stream);
    let head = parts
        .first()
        .map(|p| String::from_utf8_lossy(p))
        .unwrap_or_default();
    let message = wire.message(true, bodyless).ok_or_else(|| match &unsent {
        Some(e) => format!("no HTTP response from {addr} to {head:?}; sending failed: {e}"),
        None => format!("no HTTP response from {addr} to {head:?}"),
    })?;
    let _ = wire.stream.shutdown(Shutdown::Both);
    let status = message
        .start
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {:?}", message.start))?;
    Ok(Response { status, message })
}

/// A request head: `Host: addr` unless the caller gives one, `Connection: close`, the
/// caller's headers, then `framing` (a length or chunking header, or nothing).
pub fn request_head(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    framing: &str,
) -> String {
    let mut head = format!("{method} {target} HTTP/1.1\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    head.push_str("Connection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(framing);
    head.push_str("\r\n");
    head
}

/// One request on a fresh connection; panics when there is no HTTP answer.
pub fn send(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    send_then(addr, method, target, headers, body, || {})
}

/// The same, running `after_sent` once the whole request is written (e.g. letting a test
/// server answer only once the host has the request body).
pub fn send_then(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    after_sent: impl FnOnce(),
) -> Response {
    try_send_then(addr, method, target, headers, body, after_sent).unwrap_or_else(|e| panic!("{e}"))
}

/// [`send`] that says why there is no answer instead of panicking (readiness probes).
pub fn try_send(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response, String> {
    try_send_then(addr, method, target, headers, body, || {})
}

fn try_send_then(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    after_sent: impl FnOnce(),
) -> Result<Response, String> {
    // A method that may carry a body says how long it is, also when it is empty.
    let framing = if body.is_empty() && matches!(method, "GET" | "HEAD") {
        String::new()
    } else {
        format!("Content-Length: {}\r\n", body.len())
    };
    let head = request_head(addr, method, target, headers, &framing);
    try_exchange(addr, &[head.as_bytes(), body], method == "HEAD", after_sent)
}

/// A POST whose body is sent chunked, one write per chunk, running `after_sent` once the
/// whole request is written.
pub fn send_chunked_then(
    addr: &str,
    target: &str,
    headers: &[(&str, &str)],
    chunks: &[&[u8]],
    after_sent: impl FnOnce(),
) -> Response {
    let head = request_head(
        addr,
        "POST",
        target,
        headers,
        "Transfer-Encoding: chunked\r\n",
    );
    let mut parts: Vec<Vec<u8>> = vec![head.into_bytes()];
    parts.extend(
        chunks
            .iter()
            .map(|c| [format!("{:x}\r\n", c.len()).as_bytes(), c, b"\r\n"].concat()),
    );
    parts.push(b"0\r\n\r\n".to_vec());
    let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    try_exchange(addr, &parts, false, after_sent).unwrap_or_else(|e| panic!("{e}"))
}

/// Sends bytes exactly as given (a request the functions above cannot write, e.g. with
/// trailers or a malformed head) and reads the answer; the request should say
/// `Connection: close` when the answer has no length.
pub fn send_raw(addr: &str, request: &[u8]) -> Response {
    try_exchange(addr, &[request], false, || {}).unwrap_or_else(|e| panic!("{e}"))
}

/// A browser-like client for one site: keeps cookies from `Set-Cookie` (expiring ones remove).
#[derive(Debug, Default, Clone)]
pub struct Client {
    pub addr: String,
    pub cookies: BTreeMap<String, String>,
}

impl Client {
    pub fn new(addr: &str) -> Client {
        Client {
            addr: addr.to_string(),
            cookies: BTreeMap::new(),
        }
    }

    pub fn cookie_header(&self) -> Option<String> {
        (!self.cookies.is_empty()).then(|| {
            self.cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    pub fn request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        // One Cookie line, as a browser sends (RFC 6265 5.4): the jar's cookies after any the
        // caller gave. (Kong's engine can strip the session cookie from the first Cookie line
        // only; see docs/security.md.)
        let given: Vec<&str> = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
            .map(|(_, v)| *v)
            .collect();
        let cookie = match (given.is_empty(), self.cookie_header()) {
            (true, jar) => jar,
            (false, None) => Some(given.join("; ")),
            (false, Some(jar)) => Some(format!("{}; {jar}", given.join("; "))),
        };
        let mut all: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("cookie"))
            .copied()
            .collect();
        if let Some(cookie) = cookie.as_deref() {
            all.push(("Cookie", cookie));
        }
        let response = send(&self.addr, method, target, &all, body);
        self.store(&response);
        response
    }

    pub fn get(&mut self, target: &str) -> Response {
        self.request("GET", target, &[], b"")
    }

    pub fn store(&mut self, response: &Response) {
        for set_cookie in response.headers_named("set-cookie") {
            let mut parts = set_cookie.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let expired = parts.any(|a| {
                let a = a.trim().to_ascii_lowercase();
                a == "max-age=0" || a.starts_with("expires=thu, 01 jan 1970")
            });
            if expired || value.is_empty() {
                self.cookies.remove(name.trim());
            } else {
                self.cookies
                    .insert(name.trim().to_string(), value.trim().to_string());
            }
        }
    }
}

/// `Authorization: Basic` for a user and password.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// Polls `condition` every 20 ms until it holds (`true`) or `limit` has passed (`false`): how the
/// tests wait for a server, a log line or a state, never for a fixed time.
pub fn wait_until(limit: std::time::Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
