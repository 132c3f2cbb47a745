//! Malformed events end in a typed error before any guest code runs.

mod common;

use clickrules_engine::{EventError, PressError};
use clickrules_tests::guests;
use common::{assert_healthy, engine, load};

#[test]
fn malformed_events_are_rejected_with_the_field_named() {
    let engine = engine();
    let guest = load(&engine, guests::DEFAULT);
    type Expect = fn(&EventError) -> bool;
    let cases: [(&str, Expect); 6] = [
        ("not json", |e| matches!(e, EventError::Json { .. })),
        ("42", |e| matches!(e, EventError::NotAnObject { .. })),
        (r#"{"foo":"bar"}"#, |e| {
            matches!(e, EventError::UnknownFormat { .. })
        }),
        (
            r#"{"serialNumber":"G1","clickType":"TRIPLE"}"#,
            |e| matches!(e, EventError::InvalidField { field, .. } if field == "clickType"),
        ),
        (
            r#"{"batteryVoltage":"1705mV","clickType":"SINGLE"}"#,
            |e| matches!(e, EventError::MissingField { field, .. } if field == "serialNumber"),
        ),
        (
            r#"{"serialNumber":"G1","clickType":"SINGLE","batteryVoltage":"abc"}"#,
            |e| matches!(e, EventError::InvalidField { field, .. } if field == "batteryVoltage"),
        ),
    ];
    for (event, expected) in cases {
        let d = engine.press(&guest, event.as_bytes());
        match &d.error {
            Some(PressError::Event(e)) => assert!(expected(e), "{event}: {e:?}"),
            other => panic!("{event}: expected an event error, got {other:?}"),
        }
        assert_eq!(d.instructions, 0, "{event}: the guest must not run");
        assert!(d.actions.is_empty());
        assert!(d.click.is_none());
    }
    assert_healthy(&engine);
}
