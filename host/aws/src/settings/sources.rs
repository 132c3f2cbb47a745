//! The button-source settings: which entry this function is (MQTT events or the webhook
//! Function URL), which sources it accepts, devices, rate limit, dedupe window, and where the
//! webhook's secret and Flic's key are.

use std::collections::{BTreeMap, HashSet};

use clickrules_engine::{EventFormat, NormaliseOptions};
use clickrules_pipeline::{
    AllowedDevices, DEFAULT_DEDUPE_WINDOW_SECONDS, DEFAULT_RATE_LIMIT_PER_MINUTE, PressPolicy,
};
use clickrules_webhooks::SecretRef;

use super::SettingsError;
use super::variables::*;

/// Seconds a webhook's timestamp may differ from now unless configured: its replay window.
pub const DEFAULT_WEBHOOK_TOLERANCE_SECONDS: u64 = 300;
/// Seconds past a Flic token's `exp` still accepted, for clock skew.
pub const FLIC_EXP_SKEW_SECONDS: u64 = 30;

/// Which deliveries this function serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Entry {
    /// Button events from IoT Core topic rules (or invoked directly).
    #[default]
    Events,
    /// HTTPS requests through a Function URL (Flic, the generic webhook).
    Webhook,
}

/// The webhook function's secrets and allow-list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebhookSettings {
    /// The generic webhook's HMAC secret, when that source is on.
    pub secret: Option<SecretRef>,
    /// Seconds a signed request's timestamp may be from now.
    pub tolerance_seconds: u64,
    /// The Flic buttons accepted (`buttonUuid`s), when Flic is on.
    pub flic_buttons: HashSet<String>,
    /// A key replacing Flic's published one (rotation).
    pub flic_key: Option<SecretRef>,
}

/// Everything about button sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSettings {
    /// Which deliveries this function serves.
    pub entry: Entry,
    /// The sources accepted, devices, rate limit and dedupe window.
    pub policy: PressPolicy,
    /// The webhook function's secrets (empty for the events entry).
    pub webhook: WebhookSettings,
}

impl Default for SourceSettings {
    fn default() -> Self {
        Self {
            entry: Entry::Events,
            policy: PressPolicy::default(),
            webhook: WebhookSettings {
                tolerance_seconds: DEFAULT_WEBHOOK_TOLERANCE_SECONDS,
                ..WebhookSettings::default()
            },
        }
    }
}

impl SourceSettings {
    /// Whether `format` is accepted here.
    pub fn accepts(&self, format: EventFormat) -> bool {
        self.policy.sources.accept.contains(&format)
    }
}

