//! The kit against real guests built from `guests/`: what a guest author's test would assert.

use std::time::Duration;

use clickrules_testkit::{
    Action, Click, ConfigError, Error, Harness, Limits, LoadError, LogLevel, PressError,
    TEST_SERIAL, ValidationError,
};
use clickrules_tests::{fixture, guests};

#[test]
fn a_double_press_backs_up_the_second_region() {
    let guest = Harness::load(guests::BY_CLICK).unwrap();
    assert_eq!(
        guest.press(Click::double()).actions,
        [Action::snapshot("us-east-1")]
    );
}

#[test]
fn settings_come_from_the_builder() {
    let guest = Harness::builder()
        .setting("second_region", "eu-west-1")
        .setting("low_battery_mv", "1600")
        .load(guests::BY_CLICK)
        .unwrap();
    let decision = guest.press(Click::double().battery_mv(1400).serial("G1"));
    assert_eq!(
        decision.actions,
        [
            Action::snapshot("eu-west-1"),
            Action::notify(
                "Button G1 battery low",
                "Button G1 reports 1400 mV, below the 1600 mV threshold. Replace it soon."
            ),
        ]
    );
    assert_eq!(decision.output.logs.len(), 1);
    assert_eq!(decision.output.logs[0].level, LogLevel::Warn);
}

#[test]
fn a_test_press_has_a_fixed_serial_and_time() {
    let guest = Harness::load(guests::BY_CLICK).unwrap();
    let click = guest.press(Click::long()).click.unwrap();
    assert_eq!(click.serial_number, TEST_SERIAL);
    assert_eq!(
        click.received_at_ms,
        clickrules_testkit::TEST_RECEIVED_AT_MS
    );
    assert_eq!(click.battery_mv, None);
}

#[test]
fn raw_events_are_normalised_as_in_the_lambda() {
    let guest = Harness::load(guests::BY_CLICK).unwrap();
    let decision = guest.press_event(&fixture("iot-button-double.json"));
    assert_eq!(decision.result(), Ok(&[Action::snapshot("us-east-1")][..]));
    let bad = guest.press_event(br#"{"serialNumber":"G1","clickType":"TRIPLE"}"#);
    assert!(matches!(bad.error, Some(PressError::Event(_))), "{bad:?}");
}

#[test]
fn production_validation_applies() {
    let guest = Harness::builder()
        .allowed_regions(["us-west-1"])
        .load(guests::BY_CLICK)
        .unwrap();
    assert_eq!(
        guest.press(Click::single()).actions,
        [Action::snapshot("us-west-1")]
    );
    let refused = guest.press(Click::double());
    assert!(
        matches!(
            &refused.error,
            Some(PressError::InvalidActions(
                ValidationError::RegionNotAllowed { .. }
            ))
        ),
        "{refused:?}"
    );
    assert!(refused.actions.is_empty());
}

#[test]
fn the_guest_err_is_a_typed_error() {
    let guest = Harness::builder()
        .setting("low_battery_mv", "lots")
        .load(guests::BY_CLICK)
        .unwrap();
    let decision = guest.press(Click::single());
    assert!(
        matches!(&decision.error, Some(PressError::GuestError { message }) if message.contains("lots")),
        "{decision:?}"
    );
}

#[test]
fn default_limits_are_the_production_defaults() {
    let guest = Harness::load(guests::BY_CLICK).unwrap();
    assert_eq!(guest.limits(), Limits::default());
}

#[test]
fn fuel_limit_obeyed() {
    let used = Harness::load(guests::BY_CLICK)
        .unwrap()
        .press(Click::single())
        .instructions;
    let guest = Harness::builder()
        .fuel(used)
        .load(guests::BY_CLICK)
        .unwrap();
    assert!(guest.press(Click::single()).is_ok());
}

#[test]
fn fuel_limit_violated() {
    let guest = Harness::builder().fuel(100).load(guests::BY_CLICK).unwrap();
    let decision = guest.press(Click::single());
    assert_eq!(
        decision.error,
        Some(PressError::FuelExhausted { fuel: 100 }),
        "{decision:?}"
    );
}

#[test]
fn deadline_violated() {
    let guest = Harness::builder()
        .timeout(Duration::from_millis(20))
        .load(guests::SPIN)
        .unwrap();
    let decision = guest.press(Click::single());
    assert!(
        matches!(
            decision.error,
            Some(PressError::Deadline { timeout_ms: 20 })
        ),
        "{decision:?}"
    );
}

#[test]
fn memory_limit_violated() {
    let guest = Harness::builder()
        .memory_bytes(4 << 20)
        .setting("mb", "16")
        .load(guests::ALLOC)
        .unwrap();
    let decision = guest.press(Click::single());
    assert!(
        matches!(decision.error, Some(PressError::MemoryLimit { .. })),
        "{decision:?}"
    );
}

#[test]
fn an_unbuilt_guest_says_how_to_build_it() {
    let err = Harness::load("target/wasm32-wasip2/release/missing.wasm").unwrap_err();
    assert!(matches!(err, Error::Read { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("cargo build --release --target wasm32-wasip2")
    );
}

#[test]
fn bytes_that_are_not_a_guest_are_refused() {
    let err = Harness::builder()
        .load_bytes("notes.txt", b"not wasm")
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Load {
                source: LoadError::NotWasm,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn unusable_limits_are_refused() {
    let err = Harness::builder()
        .timeout(Duration::ZERO)
        .load(guests::BY_CLICK)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Config(ConfigError::ZeroLimit { limit: "timeout" })
        ),
        "{err:?}"
    );
}
