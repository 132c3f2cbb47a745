//! Press history in the DynamoDB ledger (moto): presses run through the real pipeline are
//! stored with the attributes history reads them by and a TTL by outcome, and read back by
//! device and by time, one at a time with their duplicates, and forgotten per device.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use clickrules_aws::{BY_DAY_INDEX, BY_DEVICE_INDEX, DynamoHistory, DynamoLedger};
use clickrules_engine::{Click, ClickType, Engine, EventFormat, NormalisedEvent};
use clickrules_pipeline::{
    ActionTargets, AllowedDevices, DryRunExecutor, ErrorInfo, FixedGuest, Forgotten, History,
    HistoryError, HistoryQuery, Ledger as _, LedgerOutcome, Pipeline, PressOutcome, PressPolicy,
    PressRecord, PressRequest, PressResult, Retention, days,
};
use clickrules_test_support::{World, engine, engine_with};
use clickrules_tests::{guest_bytes, guests};

const TABLE: &str = "clickrules-presses";
/// 2026-01-15 12:00:00 UTC.
const T0: u64 = 1_768_478_400_000;
const MINUTE: u64 = 60_000;
const DAY: u64 = 86_400_000;
const A: &str = "G030JF055364AAAA";
const B: &str = "G030JF055364BBBB";

type Item = HashMap<String, AttributeValue>;
type DryPipeline = Pipeline<FixedGuest, DryRunExecutor, DynamoLedger>;

/// Every attribute a press item may hold; anything else (a location, a name) must never be
/// stored.
const PRESS_ATTRIBUTES: [&str; 14] = [
    "pk",
    "status",
    "attempt",
    "lease_until",
    "record",
    "failed_record",
    "ttl",
    "device",
    "at",
    "day",
    "outcome",
    "duplicates",
    "last_duplicate_request",
    "last_duplicate_at",
];

fn ledger(world: &World) -> DynamoLedger {
    DynamoLedger::new(
        world.clients.dynamodb.clone(),
        TABLE.into(),
        Duration::from_secs(24 * 3600),
    )
}

fn history(world: &World) -> DynamoHistory {
    DynamoHistory::new(world.clients.dynamodb.clone(), TABLE.into())
}

fn dry_run() -> DryRunExecutor {
    // No topic: a guest that notifies fails its preflight, a failure no retry can fix.
    DryRunExecutor::new(ActionTargets::default())
}

/// The built-in guest: every press snapshots, and succeeds (a dry run).
fn ok_pipeline(ledger: DynamoLedger) -> DryPipeline {
    let engine = engine();
    let source = FixedGuest::builtin(&engine).unwrap();
    Pipeline::new(engine, source, dry_run()).with_ledger(ledger)
}

/// The `actions` guest saying `actions`.
fn actions_pipeline(ledger: DynamoLedger, actions: &str) -> DryPipeline {
    let engine = engine_with(&[("actions", actions)]);
    let source = actions_guest(&engine);
    Pipeline::new(engine, source, dry_run()).with_ledger(ledger)
}

fn actions_guest(engine: &Engine) -> FixedGuest {
    FixedGuest::from_bytes(engine, &guest_bytes(guests::ACTIONS), guests::ACTIONS).unwrap()
}

