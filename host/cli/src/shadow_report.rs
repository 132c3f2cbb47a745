//! `clickrules shadow report`: what the shadow guest (CLICKRULES_SHADOW_GUEST) did on the
//! presses in history: how many it decided, how many differently, how it failed, and the
//! latest presses where it differed, side by side with the active guest.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use clickrules_engine::text::escape_control as esc;
use clickrules_pipeline::{HistoryQuery, PressRecord, Verdict};
use serde::Serialize;

use crate::args::{EngineArgs, deployment};
use crate::diff_render::verdict as one_line;
use crate::history::parse_when;
use crate::history_source::{HistorySourceArgs, records};
use crate::render;

#[derive(Debug, Args)]
pub struct ShadowArgs {
    #[command(subcommand)]
    command: ShadowCommand,
}

#[derive(Debug, Subcommand)]
enum ShadowCommand {
    /// Summarise the shadow guest's decisions over the presses in history.
    Report(ReportArgs),
}

#[derive(Debug, Args)]
struct ReportArgs {
    #[command(flatten)]
    source: HistorySourceArgs,
    /// Only presses since then: a duration back from now (`30m`, `2h`, `7d`) or an RFC 3339
    /// time (default: 7 days).
    #[arg(long, value_name = "WHEN", default_value = "7d", value_parser = parse_when)]
    since: u64,
    /// Presses read at most.
    #[arg(long, default_value_t = 1000)]
    limit: usize,
    /// Differing presses listed at most.
    #[arg(long, default_value_t = 20)]
    show: usize,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// What the shadow did.
#[derive(Debug, Default, Serialize)]
struct Report {
    /// Presses read.
    presses: usize,
    /// Presses the shadow decided (or tried to).
    shadowed: usize,
    /// Presses where its decision differed from the active guest's.
    differed: usize,
    /// Its failures, by kind.
    failures: BTreeMap<String, usize>,
    /// Its guests, by sha256, with the presses each decided.
    guests: BTreeMap<String, usize>,
    /// Its slowest run, microseconds.
    slowest_us: u64,
    /// The latest presses where it differed.
    differences: Vec<Differed>,
}

#[derive(Debug, Serialize)]
struct Differed {
    press_id: String,
    received_at_ms: u64,
    active: Option<Verdict>,
    shadow: Verdict,
}

pub fn run(args: ShadowArgs) -> anyhow::Result<ExitCode> {
    let ShadowCommand::Report(args) = args.command;
    let deployment = deployment(args.source.function.as_deref(), &EngineArgs::default())?;
    let query = HistoryQuery {
        since_ms: Some(args.since),
        limit: args.limit,
        ..HistoryQuery::default()
    };
    let records = records(&args.source, &deployment.settings, &query)?;
    let report = summarise(&records, args.show);
    if args.json {
        render::emit(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
    } else {
        render::emit(&text(&report))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn summarise(records: &[PressRecord], show: usize) -> Report {
    let mut report = Report {
        presses: records.len(),
        ..Report::default()
    };
    for record in records {
        let Some(shadow) = &record.shadow else {
            continue;
        };
        report.shadowed += 1;
        report.slowest_us = report.slowest_us.max(shadow.duration_us);
        if let Some(guest) = &shadow.guest {
            *report.guests.entry(guest.sha256.clone()).or_default() += 1;
        }
        if let Some(kind) = &shadow.verdict.error {
            *report.failures.entry(kind.clone()).or_default() += 1;
        }
        if shadow.differs {
            report.differed += 1;
            if report.differences.len() < show {
                report.differences.push(Differed {
                    press_id: record.press_id.clone(),
                    received_at_ms: record.click.as_ref().map_or(0, |c| c.received_at_ms),
                    active: record.verdict(),
                    shadow: shadow.verdict.clone(),
                });
            }
        }
    }
    report
}

fn text(r: &Report) -> String {
    let mut out = String::new();
    if r.shadowed == 0 {
        let _ = writeln!(
            out,
            "no shadow decisions in {} press{} (is CLICKRULES_SHADOW_GUEST set?)",
            r.presses,
            if r.presses == 1 { "" } else { "es" }
        );
        return out;
    }
    let _ = writeln!(
        out,
        "shadowed   {} of {} presses; {} decided differently ({:.1}%)",
        r.shadowed,
        r.presses,
        r.differed,
        100.0 * r.differed as f64 / r.shadowed as f64
    );
    for (sha, n) in &r.guests {
        let _ = writeln!(
            out,
            "guest      sha256 {} ({n} presses)",
            &sha[..sha.len().min(12)]
        );
    }
    if !r.failures.is_empty() {
        let failures: Vec<String> = r.failures.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(out, "failed     {}", failures.join(", "));
    }
    let _ = writeln!(out, "slowest    {:.2} ms", r.slowest_us as f64 / 1000.0);
    if !r.differences.is_empty() {
        let _ = writeln!(out, "\n{:<24}  {:<36}  SHADOW", "PRESS", "ACTIVE");
        for d in &r.differences {
            let active = d.active.as_ref().map_or_else(|| "-".to_string(), one_line);
            let _ = writeln!(
                out,
                "{:<24}  {:<36}  {}",
                esc(&d.press_id),
                active,
                one_line(&d.shadow)
            );
        }
    }
    out
}
