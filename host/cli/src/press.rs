//! `clickrules press`: one press through the same pipeline the Lambda runs (a dry run by
//! default; `--execute` runs the actions; `--remote` sends it to the deployed function),
//! printed as a table or as the press record.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use std::sync::Arc;

use clickrules_aws::{
    GUEST_LOCATION_FORMS, GuestLocation, InitError, Mode, Settings, compose_with,
};
use clickrules_engine::text::escape_control;
use clickrules_engine::{ClickType, EventFormat, NormalisedEvent, simulated_event};
use clickrules_pipeline::{NoSink, PressRecord, PressRequest, PressResult};

use crate::args::{EngineArgs, ProgressArgs};
use crate::check::{https_press, now_ms};
use crate::local_history;
use crate::remote;
use crate::render;
use crate::state_file;
use crate::webhook::{self, WebhookArgs};

/// A serial that cannot be mistaken for a real device in logs.
const SIMULATED_SERIAL: &str = "G030SIMULATED001";

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ClickArg {
    Single,
    Double,
    Triple,
    Long,
}

impl From<ClickArg> for ClickType {
    fn from(c: ClickArg) -> Self {
        match c {
            ClickArg::Single => ClickType::Single,
            ClickArg::Double => ClickType::Double,
            ClickArg::Triple => ClickType::Triple,
            ClickArg::Long => ClickType::Long,
        }
    }
}

/// `--source NAME`, checked against the source names.
pub(crate) fn parse_source(raw: &str) -> Result<EventFormat, String> {
    raw.parse()
}

#[derive(Debug, Args)]
pub struct PressArgs {
    /// The guest: a .wasm path, s3://BUCKET/KEY, or builtin:default (default: CLICKRULES_GUEST,
    /// else the built-in guest).
    #[arg(long, value_name = "PATH|S3-URI")]
    guest: Option<String>,
    /// How the button is pressed (triple: sources that have one, e.g. --source shelly-gen2).
    #[arg(long, value_enum, default_value = "single", conflicts_with = "event")]
    click: ClickArg,
    /// Which kind of button to simulate: its message goes through that source's
    /// normalisation (iot-button, iot-1-click, shelly-gen1, shelly-gen2, zigbee2mqtt; flic and
    /// webhook are simulated as already verified presses).
    #[arg(long, value_name = "SOURCE", default_value = "iot-button", value_parser = parse_source, conflicts_with = "event")]
    source: EventFormat,
    /// Serial number of the simulated button.
    #[arg(long, default_value = SIMULATED_SERIAL, conflicts_with = "event")]
    serial: String,
    /// Battery voltage the button reports, in millivolts (omitted when not given).
    #[arg(long, value_name = "MV", conflicts_with = "event")]
    battery_mv: Option<u32>,
    /// A real event JSON to press with instead (a file, or - for stdin).
    #[arg(long, value_name = "FILE|-")]
    event: Option<PathBuf>,
    /// Print the press record as JSON (the same record the Lambda logs and returns).
    #[arg(long)]
    json: bool,
    /// Carry the actions out for real with your AWS credentials (Lambda Invoke, SNS Publish),
    /// configured by the same CLICKRULES_* variables as the Lambda.
    #[arg(long, conflicts_with = "remote")]
    execute: bool,
    /// The press id (default: the event's clickrules_trace_id, else a new one); give the id of
    /// an earlier press to deliver it again, as a retry would.
    #[arg(long, value_name = "ID")]
    press_id: Option<String>,
    /// Send the press to the deployed Lambda FUNCTION and print the record it returns.
    #[arg(long, value_name = "FUNCTION", conflicts_with_all = ["guest", "state", "now"])]
    remote: Option<String>,
    /// Keep devices' state between local presses in this JSON file (created if missing,
    /// replaced atomically after each press). A guest that uses state needs it, unless
    /// --execute runs against a deployment's ledger table (CLICKRULES_LEDGER_TABLE). Each
    /// delivery's record is also appended to FILE.history.jsonl beside it, for `history
    /// --state FILE` and `explain`; a press delivered again (--press-id) is then answered as
    /// a duplicate, as the deployed ledger answers it.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// When the press happens, as RFC 3339 (2026-12-02T22:30:00+01:00): state expiry and the
    /// UTC offset guests see are judged then (default: now).
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    now: Option<u64>,
    #[command(flatten)]
    webhook: WebhookArgs,
    #[command(flatten)]
    engine: EngineArgs,
    #[command(flatten)]
    output: ProgressArgs,
}

