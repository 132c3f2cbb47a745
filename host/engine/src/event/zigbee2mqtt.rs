//! Zigbee2MQTT: MQTT `<base topic>/<friendly_name>` with `action`, `battery` (%) and often
//! `voltage` (mV). The device is the friendly name from the topic; the action's meaning is in
//! `zigbee2mqtt_actions`. Messages with no action (state reports, retained messages, the
//! legacy empty `action` that follows one) are recorded as no press.
//! <https://www.zigbee2mqtt.io/guide/usage/mqtt_topics_and_messages.html>

use serde_json::{Map, Value};

use super::fields::{self, Fields, quote};
use super::zigbee2mqtt_actions::{Z2mGesture, accepted, counted, lookup};
use super::{Click, EventError, EventFormat, Parsed, SkipKind};

const FORMAT: &str = "Zigbee2MQTT";

/// Topics under the base topic that are not device messages.
const NOT_DEVICE_SUFFIXES: [&str; 4] = ["/set", "/get", "/availability", "/action"];

pub(crate) fn parse(
    map: &Map<String, Value>,
    topic: Option<&str>,
    base_topic: &str,
    received_at_ms: u64,
) -> Result<Parsed, EventError> {
    let top = Fields::new(FORMAT, map);
    let Some(topic) = topic else {
        return Err(top.missing(super::TOPIC_FIELD));
    };
    let name = topic
        .strip_prefix(base_topic)
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|name| !name.is_empty())
        .ok_or_else(|| EventError::InvalidField {
            format: FORMAT,
            field: super::TOPIC_FIELD.into(),
            value: quote(topic),
            expected: format!("{base_topic}/<friendly name> (CLICKRULES_Z2M_BASE_TOPIC)"),
        })?;
    if name == "bridge" || name.starts_with("bridge/") {
        return Ok(Parsed::skip(
            SkipKind::NotAPress,
            None,
            format!("a bridge message on {}", quote(topic)),
        ));
    }
    if let Some(suffix) = NOT_DEVICE_SUFFIXES.iter().find(|s| name.ends_with(**s)) {
        return Ok(Parsed::skip(
            SkipKind::NotAPress,
            None,
            format!("a {} message on {}", &suffix[1..], quote(topic)),
        ));
    }
    let device = fields::serial(name, FORMAT, super::TOPIC_FIELD)?;
    let action = match top.opt_str("action")? {
        Some(a) if !a.is_empty() => a,
        _ => {
            // 1.x (legacy on) published the gesture twice, in an `action` message and in a
            // `click` one: the `click` message is a duplicate, not a second press.
            let detail = match top.opt_str("click")? {
                Some(c) if !c.is_empty() => format!(
                    "the legacy click field {} (its press came in an action message)",
                    quote(c)
                ),
                _ => "no action (a state report or a retained message)".into(),
            };
            return Ok(Parsed::skip(SkipKind::NotAPress, Some(device), detail));
        }
    };
    let field = "action";
    let battery_pct = top.opt_percent("battery")?;
    let battery_mv = match top.opt_f64("voltage")? {
        Some(v) if (0.0..=f64::from(u32::MAX)).contains(&v) => Some(v.round() as u32),
        Some(_) => {
            return Err(top.invalid(
                "voltage",
                top.get("voltage").unwrap_or(&Value::Null),
                "millivolts, 0 or more",
            ));
        }
        None => None,
    };
    let Some((gesture, button)) = lookup(action) else {
        return Err(EventError::UnknownGesture {
            format: FORMAT,
            field: field.into(),
            value: quote(action),
            accepted: accepted(),
        });
    };
    let device = match button {
        Some(button) => fields::serial(&format!("{device}:{button}"), FORMAT, super::TOPIC_FIELD)?,
        None => device,
    };
    match counted(gesture, action, top.opt_u64("counter")?) {
        Z2mGesture::Press(click_type) => Ok(Parsed::one(Click {
            battery_pct,
            source: EventFormat::Zigbee2Mqtt.as_str().into(),
            ..Click::new(device, click_type, battery_mv, received_at_ms)
        })),
        Z2mGesture::NotAPress => Ok(Parsed::skip(
            SkipKind::NotAPress,
            Some(device),
            format!("{field} {}", quote(action)),
        )),
        Z2mGesture::Unsupported => Ok(Parsed::skip(
            SkipKind::UnsupportedGesture,
            Some(device),
            format!("{field} {}", quote(action)),
        )),
    }
}
