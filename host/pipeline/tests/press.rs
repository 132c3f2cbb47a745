//! The press flow over in-memory ports: decisions, fallbacks, preflight, partial failures, the
//! dry run, and the ledger's state machine (retries, duplicates, leases, request budget).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use clickrules_engine::{Action, Engine, EngineConfig, PressError};
use clickrules_pipeline::{
    ActionContext, ActionError, ActionTargets, Claim, CurrentGuest, Disposition, DryRunExecutor,
    End, Executor, Failure, FetchKind, FixedGuest, FixedGuestError, GuestSource, Lease, Ledger,
    LedgerError, LedgerOutcome, MemoryDeadLetters, MemoryLedger, MemorySink, OutcomeRecord,
    OutcomeStatus, Pipeline, PreflightError, PressRecord, PressRequest, Receipt, SnapshotTarget,
    SourceError,
};
use clickrules_tests::{fixture, guest_bytes, guests};

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:presses";

/// Runs actions like the AWS executor would, failing the regions it is told to, and counting.
#[derive(Default)]
struct FakeExecutor {
    topic: Option<String>,
    /// Regions whose snapshot fails, and whether the failure is retryable.
    failing: Mutex<Vec<(String, bool)>>,
    /// Whether `notify` fails retryably.
    notify_down: Mutex<bool>,
    ran: Mutex<Vec<(Action, String)>>,
}

impl FakeExecutor {
    fn with_topic() -> Self {
        Self {
            topic: Some(TOPIC.into()),
            ..Self::default()
        }
    }

    fn failing(self, region: &str, retryable: bool) -> Self {
        self.failing
            .lock()
            .unwrap()
            .push((region.into(), retryable));
        self
    }

    fn ran(&self) -> Vec<Action> {
        self.ran
            .lock()
            .unwrap()
            .iter()
            .map(|(a, _)| a.clone())
            .collect()
    }
}

impl Executor for FakeExecutor {
    fn executes(&self) -> bool {
        true
    }

    fn preflight(&self, actions: &[Action]) -> Result<(), PreflightError> {
        ActionTargets {
            snapshot: SnapshotTarget::default(),
            topic_arn: self.topic.clone(),
        }
        .preflight(actions)
    }

    async fn execute(
        &self,
        action: &Action,
        cx: ActionContext<'_>,
    ) -> Result<Receipt, ActionError> {
        self.ran
            .lock()
            .unwrap()
            .push((action.clone(), cx.dedup_id()));
        match action {
            Action::Snapshot { region } => {
                let failing = self.failing.lock().unwrap().clone();
                match failing.iter().find(|(r, _)| r == region) {
                    Some((_, true)) => Err(ActionError::Unavailable {
                        operation: "lambda:Invoke",
                        message: "HTTP 503".into(),
                    }),
                    Some((_, false)) => Err(ActionError::FunctionError {
                        function: "scheduled_snapshot".into(),
                        error: "Unhandled".into(),
                        payload: format!("no volumes in {region}"),
                    }),
                    None => Ok(Receipt::Invoked {
                        function: "scheduled_snapshot".into(),
                        qualifier: Some("prod".into()),
                        invocation_type: "RequestResponse".into(),
                        status_code: 200,
                        executed_version: None,
                    }),
                }
            }
            Action::Notify { .. } if *self.notify_down.lock().unwrap() => {
                Err(ActionError::Throttled {
                    operation: "sns:Publish",
                    message: "Rate exceeded".into(),
                })
            }
            Action::Notify { .. } => Ok(Receipt::Published {
                topic_arn: self.topic.clone().unwrap_or_default(),
                message_id: Some("m-1".into()),
            }),
            Action::Ignore { .. } => Ok(Receipt::Logged),
        }
    }
}

fn engine(settings: &[(&str, &str)]) -> Arc<Engine> {
    let settings: BTreeMap<String, String> = settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Arc::new(
        Engine::new(EngineConfig {
            settings,
            ..EngineConfig::default()
        })
        .unwrap(),
    )
}

fn file_guest(engine: &Engine, path: &str) -> FixedGuest {
    FixedGuest::from_bytes(engine, &guest_bytes(path), path).unwrap()
}

fn builtin(engine: &Engine) -> CurrentGuest {
    FixedGuest::builtin(engine).unwrap().current_guest().clone()
}

fn single() -> Vec<u8> {
    fixture("iot-button-single.json")
}

