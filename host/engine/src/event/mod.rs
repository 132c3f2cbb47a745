//! Button events in: tell the sources apart and normalise each into the same [`Click`].
//!
//! Each source is one module holding its whole mapping: [`iot_button`], [`one_click`],
//! [`shelly_gen1`], [`shelly_gen2`], [`zigbee2mqtt`] (its action table in
//! `zigbee2mqtt_actions`). The HTTPS sources (Flic, the generic webhook) are verified and
//! normalised by `clickrules-webhooks`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::unique_json::{self, ParseError};

mod error;
mod fields;
mod iot_button;
mod one_click;
mod shelly_gen1;
mod shelly_gen2;
mod simulate;
mod zigbee2mqtt;
mod zigbee2mqtt_actions;

pub use error::EventError;
use fields::Fields;
pub use fields::{json_kind, quote};
pub use simulate::{SimulateError, simulated_event};
pub use zigbee2mqtt_actions::{Z2mGesture, ZIGBEE2MQTT_ACTIONS};

/// Longest serial number (device id) accepted. AWS IoT thing names go to 128 characters; every
/// button id seen in practice is far shorter.
pub const MAX_SERIAL_BYTES: usize = 128;

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
    pub(crate) fn parse_classic(raw: &str) -> Option<Self> {
        Self::CLASSIC.into_iter().find(|c| c.as_str() == raw)
    }

    /// `single`, `double`, `triple`, `long`: the lowercase spelling settings and webhooks use.
    pub fn parse_lower(raw: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(raw))
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

/// Which source delivered the press: the message format, and so how it was normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum EventFormat {
    /// The classic AWS IoT button message, possibly with fields added by a topic rule.
    IotButton,
    /// An AWS IoT 1-Click device event.
    #[serde(rename = "iot-1-click")]
    IotOneClick,
    /// A Shelly Gen1 `shellies/<id>/input_event/<n>` message (Button1, i3).
    #[serde(rename = "shelly-gen1")]
    ShellyGen1,
    /// A Shelly Gen2+ `NotifyEvent` frame from `<id>/events/rpc` (Plus, Pro, i4, BLU).
    #[serde(rename = "shelly-gen2")]
    ShellyGen2,
    /// A Zigbee2MQTT device message from `zigbee2mqtt/<friendly_name>`.
    #[serde(rename = "zigbee2mqtt")]
    Zigbee2Mqtt,
    /// A Flic Cloud button's signed token, through the webhook function.
    Flic,
    /// The generic HMAC-signed webhook, through the webhook function.
    Webhook,
}

impl EventFormat {
    /// Every source, in the order detection tries them and tables list them.
    pub const ALL: [EventFormat; 7] = [
        EventFormat::IotButton,
        EventFormat::IotOneClick,
        EventFormat::ShellyGen1,
        EventFormat::ShellyGen2,
        EventFormat::Zigbee2Mqtt,
        EventFormat::Flic,
        EventFormat::Webhook,
    ];

    /// The sources that arrive as MQTT messages through IoT Core topic rules (or directly):
    /// the button-event function's.
    pub const MQTT: [EventFormat; 5] = [
        EventFormat::IotButton,
        EventFormat::IotOneClick,
        EventFormat::ShellyGen1,
        EventFormat::ShellyGen2,
        EventFormat::Zigbee2Mqtt,
    ];

    /// The name records, `click.source` and settings use: `iot-button`, `shelly-gen2`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            EventFormat::IotButton => "iot-button",
            EventFormat::IotOneClick => "iot-1-click",
            EventFormat::ShellyGen1 => "shelly-gen1",
            EventFormat::ShellyGen2 => "shelly-gen2",
            EventFormat::Zigbee2Mqtt => "zigbee2mqtt",
            EventFormat::Flic => "flic",
            EventFormat::Webhook => "webhook",
        }
    }

    /// Whether it arrives over HTTPS (the webhook function) rather than MQTT.
    pub fn is_https(self) -> bool {
        matches!(self, EventFormat::Flic | EventFormat::Webhook)
    }

    /// The gestures this source can send, in table order.
    pub fn gestures(self) -> &'static [ClickType] {
        match self {
            EventFormat::IotButton | EventFormat::IotOneClick => &ClickType::CLASSIC,
            EventFormat::Flic => flic_gestures(),
            _ => &ClickType::ALL,
        }
    }

    /// The source names, for error messages.
    pub fn names() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

/// Flic's webhook documents a single click, a double click and a hold.
fn flic_gestures() -> &'static [ClickType] {
    &ClickType::CLASSIC
}

impl std::fmt::Display for EventFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EventFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| format!("unknown source {s:?}; the sources are {}", Self::names()))
    }
}

