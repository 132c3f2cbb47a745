//! Human-readable output: the decision table and the units in it.

use std::fmt::Write as _;
use std::io::Write as _;

use clickrules_engine::Action;
use clickrules_engine::text::escape_control as esc;
use clickrules_pipeline::{DecisionRecord, LedgerOutcome, OutcomeStatus, PressRecord, Receipt};

/// Writes to stdout; a reader that went away (`| head`) is not an error.
pub fn emit(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// `snapshot us-west-1`, `notify "subject"`, `ignore "reason"`. Guest text is escaped, as
/// everywhere in human output: a guest must not be able to redraw the terminal.
pub fn action(action: &Action) -> String {
    match action {
        Action::Snapshot { region } => format!("snapshot {}", esc(region)),
        Action::Notify { subject, .. } => format!("notify {subject:?}"),
        Action::Ignore { reason } => format!("ignore {reason:?}"),
    }
}

/// A press record as the human table: what arrived, which guest decided, what it decided,
/// what each action did (or, in a dry run, would do), what it cost, and how it ended.
pub fn record(r: &PressRecord) -> String {
    let mut out = String::new();
    let press = match &r.click {
        Some(c) => {
            let battery = match (c.battery_mv, c.battery_pct) {
                (Some(mv), Some(pct)) => format!("battery {mv} mV, {pct}%"),
                (Some(mv), None) => format!("battery {mv} mV"),
                (None, Some(pct)) => format!("battery {pct}%"),
                (None, None) => "battery not reported".to_string(),
            };
            let format = r.event_format.map_or("click", |f| f.as_str());
            format!(
                "{} from {} ({battery}), {format} event",
                c.click_type,
                esc(&c.serial_number)
            )
        }
        None if !r.skipped.is_empty() => format!(
            "no press in this {} message",
            r.event_format.map_or("event", |f| f.as_str())
        ),
        None => "not recognised".into(),
    };
    let _ = writeln!(out, "press      {press}");
    for skipped in &r.skipped {
        let _ = writeln!(
            out,
            "skipped    {}{}: {}",
            skipped.kind.as_str(),
            skipped
                .device
                .as_ref()
                .map_or_else(String::new, |d| format!(" from {}", esc(d))),
            esc(&skipped.detail)
        );
    }
    if let Some(g) = &r.guest {
        let _ = writeln!(
            out,
            "guest      {} (sha256 {}, {}, contract {}{}){}",
            esc(&g.uri),
            short_sha(&g.sha256),
            bytes(g.size_bytes),
            esc(&g.contract),
            if g.uses_state { ", uses state" } else { "" },
            match &g.signed_by {
                Some(key) => format!(", from an artifact signed by {key}"),
                None => String::new(),
            }
        );
        if let Some(why) = &g.stale {
            let _ = writeln!(out, "stale      ran the cached guest: {}", esc(why));
        }
    }
    if let Some(fallback) = &r.fallback {
        let _ = writeln!(
            out,
            "fallback   the built-in guest decided because {} failed: {}",
            esc(fallback
                .failed_guest
                .as_ref()
                .map_or("the guest", |g| g.uri.as_str())),
            esc(&fallback.error.message)
        );
    }
    if let Some(d) = &r.decision {
        decision(&mut out, r, d);
    }
    if r.ledger.outcome != LedgerOutcome::Off {
        let _ = writeln!(out, "ledger     {}", ledger(r));
    }
    // A dry run that passed says all there is to say above.
    if r.executed || r.failure.is_some() {
        let _ = writeln!(
            out,
            "result     {}",
            match &r.failure {
                None => "ok".to_string(),
                Some(f) => format!("FAILED ({}): {}", f.kind, esc(&f.message)),
            }
        );
    }
    out
}

fn decision(out: &mut String, r: &PressRecord, d: &DecisionRecord) {
    match &d.error {
        None => {
            let n = d.actions.len();
            let _ = writeln!(
                out,
                "decision   ok: {n} action{} ({})",
                if n == 1 { "" } else { "s" },
                if r.executed {
                    "executed"
                } else {
                    "dry run: nothing was executed"
                }
            );
            for (i, a) in d.actions.iter().enumerate() {
                let outcome = r.outcomes.get(i);
                match (r.executed, outcome.and_then(|o| o.receipt.as_ref())) {
                    (false, Some(receipt)) => {
                        let _ = writeln!(out, "  {}. {:<32} {}", i + 1, action(a), would(receipt));
                    }
                    _ => {
                        let _ = writeln!(out, "  {}. {}", i + 1, action(a));
                    }
                }
                if let Action::Notify { message, .. } = a {
                    let _ = writeln!(out, "     message: {}", esc(message));
                }
                if let Action::Ignore { reason } = a {
                    let _ = writeln!(out, "     reason: {}", esc(reason));
                }
            }
        }
        Some(e) => {
            let _ = writeln!(out, "decision   FAILED ({}): {}", e.kind, esc(&e.message));
            backtrace(out, &e.backtrace);
            let _ = writeln!(out, "           nothing would be executed");
        }
    }
    let _ = writeln!(
        out,
        "cost       {} instructions, {} peak memory, {}",
        thousands(d.instructions),
        bytes(d.peak_memory_bytes),
        micros(d.duration_us)
    );
    for log in &d.output.logs {
        let level = log.level.as_str();
        let _ = writeln!(out, "log        {level:<5} {}", esc(&log.message));
    }
    if d.output.logs_dropped > 0 {
        let _ = writeln!(
            out,
            "log        ({} more lines dropped)",
            d.output.logs_dropped
        );
    }
    for (name, text) in [("stdout", &d.output.stdout), ("stderr", &d.output.stderr)] {
        for line in text.lines() {
            let _ = writeln!(out, "{name:<10} {}", esc(line));
        }
    }
    if d.output.output_dropped_bytes > 0 {
        let _ = writeln!(
            out,
            "output     ({} bytes dropped)",
            d.output.output_dropped_bytes
        );
    }
    if r.executed {
        for (i, outcome) in r.outcomes.iter().enumerate() {
            let status = match (&outcome.status, &outcome.error) {
                (OutcomeStatus::Failed, Some(e)) => {
                    format!("FAILED ({}): {}", e.kind, esc(&e.message))
                }
                _ if outcome.done_earlier => "done by an earlier delivery".to_string(),
                _ => format!(
                    "done: {}",
                    outcome
                        .receipt
                        .as_ref()
                        .map(|r| serde_json::to_string(r).unwrap_or_default())
                        .unwrap_or_default()
                ),
            };
            let _ = writeln!(
                out,
                "outcome {}. {:<32} {status}",
                i + 1,
                action(&outcome.action)
            );
        }
    }
}

/// What a dry run says an action would do.
fn would(receipt: &Receipt) -> String {
    match receipt {
        Receipt::WouldInvoke {
            target, payload, ..
        } => format!("would invoke {target} with {payload}"),
        Receipt::WouldPublish { topic_arn } => format!("would publish to {topic_arn}"),
        Receipt::Logged => "logged only".into(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

fn ledger(r: &PressRecord) -> String {
    let attempt = r
        .ledger
        .attempt
        .map_or(String::new(), |a| format!(", delivery {a}"));
    match r.ledger.outcome {
        LedgerOutcome::Off => "off".into(),
        LedgerOutcome::New => format!("new press {}{attempt}", esc(&r.press_id)),
        LedgerOutcome::Resumed => format!(
            "resumed press {}{attempt}: {} action(s) done earlier were not repeated",
            esc(&r.press_id),
            r.ledger.skipped_actions
        ),
        LedgerOutcome::Duplicate => format!(
            "duplicate of press {}: answered from the ledger, nothing ran",
            esc(&r.press_id)
        ),
        LedgerOutcome::InProgress => format!(
            "press {} is being handled by another delivery; nothing ran",
            esc(&r.press_id)
        ),
    }
}

pub fn short_sha(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

pub fn micros(us: u64) -> String {
    if us >= 1_000_000 {
        format!("{:.2} s", us as f64 / 1e6)
    } else {
        format!("{:.2} ms", us as f64 / 1e3)
    }
}

/// A trapped guest's stack, innermost frame first, one line each: what an author reads to find
/// the line that failed.
pub fn backtrace(out: &mut String, frames: &[clickrules_engine::GuestFrame]) {
    if frames.is_empty() {
        return;
    }
    let _ = writeln!(out, "           guest backtrace (innermost first):");
    for (i, frame) in frames.iter().enumerate() {
        let _ = writeln!(out, "           {i:>3}: {}", esc(&frame.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
        assert_eq!(micros(420), "0.42 ms");
        assert_eq!(micros(1_500_000), "1.50 s");
    }
}