/// A SINGLE press carrying the topic rule's trace id.
fn traced(trace_id: &str) -> Vec<u8> {
    format!(r#"{{"serialNumber":"G030JF055364XVRB","clickType":"SINGLE","clickrules_trace_id":"{trace_id}"}}"#)
        .into_bytes()
}

async fn press<
    S: GuestSource,
    E: Executor,
    L: Ledger,
    D: clickrules_pipeline::DeadLetters,
    R: clickrules_pipeline::RecordSink,
>(
    pipeline: &Pipeline<S, E, L, D, R>,
    request_id: &str,
    event: &[u8],
) -> clickrules_pipeline::PressResult {
    pipeline.press(PressRequest::new(request_id, event)).await
}

#[tokio::test]
async fn a_single_press_with_the_builtin_guest_runs_one_snapshot() {
    let engine = engine(&[]);
    let source = FixedGuest::builtin(&engine).unwrap();
    let pipeline =
        Pipeline::new(engine, source, FakeExecutor::default()).with_sink(MemorySink::new());
    let result = press(&pipeline, "req-1", &single()).await;
    assert!(result.record.ok, "{:?}", result.failure);
    assert_eq!(result.disposition, Disposition::Done);
    assert_eq!(pipeline.executor().ran(), [Action::snapshot("us-west-1")]);
    assert_eq!(
        pipeline.sink().records(),
        std::slice::from_ref(&result.record)
    );

    let json: serde_json::Value = serde_json::from_str(&result.record.to_json()).unwrap();
    assert_eq!(json["request_id"], "req-1");
    assert_eq!(json["press_id"], "req-1");
    assert_eq!(json["executed"], true);
    assert_eq!(json["ok"], true);
    assert_eq!(json["guest"]["uri"], "builtin:default");
    assert_eq!(json["guest"]["fetch"], "fixed");
    assert_eq!(json["click"]["click_type"], "SINGLE");
    assert_eq!(json["decision"]["actions"][0]["kind"], "snapshot");
    assert_eq!(json["decision"]["actions"][0]["region"], "us-west-1");
    assert_eq!(json["outcomes"][0]["status"], "done");
    assert_eq!(json["outcomes"][0]["receipt"]["kind"], "invoked");
    assert_eq!(json["ledger"]["outcome"], "off");
    assert!(json["failure"].is_null());
    // The record is data: it parses back to itself.
    let back: PressRecord = serde_json::from_value(json).unwrap();
    assert_eq!(back, result.record);
}

#[tokio::test]
async fn notify_without_a_topic_fails_before_any_action_runs() {
    let engine = engine(&[]);
    let source = file_guest(&engine, guests::BY_CLICK);
    let pipeline = Pipeline::new(engine, source, FakeExecutor::default());
    let result = press(&pipeline, "req-2", &fixture("iot-button-long.json")).await;
    assert!(
        matches!(
            result.failure,
            Some(Failure::Preflight(PreflightError::NoTopic { count: 1 }))
        ),
        "{:?}",
        result.failure
    );
    assert!(pipeline.executor().ran().is_empty());
    assert!(result.record.outcomes.is_empty());
    assert!(!result.record.ok);
    // It cannot succeed on a retry, but without a dead-letter destination the delivery fails
    // so the platform keeps it.
    assert_eq!(result.disposition, Disposition::Fail);
}

#[tokio::test]
async fn a_press_no_retry_can_fix_is_dead_lettered_with_its_record() {
    let engine = engine(&[]);
    let source = file_guest(&engine, guests::BY_CLICK);
    let pipeline = Pipeline::new(engine, source, FakeExecutor::default())
        .with_dead_letters(MemoryDeadLetters::new());
    let event = fixture("iot-button-long.json");
    let result = press(&pipeline, "req-2", &event).await;
    assert_eq!(result.disposition, Disposition::DeadLettered);
    assert!(result.record.dead_lettered && !result.record.ok);
    let sent = pipeline.dead_letters().sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, event);
    assert_eq!(sent[0].1.failure.as_ref().unwrap().kind, "preflight");

    // A bad event, too: no guest runs, nothing to retry.
    let result = press(&pipeline, "req-3", br#"{"clickType":"SINGLE"}"#).await;
    assert_eq!(result.disposition, Disposition::DeadLettered);
    assert!(matches!(
        result.failure,
        Some(Failure::Press(PressError::Event(_)))
    ));
}

#[tokio::test]
async fn a_failed_action_fails_the_press_and_the_others_still_run() {
    let engine = engine(&[(
        "actions",
        "snapshot:eu-west-1;snapshot:us-east-1;ignore:why",
    )]);
    let source = file_guest(&engine, guests::ACTIONS);
    let pipeline = Pipeline::new(
        engine,
        source,
        FakeExecutor::default().failing("eu-west-1", false),
    );
    let result = press(&pipeline, "req-4", &single()).await;
    match &result.failure {
        Some(Failure::Actions {
            failed: 1,
            total: 3,
            first: ActionError::FunctionError { .. },
            retryable: false,
        }) => {}
        other => panic!("expected one failed action of three, got {other:?}"),
    }
    assert_eq!(pipeline.executor().ran().len(), 3);
    let statuses: Vec<OutcomeStatus> = result.record.outcomes.iter().map(|o| o.status).collect();
    assert_eq!(
        statuses,
        [
            OutcomeStatus::Failed,
            OutcomeStatus::Done,
            OutcomeStatus::Done
        ]
    );
    let json: serde_json::Value = serde_json::from_str(&result.record.to_json()).unwrap();
    assert_eq!(json["outcomes"][0]["error"]["kind"], "function_error");
    assert_eq!(json["outcomes"][0]["error"]["retryable"], false);
    assert_eq!(json["failure"]["kind"], "actions");
    assert_eq!(json["failure"]["retryable"], false);
}

#[tokio::test]
async fn a_failing_guest_fails_the_press_by_default_and_may_be_retried() {
    let engine = engine(&[]);
    let source = file_guest(&engine, guests::FAIL);
    let pipeline = Pipeline::new(engine, source, FakeExecutor::default());
    let result = press(&pipeline, "req-5", &single()).await;
    assert!(
        matches!(
            result.failure,
            Some(Failure::Press(PressError::GuestError { .. }))
        ),
        "{:?}",
        result.failure
    );
    assert!(result.failure.as_ref().unwrap().is_retryable());
    assert_eq!(result.disposition, Disposition::Fail);
    assert!(pipeline.executor().ran().is_empty());
    assert!(result.record.fallback.is_none());
}

#[tokio::test]
async fn the_builtin_fallback_decides_when_the_guest_fails_and_says_so() {
    for failing in [guests::FAIL, guests::TRAP] {
        let engine = engine(&[]);
        let source = file_guest(&engine, failing);
        let pipeline = Pipeline::new(Arc::clone(&engine), source, FakeExecutor::default())
            .with_fallback(Some(builtin(&engine)));
        let result = press(&pipeline, "req-6", &single()).await;
        assert!(result.record.ok, "{:?}", result.failure);
        assert_eq!(pipeline.executor().ran(), [Action::snapshot("us-west-1")]);
        assert_eq!(result.record.guest.as_ref().unwrap().uri, "builtin:default");
        let fallback = result
            .record
            .fallback
            .as_ref()
            .expect("the record names the fallback");
        assert_eq!(fallback.failed_guest.as_ref().unwrap().uri, failing);
        assert!(
            ["guest_error", "trap"].contains(&fallback.error.kind.as_str()),
            "{fallback:?}"
        );
    }
}

#[tokio::test]
async fn a_bad_event_is_not_rescued_by_the_builtin_guest() {
    let engine = engine(&[]);
    let source = file_guest(&engine, guests::FAIL);
    let pipeline = Pipeline::new(Arc::clone(&engine), source, FakeExecutor::default())
        .with_fallback(Some(builtin(&engine)));
    let result = press(&pipeline, "req-7", br#"{"clickType":"SINGLE"}"#).await;
    assert!(matches!(
        result.failure,
        Some(Failure::Press(PressError::Event(_)))
    ));
    assert!(result.record.fallback.is_none() && result.record.decision.is_none());
    assert!(!result.failure.unwrap().is_retryable());
}

/// A source whose object is missing (not the guest's fault) or broken (the guest's fault).
#[derive(Clone)]
enum Broken {
    Missing,
    Corrupt,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("the guest is {0}")]
struct BrokenError(&'static str);

impl SourceError for BrokenError {
    fn kind(&self) -> &'static str {
        self.0
    }
    fn is_retryable(&self) -> bool {
        true
    }
    fn is_guest_fault(&self) -> bool {
        self.0 == "corrupt"
    }
}

impl GuestSource for Broken {
    type Error = BrokenError;
    async fn current(&self) -> Result<CurrentGuest, BrokenError> {
        Err(match self {
            Broken::Missing => BrokenError("missing"),
            Broken::Corrupt => BrokenError("corrupt"),
        })
    }
}

#[tokio::test]
async fn no_guest_means_nothing_runs_and_a_broken_one_may_fall_back() {
    let engine = engine(&[]);
    let pipeline = Pipeline::new(
        Arc::clone(&engine),
        Broken::Missing,
        FakeExecutor::default(),
    )
    .with_fallback(Some(builtin(&engine)));
    let result = press(&pipeline, "req-8", &single()).await;
    match &result.failure {
        Some(Failure::GuestSource(s)) => {
            assert_eq!(s.downcast::<BrokenError>().unwrap().0, "missing")
        }
        other => panic!("{other:?}"),
    }
    assert!(result.record.decision.is_none());
    assert!(pipeline.executor().ran().is_empty());

    let pipeline = Pipeline::new(
        Arc::clone(&engine),
        Broken::Corrupt,
        FakeExecutor::default(),
    )
    .with_fallback(Some(builtin(&engine)));
    let result = press(&pipeline, "req-9", &single()).await;
    assert!(result.record.ok, "{:?}", result.failure);
    assert_eq!(
        result.record.fallback.as_ref().unwrap().error.kind,
        "guest_source.corrupt"
    );
    assert_eq!(pipeline.executor().ran(), [Action::snapshot("us-west-1")]);
}

#[tokio::test]
async fn a_dry_run_makes_the_same_checks_and_says_what_it_would_do() {
    let engine = engine(&[]);
    let targets = ActionTargets {
        snapshot: SnapshotTarget::default(),
        topic_arn: Some(TOPIC.into()),
    };
    let source = file_guest(&engine, guests::BY_CLICK);
    let pipeline = Pipeline::new(Arc::clone(&engine), source, DryRunExecutor::new(targets));
    let result = press(&pipeline, "req-10", &single()).await;
    assert!(result.record.ok);
    assert!(!result.record.executed);
    assert_eq!(result.record.outcomes[0].status, OutcomeStatus::DryRun);
    assert_eq!(
        result.record.outcomes[0].receipt,
        Some(Receipt::WouldInvoke {
            target: "scheduled_snapshot:prod".into(),
            invocation_type: "RequestResponse".into(),
            payload: r#"{"region":"us-west-1"}"#.into(),
        })
    );

    let source = file_guest(&engine, guests::BY_CLICK);
    let no_topic = Pipeline::new(
        engine,
        source,
        DryRunExecutor::new(ActionTargets::default()),
    );
    let result = press(&no_topic, "req-11", &fixture("iot-button-long.json")).await;
    assert!(matches!(
        result.failure,
        Some(Failure::Preflight(PreflightError::NoTopic { count: 1 }))
    ));
}

// --- The ledger -----------------------------------------------------------------------------

fn ledgered(
    engine: &Arc<Engine>,
    guest: &str,
    executor: FakeExecutor,
) -> Pipeline<FixedGuest, FakeExecutor, MemoryLedger> {
    let source = file_guest(engine, guest);
    Pipeline::new(Arc::clone(engine), source, executor).with_ledger(MemoryLedger::new())
}

/// Snapshot done, notify failed (retryable): the retry runs only the notify; the third
/// delivery is a duplicate. One snapshot and one publish in all.
#[tokio::test]
async fn a_retry_runs_only_what_is_not_done() {
    let engine = engine(&[("actions", "snapshot:us-west-1;notify:Pressed|hello")]);
    let executor = FakeExecutor::with_topic();
    *executor.notify_down.lock().unwrap() = true;
    let pipeline = ledgered(&engine, guests::ACTIONS, executor);
    let event = traced("trace-1");

    let first = press(&pipeline, "req-1", &event).await;
    assert_eq!(first.disposition, Disposition::Fail);
    assert!(first.failure.as_ref().unwrap().is_retryable());
    assert_eq!(first.record.press_id, "trace-1");
    assert_eq!(first.record.ledger.outcome, LedgerOutcome::New);

    *pipeline.executor().notify_down.lock().unwrap() = false;
    let second = press(&pipeline, "req-1", &event).await;
    assert!(second.record.ok, "{:?}", second.failure);
    assert_eq!(second.record.ledger.outcome, LedgerOutcome::Resumed);
    assert_eq!(second.record.ledger.skipped_actions, 1);
    assert_eq!(second.record.ledger.attempt, Some(2));
    assert!(second.record.outcomes[0].done_earlier);

    let third = press(&pipeline, "req-1", &event).await;
    assert!(third.record.ok);
    assert_eq!(third.record.ledger.outcome, LedgerOutcome::Duplicate);
    assert_eq!(third.disposition, Disposition::Done);

    let ran = pipeline.executor().ran();
    let snapshots = ran
        .iter()
        .filter(|a| matches!(a, Action::Snapshot { .. }))
        .count();
    let notifies = ran
        .iter()
        .filter(|a| matches!(a, Action::Notify { .. }))
        .count();
    assert_eq!((snapshots, notifies), (1, 2), "{ran:?}");
    // The notify carried the same deduplication id both times.
    let ids: Vec<String> = pipeline
        .executor()
        .ran
        .lock()
        .unwrap()
        .iter()
        .map(|(_, id)| id.clone())
        .collect();
    assert_eq!(ids, ["trace-1#1", "trace-1#2", "trace-1#2"]);
}

#[tokio::test]
async fn the_same_press_delivered_twice_runs_once_and_a_second_press_runs_again() {
    let engine = engine(&[]);
    let pipeline = ledgered(&engine, guests::DEFAULT, FakeExecutor::default());
    let a = press(&pipeline, "req-a", &traced("trace-7")).await;
    let b = press(&pipeline, "req-b", &traced("trace-7")).await;
    assert!(a.record.ok && b.record.ok);
    assert_eq!(b.record.ledger.outcome, LedgerOutcome::Duplicate);
    assert_eq!(b.record.request_id, "req-b");
    assert_eq!(pipeline.executor().ran().len(), 1);

    // A genuine second press: identical payload, new trace id.
    let c = press(&pipeline, "req-c", &traced("trace-8")).await;
    assert_eq!(c.record.ledger.outcome, LedgerOutcome::New);
    assert_eq!(pipeline.executor().ran().len(), 2);
}

#[tokio::test]
async fn a_press_without_a_trace_id_is_identified_by_its_request_id() {
    let engine = engine(&[]);
    let pipeline = ledgered(&engine, guests::DEFAULT, FakeExecutor::default());
    press(&pipeline, "req-1", &single()).await;
    let retry = press(&pipeline, "req-1", &single()).await;
    assert_eq!(retry.record.ledger.outcome, LedgerOutcome::Duplicate);
    // Identical payload, another request: another press (never a payload hash).
    let other = press(&pipeline, "req-2", &single()).await;
    assert_eq!(other.record.ledger.outcome, LedgerOutcome::New);
    assert_eq!(pipeline.executor().ran().len(), 2);
}

#[tokio::test]
async fn a_live_lease_fails_fast_and_an_expired_one_is_taken_over() {
    let engine = engine(&[]);
    let pipeline = ledgered(&engine, guests::DEFAULT, FakeExecutor::default());
    let now = 1_800_000_000_000;
    // Another delivery holds the press (it claimed it and is still running).
    pipeline
        .ledger()
        .claim("trace-9", now + 60_000, now)
        .await
        .unwrap();

    let mut request = PressRequest::new("req-2", b"");
    let event = traced("trace-9");
    request.event = &event;
    request.received_at_ms = Some(now);
    let result = pipeline.press(request).await;
    assert!(
        matches!(result.failure, Some(Failure::InProgress { .. })),
        "{:?}",
        result.failure
    );
    assert_eq!(result.record.ledger.outcome, LedgerOutcome::InProgress);
    assert!(result.failure.unwrap().is_retryable());
    assert!(pipeline.executor().ran().is_empty());

    // The holder timed out: its lease ended in the past, so the press is taken over.
    pipeline.ledger().claim("trace-10", 1, 0).await.unwrap();
    let result = press(&pipeline, "req-3", &traced("trace-10")).await;
    assert!(result.record.ok, "{:?}", result.failure);
    assert_eq!(result.record.ledger.outcome, LedgerOutcome::New);
    assert_eq!(result.record.ledger.attempt, Some(2));
    assert_eq!(pipeline.executor().ran().len(), 1);
}

#[tokio::test]
async fn two_concurrent_deliveries_of_one_press_execute_once() {
    let engine = engine(&[]);
    let pipeline = Arc::new(ledgered(&engine, guests::DEFAULT, FakeExecutor::default()));
    let event = traced("trace-c");
    let (a, b) = tokio::join!(
        press(&pipeline, "req-1", &event),
        press(&pipeline, "req-2", &event)
    );
    assert_eq!(pipeline.executor().ran().len(), 1);
    let outcomes = [a.record.ledger.outcome, b.record.ledger.outcome];
    assert!(outcomes.contains(&LedgerOutcome::New), "{outcomes:?}");
}

#[tokio::test]
async fn the_request_budget_is_three_for_a_new_press_and_two_for_a_duplicate() {
    let engine = engine(&[]);
    let no_limit = clickrules_pipeline::PressPolicy {
        rate_limit_per_minute: 0,
        ..Default::default()
    };
    let pipeline =
        ledgered(&engine, guests::DEFAULT, FakeExecutor::default()).with_policy(no_limit);
    press(&pipeline, "req-1", &traced("trace-b")).await;
    // Claim, decision (write-ahead), the outcome merged with completion.
    assert_eq!(pipeline.ledger().requests(), 3);
    // The claim that finds it complete, and counting the delivery on it for history.
    press(&pipeline, "req-2", &traced("trace-b")).await;
    assert_eq!(pipeline.ledger().requests(), 5);
    assert_eq!(pipeline.ledger().duplicates("trace-b"), 1);

    // The per-device rate limit (on by default) counts each new press: one request more; a
    // duplicate is not counted.
    let limited = ledgered(&engine, guests::DEFAULT, FakeExecutor::default());
    press(&limited, "req-1", &traced("trace-b")).await;
    assert_eq!(limited.ledger().requests(), 4);
    press(&limited, "req-2", &traced("trace-b")).await;
    assert_eq!(limited.ledger().requests(), 6);
}

/// An action no retry can fix: the press is dead-lettered (no pointless automatic retries), but
/// stays open in the ledger, so a deliberate redelivery once the cause is fixed (a redrive)
/// runs only the action that failed.
#[tokio::test]
async fn a_non_retryable_action_failure_is_dead_lettered_and_a_redelivery_runs_only_it() {
    let engine = engine(&[("actions", "snapshot:us-west-1;snapshot:eu-west-1")]);
    let source = file_guest(&engine, guests::ACTIONS);
    let pipeline = Pipeline::new(
        Arc::clone(&engine),
        source,
        FakeExecutor::default().failing("eu-west-1", false),
    )
    .with_ledger(MemoryLedger::new())
    .with_dead_letters(MemoryDeadLetters::new());
    let first = press(&pipeline, "req-1", &traced("trace-d")).await;
    assert_eq!(first.disposition, Disposition::DeadLettered);
    assert!(first.record.dead_lettered);
    assert_eq!(pipeline.dead_letters().sent().len(), 1);

    pipeline.executor().failing.lock().unwrap().clear();
    let again = press(&pipeline, "req-1", &traced("trace-d")).await;
    assert!(again.record.ok, "{:?}", again.failure);
    assert_eq!(again.record.ledger.outcome, LedgerOutcome::Resumed);
    assert_eq!(again.record.ledger.skipped_actions, 1);
    assert_eq!(
        pipeline.executor().ran(),
        [
            Action::snapshot("us-west-1"),
            Action::snapshot("eu-west-1"),
            Action::snapshot("eu-west-1")
        ]
    );
    let done = press(&pipeline, "req-1", &traced("trace-d")).await;
    assert_eq!(done.record.ledger.outcome, LedgerOutcome::Duplicate);
    assert_eq!(pipeline.executor().ran().len(), 3);
}

#[tokio::test]
async fn a_failed_guest_is_decided_again_on_retry() {
    // No decision was stored, so the retry runs the (possibly fixed) guest again.
    let engine = engine(&[]);
    let pipeline = ledgered(&engine, guests::FAIL, FakeExecutor::default());
    let first = press(&pipeline, "req-1", &traced("trace-g")).await;
    assert_eq!(first.disposition, Disposition::Fail);
    let second = press(&pipeline, "req-1", &traced("trace-g")).await;
    assert_eq!(second.record.ledger.outcome, LedgerOutcome::New);
    assert_eq!(second.record.ledger.attempt, Some(2));
    assert!(second.record.decision.is_some());
}

/// A ledger that cannot be reached.
struct Down;

impl Ledger for Down {
    fn is_on(&self) -> bool {
        true
    }
    async fn claim(&self, _: &str, _: u64, _: u64) -> Result<Claim, LedgerError> {
        Err(LedgerError::Unavailable {
            table: "presses".into(),
            message: "connection refused".into(),
        })
    }
    async fn claim_windowed(
        &self,
        _: &str,
        _: u64,
        _: u64,
        _: u64,
        _: &str,
    ) -> Result<Claim, LedgerError> {
        Err(LedgerError::Unavailable {
            table: "presses".into(),
            message: "connection refused".into(),
        })
    }
    async fn admit(
        &self,
        _: &clickrules_pipeline::DeviceKey,
        _: u32,
        _: u64,
    ) -> Result<bool, LedgerError> {
        Err(LedgerError::Unavailable {
            table: "presses".into(),
            message: "connection refused".into(),
        })
    }
    async fn load_state(
        &self,
        _: &clickrules_pipeline::DeviceKey,
    ) -> Result<clickrules_pipeline::StoredState, LedgerError> {
        Err(LedgerError::Unavailable {
            table: "presses".into(),
            message: "connection refused".into(),
        })
    }
    async fn commit(
        &self,
        _: &Lease,
        _: &PressRecord,
        _: Option<&clickrules_pipeline::StateCommit>,
    ) -> Result<(), LedgerError> {
        unreachable_ledger()
    }
    async fn outcome(
        &self,
        _: &Lease,
        _: usize,
        _: &OutcomeRecord,
        _: Option<(End, &PressRecord)>,
    ) -> Result<(), LedgerError> {
        unreachable_ledger()
    }
    async fn keep(&self, _: &PressRecord) -> Result<(), LedgerError> {
        Err(LedgerError::Unavailable {
            table: "presses".into(),
            message: "connection refused".into(),
        })
    }
    async fn end(&self, _: &Lease, _: End, _: &PressRecord) -> Result<(), LedgerError> {
        unreachable_ledger()
    }
}

fn unreachable_ledger() -> Result<(), LedgerError> {
    Err(LedgerError::Unavailable {
        table: "presses".into(),
        message: "connection refused".into(),
    })
}

#[tokio::test]
async fn an_unreachable_ledger_means_no_action_runs() {
    let engine = engine(&[]);
    let source = file_guest(&engine, guests::DEFAULT);
    let pipeline = Pipeline::new(engine, source, FakeExecutor::default()).with_ledger(Down);
    let result = press(&pipeline, "req-1", &single()).await;
    assert!(matches!(
        result.failure,
        Some(Failure::Ledger(LedgerError::Unavailable { .. }))
    ));
    assert_eq!(result.disposition, Disposition::Fail);
    assert!(pipeline.executor().ran().is_empty());
    assert!(
        result.record.decision.is_none(),
        "the guest did not run either"
    );
}

#[tokio::test]
async fn fixed_guests_say_where_they_came_from() {
    let engine = engine(&[]);
    let source = file_guest(&engine, guests::BY_CLICK);
    assert_eq!(source.current_guest().record.fetch, FetchKind::Fixed);
    assert!(matches!(
        FixedGuest::from_bytes(&engine, b"nope", "x.wasm"),
        Err(FixedGuestError { .. })
    ));
}

/// A press that fails before any action (here: notify without a topic) is dead-lettered once:
/// the stored record says so, and a redelivery is answered from the ledger.
#[tokio::test]
async fn a_press_failing_before_its_actions_is_dead_lettered_once() {
    let engine = engine(&[]);
    let source = file_guest(&engine, guests::BY_CLICK);
    let pipeline = Pipeline::new(engine, source, FakeExecutor::default())
        .with_ledger(MemoryLedger::new())
        .with_dead_letters(MemoryDeadLetters::new());
    let event =
        br#"{"serialNumber":"G030JF055364XVRB","clickType":"LONG","clickrules_trace_id":"trace-e"}"#
            .to_vec();
    let first = press(&pipeline, "req-1", &event).await;
    assert_eq!(first.disposition, Disposition::DeadLettered);
    let again = press(&pipeline, "req-1", &event).await;
    assert_eq!(again.disposition, Disposition::DeadLettered);
    assert_eq!(again.record.ledger.outcome, LedgerOutcome::Duplicate);
    assert_eq!(again.record.failure.as_ref().unwrap().kind, "preflight");
    assert_eq!(pipeline.dead_letters().sent().len(), 1);
}
