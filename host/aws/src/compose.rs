//! The one composition: a deployment's settings → the press pipeline with its adapters. The
//! Lambda's `bootstrap`, `clickrules press` (dry run), `press --execute` and `check`/`upload`
//! with `--function` all build their runtime here, so they cannot drift apart.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clickrules_engine::{Action, Backtraces, ConfigError, Engine};
use clickrules_pipeline::{
    ActionContext, ActionError, Claim, DeadLetters, DeviceKey, DryRunExecutor, End, Executor,
    Lease, Ledger, LedgerError, MemoryLedger, NoDeadLetters, NoLedger, OutcomeRecord, Pipeline,
    PreflightError, PressRecord, Receipt, RecordSink, StateCommit, StoredState,
};

use crate::aws_executor::AwsExecutor;
use crate::clients::AwsClients;
use crate::compile_memory::{
    ShadowMemoryShortfall, check_shadow_memory, loaded_memory_estimate_mb, memory_beside,
};
use crate::dead_letters::SqsDeadLetters;
use crate::dynamo_ledger::DynamoLedger;
use crate::guest_load::GuestSourceError;
use crate::guest_load::LoadOptions;
use crate::guest_source::{AnySource, open_builtin};
use crate::location::GuestLocation;
use crate::settings::{OnGuestError, Settings};

/// Whether the pipeline carries actions out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Actions run for real (the Lambda, `press --execute`).
    Execute,
    /// A dry run: every check is made, nothing runs, nothing is sent anywhere.
    DryRun,
}

/// The executor a mode calls for.
#[derive(Debug, Clone)]
pub enum AnyExecutor {
    /// Lambda and SNS.
    Aws(AwsExecutor),
    /// A dry run.
    DryRun(DryRunExecutor),
}

impl Executor for AnyExecutor {
    fn executes(&self) -> bool {
        matches!(self, Self::Aws(_))
    }

    fn preflight(&self, actions: &[Action]) -> Result<(), PreflightError> {
        match self {
            Self::Aws(e) => e.preflight(actions),
            Self::DryRun(e) => e.preflight(actions),
        }
    }

    async fn execute(
        &self,
        action: &Action,
        cx: ActionContext<'_>,
    ) -> Result<Receipt, ActionError> {
        match self {
            Self::Aws(e) => e.execute(action, cx).await,
            Self::DryRun(e) => e.execute(action, cx).await,
        }
    }
}

/// Where presses no retry can fix go.
#[derive(Debug, Clone)]
pub enum AnyDeadLetters {
    /// Nowhere: they fail their invocation (the platform's dead-letter path keeps them).
    Off(NoDeadLetters),
    /// The SQS dead-letter queue.
    Sqs(SqsDeadLetters),
}

impl DeadLetters for AnyDeadLetters {
    fn is_on(&self) -> bool {
        matches!(self, Self::Sqs(_))
    }

    async fn send(
        &self,
        event: &[u8],
        record: &PressRecord,
        function_arn: Option<&str>,
    ) -> Result<(), String> {
        match self {
            Self::Off(d) => d.send(event, record, function_arn).await,
            Self::Sqs(d) => d.send(event, record, function_arn).await,
        }
    }
}

/// The press ledger a deployment uses.
#[derive(Debug, Clone)]
pub enum AnyLedger {
    /// None (`CLICKRULES_LEDGER_TABLE` unset, or a dry run).
    Off(NoLedger),
    /// DynamoDB.
    Dynamo(DynamoLedger),
    /// In memory, for local presses that keep devices' state (`press --state FILE`, `check`).
    Memory(Arc<MemoryLedger>),
}

impl Ledger for AnyLedger {
    fn is_on(&self) -> bool {
        !matches!(self, Self::Off(_))
    }

    async fn claim(
        &self,
        press_id: &str,
        lease_until_ms: u64,
        now_ms: u64,
    ) -> Result<Claim, LedgerError> {
        match self {
            Self::Off(l) => l.claim(press_id, lease_until_ms, now_ms).await,
            Self::Dynamo(l) => l.claim(press_id, lease_until_ms, now_ms).await,
            Self::Memory(l) => l.claim(press_id, lease_until_ms, now_ms).await,
        }
    }

