//! The example events in `fixtures/`: real Function URL events, signed with the test keys
//! kept beside them. `regenerate_fixtures` (ignored) rewrites them; see fixtures/README.md.

mod common;

use std::collections::HashSet;
use std::path::PathBuf;

use clickrules_engine::ClickType;
use clickrules_webhooks::{
    AuthFailure, FlicConfig, FlicKey, GenericConfig, SecretRef, StaticSecrets, WebhookConfig,
    authenticate, is_function_url_event, parse_request, webhook_signature,
};
use common::*;
use serde_json::{Value, json};

/// 2100-01-01T00:00:00Z: the fixture token stays valid until then.
const FIXTURE_EXP: u64 = 4_102_444_800;
/// When the generic fixture was signed (2026-01-01T00:00:00Z); it verifies only at that time.
const FIXTURE_TIMESTAMP: u64 = NOW_S;
const FIXTURE_UUID: &str = "c0ffee00c0ffee00c0ffee00c0ffee00";
const FIXTURE_SERIAL: &str = "BC44-T00001";
const FIXTURE_DEVICE: &str = "fixture-button";

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(path(name)).unwrap()
}

fn fixture_secret() -> (SecretRef, StaticSecrets) {
    let reference = SecretRef::Ssm("/clickrules/webhook-secret".into());
    let secrets = StaticSecrets::new().with(reference.clone(), read("test-webhook-secret.txt"));
    (reference, secrets)
}

fn flic_fixture_config() -> WebhookConfig {
    WebhookConfig {
        flic: Some(FlicConfig {
            allowed_buttons: Some(HashSet::from([FIXTURE_UUID.to_string()])),
            key: FlicKey::from_pem(&read("test-flic-key.pub.pem")).unwrap(),
            ..FlicConfig::default()
        }),
        generic: None,
    }
}

#[test]
fn the_fixtures_are_function_url_events() {
    for name in ["function-url-flic.json", "function-url-webhook.json"] {
        let value: Value = serde_json::from_str(&read(name)).unwrap();
        assert!(is_function_url_event(&value), "{name}");
        assert!(parse_request(read(name).as_bytes()).is_ok(), "{name}");
    }
}

#[test]
fn the_public_key_is_the_private_keys() {
    let private = TestKey::from_pkcs8_pem(&read("test-flic-key.pem"));
    let public = clickrules_webhooks::FlicPublicKey::parse(&read("test-flic-key.pub.pem")).unwrap();
    assert_eq!(private.public(), public);
    assert!(!public.is_published());
}

#[tokio::test]
async fn the_flic_fixture_verifies_with_the_test_key() {
    let request = parse_request(read("function-url-flic.json").as_bytes()).unwrap();
    let press = authenticate(
        &request,
        &flic_fixture_config(),
        &StaticSecrets::new(),
        NOW_MS,
    )
    .await
    .unwrap();
    assert_eq!(press.source, "flic");
    assert_eq!(press.click.serial_number, FIXTURE_SERIAL);
    assert_eq!(press.click.click_type, ClickType::Single);
    assert_eq!(press.replayable_until_ms, (FIXTURE_EXP + 30) * 1000);

    // Flic's published key did not sign it.
    let published = WebhookConfig {
        flic: Some(FlicConfig::default()),
        generic: None,
    };
    assert!(matches!(
        auth_reason(authenticate(&request, &published, &StaticSecrets::new(), NOW_MS).await),
        AuthFailure::BadSignature { .. }
    ));
}

#[tokio::test]
async fn the_webhook_fixture_verifies_at_its_timestamp_only() {
    let request = parse_request(read("function-url-webhook.json").as_bytes()).unwrap();
    let (reference, secrets) = fixture_secret();
    let config = WebhookConfig {
        flic: None,
        generic: Some(GenericConfig::new(reference)),
    };
    let press = authenticate(&request, &config, &secrets, FIXTURE_TIMESTAMP * 1000)
        .await
        .unwrap();
    assert_eq!(press.source, "webhook");
    assert_eq!(press.click.serial_number, FIXTURE_DEVICE);
    assert_eq!(press.click.click_type, ClickType::Double);
    assert_eq!(press.click.battery_mv, Some(2900));
    assert_eq!(press.click.battery_pct, Some(80));
    let later = (FIXTURE_TIMESTAMP + 3600) * 1000;
    assert!(matches!(
        auth_reason(authenticate(&request, &config, &secrets, later).await),
        AuthFailure::StaleTimestamp { .. }
    ));
}

