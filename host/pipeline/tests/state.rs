//! Durable per-device state (contract 0.2.0) through the press pipeline, with the in-memory
//! ledger, which implements DynamoDB's conditional semantics: writes are committed with the
//! decision only if the press succeeds, a concurrent press of the same device that commits
//! first makes the press be decided again, and a retried press never writes twice.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use clickrules_engine::{
    Action, DeviceState, Engine, EngineConfig, PressError, StateChange, StateEntry,
};
use clickrules_pipeline::{
    ActionContext, ActionError, ActionTargets, DeviceKey, Disposition, DryRunExecutor, Executor,
    Failure, FixedGuest, LedgerOutcome, MemoryLedger, Pipeline, PreflightError, PressRequest,
    Receipt, SnapshotTarget,
};
use clickrules_tests::{guest_bytes, guests};

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:presses";
const SERIAL: &str = "G030JF055364XVRB";
/// 2026-01-15 12:00 UTC.
const T0: u64 = 1_768_478_400_000;

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

fn stateful(engine: &Engine) -> FixedGuest {
    FixedGuest::from_bytes(engine, &guest_bytes(guests::STATEFUL), "stateful.wasm").unwrap()
}

fn dry_run() -> DryRunExecutor {
    DryRunExecutor::new(ActionTargets {
        snapshot: SnapshotTarget::default(),
        topic_arn: Some(TOPIC.into()),
    })
}