pub fn run(args: PressArgs) -> anyhow::Result<ExitCode> {
    let event = read_event(&args)?;
    if let Some(function) = &args.remote {
        return match remote::invoke(function, &event)? {
            Ok(record) => {
                render::emit(&format!("{}\n", serde_json::to_string_pretty(&record)?))?;
                Ok(ExitCode::SUCCESS)
            }
            Err(message) => {
                eprintln!("error: {}", escape_control(&message));
                Ok(ExitCode::FAILURE)
            }
        };
    }

    let mut settings = Settings::from_process_env().context("invalid CLICKRULES_* setting")?;
    if let Some(raw) = &args.guest {
        settings.guest = GuestLocation::parse(raw)
            .with_context(|| format!("--guest {raw:?}: expected {GUEST_LOCATION_FORMS}"))?;
    }
    args.engine.apply(&mut settings)?;
    let mode = match args.execute {
        true => Mode::Execute,
        false => Mode::DryRun,
    };
    let request_id = remote::request_id();
    let local_ledger = args
        .state
        .as_deref()
        .map(state_file::read)
        .transpose()?
        .map(Arc::new);
    let extras = crate::local_tools::extras(local_ledger.clone());
    let http = webhook::is_function_url(&event);
    let simulated = simulated_https(&args);
    let progress = args.output.progress(args.json);
    let results = remote::runtime()?.block_on(async {
        if let (Some(path), Some(ledger)) = (&args.state, &local_ledger) {
            seed_history(path, ledger).await;
        }
        let step = crate::check::compile_step(&progress, &settings.guest);
        let runtime = compose_with(&settings, mode, NoSink, extras)
            .await
            .map_err(|e| match e {
                // The guest's own error names it; the wrapper would only repeat that.
                InitError::Guest(e) => anyhow::Error::new(e),
                other => anyhow::Error::new(other),
            })?;
        step.finish(crate::check::compiled_message(&settings.guest));
        let request = PressRequest {
            request_id: &request_id,
            event: &event,
            press_id: args.press_id.as_deref(),
            deadline_ms: None,
            received_at_ms: args.now,
            function_arn: None,
            normalised: simulated.as_ref(),
            min_dedupe_window_ms: None,
        };
        if http {
            let entry = args.webhook.entry()?;
            let now = args.now.unwrap_or_else(now_ms);
            let (response, result) = entry.handle(&runtime.pipeline, request, now).await;
            if !args.output.quiet {
                eprintln!(
                    "webhook    HTTP {} {}",
                    response.status_code,
                    response.body.as_deref().unwrap_or_default()
                );
            }
            return anyhow::Ok(vec![result]);
        }
        anyhow::Ok(runtime.pipeline.deliver(request).await.into_presses())
    })?;
    if let (Some(path), Some(ledger)) = (&args.state, &local_ledger) {
        state_file::write(path, ledger)?;
        let at = args.now.unwrap_or_else(now_ms);
        append_history(path, &results, at, &settings.history_retention);
    }

    if args.json {
        let json = match results.as_slice() {
            [one] => serde_json::to_string_pretty(&one.record)?,
            all => serde_json::to_string_pretty(&serde_json::json!({
                "presses": all.iter().map(|r| &r.record).collect::<Vec<_>>(),
            }))?,
        };
        render::emit(&format!("{json}\n"))?;
    } else {
        let tables: Vec<String> = results.iter().map(|r| render::record(&r.record)).collect();
        render::emit(&tables.join("\n"))?;
    }
    let mut code = ExitCode::SUCCESS;
    for result in &results {
        if let Some(failure) = &result.record.failure {
            eprintln!("error: {}", escape_control(&failure.message));
            if failure.kind == "source_disabled" && !args.webhook.has_secret() {
                eprintln!(
                    "hint: a generic webhook request is verified with its secret: pass --webhook-secret FILE"
                );
            }
            code = ExitCode::FAILURE;
        }
    }
    Ok(code)
}

/// Teaches the local ledger the presses the history beside `state` completed, so a press
/// delivered again is a duplicate. Without it the press still runs, as a new one.
async fn seed_history(state: &std::path::Path, ledger: &clickrules_pipeline::MemoryLedger) {
    if let Err(e) = local_history::seed(ledger, &local_history::path_for(state)).await {
        eprintln!(
            "warning: {}; earlier presses are not recognised as duplicates",
            escape_control(&e.to_string())
        );
    }
}

/// Appends the delivery's records to the history beside `state`. The press has happened
/// (perhaps for real) by now: a history that cannot be written is a warning, not a failure.
/// Kept as long as the deployment keeps history (CLICKRULES_HISTORY_*_DAYS).
fn append_history(
    state: &std::path::Path,
    results: &[PressResult],
    received_at_ms: u64,
    retention: &clickrules_pipeline::Retention,
) {
    let path = local_history::path_for(state);
    let records: Vec<&PressRecord> = results.iter().map(|r| &r.record).collect();
    if let Err(e) = local_history::append(&path, &records, received_at_ms, now_ms(), retention) {
        eprintln!(
            "warning: the press is not in the local history: {}",
            escape_control(&format!("{e:#}"))
        );
    }
}

/// A simulated press from an HTTPS source: its requests are signed, so it is handed to the
/// pipeline as a press already verified.
fn simulated_https(args: &PressArgs) -> Option<NormalisedEvent> {
    if args.event.is_some() || !args.source.is_https() {
        return None;
    }
    Some(https_press(
        args.source,
        &args.serial,
        args.click.into(),
        args.battery_mv,
        args.now.unwrap_or_else(now_ms),
    ))
}

fn read_event(args: &PressArgs) -> anyhow::Result<Vec<u8>> {
    Ok(match &args.event {
        Some(path) if path.as_os_str() == "-" => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("cannot read the event from stdin")?;
            buf
        }
        Some(path) => {
            std::fs::read(path).with_context(|| format!("cannot read event {}", path.display()))?
        }
        None if args.source.is_https() => Vec::new(),
        None => simulated_event(
            args.source,
            &args.serial,
            args.click.into(),
            args.battery_mv,
            args.now.unwrap_or_else(now_ms),
        )
        .map_err(|e| anyhow::anyhow!("--source {} --click: {e}", args.source))?,
    })
}

/// An RFC 3339 time as ms since the epoch.
fn parse_time(raw: &str) -> Result<u64, String> {
    let at: jiff::Timestamp = raw
        .parse()
        .map_err(|e| format!("{raw:?} is not an RFC 3339 time (2026-12-02T22:30:00Z): {e}"))?;
    u64::try_from(at.as_millisecond())
        .map_err(|_| format!("{raw:?} is before 1970, when presses began"))
}

/// The message a classic IoT button publishes, so a simulated press takes the production path.
pub(crate) fn classic_event(serial: &str, click: ClickType, battery_mv: Option<u32>) -> Vec<u8> {
    simulated_event(EventFormat::IotButton, serial, click, battery_mv, 0).unwrap_or_default()
}
