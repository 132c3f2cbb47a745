//! `history`, `explain` and `forget` over the local history `press --state FILE` keeps beside
//! FILE: real presses through the built binary, then the history read back, each reason
//! nothing happened explained, retention applied on the next press, and a device forgotten.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clickrules_tests::guests;
use serde_json::Value;

fn clickrules(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clickrules"));
    cmd.args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("CLICKRULES_") {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run clickrules")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(out), stderr(out)))
}

fn scratch(test: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("clickrules-history-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A local press into `state`, which must succeed (`ok`) or fail (exit 1).
fn press(state: &Path, args: &[&str], env: &[(&str, &str)], ok: bool) {
    let mut all = vec!["press", "--state", state.to_str().unwrap(), "--json"];
    all.extend_from_slice(args);
    let out = clickrules(&all, env);
    assert_eq!(
        out.status.code(),
        Some(if ok { 0 } else { 1 }),
        "press {args:?}:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// `history --state FILE ARGS`, which must succeed.
fn history(state: &Path, args: &[&str]) -> Output {
    let mut all = vec!["history", "--state", state.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = clickrules(&all, &[]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    out
}

/// The press ids `history --json` lists, in its order.
fn listed(state: &Path, args: &[&str]) -> Vec<String> {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    json(&history(state, &all))
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|e| e["record"]["press_id"].as_str().unwrap().to_string())
        .collect()
}

/// `explain PRESS_ID --state FILE`'s story, which must be told.
fn explain(state: &Path, press_id: &str) -> String {
    let out = clickrules(
        &["explain", press_id, "--state", state.to_str().unwrap()],
        &[],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    stdout(&out)
}

fn assert_has(text: &str, wanted: &str) {
    assert!(text.contains(wanted), "no {wanted:?} in:\n{text}");
}

/// Now less `hours`, as RFC 3339.
fn hours_ago(hours: i64) -> String {
    let at = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(hours);
    at.to_string()
}

#[test]
fn history_lists_presses_newest_first_and_filters_them() {
    let dir = scratch("list");
    let state = dir.join("state.json");
    press(
        &state,
        &[
            "--press-id",
            "first",
            "--serial",
            "ALPHA",
            "--now",
            &hours_ago(3),
        ],
        &[],
        true,
    );
    press(
        &state,
        &[
            "--press-id",
            "second",
            "--serial",
            "BRAVO",
            "--click",
            "long",
            "--guest",
            guests::ACTIONS,
            "--config",
            "actions=ignore:outside office hours",
            "--now",
            &hours_ago(2),
        ],
        &[],
        true,
    );
    press(
        &state,
        &[
            "--press-id",
            "third",
            "--serial",
            "ALPHA",
            "--click",
            "long",
            "--guest",
            guests::PANIC,
            "--now",
            &hours_ago(1),
        ],
        &[],
        false,
    );
    assert!(dir.join("state.json.history.jsonl").is_file());

    let table = stdout(&history(&state, &[]));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(lines[0].starts_with("time (UTC)"), "{table}");
    for (line, (id, device, outcome, rest)) in lines[1..].iter().zip([
        ("third", "iot-button#ALPHA", "failed", "trap"),
        (
            "second",
            "iot-button#BRAVO",
            "ignored",
            "ignore: outside office hours",
        ),
        (
            "first",
            "iot-button#ALPHA",
            "ok (dry run)",
            "snapshot(us-west-1)",
        ),
    ]) {
        for wanted in [id, device, outcome, rest] {
            assert_has(line, wanted);
        }
    }

    assert_eq!(listed(&state, &[]), ["third", "second", "first"]);
    assert_eq!(
        listed(&state, &["--device", "iot-button#ALPHA"]),
        ["third", "first"]
    );
    assert_eq!(listed(&state, &["--device", "BRAVO"]), ["second"]);
    assert_eq!(listed(&state, &["--outcome", "ignored"]), ["second"]);
    assert_eq!(listed(&state, &["--outcome", "failed"]), ["third"]);
    assert_eq!(listed(&state, &["--since", "90m"]), ["third"]);
    assert_eq!(
        listed(&state, &["--since", &hours_ago(4), "--until", "150m"]),
        ["first"]
    );
    assert_eq!(listed(&state, &["--limit", "1"]), ["third"]);

    let entries = json(&history(&state, &["--json", "--limit", "1"]));
    assert_eq!(entries[0]["record"]["failure"]["kind"], "trap");
    assert!(entries[0]["received_at_ms"].as_u64().unwrap() > 0);

    let none = stdout(&history(&state, &["--device", "CHARLIE"]));
    assert_has(&none, "no presses in ");
    assert_has(&none, "match device CHARLIE");

    let bad = clickrules(
        &[
            "history",
            "--state",
            state.to_str().unwrap(),
            "--outcome",
            "fine",
        ],
        &[],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert_has(
        &stderr(&bad),
        "ok, ignored, not_a_press, duplicate, in_progress, fallback, failed",
    );
    let bad = clickrules(
        &[
            "history",
            "--state",
            state.to_str().unwrap(),
            "--since",
            "yesterday",
        ],
        &[],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert_has(&stderr(&bad), "neither a duration");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn history_needs_exactly_one_source() {
    let none = clickrules(&["history"], &[]);
    assert_eq!(none.status.code(), Some(2));
    assert_has(&stderr(&none), "--state");
    let two = clickrules(&["history", "--state", "s.json", "--table", "t"], &[]);
    assert_eq!(two.status.code(), Some(2));
    assert_has(&stderr(&two), "cannot be used with");
}

#[test]
fn explain_says_why_nothing_happened() {
    let dir = scratch("explain");
    let state = dir.join("state.json");
    let fixture = |name: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/sources")
            .join(name)
            .to_string_lossy()
            .into_owned()
    };

    // Not a press: a Shelly button-down edge; its press id is the topic rule's trace id.
    press(
        &state,
        &["--event", &fixture("shelly-gen2/plus2pm-btn-down.json")],
        &[],
        true,
    );
    let story = explain(&state, "d268b400-8ee6-47d9-9e20-17dd1e754c7b");
    assert_has(&story, "arrived    shelly-gen2 event");
    assert_has(&story, "from shelly-gen2#shellyplus2pm-441793acb13c");
    assert_has(
        &story,
        "nothing happened: not a press (not_a_press): event \"btn_down\" (an edge, not a press)",
    );

    // A duplicate: the same press delivered twice runs once.
    press(&state, &["--press-id", "twice"], &[], true);
    press(&state, &["--press-id", "twice"], &[], true);
    let story = explain(&state, "twice");
    assert_has(&story, "(delivered 2 times: 1 answered as a duplicate)");
    assert_has(
        &story,
        "1 later delivery was answered as a duplicate of delivery 1: nothing ran again",
    );
    assert_eq!(listed(&state, &["--outcome", "duplicate"]), ["twice"]);
    assert_has(&stdout(&history(&state, &[])), "+1 dup");

    // Ignored by the guest.
    let ignore = [
        "--guest",
        guests::ACTIONS,
        "--config",
        "actions=ignore:outside office hours",
    ];
    press(
        &state,
        &[&["--press-id", "ignored"], &ignore[..]].concat(),
        &[],
        true,
    );
    let story = explain(&state, "ignored");
    assert_has(&story, "decided    ignore — \"outside office hours\"");
    assert_has(
        &story,
        "nothing happened: ignored by the guest: \"outside office hours\"",
    );

    // A rejected action: nothing runs, all or nothing.
    press(
        &state,
        &[
            "--press-id",
            "rejected",
            "--guest",
            guests::ACTIONS,
            "--config",
            "actions=notify:hello;snapshot:mars-1",
        ],
        &[],
        false,
    );
    let story = explain(&state, "rejected");
    assert_has(&story, "result     FAILED (invalid_actions)");
    assert_has(
        &story,
        "nothing happened: rejected action (invalid_actions): ",
    );
    assert_has(&story, "mars-1");
    assert_has(&story, "nothing ran: actions are all or nothing");

    // A guest error, with where it trapped.
    press(
        &state,
        &[
            "--press-id",
            "trapped",
            "--guest",
            guests::PANIC,
            "--click",
            "long",
        ],
        &[],
        false,
    );
    let story = explain(&state, "trapped");
    assert_has(&story, "nothing happened: guest error (trap): ");
    assert_has(&story, "guest backtrace (innermost first):");
    assert_has(&story, "region_for");

    // The fallback: the configured guest failed and the built-in one decided.
    press(
        &state,
        &["--press-id", "rescued", "--guest", guests::FAIL],
        &[("CLICKRULES_ON_GUEST_ERROR", "builtin")],
        true,
    );
    let story = explain(&state, "rescued");
    assert_has(&story, "failed (guest_error): ");
    assert_has(&story, "fallback   builtin:default");
    assert_has(&story, "nothing happened: the configured guest ");
    assert_has(&story, "the built-in guest builtin:default decided instead");
    assert_eq!(listed(&state, &["--outcome", "fallback"]), ["rescued"]);

    // A device the deployment does not know.
    press(
        &state,
        &["--press-id", "stranger"],
        &[("CLICKRULES_ALLOWED_DEVICES", "iot-button:SOMEONE-ELSE")],
        false,
    );
    let story = explain(&state, "stranger");
    assert_has(
        &story,
        "nothing happened: unknown device (unknown_device): ",
    );

    // A press that did what it decided says no more than that it was a dry run.
    let story = explain(&state, "twice");
    assert_has(
        &story,
        "would run  1. snapshot us-west-1: would invoke scheduled_snapshot:prod",
    );
    assert_has(&story, "nothing happened: a dry run");

    let json_out = clickrules(
        &[
            "explain",
            "ignored",
            "--state",
            state.to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    assert!(json_out.status.success(), "{}", stderr(&json_out));
    assert_eq!(json(&json_out)["record"]["press_id"], "ignored");

    let missing = clickrules(
        &["explain", "nope", "--state", state.to_str().unwrap()],
        &[],
    );
    assert_eq!(missing.status.code(), Some(1));
    assert_has(
        &stderr(&missing),
        &format!("no press nope in {}.history.jsonl", state.display()),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn retention_drops_old_presses_on_the_next_press() {
    let dir = scratch("retention");
    let state = dir.join("state.json");
    let days_ago = |days: i64| hours_ago(24 * days);
    // Failures are kept 30 days, other presses 7.
    let rejected = [
        "--guest",
        guests::ACTIONS,
        "--config",
        "actions=snapshot:mars-1",
    ];
    press(
        &state,
        &[
            &["--press-id", "old-failure", "--now", &days_ago(8)],
            &rejected[..],
        ]
        .concat(),
        &[],
        false,
    );
    press(
        &state,
        &["--press-id", "old-ok", "--now", &days_ago(8)],
        &[],
        true,
    );
    assert_eq!(listed(&state, &[]), ["old-ok", "old-failure"]);

    press(&state, &["--press-id", "today"], &[], true);
    assert_eq!(listed(&state, &[]), ["today", "old-failure"]);

    press(
        &state,
        &[
            &["--press-id", "ancient-failure", "--now", &days_ago(31)],
            &rejected[..],
        ]
        .concat(),
        &[],
        false,
    );
    press(&state, &["--press-id", "later"], &[], true);
    assert_eq!(listed(&state, &[]), ["later", "today", "old-failure"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn forget_removes_a_devices_presses_and_state() {
    let dir = scratch("forget");
    let state = dir.join("state.json");
    for serial in ["ALPHA", "ALPHA", "BRAVO"] {
        press(
            &state,
            &["--guest", guests::STATEFUL, "--serial", serial],
            &[],
            true,
        );
    }
    let path = state.to_str().unwrap();

    // No terminal to ask on: it refuses, naming --yes, and deletes nothing.
    let refused = clickrules(&["forget", "iot-button#ALPHA", "--state", path], &[]);
    assert_eq!(refused.status.code(), Some(1));
    assert_has(&stderr(&refused), "--yes");
    assert_eq!(listed(&state, &["--device", "ALPHA"]).len(), 2);

    let out = clickrules(
        &["forget", "iot-button#ALPHA", "--state", path, "--yes"],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_has(
        &stdout(&out),
        "forgot iot-button#ALPHA: removed 2 presses and 1 device state from ",
    );
    assert!(listed(&state, &["--device", "ALPHA"]).is_empty());
    assert_eq!(listed(&state, &[]).len(), 1);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let devices: Vec<&String> = saved["devices"].as_object().unwrap().keys().collect();
    assert_eq!(devices, ["iot-button#BRAVO"]);
    // Nothing is left half written beside them.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);

    let again = clickrules(&["forget", "ALPHA", "--state", path, "--yes"], &[]);
    assert_has(&stdout(&again), "removed 0 presses and 0 device states");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_corrupt_line_is_named_and_presses_go_on() {
    let dir = scratch("corrupt");
    let state = dir.join("state.json");
    press(&state, &["--press-id", "before"], &[], true);
    let file = dir.join("state.json.history.jsonl");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("{\"record\": \"not a record\"}\n");
    std::fs::write(&file, text).unwrap();

    let out = clickrules(&["history", "--state", state.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    let message = stderr(&out);
    assert_has(&message, &file.display().to_string());
    assert_has(&message, "line 2");

    // The press still runs and is kept; the broken line stays for its owner to fix.
    press(&state, &["--press-id", "after"], &[], true);
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert_has(&text, "not a record");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--table` reads the deployment's ledger table: presses executed against the moto emulator
/// with `CLICKRULES_LEDGER_TABLE`, then listed, explained and forgotten from the table.
#[test]
fn the_ledger_table_is_a_source_too() {
    use clickrules_test_support::run;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(world) = rt.block_on(clickrules_test_support::World::start(
        "the_ledger_table_is_a_source_too",
    )) else {
        return;
    };
    rt.block_on(world.ledger_table("presses"));
    rt.block_on(world.snapshot_function("scheduled_snapshot"));
    let endpoint = world.moto.endpoint();
    let aws = |args: &[&str]| {
        run::against(
            env!("CARGO_BIN_EXE_clickrules"),
            args,
            &endpoint,
            &[("CLICKRULES_LEDGER_TABLE", "presses")],
        )
    };
    let snapshot = [
        "press",
        "--execute",
        "--press-id",
        "table-1",
        "--serial",
        "ALPHA",
    ];
    for _ in 0..2 {
        let out = aws(&snapshot);
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    }
    let out = aws(&[
        "press",
        "--execute",
        "--press-id",
        "table-2",
        "--serial",
        "BRAVO",
        "--guest",
        guests::ACTIONS,
        "--config",
        "actions=ignore:outside office hours",
    ]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));

    let out = aws(&["history", "--table", "presses", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let entries = json(&out);
    let ids: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["record"]["press_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["table-2", "table-1"]);
    assert_eq!(entries[1]["duplicates"], 1);

    let out = aws(&["history", "--table", "presses", "--outcome", "ignored"]);
    let table = stdout(&out);
    assert_has(&table, "iot-button#BRAVO");
    assert!(!table.contains("table-1"), "{table}");

    let out = aws(&["explain", "table-1", "--table", "presses"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let story = stdout(&out);
    assert_has(
        &story,
        "ran        1. snapshot us-west-1: done (invoked scheduled_snapshot",
    );
    assert_has(&story, "1 answered as a duplicate");
    assert_has(&story, "result     ok");

    // Some actions ran, one failed: which is which, and whether a retry runs the rest.
    let out = run::against(
        env!("CARGO_BIN_EXE_clickrules"),
        &[
            "press",
            "--execute",
            "--press-id",
            "table-3",
            "--guest",
            guests::ACTIONS,
            "--config",
            "actions=snapshot:us-east-1;notify:hello|world",
        ],
        &endpoint,
        &[
            ("CLICKRULES_LEDGER_TABLE", "presses"),
            (
                "CLICKRULES_NOTIFY_TOPIC_ARN",
                "arn:aws:sns:us-east-1:123456789012:no-such-topic",
            ),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let out = aws(&["explain", "table-3", "--table", "presses"]);
    let story = stdout(&out);
    assert_has(&story, "result     FAILED (actions)");
    assert_has(
        &story,
        "nothing happened: some actions failed (actions): ran 1. snapshot(us-east-1); failed 2. \
         notify(\"hello\") (",
    );

    let out = aws(&["explain", "nope", "--table", "presses"]);
    assert_eq!(out.status.code(), Some(1));
    assert_has(&stderr(&out), "no press nope in table presses");

    let out = aws(&["history", "--table", "missing"]);
    assert_eq!(out.status.code(), Some(1));
    let message = stderr(&out);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert_has(&message, "missing");

    let out = aws(&["forget", "iot-button#BRAVO", "--table", "presses", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_has(&stdout(&out), "removed 1 press");
    let out = aws(&[
        "history", "--table", "presses", "--device", "BRAVO", "--json",
    ]);
    assert_eq!(json(&out), serde_json::json!([]));
}
