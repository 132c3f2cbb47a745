//! The generic webhook: a JSON body naming the device and the click, authenticated by an
//! HMAC-SHA256 over the signed timestamp, the idempotency key when sent, and the body.
//!
//! ```text
//! POST /webhook
//! Content-Type: application/json
//! X-Clickrules-Timestamp: 1767225600
//! X-Clickrules-Signature: sha256=<hex of HMAC-SHA256(secret, "1767225600." + body)>
//! Idempotency-Key: 01JG...            (optional; then the MAC is over "<ts>.<key>.<body>")
//!
//! {"device": "kitchen", "click": "single", "battery_mv": 2900, "battery_pct": 80}
//! ```

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use clickrules_engine::{Click, ClickType};
use ring::hmac;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::WEBHOOK;
use crate::config::GenericConfig;
use crate::error::{AuthFailure, WebhookError, quote};
use crate::press::{SERIAL_CHARS, VerifiedPress, is_valid_serial, ms};
use crate::request::{HeaderProblem, auth_header};
use crate::secrets::SecretStore;

/// The header carrying the signed timestamp, whole Unix seconds.
pub const TIMESTAMP_HEADER: &str = "X-Clickrules-Timestamp";
/// The header carrying `sha256=<lowercase hex HMAC>`.
pub const SIGNATURE_HEADER: &str = "X-Clickrules-Signature";
/// The optional header naming the press, so a sender's retry (signed again, at a new
/// timestamp) is the same press.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// Longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 128;
/// The generic webhook's click values, for error messages.
pub const WEBHOOK_CLICK_TYPES: &str = "single, double, triple, long";

const SIGNATURE_PREFIX: &str = "sha256=";
/// Longest timestamp read: u64::MAX has 20 digits.
const MAX_TIMESTAMP_DIGITS: usize = 20;
const KEY_CHARS: &str = "1 to 128 characters from A-Z a-z 0-9 - . _ ~";

/// The signature header's value for a request: `sha256=` and the lowercase hex HMAC-SHA256
/// with `secret` over `<timestamp>.<body>`, or `<timestamp>.<idempotency_key>.<body>` when
/// the request carries an [`IDEMPOTENCY_HEADER`]. For senders, the CLI and tests.
pub fn webhook_signature(
    secret: &[u8],
    timestamp: &str,
    idempotency_key: Option<&str>,
    body: &[u8],
) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, &signed_content(timestamp, idempotency_key, body));
    format!("{SIGNATURE_PREFIX}{}", hex::encode(tag.as_ref()))
}

/// What the MAC covers. The idempotency key is covered because it names the press: were it
/// not, anyone who saw a request could replay it inside the window with another key (or none)
/// and have it counted again. The forms cannot be confused: the key's characters exclude
/// `{` and whitespace, and the body is a JSON object, so which bytes are the key is fixed.
fn signed_content(timestamp: &str, idempotency_key: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(timestamp.len() + body.len() + 2 + 128);
    content.extend_from_slice(timestamp.as_bytes());
    content.push(b'.');
    if let Some(key) = idempotency_key {
        content.extend_from_slice(key.as_bytes());
        content.push(b'.');
    }
    content.extend_from_slice(body);
    content
}

/// The body's fields.
struct Body {
    device: String,
    click: ClickType,
    battery_mv: Option<u32>,
    battery_pct: Option<u8>,
}

