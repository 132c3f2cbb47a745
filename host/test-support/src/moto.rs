//! A moto server (PyPI `moto[server]`) on 127.0.0.1, one per test so recordings and state do
//! not mix between tests running in parallel.
//!
//! The first test that starts one installs the moto version `tests/tools/moto.txt` pins into a
//! virtual environment under `target/` (once; later runs reuse it). Only when Python itself is
//! missing do the tests skip, saying so; with `CI` set that is a failure. A failed install
//! fails the test, naming the command.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_config::{Region, SdkConfig};
use aws_sdk_s3::config::Credentials;
use clickrules_guest_build::{ProvisionError, in_ci, python_tool, shout};

/// moto's default account.
pub const ACCOUNT: &str = "123456789012";
/// The region the SDK clients and the binaries under test are given.
pub const REGION: &str = "us-east-1";
const STARTUP: Duration = Duration::from_secs(30);

/// `moto_server` at the pinned version, installed on first use (once per process; across
/// processes the install's stamp and lock make it once per lockfile change).
fn moto_server() -> Result<PathBuf, ProvisionError> {
    static SERVER: OnceLock<Result<PathBuf, ProvisionError>> = OnceLock::new();
    let requirements = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/tools/moto.txt");
    SERVER
        .get_or_init(|| python_tool(&requirements, "moto_server"))
        .clone()
}

/// The smallest valid zip (an end-of-central-directory record): code for functions moto stores
/// and never runs.
const EMPTY_ZIP: [u8; 22] = [
    b'P', b'K', 5, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// A running moto server, stopped when dropped.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Moto {
    /// Starts moto, or returns `None` (after saying why) when it is not installed and `CI` is
    /// not set.
    pub fn start(test: &str) -> Option<Self> {
        let server = match moto_server() {
            Ok(server) => server,
            Err(why @ ProvisionError::RuntimeMissing { .. }) if !in_ci() => {
                shout(&format!(
                    "SKIPPED {test}: these tests need the moto AWS emulator, which needs Python: \
                     {why}. With CI set they fail instead."
                ));
                return None;
            }
            Err(why) => panic!("{test}: cannot install the moto AWS emulator: {why}"),
        };
        // A second try covers losing a port to another process between choosing and binding it.
        match Self::try_start(&server).or_else(|_| Self::try_start(&server)) {
            Ok(moto) => Some(moto),
            Err(why) => panic!("{test}: the moto AWS emulator could not start: {why}"),
        }
    }

    fn try_start(server: &Path) -> Result<Self, String> {
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let dir =
            std::env::temp_dir().join(format!("clickrules-moto-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        // Once `Moto` exists its `Drop` cleans up; before that, a failure must remove the folder.
        let spawned = std::fs::File::create(dir.join("moto.log"))
            .and_then(|log| Ok((log.try_clone()?, log)))
            .map_err(|e| e.to_string())
            .and_then(|(stdout, stderr)| {
                Command::new(server)
                    .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                    .current_dir(&dir)
                    .env("MOTO_RECORDER_FILEPATH", dir.join("recording.jsonl"))
                    .stdin(Stdio::null())
                    .stdout(stdout)
                    .stderr(stderr)
                    .spawn()
                    .map_err(|e| format!("`moto_server` could not be run: {e}"))
            });
        let child = match spawned {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let mut moto = Self { child, port, dir };
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                let log = std::fs::read_to_string(moto.dir.join("moto.log")).unwrap_or_default();
                return Err(format!("`moto_server` exited ({status}): {}", log.trim()));
            }
            if moto
                .try_request("GET", "/moto-api/data.json", "", &[])
                .is_ok()
            {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("`moto_server` did not answer within {STARTUP:?}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // A server that lost the race for the port exits; do not use someone else's.
        std::thread::sleep(Duration::from_millis(200));
        if let Ok(Some(status)) = moto.child.try_wait() {
            let log = std::fs::read_to_string(moto.dir.join("moto.log")).unwrap_or_default();
            return Err(format!("`moto_server` exited ({status}): {}", log.trim()));
        }
        // Invoke answers from moto itself instead of starting a Docker container.
        let (status, body) = moto.request(
            "POST",
            "/moto-api/config",
            r#"{"lambda":{"use_docker":false}}"#,
            &[],
        );
        assert!(
            (200..300).contains(&status),
            "configure moto ({status}): {body}"
        );
        Ok(moto)
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An SDK configuration pointing at this server, with dummy credentials.
    pub async fn sdk_config(&self) -> SdkConfig {
        clickrules_aws::config_loader()
            .region(Region::new(REGION))
            .endpoint_url(self.endpoint())
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .load()
            .await
    }

    /// One HTTP/1.0 request (so the answer is never chunked); panics on a connection error.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> (u16, String) {
        self.try_request(method, path, body, headers)
            .unwrap_or_else(|e| panic!("{method} {path} to moto: {e}"))
    }

    fn try_request(
        &self,
        method: &str,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut request = format!(
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.port,
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes())?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        let response = String::from_utf8_lossy(&response).into_owned();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok((status, body.to_string()))
    }

    /// A deployed clickrules function named `name` with these environment variables, as the
    /// CLI's `--function` reads them (its settings); 512 MB. moto stores it and never runs it.
    pub async fn clickrules_function(
        &self,
        lambda: &aws_sdk_lambda::Client,
        name: &str,
        variables: &[(&str, &str)],
    ) {
        use aws_sdk_lambda::primitives::Blob;
        use aws_sdk_lambda::types::{Environment, FunctionCode, Runtime};
        let role = self.create_role(&format!("{name}-role"));
        let mut environment = Environment::builder();
        for (key, value) in variables {
            environment = environment.variables(*key, *value);
        }
        lambda
            .create_function()
            .function_name(name)
            .runtime(Runtime::Python312)
            .role(role)
            .handler("index.handler")
            .memory_size(512)
            .environment(environment.build())
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(EMPTY_ZIP.to_vec()))
                    .build(),
            )
            .send()
            .await
            .expect("create function");
    }

    /// The snapshot function a deployment invokes (`name`), published with a `prod` alias as
    /// the original deployment's was. moto stores the code but, with Docker off, never runs it.
    pub async fn snapshot_function(&self, lambda: &aws_sdk_lambda::Client, name: &str) {
        use aws_sdk_lambda::primitives::Blob;
        use aws_sdk_lambda::types::{FunctionCode, Runtime};
        let role = self.create_role("clickrules-snapshot");
        lambda
            .create_function()
            .function_name(name)
            .runtime(Runtime::Python312)
            .role(role)
            .handler("index.handler")
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(EMPTY_ZIP.to_vec()))
                    .build(),
            )
            .send()
            .await
            .expect("create function");
        let version = lambda
            .publish_version()
            .function_name(name)
            .send()
            .await
            .expect("publish version");
        lambda
            .create_alias()
            .function_name(name)
            .name("prod")
            .function_version(version.version().unwrap_or("1"))
            .send()
            .await
            .expect("create alias");
    }

    /// Creates an IAM role Lambda functions can name. IAM's query API, signed with a dummy
    /// signature that moto does not check, saves a dependency on the IAM SDK.
    pub fn create_role(&self, name: &str) -> String {
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let body = format!(
            "Action=CreateRole&Version=2010-05-08&RoleName={}&AssumeRolePolicyDocument={}",
            percent_encode(name),
            percent_encode(policy)
        );
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/iam/aws4_request, \
             SignedHeaders=host, Signature=0"
        );
        let (status, answer) = self.request(
            "POST",
            "/",
            &body,
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Authorization", &auth),
            ],
        );
        assert_eq!(status, 200, "CreateRole: {answer}");
        format!("arn:aws:iam::{ACCOUNT}:role/{name}")
    }

    /// Starts recording every request from now on, forgetting earlier ones.
    pub fn start_recording(&self) {
        let (status, body) = self.request("POST", "/moto-api/recorder/reset-recording", "", &[]);
        assert!(status < 300, "reset-recording: {body}");
        let (status, body) = self.request("POST", "/moto-api/recorder/start-recording", "", &[]);
        assert!(status < 300, "start-recording: {body}");
    }

    /// Stops recording and returns what was recorded.
    pub fn stop_recording(&self) -> Vec<Recorded> {
        let (status, body) = self.request("POST", "/moto-api/recorder/stop-recording", "", &[]);
        assert!(status < 300, "stop-recording: {body}");
        let (status, body) = self.request("GET", "/moto-api/recorder/download-recording", "", &[]);
        assert!(status < 300, "download-recording: {body}");
        body.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let entry: serde_json::Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("recording line {line}: {e}"));
                Recorded::from_json(&entry)
            })
            .collect()
    }
}

