//! Any button, without the hardware: `press --source S --click C`, `press --event` of every
//! vendor fixture and of signed webhook requests (verified locally with `--flic-key`,
//! `--webhook-secret`, `--flic-allow`), and `check --source S`'s coverage matrix.

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

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn path(relative: &str) -> String {
    repo().join(relative).to_string_lossy().into_owned()
}

#[test]
fn a_triple_press_of_a_simulated_shelly_goes_through_its_normalisation() {
    let out = clickrules(&[
        "press",
        "--source",
        "shelly-gen2",
        "--click",
        "triple",
        "--serial",
        "shellyplusi4-a1",
        "--guest",
        guests::DEFAULT_V02,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let record = json(&out);
    assert_eq!(record["event_format"], "shelly-gen2");
    assert_eq!(record["click"]["click_type"], "TRIPLE");
    assert_eq!(record["click"]["source"], "shelly-gen2");
    assert_eq!(record["click"]["serial_number"], "shellyplusi4-a1");
    assert_eq!(record["decision"]["actions"][0]["kind"], "snapshot");
    // A 0.1.0 guest knows no triple press: it is ignored with the reason, not an error.
    let out = clickrules(&[
        "press",
        "--source",
        "zigbee2mqtt",
        "--click",
        "triple",
        "--json",
    ]);
    assert!(out.status.success());
    assert_eq!(json(&out)["decision"]["actions"][0]["kind"], "ignore");
}

#[test]
fn a_source_without_the_gesture_is_refused_naming_its_gestures() {
    let out = clickrules(&["press", "--click", "triple"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("iot-button") && stderr.contains("SINGLE, DOUBLE, LONG"),
        "{stderr}"
    );
    let out = clickrules(&["press", "--source", "lora", "--click", "single"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses an unknown source");
    assert!(String::from_utf8_lossy(&out.stderr).contains("shelly-gen1"));
}

#[test]
fn every_vendor_fixture_presses_locally() {
    let expected: Value = serde_json::from_slice(
        &std::fs::read(repo().join("tests/fixtures/sources/expected.json")).unwrap(),
    )
    .unwrap();
    let expected = expected.as_object().unwrap();
    assert!(expected.len() >= 50);
    for (name, want) in expected {
        let file = path(&format!("tests/fixtures/sources/{name}"));
        let out = clickrules(&["press", "--event", &file, "--json"]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = json(&out);
        let records: Vec<&Value> = match got.get("presses") {
            Some(all) => all.as_array().unwrap().iter().collect(),
            None => vec![&got],
        };
        let presses = want["presses"].as_array().unwrap();
        if presses.is_empty() {
            // No press: recorded with why, nothing decided.
            assert_eq!(records.len(), 1, "{name}");
            assert_eq!(
                records[0]["skipped"][0]["kind"], want["skipped"][0]["kind"],
                "{name}"
            );
            assert!(records[0]["decision"].is_null(), "{name}");
            continue;
        }
        assert_eq!(records.len(), presses.len(), "{name}");
        for (record, press) in records.iter().zip(presses) {
            assert_eq!(record["click"]["serial_number"], press["device"], "{name}");
            assert_eq!(record["click"]["click_type"], press["click"], "{name}");
            assert_eq!(record["event_format"], want["source"], "{name}");
            assert_eq!(
                record["device_counter"].as_bool().unwrap_or(false),
                !press["device_counter"].is_null(),
                "{name}"
            );
        }
    }
}

#[test]
fn a_signed_webhook_request_is_verified_locally() {
    let event = path("host/webhooks/fixtures/function-url-webhook.json");
    let secret = path("host/webhooks/fixtures/test-webhook-secret.txt");
    // The fixture was signed at 2026-01-01T00:00:00Z: pressed then, it verifies.
    let at = "2026-01-01T00:00:30Z";
    let out = clickrules(&[
        "press",
        "--event",
        &event,
        "--webhook-secret",
        &secret,
        "--now",
        at,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let record = json(&out);
    assert_eq!(record["event_format"], "webhook");
    assert_eq!(record["click"]["source"], "webhook");
    assert!(record["press_id"].as_str().unwrap().starts_with("webhook:"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 200"));

    // An hour later it is stale: refused, nothing decided, the reason recorded.
    let out = clickrules(&[
        "press",
        "--event",
        &event,
        "--webhook-secret",
        &secret,
        "--now",
        "2026-01-01T01:00:00Z",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let record = json(&out);
    assert_eq!(record["failure"]["kind"], "unauthorized");
    assert!(record["decision"].is_null());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(r#"HTTP 401 {"message":"unauthorized"}"#)
    );

    // With another secret the signature does not match.
    let dir = std::env::temp_dir().join(format!("clickrules-sources-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let wrong = dir.join("wrong-secret.txt");
    std::fs::write(&wrong, "not the secret").unwrap();
    let out = clickrules(&[
        "press",
        "--event",
        &event,
        "--webhook-secret",
        wrong.to_str().unwrap(),
        "--now",
        at,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["failure"]["kind"], "unauthorized");

    // Without the secret nothing can be verified: the error says what to pass.
    let out = clickrules(&["press", "--event", &event, "--now", at]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--webhook-secret"));
}

#[test]
fn a_flic_token_is_verified_locally_against_the_key_and_the_allow_list() {
    let event = path("host/webhooks/fixtures/function-url-flic.json");
    let key = path("host/webhooks/fixtures/test-flic-key.pub.pem");
    let out = clickrules(&["press", "--event", &event, "--flic-key", &key, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let record = json(&out);
    assert_eq!(record["event_format"], "flic");
    assert!(record["press_id"].as_str().unwrap().starts_with("flic:"));
    // Flic's published key did not sign the test token.
    let out = clickrules(&["press", "--event", &event, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["failure"]["kind"], "unauthorized");
    // A button that is not allowed.
    let out = clickrules(&[
        "press",
        "--event",
        &event,
        "--flic-key",
        &key,
        "--flic-allow",
        "00000000-0000-0000-0000-000000000000",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["failure"]["kind"], "unauthorized");
}

#[test]
fn check_shows_the_coverage_of_a_source_and_flags_failing_gestures() {
    let out = clickrules(&["check", "builtin:default", "--source", "shelly-gen2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("coverage   shelly-gen2"), "{table}");
    for gesture in ["SINGLE", "DOUBLE", "TRIPLE", "LONG"] {
        assert!(table.contains(&format!("shelly-gen2 {gesture}")), "{table}");
    }
    // The by-click guest notifies on LONG; with no topic configured that press fails.
    let out = clickrules(&[
        "check",
        guests::BY_CLICK,
        "--source",
        "zigbee2mqtt",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    let rows: Vec<&Value> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["source"] == "zigbee2mqtt")
        .collect();
    assert_eq!(rows.len(), 4);
    let clicks: Vec<&str> = rows
        .iter()
        .map(|r| r["click_type"].as_str().unwrap())
        .collect();
    assert_eq!(clicks, ["SINGLE", "DOUBLE", "TRIPLE", "LONG"]);
    for row in rows {
        let failed = row["result"] == "fail";
        assert_eq!(failed, row["click_type"] == "LONG", "{row}");
    }
    let out = clickrules(&["check", guests::BY_CLICK, "--source", "zigbee2mqtt"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("<- the guest fails on this gesture"));
}
