//! Press history: every press's record, kept for a retention chosen by what the press came to
//! (failures longer than routine presses, so routine presses never push failures out), and
//! read back by device and by time. The records are the ledger's own (the DynamoDB table in
//! `clickrules-aws`, a local file in the CLI); this module has what every store shares: the
//! read port, the query, and how a press is classified.

use std::future::Future;
use std::time::Duration;

use clickrules_engine::{Action, StateWrite};
use serde::{Deserialize, Serialize};

use crate::record::{LedgerOutcome, PressRecord};

/// How long routine presses are kept by default.
pub const DEFAULT_OK_RETENTION_DAYS: u64 = 7;
/// How long failed presses are kept by default.
pub const DEFAULT_FAILED_RETENTION_DAYS: u64 = 30;

/// How long history keeps each kind of press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Presses that succeeded, were ignored or were no press at all.
    pub ok: Duration,
    /// Presses that failed.
    pub failed: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            ok: days(DEFAULT_OK_RETENTION_DAYS),
            failed: days(DEFAULT_FAILED_RETENTION_DAYS),
        }
    }
}

impl Retention {
    /// How long `record` is kept.
    pub fn of(&self, record: &PressRecord) -> Duration {
        if record.ok { self.ok } else { self.failed }
    }
}

/// `n` days.
pub fn days(n: u64) -> Duration {
    Duration::from_secs(n.saturating_mul(86_400))
}

/// What a press came to, in the words `history --outcome` and `explain` use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PressOutcome {
    /// Actions ran (or, in a dry run, would run) and none failed.
    Ok,
    /// The guest decided to do nothing (every action is `ignore`, or none).
    Ignored,
    /// The delivery carried no press (a state report, a button-down edge).
    NotAPress,
    /// An earlier delivery of the press completed it: nothing ran again.
    Duplicate,
    /// Another delivery of the press was running it.
    InProgress,
    /// The built-in guest decided because the configured one failed.
    Fallback,
    /// The press failed.
    Failed,
}

impl PressOutcome {
    /// Every outcome, for help texts and errors.
    pub const ALL: [PressOutcome; 7] = [
        PressOutcome::Ok,
        PressOutcome::Ignored,
        PressOutcome::NotAPress,
        PressOutcome::Duplicate,
        PressOutcome::InProgress,
        PressOutcome::Fallback,
        PressOutcome::Failed,
    ];

    /// What `record` came to.
    pub fn of(record: &PressRecord) -> Self {
        match record.ledger.outcome {
            LedgerOutcome::Duplicate => return PressOutcome::Duplicate,
            LedgerOutcome::InProgress => return PressOutcome::InProgress,
            _ => {}
        }
        if !record.ok {
            return PressOutcome::Failed;
        }
        if record.click.is_none() && !record.skipped.is_empty() {
            return PressOutcome::NotAPress;
        }
        if record.fallback.is_some() {
            return PressOutcome::Fallback;
        }
        let all_ignored = record
            .actions()
            .iter()
            .all(|a| matches!(a, Action::Ignore { .. }));
        if all_ignored {
            PressOutcome::Ignored
        } else {
            PressOutcome::Ok
        }
    }

    /// `ok`, `ignored`, `not_a_press`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            PressOutcome::Ok => "ok",
            PressOutcome::Ignored => "ignored",
            PressOutcome::NotAPress => "not_a_press",
            PressOutcome::Duplicate => "duplicate",
            PressOutcome::InProgress => "in_progress",
            PressOutcome::Fallback => "fallback",
            PressOutcome::Failed => "failed",
        }
    }

    /// The outcome named `name` (as [`PressOutcome::as_str`] writes it; `-` for `_` too).
    pub fn parse(name: &str) -> Option<Self> {
        let name = name.replace('-', "_");
        Self::ALL.into_iter().find(|o| o.as_str() == name)
    }
}

/// Which presses to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    /// Only this device: `<source>#<device>`, or a bare device id (any source).
    pub device: Option<String>,
    /// Only presses received at or after this time, ms since the epoch.
    pub since_ms: Option<u64>,
    /// Only presses received before this time, ms since the epoch.
    pub until_ms: Option<u64>,
    /// Only presses that came to this.
    pub outcome: Option<PressOutcome>,
    /// At most this many, newest first (0: no limit).
    pub limit: usize,
}

