//! One behaviour table for the by-click guest, run against its Rust, JavaScript and Python
//! builds through the engine with default limits. Every language must produce exactly the
//! same actions, warning log, printed line and `err` message for every row, so "write a guest
//! in any WIT language" is tested rather than claimed.
//!
//! A language whose tool is not installed locally is skipped with a message on the terminal;
//! under `CI` the build script already fails for it, and these tests fail too.

mod common;

use std::io::Write as _;

use clickrules_engine::{
    Action, Click, ClickType, Decision, EngineConfig, LogEntry, LogLevel, PressError,
};
use clickrules_tests::{fixture, guests};
use common::{engine_with, load};

/// The serial number of the synthetic clicks (the fixtures carry their own).
const SERIAL: &str = "G030JF055364XVRB";

/// How a row presses the guest.
#[derive(Debug, Clone, Copy)]
enum Press {
    /// A real event from `tests/fixtures/events`.
    Fixture(&'static str),
    /// A normalised click, for batteries the fixtures do not cover.
    Click(ClickType, Option<u32>),
}

/// What a row expects.
#[derive(Debug, Clone)]
enum Expect {
    /// These actions and these `host.log` lines.
    Ok(Vec<Action>, Vec<LogEntry>),
    /// The guest's own `err(message)`.
    GuestError(String),
}

/// Settings served through `host.config`, and the rows pressed under them.
struct Group {
    settings: &'static [(&'static str, &'static str)],
    rows: Vec<(Press, Expect)>,
}

fn held(serial: &str) -> Action {
    Action::notify(
        format!("Button {serial} held"),
        format!("Button {serial} was held (LONG press). No backup was started."),
    )
}

fn ok(actions: Vec<Action>) -> Expect {
    Expect::Ok(actions, Vec::new())
}

/// `first`, then the low-battery notification, with its warning in the log.
fn low(first: Action, serial: &str, mv: u32, threshold: u32) -> Expect {
    let notification = Action::notify(
        format!("Button {serial} battery low"),
        format!(
            "Button {serial} reports {mv} mV, below the {threshold} mV threshold. Replace it soon."
        ),
    );
    let warning = LogEntry {
        level: LogLevel::Warn,
        message: format!("battery at {mv} mV, below {threshold} mV"),
    };
    Expect::Ok(vec![first, notification], vec![warning])
}

fn bad_threshold(debug_quoted: &str) -> Expect {
    Expect::GuestError(format!(
        "setting low_battery_mv must be a whole number of millivolts, got {debug_quoted}"
    ))
}

/// The table. Groups are few on purpose: each is an engine, and each engine compiles the
/// 12-18 MB interpreter guests again.
fn table() -> Vec<Group> {
    use ClickType::{Double, Long, Single};
    use Press::{Click as C, Fixture as F};
    let snap = Action::snapshot;
    vec![
        Group {
            settings: &[],
            rows: vec![
                (F("iot-button-single.json"), ok(vec![snap("us-west-1")])),
                (F("iot-button-double.json"), ok(vec![snap("us-east-1")])),
                (F("iot-button-long.json"), ok(vec![held(SERIAL)])),
                (F("iot-1-click.json"), ok(vec![held("G030PM0412345678")])),
                (
                    F("topic-rule-extra-fields.json"),
                    ok(vec![snap("us-east-1")]),
                ),
                (
                    C(Single, Some(1499)),
                    low(snap("us-west-1"), SERIAL, 1499, 1500),
                ),
                (C(Double, Some(1500)), ok(vec![snap("us-east-1")])),
                (C(Long, Some(0)), low(held(SERIAL), SERIAL, 0, 1500)),
                (C(Single, Some(u32::MAX)), ok(vec![snap("us-west-1")])),
                (C(Double, None), ok(vec![snap("us-east-1")])),
            ],
        },
        Group {
            settings: &[
                ("region", "eu-central-1"),
                ("second_region", "eu-west-1"),
                ("low_battery_mv", "1600"),
            ],
            rows: vec![
                (F("iot-button-single.json"), ok(vec![snap("eu-central-1")])),
                (
                    F("topic-rule-extra-fields.json"),
                    low(snap("eu-west-1"), "G030PM0412345678", 1580, 1600),
                ),
                (F("iot-1-click.json"), ok(vec![held("G030PM0412345678")])),
                (
                    C(Double, Some(1599)),
                    low(snap("eu-west-1"), SERIAL, 1599, 1600),
                ),
                (C(Single, Some(1600)), ok(vec![snap("eu-central-1")])),
            ],
        },
        // Parsed as Rust's `trim().parse::<u32>()` does: white space around, a `+`, zeros.
        Group {
            settings: &[("low_battery_mv", "\u{3000} +01705\n")],
            rows: vec![
                (F("iot-button-single.json"), ok(vec![snap("us-west-1")])),
                (C(Long, Some(1704)), low(held(SERIAL), SERIAL, 1704, 1705)),
            ],
        },
        // A threshold that is not a u32 fails every press, battery or not, with the raw value
        // quoted as Rust's `{:?}` quotes it.
        Group {
            settings: &[("low_battery_mv", "15\"00\tmV")],
            rows: vec![
                (
                    F("iot-button-single.json"),
                    bad_threshold(r#""15\"00\tmV""#),
                ),
                (F("iot-1-click.json"), bad_threshold(r#""15\"00\tmV""#)),
            ],
        },
        Group {
            settings: &[("low_battery_mv", "4294967296")],
            rows: vec![(C(Single, Some(1)), bad_threshold(r#""4294967296""#))],
        },
    ]
}

/// Runs the table against one build of the guest and fails with every row that disagrees.
fn follows_the_table(language: &str, path: &str) {
    let mut mismatches = Vec::new();
    let mut rows = 0;
    for group in table() {
        let settings = group.settings;
        let engine = engine_with(|c: &mut EngineConfig| {
            c.settings
                .extend(settings.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        });
        let guest = load(&engine, path);
        for (press, expect) in group.rows {
            rows += 1;
            let decision = match press {
                Press::Fixture(name) => engine.press(&guest, &fixture(name)),
                Press::Click(click_type, battery_mv) => engine.press_click(
                    &guest,
                    Click::new(SERIAL, click_type, battery_mv, 1_764_100_000_000),
                ),
            };
            if let Err(why) = check(&decision, &expect) {
                mismatches.push(format!("settings {settings:?}, {press:?}: {why}"));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "the {language} by-click guest ({path}) disagrees with the table in {} of {rows} rows:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

fn check(d: &Decision, expect: &Expect) -> Result<(), String> {
    match expect {
        Expect::Ok(actions, logs) => {
            if d.result() != Ok(&actions[..]) {
                return Err(format!("expected {actions:?}, got {:?}", d.result()));
            }
            if &d.output.logs != logs {
                return Err(format!("expected logs {logs:?}, got {:?}", d.output.logs));
            }
        }
        Expect::GuestError(message) => match &d.error {
            Some(PressError::GuestError { message: got }) if got == message => {}
            other => return Err(format!("expected err({message:?}), got {other:?}")),
        },
    }
    // Every build prints the same line: stdout reaches the record in each language.
    let click = d.click.as_ref().ok_or("the press has no click")?;
    let printed = format!(
        "by-click: {} press from {}\n",
        click.click_type.as_str().to_ascii_lowercase(),
        click.serial_number
    );
    if d.output.stdout != printed || !d.output.stderr.is_empty() {
        return Err(format!(
            "expected stdout {printed:?} and no stderr, got {:?}",
            d.output
        ));
    }
    Ok(())
}

/// Runs the table for a guest built by another language's tool, or says why it cannot.
fn other_language(language: &str, constant: &str, path: Option<&str>, install: &str) {
    match path {
        Some(path) => follows_the_table(language, path),
        None if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0") => {
            panic!("guests::{constant} was not built, but CI must run every language: {install}")
        }
        None => {
            // Straight to the terminal: libtest hides a passing test's captured output.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: the {language} by-click guest was not built ({install}); \
                 its behaviour table did not run"
            );
        }
    }
}

#[test]
fn rust_by_click_follows_the_table() {
    follows_the_table("Rust", guests::BY_CLICK);
}

#[test]
fn js_by_click_follows_the_table() {
    other_language(
        "JavaScript",
        "JS_BY_CLICK",
        guests::JS_BY_CLICK.path(),
        "install Node.js 20 or later (the test installs its packages)",
    );
}

#[test]
fn python_by_click_follows_the_table() {
    other_language(
        "Python",
        "PYTHON_BY_CLICK",
        guests::PYTHON_BY_CLICK.path(),
        "install Python 3 (the test installs componentize-py into target/)",
    );
}
