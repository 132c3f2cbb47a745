//! Human-readable output: the decision table and the units in it.

use std::fmt::Write as _;
use std::io::Write as _;

use clickrules_engine::text::escape_control as esc;
use clickrules_engine::{Action, Decision};

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

/// What executing an action would do, for a dry run.
pub fn would_do(action: &Action) -> String {
    match action {
        Action::Snapshot { region } => {
            let function = env_or("CLICKRULES_SNAPSHOT_FUNCTION", "scheduled_snapshot");
            let qualifier = env_or("CLICKRULES_SNAPSHOT_QUALIFIER", "prod");
            let target = if qualifier.is_empty() {
                function
            } else {
                format!("{function}:{qualifier}")
            };
            format!(
                "would invoke {target} with {}",
                serde_json::json!({ "region": region })
            )
        }
        Action::Notify { .. } => match std::env::var("CLICKRULES_NOTIFY_TOPIC_ARN") {
            Ok(topic) if !topic.is_empty() => format!("would publish to {topic}"),
            _ => "would publish to the notification topic (CLICKRULES_NOTIFY_TOPIC_ARN is not set)"
                .into(),
        },
        Action::Ignore { .. } => "logged only".into(),
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

/// The decision of a dry run: what each action would do.
pub fn decision(d: &Decision) -> String {
    decision_text(d, false)
}

/// `executed`: the actions ran, and what each did is listed after this (see [`record`]).
fn decision_text(d: &Decision, executed: bool) -> String {
    let mut out = String::new();
    let press = match &d.click {
        Some(c) => {
            let battery = c.battery_mv.map_or_else(
                || "battery not reported".to_string(),
                |mv| format!("battery {mv} mV"),
            );
            let format = d.event_format.map_or("click", |f| f.as_str());
            format!(
                "{} from {} ({battery}), {format} event",
                c.click_type,
                esc(&c.serial_number)
            )
        }
        None => "not recognised".into(),
    };
    let _ = writeln!(out, "press      {press}");
    let _ = writeln!(
        out,
        "guest      {} (sha256 {}, {})",
        esc(d.guest.uri.as_deref().unwrap_or("?")),
        short_sha(&d.guest.sha256),
        bytes(d.guest.size_bytes)
    );
    match &d.error {
        None => {
            let n = d.actions.len();
            let _ = writeln!(
                out,
                "decision   ok: {n} action{} ({})",
                if n == 1 { "" } else { "s" },
                if executed {
                    "executed"
                } else {
                    "dry run: nothing was executed"
                }
            );
            for (i, a) in d.actions.iter().enumerate() {
                if executed {
                    let _ = writeln!(out, "  {}. {}", i + 1, action(a));
                } else {
                    let _ = writeln!(out, "  {}. {:<32} {}", i + 1, action(a), would_do(a));
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
            let _ = writeln!(
                out,
                "decision   FAILED ({}): {}",
                e.kind(),
                esc(&e.to_string())
            );
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
    out
}

/// A press carried out on AWS: the decision, then what each action did.
pub fn record(record: &clickrules_aws::PressRecord) -> String {
    let mut out = match &record.decision {
        Some(d) => decision_text(d, true),
        None => String::from("decision   none: no guest could be obtained\n"),
    };
    if let Some(fallback) = &record.fallback {
        let _ = writeln!(
            out,
            "fallback   the built-in guest decided because {} failed: {}",
            esc(fallback.failed_guest.uri.as_deref().unwrap_or("the guest")),
            esc(&fallback.error.to_string())
        );
    }
    if let Some(why) = &record.guest_stale {
        let _ = writeln!(out, "stale      ran the cached guest: {}", esc(why));
    }
    for (i, outcome) in record.outcomes.iter().enumerate() {
        let status = match &outcome.result {
            Ok(receipt) => format!(
                "done: {}",
                serde_json::to_string(receipt).unwrap_or_default()
            ),
            Err(e) => format!("FAILED ({}): {}", e.kind(), esc(&e.to_string())),
        };
        let _ = writeln!(
            out,
            "outcome {}. {:<32} {status}",
            i + 1,
            action(&outcome.action)
        );
    }
    let _ = writeln!(
        out,
        "result     {}",
        match &record.failure {
            None => "ok".to_string(),
            Some(f) => format!("FAILED ({}): {}", f.kind(), esc(&f.to_string())),
        }
    );
    out
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

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_string())
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
