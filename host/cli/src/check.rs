//! `clickrules check`: every click type against battery edge cases, with the cost of each press.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;
use clickrules_engine::text::escape_control;
use clickrules_engine::{
    BATTERY_EDGE_CASES, Click, ClickType, Decision, Engine, Limits, PressError,
};
use serde::Serialize;

use crate::args::{EngineArgs, LoadedGuest, load_guest};
use crate::render;

/// Wider action lists are cut in the table (`--json` has them whole).
const MAX_ACTIONS_WIDTH: usize = 72;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The guest component (.wasm) to check.
    guest: PathBuf,
    /// Serial number used for the presses.
    #[arg(long, default_value = "G030SIMULATED001")]
    serial: String,
    /// Keep pressing after a press runs out of time or fuel (each such press uses the full budget).
    #[arg(long)]
    keep_going: bool,
    /// Print the rows as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

#[derive(Debug, Serialize)]
struct Row {
    click_type: ClickType,
    battery_mv: Option<u32>,
    /// Absent when the row was skipped.
    decision: Option<Decision>,
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let engine = args.engine.engine()?;
    let loaded = load_guest(&engine, Some(&args.guest))?;
    let checked = evaluate(&engine, &loaded, &args.serial, args.keep_going);
    if args.json {
        render::emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&checked.rows)?
        ))?;
    } else {
        render::emit(&table(&checked, &loaded, &engine.limits())?)?;
    }
    Ok(if checked.passed() {
        ExitCode::SUCCESS
    } else {
        eprintln!("error: {}", escape_control(&checked.summary()));
        ExitCode::FAILURE
    })
}

/// The rows of a check and their tally.
#[derive(Debug)]
pub struct Checked {
    rows: Vec<Row>,
    failed: usize,
    skipped: usize,
}

impl Checked {
    pub fn presses(&self) -> usize {
        self.rows.len()
    }

    pub fn passed(&self) -> bool {
        self.failed == 0 && self.skipped == 0
    }

    pub fn summary(&self) -> String {
        let mut text = format!("{} of {} presses failed", self.failed, self.rows.len());
        if self.skipped > 0 {
            text.push_str(&format!(
                " and {} were skipped after one ran out of time or fuel",
                self.skipped
            ));
        }
        text
    }
}

/// Presses `guest` with every click type and battery case.
pub fn evaluate(engine: &Engine, loaded: &LoadedGuest, serial: &str, keep_going: bool) -> Checked {
    let mut rows = Vec::new();
    let mut stop = false;
    for click_type in ClickType::ALL {
        for battery_mv in BATTERY_EDGE_CASES {
            let decision = (!stop).then(|| {
                let click = Click {
                    serial_number: serial.to_string(),
                    click_type,
                    battery_mv,
                    received_at_ms: now_ms(),
                };
                engine.press_click(&loaded.guest, click)
            });
            // A runaway guest costs the full budget on every press; one proof is enough.
            if let Some(Some(PressError::Deadline { .. } | PressError::FuelExhausted { .. })) =
                decision.as_ref().map(|d| &d.error)
            {
                stop = !keep_going;
            }
            rows.push(Row {
                click_type,
                battery_mv,
                decision,
            });
        }
    }
    let failed = rows
        .iter()
        .filter(|r| r.decision.as_ref().is_some_and(|d| d.error.is_some()))
        .count();
    let skipped = rows.iter().filter(|r| r.decision.is_none()).count();
    Checked {
        rows,
        failed,
        skipped,
    }
}

/// The human-readable table with the cost of each press and the headroom left.
pub fn table(
    checked: &Checked,
    loaded: &LoadedGuest,
    limits: &Limits,
) -> Result<String, std::fmt::Error> {
    let rows = &checked.rows;
    let ran: Vec<&Decision> = rows.iter().filter_map(|r| r.decision.as_ref()).collect();
    let (failed, skipped) = (checked.failed, checked.skipped);
    let mut out = String::new();
    writeln!(
        out,
        "guest {} (sha256 {}, {}); limits {} ms, {}, {} fuel",
        escape_control(&loaded.uri),
        render::short_sha(loaded.guest.sha256()),
        render::bytes(loaded.guest.size_bytes()),
        limits.timeout.as_millis(),
        render::bytes(limits.memory_bytes),
        render::thousands(limits.fuel),
    )?;
    writeln!(out)?;
    let cells: Vec<(String, &str, String)> = rows.iter().map(describe).collect();
    let width = cells
        .iter()
        .map(|(_, _, what)| what.chars().count())
        .max()
        .unwrap_or(0)
        .clamp("actions".len(), MAX_ACTIONS_WIDTH);
    writeln!(
        out,
        "{:<6}  {:>13}  {:<6}  {:<width$}  {:>14}  {:>9}  {:>9}",
        "click", "battery", "result", "actions", "instructions", "memory", "time"
    )?;
    for (row, (battery, result, what)) in rows.iter().zip(&cells) {
        let what = clip(what, width);
        match &row.decision {
            None => writeln!(
                out,
                "{:<6}  {:>13}  {:<6}  {what}",
                row.click_type.as_str(),
                battery,
                result
            ),
            Some(d) => writeln!(
                out,
                "{:<6}  {:>13}  {:<6}  {what:<width$}  {:>14}  {:>9}  {:>9}",
                row.click_type.as_str(),
                battery,
                result,
                render::thousands(d.instructions),
                render::bytes(d.peak_memory_bytes),
                render::micros(d.duration_us),
            ),
        }?;
    }
    writeln!(out)?;
    let max_fuel = ran.iter().map(|d| d.instructions).max().unwrap_or(0);
    let max_mem = ran.iter().map(|d| d.peak_memory_bytes).max().unwrap_or(0);
    let max_us = ran.iter().map(|d| d.duration_us).max().unwrap_or(0);
    writeln!(
        out,
        "{} presses: {} ok, {failed} failed, {skipped} skipped",
        rows.len(),
        ran.len() - failed
    )?;
    writeln!(
        out,
        "highest use: {} instructions ({:.2}% of fuel), {} memory ({:.1}% of cap), {} ({:.1}% of deadline)",
        render::thousands(max_fuel),
        percent(max_fuel, limits.fuel),
        render::bytes(max_mem),
        percent(max_mem, limits.memory_bytes),
        render::micros(max_us),
        percent(max_us, limits.timeout.as_micros() as u64),
    )?;
    Ok(out)
}

/// Battery, result and actions (or the error) of one row.
fn describe(row: &Row) -> (String, &'static str, String) {
    let battery = row
        .battery_mv
        .map_or_else(|| "-".to_string(), |mv| format!("{mv} mV"));
    match &row.decision {
        None => (
            battery,
            "skip",
            "(an earlier press ran out of time or fuel)".into(),
        ),
        Some(d) => match &d.error {
            None => (
                battery,
                "ok",
                d.actions
                    .iter()
                    .map(render::action)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Some(e) => (
                battery,
                "FAIL",
                format!("{}: {}", e.kind(), escape_control(&e.to_string())),
            ),
        },
    }
}

/// Cuts `text` to `width` characters, marking the cut.
fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut clipped: String = text.chars().take(width.saturating_sub(3)).collect();
    clipped.push_str("...");
    clipped
}

fn percent(used: u64, limit: u64) -> f64 {
    if limit == 0 {
        0.0
    } else {
        used as f64 * 100.0 / limit as f64
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
