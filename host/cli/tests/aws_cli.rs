//! The commands that reach AWS, run as a user runs them: `upload` into a versioned bucket and
//! `press` with a guest from S3 (dry run and `--execute`) against the moto emulator, and
//! `press --remote` against a scripted endpoint standing in for the deployed Lambda, which moto
//! cannot run.

use std::process::Output;

use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use clickrules_aws::AwsClients;
use clickrules_engine::sha256_hex;
use clickrules_test_support::moto::{self, Moto, invocations};
use clickrules_test_support::run::{self, field};
use clickrules_test_support::scripted::{Reply, ScriptedServer};
use clickrules_tests::{guest_bytes, guests};
use serde_json::{Value, json};

/// Runs `clickrules` against `endpoint` (see [`run::against`]).
fn clickrules(args: &[&str], endpoint: &str, env: &[(&str, &str)]) -> Output {
    run::against(env!("CARGO_BIN_EXE_clickrules"), args, endpoint, env)
}

/// What the default guest asks `scheduled_snapshot:prod` for, as the original Lambda did.
const SNAPSHOT_PAYLOAD: &str = r#"{"region":"us-west-1"}"#;

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "clickrules failed ({}):\n{}{}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

/// The output without the line whose figures change from run to run.
fn stable_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.starts_with("cost ")).collect()
}

/// A guest's size as the CLI prints it; the test guests are between 1 KiB and 1 MiB.
fn kib(bytes: &[u8]) -> String {
    assert!((1 << 10..1 << 20).contains(&bytes.len()), "{}", bytes.len());
    format!("{:.1} KiB", bytes.len() as f64 / 1024.0)
}

/// The guest line of a decision, for a (contract 0.1.0) guest with these bytes at `uri`.
fn guest_line(uri: &str, bytes: &[u8]) -> String {
    format!(
        "guest      {uri} (sha256 {}, {}, contract 0.1.0)",
        &sha256_hex(bytes)[..12],
        kib(bytes)
    )
}

/// A moto server and SDK clients pointing at it, for one test.
struct Aws {
    /// Dropping it stops the server.
    moto: Moto,
    rt: tokio::runtime::Runtime,
    clients: AwsClients,
    endpoint: String,
}

impl Aws {
    /// A fresh emulator, or `None` when the test is skipped (see [`Moto::start`]).
    fn start(test: &str) -> Option<Self> {
        let moto = Moto::start(test)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let config = rt.block_on(moto.sdk_config());
        Some(Self {
            clients: AwsClients::from_sdk_config(&config, true),
            endpoint: moto.endpoint(),
            moto,
            rt,
        })
    }

    fn clickrules(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        clickrules(args, &self.endpoint, env)
    }

    /// A bucket, versioned when asked.
    fn bucket(&self, name: &str, versioned: bool) {
        let s3 = &self.clients.s3;
        self.rt
            .block_on(s3.create_bucket().bucket(name).send())
            .expect("create bucket");
        if versioned {
            let enabled = VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build();
            self.rt
                .block_on(
                    s3.put_bucket_versioning()
                        .bucket(name)
                        .versioning_configuration(enabled)
                        .send(),
                )
                .expect("enable versioning");
        }
    }

    /// Puts an object with the SDK, as an earlier upload would have.
    fn put(&self, bucket: &str, key: &str, bytes: Vec<u8>) {
        self.rt
            .block_on(
                self.clients
                    .s3
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .body(bytes.into())
                    .send(),
            )
            .expect("put object");
    }

    /// An object as S3 holds it (a given version, or the latest).
    fn get(&self, bucket: &str, key: &str, version: Option<&str>) -> Stored {
        self.rt.block_on(async {
            let got = self
                .clients
                .s3
                .get_object()
                .bucket(bucket)
                .key(key)
                .set_version_id(version.map(str::to_string))
                .send()
                .await
                .expect("get object");
            Stored {
                version_id: got.version_id().map(str::to_string),
                content_type: got.content_type().map(str::to_string),
                sha256_metadata: got
                    .metadata()
                    .and_then(|m| m.get("sha256"))
                    .map(String::to_string),
                bytes: got.body.collect().await.unwrap().into_bytes().to_vec(),
            }
        })
    }

