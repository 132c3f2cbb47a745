//! The classic AWS IoT button (and any device publishing its message shape):
//! `{"serialNumber", "batteryVoltage": "1705mV", "clickType": "SINGLE"|"DOUBLE"|"LONG"}`.
//! Fields a topic rule adds are ignored.

use aws_lambda_events::event::iot_button::IoTButtonEvent;
use serde_json::Value;

use super::fields::{self, parse_millivolts, quote, typed};
use super::{Click, ClickType, EventError, EventFormat, Parsed};

const FORMAT: &str = "IoT button";
const CLICK_TYPES: &str = "one of SINGLE, DOUBLE, LONG";

pub(crate) fn parse(value: Value, received_at_ms: u64) -> Result<Parsed, EventError> {
    let event: IoTButtonEvent = typed(value, FORMAT)?;
    let serial_number = fields::serial(
        event.serial_number.as_deref().unwrap_or_default(),
        FORMAT,
        "serialNumber",
    )?;
    let click_type = classic_click_type(event.click_type.as_deref(), FORMAT, "clickType")?;
    let battery_mv = event
        .battery_voltage
        .map(|raw| {
            parse_millivolts(&raw).ok_or_else(|| EventError::InvalidField {
                format: FORMAT,
                field: "batteryVoltage".into(),
                value: quote(&raw),
                expected: "millivolts such as \"1705mV\"".into(),
            })
        })
        .transpose()?;
    Ok(Parsed::one(Click {
        source: EventFormat::IotButton.as_str().into(),
        ..Click::new(serial_number, click_type, battery_mv, received_at_ms)
    }))
}

/// SINGLE, DOUBLE or LONG, as both AWS button formats spell them.
pub(crate) fn classic_click_type(
    raw: Option<&str>,
    format: &'static str,
    field: &str,
) -> Result<ClickType, EventError> {
    let raw = match raw {
        Some(r) if !r.trim().is_empty() => r,
        _ => {
            return Err(EventError::MissingField {
                format,
                field: field.into(),
            });
        }
    };
    ClickType::parse_classic(raw).ok_or_else(|| EventError::InvalidField {
        format,
        field: field.into(),
        value: quote(raw),
        expected: CLICK_TYPES.into(),
    })
}