fn button(serial: &str, trace: &str) -> Vec<u8> {
    format!(r#"{{"serialNumber":"{serial}","clickType":"SINGLE","clickrules_trace_id":"{trace}"}}"#)
        .into_bytes()
}

async fn press_at(pipeline: &DryPipeline, request_id: &str, event: &[u8], at: u64) -> PressResult {
    pipeline
        .press(PressRequest {
            received_at_ms: Some(at),
            ..PressRequest::new(request_id, event)
        })
        .await
}

async fn item(world: &World, pk: &str) -> Option<Item> {
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

async fn press_item(world: &World, press_id: &str) -> Item {
    item(world, &format!("press#{press_id}"))
        .await
        .unwrap_or_else(|| panic!("no item for press {press_id}"))
}

async fn all_items(world: &World) -> Vec<Item> {
    world
        .clients
        .dynamodb
        .scan()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .items()
        .to_vec()
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name)? {
        AttributeValue::S(s) | AttributeValue::N(s) => Some(s),
        _ => None,
    }
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// How many days from now the item expires.
fn ttl_days(item: &Item) -> f64 {
    let ttl: f64 = text(item, "ttl").expect("a ttl").parse().unwrap();
    (ttl - now_s()) / 86_400.0
}

fn assert_days(item: &Item, expected: f64) {
    let got = ttl_days(item);
    // A couple of minutes of slack for a slow machine.
    assert!(
        (got - expected).abs() < 0.002,
        "ttl {got:.4} days from now, expected {expected}: {item:?}"
    );
}

fn press_ids(entries: &[clickrules_pipeline::HistoryEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.record.press_id.as_str()).collect()
}

fn query(device: Option<&str>) -> HistoryQuery {
    HistoryQuery {
        device: device.map(str::to_string),
        ..HistoryQuery::default()
    }
}

/// An ok press, a failed one and one that failed for a retry: each item has its device, time,
/// day and outcome, and a TTL for its outcome; a retention set shorter than the ledger's is
/// raised to it.
#[tokio::test]
async fn press_items_carry_history_attributes_and_a_ttl_by_outcome() {
    let Some(world) = World::start("press_items_carry_history_attributes").await else {
        return;
    };
    world.ledger_table(TABLE).await;
    let ok = ok_pipeline(ledger(&world));
    // No topic: the preflight fails, which no retry fixes; the press completes, failed.
    let failed = actions_pipeline(ledger(&world), "notify:subject|message");
    // A guest error may be fixed by a retry: the press is left open.
    let retry = actions_pipeline(ledger(&world), "bogus:x");

    let r = press_at(&ok, "req-ok", &button(A, "trace-ok"), T0).await;
    assert!(r.record.ok, "{:?}", r.failure);
    let r = press_at(&failed, "req-failed", &button(A, "trace-failed"), T0 + 1).await;
    assert!(!r.record.ok);
    let r = press_at(&retry, "req-retry", &button(A, "trace-retry"), T0 + 2).await;
    assert!(!r.record.ok);

    let ok_item = press_item(&world, "trace-ok").await;
    assert_eq!(text(&ok_item, "status"), Some("complete"));
    assert_eq!(text(&ok_item, "device"), Some(&*format!("iot-button#{A}")));
    assert_eq!(text(&ok_item, "at"), Some(&*T0.to_string()));
    assert_eq!(text(&ok_item, "day"), Some("2026-01-15"));
    assert_eq!(text(&ok_item, "outcome"), Some("ok"));
    assert_days(&ok_item, 7.0);

    let failed_item = press_item(&world, "trace-failed").await;
    assert_eq!(text(&failed_item, "status"), Some("complete"));
    assert_eq!(text(&failed_item, "outcome"), Some("failed"));
    assert_days(&failed_item, 30.0);

    // Open for the retry, with no decision to resume from, and the failure kept for history.
    let retry_item = press_item(&world, "trace-retry").await;
    assert_eq!(text(&retry_item, "status"), Some("open"));
    assert!(!retry_item.contains_key("record"), "{retry_item:?}");
    assert!(retry_item.contains_key("failed_record"), "{retry_item:?}");
    assert_eq!(text(&retry_item, "outcome"), Some("failed"));
    assert_days(&retry_item, 30.0);
    let kept = history(&world).get("trace-retry").await.unwrap().unwrap();
    assert!(!kept.record.ok);
    assert_eq!(kept.record.failure.as_ref().unwrap().kind, "guest_error");
    // The retry decides again (the guest may be fixed): a new decision, not a resumed one.
    let fixed = ok_pipeline(ledger(&world));
    let r = press_at(&fixed, "req-retry-2", &button(A, "trace-retry"), T0 + 3).await;
    assert!(r.record.ok, "{:?}", r.failure);
    assert_eq!(r.record.ledger.outcome, LedgerOutcome::New);
    let fixed_item = press_item(&world, "trace-retry").await;
    assert!(!fixed_item.contains_key("failed_record"), "{fixed_item:?}");
    assert_eq!(text(&fixed_item, "outcome"), Some("ok"));
    assert_days(&fixed_item, 7.0);

    // Retention is the deployment's; never below the ledger's own (5 days here).
    let custom = Retention {
        ok: days(2),
        failed: days(10),
    };
    let short = || {
        DynamoLedger::new(
            world.clients.dynamodb.clone(),
            TABLE.into(),
            Duration::from_secs(5 * 86_400),
        )
        .with_history_retention(custom)
    };
    assert_eq!(short().history_retention(), custom);
    press_at(&ok_pipeline(short()), "req-2", &button(A, "trace-ok-2"), T0).await;
    let failing = actions_pipeline(short(), "notify:subject|message");
    press_at(&failing, "req-3", &button(A, "trace-failed-2"), T0).await;
    assert_days(&press_item(&world, "trace-ok-2").await, 5.0);
    assert_days(&press_item(&world, "trace-failed-2").await, 10.0);
}

/// Listing: by device (qualified or a bare serial), by time window across days, newest first,
/// with a limit and an outcome filter.
#[tokio::test]
async fn history_lists_by_device_and_by_time_newest_first() {
    let Some(world) = World::start("history_lists_by_device_and_by_time").await else {
        return;
    };
    world.ledger_table(TABLE).await;
    let ok = ok_pipeline(ledger(&world));
    let failed = actions_pipeline(ledger(&world), "notify:subject|message");
    let ignored = actions_pipeline(ledger(&world), "ignore:not today");
    // Out of order, over two days; each press its own id.
    press_at(&ok, "r1", &button(A, "a-1"), T0 + MINUTE).await;
    press_at(&ok, "r0", &button(A, "a-0"), T0).await;
    press_at(&ok, "ry", &button(A, "a-yesterday"), T0 - DAY).await;
    press_at(&failed, "r2", &button(A, "a-2"), T0 + 2 * MINUTE).await;
    press_at(&ignored, "r3", &button(A, "a-3"), T0 + 3 * MINUTE).await;
    press_at(&ok, "rb", &button(B, "b-0"), T0 + 30_000).await;
    let h = history(&world);

    let a = format!("iot-button#{A}");
    let all_a = h.list(&query(Some(&a))).await.unwrap();
    assert_eq!(
        press_ids(&all_a),
        ["a-3", "a-2", "a-1", "a-0", "a-yesterday"]
    );
    assert_eq!(all_a[1].record.ledger.outcome, LedgerOutcome::New);
    // A bare serial finds the same presses (it is looked up under every source).
    assert_eq!(
        press_ids(&h.list(&query(Some(A))).await.unwrap()),
        press_ids(&all_a)
    );
    assert!(h.list(&query(Some("nobody"))).await.unwrap().is_empty());
    assert!(
        h.list(&query(Some("shelly-gen1#G030JF055364AAAA")))
            .await
            .unwrap()
            .is_empty(),
        "another source's device of the same serial"
    );

    let limited = HistoryQuery {
        limit: 2,
        ..query(Some(&a))
    };
    assert_eq!(press_ids(&h.list(&limited).await.unwrap()), ["a-3", "a-2"]);
    let failures = HistoryQuery {
        outcome: Some(PressOutcome::Failed),
        ..query(Some(A))
    };
    assert_eq!(press_ids(&h.list(&failures).await.unwrap()), ["a-2"]);
    // `since` inclusive, `until` exclusive.
    let window = HistoryQuery {
        since_ms: Some(T0),
        until_ms: Some(T0 + 2 * MINUTE),
        ..query(Some(&a))
    };
    assert_eq!(press_ids(&h.list(&window).await.unwrap()), ["a-1", "a-0"]);

    // Without a device: every device, day by day, newest first.
    let everything = HistoryQuery {
        since_ms: Some(T0 - 2 * DAY),
        until_ms: Some(T0 + DAY),
        ..HistoryQuery::default()
    };
    assert_eq!(
        press_ids(&h.list(&everything).await.unwrap()),
        ["a-3", "a-2", "a-1", "b-0", "a-0", "a-yesterday"]
    );
    let newest = HistoryQuery {
        limit: 3,
        ..everything.clone()
    };
    assert_eq!(
        press_ids(&h.list(&newest).await.unwrap()),
        ["a-3", "a-2", "a-1"]
    );
    let oks = HistoryQuery {
        outcome: Some(PressOutcome::Ok),
        limit: 3,
        ..everything.clone()
    };
    assert_eq!(
        press_ids(&h.list(&oks).await.unwrap()),
        ["a-1", "b-0", "a-0"]
    );
    let ignores = HistoryQuery {
        outcome: Some(PressOutcome::Ignored),
        ..everything.clone()
    };
    assert_eq!(press_ids(&h.list(&ignores).await.unwrap()), ["a-3"]);
    let yesterday = HistoryQuery {
        since_ms: Some(T0 - 2 * DAY),
        until_ms: Some(T0),
        ..HistoryQuery::default()
    };
    assert_eq!(
        press_ids(&h.list(&yesterday).await.unwrap()),
        ["a-yesterday"]
    );
    // The default window reaches back 30 days from `until`.
    let month_later = HistoryQuery {
        until_ms: Some(T0 + 29 * DAY),
        ..HistoryQuery::default()
    };
    assert_eq!(h.list(&month_later).await.unwrap().len(), 6);
    let too_late = HistoryQuery {
        until_ms: Some(T0 + 32 * DAY),
        ..HistoryQuery::default()
    };
    assert!(h.list(&too_late).await.unwrap().is_empty());
}

/// A redelivery of a complete press runs nothing and is counted on it; the stored record is
/// still the delivery that did the work.
#[tokio::test]
async fn a_redelivery_is_counted_on_the_press_it_repeated() {
    let Some(world) = World::start("a_redelivery_is_counted_on_the_press").await else {
        return;
    };
    world.ledger_table(TABLE).await;
    let ok = ok_pipeline(ledger(&world));
    let h = history(&world);
    press_at(&ok, "req-1", &button(A, "trace-dup"), T0).await;
    assert_eq!(h.get("trace-dup").await.unwrap().unwrap().duplicates, 0);

    let again = press_at(&ok, "req-2", &button(A, "trace-dup"), T0 + 5_000).await;
    assert_eq!(again.record.ledger.outcome, LedgerOutcome::Duplicate);
    let entry = h.get("trace-dup").await.unwrap().unwrap();
    assert_eq!(entry.duplicates, 1);
    assert_eq!(entry.record.request_id, "req-1");
    assert_eq!(
        entry.record.outcomes.len(),
        1,
        "the stored outcome is merged"
    );
    let stored = press_item(&world, "trace-dup").await;
    assert_eq!(text(&stored, "last_duplicate_request"), Some("req-2"));
    assert_eq!(text(&stored, "outcome"), Some("ok"));

    press_at(&ok, "req-3", &button(A, "trace-dup"), T0 + 9_000).await;
    let entry = h.get("trace-dup").await.unwrap().unwrap();
    assert_eq!(entry.duplicates, 2);
    let listed = h.list(&query(Some(A))).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].duplicates, 2);
    assert!(h.get("never-pressed").await.unwrap().is_none());
}