    async fn claim_windowed(
        &self,
        press_id: &str,
        lease_until_ms: u64,
        now_ms: u64,
        fresh_after_ms: u64,
        request_id: &str,
    ) -> Result<Claim, LedgerError> {
        match self {
            Self::Off(l) => {
                l.claim_windowed(press_id, lease_until_ms, now_ms, fresh_after_ms, request_id)
                    .await
            }
            Self::Dynamo(l) => {
                l.claim_windowed(press_id, lease_until_ms, now_ms, fresh_after_ms, request_id)
                    .await
            }
            Self::Memory(l) => {
                l.claim_windowed(press_id, lease_until_ms, now_ms, fresh_after_ms, request_id)
                    .await
            }
        }
    }

    async fn admit(
        &self,
        device: &DeviceKey,
        limit: u32,
        now_ms: u64,
    ) -> Result<bool, LedgerError> {
        match self {
            Self::Off(l) => l.admit(device, limit, now_ms).await,
            Self::Dynamo(l) => l.admit(device, limit, now_ms).await,
            Self::Memory(l) => l.admit(device, limit, now_ms).await,
        }
    }

    async fn load_state(&self, device: &DeviceKey) -> Result<StoredState, LedgerError> {
        match self {
            Self::Off(l) => l.load_state(device).await,
            Self::Dynamo(l) => l.load_state(device).await,
            Self::Memory(l) => l.load_state(device).await,
        }
    }

    async fn commit(
        &self,
        lease: &Lease,
        record: &PressRecord,
        state: Option<&StateCommit>,
    ) -> Result<(), LedgerError> {
        match self {
            Self::Off(l) => l.commit(lease, record, state).await,
            Self::Dynamo(l) => l.commit(lease, record, state).await,
            Self::Memory(l) => l.commit(lease, record, state).await,
        }
    }

    async fn outcome(
        &self,
        lease: &Lease,
        number: usize,
        outcome: &OutcomeRecord,
        end: Option<(End, &PressRecord)>,
    ) -> Result<(), LedgerError> {
        match self {
            Self::Off(l) => l.outcome(lease, number, outcome, end).await,
            Self::Dynamo(l) => l.outcome(lease, number, outcome, end).await,
            Self::Memory(l) => l.outcome(lease, number, outcome, end).await,
        }
    }

    async fn end(&self, lease: &Lease, end: End, record: &PressRecord) -> Result<(), LedgerError> {
        match self {
            Self::Off(l) => l.end(lease, end, record).await,
            Self::Dynamo(l) => l.end(lease, end, record).await,
            Self::Memory(l) => l.end(lease, end, record).await,
        }
    }

    async fn keep(&self, record: &PressRecord) -> Result<(), LedgerError> {
        match self {
            Self::Off(l) => l.keep(record).await,
            Self::Dynamo(l) => l.keep(record).await,
            Self::Memory(l) => l.keep(record).await,
        }
    }
}

/// The pipeline a deployment runs.
pub type DeploymentPipeline<R> = Pipeline<AnySource, AnyExecutor, AnyLedger, AnyDeadLetters, R>;

