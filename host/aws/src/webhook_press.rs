//! The webhook function's entry: a Function URL request is checked and authenticated before
//! anything else (Flic's ES256 token, the generic webhook's HMAC), becomes one press through
//! the same pipeline as every other source, and is answered with an HTTP response, never a
//! failed invocation (which reaches the caller as a bare 502). Function URL calls are
//! synchronous: Lambda neither retries them nor dead-letters them, so the caller retries on
//! 409 and 5xx, and the ledger makes that safe.

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse;
use clickrules_engine::{Action, EventFormat, NormalisedEvent};
use clickrules_pipeline::{
    DeadLetters, Executor, Failure, GuestSource, Ledger, OutcomeStatus, Pipeline, PressRecord,
    PressRequest, PressResult, RecordSink,
};
use clickrules_webhooks::{
    FlicConfig, FlicKey, GenericConfig, SecretStore, WebhookConfig, WebhookError, authenticate,
    parse_request, response,
};

use crate::settings::{FLIC_EXP_SKEW_SECONDS, SourceSettings};

/// What the webhook function verifies requests with.
#[derive(Debug, Clone)]
pub struct WebhookEntry<S> {
    config: WebhookConfig,
    secrets: S,
}

impl<S: SecretStore> WebhookEntry<S> {
    /// The sources `settings` turn on, reading secrets through `secrets`. Flic is checked
    /// against the allow-list whenever one is configured (the Lambda's settings require one).
    pub fn new(settings: &SourceSettings, secrets: S) -> Self {
        let flic = settings.accepts(EventFormat::Flic).then(|| FlicConfig {
            allowed_buttons: (!settings.webhook.flic_buttons.is_empty())
                .then(|| settings.webhook.flic_buttons.clone()),
            key: match &settings.webhook.flic_key {
                Some(reference) => FlicKey::Secret(reference.clone()),
                None => FlicKey::Published,
            },
            max_skew_s: FLIC_EXP_SKEW_SECONDS,
        });
        let generic = match (
            settings.accepts(EventFormat::Webhook),
            &settings.webhook.secret,
        ) {
            (true, Some(secret)) => Some(GenericConfig {
                secret: secret.clone(),
                tolerance_s: settings.webhook.tolerance_seconds,
            }),
            _ => None,
        };
        Self::from_config(WebhookConfig { flic, generic }, secrets)
    }

    /// An entry with its configuration spelled out (the CLI's local keys, tests).
    pub fn from_config(config: WebhookConfig, secrets: S) -> Self {
        Self { config, secrets }
    }

    /// The configuration.
    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    /// Answers one Function URL request: the response, and the press's result (its record
    /// went to the pipeline's sink).
    pub async fn handle<G, E, L, D, R>(
        &self,
        pipeline: &Pipeline<G, E, L, D, R>,
        request: PressRequest<'_>,
        now_ms: u64,
    ) -> (LambdaFunctionUrlResponse, PressResult)
    where
        G: GuestSource,
        E: Executor,
        L: Ledger,
        D: DeadLetters,
        R: RecordSink,
    {
        let verified = match parse_request(request.event) {
            Ok(http) => authenticate(&http, &self.config, &self.secrets, now_ms).await,
            Err(e) => Err(e),
        };
        let verified = match verified {
            Ok(v) => v,
            Err(e) => {
                let result = pipeline.refuse(request, refusal(&e)).await;
                let mut answer = e.response();
                if e.status() >= 500 {
                    answer = response(
                        e.status(),
                        &e.public_message(),
                        Some(&result.record.press_id),
                    );
                }
                return (answer, result);
            }
        };
        let format = if verified.source == clickrules_webhooks::FLIC {
            EventFormat::Flic
        } else {
            EventFormat::Webhook
        };
        let event = NormalisedEvent::one(
            format,
            verified.click.clone(),
            verified.windowed.then(|| verified.press_id.clone()),
        );
        // The request itself is not kept anywhere (a dead letter included): a Flic token
        // carries the phone's location, and headers carry signatures. The record's click is
        // the press, which is all a redrive needs.
        let kept = serde_json::json!({
            "source": format.as_str(),
            "press_id": verified.press_id,
            "verified_request": "not kept; the press is the record's click",
        })
        .to_string();
        let press = PressRequest {
            event: kept.as_bytes(),
            press_id: (!verified.windowed).then_some(verified.press_id.as_str()),
            normalised: Some(&event),
            received_at_ms: Some(now_ms),
            // A replay is refused as stale only after this; until then it must be a duplicate.
            min_dedupe_window_ms: Some(verified.replayable_until_ms.saturating_sub(now_ms)),
            ..request
        };
        let result = pipeline.press(press).await;
        (answer_for(&result), result)
    }
}

/// A request refused before it was a press, as the record carries it (a secret store that did
/// not answer is `secret_unavailable`, answered 503 so the sender retries).
fn refusal(e: &WebhookError) -> Failure {
    Failure::Refused {
        kind: e.kind(),
        message: e.to_string(),
    }
}

/// The response to a press that ran (or was answered from the ledger).
fn answer_for(result: &PressResult) -> LambdaFunctionUrlResponse {
    let record = &result.record;
    let id = Some(record.press_id.as_str());
    let Some(failure) = &result.failure else {
        return response(200, &summary(record), id);
    };
    match failure {
        Failure::InProgress { .. } => response(
            409,
            "this press is being handled by another request; retry later",
            id,
        ),
        Failure::RateLimited { .. } => {
            response(429, "too many presses of this button this minute", id)
        }
        Failure::UnknownDevice { .. } => response(403, "this button is not allowed here", id),
        f if f.is_retryable() => response(503, "the press failed; retry the request", id),
        _ => response(500, "the press failed; see its record", id),
    }
}

/// What the press did, in a few words (Flic shows it on the phone).
fn summary(record: &PressRecord) -> String {
    if record.ledger.outcome == clickrules_pipeline::LedgerOutcome::Duplicate {
        return "already done".into();
    }
    let done: Vec<String> = record
        .outcomes
        .iter()
        .filter(|o| matches!(o.status, OutcomeStatus::Done | OutcomeStatus::DryRun))
        .map(|o| match &o.action {
            Action::Snapshot { region } => format!("snapshot {region}"),
            Action::Notify { subject, .. } => format!("notify {subject:?}"),
            Action::Ignore { reason } => format!("ignored: {reason}"),
        })
        .collect();
    if done.is_empty() {
        return match record.decision.as_ref() {
            Some(_) => "nothing to do".into(),
            None => "received".into(),
        };
    }
    let verb = if record.executed { "done" } else { "would do" };
    format!("{verb}: {}", done.join(", "))
}