    /// The snapshot function the original deployment invokes, with its `prod` alias.
    fn snapshot_function(&self) {
        self.rt.block_on(
            self.moto
                .snapshot_function(&self.clients.lambda, "scheduled_snapshot"),
        );
    }

    /// Runs `clickrules` while moto records, and returns its output with what moto received.
    fn recorded(&self, args: &[&str], env: &[(&str, &str)]) -> (Output, Vec<moto::Recorded>) {
        self.moto.start_recording();
        let out = self.clickrules(args, env);
        (out, self.moto.stop_recording())
    }
}

/// An object read back from S3.
struct Stored {
    bytes: Vec<u8>,
    version_id: Option<String>,
    content_type: Option<String>,
    sha256_metadata: Option<String>,
}

/// Asserts the recording holds exactly one `Invoke`: `scheduled_snapshot:prod` with `payload`.
fn assert_one_snapshot(recording: &[moto::Recorded], payload: &str) {
    let invoked = invocations(recording);
    assert_eq!(invoked.len(), 1, "exactly one Invoke: {recording:#?}");
    let call = invoked[0];
    assert_eq!(call.invoked_function(), Some("scheduled_snapshot"));
    assert_eq!(call.query("Qualifier"), Some("prod"));
    assert_eq!(std::str::from_utf8(&call.body).unwrap(), payload);
}

/// Whether the recording holds a `GetObject` of `s3://bucket/key` (path-style).
fn fetched(recording: &[moto::Recorded], bucket: &str, key: &str) -> bool {
    let path = format!("/{bucket}/{key}");
    recording
        .iter()
        .any(|r| r.method == "GET" && r.path == path)
}

#[test]
fn upload_to_a_versioned_bucket_names_the_sha256_and_version_of_what_s3_holds() {
    let Some(aws) =
        Aws::start("upload_to_a_versioned_bucket_names_the_sha256_and_version_of_what_s3_holds")
    else {
        return;
    };
    aws.bucket("guests", true);
    let wasm = guest_bytes(guests::DEFAULT);
    let sha = sha256_hex(&wasm);

    let out = aws.clickrules(
        &["upload", guests::DEFAULT, "s3://guests/rules/guest.wasm"],
        &[],
    );
    assert_success(&out);
    let text = stdout(&out);
    assert_eq!(field(&text, "checked"), "24 presses ok");
    assert_eq!(
        field(&text, "uploaded"),
        format!("s3://guests/rules/guest.wasm ({})", kib(&wasm))
    );
    assert_eq!(field(&text, "sha256"), sha);
    let version = field(&text, "version");
    assert!(!version.starts_with("none"), "{text}");

    let stored = aws.get("guests", "rules/guest.wasm", None);
    assert!(stored.bytes == wasm, "S3 holds exactly the uploaded file");
    assert_eq!(stored.version_id.as_deref(), Some(version.as_str()));
    assert_eq!(stored.sha256_metadata.as_deref(), Some(sha.as_str()));
    assert_eq!(stored.content_type.as_deref(), Some("application/wasm"));

    // A second upload replaces it; the version printed for the first still retrieves the
    // first guest, which is how a bad upload is rolled back.
    let replacement = guest_bytes(guests::BY_CLICK);
    // by-click notifies on a low battery: upload checks it under a deployment with a topic.
    let out = aws.clickrules(
        &[
            "upload",
            guests::BY_CLICK,
            "s3://guests/rules/guest.wasm",
            "--json",
            // by-click decides DOUBLE and LONG presses differently: accept the change.
            "--yes",
        ],
        &[(
            "CLICKRULES_NOTIFY_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:clickrules",
        )],
    );
    assert_success(&out);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let second = report["guest"]["version_id"].as_str().unwrap().to_string();
    assert_ne!(second, version);
    assert_eq!(report["guest"]["sha256"], sha256_hex(&replacement));
    assert_eq!(report["guest"]["size_bytes"], replacement.len());
    assert_eq!(report["signed"], false);
    let latest = aws.get("guests", "rules/guest.wasm", None);
    assert!(latest.bytes == replacement);
    assert_eq!(latest.version_id, Some(second));
    let first = aws.get("guests", "rules/guest.wasm", Some(&version));
    assert!(
        first.bytes == wasm,
        "the first version is still the first guest"
    );
}

