//! Deployment settings from `CLICKRULES_*` environment variables, checked once at init so a
//! wrong value fails the cold start (naming the variable) instead of every press.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::time::Duration;

use clickrules_engine::{
    DEFAULT_FUEL, DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_MS, EngineConfig, Limits, TrustedKeys,
    is_known_region, validate_region,
};

use crate::location::{GUEST_LOCATION_FORMS, GuestLocation};

/// Where the guest comes from.
pub const GUEST: &str = "CLICKRULES_GUEST";
/// The function `snapshot` invokes.
pub const SNAPSHOT_FUNCTION: &str = "CLICKRULES_SNAPSHOT_FUNCTION";
/// The alias or version `snapshot` invokes; empty means unqualified.
pub const SNAPSHOT_QUALIFIER: &str = "CLICKRULES_SNAPSHOT_QUALIFIER";
/// `RequestResponse` or `Event`.
pub const INVOCATION_TYPE: &str = "CLICKRULES_INVOCATION_TYPE";
/// The SNS topic `notify` publishes to.
pub const NOTIFY_TOPIC_ARN: &str = "CLICKRULES_NOTIFY_TOPIC_ARN";
/// Comma-separated regions `snapshot` may name.
pub const ALLOWED_REGIONS: &str = "CLICKRULES_ALLOWED_REGIONS";
/// `true`: accept well-formed region codes missing from the engine's list of known regions.
pub const ALLOW_UNLISTED_REGIONS: &str = "CLICKRULES_ALLOW_UNLISTED_REGIONS";
/// Per-press wall-clock deadline in milliseconds.
pub const TIMEOUT_MS: &str = "CLICKRULES_TIMEOUT_MS";
/// Guest memory cap in MiB.
pub const MEMORY_MB: &str = "CLICKRULES_MEMORY_MB";
/// Fuel per press.
pub const FUEL: &str = "CLICKRULES_FUEL";
/// `fail` or `builtin`.
pub const ON_GUEST_ERROR: &str = "CLICKRULES_ON_GUEST_ERROR";
/// Comma-separated base64 Ed25519 public keys whose signed precompiled artifacts may be loaded.
pub const TRUSTED_KEYS: &str = "CLICKRULES_TRUSTED_KEYS";
/// `true`: refuse a guest that has no valid signed artifact rather than compile it.
pub const REQUIRE_SIGNED: &str = "CLICKRULES_REQUIRE_SIGNED";
/// Prefix of guest settings: `CLICKRULES_CONFIG_SECOND_REGION` is served as `second_region`.
pub const CONFIG_PREFIX: &str = "CLICKRULES_CONFIG_";

/// The original Lambda invoked this function.
pub const DEFAULT_SNAPSHOT_FUNCTION: &str = "scheduled_snapshot";
/// ... through this alias.
pub const DEFAULT_SNAPSHOT_QUALIFIER: &str = "prod";

const KNOWN: [&str; 13] = [
    GUEST,
    SNAPSHOT_FUNCTION,
    SNAPSHOT_QUALIFIER,
    INVOCATION_TYPE,
    NOTIFY_TOPIC_ARN,
    ALLOWED_REGIONS,
    ALLOW_UNLISTED_REGIONS,
    TIMEOUT_MS,
    MEMORY_MB,
    FUEL,
    ON_GUEST_ERROR,
    TRUSTED_KEYS,
    REQUIRE_SIGNED,
];
/// A 32-bit guest cannot address more.
const MAX_MEMORY_MB: u64 = 4096;

/// A setting that cannot be used. Init fails with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// The value is not one of the accepted forms.
    #[error("{variable}={value:?} is not valid; accepted: {accepted}")]
    Invalid {
        /// The environment variable.
        variable: String,
        /// What it was set to.
        value: String,
        /// What it may be set to.
        accepted: &'static str,
    },
    /// The value is not UTF-8.
    #[error("{variable} is not valid Unicode")]
    NotUnicode {
        /// The environment variable.
        variable: String,
    },
}

/// How `snapshot` calls Lambda: `RequestResponse` waits for the function (as the original did)
/// so its error is seen; `Event` queues it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InvocationType {
    /// Synchronous: the function's error is reported in the press's outcome.
    #[default]
    RequestResponse,
    /// Asynchronous: only the queueing is reported.
    Event,
}

impl InvocationType {
    /// The name the Lambda API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequestResponse => "RequestResponse",
            Self::Event => "Event",
        }
    }
}

impl fmt::Display for InvocationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do when the configured guest fails a press.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnGuestError {
    /// Fail the press (AWS retries it, then dead-letters it).
    #[default]
    Fail,
    /// Decide with the built-in default guest instead, and say so in the record.
    Builtin,
}