impl Moto {
    /// Stops the server (only the one this test started), e.g. to make S3 unreachable.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One request moto recorded.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Query parameters, decoded.
    pub query: Vec<(String, String)>,
    /// Headers (name, value), as recorded.
    pub headers: Vec<(String, String)>,
    /// The request body, decoded when moto recorded it base64-encoded.
    pub body: Vec<u8>,
}

impl Recorded {
    fn from_json(entry: &serde_json::Value) -> Self {
        let url = entry["url"].as_str().unwrap_or_default();
        let after_host = url.split_once("://").map_or(url, |(_, rest)| rest);
        let path_and_query = after_host.find('/').map_or("/", |i| &after_host[i..]);
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let query = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        let headers = entry["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let raw = entry["body"].as_str().unwrap_or_default();
        let body = if entry["body_encoded"].as_bool() == Some(true) {
            base64_decode(raw)
        } else {
            raw.as_bytes().to_vec()
        };
        Self {
            method: entry["method"].as_str().unwrap_or_default().to_string(),
            path: percent_decode(path),
            query,
            headers,
            body,
        }
    }

    /// A header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// For a Lambda `Invoke`, the function it names.
    pub fn invoked_function(&self) -> Option<&str> {
        let rest = self.path.strip_prefix("/2015-03-31/functions/")?;
        let function = rest.strip_suffix("/invocations")?;
        (self.method == "POST").then_some(function)
    }
}

/// The `Invoke` calls in a recording.
pub fn invocations(recording: &[Recorded]) -> Vec<&Recorded> {
    recording
        .iter()
        .filter(|r| r.invoked_function().is_some())
        .collect()
}

/// A port nothing listens on, never one handed to another test in this process: the OS may
/// return a just-released port again, and two servers racing for it would make two tests
/// share one emulator.
fn free_port() -> std::io::Result<u16> {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        let port = TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port();
        if handed_out.insert(port) {
            return Ok(port);
        }
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        let value = ALPHABET
            .iter()
            .position(|a| *a == c)
            .unwrap_or_else(|| panic!("not base64: {c}")) as u32;
        buffer = (buffer << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{base64_decode, percent_decode, percent_encode};

    #[test]
    fn decoders_work() {
        assert_eq!(
            base64_decode("eyJyZWdpb24iOiJ1cy13ZXN0LTEifQ=="),
            br#"{"region":"us-west-1"}"#
        );
        assert_eq!(percent_decode("a%3Ab+c"), "a:b c");
        assert_eq!(percent_encode("{\"a\": 1}"), "%7B%22a%22%3A%201%7D");
    }
}
