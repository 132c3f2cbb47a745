//! JSON parsing that refuses duplicate object keys.
//!
//! `serde_json` keeps the last of two equal keys, so `{"clickType":"SINGLE","clickType":"LONG"}`
//! was a LONG press to the host while a tool that keeps the first (many do) saw SINGLE: two
//! readers of one event disagreeing is how a check is bypassed. Events are small; this costs a
//! set lookup per key.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Where parsing stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// `key` appeared twice in one object (at `path`, dotted, `""` for the top level).
    Duplicate {
        /// The object holding it.
        path: String,
        /// The repeated key.
        key: String,
    },
    /// Not JSON, with serde_json's message (line and column).
    Json(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Duplicate { path, key } if path.is_empty() => {
                write!(f, "the key {key:?} appears twice; each key may appear once")
            }
            ParseError::Duplicate { path, key } => {
                write!(
                    f,
                    "the key {key:?} appears twice in {path}; each key may appear once"
                )
            }
            ParseError::Json(message) => f.write_str(message),
        }
    }
}

/// Parses `bytes` as one JSON value with no duplicate keys in any object.
pub fn parse(bytes: &[u8]) -> Result<Value, ParseError> {
    let duplicate = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let seed = Unique {
        path: "",
        duplicate: &duplicate,
    };
    let parsed = seed
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value));
    match (parsed, duplicate.into_inner()) {
        (Ok(value), _) => Ok(value),
        (Err(_), Some((path, key))) => Err(ParseError::Duplicate { path, key }),
        (Err(e), None) => Err(ParseError::Json(e.to_string())),
    }
}

#[derive(Clone, Copy)]
struct Unique<'a> {
    path: &'a str,
    duplicate: &'a RefCell<Option<(String, String)>>,
}

impl<'de> DeserializeSeed<'de> for Unique<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Unique<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        let mut index = 0usize;
        loop {
            let path = format!("{}[{index}]", self.path);
            let seed = Unique {
                path: &path,
                ..self
            };
            match seq.next_element_seed(seed)? {
                Some(item) => items.push(item),
                None => break,
            }
            index += 1;
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                *self.duplicate.borrow_mut() = Some((self.path.to_string(), key.clone()));
                return Err(de::Error::custom(format_args!("duplicate key {key:?}")));
            }
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            let value = map.next_value_seed(Unique {
                path: &path,
                ..self
            })?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duplicate(json: &str) -> (String, String) {
        match parse(json.as_bytes()) {
            Err(ParseError::Duplicate { path, key }) => (path, key),
            Err(ParseError::Json(e)) => panic!("{json}: parse error {e}"),
            Ok(v) => panic!("{json}: accepted as {v}"),
        }
    }

    #[test]
    fn values_parse_as_serde_json_parses_them() {
        let json = r#"{"a":[1,-2,3.5,"x",null,true],"b":{"c":{}},"d":18446744073709551615}"#;
        let ours = parse(json.as_bytes()).ok().unwrap();
        assert_eq!(ours, serde_json::from_str::<Value>(json).unwrap());
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        assert_eq!(
            duplicate(r#"{"clickType":"SINGLE","clickType":"LONG"}"#),
            (String::new(), "clickType".to_string())
        );
        assert_eq!(
            duplicate(
                r#"{"deviceEvent":{"buttonClicked":{"clickType":"SINGLE","clickType":"LONG"}}}"#
            ),
            (
                "deviceEvent.buttonClicked".to_string(),
                "clickType".to_string()
            )
        );
        assert_eq!(
            duplicate(r#"{"events":[{"a":1},{"a":1,"a":2}]}"#),
            ("events[1]".to_string(), "a".to_string())
        );
    }

    #[test]
    fn trailing_garbage_and_bad_json_are_json_errors() {
        for bad in [r#"{"a":1} x"#, "{", "", r#"{"a":}"#] {
            assert!(
                matches!(parse(bad.as_bytes()), Err(ParseError::Json(_))),
                "{bad}"
            );
        }
    }
}