impl HistoryQuery {
    /// Whether `record` answers the query (stores that filter on the server check the rest).
    pub fn matches(&self, record: &PressRecord) -> bool {
        let at = received_at_ms(record);
        self.since_ms.is_none_or(|since| at >= since)
            && self.until_ms.is_none_or(|until| at < until)
            && self.outcome.is_none_or(|o| PressOutcome::of(record) == o)
            && self.device.as_deref().is_none_or(|d| {
                device_of(record)
                    .is_some_and(|(source, id)| d == id || d == format!("{source}#{id}"))
            })
    }
}

/// One press as history holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The press's record as it was stored last (for a press delivered several times, the
    /// delivery that did the work).
    pub record: PressRecord,
    /// Later deliveries answered as duplicates (nothing ran for them).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub duplicates: u32,
}

/// When a record's press was received: its click's time, else the delivery's (records kept
/// before deliveries had a time carry 0).
pub fn received_at_ms(record: &PressRecord) -> u64 {
    record
        .click
        .as_ref()
        .map_or(record.received_at_ms, |c| c.received_at_ms)
}

/// The device of a record's press, `(source, id)`.
pub fn device_of(record: &PressRecord) -> Option<(&str, &str)> {
    record
        .click
        .as_ref()
        .map(|c| (c.source.as_str(), c.serial_number.as_str()))
}

/// What `forget` removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Forgotten {
    /// Press records deleted.
    pub presses: usize,
    /// Device state items deleted.
    pub states: usize,
}

/// History could not be read or changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    /// The store failed or could not be reached.
    #[error("press history in {store} is unavailable: {message}")]
    Unavailable {
        /// Which store (a table, a file).
        store: String,
        /// What failed.
        message: String,
    },
    /// The store holds something that is not a press record.
    #[error("press history in {store} holds an unreadable entry ({what}): {message}")]
    Corrupt {
        /// Which store.
        store: String,
        /// Which entry.
        what: String,
        /// What is wrong.
        message: String,
    },
}

/// Reads presses back from where the ledger kept them.
pub trait History: Send + Sync {
    /// Presses matching `query`, newest first.
    fn list(
        &self,
        query: &HistoryQuery,
    ) -> impl Future<Output = Result<Vec<HistoryEntry>, HistoryError>> + Send;

    /// One press by its id.
    fn get(
        &self,
        press_id: &str,
    ) -> impl Future<Output = Result<Option<HistoryEntry>, HistoryError>> + Send;

    /// Deletes every press of `device` (`<source>#<device>` or a bare id) and its state.
    fn forget(&self, device: &str) -> impl Future<Output = Result<Forgotten, HistoryError>> + Send;
}

/// What a decision comes to, for telling two guests' decisions on the same press apart: the
/// actions (an `ignore` reason included), the failure's kind, and the state writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The validated actions (none when the guest failed).
    pub actions: Vec<Action>,
    /// The failure's kind, when the guest failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the failure said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The state writes it asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub state_writes: Vec<StateWrite>,
    /// The state keys it read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub state_read: Vec<String>,
}

impl Verdict {
    /// The verdict of an engine decision.
    pub fn of_decision(decision: &clickrules_engine::Decision) -> Self {
        Self {
            actions: decision.actions.clone(),
            error: decision.error.as_ref().map(|e| e.kind().to_string()),
            message: decision.error.as_ref().map(|e| e.to_string()),
            state_writes: decision
                .state
                .as_ref()
                .map(|s| s.writes.clone())
                .unwrap_or_default(),
            state_read: decision
                .state
                .as_ref()
                .map(|s| s.read.clone())
                .unwrap_or_default(),
        }
    }

    /// Whether two verdicts decide differently: other actions, another failure kind, or other
    /// state writes. Messages and reads alone do not count.
    pub fn differs_from(&self, other: &Verdict) -> bool {
        self.actions != other.actions
            || self.error != other.error
            || self.state_writes != other.state_writes
    }

    /// Whether the guest failed.
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_parse_back_from_their_names() {
        for outcome in PressOutcome::ALL {
            assert_eq!(PressOutcome::parse(outcome.as_str()), Some(outcome));
        }
        assert_eq!(
            PressOutcome::parse("not-a-press"),
            Some(PressOutcome::NotAPress)
        );
        assert_eq!(PressOutcome::parse("fine"), None);
    }

    #[test]
    fn failures_are_kept_longer_than_routine_presses() {
        let retention = Retention::default();
        let mut record = PressRecord::new("r", true);
        record.ok = true;
        assert_eq!(retention.of(&record), days(7));
        record.ok = false;
        assert_eq!(retention.of(&record), days(30));
    }
}
