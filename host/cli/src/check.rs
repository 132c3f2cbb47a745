//! `clickrules check`: every click type against battery edge cases (per device), plus real
//! events, each pressed through the pipeline the Lambda runs (as a dry run) under the
//! deployment's settings, with the cost of each press.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use clickrules_aws::{
    AnyLedger, Composed, DeploymentPipeline, GUEST_LOCATION_FORMS, GuestLocation, InitError, Mode,
    OnGuestError, Settings, compose_with,
};
use clickrules_engine::text::escape_control;
use clickrules_engine::{
    BATTERY_EDGE_CASES, Click, ClickType, EventFormat, Limits, NormalisedEvent, PressError,
    StateChange, StateWrite, simulated_event,
};
use clickrules_pipeline::{
    DecisionRecord, ErrorInfo, Failure, GuestRecord, GuestSource, MemoryLedger, NoSink,
    OutcomeRecord, PressRequest, StateRecord,
};
use serde::Serialize;

use crate::args::{EngineArgs, ProgressArgs, SettingsSource, deployment};
use crate::press::classic_event;
use crate::progress::{self, Progress, Step};
use crate::{remote, render};

/// Wider action lists are cut in the table (`--json` has them whole).
const MAX_ACTIONS_WIDTH: usize = 72;
/// The serial pressed with when no `--serial` is given: it cannot be mistaken for a real device.
pub const SIMULATED_SERIAL: &str = "G030SIMULATED001";
/// At most this many different failures are spelled out in full under the table.
const MAX_FAILURES_LISTED: usize = 5;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The guest to check: a .wasm path, s3://BUCKET/KEY, or builtin:default.
    #[arg(value_name = "PATH|S3-URI")]
    guest: String,
    /// Judge the guest under the settings of this deployed Lambda function (NAME, NAME:ALIAS
    /// or ARN): its CLICKRULES_* environment, read with lambda:GetFunctionConfiguration.
    /// Without it, the CLICKRULES_* variables of this environment apply. Options given on the
    /// command line override either.
    #[arg(long, value_name = "FUNCTION")]
    function: Option<String>,
    #[command(flatten)]
    sweep: SweepArgs,
    /// Keep pressing after a press runs out of time or fuel (each such press uses the full budget).
    #[arg(long)]
    keep_going: bool,
    /// Print the settings used, the guest and the rows as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    engine: EngineArgs,
    #[command(flatten)]
    output: ProgressArgs,
}

/// The presses of a check beyond the guest: whose devices, and which real events.
#[derive(Debug, Clone, Args)]
pub struct SweepArgs {
    /// Press as this device: every click type with every battery edge case; repeatable
    /// (default: a simulated serial).
    #[arg(long = "serial", value_name = "SERIAL")]
    pub serials: Vec<String>,
    /// Also press with this real event (a JSON file, or - for stdin), as is; repeatable.
    #[arg(long = "event", value_name = "FILE|-")]
    pub events: Vec<PathBuf>,
    /// Also press every gesture SOURCE can send, in its own message shape, and show the
    /// coverage: what the guest does with each, flagging the gestures it fails on; repeatable.
    #[arg(long = "source", value_name = "SOURCE", value_parser = crate::press::parse_source)]
    pub sources: Vec<EventFormat>,
}

impl SweepArgs {
    /// The presses to make, with `default_serial` when no serial was given.
    pub fn sweep(&self, default_serial: &str, keep_going: bool) -> anyhow::Result<Sweep> {
        let mut serials: Vec<String> = Vec::new();
        for serial in &self.serials {
            if !serials.contains(serial) {
                serials.push(serial.clone());
            }
        }
        if serials.is_empty() {
            serials.push(default_serial.to_string());
        }
        let mut events = Vec::new();
        let mut read_stdin = false;
        for path in &self.events {
            if path.as_os_str() == "-" {
                anyhow::ensure!(!read_stdin, "--event - (stdin) can be given once");
                read_stdin = true;
                let mut bytes = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut bytes)
                    .context("cannot read the event from stdin")?;
                events.push(Event {
                    path: "-".into(),
                    name: "stdin".into(),
                    bytes,
                });
                continue;
            }
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read event {}", path.display()))?;
            events.push(Event {
                path: path.display().to_string(),
                name: path.file_name().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                ),
                bytes,
            });
        }
        let mut sources = Vec::new();
        for source in &self.sources {
            if !sources.contains(source) {
                sources.push(*source);
            }
        }
        Ok(Sweep {
            serials,
            events,
            sources,
            keep_going,
        })
    }
}