fn event(click: &str) -> Vec<u8> {
    format!(r#"{{"serialNumber":"{SERIAL}","clickType":"{click}"}}"#).into_bytes()
}

fn device() -> DeviceKey {
    DeviceKey {
        source: "iot-button".into(),
        device: SERIAL.into(),
    }
}

fn request<'a>(id: &'a str, event: &'a [u8], at_ms: u64) -> PressRequest<'a> {
    PressRequest {
        received_at_ms: Some(at_ms),
        ..PressRequest::new(id, event)
    }
}

fn ignored(actions: &[Action]) -> String {
    match actions {
        [Action::Ignore { reason }] => reason.clone(),
        other => panic!("expected one ignore, got {other:?}"),
    }
}

#[tokio::test]
async fn a_counter_counts_across_presses_and_the_record_shows_the_state_use() {
    let engine = engine(&[]);
    let pipeline = Pipeline::new(engine.clone(), stateful(&engine), dry_run())
        .with_ledger(MemoryLedger::new());
    let single = event("SINGLE");
    for n in 1..=3u64 {
        let id = format!("press-{n}");
        let result = pipeline.press(request(&id, &single, T0)).await;
        assert!(result.record.ok, "{:?}", result.failure);
        let reason = ignored(result.record.actions());
        assert!(reason.starts_with(&format!("count {n}: ")), "{reason}");
        assert!(
            reason.ends_with(&format!("via iot-button press {id} offset 0 pct None")),
            "{reason}"
        );
        let state = result.record.state.as_ref().expect("state record");
        assert_eq!(state.device, format!("iot-button#{SERIAL}"));
        assert_eq!(state.version, n - 1);
        assert_eq!(state.read, ["count"]);
        assert_eq!(state.writes.len(), 1);
        assert!(state.committed);
        assert_eq!(state.attempts, 1);
        let guest = result.record.guest.as_ref().unwrap();
        assert_eq!(guest.contract, "0.2.0");
        assert!(guest.uses_state);
    }
    let stored = pipeline.ledger().state(&device());
    assert_eq!(stored.version, 3);
    assert_eq!(stored.state.entries["count"].value, "3");

    // The logged line carries the keys and writes, not the whole state read.
    let result = pipeline.press(request("press-4", &single, T0)).await;
    let line: serde_json::Value = serde_json::from_str(&result.record.to_json()).unwrap();
    assert_eq!(line["state"]["read"][0], "count");
    assert_eq!(line["state"]["writes"][0]["op"], "set");
    assert_eq!(line["state"]["writes"][0]["value"], "4");
}

#[tokio::test]
async fn a_press_reads_its_own_writes() {
    let engine = engine(&[("mode", "read-own-writes")]);
    let ledger = MemoryLedger::new();
    let pipeline = Pipeline::new(engine.clone(), stateful(&engine), dry_run()).with_ledger(ledger);
    let result = pipeline.press(request("p", &event("SINGLE"), T0)).await;
    assert!(result.record.ok, "{:?}", result.failure);
    assert_eq!(ignored(result.record.actions()), r#"Some("v1") then None"#);
    // Set then deleted: the committed state has no key.
    let stored = pipeline.ledger().state(&device());
    assert!(stored.state.entries.is_empty(), "{stored:?}");
}

#[tokio::test]
async fn a_failed_or_rejected_press_commits_nothing() {
    let single = event("SINGLE");
    // The guest writes, then returns an error.
    let engine = engine(&[("mode", "fail-after-write")]);
    let pipeline = Pipeline::new(engine.clone(), stateful(&engine), dry_run())
        .with_ledger(MemoryLedger::new());
    let result = pipeline.press(request("p1", &single, T0)).await;
    assert!(
        matches!(
            result.failure,
            Some(Failure::Press(PressError::GuestError { .. }))
        ),
        "{:?}",
        result.failure
    );
    assert!(!result.record.state.as_ref().unwrap().committed);
    assert_eq!(pipeline.ledger().state(&device()).version, 0);

    // The guest counts and notifies, and the deployment has no topic: rejected before any
    // action, so the count is not committed either.
    let engine = self::engine(&[("mode", "notify")]);
    let pipeline = Pipeline::new(
        engine.clone(),
        stateful(&engine),
        DryRunExecutor::new(ActionTargets::default()),
    )
    .with_ledger(MemoryLedger::new());
    let result = pipeline.press(request("p2", &single, T0)).await;
    assert!(
        matches!(
            result.failure,
            Some(Failure::Preflight(PreflightError::NoTopic { .. }))
        ),
        "{:?}",
        result.failure
    );
    assert_eq!(pipeline.ledger().state(&device()).version, 0);
}

#[tokio::test]
async fn a_state_limit_fails_the_press_with_a_typed_error_and_commits_nothing() {
    let single = event("SINGLE");
    for mode in ["over-limit", "over-limit-err"] {
        let engine = engine(&[("mode", mode)]);
        let pipeline = Pipeline::new(engine.clone(), stateful(&engine), dry_run())
            .with_ledger(MemoryLedger::new());
        let result = pipeline.press(request("p", &single, T0)).await;
        match (&result.failure, mode) {
            // `set` returned the error and the guest returned ok anyway.
            (Some(f @ Failure::Press(PressError::StateLimit { message })), "over-limit") => {
                assert!(message.contains("5000 bytes"), "{message}");
                assert!(message.contains("4096"), "{message}");
                // The same state gives the same press: no retry can help.
                assert!(!f.is_retryable());
            }
            // The guest passed the error on.
            (Some(Failure::Press(PressError::GuestError { message })), "over-limit-err") => {
                assert!(message.contains("4096"), "{message}");
            }
            (other, _) => panic!("{mode}: {other:?}"),
        }
        assert!(result.record.actions().is_empty());
        assert_eq!(pipeline.ledger().state(&device()).version, 0, "{mode}");
    }
}

#[tokio::test]
async fn keys_expire_at_their_ttl_against_the_press_time() {
    let engine = engine(&[("mode", "ttl"), ("ttl", "60")]);
    let pipeline = Pipeline::new(engine.clone(), stateful(&engine), dry_run())
        .with_ledger(MemoryLedger::new());
    let single = event("SINGLE");
    let at = |id: &'static str, ms: u64| {
        let pipeline = &pipeline;
        let single = &single;
        async move {
            let result = pipeline.press(request(id, single, ms)).await;
            assert!(result.record.ok, "{:?}", result.failure);
            ignored(result.record.actions())
        }
    };
    assert_eq!(at("t0", T0).await, "cooling false");
    assert_eq!(at("t30", T0 + 30_000).await, "cooling true");
    assert_eq!(at("t59", T0 + 59_999).await, "cooling true");
    // Expired at T0 + 60 s, although nothing deleted it.
    assert_eq!(at("t60", T0 + 60_000).await, "cooling false");
    let stored = pipeline.ledger().state(&device());
    assert_eq!(
        stored.state.entries["cooldown"].expires_at_ms,
        Some(T0 + 120_000)
    );
}

#[tokio::test]
async fn expired_keys_are_dropped_on_the_next_write() {
    let engine = engine(&[]);
    let ledger = MemoryLedger::new();
    let mut seeded = DeviceState::default();
    seeded.entries.insert(
        "old".into(),
        StateEntry {
            value: "x".into(),
            expires_at_ms: Some(T0 - 1),
        },
    );
    ledger.seed_state(device(), seeded);
    let pipeline = Pipeline::new(engine.clone(), stateful(&engine), dry_run()).with_ledger(ledger);
    let result = pipeline.press(request("p", &event("SINGLE"), T0)).await;
    assert!(result.record.ok, "{:?}", result.failure);
    let stored = pipeline.ledger().state(&device());
    assert_eq!(
        stored.state.entries.keys().collect::<Vec<_>>(),
        ["count"],
        "{stored:?}"
    );
}

#[tokio::test]
async fn a_guest_that_uses_state_needs_a_ledger() {
    let engine = engine(&[]);
    let pipeline = Pipeline::new(engine.clone(), stateful(&engine), dry_run());
    let result = pipeline.press(request("p", &event("SINGLE"), T0)).await;
    match &result.failure {
        Some(f @ Failure::StateUnavailable { guest }) => {
            assert_eq!(guest, "stateful.wasm");
            assert!(f.to_string().contains("CLICKRULES_LEDGER_TABLE"), "{f}");
            assert!(!f.is_retryable());
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_0_1_guest_and_a_0_2_guest_run_side_by_side() {
    let engine = engine(&[]);
    let ledger = Arc::new(MemoryLedger::new());
    let old = Pipeline::new(
        engine.clone(),
        FixedGuest::builtin(&engine).unwrap(),
        dry_run(),
    )
    .with_ledger(Arc::clone(&ledger));
    let new = Pipeline::new(engine.clone(), stateful(&engine), dry_run())
        .with_ledger(Arc::clone(&ledger));
    let single = event("SINGLE");
    for n in 1..=2 {
        let a = old.press(request(&format!("old-{n}"), &single, T0)).await;
        assert!(a.record.ok);
        assert_eq!(a.record.actions(), [Action::snapshot("us-west-1")]);
        assert_eq!(a.record.guest.as_ref().unwrap().contract, "0.1.0");
        assert!(a.record.state.is_none());
        let b = new.press(request(&format!("new-{n}"), &single, T0)).await;
        assert!(b.record.ok);
        assert!(ignored(b.record.actions()).starts_with(&format!("count {n}:")));
    }
}

/// Presses of one device, all at once: each that fails with `state_conflict` is delivered
/// again, as AWS retries a failed asynchronous invocation, until it succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_presses_of_one_device_count_to_twenty() {
    let engine = engine(&[]);
    let pipeline = Arc::new(
        Pipeline::new(engine.clone(), stateful(&engine), dry_run())
            .with_ledger(MemoryLedger::new()),
    );
    let conflicts = Arc::new(Mutex::new(0u32));
    let tasks: Vec<_> = (0..20)
        .map(|n| {
            let pipeline = Arc::clone(&pipeline);
            let conflicts = Arc::clone(&conflicts);
            tokio::spawn(async move {
                let single = event("SINGLE");
                let id = format!("press-{n}");
                for delivery in 1..=50 {
                    let request_id = format!("{id}-delivery-{delivery}");
                    let result = pipeline
                        .press(PressRequest {
                            press_id: Some(&id),
                            ..request(&request_id, &single, T0)
                        })
                        .await;
                    match result.failure {
                        None => return,
                        Some(Failure::StateConflict { attempts, .. }) => {
                            assert_eq!(attempts, clickrules_pipeline::MAX_STATE_ATTEMPTS);
                            *conflicts.lock().unwrap() += 1;
                        }
                        Some(other) => panic!("press {n}: {other}"),
                    }
                }
                panic!("press {n} never succeeded");
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let stored = pipeline.ledger().state(&device());
    assert_eq!(stored.state.entries["count"].value, "20", "{stored:?}");
    assert_eq!(stored.version, 20);
    // Every press is complete in the ledger: a redelivery is a duplicate and counts nothing.
    let again = pipeline
        .press(PressRequest {
            press_id: Some("press-0"),
            ..request("late", &event("SINGLE"), T0)
        })
        .await;
    assert_eq!(again.record.ledger.outcome, LedgerOutcome::Duplicate);
    assert_eq!(
        pipeline.ledger().state(&device()).state.entries["count"].value,
        "20"
    );
}

/// Fails `notify` retryably the first time, as a throttled SNS would.
#[derive(Default)]
struct FlakyNotify {
    calls: Mutex<Vec<&'static str>>,
}

impl Executor for FlakyNotify {
    fn executes(&self) -> bool {
        true
    }

    fn preflight(&self, _: &[Action]) -> Result<(), PreflightError> {
        Ok(())
    }

    async fn execute(&self, action: &Action, _: ActionContext<'_>) -> Result<Receipt, ActionError> {
        let mut calls = self.calls.lock().unwrap();
        match action {
            Action::Snapshot { .. } => {
                calls.push("snapshot");
                Ok(Receipt::Logged)
            }
            Action::Notify { .. } => {
                calls.push("notify");
                if calls.iter().filter(|c| **c == "notify").count() == 1 {
                    Err(ActionError::Throttled {
                        operation: "sns:Publish",
                        message: "Rate exceeded".into(),
                    })
                } else {
                    Ok(Receipt::Logged)
                }
            }
            Action::Ignore { .. } => Ok(Receipt::Logged),
        }
    }
}

#[tokio::test]
async fn a_retried_press_applies_its_writes_once() {
    let engine = engine(&[("mode", "notify")]);
    let pipeline = Pipeline::new(engine.clone(), stateful(&engine), FlakyNotify::default())
        .with_ledger(MemoryLedger::new());
    let single = event("SINGLE");
    let first = pipeline
        .press(PressRequest {
            press_id: Some("press-1"),
            ..request("req-1", &single, T0)
        })
        .await;
    assert_eq!(first.disposition, Disposition::Fail);
    assert!(first.failure.as_ref().unwrap().is_retryable());
    // The decision and its write were committed before the actions ran.
    assert_eq!(pipeline.ledger().state(&device()).version, 1);

    // AWS retries the same press: only the notification runs, and the count is not bumped.
    let retry = pipeline
        .press(PressRequest {
            press_id: Some("press-1"),
            ..request("req-1", &single, T0 + 60_000)
        })
        .await;
    assert!(retry.record.ok, "{:?}", retry.failure);
    assert_eq!(retry.record.ledger.outcome, LedgerOutcome::Resumed);
    assert_eq!(
        *pipeline.executor().calls.lock().unwrap(),
        ["snapshot", "notify", "notify"]
    );
    let stored = pipeline.ledger().state(&device());
    assert_eq!(stored.version, 1);
    assert_eq!(stored.state.entries["count"].value, "1");
    // The record is the one decided the first time, state and all.
    let state = retry.record.state.as_ref().unwrap();
    assert!(matches!(
        &state.writes[0].change,
        StateChange::Set { value, .. } if value == "1"
    ));
}

#[tokio::test]
async fn the_state_path_costs_one_read_and_one_write_per_press() {
    let engine = engine(&[]);
    let no_limit = clickrules_pipeline::PressPolicy {
        rate_limit_per_minute: 0,
        ..Default::default()
    };
    let pipeline = Pipeline::new(engine.clone(), stateful(&engine), dry_run())
        .with_ledger(MemoryLedger::new())
        .with_policy(no_limit);
    let before = pipeline.ledger().requests();
    let result = pipeline.press(request("p", &event("SINGLE"), T0)).await;
    assert!(result.record.ok);
    // claim, state read, decision + state commit, end (the same as a press without state,
    // plus the one read; the rate limit, when on, adds its one count).
    assert_eq!(pipeline.ledger().requests() - before, 4);
}
