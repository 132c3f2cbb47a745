//! The press record: one value per press, in every mode (the Lambda, `press --execute`, a dry
//! run, the test kit). The Lambda logs and returns it, the ledger stores it, the CLI renders
//! its tables from it, and tests compare it. It is data: it serialises and parses back, so a
//! stored record answers a duplicate delivery exactly.

use std::collections::BTreeMap;

use clickrules_engine::{
    Action, Click, Contract, DeviceState, EventFormat, GuestFrame, LoadedFrom, Output, PressSeed,
    Skipped, StateWrite,
};
use serde::{Deserialize, Serialize};

use crate::executor::Receipt;
use crate::history::Verdict;

/// A failure as the record carries it: a stable kind and a message (typed errors are in
/// [`Failure`](crate::Failure) for Rust callers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// Stable, machine-readable name, e.g. `deadline`, `refused`, `bad_event`.
    pub kind: String,
    /// What happened, for a person.
    pub message: String,
    /// Whether trying again may succeed, where that is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    /// Where in the guest a trap happened, innermost frame first: function names, and file
    /// and line where the guest carries line tables and the engine read them (the local
    /// tools). Empty for every other failure.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backtrace: Vec<GuestFrame>,
}

/// How the guest for a press was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FetchKind {
    /// Built in or read from a file once, at start.
    Fixed,
    /// Downloaded for this press (first fetch, or the object changed).
    Downloaded,
    /// The store answered 304: the cached compiled guest is still the object's content.
    NotModified,
    /// The store could not be reached; the guest cached from an earlier fetch ran instead.
    Stale,
}

/// Which guest decided, so a press can always be traced to exact bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestRecord {
    /// Where it came from: `builtin:default`, a path, `s3://...`.
    pub uri: String,
    /// SHA-256 of the component bytes, lowercase hex.
    pub sha256: String,
    /// Size of the component in bytes.
    pub size_bytes: u64,
    /// Compiled here, or loaded from a signed artifact.
    pub loaded_from: LoadedFrom,
    /// The key id that signed its artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
    /// Why a signed artifact was expected but not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_note: Option<String>,
    /// The object's ETag, when it came from an object store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The object's version id, when the store versions objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// How it was obtained for this press.
    pub fetch: FetchKind,
    /// The contract version it implements: `0.1.0` or `0.2.0`.
    #[serde(default = "contract_0_1")]
    pub contract: String,
    /// Whether it imports the device-state interface (0.2.0).
    #[serde(default, skip_serializing_if = "is_false")]
    pub uses_state: bool,
    /// Why a cached guest ran although the store could not confirm it is current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale: Option<String>,
}

/// What the guest decided, and what it cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// The validated actions; empty whenever `error` is set (all or nothing).
    pub actions: Vec<Action>,
    /// Why the guest produced no actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// Instructions executed (fuel consumed); a lower bound when the deadline stopped it.
    pub instructions: u64,
    /// Largest total linear memory the guest held, in bytes.
    pub peak_memory_bytes: u64,
    /// Host time for instantiating, running and validating, in microseconds.
    pub duration_us: u64,
    /// What the guest logged and printed (capped).
    pub output: Output,
}

/// The configured guest failed and the built-in guest decided instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FallbackRecord {
    /// The guest that failed (absent when it could not even be obtained).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_guest: Option<GuestRecord>,
    /// How it failed.
    pub error: ErrorInfo,
}

/// What became of one action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    /// It ran and succeeded.
    Done,
    /// It ran and failed.
    Failed,
    /// A dry run: it would run, as the receipt describes.
    DryRun,
}

/// One action and its outcome, in order. Numbered from 1 in tables and messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeRecord {
    /// The action as validated.
    pub action: Action,
    /// What became of it.
    pub status: OutcomeStatus,
    /// What it did (or, in a dry run, would do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// Set when an earlier delivery of this press already did it, so this one did not.
    #[serde(default, skip_serializing_if = "is_false")]
    pub done_earlier: bool,
}

