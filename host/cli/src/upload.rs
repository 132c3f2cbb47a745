//! `clickrules upload`: check the guest under the deployment's settings, and only if every
//! press passes, put it in S3.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use clickrules_aws::{ArtifactPolicy, GUEST_LOCATION_FORMS, GuestLocation, S3Uri};
use clickrules_engine::text::escape_control;
use clickrules_engine::{Arch, ArtifactBinding, ArtifactSigner};
use clickrules_pipeline::GuestSource as _;

use crate::args::{EngineArgs, ProgressArgs, deployment};
use crate::check::{self, SweepArgs};
use crate::compare::{self, Compared, Side};
use crate::history_source::{HistorySourceArgs, recent_records};
use crate::remote::Object;
use crate::{diff_render, key, remote, render};

#[derive(Debug, Args)]
pub struct UploadArgs {
    /// The guest component (.wasm) to upload.
    guest: PathBuf,
    /// Where the Lambda reads it: s3://BUCKET/KEY (its CLICKRULES_GUEST).
    destination: String,
    /// Check the guest under the settings of this deployed Lambda function (NAME, NAME:ALIAS or
    /// ARN): its CLICKRULES_* environment, read with lambda:GetFunctionConfiguration, and its
    /// memory. Without it, the CLICKRULES_* variables of this environment apply. Options given
    /// on the command line override either.
    #[arg(long, value_name = "FUNCTION")]
    function: Option<String>,
    /// The Lambda's memory (its MemorySize, MB): warn before uploading an unsigned guest whose
    /// compile would not fit in it (the Lambda then refuses to compile it). Default with
    /// --function: the function's.
    #[arg(long, value_name = "MB")]
    function_memory_mb: Option<u64>,
    #[command(flatten)]
    sweep: SweepArgs,
    /// Read history from this ledger table.
    #[arg(long, value_name = "TABLE", conflicts_with = "state")]
    table: Option<String>,
    /// Read the local history kept by `press --state FILE`.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    #[command(flatten)]
    publish: PublishArgs,
    /// What the guest is, in messages, when `guest` is a temporary copy (promote, rollback).
    #[arg(skip)]
    label: Option<String>,
}

/// What an upload shares with `promote` and `rollback`, which upload bytes from elsewhere:
/// signing, the diff shown first and how to answer it, output, settings.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Sign precompiled artifacts with this key (see `clickrules key new`), so the Lambda loads
    /// native code instead of compiling the guest on each cold start; a new sequence, so older
    /// artifacts stay refused.
    #[arg(long, env = "CLICKRULES_SIGNING_KEY", value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
    /// Architectures to precompile for (with --signing-key).
    #[arg(long, value_delimiter = ',', default_values = ["arm64", "x86_64"])]
    pub arch: Vec<Arch>,
    /// Before uploading, replay the check sweep and the last N real presses through this
    /// guest and the one now at the destination, and show the presses whose decisions change
    /// (0: the sweep only). History comes from --table, --state, or the function's ledger.
    #[arg(long = "history", value_name = "N", default_value_t = crate::diff::DEFAULT_HISTORY_PRESSES)]
    pub history_presses: usize,
    /// Go ahead even when decisions change, without asking (for scripts).
    #[arg(long, short = 'y', conflicts_with = "refuse_changes")]
    pub yes: bool,
    /// Refuse when any decision changes (for CI).
    #[arg(long)]
    pub refuse_changes: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub output: ProgressArgs,
}

impl UploadArgs {
    /// The guest, as messages name it.
    fn name(&self) -> String {
        self.label
            .clone()
            .unwrap_or_else(|| self.guest.display().to_string())
    }
}

/// Uploads `guest` (a local copy of bytes from elsewhere: the shadow guest, an earlier
/// version, named `label` in messages) to `destination` for `function`: checked, compared,
/// confirmed and signed like any upload.
pub fn republish(
    guest: PathBuf,
    label: String,
    destination: &S3Uri,
    function: &str,
    publish: PublishArgs,
) -> anyhow::Result<ExitCode> {
    run(UploadArgs {
        guest,
        destination: destination.to_string(),
        function: Some(function.to_string()),
        function_memory_mb: None,
        sweep: SweepArgs {
            serials: Vec::new(),
            events: Vec::new(),
            sources: Vec::new(),
        },
        table: None,
        state: None,
        publish,
        label: Some(label),
    })
}

/// The serial of the presses an upload checks with when no `--serial` is given.
const UPLOAD_CHECK_SERIAL: &str = "G030UPLOADCHECK1";

