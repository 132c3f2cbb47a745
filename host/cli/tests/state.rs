//! `press --state FILE` and `press --now`: a guest that uses state (contract 0.2.0), pressed
//! locally as the Lambda would press it, its buttons' state kept in a file between presses;
//! and `check` of such a guest.

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

fn record(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn scratch(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("clickrules-state-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn press_keeps_state_between_presses_in_the_state_file() {
    let dir = scratch("counter");
    let file = dir.join("state.json");
    let file = file.to_str().unwrap();
    for n in 1..=3 {
        let out = clickrules(
            &[
                "press",
                "--guest",
                guests::STATEFUL,
                "--state",
                file,
                "--json",
            ],
            &[],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let record = record(&out);
        let reason = record["decision"]["actions"][0]["reason"].as_str().unwrap();
        assert!(reason.starts_with(&format!("count {n}: ")), "{reason}");
        assert_eq!(record["state"]["committed"], true);
        assert_eq!(record["guest"]["contract"], "0.2.0");
    }
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let device = &saved["devices"]["iot-button#G030SIMULATED001"];
    assert_eq!(device["version"], 3);
    assert_eq!(device["state"]["count"]["value"], "3");
    // No temporary file is left beside it: only the state and the presses' history.
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["state.json", "state.json.history.jsonl"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn now_sets_the_press_time_so_keys_expire() {
    let dir = scratch("ttl");
    let file = dir.join("state.json");
    let file = file.to_str().unwrap();
    let env = [
        ("CLICKRULES_CONFIG_MODE", "ttl"),
        ("CLICKRULES_CONFIG_TTL", "60"),
    ];
    let at = |now: &str| {
        let out = clickrules(
            &[
                "press",
                "--guest",
                guests::STATEFUL,
                "--state",
                file,
                "--now",
                now,
                "--json",
            ],
            &env,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        record(&out)["decision"]["actions"][0]["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(at("2026-12-02T22:00:00Z"), "cooling false");
    assert_eq!(at("2026-12-02T23:00:30+01:00"), "cooling true");
    assert_eq!(at("2026-12-02T22:01:00Z"), "cooling false");
    let bad = clickrules(&["press", "--now", "yesterday"], &[]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("is not an RFC 3339 time"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_guest_that_uses_state_without_a_state_file_says_what_to_do() {
    let out = clickrules(&["press", "--guest", guests::STATEFUL, "--json"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let record = record(&out);
    assert_eq!(record["failure"]["kind"], "state_unavailable");
    let message = record["failure"]["message"].as_str().unwrap();
    assert!(message.contains("CLICKRULES_LEDGER_TABLE"), "{message}");
    assert!(message.contains("--state FILE"), "{message}");
}

#[test]
fn the_time_zone_gives_guests_their_utc_offset() {
    let dir = scratch("zone");
    let file = dir.join("state.json");
    let out = clickrules(
        &[
            "press",
            "--guest",
            guests::STATEFUL,
            "--state",
            file.to_str().unwrap(),
            "--now",
            "2026-07-15T12:00:00Z",
            "--json",
        ],
        &[("CLICKRULES_TIMEZONE", "Europe/Berlin")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let record = record(&out);
    let reason = record["decision"]["actions"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("offset 120"), "{reason}");
    assert_eq!(record["click"]["utc_offset_minutes"], 120);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_presses_each_case_from_empty_state_and_shows_sequences() {
    let out = clickrules(
        &["check", guests::REMEMBER],
        &[(
            "CLICKRULES_NOTIFY_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:clickrules",
        )],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every single press of the sweep backs up: each starts from empty state.
    let singles: Vec<&str> = text.lines().filter(|l| l.starts_with("SINGLE  ")).collect();
    assert_eq!(singles.len(), 8, "{text}");
    assert!(
        singles
            .iter()
            .all(|l| l.contains("snapshot us-west-1; set last_backup_ms=")),
        "{text}"
    );
    // The sequence: a backup, the cooldown, and a backup again after the TTL.
    let row = |label: &str| {
        text.lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no row {label}: {text}"))
    };
    assert!(row("SINGLE 1/3").contains("snapshot us-west-1"), "{text}");
    assert!(row("SINGLE 2/3 +0.5 s").contains("ignore"), "{text}");
    assert!(
        row("SINGLE 3/3 +601 s").contains("snapshot us-west-1"),
        "{text}"
    );
    assert!(
        row("DOUBLE 2/3 +0.5 s").contains("maintenance off"),
        "{text}"
    );
}
