//! The press handler with a fake executor and fixed or failing guest sources: no AWS needed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use clickrules_engine::{Action, Engine, EngineConfig, PressError};
use clickrules_tests::{fixture, guest_bytes, guests};

use crate::executor::{ActionError, ActionExecutor, PreflightError, Receipt, check_topic};
use crate::guest_source::{CurrentGuest, FetchKind, FixedGuest, GuestSource, GuestSourceError};
use crate::handler::Handler;
use crate::object_store::FetchError;
use crate::record::Failure;
use crate::settings::OnGuestError;

/// Records every action it is asked to run; fails `snapshot` of the regions in `failing`.
#[derive(Default)]
struct FakeExecutor {
    topic: Option<String>,
    failing: Vec<String>,
    ran: Mutex<Vec<Action>>,
}

impl FakeExecutor {
    fn with_topic() -> Self {
        Self {
            topic: Some("arn:aws:sns:us-east-1:123456789012:presses".into()),
            ..Self::default()
        }
    }

    fn ran(&self) -> Vec<Action> {
        self.ran.lock().unwrap().clone()
    }
}

impl ActionExecutor for FakeExecutor {
    fn preflight(&self, actions: &[Action]) -> Result<(), PreflightError> {
        check_topic(actions, self.topic.as_deref())
    }

    async fn execute(&self, action: &Action) -> Result<Receipt, ActionError> {
        self.ran.lock().unwrap().push(action.clone());
        match action {
            Action::Snapshot { region } if self.failing.contains(region) => {
                Err(ActionError::FunctionError {
                    function: "scheduled_snapshot".into(),
                    error: "Unhandled".into(),
                    payload: format!("no volumes in {region}"),
                })
            }
            Action::Snapshot { .. } => Ok(Receipt::Invoked {
                function: "scheduled_snapshot".into(),
                qualifier: Some("prod".into()),
                invocation_type: "RequestResponse".into(),
                status_code: 200,
                executed_version: None,
            }),
            Action::Notify { .. } => Ok(Receipt::Published {
                topic_arn: self.topic.clone().unwrap_or_default(),
                message_id: Some("m-1".into()),
            }),
            Action::Ignore { .. } => Ok(Receipt::Logged),
        }
    }
}

/// A source that always fails, or serves a guest marked stale.
enum ScriptedSource {
    Missing,
    Stale(CurrentGuest),
}

