//! Actions carried out with the AWS SDK: `snapshot` → `lambda:Invoke`, `notify` →
//! `sns:Publish`, `ignore` → a log line.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType as LambdaInvocationType;
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use clickrules_engine::Action;
use serde::Serialize;

use crate::clients::AwsClients;
use crate::executor::{ActionError, ActionExecutor, PreflightError, Receipt, check_topic};
use crate::sdk_error::sdk_error_text;
use crate::settings::{InvocationType, Settings, SnapshotTarget};

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

/// The snapshot function's input, exactly `{"region":"..."}` as the original sent it.
#[derive(Serialize)]
struct SnapshotPayload<'a> {
    region: &'a str,
}

/// Executes actions against AWS.
#[derive(Debug, Clone)]
pub struct AwsExecutor {
    lambda: aws_sdk_lambda::Client,
    sns: aws_sdk_sns::Client,
    snapshot: SnapshotTarget,
    topic_arn: Option<String>,
}

impl AwsExecutor {
    /// The executor a deployment's settings describe.
    pub fn new(clients: &AwsClients, settings: &Settings) -> Self {
        Self::from_parts(
            clients.lambda.clone(),
            clients.sns.clone(),
            settings.snapshot.clone(),
            settings.notify_topic_arn.clone(),
        )
    }

    /// An executor from its parts.
    pub fn from_parts(
        lambda: aws_sdk_lambda::Client,
        sns: aws_sdk_sns::Client,
        snapshot: SnapshotTarget,
        topic_arn: Option<String>,
    ) -> Self {
        Self {
            lambda,
            sns,
            snapshot,
            topic_arn,
        }
    }

    async fn snapshot(&self, region: &str) -> Result<Receipt, ActionError> {
        let target = &self.snapshot;
        let payload =
            serde_json::to_vec(&SnapshotPayload { region }).map_err(|e| ActionError::Refused {
                operation: INVOKE,
                code: None,
                message: format!("could not encode the payload: {e}"),
            })?;
        let output = self
            .lambda
            .invoke()
            .function_name(&target.function)
            .set_qualifier(target.qualifier.clone())
            .invocation_type(match target.invocation_type {
                InvocationType::RequestResponse => LambdaInvocationType::RequestResponse,
                InvocationType::Event => LambdaInvocationType::Event,
            })
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|e| sdk_failure(INVOKE, &e))?;
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

    async fn notify(&self, subject: &str, message: &str) -> Result<Receipt, ActionError> {
        // The preflight check makes this unreachable in a press; it stays an error, not a
        // panic, for callers that execute single actions.
        let Some(topic_arn) = &self.topic_arn else {
            return Err(ActionError::Refused {
                operation: PUBLISH,
                code: None,
                message: PreflightError::NoTopic { count: 1 }.to_string(),
            });
        };
        let output = self
            .sns
            .publish()
            .topic_arn(topic_arn)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map_err(|e| sdk_failure(PUBLISH, &e))?;
        Ok(Receipt::Published {
            topic_arn: topic_arn.clone(),
            message_id: output.message_id().map(str::to_string),
        })
    }
}

impl ActionExecutor for AwsExecutor {
    fn preflight(&self, actions: &[Action]) -> Result<(), PreflightError> {
        check_topic(actions, self.topic_arn.as_deref())
    }

    async fn execute(&self, action: &Action) -> Result<Receipt, ActionError> {
        match action {
            Action::Snapshot { region } => self.snapshot(region).await,
            Action::Notify { subject, message } => self.notify(subject, message).await,
            Action::Ignore { reason } => {
                let reason = clickrules_engine::text::escape_control(reason);
                tracing::info!(%reason, "ignore");
                Ok(Receipt::Logged)
            }
        }
    }
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
