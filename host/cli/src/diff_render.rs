//! The human form of a comparison: the two guests, each differing press side by side, the
//! counts, and the state keys only one of them uses.

use std::fmt::Write as _;

use clickrules_engine::text::escape_control as esc;
use clickrules_pipeline::{GuestRecord, Verdict};

use crate::compare::{Change, Compared, Difference, Origin};
use crate::render;

/// Width of the press and of the active guest's column.
const PRESS_WIDTH: usize = 46;
const SIDE_WIDTH: usize = 36;

pub fn table(c: &Compared) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "candidate  {}", guest(&c.candidate));
    let _ = writeln!(out, "active     {}", guest(&c.active));
    let mut compared = format!(
        "compared   {} press{}: {} from the check sweep, {} from history",
        c.presses,
        if c.presses == 1 { "" } else { "es" },
        c.sweep_presses,
        c.history_presses
    );
    if c.inexact > 0 {
        let _ = write!(
            compared,
            " ({} recorded without their seed or state, replayed as closely as possible)",
            c.inexact
        );
    }
    let _ = writeln!(out, "{compared}");
    if c.differs() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<PRESS_WIDTH$}  {:<SIDE_WIDTH$}  CANDIDATE",
            "PRESS", "ACTIVE"
        );
        for d in &c.differences {
            let _ = writeln!(
                out,
                "{:<PRESS_WIDTH$}  {:<SIDE_WIDTH$}  {}",
                clip(&press(d), PRESS_WIDTH),
                clip(&verdict(&d.active), SIDE_WIDTH),
                verdict(&d.candidate)
            );
            if d.change == Change::NowFailing
                && let Some(message) = &d.candidate.message
            {
                let _ = writeln!(out, "{:PRESS_WIDTH$}  └ {}", "", esc(message));
            }
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "same {}  changed {}  now failing {}  now passing {}",
        c.same, c.changed, c.now_failing, c.now_passing
    );
    if !c.state_keys_only_candidate.is_empty() {
        let _ = writeln!(
            out,
            "state keys only the candidate reads or writes: {}",
            keys(&c.state_keys_only_candidate)
        );
    }
    if !c.state_keys_only_active.is_empty() {
        let _ = writeln!(
            out,
            "state keys only the active guest reads or writes: {}",
            keys(&c.state_keys_only_active)
        );
    }
    let _ = writeln!(out, "{}", c.summary());
    out
}

fn guest(g: &GuestRecord) -> String {
    let mut text = format!(
        "{} (sha256 {}",
        esc(&g.uri),
        &g.sha256[..g.sha256.len().min(12)]
    );
    if let Some(version) = &g.version_id {
        let _ = write!(text, ", version {}", esc(version));
    }
    text.push(')');
    text
}

fn press(d: &Difference) -> String {
    let click = format!(
        "{} {}",
        d.click.click_type,
        d.click
            .battery_mv
            .map_or_else(|| "no battery".to_string(), |mv| format!("{mv} mV"))
    );
    match &d.origin {
        Origin::Sweep => format!("sweep   {click}"),
        Origin::History {
            press_id,
            received_at_ms,
            exact,
        } => format!(
            "{}{} {} {click}",
            time(*received_at_ms),
            if *exact { "" } else { "~" },
            esc(press_id)
        ),
    }
}

/// What a guest decided, on one line.
pub fn verdict(v: &Verdict) -> String {
    if let Some(kind) = &v.error {
        return format!("fails: {kind}");
    }
    let mut text = if v.actions.is_empty() {
        "no actions".to_string()
    } else {
        v.actions
            .iter()
            .map(render::action)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !v.state_writes.is_empty() {
        let written: Vec<&str> = v.state_writes.iter().map(|w| w.key.as_str()).collect();
        let _ = write!(text, "; writes {}", esc(&written.join(",")));
    }
    text
}

fn keys(keys: &[String]) -> String {
    keys.iter()
        .map(|k| esc(k).into_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

fn time(ms: u64) -> String {
    jiff::Timestamp::from_millisecond(ms as i64)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|_| ms.to_string())
}

fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width - 1).collect();
    cut.push('…');
    cut
}
