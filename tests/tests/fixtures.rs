//! Every fixture event through the default and by-click guests, with the exact actions.

mod common;

use clickrules_engine::{Action, EventFormat};
use clickrules_tests::{fixture, guests};
use common::{engine, engine_with, load, settings};

const FIXTURES: [&str; 5] = [
    "iot-button-single.json",
    "iot-button-double.json",
    "iot-button-long.json",
    "iot-1-click.json",
    "topic-rule-extra-fields.json",
];

#[test]
fn default_guest_backs_up_us_west_1_for_every_fixture() {
    let engine = engine();
    let guest = load(&engine, guests::DEFAULT);
    for name in FIXTURES {
        let d = engine.press(&guest, &fixture(name));
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
    let held = |serial: &str| {
        Action::notify(
            format!("Button {serial} held"),
            format!("Button {serial} was held (LONG press). No backup was started."),
        )
    };
    let expected = [
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
    ];
    for (name, actions) in expected {
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
