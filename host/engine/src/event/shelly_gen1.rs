//! Shelly Gen1 (Button1, i3): MQTT `shellies/<id>/input_event/<n>` with
//! `{"event": "S"|"SS"|"SSS"|"L"|"SL"|"LS", "event_cnt": N}`. The device id comes from the
//! topic (the payload has none); `event_cnt` is the device's 16-bit press counter.
//! <https://shelly-api-docs.shelly.cloud/gen1/#shelly-button1-mqtt>

use serde_json::{Map, Value};

use super::fields::{self, Fields, quote};
use super::{Click, ClickType, EventError, EventFormat, Parsed, SkipKind, SourcePress};

const FORMAT: &str = "Shelly Gen1";
const ACCEPTED: &str = "S (single), SS (double), SSS (triple), L (long); SL and LS are recorded \
                        as unsupported gestures";

/// The gesture table: the whole mapping of this source.
fn gesture(event: &str) -> Option<Result<ClickType, ()>> {
    Some(match event {
        "S" => Ok(ClickType::Single),
        "SS" => Ok(ClickType::Double),
        "SSS" => Ok(ClickType::Triple),
        "L" => Ok(ClickType::Long),
        // Short-then-long and long-then-short: real gestures with no click type.
        "SL" | "LS" => Err(()),
        _ => return None,
    })
}

/// The device id and input number from `shellies/<id>/input_event/<n>`.
fn device(topic: Option<&str>) -> Result<(String, u32), EventError> {
    let Some(topic) = topic else {
        return Err(EventError::MissingField {
            format: FORMAT,
            field: super::TOPIC_FIELD.into(),
        });
    };
    let parts: Vec<&str> = topic.split('/').collect();
    let input = match parts.as_slice() {
        ["shellies", id, "input_event", n] if !id.is_empty() => {
            n.parse::<u32>().ok().map(|n| (*id, n))
        }
        _ => None,
    };
    let Some((id, n)) = input else {
        return Err(EventError::InvalidField {
            format: FORMAT,
            field: super::TOPIC_FIELD.into(),
            value: quote(topic),
            expected: "shellies/<device id>/input_event/<input number>".into(),
        });
    };
    Ok((fields::serial(id, FORMAT, super::TOPIC_FIELD)?, n))
}

/// The serial the guest sees: the device id for input 0 (Button1 has only that), with the
/// input appended for the others, so each of an i3's three inputs is its own button.
pub(crate) fn input_serial(device: &str, component: &str, first: bool) -> String {
    if first {
        device.to_string()
    } else {
        format!("{device}:{component}")
    }
}

pub(crate) fn parse(
    map: &Map<String, Value>,
    topic: Option<&str>,
    received_at_ms: u64,
) -> Result<Parsed, EventError> {
    let top = Fields::new(FORMAT, map);
    let (id, input) = device(topic)?;
    let serial = fields::serial(
        &input_serial(&id, &format!("input:{input}"), input == 0),
        FORMAT,
        super::TOPIC_FIELD,
    )?;
    let event = top.opt_str("event")?.unwrap_or_default();
    let counter = top.opt_u64("event_cnt")?;
    if event.is_empty() {
        // Published with an empty event on boot and when retained state is cleared.
        return Ok(Parsed::skip(
            SkipKind::NotAPress,
            Some(serial),
            "an empty event (no press)".into(),
        ));
    }
    match gesture(event) {
        Some(Ok(click_type)) => Ok(Parsed {
            presses: vec![SourcePress {
                click: Click {
                    source: EventFormat::ShellyGen1.as_str().into(),
                    ..Click::new(serial, click_type, None, received_at_ms)
                },
                device_counter: counter
                    .map(|n| format!("{}:{id}:{input}:{n}", EventFormat::ShellyGen1)),
            }],
            skipped: Vec::new(),
        }),
        Some(Err(())) => Ok(Parsed::skip(
            SkipKind::UnsupportedGesture,
            Some(serial),
            format!("event {}", quote(event)),
        )),
        None => Err(EventError::UnknownGesture {
            format: FORMAT,
            field: "event".into(),
            value: quote(event),
            accepted: ACCEPTED.into(),
        }),
    }
}