/// A delivery with no press (a Shelly Gen2 button-down edge) is kept once, as `not_a_press`,
/// and its redelivery counted; a press of a device not allowed is kept as failed; a delivery
/// that failed where a retry may succeed is not kept (its retry must run).
#[tokio::test]
async fn deliveries_the_ledger_never_claimed_are_kept() {
    let Some(world) = World::start("deliveries_the_ledger_never_claimed_are_kept").await else {
        return;
    };
    world.ledger_table(TABLE).await;
    let ok = ok_pipeline(ledger(&world));
    let h = history(&world);
    let edge = br#"{"src":"shellyplusi4-a8032ab1fe78","method":"NotifyEvent","params":{"ts":1691055980.10,"events":[{"component":"input:0","id":0,"event":"btn_down","ts":1691055980.10}]},"clickrules_topic":"shellyplusi4-a8032ab1fe78/events/rpc","clickrules_trace_id":"trace-edge"}"#;
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let result = ok.press(PressRequest::new("req-edge", edge)).await;
    assert!(result.record.ok && result.record.click.is_none());
    assert_eq!(result.record.ledger.outcome, LedgerOutcome::Off);

    let kept = press_item(&world, "trace-edge").await;
    assert_eq!(text(&kept, "status"), Some("complete"));
    assert_eq!(text(&kept, "outcome"), Some("not_a_press"));
    assert!(
        !kept.contains_key("device"),
        "no press, no device: {kept:?}"
    );
    let at: u64 = text(&kept, "at").unwrap().parse().unwrap();
    assert!(at >= before, "placed in time when kept");
    assert_days(&kept, 7.0);
    let entry = h.get("trace-edge").await.unwrap().unwrap();
    assert_eq!(entry.record.skipped.len(), 1);
    assert_eq!(PressOutcome::of(&entry.record), PressOutcome::NotAPress);
    let recent = HistoryQuery {
        since_ms: Some(before),
        ..HistoryQuery::default()
    };
    assert_eq!(press_ids(&h.list(&recent).await.unwrap()), ["trace-edge"]);

    // The same message again: one item, counted.
    ok.press(PressRequest::new("req-edge-2", edge)).await;
    assert_eq!(h.get("trace-edge").await.unwrap().unwrap().duplicates, 1);
    assert_eq!(
        text(
            &press_item(&world, "trace-edge").await,
            "last_duplicate_request"
        ),
        Some("req-edge-2")
    );

    // A device not allowed: refused before any claim, kept as the failure it is.
    let strict = ok_pipeline(ledger(&world)).with_policy(PressPolicy {
        devices: AllowedDevices::parse(&format!("iot-button:{B}")).unwrap(),
        ..PressPolicy::default()
    });
    let refused = press_at(&strict, "req-x", &button(A, "trace-stranger"), T0).await;
    assert!(!refused.record.ok);
    let stranger = press_item(&world, "trace-stranger").await;
    assert_eq!(text(&stranger, "outcome"), Some("failed"));
    assert_eq!(text(&stranger, "device"), Some(&*format!("iot-button#{A}")));
    assert_days(&stranger, 30.0);

    // The ledger failed before the claim: a retry must find no complete press to answer it.
    let ledger = ledger(&world);
    let mut unclaimed = PressRecord::new("req-down", true);
    unclaimed.press_id = "trace-down".into();
    unclaimed.event_format = Some(EventFormat::IotButton);
    unclaimed.click = Some(Click::new(A, ClickType::Single, None, T0));
    unclaimed.failure = Some(ErrorInfo {
        kind: "ledger".into(),
        message: "the press ledger is unavailable".into(),
        retryable: Some(true),
        backtrace: Vec::new(),
    });
    ledger.keep(&unclaimed).await.unwrap();
    assert!(item(&world, "press#trace-down").await.is_none());
    let r = press_at(&ok, "req-down-2", &button(A, "trace-down"), T0).await;
    assert_eq!(r.record.ledger.outcome, LedgerOutcome::New);
    assert!(r.record.ok, "{:?}", r.failure);

    // A duplicate of a press no longer stored is not brought back as an empty item.
    let mut late = PressRecord::new("req-late", true);
    late.press_id = "trace-gone".into();
    late.ledger.outcome = LedgerOutcome::Duplicate;
    ledger.keep(&late).await.unwrap();
    assert!(item(&world, "press#trace-gone").await.is_none());
}

