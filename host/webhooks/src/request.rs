//! The Function URL request: recognising one, and the checks made before any crypto (path,
//! method, content type, size, body encoding).

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use aws_lambda_events::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::error::{WebhookError, quote};
use crate::{FLIC, MAX_BODY_BYTES, WEBHOOK};

/// Which source a request is for, from its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Flic,
    Webhook,
    /// `/`: the body says (a `token` field is Flic's).
    ByBody,
}

/// Whether `value` has the shape of a Function URL request (payload format 2.0): version
/// `2.0` and an HTTP method under `requestContext.http`. API Gateway HTTP API requests share
/// the format and pass too; an IoT or MQTT button message never does.
pub fn is_function_url_event(value: &Value) -> bool {
    value.get("version").and_then(Value::as_str) == Some("2.0")
        && value
            .get("requestContext")
            .and_then(|c| c.get("http"))
            .and_then(|h| h.get("method"))
            .is_some_and(Value::is_string)
}

/// Reads a raw Lambda event as a Function URL request, refusing anything else (an IoT button
/// message, an API Gateway 1.0 event) and JSON with a key twice.
pub fn parse_request(bytes: &[u8]) -> Result<LambdaFunctionUrlRequest, WebhookError> {
    let not_one = |message: String| WebhookError::NotAFunctionUrlEvent { message };
    let value = crate::json::parse(bytes).map_err(not_one)?;
    if !value.is_object() {
        return Err(not_one(format!(
            "it is {}, not an object",
            crate::json::kind(&value)
        )));
    }
    if !is_function_url_event(&value) {
        return Err(not_one(
            "it has no version \"2.0\" with requestContext.http.method".into(),
        ));
    }
    // Header names are case-insensitive and the deserializer keeps the last of two spellings
    // of one name; AWS never sends two, so an event that does is refused, not half-read.
    if let Some(Value::Object(headers)) = value.get("headers") {
        let mut seen = std::collections::HashSet::new();
        if let Some(name) = headers
            .keys()
            .find(|name| !seen.insert(name.to_ascii_lowercase()))
        {
            return Err(not_one(format!(
                "the header {} appears twice under different spellings",
                quote(name)
            )));
        }
    }
    serde_json::from_value(value).map_err(|e| not_one(e.to_string()))
}

/// The source named by the path. Trailing slashes are ignored; the query string is not part
/// of the path.
pub(crate) fn route(request: &LambdaFunctionUrlRequest) -> Result<Route, WebhookError> {
    let path = request
        .raw_path
        .as_deref()
        .or(request.request_context.http.path.as_deref())
        .unwrap_or("/");
    match path.trim_end_matches('/') {
        "/flic" => Ok(Route::Flic),
        "/webhook" => Ok(Route::Webhook),
        // The bare URL, or a path a sender's set-up added: the body decides, and that
        // source's own verifier must still pass, so no path can pick a weaker check.
        _ => Ok(Route::ByBody),
    }
}

/// Method names are case-sensitive (RFC 9110), so `post` is not `POST`.
pub(crate) fn check_method(request: &LambdaFunctionUrlRequest) -> Result<(), WebhookError> {
    match request.request_context.http.method.as_deref() {
        Some("POST") => Ok(()),
        other => Err(WebhookError::MethodNotAllowed {
            method: quote(other.unwrap_or("(none)")),
        }),
    }
}

/// `application/json`, optionally with `charset=utf-8` (JSON is UTF-8, RFC 8259); any other
/// parameter or charset is refused rather than guessed at. A compressed body is refused too:
/// the signature covers the bytes as sent, and decompressing before the size check would let
/// a small request expand without bound.
pub(crate) fn check_content_type(headers: &HeaderMap) -> Result<(), WebhookError> {
    if let Some(encoding) = single_header(headers, "content-encoding") {
        let encoding = encoding.unwrap_or("(not text)");
        if !encoding.trim().eq_ignore_ascii_case("identity") {
            return Err(WebhookError::UnsupportedMediaType {
                header: "content-encoding",
                found: quote(encoding),
            });
        }
    }
    let refused = |found: &str| WebhookError::UnsupportedMediaType {
        header: "content-type",
        found: quote(found),
    };
    let Some(value) = single_header(headers, "content-type") else {
        return Err(WebhookError::UnsupportedMediaType {
            header: "content-type",
            found: "(none)".into(),
        });
    };
    let value = value.ok_or_else(|| refused("(not text)"))?;
    let mut parts = value.split(';');
    let media_type = parts.next().unwrap_or_default().trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Err(refused(value));
    }
    for parameter in parts {
        let (name, val) = parameter.split_once('=').unwrap_or((parameter, ""));
        let val = val.trim().trim_matches('"');
        if !(name.trim().eq_ignore_ascii_case("charset") && val.eq_ignore_ascii_case("utf-8")) {
            return Err(refused(value));
        }
    }
    Ok(())
}

