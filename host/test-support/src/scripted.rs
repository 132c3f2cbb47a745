//! A fault-injecting HTTP server standing in for one AWS API: it answers requests from a script
//! (the last reply repeats) and records every request it read, including those it never
//! answers, so a test can count the SDK's attempts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How to answer one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// An HTTP response.
    Respond {
        /// The status code.
        status: u16,
        /// Headers (name, value); `Content-Length` and `Connection: close` are added.
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
    /// Read the request, then say nothing and keep the connection open: a hung service.
    Hang,
    /// A response framed as given rather than by its body: `length` is the `Content-Length`
    /// sent whatever the body's size (shorter: a truncated body; the connection then closes),
    /// or `None` for chunked transfer encoding, which announces no length at all.
    Framed {
        /// The status code.
        status: u16,
        /// Headers (name, value); the framing header and `Connection: close` are added.
        headers: Vec<(String, String)>,
        /// The body sent, whatever `length` announces.
        body: Vec<u8>,
        /// The `Content-Length` announced, or `None` for chunked transfer encoding.
        length: Option<u64>,
    },
}

impl Reply {
    /// A response with these headers and body.
    pub fn new(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Self {
        Self::Respond {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.into(),
        }
    }

    /// A response announcing `length` bytes (`None`: chunked) and sending `body`.
    pub fn framed(
        status: u16,
        headers: &[(&str, &str)],
        body: impl Into<Vec<u8>>,
        length: Option<u64>,
    ) -> Self {
        Self::Framed {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.into(),
            length,
        }
    }
}

/// One request as the server read it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The HTTP method.
    pub method: String,
    /// The request target: path and query, as sent.
    pub path: String,
    /// Headers (name, value), trimmed, in the order sent.
    pub headers: Vec<(String, String)>,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
}

impl Request {
    /// A header's value (names compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Serves a script on 127.0.0.1 until the test process ends.
#[derive(Debug)]
pub struct ScriptedServer {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl ScriptedServer {
    /// Answers the n-th request with `script[n]`, and every request after the script with its
    /// last reply.
    pub fn start(script: Vec<Reply>) -> Self {
        assert!(!script.is_empty(), "a script needs at least one reply");
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind scripted server");
        let port = listener
            .local_addr()
            .expect("scripted server address")
            .port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        let script = Arc::new(script);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = Arc::clone(&log);
                let script = Arc::clone(&script);
                // One thread per connection, so a hung answer does not block the next attempt.
                std::thread::spawn(move || {
                    let _ = serve(stream, &log, &script);
                });
            }
        });
        Self { port, requests }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request read so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many requests were read so far.
    pub fn count(&self) -> usize {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Reads one request, records it, and answers with the reply the script has for it.
fn serve(stream: TcpStream, log: &Mutex<Vec<Request>>, script: &[Reply]) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut start = String::new();
    if reader.read_line(&mut start)? == 0 {
        return Ok(());
    }
    let mut parts = start.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let (name, value) = (name.trim().to_string(), value.trim().to_string());
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().unwrap_or(0);
            }
            headers.push((name, value));
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let reply = {
        let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
        let reply = script[log.len().min(script.len() - 1)].clone();
        log.push(Request {
            method,
            path,
            headers,
            body,
        });
        reply
    };
    let mut stream = reader.into_inner();
    match reply {
        Reply::Hang => {
            // Longer than any client timeout under test; the connection stays open meanwhile.
            std::thread::sleep(Duration::from_secs(300));
            Ok(())
        }
        Reply::Respond {
            status,
            headers,
            body,
        } => {
            let mut head = format!(
                "HTTP/1.1 {status} Scripted\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            stream.write_all(head.as_bytes())?;
            stream.write_all(&body)?;
            stream.flush()
        }
        Reply::Framed {
            status,
            headers,
            body,
            length,
        } => {
            let mut head = format!("HTTP/1.1 {status} Scripted\r\nConnection: close\r\n");
            match length {
                Some(length) => head.push_str(&format!("Content-Length: {length}\r\n")),
                None => head.push_str("Transfer-Encoding: chunked\r\n"),
            }
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            stream.write_all(head.as_bytes())?;
            match length {
                Some(_) => stream.write_all(&body)?,
                None => {
                    // Chunks of 16 KiB, so even a small guest arrives in several.
                    for chunk in body.chunks(16 << 10) {
                        stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
                        stream.write_all(chunk)?;
                        stream.write_all(b"\r\n")?;
                    }
                    stream.write_all(b"0\r\n\r\n")?;
                }
            }
            stream.flush()
        }
    }
}
