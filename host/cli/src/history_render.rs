//! How `history` and `explain` write presses: the table, and the short forms of a press's
//! parts both use. Device and guest text is escaped: it comes from buttons and guests.

use std::fmt::Write as _;

use clickrules_engine::Action;
use clickrules_engine::text::escape_control as esc;
use clickrules_pipeline::{ErrorInfo, GuestRecord, PressOutcome, PressRecord};

use crate::local_history::{Listed, devices};

/// Characters of an `ignore` reason the table keeps.
const REASON_CHARS: usize = 32;
/// Characters of an object version id the table keeps (S3's are 32).
const VERSION_CHARS: usize = 8;

/// `2026-12-03 10:00:00`, UTC.
pub fn utc(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map_or_else(
            || format!("{ms} ms"),
            |at| at.strftime("%Y-%m-%d %H:%M:%S").to_string(),
        )
}

/// `snapshot(us-west-1)`, `notify("subject")`, `ignore — "reason"`.
pub fn action(action: &Action) -> String {
    match action {
        Action::Snapshot { region } => format!("snapshot({})", esc(region)),
        Action::Notify { subject, .. } => format!("notify({})", quoted(subject)),
        Action::Ignore { reason } => format!("ignore — {}", quoted(reason)),
    }
}

/// The actions as the table shows them: `snapshot(us-west-1), notify`, `ignore: reason…`.
fn actions(record: &PressRecord) -> String {
    let parts: Vec<String> = record
        .actions()
        .iter()
        .map(|a| match a {
            Action::Snapshot { region } => format!("snapshot({})", esc(region)),
            Action::Notify { .. } => "notify".to_string(),
            Action::Ignore { reason } => format!("ignore: {}", cut(&esc(reason), REASON_CHARS)),
        })
        .collect();
    match parts.is_empty() {
        true => "-".to_string(),
        false => parts.join(", "),
    }
}

/// `1a2b3c4d v3`: the guest's bytes and, where the store versions it, the version.
fn guest(guest: Option<&GuestRecord>) -> String {
    let Some(g) = guest else {
        return "-".to_string();
    };
    let sha = short_sha(&g.sha256);
    match &g.version_id {
        Some(version) => format!("{sha} v{}", cut(&esc(version), VERSION_CHARS)),
        None if g.uri.starts_with("builtin:") => format!("{sha} {}", esc(&g.uri)),
        None => sha.to_string(),
    }
}

/// `SOURCE#ID` of the press, or the devices its message named.
pub fn device(record: &PressRecord) -> String {
    let named: Vec<String> = devices(record)
        .into_iter()
        .map(|(source, id)| match source.is_empty() {
            true => esc(&id).into_owned(),
            false => format!("{}#{}", esc(&source), esc(&id)),
        })
        .collect();
    match named.is_empty() {
        true => "-".to_string(),
        false => named.join(", "),
    }
}

/// The outcome column: what the press came to, whether it was only a dry run, and how many
/// more deliveries were answered as duplicates.
fn outcome(listed: &Listed) -> String {
    let record = &listed.entry.record;
    let outcome = PressOutcome::of(record);
    let mut text = outcome.as_str().to_string();
    if !record.executed && matches!(outcome, PressOutcome::Ok | PressOutcome::Fallback) {
        text.push_str(" (dry run)");
    }
    if listed.entry.duplicates > 0 {
        let _ = write!(text, " +{} dup", listed.entry.duplicates);
    }
    text
}

/// The failure's kind; for a fallback, the failed guest's.
fn failure(record: &PressRecord) -> String {
    match (failure_of(record), &record.fallback) {
        (Some(f), _) => esc(&f.kind).into_owned(),
        (None, Some(fallback)) => format!("{} (guest)", esc(&fallback.error.kind)),
        (None, None) => String::new(),
    }
}

/// Why the press failed. A store may give back a press whose actions failed as it was
/// stored before they ran (the decision, the outcomes after it) with no failure of its own:
/// its outcomes then say it.
pub fn failure_of(record: &PressRecord) -> Option<ErrorInfo> {
    if let Some(failure) = &record.failure {
        return Some(failure.clone());
    }
    let errors: Vec<&ErrorInfo> = record
        .outcomes
        .iter()
        .filter(|o| !o.is_ok())
        .filter_map(|o| o.error.as_ref())
        .collect();
    if let Some(first) = errors.first() {
        return Some(ErrorInfo {
            kind: "actions".to_string(),
            message: format!(
                "{} of {} actions failed; the first: {}",
                errors.len(),
                record.actions().len(),
                first.message
            ),
            retryable: Some(errors.iter().any(|e| e.retryable == Some(true))),
            backtrace: Vec::new(),
        });
    }
    (!record.ok).then(|| ErrorInfo {
        kind: "failed".to_string(),
        message: "the press failed; its record does not say why".to_string(),
        retryable: None,
        backtrace: Vec::new(),
    })
}

/// The presses as a table, one line each, in the order given.
pub fn table(entries: &[Listed]) -> String {
    let header = [
        "time (UTC)",
        "press id",
        "device",
        "click",
        "guest",
        "outcome",
        "actions",
        "failure",
    ];
    let rows: Vec<[String; 8]> = entries
        .iter()
        .map(|listed| {
            let r = &listed.entry.record;
            [
                listed.received_at_ms.map_or_else(|| "-".to_string(), utc),
                esc(&r.press_id).into_owned(),
                device(r),
                r.click
                    .as_ref()
                    .map_or_else(|| "-".to_string(), |c| c.click_type.to_string()),
                guest(r.guest.as_ref()),
                outcome(listed),
                actions(r),
                failure(r),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header = header.map(str::to_string);
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(widths) {
            let _ = write!(
                line,
                "{cell}{:pad$}  ",
                "",
                pad = width - cell.chars().count()
            );
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `"text"`, escaped once (Debug-quoting escaped text would escape its escapes again).
pub fn quoted(text: &str) -> String {
    format!("\"{}\"", esc(text))
}

/// The first 8 characters of a SHA-256, escaped: a stored record is input too, and a byte
/// index into it could split a character.
pub fn short_sha(sha: &str) -> String {
    esc(&sha.chars().take(8).collect::<String>()).into_owned()
}

/// `text` cut to `max` characters, the cut marked.
fn cut(text: &str, max: usize) -> String {
    match text.chars().count() > max {
        true => format!("{}…", text.chars().take(max).collect::<String>()),
        false => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_and_reasons_are_cut() {
        assert_eq!(utc(1_796_292_000_000), "2026-12-03 10:00:00");
        assert_eq!(cut("outside office hours", 7), "outside…");
        assert_eq!(cut("short", 7), "short");
    }
}
