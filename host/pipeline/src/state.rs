//! Devices' state as the press ledger keeps it: which device, which version, what a press
//! commits. State lives in the ledger (one table, one grant), committed in the same write as
//! the press's decision, so a retried press never applies its writes twice.

use clickrules_engine::{Click, DeviceState};

/// Which device's state: keyed by source and device id, since a Shelly id and a Zigbee2MQTT
/// name may collide.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceKey {
    /// The event format that delivered the press (`iot-button`, `shelly-gen1`, ...).
    pub source: String,
    /// The device id (serial number).
    pub device: String,
}

impl DeviceKey {
    /// The device that pressed `click`.
    pub fn of(click: &Click) -> Self {
        Self {
            source: click.source.clone(),
            device: click.serial_number.clone(),
        }
    }

    /// `<source>#<device>`, as stores key it.
    pub fn id(&self) -> String {
        format!("{}#{}", self.source, self.device)
    }
}

/// A device's state as stored, with the version a commit must find to replace it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredState {
    /// The state (expired keys included until the next write).
    pub state: DeviceState,
    /// 0 for a device never written; each commit adds one.
    pub version: u64,
}

/// What a press commits for its device: the new state, if the stored one is still at `version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateCommit {
    /// The device.
    pub device: DeviceKey,
    /// The version read before the press.
    pub version: u64,
    /// The state after the press's writes.
    pub state: DeviceState,
}
