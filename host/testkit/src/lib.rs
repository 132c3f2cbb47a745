//! Test kit for clickrules guest authors: load your built `.wasm` and assert what a press
//! decides, in a few lines, under exactly the limits and validation the Lambda applies.
//!
//! ```no_run
//! use clickrules_testkit::{Action, Click, Harness};
//!
//! # fn main() -> Result<(), clickrules_testkit::Error> {
//! let guest = Harness::load("target/wasm32-wasip2/release/my_guest.wasm")?;
//! assert_eq!(guest.press(Click::double()).actions, [Action::snapshot("us-east-1")]);
//!
//! // Deployment settings, as `host.config` serves them, through the builder.
//! let guest = Harness::builder()
//!     .setting("second_region", "eu-west-1")
//!     .load("target/wasm32-wasip2/release/my_guest.wasm")?;
//! let decision = guest.press(Click::double().battery_mv(1400));
//! assert_eq!(decision.actions[0], Action::snapshot("eu-west-1"));
//! # Ok(())
//! # }
//! ```
//!
//! A press never panics: a trap, a deadline, an `err(...)` or an invalid action list is in
//! [`Decision::error`], typed as [`PressError`], with `actions` empty.
//!
//! The same presses can be written as data: a cases file ([`cases`]) that
//! `clickrules test GUEST CASES` runs too, for guests in any language. [`build::component`]
//! builds a Rust guest from its own `cargo test` when its sources changed.
#![deny(missing_docs)]

pub mod build;
pub mod cases;
mod click;
mod harness;
mod local;

pub use click::{Click, TEST_RECEIVED_AT_MS, TEST_SERIAL};
pub use clickrules_engine::{
    Action, ClickType, ConfigError, Contract, Decision, EngineConfig, Limits, LoadError, LogEntry,
    LogLevel, PressError, StateChange, StateUse, StateWrite, ValidationError,
};
pub use harness::{Error, Harness, HarnessBuilder, Result};
pub use local::{compile_cache_dir, local_engine_config};
