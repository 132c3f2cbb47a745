//! Replay and shadow runs: a press replayed from its record sees exactly what it saw (wall
//! clock, random bytes, settings, state), and a shadow guest decides every press beside the
//! active one without ever changing its outcome: its actions never run, its state is never
//! committed, and a shadow that traps, loops or differs is only recorded, within its budget.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use clickrules_engine::{Action, Engine, EngineConfig};
use clickrules_pipeline::{
    ActionTargets, DeviceKey, DryRunExecutor, FixedGuest, MemoryLedger, Pipeline, PressRecord,
    PressRequest, ReplayCase,
};
use clickrules_tests::{guest_bytes, guests};

const SINGLE: &[u8] = br#"{"serialNumber":"G030SHADOW000001","clickType":"SINGLE"}"#;
const DOUBLE: &[u8] = br#"{"serialNumber":"G030SHADOW000001","clickType":"DOUBLE"}"#;

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

fn fixed(engine: &Engine, path: &str) -> FixedGuest {
    FixedGuest::from_bytes(engine, &guest_bytes(path), path).unwrap()
}

fn dry_run() -> DryRunExecutor {
    DryRunExecutor::new(ActionTargets::default())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn ignore_reason(record: &PressRecord) -> String {
    record
        .actions()
        .iter()
        .find_map(|a| match a {
            Action::Ignore { reason } => Some(reason.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no ignore action in {:?}", record.actions()))
}

#[tokio::test]
async fn a_replayed_press_sees_the_same_clock_and_random_bytes() {
    let engine = engine(&[("call", "seen")]);
    let guest = fixed(&engine, guests::WASI_CALLS);
    let pipeline = Pipeline::new(Arc::clone(&engine), guest, dry_run());
    let at = 1_767_225_600_123;
    let first = pipeline
        .press(PressRequest {
            received_at_ms: Some(at),
            ..PressRequest::new("r-1", SINGLE)
        })
        .await
        .record;
    let second = pipeline
        .press(PressRequest {
            received_at_ms: Some(at),
            ..PressRequest::new("r-2", SINGLE)
        })
        .await
        .record;
    let seen = ignore_reason(&first);
    // The guest's wall clock reads the press's own time.
    assert!(seen.starts_with("wall 1767225600.123000000 "), "{seen}");
    // Two live presses get their own seeds, so their own random bytes.
    assert_ne!(seen, ignore_reason(&second));
    let replay = first.replay.as_ref().expect("the seed is recorded");
    assert_eq!(
        replay.settings.get("call").map(String::as_str),
        Some("seen")
    );

    // Replayed on another engine whose own settings differ: the press's settings, seed and
    // click go in, so the guest sees exactly what it saw.
    let other = self::engine(&[("call", "sleep")]);
    let loaded = other.load(&guest_bytes(guests::WASI_CALLS)).unwrap();
    let case = ReplayCase::from_record(&first).expect("a guest decided this press");
    assert!(case.exact);
    let verdict = case.run(&other, &loaded);
    assert_eq!(verdict.actions, first.actions());
    assert_eq!(verdict.error, None);
}

#[tokio::test]
async fn a_shadow_that_decides_differently_is_recorded_and_never_executed() {
    let engine = engine(&[]);
    let pipeline = Pipeline::new(
        Arc::clone(&engine),
        FixedGuest::builtin(&engine).unwrap(),
        dry_run(),
    )
    .with_shadow(Some(fixed(&engine, guests::BY_CLICK)));
    let single = pipeline
        .press(PressRequest::new("s-1", SINGLE))
        .await
        .record;
    let double = pipeline
        .press(PressRequest::new("s-2", DOUBLE))
        .await
        .record;
    for record in [&single, &double] {
        assert!(record.ok, "{record:?}");
        // The active guest's decision is what ran: one snapshot of us-west-1.
        assert_eq!(
            record.actions(),
            [Action::Snapshot {
                region: "us-west-1".into()
            }]
        );
        assert_eq!(record.outcomes.len(), 1);
        let shadow = record.shadow.as_ref().expect("the shadow ran");
        assert!(shadow.guest.as_ref().unwrap().uri.contains("by"));
        assert!(shadow.budget_ms > 0);
    }
    let (s, d) = (single.shadow.unwrap(), double.shadow.unwrap());
    // by-click backs up us-west-1 on SINGLE too, and does something else on DOUBLE.
    assert!(!s.differs, "{s:?}");
    assert!(d.differs, "{d:?}");
    assert_ne!(
        d.verdict.actions,
        [Action::Snapshot {
            region: "us-west-1".into()
        }]
    );
}

#[tokio::test]
async fn a_trapping_shadow_changes_nothing_in_the_real_press() {
    let engine = engine(&[]);
    let pipeline = Pipeline::new(
        Arc::clone(&engine),
        FixedGuest::builtin(&engine).unwrap(),
        dry_run(),
    )
    .with_shadow(Some(fixed(&engine, guests::TRAP)));
    let result = pipeline.press(PressRequest::new("t-1", SINGLE)).await;
    assert!(result.record.ok);
    assert!(result.failure.is_none());
    let shadow = result.record.shadow.unwrap();
    assert!(shadow.differs);
    assert_eq!(shadow.verdict.error.as_deref(), Some("trap"));
}

#[tokio::test]
async fn a_looping_shadow_is_stopped_within_its_budget_before_the_deadline() {
    let engine = engine(&[]);
    let pipeline = Pipeline::new(
        Arc::clone(&engine),
        FixedGuest::builtin(&engine).unwrap(),
        dry_run(),
    )
    .with_shadow(Some(fixed(&engine, guests::SPIN)));
    let deadline = now_ms() + 600;
    let result = pipeline
        .press(PressRequest {
            deadline_ms: Some(deadline),
            ..PressRequest::new("l-1", SINGLE)
        })
        .await;
    // The real press is done, and done before its deadline.
    assert!(result.record.ok);
    assert!(now_ms() < deadline, "the press ran past its deadline");
    let shadow = result.record.shadow.unwrap();
    assert_eq!(shadow.verdict.error.as_deref(), Some("deadline"));
    // At most half the time that was left, so the actions after it keep theirs.
    assert!(shadow.budget_ms <= 300, "{shadow:?}");
}

#[tokio::test]
async fn a_shadow_reads_the_devices_state_and_never_commits_its_writes() {
    let engine = engine(&[]);
    let ledger = Arc::new(MemoryLedger::new());
    // The active guest keeps no state; the shadow counts presses in state.
    let pipeline = Pipeline::new(
        Arc::clone(&engine),
        FixedGuest::builtin(&engine).unwrap(),
        dry_run(),
    )
    .with_ledger(Arc::clone(&ledger))
    .with_shadow(Some(fixed(&engine, guests::STATEFUL)));
    let first = pipeline
        .press(PressRequest::new("c-1", SINGLE))
        .await
        .record;
    let second = pipeline
        .press(PressRequest::new("c-2", SINGLE))
        .await
        .record;
    for record in [&first, &second] {
        let shadow = record.shadow.as_ref().unwrap();
        assert!(shadow.differs);
        assert_eq!(shadow.verdict.state_writes.len(), 1, "{shadow:?}");
        assert!(ignore_reason_of(&shadow.verdict.actions).starts_with("count 1: "));
    }
    let device = DeviceKey {
        source: "iot-button".into(),
        device: "G030SHADOW000001".into(),
    };
    assert_eq!(
        ledger.state(&device).version,
        0,
        "the shadow's write was committed"
    );
}

fn ignore_reason_of(actions: &[Action]) -> String {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Ignore { reason } => Some(reason.clone()),
            _ => None,
        })
        .unwrap_or_default()
}
