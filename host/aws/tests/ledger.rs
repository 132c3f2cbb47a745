//! The press ledger in DynamoDB (moto): retries execute only what is not done, duplicates
//! execute nothing, genuine second presses run again, leases, an unreachable table, and the
//! number of DynamoDB requests per press, read from moto's recorder.
//!
//! Deliveries here overlap only in sequence (one holds the press while the next arrives): moto
//! does not check a condition and write atomically under concurrent requests, so it cannot
//! judge a race. Concurrent deliveries are tested against `MemoryLedger`, which implements the
//! same conditions atomically (`host/pipeline/tests/press.rs`).

use std::time::Duration;

use clickrules_aws::{AwsExecutor, DynamoLedger};
use clickrules_pipeline::Ledger as _;
use clickrules_pipeline::{
    ActionTargets, Disposition, Failure, FixedGuest, LedgerError, LedgerOutcome, Pipeline,
    PressRequest, PressResult, SnapshotTarget,
};
use clickrules_test_support::moto::Recorded;
use clickrules_test_support::{World, engine_with, invocations};
use clickrules_tests::{guest_bytes, guests};

const TABLE: &str = "clickrules-presses";

type LedgerPipeline = Pipeline<FixedGuest, AwsExecutor, DynamoLedger>;

async fn ledger_table(world: &World) {
    world.ledger_table(TABLE).await;
}

fn ledger(world: &World) -> DynamoLedger {
    DynamoLedger::new(
        world.clients.dynamodb.clone(),
        TABLE.into(),
        Duration::from_secs(24 * 3600),
    )
}

/// A pipeline with the `actions` guest saying `actions`, the AWS executor and the ledger.
fn pipeline(world: &World, actions: &str, topic: Option<String>) -> LedgerPipeline {
    let engine = engine_with(&[("actions", actions)]);
    let source =
        FixedGuest::from_bytes(&engine, &guest_bytes(guests::ACTIONS), guests::ACTIONS).unwrap();
    let executor = AwsExecutor::from_parts(
        world.clients.lambda.clone(),
        world.clients.sns.clone(),
        ActionTargets {
            snapshot: SnapshotTarget::default(),
            topic_arn: topic,
        },
    );
    Pipeline::new(engine, source, executor).with_ledger(ledger(world))
}

fn traced(trace_id: &str) -> Vec<u8> {
    format!(
        r#"{{"serialNumber":"G030JF055364XVRB","clickType":"SINGLE","clickrules_trace_id":"{trace_id}"}}"#
    )
    .into_bytes()
}

async fn press(pipeline: &LedgerPipeline, request_id: &str, event: &[u8]) -> PressResult {
    pipeline.press(PressRequest::new(request_id, event)).await
}

fn publishes(recording: &[Recorded]) -> usize {
    recording
        .iter()
        .filter(|r| {
            String::from_utf8_lossy(&r.body).contains("Action=Publish")
                || r.query("Action") == Some("Publish")
        })
        .count()
}

fn dynamodb_requests(recording: &[Recorded]) -> Vec<&str> {
    recording
        .iter()
        .filter_map(|r| r.header("X-Amz-Target"))
        .filter_map(|t| t.strip_prefix("DynamoDB_20120810."))
        .collect()
}