/// Flic presses (whose webhook carries the phone's location) and every other item: only the
/// attributes the ledger names, never anything copied from the event.
#[tokio::test]
async fn press_items_hold_only_the_known_attributes() {
    let Some(world) = World::start("press_items_hold_only_the_known_attributes").await else {
        return;
    };
    world.ledger_table(TABLE).await;
    let ok = ok_pipeline(ledger(&world));
    // As the webhook entry hands over a verified Flic press.
    let flic = NormalisedEvent::one(
        EventFormat::Flic,
        Click {
            source: EventFormat::Flic.as_str().into(),
            ..Click::new("BF12-A00001", ClickType::Double, None, T0)
        },
        None,
    );
    let r = ok
        .press(PressRequest {
            press_id: Some("flic-1"),
            normalised: Some(&flic),
            received_at_ms: Some(T0),
            ..PressRequest::new("req-flic", b"{\"token\":\"verified elsewhere\"}")
        })
        .await;
    assert!(r.record.ok, "{:?}", r.failure);
    press_at(&ok, "req-1", &button(A, "trace-1"), T0).await;
    press_at(&ok, "req-2", &button(A, "trace-1"), T0).await;
    let retry = actions_pipeline(ledger(&world), "bogus:x");
    press_at(&retry, "req-3", &button(A, "trace-retry"), T0).await;

    let flic_item = press_item(&world, "flic-1").await;
    assert_eq!(text(&flic_item, "device"), Some("flic#BF12-A00001"));
    let items = all_items(&world).await;
    let mut presses = 0;
    for item in &items {
        let pk = text(item, "pk").unwrap();
        if !pk.starts_with("press#") {
            continue;
        }
        presses += 1;
        for name in item.keys() {
            let outcome = name
                .strip_prefix("outcome_")
                .is_some_and(|n| n.parse::<u32>().is_ok());
            assert!(
                outcome || PRESS_ATTRIBUTES.contains(&name.as_str()),
                "{pk} holds {name}: {item:?}"
            );
        }
    }
    assert_eq!(presses, 3, "{items:?}");
}

