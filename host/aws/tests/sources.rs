//! Device counters and rate limits in the DynamoDB ledger (moto): a press identified by a
//! device's own counter is a duplicate within the dedupe window and replaced after it, a device
//! is admitted `limit` times a minute, and the same through the press pipeline with Shelly
//! events. Requests here run one after another (moto does not judge races; see
//! `host/aws/tests/ledger.rs`).

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use clickrules_aws::{AwsExecutor, DynamoLedger, Settings, SettingsError};
use clickrules_engine::{Click, ClickType};
use clickrules_pipeline::{
    ActionTargets, Claim, Delivery, DeviceKey, Disposition, End, Failure, FixedGuest, Lease,
    Ledger, LedgerOutcome, Pipeline, PressPolicy, PressRecord, PressRequest, SnapshotTarget,
};
use clickrules_test_support::{World, engine, invocations};

const TABLE: &str = "clickrules-presses";
/// 2026-01-15 12:00:00 UTC: the start of a minute.
const T0: u64 = 1_768_478_400_000;
/// A lease no test outlives.
const FAR: u64 = u64::MAX / 2;
const COUNTER: &str = "shelly-gen1:shellybutton1-A:0:7";

fn ledger(world: &World) -> DynamoLedger {
    DynamoLedger::new(
        world.clients.dynamodb.clone(),
        TABLE.into(),
        Duration::from_secs(24 * 3600),
    )
}

