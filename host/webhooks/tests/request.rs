//! The checks before any crypto, routing, reading raw events, and responses.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clickrules_webhooks::{
    MAX_BODY_BYTES, StaticSecrets, WebhookConfig, WebhookError, authenticate,
    is_function_url_event, parse_request,
};
use common::*;
use serde_json::json;

async fn err(
    request: &aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest,
    config: &WebhookConfig,
) -> WebhookError {
    // No secrets: every check here must come before one is needed.
    authenticate(request, config, &StaticSecrets::new(), NOW_MS)
        .await
        .unwrap_err()
}

fn status_kind(e: &WebhookError) -> (u16, &'static str) {
    (e.status(), e.kind())
}

#[tokio::test]
async fn only_post_is_allowed() {
    for method in ["GET", "PUT", "DELETE", "OPTIONS", "post"] {
        let request = event(
            "/webhook",
            method,
            json_headers(),
            Some(GENERIC_BODY),
            false,
        );
        let e = err(&request, &generic_config()).await;
        assert_eq!(status_kind(&e), (405, "method_not_allowed"), "{method}");
    }
}

#[tokio::test]
async fn the_body_must_be_declared_json() {
    for headers in [
        json!({}),
        json!({"content-type": "text/plain"}),
        json!({"content-type": "application/x-www-form-urlencoded"}),
        json!({"content-type": "application/json; charset=iso-8859-1"}),
        json!({"content-type": "application/json; boundary=x"}),
        json!({"content-type": "application/json;"}),
        json!({"content-type": "application/jsonx"}),
        json!({"content-type": "application/json", "content-encoding": "gzip"}),
    ] {
        let request = event(
            "/webhook",
            "POST",
            headers.clone(),
            Some(GENERIC_BODY),
            false,
        );
        let e = err(&request, &generic_config()).await;
        assert_eq!(
            status_kind(&e),
            (415, "unsupported_media_type"),
            "{headers}"
        );
    }
}

#[tokio::test]
async fn json_with_a_utf8_charset_is_accepted() {
    for content_type in [
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "APPLICATION/JSON ; charset=\"utf-8\"",
    ] {
        let mut headers = signed_headers(SECRET, &NOW_S.to_string(), None, GENERIC_BODY);
        headers["content-type"] = content_type.into();
        headers["content-encoding"] = "identity".into();
        let request = event("/webhook", "POST", headers, Some(GENERIC_BODY), false);
        assert!(
            auth(&request, &generic_config(), NOW_MS).await.is_ok(),
            "{content_type}"
        );
    }
}

#[tokio::test]
async fn the_body_is_limited_after_decoding() {
    let padding = " ".repeat(MAX_BODY_BYTES - GENERIC_BODY.len());
    let at_limit = format!("{GENERIC_BODY}{padding}");
    assert_eq!(at_limit.len(), MAX_BODY_BYTES);
    let headers = signed_headers(SECRET, &NOW_S.to_string(), None, &at_limit);
    let request = event("/webhook", "POST", headers, Some(&at_limit), false);
    assert!(auth(&request, &generic_config(), NOW_MS).await.is_ok());

    let over = format!("{at_limit} ");
    let request = event("/webhook", "POST", json_headers(), Some(&over), false);
    assert!(matches!(
        err(&request, &generic_config()).await,
        WebhookError::BodyTooLarge { size, limit: MAX_BODY_BYTES } if size == MAX_BODY_BYTES + 1
    ));

    // Base64: the limit is on the decoded bytes, and a huge body is refused before decoding.
    let encoded = STANDARD.encode(&at_limit);
    assert!(encoded.len() > MAX_BODY_BYTES);
    let headers = signed_headers(SECRET, &NOW_S.to_string(), None, &at_limit);
    let request = event("/webhook", "POST", headers, Some(&encoded), true);
    assert!(auth(&request, &generic_config(), NOW_MS).await.is_ok());
    let request = event(
        "/webhook",
        "POST",
        json_headers(),
        Some(&STANDARD.encode(&over)),
        true,
    );
    assert_eq!(
        status_kind(&err(&request, &generic_config()).await),
        (413, "body_too_large")
    );
    let huge = "A".repeat(1 << 20);
    let request = event("/webhook", "POST", json_headers(), Some(&huge), true);
    assert_eq!(
        status_kind(&err(&request, &generic_config()).await),
        (413, "body_too_large")
    );
}