/// Forgetting a device deletes its presses, its state and its rate counts, and nothing of
/// any other device.
#[tokio::test]
async fn forget_removes_a_devices_presses_and_state_only() {
    let Some(world) = World::start("forget_removes_a_devices_presses_and_state").await else {
        return;
    };
    world.ledger_table(TABLE).await;
    let engine = engine_with(&[]);
    let source =
        FixedGuest::from_bytes(&engine, &guest_bytes(guests::STATEFUL), "stateful.wasm").unwrap();
    let counter = Pipeline::new(engine, source, dry_run()).with_ledger(ledger(&world));
    // Pressed now, so the per-minute rate items are the current minute's.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    for n in 0..3 {
        let r = press_at(
            &counter,
            &format!("ra{n}"),
            &button(A, &format!("a-{n}")),
            now + n,
        )
        .await;
        assert!(r.record.ok, "{:?}", r.failure);
    }
    for n in 0..2 {
        let r = press_at(
            &counter,
            &format!("rb{n}"),
            &button(B, &format!("b-{n}")),
            now + n,
        )
        .await;
        assert!(r.record.ok, "{:?}", r.failure);
    }
    let state = |serial: &str| format!("state#iot-button#{serial}");
    let rate = |serial: &str| format!("rate#iot-button#{serial}#{}", now / MINUTE);
    assert!(item(&world, &state(A)).await.is_some());
    assert!(item(&world, &rate(A)).await.is_some());
    let h = history(&world);

    let forgotten = h.forget(&format!("iot-button#{A}")).await.unwrap();
    assert_eq!(
        forgotten,
        Forgotten {
            presses: 3,
            states: 1
        }
    );
    for n in 0..3 {
        assert!(h.get(&format!("a-{n}")).await.unwrap().is_none());
    }
    assert!(item(&world, &state(A)).await.is_none());
    assert!(item(&world, &rate(A)).await.is_none());
    assert!(h.list(&query(Some(A))).await.unwrap().is_empty());
    // B is untouched.
    assert_eq!(
        press_ids(&h.list(&query(Some(B))).await.unwrap()),
        ["b-1", "b-0"]
    );
    assert!(item(&world, &state(B)).await.is_some());
    assert!(item(&world, &rate(B)).await.is_some());

    // A bare serial forgets the device under every source; again, there is nothing left.
    let forgotten = h.forget(B).await.unwrap();
    assert_eq!(
        forgotten,
        Forgotten {
            presses: 2,
            states: 1
        }
    );
    assert_eq!(h.forget(B).await.unwrap(), Forgotten::default());
    let left: Vec<String> = all_items(&world)
        .await
        .iter()
        .filter_map(|i| text(i, "pk").map(str::to_string))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// More presses than a batch deletes at once, and than one page of a listing returns.
