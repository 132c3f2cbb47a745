//! Button sources through the press pipeline, with the in-memory ledger and the built-in
//! default guest (every press snapshots us-west-1): device counters as press ids (a broker
//! redelivery with a new trace id is still one press; a counter reused after the dedupe window
//! is a new one), frames with several presses, messages that are no press, the device
//! allow-list, the per-device rate limit, and an event that matches no source.

use std::sync::{Arc, Mutex};

use clickrules_engine::{
    Action, Engine, EngineConfig, EventError, EventFormat, PressError, SkipKind,
};
use clickrules_pipeline::{
    ActionContext, ActionError, ActionTargets, AllowedDevices, Delivery, Disposition, Executor,
    Failure, FixedGuest, LedgerOutcome, MemoryDeadLetters, MemoryLedger, Pipeline, PreflightError,
    PressPolicy, PressRequest, Receipt, SnapshotTarget,
};

/// 2026-01-15 12:00:00 UTC: the start of a minute.
const T0: u64 = 1_768_478_400_000;
const BUTTON: &str = "shellybutton1-A4CF12F45174";

/// Records every action it is asked to run, with the press it belongs to.
#[derive(Default)]
struct Recorder {
    ran: Mutex<Vec<(Action, String)>>,
    /// How many of the next actions fail retryably.
    failing: Mutex<u32>,
}

impl Recorder {
    fn count(&self) -> usize {
        self.ran.lock().unwrap().len()
    }

    fn press_ids(&self) -> Vec<String> {
        self.ran
            .lock()
            .unwrap()
            .iter()
            .map(|(_, id)| id.clone())
            .collect()
    }

    fn actions(&self) -> Vec<Action> {
        self.ran
            .lock()
            .unwrap()
            .iter()
            .map(|(a, _)| a.clone())
            .collect()
    }
}

impl Executor for Recorder {
    fn executes(&self) -> bool {
        true
    }

