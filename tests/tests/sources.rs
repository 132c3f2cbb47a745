//! Every vendor fixture under tests/fixtures/sources/<source>/ normalises to the click (or the
//! no-press) recorded in tests/fixtures/sources/expected.json, and malformed or foreign
//! variants of each source fail naming the field. `CLICKRULES_BLESS=1` rewrites the expected
//! file from what the parsers do now (review the diff before committing it).

use std::collections::BTreeMap;
use std::path::PathBuf;

use clickrules_engine::{
    ClickType, EventError, EventFormat, NormaliseOptions, normalise_event, normalise_event_with,
};
use serde_json::{Value, json};

fn sources_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/sources")
}

/// What a fixture normalises to, as data.
fn describe(bytes: &[u8]) -> Value {
    match normalise_event(bytes, 1_700_000_000_000) {
        Err(e) => json!({ "error": format!("{e:?}") }),
        Ok(event) => json!({
            "source": event.format.as_str(),
            "presses": event.presses.iter().map(|p| json!({
                "device": p.click.serial_number,
                "click": p.click.click_type.as_str(),
                "battery_mv": p.click.battery_mv,
                "battery_pct": p.click.battery_pct,
                "device_counter": p.device_counter,
            })).collect::<Vec<_>>(),
            "skipped": event.skipped.iter().map(|s| json!({
                "kind": s.kind.as_str(),
                "device": s.device,
            })).collect::<Vec<_>>(),
        }),
    }
}

fn fixtures() -> BTreeMap<String, Value> {
    let mut all = BTreeMap::new();
    for source in std::fs::read_dir(sources_dir()).expect("list fixtures/sources") {
        let source = source.expect("entry").path();
        if !source.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&source).expect("list a source's fixtures") {
            let path = file.expect("entry").path();
            if path.extension().is_some_and(|e| e == "json") {
                let bytes = std::fs::read(&path).expect("read fixture");
                let name = format!(
                    "{}/{}",
                    source.file_name().unwrap().to_string_lossy(),
                    path.file_name().unwrap().to_string_lossy()
                );
                all.insert(name, describe(&bytes));
            }
        }
    }
    all
}

#[test]
fn every_vendor_fixture_normalises_as_recorded() {
    let actual = fixtures();
    assert!(actual.len() >= 50, "only {} fixtures found", actual.len());
    let expected_path = sources_dir().join("expected.json");
    if std::env::var_os("CLICKRULES_BLESS").is_some() {
        let text = serde_json::to_string_pretty(&actual).unwrap() + "\n";
        std::fs::write(&expected_path, text).unwrap();
    }
    let expected: BTreeMap<String, Value> =
        serde_json::from_slice(&std::fs::read(&expected_path).expect("read expected.json"))
            .expect("parse expected.json");
    for (name, want) in &expected {
        let got = actual
            .get(name)
            .unwrap_or_else(|| panic!("{name} is expected but not in the fixtures"));
        assert_eq!(got, want, "{name}");
    }
    for name in actual.keys() {
        assert!(expected.contains_key(name), "{name} has no expectation");
    }
    // No fixture is an error: each is a documented message.
    for (name, got) in &actual {
        assert!(got.get("error").is_none(), "{name}: {got}");
    }
}

fn err(json: &str) -> EventError {
    normalise_event(json.as_bytes(), 0).expect_err(json)
}

fn field_of(e: &EventError) -> &str {
    match e {
        EventError::MissingField { field, .. }
        | EventError::InvalidField { field, .. }
        | EventError::UnknownGesture { field, .. } => field,
        other => panic!("no field in {other:?}"),
    }
}

