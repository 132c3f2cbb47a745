//! `clickrules diff`: a candidate and the active guest replayed over the check sweep and the
//! real presses of a local history (`press --state FILE`). It finds exactly the presses whose
//! decisions differ, none between a guest and itself, and says so in its exit status.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clickrules_tests::guests;
use serde_json::Value;

fn clickrules(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clickrules"));
    cmd.args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("CLICKRULES_") {
            cmd.env_remove(key);
        }
    }
    cmd.output().expect("run clickrules")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("clickrules-diff-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Presses the built-in guest once per click type, each with its own press id, into the
/// local history beside `state`.
fn seed_history(state: &Path) {
    for (click, id) in [
        ("single", "p-single"),
        ("double", "p-double"),
        ("long", "p-long"),
    ] {
        let out = clickrules(&[
            "press",
            "--click",
            click,
            "--battery-mv",
            "1705",
            "--press-id",
            id,
            "--state",
            state.to_str().unwrap(),
            "--json",
        ]);
        assert!(out.status.success(), "{}", text(&out));
    }
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

#[test]
fn diff_finds_exactly_the_presses_whose_decisions_change() {
    let dir = scratch("changed");
    let state = dir.join("state.json");
    seed_history(&state);
    let out = clickrules(&[
        "diff",
        guests::BY_CLICK,
        "--state",
        state.to_str().unwrap(),
        "--json",
    ]);
    // Decisions change: exit 1.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = json(&out);
    assert_eq!(report["history_presses"], 3, "{report:#}");
    let mut changed: Vec<&str> = report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["from"] == "history")
        .map(|d| d["press_id"].as_str().unwrap())
        .collect();
    changed.sort_unstable();
    // by-click backs up us-west-1 on SINGLE, as the built-in guest does; DOUBLE backs up
    // another region and LONG notifies.
    assert_eq!(changed, ["p-double", "p-long"], "{report:#}");
    assert_eq!(
        report["same"].as_u64().unwrap() + report["differences"].as_array().unwrap().len() as u64,
        report["presses"].as_u64().unwrap()
    );
    let double = report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["press_id"] == "p-double")
        .unwrap();
    assert_eq!(double["change"], "changed");
    assert_eq!(double["active"]["actions"][0]["region"], "us-west-1");
    assert_ne!(double["candidate"]["actions"][0]["region"], "us-west-1");

    // The table shows the same presses side by side, with the counts.
    let out = clickrules(&["diff", guests::BY_CLICK, "--state", state.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("p-double"), "{table}");
    assert!(table.contains("p-long"), "{table}");
    assert!(!table.contains("p-single"), "{table}");
    assert!(table.contains("decide differently"), "{table}");
}

#[test]
fn a_guest_compared_with_itself_changes_nothing() {
    let dir = scratch("same");
    let state = dir.join("state.json");
    seed_history(&state);
    let out = clickrules(&[
        "diff",
        guests::BY_CLICK,
        "--against",
        guests::BY_CLICK,
        "--state",
        state.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = json(&out);
    assert_eq!(report["differences"].as_array().unwrap().len(), 0);
    assert_eq!(report["same"], report["presses"]);
    // The built-in guest is the default guest's build: the same decisions everywhere.
    let out = clickrules(&["diff", guests::DEFAULT, "--history", "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no decision changes"));
}

#[test]
fn state_keys_only_the_candidate_uses_are_named() {
    let out = clickrules(&["diff", guests::STATEFUL, "--history", "0", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = json(&out);
    assert_eq!(
        report["state_keys_only_candidate"],
        serde_json::json!(["count"])
    );
    assert_eq!(report["state_keys_only_active"], serde_json::json!([]));
}

#[test]
fn a_candidate_that_cannot_be_loaded_exits_2_naming_it() {
    let dir = scratch("missing");
    let missing = dir.join("nope.wasm");
    let out = clickrules(&["diff", missing.to_str().unwrap(), "--history", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("nope.wasm"), "{}", text(&out));
}

#[test]
fn shadow_report_summarises_what_the_shadow_guest_decided_on_local_presses() {
    let dir = scratch("shadow");
    let state = dir.join("state.json");
    for (click, id) in [("single", "s-1"), ("double", "s-2")] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_clickrules"));
        for (key, _) in std::env::vars() {
            if key.starts_with("CLICKRULES_") {
                cmd.env_remove(key);
            }
        }
        let out = cmd
            .args(["press", "--click", click, "--press-id", id, "--state"])
            .arg(&state)
            .arg("--json")
            .env("CLICKRULES_SHADOW_GUEST", guests::BY_CLICK)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let record: Value = serde_json::from_slice(&out.stdout).unwrap();
        // The active (built-in) guest decided; the shadow's decision is only recorded.
        assert_eq!(record["decision"]["actions"][0]["region"], "us-west-1");
        assert!(record["shadow"]["verdict"].is_object(), "{record:#}");
    }
    let out = clickrules(&[
        "shadow",
        "report",
        "--state",
        state.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let report = json(&out);
    assert_eq!(report["shadowed"], 2, "{report:#}");
    assert_eq!(report["differed"], 1, "{report:#}");
    assert_eq!(report["differences"][0]["press_id"], "s-2");
    let out = clickrules(&["shadow", "report", "--state", state.to_str().unwrap()]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("shadowed   2 of 2 presses; 1 decided differently"),
        "{table}"
    );
}