/// Authenticates a generic webhook whose body is `bytes` (parsed as `map`). The body and the
/// idempotency key are checked first (400s, no crypto), then the signature, then the
/// timestamp: checking the MAC before the window means "stale" is only ever said of an
/// authentic request (a replay or a skewed clock), never of a forgery.
pub(crate) async fn verify<S: SecretStore>(
    request: &LambdaFunctionUrlRequest,
    bytes: &[u8],
    map: &Map<String, Value>,
    config: &GenericConfig,
    secrets: &S,
    now_ms: u64,
) -> Result<VerifiedPress, WebhookError> {
    let body = parse_body(map)?;
    let headers = &request.headers;
    let idempotency_key = match auth_header(headers, IDEMPOTENCY_HEADER) {
        Err(HeaderProblem::Missing) => None,
        Ok(key) if is_valid_key(key) => Some(key),
        Ok(key) => return Err(bad_key(quote(key))),
        Err(HeaderProblem::Repeated) => return Err(bad_key("repeated".into())),
        Err(HeaderProblem::NotText) => return Err(bad_key("not ASCII text".into())),
    };
    let timestamp_raw = required_header(request, TIMESTAMP_HEADER)?;
    let timestamp = parse_timestamp(timestamp_raw)?;
    let signature_raw = required_header(request, SIGNATURE_HEADER)?;
    let tag = parse_signature(signature_raw)?;

    let secret = secrets
        .fetch(&config.secret)
        .await
        .map_err(|error| WebhookError::Secret {
            origin: WEBHOOK,
            error,
        })?;
    // Secrets kept in files and consoles pick up a trailing newline; no sender means it.
    let secret = secret.trim();
    if secret.is_empty() {
        return Err(WebhookError::Misconfigured {
            origin: WEBHOOK,
            message: format!("the secret {} is blank", config.secret),
        });
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hmac::verify(
        &key,
        &signed_content(timestamp_raw, idempotency_key, bytes),
        &tag,
    )
    .map_err(|_| unauthorized(AuthFailure::SignatureMismatch))?;

    let now_s = now_ms / 1000;
    if timestamp.abs_diff(now_s) > config.tolerance_s {
        return Err(unauthorized(AuthFailure::StaleTimestamp {
            timestamp,
            now_s,
            tolerance_s: config.tolerance_s,
        }));
    }
    let (press_id, windowed) = match idempotency_key {
        // The key has no ':', so the last ':' splits the id whatever the device contains:
        // two devices' keys can never make the same id.
        Some(key) => (format!("{WEBHOOK}:{}:{key}", body.device), true),
        // The signature is unique per (secret, timestamp, body), so a replay inside the
        // window is the same press, and a new press by the sender is a new id.
        None => (
            format!("{WEBHOOK}:{}", hex::encode(Sha256::digest(signature_raw))),
            false,
        ),
    };
    Ok(VerifiedPress {
        click: Click {
            battery_pct: body.battery_pct,
            source: WEBHOOK.into(),
            press_id: press_id.clone(),
            ..Click::new(body.device, body.click, body.battery_mv, now_ms)
        },
        press_id,
        windowed,
        source: WEBHOOK,
        // Accepted while now_s <= timestamp + tolerance, i.e. up to the end of that second.
        replayable_until_ms: ms(timestamp
            .saturating_add(config.tolerance_s)
            .saturating_add(1)),
    })
}

fn unauthorized(reason: AuthFailure) -> WebhookError {
    WebhookError::Unauthorized {
        origin: WEBHOOK,
        reason,
    }
}

fn bad_key(value: String) -> WebhookError {
    WebhookError::InvalidHeader {
        name: IDEMPOTENCY_HEADER,
        value,
        expected: KEY_CHARS,
    }
}

/// RFC 3986's unreserved characters: enough for UUIDs, ULIDs and base64url, and free of `:`
/// (the press id's separator), `{` and whitespace (which keep the signed forms apart).
fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_IDEMPOTENCY_KEY_BYTES
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn required_header<'a>(
    request: &'a LambdaFunctionUrlRequest,
    name: &'static str,
) -> Result<&'a str, WebhookError> {
    auth_header(&request.headers, name).map_err(|problem| {
        unauthorized(match problem {
            HeaderProblem::Missing => AuthFailure::MissingHeader { name },
            HeaderProblem::Repeated => AuthFailure::RepeatedHeader { name },
            HeaderProblem::NotText if name == SIGNATURE_HEADER => AuthFailure::MalformedSignature {
                why: "it is not ASCII text",
            },
            HeaderProblem::NotText => AuthFailure::MalformedTimestamp {
                value: "(not ASCII text)".into(),
            },
        })
    })
}

