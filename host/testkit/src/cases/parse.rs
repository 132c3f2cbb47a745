//! Reading a cases file: one generic tree for both formats, walked by hand so every error
//! names the file, the case and the field, and a misspelt field is an error rather than a
//! default silently applied.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use clickrules_engine::{Action, ClickType, EventFormat};
use serde_json::{Map, Value};

use super::{Case, CasesError, ERROR_KINDS, Expect, Format, Outcome, StateValue};
use crate::{TEST_RECEIVED_AT_MS, TEST_SERIAL};

/// How the `toml` crate hands a TOML datetime to a generic deserializer.
const TOML_DATETIME: &str = "$__toml_private_datetime";

const PRESS_FIELDS: &[&str] = &[
    "click",
    "serial",
    "battery_mv",
    "battery_pct",
    "source",
    "settings",
    "time",
];
const CASE_ONLY_FIELDS: &[&str] = &["name", "state", "expect"];
const ACTION_FORMS: &str = "an action is { snapshot = \"REGION\" }, { notify = { subject = \"S\", \
                            message = \"M\" } } or { ignore = \"REASON\" }";

/// Where in the file a value is, for errors.
struct At<'a> {
    path: &'a Path,
    case: Option<String>,
}

impl At<'_> {
    fn err(&self, field: &str, message: impl Into<String>) -> CasesError {
        CasesError::Field {
            path: self.path.to_path_buf(),
            case: self.case.clone(),
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// The press fields a case starts from: the built-in defaults, then `[defaults]`.
#[derive(Clone)]
struct Press {
    click: ClickType,
    serial: String,
    battery_mv: Option<u32>,
    battery_pct: Option<u8>,
    source: String,
    settings: BTreeMap<String, String>,
    time_ms: u64,
}

impl Default for Press {
    fn default() -> Self {
        Self {
            click: ClickType::Single,
            serial: TEST_SERIAL.to_string(),
            battery_mv: None,
            battery_pct: None,
            source: EventFormat::IotButton.as_str().to_string(),
            settings: BTreeMap::new(),
            time_ms: TEST_RECEIVED_AT_MS,
        }
    }
}

pub(super) fn cases(text: &str, format: Format, path: &Path) -> Result<Vec<Case>, CasesError> {
    let syntax = |message: String| CasesError::Syntax {
        path: path.to_path_buf(),
        message,
    };
    let doc: Value = match format {
        Format::Json => {
            serde_json::from_str(text).map_err(|e| syntax(format!("invalid JSON: {e}")))?
        }
        Format::Toml => toml::from_str(text)
            .map_err(|e| syntax(format!("invalid TOML: {}", e.to_string().trim_end())))?,
    };
    let top = At { path, case: None };
    let (list, defaults) = match doc {
        Value::Array(list) => (list, None),
        Value::Object(mut doc) => {
            check_keys(&top, "", &doc, &["cases", "defaults"])?;
            let defaults = doc.remove("defaults");
            match doc.remove("cases") {
                Some(Value::Array(list)) => (list, defaults),
                Some(_) => {
                    return Err(top.err("cases", "must be a list of tables ([[cases]] in TOML)"));
                }
                None => (Vec::new(), defaults),
            }
        }
        _ => return Err(top.err("cases", "a cases file is a table with a `cases` list")),
    };
    let base = match &defaults {
        None => Press::default(),
        Some(Value::Object(d)) => {
            check_keys(&top, "defaults.", d, PRESS_FIELDS)?;
            press(&top, "defaults.", d, Press::default())?
        }
        Some(_) => return Err(top.err("defaults", "must be a table")),
    };
    if list.is_empty() {
        return Err(CasesError::Empty {
            path: path.to_path_buf(),
        });
    }
    let mut names = BTreeSet::new();
    let mut cases = Vec::with_capacity(list.len());
    for (i, value) in list.iter().enumerate() {
        let case = one_case(path, i + 1, value, &base)?;
        if !names.insert(case.name.clone()) {
            return Err(CasesError::DuplicateName {
                path: path.to_path_buf(),
                name: case.name,
            });
        }
        cases.push(case);
    }
    Ok(cases)
}

fn one_case(path: &Path, n: usize, value: &Value, base: &Press) -> Result<Case, CasesError> {
    let mut at = At {
        path,
        case: Some(format!("case {n}")),
    };
    let Value::Object(fields) = value else {
        return Err(at.err("", "a case must be a table"));
    };
    let name = match fields.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() => name.clone(),
        Some(Value::String(_)) => return Err(at.err("name", "must not be empty")),
        Some(other) => return Err(at.err("name", expected("a string", other))),
        None => return Err(at.err("name", "missing: every case needs a name")),
    };
    at.case = Some(format!("case {n} ({name:?})"));
    let allowed: Vec<&str> = PRESS_FIELDS
        .iter()
        .chain(CASE_ONLY_FIELDS)
        .copied()
        .collect();
    check_keys(&at, "", fields, &allowed)?;
    let press = press(&at, "", fields, base.clone())?;
    let state = match fields.get("state") {
        None => BTreeMap::new(),
        Some(v) => state(&at, "state", v)?,
    };
    let expect = match fields.get("expect") {
        Some(v) => expect(&at, v)?,
        None => {
            return Err(at.err(
                "expect",
                "missing: say what the press must decide (expect.actions, expect.error or \
                 expect.state)",
            ));
        }
    };
    Ok(Case {
        name,
        click: press.click,
        serial: press.serial,
        battery_mv: press.battery_mv,
        battery_pct: press.battery_pct,
        source: press.source,
        settings: press.settings,
        time_ms: press.time_ms,
        state,
        expect,
    })
}

/// The press fields of `fields` over `press`; `prefix` is `defaults.` or empty.
fn press(
    at: &At,
    prefix: &str,
    fields: &Map<String, Value>,
    mut press: Press,
) -> Result<Press, CasesError> {
    let field = |name: &str| format!("{prefix}{name}");
    if let Some(v) = fields.get("click") {
        press.click = click(v).map_err(|m| at.err(&field("click"), m))?;
    }
    if let Some(v) = fields.get("serial") {
        press.serial = match v {
            Value::String(s) if !s.is_empty() => s.clone(),
            other => return Err(at.err(&field("serial"), expected("a non-empty string", other))),
        };
    }
    if let Some(v) = fields.get("battery_mv") {
        press.battery_mv = Some(integer(v).map_err(|m| at.err(&field("battery_mv"), m))?);
    }
    if let Some(v) = fields.get("battery_pct") {
        let pct: u32 = integer(v).map_err(|m| at.err(&field("battery_pct"), m))?;
        press.battery_pct = Some(
            u8::try_from(pct)
                .ok()
                .filter(|p| *p <= 100)
                .ok_or_else(|| at.err(&field("battery_pct"), "must be 0 to 100"))?,
        );
    }
    if let Some(v) = fields.get("source") {
        let Value::String(s) = v else {
            return Err(at.err(&field("source"), expected("a source name", v)));
        };
        let source: EventFormat = s.parse().map_err(|m: String| at.err(&field("source"), m))?;
        press.source = source.as_str().to_string();
    }
    if let Some(v) = fields.get("settings") {
        let Value::Object(settings) = v else {
            return Err(at.err(&field("settings"), expected("a table of settings", v)));
        };
        for (key, value) in settings {
            let text = scalar_text(value).ok_or_else(|| {
                at.err(
                    &field(&format!("settings.{key}")),
                    expected("a string", value),
                )
            })?;
            press.settings.insert(key.clone(), text);
        }
    }
    if let Some(v) = fields.get("time") {
        press.time_ms = time(v).map_err(|m| at.err(&field("time"), m))?;
    }
    Ok(press)
}

fn click(v: &Value) -> Result<ClickType, String> {
    let Value::String(s) = v else {
        return Err(expected("SINGLE, DOUBLE, TRIPLE or LONG", v));
    };
    ClickType::ALL
        .into_iter()
        .find(|c| c.as_str().eq_ignore_ascii_case(s))
        .ok_or_else(|| format!("{s:?} is not a click; use SINGLE, DOUBLE, TRIPLE or LONG"))
}

fn integer<T: TryFrom<u64>>(v: &Value) -> Result<T, String> {
    let n = v
        .as_u64()
        .ok_or_else(|| expected("a whole number of 0 or more", v))?;
    T::try_from(n).map_err(|_| format!("{n} is too large"))
}

fn time(v: &Value) -> Result<u64, String> {
    let text = match v {
        Value::Number(_) => return integer(v),
        Value::String(s) => s.as_str(),
        Value::Object(o) if o.len() == 1 => match o.get(TOML_DATETIME) {
            Some(Value::String(s)) => s.as_str(),
            _ => return Err(expected("a time", v)),
        },
        _ => return Err(expected("a time", v)),
    };
    let at: jiff::Timestamp = text.parse().map_err(|e| {
        format!(
            "{text:?} is not an RFC 3339 time with an offset, such as 2025-11-25T19:46:40Z \
             ({e})"
        )
    })?;
    u64::try_from(at.as_millisecond()).map_err(|_| format!("{text:?} is before 1970"))
}

fn state(at: &At, field: &str, v: &Value) -> Result<BTreeMap<String, StateValue>, CasesError> {
    let Value::Object(entries) = v else {
        return Err(at.err(field, expected("a table of keys and values", v)));
    };
    let mut out = BTreeMap::new();
    for (key, value) in entries {
        let here = format!("{field}.{key}");
        let entry = match value {
            Value::Object(e) => {
                check_keys(at, &format!("{here}."), e, &["value", "ttl_seconds"])?;
                let value = e
                    .get("value")
                    .ok_or_else(|| at.err(&format!("{here}.value"), "missing"))?;
                StateValue {
                    value: scalar_text(value).ok_or_else(|| {
                        at.err(&format!("{here}.value"), expected("a string", value))
                    })?,
                    ttl_seconds: e
                        .get("ttl_seconds")
                        .map(integer)
                        .transpose()
                        .map_err(|m| at.err(&format!("{here}.ttl_seconds"), m))?,
                }
            }
            other => StateValue {
                value: scalar_text(other).ok_or_else(|| {
                    at.err(&here, expected("a string or { value, ttl_seconds }", other))
                })?,
                ttl_seconds: None,
            },
        };
        out.insert(key.clone(), entry);
    }
    Ok(out)
}

fn expect(at: &At, v: &Value) -> Result<Expect, CasesError> {
    let Value::Object(fields) = v else {
        return Err(at.err("expect", expected("a table", v)));
    };
    check_keys(at, "expect.", fields, &["actions", "error", "state"])?;
    let outcome = match (fields.get("actions"), fields.get("error")) {
        (Some(_), Some(_)) => {
            return Err(at.err(
                "expect",
                "give `actions` or `error`, not both: a failed press has no actions",
            ));
        }
        (Some(Value::Array(list)), None) => Outcome::Actions(
            list.iter()
                .enumerate()
                .map(|(i, a)| action(at, &format!("expect.actions[{i}]"), a))
                .collect::<Result<_, _>>()?,
        ),
        (Some(other), None) => {
            return Err(at.err("expect.actions", expected("a list of actions", other)));
        }
        (None, Some(e)) => error(at, e)?,
        (None, None) if fields.contains_key("state") => Outcome::Succeeds,
        (None, None) => {
            return Err(at.err(
                "expect",
                "empty: give expect.actions, expect.error or expect.state",
            ));
        }
    };
    let state = fields
        .get("state")
        .map(|s| state(at, "expect.state", s))
        .transpose()?;
    Ok(Expect { outcome, state })
}

fn error(at: &At, v: &Value) -> Result<Outcome, CasesError> {
    let (kind, message) = match v {
        Value::String(kind) => (kind.as_str(), None),
        Value::Object(e) => {
            check_keys(at, "expect.error.", e, &["kind", "message"])?;
            let kind = match e.get("kind") {
                Some(Value::String(k)) => k.as_str(),
                Some(other) => return Err(at.err("expect.error.kind", expected("a string", other))),
                None => return Err(at.err("expect.error.kind", "missing")),
            };
            let message = match e.get("message") {
                None => None,
                Some(Value::String(m)) => Some(m.clone()),
                Some(other) => {
                    return Err(at.err("expect.error.message", expected("a string", other)));
                }
            };
            (kind, message)
        }
        other => {
            return Err(at.err(
                "expect.error",
                expected("an error kind such as \"trap\"", other),
            ));
        }
    };
    // Records spell kinds in snake_case; kebab-case and the variant names read as well.
    let normal = kind.trim().to_ascii_lowercase().replace('-', "_");
    let normal = match normal.as_str() {
        "guesterror" => "guest_error".to_string(),
        "fuelexhausted" => "fuel_exhausted".to_string(),
        "memorylimit" => "memory_limit".to_string(),
        "stackoverflow" => "stack_overflow".to_string(),
        "invalidactions" | "invalid_action" => "invalid_actions".to_string(),
        "hostlimit" => "host_limit".to_string(),
        "statelimit" => "state_limit".to_string(),
        "event" => "bad_event".to_string(),
        _ => normal,
    };
    if !ERROR_KINDS.contains(&normal.as_str()) {
        let field = if matches!(v, Value::Object(_)) {
            "expect.error.kind"
        } else {
            "expect.error"
        };
        return Err(at.err(
            field,
            format!(
                "{kind:?} is not an error kind; the kinds are {}",
                ERROR_KINDS.join(", ")
            ),
        ));
    }
    Ok(Outcome::Error {
        kind: normal,
        message,
    })
}

fn action(at: &At, field: &str, v: &Value) -> Result<Action, CasesError> {
    let Value::Object(fields) = v else {
        return Err(at.err(field, format!("{}; {ACTION_FORMS}", expected("a table", v))));
    };
    let text = |object: &Map<String, Value>, key: &str, here: &str| match object.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(at.err(&format!("{here}.{key}"), expected("a string", other))),
        None => Err(at.err(&format!("{here}.{key}"), "missing")),
    };
    // The press record's form, so an action can be pasted from `press --json`.
    if let Some(kind) = fields.get("kind") {
        let keys: &[&str] = match kind.as_str() {
            Some("snapshot") => &["kind", "region"],
            Some("notify") => &["kind", "subject", "message"],
            Some("ignore") => &["kind", "reason"],
            _ => {
                return Err(at.err(
                    &format!("{field}.kind"),
                    "must be \"snapshot\", \"notify\" or \"ignore\"",
                ));
            }
        };
        check_keys(at, &format!("{field}."), fields, keys)?;
        return Ok(match kind.as_str() {
            Some("snapshot") => Action::snapshot(text(fields, "region", field)?),
            Some("notify") => Action::notify(
                text(fields, "subject", field)?,
                text(fields, "message", field)?,
            ),
            _ => Action::ignore(text(fields, "reason", field)?),
        });
    }
    let mut entries = fields.iter();
    let (Some((name, value)), None) = (entries.next(), entries.next()) else {
        return Err(at.err(field, ACTION_FORMS));
    };
    let here = format!("{field}.{name}");
    match (name.as_str(), value) {
        ("snapshot", Value::String(region)) => Ok(Action::snapshot(region.clone())),
        ("ignore", Value::String(reason)) => Ok(Action::ignore(reason.clone())),
        ("notify", Value::Object(n)) => {
            check_keys(at, &format!("{here}."), n, &["subject", "message"])?;
            Ok(Action::notify(
                text(n, "subject", &here)?,
                text(n, "message", &here)?,
            ))
        }
        ("snapshot" | "ignore", other) => Err(at.err(&here, expected("a string", other))),
        ("notify", other) => Err(at.err(
            &here,
            expected("a table { subject = \"S\", message = \"M\" }", other),
        )),
        _ => Err(at.err(&here, format!("unknown action; {ACTION_FORMS}"))),
    }
}

fn check_keys(
    at: &At,
    prefix: &str,
    fields: &Map<String, Value>,
    allowed: &[&str],
) -> Result<(), CasesError> {
    match fields.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(at.err(
            &format!("{prefix}{unknown}"),
            format!("unknown field; the fields here are {}", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

/// Strings as they are; numbers and booleans as written, since settings and state values are
/// strings to the guest and `low_battery_mv = 1500` reads better unquoted.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn expected(what: &str, got: &Value) -> String {
    let kind = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(o) if o.contains_key(TOML_DATETIME) => "a TOML datetime",
        Value::Object(_) => "a table",
    };
    format!("expected {what}, found {kind}")
}
