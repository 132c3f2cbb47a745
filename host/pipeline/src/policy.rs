//! What a deployment accepts before any guest runs: which sources, which devices, how often a
//! device may press, and how long a device's own event counter identifies a press.

use std::collections::HashMap;

use clickrules_engine::{EventFormat, NormaliseOptions};

/// Presses a device may make in a minute unless configured (`CLICKRULES_RATE_LIMIT_PER_MINUTE`).
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 30;
/// How long a device counter identifies a press unless configured
/// (`CLICKRULES_DEDUPE_WINDOW_SECONDS`): Shelly's `event_cnt` is 16-bit and resets on reboot.
pub const DEFAULT_DEDUPE_WINDOW_SECONDS: u64 = 60;

/// The deployment's rules for what becomes a press.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PressPolicy {
    /// The sources accepted and how they are read.
    pub sources: NormaliseOptions,
    /// Devices allowed per source; a source without an entry allows every device.
    pub devices: AllowedDevices,
    /// Presses a device may make per minute (0: no limit). Counted in the ledger.
    pub rate_limit_per_minute: u32,
    /// How long a device counter identifies a press, ms.
    pub dedupe_window_ms: u64,
}

impl Default for PressPolicy {
    fn default() -> Self {
        Self {
            sources: NormaliseOptions::default(),
            devices: AllowedDevices::default(),
            rate_limit_per_minute: DEFAULT_RATE_LIMIT_PER_MINUTE,
            dedupe_window_ms: DEFAULT_DEDUPE_WINDOW_SECONDS * 1000,
        }
    }
}

/// Devices allowed per source, from `SOURCE:DEVICE,SOURCE:DEVICE,...`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedDevices {
    by_source: HashMap<EventFormat, Vec<String>>,
}

/// An allow-list entry that is not `SOURCE:DEVICE`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "allowed device {entry:?} is not SOURCE:DEVICE with SOURCE one of {}: {reason}",
    EventFormat::names()
)]
pub struct AllowedDevicesError {
    /// The entry.
    pub entry: String,
    /// What is wrong with it.
    pub reason: String,
}

impl AllowedDevices {
    /// Parses `SOURCE:DEVICE` entries separated by commas; the device is everything after the
    /// first colon (so `shelly-gen1:shellyix3-A1:input:2` names one input).
    pub fn parse(list: &str) -> Result<Self, AllowedDevicesError> {
        let mut by_source: HashMap<EventFormat, Vec<String>> = HashMap::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = |reason: &str| AllowedDevicesError {
                entry: entry.to_string(),
                reason: reason.to_string(),
            };
            let (source, device) = entry
                .split_once(':')
                .ok_or_else(|| bad("no colon between the source and the device"))?;
            let source: EventFormat = source.trim().parse().map_err(|e: String| bad(&e))?;
            let device = device.trim();
            if device.is_empty() {
                return Err(bad("the device is empty"));
            }
            by_source
                .entry(source)
                .or_default()
                .push(device.to_string());
        }
        Ok(Self { by_source })
    }

    /// Whether `device` of `source` may press: listed itself, or the device it is an input of
    /// (`shellyix3-A1` allows `shellyix3-A1:input:1`).
    pub fn allows(&self, source: EventFormat, device: &str) -> bool {
        let Some(allowed) = self.by_source.get(&source) else {
            return true;
        };
        allowed.iter().any(|a| {
            device == a
                || device
                    .strip_prefix(a.as_str())
                    .is_some_and(|rest| rest.starts_with(':'))
        })
    }

    /// Whether any source has a list.
    pub fn is_empty(&self) -> bool {
        self.by_source.is_empty()
    }

    /// The devices listed for `source`, if it has a list.
    pub fn for_source(&self, source: EventFormat) -> Option<&[String]> {
        self.by_source.get(&source).map(Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_parse_and_match_devices_and_their_inputs() {
        let list = AllowedDevices::parse(
            "shelly-gen1:shellyix3-A1, zigbee2mqtt:hall/button,zigbee2mqtt:desk",
        )
        .unwrap();
        assert!(list.allows(EventFormat::ShellyGen1, "shellyix3-A1"));
        assert!(list.allows(EventFormat::ShellyGen1, "shellyix3-A1:input:2"));
        assert!(!list.allows(EventFormat::ShellyGen1, "shellyix3-A12"));
        assert!(list.allows(EventFormat::Zigbee2Mqtt, "hall/button"));
        assert!(!list.allows(EventFormat::Zigbee2Mqtt, "garage"));
        // A source without a list allows every device.
        assert!(list.allows(EventFormat::IotButton, "G030"));
        assert!(AllowedDevices::parse("").unwrap().is_empty());
    }

    #[test]
    fn bad_entries_name_themselves() {
        for bad in ["shelly-gen1", "nosuch:dev", "zigbee2mqtt:"] {
            let e = AllowedDevices::parse(bad).unwrap_err();
            assert_eq!(e.entry, bad);
        }
    }
}