/// Whole Unix seconds, digits only (no sign, no fraction, no milliseconds' worth of digits
/// beyond what u64 holds). A millisecond timestamp parses and is then refused as stale.
fn parse_timestamp(raw: &str) -> Result<u64, WebhookError> {
    let malformed = || unauthorized(AuthFailure::MalformedTimestamp { value: quote(raw) });
    if raw.is_empty()
        || raw.len() > MAX_TIMESTAMP_DIGITS
        || !raw.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(malformed());
    }
    raw.parse().map_err(|_| malformed())
}

/// `sha256=` and exactly 64 lowercase hex digits. One spelling only: the press id hashes the
/// header, so an uppercase copy of a signature must not be a different press.
fn parse_signature(raw: &str) -> Result<Vec<u8>, WebhookError> {
    let malformed = |why| unauthorized(AuthFailure::MalformedSignature { why });
    let hex_digits = raw
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or_else(|| malformed("it does not start with sha256="))?;
    if hex_digits.len() != 64 {
        return Err(malformed("it is not 64 hex digits after sha256="));
    }
    if !hex_digits
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(malformed("it is not lowercase hex after sha256="));
    }
    hex::decode(hex_digits).map_err(|_| malformed("it is not lowercase hex after sha256="))
}

/// The body's fields. Unknown fields are ignored so senders can add their own; keys appearing
/// twice were refused when the JSON was read.
fn parse_body(map: &Map<String, Value>) -> Result<Body, WebhookError> {
    let invalid = |field, value: &Value, expected: &str| WebhookError::InvalidField {
        origin: WEBHOOK,
        field,
        value: value.as_str().map(quote).unwrap_or_else(|| shown(value)),
        expected: expected.into(),
    };
    let missing = |field| WebhookError::MissingField {
        origin: WEBHOOK,
        field,
    };
    let device = match map.get("device") {
        None | Some(Value::Null) => return Err(missing("device")),
        Some(Value::String(d)) if is_valid_serial(d) => d.clone(),
        Some(other) => return Err(invalid("device", other, SERIAL_CHARS)),
    };
    let click = match map.get("click") {
        None | Some(Value::Null) => return Err(missing("click")),
        Some(Value::String(c)) => match c.as_str() {
            "single" => ClickType::Single,
            "double" => ClickType::Double,
            "triple" => ClickType::Triple,
            "long" => ClickType::Long,
            _ => {
                return Err(WebhookError::UnsupportedClick {
                    origin: WEBHOOK,
                    value: quote(c),
                    accepted: WEBHOOK_CLICK_TYPES,
                });
            }
        },
        Some(other) => return Err(invalid("click", other, WEBHOOK_CLICK_TYPES)),
    };
    let battery_mv = match map.get("battery_mv") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| invalid("battery_mv", v, "whole millivolts, 0 to 4294967295"))?,
        ),
    };
    let battery_pct = match map.get("battery_pct") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|n| *n <= 100)
                .and_then(|n| u8::try_from(n).ok())
                .ok_or_else(|| invalid("battery_pct", v, "a whole percentage, 0 to 100"))?,
        ),
    };
    Ok(Body {
        device,
        click,
        battery_mv,
        battery_pct,
    })
}