#[tokio::test]
async fn forget_and_list_go_past_one_batch() {
    let Some(world) = World::start("forget_and_list_go_past_one_batch").await else {
        return;
    };
    world.ledger_table(TABLE).await;
    let ok = ok_pipeline(ledger(&world));
    for n in 0..30u64 {
        press_at(
            &ok,
            &format!("r{n}"),
            &button(A, &format!("p-{n:02}")),
            T0 + n * 1_000,
        )
        .await;
    }
    let h = history(&world);
    let listed = h.list(&query(Some(A))).await.unwrap();
    assert_eq!(listed.len(), 30);
    assert_eq!(listed[0].record.press_id, "p-29");
    assert_eq!(listed[29].record.press_id, "p-00");
    let limited = HistoryQuery {
        limit: 26,
        ..query(Some(A))
    };
    let newest = h.list(&limited).await.unwrap();
    assert_eq!(newest.len(), 26);
    assert_eq!(newest[0].record.press_id, "p-29");
    assert_eq!(newest[25].record.press_id, "p-04");
    let days = HistoryQuery {
        limit: 26,
        since_ms: Some(T0 - DAY),
        until_ms: Some(T0 + DAY),
        ..HistoryQuery::default()
    };
    let by_day = h.list(&days).await.unwrap();
    assert_eq!(press_ids(&by_day), press_ids(&newest));
    assert_eq!(h.forget(A).await.unwrap().presses, 30);
    assert!(h.list(&query(Some(A))).await.unwrap().is_empty());
}

