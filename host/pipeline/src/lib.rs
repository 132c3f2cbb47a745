//! One button press, end to end, over small ports: the flow every clickrules host runs.
//!
//! ```text
//! event bytes → normalise → ledger claim → guest source → engine (guest, fallback) →
//! validate → preflight → store the decision → execute each action → end → record
//! ```
//!
//! The pipeline knows nothing of S3, DynamoDB, Lambda or SNS: it is generic over a
//! [`GuestSource`], an [`Executor`], a [`Ledger`], [`DeadLetters`] and a [`RecordSink`].
//! `clickrules-aws` adapts AWS services to these ports; this crate has the in-memory ones the
//! CLI's local presses and the tests use, and the [`DryRunExecutor`], which makes every check
//! the real executor makes and says what it would do.
//!
//! ```
//! use std::sync::Arc;
//! use clickrules_engine::{Engine, EngineConfig};
//! use clickrules_pipeline::{ActionTargets, DryRunExecutor, FixedGuest, Pipeline, PressRequest};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Arc::new(Engine::new(EngineConfig::default())?);
//! let source = FixedGuest::builtin(&engine)?;
//! let pipeline = Pipeline::new(engine, source, DryRunExecutor::new(ActionTargets::default()));
//! let event = br#"{"serialNumber":"G030JF055364XVRB","clickType":"SINGLE"}"#;
//! let result = pipeline.press(PressRequest::new("local-1", event)).await;
//! assert!(result.record.ok);
//! println!("{}", result.record.to_json());
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod executor;
mod failure;
mod history;
mod ledger;
mod memory_ledger;
mod policy;
mod press;
mod record;
mod replay;
mod sink;
mod source;
mod state;
mod zone;

pub use executor::{
    ActionContext, ActionError, ActionTargets, DEFAULT_SNAPSHOT_FUNCTION,
    DEFAULT_SNAPSHOT_QUALIFIER, DryRunExecutor, Executor, InvocationType, PreflightError, Receipt,
    SnapshotTarget, snapshot_payload,
};
pub use failure::{Failure, SourceFailure};
pub use history::{
    DEFAULT_FAILED_RETENTION_DAYS, DEFAULT_OK_RETENTION_DAYS, Forgotten, History, HistoryEntry,
    HistoryError, HistoryQuery, PressOutcome, Retention, Verdict, days, device_of, received_at_ms,
};
pub use ledger::{Claim, End, Lease, Ledger, LedgerError, NoLedger, is_earlier_press};
pub use memory_ledger::MemoryLedger;
pub use policy::{
    AllowedDevices, AllowedDevicesError, DEFAULT_DEDUPE_WINDOW_SECONDS,
    DEFAULT_RATE_LIMIT_PER_MINUTE, PressPolicy,
};
pub use press::{Delivery, Disposition, MAX_STATE_ATTEMPTS, Pipeline, PressRequest, PressResult};
pub use record::{
    DecisionRecord, ErrorInfo, FallbackRecord, FetchKind, GuestRecord, LOGGED_STATE_VALUE_BYTES,
    LedgerOutcome, LedgerRecord, OutcomeRecord, OutcomeStatus, PressRecord, ReplayRecord,
    ShadowRecord, StateRecord,
};
pub use replay::ReplayCase;
pub use sink::{DeadLetters, MemoryDeadLetters, MemorySink, NoDeadLetters, NoSink, RecordSink};
pub use source::{CurrentGuest, FixedGuest, FixedGuestError, GuestSource, SourceError};
pub use state::{DeviceKey, StateCommit, StoredState};
pub use zone::{Zone, ZoneError};