impl OutcomeRecord {
    /// Whether the action succeeded (or would, in a dry run).
    pub fn is_ok(&self) -> bool {
        self.status != OutcomeStatus::Failed
    }
}

/// What the press ledger made of this delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerOutcome {
    /// No ledger is configured: a redelivered press runs again.
    Off,
    /// The first delivery of this press.
    New,
    /// A retry of a press whose decision was stored: only actions not yet done ran.
    Resumed,
    /// The press was already complete: answered from the ledger, nothing ran.
    Duplicate,
    /// Another delivery of the press holds a live lease: nothing ran.
    InProgress,
}

/// The ledger's part of the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerRecord {
    /// What the ledger made of this delivery.
    pub outcome: LedgerOutcome,
    /// Actions an earlier delivery already did, skipped by this one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped_actions: usize,
    /// Which delivery of the press this is, counting from 1, when the ledger counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
}

impl Default for LedgerRecord {
    fn default() -> Self {
        Self {
            outcome: LedgerOutcome::Off,
            skipped_actions: 0,
            attempt: None,
        }
    }
}

/// Everything about one press.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PressRecord {
    /// The Lambda request id (or the caller's id for this delivery).
    pub request_id: String,
    /// The press's own id: the topic rule's trace id when present, else the request id. Two
    /// deliveries of one press share it; two genuine presses never do.
    pub press_id: String,
    /// Whether actions were really carried out (`false`: a dry run).
    pub executed: bool,
    /// When the delivery was received, ms since the epoch: a delivery that carried no press
    /// has no click, and still has a time in history.
    #[serde(default)]
    pub received_at_ms: u64,
    /// Whether the press succeeded as a whole.
    pub ok: bool,
    /// The format the event arrived in; absent when it was not recognised.
    #[serde(default)]
    pub event_format: Option<EventFormat>,
    /// The normalised press; absent when the event was malformed.
    #[serde(default)]
    pub click: Option<Click>,
    /// The guest that decided; absent when none could be obtained.
    #[serde(default)]
    pub guest: Option<GuestRecord>,
    /// What the guest decided; absent when no guest ran.
    #[serde(default)]
    pub decision: Option<DecisionRecord>,
    /// What the press did with its device's state (guests that import `state`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateRecord>,
    /// Set when the built-in guest decided because the configured one failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<FallbackRecord>,
    /// Each action and what became of it, in order.
    #[serde(default)]
    pub outcomes: Vec<OutcomeRecord>,
    /// What the press ledger made of this delivery.
    #[serde(default)]
    pub ledger: LedgerRecord,
    /// Why the press failed as a whole.
    #[serde(default)]
    pub failure: Option<ErrorInfo>,
    /// Set when the press cannot succeed on retry and was sent to the dead-letter queue with
    /// this record, so the invocation itself succeeded.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dead_lettered: bool,
    /// What in the message was no press (a state report, a button-down edge, an unsupported
    /// gesture): recorded, nothing run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
    /// Set when the press id is the device's own event counter, which identifies a press only
    /// within the dedupe window (`CLICKRULES_DEDUPE_WINDOW_SECONDS`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub device_counter: bool,
    /// What the guest read besides its click and state, so the press can be replayed exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayRecord>,
    /// What the shadow guest (`CLICKRULES_SHADOW_GUEST`) decided on the same press; never
    /// executed, its state never committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<ShadowRecord>,
    /// Host time for the whole press, in microseconds.
    pub duration_us: u64,
}

/// What a press read besides its click and device state: with them, everything a replay
/// needs to see what the press saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayRecord {
    /// The seed of the guest's random bytes (its wall clock reads the click's time).
    pub seed: PressSeed,
    /// The deployment settings `host.config` served. The ledger keeps them; the logged line
    /// leaves them out.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, String>,
}

/// What the shadow guest made of a press.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowRecord {
    /// The shadow guest; absent when it could not be obtained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest: Option<GuestRecord>,
    /// What it decided (its failure's kind when it failed or could not run).
    pub verdict: Verdict,
    /// Whether its decision differs from the active guest's.
    pub differs: bool,
    /// Host time it took, in microseconds (fetching it included).
    pub duration_us: u64,
    /// The time it was allowed, in milliseconds: its own limit, cut to what was left before
    /// the press's deadline.
    pub budget_ms: u64,
}

