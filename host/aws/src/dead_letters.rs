//! Presses that no retry can fix, sent to the deployment's dead-letter queue with their record,
//! in the shape Lambda's own on-failure destination uses, so one consumer (and `redrive`) reads
//! both.

use std::time::{SystemTime, UNIX_EPOCH};

use clickrules_pipeline::{DeadLetters, PressRecord};

use crate::sdk_error::sdk_error_text;

/// The dead-letter queue (`CLICKRULES_DEAD_LETTER_QUEUE_URL`).
#[derive(Debug, Clone)]
pub struct SqsDeadLetters {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsDeadLetters {
    /// Sends to `queue_url`.
    pub fn new(sqs: aws_sdk_sqs::Client, queue_url: String) -> Self {
        Self { sqs, queue_url }
    }
}

/// The message body: Lambda's destination record (`requestContext`, `requestPayload`,
/// `responseContext`, `responsePayload`), with `condition` saying why it came early.
pub fn dead_letter_body(event: &[u8], record: &PressRecord, function_arn: Option<&str>) -> String {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    // The event as delivered: JSON when it parses, else its text.
    let payload = serde_json::from_slice::<serde_json::Value>(event)
        .unwrap_or_else(|_| String::from_utf8_lossy(event).into_owned().into());
    let error_type = record
        .failure
        .as_ref()
        .map_or("clickrules.failed".to_string(), |f| {
            format!("clickrules.{}", f.kind)
        });
    let body = serde_json::json!({
        "version": "1.0",
        "timestamp": timestamp,
        "requestContext": {
            "requestId": record.request_id,
            "functionArn": function_arn,
            "condition": "NonRetryableFailure",
            "approximateInvokeCount": record.ledger.attempt.unwrap_or(1),
        },
        "requestPayload": payload,
        "responseContext": { "functionError": error_type },
        "responsePayload": record,
    });
    clickrules_engine::text::json_line(&body).unwrap_or_else(|_| body.to_string())
}

impl DeadLetters for SqsDeadLetters {
    fn is_on(&self) -> bool {
        true
    }

    async fn send(
        &self,
        event: &[u8],
        record: &PressRecord,
        function_arn: Option<&str>,
    ) -> Result<(), String> {
        let body = dead_letter_body(event, record, function_arn);
        self.sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "sqs:SendMessage to {}: {}",
                    self.queue_url,
                    sdk_error_text(&e)
                )
            })
    }
}
