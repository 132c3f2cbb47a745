//! Device state in the DynamoDB ledger (moto): the transaction that commits a decision with
//! the device's new state, its conditions and cancellation reasons, the device item's TTL, and
//! the requests a press makes. Presses here run one after another: moto does not apply a
//! transaction atomically under concurrent requests, so races are judged against
//! `MemoryLedger` (`host/pipeline/tests/state.rs`), and the same sequence runs here serialised.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use clickrules_aws::DynamoLedger;
use clickrules_engine::{DeviceState, StateEntry};
use clickrules_pipeline::{
    ActionTargets, Claim, DeviceKey, DryRunExecutor, FixedGuest, Lease, Ledger, LedgerError,
    Pipeline, PressRecord, PressRequest, SnapshotTarget, StateCommit,
};
use clickrules_test_support::{World, engine_with};
use clickrules_tests::{guest_bytes, guests};

const TABLE: &str = "clickrules-presses";
const SERIAL: &str = "G030JF055364XVRB";

fn ledger(world: &World) -> DynamoLedger {
    DynamoLedger::new(
        world.clients.dynamodb.clone(),
        TABLE.into(),
        Duration::from_secs(24 * 3600),
    )
}

fn device() -> DeviceKey {
    DeviceKey {
        source: "iot-button".into(),
        device: SERIAL.into(),
    }
}

fn state(pairs: &[(&str, &str, Option<u64>)]) -> DeviceState {
    let mut state = DeviceState::default();
    for (k, v, expires) in pairs {
        state.entries.insert(
            k.to_string(),
            StateEntry {
                value: v.to_string(),
                expires_at_ms: *expires,
            },
        );
    }
    state
}

async fn held(ledger: &DynamoLedger, press_id: &str) -> Lease {
    match ledger.claim(press_id, u64::MAX / 2, 0).await.unwrap() {
        Claim::New { attempt } => Lease {
            press_id: press_id.into(),
            attempt,
        },
        other => panic!("{other:?}"),
    }
}

async fn device_item(world: &World) -> Option<std::collections::HashMap<String, AttributeValue>> {
    world
        .clients
        .dynamodb
        .get_item()
        .table_name(TABLE)
        .key(
            "pk",
            AttributeValue::S(format!("state#iot-button#{SERIAL}")),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item()
        .cloned()
}

#[tokio::test]
async fn commits_are_conditioned_on_the_version_read_and_the_lease() {
    let Some(world) = World::start("state_commits_are_conditioned").await else {
        return;
    };
    world.ledger_table(TABLE).await;
    let ledger = ledger(&world);
    let record = PressRecord::new("req", false);
    assert_eq!(ledger.load_state(&device()).await.unwrap().version, 0);

    // First write of a device: the item must not exist yet.
    let lease = held(&ledger, "p1").await;
    let first = StateCommit {
        device: device(),
        version: 0,
        state: state(&[("count", "1", None)]),
    };
    ledger.commit(&lease, &record, Some(&first)).await.unwrap();
    let stored = ledger.load_state(&device()).await.unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(stored.state, first.state);

    // A press that read version 0 too, committing after: cancelled by the device's condition,
    // and its decision is not stored either.
    let lease2 = held(&ledger, "p2").await;
    let stale = StateCommit {
        version: 0,
        state: state(&[("count", "1", None)]),
        ..first.clone()
    };
    let err = ledger
        .commit(&lease2, &record, Some(&stale))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LedgerError::StateConflict { device } if device == "iot-button#G030JF055364XVRB"),
        "{err:?}"
    );
    // ... so a redelivery of p2 decides afresh (no stored decision to resume).
    let item = world
        .clients
        .dynamodb
        .get_item()
        .table_name(TABLE)
        .key("pk", AttributeValue::S("press#p2".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert!(!item.item().unwrap().contains_key("record"));

    // Decided again on version 1: commits.
    let fresh = StateCommit {
        version: 1,
        state: state(&[("count", "2", None)]),
        ..first.clone()
    };
    ledger.commit(&lease2, &record, Some(&fresh)).await.unwrap();
    assert_eq!(ledger.load_state(&device()).await.unwrap().version, 2);

    // A delivery whose press was taken over: the press's condition cancels it, and the state
    // is left alone.
    let lost = Lease {
        press_id: "p2".into(),
        attempt: 7,
    };
    let next = StateCommit {
        version: 2,
        state: state(&[("count", "3", None)]),
        ..first
    };
    let err = ledger
        .commit(&lost, &record, Some(&next))
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::LostLease { .. }), "{err:?}");
    let stored = ledger.load_state(&device()).await.unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.state.entries["count"].value, "2");
}

