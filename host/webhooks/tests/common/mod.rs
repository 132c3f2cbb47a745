//! Helpers shared by the integration tests: Function URL events, ES256 and HS256 tokens,
//! signed generic requests.
#![allow(dead_code)]

use std::collections::HashSet;

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use clickrules_webhooks::{
    FlicConfig, FlicKey, FlicPublicKey, GenericConfig, SecretRef, StaticSecrets, VerifiedPress,
    WebhookConfig, WebhookError, authenticate, parse_request, webhook_signature,
};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

/// 2026-01-01T00:00:00Z, the clock of most tests.
pub const NOW_S: u64 = 1_767_225_600;
pub const NOW_MS: u64 = NOW_S * 1000;
pub const BUTTON_UUID: &str = "336c33540c134a929824e41c0bd3c377";
pub const BUTTON_SERIAL: &str = "BC44-B06243";
pub const SECRET: &str = "test-secret-0123456789abcdef";

pub fn secret_ref() -> SecretRef {
    SecretRef::Ssm("/clickrules/webhook-secret".into())
}

pub fn secrets() -> StaticSecrets {
    StaticSecrets::new().with(secret_ref(), SECRET)
}

/// A P-256 key pair standing in for Flic's.
pub struct TestKey {
    pair: EcdsaKeyPair,
}

impl TestKey {
    pub fn generate() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        Self::from_pkcs8(pkcs8.as_ref())
    }

    pub fn from_pkcs8(der: &[u8]) -> Self {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng).unwrap();
        Self { pair }
    }

    pub fn from_pkcs8_pem(pem: &str) -> Self {
        Self::from_pkcs8(&pem_der(pem))
    }

    /// The uncompressed point.
    pub fn public_point(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    pub fn public(&self) -> FlicPublicKey {
        FlicPublicKey::from_uncompressed(self.public_point()).unwrap()
    }

    /// `header.payload.signature`, ES256-signed.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let signing_input = format!("{}.{}", b64(header), b64(claims));
        let signature = self
            .pair
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .unwrap();
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }

    pub fn token(&self, claims: &Value) -> String {
        self.sign(&json!({"alg": "ES256", "typ": "JWT"}), claims)
    }
}

pub fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// The DER inside a PEM block.
pub fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

/// A Flic webhook payload as documented, expiring an hour after [`NOW_S`].
pub fn claims() -> Value {
    json!({
        "exp": NOW_S + 3600,
        "buttonUuid": BUTTON_UUID,
        "buttonSerialNumber": BUTTON_SERIAL,
        "buttonName": "Kitchen",
        "buttonBatteryStatus": "high",
        "pressedAt": "2026-01-01T01:00:00+01:00",
        "clickType": "click",
    })
}

pub fn flic_config(key: &TestKey) -> WebhookConfig {
    WebhookConfig {
        flic: Some(FlicConfig {
            allowed_buttons: Some(HashSet::from([BUTTON_UUID.to_string()])),
            key: FlicKey::Pinned(key.public()),
            ..FlicConfig::default()
        }),
        generic: None,
    }
}

pub fn generic_config() -> WebhookConfig {
    WebhookConfig {
        flic: None,
        generic: Some(GenericConfig::new(secret_ref())),
    }
}

pub fn both_config(key: &TestKey) -> WebhookConfig {
    WebhookConfig {
        generic: generic_config().generic,
        ..flic_config(key)
    }
}

/// A Function URL event as AWS sends it (payload format 2.0), read through `parse_request`.
pub fn event(
    path: &str,
    method: &str,
    headers: Value,
    body: Option<&str>,
    base64: bool,
) -> LambdaFunctionUrlRequest {
    let json = event_json(path, method, headers, body, base64);
    parse_request(json.to_string().as_bytes()).unwrap()
}

pub fn event_json(
    path: &str,
    method: &str,
    headers: Value,
    body: Option<&str>,
    base64: bool,
) -> Value {
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghijklmnopqrstuvwxyz012345",
            "domainName": "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-west-1.on.aws",
            "domainPrefix": "abcdefghijklmnopqrstuvwxyz012345",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "test"
            },
            "requestId": "00000000-0000-0000-0000-000000000000",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": NOW_MS
        },
        "isBase64Encoded": base64
    });
    if let Some(body) = body {
        event["body"] = body.into();
    }
    event
}

pub fn json_headers() -> Value {
    json!({"content-type": "application/json"})
}

/// A Flic press: `POST /flic` with `{"token": token}`.
pub fn flic_event(token: &str) -> LambdaFunctionUrlRequest {
    let body = json!({ "token": token }).to_string();
    event("/flic", "POST", json_headers(), Some(&body), false)
}

/// Headers for a generic request signed with `secret` at `timestamp`.
pub fn signed_headers(secret: &str, timestamp: &str, key: Option<&str>, body: &str) -> Value {
    let mut headers = json!({
        "content-type": "application/json",
        "x-clickrules-timestamp": timestamp,
        "x-clickrules-signature": webhook_signature(secret.as_bytes(), timestamp, key, body.as_bytes()),
    });
    if let Some(key) = key {
        headers["idempotency-key"] = key.into();
    }
    headers
}

pub const GENERIC_BODY: &str = r#"{"device":"kitchen","click":"single","battery_mv":2900}"#;

/// A generic press signed with [`SECRET`] at [`NOW_S`].
pub fn generic_event(body: &str) -> LambdaFunctionUrlRequest {
    let headers = signed_headers(SECRET, &NOW_S.to_string(), None, body);
    event("/webhook", "POST", headers, Some(body), false)
}

pub async fn auth(
    request: &LambdaFunctionUrlRequest,
    config: &WebhookConfig,
    now_ms: u64,
) -> Result<VerifiedPress, WebhookError> {
    authenticate(request, config, &secrets(), now_ms).await
}

/// The precise reason of a 401, as text, for matching.
pub fn auth_reason(
    result: Result<VerifiedPress, WebhookError>,
) -> clickrules_webhooks::AuthFailure {
    match result {
        Err(WebhookError::Unauthorized { reason, .. }) => reason,
        other => panic!("expected an authentication failure, got {other:?}"),
    }
}