#[test]
fn press_execute_with_a_guest_from_s3_invokes_scheduled_snapshot_prod_once() {
    let Some(aws) =
        Aws::start("press_execute_with_a_guest_from_s3_invokes_scheduled_snapshot_prod_once")
    else {
        return;
    };
    aws.bucket("guests", false);
    let wasm = guest_bytes(guests::DEFAULT);
    aws.put("guests", "default.wasm", wasm.clone());
    aws.snapshot_function();

    let (out, recording) = aws.recorded(
        &["press", "--execute", "--guest", "s3://guests/default.wasm"],
        &[],
    );
    assert_success(&out);
    assert!(
        fetched(&recording, "guests", "default.wasm"),
        "{recording:#?}"
    );
    assert_one_snapshot(&recording, SNAPSHOT_PAYLOAD);
    assert_eq!(
        stable_lines(&stdout(&out)),
        [
            "press      SINGLE from G030SIMULATED001 (battery not reported), iot-button event".to_string(),
            guest_line("s3://guests/default.wasm", &wasm),
            "decision   ok: 1 action (executed)".to_string(),
            "  1. snapshot us-west-1".to_string(),
            r#"outcome 1. snapshot us-west-1               done: {"kind":"invoked","function":"scheduled_snapshot","qualifier":"prod","invocation_type":"RequestResponse","status_code":200}"#.to_string(),
            "result     ok".to_string(),
        ]
    );
    assert_eq!(stderr(&out), "");
}

#[test]
fn press_execute_with_a_local_guest_invokes_scheduled_snapshot_prod_once() {
    let Some(aws) =
        Aws::start("press_execute_with_a_local_guest_invokes_scheduled_snapshot_prod_once")
    else {
        return;
    };
    aws.snapshot_function();

    let (out, recording) = aws.recorded(
        &["press", "--execute", "--guest", guests::DEFAULT, "--json"],
        &[],
    );
    assert_success(&out);
    // The guest is read from disk: the Invoke is the only call made.
    assert_eq!(recording.len(), 1, "{recording:#?}");
    assert_one_snapshot(&recording, SNAPSHOT_PAYLOAD);
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["ok"], true);
    assert_eq!(record["guest"]["uri"], guests::DEFAULT);
    assert_eq!(
        record["outcomes"],
        json!([{
            "action": {"kind": "snapshot", "region": "us-west-1"},
            "status": "done",
            "receipt": {
                "kind": "invoked",
                "function": "scheduled_snapshot",
                "qualifier": "prod",
                "invocation_type": "RequestResponse",
                "status_code": 200,
            },
        }])
    );
    assert_eq!(record["failure"], Value::Null);
}

// moto answers an Invoke of any function name, existing or not, so the failure an emulator can
// produce is a refused publish: SNS refuses a topic that does not exist.

/// `arn:aws:sns:...:no-such-topic`, which moto refuses to publish to.
fn missing_topic() -> String {
    format!(
        "arn:aws:sns:{}:{}:no-such-topic",
        moto::REGION,
        moto::ACCOUNT
    )
}

/// The SNS `Publish` calls in a recording.
fn publishes(recording: &[moto::Recorded]) -> usize {
    recording
        .iter()
        .filter(|r| {
            r.method == "POST" && String::from_utf8_lossy(&r.body).contains("Action=Publish")
        })
        .count()
}