    fn preflight(&self, actions: &[Action]) -> Result<(), PreflightError> {
        ActionTargets {
            snapshot: SnapshotTarget::default(),
            topic_arn: None,
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
            .push((action.clone(), cx.press_id.to_string()));
        {
            let mut failing = self.failing.lock().unwrap();
            if *failing > 0 {
                *failing -= 1;
                return Err(ActionError::Unavailable {
                    operation: "lambda:Invoke",
                    message: "HTTP 503".into(),
                });
            }
        }
        Ok(Receipt::Invoked {
            function: "scheduled_snapshot".into(),
            qualifier: Some("prod".into()),
            invocation_type: "RequestResponse".into(),
            status_code: 200,
            executed_version: None,
        })
    }
}

type SourcePipeline =
    Pipeline<FixedGuest, Recorder, MemoryLedger, MemoryDeadLetters, clickrules_pipeline::NoSink>;

fn pipeline(policy: PressPolicy) -> SourcePipeline {
    let engine = Arc::new(Engine::new(EngineConfig::default()).unwrap());
    let source = FixedGuest::builtin(&engine).unwrap();
    Pipeline::new(engine, source, Recorder::default())
        .with_ledger(MemoryLedger::new())
        .with_dead_letters(MemoryDeadLetters::new())
        .with_policy(policy)
}

fn default_pipeline() -> SourcePipeline {
    pipeline(PressPolicy::default())
}

fn fixture(path: &str) -> Vec<u8> {
    let full = format!(
        "{}/../../tests/fixtures/sources/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// A Shelly Gen1 `input_event` message as the topic rule delivers it.
fn gen1(device: &str, input: u32, event: &str, count: u64, trace: &str) -> Vec<u8> {
    format!(
        r#"{{"event":"{event}","event_cnt":{count},"clickrules_topic":"shellies/{device}/input_event/{input}","clickrules_trace_id":"{trace}"}}"#
    )
    .into_bytes()
}

/// A classic AWS IoT button press with a trace id.
fn iot_button(serial: &str, trace: &str) -> Vec<u8> {
    format!(r#"{{"serialNumber":"{serial}","clickType":"SINGLE","clickrules_trace_id":"{trace}"}}"#)
        .into_bytes()
}

async fn deliver(pipeline: &SourcePipeline, request_id: &str, event: &[u8], at: u64) -> Delivery {
    pipeline
        .deliver(PressRequest {
            received_at_ms: Some(at),
            ..PressRequest::new(request_id, event)
        })
        .await
}

fn failure_kind(delivery: &Delivery) -> Option<&'static str> {
    delivery.main().failure.as_ref().map(Failure::kind)
}

fn gen1_counter(device: &str, input: u32, count: u64) -> String {
    format!("shelly-gen1:{device}:{input}:{count}")
}

// 1. A QoS-1 redelivery from the broker carries a new trace id, and the same device counter.
#[tokio::test]
async fn a_broker_redelivery_with_a_new_trace_id_runs_once() {
    let p = default_pipeline();
    let first = deliver(&p, "req-1", &gen1(BUTTON, 0, "S", 2, "trace-a"), T0).await;
    let again = deliver(&p, "req-2", &gen1(BUTTON, 0, "S", 2, "trace-b"), T0 + 1_500).await;

    assert_eq!(first.presses.len(), 1);
    let first = &first.presses[0];
    assert!(first.record.ok, "{:?}", first.failure);
    assert_eq!(first.disposition, Disposition::Done);
    assert_eq!(first.record.press_id, gen1_counter(BUTTON, 0, 2));
    assert!(first.record.device_counter);
    assert_eq!(first.record.ledger.outcome, LedgerOutcome::New);
    assert_eq!(first.record.event_format, Some(EventFormat::ShellyGen1));
    let click = first.record.click.as_ref().unwrap();
    assert_eq!(click.serial_number, BUTTON);
    assert_eq!(click.press_id, gen1_counter(BUTTON, 0, 2));

    assert_eq!(again.presses.len(), 1);
    assert_eq!(again.disposition, Disposition::Done);
    let again = &again.presses[0];
    assert!(again.failure.is_none(), "{:?}", again.failure);
    assert_eq!(again.record.ledger.outcome, LedgerOutcome::Duplicate);
    assert_eq!(again.record.request_id, "req-2");
    assert_eq!(again.record.press_id, gen1_counter(BUTTON, 0, 2));
    assert!(again.record.device_counter);

    assert_eq!(p.executor().actions(), [Action::snapshot("us-west-1")]);
    assert_eq!(p.executor().press_ids(), [gen1_counter(BUTTON, 0, 2)]);
}

// 2. The device counted a new press: the same gesture runs again.
#[tokio::test]
async fn a_new_event_count_is_a_new_press() {
    let p = default_pipeline();
    let a = deliver(&p, "req-1", &gen1(BUTTON, 0, "S", 2, "trace-a"), T0).await;
    let b = deliver(&p, "req-2", &gen1(BUTTON, 0, "S", 3, "trace-b"), T0 + 2_000).await;
    assert!(a.main().record.ok && b.main().record.ok);
    assert_eq!(b.main().record.ledger.outcome, LedgerOutcome::New);
    assert_eq!(
        p.executor().press_ids(),
        [gen1_counter(BUTTON, 0, 2), gen1_counter(BUTTON, 0, 3)]
    );
    // Two inputs of an i3 counting the same number are two devices' presses.
    let c = deliver(&p, "req-3", &gen1(BUTTON, 1, "S", 3, "trace-c"), T0 + 3_000).await;
    assert_eq!(c.main().record.ledger.outcome, LedgerOutcome::New);
    assert_eq!(p.executor().count(), 3);
}

// 3. Counters wrap and reset on reboot: the same count long after is a new press.
#[tokio::test]
async fn a_counter_seen_again_after_the_dedupe_window_is_a_new_press() {
    let event = gen1(BUTTON, 0, "S", 7, "trace-a");
    let later = gen1(BUTTON, 0, "S", 7, "trace-b");

    // Within the default 60 s window, up to its end: a redelivery.
    let p = default_pipeline();
    deliver(&p, "req-1", &event, T0).await;
    for (i, after) in [59_000, 60_000].into_iter().enumerate() {
        let d = deliver(&p, &format!("dup-{i}"), &later, T0 + after).await;
        assert_eq!(
            d.main().record.ledger.outcome,
            LedgerOutcome::Duplicate,
            "{after} ms later"
        );
        assert_eq!(d.disposition, Disposition::Done);
    }
    assert_eq!(p.executor().count(), 1);

    // 61 s later: the counter came round again.
    let p = default_pipeline();
    deliver(&p, "req-1", &event, T0).await;
    let d = deliver(&p, "req-2", &later, T0 + 61_000).await;
    let result = d.main();
    assert!(result.record.ok, "{:?}", result.failure);
    assert_eq!(result.record.ledger.outcome, LedgerOutcome::New);
    assert_eq!(result.record.ledger.attempt, Some(1));
    assert!(result.record.device_counter);
    assert_eq!(p.executor().count(), 2);
    // The new press replaced the old one: its redelivery is its duplicate.
    let stored = p.ledger().record(&gen1_counter(BUTTON, 0, 7)).unwrap();
    assert_eq!(stored.click.unwrap().received_at_ms, T0 + 61_000);
    let d = deliver(&p, "req-3", &later, T0 + 62_000).await;
    assert_eq!(d.main().record.ledger.outcome, LedgerOutcome::Duplicate);
    assert_eq!(p.executor().count(), 2);

    // A custom window of 10 s.
    let p = pipeline(PressPolicy {
        dedupe_window_ms: 10_000,
        ..PressPolicy::default()
    });
    deliver(&p, "req-1", &event, T0).await;
    let d = deliver(&p, "req-2", &later, T0 + 9_000).await;
    assert_eq!(d.main().record.ledger.outcome, LedgerOutcome::Duplicate);
    assert_eq!(p.executor().count(), 1);
    let d = deliver(&p, "req-3", &later, T0 + 9_000 + 11_000).await;
    assert_eq!(d.main().record.ledger.outcome, LedgerOutcome::New);
    assert_eq!(p.executor().count(), 2);
}

/// A press that failed and was left open for a retry is resumed by its retry, however late
/// (AWS retries an async invocation after a minute and more): only complete presses are
/// replaced after the window.
#[tokio::test]
async fn a_late_retry_of_a_failed_press_resumes_it_instead_of_starting_over() {
    let p = default_pipeline();
    *p.executor().failing.lock().unwrap() = 1;
    let event = gen1(BUTTON, 0, "L", 9, "trace-a");
    let first = deliver(&p, "req-1", &event, T0).await;
    assert_eq!(first.disposition, Disposition::Fail);
    assert_eq!(failure_kind(&first), Some("actions"));
    let retry = deliver(&p, "req-1", &event, T0 + 3 * 60_000).await;
    let result = retry.main();
    assert!(result.record.ok, "{:?}", result.failure);
    assert_eq!(result.record.ledger.outcome, LedgerOutcome::Resumed);
    assert_eq!(result.record.ledger.attempt, Some(2));
    // The click is the one first decided.
    assert_eq!(result.record.click.as_ref().unwrap().received_at_ms, T0);
    assert_eq!(p.executor().count(), 2);
}

// 4. A Shelly Gen2 frame with two push events carries two presses.
#[tokio::test]
async fn a_gen2_frame_with_two_pushes_is_two_presses_and_its_redelivery_none() {
    let p = default_pipeline();
    let frame = fixture("shelly-gen2/plusi4-two-events.json");
    let d = deliver(&p, "req-1", &frame, T0).await;
    assert_eq!(d.disposition, Disposition::Done);
    assert_eq!(d.presses.len(), 2);
    let ids: Vec<&str> = d
        .presses
        .iter()
        .map(|r| r.record.press_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "shelly-gen2:shellyplusi4-a8032ab1fe78:input:0:single_push:1691055970.02",
            "shelly-gen2:shellyplusi4-a8032ab1fe78:input:1:long_push:1691055970.05",
        ]
    );
    for r in &d.presses {
        assert!(r.record.ok, "{:?}", r.failure);
        assert!(r.record.device_counter);
        assert_eq!(r.record.ledger.outcome, LedgerOutcome::New);
        assert_eq!(r.record.request_id, "req-1");
    }
    let serials: Vec<String> = d
        .presses
        .iter()
        .map(|r| r.record.click.as_ref().unwrap().serial_number.clone())
        .collect();
    assert_eq!(
        serials,
        [
            "shellyplusi4-a8032ab1fe78",
            "shellyplusi4-a8032ab1fe78:input:1"
        ]
    );
    assert_eq!(p.executor().count(), 2);
    assert_eq!(p.executor().press_ids(), ids);

    // The same frame again: both presses answered from the ledger.
    let again = deliver(&p, "req-2", &frame, T0 + 3_000).await;
    assert_eq!(again.disposition, Disposition::Done);
    assert_eq!(again.presses.len(), 2);
    for r in &again.presses {
        assert_eq!(r.record.ledger.outcome, LedgerOutcome::Duplicate);
        assert!(r.failure.is_none(), "{:?}", r.failure);
    }
    assert_eq!(p.executor().count(), 2);
}

#[tokio::test]
async fn a_gen2_frame_with_an_edge_and_a_push_is_one_press_listing_the_edge() {
    let p = default_pipeline();
    let frame = br#"{"src":"shellyplusi4-a8032ab1fe78","dst":"shellyplusi4-a8032ab1fe78/events","method":"NotifyEvent","params":{"ts":1691055980.10,"events":[{"component":"input:2","id":2,"event":"btn_down","ts":1691055980.10},{"component":"input:0","id":0,"event":"single_push","ts":1691055980.40}]},"clickrules_topic":"shellyplusi4-a8032ab1fe78/events/rpc","clickrules_trace_id":"trace-edge"}"#;
    let d = deliver(&p, "req-1", frame, T0).await;
    assert_eq!(d.presses.len(), 1);
    let r = &d.presses[0];
    assert!(r.record.ok, "{:?}", r.failure);
    assert_eq!(
        r.record.press_id,
        "shelly-gen2:shellyplusi4-a8032ab1fe78:input:0:single_push:1691055980.40"
    );
    assert_eq!(r.record.skipped.len(), 1, "{:?}", r.record.skipped);
    assert_eq!(r.record.skipped[0].kind, SkipKind::NotAPress);
    assert_eq!(
        r.record.skipped[0].device.as_deref(),
        Some("shellyplusi4-a8032ab1fe78:input:2")
    );
    assert_eq!(p.executor().count(), 1);
}

/// Without the device's own timestamps the frame's presses share its trace id, told apart by
/// their index.
#[tokio::test]
async fn a_gen2_frame_without_timestamps_indexes_the_trace_id() {
    let p = default_pipeline();
    let frame = br#"{"src":"shellyplusi4-a8032ab1fe78","method":"NotifyEvent","params":{"events":[{"component":"input:0","id":0,"event":"single_push"},{"component":"input:1","id":1,"event":"double_push"}]},"clickrules_topic":"shellyplusi4-a8032ab1fe78/events/rpc","clickrules_trace_id":"trace-x"}"#;
    let d = deliver(&p, "req-1", frame, T0).await;
    let ids: Vec<&str> = d
        .presses
        .iter()
        .map(|r| r.record.press_id.as_str())
        .collect();
    assert_eq!(ids, ["trace-x#0", "trace-x#1"]);
    assert!(d.presses.iter().all(|r| !r.record.device_counter));
    assert_eq!(p.executor().count(), 2);
    // Its redelivery carries the same trace id: nothing runs again.
    let again = deliver(&p, "req-2", frame, T0 + 1_000).await;
    assert!(
        again
            .presses
            .iter()
            .all(|r| r.record.ledger.outcome == LedgerOutcome::Duplicate)
    );
    assert_eq!(p.executor().count(), 2);
}

// 5. Messages that are no press: recorded, nothing run.
#[tokio::test]
async fn messages_that_are_no_press_are_recorded_and_nothing_runs() {
    let p = default_pipeline();
    let cases = [
        (
            "zigbee2mqtt/z2m1x-state-only.json",
            EventFormat::Zigbee2Mqtt,
            SkipKind::NotAPress,
            "HueRemote_DamiansRoom",
        ),
        (
            "zigbee2mqtt/z2m2x-wxkg11lm-release.json",
            EventFormat::Zigbee2Mqtt,
            SkipKind::NotAPress,
            "Square Knob",
        ),
        (
            "shelly-gen1/i3-short-long.json",
            EventFormat::ShellyGen1,
            SkipKind::UnsupportedGesture,
            "shellyix3-A4CF12F474C7",
        ),
        (
            "shelly-gen2/plus2pm-btn-down.json",
            EventFormat::ShellyGen2,
            SkipKind::NotAPress,
            "shellyplus2pm-441793acb13c",
        ),
    ];
    for (i, (path, format, kind, device)) in cases.into_iter().enumerate() {
        let d = deliver(&p, &format!("req-{i}"), &fixture(path), T0).await;
        assert_eq!(d.presses.len(), 1, "{path}");
        assert_eq!(d.disposition, Disposition::Done, "{path}");
        let r = &d.presses[0];
        assert!(r.record.ok, "{path}: {:?}", r.failure);
        assert!(r.failure.is_none(), "{path}");
        assert_eq!(r.record.event_format, Some(format), "{path}");
        assert_eq!(r.record.skipped.len(), 1, "{path}");
        assert_eq!(r.record.skipped[0].kind, kind, "{path}");
        assert_eq!(
            r.record.skipped[0].device.as_deref(),
            Some(device),
            "{path}"
        );
        assert!(
            r.record.decision.is_none() && r.record.outcomes.is_empty(),
            "{path}"
        );
        assert!(r.record.click.is_none(), "{path}");
        let json: serde_json::Value = serde_json::from_str(&r.record.to_json()).unwrap();
        assert_eq!(json["skipped"][0]["kind"], kind.as_str(), "{path}");
    }
    assert_eq!(p.executor().count(), 0);
    assert!(p.dead_letters().sent().is_empty());
}

// 6. The device allow-list.
#[tokio::test]
async fn only_allowed_devices_press_and_the_others_are_turned_away_quietly() {
    let p = pipeline(PressPolicy {
        devices: AllowedDevices::parse("shelly-gen1:shellybutton1-A").unwrap(),
        ..PressPolicy::default()
    });

    // Another Shelly, and one whose id only starts like the allowed one.
    for (i, device) in ["shellybutton1-B", "shellybutton1-AB"]
        .into_iter()
        .enumerate()
    {
        let d = deliver(&p, &format!("other-{i}"), &gen1(device, 0, "S", 1, "t"), T0).await;
        assert_eq!(d.presses.len(), 1);
        assert_eq!(d.disposition, Disposition::Done, "{device}");
        let r = &d.presses[0];
        assert_eq!(failure_kind(&d), Some("unknown_device"), "{device}");
        match &r.failure {
            Some(Failure::UnknownDevice {
                source_name,
                device: named,
            }) => {
                assert_eq!(*source_name, "shelly-gen1");
                assert_eq!(named, device);
            }
            other => panic!("expected an unknown device, got {other:?}"),
        }
        assert!(!r.record.ok && !r.record.dead_lettered);
        assert_eq!(r.record.failure.as_ref().unwrap().kind, "unknown_device");
        assert!(r.record.decision.is_none());
    }
    // Delivered again: turned away the same way.
    let d = deliver(
        &p,
        "other-again",
        &gen1("shellybutton1-B", 0, "S", 1, "t2"),
        T0,
    )
    .await;
    assert_eq!(d.disposition, Disposition::Done);
    assert_eq!(failure_kind(&d), Some("unknown_device"));
    assert_eq!(p.executor().count(), 0);
    assert!(p.dead_letters().sent().is_empty());

    // The allowed button, an input of it, and a source with no list.
    let d = deliver(&p, "a", &gen1("shellybutton1-A", 0, "S", 1, "ta"), T0).await;
    assert!(d.main().record.ok, "{:?}", d.main().failure);
    let d = deliver(&p, "a1", &gen1("shellybutton1-A", 1, "S", 1, "ta1"), T0).await;
    assert!(d.main().record.ok, "{:?}", d.main().failure);
    assert_eq!(
        d.main().record.click.as_ref().unwrap().serial_number,
        "shellybutton1-A:input:1"
    );
    let d = deliver(&p, "iot", &iot_button("G030JF055364XVRB", "ti"), T0).await;
    assert!(d.main().record.ok, "{:?}", d.main().failure);
    assert_eq!(p.executor().count(), 3);
    assert!(p.dead_letters().sent().is_empty());
}

// 7. The per-device rate limit.
#[tokio::test]
async fn a_device_pressing_past_the_rate_limit_is_refused_without_a_dead_letter() {
    let p = pipeline(PressPolicy {
        rate_limit_per_minute: 3,
        ..PressPolicy::default()
    });
    let a = "shellybutton1-A";
    let mut results = Vec::new();
    for n in 1..=4u64 {
        let event = gen1(a, 0, "S", n, &format!("ta-{n}"));
        results.push(deliver(&p, &format!("a-{n}"), &event, T0 + n * 1_000).await);
    }
    for d in &results[..3] {
        assert!(d.main().record.ok, "{:?}", d.main().failure);
    }
    assert_eq!(p.executor().count(), 3);
    let limited = &results[3];
    assert_eq!(limited.disposition, Disposition::Done);
    assert_eq!(failure_kind(limited), Some("rate_limited"));
    match &limited.main().failure {
        Some(Failure::RateLimited {
            device,
            limit_per_minute,
        }) => {
            assert_eq!(device, "shelly-gen1#shellybutton1-A");
            assert_eq!(*limit_per_minute, 3);
        }
        other => panic!("expected a rate limit, got {other:?}"),
    }
    let record = &limited.main().record;
    assert!(!record.ok && !record.dead_lettered);
    assert!(record.decision.is_none(), "the guest did not run");
    assert_eq!(record.ledger.outcome, LedgerOutcome::New);
    assert!(p.dead_letters().sent().is_empty());

    // Another device is unaffected.
    let d = deliver(
        &p,
        "b-1",
        &gen1("shellybutton1-B", 0, "S", 4, "tb"),
        T0 + 5_000,
    )
    .await;
    assert!(d.main().record.ok, "{:?}", d.main().failure);
    assert_eq!(p.executor().count(), 4);

    // The rate-limited press delivered again: answered from the ledger, nothing runs.
    let again = gen1(a, 0, "S", 4, "ta-4-redelivered");
    let d = deliver(&p, "a-4-again", &again, T0 + 6_000).await;
    assert_eq!(d.disposition, Disposition::Done);
    assert_eq!(d.main().record.ledger.outcome, LedgerOutcome::Duplicate);
    assert_eq!(
        d.main().record.failure.as_ref().map(|f| f.kind.as_str()),
        Some("rate_limited")
    );
    assert_eq!(p.executor().count(), 4);

    // The next minute the device presses again.
    let d = deliver(&p, "a-5", &gen1(a, 0, "S", 5, "ta-5"), T0 + 60_000).await;
    assert!(d.main().record.ok, "{:?}", d.main().failure);
    assert_eq!(p.executor().count(), 5);
    assert!(p.dead_letters().sent().is_empty());
}

/// A frame whose second press of the same input goes past the limit: the first runs, the
/// second is refused, the delivery ends, and the frame's redelivery runs nothing.
#[tokio::test]
async fn a_frame_reaching_the_rate_limit_midway_runs_only_its_first_press() {
    let p = pipeline(PressPolicy {
        rate_limit_per_minute: 1,
        ..PressPolicy::default()
    });
    let frame = br#"{"src":"shellyplusi4-a8032ab1fe78","method":"NotifyEvent","params":{"events":[{"component":"input:0","id":0,"event":"single_push","ts":1691055990.10},{"component":"input:0","id":0,"event":"double_push","ts":1691055991.20}]},"clickrules_topic":"shellyplusi4-a8032ab1fe78/events/rpc","clickrules_trace_id":"trace-f"}"#;
    let d = deliver(&p, "req-1", frame, T0).await;
    assert_eq!(d.presses.len(), 2);
    assert!(d.presses[0].record.ok, "{:?}", d.presses[0].failure);
    assert_eq!(
        d.presses[1].failure.as_ref().map(Failure::kind),
        Some("rate_limited")
    );
    assert_eq!(d.disposition, Disposition::Done);
    assert_eq!(
        d.main().failure.as_ref().map(Failure::kind),
        Some("rate_limited")
    );
    assert_eq!(p.executor().count(), 1);
    let again = deliver(&p, "req-2", frame, T0 + 1_000).await;
    assert_eq!(again.disposition, Disposition::Done);
    assert!(
        again
            .presses
            .iter()
            .all(|r| r.record.ledger.outcome == LedgerOutcome::Duplicate)
    );
    assert_eq!(p.executor().count(), 1);
    assert!(p.dead_letters().sent().is_empty());
}

/// Rate limits are counted in the ledger: without one, nothing is counted.
#[tokio::test]
async fn without_a_ledger_the_rate_limit_is_not_counted() {
    let engine = Arc::new(Engine::new(EngineConfig::default()).unwrap());
    let source = FixedGuest::builtin(&engine).unwrap();
    let p = Pipeline::new(engine, source, Recorder::default()).with_policy(PressPolicy {
        rate_limit_per_minute: 1,
        ..PressPolicy::default()
    });
    for n in 1..=3u64 {
        let event = gen1(BUTTON, 0, "S", n, "t");
        let r = p
            .press(PressRequest {
                received_at_ms: Some(T0),
                ..PressRequest::new("req", &event)
            })
            .await;
        assert!(r.record.ok, "{:?}", r.failure);
        assert_eq!(r.record.ledger.outcome, LedgerOutcome::Off);
    }
    assert_eq!(p.executor().count(), 3);
}

// 8. An event that matches no source.
#[tokio::test]
async fn an_event_matching_no_source_is_a_bad_event() {
    let event = br#"{"hello":1,"clickrules_trace_id":"trace-h"}"#;
    let p = default_pipeline();
    let d = deliver(&p, "req-1", event, T0).await;
    assert_eq!(d.presses.len(), 1);
    let r = &d.presses[0];
    assert_eq!(failure_kind(&d), Some("bad_event"));
    assert!(
        matches!(
            r.failure,
            Some(Failure::Press(PressError::Event(
                EventError::UnknownFormat { .. }
            )))
        ),
        "{:?}",
        r.failure
    );
    assert!(!r.record.ok);
    assert_eq!(r.record.event_format, None);
    assert!(r.record.click.is_none() && r.record.decision.is_none());
    // As every bad event: nothing to retry, kept as a dead letter.
    assert_eq!(d.disposition, Disposition::DeadLettered);
    assert!(r.record.dead_lettered);
    let sent = p.dead_letters().sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, event);
    assert_eq!(p.executor().count(), 0);

    // With no dead-letter destination the delivery fails, for the platform's own.
    let engine = Arc::new(Engine::new(EngineConfig::default()).unwrap());
    let source = FixedGuest::builtin(&engine).unwrap();
    let p = Pipeline::new(engine, source, Recorder::default()).with_ledger(MemoryLedger::new());
    let r = p.press(PressRequest::new("req-2", event)).await;
    assert_eq!(r.disposition, Disposition::Fail);
    assert_eq!(r.failure.as_ref().map(Failure::kind), Some("bad_event"));
    assert!(!r.failure.unwrap().is_retryable());
    assert_eq!(p.executor().count(), 0);
}
