//! Tests as data: a cases file (TOML or JSON) lists presses and what each must decide, and
//! [`Cases::run`] presses a built guest with each one through the production engine and
//! limits. `clickrules test GUEST CASES` runs the same files, so a guest in any language is
//! tested the same way.
//!
//! ```toml
//! [defaults]                      # optional; every case starts from these
//! settings = { region = "us-west-1" }
//!
//! [[cases]]
//! name = "a double press backs up the second region"
//! click = "DOUBLE"                # SINGLE (default), DOUBLE, TRIPLE or LONG
//! serial = "G030JF055364XVRB"     # default: TEST_SERIAL
//! battery_mv = 1400               # default: not reported
//! source = "iot-button"           # default: iot-button
//! settings = { second_region = "eu-west-1" }   # over the defaults' settings
//! time = "2025-11-25T19:46:40Z"   # RFC 3339, or ms since the epoch; default: TEST_RECEIVED_AT_MS
//! state = { count = "4", cooldown = { value = "1", ttl_seconds = 60 } }   # before the press
//! expect.actions = [{ snapshot = "eu-west-1" }]
//! expect.state = { count = "5" }  # optional: the device's state after the press
//!
//! [[cases]]
//! name = "a guest that traps"
//! expect.error = "trap"           # or { kind = "guest_error", message = "part of it" }
//! ```
//!
//! Actions are written `{ snapshot = "REGION" }`, `{ notify = { subject = "S", message = "M" } }`
//! or `{ ignore = "REASON" }`, or as a press record writes them
//! (`{ kind = "snapshot", region = "REGION" }`). An expectation without `actions` or `error`
//! only requires the press to succeed. A JSON file holds the same document (`{"cases": [...]}`)
//! or just the list of cases.
//!
//! ```no_run
//! use clickrules_testkit::cases::Cases;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cases = Cases::load("cases.toml")?;
//! cases.run("target/wasm32-wasip2/release/my_guest.wasm")?.assert_all_pass();
//! # Ok(())
//! # }
//! ```

mod parse;
mod report;
mod run;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clickrules_engine::{Action, ClickType};

pub use report::{CaseResult, Diff, Report};

/// The error kinds a case may expect: [`PressError::kind`](crate::PressError::kind) of each
/// variant, as press records name them.
pub const ERROR_KINDS: &[&str] = &[
    "bad_event",
    "guest_error",
    "deadline",
    "fuel_exhausted",
    "memory_limit",
    "stack_overflow",
    "trap",
    "instantiate",
    "invalid_actions",
    "host_limit",
    "state_limit",
    "internal",
];

/// A loaded cases file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cases {
    path: PathBuf,
    cases: Vec<Case>,
}

/// One press and what it must decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The case's name, unique in its file.
    pub name: String,
    /// How the button is pressed.
    pub click: ClickType,
    /// The device's serial number.
    pub serial: String,
    /// Battery voltage, when the device reports it.
    pub battery_mv: Option<u32>,
    /// Battery charge (0 to 100), when the device reports it.
    pub battery_pct: Option<u8>,
    /// The source that delivered it (`iot-button`, `shelly-gen2`, ...).
    pub source: String,
    /// Deployment settings served through `host.config`.
    pub settings: BTreeMap<String, String>,
    /// When the press happens, ms since the Unix epoch.
    pub time_ms: u64,
    /// The pressing device's state before the press.
    pub state: BTreeMap<String, StateValue>,
    /// What the press must decide.
    pub expect: Expect,
}

/// A state value, with the time it has left to live when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateValue {
    /// The value.
    pub value: String,
    /// Seconds from the press's time until it expires; never when absent. In an expected
    /// state, absent means "not checked".
    pub ttl_seconds: Option<u32>,
}

/// What a case expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    /// The press's outcome.
    pub outcome: Outcome,
    /// The device's live state after the press, when checked.
    pub state: Option<BTreeMap<String, StateValue>>,
}

/// The outcome a case expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The press succeeds, whatever it decides.
    Succeeds,
    /// The press succeeds with exactly these actions, in order.
    Actions(Vec<Action>),
    /// The press fails with this kind of error.
    Error {
        /// One of [`ERROR_KINDS`].
        kind: String,
        /// Text the error's message must contain.
        message: Option<String>,
    },
}

/// Why a cases file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CasesError {
    /// The file could not be read.
    #[error("cannot read the cases file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file's name does not say TOML or JSON.
    #[error("{path}: a cases file is .toml or .json")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The file is not valid TOML or JSON.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with the line.
        message: String,
    },
    /// A field is missing, unknown or of the wrong kind.
    #[error("{path}: {}`{field}`: {message}", case.as_deref().map(|c| format!("{c}: ")).unwrap_or_default())]
    Field {
        /// The file.
        path: PathBuf,
        /// The case, as `case 2 ("name")`; absent for the file's top level and `defaults`.
        case: Option<String>,
        /// The field, e.g. `expect.actions[0].notify.subject`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The file holds no cases.
    #[error("{path}: no cases (add a [[cases]] table)")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// Two cases have the same name, so results could not be told apart.
    #[error("{path}: two cases are named {name:?}")]
    DuplicateName {
        /// The file.
        path: PathBuf,
        /// The name.
        name: String,
    },
}

/// The format of a cases file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// TOML.
    Toml,
    /// JSON.
    Json,
}

impl Format {
    /// The format a file's extension says, if it says one.
    pub fn of(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "toml" => Some(Format::Toml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

impl Cases {
    /// Reads and checks the cases file at `path` (`.toml` or `.json`).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, CasesError> {
        let path = path.as_ref();
        let format = Format::of(path).ok_or_else(|| CasesError::UnknownFormat {
            path: path.to_path_buf(),
        })?;
        let text = std::fs::read_to_string(path).map_err(|source| CasesError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, format, path)
    }

    /// Checks cases from text; `origin` names the file in errors and reports.
    pub fn parse(text: &str, format: Format, origin: impl AsRef<Path>) -> Result<Self, CasesError> {
        let path = origin.as_ref().to_path_buf();
        let cases = parse::cases(text, format, &path)?;
        Ok(Self { path, cases })
    }

    /// The file the cases came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cases, in file order.
    pub fn cases(&self) -> &[Case] {
        &self.cases
    }

    /// Presses the guest at `wasm` with every case, under the production limits and rules
    /// (any known region) and each case's settings, with a [`Harness`](crate::Harness)'s
    /// local additions: line-level backtraces and the compile cache
    /// ([`local_engine_config`](crate::local_engine_config)).
    pub fn run(&self, wasm: impl AsRef<Path>) -> crate::Result<Report> {
        self.run_with(crate::local_engine_config(), wasm)
    }

    /// As [`run`](Self::run), under `config`'s limits and region rules; each case's settings
    /// go over `config.settings`.
    pub fn run_with(
        &self,
        config: crate::EngineConfig,
        wasm: impl AsRef<Path>,
    ) -> crate::Result<Report> {
        run::run(self, config, wasm.as_ref())
    }
}