/// Why the runtime could not be built. Init fails with it, naming what is wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// The engine refused the limits or allow-list.
    #[error("invalid engine configuration: {0}")]
    Engine(#[from] ConfigError),
    /// The guest could not be loaded.
    #[error("cannot load the guest: {0}")]
    Guest(#[source] GuestSourceError),
    /// The shadow guest (`CLICKRULES_SHADOW_GUEST`) could not be loaded.
    #[error("cannot load the shadow guest (CLICKRULES_SHADOW_GUEST): {0}")]
    Shadow(#[source] GuestSourceError),
    /// The shadow guest does not fit in the function's memory beside the active one.
    #[error("{0}")]
    ShadowMemory(#[from] ShadowMemoryShortfall),
    /// The built-in fallback guest could not be loaded (a build problem).
    #[error("cannot load the built-in fallback guest: {0}")]
    Fallback(#[source] GuestSourceError),
    /// The guest keeps per-device state, which lives in the press ledger, and no ledger table
    /// is configured.
    #[error(
        "guest {guest} uses device state (it imports clickrules:handler/state), which lives in \
         the press ledger's table: set CLICKRULES_LEDGER_TABLE"
    )]
    StateWithoutLedger {
        /// The guest.
        guest: String,
    },
}

/// What a caller adds to the composition a deployment's settings describe.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// The ledger for a local press or check (a dry run claims nothing in the real one): it
    /// keeps devices' state between the presses it serves.
    pub local_ledger: Option<Arc<MemoryLedger>>,
    /// What the local tools (the CLI, the test kit) change in the engine; `None` for the
    /// Lambda's engine exactly.
    pub local_tools: Option<LocalTools>,
}

/// Engine settings for running guests on a developer's machine, never in the Lambda.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalTools {
    /// Trap backtraces with file and line where the guest has line tables. Applies only when
    /// no precompiled artifact can be loaded: artifacts are built for the production setting.
    pub backtraces: Backtraces,
    /// wasmtime's on-disk compile cache, so an unchanged guest compiles once across runs.
    pub compile_cache: Option<PathBuf>,
}

/// How long each part of building the runtime took, for the init log line.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct InitPhases {
    /// Loading the SDK configuration and building clients (0 when not needed).
    pub sdk_ms: f64,
    /// Building the engine.
    pub engine_ms: f64,
    /// Loading the guest (and the fallback guest).
    pub guest_ms: f64,
}

/// A built runtime.
#[derive(Debug)]
pub struct Composed<R> {
    /// The pipeline.
    pub pipeline: DeploymentPipeline<R>,
    /// The AWS clients, when the mode or the guest needed them.
    pub clients: Option<AwsClients>,
    /// Where init time went.
    pub phases: InitPhases,
}

/// Opens the shadow guest beside the loaded active one: it may compile only in the memory the
/// active guest leaves, and both must fit in the function's memory once loaded.
async fn open_shadow(
    engine: &Arc<Engine>,
    location: &GuestLocation,
    s3: Option<&aws_sdk_s3::Client>,
    mut options: LoadOptions,
    active: &AnySource,
) -> Result<AnySource, InitError> {
    let active_len = active
        .loaded()
        .map_or(0, |(guest, _)| guest.info().size_bytes as usize);
    let function_mb = options.function_memory_mb;
    options.function_memory_mb = memory_beside(active_len, function_mb);
    let shadow = match AnySource::open_with(engine, location, s3, options).await {
        Ok(shadow) => shadow,
        // Its compile does not fit in what the active guest leaves: say so in those terms.
        Err(GuestSourceError::CompileMemory { shortfall, .. }) => {
            return Err(InitError::ShadowMemory(ShadowMemoryShortfall {
                active_bytes: active_len as u64,
                shadow_bytes: shortfall.wasm_bytes,
                needed_mb: shortfall
                    .needed_mb
                    .saturating_add(loaded_memory_estimate_mb(active_len)),
                function_mb: function_mb.unwrap_or(shortfall.function_mb),
            }));
        }
        Err(e) => return Err(InitError::Shadow(e)),
    };
    let shadow_len = shadow
        .loaded()
        .map_or(0, |(guest, _)| guest.info().size_bytes as usize);
    check_shadow_memory(active_len, shadow_len, function_mb)?;
    Ok(shadow)
}

/// Builds the pipeline `settings` describe, in `mode`, handing records to `sink`. AWS clients
/// are built only when needed (actions run, or the guest is in S3), so a local dry run needs no
/// AWS configuration at all.
pub async fn compose<R: RecordSink>(
    settings: &Settings,
    mode: Mode,
    sink: R,
) -> Result<Composed<R>, InitError> {
    compose_with(settings, mode, sink, Extras::default()).await
}

