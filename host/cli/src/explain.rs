//! `clickrules explain PRESS_ID`: one press told as a short story, from what arrived to what
//! it came to, and when nothing happened, exactly why (`nothing happened: <reason>`), so "I
//! pressed the button and nothing happened" is answered from the record alone.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;
use clickrules_engine::text::escape_control as esc;
use clickrules_engine::{Action, GuestFrame};
use clickrules_pipeline::{
    ErrorInfo, LedgerOutcome, OutcomeRecord, OutcomeStatus, PressRecord, Receipt,
};

use crate::history::SourceArgs;
use crate::history_render::{action, device, failure_of, quoted, short_sha, utc};
use crate::local_history::Listed;
use crate::render;

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The press id (as `history` lists it).
    press_id: String,
    /// Print the history entry (with the press record) as JSON.
    #[arg(long)]
    json: bool,
    // Last: its help heading would otherwise take in the options after it.
    #[command(flatten)]
    source: SourceArgs,
}

pub fn run(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let source = args.source.open()?;
    let Some(listed) = source.get(&args.press_id)? else {
        anyhow::bail!("no press {} in {}", esc(&args.press_id), source.name());
    };
    if args.json {
        render::emit(&format!("{}\n", serde_json::to_string_pretty(&listed)?))?;
    } else {
        render::emit(&narrative(&listed))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The press as a story, one labelled line per step.
pub fn narrative(listed: &Listed) -> String {
    let r = &listed.entry.record;
    let mut out = String::new();
    let when = listed.received_at_ms.map_or_else(
        || "an unknown time".to_string(),
        |ms| format!("{} UTC", utc(ms)),
    );
    let _ = writeln!(out, "press {} at {when}", esc(&r.press_id));
    let _ = writeln!(out, "arrived    {}", arrived(listed));
    let _ = writeln!(out, "normalised {}", normalised(r));
    if let Some(fallback) = &r.fallback {
        let failed = fallback.failed_guest.as_ref();
        let _ = writeln!(
            out,
            "guest      {} failed ({}): {}",
            failed.map_or_else(|| "the configured guest".into(), guest),
            esc(&fallback.error.kind),
            esc(&fallback.error.message)
        );
    }
    if let Some(g) = &r.guest {
        let by = if r.fallback.is_some() {
            "fallback  "
        } else {
            "guest     "
        };
        let _ = writeln!(out, "{by} {}", guest(g));
    }
    if let Some(decision) = &r.decision {
        let _ = match &decision.error {
            // A failed press says why below; a guest rescued by the fallback says it above.
            Some(e) => writeln!(
                out,
                "decided    nothing: the guest failed ({})",
                esc(&e.kind)
            ),
            None if decision.actions.is_empty() => writeln!(out, "decided    no actions"),
            None => writeln!(out, "decided    {}", list(&decision.actions)),
        };
    }
    if let Some(state) = &r.state {
        let _ = writeln!(out, "state      {}", state_line(state));
    }
    ran(&mut out, r);
    if listed.entry.duplicates > 0 {
        let n = listed.entry.duplicates;
        let _ = writeln!(
            out,
            "duplicate  {n} later deliver{} answered as {} of {}: nothing ran again",
            if n == 1 { "y was" } else { "ies were" },
            if n == 1 { "a duplicate" } else { "duplicates" },
            r.ledger
                .attempt
                .map_or_else(|| "this delivery".to_string(), |a| format!("delivery {a}"))
        );
    }
    if let Some(shadow) = &r.shadow {
        let _ = writeln!(
            out,
            "shadow     {} decided {}{}",
            shadow
                .guest
                .as_ref()
                .map_or_else(|| "the shadow guest".into(), guest),
            match &shadow.verdict.error {
                Some(kind) => format!("nothing: failed ({})", esc(kind)),
                None => list(&shadow.verdict.actions),
            },
            if shadow.differs {
                " (differs)"
            } else {
                " (the same)"
            }
        );
    }
    let _ = writeln!(
        out,
        "result     {}",
        match failure_of(r) {
            None => "ok".to_string(),
            // The reason below carries the message.
            Some(f) => format!("FAILED ({})", esc(&f.kind)),
        }
    );
    for reason in nothing_happened(r) {
        let _ = writeln!(out, "nothing happened: {reason}");
    }
    render::backtrace(&mut out, guest_frames(r));
    out
}

/// Where the guest trapped, innermost first: the press's failure, the decision's, or the
/// failed guest's when the built-in one decided instead.
fn guest_frames(r: &PressRecord) -> &[GuestFrame] {
    [
        r.failure.as_ref(),
        r.decision.as_ref().and_then(|d| d.error.as_ref()),
        r.fallback.as_ref().map(|f| &f.error),
    ]
    .into_iter()
    .flatten()
    .map(|e| e.backtrace.as_slice())
    .find(|frames| !frames.is_empty())
    .unwrap_or_default()
}

/// `iot-button event, request 8f2… (delivered 3 times: 2 answered as duplicates)`.
fn arrived(listed: &Listed) -> String {
    let r = &listed.entry.record;
    let format = r.event_format.map_or("unrecognised", |f| f.as_str());
    let mut text = format!("{format} event, request {}", esc(&r.request_id));
    let retries = r.ledger.attempt.unwrap_or(1).saturating_sub(1);
    let duplicates = listed.entry.duplicates;
    let deliveries = 1 + retries + duplicates;
    if deliveries > 1 {
        let mut parts = Vec::new();
        if retries > 0 {
            parts.push(format!(
                "{retries} retr{}",
                if retries == 1 { "y" } else { "ies" }
            ));
        }
        if duplicates > 0 {
            parts.push(match duplicates {
                1 => "1 answered as a duplicate".to_string(),
                n => format!("{n} answered as duplicates"),
            });
        }
        let _ = write!(
            text,
            "  (delivered {deliveries} times: {})",
            parts.join(", ")
        );
    }
    if r.device_counter {
        text.push_str(", press id from the device's counter");
    }
    text
}

/// `SINGLE from iot-button G030JF055364XVRB, battery 1705 mV`, or what the message was.
fn normalised(r: &PressRecord) -> String {
    if let Some(c) = &r.click {
        let battery = match (c.battery_mv, c.battery_pct) {
            (Some(mv), Some(pct)) => format!("battery {mv} mV, {pct}%"),
            (Some(mv), None) => format!("battery {mv} mV"),
            (None, Some(pct)) => format!("battery {pct}%"),
            (None, None) => "battery not reported".to_string(),
        };
        return format!(
            "{} from {} {}, {battery}",
            c.click_type,
            esc(&c.source),
            esc(&c.serial_number)
        );
    }
    if r.skipped.is_empty() {
        return "no press could be read from the event".to_string();
    }
    format!("no press in the message from {}", device(r))
}

/// `s3://bucket/guest.wasm sha 1a2b3c4d version 3 (clickrules:handler@0.2.0)`.
fn guest(g: &clickrules_pipeline::GuestRecord) -> String {
    let mut text = format!("{} sha {}", esc(&g.uri), short_sha(&g.sha256));
    if let Some(version) = &g.version_id {
        let _ = write!(text, " version {}", esc(version));
    }
    let _ = write!(text, " (clickrules:handler@{})", esc(&g.contract));
    if let Some(why) = &g.stale {
        let _ = write!(text, ", a cached copy: {}", esc(why));
    }
    text
}

fn list(actions: &[Action]) -> String {
    actions.iter().map(action).collect::<Vec<_>>().join(", ")
}

/// `read count; wrote count=4`.
fn state_line(state: &clickrules_pipeline::StateRecord) -> String {
    let read = match state.read.is_empty() {
        true => "read nothing".to_string(),
        false => format!(
            "read {}",
            state
                .read
                .iter()
                .map(|k| esc(k).into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let writes: Vec<String> = state
        .writes
        .iter()
        .map(|w| match &w.change {
            clickrules_engine::StateChange::Set { value, ttl_seconds } => format!(
                "{}={}{}",
                esc(&w.key),
                esc(value),
                ttl_seconds.map_or_else(String::new, |s| format!(" (for {s} s)"))
            ),
            clickrules_engine::StateChange::Delete => format!("deleted {}", esc(&w.key)),
        })
        .collect();
    let wrote = match (writes.is_empty(), state.committed) {
        (true, _) => "wrote nothing".to_string(),
        (false, true) => format!("wrote {}", writes.join(", ")),
        (false, false) => format!("would have written {} (not committed)", writes.join(", ")),
    };
    format!("{read}; {wrote}")
}

/// What each action did, numbered from 1; a dry run says what each would do.
fn ran(out: &mut String, r: &PressRecord) {
    if r.outcomes.is_empty() {
        return;
    }
    let label = if r.executed {
        "ran       "
    } else {
        "would run "
    };
    for (i, outcome) in r.outcomes.iter().enumerate() {
        let lead = if i == 0 { label } else { "          " };
        let _ = writeln!(out, "{lead} {}. {}", i + 1, outcome_line(outcome));
    }
    let total = r.actions().len();
    for i in r.outcomes.len()..total {
        let _ = writeln!(
            out,
            "           {}. {}: not run",
            i + 1,
            action(&r.actions()[i])
        );
    }
}

/// `snapshot us-west-1: done (invoked scheduled_snapshot:prod)`.
fn outcome_line(o: &OutcomeRecord) -> String {
    let what = match &o.action {
        Action::Snapshot { region } => format!("snapshot {}", esc(region)),
        other => action(other),
    };
    let status = match (&o.status, &o.error, &o.receipt) {
        (OutcomeStatus::Failed, Some(e), _) => {
            format!("FAILED ({}): {}", esc(&e.kind), esc(&e.message))
        }
        (OutcomeStatus::Failed, None, _) => "FAILED".to_string(),
        _ if o.done_earlier => "done by an earlier delivery".to_string(),
        (_, _, Some(receipt)) => receipt_text(receipt),
        (_, _, None) => "done".to_string(),
    };
    format!("{what}: {status}")
}

fn receipt_text(receipt: &Receipt) -> String {
    match receipt {
        Receipt::Invoked {
            function,
            qualifier,
            ..
        } => format!(
            "done (invoked {}{})",
            esc(function),
            qualifier
                .as_deref()
                .map_or_else(String::new, |q| format!(":{}", esc(q)))
        ),
        Receipt::Published { topic_arn, .. } => format!("done (published to {})", esc(topic_arn)),
        Receipt::Logged => "done (logged)".to_string(),
        Receipt::WouldInvoke { target, .. } => format!("would invoke {}", esc(target)),
        Receipt::WouldPublish { topic_arn } => format!("would publish to {}", esc(topic_arn)),
    }
}

/// Why nothing (or not what the guest meant) happened, most telling first; none for a press
/// that did what it decided.
fn nothing_happened(r: &PressRecord) -> Vec<String> {
    match r.ledger.outcome {
        LedgerOutcome::Duplicate => {
            return vec![format!(
                "a duplicate delivery (request {}) of press {}, which {} completed: answered \
                 from the ledger, nothing ran again",
                esc(&r.request_id),
                esc(&r.press_id),
                r.ledger.attempt.map_or_else(
                    || "an earlier delivery".to_string(),
                    |a| format!("delivery {a}")
                )
            )];
        }
        LedgerOutcome::InProgress => {
            return vec![format!(
                "in progress: another delivery of press {} was running it, so this one did \
                 nothing",
                esc(&r.press_id)
            )];
        }
        _ => {}
    }
    if let Some(failure) = failure_of(r) {
        return vec![failed(r, &failure)];
    }
    let mut reasons = Vec::new();
    if r.click.is_none() {
        for s in &r.skipped {
            reasons.push(format!(
                "not a press ({}): {}{}",
                s.kind.as_str(),
                esc(&s.detail),
                s.device
                    .as_ref()
                    .map_or_else(String::new, |d| format!(" from {}", esc(d)))
            ));
        }
        return reasons;
    }
    if let Some(fallback) = &r.fallback {
        reasons.push(format!(
            "the configured guest {} did not decide: it failed ({}): {}; the built-in guest {} \
             decided instead (CLICKRULES_ON_GUEST_ERROR=builtin)",
            fallback
                .failed_guest
                .as_ref()
                .map_or_else(|| "(not obtained)".into(), |g| esc(&g.uri).into_owned()),
            esc(&fallback.error.kind),
            esc(&fallback.error.message),
            r.guest
                .as_ref()
                .map_or_else(|| "builtin:default".into(), |g| esc(&g.uri).into_owned())
        ));
    }
    let actions = r.actions();
    let ignored: Vec<String> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Ignore { reason } => Some(quoted(reason)),
            _ => None,
        })
        .collect();
    if actions.is_empty() {
        reasons.push("the guest decided to do nothing (it returned no actions)".to_string());
    } else if ignored.len() == actions.len() {
        reasons.push(format!("ignored by the guest: {}", ignored.join("; ")));
    } else if !r.executed {
        reasons.push(
            "a dry run: the actions were checked, not carried out (press --execute runs them)"
                .to_string(),
        );
    }
    reasons
}

/// The reason of a failed press, by its kind; a kind this release does not know is given
/// as it is.
fn failed(r: &PressRecord, f: &ErrorInfo) -> String {
    let kind = esc(&f.kind);
    let message = esc(&f.message);
    let text = match f.kind.as_str() {
        "bad_event" => {
            format!("the event is not a press this deployment reads ({kind}): {message}")
        }
        // The engine's messages say what the guest did; the kind says it was the guest.
        "guest_error" | "trap" | "deadline" | "fuel_exhausted" | "memory_limit"
        | "stack_overflow" | "instantiate" | "host_limit" => {
            format!("guest error ({kind}): {message}")
        }
        "internal" => format!("the engine failed ({kind}): {message}"),
        "invalid_actions" => {
            format!("rejected action ({kind}): {message}; nothing ran: actions are all or nothing")
        }
        "preflight" => format!(
            "the actions cannot be carried out as a whole ({kind}): {message}; nothing ran: \
             actions are all or nothing"
        ),
        "state_limit" => format!(
            "the guest went over a device-state limit ({kind}): {message}; nothing ran and no \
             state was written"
        ),
        "guest_source" => format!("no guest could be obtained ({kind}): {message}"),
        "actions" => partial(r, f),
        "ledger" => format!(
            "the ledger was unavailable ({kind}): {message}; no action runs unrecorded, so \
             none ran after that"
        ),
        "repeated" => format!("the press failed before and is not run again ({kind}): {message}"),
        "in_progress" => format!("in progress ({kind}): {message}"),
        "state_conflict" => format!("the device's state kept changing ({kind}): {message}"),
        "state_unavailable" => format!("no ledger keeps the guest's state ({kind}): {message}"),
        "unknown_device" => format!("unknown device ({kind}): {message}"),
        "rate_limited" => format!("rate limited ({kind}): {message}"),
        "unauthorized"
        | "method_not_allowed"
        | "unsupported_media_type"
        | "body_too_large"
        | "bad_request"
        | "source_disabled"
        | "secret_unavailable"
        | "misconfigured"
        | "not_a_function_url_event" => format!("the request was refused ({kind}): {message}"),
        _ => format!("failed ({kind}): {message}"),
    };
    format!("{text}{}", after(r, f))
}

/// Which actions ran and which failed.
fn partial(r: &PressRecord, f: &ErrorInfo) -> String {
    let numbered = |status: fn(&OutcomeRecord) -> bool| {
        r.outcomes
            .iter()
            .enumerate()
            .filter(|(_, o)| status(o))
            .map(|(i, o)| match &o.error {
                Some(e) => format!("{}. {} ({})", i + 1, action(&o.action), esc(&e.kind)),
                None => format!("{}. {}", i + 1, action(&o.action)),
            })
            .collect::<Vec<_>>()
    };
    let done = numbered(OutcomeRecord::is_ok);
    let failed = numbered(|o| !o.is_ok());
    let not_run: Vec<String> = (r.outcomes.len()..r.actions().len())
        .map(|i| format!("{}. {}", i + 1, action(&r.actions()[i])))
        .collect();
    let mut text = format!(
        "some actions failed ({}): ran {}; failed {}",
        esc(&f.kind),
        if done.is_empty() {
            "none".to_string()
        } else {
            done.join(", ")
        },
        failed.join(", ")
    );
    if !not_run.is_empty() {
        let _ = write!(text, "; not run {}", not_run.join(", "));
    }
    text
}

/// What comes of the failure: whether a retry or a redrive runs the rest.
fn after(r: &PressRecord, f: &ErrorInfo) -> &'static str {
    let partly = f.kind == "actions";
    match (r.dead_lettered, f.retryable, partly) {
        (true, _, true) => {
            "; sent to the dead-letter queue with its record: a redrive runs only the actions \
             not done"
        }
        (true, _, false) => "; sent to the dead-letter queue with its record",
        (false, Some(true), true) => "; a retry runs only the actions not done",
        (false, Some(true), false) => "; a retry may succeed",
        (false, Some(false), true) => "; no retry can fix it: the actions not done stay undone",
        _ => "",
    }
}
