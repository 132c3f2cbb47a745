//! Flic Cloud Buttons: ES256 tokens verified, every way a token can be wrong refused.

mod common;

use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clickrules_engine::ClickType;
use clickrules_webhooks::{
    AuthFailure, FLIC_CLICK_TYPES, FLIC_PUBLISHED_KEY_PEM, FlicConfig, FlicKey, SecretRef,
    StaticSecrets, WebhookConfig, WebhookError, authenticate,
};
use common::*;
use ring::hmac;
use serde_json::{Value, json};

#[tokio::test]
async fn a_good_token_is_a_press() {
    let key = TestKey::generate();
    let press = auth(
        &flic_event(&key.token(&claims())),
        &flic_config(&key),
        NOW_MS,
    )
    .await
    .unwrap();
    assert_eq!(press.source, "flic");
    assert_eq!(press.click.source, "flic");
    assert_eq!(press.click.serial_number, BUTTON_SERIAL);
    assert_eq!(press.click.click_type, ClickType::Single);
    assert_eq!(
        press.click.battery_mv, None,
        "battery status is a word, not mV"
    );
    assert_eq!(press.click.battery_pct, None);
    assert_eq!(press.click.received_at_ms, NOW_MS);
    assert_eq!(press.click.press_id, press.press_id);
    assert!(press.press_id.starts_with("flic:"));
    assert_eq!(press.press_id.len(), "flic:".len() + 64);
    assert!(!press.windowed);
    assert_eq!(press.replayable_until_ms, (NOW_S + 3600 + 30) * 1000);
}

#[tokio::test]
async fn documented_click_types_map_to_single_double_long() {
    let key = TestKey::generate();
    for (flic, ours) in [
        ("click", ClickType::Single),
        ("double_click", ClickType::Double),
        ("hold", ClickType::Long),
    ] {
        let mut c = claims();
        c["clickType"] = flic.into();
        let press = auth(&flic_event(&key.token(&c)), &flic_config(&key), NOW_MS)
            .await
            .unwrap();
        assert_eq!(press.click.click_type, ours, "{flic}");
    }
}

#[tokio::test]
async fn an_undocumented_click_type_names_the_accepted_ones() {
    let key = TestKey::generate();
    let mut c = claims();
    c["clickType"] = "triple_click".into();
    let err = auth(&flic_event(&key.token(&c)), &flic_config(&key), NOW_MS)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, WebhookError::UnsupportedClick { origin: "flic", .. }),
        "{err:?}"
    );
    assert_eq!(err.status(), 400);
    let text = err.to_string();
    assert!(
        text.contains("triple_click") && text.contains(FLIC_CLICK_TYPES),
        "{text}"
    );
}

#[tokio::test]
async fn expiry_is_checked_with_bounded_skew() {
    let key = TestKey::generate();
    let config = flic_config(&key);
    let mut c = claims();
    c["exp"] = NOW_S.into();
    let token = key.token(&c);
    // Within the 30 s skew: accepted up to the last millisecond before exp + 30 s.
    for now in [NOW_MS - 1000, NOW_MS, NOW_MS + 29_999] {
        assert!(
            auth(&flic_event(&token), &config, now).await.is_ok(),
            "{now}"
        );
    }
    // Beyond it.
    for now in [NOW_MS + 30_000, NOW_MS + 3_600_000] {
        assert!(
            matches!(
                auth_reason(auth(&flic_event(&token), &config, now).await),
                AuthFailure::Expired { exp, skew_s: 30, .. } if exp == NOW_S
            ),
            "{now}"
        );
    }
}

#[tokio::test]
async fn the_skew_is_configurable() {
    let key = TestKey::generate();
    let mut config = flic_config(&key);
    config.flic.as_mut().unwrap().max_skew_s = 0;
    let mut c = claims();
    c["exp"] = NOW_S.into();
    let token = key.token(&c);
    assert!(auth(&flic_event(&token), &config, NOW_MS - 1).await.is_ok());
    assert!(matches!(
        auth_reason(auth(&flic_event(&token), &config, NOW_MS).await),
        AuthFailure::Expired { .. }
    ));
    // A huge skew saturates instead of wrapping round into "expired long ago".
    config.flic.as_mut().unwrap().max_skew_s = u64::MAX;
    let far_future = NOW_MS + 1_000_000_000_000;
    assert!(auth(&flic_event(&token), &config, far_future).await.is_ok());
}

