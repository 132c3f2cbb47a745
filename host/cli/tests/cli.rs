//! The `clickrules` binary as a user runs it: exact output, exit codes, JSON records.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use clickrules_tests::{fixtures_dir, guests};
use serde_json::{Value, json};

fn clickrules(args: &[&str]) -> Output {
    run(args, None)
}

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    run_with(args, stdin, &[])
}

/// Runs `clickrules` with only `env` of the CLICKRULES_* variables set.
fn run_with(args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clickrules"));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // The user's deployment settings must not leak into expectations.
    for (key, _) in std::env::vars() {
        if key.starts_with("CLICKRULES_") {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env.iter().copied());
    let mut child = cmd.spawn().expect("run clickrules");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait for clickrules")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// The output without the line whose figures change from run to run.
fn stable_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.starts_with("cost ")).collect()
}

#[test]
fn press_runs_the_builtin_default_guest() {
    let out = clickrules(&["press"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let sha = clickrules_engine::sha256_hex(clickrules_builtin::DEFAULT_GUEST);
    let size = clickrules_builtin::DEFAULT_GUEST.len() as f64 / 1024.0;
    assert_eq!(
        stable_lines(&stdout(&out)),
        [
            "press      SINGLE from G030SIMULATED001 (battery not reported), iot-button event".to_string(),
            format!("guest      builtin:default (sha256 {}, {size:.1} KiB, contract 0.1.0)", &sha[..12]),
            "decision   ok: 1 action (dry run: nothing was executed)".to_string(),
            r#"  1. snapshot us-west-1               would invoke scheduled_snapshot:prod with {"region":"us-west-1"}"#.to_string(),
        ]
    );
    assert!(stdout(&out).contains(" instructions, "), "{}", stdout(&out));
    assert_eq!(stderr(&out), "");
}

#[test]
fn press_json_prints_the_press_record() {
    let out = clickrules(&[
        "press",
        "--json",
        "--click",
        "double",
        "--battery-mv",
        "1705",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        record["decision"]["actions"],
        json!([{"kind": "snapshot", "region": "us-west-1"}])
    );
    assert_eq!(record["click"]["click_type"], "DOUBLE");
    assert_eq!(record["click"]["battery_mv"], 1705);
    assert_eq!(record["guest"]["uri"], "builtin:default");
    assert_eq!(record["failure"], Value::Null);
    // The same record the Lambda returns, marked as a dry run.
    assert_eq!(record["executed"], false);
    assert_eq!(record["ok"], true);
    assert_eq!(record["ledger"]["outcome"], "off");
    assert_eq!(record["outcomes"][0]["status"], "dry_run");
    assert_eq!(
        record["outcomes"][0]["receipt"],
        json!({"kind": "would_invoke", "target": "scheduled_snapshot:prod",
               "invocation_type": "RequestResponse", "payload": r#"{"region":"us-west-1"}"#})
    );
}

#[test]
fn press_with_a_guest_settings_and_a_real_event() {
    let event = fixtures_dir().join("iot-button-double.json");
    let out = clickrules(&[
        "press",
        "--guest",
        guests::BY_CLICK,
        "--event",
        event.to_str().unwrap(),
        "--config",
        "second_region=eu-west-1",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        record["decision"]["actions"],
        json!([{"kind": "snapshot", "region": "eu-west-1"}])
    );
    assert_eq!(record["click"]["serial_number"], "G030JF055364XVRB");
    assert_eq!(record["guest"]["uri"], guests::BY_CLICK);
}

#[test]
fn press_long_shows_notifications_and_logs() {
    let topic = "arn:aws:sns:us-east-1:123456789012:presses";
    let args = [
        "press",
        "--guest",
        guests::BY_CLICK,
        "--click",
        "long",
        "--battery-mv",
        "1400",
    ];
    let out = run_with(&args, None, &[("CLICKRULES_NOTIFY_TOPIC_ARN", topic)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines = stable_lines(&text);
    assert_eq!(
        lines[2],
        "decision   ok: 2 actions (dry run: nothing was executed)"
    );
    assert_eq!(
        lines[3],
        format!(r#"  1. notify "Button G030SIMULATED001 held" would publish to {topic}"#),
        "{text}"
    );
    assert_eq!(
        lines[4],
        "     message: Button G030SIMULATED001 was held (LONG press). No backup was started."
    );
    assert_eq!(
        lines[7],
        "log        warn  battery at 1400 mV, below 1500 mV"
    );

    // Without a topic the dry run fails as the Lambda would, before anything runs.
    let out = clickrules(&args);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.lines().any(|l| l.starts_with("result     FAILED (preflight): the guest asked for 2 notification(s) but CLICKRULES_NOTIFY_TOPIC_ARN is not set")),
        "{text}"
    );
}

#[test]
fn press_reads_an_event_from_stdin() {
    let out = run(
        &["press", "--event", "-", "--json"],
        Some(br#"{"serialNumber":"G1","clickType":"LONG"}"#),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["click"]["serial_number"], "G1");
}

#[test]
fn malformed_event_names_the_problem_and_fails() {
    let out = run(
        &["press", "--event", "-"],
        Some(br#"{"serialNumber":"G1","clickType":"TRIPLE"}"#),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: bad event: IoT button event field clickType is \"TRIPLE\"; expected one of SINGLE, DOUBLE, LONG\n"
    );
    let out = run(&["press", "--event", "-"], Some(b"not json"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: bad event: event is not valid JSON"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn failing_guests_exit_non_zero_and_still_print_the_record() {
    for (guest, kind) in [(guests::TRAP, "trap"), (guests::FAIL, "guest_error")] {
        let out = clickrules(&["press", "--guest", guest, "--json"]);
        assert_eq!(out.status.code(), Some(1), "{guest}");
        let record: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(record["decision"]["error"]["kind"], kind, "{guest}");
        assert_eq!(record["failure"]["kind"], kind, "{guest}");
        assert_eq!(record["decision"]["actions"], json!([]));
        assert_eq!(record["outcomes"], json!([]));
    }
    let out = clickrules(&[
        "press",
        "--guest",
        guests::SPIN,
        "--timeout-ms",
        "50",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        record["decision"]["error"],
        json!({"kind": "deadline", "message": "the guest ran past its 50 ms deadline"})
    );
    assert_eq!(
        stderr(&out),
        "error: the guest ran past its 50 ms deadline\n"
    );
    // The guest holds 64 MiB under a 32 MiB cap; a generous deadline keeps the cap the limit hit.
    let out = clickrules(&[
        "press",
        "--guest",
        guests::ALLOC,
        "--config",
        "mb=64",
        "--memory-mb",
        "32",
        "--timeout-ms",
        "5000",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        record["decision"]["error"]["kind"], "memory_limit",
        "{record}"
    );
    assert_eq!(record["decision"]["actions"], json!([]));
    let message = record["decision"]["error"]["message"].as_str().unwrap();
    assert!(message.ends_with("over the 33554432-byte cap"), "{message}");
    assert_eq!(stderr(&out), format!("error: {message}\n"));
}

#[test]
fn rejected_actions_exit_non_zero() {
    let out = clickrules(&[
        "press",
        "--guest",
        guests::ACTIONS,
        "--config",
        "actions=snapshot:nowhere",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["decision"]["error"]["kind"], "invalid_actions");
    assert_eq!(record["failure"]["retryable"], false);
}

#[test]
fn unloadable_guests_are_explained() {
    let out = clickrules(&["press", "--guest", guests::WRONG_WORLD]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("has no `handle` export (its exports: greet)"),
        "{}",
        stderr(&out)
    );
    let out = clickrules(&["press", "--guest", "/no/such/guest.wasm"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: could not read the guest /no/such/guest.wasm"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_prints_the_full_table_for_by_click() {
    // by-click notifies on a low battery: checked under a deployment with a topic.
    let out = run_with(
        &["check", guests::BY_CLICK],
        None,
        &[(
            "CLICKRULES_NOTIFY_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:clickrules",
        )],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("SINGLE") || l.starts_with("DOUBLE") || l.starts_with("LONG"))
        .collect();
    assert_eq!(rows.len(), 24, "{text}");
    assert!(rows.iter().all(|r| r.contains("  ok  ")), "{text}");
    assert!(rows[0].contains("snapshot us-west-1"), "{text}");
    assert!(
        rows[1].contains(r#"snapshot us-west-1; notify "Button G030SIMULATED001 battery low""#),
        "{text}"
    );
    assert!(rows[8].contains("snapshot us-east-1"), "{text}");
    assert!(
        rows[16].contains(r#"notify "Button G030SIMULATED001 held""#),
        "{text}"
    );
    assert!(
        text.contains("24 presses: 24 ok, 0 failed, 0 skipped"),
        "{text}"
    );
}

#[test]
fn check_json_has_a_record_per_row() {
    let out = clickrules(&["check", guests::DEFAULT, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 24);
    assert!(
        rows.iter()
            .all(|r| r["decision"]["actions"]
                == json!([{"kind": "snapshot", "region": "us-west-1"}]))
    );
}

#[test]
fn check_fails_a_looping_guest_with_a_deadline_error() {
    let out = clickrules(&["check", guests::SPIN, "--timeout-ms", "100"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("FAIL    deadline: the guest ran past its 100 ms deadline"),
        "{text}"
    );
    assert!(
        text.contains("24 presses: 0 ok, 1 failed, 23 skipped"),
        "{text}"
    );
    assert_eq!(
        stderr(&out),
        "error: 1 of 24 presses failed and 23 were skipped after one ran out of time or fuel\n"
    );
}

#[test]
fn bad_arguments_are_usage_errors() {
    let out = clickrules(&["press", "--config", "novalue"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("expected KEY=VALUE"),
        "{}",
        stderr(&out)
    );
    let out = clickrules(&["press", "--click", "quadruple"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Guest- and device-supplied text cannot redraw the terminal or forge a row: control and
/// bidi characters print as `\u{..}` escapes, in `press` and in `check`.
#[test]
fn guest_text_is_escaped_in_human_output() {
    let forged = "ignore:x\u{1b}[2J\u{1b}[H\ndecision   ok: 1 action\u{202e}";
    let settings = format!("actions={forged}");
    let out = clickrules(&["press", "--guest", guests::ACTIONS, "--config", &settings]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{202e}'),
        "{text:?}"
    );
    assert!(
        text.contains(r"reason: x\u{1b}[2J\u{1b}[H\u{a}decision   ok: 1 action\u{202e}"),
        "{text}"
    );
    assert_eq!(
        text.lines().filter(|l| l.starts_with("decision")).count(),
        1,
        "{text}"
    );

    let out = clickrules(&["check", guests::ACTIONS, "--config", &settings]);
    let text = stdout(&out);
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{202e}'),
        "{text:?}"
    );
    assert!(!text.lines().any(|l| l.starts_with("decision")), "{text}");

    // The guest's own error, on stderr too.
    let out = clickrules(&[
        "press",
        "--guest",
        guests::ACTIONS,
        "--config",
        "actions=bogus\u{1b}[2J:x",
    ]);
    assert!(!out.status.success());
    assert!(!stderr(&out).contains('\u{1b}'), "{:?}", stderr(&out));
    assert!(!stdout(&out).contains('\u{1b}'), "{:?}", stdout(&out));
}

/// A device's serial number is part of the press: control characters and bidi overrides in
/// it are refused with the field named, not echoed.
#[test]
fn a_serial_with_control_characters_is_refused() {
    let out = run(
        &["press", "--event", "-", "--json"],
        Some(br#"{"serialNumber":"G1\u001b[2J","clickType":"SINGLE"}"#),
    );
    assert!(!out.status.success());
    let record: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(record["failure"]["kind"], "bad_event");
    let message = record["failure"]["message"].as_str().unwrap();
    assert!(message.contains("serialNumber"), "{message}");
}
