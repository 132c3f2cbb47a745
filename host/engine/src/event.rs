//! Button events in: tell the formats apart and normalise them into a [`Click`].

use aws_lambda_events::event::iot_1_click::IoTOneClickEvent;
use aws_lambda_events::event::iot_button::IoTButtonEvent;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::unique_json::{self, ParseError};

/// Longest excerpt of a device-supplied value quoted back in an error.
const MAX_QUOTED: usize = 64;
/// Longest serial number (device id) accepted. AWS IoT thing names go to 128 characters; every
/// button id seen in practice is far shorter.
pub const MAX_SERIAL_BYTES: usize = 128;
/// What a serial number may be made of, for error messages.
const SERIAL_CHARS: &str = "1 to 128 printable ASCII characters (letters, digits, punctuation, \
                            inner spaces)";

/// How the button was pressed. Exhaustive on purpose: every host and guest binding must decide
/// what a new gesture means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ClickType {
    /// One short press.
    Single,
    /// Two presses in quick succession.
    Double,
    /// Three presses in quick succession (Shelly, Zigbee buttons; contract 0.2.0). A guest
    /// built for 0.1.0 is never given one.
    Triple,
    /// Held for over 1.5 s.
    Long,
}

impl ClickType {
    /// Every click type, in the order tables list them.
    pub const ALL: [ClickType; 4] = [
        ClickType::Single,
        ClickType::Double,
        ClickType::Triple,
        ClickType::Long,
    ];

    /// The click types of contract 0.1.0 and of the AWS IoT button formats.
    pub const CLASSIC: [ClickType; 3] = [ClickType::Single, ClickType::Double, ClickType::Long];

    /// The device's spelling: `SINGLE`, `DOUBLE`, `TRIPLE` or `LONG`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClickType::Single => "SINGLE",
            ClickType::Double => "DOUBLE",
            ClickType::Triple => "TRIPLE",
            ClickType::Long => "LONG",
        }
    }

    /// The AWS IoT button formats know no triple press.
    fn parse_classic(raw: &str) -> Option<Self> {
        Self::CLASSIC.into_iter().find(|c| c.as_str() == raw)
    }
}

impl std::fmt::Display for ClickType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One press, as the guest sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Click {
    /// The device's serial number (device id).
    pub serial_number: String,
    /// How it was pressed.
    pub click_type: ClickType,
    /// Battery voltage in millivolts, when the device reports volts.
    pub battery_mv: Option<u32>,
    /// Battery charge, 0 to 100, when the device reports a percentage.
    #[serde(default)]
    pub battery_pct: Option<u8>,
    /// When the host received the press, ms since the Unix epoch.
    pub received_at_ms: u64,
    /// Which event format delivered it (`iot-button`, `iot-1-click`, ...).
    #[serde(default)]
    pub source: String,
    /// The press's own id (the ledger's); the caller sets it.
    #[serde(default)]
    pub press_id: String,
    /// The deployment's UTC offset at `received_at_ms`, minutes; the caller sets it.
    #[serde(default)]
    pub utc_offset_minutes: i32,
}

impl Click {
    /// A press from device `serial_number`, as simulated or tested: no percentage battery,
    /// source `simulated`, no press id, UTC.
    pub fn new(
        serial_number: impl Into<String>,
        click_type: ClickType,
        battery_mv: Option<u32>,
        received_at_ms: u64,
    ) -> Self {
        Self {
            serial_number: serial_number.into(),
            click_type,
            battery_mv,
            battery_pct: None,
            received_at_ms,
            source: "simulated".into(),
            press_id: String::new(),
            utc_offset_minutes: 0,
        }
    }
}

/// Battery readings worth checking a guest against: unreported, empty, just above empty,
/// around the usual low-battery thresholds, a fresh battery, and the largest value the
/// contract carries. `clickrules check` and the test kit's cost example use them.
pub const BATTERY_EDGE_CASES: [Option<u32>; 8] = [
    None,
    Some(0),
    Some(1),
    Some(1499),
    Some(1500),
    Some(1705),
    Some(3300),
    Some(u32::MAX),
];

/// Which message format delivered the press.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum EventFormat {
    /// The classic AWS IoT button message, possibly with fields added by a topic rule.
    IotButton,
    /// An AWS IoT 1-Click device event.
    #[serde(rename = "iot-1-click")]
    IotOneClick,
}

impl EventFormat {
    /// The name records use: `iot-button` or `iot-1-click`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventFormat::IotButton => "iot-button",
            EventFormat::IotOneClick => "iot-1-click",
        }
    }
}

