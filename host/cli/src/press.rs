//! `clickrules press`: one simulated press, printed as a table or as the JSON record.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use clickrules_engine::ClickType;
use clickrules_engine::text::escape_control;

use clickrules_aws::{GUEST_LOCATION_FORMS, GuestLocation, Settings};

use crate::args::{EngineArgs, load_guest};
use crate::remote;
use crate::render;

/// A serial that cannot be mistaken for a real device in logs.
const SIMULATED_SERIAL: &str = "G030SIMULATED001";

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ClickArg {
    Single,
    Double,
    Long,
}

impl From<ClickArg> for ClickType {
    fn from(c: ClickArg) -> Self {
        match c {
            ClickArg::Single => ClickType::Single,
            ClickArg::Double => ClickType::Double,
            ClickArg::Long => ClickType::Long,
        }
    }
}

#[derive(Debug, Args)]
pub struct PressArgs {
    /// The guest: a .wasm path, s3://BUCKET/KEY, or builtin:default (the default).
    #[arg(long, value_name = "PATH|S3-URI")]
    guest: Option<String>,
    /// How the button is pressed.
    #[arg(long, value_enum, default_value = "single", conflicts_with = "event")]
    click: ClickArg,
    /// Serial number of the simulated button.
    #[arg(long, default_value = SIMULATED_SERIAL, conflicts_with = "event")]
    serial: String,
    /// Battery voltage the button reports, in millivolts (omitted when not given).
    #[arg(long, value_name = "MV", conflicts_with = "event")]
    battery_mv: Option<u32>,
    /// A real event JSON to press with instead (a file, or - for stdin).
    #[arg(long, value_name = "FILE|-")]
    event: Option<PathBuf>,
    /// Print the decision record as JSON.
    #[arg(long)]
    json: bool,
    /// Carry the actions out for real with your AWS credentials (Lambda Invoke, SNS Publish),
    /// configured by the same CLICKRULES_* variables as the Lambda.
    #[arg(long, conflicts_with = "remote")]
    execute: bool,
    /// Send the press to the deployed Lambda FUNCTION and print the record it returns.
    #[arg(long, value_name = "FUNCTION", conflicts_with = "guest")]
    remote: Option<String>,
    #[command(flatten)]
    engine: EngineArgs,
}

pub fn run(args: PressArgs) -> anyhow::Result<ExitCode> {
    let event = match &args.event {
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
        None => simulated_event(&args.serial, args.click.into(), args.battery_mv),
    };

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

    let location = match &args.guest {
        None => GuestLocation::Builtin,
        Some(raw) => GuestLocation::parse(raw)
            .with_context(|| format!("--guest {raw:?}: expected {GUEST_LOCATION_FORMS}"))?,
    };

    if args.execute {
        let mut settings = Settings::from_process_env().context("invalid CLICKRULES_* setting")?;
        if args.guest.is_some() {
            settings.guest = location;
        }
        let config = args.engine.config()?;
        settings.limits = config.limits;
        settings.guest_settings.extend(config.settings);
        settings.allowed_regions = config.allowed_regions.or(settings.allowed_regions);
        settings.allow_unlisted_regions |= config.allow_unlisted_regions;
        let (record, ok) = match remote::execute(settings, &event)? {
            Ok(record) => (record, true),
            Err(record) => (record, false),
        };
        if args.json {
            render::emit(&format!("{}\n", serde_json::to_string_pretty(&record)?))?;
        } else {
            render::emit(&render::record(&record))?;
        }
        if let (false, Some(failure)) = (ok, &record.failure) {
            eprintln!("error: {}", escape_control(&failure.to_string()));
            return Ok(ExitCode::FAILURE);
        }
        return Ok(ExitCode::SUCCESS);
    }

    let engine = args.engine.engine()?;
    let decision = match &location {
        GuestLocation::S3(_) => remote::dry_run(engine, &location, &event)?,
        local => {
            let path = match local {
                GuestLocation::Path(path) => Some(path.clone()),
                _ => None,
            };
            let loaded = load_guest(&engine, path.as_ref())?;
            let mut decision = engine.press(&loaded.guest, &event);
            decision.guest.uri = Some(loaded.uri);
            decision
        }
    };

    if args.json {
        render::emit(&format!("{}\n", serde_json::to_string_pretty(&decision)?))?;
    } else {
        render::emit(&render::decision(&decision))?;
    }
    Ok(match &decision.error {
        None => ExitCode::SUCCESS,
        Some(e) => {
            eprintln!("error: {}", escape_control(&e.to_string()));
            ExitCode::FAILURE
        }
    })
}

/// The message a classic IoT button publishes, so a simulated press takes the production path.
fn simulated_event(serial: &str, click: ClickType, battery_mv: Option<u32>) -> Vec<u8> {
    let mut event = serde_json::json!({
        "serialNumber": serial,
        "clickType": click.as_str(),
    });
    if let Some(mv) = battery_mv {
        event["batteryVoltage"] = format!("{mv}mV").into();
    }
    event.to_string().into_bytes()
}
