//! `clickrules test GUEST CASES`: presses a guest with every case of a cases file (tests as
//! data, the format of `clickrules_testkit::cases`) through the production engine and limits,
//! and prints a pass/fail table with a diff per failure. Exits 0 when every case passes, 1
//! when one fails or the guest cannot be loaded, 2 when the command or the cases file is
//! unusable.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use clickrules_engine::text::{escape_control, json_line};
use clickrules_testkit::EngineConfig;
use clickrules_testkit::cases::Cases;

use crate::render;

/// The exit code for a command or cases file that cannot be used, as clap uses for usage
/// errors: a caller can tell "the guest is wrong" (1) from "the test is wrong" (2).
const USAGE: u8 = 2;

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The guest component (.wasm).
    guest: PathBuf,
    /// The cases file (.toml or .json): each case a press and what it must decide.
    cases: PathBuf,
    /// Print the results as JSON (one object: counts, and per case expected, actual, diffs).
    #[arg(long)]
    json: bool,
    /// Wall-clock deadline per press, in milliseconds (default: 1000, as deployed).
    #[arg(long, value_name = "MS")]
    timeout_ms: Option<u64>,
    /// Guest memory cap, in MiB (default: 128).
    #[arg(long, value_name = "MIB")]
    memory_mb: Option<u64>,
    /// Fuel (instructions) per press (default: 10^12).
    #[arg(long)]
    fuel: Option<u64>,
    /// Regions `snapshot` may name, comma separated (default: any known region).
    #[arg(long, value_delimiter = ',', value_name = "REGIONS")]
    allowed_regions: Option<Vec<String>>,
    #[command(flatten)]
    output: crate::args::ProgressArgs,
}

pub fn run(args: TestArgs) -> anyhow::Result<ExitCode> {
    let cases = match Cases::load(&args.cases) {
        Ok(cases) => cases,
        Err(e) => return Ok(usage(&e)),
    };
    let config = match config(&args) {
        Ok(config) => config,
        Err(e) => return Ok(usage(&*e)),
    };
    let progress = args.output.progress(args.json);
    let size = std::fs::metadata(&args.guest)
        .map(|m| format!(" ({})", crate::progress::size(m.len())))
        .unwrap_or_default();
    // One step for compiling and running: the test kit runs the cases in one call.
    let step = progress.spinner(format!(
        "compiling {}{size} and running {} case{}",
        args.guest.display(),
        cases.cases().len(),
        if cases.cases().len() == 1 { "" } else { "s" }
    ));
    let outcome = cases.run_with(config, &args.guest);
    step.clear();
    let report = match outcome {
        Ok(report) => report,
        Err(
            e @ (clickrules_testkit::Error::Read { .. } | clickrules_testkit::Error::Config(_)),
        ) => {
            return Ok(usage(&e));
        }
        // A guest the engine refuses fails like a failing case: the guest is what is wrong.
        Err(e) => return Err(e.into()),
    };
    if args.json {
        let mut line = json_line(&report).context("cannot write the report as JSON")?;
        line.push('\n');
        render::emit(&line)?;
    } else {
        render::emit(&format!("{report}\n"))?;
    }
    Ok(if report.all_passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn config(args: &TestArgs) -> Result<EngineConfig, Box<dyn std::error::Error>> {
    // The production limits, with what a local tool adds: backtraces to the source line, and
    // the compile cache that makes re-testing an unchanged guest fast.
    let mut config = EngineConfig {
        backtraces: clickrules_engine::Backtraces::SourceLines,
        compile_cache: crate::local_tools::compile_cache_dir(),
        ..EngineConfig::default()
    };
    if let Some(ms) = args.timeout_ms {
        config.limits.timeout = Duration::from_millis(ms);
    }
    if let Some(mb) = args.memory_mb {
        config.limits.memory_bytes = mb.checked_mul(1 << 20).ok_or("--memory-mb is too large")?;
    }
    if let Some(fuel) = args.fuel {
        config.limits.fuel = fuel;
    }
    if let Some(regions) = &args.allowed_regions {
        config.allowed_regions = Some(
            regions
                .iter()
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty())
                .collect(),
        );
    }
    config.limits.validate()?;
    Ok(config)
}

fn usage(e: &dyn std::error::Error) -> ExitCode {
    eprintln!("error: {}", escape_control(&e.to_string()));
    ExitCode::from(USAGE)
}
