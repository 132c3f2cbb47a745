//! What goes wrong around a guest, as typed errors. What a guest itself reports (`err(string)`)
//! is [`PressError::GuestError`].

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::action::ValidationError;
use crate::backtrace::{GuestFrame, in_frame};
use crate::event::EventError;
use crate::prevalidate::CompileLimit;

/// Why guest bytes cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// Zero bytes.
    #[error("the guest is empty (0 bytes)")]
    Empty,
    /// Larger than the engine accepts.
    #[error("the guest is {size} bytes; the limit is {max}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// No `\0asm` header.
    #[error("the guest is not WebAssembly (it does not start with the \\0asm header)")]
    NotWasm,
    /// A core module, where a component is needed.
    #[error(
        "the guest is a core WebAssembly module, not a component; build it for the \
         wasm32-wasip2 target or wrap it with `wasm-tools component new`"
    )]
    CoreModule,
    /// wasmtime could not validate or compile it.
    #[error("the guest is not a valid component: {message}")]
    Invalid {
        /// wasmtime's explanation.
        message: String,
    },
    /// It does not export `handle` at all.
    #[error(
        "the component does not implement the click-handler world of {package}: it has no \
         `{export}` export (its exports: {found})"
    )]
    MissingExport {
        /// The WIT package expected.
        package: &'static str,
        /// The missing export.
        export: &'static str,
        /// What it does export.
        found: String,
    },
    /// It exports `handle` with another signature.
    #[error("the component's `handle` export does not match {package}: {message}")]
    WrongExportType {
        /// The WIT package expected.
        package: &'static str,
        /// wasmtime's type-check explanation.
        message: String,
    },
    /// Built against a version of the contract this host does not implement.
    #[error(
        "the guest imports {import}, a version of the clickrules contract this host does not \
         support (supported: {supported})"
    )]
    UnsupportedVersion {
        /// The import as named by the guest.
        import: String,
        /// Versions this host implements.
        supported: &'static str,
    },
    /// Imports something no clickrules host offers.
    #[error(
        "the guest imports {import}, which the clickrules host does not provide; a guest may \
         import only clickrules:handler/host and the WASI 0.2 interfaces"
    )]
    UnsupportedImport {
        /// The import as named by the guest.
        import: String,
    },
    /// Its structure is past a limit that bounds how long and how much memory compiling it
    /// takes; found before compiling anything.
    #[error(
        "the guest is too complex to compile: {location} has {found} {what}, over the limit of \
         {limit}; build it with optimisations, split the largest functions or drop unused code"
    )]
    TooComplex {
        /// What is counted.
        what: CompileLimit,
        /// How many the guest has, as far as checking went: it stops at the first figure past
        /// a limit, so the whole may be more.
        found: u64,
        /// The limit.
        limit: u64,
        /// Where: "the component" for totals, or "core module 3, function 17" (modules
        /// numbered from 0 in the order they appear in the file, functions by their index in
        /// the module, imported functions first).
        location: String,
    },
}

/// Why a press produced no actions. The guest's own refusal is one case among the others.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PressError {
    /// The event could not be normalised; the guest did not run.
    #[error("bad event: {0}")]
    Event(#[from] EventError),
    /// The guest returned `err(message)`.
    #[error("the guest declined the press: {message}")]
    GuestError {
        /// The guest's message (truncated).
        message: String,
    },
    /// The wall-clock deadline passed.
    #[error("the guest ran past its {timeout_ms} ms deadline")]
    Deadline {
        /// The limit.
        timeout_ms: u64,
    },
    /// The guest used all its fuel.
    #[error("the guest used all of its {fuel} units of fuel")]
    FuelExhausted {
        /// The limit.
        fuel: u64,
    },
    /// The guest tried to hold more memory than the cap.
    #[error(
        "the guest tried to grow its memory to {requested_bytes} bytes, over the {limit_bytes}-byte cap"
    )]
    MemoryLimit {
        /// The cap.
        limit_bytes: u64,
        /// Total linear memory it asked for.
        requested_bytes: u64,
    },
    /// Recursion too deep for the wasm stack.
    #[error("the guest overflowed its stack")]
    StackOverflow,
    /// Any other trap (unreachable, out-of-bounds access, a Rust panic, ...).
    #[error("the guest trapped: {trap}{}", in_frame(backtrace))]
    Trap {
        /// What trapped, as wasmtime describes it.
        trap: String,
        /// The guest's stack when it trapped, innermost first (at most
        /// [`MAX_FRAMES`](crate::MAX_FRAMES)).
        backtrace: Vec<GuestFrame>,
    },
    /// The host could not instantiate the guest (e.g. every slot busy).
    #[error("the guest could not be started: {message}")]
    Instantiate {
        /// wasmtime's explanation.
        message: String,
    },
    /// The guest's actions broke a rule; none were executed.
    #[error("the guest's actions were rejected: {0}")]
    InvalidActions(#[from] ValidationError),
    /// A host call asked for more than the host gives one press (random bytes, WASI handles).
    #[error("{call} asked for {requested} {unit}; the host allows at most {limit} per press")]
    HostLimit {
        /// The call, e.g. `wasi:random/random.get-random-bytes`.
        call: String,
        /// What it is counted in.
        unit: String,
        /// How much was asked for.
        requested: u64,
        /// The most the host gives.
        limit: u64,
    },
    /// The guest went over a state limit (a `set` returned the error) and returned `ok`
    /// anyway; nothing is committed.
    #[error("the guest went over a state limit and nothing was committed: {message}")]
    StateLimit {
        /// The limit it hit.
        message: String,
    },
    /// The host itself failed while running the press (a bug, reported rather than crashing).
    #[error("the host failed while running the guest: {message}")]
    Internal {
        /// What failed.
        message: String,
    },
}

impl PressError {
    /// Whether the guest itself failed (as opposed to the event). Only such failures may be
    /// rescued by running another guest: every guest would see the same bad event.
    pub fn is_guest_failure(&self) -> bool {
        !matches!(self, PressError::Event(_))
    }

    /// A stable, machine-readable name for the variant, used in decision records and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            PressError::Event(_) => "bad_event",
            PressError::GuestError { .. } => "guest_error",
            PressError::Deadline { .. } => "deadline",
            PressError::FuelExhausted { .. } => "fuel_exhausted",
            PressError::MemoryLimit { .. } => "memory_limit",
            PressError::StackOverflow => "stack_overflow",
            PressError::Trap { .. } => "trap",
            PressError::Instantiate { .. } => "instantiate",
            PressError::InvalidActions(_) => "invalid_actions",
            PressError::HostLimit { .. } => "host_limit",
            PressError::StateLimit { .. } => "state_limit",
            PressError::Internal { .. } => "internal",
        }
    }
}

impl Serialize for PressError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let frames = match self {
            PressError::Trap { backtrace, .. } if !backtrace.is_empty() => Some(backtrace),
            _ => None,
        };
        let mut s = serializer.serialize_struct("PressError", 2 + usize::from(frames.is_some()))?;
        s.serialize_field("kind", self.kind())?;
        s.serialize_field("message", &self.to_string())?;
        if let Some(frames) = frames {
            s.serialize_field("backtrace", frames)?;
        }
        s.end()
    }
}
