//! `clickrules promote` and `clickrules rollback`: make the shadow guest, or an earlier
//! version of the active one, the guest every press runs. Each is an upload of those bytes to
//! the active location: checked, compared with what runs now (the diff is shown first), and
//! signed again with a new sequence, so the old signed artifact stays refused if someone puts
//! it back by hand.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use clickrules_aws::{GuestLocation, S3Uri, Settings};
use clickrules_engine::text::escape_control;

use crate::args::{EngineArgs, deployment};
use crate::remote::{self, ObjectVersion};
use crate::upload::{self, PublishArgs};

/// What promote and rollback share.
#[derive(Debug, Args)]
pub struct RepublishArgs {
    /// The deployed function (NAME, NAME:ALIAS or ARN) whose guest changes.
    #[arg(long, value_name = "FUNCTION")]
    function: String,
    #[command(flatten)]
    publish: PublishArgs,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    #[command(flatten)]
    common: RepublishArgs,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The version to make active again: an S3 version id, or the start of a guest's sha256
    /// (at least 8 hex digits). Default: the newest earlier version with other bytes.
    #[arg(long, value_name = "VERSION|SHA")]
    to: Option<String>,
    /// List the versions a rollback can go to, and do nothing.
    #[arg(long)]
    list: bool,
    #[command(flatten)]
    common: RepublishArgs,
}

pub fn promote(args: PromoteArgs) -> anyhow::Result<ExitCode> {
    let common = args.common;
    let deployed = deployment(Some(&common.function), &EngineArgs::default())?;
    let active = active_location(&common.function, &deployed.settings)?;
    let shadow = match &deployed.settings.shadow_guest {
        Some(GuestLocation::S3(uri)) => uri.clone(),
        Some(other) => anyhow::bail!(
            "function {} runs its shadow guest from {} (CLICKRULES_SHADOW_GUEST); promote reads \
             it from S3, so upload it there first",
            escape_control(&common.function),
            escape_control(&other.uri())
        ),
        None => anyhow::bail!(
            "function {} has no shadow guest (CLICKRULES_SHADOW_GUEST is unset): nothing to \
             promote",
            escape_control(&common.function)
        ),
    };
    let bytes = remote::download(&shadow, None)?;
    if !common.publish.json && !common.publish.output.quiet {
        eprintln!(
            "promoting  {shadow} (sha256 {}) to {active}",
            short(&clickrules_engine::sha256_hex(&bytes))
        );
    }
    republish(common, &active, bytes, &format!("{shadow}"))
}

pub fn rollback(args: RollbackArgs) -> anyhow::Result<ExitCode> {
    let common = args.common;
    let deployed = deployment(Some(&common.function), &EngineArgs::default())?;
    let active = active_location(&common.function, &deployed.settings)?;
    let versions = remote::versions(&active)?;
    if args.list {
        crate::render::emit(&version_table(&versions))?;
        return Ok(ExitCode::SUCCESS);
    }
    let target = pick_version(&versions, args.to.as_deref(), &active)?;
    let bytes = remote::download(&active, Some(&target.version_id))?;
    let sha256 = clickrules_engine::sha256_hex(&bytes);
    if let Some(expected) = &target.sha256 {
        anyhow::ensure!(
            *expected == sha256,
            "version {} of {active} holds bytes with sha256 {sha256}, not the {expected} its \
             metadata names; not rolling back to it",
            target.version_id
        );
    }
    if !common.publish.json && !common.publish.output.quiet {
        eprintln!(
            "rolling back {active} to version {} (sha256 {})",
            escape_control(&target.version_id),
            short(&sha256)
        );
    }
    let from = format!("{active} version {}", target.version_id);
    republish(common, &active, bytes, &from)
}

/// The function's active guest location, which must be an S3 object to change.
fn active_location(function: &str, settings: &Settings) -> anyhow::Result<S3Uri> {
    match &settings.guest {
        GuestLocation::S3(uri) => Ok(uri.clone()),
        other => anyhow::bail!(
            "function {} runs {} (CLICKRULES_GUEST), not a guest in S3: promote and rollback \
             change an S3 guest",
            escape_control(function),
            escape_control(&other.uri())
        ),
    }
}

/// The version `to` names, or the newest earlier one with other bytes than the active one.
fn pick_version<'a>(
    versions: &'a [ObjectVersion],
    to: Option<&str>,
    active: &S3Uri,
) -> anyhow::Result<&'a ObjectVersion> {
    let Some(current) = versions.first() else {
        anyhow::bail!(
            "{active} has no stored versions: turn on bucket versioning so earlier guests are kept"
        );
    };
    match to {
        Some(to) => {
            if let Some(v) = versions.iter().find(|v| v.version_id == to) {
                return Ok(v);
            }
            let to = to.to_ascii_lowercase();
            anyhow::ensure!(
                to.len() >= 8 && to.chars().all(|c| c.is_ascii_hexdigit()),
                "no version {to:?} of {active}, and it is not the start of a sha256 (8 or more \
                 hex digits); `clickrules rollback --list` shows the versions"
            );
            let matching: Vec<&ObjectVersion> = versions
                .iter()
                .filter(|v| v.sha256.as_deref().is_some_and(|s| s.starts_with(&to)))
                .collect();
            match matching.as_slice() {
                [] => anyhow::bail!(
                    "no version of {active} has a guest whose sha256 starts with {to}; \
                     `clickrules rollback --list` shows the versions"
                ),
                // The newest copy of those bytes.
                [first, ..] => Ok(first),
            }
        }
        None => versions
            .iter()
            .skip(1)
            .find(|v| v.sha256.is_none() || v.sha256 != current.sha256)
            .with_context(|| {
                format!("{active} has no earlier version with other bytes to roll back to")
            }),
    }
}

fn version_table(versions: &[ObjectVersion]) -> String {
    let mut out = String::from(
        "VERSION                            STORED               SHA256        SIZE\n",
    );
    for v in versions {
        let stored = v
            .last_modified_ms
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
            .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "{:<34} {:<20} {:<13} {}{}\n",
            escape_control(&v.version_id),
            stored,
            v.sha256.as_deref().map_or("-", short),
            v.size_bytes
                .map_or_else(|| "-".into(), |b| crate::render::bytes(b as u64)),
            if v.is_latest { "  (active)" } else { "" }
        ));
    }
    out
}

/// Uploads `bytes` to `active` as `upload` would: check, diff, confirm, sign, put.
fn republish(
    common: RepublishArgs,
    active: &S3Uri,
    bytes: Vec<u8>,
    from: &str,
) -> anyhow::Result<ExitCode> {
    let copy = TempCopy::write(&bytes)?;
    upload::republish(
        copy.path.clone(),
        from.to_string(),
        active,
        &common.function,
        common.publish,
    )
}

/// The bytes in a file of their own for the upload to read, removed afterwards.
struct TempCopy {
    path: PathBuf,
}

impl TempCopy {
    fn write(bytes: &[u8]) -> anyhow::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!(
            "clickrules-republish-{}-{nanos}.wasm",
            std::process::id()
        ));
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Self { path })
    }
}

impl Drop for TempCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}
