//! Actions are validated all-or-nothing before anything runs.

mod common;

use clickrules_engine::{Action, Decision, Engine, PressError, ValidationError};
use clickrules_tests::guests;
use common::{SINGLE, assert_healthy, engine_with, load, settings};

/// One press of the actions guest; the engine is returned so a test can press it again.
fn press_actions(spec: &str, repeat: usize) -> (Engine, Decision) {
    let engine = engine_with(settings(&[
        ("actions", spec),
        ("repeat", &repeat.to_string()),
    ]));
    let guest = load(&engine, guests::ACTIONS);
    let d = engine.press(&guest, SINGLE);
    (engine, d)
}

#[test]
fn ten_actions_obeyed() {
    let (_, d) = press_actions("snapshot:us-west-1", 10);
    assert_eq!(d.result().map(<[Action]>::len), Ok(10));
}

#[test]
fn eleven_actions_violated() {
    let (engine, d) = press_actions("snapshot:us-west-1", 11);
    assert_eq!(
        d.error,
        Some(PressError::InvalidActions(
            ValidationError::TooManyActions { count: 11, max: 10 }
        ))
    );
    assert!(
        d.actions.is_empty(),
        "nothing is executed when any action is invalid"
    );
    assert_healthy(&engine);
}

#[test]
fn one_bad_region_rejects_the_whole_list() {
    let (engine, d) = press_actions("snapshot:us-west-1;snapshot:moon-base-alpha;ignore:x", 1);
    assert!(
        matches!(
            &d.error,
            Some(PressError::InvalidActions(ValidationError::InvalidRegion {
                index: 1,
                ..
            }))
        ),
        "{d:?}"
    );
    assert!(d.actions.is_empty());
    assert_healthy(&engine);
}

#[test]
fn allowed_regions_obeyed_and_violated() {
    let engine = engine_with(|c| {
        c.allowed_regions = Some(vec!["us-west-1".into(), "us-east-1".into()]);
        c.settings
            .insert("actions".into(), "snapshot:us-east-1".into());
    });
    let guest = load(&engine, guests::ACTIONS);
    assert!(engine.press(&guest, SINGLE).is_ok());

    let engine = engine_with(|c| {
        c.allowed_regions = Some(vec!["us-west-1".into()]);
        c.settings
            .insert("actions".into(), "snapshot:eu-west-1".into());
    });
    let guest = load(&engine, guests::ACTIONS);
    let d = engine.press(&guest, SINGLE);
    assert!(matches!(
        d.error,
        Some(PressError::InvalidActions(
            ValidationError::RegionNotAllowed { index: 0, .. }
        ))
    ));
}

#[test]
fn notify_subject_of_100_obeyed() {
    let engine = engine_with(settings(&[("subject_len", "100")]));
    let guest = load(&engine, guests::ACTIONS);
    let d = engine.press(&guest, SINGLE);
    assert!(d.is_ok(), "{d:?}");
}

#[test]
fn notify_subject_too_long_violated() {
    let engine = engine_with(settings(&[("subject_len", "101")]));
    let guest = load(&engine, guests::ACTIONS);
    let d = engine.press(&guest, SINGLE);
    assert_eq!(
        d.error,
        Some(PressError::InvalidActions(ValidationError::SubjectLength {
            index: 0,
            len: 101,
            max: 100
        }))
    );
    assert_healthy(&engine);
}

#[test]
fn every_action_kind_round_trips() {
    let (_, d) = press_actions(
        "snapshot:ap-southeast-2;notify:Hello|World;ignore:just testing",
        1,
    );
    assert_eq!(
        d.result(),
        Ok(&[
            Action::snapshot("ap-southeast-2"),
            Action::notify("Hello", "World"),
            Action::ignore("just testing"),
        ][..])
    );
}

#[test]
fn no_actions_is_a_valid_decision() {
    let (_, d) = press_actions("", 1);
    assert_eq!(d.result(), Ok(&[][..]));
}
