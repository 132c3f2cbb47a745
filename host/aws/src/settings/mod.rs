//! Deployment settings from `CLICKRULES_*` environment variables, checked once at init so a
//! wrong value fails the cold start (naming the variable) instead of every press.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::time::Duration;

use clickrules_engine::{
    DEFAULT_FUEL, DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_MS, EngineConfig, Limits, TrustedKeys,
    is_known_region, validate_region,
};
use clickrules_pipeline::{
    ActionTargets, DEFAULT_FAILED_RETENTION_DAYS, DEFAULT_OK_RETENTION_DAYS,
    DEFAULT_SNAPSHOT_FUNCTION, DEFAULT_SNAPSHOT_QUALIFIER, InvocationType, Retention,
    SnapshotTarget, Zone, days,
};

use crate::location::{GUEST_LOCATION_FORMS, GuestLocation};

mod sources;
mod variables;
pub use sources::{
    DEFAULT_WEBHOOK_TOLERANCE_SECONDS, Entry, FLIC_EXP_SKEW_SECONDS, SourceSettings,
    WebhookSettings,
};
pub use variables::*;

/// A week: long enough to look at a press afterwards, well beyond the 6 h Lambda may retry.
pub const DEFAULT_LEDGER_RETENTION_HOURS: u64 = 168;
/// Lambda retries an asynchronous event for up to 6 hours; a shorter retention would let a late
/// retry run a press again.
const MIN_LEDGER_RETENTION_HOURS: u64 = 6;
/// Ten years: DynamoDB's TTL and the arithmetic on it stay far from overflow.
const MAX_HISTORY_DAYS: u64 = 3660;
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
    /// A setting another one needs is unset.
    #[error("{variable} must be set: {because}")]
    Missing {
        /// The environment variable.
        variable: String,
        /// Why it is needed.
        because: &'static str,
    },
    /// The value is not UTF-8.
    #[error("{variable} is not valid Unicode")]
    NotUnicode {
        /// The environment variable.
        variable: String,
    },
    /// An entry of a guest settings list (`CLICKRULES_CONFIG`) is not `key=value`.
    #[error(
        "{variable}: the entry {entry:?} {problem}; accepted: key=value,key=value \
         (`\\,` for a comma in a value)"
    )]
    GuestSetting {
        /// The environment variable.
        variable: String,
        /// The entry, as written (between its commas, spaces around it dropped).
        entry: String,
        /// What is wrong with it.
        problem: GuestSettingProblem,
    },
}

/// What is wrong with an entry of `CLICKRULES_CONFIG`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GuestSettingProblem {
    /// No `=` separates a key from its value.
    #[error("has no `=` between a key and a value")]
    MissingEquals,
    /// Nothing (or only spaces) before the `=`.
    #[error("has an empty key")]
    EmptyKey,
    /// Its key (lowercased) is set by an earlier entry of the list too.
    #[error("sets a key an earlier entry already sets")]
    DuplicateKey,
}

/// Parses `CLICKRULES_CONFIG`: guest settings as `key=value,key=value`.
///
/// - Entries are separated by commas; `\,` is a comma inside a key or value and `\\` a
///   backslash (any other backslash is kept as it is). Empty entries (a trailing comma) are
///   skipped.
/// - Each entry is split at its first `=`: the value may contain more `=`, and may be empty.
/// - Spaces around entries, keys and values are dropped; keys are lowercased, as the keys of
///   `CLICKRULES_CONFIG_<KEY>` variables are.
/// - An entry without `=`, with an empty key, or setting a key an earlier entry sets, is an
///   error naming the entry ([`SettingsError::GuestSetting`]).
///
/// A `CLICKRULES_CONFIG_<KEY>` variable of the same key wins over the list (the more specific
/// setting wins; see [`Settings::from_env`]).
pub fn parse_guest_settings(value: &str) -> Result<BTreeMap<String, String>, SettingsError> {
    let error = |entry: &str, problem| SettingsError::GuestSetting {
        variable: CONFIG.to_string(),
        entry: entry.to_string(),
        problem,
    };
    let mut settings = BTreeMap::new();
    for (raw, entry) in split_unescaped(value) {
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let Some((key, value)) = entry.split_once('=') else {
            return Err(error(raw, GuestSettingProblem::MissingEquals));
        };
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty() {
            return Err(error(raw, GuestSettingProblem::EmptyKey));
        }
        if settings.contains_key(&key) {
            return Err(error(raw, GuestSettingProblem::DuplicateKey));
        }
        settings.insert(key, value.trim().to_string());
    }
    Ok(settings)
}