pub(super) fn parse(env: &BTreeMap<String, String>) -> Result<SourceSettings, SettingsError> {
    let set = |name: &str| env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let invalid = |variable: &str, value: &str, accepted| SettingsError::Invalid {
        variable: variable.to_string(),
        value: value.to_string(),
        accepted,
    };
    let entry = match set(ENTRY) {
        None => Entry::Events,
        Some(v) if v.eq_ignore_ascii_case("events") => Entry::Events,
        Some(v) if v.eq_ignore_ascii_case("webhook") => Entry::Webhook,
        Some(v) => {
            return Err(invalid(
                ENTRY,
                v,
                "events (button events from IoT topic rules, the default) or webhook (HTTPS \
                 requests through a Function URL)",
            ));
        }
    };
    let accept = match set(SOURCES) {
        None => match entry {
            Entry::Events => EventFormat::MQTT.to_vec(),
            Entry::Webhook => vec![EventFormat::Webhook],
        },
        Some(v) => {
            let mut accept = Vec::new();
            for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let format: EventFormat = name.parse().map_err(|_| {
                    invalid(
                        SOURCES,
                        v,
                        "comma-separated sources: iot-button, iot-1-click, shelly-gen1, \
                         shelly-gen2, zigbee2mqtt (the events entry); flic, webhook (the webhook \
                         entry)",
                    )
                })?;
                if format.is_https() != (entry == Entry::Webhook) {
                    return Err(invalid(
                        SOURCES,
                        v,
                        "sources of this entry only: flic and webhook arrive over HTTPS \
                         (CLICKRULES_ENTRY=webhook), the others as events (CLICKRULES_ENTRY=events)",
                    ));
                }
                if !accept.contains(&format) {
                    accept.push(format);
                }
            }
            if accept.is_empty() {
                return Err(invalid(SOURCES, v, "at least one source"));
            }
            accept
        }
    };
    let number = |name: &str, default: u64, max: u64, accepted| match set(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| invalid(name, v, accepted)),
    };
    let rate_limit = number(
        RATE_LIMIT_PER_MINUTE,
        u64::from(DEFAULT_RATE_LIMIT_PER_MINUTE),
        10_000,
        "presses per device per minute, 0 (no limit) to 10000",
    )?;
    let window = number(
        DEDUPE_WINDOW_SECONDS,
        DEFAULT_DEDUPE_WINDOW_SECONDS,
        3600,
        "seconds from 1 to 3600 (device counters wrap and reset on reboot)",
    )?;
    if window == 0 {
        return Err(invalid(
            DEDUPE_WINDOW_SECONDS,
            "0",
            "seconds from 1 to 3600",
        ));
    }
    let devices = match set(ALLOWED_DEVICES) {
        None => AllowedDevices::default(),
        Some(v) => AllowedDevices::parse(v).map_err(|_| {
            invalid(
                ALLOWED_DEVICES,
                v,
                "comma-separated SOURCE:DEVICE entries, e.g. shelly-gen1:shellybutton1-E8DB84AA1234",
            )
        })?,
    };
    let base_topic = match set(Z2M_BASE_TOPIC) {
        None => "zigbee2mqtt".to_string(),
        Some(v) if v.contains(['+', '#']) || v.ends_with('/') => {
            return Err(invalid(
                Z2M_BASE_TOPIC,
                v,
                "Zigbee2MQTT's mqtt.base_topic, without wildcards or a trailing slash",
            ));
        }
        Some(v) => v.to_string(),
    };
    let secret_ref = |name: &str| -> Result<Option<SecretRef>, SettingsError> {
        match set(name) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                invalid(
                    name,
                    v,
                    "a reference to the value, never the value: ssm:NAME, secretsmanager:NAME, \
                     or the parameter's or secret's ARN",
                )
            }),
        }
    };
    let secret = secret_ref(WEBHOOK_SECRET)?;
    let flic_key = secret_ref(FLIC_PUBLIC_KEY)?;
    let flic_buttons: HashSet<String> = set(FLIC_BUTTONS)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|b| !b.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if accept.contains(&EventFormat::Flic) && flic_buttons.is_empty() {
        // Any Flic customer can mint a valid token: without an allow-list, anyone's button
        // would press this one's rules.
        return Err(SettingsError::Missing {
            variable: FLIC_BUTTONS.into(),
            because: "the flic source is on, and Flic tokens carry no audience: only the \
                      buttonUuids listed may press",
        });
    }
    if accept.contains(&EventFormat::Webhook) && secret.is_none() {
        return Err(SettingsError::Missing {
            variable: WEBHOOK_SECRET.into(),
            because: "the webhook source is on, and its requests are verified with that secret \
                      (a reference: ssm:NAME or a Secrets Manager ARN)",
        });
    }
    let tolerance = number(
        WEBHOOK_TOLERANCE_SECONDS,
        DEFAULT_WEBHOOK_TOLERANCE_SECONDS,
        3600,
        "seconds from 1 to 3600",
    )?;
    if tolerance == 0 {
        return Err(invalid(
            WEBHOOK_TOLERANCE_SECONDS,
            "0",
            "seconds from 1 to 3600",
        ));
    }
    Ok(SourceSettings {
        entry,
        policy: PressPolicy {
            sources: NormaliseOptions {
                accept,
                zigbee2mqtt_base_topic: base_topic,
            },
            devices,
            rate_limit_per_minute: rate_limit as u32,
            dedupe_window_ms: window * 1000,
        },
        webhook: WebhookSettings {
            secret,
            tolerance_seconds: tolerance,
            flic_buttons,
            flic_key,
        },
    })
}
