//! A press as each MQTT source would deliver it, for `clickrules press --source S` and
//! `check --source S`: the event goes through the same normalisation as a real one, so a
//! simulated press proves the mapping as well as the guest.

use serde_json::json;

use super::{ClickType, EventFormat, TOPIC_FIELD, TRACE_ID_FIELD};

/// Why a press cannot be simulated for a source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimulateError {
    /// The source cannot send that gesture.
    #[error("{format} buttons have no {click} press; its gestures are {gestures}")]
    Gesture {
        /// The source.
        format: &'static str,
        /// The gesture asked for.
        click: &'static str,
        /// What it can send.
        gestures: String,
    },
    /// An HTTPS source: its requests are signed, so it is simulated as a verified press.
    #[error("{format} arrives as a signed HTTPS request; it has no MQTT message to simulate")]
    Https {
        /// The source.
        format: &'static str,
    },
}

/// A simulated press of `click` on device `serial`, in `format`'s own message shape (with the
/// fields its topic rule adds). `at_ms` stands in for the device's clock and counter.
pub fn simulated_event(
    format: EventFormat,
    serial: &str,
    click: ClickType,
    battery_mv: Option<u32>,
    at_ms: u64,
) -> Result<Vec<u8>, SimulateError> {
    if !format.gestures().contains(&click) {
        return Err(SimulateError::Gesture {
            format: format.as_str(),
            click: click.as_str(),
            gestures: format
                .gestures()
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let trace = format!("simulated-{}-{}-{at_ms}", format.as_str(), click.as_str());
    let event = match format {
        EventFormat::IotButton => {
            let mut event = json!({ "serialNumber": serial, "clickType": click.as_str() });
            if let Some(mv) = battery_mv {
                event["batteryVoltage"] = format!("{mv}mV").into();
            }
            event
        }
        EventFormat::IotOneClick => json!({
            "deviceInfo": { "deviceId": serial, "type": "button", "remainingLife": 95.0, "attributes": {} },
            "deviceEvent": { "buttonClicked": { "clickType": click.as_str(), "reportedTime": "2026-01-01T00:00:00.000Z" } },
        }),
        EventFormat::ShellyGen1 => json!({
            "event": match click {
                ClickType::Single => "S",
                ClickType::Double => "SS",
                ClickType::Triple => "SSS",
                ClickType::Long => "L",
            },
            // A 16-bit counter, as the device keeps it.
            "event_cnt": at_ms % 65_536,
            TOPIC_FIELD: format!("shellies/{serial}/input_event/0"),
            TRACE_ID_FIELD: trace,
        }),
        EventFormat::ShellyGen2 => {
            let ts = (at_ms as f64) / 1000.0;
            let event = match click {
                ClickType::Single => "single_push",
                ClickType::Double => "double_push",
                ClickType::Triple => "triple_push",
                ClickType::Long => "long_push",
            };
            json!({
                "src": serial,
                "dst": "clickrules",
                "method": "NotifyEvent",
                "params": { "ts": ts, "events": [
                    { "component": "input:0", "id": 0, "event": event, "ts": ts }
                ] },
                TOPIC_FIELD: format!("{serial}/events/rpc"),
                TRACE_ID_FIELD: trace,
            })
        }
        EventFormat::Zigbee2Mqtt => {
            let mut event = json!({
                "action": match click {
                    ClickType::Single => "single",
                    ClickType::Double => "double",
                    ClickType::Triple => "triple",
                    ClickType::Long => "hold",
                },
                "linkquality": 120,
                TOPIC_FIELD: format!("zigbee2mqtt/{serial}"),
                TRACE_ID_FIELD: trace,
            });
            if let Some(mv) = battery_mv {
                event["voltage"] = mv.into();
            }
            event
        }
        EventFormat::Flic | EventFormat::Webhook => {
            return Err(SimulateError::Https {
                format: format.as_str(),
            });
        }
    };
    Ok(event.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::normalise_event;

    #[test]
    fn every_simulated_press_normalises_back_to_itself() {
        for format in EventFormat::MQTT {
            for &click in format.gestures() {
                let bytes =
                    simulated_event(format, "dev-1", click, Some(2900), 1_700_000_000_000).unwrap();
                let event = normalise_event(&bytes, 0).unwrap();
                assert_eq!(event.format, format);
                let press = &event.presses[0].click;
                assert_eq!(press.click_type, click, "{format}");
                assert_eq!(press.serial_number, "dev-1", "{format}");
            }
        }
        assert!(matches!(
            simulated_event(EventFormat::IotButton, "G1", ClickType::Triple, None, 0),
            Err(SimulateError::Gesture { .. })
        ));
    }
}