/// A real event to press with.
#[derive(Debug, Clone)]
pub struct Event {
    /// As given.
    path: String,
    /// The file name, for the table.
    name: String,
    bytes: Vec<u8>,
}

/// What a check presses.
#[derive(Debug, Clone)]
pub struct Sweep {
    serials: Vec<String>,
    events: Vec<Event>,
    sources: Vec<EventFormat>,
    keep_going: bool,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Outcome {
    Ok,
    Fail,
    Skip,
}

#[derive(Debug, Serialize)]
struct Row {
    click_type: Option<ClickType>,
    battery_mv: Option<u32>,
    serial_number: Option<String>,
    /// The event file a row pressed with (absent for the simulated presses).
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<String>,
    /// The event's file name, for the table.
    #[serde(skip)]
    event_name: Option<String>,
    result: Outcome,
    /// What the guest decided; absent when the row was skipped or no guest ran.
    decision: Option<DecisionRecord>,
    /// Why the press fails as a whole, as the Lambda would fail it.
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<ErrorInfo>,
    /// What each action would do (a dry run).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    outcomes: Vec<OutcomeRecord>,
    /// What the press did with its device's state (guests that use state).
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<StateRecord>,
    /// Which press of a sequence the row is, for the table (`SINGLE 2/3 +0.5 s`).
    #[serde(skip_serializing_if = "Option::is_none")]
    sequence: Option<String>,
    /// The source whose message shape a coverage row pressed with (`--source`).
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<EventFormat>,
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let location = GuestLocation::parse(&args.guest)
        .with_context(|| format!("guest {:?}: expected {GUEST_LOCATION_FORMS}", args.guest))?;
    let sweep = args.sweep.sweep(SIMULATED_SERIAL, args.keep_going)?;
    let mut deployment = deployment(args.function.as_deref(), &args.engine)?;
    deployment.settings.guest = location;
    let progress = args.output.progress(args.json);
    let checked = remote::runtime()?.block_on(async {
        let step = compile_step(&progress, &deployment.settings.guest);
        let runtime = open(&deployment.settings).await?;
        step.finish(compiled_message(&deployment.settings.guest));
        evaluate(&runtime.pipeline, &sweep, deployment.source, &progress).await
    })?;
    if args.json {
        render::emit(&checked.json()?)?;
    } else {
        render::emit(&checked.table()?)?;
    }
    Ok(if checked.passed() {
        ExitCode::SUCCESS
    } else {
        eprintln!("error: {}", escape_control(&checked.summary()));
        ExitCode::FAILURE
    })
}

/// The pipeline the deployment runs, as a dry run, with the guest `settings` name. A guest
/// that fails is judged failing even when the deployment lets the built-in guest decide then
/// (`CLICKRULES_ON_GUEST_ERROR=builtin`): that fallback rescues presses, not the guest.
pub async fn open(settings: &Settings) -> anyhow::Result<Composed<NoSink>> {
    let mut settings = settings.clone();
    settings.on_guest_error = OnGuestError::Fail;
    // Guests that use state get an in-memory ledger: each case starts from empty state.
    let extras = crate::local_tools::extras(Some(std::sync::Arc::new(MemoryLedger::new())));
    compose_with(&settings, Mode::DryRun, NoSink, extras)
        .await
        .map_err(|e| match e {
            // The guest's own error names it; the wrapper would only repeat that.
            InitError::Guest(e) => anyhow::Error::new(e),
            other => anyhow::Error::new(other),
        })
}

/// The rows of a check and their tally.
#[derive(Debug)]
pub struct Checked {
    /// The sources whose coverage was pressed.
    sources: Vec<EventFormat>,
    source: SettingsSource,
    guest: GuestRecord,
    limits: Limits,
    rows: Vec<Row>,
    failed: usize,
    skipped: usize,
}

impl Checked {
    /// SHA-256 of the guest that was checked.
    pub fn guest_sha256(&self) -> &str {
        &self.guest.sha256
    }

    /// The guest that was checked.
    pub fn guest(&self) -> &GuestRecord {
        &self.guest
    }

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