/// The issue's scenario: the snapshot succeeds and the notification fails (its topic does not
/// exist yet); the invocation fails. Two retries with the same request id once the topic
/// exists: one snapshot and one publish in all.
#[tokio::test]
async fn a_retry_after_a_failed_notification_takes_no_second_backup() {
    let Some(world) =
        World::start("a_retry_after_a_failed_notification_takes_no_second_backup").await
    else {
        return;
    };
    ledger_table(&world).await;
    world.snapshot_function("scheduled_snapshot").await;
    let topic = format!(
        "arn:aws:sns:{}:{}:presses",
        clickrules_test_support::moto::REGION,
        clickrules_test_support::moto::ACCOUNT
    );
    let pipeline = pipeline(
        &world,
        "snapshot:us-west-1;notify:Pressed|hello",
        Some(topic),
    );
    let event = br#"{"serialNumber":"G030JF055364XVRB","clickType":"SINGLE"}"#;

    world.moto.start_recording();
    let first = press(&pipeline, "req-1", event).await;
    assert_eq!(first.disposition, Disposition::Fail, "{:?}", first.failure);
    assert!(matches!(
        first.failure,
        Some(Failure::Actions {
            failed: 1,
            total: 2,
            ..
        })
    ));

    world.topic_with_queues("presses").await;
    let second = press(&pipeline, "req-1", event).await;
    let third = press(&pipeline, "req-1", event).await;
    let recording = world.moto.stop_recording();

    assert!(second.record.ok, "{:?}", second.failure);
    assert_eq!(second.record.ledger.outcome, LedgerOutcome::Resumed);
    assert_eq!(second.record.ledger.skipped_actions, 1);
    assert_eq!(third.record.ledger.outcome, LedgerOutcome::Duplicate);
    assert_eq!(third.disposition, Disposition::Done);
    assert_eq!(
        invocations(&recording).len(),
        1,
        "one backup: {recording:#?}"
    );
    // The failed publish, then the one that succeeded.
    assert_eq!(publishes(&recording), 2, "{recording:#?}");
}

#[tokio::test]
async fn the_same_press_delivered_twice_runs_once_and_a_genuine_second_press_runs_again() {
    let Some(world) = World::start("the_same_press_delivered_twice_runs_once").await else {
        return;
    };
    ledger_table(&world).await;
    world.snapshot_function("scheduled_snapshot").await;
    let pipeline = pipeline(&world, "snapshot:us-west-1", None);

    world.moto.start_recording();
    let a = press(&pipeline, "req-a", &traced("trace-1")).await;
    let b = press(&pipeline, "req-b", &traced("trace-1")).await;
    let c = press(&pipeline, "req-c", &traced("trace-2")).await;
    let recording = world.moto.stop_recording();

    assert!(a.record.ok && b.record.ok && c.record.ok);
    assert_eq!(a.record.ledger.outcome, LedgerOutcome::New);
    assert_eq!(b.record.ledger.outcome, LedgerOutcome::Duplicate);
    assert_eq!(b.record.request_id, "req-b");
    assert_eq!(c.record.ledger.outcome, LedgerOutcome::New);
    assert_eq!(invocations(&recording).len(), 2, "{recording:#?}");
}

/// The request budget, from moto's recorder: a new press whose one action succeeds makes three
/// DynamoDB requests (claim, decision, outcome with the end), plus the per-device rate count
/// (on by default); a duplicate makes two (the claim, and the count history keeps on the press
/// it repeated).
#[tokio::test]
async fn a_new_press_makes_three_dynamodb_requests_and_a_duplicate_two() {
    let Some(world) = World::start("a_new_press_makes_three_dynamodb_requests").await else {
        return;
    };
    ledger_table(&world).await;
    world.snapshot_function("scheduled_snapshot").await;
    let pipeline = pipeline(&world, "snapshot:us-west-1", None);

    world.moto.start_recording();
    press(&pipeline, "req-1", &traced("trace-b")).await;
    let new = world.moto.stop_recording();
    assert_eq!(
        dynamodb_requests(&new),
        ["UpdateItem", "UpdateItem", "UpdateItem", "UpdateItem"],
        "{new:#?}"
    );

    world.moto.start_recording();
    let duplicate = press(&pipeline, "req-2", &traced("trace-b")).await;
    let again = world.moto.stop_recording();
    assert_eq!(duplicate.record.ledger.outcome, LedgerOutcome::Duplicate);
    assert_eq!(
        dynamodb_requests(&again),
        ["UpdateItem", "UpdateItem"],
        "{again:#?}"
    );
}

