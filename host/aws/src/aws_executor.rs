//! Actions carried out with the AWS SDK: `snapshot` → `lambda:Invoke`, `notify` →
//! `sns:Publish`, `ignore` → a log line. Each call carries the press id and action number, so a
//! target can drop the repeat that a crash between an action and its ledger write can cause.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType as LambdaInvocationType;
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::types::MessageAttributeValue;
use base64::Engine as _;
use clickrules_engine::Action;
use clickrules_pipeline::{
    ActionContext, ActionError, ActionTargets, Executor, InvocationType, PreflightError, Receipt,
    snapshot_payload,
};

use crate::clients::AwsClients;
use crate::sdk_error::sdk_error_text;
use crate::settings::Settings;

const INVOKE: &str = "lambda:Invoke";
const PUBLISH: &str = "sns:Publish";
/// Bytes of a failed function's response kept in the outcome.
const MAX_ERROR_PAYLOAD_BYTES: usize = 1024;
/// Error codes AWS services use for throttling.
const THROTTLE_CODES: [&str; 5] = [
    "TooManyRequestsException",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
];

/// The SNS message attribute naming the press and action (`<press id>#<number>`).
pub const PRESS_ATTRIBUTE: &str = "clickrules_press";

/// Executes actions against AWS.
#[derive(Debug, Clone)]
pub struct AwsExecutor {
    lambda: aws_sdk_lambda::Client,
    sns: aws_sdk_sns::Client,
    targets: ActionTargets,
}

impl AwsExecutor {
    /// The executor a deployment's settings describe.
    pub fn new(clients: &AwsClients, settings: &Settings) -> Self {
        Self::from_parts(
            clients.lambda.clone(),
            clients.sns.clone(),
            settings.targets(),
        )
    }

    /// An executor from its parts.
    pub fn from_parts(
        lambda: aws_sdk_lambda::Client,
        sns: aws_sdk_sns::Client,
        targets: ActionTargets,
    ) -> Self {
        Self {
            lambda,
            sns,
            targets,
        }
    }

    async fn snapshot(&self, region: &str, cx: ActionContext<'_>) -> Result<Receipt, ActionError> {
        let target = &self.targets.snapshot;
        let mut invoke = self
            .lambda
            .invoke()
            .function_name(&target.function)
            .set_qualifier(target.qualifier.clone())
            .invocation_type(match target.invocation_type {
                InvocationType::RequestResponse => LambdaInvocationType::RequestResponse,
                InvocationType::Event => LambdaInvocationType::Event,
            })
            .payload(Blob::new(snapshot_payload(region)));
        if target.invocation_type == InvocationType::RequestResponse {
            // The payload stays exactly the original's; the press id travels in the client
            // context, which Lambda hands to synchronously invoked functions.
            invoke = invoke.client_context(client_context(cx));
        }
        let output = invoke.send().await.map_err(|e| sdk_failure(INVOKE, &e))?;
        if let Some(error) = output.function_error() {
            let payload = output
                .payload()
                .map(|p| String::from_utf8_lossy(p.as_ref()).into_owned())
                .unwrap_or_default();
            return Err(ActionError::FunctionError {
                function: target.function.clone(),
                error: error.to_string(),
                payload: truncate(payload, MAX_ERROR_PAYLOAD_BYTES),
            });
        }
        Ok(Receipt::Invoked {
            function: target.function.clone(),
            qualifier: target.qualifier.clone(),
            invocation_type: target.invocation_type.to_string(),
            status_code: output.status_code(),
            executed_version: output.executed_version().map(str::to_string),
        })
    }

    async fn notify(
        &self,
        subject: &str,
        message: &str,
        cx: ActionContext<'_>,
    ) -> Result<Receipt, ActionError> {
        // The preflight check makes this unreachable in a press; it stays an error, not a
        // panic, for callers that execute single actions.
        let Some(topic_arn) = &self.targets.topic_arn else {
            return Err(ActionError::Refused {
                operation: PUBLISH,
                code: None,
                message: PreflightError::NoTopic { count: 1 }.to_string(),
            });
        };
        let dedup_id = cx.dedup_id();
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(&dedup_id)
            .build()
            .map_err(|e| ActionError::Refused {
                operation: PUBLISH,
                code: None,
                message: format!("could not build the message attribute: {e}"),
            })?;
        let mut publish = self
            .sns
            .publish()
            .topic_arn(topic_arn)
            .subject(subject)
            .message(message)
            .message_attributes(PRESS_ATTRIBUTE, attribute);
        if topic_arn.ends_with(".fifo") {
            // A FIFO topic drops a repeat with the same deduplication id for five minutes.
            publish = publish
                .message_group_id(cx.press_id)
                .message_deduplication_id(fifo_dedup_id(&dedup_id));
        }
        let output = publish.send().await.map_err(|e| sdk_failure(PUBLISH, &e))?;
        Ok(Receipt::Published {
            topic_arn: topic_arn.clone(),
            message_id: output.message_id().map(str::to_string),
        })
    }
}

impl Executor for AwsExecutor {
    fn executes(&self) -> bool {
        true
    }

    fn preflight(&self, actions: &[Action]) -> Result<(), PreflightError> {
        self.targets.preflight(actions)
    }

    async fn execute(
        &self,
        action: &Action,
        cx: ActionContext<'_>,
    ) -> Result<Receipt, ActionError> {
        match action {
            Action::Snapshot { region } => self.snapshot(region, cx).await,
            Action::Notify { subject, message } => self.notify(subject, message, cx).await,
            Action::Ignore { reason } => {
                let reason = clickrules_engine::text::escape_control(reason);
                tracing::info!(%reason, "ignore");
                Ok(Receipt::Logged)
            }
        }
    }
}

/// `{"custom":{"clickrules_press":"<press id>#<number>"}}`, base64, as Lambda wants it.
fn client_context(cx: ActionContext<'_>) -> String {
    let context = serde_json::json!({ "custom": { PRESS_ATTRIBUTE: cx.dedup_id() } });
    base64::engine::general_purpose::STANDARD.encode(context.to_string())
}

/// SNS deduplication ids are at most 128 characters of `[A-Za-z0-9!-~]` (printable ASCII):
/// press ids are printable ASCII already; longer ones keep their distinguishing end.
fn fifo_dedup_id(id: &str) -> String {
    let printable: String = id.chars().filter(|c| ('!'..='~').contains(c)).collect();
    let skip = printable.len().saturating_sub(128);
    printable[skip..].to_string()
}

/// Sorts an SDK failure: throttling, a refusal, or a call that never completed.
fn sdk_failure<E>(operation: &'static str, e: &SdkError<E>) -> ActionError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match e {
        SdkError::ServiceError(context) => {
            let code = e.code().map(str::to_string);
            let status = context.raw().status().as_u16();
            let message = sdk_error_text(e);
            if status == 429 || code.as_deref().is_some_and(|c| THROTTLE_CODES.contains(&c)) {
                ActionError::Throttled { operation, message }
            } else if status >= 500 {
                // The service failed, not the request: still failing after the SDK's retries,
                // but AWS's retry of the whole press may succeed.
                ActionError::Unavailable { operation, message }
            } else {
                ActionError::Refused {
                    operation,
                    code,
                    message,
                }
            }
        }
        SdkError::ConstructionFailure(_) => ActionError::Refused {
            operation,
            code: None,
            message: sdk_error_text(e),
        },
        _ => ActionError::Unavailable {
            operation,
            message: sdk_error_text(e),
        },
    }
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}