#[tokio::test]
async fn a_base64_body_is_decoded_before_verifying() {
    let headers = signed_headers(SECRET, &NOW_S.to_string(), None, GENERIC_BODY);
    let request = event(
        "/webhook",
        "POST",
        headers,
        Some(&STANDARD.encode(GENERIC_BODY)),
        true,
    );
    let press = auth(&request, &generic_config(), NOW_MS).await.unwrap();
    assert_eq!(press.click.serial_number, "kitchen");
}

#[tokio::test]
async fn bad_base64_and_missing_bodies_are_bad_requests() {
    let request = event(
        "/webhook",
        "POST",
        json_headers(),
        Some("not base64!"),
        true,
    );
    let e = err(&request, &generic_config()).await;
    assert!(matches!(e, WebhookError::BadBase64 { .. }), "{e:?}");
    assert_eq!(e.status(), 400);
    for body in [None, Some("")] {
        let request = event("/webhook", "POST", json_headers(), body, false);
        let e = err(&request, &generic_config()).await;
        assert!(matches!(e, WebhookError::MissingBody { .. }), "{e:?}");
        assert_eq!(status_kind(&e), (400, "bad_request"));
    }
    // Flagged base64 that decodes to nothing.
    let request = event("/webhook", "POST", json_headers(), Some("===="), true);
    assert_eq!(err(&request, &generic_config()).await.status(), 400);
}

#[tokio::test]
async fn bodies_that_are_not_json_objects_are_bad_requests() {
    for body in [
        "{",
        "null",
        "[1]",
        "\"token\"",
        "{\"a\":1} trailing",
        "\u{feff}{}",
    ] {
        let request = event("/webhook", "POST", json_headers(), Some(body), false);
        let e = err(&request, &generic_config()).await;
        assert!(
            matches!(
                e,
                WebhookError::BadJson {
                    origin: "webhook",
                    ..
                }
            ),
            "{body}: {e:?}"
        );
    }
}

#[tokio::test]
async fn the_path_names_the_source() {
    let key = TestKey::generate();
    let config = both_config(&key);
    let token = key.token(&claims());
    let flic_body = json!({ "token": token }).to_string();
    // Flic at /flic and /; the generic webhook at /webhook and /; trailing slashes ignored.
    for path in ["/flic", "/flic/", "/"] {
        let request = event(path, "POST", json_headers(), Some(&flic_body), false);
        assert_eq!(
            auth(&request, &config, NOW_MS).await.unwrap().source,
            "flic",
            "{path}"
        );
    }
    for path in ["/webhook", "/webhook/", "/", ""] {
        let headers = signed_headers(SECRET, &NOW_S.to_string(), None, GENERIC_BODY);
        let request = event(path, "POST", headers, Some(GENERIC_BODY), false);
        assert_eq!(
            auth(&request, &config, NOW_MS).await.unwrap().source,
            "webhook",
            "{path}"
        );
    }
    // A body at the other source's path is judged by that source.
    let request = event("/webhook", "POST", json_headers(), Some(&flic_body), false);
    assert!(matches!(
        err(&request, &config).await,
        WebhookError::MissingField {
            origin: "webhook",
            field: "device"
        }
    ));
    let headers = signed_headers(SECRET, &NOW_S.to_string(), None, GENERIC_BODY);
    let request = event("/flic", "POST", headers, Some(GENERIC_BODY), false);
    assert!(matches!(
        err(&request, &config).await,
        WebhookError::MissingField {
            origin: "flic",
            field: "token"
        }
    ));
}