#[tokio::test]
async fn a_live_lease_fails_fast_and_an_expired_one_is_taken_over() {
    let Some(world) = World::start("a_live_lease_fails_fast_and_an_expired_one").await else {
        return;
    };
    ledger_table(&world).await;
    world.snapshot_function("scheduled_snapshot").await;
    let pipeline = pipeline(&world, "snapshot:us-west-1", None);
    let ledger = ledger(&world);
    let now = 1_800_000_000_000;

    // Another delivery holds trace-live until far in the future.
    ledger.claim("trace-live", u64::MAX / 2, now).await.unwrap();
    let result = press(&pipeline, "req-1", &traced("trace-live")).await;
    assert!(
        matches!(result.failure, Some(Failure::InProgress { .. })),
        "{:?}",
        result.failure
    );
    assert_eq!(result.record.ledger.outcome, LedgerOutcome::InProgress);
    assert_eq!(result.disposition, Disposition::Fail);

    // A delivery that timed out: its lease ended long ago.
    ledger.claim("trace-dead", 1, 0).await.unwrap();
    let result = press(&pipeline, "req-2", &traced("trace-dead")).await;
    assert!(result.record.ok, "{:?}", result.failure);
    assert_eq!(result.record.ledger.outcome, LedgerOutcome::New);
    assert_eq!(result.record.ledger.attempt, Some(2));
}

/// DynamoDB unreachable: the SDK gives up, the press fails before any action runs, with a
/// clear error naming the table, and AWS may retry it.
#[tokio::test]
async fn an_unreachable_ledger_means_no_action_runs() {
    let Some(world) = World::start("an_unreachable_ledger_means_no_action_runs").await else {
        return;
    };
    world.snapshot_function("scheduled_snapshot").await;
    // Nothing listens on port 9.
    let config = world
        .config
        .to_builder()
        .endpoint_url("http://127.0.0.1:9")
        .build();
    let unreachable = aws_sdk_dynamodb::Client::new(&config);
    let engine = engine_with(&[("actions", "snapshot:us-west-1")]);
    let source =
        FixedGuest::from_bytes(&engine, &guest_bytes(guests::ACTIONS), guests::ACTIONS).unwrap();
    let executor = AwsExecutor::from_parts(
        world.clients.lambda.clone(),
        world.clients.sns.clone(),
        ActionTargets::default(),
    );
    let pipeline = Pipeline::new(engine, source, executor).with_ledger(DynamoLedger::new(
        unreachable,
        TABLE.into(),
        Duration::from_secs(3600),
    ));
    world.moto.start_recording();
    let result = press(&pipeline, "req-1", &traced("trace-down")).await;
    let recording = world.moto.stop_recording();
    match &result.failure {
        Some(Failure::Ledger(LedgerError::Unavailable { table, .. })) => assert_eq!(table, TABLE),
        other => panic!("expected the ledger to be unavailable, got {other:?}"),
    }
    assert_eq!(result.disposition, Disposition::Fail);
    assert!(invocations(&recording).is_empty(), "{recording:#?}");
    assert!(result.record.decision.is_none(), "the guest did not run");
}

/// A table that does not exist is refused at once (not retried as if AWS were down).
#[tokio::test]
async fn a_missing_table_is_refused_and_nothing_runs() {
    let Some(world) = World::start("a_missing_table_is_refused").await else {
        return;
    };
    let pipeline = pipeline(&world, "snapshot:us-west-1", None);
    let result = press(&pipeline, "req-1", &traced("trace-x")).await;
    assert!(
        matches!(
            result.failure,
            Some(Failure::Ledger(LedgerError::Refused { .. }))
        ),
        "{:?}",
        result.failure
    );
}

/// The newest signed-artifact sequence per guest location, kept in the table for cold starts.
#[tokio::test]
async fn the_artifact_floor_is_kept_and_never_lowered() {
    let Some(world) = World::start("the_artifact_floor_is_kept").await else {
        return;
    };
    ledger_table(&world).await;
    let ledger = ledger(&world);
    let location = "s3://guests/guest.wasm";
    assert_eq!(ledger.artifact_floor(location).await.unwrap(), 0);
    ledger.raise_artifact_floor(location, 200).await.unwrap();
    ledger.raise_artifact_floor(location, 100).await.unwrap();
    assert_eq!(ledger.artifact_floor(location).await.unwrap(), 200);
}