#[tokio::test]
async fn a_token_without_a_usable_exp_is_refused() {
    let key = TestKey::generate();
    let config = flic_config(&key);
    for exp in [
        None,
        Some(json!("2100-01-01")),
        Some(json!(-5)),
        Some(Value::Null),
    ] {
        let mut c = claims();
        match &exp {
            None => {
                c.as_object_mut().unwrap().remove("exp");
            }
            Some(v) => c["exp"] = v.clone(),
        }
        assert_eq!(
            auth_reason(auth(&flic_event(&key.token(&c)), &config, NOW_MS).await),
            AuthFailure::MissingExpiry,
            "{exp:?}"
        );
    }
}

#[tokio::test]
async fn nbf_is_honoured_when_present() {
    let key = TestKey::generate();
    let config = flic_config(&key);
    let mut c = claims();
    c["nbf"] = (NOW_S + 31).into();
    assert!(matches!(
        auth_reason(auth(&flic_event(&key.token(&c)), &config, NOW_MS).await),
        AuthFailure::NotYetValid { .. }
    ));
    c["nbf"] = (NOW_S + 30).into();
    assert!(
        auth(&flic_event(&key.token(&c)), &config, NOW_MS)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_token_signed_by_another_key_is_refused() {
    let flic = TestKey::generate();
    let forger = TestKey::generate();
    let token = forger.token(&claims());
    assert!(matches!(
        auth_reason(auth(&flic_event(&token), &flic_config(&flic), NOW_MS).await),
        AuthFailure::BadSignature { .. }
    ));
}

#[tokio::test]
async fn the_published_key_is_the_default_and_refuses_other_keys() {
    let key = TestKey::generate();
    let config = WebhookConfig {
        flic: Some(FlicConfig::default()),
        generic: None,
    };
    assert_eq!(config.flic.as_ref().unwrap().key, FlicKey::Published);
    let reason = auth_reason(auth(&flic_event(&key.token(&claims())), &config, NOW_MS).await);
    let AuthFailure::BadSignature { key: fingerprint } = reason else {
        panic!("{reason:?}");
    };
    assert_eq!(
        fingerprint,
        clickrules_webhooks::FlicPublicKey::published().fingerprint()
    );
}

#[tokio::test]
async fn alg_none_is_refused() {
    let key = TestKey::generate();
    let unsigned = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&claims()));
    assert!(matches!(
        auth_reason(auth(&flic_event(&unsigned), &flic_config(&key), NOW_MS).await),
        AuthFailure::AlgorithmRefused { alg } if alg == "\"none\""
    ));
    // Even with a valid-looking signature attached.
    let signed = key.sign(&json!({"alg": "none"}), &claims());
    assert!(matches!(
        auth_reason(auth(&flic_event(&signed), &flic_config(&key), NOW_MS).await),
        AuthFailure::AlgorithmRefused { .. }
    ));
}

/// Algorithm confusion: a verifier that lets the header pick the algorithm would check an
/// HS256 token's MAC using the "key" it has, the public key, which the forger also has.
#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let key = TestKey::generate();
    let config = flic_config(&key);
    let pem_text = {
        let der = [
            &[
                0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
                0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
            ][..],
            key.public_point(),
        ]
        .concat();
        base64::engine::general_purpose::STANDARD.encode(der)
    };
    for mac_key in [
        key.public_point().to_vec(),
        pem_text.into_bytes(),
        FLIC_PUBLISHED_KEY_PEM.as_bytes().to_vec(),
    ] {
        let input = format!(
            "{}.{}",
            b64(&json!({"alg": "HS256", "typ": "JWT"})),
            b64(&claims())
        );
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &mac_key),
            input.as_bytes(),
        );
        let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
        assert!(matches!(
            auth_reason(auth(&flic_event(&token), &config, NOW_MS).await),
            AuthFailure::AlgorithmRefused { alg } if alg == "\"HS256\""
        ));
    }
}

