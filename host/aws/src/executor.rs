//! Carrying out validated actions, and what each one did. The trait lets the handler be tested
//! without AWS; [`AwsExecutor`](crate::AwsExecutor) is the real one.

use std::future::Future;

use clickrules_engine::Action;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

/// What an action did when it succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Receipt {
    /// The snapshot function was invoked.
    Invoked {
        /// Function name or ARN.
        function: String,
        /// Alias or version, when qualified.
        #[serde(skip_serializing_if = "Option::is_none")]
        qualifier: Option<String>,
        /// `RequestResponse` or `Event`.
        invocation_type: String,
        /// Lambda's HTTP status: 200 for a synchronous call, 202 for a queued one.
        status_code: i32,
        /// The version that ran, when Lambda says.
        #[serde(skip_serializing_if = "Option::is_none")]
        executed_version: Option<String>,
    },
    /// The notification was published.
    Published {
        /// The topic.
        topic_arn: String,
        /// SNS's message id.
        #[serde(skip_serializing_if = "Option::is_none")]
        message_id: Option<String>,
    },
    /// `ignore`: logged, nothing else.
    Logged,
}

/// Why an action failed. The press then fails, so AWS retries it and finally dead-letters it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// The snapshot function ran and failed (Lambda's `FunctionError`).
    #[error("the snapshot function {function} failed ({error}): {payload}")]
    FunctionError {
        /// Function name or ARN.
        function: String,
        /// `Handled` or `Unhandled`.
        error: String,
        /// What the function returned (truncated).
        payload: String,
    },
    /// AWS throttled the call.
    #[error("{operation} was throttled: {message}")]
    Throttled {
        /// `lambda:Invoke` or `sns:Publish`.
        operation: &'static str,
        /// AWS's explanation.
        message: String,
    },
    /// The service refused the call (missing function, no permission, bad parameter, ...).
    #[error("{operation} was refused: {message}")]
    Refused {
        /// `lambda:Invoke` or `sns:Publish`.
        operation: &'static str,
        /// AWS's error code, when it sent one.
        code: Option<String>,
        /// AWS's or the SDK's explanation.
        message: String,
    },
    /// The call did not complete: timeout, connection failure, unreadable response.
    #[error("{operation} did not complete: {message}")]
    Unavailable {
        /// `lambda:Invoke` or `sns:Publish`.
        operation: &'static str,
        /// The SDK's explanation.
        message: String,
    },
}

impl ActionError {
    /// A stable, machine-readable name for the variant.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::FunctionError { .. } => "function_error",
            Self::Throttled { .. } => "throttled",
            Self::Refused { .. } => "refused",
            Self::Unavailable { .. } => "unavailable",
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Throttled { .. } | Self::Unavailable { .. })
    }
}

impl Serialize for ActionError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("ActionError", 3)?;
        s.serialize_field("kind", self.kind())?;
        s.serialize_field("message", &self.to_string())?;
        s.serialize_field("retryable", &self.is_retryable())?;
        s.end()
    }
}

/// A press that cannot be carried out as a whole, found before any action ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreflightError {
    /// `notify` was asked for, but the deployment has no topic.
    #[error(
        "the guest asked for {count} notification(s) but CLICKRULES_NOTIFY_TOPIC_ARN is not set; \
         no action was executed"
    )]
    NoTopic {
        /// How many `notify` actions the press had.
        count: usize,
    },
}

/// One action and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionOutcome {
    /// The action, as the guest returned it.
    pub action: Action,
    /// What it did, or why it failed.
    pub result: Result<Receipt, ActionError>,
}

impl ActionOutcome {
    /// Whether the action succeeded.
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }
}

impl Serialize for ActionOutcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("ActionOutcome", 3)?;
        s.serialize_field("action", &self.action)?;
        match &self.result {
            Ok(receipt) => {
                s.serialize_field("status", "done")?;
                s.serialize_field("receipt", receipt)?;
            }
            Err(error) => {
                s.serialize_field("status", "failed")?;
                s.serialize_field("error", error)?;
            }
        }
        s.end()
    }
}

/// Carries out actions the engine has already validated.
pub trait ActionExecutor: Send + Sync {
    /// Checks the press can be carried out as a whole; called before any action runs.
    fn preflight(&self, actions: &[Action]) -> Result<(), PreflightError>;

    /// Carries out one action.
    fn execute(&self, action: &Action)
    -> impl Future<Output = Result<Receipt, ActionError>> + Send;
}

/// Runs the preflight check, then every action in order. A failed action does not stop the
/// others: they are independent (a failed notification must not cancel a backup), and the
/// outcome of each is recorded.
pub async fn execute_all<E: ActionExecutor>(
    executor: &E,
    actions: &[Action],
) -> Result<Vec<ActionOutcome>, PreflightError> {
    executor.preflight(actions)?;
    let mut outcomes = Vec::with_capacity(actions.len());
    for action in actions {
        let result = executor.execute(action).await;
        match &result {
            Ok(receipt) => tracing::info!(?action, ?receipt, "action done"),
            Err(error) => {
                let error =
                    clickrules_engine::text::escape_control(&error.to_string()).into_owned();
                tracing::warn!(?action, %error, "action failed");
            }
        }
        outcomes.push(ActionOutcome {
            action: action.clone(),
            result,
        });
    }
    Ok(outcomes)
}

/// The preflight check every executor that can publish shares: `notify` needs a topic.
pub fn check_topic(actions: &[Action], topic_arn: Option<&str>) -> Result<(), PreflightError> {
    let count = actions
        .iter()
        .filter(|a| matches!(a, Action::Notify { .. }))
        .count();
    if count > 0 && topic_arn.is_none() {
        return Err(PreflightError::NoTopic { count });
    }
    Ok(())
}
