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

#[test]
fn sources_default_to_every_event_source_with_limits_on() {
    let s = settings(&[]).unwrap();
    assert_eq!(s.sources.entry, Entry::Events);
    assert_eq!(
        s.sources.policy.sources.accept,
        clickrules_engine::EventFormat::MQTT.to_vec()
    );
    assert_eq!(s.sources.policy.rate_limit_per_minute, 30);
    assert_eq!(s.sources.policy.dedupe_window_ms, 60_000);
    assert_eq!(
        s.sources.policy.sources.zigbee2mqtt_base_topic,
        "zigbee2mqtt"
    );
    assert!(s.sources.policy.devices.is_empty());
}

#[test]
fn source_settings_are_read() {
    use clickrules_engine::EventFormat;
    let s = settings(&[
        (SOURCES, "shelly-gen1, zigbee2mqtt"),
        (Z2M_BASE_TOPIC, "home/z2m"),
        (RATE_LIMIT_PER_MINUTE, "0"),
        (DEDUPE_WINDOW_SECONDS, "120"),
        (
            ALLOWED_DEVICES,
            "zigbee2mqtt:hall switch,shelly-gen1:shellyix3-A1",
        ),
    ])
    .unwrap();
    let policy = &s.sources.policy;
    assert_eq!(
        policy.sources.accept,
        [EventFormat::ShellyGen1, EventFormat::Zigbee2Mqtt]
    );
    assert_eq!(policy.sources.zigbee2mqtt_base_topic, "home/z2m");
    assert_eq!(policy.rate_limit_per_minute, 0);
    assert_eq!(policy.dedupe_window_ms, 120_000);
    assert!(
        policy
            .devices
            .allows(EventFormat::Zigbee2Mqtt, "hall switch")
    );
    assert!(!policy.devices.allows(EventFormat::Zigbee2Mqtt, "garage"));

    let hook = settings(&[
        (ENTRY, "webhook"),
        (SOURCES, "webhook,flic"),
        (WEBHOOK_SECRET, "ssm:/clickrules/webhook-secret"),
        (FLIC_BUTTONS, "0f6e-1, 0f6e-2"),
        (
            FLIC_PUBLIC_KEY,
            "arn:aws:secretsmanager:us-west-1:123456789012:secret:flic-key-AbC123",
        ),
        (WEBHOOK_TOLERANCE_SECONDS, "60"),
    ])
    .unwrap();
    assert_eq!(hook.sources.entry, Entry::Webhook);
    assert_eq!(hook.sources.webhook.flic_buttons.len(), 2);
    assert!(hook.sources.webhook.secret.is_some());
    assert!(hook.sources.webhook.flic_key.is_some());
    assert_eq!(hook.sources.webhook.tolerance_seconds, 60);
}

#[test]
fn a_webhook_source_without_what_verifies_it_fails_naming_the_variable() {
    let missing = |vars: &[(&str, &str)]| match settings(vars) {
        Err(SettingsError::Missing { variable, .. }) => variable,
        other => panic!("expected a missing setting, got {other:?}"),
    };
    // Any Flic customer can mint tokens: Flic without an allow-list is refused.
    assert_eq!(
        missing(&[(ENTRY, "webhook"), (SOURCES, "flic")]),
        FLIC_BUTTONS
    );
    assert_eq!(missing(&[(ENTRY, "webhook")]), WEBHOOK_SECRET);
    // A secret's value is never accepted in place of its reference.
    assert_eq!(
        invalid_variable(&[(ENTRY, "webhook"), (WEBHOOK_SECRET, "hunter2")]),
        WEBHOOK_SECRET
    );
}

#[test]
fn wrong_source_settings_are_named() {
    assert_eq!(invalid_variable(&[(ENTRY, "http")]), ENTRY);
    assert_eq!(invalid_variable(&[(SOURCES, "shelly-gen3")]), SOURCES);
    // HTTPS sources belong to the webhook entry, MQTT ones to the events entry.
    assert_eq!(invalid_variable(&[(SOURCES, "flic")]), SOURCES);
    assert_eq!(
        invalid_variable(&[
            (ENTRY, "webhook"),
            (SOURCES, "zigbee2mqtt"),
            (WEBHOOK_SECRET, "ssm:/x")
        ]),
        SOURCES
    );
    assert_eq!(
        invalid_variable(&[(RATE_LIMIT_PER_MINUTE, "lots")]),
        RATE_LIMIT_PER_MINUTE
    );
    assert_eq!(
        invalid_variable(&[(DEDUPE_WINDOW_SECONDS, "0")]),
        DEDUPE_WINDOW_SECONDS
    );
    assert_eq!(
        invalid_variable(&[(ALLOWED_DEVICES, "hall")]),
        ALLOWED_DEVICES
    );
    assert_eq!(
        invalid_variable(&[(Z2M_BASE_TOPIC, "z2m/#")]),
        Z2M_BASE_TOPIC
    );
}

fn guest_setting_problem(value: &str) -> (String, GuestSettingProblem) {
    match settings(&[(CONFIG, value)]) {
        Err(SettingsError::GuestSetting {
            variable,
            entry,
            problem,
        }) => {
            assert_eq!(variable, CONFIG);
            (entry, problem)
        }
        other => panic!("expected a bad guest setting in {value:?}, got {other:?}"),
    }
}

