//! HTTPS button sources: requests through a Lambda Function URL, authenticated before anything
//! else runs, then normalised to the same click the MQTT sources give.
//!
//! # Sources and routing
//!
//! | path | source | authenticated by |
//! |---|---|---|
//! | `/flic` | Flic Cloud Buttons (`flic`) | an ES256 JWT Flic signs, `{"token": "<JWT>"}` |
//! | `/webhook` | the generic webhook (`webhook`) | HMAC-SHA256 with a shared secret |
//! | `/` or any other path | whichever the body is: a `token` field is Flic's, else generic | as above |
//!
//! The path decides, since it is the deployment's choice, not the sender's; `/` is there for
//! a Flic button configured with the bare Function URL. Either way the chosen source's own
//! verifier must pass, so a sender cannot pick a weaker check. Trailing slashes are ignored;
//! any other path is routed by the body, as `/` is, and a source the [`WebhookConfig`] leaves
//! out is [`WebhookError::SourceDisabled`], 404.
//!
//! # Checks, in order
//!
//! Before any crypto: the path (404), `POST` (405), `Content-Type: application/json` with at
//! most `charset=utf-8` and no `Content-Encoding` (415), a body (400) of at most
//! [`MAX_BODY_BYTES`] once decoded (413), valid base64 when `isBase64Encoded` (400), a JSON
//! object with no key twice (400) holding what the source needs (400). Then the source's
//! authentication; every failure is [`WebhookError::Unauthorized`], answered 401
//! `{"message":"unauthorized"}` while the error value keeps the precise [`AuthFailure`] for
//! the record.
//!
//! **Flic** (see [`FLIC_DOCS_URL`]): the token's header must say exactly `"alg":"ES256"`
//! (`none` and `HS256`, the algorithm-confusion attack, are refused before the signature is
//! looked at) and list no `crit`; the 64-byte r‖s signature must verify against the
//! [`FlicKey`] (Flic's published key by default, [`FLIC_PUBLISHED_KEY_PEM`]); `exp` is
//! required and checked with [`DEFAULT_FLIC_MAX_SKEW_S`] of skew (as is `nbf`, if present);
//! and the `buttonUuid` must be in [`FlicConfig::allowed_buttons`] when that is set, since
//! any Flic customer can get valid tokens. `clickType` `click`/`double_click`/`hold` are
//! SINGLE/DOUBLE/LONG; the device is `buttonSerialNumber` (what is printed on the button),
//! else `buttonUuid`. `buttonBatteryStatus` is a word, not a voltage, so no battery is
//! reported. No other claim (notably the phone's location) is read.
//!
//! **Generic**: see [the generic webhook](#generic-webhook) below.
//!
//! # Generic webhook
//!
//! ```text
//! POST /webhook
//! Content-Type: application/json
//! X-Clickrules-Timestamp: 1767225600
//! X-Clickrules-Signature: sha256=<lowercase hex HMAC-SHA256(secret, "1767225600." + body)>
//! Idempotency-Key: 01JG8Z9X3K          (optional; the MAC is then over "<ts>.<key>.<body>")
//!
//! {"device": "kitchen", "click": "single"|"double"|"triple"|"long",
//!  "battery_mv": 2900, "battery_pct": 80}
//! ```
//!
//! The signature must match ([`webhook_signature`] computes it) and the timestamp be within
//! [`DEFAULT_WEBHOOK_TOLERANCE_S`] of now either way. Unknown body fields are ignored; a key
//! twice is refused. The idempotency key is signed too: were it not, a captured request could
//! be replayed inside the window under another key and count as a second press.
//!
//! # Press ids
//!
//! - Flic: `flic:` + hex SHA-256 of the token's signed part (`header.payload`). Not of the
//!   whole token: an ECDSA signature can be altered into another valid one without the key,
//!   which would make a replay look like a new press.
//! - Generic with `Idempotency-Key`: `webhook:<device>:<key>`, [`VerifiedPress::windowed`]:
//!   senders reuse keys, so it identifies a press only for a while.
//! - Generic without: `webhook:` + hex SHA-256 of the signature header, so a replay inside
//!   the window is the same press.
//!
//! [`VerifiedPress::replayable_until_ms`] says how long a replay stays acceptable, which is
//! how long a ledger record must last to catch it.
//!
//! # Example
//!
//! ```
//! use clickrules_webhooks::{
//!     GenericConfig, SecretRef, StaticSecrets, WebhookConfig, authenticate, parse_request,
//!     webhook_signature,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let secret: SecretRef = "ssm:/clickrules/webhook-secret".parse()?;
//! let secrets = StaticSecrets::new().with(secret.clone(), "correct horse battery staple");
//! let config = WebhookConfig {
//!     generic: Some(GenericConfig::new(secret)),
//!     flic: None,
//! };
//!
//! let body = r#"{"device":"kitchen","click":"double"}"#;
//! let signature = webhook_signature(
//!     b"correct horse battery staple",
//!     "1767225600",
//!     None,
//!     body.as_bytes(),
//! );
//! let event = serde_json::json!({
//!     "version": "2.0",
//!     "rawPath": "/webhook",
//!     "headers": {
//!         "content-type": "application/json",
//!         "x-clickrules-timestamp": "1767225600",
//!         "x-clickrules-signature": signature,
//!     },
//!     "requestContext": {
//!         "http": { "method": "POST", "path": "/webhook" },
//!         "timeEpoch": 1767225600000u64,
//!     },
//!     "body": body,
//!     "isBase64Encoded": false,
//! });
//! let request = parse_request(event.to_string().as_bytes())?;
//! let press = authenticate(&request, &config, &secrets, 1_767_225_601_000).await?;
//! assert_eq!(press.click.serial_number, "kitchen");
//! assert_eq!(press.click.click_type.as_str(), "DOUBLE");
//! assert!(press.press_id.starts_with("webhook:"));
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod config;
mod error;
mod flic;
mod flic_key;
mod generic;
mod json;
mod press;
mod request;
mod response;
mod secrets;
mod static_secrets;

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;