/// One press a message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePress {
    /// The press, as the guest sees it (its press id is set by the caller).
    pub click: Click,
    /// The device's own event counter, made unique per device (`shelly-gen1:<id>:<n>:<cnt>`),
    /// when the device sends one: a redelivery of the same device event carries the same
    /// counter. Counters wrap and reset on reboot, so it identifies a press only within a
    /// short window.
    pub device_counter: Option<String>,
}

/// Why part of a message, or all of it, is no press. Not an error: recorded, nothing run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// `not_a_press` (a state report, a button-down edge) or `unsupported_gesture` (a
    /// gesture the contract has no click type for, such as Shelly's short-long `SL`).
    pub kind: SkipKind,
    /// The device, when the message names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// What it was, for the record: `event "SL"`, `action "release"`, `no action`.
    pub detail: String,
}

/// What kind of no-press a message was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipKind {
    /// A message that reports no press at all.
    NotAPress,
    /// A press gesture the contract cannot express.
    UnsupportedGesture,
}

impl SkipKind {
    /// `not_a_press` or `unsupported_gesture`.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipKind::NotAPress => "not_a_press",
            SkipKind::UnsupportedGesture => "unsupported_gesture",
        }
    }
}

/// A recognised message and the presses it carries: none (a state report), one, or several
/// (a Shelly Gen2 frame with two push events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalisedEvent {
    /// The source it arrived from.
    pub format: EventFormat,
    /// The presses, in the order the device sent them.
    pub presses: Vec<SourcePress>,
    /// What in the message was no press, and why.
    pub skipped: Vec<Skipped>,
    /// The per-message id the delivery path added (`clickrules_trace_id`, from the IoT topic
    /// rule's `traceid()`), which identifies this message across redeliveries.
    pub trace_id: Option<String>,
    /// The MQTT topic the rule added (`clickrules_topic`).
    pub topic: Option<String>,
}

impl NormalisedEvent {
    /// One press from `format`, already read and verified by its caller (an HTTPS request the
    /// webhook entry authenticated, a simulated press): no topic, no trace id, nothing skipped.
    pub fn one(format: EventFormat, click: Click, device_counter: Option<String>) -> Self {
        Self {
            format,
            presses: vec![SourcePress {
                click,
                device_counter,
            }],
            skipped: Vec::new(),
            trace_id: None,
            topic: None,
        }
    }

    /// The first press, for callers that take one press per event.
    pub fn first(&self) -> Option<&Click> {
        self.presses.first().map(|p| &p.click)
    }
}

/// The field an IoT topic rule adds with the message's trace id (`traceid() AS ...`).
pub const TRACE_ID_FIELD: &str = "clickrules_trace_id";
/// The field an IoT topic rule adds with the message's topic (`topic() AS ...`).
pub const TOPIC_FIELD: &str = "clickrules_topic";
/// Longest topic accepted (IoT Core allows 256 bytes).
const MAX_TOPIC_BYTES: usize = 256;

/// How events are read: which sources are accepted, and where Zigbee2MQTT publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormaliseOptions {
    /// The sources accepted, in detection order; others are refused naming the source.
    pub accept: Vec<EventFormat>,
    /// Zigbee2MQTT's `mqtt.base_topic` (`zigbee2mqtt` unless changed in its configuration).
    pub zigbee2mqtt_base_topic: String,
}

impl Default for NormaliseOptions {
    fn default() -> Self {
        Self {
            accept: EventFormat::MQTT.to_vec(),
            zigbee2mqtt_base_topic: "zigbee2mqtt".into(),
        }
    }
}

/// What each source is recognised by, for [`EventError::UnknownFormat`].
fn looks_for(format: EventFormat) -> &'static str {
    match format {
        EventFormat::IotButton => "iot-button (serialNumber, clickType)",
        EventFormat::IotOneClick => "iot-1-click (deviceEvent, deviceInfo)",
        EventFormat::ShellyGen1 => {
            "shelly-gen1 (clickrules_topic shellies/<id>/input_event/<n>, or event with event_cnt)"
        }
        EventFormat::ShellyGen2 => "shelly-gen2 (method NotifyEvent, params.events)",
        EventFormat::Zigbee2Mqtt => "zigbee2mqtt (clickrules_topic <base topic>/<name>, action)",
        EventFormat::Flic => "flic (a Function URL request with a token)",
        EventFormat::Webhook => "webhook (a signed Function URL request)",
    }
}

/// Parses a button event from any MQTT source, with the default options.
pub fn normalise_event(bytes: &[u8], received_at_ms: u64) -> Result<NormalisedEvent, EventError> {
    normalise_event_with(bytes, received_at_ms, &NormaliseOptions::default())
}

