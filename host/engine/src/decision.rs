//! The decision record: one value per press, printed by the CLI, returned and logged by the
//! Lambda, and compared by tests.

use serde::{Deserialize, Serialize};

use crate::action::Action;
use crate::bindings::Contract;
use crate::device_state::StateUse;
use crate::error::PressError;
use crate::event::{Click, EventFormat};
use crate::replay::PressSeed;

/// Which guest decided: the exact bytes, and how their code was obtained. Where the bytes came
/// from (a path, an S3 object and its version) is the caller's to record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestInfo {
    /// SHA-256 of the component bytes, lowercase hex.
    pub sha256: String,
    /// Size of the component in bytes.
    pub size_bytes: u64,
    /// Whether its native code was compiled here or came from a signed artifact.
    pub loaded_from: LoadedFrom,
    /// The key id that signed the artifact, when it came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
}

/// Where a guest's native code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadedFrom {
    /// Compiled from the `.wasm` by this process.
    Compiled,
    /// Deserialized from a precompiled artifact whose signature verified.
    SignedArtifact,
}

/// Severity of a `host.log` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Debug detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something to look at.
    Warn,
    /// Something failed.
    Error,
}

impl LogLevel {
    /// `debug`, `info`, `warn` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// One `host.log` call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Severity.
    pub level: LogLevel,
    /// The message (truncated to the per-line cap).
    pub message: String,
}

/// What the guest wrote through `host.log`, stdout and stderr, each capped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// `host.log` lines, in order.
    #[serde(default)]
    pub logs: Vec<LogEntry>,
    /// Log lines dropped once the cap was reached.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub logs_dropped: u64,
    /// Guest stdout (lossy UTF-8).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stdout: String,
    /// Guest stderr (lossy UTF-8).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr: String,
    /// Bytes of stdout and stderr dropped once the cap was reached.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub output_dropped_bytes: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Everything about one press.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The format the event arrived in; absent when it was not recognised.
    pub event_format: Option<EventFormat>,
    /// The normalised press; absent when the event was malformed.
    pub click: Option<Click>,
    /// The guest that decided.
    pub guest: GuestInfo,
    /// The validated actions, empty whenever `error` is set: actions are all or nothing.
    pub actions: Vec<Action>,
    /// Why the press failed, if it did.
    pub error: Option<PressError>,
    /// Instructions executed by the guest (fuel consumed). When a press is stopped by its
    /// deadline this is a lower bound: wasmtime flushes the count of a running loop only at
    /// calls and returns, and an interrupted loop never reaches either.
    pub instructions: u64,
    /// Largest total linear memory the guest held, in bytes.
    pub peak_memory_bytes: u64,
    /// Host time for the whole press: normalise, instantiate, run, validate.
    pub duration_us: u64,
    /// What the guest logged and printed.
    pub output: Output,
    /// The device state it read and the writes it asked for (committed by the caller only if
    /// the press succeeded); absent for guests that use no state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateUse>,
    /// The contract version the guest implements.
    pub contract: Contract,
    /// The seed of the guest's random bytes: with the click, state and settings, all a replay
    /// needs to see what this press saw.
    pub seed: PressSeed,
}

impl Decision {
    /// The actions, or the reason there are none.
    pub fn result(&self) -> Result<&[Action], &PressError> {
        match &self.error {
            None => Ok(&self.actions),
            Some(e) => Err(e),
        }
    }

    /// Whether the press succeeded.
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }
}
