//! `clickrules`: simulate button presses through a guest and check guests before uploading.

mod args;
mod check;
mod key;
mod local_tools;
mod new;
mod press;
mod progress;
mod remote;
mod render;
mod state_file;
mod test_cmd;
mod upload;
mod webhook;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Run button-press rules (WebAssembly guests) locally, exactly as the Lambda runs them.
#[derive(Debug, Parser)]
#[command(name = "clickrules", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulate one press through a guest and print the decision (a dry run: nothing is executed).
    Press(press::PressArgs),
    /// Press a guest with every click type and battery edge case; fails if any press fails.
    Check(check::CheckArgs),
    /// Check a guest, then upload it to S3 for the Lambda to pick up on its next press.
    Upload(upload::UploadArgs),
    /// Create or show the key that signs precompiled guests.
    Key(key::KeyArgs),
    /// Create a guest project (Rust, JavaScript or Python) that builds and tests on its own.
    New(new::NewArgs),
    /// Run a cases file (presses and what each must decide) against a guest; fails on any
    /// mismatch.
    Test(test_cmd::TestArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Press(args) => press::run(args),
        Command::Check(args) => check::run(args),
        Command::New(args) => new::run(args),
        Command::Upload(args) => upload::run(args),
        Command::Key(args) => key::run(args),
        Command::Test(args) => test_cmd::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // Errors quote guest and device text: escaped like every other line.
            eprintln!(
                "error: {}",
                clickrules_engine::text::escape_control(&format!("{e:#}"))
            );
            ExitCode::FAILURE
        }
    }
}
