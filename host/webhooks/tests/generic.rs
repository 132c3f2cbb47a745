//! The generic webhook: HMAC-SHA256 over timestamp, key and body; replay window; press ids.

mod common;

use clickrules_engine::ClickType;
use clickrules_webhooks::{
    AuthFailure, GenericConfig, SecretRef, StaticSecrets, WebhookConfig, WebhookError,
    authenticate, webhook_signature,
};
use common::*;
use serde_json::json;

fn with_header(
    headers: &serde_json::Value,
    name: &str,
    value: serde_json::Value,
) -> serde_json::Value {
    let mut headers = headers.clone();
    headers[name] = value;
    headers
}

fn without(headers: &serde_json::Value, name: &str) -> serde_json::Value {
    let mut headers = headers.clone();
    headers.as_object_mut().unwrap().remove(name);
    headers
}

fn request(
    headers: serde_json::Value,
    body: &str,
) -> aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest {
    event("/webhook", "POST", headers, Some(body), false)
}

#[tokio::test]
async fn a_signed_request_is_a_press() {
    let press = auth(&generic_event(GENERIC_BODY), &generic_config(), NOW_MS)
        .await
        .unwrap();
    assert_eq!(press.source, "webhook");
    assert_eq!(press.click.source, "webhook");
    assert_eq!(press.click.serial_number, "kitchen");
    assert_eq!(press.click.click_type, ClickType::Single);
    assert_eq!(press.click.battery_mv, Some(2900));
    assert_eq!(press.click.battery_pct, None);
    assert_eq!(press.click.received_at_ms, NOW_MS);
    assert_eq!(press.click.press_id, press.press_id);
    assert!(!press.windowed);
    assert_eq!(press.replayable_until_ms, (NOW_S + 301) * 1000);
}

#[tokio::test]
async fn every_click_and_both_batteries_come_through() {
    for (click, ours) in [
        ("single", ClickType::Single),
        ("double", ClickType::Double),
        ("triple", ClickType::Triple),
        ("long", ClickType::Long),
    ] {
        let body = json!({"device": "hall", "click": click, "battery_pct": 42}).to_string();
        let press = auth(&generic_event(&body), &generic_config(), NOW_MS)
            .await
            .unwrap();
        assert_eq!(press.click.click_type, ours);
        assert_eq!(press.click.battery_pct, Some(42));
    }
}

#[tokio::test]
async fn a_wrong_secret_is_refused() {
    let headers = signed_headers("another secret", &NOW_S.to_string(), None, GENERIC_BODY);
    assert_eq!(
        auth_reason(auth(&request(headers, GENERIC_BODY), &generic_config(), NOW_MS).await),
        AuthFailure::SignatureMismatch
    );
}

#[tokio::test]
async fn a_signature_one_digit_off_is_refused() {
    let headers = signed_headers(SECRET, &NOW_S.to_string(), None, GENERIC_BODY);
    let signature = headers["x-clickrules-signature"]
        .as_str()
        .unwrap()
        .to_string();
    let last = signature.chars().last().unwrap();
    let flipped = if last == '0' { '1' } else { '0' };
    let off = format!("{}{flipped}", &signature[..signature.len() - 1]);
    let headers = with_header(&headers, "x-clickrules-signature", off.into());
    assert_eq!(
        auth_reason(auth(&request(headers, GENERIC_BODY), &generic_config(), NOW_MS).await),
        AuthFailure::SignatureMismatch
    );
}

#[tokio::test]
async fn a_tampered_body_or_timestamp_is_refused() {
    let headers = signed_headers(SECRET, &NOW_S.to_string(), None, GENERIC_BODY);
    let other = GENERIC_BODY.replace("single", "long");
    assert_eq!(
        auth_reason(auth(&request(headers.clone(), &other), &generic_config(), NOW_MS).await),
        AuthFailure::SignatureMismatch
    );
    let moved = with_header(
        &headers,
        "x-clickrules-timestamp",
        (NOW_S + 1).to_string().into(),
    );
    assert_eq!(
        auth_reason(auth(&request(moved, GENERIC_BODY), &generic_config(), NOW_MS).await),
        AuthFailure::SignatureMismatch
    );
}