#[tokio::test]
async fn other_algorithm_spellings_and_headers_are_refused() {
    let key = TestKey::generate();
    let config = flic_config(&key);
    for header in [
        json!({"alg": "es256"}),
        json!({"alg": "ES384"}),
        json!({"alg": "RS256"}),
        json!({"alg": "ES256 "}),
    ] {
        let token = key.sign(&header, &claims());
        assert!(
            matches!(
                auth_reason(auth(&flic_event(&token), &config, NOW_MS).await),
                AuthFailure::AlgorithmRefused { .. }
            ),
            "{header}"
        );
    }
    for header in [json!({"typ": "JWT"}), json!({"alg": 256})] {
        let token = key.sign(&header, &claims());
        assert!(
            matches!(
                auth_reason(auth(&flic_event(&token), &config, NOW_MS).await),
                AuthFailure::MalformedToken { .. }
            ),
            "{header}"
        );
    }
    let token = key.sign(&json!({"alg": "ES256", "crit": ["exp"]}), &claims());
    assert_eq!(
        auth_reason(auth(&flic_event(&token), &config, NOW_MS).await),
        AuthFailure::CriticalHeader
    );
}

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    let key = TestKey::generate();
    let token = key.token(&claims());
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let mut changed = claims();
    changed["clickType"] = "hold".into();
    parts[1] = b64(&changed);
    let tampered = parts.join(".");
    assert!(matches!(
        auth_reason(auth(&flic_event(&tampered), &flic_config(&key), NOW_MS).await),
        AuthFailure::BadSignature { .. }
    ));
    // One flipped bit of the signature.
    let mut signature = URL_SAFE_NO_PAD
        .decode(token.rsplit('.').next().unwrap())
        .unwrap();
    signature[10] ^= 1;
    let (signed, _) = token.rsplit_once('.').unwrap();
    let flipped = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature));
    assert!(matches!(
        auth_reason(auth(&flic_event(&flipped), &flic_config(&key), NOW_MS).await),
        AuthFailure::BadSignature { .. }
    ));
}

#[tokio::test]
async fn a_signature_of_the_wrong_length_is_refused() {
    let key = TestKey::generate();
    let token = key.token(&claims());
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    // A DER-encoded ECDSA signature (what some libraries emit) is 70-72 bytes.
    let der_like = [
        &[0x30, 0x44, 0x02, 0x20][..],
        &signature[..32],
        &[0x02, 0x20],
        &signature[32..],
    ]
    .concat();
    for (bad, len) in [
        (signature[..63].to_vec(), 63),
        ([signature.clone(), vec![0]].concat(), 65),
        (der_like, 70),
        (Vec::new(), 0),
    ] {
        let token = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(&bad));
        assert_eq!(
            auth_reason(auth(&flic_event(&token), &flic_config(&key), NOW_MS).await),
            AuthFailure::BadSignatureLength { len },
        );
    }
}

#[tokio::test]
async fn malformed_tokens_are_refused() {
    let key = TestKey::generate();
    let config = flic_config(&key);
    let good = key.token(&claims());
    let (header, rest) = good.split_once('.').unwrap();
    let padded_header = format!("{}=.{rest}", header);
    let duplicate_header = format!(
        "{}.{rest}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","alg":"none"}"#)
    );
    let array_header = format!("{}.{rest}", URL_SAFE_NO_PAD.encode("[1]"));
    for token in [
        "".to_string(),
        "abc".to_string(),
        "a.b".to_string(),
        format!("{good}.extra"),
        "!!!.###.$$$".to_string(),
        padded_header,
        duplicate_header,
        array_header,
        format!("{}.{rest}", URL_SAFE_NO_PAD.encode("not json")),
    ] {
        assert!(
            matches!(
                auth_reason(auth(&flic_event(&token), &config, NOW_MS).await),
                AuthFailure::MalformedToken { .. }
            ),
            "{token}"
        );
    }
    // A signature that is not base64url.
    let (signed, _) = good.rsplit_once('.').unwrap();
    assert!(matches!(
        auth_reason(auth(&flic_event(&format!("{signed}.***")), &config, NOW_MS).await),
        AuthFailure::MalformedToken { .. }
    ));
    // A payload that verifies but is not a JSON object (signed, so only Flic could send it).
    let token = key.sign(&json!({"alg": "ES256"}), &json!([1, 2]));
    assert!(matches!(
        auth_reason(auth(&flic_event(&token), &config, NOW_MS).await),
        AuthFailure::MalformedToken { .. }
    ));
}

