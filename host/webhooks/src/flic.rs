//! Flic Cloud Buttons: a JSON body `{"token": "<JWT>"}` whose token Flic signed with ES256.
//!
//! Claims documented at [`crate::FLIC_DOCS_URL`] ("Webhook Request"): `exp` (NumericDate),
//! `buttonUuid`, `buttonSerialNumber`, `buttonBatteryStatus` (`unknown`, `low`, `medium`,
//! `high`), `pressedAt` (RFC 3339 with offset), `clickType` (`click`, `double_click`,
//! `hold`). Only the claims named here are read; the rest (the phone's geolocation when the
//! button's action is `CLOUD_LOCATION`, the button's name) are never copied anywhere.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clickrules_engine::{Click, ClickType};
use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::FLIC;
use crate::config::FlicConfig;
use crate::error::{AuthFailure, WebhookError, quote};
use crate::flic_key::FlicPublicKey;
use crate::press::{SERIAL_CHARS, VerifiedPress, is_valid_serial, ms};

/// Flic's documented `clickType` values, for error messages.
pub const FLIC_CLICK_TYPES: &str = "click, double_click, hold";

/// The only algorithm accepted. Checked before anything else in the token is trusted: `none`
/// would skip the signature, and `HS256` would let a forger MAC tokens with the public key
/// as the HMAC secret (algorithm confusion).
const ALG: &str = "ES256";
/// An ES256 JWS signature is r || s, 32 bytes each (RFC 7518 §3.4), not DER.
const SIGNATURE_BYTES: usize = 64;

/// The token from a Flic body. Other fields are ignored (Flic may add some); a token that is
/// not a string is a malformed request rather than an authentication failure.
pub(crate) fn token(body: &Map<String, Value>) -> Result<&str, WebhookError> {
    match body.get("token") {
        None | Some(Value::Null) => Err(WebhookError::MissingField {
            origin: FLIC,
            field: "token",
        }),
        Some(Value::String(token)) => Ok(token),
        Some(other) => Err(WebhookError::InvalidField {
            origin: FLIC,
            field: "token",
            value: crate::json::kind(other).into(),
            expected: "a string (a JWT)".into(),
        }),
    }
}

fn unauthorized(reason: AuthFailure) -> WebhookError {
    WebhookError::Unauthorized {
        origin: FLIC,
        reason,
    }
}

fn malformed(why: impl Into<String>) -> WebhookError {
    unauthorized(AuthFailure::MalformedToken { why: why.into() })
}

/// Verifies `token` and maps its claims to a press. Nothing in the payload is read before
/// the signature verifies.
pub(crate) fn verify(
    token: &str,
    key: &FlicPublicKey,
    config: &FlicConfig,
    now_ms: u64,
) -> Result<VerifiedPress, WebhookError> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed(
            "it is not three base64url parts joined by dots (a compact JWS)",
        ));
    };
    let header = decode_object(header_b64, "header")?;
    match header.get("alg") {
        Some(Value::String(alg)) if alg == ALG => {}
        Some(Value::String(alg)) => {
            return Err(unauthorized(AuthFailure::AlgorithmRefused {
                alg: quote(alg),
            }));
        }
        _ => return Err(malformed("the header has no alg")),
    }
    if header.contains_key("crit") {
        return Err(unauthorized(AuthFailure::CriticalHeader));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|e| malformed(format!("the signature is not base64url ({e})")))?;
    if signature.len() != SIGNATURE_BYTES {
        return Err(unauthorized(AuthFailure::BadSignatureLength {
            len: signature.len(),
        }));
    }
    let signed = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key.as_bytes())
        .verify(signed, &signature)
        .map_err(|_| {
            unauthorized(AuthFailure::BadSignature {
                key: key.fingerprint(),
            })
        })?;
    let claims = decode_object(payload_b64, "payload")?;
    let exp = check_times(&claims, config.max_skew_s, now_ms)?;
    let button_uuid = claim_str(&claims, "buttonUuid")?;
    if let Some(allowed) = &config.allowed_buttons
        && !allowed.contains(button_uuid)
    {
        return Err(unauthorized(AuthFailure::UnknownButton {
            button_uuid: quote(button_uuid),
        }));
    }
    let serial = device(&claims, button_uuid)?;
    let click_type = click_type(claim_str(&claims, "clickType")?)?;
    // The signed part, not the whole token: ECDSA signatures are malleable ((r, n - s)
    // verifies too), so anyone holding a token can mint a second valid token for the same
    // press; hashing what Flic signed makes both the same press.
    let press_id = format!("flic:{}", hex::encode(Sha256::digest(signed)));
    Ok(VerifiedPress {
        click: Click {
            source: FLIC.into(),
            press_id: press_id.clone(),
            ..Click::new(serial, click_type, None, now_ms)
        },
        press_id,
        windowed: false,
        source: FLIC,
        replayable_until_ms: ms(exp.saturating_add(config.max_skew_s)),
    })
}

/// A base64url part of the token as a JSON object with no key twice. Padding is refused (JWS
/// uses none) and so are non-canonical trailing bits, so each part has one spelling.
fn decode_object(part: &str, name: &str) -> Result<Map<String, Value>, WebhookError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| malformed(format!("the {name} is not base64url ({e})")))?;
    match crate::json::parse(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(malformed(format!(
            "the {name} is {}, not a JSON object",
            crate::json::kind(&other)
        ))),
        Err(e) => Err(malformed(format!("the {name} is not JSON ({e})"))),
    }
}

