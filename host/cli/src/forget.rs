//! `clickrules forget DEVICE`: deletes a device's press history and its state, for a button
//! given away, or a person who asked to be forgotten. It cannot be undone, so it asks first
//! on a terminal and refuses to guess anywhere else.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::process::ExitCode;

use clap::Args;
use clickrules_engine::text::escape_control as esc;

use crate::history::SourceArgs;
use crate::render;

#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// The device: SOURCE#ID (iot-button#G030JF055364XVRB), or a bare id for that id under
    /// every source.
    device: String,
    /// Delete without asking (needed where there is no terminal to ask on).
    #[arg(long, short = 'y')]
    yes: bool,
    // Last: its help heading would otherwise take in the options after it.
    #[command(flatten)]
    source: SourceArgs,
}

pub fn run(args: ForgetArgs) -> anyhow::Result<ExitCode> {
    let device = args.device.trim();
    if device.is_empty() || device.starts_with('#') || device.ends_with('#') {
        anyhow::bail!(
            "{:?} is not a device: give SOURCE#ID (iot-button#G030JF055364XVRB) or an id",
            esc(&args.device)
        );
    }
    let source = args.source.open()?;
    let what = format!(
        "the press history and state of {} in {}",
        esc(device),
        source.name()
    );
    if !args.yes {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            anyhow::bail!("forget deletes {what} and cannot be undone: pass --yes to confirm");
        }
        eprint!("delete {what}? This cannot be undone. [y/N] ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        stdin.lock().read_line(&mut answer)?;
        if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            eprintln!("nothing was deleted");
            return Ok(ExitCode::FAILURE);
        }
    }
    let forgotten = source.forget(device)?;
    render::emit(&format!(
        "forgot {}: removed {} and {} from {}\n",
        esc(device),
        count(forgotten.presses, "press", "presses"),
        count(forgotten.states, "device state", "device states"),
        source.name()
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
