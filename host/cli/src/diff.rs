//! `clickrules diff CANDIDATE`: the candidate and the active guest over the check sweep and
//! the last real presses, replayed exactly; prints only the presses whose decisions differ.
//! Exits 0 when nothing changes, 1 when something does, 2 when the comparison cannot be made.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use clickrules_aws::{GUEST_LOCATION_FORMS, GuestLocation, Settings};
use clickrules_engine::text::escape_control;
use clickrules_pipeline::GuestSource;

use crate::args::{EngineArgs, ProgressArgs, deployment};
use crate::check::{self, SIMULATED_SERIAL, now_ms};
use crate::compare::{self, Compared, Side};
use crate::history_source::{HistorySourceArgs, recent_records};
use crate::{diff_render, remote, render};

/// Presses replayed from history by default.
pub const DEFAULT_HISTORY_PRESSES: usize = 100;

/// The exit code when the comparison cannot be made, as clap's usage errors: a script can
/// tell "decisions change" (1) from "could not tell" (2).
const CANNOT_COMPARE: u8 = 2;

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The candidate guest: a .wasm file or s3://BUCKET/KEY.
    candidate: String,
    /// Compare with this guest instead of the active one (the function's CLICKRULES_GUEST
    /// with --function, else this environment's, else the built-in guest).
    #[arg(long, value_name = "FILE|s3://BUCKET/KEY")]
    against: Option<String>,
    /// Replay the last N real presses from history (0: the check sweep only).
    #[arg(long = "history", value_name = "N", default_value_t = DEFAULT_HISTORY_PRESSES)]
    history_presses: usize,
    /// Sweep as this device too (default: a simulated serial); repeatable.
    #[arg(long = "serial", value_name = "SERIAL")]
    serials: Vec<String>,
    #[command(flatten)]
    source: HistorySourceArgs,
    /// Print the comparison as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    engine: EngineArgs,
    #[command(flatten)]
    output: ProgressArgs,
}

pub fn run(args: DiffArgs) -> anyhow::Result<ExitCode> {
    match compare_for(&args) {
        Ok(compared) => {
            if args.json {
                render::emit(&format!("{}\n", serde_json::to_string_pretty(&compared)?))?;
            } else {
                render::emit(&diff_render::table(&compared))?;
            }
            Ok(if compared.differs() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Err(e) => {
            eprintln!("error: {}", escape_control(&format!("{e:#}")));
            Ok(ExitCode::from(CANNOT_COMPARE))
        }
    }
}

fn compare_for(args: &DiffArgs) -> anyhow::Result<Compared> {
    let candidate = parse_location(&args.candidate, "candidate")?;
    let deployment = deployment(args.source.function.as_deref(), &args.engine)?;
    let active = match &args.against {
        Some(against) => parse_location(against, "--against")?,
        None => deployment.settings.guest.clone(),
    };
    let progress = args.output.progress(args.json);
    let records = if args.history_presses == 0 {
        Vec::new()
    } else {
        recent_records(&args.source, &deployment.settings, args.history_presses)?
    };
    remote::runtime()?.block_on(async {
        let active = open_side(&deployment.settings, active, &progress).await?;
        let candidate = open_side(&deployment.settings, candidate, &progress).await?;
        let serials = if args.serials.is_empty() {
            vec![SIMULATED_SERIAL.to_string()]
        } else {
            args.serials.clone()
        };
        let mut cases = compare::sweep_cases(&serials, now_ms());
        cases.extend(compare::history_cases(records, args.history_presses));
        Ok(compare::compare(&active, &candidate, &cases, &progress))
    })
}

/// A guest location as given on the command line.
pub fn parse_location(text: &str, what: &str) -> anyhow::Result<GuestLocation> {
    GuestLocation::parse(text)
        .with_context(|| format!("{what} {text:?}: expected {GUEST_LOCATION_FORMS}"))
}

/// Loads the guest at `location` under the deployment's settings, as `check` would.
pub async fn open_side(
    settings: &Settings,
    location: GuestLocation,
    progress: &crate::progress::Progress,
) -> anyhow::Result<Side> {
    let mut settings = settings.clone();
    settings.guest = location;
    let step = check::compile_step(progress, &settings.guest);
    let composed = check::open(&settings).await?;
    let guest = composed
        .pipeline
        .source()
        .current()
        .await
        .with_context(|| format!("cannot obtain the guest {}", settings.guest.uri()))?;
    step.finish(check::compiled_message(&settings.guest));
    Ok(Side {
        engine: composed.pipeline.engine().clone(),
        guest,
    })
}