/// A non-string value for an error message, cut short.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 64 {
        crate::json::kind(value).to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Result<Body, WebhookError> {
        parse_body(v.as_object().unwrap())
    }

    #[test]
    fn bodies_parse_with_optional_batteries() {
        let b = body(json!({"device": "kitchen", "click": "triple", "extra": [1]})).unwrap();
        assert_eq!((b.device.as_str(), b.click), ("kitchen", ClickType::Triple));
        assert_eq!((b.battery_mv, b.battery_pct), (None, None));
        let b = body(json!({"device": "k", "click": "long", "battery_mv": 4294967295u64, "battery_pct": 100}))
            .unwrap();
        assert_eq!((b.battery_mv, b.battery_pct), (Some(u32::MAX), Some(100)));
        let b = body(json!({"device": "k", "click": "double", "battery_mv": null})).unwrap();
        assert_eq!(b.battery_mv, None);
    }

    #[test]
    fn bad_bodies_name_the_field() {
        let field_of = |v: Value| match body(v) {
            Err(
                WebhookError::InvalidField { field, .. } | WebhookError::MissingField { field, .. },
            ) => field,
            Err(WebhookError::UnsupportedClick { .. }) => "click (unsupported)",
            other => panic!("{:?}", other.map(|b| b.device)),
        };
        assert_eq!(field_of(json!({"click": "single"})), "device");
        assert_eq!(field_of(json!({"device": 5, "click": "single"})), "device");
        assert_eq!(
            field_of(json!({"device": "a\nb", "click": "single"})),
            "device"
        );
        assert_eq!(field_of(json!({"device": "k"})), "click");
        assert_eq!(field_of(json!({"device": "k", "click": 1})), "click");
        assert_eq!(
            field_of(json!({"device": "k", "click": "SINGLE"})),
            "click (unsupported)"
        );
        assert_eq!(
            field_of(json!({"device": "k", "click": "single", "battery_mv": -1})),
            "battery_mv"
        );
        assert_eq!(
            field_of(json!({"device": "k", "click": "single", "battery_mv": 4294967296u64})),
            "battery_mv"
        );
        assert_eq!(
            field_of(json!({"device": "k", "click": "single", "battery_pct": 101})),
            "battery_pct"
        );
        assert_eq!(
            field_of(json!({"device": "k", "click": "single", "battery_pct": 50.5})),
            "battery_pct"
        );
        let err = body(json!({"device": "k", "click": "quadruple"}))
            .err()
            .unwrap();
        assert!(err.to_string().contains(WEBHOOK_CLICK_TYPES), "{err}");
    }

    #[test]
    fn timestamps_are_digits_only() {
        assert_eq!(parse_timestamp("1767225600").ok(), Some(1767225600));
        for bad in [
            "",
            "-1",
            "+1",
            "1.5",
            " 1",
            "18446744073709551616",
            "1e9",
            "abc",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn signatures_have_one_spelling() {
        let good = format!("sha256={}", "ab".repeat(32));
        assert_eq!(parse_signature(&good).ok().map(|t| t.len()), Some(32));
        for bad in [
            "ab".repeat(32),
            format!("SHA256={}", "ab".repeat(32)),
            format!("sha256={}", "AB".repeat(32)),
            format!("sha256={}", "ab".repeat(31)),
            format!("sha256={}", "ab".repeat(33)),
            format!("sha256={}g", "ab".repeat(31)),
            format!("v1={}", "ab".repeat(32)),
        ] {
            assert!(parse_signature(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn idempotency_keys_are_unreserved_characters() {
        for ok in [
            "a",
            "01JG8Z9X3K",
            "123e4567-e89b-12d3-a456-426614174000",
            "a.b_c~d",
            &"k".repeat(128),
        ] {
            assert!(is_valid_key(ok), "{ok}");
        }
        for bad in ["", "a:b", "a b", "{x}", "caf\u{e9}", &"k".repeat(129)] {
            assert!(!is_valid_key(bad), "{bad}");
        }
    }

    #[test]
    fn the_signed_forms_differ_with_and_without_a_key() {
        assert_eq!(signed_content("1", None, b"{}"), b"1.{}");
        assert_eq!(signed_content("1", Some("k"), b"{}"), b"1.k.{}");
        assert_ne!(
            webhook_signature(b"s", "1", None, b"{}"),
            webhook_signature(b"s", "1", Some("k"), b"{}")
        );
    }
}