pub use config::{
    DEFAULT_FLIC_MAX_SKEW_S, DEFAULT_WEBHOOK_TOLERANCE_S, FlicConfig, FlicKey, GenericConfig,
    WebhookConfig,
};
pub use error::{AuthFailure, WebhookError};
pub use flic::FLIC_CLICK_TYPES;
pub use flic_key::{
    FLIC_DOCS_URL, FLIC_KEY_FORMS, FLIC_PUBLISHED_KEY_PEM, FlicKeyError, FlicPublicKey,
};
pub use generic::{
    IDEMPOTENCY_HEADER, MAX_IDEMPOTENCY_KEY_BYTES, SIGNATURE_HEADER, TIMESTAMP_HEADER,
    WEBHOOK_CLICK_TYPES, webhook_signature,
};
pub use press::VerifiedPress;
pub use request::{is_function_url_event, parse_request};
pub use response::{MAX_MESSAGE_BYTES, response};
pub use secrets::{BadSecretRef, SECRET_REF_FORMS, SecretError, SecretRef, SecretStore};
pub use static_secrets::StaticSecrets;

/// The Flic source's name, in `click.source`, press ids and errors.
pub const FLIC: &str = "flic";
/// The generic webhook's name, in `click.source`, press ids and errors.
pub const WEBHOOK: &str = "webhook";
/// Largest body accepted, after base64 decoding. A press is a few hundred bytes; Flic's
/// token is under 1 KiB.
pub const MAX_BODY_BYTES: usize = 8 * 1024;

/// Checks a Function URL request and authenticates it as a press from the source its path
/// names (see the [crate docs](crate) for the order of checks). `now_ms` is the host's clock,
/// ms since the epoch: the press's `received_at_ms`, and what expiry and replay windows are
/// measured against. Secrets are read through `secrets` only once the request has passed
/// every check that needs none.
pub async fn authenticate<S: SecretStore>(
    request: &LambdaFunctionUrlRequest,
    config: &WebhookConfig,
    secrets: &S,
    now_ms: u64,
) -> Result<VerifiedPress, WebhookError> {
    let route = request::route(request)?;
    let disabled = |origin| WebhookError::SourceDisabled { origin };
    match route {
        request::Route::Flic if config.flic.is_none() => return Err(disabled(FLIC)),
        request::Route::Webhook if config.generic.is_none() => return Err(disabled(WEBHOOK)),
        _ => {}
    }
    request::check_method(request)?;
    request::check_content_type(&request.headers)?;
    let label = match route {
        request::Route::Flic => FLIC,
        request::Route::Webhook => WEBHOOK,
        request::Route::ByBody => "button",
    };
    let bytes = request::body(request, label)?;
    let body = request::json_object(&bytes, label)?;
    if request::origin_of(route, &body) == FLIC {
        let flic_config = config.flic.as_ref().ok_or(disabled(FLIC))?;
        let token = flic::token(&body)?;
        let key = flic_key(&flic_config.key, secrets).await?;
        flic::verify(token, &key, flic_config, now_ms)
    } else {
        let generic_config = config.generic.as_ref().ok_or(disabled(WEBHOOK))?;
        generic::verify(request, &bytes, &body, generic_config, secrets, now_ms).await
    }
}

/// The key to verify with. A key read from the store is parsed on each request (microseconds,
/// the store caches the text) so a rotation in the store takes effect without a restart.
async fn flic_key<S: SecretStore>(
    key: &FlicKey,
    secrets: &S,
) -> Result<FlicPublicKey, WebhookError> {
    match key {
        FlicKey::Published => Ok(FlicPublicKey::published()),
        FlicKey::Pinned(key) => Ok(key.clone()),
        FlicKey::Secret(reference) => {
            let text = secrets
                .fetch(reference)
                .await
                .map_err(|error| WebhookError::Secret {
                    origin: FLIC,
                    error,
                })?;
            FlicPublicKey::parse(&text).map_err(|e| WebhookError::Misconfigured {
                origin: FLIC,
                message: format!("the key in {reference}: {e}"),
            })
        }
    }
}