/// A recognised event and the click it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalisedEvent {
    /// The format it arrived in.
    pub format: EventFormat,
    /// The press.
    pub click: Click,
    /// The per-message id the delivery path added (`clickrules_trace_id`, from the IoT topic
    /// rule's `traceid()`), which identifies this press across redeliveries.
    pub trace_id: Option<String>,
}

/// The field an IoT topic rule adds with the message's trace id (`traceid() AS ...`).
pub const TRACE_ID_FIELD: &str = "clickrules_trace_id";

/// Why an event could not be turned into a click. Each variant names the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// Not parseable as JSON at all.
    #[error("event is not valid JSON: {message}")]
    Json {
        /// The parser's explanation, with line and column.
        message: String,
    },
    /// An object names the same key twice; readers disagree on which one counts.
    #[error(
        "event has the key {key:?} twice in {}; each key may appear once",
        object_name(path)
    )]
    DuplicateKey {
        /// The object holding it, dotted (`deviceEvent.buttonClicked`); empty for the top level.
        path: String,
        /// The repeated key.
        key: String,
    },
    /// JSON, but not an object.
    #[error("event must be a JSON object, got {found}")]
    NotAnObject {
        /// What it was instead.
        found: &'static str,
    },
    /// An object with neither format's fields.
    #[error(
        "event is neither an IoT button message (serialNumber, clickType) nor an IoT 1-Click \
         event (deviceEvent, deviceInfo); its fields are: {fields}"
    )]
    UnknownFormat {
        /// The top-level field names found (truncated).
        fields: String,
    },
    /// A required field is absent or empty.
    #[error("{format} event is missing {field}")]
    MissingField {
        /// Which format was recognised.
        format: &'static str,
        /// Path of the field, e.g. `deviceInfo.deviceId`.
        field: String,
    },
    /// A field is present but unusable.
    #[error("{format} event field {field} is {value}; expected {expected}")]
    InvalidField {
        /// Which format was recognised.
        format: &'static str,
        /// Path of the field.
        field: String,
        /// The value found, quoted and truncated.
        value: String,
        /// What would have been accepted.
        expected: String,
    },
}

const BUTTON: &str = "IoT button";
const ONE_CLICK: &str = "IoT 1-Click";
const CLICK_TYPES: &str = "one of SINGLE, DOUBLE, LONG";

/// Parses a button event in either supported format.
pub fn normalise_event(bytes: &[u8], received_at_ms: u64) -> Result<NormalisedEvent, EventError> {
    let value = unique_json::parse(bytes).map_err(|e| match e {
        ParseError::Duplicate { path, key } => EventError::DuplicateKey { path, key },
        ParseError::Json(message) => EventError::Json { message },
    })?;
    let Value::Object(fields) = &value else {
        return Err(EventError::NotAnObject {
            found: json_kind(&value),
        });
    };
    let trace_id = trace_id(fields)?;
    let normalised = if fields.contains_key("deviceEvent") || fields.contains_key("deviceInfo") {
        let event: IoTOneClickEvent = typed(value, ONE_CLICK)?;
        one_click(event, received_at_ms)
    } else if fields.contains_key("serialNumber") || fields.contains_key("clickType") {
        let event: IoTButtonEvent = typed(value, BUTTON)?;
        button(event, received_at_ms)
    } else {
        let mut names: Vec<&str> = fields.keys().map(String::as_str).take(8).collect();
        if fields.len() > names.len() {
            names.push("...");
        }
        Err(EventError::UnknownFormat {
            fields: if names.is_empty() {
                "(none)".to_string()
            } else {
                names.join(", ")
            },
        })
    };
    normalised.map(|event| NormalisedEvent { trace_id, ..event })
}

/// The delivery's trace id, when the topic rule added one: a press id, so held to the same
/// character rules as serial numbers.
fn trace_id(fields: &serde_json::Map<String, Value>) -> Result<Option<String>, EventError> {
    match fields.get(TRACE_ID_FIELD) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => serial(Some(id.clone()), "event", TRACE_ID_FIELD).map(Some),
        Some(other) => Err(EventError::InvalidField {
            format: "event",
            field: TRACE_ID_FIELD.into(),
            value: quote(&other.to_string()),
            expected: "a string (the IoT rule's traceid())".into(),
        }),
    }
}