async fn item(
    world: &World,
    pk: &str,
) -> Option<std::collections::HashMap<String, AttributeValue>> {
    world
        .clients
        .dynamodb
        .get_item()
        .table_name(TABLE)
        .key("pk", AttributeValue::S(pk.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item()
        .cloned()
}

fn text(item: &std::collections::HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    match item.get(name)? {
        AttributeValue::S(s) | AttributeValue::N(s) => Some(s.clone()),
        _ => None,
    }
}

/// A press of `COUNTER` received at `at`, claimed and completed.
async fn complete_press(ledger: &DynamoLedger, press_id: &str, at: u64) -> PressRecord {
    let attempt = match ledger.claim(press_id, FAR, at).await.unwrap() {
        Claim::New { attempt } => attempt,
        other => panic!("expected a new press, got {other:?}"),
    };
    let lease = Lease {
        press_id: press_id.into(),
        attempt,
    };
    let mut record = PressRecord::new("req-1", true);
    record.press_id = press_id.into();
    record.device_counter = true;
    record.ok = true;
    record.click = Some(Click {
        source: "shelly-gen1".into(),
        press_id: press_id.into(),
        ..Click::new("shellybutton1-A", ClickType::Single, None, at)
    });
    ledger.end(&lease, End::Complete, &record).await.unwrap();
    record
}

#[tokio::test]
async fn a_counter_is_a_duplicate_within_the_window_and_a_new_press_after_it() {
    let Some(world) = World::start("a_counter_is_a_duplicate_within_the_window").await else {
        return;
    };
    world.ledger_table(TABLE).await;
    let ledger = ledger(&world);
    let stored = complete_press(&ledger, COUNTER, T0).await;

    // Within the window (the stored press is not older than `fresh_after`): a duplicate, and
    // the item stays.
    for fresh_after in [T0 - 59_000, T0] {
        match ledger
            .claim_windowed(COUNTER, FAR, T0 + 1_000, fresh_after, "req-2")
            .await
            .unwrap()
        {
            Claim::Duplicate { record } => assert_eq!(*record, stored),
            other => panic!("fresh after {fresh_after}: expected a duplicate, got {other:?}"),
        }
    }
    let kept = item(&world, &format!("press#{COUNTER}")).await.unwrap();
    assert_eq!(text(&kept, "status").as_deref(), Some("complete"));
    // Lambda redelivering the same invocation keeps its request id: however late, a duplicate.
    match ledger
        .claim_windowed(COUNTER, FAR, T0 + 600_000, T0 + 500_000, "req-1")
        .await
        .unwrap()
    {
        Claim::Duplicate { record } => assert_eq!(*record, stored),
        other => panic!("a late redelivery of the same invocation: {other:?}"),
    }

    // After the window: the stored press was an earlier one; the item is replaced.
    let claim = ledger
        .claim_windowed(COUNTER, FAR, T0 + 61_000, T0 + 1_000, "req-2")
        .await
        .unwrap();
    assert_eq!(claim, Claim::New { attempt: 1 });
    let replaced = item(&world, &format!("press#{COUNTER}")).await.unwrap();
    assert_eq!(text(&replaced, "status").as_deref(), Some("running"));
    assert_eq!(text(&replaced, "attempt").as_deref(), Some("1"));
    assert!(
        !replaced.contains_key("record"),
        "the earlier press's record is gone: {replaced:?}"
    );

    // The new press now holds it: another delivery finds it running, windowed or not.
    assert!(matches!(
        ledger.claim(COUNTER, FAR, T0 + 61_500).await.unwrap(),
        Claim::InProgress { .. }
    ));
    assert!(matches!(
        ledger
            .claim_windowed(COUNTER, FAR, T0 + 62_000, T0 + 2_000, "req-3")
            .await
            .unwrap(),
        Claim::InProgress { .. }
    ));
    // The running item was not deleted by that windowed claim.
    let still = item(&world, &format!("press#{COUNTER}")).await.unwrap();
    assert_eq!(text(&still, "status").as_deref(), Some("running"));
}

/// Only a complete press is replaced: one left open for a retry is resumed or decided again by
/// the next delivery, however old it is.
#[tokio::test]
async fn an_open_press_is_not_replaced_after_the_window() {
    let Some(world) = World::start("an_open_press_is_not_replaced_after_the_window").await else {
        return;
    };
    world.ledger_table(TABLE).await;
    let ledger = ledger(&world);
    let Claim::New { attempt } = ledger.claim(COUNTER, FAR, T0).await.unwrap() else {
        panic!("expected a new press");
    };
    let lease = Lease {
        press_id: COUNTER.into(),
        attempt,
    };
    let mut record = PressRecord::new("req-1", true);
    record.click = Some(Click::new("shellybutton1-A", ClickType::Single, None, T0));
    ledger.end(&lease, End::Retry, &record).await.unwrap();
    let claim = ledger
        .claim_windowed(COUNTER, FAR, T0 + 600_000, T0 + 500_000, "req-2")
        .await
        .unwrap();
    assert_eq!(claim, Claim::New { attempt: 2 });
}

#[tokio::test]
async fn admit_counts_each_device_per_minute() {
    let Some(world) = World::start("admit_counts_each_device_per_minute").await else {
        return;
    };
    world.ledger_table(TABLE).await;
    let ledger = ledger(&world);
    let a = DeviceKey {
        source: "shelly-gen1".into(),
        device: "shellybutton1-A".into(),
    };
    let b = DeviceKey {
        source: "shelly-gen1".into(),
        device: "shellybutton1-B".into(),
    };
    let mut admitted = Vec::new();
    for s in 0..3 {
        admitted.push(ledger.admit(&a, 2, T0 + s * 10_000).await.unwrap());
    }
    assert_eq!(admitted, [true, true, false]);
    // A refused press is not counted.
    let minute = T0 / 60_000;
    let rate = item(
        &world,
        &format!("rate#shelly-gen1#shellybutton1-A#{minute}"),
    )
    .await
    .unwrap();
    assert_eq!(text(&rate, "presses").as_deref(), Some("2"));
    assert!(rate.contains_key("ttl"));

    // Another device has its own count; the same device under another source too.
    assert!(ledger.admit(&b, 2, T0 + 30_000).await.unwrap());
    let other_source = DeviceKey {
        source: "zigbee2mqtt".into(),
        ..a.clone()
    };
    assert!(ledger.admit(&other_source, 2, T0 + 30_000).await.unwrap());
    // Still refused until the minute ends.
    assert!(!ledger.admit(&a, 2, T0 + 59_999).await.unwrap());
    // The next minute starts again.
    assert!(ledger.admit(&a, 2, T0 + 60_000).await.unwrap());
    assert!(ledger.admit(&a, 2, T0 + 61_000).await.unwrap());
    assert!(!ledger.admit(&a, 2, T0 + 62_000).await.unwrap());
}

type ShellyPipeline = Pipeline<FixedGuest, AwsExecutor, DynamoLedger>;

fn pipeline(world: &World, policy: PressPolicy) -> ShellyPipeline {
    let engine = engine();
    let source = FixedGuest::builtin(&engine).unwrap();
    let executor = AwsExecutor::from_parts(
        world.clients.lambda.clone(),
        world.clients.sns.clone(),
        ActionTargets {
            snapshot: SnapshotTarget::default(),
            topic_arn: None,
        },
    );
    Pipeline::new(engine, source, executor)
        .with_ledger(ledger(world))
        .with_policy(policy)
}

fn gen1(device: &str, count: u64, trace: &str) -> Vec<u8> {
    format!(
        r#"{{"event":"S","event_cnt":{count},"clickrules_topic":"shellies/{device}/input_event/0","clickrules_trace_id":"{trace}"}}"#
    )
    .into_bytes()
}

async fn deliver(pipeline: &ShellyPipeline, request_id: &str, event: &[u8], at: u64) -> Delivery {
    pipeline
        .deliver(PressRequest {
            received_at_ms: Some(at),
            ..PressRequest::new(request_id, event)
        })
        .await
}

/// The pipeline's device-counter ids in DynamoDB: a broker redelivery with a new trace id runs
/// nothing; the counter reused after the window runs again.
#[tokio::test]
async fn a_shelly_redelivery_runs_once_and_a_reused_counter_runs_again() {
    let Some(world) = World::start("a_shelly_redelivery_runs_once_and_a_reused_counter").await
    else {
        return;
    };
    world.ledger_table(TABLE).await;
    world.snapshot_function("scheduled_snapshot").await;
    let p = pipeline(&world, PressPolicy::default());

    world.moto.start_recording();
    let first = deliver(&p, "req-1", &gen1("shellybutton1-A", 7, "trace-a"), T0).await;
    let again = deliver(
        &p,
        "req-2",
        &gen1("shellybutton1-A", 7, "trace-b"),
        T0 + 2_000,
    )
    .await;
    let reused = deliver(
        &p,
        "req-3",
        &gen1("shellybutton1-A", 7, "trace-c"),
        T0 + 61_000,
    )
    .await;
    let recording = world.moto.stop_recording();

    let first = first.main();
    assert!(first.record.ok, "{:?}", first.failure);
    assert_eq!(first.record.press_id, COUNTER);
    assert!(first.record.device_counter);
    assert_eq!(first.record.ledger.outcome, LedgerOutcome::New);
    assert_eq!(again.disposition, Disposition::Done);
    assert_eq!(again.main().record.ledger.outcome, LedgerOutcome::Duplicate);
    assert!(again.main().record.device_counter);
    let reused = reused.main();
    assert!(reused.record.ok, "{:?}", reused.failure);
    assert_eq!(reused.record.ledger.outcome, LedgerOutcome::New);
    assert_eq!(reused.record.ledger.attempt, Some(1));
    assert_eq!(invocations(&recording).len(), 2, "{recording:#?}");
}

/// The rate limit through the pipeline: the press past the limit runs nothing, ends the
/// delivery, and its redelivery is answered from the ledger.
#[tokio::test]
async fn a_shelly_past_the_rate_limit_is_refused_and_its_redelivery_answered() {
    let Some(world) = World::start("a_shelly_past_the_rate_limit_is_refused").await else {
        return;
    };
    world.ledger_table(TABLE).await;
    world.snapshot_function("scheduled_snapshot").await;
    let p = pipeline(
        &world,
        PressPolicy {
            rate_limit_per_minute: 2,
            ..PressPolicy::default()
        },
    );

    world.moto.start_recording();
    let mut results = Vec::new();
    for n in 1..=3u64 {
        let event = gen1("shellybutton1-A", n, &format!("t-{n}"));
        results.push(deliver(&p, &format!("req-{n}"), &event, T0 + n * 1_000).await);
    }
    let other = deliver(&p, "req-b", &gen1("shellybutton1-B", 3, "t-b"), T0 + 4_000).await;
    let again = deliver(
        &p,
        "req-3-again",
        &gen1("shellybutton1-A", 3, "t-3b"),
        T0 + 5_000,
    )
    .await;
    let next = deliver(&p, "req-4", &gen1("shellybutton1-A", 4, "t-4"), T0 + 60_000).await;
    let recording = world.moto.stop_recording();

    assert!(results[0].main().record.ok && results[1].main().record.ok);
    let limited = &results[2];
    assert_eq!(limited.disposition, Disposition::Done);
    assert!(
        matches!(
            limited.main().failure,
            Some(Failure::RateLimited {
                limit_per_minute: 2,
                ..
            })
        ),
        "{:?}",
        limited.main().failure
    );
    assert!(other.main().record.ok, "{:?}", other.main().failure);
    assert_eq!(again.disposition, Disposition::Done);
    assert_eq!(again.main().record.ledger.outcome, LedgerOutcome::Duplicate);
    assert_eq!(
        again
            .main()
            .record
            .failure
            .as_ref()
            .map(|f| f.kind.as_str()),
        Some("rate_limited")
    );
    assert!(next.main().record.ok, "{:?}", next.main().failure);
    // A, A, B and A the next minute.
    assert_eq!(invocations(&recording).len(), 4, "{recording:#?}");
}

/// The template and the deployment guide offer `DedupeWindowSeconds=0` ("0 turns this off";
/// `MinValue: 0`), and pass it straight to `CLICKRULES_DEDUPE_WINDOW_SECONDS`.
// BUG: host/aws/src/settings/sources.rs refuses CLICKRULES_DEDUPE_WINDOW_SECONDS=0 ("seconds
// from 1 to 3600"), so a stack deployed with DedupeWindowSeconds=0 (deploy/template.yaml
// MinValue 0, deploy/README.md "`0` off") cannot read its settings and fails every press.
#[test]
fn a_dedupe_window_of_zero_is_refused_as_the_template_refuses_it() {
    let settings = Settings::from_env([("CLICKRULES_DEDUPE_WINDOW_SECONDS", "0")]);
    assert!(
        matches!(settings, Err(SettingsError::Invalid { ref variable, .. }) if variable == "CLICKRULES_DEDUPE_WINDOW_SECONDS"),
        "{settings:?}"
    );
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/template.yaml"
    ))
    .unwrap();
    let parameter = &template[template.find("  DedupeWindowSeconds:").unwrap()..];
    assert!(
        parameter[..200].contains("MinValue: 1"),
        "{}",
        &parameter[..200]
    );
}
