//! The AWS button formats: accepted shapes, and errors that name the field.
use super::fields::parse_millivolts;
use super::*;

fn err(json: &str) -> EventError {
    normalise_event(json.as_bytes(), 0).expect_err("should be rejected")
}

#[test]
fn millivolts_accepts_the_device_spellings() {
    assert_eq!(parse_millivolts("1705mV"), Some(1705));
    assert_eq!(parse_millivolts("1705 mV"), Some(1705));
    assert_eq!(parse_millivolts("1705"), Some(1705));
    assert_eq!(parse_millivolts("abc"), None);
    assert_eq!(parse_millivolts("-5mV"), None);
    assert_eq!(parse_millivolts("mV"), None);
    assert_eq!(parse_millivolts("99999999999mV"), None);
}

#[test]
fn missing_battery_is_none() {
    let e = normalise_event(br#"{"serialNumber":"G1","clickType":"LONG"}"#, 7).unwrap();
    assert_eq!(e.presses[0].click.battery_mv, None);
    assert_eq!(e.presses[0].click.received_at_ms, 7);
    assert_eq!(e.format, EventFormat::IotButton);
}

#[test]
fn malformed_events_name_the_problem() {
    assert!(matches!(err("{not json"), EventError::Json { .. }));
    assert!(matches!(
        err("[1,2]"),
        EventError::NotAnObject { found: "an array" }
    ));
    assert!(matches!(
        err(r#"{"hello":1}"#),
        EventError::UnknownFormat { .. }
    ));
    assert!(matches!(
        err(r#"{"serialNumber":"G1","clickType":"TRIPLE"}"#),
        EventError::InvalidField { field, .. } if field == "clickType"
    ));
    assert!(matches!(
        err(r#"{"clickType":"SINGLE"}"#),
        EventError::MissingField { field, .. } if field == "serialNumber"
    ));
    assert!(matches!(
        err(r#"{"serialNumber":"  ","clickType":"SINGLE"}"#),
        EventError::MissingField { field, .. } if field == "serialNumber"
    ));
    assert!(matches!(
        err(r#"{"serialNumber":"G1","clickType":"SINGLE","batteryVoltage":"abc"}"#),
        EventError::InvalidField { field, .. } if field == "batteryVoltage"
    ));
    assert!(matches!(
        err(r#"{"serialNumber":7,"clickType":"SINGLE"}"#),
        EventError::InvalidField { field, .. } if field == "serialNumber"
    ));
    assert!(matches!(
        err(r#"{"serialNumber":"G1"}"#),
        EventError::MissingField { field, .. } if field == "clickType"
    ));
}

#[test]
fn one_click_errors_name_nested_fields() {
    let no_click = r#"{"deviceEvent":{"buttonClicked":{}},"deviceInfo":{"deviceId":"G1","remainingLife":5},"placementInfo":{}}"#;
    assert!(matches!(
        err(no_click),
        EventError::MissingField { field, .. } if field == "deviceEvent.buttonClicked.clickType"
    ));
    let bad_id = r#"{"deviceEvent":{"buttonClicked":{"clickType":"SINGLE"}},"deviceInfo":{"deviceId":5,"remainingLife":5},"placementInfo":{}}"#;
    assert!(matches!(
        err(bad_id),
        EventError::InvalidField { field, .. } if field == "deviceInfo.deviceId"
    ));
}

#[test]
fn the_topic_rules_trace_id_is_the_press_id() {
    let e = normalise_event(
        br#"{"serialNumber":"G1","clickType":"SINGLE","clickrules_trace_id":"a1b2-c3"}"#,
        0,
    )
    .unwrap();
    assert_eq!(e.trace_id.as_deref(), Some("a1b2-c3"));
    let e = normalise_event(br#"{"serialNumber":"G1","clickType":"SINGLE"}"#, 0).unwrap();
    assert_eq!(e.trace_id, None);
    for bad in [r#""""#, "5", r#""x\u0007""#] {
        let json =
            format!(r#"{{"serialNumber":"G1","clickType":"SINGLE","clickrules_trace_id":{bad}}}"#);
        assert!(
            matches!(normalise_event(json.as_bytes(), 0), Err(EventError::InvalidField { field, .. } | EventError::MissingField { field, .. }) if field == TRACE_ID_FIELD),
            "{bad}"
        );
    }
}

#[test]
fn duplicate_keys_are_refused_naming_the_key() {
    assert!(matches!(
        err(r#"{"serialNumber":"G1","clickType":"SINGLE","clickType":"LONG"}"#),
        EventError::DuplicateKey { path, key } if path.is_empty() && key == "clickType"
    ));
    let nested = r#"{"deviceEvent":{"buttonClicked":{"clickType":"SINGLE","clickType":"DOUBLE"}},"deviceInfo":{"deviceId":"G1","remainingLife":5},"placementInfo":{}}"#;
    assert!(matches!(
        err(nested),
        EventError::DuplicateKey { path, key } if path == "deviceEvent.buttonClicked" && key == "clickType"
    ));
}

#[test]
fn serial_numbers_obeyed() {
    for ok in [
        "G030JF055364XVRB",
        "a",
        "living room button",
        "shellybutton1-E8DB84AA1234",
    ] {
        let json = format!(r#"{{"serialNumber":"{ok}","clickType":"SINGLE"}}"#);
        let e = normalise_event(json.as_bytes(), 0).unwrap();
        assert_eq!(e.presses[0].click.serial_number, ok);
    }
    let longest = "S".repeat(MAX_SERIAL_BYTES);
    let json = format!(r#"{{"serialNumber":"{longest}","clickType":"SINGLE"}}"#);
    assert!(normalise_event(json.as_bytes(), 0).is_ok());
}

#[test]
fn serial_numbers_violated() {
    let too_long = "S".repeat(MAX_SERIAL_BYTES + 1);
    for bad in [
        too_long.as_str(),
        "G1\\u001b[2J",
        "G1\\nok",
        "G1\\u202eevil",
        "G1\\u2028x",
        "caf\\u00e9",
        " G1",
        "G1 ",
    ] {
        let json = format!(r#"{{"serialNumber":"{bad}","clickType":"SINGLE"}}"#);
        assert!(
            matches!(
                normalise_event(json.as_bytes(), 0),
                Err(EventError::InvalidField { field, .. }) if field == "serialNumber"
            ),
            "{bad}"
        );
    }
    let one_click = r#"{"deviceEvent":{"buttonClicked":{"clickType":"SINGLE"}},"deviceInfo":{"deviceId":"G1\u0007","remainingLife":5},"placementInfo":{}}"#;
    assert!(matches!(
        err(one_click),
        EventError::InvalidField { field, .. } if field == "deviceInfo.deviceId"
    ));
}

#[test]
fn long_values_are_truncated_in_errors() {
    let long = "X".repeat(10_000);
    let e = err(&format!(r#"{{"serialNumber":"G1","clickType":"{long}"}}"#));
    assert!(e.to_string().len() < 300, "{e}");
}

#[test]
fn zigbee2mqtt_multi_button_remotes_name_the_button() {
    let press = |action: &str| {
        let json = format!(r#"{{"clickrules_topic":"zigbee2mqtt/remote","action":"{action}"}}"#);
        normalise_event(json.as_bytes(), 0).unwrap()
    };
    let cases = [
        ("1_single", "remote", ClickType::Single),
        ("1_hold", "remote", ClickType::Long),
        ("2_double", "remote:2", ClickType::Double),
        ("button_1_triple", "remote", ClickType::Triple),
        ("button_3_single", "remote:3", ClickType::Single),
        ("single_left", "remote", ClickType::Single),
        ("double_right", "remote:right", ClickType::Double),
        ("hold_both", "remote:both", ClickType::Long),
    ];
    for (action, device, click_type) in cases {
        let event = press(action);
        let click = &event.presses[0].click;
        assert_eq!(
            (click.serial_number.as_str(), click.click_type),
            (device, click_type),
            "{action}"
        );
    }
    assert!(press("2_release").presses.is_empty());
    for unknown in [
        "9_single",
        "0_single",
        "1_wiggle",
        "single_middle",
        "button__single",
    ] {
        let json = format!(r#"{{"clickrules_topic":"zigbee2mqtt/remote","action":"{unknown}"}}"#);
        assert!(
            matches!(
                normalise_event(json.as_bytes(), 0),
                Err(EventError::UnknownGesture { .. })
            ),
            "{unknown}"
        );
    }
}