    /// The settings used, the guest and the rows, as `--json` prints them.
    pub fn json(&self) -> anyhow::Result<String> {
        let report = serde_json::json!({
            "settings": &self.source,
            "guest": &self.guest,
            "rows": &self.rows,
        });
        Ok(format!("{}\n", serde_json::to_string_pretty(&report)?))
    }
}

/// What a guest is, for a progress line: `guest.wasm (12.3 MiB)`, `s3://bucket/key`.
fn guest_label(location: &GuestLocation) -> String {
    let size = match location {
        GuestLocation::Path(path) => std::fs::metadata(path).ok().map(|m| m.len()),
        GuestLocation::Builtin => Some(clickrules_builtin::DEFAULT_GUEST.len() as u64),
        GuestLocation::S3(_) => None,
    };
    let name = escape_control(&location.uri()).into_owned();
    match size {
        Some(bytes) => format!("{name} ({})", progress::size(bytes)),
        None => name,
    }
}

/// This machine's architecture, as the compile step names it.
fn host_arch() -> &'static str {
    clickrules_engine::Arch::host().map_or(std::env::consts::ARCH, clickrules_engine::Arch::as_str)
}

/// The spinner shown while the guest at `location` is fetched (from S3) and compiled for this
/// machine: `compiling guest.wasm (12.3 MiB) for x86_64… (4s)`. Finish it with
/// [`compiled_message`].
pub fn compile_step(progress: &Progress, location: &GuestLocation) -> Step {
    let what = match location {
        GuestLocation::S3(_) => "fetching and compiling",
        _ => "compiling",
    };
    progress.spinner(format!(
        "{what} {} for {}",
        guest_label(location),
        host_arch()
    ))
}

/// The line a finished compile step leaves: `compiled guest.wasm (12.3 MiB) for x86_64`.
pub fn compiled_message(location: &GuestLocation) -> String {
    format!("compiled {} for {}", guest_label(location), host_arch())
}