#[tokio::test]
async fn an_unknown_button_is_refused_only_when_an_allow_list_is_set() {
    let key = TestKey::generate();
    let mut c = claims();
    c["buttonUuid"] = "someone-elses-button".into();
    let token = key.token(&c);
    assert!(matches!(
        auth_reason(auth(&flic_event(&token), &flic_config(&key), NOW_MS).await),
        AuthFailure::UnknownButton { button_uuid } if button_uuid.contains("someone-elses-button")
    ));
    let mut empty = flic_config(&key);
    empty.flic.as_mut().unwrap().allowed_buttons = Some(HashSet::new());
    assert!(
        auth(&flic_event(&key.token(&claims())), &empty, NOW_MS)
            .await
            .unwrap_err()
            .is_auth_failure()
    );
    let mut open = flic_config(&key);
    open.flic.as_mut().unwrap().allowed_buttons = None;
    assert!(auth(&flic_event(&token), &open, NOW_MS).await.is_ok());
}

#[tokio::test]
async fn the_allow_list_is_checked_before_other_claims_are_read() {
    let key = TestKey::generate();
    let mut c = claims();
    c["buttonUuid"] = "someone-elses-button".into();
    c["clickType"] = "wiggle".into();
    // Another customer's token learns nothing about what this deployment accepts.
    assert!(
        auth(&flic_event(&key.token(&c)), &flic_config(&key), NOW_MS)
            .await
            .unwrap_err()
            .is_auth_failure()
    );
}

#[tokio::test]
async fn the_same_token_is_the_same_press() {
    let key = TestKey::generate();
    let config = flic_config(&key);
    let token = key.token(&claims());
    let first = auth(&flic_event(&token), &config, NOW_MS).await.unwrap();
    let again = auth(&flic_event(&token), &config, NOW_MS + 5000)
        .await
        .unwrap();
    assert_eq!(first.press_id, again.press_id);
    // Another press (another pressedAt) is another id.
    let mut c = claims();
    c["pressedAt"] = "2026-01-01T01:00:09+01:00".into();
    let other = auth(&flic_event(&key.token(&c)), &config, NOW_MS)
        .await
        .unwrap();
    assert_ne!(first.press_id, other.press_id);
    // Signing the same claims again (a fresh random nonce) is still the same press.
    let resigned = auth(&flic_event(&key.token(&claims())), &config, NOW_MS)
        .await
        .unwrap();
    assert_eq!(first.press_id, resigned.press_id);
}

/// P-256's group order n, big-endian.
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// n - s, big-endian.
fn negate_s(s: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(P256_ORDER[i]) - i16::from(s[i]) - borrow;
        borrow = 0;
        if d < 0 {
            d += 256;
            borrow = 1;
        }
        out[i] = d as u8;
    }
    out
}

/// (r, n - s) verifies as well as (r, s): anyone holding a token can make a second valid
/// one. It must be the same press, or a replay would count twice.
#[tokio::test]
async fn a_malleated_signature_is_the_same_press() {
    let key = TestKey::generate();
    let config = flic_config(&key);
    let token = key.token(&claims());
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let malleated = [&signature[..32], &negate_s(&signature[32..])[..]].concat();
    assert_ne!(malleated, signature);
    let other_token = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(malleated));
    let first = auth(&flic_event(&token), &config, NOW_MS).await.unwrap();
    let second = auth(&flic_event(&other_token), &config, NOW_MS)
        .await
        .unwrap();
    assert_eq!(first.press_id, second.press_id);
}

#[tokio::test]
async fn the_device_falls_back_to_the_uuid() {
    let key = TestKey::generate();
    let config = flic_config(&key);
    let mut c = claims();
    c.as_object_mut().unwrap().remove("buttonSerialNumber");
    let press = auth(&flic_event(&key.token(&c)), &config, NOW_MS)
        .await
        .unwrap();
    assert_eq!(press.click.serial_number, BUTTON_UUID);
    c["buttonSerialNumber"] = "\u{1b}[2J".into();
    let press = auth(&flic_event(&key.token(&c)), &config, NOW_MS)
        .await
        .unwrap();
    assert_eq!(press.click.serial_number, BUTTON_UUID);
}

