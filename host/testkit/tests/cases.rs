//! Cases files: what they say, what a mistake in one reports, and what running one against
//! real guests built from `guests/` gives.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clickrules_testkit::build::{self, BuildError};
use clickrules_testkit::cases::{Case, Cases, CasesError, Format, Outcome, StateValue};
use clickrules_testkit::{Action, ClickType, EngineConfig, TEST_RECEIVED_AT_MS, TEST_SERIAL};
use clickrules_tests::guests;

fn toml(text: &str) -> Result<Cases, CasesError> {
    Cases::parse(text, Format::Toml, "cases.toml")
}

fn one(text: &str) -> Case {
    let cases = toml(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cases.cases().len(), 1);
    cases.cases()[0].clone()
}

/// The field a parse error names, and its case.
fn field_error(text: &str) -> (Option<String>, String) {
    match toml(text) {
        Err(CasesError::Field {
            path, case, field, ..
        }) => {
            assert_eq!(path, Path::new("cases.toml"));
            (case, field)
        }
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn omitted_fields_take_the_documented_defaults() {
    let case = one("[[cases]]\nname = \"plain\"\nexpect.actions = []\n");
    assert_eq!(case.click, ClickType::Single);
    assert_eq!(case.serial, TEST_SERIAL);
    assert_eq!(case.battery_mv, None);
    assert_eq!(case.battery_pct, None);
    assert_eq!(case.source, "iot-button");
    assert!(case.settings.is_empty());
    assert_eq!(case.time_ms, TEST_RECEIVED_AT_MS);
    assert!(case.state.is_empty());
    assert_eq!(case.expect.outcome, Outcome::Actions(Vec::new()));
    assert_eq!(case.expect.state, None);
}

#[test]
fn every_field_reads_in_toml() {
    let cases = toml(
        r#"
        [defaults]
        serial = "G030DEFAULTS0001"
        settings = { region = "eu-west-1", low_battery_mv = 1600 }

        [[cases]]
        name = "everything"
        click = "double"
        battery_mv = 1400
        battery_pct = 40
        source = "shelly-gen2"
        settings = { low_battery_mv = "1500" }
        time = "2025-11-25T19:46:40Z"
        state = { count = "4", cooldown = { value = "1", ttl_seconds = 60 }, n = 7 }
        expect.actions = [
            { snapshot = "us-east-1" },
            { notify = { subject = "S", message = "M" } },
            { ignore = "why" },
            { kind = "snapshot", region = "eu-west-1" },
        ]
        expect.state = { count = "5" }

        [[cases]]
        name = "unquoted TOML time, ms time"
        time = 2025-11-25T19:46:40.5Z
        expect.error = "trap"

        [[cases]]
        name = "ms"
        time = 1764100000000
        expect.error = { kind = "guest-error", message = "no" }
        "#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let [all, datetime, ms] = cases.cases() else {
        panic!("three cases")
    };
    assert_eq!(all.click, ClickType::Double);
    assert_eq!(all.serial, "G030DEFAULTS0001");
    assert_eq!((all.battery_mv, all.battery_pct), (Some(1400), Some(40)));
    assert_eq!(all.source, "shelly-gen2");
    assert_eq!(
        all.settings,
        BTreeMap::from([
            ("low_battery_mv".to_string(), "1500".to_string()),
            ("region".to_string(), "eu-west-1".to_string()),
        ]),
        "the case's settings go over the defaults' key by key"
    );
    assert_eq!(all.time_ms, 1_764_100_000_000);
    assert_eq!(
        all.state["cooldown"],
        StateValue {
            value: "1".into(),
            ttl_seconds: Some(60)
        }
    );
    assert_eq!(all.state["n"].value, "7");
    assert_eq!(
        all.expect.outcome,
        Outcome::Actions(vec![
            Action::snapshot("us-east-1"),
            Action::notify("S", "M"),
            Action::ignore("why"),
            Action::snapshot("eu-west-1"),
        ])
    );
    assert_eq!(all.expect.state.as_ref().unwrap()["count"].value, "5");
    assert_eq!(datetime.time_ms, 1_764_100_000_500);
    assert_eq!(
        datetime.expect.outcome,
        Outcome::Error {
            kind: "trap".into(),
            message: None
        }
    );
    assert_eq!(ms.time_ms, TEST_RECEIVED_AT_MS);
    assert_eq!(
        ms.expect.outcome,
        Outcome::Error {
            kind: "guest_error".into(),
            message: Some("no".into())
        }
    );
}

#[test]
fn json_reads_the_same_document_or_a_bare_list() {
    let doc = r#"{"cases": [{"name": "j", "click": "LONG", "time": 5,
                  "expect": {"actions": [{"kind": "ignore", "reason": "r"}]}}]}"#;
    let list = r#"[{"name": "j", "click": "LONG", "time": 5,
                  "expect": {"actions": [{"ignore": "r"}]}}]"#;
    let a = Cases::parse(doc, Format::Json, "c.json").unwrap();
    let b = Cases::parse(list, Format::Json, "c.json").unwrap();
    assert_eq!(a, b);
    assert_eq!(a.cases()[0].time_ms, 5);
    assert_eq!(a.cases()[0].click, ClickType::Long);
}

