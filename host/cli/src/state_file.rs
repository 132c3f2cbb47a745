//! `press --state FILE`: devices' state kept between local presses in a JSON file, read into
//! an in-memory ledger before the press and written back after it, atomically (a new file
//! renamed over the old one), so an interrupted press never leaves half a file.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::Context;
use clickrules_engine::DeviceState;
use clickrules_pipeline::{DeviceKey, MemoryLedger, StoredState};
use serde::{Deserialize, Serialize};

/// The file's shape: each device (`<source>#<device>`) with its state and version.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    devices: BTreeMap<String, StoredDevice>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredDevice {
    version: u64,
    state: DeviceState,
}

/// The ledger holding the file's states; an empty one when the file does not exist yet.
pub fn read(path: &Path) -> anyhow::Result<MemoryLedger> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(MemoryLedger::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let file: StateFile = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a clickrules state file ({{\"devices\": {{\"SOURCE#DEVICE\": \
             {{\"version\": N, \"state\": {{...}}}}}}}})",
            path.display()
        )
    })?;
    let mut states = HashMap::new();
    for (id, stored) in file.devices {
        let Some((source, device)) = id.split_once('#') else {
            anyhow::bail!(
                "{}: device {id:?} is not SOURCE#DEVICE (e.g. iot-button#G030JF055364XVRB)",
                path.display()
            );
        };
        states.insert(
            DeviceKey {
                source: source.to_string(),
                device: device.to_string(),
            },
            StoredState {
                state: stored.state,
                version: stored.version,
            },
        );
    }
    Ok(MemoryLedger::with_states(states))
}

/// Writes every device's state in `ledger` to `path`, replacing it atomically.
pub fn write(path: &Path, ledger: &MemoryLedger) -> anyhow::Result<()> {
    let file = StateFile {
        devices: ledger
            .states()
            .into_iter()
            .map(|(key, stored)| {
                (
                    key.id(),
                    StoredDevice {
                        version: stored.version,
                        state: stored.state,
                    },
                )
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&file)?;
    text.push('\n');
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot replace {}", path.display())
    })
}
