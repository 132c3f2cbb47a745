//! The `bootstrap` binary end to end: a stand-in Lambda Runtime API hands it events, moto
//! serves S3 and Lambda, and the decision records come back as invocation responses.

use std::path::Path;
use std::process::Child;

use clickrules_test_support::runtime_api::{self, RuntimeApi};
use clickrules_test_support::{World, invocations, moto};
use clickrules_tests::{fixture, guests};

const BOOTSTRAP: &str = env!("CARGO_BIN_EXE_bootstrap");

/// The bootstrap with a clean environment: the Lambda variables, the emulator, and `extra`.
fn bootstrap(runtime_api: u16, endpoint: &str, home: &Path, extra: &[(&str, &str)]) -> Child {
    let mut command = runtime_api::lambda_command(BOOTSTRAP, runtime_api, endpoint, home);
    command.envs(extra.iter().copied());
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

    // Each press is one JSON log line: the record as an object (not a string), a few fields
    // at the top for Logs Insights, and CloudWatch Embedded Metric Format metadata.
    let records: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l.get("record").is_some())
        .collect();
    assert_eq!(records.len(), 2, "{logs}");
    let ok = records
        .iter()
        .find(|l| l["request_id"] == "req-single")
        .unwrap();
    assert_eq!(ok["record"]["decision"]["actions"][0]["kind"], "snapshot");
    assert_eq!(ok["ok"], true);
    assert_eq!(ok["outcome"], "ok");
    assert_emf(ok);
    let bad = records
        .iter()
        .find(|l| l["request_id"] == "req-bad")
        .unwrap();
    assert_eq!(bad["ok"], false);
    assert_eq!(bad["outcome"], "bad_event");
    assert_eq!(bad["Failures"], 1);
    assert_emf(bad);
}

