//! Carrying out validated actions: the port, what an action's target is, what it did, and the
//! dry-run executor, which makes every check a real executor makes before its call and says
//! what it would do, from the same targets.

use std::fmt;
use std::future::Future;

use clickrules_engine::Action;
use serde::{Deserialize, Serialize};

/// The original Lambda invoked this function.
pub const DEFAULT_SNAPSHOT_FUNCTION: &str = "scheduled_snapshot";
/// ... through this alias.
pub const DEFAULT_SNAPSHOT_QUALIFIER: &str = "prod";

/// How `snapshot` calls the snapshot function: `RequestResponse` waits for it (as the original
/// did) so its error is seen; `Event` queues it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InvocationType {
    /// Synchronous: the function's error is reported in the press's outcome.
    #[default]
    RequestResponse,
    /// Asynchronous: only the queueing is reported.
    Event,
}

impl InvocationType {
    /// The name the Lambda API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequestResponse => "RequestResponse",
            Self::Event => "Event",
        }
    }
}

impl fmt::Display for InvocationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The function `snapshot` invokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotTarget {
    /// Function name or ARN.
    pub function: String,
    /// Alias or version; `None` invokes it unqualified.
    pub qualifier: Option<String>,
    /// Synchronous or queued.
    pub invocation_type: InvocationType,
}

impl Default for SnapshotTarget {
    fn default() -> Self {
        Self {
            function: DEFAULT_SNAPSHOT_FUNCTION.into(),
            qualifier: Some(DEFAULT_SNAPSHOT_QUALIFIER.into()),
            invocation_type: InvocationType::default(),
        }
    }
}

impl SnapshotTarget {
    /// `scheduled_snapshot:prod`, or the bare name when unqualified.
    pub fn name(&self) -> String {
        match &self.qualifier {
            Some(q) => format!("{}:{q}", self.function),
            None => self.function.clone(),
        }
    }
}

/// Where a deployment's actions go: one place, read by the real executor and the dry run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ActionTargets {
    /// What `snapshot` invokes.
    pub snapshot: SnapshotTarget,
    /// Where `notify` publishes; `None` makes any press that notifies fail before acting.
    pub topic_arn: Option<String>,
}

impl ActionTargets {
    /// The check every executor makes before any action runs: `notify` needs a topic.
    pub fn preflight(&self, actions: &[Action]) -> Result<(), PreflightError> {
        let count = actions
            .iter()
            .filter(|a| matches!(a, Action::Notify { .. }))
            .count();
        if count > 0 && self.topic_arn.is_none() {
            return Err(PreflightError::NoTopic { count });
        }
        Ok(())
    }
}

/// The snapshot function's input, exactly `{"region":"..."}` as the original sent it.
pub fn snapshot_payload(region: &str) -> String {
    serde_json::json!({ "region": region }).to_string()
}

/// What an action did when it succeeded (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Receipt {
    /// The snapshot function was invoked.
    Invoked {
        /// Function name or ARN.
        function: String,
        /// Alias or version, when qualified.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        qualifier: Option<String>,
        /// `RequestResponse` or `Event`.
        invocation_type: String,
        /// Lambda's HTTP status: 200 for a synchronous call, 202 for a queued one.
        status_code: i32,
        /// The version that ran, when Lambda says.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        executed_version: Option<String>,
    },
    /// The notification was published.
    Published {
        /// The topic.
        topic_arn: String,
        /// The service's message id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_id: Option<String>,
    },
    /// `ignore`: logged, nothing else.
    Logged,
    /// A dry run: the function would be invoked with this payload.
    WouldInvoke {
        /// `function` or `function:qualifier`.
        target: String,
        /// `RequestResponse` or `Event`.
        invocation_type: String,
        /// The exact payload.
        payload: String,
    },
    /// A dry run: the notification would be published to this topic.
    WouldPublish {
        /// The topic.
        topic_arn: String,
    },
}

/// Why an action failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
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
    /// The service throttled the call.
    #[error("{operation} was throttled: {message}")]
    Throttled {
        /// e.g. `lambda:Invoke` or `sns:Publish`.
        operation: &'static str,
        /// The service's explanation.
        message: String,
    },
    /// The service refused the call (missing function, no permission, bad parameter, ...).
    #[error("{operation} was refused: {message}")]
    Refused {
        /// e.g. `lambda:Invoke` or `sns:Publish`.
        operation: &'static str,
        /// The service's error code, when it sent one.
        code: Option<String>,
        /// The service's or the SDK's explanation.
        message: String,
    },
    /// The call did not complete: timeout, connection failure, unreadable response, 5xx.
    #[error("{operation} did not complete: {message}")]
    Unavailable {
        /// e.g. `lambda:Invoke` or `sns:Publish`.
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

    /// Whether trying again later may succeed. A function error or a refusal repeats on every
    /// retry; throttling and unavailability pass.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Throttled { .. } | Self::Unavailable { .. })
    }

    /// As the record carries it.
    pub fn info(&self) -> crate::ErrorInfo {
        crate::ErrorInfo {
            kind: self.kind().to_string(),
            message: self.to_string(),
            retryable: Some(self.is_retryable()),
            backtrace: Vec::new(),
        }
    }
}

/// A press that cannot be carried out as a whole, found before any action ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
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

/// Which press and which of its actions an execution is: carried downstream where the target
/// can use it to drop a repeat (e.g. an SNS FIFO deduplication id), since between an action's
/// success and its ledger write a crash can still repeat that one action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionContext<'a> {
    /// The press's id.
    pub press_id: &'a str,
    /// The action's position, counting from 1.
    pub number: usize,
}

impl ActionContext<'_> {
    /// `<press id>#<number>`: unique per action of a press, the same on every retry.
    pub fn dedup_id(&self) -> String {
        format!("{}#{}", self.press_id, self.number)
    }
}

/// Carries out actions the engine has validated.
pub trait Executor: Send + Sync {
    /// Whether actions really run (`false` for a dry run).
    fn executes(&self) -> bool;

    /// Checks the press can be carried out as a whole; called before any action runs.
    fn preflight(&self, actions: &[Action]) -> Result<(), PreflightError>;

    /// Carries out one action.
    fn execute(
        &self,
        action: &Action,
        context: ActionContext<'_>,
    ) -> impl Future<Output = Result<Receipt, ActionError>> + Send;
}

/// A dry run: the same checks as the real executor, and what it would do, from the same
/// targets. Nothing leaves the process.
#[derive(Debug, Clone, Default)]
pub struct DryRunExecutor {
    targets: ActionTargets,
}

impl DryRunExecutor {
    /// A dry run of a deployment with these targets.
    pub fn new(targets: ActionTargets) -> Self {
        Self { targets }
    }
}

impl Executor for DryRunExecutor {
    fn executes(&self) -> bool {
        false
    }

    fn preflight(&self, actions: &[Action]) -> Result<(), PreflightError> {
        self.targets.preflight(actions)
    }

    async fn execute(&self, action: &Action, _: ActionContext<'_>) -> Result<Receipt, ActionError> {
        Ok(match action {
            Action::Snapshot { region } => Receipt::WouldInvoke {
                target: self.targets.snapshot.name(),
                invocation_type: self.targets.snapshot.invocation_type.to_string(),
                payload: snapshot_payload(region),
            },
            Action::Notify { .. } => Receipt::WouldPublish {
                // The preflight check made sure there is one.
                topic_arn: self.targets.topic_arn.clone().unwrap_or_default(),
            },
            Action::Ignore { .. } => Receipt::Logged,
        })
    }
}