#[test]
fn press_execute_prints_the_failed_outcome_and_exits_non_zero_when_a_publish_is_refused() {
    let Some(aws) = Aws::start(
        "press_execute_prints_the_failed_outcome_and_exits_non_zero_when_a_publish_is_refused",
    ) else {
        return;
    };
    aws.bucket("guests", false);
    let wasm = guest_bytes(guests::BY_CLICK);
    aws.put("guests", "by-click.wasm", wasm.clone());
    let topic = missing_topic();

    let (out, recording) = aws.recorded(
        &[
            "press",
            "--execute",
            "--guest",
            "s3://guests/by-click.wasm",
            "--click",
            "long",
        ],
        &[("CLICKRULES_NOTIFY_TOPIC_ARN", &topic)],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(publishes(&recording), 1, "{recording:#?}");
    assert!(invocations(&recording).is_empty(), "{recording:#?}");
    let text = stdout(&out);
    let lines = stable_lines(&text);
    assert_eq!(lines.len(), 8, "{text}");
    assert_eq!(
        lines[..6],
        [
            "press      LONG from G030SIMULATED001 (battery not reported), iot-button event"
                .to_string(),
            guest_line("s3://guests/by-click.wasm", &wasm),
            "decision   ok: 1 action (executed)".to_string(),
            r#"  1. notify "Button G030SIMULATED001 held""#.to_string(),
            "     message: Button G030SIMULATED001 was held (LONG press). No backup was started."
                .to_string(),
            "stdout     by-click: long press from G030SIMULATED001".to_string(),
        ]
    );
    let error = lines[6]
        .strip_prefix(r#"outcome 1. notify "Button G030SIMULATED001 held" FAILED (refused): "#)
        .unwrap_or_else(|| panic!("no failed outcome in:\n{text}"));
    // The service's code and words, not the SDK's dump of the whole response.
    assert!(
        error.starts_with("sns:Publish was refused: NotFound: "),
        "{error}"
    );
    assert!(error.ends_with(" (HTTP 404)"), "{error}");
    let failure = format!("1 of 1 actions failed; the first: {error}");
    assert_eq!(lines[7], format!("result     FAILED (actions): {failure}"));
    assert_eq!(stderr(&out), format!("error: {failure}\n"));
}

/// A refused notification does not cancel the backup, but the press still fails.
#[test]
fn press_execute_runs_every_action_and_fails_when_one_of_them_fails() {
    let Some(aws) = Aws::start("press_execute_runs_every_action_and_fails_when_one_of_them_fails")
    else {
        return;
    };
    aws.snapshot_function();
    let topic = missing_topic();

    // by-click backs up on SINGLE and, below 1500 mV, also warns about the battery.
    let (out, recording) = aws.recorded(
        &[
            "press",
            "--execute",
            "--guest",
            guests::BY_CLICK,
            "--battery-mv",
            "1400",
            "--json",
        ],
        &[("CLICKRULES_NOTIFY_TOPIC_ARN", &topic)],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_one_snapshot(&recording, SNAPSHOT_PAYLOAD);
    assert_eq!(publishes(&recording), 1, "{recording:#?}");
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["ok"], false);
    let outcomes = record["outcomes"].as_array().unwrap();
    assert_eq!(outcomes.len(), 2, "{record:#}");
    assert_eq!(
        outcomes[0],
        json!({
            "action": {"kind": "snapshot", "region": "us-west-1"},
            "status": "done",
            "receipt": {
                "kind": "invoked",
                "function": "scheduled_snapshot",
                "qualifier": "prod",
                "invocation_type": "RequestResponse",
                "status_code": 200,
            },
        })
    );
    assert_eq!(
        outcomes[1]["action"],
        json!({
            "kind": "notify",
            "subject": "Button G030SIMULATED001 battery low",
            "message": "Button G030SIMULATED001 reports 1400 mV, below the 1500 mV threshold. Replace it soon.",
        })
    );
    assert_eq!(outcomes[1]["status"], "failed");
    assert_eq!(outcomes[1]["error"]["kind"], "refused");
    assert_eq!(outcomes[1]["error"]["retryable"], false);
    let error = outcomes[1]["error"]["message"].as_str().unwrap();
    assert!(error.starts_with("sns:Publish was refused: "), "{error}");
    let failure = format!("1 of 2 actions failed; the first: {error}");
    assert_eq!(
        record["failure"],
        json!({"kind": "actions", "message": failure, "retryable": false})
    );
    assert_eq!(stderr(&out), format!("error: {failure}\n"));
}

#[test]
fn press_dry_run_with_a_guest_from_s3_prints_its_decision_and_invokes_nothing() {
    let Some(aws) =
        Aws::start("press_dry_run_with_a_guest_from_s3_prints_its_decision_and_invokes_nothing")
    else {
        return;
    };
    aws.bucket("guests", false);
    let wasm = guest_bytes(guests::BY_CLICK);
    aws.put("guests", "by-click.wasm", wasm.clone());
    // Were the dry run to execute, this Invoke would succeed and be recorded.
    aws.snapshot_function();

    let (out, recording) = aws.recorded(
        &[
            "press",
            "--guest",
            "s3://guests/by-click.wasm",
            "--click",
            "double",
        ],
        &[],
    );
    assert_success(&out);
    assert!(
        fetched(&recording, "guests", "by-click.wasm"),
        "{recording:#?}"
    );
    assert!(invocations(&recording).is_empty(), "{recording:#?}");
    assert_eq!(
        stable_lines(&stdout(&out)),
        [
            "press      DOUBLE from G030SIMULATED001 (battery not reported), iot-button event".to_string(),
            guest_line("s3://guests/by-click.wasm", &wasm),
            "decision   ok: 1 action (dry run: nothing was executed)".to_string(),
            r#"  1. snapshot us-east-1               would invoke scheduled_snapshot:prod with {"region":"us-east-1"}"#.to_string(),
            "stdout     by-click: double press from G030SIMULATED001".to_string(),
        ]
    );
    assert_eq!(stderr(&out), "");
}

/// The record the deployed Lambda returns for a DOUBLE press through the by-click guest.
fn lambda_record() -> Value {
    json!({
        "request_id": "6f1c2b9e-4d0a-4b8e-9c3f-2a7d5e8b1c40",
        "ok": true,
        "event_format": "iot-button",
        "click": {
            "serial_number": "G030SIMULATED001",
            "click_type": "DOUBLE",
            "battery_mv": 1705,
            "received_at_ms": 1_767_225_600_000_u64,
        },
        "guest": {
            "uri": "s3://guests/by-click.wasm",
            "sha256": "0f343b0931126a20f133d67c2b018a3b5a1a5a0e0c9b1e2c3d4e5f60718293a4",
            "size_bytes": 41_415,
            "etag": "\"9e107d9d372bb6826bd81d3542a419d6\"",
            "loaded_from": "compiled",
        },
        "actions": [{"kind": "snapshot", "region": "us-east-1"}],
        "error": null,
        "instructions": 18_204,
        "peak_memory_bytes": 1_114_112,
        "duration_us": 812,
        "output": {"logs": []},
        "guest_fetch": "not_modified",
        "outcomes": [{
            "action": {"kind": "snapshot", "region": "us-east-1"},
            "status": "done",
            "receipt": {
                "kind": "invoked",
                "function": "scheduled_snapshot",
                "qualifier": "prod",
                "invocation_type": "RequestResponse",
                "status_code": 200,
                "executed_version": "7",
            },
        }],
        "failure": null,
    })
}

#[test]
fn press_remote_sends_the_button_event_to_the_function_and_prints_its_record() {
    let record = lambda_record();
    let lambda = ScriptedServer::start(vec![Reply::new(
        200,
        &[
            ("Content-Type", "application/json"),
            ("X-Amz-Executed-Version", "$LATEST"),
        ],
        record.to_string(),
    )]);

    let out = clickrules(
        &[
            "press",
            "--remote",
            "clickrules-press",
            "--click",
            "double",
            "--battery-mv",
            "1705",
        ],
        &lambda.endpoint(),
        &[],
    );
    assert_success(&out);
    let requests = lambda.requests();
    assert_eq!(requests.len(), 1, "one press, sent once: {requests:#?}");
    let invoke = &requests[0];
    assert_eq!(invoke.method, "POST");
    assert_eq!(
        invoke.path,
        "/2015-03-31/functions/clickrules-press/invocations"
    );
    let event: Value = serde_json::from_slice(&invoke.body).unwrap();
    assert_eq!(
        event,
        json!({
            "serialNumber": "G030SIMULATED001",
            "clickType": "DOUBLE",
            "batteryVoltage": "1705mV",
        })
    );
    assert_eq!(
        stdout(&out),
        format!("{}\n", serde_json::to_string_pretty(&record).unwrap())
    );
    assert_eq!(stderr(&out), "");
}

#[test]
fn press_remote_reports_a_function_error_and_exits_non_zero() {
    // What the Lambda runtime answers when the handler fails a press.
    let message = "press 6f1c2b9e failed: 1 of 1 actions failed; the first: \
                   lambda:Invoke was refused: Function not found";
    let lambda = ScriptedServer::start(vec![Reply::new(
        200,
        &[
            ("Content-Type", "application/json"),
            ("X-Amz-Function-Error", "Unhandled"),
        ],
        json!({"errorType": "clickrules.actions", "errorMessage": message}).to_string(),
    )]);

    let out = clickrules(
        &["press", "--remote", "clickrules-press"],
        &lambda.endpoint(),
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(lambda.count(), 1, "a failed press is not sent again");
    let event: Value = serde_json::from_slice(&lambda.requests()[0].body).unwrap();
    assert_eq!(event["clickType"], "SINGLE");
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        format!("error: clickrules-press failed (Unhandled): {message}\n")
    );
}

/// A guest that prints, from S3: the S3 path runs inside the CLI's async runtime, where the
/// printing guest used to panic the CLI (exit 101) while the same guest from a file passed.
#[test]
fn press_with_a_printing_guest_from_s3_prints_its_decision() {
    let Some(aws) = Aws::start("press_with_a_printing_guest_from_s3_prints_its_decision") else {
        return;
    };
    aws.bucket("guests", false);
    aws.put("guests", "chatty.wasm", guest_bytes(guests::CHATTY));
    let out = aws.clickrules(
        &[
            "press",
            "--guest",
            "s3://guests/chatty.wasm",
            "--config",
            "lines=2",
        ],
        &[],
    );
    assert_success(&out);
    let text = stdout(&out);
    assert!(
        text.contains("stdout     stdout line 1 for G030SIMULATED001"),
        "{text}"
    );
    assert!(text.contains(r#"1. ignore "chatty""#), "{text}");
}

/// `press --execute` with `CLICKRULES_LEDGER_TABLE` uses the ledger; `--press-id` delivers a
/// press again as a retry or duplicate would: the second delivery runs nothing.
#[test]
fn press_execute_uses_the_ledger_and_press_id_redelivers_a_press() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(world) = rt.block_on(clickrules_test_support::World::start(
        "press_execute_uses_the_ledger_and_press_id_redelivers_a_press",
    )) else {
        return;
    };
    rt.block_on(world.ledger_table("presses"));
    rt.block_on(world.snapshot_function("scheduled_snapshot"));
    let endpoint = world.moto.endpoint();
    let env = [("CLICKRULES_LEDGER_TABLE", "presses")];
    let args = ["press", "--execute", "--press-id", "cli-press-1", "--json"];
    world.moto.start_recording();
    let first = clickrules(&args, &endpoint, &env);
    let second = clickrules(&args, &endpoint, &env);
    let recording = world.moto.stop_recording();
    assert_success(&first);
    assert_success(&second);
    let first: Value = serde_json::from_slice(&first.stdout).unwrap();
    let second: Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(first["press_id"], "cli-press-1");
    assert_eq!(first["ledger"]["outcome"], "new");
    assert_eq!(second["ledger"]["outcome"], "duplicate");
    assert_eq!(invocations(&recording).len(), 1, "{recording:#?}");

    // The human table says so too.
    let out = clickrules(
        &["press", "--execute", "--press-id", "cli-press-1"],
        &endpoint,
        &env,
    );
    assert!(
        stdout(&out).contains(
            "ledger     duplicate of press cli-press-1: answered from the ledger, nothing ran"
        ),
        "{}",
        stdout(&out)
    );
}
