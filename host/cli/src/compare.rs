//! Two guests on the same presses: the check sweep and real presses replayed from history
//! (each with the click, state, settings and seed it had), and what differs. `diff` prints it;
//! `upload`, `promote` and `rollback` show it before they change what the buttons do.

use std::collections::BTreeSet;
use std::sync::Arc;

use clickrules_engine::{BATTERY_EDGE_CASES, Click, ClickType, Engine};
use clickrules_pipeline::{CurrentGuest, GuestRecord, PressRecord, ReplayCase, Verdict};
use serde::Serialize;

use crate::progress::Progress;

/// One guest and the engine that loaded it.
pub struct Side {
    pub engine: Arc<Engine>,
    pub guest: CurrentGuest,
}

/// Where a compared press came from.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", tag = "from")]
pub enum Origin {
    /// The check sweep: every click type with every battery edge case.
    Sweep,
    /// A real press, replayed from history.
    History {
        press_id: String,
        received_at_ms: u64,
        /// Whether everything it read was recorded (its seed and state).
        exact: bool,
    },
}

/// A press to compare the guests on.
pub struct Case {
    pub origin: Origin,
    pub replay: ReplayCase,
}

/// How the candidate's decision relates to the active guest's.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Both decided, differently (other actions, another failure, other state writes).
    Changed,
    /// The active guest decided and the candidate fails.
    NowFailing,
    /// The active guest fails and the candidate decides.
    NowPassing,
}

/// One press whose decisions differ.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    #[serde(flatten)]
    pub origin: Origin,
    pub click: Click,
    pub change: Change,
    pub active: Verdict,
    pub candidate: Verdict,
}

/// The comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Compared {
    pub active: GuestRecord,
    pub candidate: GuestRecord,
    /// Presses compared: the sweep's and history's.
    pub presses: usize,
    pub sweep_presses: usize,
    pub history_presses: usize,
    /// History presses whose seed or state was not recorded (replayed as well as possible).
    pub inexact: usize,
    pub same: usize,
    pub changed: usize,
    pub now_failing: usize,
    pub now_passing: usize,
    pub differences: Vec<Difference>,
    /// State keys the candidate reads or writes and the active guest never does, and the
    /// other way round: state one version writes must make sense to the other after a
    /// promote or a rollback.
    pub state_keys_only_candidate: Vec<String>,
    pub state_keys_only_active: Vec<String>,
}

impl Compared {
    /// Whether any decision differs.
    pub fn differs(&self) -> bool {
        !self.differences.is_empty()
    }

    /// `3 of 112 presses decide differently (2 changed, 1 now failing)`.
    pub fn summary(&self) -> String {
        if !self.differs() {
            return format!(
                "no decision changes over {} press{}",
                self.presses,
                plural_es(self.presses)
            );
        }
        let mut parts = Vec::new();
        for (n, what) in [
            (self.changed, "changed"),
            (self.now_failing, "now failing"),
            (self.now_passing, "now passing"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        format!(
            "{} of {} press{} decide differently ({})",
            self.differences.len(),
            self.presses,
            plural_es(self.presses),
            parts.join(", ")
        )
    }
}

/// The check sweep as replay cases: every click type (triple included: 0.2 guests see it)
/// with every battery edge case, for each serial, all at `at_ms`.
pub fn sweep_cases(serials: &[String], at_ms: u64) -> Vec<Case> {
    let mut cases = Vec::new();
    for serial in serials {
        for click_type in ClickType::ALL {
            for battery_mv in BATTERY_EDGE_CASES {
                let mut click = Click::new(serial.clone(), click_type, battery_mv, at_ms);
                click.source = "iot-button".into();
                click.press_id = format!("sweep-{}-{:?}", click_type.as_str(), battery_mv);
                cases.push(Case {
                    origin: Origin::Sweep,
                    replay: ReplayCase::synthetic(click),
                });
            }
        }
    }
    cases
}

/// Real presses as replay cases, newest first: at most `limit` presses a guest decided, each
/// once however often it was delivered.
pub fn history_cases(records: impl IntoIterator<Item = PressRecord>, limit: usize) -> Vec<Case> {
    let mut seen = BTreeSet::new();
    let mut cases = Vec::new();
    for record in records {
        if cases.len() >= limit {
            break;
        }
        if !seen.insert(record.press_id.clone()) {
            continue;
        }
        let Some(replay) = ReplayCase::from_record(&record) else {
            continue;
        };
        cases.push(Case {
            origin: Origin::History {
                press_id: record.press_id.clone(),
                received_at_ms: replay.click.received_at_ms,
                exact: replay.exact,
            },
            replay,
        });
    }
    cases
}

/// Runs both guests on every case and keeps the presses whose decisions differ.
pub fn compare(active: &Side, candidate: &Side, cases: &[Case], progress: &Progress) -> Compared {
    let bar = progress.bar(cases.len() as u64, "replaying presses through both guests");
    let mut compared = Compared {
        active: active.guest.record.clone(),
        candidate: candidate.guest.record.clone(),
        presses: cases.len(),
        sweep_presses: 0,
        history_presses: 0,
        inexact: 0,
        same: 0,
        changed: 0,
        now_failing: 0,
        now_passing: 0,
        differences: Vec::new(),
        state_keys_only_candidate: Vec::new(),
        state_keys_only_active: Vec::new(),
    };
    let mut active_keys = BTreeSet::new();
    let mut candidate_keys = BTreeSet::new();
    for case in cases {
        match &case.origin {
            Origin::Sweep => compared.sweep_presses += 1,
            Origin::History { exact, .. } => {
                compared.history_presses += 1;
                compared.inexact += usize::from(!exact);
            }
        }
        let before = case.replay.run(&active.engine, &active.guest.guest);
        let after = case.replay.run(&candidate.engine, &candidate.guest.guest);
        keys_of(&before, &mut active_keys);
        keys_of(&after, &mut candidate_keys);
        bar.inc(1);
        if !before.differs_from(&after) {
            compared.same += 1;
            continue;
        }
        let change = match (before.failed(), after.failed()) {
            (false, true) => Change::NowFailing,
            (true, false) => Change::NowPassing,
            _ => Change::Changed,
        };
        match change {
            Change::Changed => compared.changed += 1,
            Change::NowFailing => compared.now_failing += 1,
            Change::NowPassing => compared.now_passing += 1,
        }
        compared.differences.push(Difference {
            origin: case.origin.clone(),
            click: case.replay.click.clone(),
            change,
            active: before,
            candidate: after,
        });
    }
    bar.clear();
    compared.state_keys_only_candidate = candidate_keys.difference(&active_keys).cloned().collect();
    compared.state_keys_only_active = active_keys.difference(&candidate_keys).cloned().collect();
    compared
}

fn keys_of(verdict: &Verdict, keys: &mut BTreeSet<String>) {
    keys.extend(verdict.state_read.iter().cloned());
    keys.extend(verdict.state_writes.iter().map(|w| w.key.clone()));
}

fn plural_es(n: usize) -> &'static str {
    if n == 1 { "" } else { "es" }
}