#[test]
fn a_mistake_names_the_case_and_the_field() {
    let case = Some("case 1 (\"x\")".to_string());
    for (text, field) in [
        ("battery_mv = \"1400\"", "battery_mv"),
        ("battery_mv = -1", "battery_mv"),
        ("battery = 1400", "battery"),
        ("battery_pct = 101", "battery_pct"),
        ("click = \"TRIPLE_TAP\"", "click"),
        ("source = \"zigbee\"", "source"),
        ("time = \"yesterday\"", "time"),
        ("settings = { region = [1] }", "settings.region"),
        ("state = { count = [] }", "state.count"),
        (
            "state = { count = { value = \"1\", ttl = 5 } }",
            "state.count.ttl",
        ),
    ] {
        let got = field_error(&format!(
            "[[cases]]\nname = \"x\"\n{text}\nexpect.actions = []\n"
        ));
        assert_eq!(got, (case.clone(), field.to_string()), "{text}");
    }
    for (expect, field) in [
        (
            "expect.actions = [{ snapshots = \"us-west-1\" }]",
            "expect.actions[0].snapshots",
        ),
        (
            "expect.actions = [{ snapshot = 1 }]",
            "expect.actions[0].snapshot",
        ),
        (
            "expect.actions = [{}, { notify = { subject = \"s\" } }]",
            "expect.actions[0]",
        ),
        (
            "expect.actions = [{ notify = { subject = \"s\" } }]",
            "expect.actions[0].notify.message",
        ),
        (
            "expect.actions = [{ kind = \"reboot\" }]",
            "expect.actions[0].kind",
        ),
        ("expect.error = \"segfault\"", "expect.error"),
        (
            "expect.error = { kind = \"segfault\" }",
            "expect.error.kind",
        ),
        ("expect.actions = []\nexpect.error = \"trap\"", "expect"),
        ("expect = {}", "expect"),
        ("expect.decision = []", "expect.decision"),
        ("", "expect"),
    ] {
        let got = field_error(&format!("[[cases]]\nname = \"x\"\n{expect}\n"));
        assert_eq!(got, (case.clone(), field.to_string()), "{expect}");
    }
    // The second case, unnamed: numbered.
    let got =
        field_error("[[cases]]\nname = \"a\"\nexpect.actions = []\n[[cases]]\nclick = \"LONG\"\n");
    assert_eq!(got, (Some("case 2".into()), "name".into()));
    // Top level and defaults: no case.
    assert_eq!(
        field_error("[[case]]\nname = \"a\"\n"),
        (None, "case".into())
    );
    assert_eq!(
        field_error(
            "[defaults]\nbattery_mv = true\n[[cases]]\nname = \"a\"\nexpect.actions = []\n"
        ),
        (None, "defaults.battery_mv".into())
    );
    let message = toml("[[cases]]\nname = \"x\"\nbattery_mv = \"1400\"\nexpect.actions = []\n")
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "cases.toml: case 1 (\"x\"): `battery_mv`: expected a whole number of 0 or more, found a string"
    );
}

#[test]
fn unusable_files_are_refused_whole() {
    assert!(matches!(
        toml("cases = [\n"),
        Err(CasesError::Syntax { .. })
    ));
    assert!(matches!(toml(""), Err(CasesError::Empty { .. })));
    assert!(matches!(
        toml("[[cases]]\nname = \"a\"\nexpect.actions = []\n[[cases]]\nname = \"a\"\nexpect.actions = []\n"),
        Err(CasesError::DuplicateName { name, .. }) if name == "a"
    ));
    assert!(matches!(
        Cases::load("cases.yaml"),
        Err(CasesError::UnknownFormat { .. })
    ));
    assert!(matches!(
        Cases::load("/nonexistent/cases.toml"),
        Err(CasesError::Read { .. })
    ));
    assert!(matches!(
        Cases::parse("{\"cases\": 3}", Format::Json, "c.json"),
        Err(CasesError::Field { field, .. }) if field == "cases"
    ));
}

