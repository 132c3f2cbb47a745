//! Every fixture event through the default and by-click guests, with the exact actions.

mod common;

use clickrules_engine::{Action, EventFormat};
use clickrules_tests::{fixture, fixtures_dir, guests};
use common::{engine, engine_with, load, settings};

/// What the by-click guest decides for each fixture event, one entry per file.
fn by_click_expected() -> Vec<(&'static str, Vec<Action>)> {
    let held = |serial: &str| {
        Action::notify(
            format!("Button {serial} held"),
            format!("Button {serial} was held (LONG press). No backup was started."),
        )
    };
    vec![
        (
            "iot-button-single.json",
            vec![Action::snapshot("us-west-1")],
        ),
        (
            "iot-button-double.json",
            vec![Action::snapshot("us-east-1")],
        ),
        ("iot-button-long.json", vec![held("G030JF055364XVRB")]),
        ("iot-1-click.json", vec![held("G030PM0412345678")]),
        (
            "topic-rule-extra-fields.json",
            vec![Action::snapshot("us-east-1")],
        ),
    ]
}

/// Every `*.json` file in the fixtures folder the tests read, sorted by name.
fn fixture_names() -> Vec<String> {
    let dir = fixtures_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("list fixtures {}: {e}", dir.display()))
        .map(|entry| entry.expect("read fixtures folder entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no *.json fixtures in {}", dir.display());
    names
}

#[test]
fn every_fixture_file_has_expected_actions() {
    // Found on disk rather than listed, so a fixture added later cannot go untested.
    let found = fixture_names();
    let mut expected: Vec<String> = by_click_expected()
        .into_iter()
        .map(|(name, _)| name.to_string())
        .collect();
    expected.sort();
    let untested: Vec<&String> = found.iter().filter(|n| !expected.contains(n)).collect();
    let missing: Vec<&String> = expected.iter().filter(|n| !found.contains(n)).collect();
    assert!(
        untested.is_empty() && missing.is_empty(),
        "fixtures in {} with no entry in by_click_expected: {untested:?}; \
         entries with no fixture file: {missing:?}",
        fixtures_dir().display()
    );
}

#[test]
fn default_guest_backs_up_us_west_1_for_every_fixture() {
    let engine = engine();
    let guest = load(&engine, guests::DEFAULT);
    for name in fixture_names() {
        let d = engine.press(&guest, &fixture(&name));
        assert_eq!(
            d.result(),
            Ok(&[Action::snapshot("us-west-1")][..]),
            "{name}"
        );
        assert!(d.instructions > 0, "{name}: fuel was not metered");
        assert!(d.peak_memory_bytes > 0, "{name}: memory was not measured");
    }
}

#[test]
fn builtin_guest_is_the_default_guest() {
    let engine = engine();
    let builtin = engine.load(clickrules_builtin::DEFAULT_GUEST).unwrap();
    let built = load(&engine, guests::DEFAULT);
    assert_eq!(builtin.sha256(), built.sha256());
}

#[test]
fn default_guest_region_comes_from_the_deployment() {
    let engine = engine_with(settings(&[("region", "eu-central-1")]));
    let guest = load(&engine, guests::DEFAULT);
    let d = engine.press(&guest, &fixture("iot-button-long.json"));
    assert_eq!(d.result(), Ok(&[Action::snapshot("eu-central-1")][..]));
}

#[test]
fn formats_are_told_apart() {
    let engine = engine();
    let guest = load(&engine, guests::DEFAULT);
    let one_click = engine.press(&guest, &fixture("iot-1-click.json"));
    assert_eq!(one_click.event_format, Some(EventFormat::IotOneClick));
    let click = one_click.click.unwrap();
    assert_eq!(click.serial_number, "G030PM0412345678");
    assert_eq!(click.battery_mv, None);

    let extra = engine.press(&guest, &fixture("topic-rule-extra-fields.json"));
    assert_eq!(extra.event_format, Some(EventFormat::IotButton));
    assert_eq!(extra.click.unwrap().battery_mv, Some(1580));
}

#[test]
fn by_click_guest_for_every_fixture() {
    let engine = engine();
    let guest = load(&engine, guests::BY_CLICK);
    for (name, actions) in by_click_expected() {
        let d = engine.press(&guest, &fixture(name));
        assert_eq!(d.result(), Ok(&actions[..]), "{name}");
    }
}

#[test]
fn by_click_warns_about_a_low_battery() {
    let engine = engine_with(settings(&[
        ("low_battery_mv", "1600"),
        ("second_region", "eu-west-1"),
    ]));
    let guest = load(&engine, guests::BY_CLICK);
    let d = engine.press(&guest, &fixture("topic-rule-extra-fields.json"));
    assert_eq!(
        d.result(),
        Ok(&[
            Action::snapshot("eu-west-1"),
            Action::notify(
                "Button G030PM0412345678 battery low",
                "Button G030PM0412345678 reports 1580 mV, below the 1600 mV threshold. Replace it soon.",
            ),
        ][..])
    );
    assert_eq!(
        d.output.logs.len(),
        1,
        "the guest logs the warning: {:?}",
        d.output
    );
}

#[test]
fn by_click_rejects_a_bad_threshold_setting() {
    let engine = engine_with(settings(&[("low_battery_mv", "lots")]));
    let guest = load(&engine, guests::BY_CLICK);
    let d = engine.press(&guest, &fixture("iot-button-single.json"));
    assert!(
        matches!(&d.error, Some(clickrules_engine::PressError::GuestError { message }) if message.contains("low_battery_mv")),
        "{d:?}"
    );
    assert!(d.actions.is_empty());
}