/// `value` split at unescaped commas: each entry as written, and with `\,` and `\\`
/// unescaped.
fn split_unescaped(value: &str) -> Vec<(&str, String)> {
    let mut entries = Vec::new();
    let (mut start, mut entry) = (0, String::new());
    let mut chars = value.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&(_, next @ (',' | '\\'))) => {
                    entry.push(next);
                    chars.next();
                }
                _ => entry.push('\\'),
            },
            ',' => {
                entries.push((&value[start..i], std::mem::take(&mut entry)));
                start = i + 1;
            }
            c => entry.push(c),
        }
    }
    entries.push((&value[start..], entry));
    entries
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
    /// A candidate guest run beside the active one on every press (its actions never
    /// executed, its state never committed); `None`: no shadow.
    pub shadow_guest: Option<GuestLocation>,
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
    /// Served to the guest through `host.config`, keys lowercased: `CLICKRULES_CONFIG`'s list,
    /// then each `CLICKRULES_CONFIG_<KEY>` over it.
    pub guest_settings: BTreeMap<String, String>,
    /// The press ledger's DynamoDB table; `None`: the ledger is off.
    pub ledger_table: Option<String>,
    /// How long the ledger keeps a press.
    pub ledger_retention: Duration,
    /// How long press history keeps each kind of press (never less than `ledger_retention`,
    /// which the ledger needs to recognise a redelivery).
    pub history_retention: Retention,
    /// Where presses that cannot succeed on retry are sent; `None`: they fail their invocation.
    pub dead_letter_queue_url: Option<String>,
    /// The zone whose UTC offset guests see; `None`: UTC.
    pub timezone: Option<Zone>,
    /// Button sources: the entry, what is accepted, and the webhook's secrets.
    pub sources: SourceSettings,
    /// `CLICKRULES_*` variables that mean nothing here (likely typos), for a warning.
    pub unknown_variables: Vec<String>,
}

impl Settings {
    /// Reads the settings from `(name, value)` pairs, normally [`std::env::vars_os`]. A list
    /// rather than a lookup function, because guest settings are every `CLICKRULES_CONFIG_*`
    /// variable present, which only a list can enumerate. Empty values count as unset, except
    /// `CLICKRULES_SNAPSHOT_QUALIFIER`, where empty means unqualified, and guest settings,
    /// which are served as given. Guest settings come from `CLICKRULES_CONFIG`
    /// (`key=value,key=value`, see [`parse_guest_settings`]) and `CLICKRULES_CONFIG_<KEY>`
    /// variables; where both set a key, the `CLICKRULES_CONFIG_<KEY>` variable wins.
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
        // Empty counts as unset here (unlike CLICKRULES_GUEST, where empty is the built-in
        // guest): a template leaves the variable empty to run no shadow.
        let shadow_guest = match set(SHADOW_GUEST) {
            None => None,
            Some(v) => Some(
                GuestLocation::parse(v)
                    .ok_or_else(|| invalid(SHADOW_GUEST, v, GUEST_LOCATION_FORMS))?,
            ),
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

        let ledger_retention_hours = number(
            LEDGER_RETENTION_HOURS,
            DEFAULT_LEDGER_RETENTION_HOURS,
            24 * 366,
            "whole hours from 6 (the longest Lambda retries an event) to 8784",
        )?;
        if ledger_retention_hours < MIN_LEDGER_RETENTION_HOURS {
            return Err(invalid(
                LEDGER_RETENTION_HOURS,
                &ledger_retention_hours.to_string(),
                "whole hours from 6 (the longest Lambda retries an event) to 8784",
            ));
        }
        let history_retention = Retention {
            ok: days(number(
                HISTORY_OK_DAYS,
                DEFAULT_OK_RETENTION_DAYS,
                MAX_HISTORY_DAYS,
                "whole days from 1 to 3660 (default 7)",
            )?),
            failed: days(number(
                HISTORY_FAILED_DAYS,
                DEFAULT_FAILED_RETENTION_DAYS,
                MAX_HISTORY_DAYS,
                "whole days from 1 to 3660 (default 30)",
            )?),
        };
        let timezone = match set(TIMEZONE) {
            None => None,
            Some(name) => Some(Zone::parse(name).map_err(|_| {
                invalid(
                    TIMEZONE,
                    name,
                    "an IANA time zone name such as Europe/Berlin, America/New_York or UTC",
                )
            })?),
        };
        // The list first, then each CLICKRULES_CONFIG_<KEY> over it: the variable naming one
        // key is the more specific, so it wins (a stack's GuestSettings and a variable added
        // to one function by hand: the hand-added one applies).
        let mut guest_settings = match get(CONFIG) {
            None => BTreeMap::new(),
            Some(v) => parse_guest_settings(v)?,
        };
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
            } else if !is_known(name) {
                unknown_variables.push(name.clone());
            }
        }

        Ok(Self {
            guest,
            shadow_guest,
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
            ledger_table: set(LEDGER_TABLE).map(str::to_string),
            ledger_retention: Duration::from_secs(ledger_retention_hours * 3600),
            history_retention,
            dead_letter_queue_url: set(DEAD_LETTER_QUEUE_URL).map(str::to_string),
            timezone,
            sources: sources::parse(env)?,
            unknown_variables,
        })
    }

    /// Where the deployment's actions go.
    pub fn targets(&self) -> ActionTargets {
        ActionTargets {
            snapshot: self.snapshot.clone(),
            topic_arn: self.notify_topic_arn.clone(),
        }
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
mod tests;