/// Parses a button event, telling the sources apart by their fields: never a guess, and an
/// event that fits none names the formats tried and the fields it has.
pub fn normalise_event_with(
    bytes: &[u8],
    received_at_ms: u64,
    options: &NormaliseOptions,
) -> Result<NormalisedEvent, EventError> {
    let value = unique_json::parse(bytes).map_err(|e| match e {
        ParseError::Duplicate { path, key } => EventError::DuplicateKey { path, key },
        ParseError::Json(message) => EventError::Json { message },
    })?;
    let Value::Object(map) = &value else {
        return Err(EventError::NotAnObject {
            found: json_kind(&value),
        });
    };
    let top = Fields::new("event", map);
    let trace_id = match top.opt_str(TRACE_ID_FIELD)? {
        Some(id) => Some(fields::serial(id, "event", TRACE_ID_FIELD)?),
        None => None,
    };
    let topic = match top.opt_str(TOPIC_FIELD)? {
        Some(t) => Some(topic_field(t)?),
        None => None,
    };
    let format = detect(map, topic.as_deref(), options)?;
    if !options.accept.contains(&format) {
        return Err(EventError::SourceNotAccepted {
            format: format.as_str(),
            accepted: options
                .accept
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let parsed = match format {
        EventFormat::IotButton => iot_button::parse(value, received_at_ms)?,
        EventFormat::IotOneClick => one_click::parse(map, received_at_ms)?,
        EventFormat::ShellyGen1 => shelly_gen1::parse(map, topic.as_deref(), received_at_ms)?,
        EventFormat::ShellyGen2 => shelly_gen2::parse(map, topic.as_deref(), received_at_ms)?,
        EventFormat::Zigbee2Mqtt => zigbee2mqtt::parse(
            map,
            topic.as_deref(),
            &options.zigbee2mqtt_base_topic,
            received_at_ms,
        )?,
        // Detection never answers these: HTTPS requests are refused above.
        EventFormat::Flic | EventFormat::Webhook => return Err(EventError::HttpRequest),
    };
    Ok(NormalisedEvent {
        format,
        presses: parsed.presses,
        skipped: parsed.skipped,
        trace_id,
        topic,
    })
}

/// What a source's parser found.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub(crate) presses: Vec<SourcePress>,
    pub(crate) skipped: Vec<Skipped>,
}

impl Parsed {
    pub(crate) fn one(click: Click) -> Self {
        Self {
            presses: vec![SourcePress {
                click,
                device_counter: None,
            }],
            skipped: Vec::new(),
        }
    }

    pub(crate) fn skip(kind: SkipKind, device: Option<String>, detail: String) -> Self {
        Self {
            presses: Vec::new(),
            skipped: vec![Skipped {
                kind,
                device,
                detail,
            }],
        }
    }
}

/// Which source an object is, by the fields only it has.
fn detect(
    map: &Map<String, Value>,
    topic: Option<&str>,
    options: &NormaliseOptions,
) -> Result<EventFormat, EventError> {
    let has = |k: &str| map.contains_key(k);
    if has("requestContext") && (has("rawPath") || has("routeKey")) {
        return Err(EventError::HttpRequest);
    }
    if has("deviceEvent") || has("deviceInfo") {
        return Ok(EventFormat::IotOneClick);
    }
    if has("serialNumber") || has("clickType") {
        return Ok(EventFormat::IotButton);
    }
    if map.get("method").and_then(Value::as_str) == Some("NotifyEvent")
        || map.get("params").is_some_and(|p| p.get("events").is_some())
        || topic.is_some_and(|t| t.ends_with("/events/rpc"))
    {
        return Ok(EventFormat::ShellyGen2);
    }
    if topic.is_some_and(|t| t.starts_with("shellies/")) || (has("event") && has("event_cnt")) {
        return Ok(EventFormat::ShellyGen1);
    }
    let z2m_prefix = format!("{}/", options.zigbee2mqtt_base_topic);
    if topic.is_some_and(|t| t.starts_with(&z2m_prefix)) || has("action") {
        return Ok(EventFormat::Zigbee2Mqtt);
    }
    let mut names: Vec<&str> = map.keys().map(String::as_str).take(8).collect();
    if map.len() > names.len() {
        names.push("...");
    }
    Err(EventError::UnknownFormat {
        tried: EventFormat::MQTT.map(looks_for).join("; "),
        fields: if names.is_empty() {
            "(none)".to_string()
        } else {
            names.join(", ")
        },
    })
}

/// The rule-added topic: printable ASCII, within IoT Core's limit.
fn topic_field(raw: &str) -> Result<String, EventError> {
    let printable = raw.bytes().all(|b| (b'!'..=b'~').contains(&b) || b == b' ');
    if raw.is_empty() || raw.len() > MAX_TOPIC_BYTES || !printable {
        return Err(EventError::InvalidField {
            format: "event",
            field: TOPIC_FIELD.into(),
            value: quote(raw),
            expected: "the MQTT topic (printable ASCII, at most 256 bytes), as the rule's topic() gives it".into(),
        });
    }
    Ok(raw.to_string())
}

#[cfg(test)]
mod tests;