#[tokio::test]
async fn the_device_item_expires_only_with_its_last_key() {
    let Some(world) = World::start("the_device_item_expires_only_with_its_last_key").await else {
        return;
    };
    world.ledger_table(TABLE).await;
    let ledger = ledger(&world);
    let record = PressRecord::new("req", false);

    let lease = held(&ledger, "p1").await;
    let expiring = StateCommit {
        device: device(),
        version: 0,
        state: state(&[
            ("a", "1", Some(1_800_000_000_500)),
            ("b", "1", Some(1_700_000_000_000)),
        ]),
    };
    ledger
        .commit(&lease, &record, Some(&expiring))
        .await
        .unwrap();
    let item = device_item(&world).await.unwrap();
    // The latest expiry, in seconds (rounded up), as DynamoDB's TTL reads it.
    assert_eq!(item["ttl"], AttributeValue::N("1800000001".into()));

    let lease = held(&ledger, "p2").await;
    let forever = StateCommit {
        device: device(),
        version: 1,
        state: state(&[("a", "1", Some(1_800_000_000_500)), ("c", "1", None)]),
    };
    ledger
        .commit(&lease, &record, Some(&forever))
        .await
        .unwrap();
    let item = device_item(&world).await.unwrap();
    assert!(
        !item.contains_key("ttl"),
        "a key that never expires: {item:?}"
    );
}

/// The counter guest pressed 20 times through the DynamoDB ledger, one press after another,
/// each with its own press id: the count is 20, and each press made one state read and one
/// transaction besides the claim and the end.
#[tokio::test]
async fn twenty_presses_of_one_device_count_to_twenty() {
    let Some(world) = World::start("twenty_presses_of_one_device_count_to_twenty").await else {
        return;
    };
    world.ledger_table(TABLE).await;
    let engine = engine_with(&[]);
    let source =
        FixedGuest::from_bytes(&engine, &guest_bytes(guests::STATEFUL), "stateful.wasm").unwrap();
    let pipeline = Pipeline::new(
        engine,
        source,
        DryRunExecutor::new(ActionTargets {
            snapshot: SnapshotTarget::default(),
            topic_arn: None,
        }),
    )
    .with_ledger(ledger(&world));
    let event = format!(r#"{{"serialNumber":"{SERIAL}","clickType":"SINGLE"}}"#);
    world.moto.start_recording();
    for n in 1..=20 {
        let id = format!("press-{n}");
        let result = pipeline
            .press(PressRequest {
                press_id: Some(&id),
                ..PressRequest::new(&id, event.as_bytes())
            })
            .await;
        assert!(result.record.ok, "press {n}: {:?}", result.failure);
    }
    let recording = world.moto.stop_recording();
    let stored = pipeline.ledger().load_state(&device()).await.unwrap();
    assert_eq!(stored.state.entries["count"].value, "20");
    assert_eq!(stored.version, 20);
    let calls: Vec<&str> = recording
        .iter()
        .filter_map(|r| r.header("X-Amz-Target"))
        .filter_map(|t| t.strip_prefix("DynamoDB_20120810."))
        .collect();
    let count = |op: &str| calls.iter().filter(|c| **c == op).count();
    assert_eq!(count("GetItem"), 20, "{calls:?}");
    assert_eq!(count("TransactWriteItems"), 20, "{calls:?}");
    // The claim, the rate count and the end of each press.
    assert_eq!(count("UpdateItem"), 60, "{calls:?}");
    assert_eq!(calls.len(), 100, "{calls:?}");
}
