//! Why an event could not be turned into a click: every variant names the field or the
//! formats tried, so a firmware or converter change is loud and says where.

use super::fields;

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
        fields::object_name(path)
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
    /// An object that matches no source.
    #[error("event matches no button source; tried {tried}; its fields are: {fields}")]
    UnknownFormat {
        /// Each source tried and what it looks for.
        tried: String,
        /// The top-level field names found (truncated).
        fields: String,
    },
    /// A Lambda Function URL request reached the button-event function (or an HTTPS source
    /// is not enabled here): webhooks go to the webhook function.
    #[error(
        "event is a Lambda Function URL request; HTTPS sources are served by the webhook function (CLICKRULES_ENTRY=webhook)"
    )]
    HttpRequest,
    /// A recognised source that this deployment does not accept.
    #[error(
        "event is a {format} message, and this function accepts only {accepted} (CLICKRULES_SOURCES)"
    )]
    SourceNotAccepted {
        /// The source it is.
        format: &'static str,
        /// What is accepted.
        accepted: String,
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
    /// A gesture value the source's mapping does not know: a firmware or converter rename
    /// must be loud, not a silent non-press.
    #[error(
        "{format} event field {field} is {value}, a gesture clickrules does not know; accepted: {accepted}"
    )]
    UnknownGesture {
        /// Which format was recognised.
        format: &'static str,
        /// Path of the field.
        field: String,
        /// The value found, quoted and truncated.
        value: String,
        /// Every value the mapping accepts.
        accepted: String,
    },
    /// The message carries no press (a state report, a retained message, a button-down edge,
    /// an unsupported gesture), for callers that need one press: the pipeline records it
    /// instead.
    #[error("{format} message is not a press: {detail}")]
    NotAPress {
        /// Which format was recognised.
        format: &'static str,
        /// What it was.
        detail: String,
    },
}
