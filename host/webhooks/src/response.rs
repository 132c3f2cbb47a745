//! What the Function URL answers. Flic shows the `message` of a 200 in its app, so it is a
//! short summary; nothing else in a response is read by a sender.

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse;
use aws_lambda_events::http::{HeaderValue, header};

/// Longest `message` sent back; Flic shows it as a phone notification.
pub const MAX_MESSAGE_BYTES: usize = 256;

/// A JSON response: `{"message": ..., "press_id": ...}`.
///
/// - 200 with a short summary of what the press did;
/// - 401 always as `{"message":"unauthorized"}`, whatever `message` and `press_id` say, so
///   no caller can leak why authentication failed;
/// - 4xx for request problems (see [`crate::WebhookError::response`]);
/// - 409 while the same press is being handled by another invocation;
/// - 5xx with the press id, so a failure can be found in the records.
///
/// A status outside 100 to 599 is sent as 500. The message is cut to
/// [`MAX_MESSAGE_BYTES`] at a character boundary.
pub fn response(status: u16, message: &str, press_id: Option<&str>) -> LambdaFunctionUrlResponse {
    let status = if (100..=599).contains(&status) {
        status
    } else {
        500
    };
    let (message, press_id) = if status == 401 {
        ("unauthorized", None)
    } else {
        (cut(message), press_id)
    };
    let mut body = serde_json::Map::new();
    body.insert("message".into(), message.into());
    if let Some(id) = press_id {
        body.insert("press_id".into(), id.into());
    }
    let mut out = LambdaFunctionUrlResponse::default();
    out.status_code = i64::from(status);
    out.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // A press's answer is about that press; no proxy or client should replay it.
    out.headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    out.headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    out.body = Some(serde_json::Value::Object(body).to_string());
    out.is_base64_encoded = false;
    out
}

fn cut(message: &str) -> &str {
    let mut end = message.len().min(MAX_MESSAGE_BYTES);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn body(r: &LambdaFunctionUrlResponse) -> Value {
        serde_json::from_str(r.body.as_deref().unwrap()).unwrap()
    }

    #[test]
    fn a_success_carries_the_message() {
        let r = response(200, "snapshot us-west-1 started", None);
        assert_eq!(r.status_code, 200);
        assert_eq!(body(&r), json!({"message": "snapshot us-west-1 started"}));
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(r.headers["cache-control"], "no-store");
    }

    #[test]
    fn unauthorized_never_carries_detail() {
        let r = response(401, "HMAC mismatch for secret ssm:/x", Some("webhook:abc"));
        assert_eq!(r.status_code, 401);
        assert_eq!(body(&r), json!({"message": "unauthorized"}));
    }

    #[test]
    fn failures_carry_the_press_id() {
        let r = response(500, "the press failed", Some("flic:ab12"));
        assert_eq!(
            body(&r),
            json!({"message": "the press failed", "press_id": "flic:ab12"})
        );
        assert_eq!(
            response(409, "in progress", Some("flic:ab12")).status_code,
            409
        );
    }

    #[test]
    fn odd_statuses_and_long_messages_are_bounded() {
        assert_eq!(response(42, "x", None).status_code, 500);
        assert_eq!(response(600, "x", None).status_code, 500);
        let long = "é".repeat(500);
        let r = response(200, &long, None);
        let message = body(&r)["message"].as_str().unwrap().to_string();
        assert!(message.len() <= MAX_MESSAGE_BYTES && !message.is_empty());
    }
}