/// Presses the pipeline's guest as each device with every click type and battery case, then
/// with each event, as the Lambda would (a dry run: preflight checks included, nothing runs),
/// with a bar over the presses (`checking GUEST [====>  ] 12/24`), cleared before it returns
/// (pass [`Progress::hidden`] for none).
pub async fn evaluate(
    pipeline: &DeploymentPipeline<NoSink>,
    sweep: &Sweep,
    source: SettingsSource,
    progress: &Progress,
) -> anyhow::Result<Checked> {
    let guest = pipeline
        .source()
        .current()
        .await
        .context("cannot obtain the guest")?
        .record;
    let mut presses: Vec<(Row, Vec<u8>)> = Vec::new();
    for serial in &sweep.serials {
        // The classic event formats carry these three; a triple press comes from the other
        // sources.
        for click_type in ClickType::CLASSIC {
            for battery_mv in BATTERY_EDGE_CASES {
                let row = Row {
                    click_type: Some(click_type),
                    battery_mv,
                    serial_number: Some(serial.clone()),
                    event: None,
                    event_name: None,
                    result: Outcome::Skip,
                    decision: None,
                    failure: None,
                    outcomes: Vec::new(),
                    state: None,
                    sequence: None,
                    source: None,
                };
                presses.push((row, classic_event(serial, click_type, battery_mv)));
            }
        }
    }
    for event in &sweep.events {
        let row = Row {
            click_type: None,
            battery_mv: None,
            serial_number: None,
            event: Some(event.path.clone()),
            event_name: Some(event.name.clone()),
            result: Outcome::Skip,
            decision: None,
            failure: None,
            outcomes: Vec::new(),
            state: None,
            sequence: None,
            source: None,
        };
        presses.push((row, event.bytes.clone()));
    }
    let serial = sweep
        .serials
        .first()
        .map_or(SIMULATED_SERIAL, String::as_str);
    let mut verified: Vec<Option<NormalisedEvent>> = vec![None; presses.len()];
    // Each simulated press is its own: its own time, so its own counter and trace id.
    let mut at_ms = now_ms();
    for &source in &sweep.sources {
        for &click_type in source.gestures() {
            let row = Row {
                click_type: Some(click_type),
                battery_mv: None,
                serial_number: Some(serial.to_string()),
                event: None,
                event_name: None,
                result: Outcome::Skip,
                decision: None,
                failure: None,
                outcomes: Vec::new(),
                state: None,
                sequence: None,
                source: Some(source),
            };
            if source.is_https() {
                // Signed requests: pressed as the verified press they become.
                verified.push(Some(https_press(
                    source,
                    serial,
                    click_type,
                    None,
                    now_ms(),
                )));
                presses.push((row, Vec::new()));
            } else {
                at_ms += 1;
                let event = simulated_event(source, serial, click_type, None, at_ms)
                    .map_err(|e| anyhow::anyhow!("--source {source}: {e}"))?;
                verified.push(None);
                presses.push((row, event));
            }
        }
    }

    let bar = progress.bar(
        presses.len() as u64,
        format!("checking {}", escape_control(&guest.uri)),
    );
    let mut rows = Vec::with_capacity(presses.len());
    let mut stop = false;
    for (number, ((mut row, event), verified)) in presses.into_iter().zip(verified).enumerate() {
        bar.inc(1);
        if stop {
            rows.push(row);
            continue;
        }
        let request_id = format!("check-{}", number + 1);
        // Each case starts from empty state.
        if let AnyLedger::Memory(ledger) = pipeline.ledger() {
            ledger.clear_states();
        }
        let result = pipeline
            .press(PressRequest {
                normalised: verified.as_ref(),
                ..PressRequest::new(&request_id, &event)
            })
            .await;
        // A runaway guest costs the full budget on every press; one proof is enough.
        if let Some(Failure::Press(
            PressError::Deadline { .. } | PressError::FuelExhausted { .. },
        )) = &result.failure
        {
            stop = !sweep.keep_going;
        }
        let record = result.record;
        if let Some(click) = &record.click {
            row.click_type = Some(click.click_type);
            row.battery_mv = click.battery_mv;
            row.serial_number = Some(click.serial_number.clone());
        }
        row.result = match record.failure {
            None => Outcome::Ok,
            Some(_) => Outcome::Fail,
        };
        row.decision = record.decision;
        row.failure = record.failure;
        row.outcomes = record.outcomes;
        row.state = record.state;
        rows.push(row);
    }
    if guest.uses_state && !stop {
        let serial = sweep
            .serials
            .first()
            .map_or(SIMULATED_SERIAL, String::as_str);
        rows.extend(sequences(pipeline, serial, &bar).await);
    }
    bar.clear();
    let failed = rows.iter().filter(|r| r.result == Outcome::Fail).count();
    let skipped = rows.iter().filter(|r| r.result == Outcome::Skip).count();
    Ok(Checked {
        sources: sweep.sources.clone(),
        source,
        guest,
        limits: pipeline.engine().limits(),
        rows,
        failed,
        skipped,
    })
}

