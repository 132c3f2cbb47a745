//! JSON that refuses duplicate object keys, for request bodies and token parts: the engine's
//! parser, which every reader of an untrusted message uses, so `{"click":"single",
//! "click":"long"}` can never be one press to us and another to a proxy or a log reader.

use serde_json::Value;

/// Parses `bytes` as one JSON value with no key twice in any object. The error is
/// serde_json's, with line and column, or names the repeated key.
pub(crate) fn parse(bytes: &[u8]) -> Result<Value, String> {
    clickrules_engine::parse_unique_json(bytes).map_err(|e| e.to_string())
}

/// What a JSON value is, for error messages.
pub(crate) fn kind(value: &Value) -> &'static str {
    clickrules_engine::json_kind(value)
}
