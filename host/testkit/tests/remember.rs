//! "Rules that remember": the remember example (contract 0.2.0) in Rust, JavaScript and
//! Python against one table of press sequences, through the test kit, which keeps each
//! button's state across a harness's presses and lets a test set the time. A language whose
//! tool is not installed here is skipped (under CI its guest must build).

use std::time::Duration;

use clickrules_testkit::{Action, Click, Contract, Harness, PressError, TEST_RECEIVED_AT_MS};
use clickrules_tests::guests;

const A: &str = "G030BUTTONA00001";
const B: &str = "G030BUTTONB00002";

fn languages() -> Vec<(&'static str, &'static str)> {
    let mut found = vec![("Rust", guests::REMEMBER)];
    for (name, path) in [
        ("JavaScript", guests::JS_REMEMBER.path()),
        ("Python", guests::PYTHON_REMEMBER.path()),
    ] {
        match path {
            Some(path) => found.push((name, path)),
            None => eprintln!("skipping the {name} remember guest: its runtime is not installed"),
        }
    }
    found
}

fn notify(subject: &str, message: &str) -> Action {
    Action::notify(subject, message)
}

/// (seconds after the start, press, the actions it must decide)
fn table() -> Vec<(u64, Click, Vec<Action>)> {
    let cooling = |left: u64| {
        vec![Action::ignore(format!(
            "cooling down: the last backup from this button was less than 600 s ago ({left} s left)"
        ))]
    };
    vec![
        (
            0,
            Click::single().serial(A),
            vec![Action::snapshot("us-west-1")],
        ),
        // Within the cooldown: not backed up again.
        (1, Click::single().serial(A), cooling(599)),
        (599, Click::single().serial(A), cooling(1)),
        // Another button has its own cooldown.
        (
            2,
            Click::single().serial(B),
            vec![Action::snapshot("us-west-1")],
        ),
        (
            3,
            Click::double().serial(A),
            vec![notify(
                &format!("Button {A}: maintenance on"),
                &format!("A double press turned maintenance on for button {A}."),
            )],
        ),
        // The cooldown is over, but maintenance is on: only a notification.
        (
            700,
            Click::single().serial(A),
            vec![notify(
                &format!("Button {A} pressed during maintenance"),
                &format!("No backup was started: button {A} is in maintenance mode."),
            )],
        ),
        (
            701,
            Click::double().serial(A),
            vec![notify(
                &format!("Button {A}: maintenance off"),
                &format!("A double press turned maintenance off for button {A}."),
            )],
        ),
        (
            702,
            Click::single().serial(A),
            vec![Action::snapshot("us-west-1")],
        ),
        // A long press backs up whatever the cooldown, and starts a new one.
        (
            703,
            Click::long().serial(A),
            vec![Action::snapshot("us-west-1")],
        ),
        (704, Click::single().serial(A), cooling(599)),
        (
            705,
            Click::triple().serial(A),
            vec![Action::ignore("triple press: no rule")],
        ),
    ]
}

#[test]
fn every_language_decides_the_table_the_same() {
    for (language, path) in languages() {
        let guest = Harness::load(path).unwrap_or_else(|e| panic!("{language}: {e}"));
        assert_eq!(guest.contract(), Contract::V0_2, "{language}");
        for (n, (at_s, click, expected)) in table().into_iter().enumerate() {
            guest.set_time_ms(TEST_RECEIVED_AT_MS + at_s * 1000);
            let decision = guest.press(click);
            assert_eq!(
                decision.result(),
                Ok(&expected[..]),
                "{language}, row {} (+{at_s} s)",
                n + 1
            );
        }
        // The state as the buttons left it: A's cooldown from the long press, B's expired.
        assert_eq!(guest.state(A)["maintenance"], "off", "{language}");
        assert_eq!(
            guest.state(A)["last_backup_ms"],
            (TEST_RECEIVED_AT_MS + 703_000).to_string(),
            "{language}"
        );
        assert!(!guest.state(B).contains_key("last_backup_ms"), "{language}");
    }
}

#[test]
fn a_seeded_state_and_a_moved_clock_are_what_the_guest_sees() {
    for (language, path) in languages() {
        let guest = Harness::load(path).unwrap();
        guest.set_state(A, "maintenance", "on");
        assert!(
            matches!(
                &guest.press(Click::single().serial(A)).actions[..],
                [Action::Notify { .. }]
            ),
            "{language}"
        );
        guest.clear_state();
        assert_eq!(
            guest.press(Click::single().serial(A)).actions,
            [Action::snapshot("us-west-1")],
            "{language}"
        );
        guest.advance(Duration::from_secs(600));
        assert_eq!(
            guest.press(Click::single().serial(A)).actions,
            [Action::snapshot("us-west-1")],
            "{language}: the cooldown expired"
        );
    }
}

#[test]
fn a_bad_cooldown_setting_fails_the_press_and_changes_nothing() {
    for (language, path) in languages() {
        let guest = Harness::builder()
            .setting("cooldown_seconds", "ten")
            .load(path)
            .unwrap();
        let decision = guest.press(Click::single().serial(A));
        match &decision.error {
            Some(PressError::GuestError { message }) => {
                assert!(
                    message.contains("cooldown_seconds"),
                    "{language}: {message}"
                )
            }
            other => panic!("{language}: {other:?}"),
        }
        assert!(guest.state(A).is_empty(), "{language}: nothing committed");
    }
}
