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
mod artifact;
mod bindings;
mod capture;
mod config;
mod decision;
mod engine;
mod epoch;
mod error;
mod event;
mod guest;
mod keys;
mod limiter;
mod prevalidate;
mod state;

pub use action::{Action, ValidationError, ValidationPolicy, validate_actions, validate_region};
pub use artifact::{Arch, ArtifactError, ArtifactHeader, UnknownArch};
pub use config::{
    ConfigError, DEFAULT_FUEL, DEFAULT_MAX_CONCURRENT_PRESSES, DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT_MS, EngineConfig, Limits,
};
pub use decision::{Decision, GuestInfo, LoadedFrom, LogEntry, LogLevel, Output};
pub use engine::Engine;
pub use error::{LoadError, PressError};
pub use event::{
    BATTERY_EDGE_CASES, Click, ClickType, EventError, EventFormat, NormalisedEvent, normalise_event,
};
pub use guest::{Guest, MAX_GUEST_BYTES, sha256_hex};
pub use keys::{ArtifactSigner, KeyError, PublicKey, TrustedKeys};
pub use prevalidate::limits::{
    MAX_BLOCKS, MAX_BR_TABLE_TARGETS, MAX_CANONICAL_FUNCTIONS, MAX_CODE_BYTES, MAX_COMPONENT_DEPTH,
    MAX_COMPONENT_INSTANCES, MAX_COMPONENTS, MAX_CONTROL_DEPTH, MAX_CORE_INSTANCES,
    MAX_CORE_MODULES, MAX_DATA_BYTES, MAX_DATA_SEGMENTS, MAX_ELEMENT_ITEMS, MAX_ELEMENT_SEGMENTS,
    MAX_EXPORTS, MAX_FUNCTION_BODY_BYTES, MAX_FUNCTION_LOCALS, MAX_FUNCTIONS, MAX_GLOBALS,
    MAX_IMPORTS, MAX_LOCALS_TIMES_BLOCKS, MAX_LOCALS_TIMES_CHAINS, MAX_LOOP_CARRIED,
    MAX_LOOP_DEPTH, MAX_MEMORIES, MAX_TABLES, MAX_TOTAL_LOCALS_TIMES_BLOCKS,
    MAX_TOTAL_LOCALS_TIMES_CHAINS, MAX_TOTAL_LOOP_CARRIED, MAX_TYPES,
};
pub use prevalidate::{CompileLimit, CompileStats, compile_stats};

/// The WIT package every guest implements, as guests name it in their imports.
pub const WIT_PACKAGE: &str = "clickrules:handler@0.1.0";