/// The shape AWS sends for a Function URL request (payload format 2.0).
fn function_url_event(path: &str, headers: Value, body: &str, time: &str, epoch_ms: u64) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "n3xampleurlid5xyzexampleurlidabc",
            "domainName": "n3xampleurlid5xyzexampleurlidabc.lambda-url.us-west-1.on.aws",
            "domainPrefix": "n3xampleurlid5xyzexampleurlidabc",
            "http": {
                "method": "POST",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": headers["user-agent"].clone()
            },
            "requestId": "5d0f5ac1-0e8a-4b5e-9c4c-1f0c2a7e9b11",
            "routeKey": "$default",
            "stage": "$default",
            "time": time,
            "timeEpoch": epoch_ms
        },
        "body": body,
        "isBase64Encoded": false
    })
}

#[test]
#[ignore = "rewrites fixtures/function-url-*.json; run after changing the test keys"]
fn regenerate_fixtures() {
    let key = TestKey::from_pkcs8_pem(&read("test-flic-key.pem"));
    let token = key.token(&json!({
        "exp": FIXTURE_EXP,
        "buttonUuid": FIXTURE_UUID,
        "buttonSerialNumber": FIXTURE_SERIAL,
        "buttonName": "Fixture button",
        "buttonBatteryStatus": "high",
        "pressedAt": "2026-01-01T01:00:00+01:00",
        "clickType": "click",
    }));
    let flic_body = json!({ "token": token }).to_string();
    let flic = function_url_event(
        "/flic",
        json!({
            "content-length": flic_body.len().to_string(),
            "content-type": "application/json",
            "host": "n3xampleurlid5xyzexampleurlidabc.lambda-url.us-west-1.on.aws",
            "user-agent": "Flic-Cloud",
            "x-amzn-tls-cipher-suite": "TLS_AES_128_GCM_SHA256",
            "x-amzn-tls-version": "TLSv1.3",
            "x-amzn-trace-id": "Root=1-67748a00-0123456789abcdef01234567",
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https"
        }),
        &flic_body,
        "01/Jan/2026:00:00:00 +0000",
        NOW_MS,
    );

    let secret = read("test-webhook-secret.txt");
    let body = r#"{"device":"fixture-button","click":"double","battery_mv":2900,"battery_pct":80}"#;
    let timestamp = FIXTURE_TIMESTAMP.to_string();
    let signature = webhook_signature(secret.trim().as_bytes(), &timestamp, None, body.as_bytes());
    let webhook = function_url_event(
        "/webhook",
        json!({
            "content-length": body.len().to_string(),
            "content-type": "application/json",
            "host": "n3xampleurlid5xyzexampleurlidabc.lambda-url.us-west-1.on.aws",
            "user-agent": "curl/8.5.0",
            "x-amzn-tls-cipher-suite": "TLS_AES_128_GCM_SHA256",
            "x-amzn-tls-version": "TLSv1.3",
            "x-amzn-trace-id": "Root=1-67748a00-89abcdef0123456789abcdef",
            "x-clickrules-signature": signature,
            "x-clickrules-timestamp": timestamp,
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https"
        }),
        body,
        "01/Jan/2026:00:00:00 +0000",
        FIXTURE_TIMESTAMP * 1000,
    );
    for (name, value) in [
        ("function-url-flic.json", flic),
        ("function-url-webhook.json", webhook),
    ] {
        let text = serde_json::to_string_pretty(&value).unwrap() + "\n";
        std::fs::write(path(name), text).unwrap();
    }
}