/// The body's bytes, decoded from base64 when flagged, at most [`MAX_BODY_BYTES`].
pub(crate) fn body(
    request: &LambdaFunctionUrlRequest,
    origin: &'static str,
) -> Result<Vec<u8>, WebhookError> {
    let raw = match request.body.as_deref() {
        Some(b) if !b.is_empty() => b,
        _ => return Err(WebhookError::MissingBody { origin }),
    };
    let too_large = |size| WebhookError::BodyTooLarge {
        size,
        limit: MAX_BODY_BYTES,
    };
    let bytes = if request.is_base64_encoded {
        // Refused before decoding so an oversized body costs nothing to turn away: base64
        // holds 3 bytes in every 4 characters.
        let decoded_at_least = (raw.len() / 4 * 3).saturating_sub(2);
        if decoded_at_least > MAX_BODY_BYTES {
            return Err(too_large(decoded_at_least));
        }
        STANDARD.decode(raw).map_err(|e| WebhookError::BadBase64 {
            message: e.to_string(),
        })?
    } else {
        raw.as_bytes().to_vec()
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(too_large(bytes.len()));
    }
    if bytes.is_empty() {
        return Err(WebhookError::MissingBody { origin });
    }
    Ok(bytes)
}

/// The body as a JSON object, with no key twice.
pub(crate) fn json_object(
    bytes: &[u8],
    origin: &'static str,
) -> Result<serde_json::Map<String, Value>, WebhookError> {
    let bad = |message| WebhookError::BadJson { origin, message };
    match crate::json::parse(bytes).map_err(bad)? {
        Value::Object(map) => Ok(map),
        other => Err(bad(format!(
            "it is {}, not a JSON object",
            crate::json::kind(&other)
        ))),
    }
}

/// The source a body at `/` is for: a `token` field is Flic's (its only documented field),
/// anything else the generic webhook's.
pub(crate) fn origin_of(route: Route, body: &serde_json::Map<String, Value>) -> &'static str {
    match route {
        Route::Flic => FLIC,
        Route::Webhook => WEBHOOK,
        Route::ByBody if body.contains_key("token") => FLIC,
        Route::ByBody => WEBHOOK,
    }
}

/// A header that must appear at most once: `None` when absent, `Some(None)` when its value
/// is not visible ASCII, `Some(Some(v))` otherwise. A repeated header counts as its first
/// value here; callers that authenticate use [`auth_header`], which refuses repeats.
pub(crate) fn single_header<'a>(headers: &'a HeaderMap, name: &str) -> Option<Option<&'a str>> {
    headers.get(name).map(|v| v.to_str().ok())
}

/// How an authentication header is unusable.
pub(crate) enum HeaderProblem {
    Missing,
    Repeated,
    NotText,
}

/// An authentication header, present exactly once, as text. Function URLs join repeated
/// headers with commas; a header repeated in the event itself is refused rather than one
/// copy picked, since another reader might pick the other.
pub(crate) fn auth_header<'a>(
    headers: &'a HeaderMap,
    name: &str,
) -> Result<&'a str, HeaderProblem> {
    let mut values = headers.get_all(name).iter();
    let first = values.next().ok_or(HeaderProblem::Missing)?;
    if values.next().is_some() {
        return Err(HeaderProblem::Repeated);
    }
    first.to_str().map_err(|_| HeaderProblem::NotText)
}