/// What cannot be read is reported, naming the table, not skipped or panicked on.
#[tokio::test]
async fn unreadable_records_and_a_missing_table_are_errors() {
    let Some(world) = World::start("unreadable_records_and_a_missing_table").await else {
        return;
    };
    world.ledger_table(TABLE).await;
    world
        .clients
        .dynamodb
        .put_item()
        .table_name(TABLE)
        .item("pk", AttributeValue::S("press#broken".into()))
        .item("status", AttributeValue::S("complete".into()))
        .item("record", AttributeValue::S("{not json".into()))
        .item("device", AttributeValue::S(format!("iot-button#{A}")))
        .item("at", AttributeValue::N(T0.to_string()))
        .item("day", AttributeValue::S("2026-01-15".into()))
        .item("outcome", AttributeValue::S("ok".into()))
        .send()
        .await
        .unwrap();
    let h = history(&world);
    match h.get("broken").await {
        Err(HistoryError::Corrupt { store, what, .. }) => {
            assert_eq!(store, TABLE);
            assert!(what.contains("broken"), "{what}");
        }
        other => panic!("expected an unreadable entry, got {other:?}"),
    }
    assert!(matches!(
        h.list(&query(Some(A))).await,
        Err(HistoryError::Corrupt { .. })
    ));

    let missing = DynamoHistory::new(world.clients.dynamodb.clone(), "no-such-table".into());
    match missing.list(&query(Some(A))).await {
        Err(HistoryError::Unavailable { store, message }) => {
            assert_eq!(store, "no-such-table");
            assert!(message.contains("ResourceNotFound"), "{message}");
        }
        other => panic!("expected the table to be unavailable, got {other:?}"),
    }
    assert!(matches!(
        missing.forget(A).await,
        Err(HistoryError::Unavailable { .. })
    ));
}

/// The table's definition matches what history queries, in one place.
#[tokio::test]
async fn the_ledger_table_has_both_history_indexes() {
    let Some(world) = World::start("the_ledger_table_has_both_history_indexes").await else {
        return;
    };
    world.ledger_table(TABLE).await;
    let table = world
        .clients
        .dynamodb
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap();
    let table = table.table().unwrap();
    let indexes: BTreeSet<(&str, Vec<&str>)> = table
        .global_secondary_indexes()
        .iter()
        .map(|i| {
            (
                i.index_name().unwrap(),
                i.key_schema().iter().map(|k| k.attribute_name()).collect(),
            )
        })
        .collect();
    assert_eq!(
        indexes,
        BTreeSet::from([
            (BY_DAY_INDEX, vec!["day", "at"]),
            (BY_DEVICE_INDEX, vec!["device", "at"]),
        ])
    );
}
