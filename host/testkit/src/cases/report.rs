//! Results: each case's expected and actual outcome, the differences, and the table a person
//! reads (`Display`) or a machine reads (`Serialize`).

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use clickrules_engine::text::escape_control;
use clickrules_engine::{Action, LogEntry, PressError};
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};

use super::{Case, Expect, Outcome, StateValue};

/// Longest case name the table prints before truncating it.
const NAME_COLUMN: usize = 60;
/// Longest detail the table prints on a case's line; the diff below has the rest.
const DETAIL_COLUMN: usize = 72;

/// What a press actually did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actual {
    /// The validated actions (none when the press failed).
    pub actions: Vec<Action>,
    /// Why the press failed, if it did (`kind` and `message` in JSON).
    pub error: Option<PressError>,
    /// The device's live state after the press: the state before with the press's writes
    /// when it succeeded, unchanged when it failed.
    pub state: BTreeMap<String, StateValue>,
    /// Instructions the guest executed.
    pub instructions: u64,
    /// Host time for the press.
    pub duration_us: u64,
    /// What the guest logged through `host.log`.
    pub logs: Vec<LogEntry>,
    /// What the guest printed to stdout.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stdout: String,
    /// What the guest printed to stderr (an interpreter's traceback, for one).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stderr: String,
}

/// One difference between what a case expected and what happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// `actions`, `error` or `state`.
    pub field: &'static str,
    /// The expected side, one line per action, key or error.
    pub expected: Vec<String>,
    /// The actual side, likewise.
    pub actual: Vec<String>,
}

/// The result of one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// Whether the press did what the case expects.
    pub passed: bool,
    /// In a few words: why it failed, or what it decided.
    pub reason: String,
    /// What the case expects.
    pub expected: Expect,
    /// What the press did.
    pub actual: Actual,
    /// Each difference (none when it passed).
    pub diffs: Vec<Diff>,
}

/// The results of a cases file against one guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The cases file.
    pub cases_file: PathBuf,
    /// The guest pressed.
    pub guest: PathBuf,
    /// SHA-256 of the guest's bytes.
    pub sha256: String,
    /// How many cases passed.
    pub passed: usize,
    /// How many failed.
    pub failed: usize,
    /// Each case, in file order.
    pub results: Vec<CaseResult>,
}

impl Report {
    pub(super) fn new(cases: &Path, guest: &Path, sha256: &str, results: Vec<CaseResult>) -> Self {
        let passed = results.iter().filter(|r| r.passed).count();
        Self {
            cases_file: cases.to_path_buf(),
            guest: guest.to_path_buf(),
            sha256: sha256.to_string(),
            passed,
            failed: results.len() - passed,
            results,
        }
    }

    /// Whether every case passed.
    pub fn all_passed(&self) -> bool {
        self.failed == 0
    }

    /// The cases that failed.
    pub fn failures(&self) -> impl Iterator<Item = &CaseResult> {
        self.results.iter().filter(|r| !r.passed)
    }

    /// Panics with the table and every failure's diff unless every case passed: the one call
    /// a `#[test]` needs.
    #[track_caller]
    pub fn assert_all_pass(&self) {
        if !self.all_passed() {
            panic!(
                "{} of {} cases failed\n{self}",
                self.failed,
                self.results.len()
            );
        }
    }

    /// The table alone: one line per case.
    pub fn table(&self) -> String {
        let width = self
            .results
            .iter()
            .map(|r| shorten(&r.name, NAME_COLUMN).chars().count())
            .max()
            .unwrap_or(0)
            .max("case".len());
        let mut out = String::new();
        let _ = writeln!(out, "{:width$}  result  detail", "case");
        for r in &self.results {
            let _ = writeln!(
                out,
                "{:width$}  {:6}  {}",
                shorten(&r.name, NAME_COLUMN),
                if r.passed { "PASS" } else { "FAIL" },
                shorten(&r.reason, DETAIL_COLUMN),
            );
        }
        out
    }

