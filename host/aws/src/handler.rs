//! One press, end to end: obtain the guest → run it → (fall back) → check → execute → record.

use std::sync::Arc;

use clickrules_builtin::{DEFAULT_GUEST, DEFAULT_GUEST_URI};
use clickrules_engine::{Engine, Guest, LoadError};

use crate::executor::{ActionExecutor, execute_all};
use crate::guest_source::GuestSource;
use crate::record::{Failure, Fallback, PressFailed, PressRecord};
use crate::settings::OnGuestError;

/// Handles presses with a guest source and an executor: the S3 source and the AWS executor in
/// the Lambda, fakes in tests.
#[derive(Debug)]
pub struct Handler<S, E> {
    engine: Arc<Engine>,
    source: S,
    executor: E,
    /// Loaded only when `CLICKRULES_ON_GUEST_ERROR=builtin`, so other deployments do not pay
    /// for compiling it at cold start.
    fallback: Option<Arc<Guest>>,
}

impl<S: GuestSource, E: ActionExecutor> Handler<S, E> {
    /// A handler; with [`OnGuestError::Builtin`] the built-in guest is compiled now.
    pub fn new(
        engine: Arc<Engine>,
        source: S,
        executor: E,
        on_guest_error: OnGuestError,
    ) -> Result<Self, LoadError> {
        let fallback = match on_guest_error {
            OnGuestError::Fail => None,
            OnGuestError::Builtin => Some(engine.load(DEFAULT_GUEST)?),
        };
        Ok(Self {
            engine,
            source,
            executor,
            fallback,
        })
    }

    /// The guest source (e.g. to read an S3 source's counters).
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The executor.
    pub fn executor(&self) -> &E {
        &self.executor
    }

    /// Handles a press given as JSON, as Lambda delivers it.
    pub async fn handle_json(
        &self,
        request_id: &str,
        event: &serde_json::Value,
    ) -> Result<PressRecord, PressFailed> {
        // Re-encoding a parsed value cannot fail (its map keys are strings).
        let bytes = serde_json::to_vec(event).unwrap_or_default();
        self.handle(request_id, &bytes).await
    }

    /// Handles a press given as raw event bytes. Every outcome is logged as one record; the
    /// record is returned on success and inside the error on failure.
    pub async fn handle(&self, request_id: &str, event: &[u8]) -> Result<PressRecord, PressFailed> {
        let mut record = PressRecord {
            request_id: request_id.to_string(),
            ok: false,
            decision: None,
            guest_fetch: None,
            guest_stale: None,
            fallback: None,
            outcomes: Vec::new(),
            failure: None,
        };
        let failure = self.run(event, &mut record).await.err();
        record.ok = failure.is_none();
        record.failure = failure.clone();
        let line = record.to_json();
        match failure {
            None => {
                tracing::info!(target: "clickrules::record", record = %line, "press done");
                Ok(record)
            }
            Some(failure) => {
                tracing::error!(target: "clickrules::record", record = %line, "press failed");
                Err(PressFailed {
                    failure,
                    record: Box::new(record),
                })
            }
        }
    }

    async fn run(&self, event: &[u8], record: &mut PressRecord) -> Result<(), Failure> {
        let current = self.source.current().await?;
        record.guest_fetch = Some(current.fetch);
        record.guest_stale = current.stale;

        // A press takes from microseconds up to the configured deadline. Lambda serves one
        // event at a time per instance, so running it on the async thread holds nothing up.
        let mut decision = self.engine.press(&current.guest, event);
        decision.guest = current.info;

        if let (Some(error), Some(builtin)) = (&decision.error, &self.fallback)
            && error.is_guest_failure()
        {
            let mut rescued = self.engine.press(builtin, event);
            rescued.guest.uri = Some(DEFAULT_GUEST_URI.to_string());
            record.fallback = Some(Fallback {
                failed_guest: decision.guest.clone(),
                error: error.clone(),
            });
            let error = clickrules_engine::text::escape_control(&error.to_string()).into_owned();
            tracing::warn!(%error, "the guest failed; the built-in guest decides this press");
            decision = rescued;
        }
        let error = decision.error.clone();
        let actions = decision.actions.clone();
        record.decision = Some(decision);
        if let Some(error) = error {
            return Err(Failure::Press(error));
        }

        record.outcomes = execute_all(&self.executor, &actions).await?;
        let failed: Vec<_> = record
            .outcomes
            .iter()
            .filter_map(|o| o.result.as_ref().err())
            .collect();
        if let Some(first) = failed.first() {
            return Err(Failure::Actions {
                failed: failed.len(),
                total: record.outcomes.len(),
                first: (*first).clone(),
            });
        }
        Ok(())
    }
}