impl GuestSource for ScriptedSource {
    async fn current(&self) -> Result<CurrentGuest, GuestSourceError> {
        match self {
            Self::Missing => Err(FetchError::NotFound {
                uri: "s3://guests/rule.wasm".into(),
                code: "NoSuchKey".into(),
            }
            .into()),
            Self::Stale(current) => Ok(current.clone()),
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

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn single_press_with_the_builtin_guest_runs_one_snapshot() {
    let engine = engine(&[]);
    let source = FixedGuest::builtin(&engine).unwrap();
    let handler =
        Handler::new(engine, source, FakeExecutor::default(), OnGuestError::Fail).unwrap();
    let record = block_on(handler.handle("req-1", &fixture("iot-button-single.json"))).unwrap();
    assert!(record.ok);
    assert_eq!(handler.executor().ran(), [Action::snapshot("us-west-1")]);
    assert_eq!(record.outcomes.len(), 1);
    assert!(record.outcomes[0].is_ok());
    assert_eq!(record.guest_fetch, Some(FetchKind::Fixed));

    let json: serde_json::Value = serde_json::from_str(&record.to_json()).unwrap();
    assert_eq!(json["request_id"], "req-1");
    assert_eq!(json["ok"], true);
    assert_eq!(json["guest"]["uri"], "builtin:default");
    assert_eq!(json["click"]["click_type"], serde_json::json!("SINGLE"));
    assert_eq!(json["actions"][0]["region"], "us-west-1");
    assert_eq!(json["outcomes"][0]["status"], "done");
    assert_eq!(json["outcomes"][0]["receipt"]["kind"], "invoked");
    assert!(json["failure"].is_null());
}

#[test]
fn notify_without_a_topic_fails_before_any_action_runs() {
    let engine = engine(&[]);
    let source = file_guest(&engine, guests::BY_CLICK);
    let handler =
        Handler::new(engine, source, FakeExecutor::default(), OnGuestError::Fail).unwrap();
    let failed = block_on(handler.handle("req-2", &fixture("iot-button-long.json"))).unwrap_err();
    assert!(
        matches!(
            failed.failure,
            Failure::Preflight(PreflightError::NoTopic { count: 1 })
        ),
        "{:?}",
        failed.failure
    );
    assert!(handler.executor().ran().is_empty());
    assert!(failed.record.outcomes.is_empty());
    assert!(!failed.record.ok);
}

#[test]
fn notify_with_a_topic_is_executed() {
    let engine = engine(&[]);
    let source = file_guest(&engine, guests::BY_CLICK);
    let handler = Handler::new(
        engine,
        source,
        FakeExecutor::with_topic(),
        OnGuestError::Fail,
    )
    .unwrap();
    let record = block_on(handler.handle("req-3", &fixture("iot-button-long.json"))).unwrap();
    let ran = handler.executor().ran();
    assert!(matches!(ran.as_slice(), [Action::Notify { .. }]), "{ran:?}");
    assert!(record.ok);
}

#[test]
fn a_failed_action_fails_the_press_and_the_others_still_run() {
    let engine = engine(&[(
        "actions",
        "snapshot:eu-west-1;snapshot:us-east-1;ignore:why",
    )]);
    let source = file_guest(&engine, guests::ACTIONS);
    let executor = FakeExecutor {
        failing: vec!["eu-west-1".into()],
        ..FakeExecutor::default()
    };
    let handler = Handler::new(engine, source, executor, OnGuestError::Fail).unwrap();
    let failed = block_on(handler.handle("req-4", &fixture("iot-button-single.json"))).unwrap_err();
    match &failed.failure {
        Failure::Actions {
            failed: 1,
            total: 3,
            first: ActionError::FunctionError { .. },
        } => {}
        other => panic!("expected one failed action of three, got {other:?}"),
    }
    assert_eq!(handler.executor().ran().len(), 3);
    let outcomes = &failed.record.outcomes;
    assert_eq!(
        outcomes.iter().map(|o| o.is_ok()).collect::<Vec<_>>(),
        [false, true, true]
    );
    let json: serde_json::Value = serde_json::from_str(&failed.record.to_json()).unwrap();
    assert_eq!(json["outcomes"][0]["status"], "failed");
    assert_eq!(json["outcomes"][0]["error"]["kind"], "function_error");
    assert_eq!(json["failure"]["kind"], "actions");
}

#[test]
fn a_failing_guest_fails_the_press_by_default() {
    let engine = engine(&[]);
    let source = file_guest(&engine, guests::FAIL);
    let handler =
        Handler::new(engine, source, FakeExecutor::default(), OnGuestError::Fail).unwrap();
    let failed = block_on(handler.handle("req-5", &fixture("iot-button-single.json"))).unwrap_err();
    assert!(
        matches!(
            failed.failure,
            Failure::Press(PressError::GuestError { .. })
        ),
        "{:?}",
        failed.failure
    );
    assert!(handler.executor().ran().is_empty());
    assert!(failed.record.fallback.is_none());
}

#[test]
fn on_guest_error_builtin_runs_the_builtin_guest_and_says_so() {
    for failing in [guests::FAIL, guests::TRAP] {
        let engine = engine(&[]);
        let source = file_guest(&engine, failing);
        let handler = Handler::new(
            engine,
            source,
            FakeExecutor::default(),
            OnGuestError::Builtin,
        )
        .unwrap();
        let record = block_on(handler.handle("req-6", &fixture("iot-button-single.json"))).unwrap();
        assert!(record.ok);
        assert_eq!(handler.executor().ran(), [Action::snapshot("us-west-1")]);
        let decision = record.decision.as_ref().unwrap();
        assert_eq!(decision.guest.uri.as_deref(), Some("builtin:default"));
        let fallback = record
            .fallback
            .as_ref()
            .expect("the record names the fallback");
        assert_eq!(fallback.failed_guest.uri.as_deref(), Some(failing));
        assert!(
            matches!(
                fallback.error,
                PressError::GuestError { .. } | PressError::Trap { .. }
            ),
            "{:?}",
            fallback.error
        );
    }
}

#[test]
fn a_bad_event_is_not_rescued_by_the_builtin_guest() {
    let engine = engine(&[]);
    let source = file_guest(&engine, guests::FAIL);
    let handler = Handler::new(
        engine,
        source,
        FakeExecutor::default(),
        OnGuestError::Builtin,
    )
    .unwrap();
    let failed = block_on(handler.handle("req-7", b"{\"clickType\":\"SINGLE\"}")).unwrap_err();
    assert!(
        matches!(failed.failure, Failure::Press(PressError::Event(_))),
        "{:?}",
        failed.failure
    );
    assert!(failed.record.fallback.is_none());
}

#[test]
fn no_guest_means_nothing_runs() {
    let engine = engine(&[]);
    let handler = Handler::new(
        engine,
        ScriptedSource::Missing,
        FakeExecutor::default(),
        OnGuestError::Builtin,
    )
    .unwrap();
    let failed = block_on(handler.handle("req-8", &fixture("iot-button-single.json"))).unwrap_err();
    assert!(
        matches!(
            failed.failure,
            Failure::GuestSource(GuestSourceError::Fetch(FetchError::NotFound { .. }))
        ),
        "{:?}",
        failed.failure
    );
    assert!(failed.record.decision.is_none());
    assert!(handler.executor().ran().is_empty());
}

#[test]
fn a_stale_guest_is_named_in_the_record() {
    let engine = engine(&[]);
    let mut current = FixedGuest::builtin(&engine).unwrap().guest().clone();
    current.fetch = FetchKind::Stale;
    current.stale = Some("HTTP 503".into());
    let handler = Handler::new(
        engine,
        ScriptedSource::Stale(current),
        FakeExecutor::default(),
        OnGuestError::Fail,
    )
    .unwrap();
    let record = block_on(handler.handle("req-9", &fixture("iot-button-single.json"))).unwrap();
    assert_eq!(record.guest_fetch, Some(FetchKind::Stale));
    assert_eq!(record.guest_stale.as_deref(), Some("HTTP 503"));
    let json: serde_json::Value = serde_json::from_str(&record.to_json()).unwrap();
    assert_eq!(json["guest_stale"], "HTTP 503");
    assert_eq!(json["guest_fetch"], "stale");
}