pub fn run(args: UploadArgs) -> anyhow::Result<ExitCode> {
    let Some(GuestLocation::S3(target)) = GuestLocation::parse(&args.destination) else {
        anyhow::bail!(
            "destination {:?} is not s3://BUCKET/KEY (guests are read from {GUEST_LOCATION_FORMS})",
            args.destination
        );
    };
    // Read the key and the events before the slow part, so a wrong path fails at once.
    let signer = args
        .publish
        .signing_key
        .as_deref()
        .map(key::read_signer)
        .transpose()?;
    let sweep = args.sweep.sweep(UPLOAD_CHECK_SERIAL, false)?;
    let mut deployment = deployment(args.function.as_deref(), &args.publish.engine)?;
    if let Some(name) = &args.function {
        if let Some(warning) = destination_warning(name, &deployment.settings.guest, &target) {
            eprintln!("warning: {warning}");
        }
        signing_check(
            name,
            deployment.settings.artifacts.as_ref(),
            signer.as_ref(),
        )?;
    }
    let function_memory_mb = args
        .function_memory_mb
        .or_else(|| deployment.function.as_ref().and_then(|f| f.memory_mb));

    // The same checks a user runs by hand, through the pipeline the deployment runs, under
    // its settings.
    deployment.settings.guest = GuestLocation::Path(args.guest.clone());
    let progress = args.publish.output.progress(args.publish.json);
    let runtime = remote::runtime()?;
    let (composed, checked) = runtime.block_on(async {
        let step = check::compile_step(&progress, &deployment.settings.guest);
        let composed = check::open(&deployment.settings).await?;
        step.finish(check::compiled_message(&deployment.settings.guest));
        let checked = check::evaluate(
            &composed.pipeline,
            &sweep,
            deployment.source.clone(),
            &progress,
        )
        .await?;
        anyhow::Ok((composed, checked))
    })?;
    drop(runtime);
    if !checked.passed() {
        if args.publish.json {
            render::emit(&checked.json()?)?;
        } else {
            render::emit(&checked.table()?)?;
        }
        eprintln!(
            "error: not uploading {}: {}",
            args.name(),
            checked.summary()
        );
        return Ok(ExitCode::FAILURE);
    }
    if let Some(warning) = state_warning(
        checked.guest(),
        deployment.settings.ledger_table.as_deref(),
        args.function.as_deref(),
    ) {
        eprintln!("warning: {warning}");
    }
    let engine = composed.pipeline.engine();

    // What this upload changes, against the guest now at the destination.
    let history = HistorySourceArgs {
        function: args.function.clone(),
        table: args.table.clone(),
        state: args.state.clone(),
    };
    let changes = upload_diff(
        &args,
        &history,
        &deployment.settings,
        &target,
        &composed,
        &progress,
    )?;
    if let Some(compared) = &changes
        && compared.differs()
    {
        eprint!("{}", diff_render::table(compared));
        if !confirm_changes(&args, compared)? {
            return Ok(ExitCode::FAILURE);
        }
    }

    let bytes =
        std::fs::read(&args.guest).with_context(|| format!("cannot read guest {}", args.name()))?;
    let sha256 = clickrules_engine::sha256_hex(&bytes);
    anyhow::ensure!(
        sha256 == checked.guest_sha256(),
        "not uploading {}: it changed while it was being checked",
        args.name()
    );
    if let Some(warning) = compile_memory_warning(bytes.len(), signer.is_some(), function_memory_mb)
    {
        eprintln!("warning: {warning}");
    }

    // Artifacts go up before the .wasm: the Lambda looks for an artifact when the .wasm
    // changes, so the other order would make the next cold start compile.
    let mut objects = Vec::new();
    let mut arches: Vec<Arch> = Vec::new();
    for arch in &args.publish.arch {
        if !arches.contains(arch) {
            arches.push(*arch);
        }
    }
    if let Some(signer) = &signer {
        // One sequence for every architecture: this upload is one signed act, newer than every
        // artifact signed before for this location (a rollback is an upload of an old guest).
        let binding = ArtifactBinding::now(target.to_string());
        let targets = arches.len();
        for (number, arch) in arches.into_iter().enumerate() {
            let start = Instant::now();
            let step = progress.spinner(format!(
                "precompiling {} for {arch} and signing it ({}/{targets})",
                escape_control(&args.name()),
                number + 1
            ));
            let artifact = engine
                .precompile(&bytes, arch, signer, &binding)
                .with_context(|| format!("cannot precompile {}", args.name()))?;
            // The `precompiled` line below says it on stdout.
            step.clear();
            if !args.publish.json {
                render::emit(&format!(
                    "precompiled {arch} in {} ms ({}), signed by key {}\n",
                    start.elapsed().as_millis(),
                    render::bytes(artifact.len() as u64),
                    signer.public_key().key_id()
                ))?;
            }
            objects.push(Object {
                uri: S3Uri {
                    bucket: target.bucket.clone(),
                    key: arch.artifact_name(&target.key),
                },
                bytes: artifact,
                content_type: "application/octet-stream",
                sha256: sha256.clone(),
            });
        }
    }
    objects.push(Object {
        uri: target,
        bytes,
        content_type: "application/wasm",
        sha256,
    });
    let uploaded = remote::upload(objects, &progress)?;
    let guest = uploaded.last().expect("the guest is always uploaded");

    if args.publish.json {
        let report = serde_json::json!({
            "settings": &deployment.source,
            "guest": guest,
            "artifacts": &uploaded[..uploaded.len() - 1],
            "signed": signer.is_some(),
            "diff": &changes,
        });
        render::emit(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = deployment.source.line();
    text.push_str(&format!("checked    {} presses ok\n", checked.presses()));
    match &changes {
        Some(compared) => text.push_str(&format!("compared   {}\n", compared.summary())),
        None => text.push_str("compared   nothing was at the destination yet\n"),
    }
    for artifact in &uploaded[..uploaded.len() - 1] {
        text.push_str(&format!(
            "artifact   {} ({})\n",
            artifact.uri,
            render::bytes(artifact.size_bytes)
        ));
    }
    text.push_str(&format!(
        "uploaded   {} ({})\nsha256     {}\nversion    {}\netag       {}\n",
        guest.uri,
        render::bytes(guest.size_bytes),
        guest.sha256,
        guest
            .version_id
            .as_deref()
            .unwrap_or("none (bucket versioning is off: a bad upload cannot be rolled back)"),
        guest.etag.as_deref().unwrap_or("-"),
    ));
    if signer.is_none() {
        text.push_str(
            "signed     no: without --signing-key the Lambda compiles this guest on every cold \
             start (JavaScript and Python guests take seconds and hundreds of MB to compile)\n",
        );
    }
    render::emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// The comparison of the checked guest with the one now at `target`, over the sweep and the
/// last real presses; `None` when nothing is there yet (a first upload).
fn upload_diff(
    args: &UploadArgs,
    history: &HistorySourceArgs,
    settings: &clickrules_aws::Settings,
    target: &S3Uri,
    composed: &clickrules_aws::Composed<clickrules_pipeline::NoSink>,
    progress: &crate::progress::Progress,
) -> anyhow::Result<Option<Compared>> {
    let records = if args.publish.history_presses == 0 {
        Vec::new()
    } else {
        recent_records(history, settings, args.publish.history_presses)?
    };
    let runtime = remote::runtime()?;
    runtime.block_on(async {
        let candidate = Side {
            engine: composed.pipeline.engine().clone(),
            guest: composed
                .pipeline
                .source()
                .current()
                .await
                .context("cannot obtain the checked guest")?,
        };
        let active =
            match crate::diff::open_side(settings, GuestLocation::S3(target.clone()), progress)
                .await
            {
                Ok(active) => active,
                Err(e) if is_missing(&e) => return Ok(None),
                Err(e) => {
                    return Err(e.context(format!(
                        "cannot compare with the guest now at {target} (pass --history 0 and \
                     check that it is readable)"
                    )));
                }
            };
        let serials = if args.sweep.serials.is_empty() {
            vec![UPLOAD_CHECK_SERIAL.to_string()]
        } else {
            args.sweep.serials.clone()
        };
        let mut cases = compare::sweep_cases(&serials, check::now_ms());
        cases.extend(compare::history_cases(
            records,
            args.publish.history_presses,
        ));
        Ok(Some(compare::compare(
            &active, &candidate, &cases, progress,
        )))
    })
}

/// Whether opening the destination's guest failed because there is none yet.
fn is_missing(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<clickrules_aws::GuestSourceError>()
            .is_some_and(|e| clickrules_pipeline::SourceError::kind(e) == "not_found")
    })
}

/// Whether to go on with an upload that changes decisions: `--refuse-changes` refuses,
/// `--yes` accepts, a terminal is asked, anything else refuses (a script must say which).
fn confirm_changes(args: &UploadArgs, compared: &Compared) -> anyhow::Result<bool> {
    use std::io::IsTerminal as _;
    if args.publish.refuse_changes {
        eprintln!(
            "error: not uploading {}: {} (--refuse-changes)",
            args.name(),
            compared.summary()
        );
        return Ok(false);
    }
    if args.publish.yes {
        return Ok(true);
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        eprintln!(
            "error: not uploading {}: {}; run again with --yes to upload anyway, or \
             --refuse-changes to make this an error without asking",
            args.name(),
            compared.summary()
        );
        return Ok(false);
    }
    eprint!("upload anyway? [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("cannot read the answer")?;
    let yes = matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes");
    if !yes {
        eprintln!("not uploading {}", args.name());
    }
    Ok(yes)
}

/// What to say when the guest keeps device state and the deployment has no ledger table to
/// keep it in: the function would refuse it at init (and fail each press after a hot swap).
fn state_warning(
    guest: &clickrules_pipeline::GuestRecord,
    ledger_table: Option<&str>,
    function: Option<&str>,
) -> Option<String> {
    if !guest.uses_state || ledger_table.is_some() {
        return None;
    }
    let deployment = match function {
        Some(name) => format!("function {}", escape_control(name)),
        None => "this environment".to_string(),
    };
    Some(format!(
        "the guest uses device state (clickrules:handler/state, contract {}), which lives in the \
         press ledger, and {deployment} has no CLICKRULES_LEDGER_TABLE: the function will \
         refuse it at init and fail its presses",
        guest.contract
    ))
}

/// What to say when the function does not read its guest from `target`: the upload would not
/// change what it runs.
fn destination_warning(function: &str, reads: &GuestLocation, target: &S3Uri) -> Option<String> {
    match reads {
        GuestLocation::S3(uri) if uri == target => None,
        other => Some(format!(
            "function {} reads its guest from {} (CLICKRULES_GUEST), not {target}: this upload \
             does not change what it runs",
            escape_control(function),
            escape_control(&other.uri())
        )),
    }
}

/// Refuses an upload the function would refuse to load: it requires signed artifacts
/// (CLICKRULES_REQUIRE_SIGNED=true) and none signed by a key it trusts are uploaded. Warns when
/// the artifacts are signed by a key it does not trust (it then compiles the guest).
fn signing_check(
    function: &str,
    policy: Option<&ArtifactPolicy>,
    signer: Option<&ArtifactSigner>,
) -> anyhow::Result<()> {
    let Some(policy) = policy else {
        return Ok(());
    };
    let function = escape_control(function);
    let trusted = signer.is_some_and(|s| policy.trusted.keys().contains(&s.public_key()));
    match (policy.require, signer, trusted) {
        (_, _, true) => Ok(()),
        (true, None, _) => anyhow::bail!(
            "not uploading: function {function} only loads guests signed by a key in \
             CLICKRULES_TRUSTED_KEYS (CLICKRULES_REQUIRE_SIGNED=true); give --signing-key"
        ),
        (true, Some(s), _) => anyhow::bail!(
            "not uploading: function {function} only loads guests signed by a key in \
             CLICKRULES_TRUSTED_KEYS (CLICKRULES_REQUIRE_SIGNED=true), and key {} is not one",
            s.public_key().key_id()
        ),
        (false, Some(s), false) => {
            eprintln!(
                "warning: function {function} does not trust key {} (CLICKRULES_TRUSTED_KEYS): \
                 it will compile this guest instead of loading its artifacts",
                s.public_key().key_id()
            );
            Ok(())
        }
        (false, None, _) => Ok(()),
    }
}

/// What the Lambda will say when it cannot compile this guest in `function_mb`: only for an
/// unsigned guest (a signed one is loaded from its artifact), and only when the function's
/// memory is known.
fn compile_memory_warning(
    wasm_len: usize,
    signed: bool,
    function_mb: Option<u64>,
) -> Option<clickrules_aws::CompileMemoryShortfall> {
    if signed {
        return None;
    }
    clickrules_aws::check_compile_memory(wasm_len, function_mb).err()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsigned_guest_too_heavy_for_the_function_is_warned_about() {
        let js = 12 << 20;
        let warning = compile_memory_warning(js, false, Some(256));
        assert!(
            matches!(
                warning,
                Some(clickrules_aws::CompileMemoryShortfall {
                    function_mb: 256,
                    ..
                })
            ),
            "{warning:?}"
        );
        assert_eq!(compile_memory_warning(js, true, Some(256)), None, "signed");
        assert_eq!(
            compile_memory_warning(js, false, None),
            None,
            "memory unknown"
        );
        assert_eq!(
            compile_memory_warning(40 << 10, false, Some(128)),
            None,
            "fits"
        );
    }
}
