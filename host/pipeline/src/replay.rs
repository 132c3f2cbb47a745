//! Replaying presses: a recorded press (its click, the device state it read, its settings and
//! seed) run again through any guest, so two guests can be compared on what really happened
//! (`clickrules diff`), and synthetic presses run the same way.

use std::collections::BTreeMap;
use std::sync::Arc;

use clickrules_engine::{Click, DeviceState, Engine, Guest, PressInputs, PressSeed};

use crate::history::Verdict;
use crate::record::PressRecord;

/// One press to run again, with everything it read.
#[derive(Debug, Clone)]
pub struct ReplayCase {
    /// The press id, for a press from history.
    pub press_id: Option<String>,
    /// The click as normalised when the press arrived (its time included).
    pub click: Click,
    /// The device's state as the press read it (empty when none was recorded).
    pub state: DeviceState,
    /// The press's seed.
    pub seed: PressSeed,
    /// The settings the press was made with; the engine's own when `None`.
    pub settings: Option<Arc<BTreeMap<String, String>>>,
    /// Whether everything the press read was recorded: `false` for a press recorded before
    /// its seed was kept, or whose state-using guest's state read was not kept.
    pub exact: bool,
    /// Whether the device's state was recorded: only for presses whose guest used state. A
    /// candidate that uses state replays other presses from empty state.
    pub state_recorded: bool,
}

impl ReplayCase {
    /// The press `record` describes, when a guest decided it (a delivery with no press, or one
    /// turned away before a guest ran, has nothing to replay).
    pub fn from_record(record: &PressRecord) -> Option<Self> {
        let click = record.click.clone()?;
        record.decision.as_ref()?;
        let state = record.state.as_ref().and_then(|s| s.before.clone());
        let replay = record.replay.as_ref();
        let used_state = record.guest.as_ref().is_some_and(|g| g.uses_state);
        Some(Self {
            press_id: Some(record.press_id.clone()),
            click,
            exact: replay.is_some() && (state.is_some() || !used_state),
            state_recorded: state.is_some(),
            state: state.unwrap_or_default(),
            seed: replay.map_or_else(PressSeed::fresh, |r| r.seed),
            settings: replay.map(|r| Arc::new(r.settings.clone())),
        })
    }

    /// A synthetic press: `click` from empty state, with a seed fixed by the click, so every
    /// guest replayed on it sees the same random bytes.
    pub fn synthetic(click: Click) -> Self {
        let mut seed = [0u8; 32];
        let text = format!(
            "{}|{:?}|{:?}|{}",
            click.serial_number, click.click_type, click.battery_mv, click.received_at_ms
        );
        for (i, byte) in text.bytes().enumerate() {
            seed[i % 32] ^= byte.rotate_left((i / 32) as u32);
        }
        Self {
            press_id: None,
            click,
            state: DeviceState::default(),
            seed: PressSeed::from_bytes(seed),
            settings: None,
            exact: true,
            state_recorded: true,
        }
    }

    /// Runs `guest` on this press with `engine` (the engine that loaded it).
    pub fn run(&self, engine: &Engine, guest: &Guest) -> Verdict {
        let inputs = PressInputs {
            seed: self.seed,
            settings: self.settings.clone(),
            timeout: None,
        };
        let decision = engine.press_with(guest, self.click.clone(), &self.state, &inputs);
        Verdict::of_decision(&decision)
    }
}