impl PressRecord {
    /// An empty record for a delivery, before anything is known.
    pub fn new(request_id: &str, executed: bool) -> Self {
        Self {
            request_id: request_id.to_string(),
            press_id: request_id.to_string(),
            executed,
            received_at_ms: 0,
            ok: false,
            event_format: None,
            click: None,
            guest: None,
            decision: None,
            fallback: None,
            state: None,
            outcomes: Vec::new(),
            ledger: LedgerRecord::default(),
            failure: None,
            dead_lettered: false,
            skipped: Vec::new(),
            device_counter: false,
            replay: None,
            shadow: None,
            duration_us: 0,
        }
    }

    /// The verdict of the guest that decided, when one did.
    pub fn verdict(&self) -> Option<Verdict> {
        let decision = self.decision.as_ref()?;
        Some(Verdict {
            actions: decision.actions.clone(),
            error: decision.error.as_ref().map(|e| e.kind.clone()),
            message: decision.error.as_ref().map(|e| e.message.clone()),
            state_writes: self
                .state
                .as_ref()
                .map(|s| s.writes.clone())
                .unwrap_or_default(),
            state_read: self
                .state
                .as_ref()
                .map(|s| s.read.clone())
                .unwrap_or_default(),
        })
    }

    /// The record as logged: the full state read and the settings stay in the ledger, values
    /// are cut.
    pub fn for_log(&self) -> PressRecord {
        PressRecord {
            state: self.state.as_ref().map(StateRecord::for_log),
            replay: self.replay.as_ref().map(|r| ReplayRecord {
                seed: r.seed,
                settings: BTreeMap::new(),
            }),
            ..self.clone()
        }
    }

    /// The record as one line of JSON, with line separators and bidi controls escaped.
    pub fn to_json(&self) -> String {
        // Every field serialises infallibly (strings, numbers, enums); the fallback keeps a
        // line even if that ever changes.
        clickrules_engine::text::json_line(self).unwrap_or_else(|e| {
            serde_json::json!({ "request_id": self.request_id, "record_error": e.to_string() })
                .to_string()
        })
    }

    /// The actions the guest decided (none when it failed or did not run).
    pub fn actions(&self) -> &[Action] {
        self.decision.as_ref().map_or(&[], |d| &d.actions)
    }
}

/// What a press did with its device's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateRecord {
    /// The device, `<source>#<device id>`.
    pub device: String,
    /// The version of the device's state the press read (0: never written).
    pub version: u64,
    /// The keys the guest read, in order of first read.
    pub read: Vec<String>,
    /// Its writes, in order.
    pub writes: Vec<StateWrite>,
    /// The whole state the press read, so it can be replayed exactly. The ledger keeps it;
    /// the logged line leaves it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<DeviceState>,
    /// Whether the writes were committed (with the decision, in one write).
    pub committed: bool,
    /// How many times the guest decided: more than 1 when another press of the same device
    /// committed first and the press was decided again on the fresh state.
    pub attempts: u32,
}

/// Bytes of a state value the logged record keeps.
pub const LOGGED_STATE_VALUE_BYTES: usize = 200;

impl StateRecord {
    /// The record as logged: no `before`, values cut to [`LOGGED_STATE_VALUE_BYTES`].
    pub fn for_log(&self) -> StateRecord {
        let writes = self
            .writes
            .iter()
            .map(|w| {
                let mut w = w.clone();
                if let clickrules_engine::StateChange::Set { value, .. } = &mut w.change {
                    truncate(value, LOGGED_STATE_VALUE_BYTES);
                }
                w
            })
            .collect();
        StateRecord {
            before: None,
            writes,
            ..self.clone()
        }
    }
}

/// Cuts `text` to at most `max` bytes at a character boundary, marking the cut.
fn truncate(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
}

fn contract_0_1() -> String {
    Contract::V0_1.version().to_string()
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}
