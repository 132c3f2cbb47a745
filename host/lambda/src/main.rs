//! The clickrules Lambda function (`bootstrap` for the `provided.al2023` runtime).
//!
//! Init builds everything once: settings (a wrong one fails init, naming the variable), the
//! engine, the SDK clients, and the guest (fetched and compiled now, so the first press is
//! warm). Each event is then one press; its decision record is logged and returned, and a
//! failed press fails the invocation so AWS retries it and finally dead-letters it.

use std::sync::Arc;

use clickrules_aws::{AnySource, AwsClients, AwsExecutor, Handler, PressFailed, Settings};
use clickrules_engine::Engine;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use tracing_subscriber::EnvFilter;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_logging();
    let handler = match init().await {
        Ok(handler) => handler,
        Err(e) => {
            // Lambda reports a failed init with whatever was logged; make it the reason.
            tracing::error!(error = %e, "init failed");
            return Err(e);
        }
    };
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler
            .handle_json(&event.context.request_id, &event.payload)
            .await
            .map_err(diagnostic)
    }))
    .await
}

async fn init() -> Result<Handler<AnySource, AwsExecutor>, lambda_runtime::Error> {
    let settings = Settings::from_process_env()?;
    for name in &settings.unknown_variables {
        tracing::warn!(variable = %name, "unknown CLICKRULES_ variable ignored; is it a typo?");
    }
    let engine = Arc::new(Engine::new(settings.engine_config())?);
    let clients = AwsClients::from_env().await;
    let source = AnySource::open(
        &engine,
        &settings.guest,
        &clients.s3,
        settings.artifacts.as_ref(),
    )
    .await?;
    let executor = AwsExecutor::new(&clients, &settings);
    let handler = Handler::new(engine, source, executor, settings.on_guest_error)?;
    // The guest source gives back what its compiles used; this covers the built-in fallback
    // guest `Handler::new` compiles with CLICKRULES_ON_GUEST_ERROR=builtin.
    clickrules_aws::release_freed_heap();
    tracing::info!(guest = %settings.guest, snapshot = ?settings.snapshot, "ready");
    Ok(handler)
}

/// The error Lambda records for a failed invocation: the failure's kind and message. The full
/// record was already logged by the handler.
fn diagnostic(failed: PressFailed) -> Diagnostic {
    Diagnostic {
        error_type: format!("clickrules.{}", failed.failure.kind()),
        error_message: failed.to_string(),
    }
}

/// JSON lines for CloudWatch. `RUST_LOG` overrides the level (default `info`); CloudWatch adds
/// its own timestamp, but ours is kept for logs shipped elsewhere.
fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .flatten_event(true)
        .with_ansi(false)
        .init();
}