/// Checks `exp` (required: a token without one could be replayed forever) and `nbf` (if
/// present) against `now_ms` with `skew_s` either way. Returns `exp`, whole seconds.
fn check_times(claims: &Map<String, Value>, skew_s: u64, now_ms: u64) -> Result<u64, WebhookError> {
    let now_s = now_ms / 1000;
    let exp = match claims.get("exp") {
        Some(value) => {
            numeric_date(value).ok_or_else(|| unauthorized(AuthFailure::MissingExpiry))?
        }
        None => return Err(unauthorized(AuthFailure::MissingExpiry)),
    };
    // RFC 7519 §4.1.4: valid only before exp; compared in ms so the last second counts.
    if now_ms >= ms(exp.saturating_add(skew_s)) {
        return Err(unauthorized(AuthFailure::Expired { exp, now_s, skew_s }));
    }
    if let Some(value) = claims.get("nbf") {
        let nbf = numeric_date(value).ok_or_else(|| malformed("nbf is not a NumericDate"))?;
        if now_s.saturating_add(skew_s) < nbf {
            return Err(unauthorized(AuthFailure::NotYetValid {
                nbf,
                now_s,
                skew_s,
            }));
        }
    }
    Ok(exp)
}

/// A NumericDate (RFC 7519 §2): seconds since the epoch, possibly fractional; truncated to
/// whole seconds. Negative and non-finite values are refused.
fn numeric_date(value: &Value) -> Option<u64> {
    if let Some(whole) = value.as_u64() {
        return Some(whole);
    }
    let seconds = value.as_f64()?;
    // `as` saturates at u64::MAX for values too large, which only makes exp later.
    (seconds.is_finite() && seconds >= 0.0).then_some(seconds as u64)
}

/// A required string claim of an authentic token. Flic signed it, so a problem here is a
/// bad request (400), not an authentication failure.
fn claim_str<'a>(
    claims: &'a Map<String, Value>,
    name: &'static str,
) -> Result<&'a str, WebhookError> {
    match claims.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        None | Some(Value::Null) => Err(WebhookError::MissingField {
            origin: FLIC,
            field: name,
        }),
        Some(other) => Err(WebhookError::InvalidField {
            origin: FLIC,
            field: name,
            value: other
                .as_str()
                .map(quote)
                .unwrap_or_else(|| crate::json::kind(other).into()),
            expected: "a non-empty string".into(),
        }),
    }
}

/// The device id: `buttonSerialNumber` (printed on the button and shown in the Flic app,
/// so the id people write rules against), else `buttonUuid` when the serial is absent or
/// breaks the engine's serial rules. A button's serial does not change, so one button always
/// gets the same id.
fn device(claims: &Map<String, Value>, button_uuid: &str) -> Result<String, WebhookError> {
    if let Some(Value::String(serial)) = claims.get("buttonSerialNumber")
        && is_valid_serial(serial)
    {
        return Ok(serial.clone());
    }
    if is_valid_serial(button_uuid) {
        return Ok(button_uuid.to_string());
    }
    Err(WebhookError::InvalidField {
        origin: FLIC,
        field: "buttonUuid",
        value: quote(button_uuid),
        expected: SERIAL_CHARS.into(),
    })
}

/// Flic's documented `clickType` values; anything else is refused naming them, so a new
/// gesture is noticed rather than guessed at.
fn click_type(raw: &str) -> Result<ClickType, WebhookError> {
    match raw {
        "click" => Ok(ClickType::Single),
        "double_click" => Ok(ClickType::Double),
        "hold" => Ok(ClickType::Long),
        other => Err(WebhookError::UnsupportedClick {
            origin: FLIC,
            value: quote(other),
            accepted: FLIC_CLICK_TYPES,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numeric_dates_are_whole_non_negative_seconds() {
        assert_eq!(numeric_date(&json!(1721214346)), Some(1721214346));
        assert_eq!(numeric_date(&json!(1721214346.9)), Some(1721214346));
        assert_eq!(numeric_date(&json!(-1)), None);
        assert_eq!(numeric_date(&json!(-0.5)), None);
        assert_eq!(numeric_date(&json!("1721214346")), None);
        assert_eq!(numeric_date(&json!(1e300)), Some(u64::MAX));
    }

    #[test]
    fn documented_click_types_map_and_others_name_them() {
        assert_eq!(click_type("click"), Ok(ClickType::Single));
        assert_eq!(click_type("double_click"), Ok(ClickType::Double));
        assert_eq!(click_type("hold"), Ok(ClickType::Long));
        let err = click_type("triple_click").unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(err.to_string().contains(FLIC_CLICK_TYPES), "{err}");
        assert!(click_type("CLICK").is_err());
    }

    #[test]
    fn the_device_is_the_serial_number_else_the_uuid() {
        let claims = |v: Value| v.as_object().cloned().unwrap();
        let uuid = "336c33540c134a929824e41c0bd3c377";
        assert_eq!(
            device(&claims(json!({"buttonSerialNumber": "BC44-B06243"})), uuid).unwrap(),
            "BC44-B06243"
        );
        assert_eq!(device(&claims(json!({})), uuid).unwrap(), uuid);
        assert_eq!(
            device(&claims(json!({"buttonSerialNumber": "bad\u{7}"})), uuid).unwrap(),
            uuid
        );
        assert_eq!(
            device(&claims(json!({"buttonSerialNumber": 5})), uuid).unwrap(),
            uuid
        );
        assert!(matches!(
            device(&claims(json!({})), "bad\nuuid"),
            Err(WebhookError::InvalidField {
                field: "buttonUuid",
                ..
            })
        ));
    }
}