/// The line is valid EMF: the `_aws` metadata names the namespace, one dimension set whose
/// keys are strings at the top level, and metrics whose values are numbers at the top level.
fn assert_emf(line: &serde_json::Value) {
    let aws = &line["_aws"];
    assert!(
        aws["Timestamp"]
            .as_u64()
            .is_some_and(|t| t > 1_700_000_000_000),
        "{aws}"
    );
    let directive = &aws["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "clickrules");
    let sets = directive["Dimensions"].as_array().unwrap();
    assert_eq!(
        sets[0],
        serde_json::json!(["function"]),
        "the alarm's dimension set"
    );
    for set in sets {
        for dimension in set.as_array().unwrap() {
            let key = dimension.as_str().unwrap();
            assert!(line[key].is_string(), "dimension {key} in {line}");
        }
    }
    let metrics = directive["Metrics"].as_array().unwrap();
    assert!(metrics.len() >= 5, "{metrics:?}");
    for metric in metrics {
        let name = metric["Name"].as_str().unwrap();
        assert!(line[name].is_number(), "metric {name} in {line}");
        assert!(metric["Unit"].is_string());
    }
    for name in [
        "Presses",
        "Failures",
        "FallbackUsed",
        "ActionsExecuted",
        "ActionsFailed",
    ] {
        assert!(metrics.iter().any(|m| m["Name"] == name), "{name}");
    }
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

/// One bootstrap run with `extra` settings: presses `events` and returns the replies with the
/// log lines the function wrote.
async fn run_bootstrap(
    world: &World,
    name: &str,
    extra: &[(&str, &str)],
    events: Vec<(&str, Vec<u8>)>,
) -> (Vec<runtime_api::Reply>, String) {
    let home = std::env::temp_dir().join(format!("clickrules-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let count = events.len();
    let api = RuntimeApi::start(events);
    let mut child = bootstrap(api.port, &world.moto.endpoint(), &home, extra);
    let replies = api.replies_within(count, std::time::Duration::from_secs(180));
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&home);
    (
        replies,
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// Guests that print, sleep or read stdin use the WASI calls that block. Inside the Lambda's
/// tokio runtime these panicked every press ("Cannot start a runtime from within a runtime")
/// while the same press passed locally. Each must answer with its record, as locally.
#[tokio::test]
async fn guests_that_print_sleep_or_read_stdin_answer_with_their_record() {
    let Some(world) = World::start("guests_that_print_sleep_or_read_stdin").await else {
        return;
    };
    world.snapshot_function("scheduled_snapshot").await;
    // (name, guest, settings, what its stdout must contain)
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, &'a str);
    let mut cases: Vec<Case> = vec![
        (
            "chatty",
            guests::CHATTY,
            vec![("CLICKRULES_CONFIG_LINES", "2")],
            "stdout line 1",
        ),
        (
            "sleep",
            guests::WASI_CALLS,
            vec![
                ("CLICKRULES_CONFIG_CALL", "sleep"),
                ("CLICKRULES_CONFIG_MS", "20"),
            ],
            "",
        ),
        (
            "stdin",
            guests::SNEAKY,
            vec![("CLICKRULES_CONFIG_TRY", "stdin")],
            "",
        ),
    ];
    for (name, path) in [
        ("js", guests::JS_BY_CLICK.path()),
        ("python", guests::PYTHON_BY_CLICK.path()),
    ] {
        match path {
            Some(path) => cases.push((name, path, Vec::new(), "by-click: single press from")),
            None => assert!(!ci(), "the {name} guest must be built under CI"),
        }
    }
    for (name, path, settings, printed) in cases {
        let mut extra = vec![("CLICKRULES_GUEST", path)];
        // Interpreter guests compile at cold start here (unsigned): give them room.
        extra.push(("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048"));
        extra.extend(settings);
        let events = vec![
            ("req-1", fixture("iot-button-single.json")),
            ("req-2", fixture("iot-button-single.json")),
        ];
        let (replies, logs) = run_bootstrap(&world, name, &extra, events).await;
        for reply in &replies {
            assert_eq!(reply.kind, "response", "{name}: {reply:?}\n{logs}");
            assert_eq!(reply.body["ok"], true, "{name}: {reply:?}");
            let stdout = reply.body["decision"]["output"]["stdout"]
                .as_str()
                .unwrap_or_default();
            assert!(stdout.contains(printed), "{name}: stdout {stdout:?}");
        }
        let records = logs
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|l| l.get("record").is_some())
            .count();
        assert_eq!(records, 2, "{name}: one record per press\n{logs}");
        assert!(!logs.contains("panicked"), "{name}: {logs}");
    }
}

/// A guest that sleeps past its deadline fails its press with a deadline record, in wall time;
/// with `CLICKRULES_ON_GUEST_ERROR=builtin` the built-in guest decides instead.
#[tokio::test]
async fn a_guest_sleeping_past_its_deadline_fails_or_falls_back() {
    let Some(world) = World::start("a_guest_sleeping_past_its_deadline").await else {
        return;
    };
    world.snapshot_function("scheduled_snapshot").await;
    let base = [
        ("CLICKRULES_GUEST", guests::WASI_CALLS),
        ("CLICKRULES_CONFIG_CALL", "sleep"),
        ("CLICKRULES_TIMEOUT_MS", "100"),
    ];
    let started = std::time::Instant::now();
    let (replies, logs) = run_bootstrap(
        &world,
        "sleep-fail",
        &base,
        vec![("req-1", fixture("iot-button-single.json"))],
    )
    .await;
    assert_eq!(replies[0].kind, "error", "{:?}\n{logs}", replies[0]);
    assert_eq!(replies[0].body["errorType"], "clickrules.deadline");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "an endless sleep must end at the deadline"
    );

    let mut fallback = base.to_vec();
    fallback.push(("CLICKRULES_ON_GUEST_ERROR", "builtin"));
    let (replies, logs) = run_bootstrap(
        &world,
        "sleep-fallback",
        &fallback,
        vec![("req-1", fixture("iot-button-single.json"))],
    )
    .await;
    let body = &replies[0].body;
    assert_eq!(replies[0].kind, "response", "{:?}\n{logs}", replies[0]);
    assert_eq!(body["ok"], true);
    assert_eq!(body["fallback"]["error"]["kind"], "deadline");
    assert_eq!(body["guest"]["uri"], "builtin:default");
    assert_eq!(body["outcomes"][0]["status"], "done");
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// A dry run and the Lambda give the same decision, the same failure and the same outcome for
/// the same event, guest and settings: the Lambda side through the real `bootstrap`, the dry
/// run through the composition `clickrules press` uses.
#[tokio::test]
async fn a_dry_run_decides_and_fails_exactly_as_the_lambda() {
    let Some(world) = World::start("a_dry_run_decides_and_fails_exactly_as_the_lambda").await
    else {
        return;
    };
    world.snapshot_function("scheduled_snapshot").await;
    let triple = br#"{"serialNumber":"G030JF055364XVRB","clickType":"TRIPLE"}"#.to_vec();
    // (case, guest (None: built in), settings, event)
    type Case<'a> = (&'a str, Option<&'a str>, Vec<(&'a str, &'a str)>, Vec<u8>);
    let cases: Vec<Case> = vec![
        (
            "notify without a topic",
            Some(guests::BY_CLICK),
            vec![],
            fixture("iot-button-long.json"),
        ),
        (
            "a region outside the allow-list",
            None,
            vec![("CLICKRULES_ALLOWED_REGIONS", "eu-west-1")],
            fixture("iot-button-single.json"),
        ),
        (
            "a guest error",
            Some(guests::FAIL),
            vec![],
            fixture("iot-button-single.json"),
        ),
        (
            "a guest error with the fallback",
            Some(guests::FAIL),
            vec![("CLICKRULES_ON_GUEST_ERROR", "builtin")],
            fixture("iot-button-single.json"),
        ),
        ("a bad event", None, vec![], triple),
    ];
    for (name, guest, settings, event) in cases {
        let mut vars = settings.clone();
        if let Some(guest) = guest {
            vars.push(("CLICKRULES_GUEST", guest));
        }
        let parsed = clickrules_aws::Settings::from_env(vars.iter().copied()).unwrap();
        let dry = clickrules_aws::compose(
            &parsed,
            clickrules_aws::Mode::DryRun,
            clickrules_pipeline::NoSink,
        )
        .await
        .unwrap()
        .pipeline
        .press(clickrules_pipeline::PressRequest::new("dry", &event))
        .await
        .record;

        let (replies, logs) =
            run_bootstrap(&world, "parity", &vars, vec![("lambda", event.clone())]).await;
        let reply = &replies[0];
        let lambda: clickrules_pipeline::PressRecord = match reply.kind.as_str() {
            "response" => serde_json::from_value(reply.body.clone()).unwrap(),
            // A failed invocation answers with the error; its record is the logged line.
            _ => logs
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find_map(|l| l.get("record").cloned())
                .map(|r| serde_json::from_value(r).unwrap())
                .unwrap_or_else(|| panic!("{name}: no record logged\n{logs}")),
        };
        assert_eq!(dry.ok, lambda.ok, "{name}");
        assert_eq!(reply.kind == "error", !dry.ok, "{name}: the exit status");
        assert_eq!(
            dry.failure.as_ref().map(|f| &f.kind),
            lambda.failure.as_ref().map(|f| &f.kind),
            "{name}"
        );
        if let Some(failure) = &lambda.failure {
            assert_eq!(
                reply.body["errorType"],
                format!("clickrules.{}", failure.kind),
                "{name}"
            );
        }
        assert_eq!(dry.actions(), lambda.actions(), "{name}");
        assert_eq!(dry.fallback.is_some(), lambda.fallback.is_some(), "{name}");
        assert!(!dry.executed && lambda.executed, "{name}");
    }
}

/// Through the real `bootstrap` with the ledger table: the same press delivered twice (two
/// request ids, one trace id, as a duplicate delivery) invokes the snapshot once; a retry of a
/// press whose notification failed (its topic did not exist yet) publishes once the topic
/// exists and takes no second backup; the records say which delivery was which.
#[tokio::test]
async fn the_ledger_makes_each_press_take_effect_once_through_bootstrap() {
    let Some(world) = World::start("the_ledger_makes_each_press_take_effect_once").await else {
        return;
    };
    world.snapshot_function("scheduled_snapshot").await;
    world.ledger_table("presses").await;
    let traced =
        br#"{"serialNumber":"G030JF055364XVRB","clickType":"SINGLE","clickrules_trace_id":"t-1"}"#;
    world.moto.start_recording();
    let (replies, logs) = run_bootstrap(
        &world,
        "ledger-duplicate",
        &[("CLICKRULES_LEDGER_TABLE", "presses")],
        vec![("req-a", traced.to_vec()), ("req-b", traced.to_vec())],
    )
    .await;
    let recording = world.moto.stop_recording();
    assert_eq!(invocations(&recording).len(), 1, "{logs}");
    let outcomes: Vec<&serde_json::Value> = replies
        .iter()
        .map(|r| &r.body["ledger"]["outcome"])
        .collect();
    assert_eq!(outcomes, ["new", "duplicate"], "{replies:?}");
    assert!(replies.iter().all(|r| r.body["press_id"] == "t-1"));
    assert!(
        logs.contains(r#""ledger":"presses""#),
        "the init log names the table: {logs}"
    );

    let topic = format!("arn:aws:sns:{}:{}:later", moto::REGION, moto::ACCOUNT);
    let settings = [
        ("CLICKRULES_LEDGER_TABLE", "presses"),
        ("CLICKRULES_GUEST", guests::ACTIONS),
        (
            "CLICKRULES_CONFIG_ACTIONS",
            "snapshot:us-west-1;notify:Pressed|hello",
        ),
        ("CLICKRULES_NOTIFY_TOPIC_ARN", topic.as_str()),
    ];
    let event = fixture("iot-button-single.json");
    world.moto.start_recording();
    let (first, _) = run_bootstrap(
        &world,
        "ledger-retry-1",
        &settings,
        vec![("req-r", event.clone())],
    )
    .await;
    assert_eq!(first[0].kind, "error", "{:?}", first[0]);
    world.topic_with_queues("later").await;
    // Lambda's two retries, with the same request id.
    let (retries, logs) = run_bootstrap(
        &world,
        "ledger-retry-2",
        &settings,
        vec![("req-r", event.clone()), ("req-r", event)],
    )
    .await;
    let recording = world.moto.stop_recording();
    assert_eq!(retries[0].kind, "response", "{:?}\n{logs}", retries[0]);
    assert_eq!(retries[0].body["ledger"]["outcome"], "resumed");
    assert_eq!(retries[0].body["ledger"]["skipped_actions"], 1);
    assert_eq!(retries[1].body["ledger"]["outcome"], "duplicate");
    assert_eq!(invocations(&recording).len(), 1, "one backup in all");
}

/// Through the real `bootstrap`: the event reaches the pipeline as delivered, so a duplicate
/// key is refused (a parsed value would have kept the last one silently), and guest text in
/// the record line has its line separators and bidi controls escaped.
#[tokio::test]
async fn raw_events_are_checked_and_log_lines_are_safe_through_bootstrap() {
    let Some(world) = World::start("raw_events_are_checked_and_log_lines_are_safe").await else {
        return;
    };
    let duplicate =
        br#"{"serialNumber":"G030JF055364XVRB","clickType":"SINGLE","clickType":"LONG"}"#.to_vec();
    let tricky = "ignore:a\u{2028}b\u{202e}c";
    let (replies, logs) = run_bootstrap(
        &world,
        "raw-events",
        &[
            ("CLICKRULES_GUEST", guests::ACTIONS),
            ("CLICKRULES_CONFIG_ACTIONS", tricky),
        ],
        vec![
            ("req-dup", duplicate),
            ("req-text", fixture("iot-button-single.json")),
        ],
    )
    .await;
    let dup = replies.iter().find(|r| r.request_id == "req-dup").unwrap();
    assert_eq!(dup.kind, "error", "{dup:?}");
    assert_eq!(dup.body["errorType"], "clickrules.bad_event");
    let message = dup.body["errorMessage"].as_str().unwrap();
    assert!(message.contains(r#""clickType" twice"#), "{message}");

    let text = replies.iter().find(|r| r.request_id == "req-text").unwrap();
    assert_eq!(text.kind, "response", "{text:?}");
    assert_eq!(
        text.body["decision"]["actions"][0]["reason"],
        "a\u{2028}b\u{202e}c"
    );
    let line = logs
        .lines()
        .find(|l| l.contains(r#""request_id":"req-text""#) && l.contains("clickrules::record"))
        .unwrap_or_else(|| panic!("no record line: {logs}"));
    assert!(
        !line.contains('\u{2028}') && !line.contains('\u{202e}'),
        "{line}"
    );
    assert!(
        line.contains(r"\u2028") && line.contains(r"\u202e"),
        "{line}"
    );
}

/// A guest that keeps device state needs the ledger's table: without one, init fails naming
/// the variable (the guest's path is a local file, so no AWS call is needed to find out).
#[test]
fn a_guest_that_uses_state_fails_init_without_a_ledger_table() {
    let api = RuntimeApi::start(Vec::new());
    let home =
        std::env::temp_dir().join(format!("clickrules-bootstrap-state-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let child = bootstrap(
        api.port,
        "http://127.0.0.1:9",
        &home,
        &[("CLICKRULES_GUEST", guests::STATEFUL)],
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
        error.contains("CLICKRULES_LEDGER_TABLE") && error.contains("clickrules:handler/state"),
        "{error}"
    );
}

/// Through the real `bootstrap` and the DynamoDB ledger: a counter guest's presses each add
/// one to the button's count, committed with the decision; a redelivery adds nothing.
#[tokio::test]
async fn device_state_is_committed_once_per_press_through_bootstrap() {
    let Some(world) = World::start("device_state_is_committed_once_per_press").await else {
        return;
    };
    world.ledger_table("presses").await;
    let press = |id: &str| {
        format!(
            r#"{{"serialNumber":"G030JF055364XVRB","clickType":"SINGLE","clickrules_trace_id":"{id}"}}"#
        )
        .into_bytes()
    };
    let (replies, logs) = run_bootstrap(
        &world,
        "state-counter",
        &[
            ("CLICKRULES_LEDGER_TABLE", "presses"),
            ("CLICKRULES_GUEST", guests::STATEFUL),
            ("CLICKRULES_TIMEZONE", "America/New_York"),
        ],
        vec![
            ("req-1", press("t-1")),
            ("req-2", press("t-2")),
            ("req-2b", press("t-2")),
            ("req-3", press("t-3")),
        ],
    )
    .await;
    let reasons: Vec<String> = replies
        .iter()
        .map(|r| {
            r.body["decision"]["actions"][0]["reason"]
                .as_str()
                .unwrap_or_else(|| panic!("{r:?}\n{logs}"))
                .split(':')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        reasons,
        ["count 1", "count 2", "count 2", "count 3"],
        "{logs}"
    );
    assert_eq!(replies[2].body["ledger"]["outcome"], "duplicate");
    assert_eq!(replies[3].body["state"]["version"], 2);
    assert_eq!(replies[3].body["state"]["committed"], true);
    let offset = replies[0].body["click"]["utc_offset_minutes"]
        .as_i64()
        .unwrap();
    assert!(offset == -300 || offset == -240, "{offset}");
    // The logged record line carries the state use too.
    let line = logs
        .lines()
        .find(|l| l.contains(r#""request_id":"req-3""#) && l.contains("clickrules::record"))
        .unwrap_or_else(|| panic!("no record line: {logs}"));
    let line: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(line["record"]["state"]["writes"][0]["value"], "3");
    assert!(line["record"]["state"].get("before").is_none());
}

/// The built-in guest is compiled into the binary as native code for its own architecture:
/// init loads that verified artifact and compiles nothing, and the init line reports each
/// phase's time.
#[tokio::test]
async fn init_loads_the_built_in_guest_precompiled_and_compiles_nothing() {
    let Some(world) = World::start("init_loads_the_built_in_guest_precompiled").await else {
        return;
    };
    world.snapshot_function("scheduled_snapshot").await;
    let (replies, logs) = run_bootstrap(
        &world,
        "precompiled",
        &[],
        vec![("req-1", fixture("iot-button-single.json"))],
    )
    .await;
    let record = &replies[0].body;
    assert_eq!(record["ok"], true, "{record:#}\n{logs}");
    assert_eq!(record["guest"]["uri"], "builtin:default");
    assert_eq!(
        record["guest"]["loaded_from"], "signed_artifact",
        "{record:#}"
    );
    let ready = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["message"] == "ready")
        .unwrap_or_else(|| panic!("no ready line: {logs}"));
    for phase in ["settings_ms", "sdk_ms", "engine_ms", "guest_ms", "init_ms"] {
        assert!(ready[phase].is_number(), "{phase}: {ready}");
    }
    assert!(
        !logs.contains("does not fit this engine; compiling it"),
        "init compiled the built-in guest: {logs}"
    );
}