#[tokio::test]
async fn malformed_signatures_are_refused() {
    let headers = signed_headers(SECRET, &NOW_S.to_string(), None, GENERIC_BODY);
    let good = headers["x-clickrules-signature"]
        .as_str()
        .unwrap()
        .to_string();
    let hex = good.strip_prefix("sha256=").unwrap();
    for bad in [
        format!("sha256={}", &hex[..62]),
        format!("sha256={hex}00"),
        "sha256=".to_string(),
        hex.to_string(),
        format!("SHA256={hex}"),
        format!("sha256={}", hex.to_uppercase()),
        format!("sha1={hex}"),
        format!("sha256={hex},sha256={hex}"),
    ] {
        let headers = with_header(&headers, "x-clickrules-signature", bad.clone().into());
        assert!(
            matches!(
                auth_reason(auth(&request(headers, GENERIC_BODY), &generic_config(), NOW_MS).await),
                AuthFailure::MalformedSignature { .. }
            ),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn missing_headers_are_refused() {
    let headers = signed_headers(SECRET, &NOW_S.to_string(), None, GENERIC_BODY);
    for (name, header) in [
        ("x-clickrules-signature", "X-Clickrules-Signature"),
        ("x-clickrules-timestamp", "X-Clickrules-Timestamp"),
    ] {
        let request = request(without(&headers, name), GENERIC_BODY);
        assert_eq!(
            auth_reason(auth(&request, &generic_config(), NOW_MS).await),
            AuthFailure::MissingHeader { name: header }
        );
    }
}

#[tokio::test]
async fn malformed_timestamps_are_refused() {
    for ts in ["", "-1", "1767225600.5", "soon", "99999999999999999999999"] {
        let headers = signed_headers(SECRET, ts, None, GENERIC_BODY);
        assert!(
            matches!(
                auth_reason(auth(&request(headers, GENERIC_BODY), &generic_config(), NOW_MS).await),
                AuthFailure::MalformedTimestamp { .. }
            ),
            "{ts}"
        );
    }
}

#[tokio::test]
async fn the_timestamp_must_be_inside_the_window_both_ways() {
    let config = generic_config();
    for (ts, ok) in [
        (NOW_S - 300, true),
        (NOW_S + 300, true),
        (NOW_S - 301, false),
        (NOW_S + 301, false),
        (NOW_S - 86_400, false),
        (NOW_S * 1000, false),
        (0, false),
    ] {
        let headers = signed_headers(SECRET, &ts.to_string(), None, GENERIC_BODY);
        let result = auth(&request(headers, GENERIC_BODY), &config, NOW_MS).await;
        if ok {
            assert!(result.is_ok(), "{ts}: {result:?}");
        } else {
            assert!(
                matches!(
                    auth_reason(result),
                    AuthFailure::StaleTimestamp { timestamp, now_s: NOW_S, tolerance_s: 300 } if timestamp == ts
                ),
                "{ts}"
            );
        }
    }
}

#[tokio::test]
async fn the_window_is_configurable() {
    let config = WebhookConfig {
        flic: None,
        generic: Some(GenericConfig {
            tolerance_s: 5,
            ..GenericConfig::new(secret_ref())
        }),
    };
    let headers = signed_headers(SECRET, &(NOW_S - 6).to_string(), None, GENERIC_BODY);
    assert!(matches!(
        auth_reason(auth(&request(headers, GENERIC_BODY), &config, NOW_MS).await),
        AuthFailure::StaleTimestamp { tolerance_s: 5, .. }
    ));
    let headers = signed_headers(SECRET, &(NOW_S - 5).to_string(), None, GENERIC_BODY);
    assert!(
        auth(&request(headers, GENERIC_BODY), &config, NOW_MS)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_replay_is_the_same_press() {
    let request = generic_event(GENERIC_BODY);
    let first = auth(&request, &generic_config(), NOW_MS).await.unwrap();
    let replay = auth(&request, &generic_config(), NOW_MS + 60_000)
        .await
        .unwrap();
    assert_eq!(first.press_id, replay.press_id);
    // The sender's next press (signed at another second) is another press.
    let headers = signed_headers(SECRET, &(NOW_S + 1).to_string(), None, GENERIC_BODY);
    let next = auth(
        &self::request(headers, GENERIC_BODY),
        &generic_config(),
        NOW_MS,
    )
    .await
    .unwrap();
    assert_ne!(first.press_id, next.press_id);
    assert_eq!(first.press_id.len(), "webhook:".len() + 64);
}

#[tokio::test]
async fn an_idempotency_key_names_the_press_within_a_window() {
    let key = "01JG8Z9X3K7Q";
    let first = {
        let headers = signed_headers(SECRET, &NOW_S.to_string(), Some(key), GENERIC_BODY);
        auth(&request(headers, GENERIC_BODY), &generic_config(), NOW_MS)
            .await
            .unwrap()
    };
    assert_eq!(first.press_id, format!("webhook:kitchen:{key}"));
    assert!(first.windowed);
    // The sender's retry, signed again later, is the same press.
    let retry = {
        let headers = signed_headers(SECRET, &(NOW_S + 20).to_string(), Some(key), GENERIC_BODY);
        auth(&request(headers, GENERIC_BODY), &generic_config(), NOW_MS)
            .await
            .unwrap()
    };
    assert_eq!(first.press_id, retry.press_id);
}

/// The key is signed: a captured request cannot be replayed under another key, or none, to
/// count a second time.
#[tokio::test]
async fn the_idempotency_key_cannot_be_changed_added_or_stripped() {
    let keyed = signed_headers(SECRET, &NOW_S.to_string(), Some("key-1"), GENERIC_BODY);
    for headers in [
        with_header(&keyed, "idempotency-key", "key-2".into()),
        without(&keyed, "idempotency-key"),
        with_header(
            &signed_headers(SECRET, &NOW_S.to_string(), None, GENERIC_BODY),
            "idempotency-key",
            "key-1".into(),
        ),
    ] {
        assert_eq!(
            auth_reason(auth(&request(headers, GENERIC_BODY), &generic_config(), NOW_MS).await),
            AuthFailure::SignatureMismatch
        );
    }
}

#[tokio::test]
async fn a_bad_idempotency_key_is_a_bad_request() {
    for key in ["a:b", "has space", "caf\u{e9}", &"k".repeat(129)] {
        let headers = signed_headers(SECRET, &NOW_S.to_string(), Some(key), GENERIC_BODY);
        let err = auth(&request(headers, GENERIC_BODY), &generic_config(), NOW_MS)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                WebhookError::InvalidHeader {
                    name: "Idempotency-Key",
                    ..
                }
            ),
            "{key}: {err:?}"
        );
        assert_eq!(err.status(), 400);
    }
    let longest = "k".repeat(128);
    let headers = signed_headers(SECRET, &NOW_S.to_string(), Some(&longest), GENERIC_BODY);
    assert!(
        auth(&request(headers, GENERIC_BODY), &generic_config(), NOW_MS)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn header_names_are_case_insensitive() {
    let signature = webhook_signature(
        SECRET.as_bytes(),
        &NOW_S.to_string(),
        Some("k1"),
        GENERIC_BODY.as_bytes(),
    );
    let headers = json!({
        "Content-Type": "Application/JSON; Charset=UTF-8",
        "X-CLICKRULES-TIMESTAMP": NOW_S.to_string(),
        "X-Clickrules-Signature": signature,
        "IDEMPOTENCY-KEY": "k1",
    });
    let press = auth(&request(headers, GENERIC_BODY), &generic_config(), NOW_MS)
        .await
        .unwrap();
    assert_eq!(press.press_id, "webhook:kitchen:k1");
}

#[tokio::test]
async fn a_repeated_auth_header_is_refused() {
    let headers = signed_headers(SECRET, &NOW_S.to_string(), None, GENERIC_BODY);
    let signature = headers["x-clickrules-signature"].clone();
    let listed = with_header(
        &headers,
        "x-clickrules-signature",
        json!([signature.clone(), signature.clone()]),
    );
    assert_eq!(
        auth_reason(auth(&request(listed, GENERIC_BODY), &generic_config(), NOW_MS).await),
        AuthFailure::RepeatedHeader {
            name: "X-Clickrules-Signature"
        }
    );
    // Two spellings of one name: a reader would keep one of them, so the event is refused.
    let twice = with_header(&headers, "X-Clickrules-Signature", signature);
    let json = event_json("/webhook", "POST", twice, Some(GENERIC_BODY), false);
    assert!(matches!(
        clickrules_webhooks::parse_request(json.to_string().as_bytes()),
        Err(WebhookError::NotAFunctionUrlEvent { message }) if message.contains("twice")
    ));
}

#[tokio::test]
async fn the_secret_is_trimmed_and_must_exist() {
    let padded = StaticSecrets::new().with(secret_ref(), format!("{SECRET}\n"));
    let request = generic_event(GENERIC_BODY);
    assert!(
        authenticate(&request, &generic_config(), &padded, NOW_MS)
            .await
            .is_ok()
    );

    let err = authenticate(&request, &generic_config(), &StaticSecrets::new(), NOW_MS)
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.kind()), (500, "secret_unavailable"));
    assert!(!err.is_auth_failure());

    let elsewhere = WebhookConfig {
        flic: None,
        generic: Some(GenericConfig::new(SecretRef::SecretsManager(
            "other".into(),
        ))),
    };
    assert!(auth(&request, &elsewhere, NOW_MS).await.is_err());
}

#[tokio::test]
async fn bad_bodies_are_refused_before_any_crypto() {
    // Unsigned: the body is judged first, and no secret is needed to judge it.
    for body in [
        r#"{"click":"single"}"#,
        r#"{"device":"k","click":"quadruple"}"#,
        r#"{"device":"k","click":"single","battery_pct":101}"#,
        r#"{"device":"k","click":"single","click":"long"}"#,
        r#"["device"]"#,
        r#"{"device":"k""#,
    ] {
        let request = request(json_headers(), body);
        let err = authenticate(&request, &generic_config(), &StaticSecrets::new(), NOW_MS)
            .await
            .unwrap_err();
        assert_eq!(err.status(), 400, "{body}: {err}");
    }
}

#[tokio::test]
async fn unknown_body_fields_are_ignored() {
    let body = r#"{"device":"k","click":"long","note":"from the garage","v":2}"#;
    assert!(
        auth(&generic_event(body), &generic_config(), NOW_MS)
            .await
            .is_ok()
    );
}
