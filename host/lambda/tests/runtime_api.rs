//! The `bootstrap` binary end to end: a stand-in Lambda Runtime API hands it events, moto
//! serves S3 and Lambda, and the decision records come back as invocation responses.

#[allow(dead_code, unused_imports)]
#[path = "../../aws/tests/support/mod.rs"]
mod support;

#[allow(dead_code)]
#[path = "support/runtime_api.rs"]
mod runtime_api;

use std::path::Path;
use std::process::{Child, Command, Stdio};

use clickrules_tests::fixture;
use runtime_api::RuntimeApi;
use support::{World, invocations};

const BOOTSTRAP: &str = env!("CARGO_BIN_EXE_bootstrap");

/// The bootstrap with a clean environment: the Lambda variables, the emulator, and `extra`.
fn bootstrap(runtime_api: u16, endpoint: &str, home: &Path, extra: &[(&str, &str)]) -> Child {
    let mut command = Command::new(BOOTSTRAP);
    command
        .env_clear()
        .env("HOME", home)
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{runtime_api}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "clickrules")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", support::moto::REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", endpoint)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in extra {
        command.env(name, value);
    }
    command.spawn().expect("start bootstrap")
}

/// A SINGLE press through the runtime API: one `Invoke` of `scheduled_snapshot:prod` with
/// `{"region":"us-west-1"}`, and the record as the response. A bad event fails its invocation.
#[tokio::test]
async fn presses_through_the_runtime_api() {
    let Some(world) = World::start("presses_through_the_runtime_api").await else {
        return;
    };
    world.bucket("clickrules-guests", false).await;
    world.snapshot_function("scheduled_snapshot").await;
    let uri = clickrules_aws::S3Uri::parse("s3://clickrules-guests/default.wasm").unwrap();
    world.upload(&uri, clickrules_builtin::DEFAULT_GUEST).await;

    let home = std::env::temp_dir().join(format!("clickrules-bootstrap-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let api = RuntimeApi::start(vec![
        ("req-single", fixture("iot-button-single.json")),
        (
            "req-bad",
            br#"{"serialNumber":"G030JF055364XVRB","clickType":"TRIPLE"}"#.to_vec(),
        ),
    ]);
    world.moto.start_recording();
    let mut child = bootstrap(
        api.port,
        &world.moto.endpoint(),
        &home,
        &[("CLICKRULES_GUEST", "s3://clickrules-guests/default.wasm")],
    );
    let replies = api.replies(2);
    let recording = world.moto.stop_recording();
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&output.stdout);
    let _ = std::fs::remove_dir_all(&home);

    let single = replies
        .iter()
        .find(|r| r.request_id == "req-single")
        .expect("a reply");
    assert_eq!(single.kind, "response", "{single:?}\n{logs}");
    assert_eq!(single.body["request_id"], "req-single");
    assert_eq!(single.body["ok"], true);
    assert_eq!(
        single.body["guest"]["uri"],
        "s3://clickrules-guests/default.wasm"
    );
    assert_eq!(single.body["outcomes"][0]["status"], "done");

    let invoked = invocations(&recording);
    assert_eq!(invoked.len(), 1, "exactly one Invoke: {recording:#?}");
    assert_eq!(invoked[0].invoked_function(), Some("scheduled_snapshot"));
    assert_eq!(invoked[0].query("Qualifier"), Some("prod"));
    assert_eq!(
        invoked[0].header("X-Amz-Invocation-Type"),
        Some("RequestResponse")
    );
    assert_eq!(invoked[0].body, br#"{"region":"us-west-1"}"#);

    let bad = replies
        .iter()
        .find(|r| r.request_id == "req-bad")
        .expect("a reply");
    assert_eq!(bad.kind, "error", "{bad:?}");
    assert_eq!(bad.body["errorType"], "clickrules.bad_event");

    // Each press is one JSON log line carrying its record.
    let records: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l.get("record").is_some())
        .collect();
    assert_eq!(records.len(), 2, "{logs}");
}

/// A wrong setting stops the cold start with a message naming the variable and what it accepts.
#[test]
fn a_wrong_setting_fails_init_naming_the_variable() {
    let api = RuntimeApi::start(Vec::new());
    let home =
        std::env::temp_dir().join(format!("clickrules-bootstrap-init-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let child = bootstrap(
        api.port,
        "http://127.0.0.1:9",
        &home,
        &[("CLICKRULES_INVOCATION_TYPE", "DryRun")],
    );
    let output = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&home);
    assert!(!output.status.success());
    let logs = String::from_utf8_lossy(&output.stdout);
    let line = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["message"] == "init failed")
        .unwrap_or_else(|| panic!("no init failure logged: {logs}"));
    let error = line["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("CLICKRULES_INVOCATION_TYPE") && error.contains("RequestResponse"),
        "{error}"
    );
}