/// The Lambda function `snapshot` invokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotTarget {
    /// Function name or ARN.
    pub function: String,
    /// Alias or version; `None` invokes `$LATEST` unqualified.
    pub qualifier: Option<String>,
    /// Synchronous or queued.
    pub invocation_type: InvocationType,
}

impl Default for SnapshotTarget {
    fn default() -> Self {
        Self {
            function: DEFAULT_SNAPSHOT_FUNCTION.into(),
            qualifier: Some(DEFAULT_SNAPSHOT_QUALIFIER.into()),
            invocation_type: InvocationType::default(),
        }
    }
}

/// Which precompiled artifacts a deployment accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactPolicy {
    /// Keys whose signatures are accepted.
    pub trusted: TrustedKeys,
    /// Refuse a guest without a valid artifact instead of compiling its `.wasm`.
    pub require: bool,
}

/// Everything a deployment configures.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    /// Where the guest comes from.
    pub guest: GuestLocation,
    /// What `snapshot` invokes.
    pub snapshot: SnapshotTarget,
    /// Where `notify` publishes; `None` makes any press that notifies fail before acting.
    pub notify_topic_arn: Option<String>,
    /// When set, `snapshot` may only name these regions.
    pub allowed_regions: Option<Vec<String>>,
    /// Accept well-formed region codes the engine does not list (regions opened later).
    pub allow_unlisted_regions: bool,
    /// Per-press limits.
    pub limits: Limits,
    /// Fail or fall back to the built-in guest when the guest fails.
    pub on_guest_error: OnGuestError,
    /// Signed precompiled artifacts: loaded when present and valid, when keys are configured.
    pub artifacts: Option<ArtifactPolicy>,
    /// Served to the guest through `host.config`, keys lowercased.
    pub guest_settings: BTreeMap<String, String>,
    /// `CLICKRULES_*` variables that mean nothing here (likely typos), for a warning.
    pub unknown_variables: Vec<String>,
}