#[tokio::test]
async fn other_paths_are_routed_by_the_body_and_disabled_sources_are_not_found() {
    let key = TestKey::generate();
    // Another path picks no source: the body does, and its verifier must pass (here an unsigned
    // generic body is unauthorized).
    for path in ["/other", "/flic/extra", "/Flic", "/webhook.php", "/my/path"] {
        let request = event(path, "POST", json_headers(), Some(GENERIC_BODY), false);
        let e = err(&request, &both_config(&key)).await;
        assert_eq!(status_kind(&e), (401, "unauthorized"), "{path}");
    }
    // Disabled sources: 404 whatever else is wrong with the request.
    let request = event("/flic", "GET", json!({}), None, false);
    let e = err(&request, &generic_config()).await;
    assert_eq!(status_kind(&e), (404, "source_disabled"));
    assert!(e.to_string().contains("flic"));
    let request = event(
        "/webhook",
        "POST",
        json_headers(),
        Some(GENERIC_BODY),
        false,
    );
    let e = err(&request, &flic_config(&key)).await;
    assert_eq!(status_kind(&e), (404, "source_disabled"));
    // At /, the body decides which, and that one must be enabled.
    let request = event("/", "POST", json_headers(), Some(r#"{"token":"x"}"#), false);
    assert_eq!(
        status_kind(&err(&request, &generic_config()).await),
        (404, "source_disabled")
    );
    let request = event("/", "POST", json_headers(), Some(GENERIC_BODY), false);
    assert_eq!(
        status_kind(&err(&request, &flic_config(&key)).await),
        (404, "source_disabled")
    );
    let nothing = WebhookConfig::default();
    let request = event("/", "POST", json_headers(), Some(GENERIC_BODY), false);
    assert_eq!(
        status_kind(&err(&request, &nothing).await),
        (404, "source_disabled")
    );
}

#[test]
fn raw_events_must_be_function_url_requests() {
    let good = event_json("/flic", "POST", json_headers(), Some("{}"), false);
    assert!(is_function_url_event(&good));
    assert!(parse_request(good.to_string().as_bytes()).is_ok());
    let iot = json!({"serialNumber": "G030JF055364XVRB", "clickType": "SINGLE", "batteryVoltage": "1705mV"});
    let api_gateway_v1 =
        json!({"resource": "/", "httpMethod": "POST", "requestContext": {"httpMethod": "POST"}});
    for value in [
        iot,
        api_gateway_v1,
        json!([good.clone()]),
        json!({"version": "2.0"}),
    ] {
        assert!(!is_function_url_event(&value), "{value}");
        let e = parse_request(value.to_string().as_bytes()).unwrap_err();
        assert_eq!(e.kind(), "not_a_function_url_event");
        assert_eq!(e.status(), 400);
    }
    for bytes in [
        &b"not json"[..],
        b"",
        b"{\"version\":\"2.0\",\"version\":\"1.0\"}",
    ] {
        assert!(parse_request(bytes).is_err());
    }
    // The right shape with a field of the wrong type.
    let mut broken = good;
    broken["isBase64Encoded"] = "no".into();
    assert!(is_function_url_event(&broken));
    assert!(matches!(
        parse_request(broken.to_string().as_bytes()),
        Err(WebhookError::NotAFunctionUrlEvent { .. })
    ));
}

#[tokio::test]
async fn an_error_response_hides_authentication_detail() {
    let headers = signed_headers("wrong", &NOW_S.to_string(), None, GENERIC_BODY);
    let request = event("/webhook", "POST", headers, Some(GENERIC_BODY), false);
    let e = auth(&request, &generic_config(), NOW_MS).await.unwrap_err();
    assert!(e.to_string().contains("does not match"));
    let response = e.response();
    assert_eq!(response.status_code, 401);
    assert_eq!(
        response.body.as_deref(),
        Some(r#"{"message":"unauthorized"}"#)
    );

    let request = event("/webhook", "PUT", json_headers(), Some(GENERIC_BODY), false);
    let response = err(&request, &generic_config()).await.response();
    assert_eq!(response.status_code, 405);
    assert!(response.body.unwrap().contains("POST"));
}