/// [`compose`], with what the caller adds.
pub async fn compose_with<R: RecordSink>(
    settings: &Settings,
    mode: Mode,
    sink: R,
    extras: Extras,
) -> Result<Composed<R>, InitError> {
    let mut phases = InitPhases::default();
    let needs_aws = mode == Mode::Execute
        || matches!(settings.guest, GuestLocation::S3(_))
        || matches!(settings.shadow_guest, Some(GuestLocation::S3(_)));
    let t = Instant::now();
    let clients = match needs_aws {
        true => Some(AwsClients::from_env().await),
        false => None,
    };
    phases.sdk_ms = ms(t);

    // A dry run compiles here: signed artifacts are made for the Lambda's machine.
    let artifacts = match mode {
        Mode::Execute => settings.artifacts.as_ref(),
        Mode::DryRun => None,
    };

    let t = Instant::now();
    let mut engine_config = settings.engine_config();
    if let Some(local) = &extras.local_tools {
        engine_config.compile_cache = local.compile_cache.clone();
        if artifacts.is_none() {
            engine_config.backtraces = local.backtraces;
        }
    }
    let engine = Arc::new(Engine::new(engine_config)?);
    phases.engine_ms = ms(t);

    let t = Instant::now();
    // A dry run claims nothing: it must not answer a later real delivery as a duplicate.
    let ledger = match (mode, &clients, &settings.ledger_table) {
        (Mode::Execute, Some(clients), Some(table)) => AnyLedger::Dynamo(
            DynamoLedger::new(
                clients.dynamodb.clone(),
                table.clone(),
                settings.ledger_retention,
            )
            .with_history_retention(settings.history_retention),
        ),
        (_, _, _) => match extras.local_ledger {
            Some(local) => AnyLedger::Memory(local),
            None => AnyLedger::Off(NoLedger),
        },
    };
    let mut options = LoadOptions::from_lambda_env(artifacts.cloned());
    if let AnyLedger::Dynamo(ledger) = &ledger {
        options.floor_store = Some(ledger.clone());
    }
    let shadow_options = options.clone();
    let source = AnySource::open_with(
        &engine,
        &settings.guest,
        clients.as_ref().map(|c| &c.s3),
        options,
    )
    .await
    .map_err(InitError::Guest)?;
    if mode == Mode::Execute
        && !ledger.is_on()
        && let Some((guest, uri)) = source.loaded()
        && guest.uses_state()
    {
        return Err(InitError::StateWithoutLedger { guest: uri });
    }
    let shadow = match &settings.shadow_guest {
        None => None,
        Some(location) => Some(
            open_shadow(
                &engine,
                location,
                clients.as_ref().map(|c| &c.s3),
                shadow_options,
                &source,
            )
            .await?,
        ),
    };
    let fallback = match settings.on_guest_error {
        OnGuestError::Fail => None,
        OnGuestError::Builtin => Some(
            open_builtin(&engine)
                .map_err(InitError::Fallback)?
                .current_guest()
                .clone(),
        ),
    };
    phases.guest_ms = ms(t);

    let (executor, dead_letters) = match (mode, &clients) {
        (Mode::Execute, Some(clients)) => (
            AnyExecutor::Aws(AwsExecutor::new(clients, settings)),
            match &settings.dead_letter_queue_url {
                Some(url) => {
                    AnyDeadLetters::Sqs(SqsDeadLetters::new(clients.sqs.clone(), url.clone()))
                }
                None => AnyDeadLetters::Off(NoDeadLetters),
            },
        ),
        _ => (
            AnyExecutor::DryRun(DryRunExecutor::new(settings.targets())),
            AnyDeadLetters::Off(NoDeadLetters),
        ),
    };
    let pipeline = Pipeline::new(engine, source, executor)
        .with_ledger(ledger)
        .with_dead_letters(dead_letters)
        .with_sink(sink)
        .with_fallback(fallback)
        .with_shadow(shadow)
        .with_zone(settings.timezone.clone())
        .with_policy(settings.sources.policy.clone());
    Ok(Composed {
        pipeline,
        clients,
        phases,
    })
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}
