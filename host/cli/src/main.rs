//! `clickrules`: simulate button presses through a guest and check guests before uploading.

mod args;
mod check;
mod compare;
mod diff;
mod diff_render;
mod explain;
mod forget;
mod history;
mod history_render;
mod history_source;
mod key;
mod local_history;
mod local_tools;
mod new;
mod press;
mod progress;
mod promote;
mod redrive;
mod remote;
mod render;
mod shadow_report;
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
    /// Replay the check sweep and the last real presses through a candidate and the active
    /// guest; print the presses whose decisions differ (exit 1 when any do).
    Diff(diff::DiffArgs),
    /// Make the function's shadow guest (CLICKRULES_SHADOW_GUEST) its active guest: shows the
    /// diff, then uploads and signs it with a new sequence.
    Promote(promote::PromoteArgs),
    /// Make an earlier version of the function's guest active again: shows the diff, then
    /// uploads and signs it with a new sequence.
    Rollback(promote::RollbackArgs),
    /// What the shadow guest (CLICKRULES_SHADOW_GUEST) decided on real presses.
    Shadow(shadow_report::ShadowArgs),
    /// Run the presses in the dead-letter queue again through the press ledger (what already
    /// ran is not repeated); shows what it will do first.
    Redrive(redrive::RedriveArgs),
    /// List the presses a deployment's ledger table (or `press --state FILE`) kept, newest
    /// first.
    History(history::HistoryArgs),
    /// Tell what became of one press, and why, when nothing happened.
    Explain(explain::ExplainArgs),
    /// Delete a device's press history and state.
    Forget(forget::ForgetArgs),
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
        Command::Diff(args) => diff::run(args),
        Command::Promote(args) => promote::promote(args),
        Command::Rollback(args) => promote::rollback(args),
        Command::Shadow(args) => shadow_report::run(args),
        Command::Redrive(args) => redrive::run(args),
        Command::History(args) => history::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Forget(args) => forget::run(args),
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
