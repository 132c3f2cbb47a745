//! Shelly Gen2+ (Plus, Pro, i4; BLU buttons through a gateway): MQTT `<id>/events/rpc` with a
//! `NotifyEvent` frame whose `params.events[]` each name a component, an event and a `ts`.
//! One click per push event; `btn_down`/`btn_up` edges and other components' events are no
//! presses. <https://shelly-api-docs.shelly.cloud/gen2/ComponentsAndServices/Input#webhook-events>

use serde_json::{Map, Value};

use super::fields::{self, Fields, quote};
use super::shelly_gen1::input_serial;
use super::{Click, ClickType, EventError, EventFormat, Parsed, SkipKind, Skipped, SourcePress};

const FORMAT: &str = "Shelly Gen2";
const ACCEPTED: &str = "single_push, double_push, triple_push, long_push (btn_down, btn_up are \
                        edges, not presses)";

/// What an input event is: the whole mapping of this source.
enum Gesture {
    Press(ClickType),
    Edge,
    Unsupported,
}

fn gesture(event: &str) -> Option<Gesture> {
    Some(match event {
        "single_push" => Gesture::Press(ClickType::Single),
        "double_push" => Gesture::Press(ClickType::Double),
        "triple_push" => Gesture::Press(ClickType::Triple),
        "long_push" => Gesture::Press(ClickType::Long),
        // Half of a press: the push events above follow them.
        "btn_down" | "btn_up" => Gesture::Edge,
        // Combined gestures some inputs report; the contract has no click type for them.
        "long_single_push" | "single_long_push" | "hold" | "hold_release" => Gesture::Unsupported,
        _ => return None,
    })
}

/// Components whose events are button gestures: wired inputs, and BTHome devices (BLU
/// buttons) a gateway relays.
fn is_button(component: &str) -> bool {
    ["input:", "bthomedevice:", "bthomesensor:"]
        .iter()
        .any(|p| component.starts_with(p))
}

pub(crate) fn parse(
    map: &Map<String, Value>,
    topic: Option<&str>,
    received_at_ms: u64,
) -> Result<Parsed, EventError> {
    let top = Fields::new(FORMAT, map);
    let device = device(&top, topic)?;
    match top.opt_str("method")? {
        Some("NotifyEvent") => {}
        Some(other) => {
            return Ok(Parsed::skip(
                SkipKind::NotAPress,
                Some(device),
                format!("method {} (only NotifyEvent carries presses)", quote(other)),
            ));
        }
        None => return Err(top.missing("method")),
    }
    let params = top.object("params")?;
    let params = Fields {
        path: "params",
        ..Fields::new(FORMAT, params)
    };
    let frame_ts = params.opt_f64("ts")?;
    let events = match params.get("events") {
        Some(Value::Array(events)) => events,
        Some(other) => return Err(params.invalid("events", other, "an array of events")),
        None => return Err(params.missing("events")),
    };
    let mut parsed = Parsed::default();
    for (i, event) in events.iter().enumerate() {
        let path = format!("params.events[{i}]");
        let Value::Object(event) = event else {
            return Err(EventError::InvalidField {
                format: FORMAT,
                field: path,
                value: quote(&event.to_string()),
                expected: "an event object".into(),
            });
        };
        let event = Fields {
            path: &path,
            ..Fields::new(FORMAT, event)
        };
        let component = event.str("component")?;
        let name = event.str("event")?;
        if !is_button(component) {
            parsed.skipped.push(Skipped {
                kind: SkipKind::NotAPress,
                device: Some(device.clone()),
                detail: format!("{} event {}", quote(component), quote(name)),
            });
            continue;
        }
        let component = fields::serial(component, FORMAT, &event.path_of("component"))?;
        let serial = fields::serial(
            &input_serial(&device, &component, component == "input:0"),
            FORMAT,
            &event.path_of("component"),
        )?;
        match gesture(name) {
            Some(Gesture::Press(click_type)) => {
                let ts = event.opt_f64("ts")?.or(frame_ts);
                parsed.presses.push(SourcePress {
                    click: Click {
                        source: EventFormat::ShellyGen2.as_str().into(),
                        ..Click::new(serial, click_type, None, received_at_ms)
                    },
                    // The device's own timestamp of the event, to the 10 ms it reports.
                    device_counter: ts.map(|ts| {
                        format!(
                            "{}:{device}:{component}:{name}:{:.2}",
                            EventFormat::ShellyGen2,
                            ts
                        )
                    }),
                });
            }
            Some(Gesture::Edge) => parsed.skipped.push(Skipped {
                kind: SkipKind::NotAPress,
                device: Some(serial),
                detail: format!("event {} (an edge, not a press)", quote(name)),
            }),
            Some(Gesture::Unsupported) => parsed.skipped.push(Skipped {
                kind: SkipKind::UnsupportedGesture,
                device: Some(serial),
                detail: format!("event {}", quote(name)),
            }),
            None => {
                return Err(EventError::UnknownGesture {
                    format: FORMAT,
                    field: event.path_of("event"),
                    value: quote(name),
                    accepted: ACCEPTED.into(),
                });
            }
        }
    }
    if parsed.presses.is_empty() && parsed.skipped.is_empty() {
        parsed.skipped.push(Skipped {
            kind: SkipKind::NotAPress,
            device: Some(device),
            detail: "a NotifyEvent frame with no events".into(),
        });
    }
    Ok(parsed)
}

/// The device: the topic's prefix when the rule gave the topic (the IoT policy decides who
/// may publish there, while `src` is whatever the payload claims); else `src`.
fn device(top: &Fields<'_>, topic: Option<&str>) -> Result<String, EventError> {
    match topic {
        Some(t) => match t.strip_suffix("/events/rpc") {
            Some(prefix) if !prefix.is_empty() => {
                fields::serial(prefix, FORMAT, super::TOPIC_FIELD)
            }
            _ => Err(EventError::InvalidField {
                format: FORMAT,
                field: super::TOPIC_FIELD.into(),
                value: quote(t),
                expected: "<topic prefix, the device id by default>/events/rpc".into(),
            }),
        },
        None => top.serial("src"),
    }
}
