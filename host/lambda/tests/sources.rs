//! The button sources through the real `bootstrap`: the webhook function (`CLICKRULES_ENTRY=
//! webhook`) answering Function URL requests authenticated with a secret or key it reads from
//! SSM (moto), and the events function reading Shelly, Zigbee2MQTT and misrouted HTTPS events.
//!
//! The generic webhook's HMAC is computed here (a small SHA-256/HMAC below, checked against
//! the signed fixture of `host/webhooks`), since this crate does not depend on the webhooks
//! crate or a crypto library. The Flic tokens are pre-signed with the fixtures' test key.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clickrules_test_support::moto::{self, Moto, Recorded};
use clickrules_test_support::runtime_api::{self, Reply, RuntimeApi};
use clickrules_test_support::{World, invocations};
use clickrules_webhooks::webhook_signature;
use serde_json::{Value, json};

const BOOTSTRAP: &str = env!("CARGO_BIN_EXE_bootstrap");
const SECRET_PARAMETER: &str = "/clickrules/webhook-secret";
const SECRET: &str = "s3cret-for-the-sources-tests-0123456789";
const FLIC_KEY_PARAMETER: &str = "/clickrules/flic-key";
/// The button of `host/webhooks/fixtures/function-url-flic.json`.
const FIXTURE_UUID: &str = "c0ffee00c0ffee00c0ffee00c0ffee00";
/// Another button's token, ES256-signed with `host/webhooks/fixtures/test-flic-key.pem`:
/// `buttonUuid` `deadbeefdeadbeefdeadbeefdeadbeef`, `buttonSerialNumber` `BC44-T00002`,
/// `clickType` `double_click`, `exp` 4102444800 (2100-01-01). Made with Python's
/// `cryptography` (sign `header.payload` with ECDSA/SHA-256, r‖s base64url).
const OTHER_UUID: &str = "deadbeefdeadbeefdeadbeefdeadbeef";
const OTHER_TOKEN: &str = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJidXR0b25CYXR0ZXJ5U3RhdHVzIjoiaGlnaCIsImJ1dHRvbk5hbWUiOiJPdGhlciBidXR0b24iLCJidXR0b25TZXJpYWxOdW1iZXIiOiJCQzQ0LVQwMDAwMiIsImJ1dHRvblV1aWQiOiJkZWFkYmVlZmRlYWRiZWVmZGVhZGJlZWZkZWFkYmVlZiIsImNsaWNrVHlwZSI6ImRvdWJsZV9jbGljayIsImV4cCI6NDEwMjQ0NDgwMCwicHJlc3NlZEF0IjoiMjAyNi0wMS0wMVQwMTowMDowMCswMTowMCJ9.P2i_J1CoUKTyGAlz9a3u4DSmr-aVZMERolaqKyIEWYA2LbVXSDsFHvM7HRYS2QH2NbpXHqg1JLxZN0hSaNHqZg";
/// How long a bootstrap may take to answer its events (a debug build compiles the guest).
const REPLIES_WITHIN: Duration = Duration::from_secs(180);

// ---------------------------------------------------------------------------------------------
// The function under test
// ---------------------------------------------------------------------------------------------

/// One `bootstrap` process against a Runtime API stand-in, its stdout read as it is written.
struct Function {
    api: RuntimeApi,
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
    home: PathBuf,
}