    /// Each failure's differences, expected against actual.
    pub fn diffs(&self) -> String {
        let mut out = String::new();
        for r in self.failures() {
            let _ = writeln!(out, "\nFAIL {:?}", escape_control(&r.name));
            for d in &r.diffs {
                let _ = writeln!(out, "  {} (- expected, + actual):", d.field);
                for line in line_diff(&d.expected, &d.actual) {
                    let _ = writeln!(out, "    {line}");
                }
            }
            if !r.actual.stderr.is_empty() {
                let _ = writeln!(out, "  guest stderr:");
                for line in r.actual.stderr.lines() {
                    let _ = writeln!(out, "    {}", escape_control(line));
                }
            }
            for log in &r.actual.logs {
                let _ = writeln!(
                    out,
                    "  log {:5} {}",
                    log.level.as_str(),
                    escape_control(&log.message)
                );
            }
        }
        out
    }

    /// The last line: counts and what ran against what.
    pub fn summary(&self) -> String {
        format!(
            "{} passed, {} failed: {} against {}",
            self.passed,
            self.failed,
            self.cases_file.display(),
            self.guest.display()
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}\n{}", self.table(), self.diffs(), self.summary())
    }
}

/// Compares what happened with what the case expects.
pub(super) fn judge(case: &Case, actual: Actual) -> CaseResult {
    let mut diffs = Vec::new();
    let mut reasons = Vec::new();
    match &case.expect.outcome {
        Outcome::Succeeds => {
            if let Some(e) = &actual.error {
                reasons.push(format!("failed: {}", first_line(&e.to_string())));
                diffs.push(error_diff(vec!["none".into()], e));
            }
        }
        Outcome::Actions(expected) => {
            if let Some(e) = &actual.error {
                reasons.push(format!("failed: {}", first_line(&e.to_string())));
                diffs.push(error_diff(vec!["none".into()], e));
            } else if *expected != actual.actions {
                reasons.push("actions differ".into());
            }
            if *expected != actual.actions {
                diffs.push(Diff {
                    field: "actions",
                    expected: expected.iter().map(action_line).collect(),
                    actual: actual.actions.iter().map(action_line).collect(),
                });
            }
        }
        Outcome::Error { kind, message } => {
            let want = match message {
                Some(m) => format!("{kind}: ...{m}..."),
                None => kind.clone(),
            };
            match &actual.error {
                None => {
                    reasons.push(format!("expected a {kind} error; the press succeeded"));
                    diffs.push(Diff {
                        field: "error",
                        expected: vec![want],
                        actual: vec!["none".into()],
                    });
                    if !actual.actions.is_empty() {
                        diffs.push(Diff {
                            field: "actions",
                            expected: Vec::new(),
                            actual: actual.actions.iter().map(action_line).collect(),
                        });
                    }
                }
                Some(e)
                    if e.kind() != kind
                        || message.as_ref().is_some_and(|m| !e.to_string().contains(m)) =>
                {
                    reasons.push(format!(
                        "expected a {kind} error, got {}: {}",
                        e.kind(),
                        first_line(&e.to_string())
                    ));
                    diffs.push(error_diff(vec![want], e));
                }
                Some(_) => {}
            }
        }
    }
    if let Some(expected) = &case.expect.state {
        let matches = expected.len() == actual.state.len()
            && expected.iter().all(|(key, want)| {
                actual.state.get(key).is_some_and(|got| {
                    got.value == want.value
                        && (want.ttl_seconds.is_none() || got.ttl_seconds == want.ttl_seconds)
                })
            });
        if !matches {
            reasons.push("state after differs".into());
            diffs.push(Diff {
                field: "state",
                expected: expected
                    .iter()
                    .map(|(k, v)| state_line(k, v, v.ttl_seconds.is_some()))
                    .collect(),
                // An expiry the case does not check is left out, so only real differences
                // show.
                actual: actual
                    .state
                    .iter()
                    .map(|(k, v)| {
                        let ttl = expected.get(k).is_none_or(|w| w.ttl_seconds.is_some());
                        state_line(k, v, ttl)
                    })
                    .collect(),
            });
        }
    }
    let passed = reasons.is_empty();
    let reason = if passed {
        match &actual.error {
            Some(e) => format!("{}: {}", e.kind(), first_line(&e.to_string())),
            None if actual.actions.is_empty() => "no actions".into(),
            None => actual
                .actions
                .iter()
                .map(action_line)
                .collect::<Vec<_>>()
                .join(", "),
        }
    } else {
        reasons.join("; ")
    };
    CaseResult {
        name: case.name.clone(),
        passed,
        reason,
        expected: case.expect.clone(),
        actual,
        diffs,
    }
}