const BY_CLICK_CASES: &str = r#"
[[cases]]
name = "single backs up us-west-1"
expect.actions = [{ snapshot = "us-west-1" }]

[[cases]]
name = "double backs up the second region"
click = "DOUBLE"
settings = { second_region = "eu-west-1" }
expect.actions = [{ snapshot = "eu-west-1" }]

[[cases]]
name = "a low battery adds a notification"
click = "DOUBLE"
serial = "G1"
battery_mv = 1400
expect.actions = [
    { snapshot = "us-east-1" },
    { notify = { subject = "Button G1 battery low", message = "Button G1 reports 1400 mV, below the 1500 mV threshold. Replace it soon." } },
]

[[cases]]
name = "a bad setting is the guest's error"
settings = { low_battery_mv = "lots" }
expect.error = { kind = "guest_error", message = "low_battery_mv" }

[[cases]]
name = "any success"
click = "LONG"
expect.state = {}
"#;

#[test]
fn a_good_file_passes_against_the_guest() {
    let cases = toml(BY_CLICK_CASES).unwrap();
    let report = cases.run(guests::BY_CLICK).unwrap();
    report.assert_all_pass();
    assert_eq!((report.passed, report.failed), (5, 0));
    assert_eq!(report.results[0].reason, "{ snapshot = \"us-west-1\" }");
    assert!(report.results[3].reason.starts_with("guest_error: "));
    assert_eq!(report.sha256.len(), 64);
}

#[test]
fn a_wrong_expectation_fails_with_a_diff() {
    let cases = toml(
        r#"
        [[cases]]
        name = "wrong region"
        click = "DOUBLE"
        expect.actions = [{ snapshot = "us-west-2" }]

        [[cases]]
        name = "expects an error"
        expect.error = "deadline"

        [[cases]]
        name = "right"
        expect.actions = [{ snapshot = "us-west-1" }]
        "#,
    )
    .unwrap();
    let report = cases.run(guests::BY_CLICK).unwrap();
    assert_eq!((report.passed, report.failed), (1, 2));
    let wrong = &report.results[0];
    assert!(!wrong.passed);
    assert_eq!(wrong.reason, "actions differ");
    assert_eq!(wrong.diffs.len(), 1);
    assert_eq!(wrong.diffs[0].field, "actions");
    assert_eq!(wrong.diffs[0].expected, ["{ snapshot = \"us-west-2\" }"]);
    assert_eq!(wrong.diffs[0].actual, ["{ snapshot = \"us-east-1\" }"]);
    let error = &report.results[1];
    assert_eq!(
        error.reason,
        "expected a deadline error; the press succeeded"
    );
    assert_eq!(
        error.diffs.iter().map(|d| d.field).collect::<Vec<_>>(),
        ["error", "actions"]
    );

    let text = report.to_string();
    assert!(text.contains("FAIL \"wrong region\""), "{text}");
    assert!(text.contains("- { snapshot = \"us-west-2\" }"), "{text}");
    assert!(text.contains("+ { snapshot = \"us-east-1\" }"), "{text}");
    assert!(
        text.ends_with(&format!(
            "1 passed, 2 failed: cases.toml against {}",
            guests::BY_CLICK
        )),
        "{text}"
    );
    let panic = std::panic::catch_unwind(|| report.assert_all_pass()).unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.starts_with("2 of 3 cases failed"), "{message}");
    assert!(
        message.contains("+ { snapshot = \"us-east-1\" }"),
        "{message}"
    );
}

#[test]
fn a_trapping_guest_meets_an_expected_trap() {
    let cases = toml(
        r#"
        [[cases]]
        name = "traps"
        expect.error = "trap"

        [[cases]]
        name = "expected to succeed"
        expect.actions = [{ snapshot = "us-west-1" }]
        "#,
    )
    .unwrap();
    let report = cases.run(guests::TRAP).unwrap();
    assert!(report.results[0].passed, "{report}");
    let failed = &report.results[1];
    assert!(
        failed.reason.starts_with("failed: the guest trapped"),
        "{}",
        failed.reason
    );
    assert_eq!(failed.diffs[0].field, "error");
    assert_eq!(failed.diffs[0].expected, ["none"]);
    assert!(
        failed.diffs[0].actual[0].starts_with("trap: "),
        "{:?}",
        failed.diffs[0]
    );
}