impl Checked {
    /// The human-readable table: the settings used, the guest, the cost of each press and the
    /// headroom left, and each different failure in full.
    pub fn table(&self) -> Result<String, std::fmt::Error> {
        let (rows, limits) = (&self.rows, &self.limits);
        let ran: Vec<&DecisionRecord> = rows.iter().filter_map(|r| r.decision.as_ref()).collect();
        let (failed, skipped) = (self.failed, self.skipped);
        let mut out = self.source.line();
        writeln!(
            out,
            "guest {} (sha256 {}, {}, contract {}{}); limits {} ms, {}, {} fuel",
            escape_control(&self.guest.uri),
            render::short_sha(&self.guest.sha256),
            render::bytes(self.guest.size_bytes),
            escape_control(&self.guest.contract),
            if self.guest.uses_state {
                ", uses state"
            } else {
                ""
            },
            limits.timeout.as_millis(),
            render::bytes(limits.memory_bytes),
            render::thousands(limits.fuel),
        )?;
        writeln!(out)?;
        let cells: Vec<Cells> = rows.iter().map(describe).collect();
        let width = cells
            .iter()
            .map(|c| c.what.chars().count())
            .max()
            .unwrap_or(0)
            .clamp("actions".len(), MAX_ACTIONS_WIDTH);
        let click_width = cells
            .iter()
            .map(|c| c.click.chars().count())
            .max()
            .unwrap_or(0)
            .max("click".len());
        // One device needs no column; several (or real events) do.
        let serials: BTreeSet<&str> = rows
            .iter()
            .filter_map(|r| r.serial_number.as_deref())
            .collect();
        let serial_width = match serials.len() > 1 || rows.iter().any(|r| r.event.is_some()) {
            true => cells
                .iter()
                .map(|c| c.serial.chars().count())
                .max()
                .unwrap_or(0)
                .max("serial".len()),
            false => 0,
        };
        let lead = |click: &str, serial: &str| match serial_width {
            0 => format!("{click:<click_width$}"),
            w => format!("{click:<click_width$}  {serial:<w$}"),
        };
        writeln!(
            out,
            "{}  {:>13}  {:<6}  {:<width$}  {:>14}  {:>9}  {:>9}",
            lead("click", "serial"),
            "battery",
            "result",
            "actions",
            "instructions",
            "memory",
            "time"
        )?;
        for (row, c) in rows.iter().zip(&cells) {
            let what = clip(&c.what, width);
            let lead = lead(&c.click, &c.serial);
            let line = match &row.decision {
                None => format!("{lead}  {:>13}  {:<6}  {what}", c.battery, c.result),
                Some(d) => format!(
                    "{lead}  {:>13}  {:<6}  {what:<width$}  {:>14}  {:>9}  {:>9}",
                    c.battery,
                    c.result,
                    render::thousands(d.instructions),
                    render::bytes(d.peak_memory_bytes),
                    render::micros(d.duration_us),
                ),
            };
            writeln!(out, "{}", line.trim_end())?;
        }
        writeln!(out)?;
        let max_fuel = ran.iter().map(|d| d.instructions).max().unwrap_or(0);
        let max_mem = ran.iter().map(|d| d.peak_memory_bytes).max().unwrap_or(0);
        let max_us = ran.iter().map(|d| d.duration_us).max().unwrap_or(0);
        writeln!(
            out,
            "{} presses: {} ok, {failed} failed, {skipped} skipped",
            rows.len(),
            rows.len() - failed - skipped
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
        // The table cuts long messages; each different one is spelled out here.
        let mut failures: Vec<(&ErrorInfo, usize)> = Vec::new();
        for failure in rows.iter().filter_map(|r| r.failure.as_ref()) {
            match failures.iter_mut().find(|(f, _)| *f == failure) {
                Some((_, count)) => *count += 1,
                None => failures.push((failure, 1)),
            }
        }
        for (failure, count) in failures.iter().take(MAX_FAILURES_LISTED) {
            writeln!(
                out,
                "failed     {} ({count} press{}): {}",
                failure.kind,
                if *count == 1 { "" } else { "es" },
                escape_control(&failure.message)
            )?;
        }
        if failures.len() > MAX_FAILURES_LISTED {
            writeln!(
                out,
                "failed     ... and {} other failures (--json has them all)",
                failures.len() - MAX_FAILURES_LISTED
            )?;
        }
        self.coverage(&mut out)?;
        Ok(out)
    }
}

impl Checked {
    /// The coverage matrix: for each `--source`, every gesture it can send and what the guest
    /// does with it; gestures the guest fails on are flagged.
    fn coverage(&self, out: &mut String) -> std::fmt::Result {
        for &source in &self.sources {
            writeln!(out)?;
            writeln!(
                out,
                "coverage   {source}: the gestures it sends, and what the guest does with each"
            )?;
            for row in self.rows.iter().filter(|r| r.source == Some(source)) {
                let c = describe(row);
                let click = row.click_type.map_or("-", ClickType::as_str);
                let flag = match row.result {
                    Outcome::Fail => "  <- the guest fails on this gesture",
                    _ => "",
                };
                writeln!(
                    out,
                    "  {click:<7} {:<4}  {}{flag}",
                    c.result,
                    clip(&c.what, MAX_ACTIONS_WIDTH)
                )?;
            }
        }
        Ok(())
    }
}

/// A press from an HTTPS source as the webhook function hands it on once verified.
pub(crate) fn https_press(
    source: EventFormat,
    serial: &str,
    click_type: ClickType,
    battery_mv: Option<u32>,
    at_ms: u64,
) -> NormalisedEvent {
    let click = Click {
        source: source.as_str().into(),
        ..Click::new(serial, click_type, battery_mv, at_ms)
    };
    NormalisedEvent::one(source, click, None)
}

/// The cells of one row, before widths are known.
struct Cells {
    click: String,
    serial: String,
    battery: String,
    result: &'static str,
    what: String,
}

fn describe(row: &Row) -> Cells {
    let click = match (&row.event_name, row.click_type) {
        _ if row.sequence.is_some() => row.sequence.clone().unwrap_or_default(),
        (None, Some(click)) if row.source.is_some() => {
            format!("{} {}", row.source.map_or("", EventFormat::as_str), click)
        }
        (Some(name), _) => format!("event {}", escape_control(name)),
        (None, Some(click)) => click.as_str().to_string(),
        (None, None) => "-".to_string(),
    };
    let serial = row
        .serial_number
        .as_deref()
        .map_or_else(|| "-".to_string(), |s| escape_control(s).into_owned());
    let battery = row
        .battery_mv
        .map_or_else(|| "-".to_string(), |mv| format!("{mv} mV"));
    let (result, what) = match (row.result, &row.failure) {
        (Outcome::Skip, _) => ("skip", "(an earlier press ran out of time or fuel)".into()),
        (_, Some(e)) => (
            "FAIL",
            format!("{}: {}", e.kind, escape_control(&e.message)),
        ),
        (_, None) => (
            "ok",
            row.decision
                .iter()
                .flat_map(|d| &d.actions)
                .map(render::action)
                .chain(row.state.iter().flat_map(|s| &s.writes).map(state_write))
                .collect::<Vec<_>>()
                .join("; "),
        ),
    };
    Cells {
        click,
        serial,
        battery,
        result,
        what,
    }
}

/// A state write as the table shows it: `set count=2 (ttl 600 s)`, `delete mode`.
fn state_write(write: &StateWrite) -> String {
    let key = escape_control(&write.key);
    match &write.change {
        StateChange::Set {
            value,
            ttl_seconds: Some(ttl),
        } => format!("set {key}={} (ttl {ttl} s)", escape_control(value)),
        StateChange::Set { value, .. } => format!("set {key}={}", escape_control(value)),
        StateChange::Delete => format!("delete {key}"),
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

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Short sequences per click type for a guest that uses state, from empty state: the same
/// click twice within a second, then once more after the longest TTL the guest set, so a
/// cooldown or a toggle shows in the table.
async fn sequences(pipeline: &DeploymentPipeline<NoSink>, serial: &str, bar: &Step) -> Vec<Row> {
    let AnyLedger::Memory(ledger) = pipeline.ledger() else {
        return Vec::new();
    };
    bar.set_message("checking sequences");
    let start = now_ms();
    let mut rows = Vec::new();
    for click_type in ClickType::CLASSIC {
        ledger.clear_states();
        let event = classic_event(serial, click_type, None);
        let mut at = start;
        let mut longest_ttl_s = 0u64;
        for step in 1..=3 {
            let label = match step {
                1 => format!("{} 1/3", click_type.as_str()),
                2 => {
                    at += 500;
                    format!("{} 2/3 +0.5 s", click_type.as_str())
                }
                _ if longest_ttl_s == 0 => break,
                _ => {
                    at = start + (longest_ttl_s + 1) * 1000;
                    format!("{} 3/3 +{} s", click_type.as_str(), longest_ttl_s + 1)
                }
            };
            let request_id = format!("check-sequence-{}-{step}", click_type.as_str());
            bar.inc_length(1);
            bar.inc(1);
            let result = pipeline
                .press(PressRequest {
                    received_at_ms: Some(at),
                    ..PressRequest::new(&request_id, &event)
                })
                .await;
            let record = result.record;
            for write in record.state.iter().flat_map(|s| &s.writes) {
                if let StateChange::Set {
                    ttl_seconds: Some(ttl),
                    ..
                } = write.change
                {
                    longest_ttl_s = longest_ttl_s.max(u64::from(ttl));
                }
            }
            rows.push(Row {
                click_type: Some(click_type),
                battery_mv: None,
                serial_number: Some(serial.to_string()),
                event: None,
                event_name: None,
                result: match record.failure {
                    None => Outcome::Ok,
                    Some(_) => Outcome::Fail,
                },
                decision: record.decision,
                failure: record.failure,
                outcomes: record.outcomes,
                state: record.state,
                sequence: Some(label),
                source: None,
            });
        }
    }
    rows
}