fn error_diff(expected: Vec<String>, actual: &PressError) -> Diff {
    let text = actual.to_string();
    let mut lines = text.lines();
    let mut actual_lines = vec![format!(
        "{}: {}",
        actual.kind(),
        escape_control(lines.next().unwrap_or_default())
    )];
    // A trap's backtrace, one frame a line, under the error's first line.
    actual_lines.extend(lines.map(|l| format!("  {}", escape_control(l))));
    Diff {
        field: "error",
        expected,
        actual: actual_lines,
    }
}

/// An action as a cases file writes it: `{ snapshot = "us-west-1" }`.
pub(super) fn action_line(action: &Action) -> String {
    match action {
        Action::Snapshot { region } => format!("{{ snapshot = {} }}", quoted(region)),
        Action::Notify { subject, message } => format!(
            "{{ notify = {{ subject = {}, message = {} }} }}",
            quoted(subject),
            quoted(message)
        ),
        Action::Ignore { reason } => format!("{{ ignore = {} }}", quoted(reason)),
    }
}

fn state_line(key: &str, value: &StateValue, with_ttl: bool) -> String {
    match value.ttl_seconds.filter(|_| with_ttl) {
        Some(ttl) => format!(
            "{} = {{ value = {}, ttl_seconds = {ttl} }}",
            quoted(key),
            quoted(&value.value)
        ),
        None => format!("{} = {}", quoted(key), quoted(&value.value)),
    }
}

/// A string as TOML and JSON both read it, with anything that could disturb a terminal
/// escaped.
fn quoted(text: &str) -> String {
    let json = serde_json::to_string(text).unwrap_or_else(|_| format!("{text:?}"));
    escape_control(&json).into_owned()
}

fn first_line(text: &str) -> String {
    escape_control(text.lines().next().unwrap_or_default()).into_owned()
}

fn shorten(text: &str, max: usize) -> String {
    let text = escape_control(text);
    if text.chars().count() <= max {
        return text.into_owned();
    }
    let mut short: String = text.chars().take(max.saturating_sub(3)).collect();
    short.push_str("...");
    short
}

/// `expected` against `actual`, line by line: shared lines once (indented), the rest marked
/// `-` (expected) or `+` (actual), in order. An empty side reads `(none)`.
fn line_diff(expected: &[String], actual: &[String]) -> Vec<String> {
    let none = ["(none)".to_string()];
    let expected = if expected.is_empty() {
        &none[..]
    } else {
        expected
    };
    let actual = if actual.is_empty() { &none[..] } else { actual };
    // Longest common subsequence: lists here are a few lines long.
    let (n, m) = (expected.len(), actual.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if expected[i] == actual[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < n || j < m {
        if i < n && j < m && expected[i] == actual[j] {
            out.push(format!("  {}", expected[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] > lcs[i + 1][j]) {
            out.push(format!("+ {}", actual[j]));
            j += 1;
        } else {
            out.push(format!("- {}", expected[i]));
            i += 1;
        }
    }
    out
}

impl Serialize for StateValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.ttl_seconds {
            None => serializer.serialize_str(&self.value),
            Some(ttl) => {
                let mut s = serializer.serialize_struct("StateValue", 2)?;
                s.serialize_field("value", &self.value)?;
                s.serialize_field("ttl_seconds", &ttl)?;
                s.end()
            }
        }
    }
}

/// `{"actions": [...] | null, "error": {"kind", "message"?} | null, "state": {...} | null}`;
/// with neither actions nor error, any successful press passes.
impl Serialize for Expect {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct ErrorView<'a> {
            kind: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            message: Option<&'a str>,
        }
        let mut map = serializer.serialize_map(Some(3))?;
        match &self.outcome {
            Outcome::Succeeds => {
                map.serialize_entry("actions", &None::<()>)?;
                map.serialize_entry("error", &None::<()>)?;
            }
            Outcome::Actions(actions) => {
                map.serialize_entry("actions", actions)?;
                map.serialize_entry("error", &None::<()>)?;
            }
            Outcome::Error { kind, message } => {
                map.serialize_entry("actions", &None::<()>)?;
                map.serialize_entry(
                    "error",
                    &ErrorView {
                        kind,
                        message: message.as_deref(),
                    },
                )?;
            }
        }
        map.serialize_entry("state", &self.state)?;
        map.end()
    }
}