#[test]
fn shelly_gen1_variants_name_the_field() {
    // The device comes from the topic: without it there is no device.
    assert_eq!(
        field_of(&err(r#"{"event":"S","event_cnt":3}"#)),
        "clickrules_topic"
    );
    let on = |topic: &str, payload: &str| format!(r#"{{"clickrules_topic":"{topic}",{payload}}}"#);
    assert_eq!(
        field_of(&err(&on("shellies/b1/relay/0", r#""event":"S""#))),
        "clickrules_topic"
    );
    let e = err(&on(
        "shellies/b1/input_event/0",
        r#""event":"SSSS","event_cnt":1"#,
    ));
    assert!(
        matches!(&e, EventError::UnknownGesture { field, accepted, .. } if field == "event" && accepted.contains("SSS"))
    );
    assert_eq!(
        field_of(&err(&on(
            "shellies/b1/input_event/0",
            r#""event":"S","event_cnt":-1"#
        ))),
        "event_cnt"
    );
    assert_eq!(
        field_of(&err(&on("shellies/b1/input_event/0", r#""event":5"#))),
        "event"
    );
}

#[test]
fn shelly_gen2_variants_name_the_field() {
    let frame = |events: &str| {
        format!(
            r#"{{"src":"shellyplusi4-a1","method":"NotifyEvent","params":{{"ts":1.5,"events":{events}}}}}"#
        )
    };
    assert_eq!(field_of(&err(&frame(r#""nope""#))), "params.events");
    assert_eq!(
        field_of(&err(&frame(
            r#"[{"component":"input:0","id":0,"event":"quintuple_push","ts":1.5}]"#
        ))),
        "params.events[0].event"
    );
    assert_eq!(
        field_of(&err(&frame(r#"[{"id":0,"event":"single_push","ts":1.5}]"#))),
        "params.events[0].component"
    );
    assert_eq!(
        field_of(&err(r#"{"method":"NotifyEvent","params":{"events":[]}}"#)),
        "src"
    );
    // The topic names the device; a payload cannot claim another's.
    let spoof = r#"{"clickrules_topic":"shellyplusi4-a1/events/rpc","src":"shellyplusi4-b2","method":"NotifyEvent","params":{"events":[{"component":"input:0","id":0,"event":"single_push","ts":9.25}]}}"#;
    let event = normalise_event(spoof.as_bytes(), 0).unwrap();
    assert_eq!(event.presses[0].click.serial_number, "shellyplusi4-a1");
    // Two pushes in one frame: two presses, each with its own counter.
    let two = frame(
        r#"[{"component":"input:0","id":0,"event":"single_push","ts":1.5},{"component":"input:1","id":1,"event":"long_push","ts":1.75}]"#,
    );
    let event = normalise_event(two.as_bytes(), 0).unwrap();
    assert_eq!(event.presses.len(), 2);
    assert_eq!(
        event.presses[1].click.serial_number,
        "shellyplusi4-a1:input:1"
    );
    assert_eq!(event.presses[1].click.click_type, ClickType::Long);
    assert_ne!(
        event.presses[0].device_counter,
        event.presses[1].device_counter
    );
}

#[test]
fn zigbee2mqtt_variants_name_the_field() {
    let on = |payload: &str| format!(r#"{{"clickrules_topic":"zigbee2mqtt/hall",{payload}}}"#);
    let e = err(&on(r#""action":"single_tap""#));
    assert!(
        matches!(&e, EventError::UnknownGesture { field, accepted, .. } if field == "action" && accepted.contains("emergency"))
    );
    assert_eq!(
        field_of(&err(&on(r#""action":"single","battery":140"#))),
        "battery"
    );
    assert_eq!(field_of(&err(&on(r#""action":7"#))), "action");
    assert_eq!(field_of(&err(r#"{"action":"single"}"#)), "clickrules_topic");
    assert_eq!(
        field_of(&err(
            r#"{"clickrules_topic":"elsewhere/hall","action":"single"}"#
        )),
        "clickrules_topic"
    );
    // Bridge messages are no press; a renamed base topic is followed.
    let bridge = normalise_event(
        br#"{"clickrules_topic":"zigbee2mqtt/bridge/state","state":"online","action":"x"}"#,
        0,
    )
    .unwrap();
    assert!(bridge.presses.is_empty());
    let options = NormaliseOptions {
        zigbee2mqtt_base_topic: "z2m".into(),
        ..NormaliseOptions::default()
    };
    let moved = normalise_event_with(
        br#"{"clickrules_topic":"z2m/desk","action":"double","battery":55}"#,
        0,
        &options,
    )
    .unwrap();
    assert_eq!(moved.presses[0].click.serial_number, "desk");
    assert_eq!(moved.presses[0].click.battery_pct, Some(55));
}

#[test]
fn events_of_no_source_name_the_formats_tried() {
    let e = err(r#"{"temperature":21.5,"humidity":40}"#);
    let EventError::UnknownFormat { tried, fields } = &e else {
        panic!("{e:?}");
    };
    for format in EventFormat::MQTT {
        assert!(tried.contains(format.as_str()), "{tried}");
    }
    assert!(fields.contains("temperature"));
    // A Function URL request is for the webhook function.
    let http = r#"{"version":"2.0","routeKey":"$default","rawPath":"/","headers":{},"requestContext":{"http":{"method":"POST"}},"body":"{}"}"#;
    assert!(matches!(err(http), EventError::HttpRequest));
    // A source the deployment does not accept is refused naming it.
    let only_button = NormaliseOptions {
        accept: vec![EventFormat::IotButton],
        ..NormaliseOptions::default()
    };
    let shelly = br#"{"clickrules_topic":"shellies/b1/input_event/0","event":"S","event_cnt":1}"#;
    assert!(matches!(
        normalise_event_with(shelly, 0, &only_button),
        Err(EventError::SourceNotAccepted {
            format: "shelly-gen1",
            ..
        })
    ));
}

#[test]
fn one_click_accepts_every_documented_shape() {
    let without_placement = br#"{"deviceInfo":{"deviceId":"G030PM0412345678","type":"button","remainingLife":42.4,"attributes":{}},"deviceEvent":{"buttonClicked":{"clickType":"DOUBLE","reportedTime":"2018-05-04T23:26:33.747Z"}}}"#;
    let event = normalise_event(without_placement, 0).unwrap();
    let click = &event.presses[0].click;
    assert_eq!(click.click_type, ClickType::Double);
    assert_eq!(click.battery_pct, Some(42));
    let no_life =
        br#"{"deviceInfo":{"deviceId":"G1"},"deviceEvent":{"buttonClicked":{"clickType":"LONG"}}}"#;
    assert_eq!(
        normalise_event(no_life, 0).unwrap().presses[0]
            .click
            .battery_pct,
        None
    );
    assert_eq!(
        field_of(&err(
            r#"{"deviceInfo":{"deviceId":"G1","remainingLife":140},"deviceEvent":{"buttonClicked":{"clickType":"LONG"}}}"#
        )),
        "deviceInfo.remainingLife"
    );
}
