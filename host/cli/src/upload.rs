//! `clickrules upload`: check the guest, and only if every press passes, put it in S3.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use clickrules_aws::{GUEST_LOCATION_FORMS, GuestLocation};

use crate::args::{EngineArgs, load_guest};
use crate::{check, remote, render};

#[derive(Debug, Args)]
pub struct UploadArgs {
    /// The guest component (.wasm) to upload.
    guest: PathBuf,
    /// Where the Lambda reads it: s3://BUCKET/KEY (its CLICKRULES_GUEST).
    destination: String,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

pub fn run(args: UploadArgs) -> anyhow::Result<ExitCode> {
    let location = GuestLocation::parse(&args.destination)
        .filter(|l| matches!(l, GuestLocation::S3(_)))
        .with_context(|| {
            format!(
                "destination {:?} is not s3://BUCKET/KEY (guests are read from {GUEST_LOCATION_FORMS})",
                args.destination
            )
        })?;

    // The same checks a user runs by hand, under the limits the deployment will apply.
    let engine = args.engine.engine()?;
    let loaded = load_guest(&engine, Some(&args.guest))?;
    let checked = check::evaluate(&engine, &loaded, "G030UPLOADCHECK1", false);
    if !checked.passed() {
        render::emit(&check::table(&checked, &loaded, &engine.limits())?)?;
        eprintln!(
            "error: not uploading {}: {}",
            args.guest.display(),
            checked.summary()
        );
        return Ok(ExitCode::FAILURE);
    }

    let bytes = std::fs::read(&args.guest)
        .with_context(|| format!("cannot read guest {}", args.guest.display()))?;
    let uploaded = remote::upload(&location, bytes, loaded.guest.sha256())?;
    if args.json {
        render::emit(&format!("{}\n", serde_json::to_string_pretty(&uploaded)?))?;
    } else {
        render::emit(&format!(
            "checked    {} presses ok\nuploaded   {} ({})\nsha256     {}\nversion    {}\netag       {}\n",
            checked.presses(),
            uploaded.uri,
            render::bytes(uploaded.size_bytes),
            uploaded.sha256,
            uploaded
                .version_id
                .as_deref()
                .unwrap_or("none (bucket versioning is off: a bad upload cannot be rolled back)"),
            uploaded.etag.as_deref().unwrap_or("-"),
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
