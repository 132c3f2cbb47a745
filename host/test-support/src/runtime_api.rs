//! A stand-in for the Lambda Runtime API, as much of it as the runtime client uses: `next`,
//! `response`, `error`. `next` blocks while no event is queued, as the real one does. Used by
//! the Lambda's end-to-end test (`host/lambda/tests/runtime_api.rs`) and memory bench
//! (`host/lambda/benches/rss.rs`).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The Lambda binary `binary` as Lambda starts it, with a clean environment: the runtime
/// API at `port`, the function's variables (128 MB), test credentials, AWS at `endpoint`, and
/// `home`. stdout and stderr are piped; callers add the `CLICKRULES_*` settings.
pub fn lambda_command(binary: &str, port: u16, endpoint: &str, home: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("HOME", home)
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "clickrules")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", crate::moto::REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", endpoint)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// How long [`RuntimeApi::replies`] waits.
pub const WAIT: Duration = Duration::from_secs(60);

/// What the function posted back for one request.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The request id the reply's path names.
    pub request_id: String,
    /// `response` or `error`.
    pub kind: String,
    /// The posted JSON (`null` when it was not JSON).
    pub body: serde_json::Value,
    /// When it arrived.
    pub at: Instant,
}

#[derive(Debug, Default)]
struct State {
    events: VecDeque<(String, Vec<u8>)>,
    replies: Vec<Reply>,
}

/// The Runtime API on 127.0.0.1:`port`, handing out queued events in order.
#[derive(Debug)]
pub struct RuntimeApi {
    /// The port, for `AWS_LAMBDA_RUNTIME_API=127.0.0.1:PORT`.
    pub port: u16,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl RuntimeApi {
    /// Serves `events` (request id, body), then blocks `next` until more are pushed.
    pub fn start(events: Vec<(&str, Vec<u8>)>) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind runtime api");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        let api = Self { port, state };
        api.push(events.into_iter().map(|(id, body)| (id.to_string(), body)));
        api
    }

    /// Queues more events (request id, body), waking a blocked `next`.
    pub fn push(&self, events: impl IntoIterator<Item = (String, Vec<u8>)>) {
        let (lock, changed) = &*self.state;
        lock.lock().unwrap().events.extend(events);
        changed.notify_all();
    }

    /// Replies received so far.
    pub fn reply_count(&self) -> usize {
        self.state.0.lock().unwrap().replies.len()
    }

    /// Waits until `count` replies arrived, up to [`WAIT`].
    pub fn replies(&self, count: usize) -> Vec<Reply> {
        self.replies_within(count, WAIT)
    }

    /// Waits until `count` replies arrived, up to `wait`; panics listing them if not.
    pub fn replies_within(&self, count: usize, wait: Duration) -> Vec<Reply> {
        let (lock, changed) = &*self.state;
        let deadline = Instant::now() + wait;
        let mut state = lock.lock().unwrap();
        while state.replies.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "only {} replies: {:?}",
                state.replies.len(),
                state.replies
            );
            state = changed.wait_timeout(state, left).unwrap().0;
        }
        state.replies.clone()
    }
}

fn serve(stream: TcpStream, state: &(Mutex<State>, Condvar)) {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let mut stream = reader.into_inner();
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let (lock, changed) = state;

    if path.ends_with("/runtime/invocation/next") {
        let mut guard = lock.lock().unwrap();
        let (id, event) = loop {
            if let Some(next) = guard.events.pop_front() {
                break next;
            }
            guard = changed.wait(guard).unwrap();
        };
        drop(guard);
        let deadline = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis()
            + 60_000;
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Lambda-Runtime-Aws-Request-Id: {id}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\n\
             Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:clickrules\r\n\
             Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\n\
             Connection: close\r\n\r\n",
            event.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(&event);
        return;
    }
    // .../invocation/{id}/response or .../invocation/{id}/error
    let mut parts = path.rsplit('/');
    let kind = parts.next().unwrap_or_default().to_string();
    let request_id = parts.next().unwrap_or_default().to_string();
    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    lock.lock().unwrap().replies.push(Reply {
        request_id,
        kind,
        body,
        at: Instant::now(),
    });
    changed.notify_all();
    let _ = stream.write_all(
        b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 16\r\nConnection: close\r\n\r\n{\"status\":\"OK\"}\n",
    );
}