impl Settings {
    /// Reads the settings from `(name, value)` pairs, normally [`std::env::vars_os`]. A list
    /// rather than a lookup function, because guest settings are every `CLICKRULES_CONFIG_*`
    /// variable present, which only a list can enumerate. Empty values count as unset, except
    /// `CLICKRULES_SNAPSHOT_QUALIFIER`, where empty means unqualified.
    pub fn from_env<I, K, V>(vars: I) -> Result<Self, SettingsError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let mut env = BTreeMap::new();
        for (name, value) in vars {
            let Ok(name) = name.into().into_string() else {
                continue; // Not ours: every name we read is ASCII.
            };
            if !name.starts_with("CLICKRULES_") {
                continue;
            }
            let value = value
                .into()
                .into_string()
                .map_err(|_| SettingsError::NotUnicode {
                    variable: name.clone(),
                })?;
            env.insert(name, value);
        }
        Self::from_map(&env)
    }

    /// Reads the settings from this process's environment.
    pub fn from_process_env() -> Result<Self, SettingsError> {
        Self::from_env(std::env::vars_os())
    }

    fn from_map(env: &BTreeMap<String, String>) -> Result<Self, SettingsError> {
        let get = |name: &str| env.get(name).map(String::as_str);
        let set = |name: &str| get(name).map(str::trim).filter(|v| !v.is_empty());
        let invalid = |variable: &str, value: &str, accepted| SettingsError::Invalid {
            variable: variable.to_string(),
            value: value.to_string(),
            accepted,
        };

        let guest = match get(GUEST) {
            None => GuestLocation::Builtin,
            Some(v) => {
                GuestLocation::parse(v).ok_or_else(|| invalid(GUEST, v, GUEST_LOCATION_FORMS))?
            }
        };
        let function = match get(SNAPSHOT_FUNCTION) {
            None => DEFAULT_SNAPSHOT_FUNCTION.to_string(),
            Some(v) if v.trim().is_empty() || v.trim().contains(char::is_whitespace) => {
                return Err(invalid(
                    SNAPSHOT_FUNCTION,
                    v,
                    "a Lambda function name or ARN (default scheduled_snapshot)",
                ));
            }
            Some(v) => v.trim().to_string(),
        };
        let qualifier = match get(SNAPSHOT_QUALIFIER) {
            None => Some(DEFAULT_SNAPSHOT_QUALIFIER.to_string()),
            Some(v) if v.trim().is_empty() => None,
            Some(v) if v.trim().contains(char::is_whitespace) => {
                return Err(invalid(
                    SNAPSHOT_QUALIFIER,
                    v,
                    "an alias or version (default prod), or empty for unqualified",
                ));
            }
            Some(v) => Some(v.trim().to_string()),
        };
        let invocation_type = match set(INVOCATION_TYPE) {
            None => InvocationType::RequestResponse,
            Some(v) if v.eq_ignore_ascii_case("RequestResponse") => InvocationType::RequestResponse,
            Some(v) if v.eq_ignore_ascii_case("Event") => InvocationType::Event,
            Some(v) => {
                return Err(invalid(
                    INVOCATION_TYPE,
                    v,
                    "RequestResponse (the default) or Event",
                ));
            }
        };
        let on_guest_error = match set(ON_GUEST_ERROR) {
            None => OnGuestError::Fail,
            Some(v) if v.eq_ignore_ascii_case("fail") => OnGuestError::Fail,
            Some(v) if v.eq_ignore_ascii_case("builtin") => OnGuestError::Builtin,
            Some(v) => {
                return Err(invalid(ON_GUEST_ERROR, v, "fail (the default) or builtin"));
            }
        };
        let trusted = match set(TRUSTED_KEYS) {
            None => None,
            Some(v) => Some(v.parse::<TrustedKeys>().map_err(|_| {
                invalid(
                    TRUSTED_KEYS,
                    v,
                    "comma-separated Ed25519 public keys, base64 (as `clickrules key new` prints)",
                )
            })?),
        };
        let require = match set(REQUIRE_SIGNED) {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) if v.eq_ignore_ascii_case("true") && trusted.is_some() => true,
            Some(v) => {
                return Err(invalid(
                    REQUIRE_SIGNED,
                    v,
                    "false (the default) or true; true also needs CLICKRULES_TRUSTED_KEYS",
                ));
            }
        };
        let artifacts = trusted.map(|trusted| ArtifactPolicy { trusted, require });
        let allow_unlisted_regions = match set(ALLOW_UNLISTED_REGIONS) {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) => {
                return Err(invalid(
                    ALLOW_UNLISTED_REGIONS,
                    v,
                    "false (the default: only regions this release knows) or true",
                ));
            }
        };
        let allowed_regions = match set(ALLOWED_REGIONS) {
            None => None,
            Some(v) => {
                let regions: Vec<String> = v
                    .split(',')
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(str::to_string)
                    .collect();
                let known =
                    |r: &str| validate_region(r) && (allow_unlisted_regions || is_known_region(r));
                if regions.is_empty() || !regions.iter().all(|r| known(r)) {
                    return Err(invalid(
                        ALLOWED_REGIONS,
                        v,
                        "a comma-separated list of known AWS region codes such as \
                         us-west-1,us-east-1 (CLICKRULES_ALLOW_UNLISTED_REGIONS=true for newer ones)",
                    ));
                }
                Some(regions)
            }
        };

        let number = |name: &str, default: u64, max: u64, accepted| match set(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| invalid(name, v, accepted)),
        };
        let limits = Limits {
            timeout: Duration::from_millis(number(
                TIMEOUT_MS,
                DEFAULT_TIMEOUT_MS,
                u64::MAX,
                "a whole number of milliseconds greater than 0",
            )?),
            memory_bytes: number(
                MEMORY_MB,
                DEFAULT_MEMORY_MB,
                MAX_MEMORY_MB,
                "a whole number of MiB from 1 to 4096",
            )? << 20,
            fuel: number(
                FUEL,
                DEFAULT_FUEL,
                u64::MAX,
                "a whole number greater than 0",
            )?,
        };

        let mut guest_settings = BTreeMap::new();
        let mut unknown_variables = Vec::new();
        for (name, value) in env {
            if let Some(key) = name.strip_prefix(CONFIG_PREFIX) {
                if key.is_empty() {
                    return Err(invalid(
                        name,
                        value,
                        "CLICKRULES_CONFIG_<KEY>=VALUE with a non-empty KEY",
                    ));
                }
                guest_settings.insert(key.to_ascii_lowercase(), value.clone());
            } else if !KNOWN.contains(&name.as_str()) {
                unknown_variables.push(name.clone());
            }
        }

        Ok(Self {
            guest,
            snapshot: SnapshotTarget {
                function,
                qualifier,
                invocation_type,
            },
            notify_topic_arn: set(NOTIFY_TOPIC_ARN).map(str::to_string),
            allowed_regions,
            allow_unlisted_regions,
            limits,
            on_guest_error,
            artifacts,
            guest_settings,
            unknown_variables,
        })
    }

    /// The engine configuration these settings describe.
    pub fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            limits: self.limits,
            settings: self.guest_settings.clone(),
            allowed_regions: self.allowed_regions.clone(),
            allow_unlisted_regions: self.allow_unlisted_regions,
            ..EngineConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
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
}
