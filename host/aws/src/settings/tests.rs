//! Settings from variables: defaults, every variable read, wrong values named.

use super::*;
use crate::location::S3Uri;

// The public keys of RFC 8032 test vectors 1 and 2.
const KEY_A: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
const KEY_B: &str = "PUAXw+hDiVqStwqnTRt+vJyYLM8uxJaMwM1V8Sr0Zgw=";

fn settings(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    Settings::from_env(vars.iter().map(|(k, v)| (*k, *v)))
}

fn invalid_variable(vars: &[(&str, &str)]) -> String {
    match settings(vars) {
        Err(SettingsError::Invalid { variable, .. }) => variable,
        other => panic!("expected an invalid setting, got {other:?}"),
    }
}

#[test]
fn defaults_reproduce_the_original_lambda() {
    let s = settings(&[("PATH", "/bin"), ("AWS_REGION", "us-east-1")]).unwrap();
    assert_eq!(s.guest, GuestLocation::Builtin);
    assert_eq!(s.snapshot, SnapshotTarget::default());
    assert_eq!(s.snapshot.function, "scheduled_snapshot");
    assert_eq!(s.snapshot.qualifier.as_deref(), Some("prod"));
    assert_eq!(s.snapshot.invocation_type, InvocationType::RequestResponse);
    assert_eq!(s.notify_topic_arn, None);
    assert_eq!(s.allowed_regions, None);
    assert!(!s.allow_unlisted_regions);
    assert_eq!(s.limits, Limits::default());
    assert_eq!(s.on_guest_error, OnGuestError::Fail);
    assert_eq!(s.artifacts, None);
    assert!(s.guest_settings.is_empty());
    assert!(s.unknown_variables.is_empty());
}

#[test]
fn every_setting_is_read() {
    let s = settings(&[
        (GUEST, "s3://guests/by-click.wasm"),
        (SNAPSHOT_FUNCTION, "backup"),
        (SNAPSHOT_QUALIFIER, ""),
        (INVOCATION_TYPE, "Event"),
        (
            NOTIFY_TOPIC_ARN,
            "arn:aws:sns:us-east-1:123456789012:presses",
        ),
        (ALLOWED_REGIONS, "us-west-1, eu-west-1"),
        (TIMEOUT_MS, "250"),
        (MEMORY_MB, "16"),
        (FUEL, "1000000"),
        (ON_GUEST_ERROR, "builtin"),
        (TRUSTED_KEYS, &format!("{KEY_A},{KEY_B}")),
        (REQUIRE_SIGNED, "true"),
        ("CLICKRULES_CONFIG_SECOND_REGION", "eu-west-1"),
        ("CLICKRULES_CONFIG_REGION", "us-west-2"),
        ("CLICKRULES_SNAPSHOT_FUNCTON", "typo"),
    ])
    .unwrap();
    assert_eq!(
        s.guest,
        GuestLocation::S3(S3Uri {
            bucket: "guests".into(),
            key: "by-click.wasm".into()
        })
    );
    assert_eq!(s.snapshot.function, "backup");
    assert_eq!(s.snapshot.qualifier, None);
    assert_eq!(s.snapshot.invocation_type, InvocationType::Event);
    assert_eq!(
        s.notify_topic_arn.as_deref(),
        Some("arn:aws:sns:us-east-1:123456789012:presses")
    );
    assert_eq!(
        s.allowed_regions,
        Some(vec!["us-west-1".to_string(), "eu-west-1".to_string()])
    );
    assert_eq!(s.limits.timeout, Duration::from_millis(250));
    assert_eq!(s.limits.memory_bytes, 16 << 20);
    assert_eq!(s.limits.fuel, 1_000_000);
    assert_eq!(s.on_guest_error, OnGuestError::Builtin);
    let artifacts = s.artifacts.as_ref().unwrap();
    assert!(artifacts.require);
    let keys: Vec<String> = artifacts
        .trusted
        .keys()
        .iter()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(keys, [KEY_A, KEY_B]);
    assert_eq!(s.guest_settings["second_region"], "eu-west-1");
    assert_eq!(s.guest_settings["region"], "us-west-2");
    assert_eq!(s.unknown_variables, ["CLICKRULES_SNAPSHOT_FUNCTON"]);
    let config = s.engine_config();
    assert_eq!(config.settings, s.guest_settings);
    assert_eq!(config.allowed_regions, s.allowed_regions);
}

#[test]
fn wrong_values_name_the_variable() {
    for (var, value) in [
        (GUEST, "s3://bucket-without-key"),
        (SNAPSHOT_FUNCTION, " "),
        (INVOCATION_TYPE, "DryRun"),
        (ON_GUEST_ERROR, "retry"),
        (ALLOWED_REGIONS, "us-west-1,moon-1"),
        (ALLOWED_REGIONS, "us-west-1,mars-north-9"),
        (ALLOW_UNLISTED_REGIONS, "maybe"),
        (TIMEOUT_MS, "0"),
        (TIMEOUT_MS, "1s"),
        (MEMORY_MB, "5000"),
        (FUEL, "-1"),
        (TRUSTED_KEYS, "not-a-key"),
        (REQUIRE_SIGNED, "yes"),
        // Requiring signatures with no key to check them against would refuse every guest.
        (REQUIRE_SIGNED, "true"),
        ("CLICKRULES_CONFIG_", "x"),
    ] {
        assert_eq!(invalid_variable(&[(var, value)]), var, "{var}={value}");
    }
}

#[test]
fn the_message_lists_accepted_values() {
    let e = settings(&[(INVOCATION_TYPE, "DryRun")]).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains(INVOCATION_TYPE) && text.contains("RequestResponse"),
        "{text}"
    );
}

#[cfg(unix)]
#[test]
fn non_unicode_values_are_an_error() {
    use std::os::unix::ffi::OsStringExt;
    let bad = OsString::from_vec(vec![0xff, 0xfe]);
    let result = Settings::from_env([(OsString::from(GUEST), bad)]);
    assert!(
        matches!(result, Err(SettingsError::NotUnicode { ref variable }) if variable == GUEST),
        "{result:?}"
    );
}

#[test]
fn the_time_zone_is_an_iana_name() {
    let s = settings(&[("CLICKRULES_TIMEZONE", "Europe/Berlin")]).unwrap();
    let zone = s.timezone.unwrap();
    assert_eq!(zone.name(), "Europe/Berlin");
    // 2026-07-15 12:00 UTC: summer time.
    assert_eq!(zone.offset_minutes(1_784_116_800_000), 120);
    assert!(settings(&[]).unwrap().timezone.is_none());
    assert_eq!(
        invalid_variable(&[("CLICKRULES_TIMEZONE", "Berlin")]),
        "CLICKRULES_TIMEZONE"
    );
}
