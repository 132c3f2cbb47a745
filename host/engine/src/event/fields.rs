//! What every source's parser needs: typed reads of JSON fields that name the field on failure,
//! the device id rules, and quoting of device-supplied values in errors.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{EventError, MAX_SERIAL_BYTES};

/// Longest excerpt of a device-supplied value quoted back in an error.
const MAX_QUOTED: usize = 64;
/// What a serial number may be made of, for error messages.
const SERIAL_CHARS: &str = "1 to 128 printable ASCII characters (letters, digits, punctuation, \
                            inner spaces)";

/// A JSON object with the format's name, so each read can name the field that did not fit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields<'a> {
    pub(crate) format: &'static str,
    pub(crate) map: &'a Map<String, Value>,
    /// Dotted path of this object in the event; empty for the top level.
    pub(crate) path: &'a str,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(format: &'static str, map: &'a Map<String, Value>) -> Self {
        Self {
            format,
            map,
            path: "",
        }
    }

    pub(crate) fn path_of(&self, field: &str) -> String {
        join_path(self.path, field)
    }

    pub(crate) fn get(&self, field: &str) -> Option<&'a Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    pub(crate) fn missing(&self, field: &str) -> EventError {
        EventError::MissingField {
            format: self.format,
            field: self.path_of(field),
        }
    }

    pub(crate) fn invalid(&self, field: &str, value: &Value, expected: &str) -> EventError {
        let shown = match value {
            Value::String(s) => quote(s),
            other => quote(&other.to_string()),
        };
        EventError::InvalidField {
            format: self.format,
            field: self.path_of(field),
            value: shown,
            expected: expected.into(),
        }
    }

    /// A string field; `None` when absent or null.
    pub(crate) fn opt_str(&self, field: &str) -> Result<Option<&'a str>, EventError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.invalid(field, other, "a string")),
        }
    }

    pub(crate) fn str(&self, field: &str) -> Result<&'a str, EventError> {
        match self.opt_str(field)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            _ => Err(self.missing(field)),
        }
    }

    /// A nested object.
    pub(crate) fn object(&self, field: &str) -> Result<&'a Map<String, Value>, EventError> {
        match self.get(field) {
            None => Err(self.missing(field)),
            Some(Value::Object(map)) => Ok(map),
            Some(other) => Err(self.invalid(field, other, "an object")),
        }
    }

    /// A non-negative whole number.
    pub(crate) fn opt_u64(&self, field: &str) -> Result<Option<u64>, EventError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.invalid(field, v, "a whole number, 0 or more")),
        }
    }

    /// A finite number.
    pub(crate) fn opt_f64(&self, field: &str) -> Result<Option<f64>, EventError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|f| f.is_finite())
                .map(Some)
                .ok_or_else(|| self.invalid(field, v, "a number")),
        }
    }

    /// A battery percentage, 0 to 100 (fractions rounded).
    pub(crate) fn opt_percent(&self, field: &str) -> Result<Option<u8>, EventError> {
        match self.opt_f64(field)? {
            None => Ok(None),
            Some(p) if (0.0..=100.0).contains(&p) => Ok(Some(p.round() as u8)),
            Some(_) => Err(self.invalid(
                field,
                self.get(field).unwrap_or(&Value::Null),
                "a percentage from 0 to 100",
            )),
        }
    }

    /// A device id field, held to [`serial`]'s rules.
    pub(crate) fn serial(&self, field: &str) -> Result<String, EventError> {
        let raw = self.str(field)?;
        serial(raw, self.format, &self.path_of(field))
    }
}

/// Deserialises a whole event into a typed struct, naming the first field that did not fit.
pub(crate) fn typed<T: DeserializeOwned>(
    value: Value,
    format: &'static str,
) -> Result<T, EventError> {
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

pub(crate) fn join_path(parent: &str, field: &str) -> String {
    if parent.is_empty() || parent == "." {
        field.to_string()
    } else {
        format!("{parent}.{field}")
    }
}

/// A device id: present, at most [`MAX_SERIAL_BYTES`], printable ASCII with no space at either
/// end. It is echoed into logs, records, terminals and SNS messages, so control characters,
/// bidi overrides and megabyte ids are refused here rather than escaped everywhere.
pub(crate) fn serial(raw: &str, format: &'static str, field: &str) -> Result<String, EventError> {
    if raw.trim().is_empty() {
        return Err(EventError::MissingField {
            format,
            field: field.into(),
        });
    }
    let printable = raw.bytes().all(|b| (b' '..=b'~').contains(&b));
    if raw.len() > MAX_SERIAL_BYTES || !printable || raw.trim() != raw {
        return Err(EventError::InvalidField {
            format,
            field: field.into(),
            value: quote(raw),
            expected: SERIAL_CHARS.into(),
        });
    }
    Ok(raw.to_string())
}

/// `"1705mV"`, `"1705 mV"` or `"1705"` → 1705.
pub(crate) fn parse_millivolts(raw: &str) -> Option<u32> {
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

/// A device-supplied value for an error message: debug-quoted, cut to 64 bytes.
pub fn quote(raw: &str) -> String {
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

/// What a JSON value is, for error messages: `a string`, `an object`, ...
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// "the event" or "deviceEvent.buttonClicked", for the duplicate-key message.
pub(crate) fn object_name(path: &str) -> String {
    if path.is_empty() {
        "the event".to_string()
    } else {
        path.to_string()
    }
}