impl Function {
    /// Starts the bootstrap with a clean environment (the Lambda variables, moto at
    /// `endpoint`, and `extra`), serving `events` in order.
    fn start(
        endpoint: &str,
        name: &str,
        extra: &[(&str, &str)],
        events: Vec<(&str, Vec<u8>)>,
    ) -> Self {
        let home =
            std::env::temp_dir().join(format!("clickrules-sources-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&home).unwrap();
        let api = RuntimeApi::start(events);
        let mut command = runtime_api::lambda_command(BOOTSTRAP, api.port, endpoint, &home);
        command.stderr(Stdio::null()).envs(extra.iter().copied());
        let mut child = command.spawn().expect("start bootstrap");
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self {
            api,
            child,
            lines,
            reader: Some(reader),
            home,
        }
    }

    /// Waits until the function logged its `ready` line (init is over); panics if it did not.
    fn wait_ready(&self) {
        let deadline = Instant::now() + REPLIES_WITHIN;
        while Instant::now() < deadline {
            if self.logged().iter().any(|l| l["message"] == "ready") {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the function never became ready: {}", self.text());
    }

    fn push(&self, events: Vec<(&str, Vec<u8>)>) {
        self.api
            .push(events.into_iter().map(|(id, e)| (id.to_string(), e)));
    }

    /// Waits for `count` replies in all.
    fn replies(&self, count: usize) -> Vec<Reply> {
        self.api.replies_within(count, REPLIES_WITHIN)
    }

    /// Its stdout so far, each line read as JSON (lines that are not JSON are left out).
    fn logged(&self) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Stops the function and returns everything it logged.
    fn stop(mut self) -> Logs {
        self.kill();
        Logs {
            lines: self.logged(),
            text: self.text(),
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What a stopped function logged.
struct Logs {
    lines: Vec<Value>,
    text: String,
}

impl Logs {
    /// The records logged for one request id, in order (a frame with two presses has two).
    fn records(&self, request_id: &str) -> Vec<&Value> {
        self.lines
            .iter()
            .filter(|l| l.get("record").is_some() && l["request_id"] == request_id)
            .map(|l| &l["record"])
            .collect()
    }

    /// The one record of a request id.
    fn record(&self, request_id: &str) -> &Value {
        match self.records(request_id).as_slice() {
            [one] => one,
            other => panic!(
                "{} records for {request_id}: {other:?}\n{}",
                other.len(),
                self.text
            ),
        }
    }
}

/// One run: starts the function, serves `events`, waits for every reply, stops it.
fn run(
    endpoint: &str,
    name: &str,
    extra: &[(&str, &str)],
    events: Vec<(&str, Vec<u8>)>,
) -> (Vec<Reply>, Logs) {
    let count = events.len();
    let function = Function::start(endpoint, name, extra, events);
    let replies = function.replies(count);
    (replies, function.stop())
}

fn reply<'a>(replies: &'a [Reply], request_id: &str) -> &'a Reply {
    replies
        .iter()
        .find(|r| r.request_id == request_id)
        .unwrap_or_else(|| panic!("no reply for {request_id}: {replies:?}"))
}

/// A Function URL response read back: (status, parsed body), after checking it is one.
fn http_answer(reply: &Reply, logs: &Logs) -> (i64, Value) {
    assert_eq!(
        reply.kind, "response",
        "the webhook function never fails an invocation: {reply:?}\n{}",
        logs.text
    );
    let status = reply.body["statusCode"]
        .as_i64()
        .unwrap_or_else(|| panic!("no statusCode: {reply:?}"));
    assert_eq!(
        reply.body["headers"]["content-type"], "application/json",
        "{reply:?}"
    );
    let body = reply.body["body"]
        .as_str()
        .unwrap_or_else(|| panic!("no body: {reply:?}"));
    (status, serde_json::from_str(body).unwrap())
}

// ---------------------------------------------------------------------------------------------
// AWS resources on moto
// ---------------------------------------------------------------------------------------------

/// A SecureString parameter, through SSM's JSON protocol (this crate has no SSM client).
fn put_parameter(moto: &Moto, name: &str, value: &str) {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=testing/20260101/{}/ssm/aws4_request, \
         SignedHeaders=host, Signature=0",
        moto::REGION
    );
    let body = json!({"Name": name, "Value": value, "Type": "SecureString"}).to_string();
    let (status, answer) = moto.request(
        "POST",
        "/",
        &body,
        &[
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", "AmazonSSM.PutParameter"),
            ("Authorization", &auth),
        ],
    );
    assert_eq!(status, 200, "PutParameter {name}: {answer}");
}

/// The SSM `GetParameter` requests in a recording.
fn parameter_reads(recording: &[Recorded]) -> Vec<&Recorded> {
    recording
        .iter()
        .filter(|r| r.header("X-Amz-Target") == Some("AmazonSSM.GetParameter"))
        .collect()
}

/// moto with the snapshot function and the webhook secret in SSM, or `None` when skipped.
async fn webhook_world(test: &str) -> Option<World> {
    let world = World::start(test).await?;
    world.snapshot_function("scheduled_snapshot").await;
    put_parameter(&world.moto, SECRET_PARAMETER, SECRET);
    Some(world)
}

fn webhook_settings() -> Vec<(&'static str, &'static str)> {
    vec![
        ("CLICKRULES_ENTRY", "webhook"),
        (
            "CLICKRULES_WEBHOOK_SECRET",
            "ssm:/clickrules/webhook-secret",
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn webhooks_fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../webhooks/fixtures")
}

fn sources_fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/sources")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn webhooks_fixture(name: &str) -> String {
    let path = webhooks_fixtures().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A Lambda Function URL event (payload format 2.0) as AWS delivers it.
fn http_event(method: &str, path: &str, headers: Value, body: &str) -> Vec<u8> {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghijklmnopqrstuvwxyz012345",
            "domainName": "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefghijklmnopqrstuvwxyz012345",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "test"
            },
            "requestId": "00000000-0000-0000-0000-000000000000",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": now_s() * 1000
        },
        "body": body,
        "isBase64Encoded": false
    })
    .to_string()
    .into_bytes()
}

/// Headers of a generic webhook signed with `secret` at `timestamp`.
fn signed_headers(secret: &str, timestamp: u64, key: Option<&str>, body: &str) -> Value {
    let timestamp = timestamp.to_string();
    let mut headers = json!({
        "content-type": "application/json",
        "x-clickrules-timestamp": timestamp,
        "x-clickrules-signature": webhook_signature(secret.as_bytes(), &timestamp, key, body.as_bytes()),
    });
    if let Some(key) = key {
        headers["idempotency-key"] = key.into();
    }
    headers
}

/// `POST /webhook` with `body`, signed with [`SECRET`] now.
fn generic_press(body: &str, key: Option<&str>) -> Vec<u8> {
    http_event(
        "POST",
        "/webhook",
        signed_headers(SECRET, now_s(), key, body),
        body,
    )
}

/// `POST /flic` with `{"token": token}`.
fn flic_press(token: &str) -> Vec<u8> {
    let body = json!({ "token": token }).to_string();
    http_event(
        "POST",
        "/flic",
        json!({"content-type": "application/json"}),
        &body,
    )
}

/// The token of `function-url-flic.json`: button [`FIXTURE_UUID`], signed with the test key.
fn fixture_token() -> String {
    let event: Value = serde_json::from_str(&webhooks_fixture("function-url-flic.json")).unwrap();
    let body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    body["token"].as_str().unwrap().to_string()
}

/// Base64url without padding (JWT segments).
fn base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// The signer these tests use (the webhooks crate's) reproduces the signature of
/// `host/webhooks/fixtures/function-url-webhook.json`, so the requests below are signed as a
/// real sender signs them.
#[test]
fn the_test_signer_reproduces_the_signed_fixture() {
    let secret = webhooks_fixture("test-webhook-secret.txt");
    let event: Value =
        serde_json::from_str(&webhooks_fixture("function-url-webhook.json")).unwrap();
    let headers = &event["headers"];
    let signature = webhook_signature(
        secret.trim().as_bytes(),
        headers["x-clickrules-timestamp"].as_str().unwrap(),
        None,
        event["body"].as_str().unwrap().as_bytes(),
    );
    assert_eq!(signature, headers["x-clickrules-signature"]);
    assert_eq!(
        base64url(br#"{"alg":"ES256","typ":"JWT"}"#),
        "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9"
    );
}

/// A correctly signed generic webhook takes one snapshot and answers 200 naming it. With the
/// ledger table, the same request again (a replay inside the window) and a sender's retry
/// under the same `Idempotency-Key` (signed again, later) answer 200 and invoke nothing more.
#[tokio::test]
async fn a_signed_webhook_snapshots_once_and_the_ledger_absorbs_its_replays() {
    let Some(world) = webhook_world("a_signed_webhook_snapshots_once").await else {
        return;
    };
    world.ledger_table("presses").await;
    let body = r#"{"device":"kitchen","click":"single","battery_mv":2900}"#;
    let press = generic_press(body, None);
    let keyed = r#"{"device":"hall","click":"double"}"#;
    let mut settings = webhook_settings();
    settings.push(("CLICKRULES_LEDGER_TABLE", "presses"));
    world.moto.start_recording();
    let function = Function::start(
        &world.moto.endpoint(),
        "ledger",
        &settings,
        vec![
            ("req-1", press.clone()),
            ("req-replay", press),
            ("req-key-1", generic_press(keyed, Some("01JG8Z9X3K"))),
        ],
    );
    function.replies(3);
    // The sender's retry, a second later: a new timestamp, so a new signature.
    std::thread::sleep(Duration::from_millis(1100));
    function.push(vec![(
        "req-key-2",
        generic_press(keyed, Some("01JG8Z9X3K")),
    )]);
    let replies = function.replies(4);
    let recording = world.moto.stop_recording();
    let logs = function.stop();

    let (status, first) = http_answer(reply(&replies, "req-1"), &logs);
    assert_eq!(status, 200, "{first}\n{}", logs.text);
    let message = first["message"].as_str().unwrap();
    assert!(message.contains("snapshot"), "{message}");
    let press_id = first["press_id"].as_str().unwrap();
    assert!(press_id.starts_with("webhook:"), "{press_id}");
    let record = logs.record("req-1");
    assert_eq!(record["ok"], true);
    assert_eq!(record["event_format"], "webhook");
    assert_eq!(record["click"]["serial_number"], "kitchen");
    assert_eq!(record["click"]["click_type"], "SINGLE");
    assert_eq!(record["outcomes"][0]["status"], "done");
    assert_eq!(record["ledger"]["outcome"], "new");

    let (status, replay) = http_answer(reply(&replies, "req-replay"), &logs);
    assert_eq!(status, 200, "{replay}");
    assert_eq!(replay["press_id"], press_id);
    assert_eq!(logs.record("req-replay")["ledger"]["outcome"], "duplicate");

    let (status, keyed_1) = http_answer(reply(&replies, "req-key-1"), &logs);
    assert_eq!(status, 200, "{keyed_1}");
    assert_eq!(keyed_1["press_id"], "webhook:hall:01JG8Z9X3K");
    let (status, keyed_2) = http_answer(reply(&replies, "req-key-2"), &logs);
    assert_eq!(status, 200, "{keyed_2}");
    assert_eq!(keyed_2["press_id"], "webhook:hall:01JG8Z9X3K");
    assert_eq!(logs.record("req-key-1")["ledger"]["outcome"], "new");
    assert_eq!(logs.record("req-key-2")["ledger"]["outcome"], "duplicate");

    let invoked = invocations(&recording);
    assert_eq!(
        invoked.len(),
        2,
        "one snapshot per press, none per replay: {recording:#?}"
    );
    for invoke in invoked {
        assert_eq!(invoke.invoked_function(), Some("scheduled_snapshot"));
        assert_eq!(invoke.query("Qualifier"), Some("prod"));
        assert_eq!(invoke.body, br#"{"region":"us-west-1"}"#);
    }
}

/// Without a ledger table nothing remembers a press: a replay of a signed request inside the
/// window runs again (the ledger is what makes replays harmless).
#[tokio::test]
async fn without_a_ledger_a_replayed_webhook_runs_again() {
    let Some(world) = webhook_world("without_a_ledger_a_replayed_webhook_runs_again").await else {
        return;
    };
    let press = generic_press(r#"{"device":"kitchen","click":"single"}"#, None);
    world.moto.start_recording();
    let (replies, logs) = run(
        &world.moto.endpoint(),
        "no-ledger",
        &webhook_settings(),
        vec![("req-1", press.clone()), ("req-2", press)],
    );
    let recording = world.moto.stop_recording();
    for id in ["req-1", "req-2"] {
        let (status, body) = http_answer(reply(&replies, id), &logs);
        assert_eq!(status, 200, "{id}: {body}");
        assert_eq!(logs.record(id)["ledger"]["outcome"], "off");
    }
    assert_eq!(invocations(&recording).len(), 2, "{recording:#?}");
}

/// Requests that must not become presses: each answered with its status (the 401s with
/// exactly `{"message":"unauthorized"}`), logged with the failure's kind, nothing invoked.
#[tokio::test]
async fn forged_stale_and_malformed_webhooks_are_refused_with_their_status() {
    let Some(world) = webhook_world("forged_stale_and_malformed_webhooks_are_refused").await else {
        return;
    };
    let body = r#"{"device":"kitchen","click":"single"}"#;
    let now = now_s();
    let forged = http_event(
        "POST",
        "/webhook",
        signed_headers("not-the-secret", now, None, body),
        body,
    );
    // Authentic, but signed an hour ago: outside the 300 s window.
    let stale = http_event(
        "POST",
        "/webhook",
        signed_headers(SECRET, now - 3600, None, body),
        body,
    );
    let get = http_event("GET", "/webhook", signed_headers(SECRET, now, None, ""), "");
    let mut text_headers = signed_headers(SECRET, now, None, body);
    text_headers["content-type"] = "text/plain".into();
    let text = http_event("POST", "/webhook", text_headers, body);
    let padded = format!(
        r#"{{"device":"kitchen","click":"single","pad":"{}"}}"#,
        "x".repeat(8 * 1024)
    );
    let large = http_event(
        "POST",
        "/webhook",
        signed_headers(SECRET, now, None, &padded),
        &padded,
    );
    world.moto.start_recording();
    let (replies, logs) = run(
        &world.moto.endpoint(),
        "refused",
        &webhook_settings(),
        vec![
            ("req-forged", forged),
            ("req-stale", stale),
            ("req-get", get),
            ("req-text", text),
            ("req-large", large),
        ],
    );
    let recording = world.moto.stop_recording();
    let cases = [
        ("req-forged", 401, "unauthorized"),
        ("req-stale", 401, "unauthorized"),
        ("req-get", 405, "method_not_allowed"),
        ("req-text", 415, "unsupported_media_type"),
        ("req-large", 413, "body_too_large"),
    ];
    for (id, expected_status, kind) in cases {
        let (status, answer) = http_answer(reply(&replies, id), &logs);
        assert_eq!(status, expected_status, "{id}: {answer}");
        if status == 401 {
            assert_eq!(
                reply(&replies, id).body["body"],
                r#"{"message":"unauthorized"}"#,
                "{id}: a 401 says nothing more"
            );
        }
        let record = logs.record(id);
        assert_eq!(record["ok"], false, "{id}: {record}");
        assert_eq!(record["failure"]["kind"], kind, "{id}: {record}");
        assert!(
            record["outcomes"].as_array().is_some_and(Vec::is_empty),
            "{id}: {record}"
        );
    }
    assert!(
        invocations(&recording).is_empty(),
        "a refused request invokes nothing: {recording:#?}"
    );
}

/// Flic through the webhook function, its key read from SSM: an authentic token for an
/// allowed button presses (200), the same key's token for a button not listed is refused
/// (401), and so is an `alg: none` token. Swapping the allow-list swaps the answers, so both
/// tokens are authentic and the list is what refuses.
#[tokio::test]
async fn flic_tokens_are_verified_with_the_key_in_ssm_and_the_allow_list() {
    let Some(world) = World::start("flic_tokens_are_verified_with_the_key_in_ssm").await else {
        return;
    };
    world.snapshot_function("scheduled_snapshot").await;
    put_parameter(
        &world.moto,
        FLIC_KEY_PARAMETER,
        &webhooks_fixture("test-flic-key.pub.pem"),
    );
    let fixture = fixture_token();
    let claims = fixture.split('.').nth(1).unwrap();
    let none = format!("{}.{claims}.", base64url(br#"{"alg":"none","typ":"JWT"}"#));
    let settings = |buttons| {
        vec![
            ("CLICKRULES_ENTRY", "webhook"),
            ("CLICKRULES_SOURCES", "flic"),
            ("CLICKRULES_FLIC_BUTTONS", buttons),
            ("CLICKRULES_FLIC_PUBLIC_KEY", "ssm:/clickrules/flic-key"),
        ]
    };

    world.moto.start_recording();
    let (replies, logs) = run(
        &world.moto.endpoint(),
        "flic",
        &settings(FIXTURE_UUID),
        vec![
            ("req-allowed", flic_press(&fixture)),
            ("req-other", flic_press(OTHER_TOKEN)),
            ("req-none", flic_press(&none)),
        ],
    );
    let recording = world.moto.stop_recording();
    let (status, answer) = http_answer(reply(&replies, "req-allowed"), &logs);
    assert_eq!(status, 200, "{answer}\n{}", logs.text);
    assert!(
        answer["press_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("flic:")),
        "{answer}"
    );
    let record = logs.record("req-allowed");
    assert_eq!(record["event_format"], "flic");
    assert_eq!(record["click"]["serial_number"], "BC44-T00001");
    assert_eq!(record["click"]["click_type"], "SINGLE");
    assert_eq!(record["outcomes"][0]["status"], "done");
    for id in ["req-other", "req-none"] {
        let (status, _) = http_answer(reply(&replies, id), &logs);
        assert_eq!(status, 401, "{id}");
        assert_eq!(
            reply(&replies, id).body["body"],
            r#"{"message":"unauthorized"}"#
        );
        assert_eq!(logs.record(id)["failure"]["kind"], "unauthorized", "{id}");
    }
    assert_eq!(invocations(&recording).len(), 1, "{recording:#?}");

    let (replies, logs) = run(
        &world.moto.endpoint(),
        "flic-swapped",
        &settings(OTHER_UUID),
        vec![
            ("req-other", flic_press(OTHER_TOKEN)),
            ("req-fixture", flic_press(&fixture)),
        ],
    );
    let (status, answer) = http_answer(reply(&replies, "req-other"), &logs);
    assert_eq!(status, 200, "{answer}\n{}", logs.text);
    assert_eq!(logs.record("req-other")["click"]["click_type"], "DOUBLE");
    let (status, _) = http_answer(reply(&replies, "req-fixture"), &logs);
    assert_eq!(status, 401);
    assert_eq!(
        logs.record("req-fixture")["failure"]["kind"],
        "unauthorized"
    );
}

/// A webhook function that could only refuse every request stops at init instead, naming the
/// variable: Flic on without its allow-list, the generic webhook without its secret.
#[test]
fn init_fails_without_the_flic_allow_list_or_the_webhook_secret() {
    // (case, settings, the variable the failure must name)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: [Case; 3] = [
        (
            "flic without buttons",
            vec![
                ("CLICKRULES_ENTRY", "webhook"),
                ("CLICKRULES_SOURCES", "flic"),
            ],
            "CLICKRULES_FLIC_BUTTONS",
        ),
        (
            "webhook (the default source) without a secret",
            vec![("CLICKRULES_ENTRY", "webhook")],
            "CLICKRULES_WEBHOOK_SECRET",
        ),
        (
            "webhook and flic without a secret",
            vec![
                ("CLICKRULES_ENTRY", "webhook"),
                ("CLICKRULES_SOURCES", "webhook,flic"),
                ("CLICKRULES_FLIC_BUTTONS", FIXTURE_UUID),
            ],
            "CLICKRULES_WEBHOOK_SECRET",
        ),
    ];
    for (name, settings, variable) in cases {
        let mut function = Function::start("http://127.0.0.1:9", "init", &settings, Vec::new());
        let started = Instant::now();
        let mut child_status = None;
        while started.elapsed() < REPLIES_WITHIN {
            if let Some(status) = function.child.try_wait().unwrap() {
                child_status = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = child_status.unwrap_or_else(|| panic!("{name}: init did not stop"));
        let logs = function.stop();
        assert!(!status.success(), "{name}: {status}");
        let line = logs
            .lines
            .iter()
            .find(|l| l["message"] == "init failed")
            .unwrap_or_else(|| panic!("{name}: no init failure logged: {}", logs.text));
        let error = line["error"].as_str().unwrap_or_default();
        assert!(error.contains(variable), "{name}: {error}");
        assert!(
            !logs.lines.iter().any(|l| l["message"] == "ready"),
            "{name}: {}",
            logs.text
        );
    }
}

/// The secret is read on the first webhook, not at init (the cold-start budget), and once:
/// a second webhook uses the cached value.
#[tokio::test]
async fn the_secret_is_read_on_the_first_webhook_and_once() {
    let Some(world) = webhook_world("the_secret_is_read_on_the_first_webhook_and_once").await
    else {
        return;
    };
    world.moto.start_recording();
    let function = Function::start(
        &world.moto.endpoint(),
        "lazy-secret",
        &webhook_settings(),
        Vec::new(),
    );
    function.wait_ready();
    // Past `ready` the function only asks the Runtime API for its next event.
    std::thread::sleep(Duration::from_millis(300));
    let at_init = world.moto.stop_recording();
    assert!(
        parameter_reads(&at_init).is_empty(),
        "no secret is read at init: {at_init:#?}"
    );

    world.moto.start_recording();
    function.push(vec![
        (
            "req-1",
            generic_press(r#"{"device":"kitchen","click":"single"}"#, None),
        ),
        (
            "req-2",
            generic_press(r#"{"device":"hall","click":"long"}"#, None),
        ),
    ]);
    let replies = function.replies(2);
    let recording = world.moto.stop_recording();
    let logs = function.stop();
    for id in ["req-1", "req-2"] {
        let (status, body) = http_answer(reply(&replies, id), &logs);
        assert_eq!(status, 200, "{id}: {body}\n{}", logs.text);
    }
    let reads = parameter_reads(&recording);
    assert_eq!(reads.len(), 1, "one read for two webhooks: {recording:#?}");
    let request: Value = serde_json::from_slice(&reads[0].body).unwrap();
    assert_eq!(request["Name"], SECRET_PARAMETER);
    assert_eq!(request["WithDecryption"], true);
    assert_eq!(invocations(&recording).len(), 2);
}

/// The events function (the default entry) reads the new sources: a Shelly Gen2 frame with
/// two push events is two presses answered as `{"presses": [...]}`; a Zigbee2MQTT state
/// report is recorded as skipped and runs nothing; a Function URL request fails its
/// invocation as a bad event (it belongs to the webhook function).
#[tokio::test]
async fn the_events_function_reads_shelly_zigbee2mqtt_and_refuses_https_requests() {
    let Some(world) = World::start("the_events_function_reads_shelly_zigbee2mqtt").await else {
        return;
    };
    world.snapshot_function("scheduled_snapshot").await;
    world.moto.start_recording();
    let (replies, logs) = run(
        &world.moto.endpoint(),
        "events",
        &[],
        vec![
            (
                "req-shelly",
                sources_fixture("shelly-gen2/plusi4-two-events.json"),
            ),
            (
                "req-z2m",
                sources_fixture("zigbee2mqtt/z2m1x-state-only.json"),
            ),
            (
                "req-http",
                webhooks_fixture("function-url-webhook.json").into_bytes(),
            ),
        ],
    );
    let recording = world.moto.stop_recording();

    let shelly = reply(&replies, "req-shelly");
    assert_eq!(shelly.kind, "response", "{shelly:?}\n{}", logs.text);
    let presses = shelly.body["presses"]
        .as_array()
        .unwrap_or_else(|| panic!("{shelly:?}"));
    assert_eq!(presses.len(), 2, "{shelly:?}");
    let clicks: Vec<&Value> = presses.iter().map(|p| &p["click"]["click_type"]).collect();
    assert_eq!(clicks, ["SINGLE", "LONG"]);
    for press in presses {
        assert_eq!(press["ok"], true, "{press}");
        assert_eq!(press["event_format"], "shelly-gen2");
        assert_eq!(press["outcomes"][0]["status"], "done", "{press}");
        assert_eq!(press["device_counter"], true, "{press}");
    }
    assert_ne!(presses[0]["press_id"], presses[1]["press_id"]);
    assert_eq!(logs.records("req-shelly").len(), 2, "one line per press");

    let z2m = reply(&replies, "req-z2m");
    assert_eq!(z2m.kind, "response", "{z2m:?}");
    assert_eq!(z2m.body["ok"], true, "{z2m:?}");
    assert_eq!(z2m.body["event_format"], "zigbee2mqtt");
    assert_eq!(z2m.body["skipped"][0]["kind"], "not_a_press", "{z2m:?}");
    assert!(
        z2m.body["outcomes"].as_array().is_some_and(Vec::is_empty),
        "{z2m:?}"
    );

    let http = reply(&replies, "req-http");
    assert_eq!(http.kind, "error", "{http:?}");
    assert_eq!(http.body["errorType"], "clickrules.bad_event");
    assert_eq!(logs.record("req-http")["failure"]["kind"], "bad_event");

    assert_eq!(
        invocations(&recording).len(),
        2,
        "two snapshots, both for the Shelly frame: {recording:#?}"
    );
}

/// A secret that is not in SSM yet answers 500 (with the press id, naming no secret) and is
/// not remembered as missing: once the parameter exists, the next webhook reads it and presses.
#[tokio::test]
async fn a_missing_secret_answers_500_and_is_read_again_once_it_exists() {
    let Some(world) = World::start("a_missing_secret_answers_500").await else {
        return;
    };
    world.snapshot_function("scheduled_snapshot").await;
    world.moto.start_recording();
    let function = Function::start(
        &world.moto.endpoint(),
        "missing-secret",
        &webhook_settings(),
        vec![(
            "req-1",
            generic_press(r#"{"device":"kitchen","click":"single"}"#, None),
        )],
    );
    function.replies(1);
    put_parameter(&world.moto, SECRET_PARAMETER, SECRET);
    function.push(vec![(
        "req-2",
        generic_press(r#"{"device":"kitchen","click":"double"}"#, None),
    )]);
    let replies = function.replies(2);
    let recording = world.moto.stop_recording();
    let logs = function.stop();

    let (status, answer) = http_answer(reply(&replies, "req-1"), &logs);
    assert_eq!(status, 500, "{answer}\n{}", logs.text);
    assert_eq!(answer["press_id"], logs.record("req-1")["press_id"]);
    assert!(
        !reply(&replies, "req-1").body["body"]
            .as_str()
            .unwrap()
            .contains(SECRET_PARAMETER),
        "the answer names no secret: {answer}"
    );
    assert_eq!(
        logs.record("req-1")["failure"]["kind"],
        "secret_unavailable"
    );
    let (status, answer) = http_answer(reply(&replies, "req-2"), &logs);
    assert_eq!(status, 200, "{answer}\n{}", logs.text);
    assert_eq!(parameter_reads(&recording).len(), 2, "{recording:#?}");
    assert_eq!(invocations(&recording).len(), 1);
}

/// A signed request stays acceptable for the whole tolerance (300 s by default), so the ledger
/// must catch its replays that long. A request with an `Idempotency-Key` is a windowed press
/// (senders reuse keys), and the webhooks crate asks the caller to keep that window at least
/// until `VerifiedPress::replayable_until_ms`. Here the dedupe window (1 s, as configured) is
/// shorter than the tolerance: the same bytes replayed 2 s later, still authentic and fresh,
/// must be a duplicate and invoke nothing. (With the defaults, 60 s and 300 s, the same holds
/// for a replay between one and five minutes later.)
#[tokio::test]
async fn a_replayed_keyed_webhook_is_a_duplicate_for_as_long_as_it_is_authentic() {
    let Some(world) = webhook_world("a_replayed_keyed_webhook_is_a_duplicate").await else {
        return;
    };
    world.ledger_table("presses").await;
    let mut settings = webhook_settings();
    settings.push(("CLICKRULES_LEDGER_TABLE", "presses"));
    settings.push(("CLICKRULES_DEDUPE_WINDOW_SECONDS", "1"));
    let captured = generic_press(r#"{"device":"door","click":"single"}"#, Some("K-1"));
    world.moto.start_recording();
    let function = Function::start(
        &world.moto.endpoint(),
        "keyed-replay",
        &settings,
        vec![("req-1", captured.clone())],
    );
    function.replies(1);
    std::thread::sleep(Duration::from_millis(2500));
    function.push(vec![("req-replay", captured)]);
    let replies = function.replies(2);
    let recording = world.moto.stop_recording();
    let logs = function.stop();

    let (status, first) = http_answer(reply(&replies, "req-1"), &logs);
    assert_eq!(status, 200, "{first}\n{}", logs.text);
    let (status, replay) = http_answer(reply(&replies, "req-replay"), &logs);
    assert_eq!(status, 200, "{replay}");
    assert_eq!(replay["press_id"], "webhook:door:K-1");
    // The dedupe window here is 1 s, but the request stays authentic for the webhook's whole
    // tolerance: for that long a replay is a duplicate, not a press that reused the key.
    assert_eq!(
        logs.record("req-replay")["ledger"]["outcome"],
        "duplicate",
        "{}",
        logs.text
    );
    assert_eq!(
        invocations(&recording).len(),
        1,
        "a replay takes no second snapshot"
    );
}
