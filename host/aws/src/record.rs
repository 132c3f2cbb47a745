//! The decision record of a press on AWS: the engine's [`Decision`] plus where the guest came
//! from, what each action did, and why the press failed, if it did.

use clickrules_engine::{Decision, GuestInfo, PressError};
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::executor::{ActionError, ActionOutcome, PreflightError};
use crate::guest_source::{FetchKind, GuestSourceError};

/// Why a press failed as a whole. The invocation fails with it, so AWS retries the press and
/// finally hands it to the dead-letter destination.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// No guest could be obtained; nothing ran.
    #[error("no guest to run: {0}")]
    GuestSource(#[from] GuestSourceError),
    /// The event was bad, or the guest failed (and no fallback rescued the press).
    #[error("{0}")]
    Press(PressError),
    /// The actions cannot be carried out as a whole; none ran.
    #[error("{0}")]
    Preflight(#[from] PreflightError),
    /// Some actions failed; `outcomes` in the record lists each.
    #[error("{failed} of {total} actions failed; the first: {first}")]
    Actions {
        /// How many failed.
        failed: usize,
        /// How many there were.
        total: usize,
        /// The first failure.
        first: ActionError,
    },
}

impl Failure {
    /// A stable, machine-readable name for the variant.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::GuestSource(_) => "guest_source",
            Self::Press(e) => e.kind(),
            Self::Preflight(_) => "preflight",
            Self::Actions { .. } => "actions",
        }
    }
}

impl Serialize for Failure {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Failure", 2)?;
        s.serialize_field("kind", self.kind())?;
        s.serialize_field("message", &self.to_string())?;
        s.end()
    }
}

/// The configured guest failed and the built-in guest decided instead
/// (`CLICKRULES_ON_GUEST_ERROR=builtin`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fallback {
    /// The guest that failed.
    pub failed_guest: GuestInfo,
    /// How it failed.
    pub error: PressError,
}

/// Everything about one press on AWS: one JSON log line, and the Lambda's return value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PressRecord {
    /// The Lambda request id (or the caller's id for the press).
    pub request_id: String,
    /// Whether the press succeeded as a whole.
    pub ok: bool,
    /// The engine's decision: event format, click, guest, actions, its error, fuel, memory,
    /// duration, output. Absent only when no guest could be obtained.
    #[serde(flatten)]
    pub decision: Option<Decision>,
    /// How the guest was obtained (absent when it could not be).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guest_fetch: Option<FetchKind>,
    /// Set when S3 could not confirm the guest is current and the cached one ran: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guest_stale: Option<String>,
    /// Set when the built-in guest decided because the configured one failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
    /// Each executed action and what became of it, in order.
    pub outcomes: Vec<ActionOutcome>,
    /// Why the press failed as a whole.
    pub failure: Option<Failure>,
}

impl PressRecord {
    /// The record as one line of JSON, with line separators and bidi controls escaped.
    pub fn to_json(&self) -> String {
        // Every field serialises infallibly (strings, numbers, enums); the fallback keeps a log
        // line even if that ever changes.
        clickrules_engine::text::json_line(self).unwrap_or_else(|e| {
            serde_json::json!({ "request_id": self.request_id, "record_error": e.to_string() })
                .to_string()
        })
    }
}

/// A failed press: the invocation must fail, and the record says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("press {} failed: {failure}", record.request_id)]
pub struct PressFailed {
    /// Why.
    pub failure: Failure,
    /// The full record (its `failure` is the same).
    pub record: Box<PressRecord>,
}
