//! The AWS edge of clickrules: deployment settings from `CLICKRULES_*` variables, guests from
//! S3 with hot swap, actions carried out through Lambda and SNS, and the press handler that
//! ties them to the engine and produces one [`PressRecord`] per press.
//!
//! The handler is generic over a [`GuestSource`] and an [`ActionExecutor`], so it runs the same
//! way in the Lambda (S3 + AWS), in the CLI, and in tests (fakes or an emulator).
//!
//! ```no_run
//! use std::sync::Arc;
//! use clickrules_aws::{AnySource, AwsClients, AwsExecutor, Handler, Settings};
//! use clickrules_engine::Engine;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = Settings::from_process_env()?;
//! let engine = Arc::new(Engine::new(settings.engine_config())?);
//! let clients = AwsClients::from_env().await;
//! let source = AnySource::open(&engine, &settings.guest, &clients.s3, settings.artifacts.as_ref()).await?;
//! let executor = AwsExecutor::new(&clients, &settings);
//! let handler = Handler::new(engine, source, executor, settings.on_guest_error)?;
//! let event = br#"{"serialNumber":"G030JF055364XVRB","batteryVoltage":"1705mV","clickType":"SINGLE"}"#;
//! let record = handler.handle("local-1", event).await?;
//! println!("{}", record.to_json());
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod aws_executor;
mod body;
mod clients;
mod compile_memory;
mod executor;
mod guest_source;
mod handler;
mod location;
mod object_store;
mod record;
mod s3_guest;
mod sdk_error;
pub mod settings;

#[cfg(test)]
mod handler_tests;

pub use aws_executor::AwsExecutor;
pub use clients::{AwsClients, config_loader};
pub use compile_memory::{
    CompileMemoryShortfall, FUNCTION_MEMORY_VARIABLE, check_compile_memory,
    compile_memory_estimate_mb, lambda_function_memory_mb, release_freed_heap,
};
pub use executor::{
    ActionError, ActionExecutor, ActionOutcome, PreflightError, Receipt, check_topic, execute_all,
};
pub use guest_source::{
    AnySource, ArtifactUnavailable, CurrentGuest, FetchKind, FixedGuest, GuestSource,
    GuestSourceError, LoadOptions,
};
pub use handler::Handler;
pub use location::{GUEST_LOCATION_FORMS, GuestLocation, S3Uri};
pub use object_store::{
    FetchError, Fetched, MAX_ARTIFACT_BYTES, MAX_GUEST_OBJECT_BYTES, ObjectStore, S3Object,
};
pub use record::{Failure, Fallback, PressFailed, PressRecord};
pub use s3_guest::{S3GuestSource, SourceStats};
pub use sdk_error::sdk_error_text;
pub use settings::{
    ArtifactPolicy, InvocationType, OnGuestError, Settings, SettingsError, SnapshotTarget,
};
