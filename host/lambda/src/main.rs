//! The clickrules Lambda function (`bootstrap` for the `provided.al2023` runtime).
//!
//! Init builds the press pipeline once from the deployment's settings (a wrong one fails init,
//! naming the variable) through the same composition every clickrules host uses, and loads the
//! guest, so the first press is warm. Each event is then one press: its record is logged (one
//! JSON line, also the metrics) and returned; a press that may succeed on retry fails the
//! invocation so AWS retries it, and one that cannot is dead-lettered with its record.
//!
//! With `CLICKRULES_ENTRY=webhook` the same binary is the webhook function: each event is a
//! Function URL request, authenticated before anything runs and always answered with an HTTP
//! response (a failed invocation would reach the caller as a bare 502).

use std::time::Instant;

use clickrules_aws::{
    AwsSecrets, Composed, Mode, RecordLog, Settings, WebhookEntry, compose, settings::Entry,
};
use clickrules_pipeline::{Delivery, Disposition, PressRequest, PressResult};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::value::RawValue;
use tracing_subscriber::EnvFilter;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_logging();
    let runtime = match init().await {
        Ok(runtime) => runtime,
        Err(e) => {
            // Lambda reports a failed init with whatever was logged; make it the reason.
            tracing::error!(error = %e, "init failed");
            return Err(e);
        }
    };
    let (runtime, webhook) = runtime;
    let pipeline = &runtime.pipeline;
    let webhook = webhook.as_ref();
    // The payload stays raw: the pipeline parses it once, and would see through a parsed value
    // neither duplicate keys nor the bytes the dead-letter queue keeps.
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Box<RawValue>>| async move {
            let request = PressRequest {
                request_id: &event.context.request_id,
                event: event.payload.get().as_bytes(),
                press_id: None,
                deadline_ms: Some(event.context.deadline),
                received_at_ms: None,
                function_arn: Some(&event.context.invoked_function_arn),
                normalised: None,
                min_dedupe_window_ms: None,
            };
            match webhook {
                Some(entry) => {
                    let (response, _) = entry.handle(pipeline, request, now_ms()).await;
                    Ok(serde_json::to_value(response).unwrap_or_default())
                }
                None => respond(pipeline.deliver(request).await),
            }
        },
    ))
    .await
}

type Runtime = (Composed<RecordLog>, Option<WebhookEntry<AwsSecrets>>);

async fn init() -> Result<Runtime, lambda_runtime::Error> {
    let started = Instant::now();
    let settings = Settings::from_process_env()?;
    let settings_ms = started.elapsed().as_secs_f64() * 1e3;
    for name in &settings.unknown_variables {
        tracing::warn!(variable = %name, "unknown CLICKRULES_ variable ignored; is it a typo?");
    }
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".into());
    let runtime = compose(&settings, Mode::Execute, RecordLog::new(function)).await?;
    // Compiling a guest allocates in many small blocks that glibc keeps once freed; give them
    // back so the function does not sit at its compile peak for the rest of its life.
    clickrules_aws::release_freed_heap();
    let phases = runtime.phases;
    // Secrets are fetched on the first webhook, not here: init is the cold-start budget.
    let webhook = match (settings.sources.entry, &runtime.clients) {
        (Entry::Webhook, Some(clients)) => Some(WebhookEntry::new(
            &settings.sources,
            AwsSecrets::new(&clients.sdk_config),
        )),
        _ => None,
    };
    let sources: Vec<&str> = settings
        .sources
        .policy
        .sources
        .accept
        .iter()
        .map(|f| f.as_str())
        .collect();
    tracing::info!(
        entry = if webhook.is_some() { "webhook" } else { "events" },
        sources = %sources.join(","),
        guest = %settings.guest,
        snapshot = %settings.snapshot.name(),
        ledger = settings.ledger_table.as_deref().unwrap_or("off"),
        dead_letters = settings.dead_letter_queue_url.as_deref().unwrap_or("off"),
        settings_ms,
        sdk_ms = phases.sdk_ms,
        engine_ms = phases.engine_ms,
        guest_ms = phases.guest_ms,
        init_ms = started.elapsed().as_secs_f64() * 1e3,
        "ready"
    );
    Ok((runtime, webhook))
}

/// The invocation's answer: the record (a list of them when the event carried several
/// presses), or a failure AWS retries (every record was logged).
fn respond(delivery: Delivery) -> Result<serde_json::Value, Diagnostic> {
    match delivery.disposition {
        Disposition::Done | Disposition::DeadLettered => {
            let records: Vec<serde_json::Value> = delivery
                .into_presses()
                .into_iter()
                .map(|p| serde_json::to_value(p.record).unwrap_or_default())
                .collect();
            Ok(match <[serde_json::Value; 1]>::try_from(records) {
                Ok([one]) => one,
                Err(all) => serde_json::json!({ "presses": all }),
            })
        }
        Disposition::Fail => Err(diagnostic(delivery.main())),
    }
}

fn diagnostic(result: &PressResult) -> Diagnostic {
    let (kind, message) = match (&result.failure, &result.record.failure) {
        (Some(f), _) => (f.kind().to_string(), f.to_string()),
        (None, Some(info)) => (info.kind.clone(), info.message.clone()),
        (None, None) => ("failed".to_string(), "the press failed".to_string()),
    };
    Diagnostic {
        error_type: format!("clickrules.{kind}"),
        error_message: format!("press {} failed: {message}", result.record.press_id),
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// JSON lines for CloudWatch. `RUST_LOG` overrides the level (default `info`); CloudWatch adds
/// its own timestamp, but ours is kept for logs shipped elsewhere. Press records are written
/// by [`RecordLog`], not through here.
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