fn button(event: IoTButtonEvent, received_at_ms: u64) -> Result<NormalisedEvent, EventError> {
    let serial_number = serial(event.serial_number, BUTTON, "serialNumber")?;
    let click_type = click_type(event.click_type, BUTTON, "clickType")?;
    let battery_mv = event
        .battery_voltage
        .map(|raw| {
            parse_millivolts(&raw).ok_or_else(|| EventError::InvalidField {
                format: BUTTON,
                field: "batteryVoltage".into(),
                value: quote(&raw),
                expected: "millivolts such as \"1705mV\"".into(),
            })
        })
        .transpose()?;
    Ok(NormalisedEvent {
        trace_id: None,
        format: EventFormat::IotButton,
        click: Click {
            source: EventFormat::IotButton.as_str().into(),
            ..Click::new(serial_number, click_type, battery_mv, received_at_ms)
        },
    })
}

fn one_click(event: IoTOneClickEvent, received_at_ms: u64) -> Result<NormalisedEvent, EventError> {
    let serial_number = serial(
        event.device_info.device_id,
        ONE_CLICK,
        "deviceInfo.deviceId",
    )?;
    let click_type = click_type(
        event.device_event.button_clicked.click_type,
        ONE_CLICK,
        "deviceEvent.buttonClicked.clickType",
    )?;
    // 1-Click reports the battery's remaining life as a percentage, not a voltage.
    let life = event.device_info.remaining_life;
    let battery_pct = life
        .is_finite()
        .then(|| life.clamp(0.0, 100.0).round() as u8);
    Ok(NormalisedEvent {
        trace_id: None,
        format: EventFormat::IotOneClick,
        click: Click {
            battery_pct,
            source: EventFormat::IotOneClick.as_str().into(),
            ..Click::new(serial_number, click_type, None, received_at_ms)
        },
    })
}

fn typed<T: DeserializeOwned>(value: Value, format: &'static str) -> Result<T, EventError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner().to_string();
        match inner.strip_prefix("missing field `") {
            Some(rest) => EventError::MissingField {
                format,
                field: join_path(&field, rest.trim_end_matches('`')),
            },
            None => EventError::InvalidField {
                format,
                field,
                value: inner,
                expected: "the field's documented type".into(),
            },
        }
    })
}

fn join_path(parent: &str, field: &str) -> String {
    if parent.is_empty() || parent == "." {
        field.to_string()
    } else {
        format!("{parent}.{field}")
    }
}

fn required(
    value: Option<String>,
    format: &'static str,
    field: &str,
) -> Result<String, EventError> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(EventError::MissingField {
            format,
            field: field.into(),
        }),
    }
}

/// A device id: present, at most [`MAX_SERIAL_BYTES`], printable ASCII with no space at either
/// end. It is echoed into logs, records, terminals and SNS messages, so control characters,
/// bidi overrides and megabyte ids are refused here rather than escaped everywhere.
fn serial(value: Option<String>, format: &'static str, field: &str) -> Result<String, EventError> {
    let raw = required(value, format, field)?;
    let printable = raw.bytes().all(|b| (b' '..=b'~').contains(&b));
    if raw.len() > MAX_SERIAL_BYTES || !printable || raw.trim() != raw {
        return Err(EventError::InvalidField {
            format,
            field: field.into(),
            value: quote(&raw),
            expected: SERIAL_CHARS.into(),
        });
    }
    Ok(raw)
}

/// "the event" or "deviceEvent.buttonClicked", for the duplicate-key message.
fn object_name(path: &str) -> String {
    if path.is_empty() {
        "the event".to_string()
    } else {
        path.to_string()
    }
}

fn click_type(
    value: Option<String>,
    format: &'static str,
    field: &str,
) -> Result<ClickType, EventError> {
    let raw = required(value, format, field)?;
    ClickType::parse_classic(&raw).ok_or_else(|| EventError::InvalidField {
        format,
        field: field.into(),
        value: quote(&raw),
        expected: CLICK_TYPES.into(),
    })
}

/// `"1705mV"`, `"1705 mV"` or `"1705"` → 1705.
fn parse_millivolts(raw: &str) -> Option<u32> {
    let trimmed = raw.trim();
    let digits = trimmed
        .strip_suffix("mV")
        .or_else(|| trimmed.strip_suffix("mv"))
        .unwrap_or(trimmed)
        .trim_end();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn quote(raw: &str) -> String {
    let mut end = raw.len().min(MAX_QUOTED);
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    if end < raw.len() {
        format!("{:?}...", &raw[..end])
    } else {
        format!("{raw:?}")
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(e.click.battery_mv, None);
        assert_eq!(e.click.received_at_ms, 7);
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
            let json = format!(
                r#"{{"serialNumber":"G1","clickType":"SINGLE","clickrules_trace_id":{bad}}}"#
            );
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
            assert_eq!(e.click.serial_number, ok);
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
}
