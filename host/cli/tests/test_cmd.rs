//! `clickrules test GUEST CASES`: the table, the diffs, the exit codes and `--json`, against
//! guests built from `guests/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clickrules_tests::guests;

/// A cases file in a scratch folder, removed when dropped.
struct CasesFile(PathBuf);

impl CasesFile {
    fn new(test: &str, name: &str, text: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("clickrules-test-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for CasesFile {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn clickrules(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clickrules"))
        .args(args)
        .output()
        .expect("run clickrules")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

const GOOD: &str = r#"
[[cases]]
name = "a single press backs up us-west-1"
expect.actions = [{ snapshot = "us-west-1" }]

[[cases]]
name = "the region setting wins"
click = "LONG"
battery_mv = 1400
settings = { region = "eu-west-1" }
expect.actions = [{ snapshot = "eu-west-1" }]
"#;

#[test]
fn a_good_file_passes_with_a_table() {
    let cases = CasesFile::new("good", "cases.toml", GOOD);
    let out = clickrules(&["test", guests::DEFAULT, cases.path()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("case "), "{stdout}");
    assert!(lines[0].ends_with("result  detail"), "{stdout}");
    assert!(
        lines[1]
            .starts_with("a single press backs up us-west-1  PASS    { snapshot = \"us-west-1\" }"),
        "{stdout}"
    );
    assert!(lines[2].contains("PASS"), "{stdout}");
    assert_eq!(
        *lines.last().unwrap(),
        format!(
            "2 passed, 0 failed: {} against {}",
            cases.path(),
            guests::DEFAULT
        )
    );
}

#[test]
fn a_wrong_expectation_fails_with_a_diff() {
    let cases = CasesFile::new(
        "wrong",
        "cases.toml",
        r#"
        [[cases]]
        name = "right"
        expect.actions = [{ snapshot = "us-west-1" }]

        [[cases]]
        name = "wrong region"
        expect.actions = [{ snapshot = "eu-west-1" }, { ignore = "extra" }]
        "#,
    );
    let out = clickrules(&["test", guests::DEFAULT, cases.path()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("wrong region  FAIL    actions differ"),
        "{stdout}"
    );
    let diff = stdout
        .split_once("FAIL \"wrong region\"\n")
        .unwrap_or_else(|| panic!("{stdout}"))
        .1;
    assert!(
        diff.starts_with(
            "  actions (- expected, + actual):\n\
             \x20   - { snapshot = \"eu-west-1\" }\n\
             \x20   - { ignore = \"extra\" }\n\
             \x20   + { snapshot = \"us-west-1\" }\n"
        ),
        "{diff}"
    );
    assert!(stdout.trim_end().ends_with(&format!(
        "1 passed, 1 failed: {} against {}",
        cases.path(),
        guests::DEFAULT
    )));
}

#[test]
fn a_parse_error_names_the_case_and_the_field_and_exits_2() {
    let cases = CasesFile::new(
        "parse",
        "cases.toml",
        "[[cases]]\nname = \"typo\"\nbattery = 1400\nexpect.actions = []\n",
    );
    let out = clickrules(&["test", guests::DEFAULT, cases.path()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: {}: case 1 (\"typo\"): `battery`: unknown field",
            cases.path()
        )),
        "{stderr}"
    );

    let missing = clickrules(&["test", "/nonexistent/guest.wasm", cases.path()]);
    assert_eq!(
        missing.status.code(),
        Some(2),
        "a bad cases file is reported first"
    );
    let good = CasesFile::new("parse-guest", "cases.toml", GOOD);
    let missing = clickrules(&["test", "/nonexistent/guest.wasm", good.path()]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("cannot read the guest /nonexistent/guest.wasm"));
    let usage = clickrules(&["test", guests::DEFAULT]);
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn json_has_counts_and_each_case_expected_and_actual() {
    let cases = CasesFile::new(
        "json",
        "cases.json",
        r#"{"cases": [
            {"name": "ok", "expect": {"actions": [{"snapshot": "us-west-1"}]}},
            {"name": "bad", "click": "DOUBLE", "expect": {"error": "trap"}}
        ]}"#,
    );
    let out = clickrules(&["test", guests::DEFAULT, cases.path(), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "one JSON line: {stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["passed"], 1);
    assert_eq!(report["failed"], 1);
    assert_eq!(report["guest"], guests::DEFAULT);
    assert_eq!(report["cases_file"], cases.path());
    assert_eq!(report["sha256"].as_str().unwrap().len(), 64);
    let bad = &report["results"][1];
    assert_eq!(bad["name"], "bad");
    assert_eq!(bad["passed"], false);
    assert_eq!(
        bad["expected"],
        serde_json::json!({"actions": null, "error": {"kind": "trap"}, "state": null})
    );
    assert_eq!(
        bad["actual"]["actions"],
        serde_json::json!([{"kind": "snapshot", "region": "us-west-1"}])
    );
    assert_eq!(bad["actual"]["error"], serde_json::Value::Null);
    assert_eq!(bad["diffs"][0]["field"], "error");
    assert_eq!(bad["diffs"][0]["expected"], serde_json::json!(["trap"]));
    assert_eq!(bad["diffs"][0]["actual"], serde_json::json!(["none"]));
}

#[test]
fn a_trapping_guest_meets_an_expected_trap_and_fails_an_expected_success() {
    let cases = CasesFile::new(
        "trap",
        "cases.toml",
        r#"
        [[cases]]
        name = "traps"
        expect.error = "trap"

        [[cases]]
        name = "should succeed"
        expect.actions = [{ snapshot = "us-west-1" }]
        "#,
    );
    let out = clickrules(&["test", guests::TRAP, cases.path()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("traps           PASS    trap: the guest trapped"),
        "{stdout}"
    );
    assert!(
        stdout.contains("should succeed  FAIL    failed: the guest trapped"),
        "{stdout}"
    );
    let diff = stdout.split_once("FAIL \"should succeed\"\n").unwrap().1;
    assert!(
        diff.starts_with(
            "  error (- expected, + actual):\n    - none\n    + trap: the guest trapped"
        ),
        "{diff}"
    );
}

#[test]
fn state_before_and_after() {
    let cases = CasesFile::new(
        "state",
        "cases.toml",
        r#"
        [[cases]]
        name = "counts on"
        state = { count = "41" }
        expect.state = { count = "42" }

        [[cases]]
        name = "wrong count"
        state = { count = "41" }
        expect.state = { count = "41" }
        "#,
    );
    let out = clickrules(&["test", guests::STATEFUL, cases.path()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("counts on    PASS"), "{stdout}");
    assert!(
        stdout.contains("wrong count  FAIL    state after differs"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "  state (- expected, + actual):\n    - \"count\" = \"41\"\n    + \"count\" = \"42\"\n"
        ),
        "{stdout}"
    );
}

#[test]
fn limits_come_from_the_flags() {
    let cases = CasesFile::new(
        "limits",
        "cases.toml",
        "[[cases]]\nname = \"not allowed\"\nexpect.error = \"invalid_actions\"\n",
    );
    let out = clickrules(&[
        "test",
        guests::DEFAULT,
        cases.path(),
        "--allowed-regions",
        "eu-west-1",
    ]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    let zero = clickrules(&["test", guests::DEFAULT, cases.path(), "--timeout-ms", "0"]);
    assert_eq!(zero.status.code(), Some(2));
    assert!(Path::new(guests::SPIN).is_file());
    let spin = CasesFile::new(
        "spin",
        "cases.toml",
        "[[cases]]\nname = \"spins\"\nexpect.error = \"deadline\"\n",
    );
    let out = clickrules(&["test", guests::SPIN, spin.path(), "--timeout-ms", "50"]);
    assert!(out.status.success(), "{}", text(&out.stdout));
}

#[test]
fn progress_is_shown_only_when_asked_or_on_a_terminal() {
    let cases = concat!(env!("CARGO_MANIFEST_DIR"), "/templates/shared/cases.toml");
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_clickrules"))
            .args(["test", guests::DEFAULT, cases])
            .args(extra)
            .output()
            .unwrap()
    };
    let shown = run(&["--progress", "always"]);
    assert!(shown.status.success());
    let stderr = String::from_utf8_lossy(&shown.stderr);
    assert!(stderr.contains("and running 5 cases"), "{stderr}");
    // Piped stderr in the default mode, and --json even when asked: nothing drawn.
    for extra in [&[][..], &["--json", "--progress", "always"]] {
        let quiet = run(extra);
        assert!(quiet.status.success());
        assert!(
            quiet.stderr.is_empty(),
            "{extra:?}: {:?}",
            String::from_utf8_lossy(&quiet.stderr)
        );
    }
}
