//! The AWS edge of clickrules: adapters for the press pipeline's ports, and the one function
//! that composes them from a deployment's `CLICKRULES_*` settings.
//!
//! - guest source: the built-in guest, a file, or an S3 object hot-swapped on every press
//!   ([`AnySource`], [`S3GuestSource`]), loading signed artifacts when trusted;
//! - executor: `snapshot` → `lambda:Invoke`, `notify` → `sns:Publish` ([`AwsExecutor`]);
//! - ledger: exactly-once presses in DynamoDB ([`DynamoLedger`]), read back as press
//!   history ([`DynamoHistory`]);
//! - dead letters: presses no retry can fix → SQS ([`SqsDeadLetters`]);
//! - record sink: one JSON line per press in CloudWatch Embedded Metric Format ([`RecordLog`]);
//! - settings: every variable in one table ([`settings::VARIABLES`]).
//!
//! ```no_run
//! use clickrules_aws::{Mode, RecordLog, Settings, compose};
//! use clickrules_pipeline::PressRequest;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = Settings::from_process_env()?;
//! let runtime = compose(&settings, Mode::DryRun, RecordLog::new("local")).await?;
//! let event = br#"{"serialNumber":"G030JF055364XVRB","batteryVoltage":"1705mV","clickType":"SINGLE"}"#;
//! let result = runtime.pipeline.press(PressRequest::new("local-1", event)).await;
//! println!("{}", result.record.to_json());
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod aws_executor;
mod body;
mod clients;
mod compile_memory;
mod compose;
mod dead_letters;
mod dynamo_history;
mod dynamo_ledger;
mod guest_load;
mod guest_source;
mod location;
mod object_store;
mod record_log;
mod s3_guest;
mod sdk_error;
mod secret_store;
pub mod settings;
mod webhook_press;

pub use aws_executor::{AwsExecutor, PRESS_ATTRIBUTE};
pub use clients::{AwsClients, config_loader};
pub use compile_memory::{
    CompileMemoryShortfall, FUNCTION_MEMORY_VARIABLE, ShadowMemoryShortfall, check_compile_memory,
    check_shadow_memory, compile_memory_estimate_mb, lambda_function_memory_mb,
    loaded_memory_estimate_mb, memory_beside, release_freed_heap,
};
pub use compose::{
    AnyDeadLetters, AnyExecutor, AnyLedger, Composed, DeploymentPipeline, Extras, InitError,
    InitPhases, LocalTools, Mode, compose, compose_with,
};
pub use dead_letters::{SqsDeadLetters, dead_letter_body};
pub use dynamo_history::{BY_DAY_INDEX, BY_DEVICE_INDEX, DynamoHistory, ledger_table_request};
pub use dynamo_ledger::{DynamoLedger, PressStatus, StoredPress};
pub use guest_load::{ArtifactUnavailable, GuestSourceError, LoadOptions};
pub use guest_source::{AnySource, open_builtin, open_file};
pub use location::{GUEST_LOCATION_FORMS, GuestLocation, S3Uri};
pub use object_store::{
    FetchError, Fetched, MAX_ARTIFACT_BYTES, MAX_GUEST_OBJECT_BYTES, ObjectStore, S3Object,
};
pub use record_log::{METRICS_NAMESPACE, RecordLog, outcome, record_line};
pub use s3_guest::{S3GuestSource, SourceStats};
pub use sdk_error::sdk_error_text;
pub use secret_store::AwsSecrets;
pub use settings::{ArtifactPolicy, OnGuestError, Settings, SettingsError};
pub use webhook_press::WebhookEntry;