#[test]
fn state_before_and_after() {
    let cases = toml(
        r#"
        [[cases]]
        name = "counts on from the state before"
        state = { count = "4" }
        expect.state = { count = "5" }

        [[cases]]
        name = "each case starts from its own state"
        expect.state = { count = "1" }

        [[cases]]
        name = "a failed press commits nothing"
        settings = { mode = "fail-after-write" }
        state = { count = "4" }
        expect.error = "guest_error"
        expect.state = { count = "4" }

        [[cases]]
        name = "a ttl is checked when given"
        settings = { mode = "ttl", ttl = "30" }
        expect.state = { cooldown = { value = "1", ttl_seconds = 30 } }

        [[cases]]
        name = "an expired key is gone"
        state = { count = { value = "9", ttl_seconds = 0 } }
        expect.state = { count = "1" }

        [[cases]]
        name = "wrong state"
        state = { count = "4" }
        expect.state = { count = "4", other = "x" }
        "#,
    )
    .unwrap();
    let report = cases.run(guests::STATEFUL).unwrap();
    for r in &report.results[..5] {
        assert!(r.passed, "{}: {}\n{report}", r.name, r.reason);
    }
    let wrong = &report.results[5];
    assert_eq!(wrong.reason, "state after differs");
    assert_eq!(wrong.diffs[0].field, "state");
    assert_eq!(
        wrong.diffs[0].expected,
        ["\"count\" = \"4\"", "\"other\" = \"x\""]
    );
    assert_eq!(wrong.diffs[0].actual, ["\"count\" = \"5\""]);
}

#[test]
fn the_source_and_limits_reach_the_press() {
    let cases = toml(
        r#"
        [[cases]]
        name = "shelly"
        source = "shelly-gen2"
        click = "TRIPLE"
        battery_pct = 50
        expect.actions = [{ ignore = "count 1: ClickType::Triple from G030TESTKIT00001 via shelly-gen2 press  offset 0 pct Some(50)" }]
        "#,
    )
    .unwrap();
    cases.run(guests::STATEFUL).unwrap().assert_all_pass();

    let regions =
        toml("[[cases]]\nname = \"not allowed\"\nexpect.error = \"invalid_actions\"\n").unwrap();
    let config = EngineConfig {
        allowed_regions: Some(vec!["eu-west-1".into()]),
        ..EngineConfig::default()
    };
    regions
        .run_with(config, guests::DEFAULT)
        .unwrap()
        .assert_all_pass();
}

#[test]
fn the_report_serializes_for_machines() {
    let cases = toml(BY_CLICK_CASES).unwrap();
    let report = cases.run(guests::BY_CLICK).unwrap();
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["passed"], 5);
    assert_eq!(json["failed"], 0);
    let first = &json["results"][0];
    assert_eq!(first["name"], "single backs up us-west-1");
    assert_eq!(first["passed"], true);
    assert_eq!(
        first["expected"],
        serde_json::json!({
            "actions": [{"kind": "snapshot", "region": "us-west-1"}],
            "error": null,
            "state": null,
        })
    );
    assert_eq!(
        first["actual"]["actions"],
        serde_json::json!([{"kind": "snapshot", "region": "us-west-1"}])
    );
    assert_eq!(first["actual"]["error"], serde_json::Value::Null);
    assert_eq!(first["diffs"], serde_json::json!([]));
    assert_eq!(json["results"][3]["actual"]["error"]["kind"], "guest_error");
}

#[test]
fn a_missing_guest_is_the_kits_read_error() {
    let cases = toml(BY_CLICK_CASES).unwrap();
    assert!(matches!(
        cases.run("/nonexistent/guest.wasm"),
        Err(clickrules_testkit::Error::Read { .. })
    ));
}

#[test]
fn build_refuses_a_folder_that_is_not_a_guest_crate() {
    let dir = std::env::temp_dir().join(format!("clickrules-build-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    assert!(matches!(
        build::component(&dir),
        Err(BuildError::Manifest { .. })
    ));
    std::fs::write(dir.join("Cargo.toml"), "[workspace]\n").unwrap();
    assert!(matches!(
        build::component(&dir),
        Err(BuildError::Package { .. })
    ));
    let _ = std::fs::remove_dir_all(PathBuf::from(&dir));
}