#[test]
fn a_list_of_guest_settings_is_read() {
    let s = settings(&[(
        CONFIG,
        " Region=eu-west-1, second_region = us-east-2 ,low_battery_mv=1600,",
    )])
    .unwrap();
    assert_eq!(
        s.guest_settings,
        BTreeMap::from([
            ("region".to_string(), "eu-west-1".to_string()),
            ("second_region".to_string(), "us-east-2".to_string()),
            ("low_battery_mv".to_string(), "1600".to_string()),
        ])
    );
    assert!(s.unknown_variables.is_empty(), "{:?}", s.unknown_variables);
    assert_eq!(s.engine_config().settings, s.guest_settings);
    // Unset or empty: no settings.
    assert!(settings(&[(CONFIG, "")]).unwrap().guest_settings.is_empty());
    assert!(
        settings(&[(CONFIG, " , ")])
            .unwrap()
            .guest_settings
            .is_empty()
    );
}

#[test]
fn a_guest_setting_value_may_hold_equals_signs_escaped_commas_and_nothing() {
    let parsed = parse_guest_settings(
        r"query=a=b==c,regions=us-west-1\,us-east-1,path=C:\dir\\,empty=,tail=x\\",
    )
    .unwrap();
    assert_eq!(parsed["query"], "a=b==c");
    assert_eq!(parsed["regions"], "us-west-1,us-east-1");
    // `\\` is one backslash, and the comma after it separates; other backslashes stay.
    assert_eq!(parsed["path"], r"C:\dir\");
    assert_eq!(parsed["empty"], "");
    assert_eq!(parsed["tail"], r"x\");
    assert_eq!(parsed.len(), 5);
}

#[test]
fn malformed_guest_settings_name_the_entry() {
    assert_eq!(
        guest_setting_problem("region=eu-west-1,second_region"),
        (
            "second_region".to_string(),
            GuestSettingProblem::MissingEquals
        )
    );
    assert_eq!(
        guest_setting_problem("region=eu-west-1, =1600"),
        ("=1600".to_string(), GuestSettingProblem::EmptyKey)
    );
    // Keys are compared lowercased, as they are served.
    assert_eq!(
        guest_setting_problem("region=eu-west-1,REGION=us-east-1"),
        (
            "REGION=us-east-1".to_string(),
            GuestSettingProblem::DuplicateKey
        )
    );
    // An escaped comma does not end the entry the error names.
    assert_eq!(
        guest_setting_problem(r"ok=1,a\,b"),
        (r"a\,b".to_string(), GuestSettingProblem::MissingEquals)
    );
    let text = settings(&[(CONFIG, "region")]).unwrap_err().to_string();
    assert!(
        text.contains(CONFIG) && text.contains("\"region\"") && text.contains("key=value"),
        "{text}"
    );
}

#[test]
fn a_guest_setting_variable_wins_over_the_same_key_in_the_list() {
    let s = settings(&[
        (CONFIG, "region=eu-west-1,second_region=us-east-2"),
        ("CLICKRULES_CONFIG_REGION", "ap-south-1"),
    ])
    .unwrap();
    assert_eq!(s.guest_settings["region"], "ap-south-1");
    assert_eq!(s.guest_settings["second_region"], "us-east-2");
    assert_eq!(s.guest_settings.len(), 2);
}

#[test]
fn history_keeps_routine_presses_a_week_and_failures_a_month_unless_told() {
    let s = settings(&[]).unwrap();
    assert_eq!(s.history_retention, Retention::default());
    assert_eq!(s.history_retention.ok, days(7));
    assert_eq!(s.history_retention.failed, days(30));

    let s = settings(&[(HISTORY_OK_DAYS, "2"), (HISTORY_FAILED_DAYS, " 90 ")]).unwrap();
    assert_eq!(s.history_retention.ok, days(2));
    assert_eq!(s.history_retention.failed, days(90));
    // Empty is unset, as for every other number.
    let s = settings(&[(HISTORY_OK_DAYS, "")]).unwrap();
    assert_eq!(s.history_retention.ok, days(7));

    for variable in [HISTORY_OK_DAYS, HISTORY_FAILED_DAYS] {
        for bad in ["0", "-1", "seven", "1.5", "3661"] {
            assert_eq!(
                invalid_variable(&[(variable, bad)]),
                variable,
                "{variable}={bad}"
            );
        }
        let message = settings(&[(variable, "0")]).unwrap_err().to_string();
        assert!(
            message.contains(variable) && message.contains("whole days from 1"),
            "{message}"
        );
    }
}

#[test]
fn a_shadow_guest_is_a_guest_location_and_unset_means_none() {
    assert_eq!(settings(&[]).unwrap().shadow_guest, None);
    assert_eq!(settings(&[(SHADOW_GUEST, " ")]).unwrap().shadow_guest, None);
    assert_eq!(
        settings(&[(SHADOW_GUEST, "s3://guests/candidate.wasm")])
            .unwrap()
            .shadow_guest,
        Some(GuestLocation::S3(S3Uri {
            bucket: "guests".into(),
            key: "candidate.wasm".into(),
        }))
    );
    assert_eq!(
        settings(&[(SHADOW_GUEST, "/opt/candidate.wasm")])
            .unwrap()
            .shadow_guest,
        Some(GuestLocation::Path("/opt/candidate.wasm".into()))
    );
    assert_eq!(
        settings(&[(SHADOW_GUEST, "builtin:default")])
            .unwrap()
            .shadow_guest,
        Some(GuestLocation::Builtin)
    );
    // The active guest is not affected.
    assert_eq!(
        settings(&[(SHADOW_GUEST, "s3://guests/candidate.wasm")])
            .unwrap()
            .guest,
        GuestLocation::Builtin
    );
    assert_eq!(
        invalid_variable(&[(SHADOW_GUEST, "s3://bucket-without-key")]),
        SHADOW_GUEST
    );
}