#[tokio::test]
async fn missing_claims_of_an_authentic_token_are_bad_requests() {
    let key = TestKey::generate();
    let mut config = flic_config(&key);
    config.flic.as_mut().unwrap().allowed_buttons = None;
    for (claim, value) in [
        ("buttonUuid", None),
        ("buttonUuid", Some(json!(7))),
        ("buttonUuid", Some(json!(""))),
        ("clickType", None),
        ("clickType", Some(json!(["click"]))),
    ] {
        let mut c = claims();
        match value {
            None => {
                c.as_object_mut().unwrap().remove(claim);
            }
            Some(v) => c[claim] = v,
        }
        let err = auth(&flic_event(&key.token(&c)), &config, NOW_MS)
            .await
            .unwrap_err();
        assert_eq!(err.status(), 400, "{claim}: {err}");
        assert!(err.to_string().contains(claim), "{err}");
    }
}

#[tokio::test]
async fn location_and_other_claims_are_never_copied() {
    let key = TestKey::generate();
    let mut c = claims();
    c["location"] = json!({"latitude": 59.3293, "longitude": 18.0686});
    c["geolocation"] = json!("59.3293,18.0686");
    let press = auth(&flic_event(&key.token(&c)), &flic_config(&key), NOW_MS)
        .await
        .unwrap();
    let everything = format!("{press:?} {}", serde_json::to_string(&press.click).unwrap());
    assert!(
        !everything.contains("59.3293") && !everything.contains("Kitchen"),
        "{everything}"
    );
}

#[tokio::test]
async fn the_body_must_hold_a_token_string() {
    let key = TestKey::generate();
    let config = flic_config(&key);
    for (body, field) in [
        (r#"{}"#, "token"),
        (r#"{"token":null}"#, "token"),
        (r#"{"token":5}"#, "token"),
    ] {
        let request = event("/flic", "POST", json_headers(), Some(body), false);
        let err = auth(&request, &config, NOW_MS).await.unwrap_err();
        assert_eq!(err.status(), 400, "{body}");
        assert!(err.to_string().contains(field));
    }
    let token = key.token(&claims());
    let twice = format!(r#"{{"token":"{token}","token":"x"}}"#);
    let request = event("/flic", "POST", json_headers(), Some(&twice), false);
    assert!(matches!(
        auth(&request, &config, NOW_MS).await,
        Err(WebhookError::BadJson { origin: "flic", .. })
    ));
    // Extra fields Flic may add are ignored.
    let extra = json!({"token": token, "version": 2}).to_string();
    let request = event("/flic", "POST", json_headers(), Some(&extra), false);
    assert!(auth(&request, &config, NOW_MS).await.is_ok());
}

#[tokio::test]
async fn a_key_can_come_from_the_secret_store() {
    let key = TestKey::generate();
    let reference = SecretRef::SecretsManager("clickrules-flic-key".into());
    let pem = {
        let der = [
            &[
                0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
                0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
            ][..],
            key.public_point(),
        ]
        .concat();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(der)
        )
    };
    let mut config = flic_config(&key);
    config.flic.as_mut().unwrap().key = FlicKey::Secret(reference.clone());
    let token = key.token(&claims());
    let store = StaticSecrets::new().with(reference.clone(), pem);
    assert!(
        authenticate(&flic_event(&token), &config, &store, NOW_MS)
            .await
            .is_ok()
    );

    let raw = StaticSecrets::new().with(
        reference.clone(),
        base64::engine::general_purpose::STANDARD.encode(key.public_point()),
    );
    assert!(
        authenticate(&flic_event(&token), &config, &raw, NOW_MS)
            .await
            .is_ok()
    );

    let missing = authenticate(&flic_event(&token), &config, &StaticSecrets::new(), NOW_MS)
        .await
        .unwrap_err();
    assert_eq!(
        (missing.status(), missing.kind()),
        (500, "secret_unavailable")
    );

    let junk = StaticSecrets::new().with(reference, "not a key");
    let err = authenticate(&flic_event(&token), &config, &junk, NOW_MS)
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.kind()), (500, "misconfigured"));
    assert!(!err.public_message().contains("clickrules-flic-key"));
}
