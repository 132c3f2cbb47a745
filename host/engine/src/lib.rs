//! The clickrules engine: turns (guest component, button event, configuration) into a validated
//! decision, running the guest in a wasmtime sandbox with no ambient authority and hard limits.
//!
//! The engine knows nothing of AWS. It does not execute actions; it returns them, validated,
//! in a [`Decision`] that the caller (the Lambda adapter, the CLI, a guest author's test) carries
//! out, prints or asserts on.
//!
//! ```no_run
//! use clickrules_engine::{Engine, EngineConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::new(EngineConfig::default())?;
//! let guest = engine.load(&std::fs::read("default.wasm")?)?;
//! let event = br#"{"serialNumber":"G030JF055364XVRB","batteryVoltage":"1705mV","clickType":"SINGLE"}"#;
//! let decision = engine.press(&guest, event);
//! assert!(decision.error.is_none());
//! println!("{}", serde_json::to_string_pretty(&decision)?);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod action;
mod arch;
mod artifact;
mod artifact_error;
mod backtrace;
mod bindings;
mod bounded;
mod call;
mod capture;
mod config;
mod decision;
mod device_state;
mod engine;
mod epoch;
mod error;
mod event;
mod guest;
mod host_fns;
mod keys;
mod limiter;
mod off_runtime;
mod prevalidate;
mod regions;
mod replay;
mod state;
pub mod text;
mod unique_json;
mod wasi_bounds;

// Running presses: the engine, its configuration, and what a press returns.
pub use backtrace::{GuestFrame, MAX_FRAMES};
pub use config::{
    Backtraces, ConfigError, DEFAULT_FUEL, DEFAULT_MAX_CONCURRENT_PRESSES, DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT_MS, EngineConfig, Limits,
};
pub use decision::{Decision, GuestInfo, LoadedFrom, LogEntry, LogLevel, Output};
pub use engine::Engine;
pub use error::PressError;
pub use replay::{PressInputs, PressSeed, SeedError};

// Durable per-device state (contract 0.2.0): what a press reads and the writes it buffers.
pub use bindings::Contract;
pub use device_state::{
    DeviceState, MAX_STATE_BYTES, MAX_STATE_KEY_BYTES, MAX_STATE_KEYS, MAX_STATE_VALUE_BYTES,
    MAX_STATE_WRITES, StateChange, StateEntry, StateUse, StateWrite,
};

// Loading guests: bytes, limits checked before compiling, and why a load fails.
pub use error::LoadError;
pub use guest::{Guest, GuestBytes, MAX_GUEST_BYTES, sha256_hex};
pub use prevalidate::{CompileLimit, CompileStats, compile_stats};

// Events in: the formats, the normalised click, and their errors.
pub use event::{
    BATTERY_EDGE_CASES, Click, ClickType, EventError, EventFormat, MAX_SERIAL_BYTES,
    NormaliseOptions, NormalisedEvent, SimulateError, SkipKind, Skipped, SourcePress, TOPIC_FIELD,
    TRACE_ID_FIELD, Z2mGesture, ZIGBEE2MQTT_ACTIONS, normalise_event, normalise_event_with, quote,
    simulated_event,
};

// JSON as every reader of an untrusted message must see it: no key twice.
pub use event::json_kind;
pub use unique_json::{ParseError as JsonParseError, parse as parse_unique_json};

// Actions out: what a guest may ask for and how a list is validated.
pub use action::{Action, ValidationError, ValidationPolicy, validate_actions, validate_region};
pub use regions::{KNOWN_REGIONS, is_known_region};

// Signed precompiled guests: keys, signing and what is checked before loading native code.
pub use arch::{Arch, UnknownArch};
pub use artifact::{ArtifactBinding, ArtifactExpectation, ArtifactHeader};
pub use artifact_error::ArtifactError;
pub use keys::{ArtifactSigner, KeyError, PublicKey, TrustedKeys};

/// The limits a component's structure is checked against before it is compiled.
pub mod compile_limits {
    pub use crate::prevalidate::limits::*;
}

/// The newest WIT package of the contract, the one new guests implement.
pub const WIT_PACKAGE: &str = "clickrules:handler@0.2.0";
