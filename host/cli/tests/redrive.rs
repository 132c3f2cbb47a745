//! `clickrules redrive` against the moto emulator: a press whose second action failed for good
//! is dead-lettered with its first action done; once the cause is fixed, redrive shows its
//! plan, runs only the action not done (the snapshot is not taken twice) and removes the
//! message; a dry run changes nothing; and a message whose press is already done is removed
//! without running anything.

use std::process::Output;

use clickrules_aws::{DynamoLedger, PressStatus};
use clickrules_test_support::run;
use clickrules_test_support::{World, invocations, moto};
use clickrules_tests::guests;
use serde_json::Value;

const TABLE: &str = "presses";

fn topic_arn() -> String {
    format!("arn:aws:sns:{}:123456789012:presses", moto::REGION)
}

async fn function(world: &World, name: &str, variables: &[(&str, &str)]) {
    world
        .moto
        .clickrules_function(&world.clients.lambda, name, variables)
        .await;
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn publishes(recording: &[moto::Recorded]) -> usize {
    recording
        .iter()
        .filter(|r| {
            r.method == "POST" && String::from_utf8_lossy(&r.body).contains("Action=Publish")
        })
        .count()
}

#[tokio::test]
async fn redrive_runs_only_what_did_not_run_and_removes_the_message() {
    let Some(world) = World::start("redrive_runs_only_what_did_not_run").await else {
        return;
    };
    world.snapshot_function("scheduled_snapshot").await;
    world.ledger_table(TABLE).await;
    let dlq = world.queue("clickrules-dlq").await;
    let topic = topic_arn();
    let env = [
        ("CLICKRULES_GUEST", guests::ACTIONS),
        (
            "CLICKRULES_CONFIG_ACTIONS",
            "snapshot:us-west-1;notify:hello|world",
        ),
        ("CLICKRULES_NOTIFY_TOPIC_ARN", topic.as_str()),
        ("CLICKRULES_LEDGER_TABLE", TABLE),
        ("CLICKRULES_DEAD_LETTER_QUEUE_URL", dlq.as_str()),
    ];
    let endpoint = world.moto.endpoint();
    let clickrules =
        |args: &[&str]| run::against(env!("CARGO_BIN_EXE_clickrules"), args, &endpoint, &env);

    // The topic does not exist yet: the snapshot is taken, the notification fails for good,
    // and the press is dead-lettered with its record.
    let out = clickrules(&["press", "--execute", "--press-id", "p-1", "--json"]);
    let record: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    assert_eq!(record["dead_lettered"], true, "{record:#}");
    assert_eq!(record["outcomes"][0]["status"], "done");
    assert_eq!(record["outcomes"][1]["status"], "failed");

    function(&world, "clickrules-prod", &env).await;
    let redrive = |extra: &[&str]| {
        let mut args = vec!["redrive", "--function", "clickrules-prod"];
        args.extend_from_slice(extra);
        clickrules(&args)
    };

    // A dry run shows the plan and leaves the message.
    let out = redrive(&["--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    let plan = text(&out);
    assert!(plan.contains("p-1"), "{plan}");
    assert!(
        plan.contains("run only what is not done: 2. notify"),
        "{plan}"
    );

    // The cause is fixed: the topic exists now.
    world
        .clients
        .sns
        .create_topic()
        .name("presses")
        .send()
        .await
        .unwrap();
    world.moto.start_recording();
    let out = redrive(&["--yes", "--json"]);
    let recording = world.moto.stop_recording();
    assert!(out.status.success(), "{}", text(&out));
    let letters: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(letters.as_array().unwrap().len(), 1, "{letters:#}");
    assert_eq!(letters[0]["press_id"], "p-1");
    assert_eq!(letters[0]["plan"]["action"], "resume");
    assert_eq!(letters[0]["result"]["status"], "done", "{letters:#}");
    // Only the notification ran: the snapshot taken before is not taken again.
    assert_eq!(invocations(&recording).len(), 0, "{recording:#?}");
    assert_eq!(publishes(&recording), 1);

    // The press is complete now, and the queue is empty.
    let ledger = DynamoLedger::new(
        world.clients.dynamodb.clone(),
        TABLE.into(),
        std::time::Duration::from_secs(3600),
    );
    let stored = ledger.inspect("p-1").await.unwrap().unwrap();
    assert_eq!(stored.status, PressStatus::Complete);
    assert!(stored.record.unwrap().ok);
    let out = redrive(&["--yes", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
}

#[tokio::test]
async fn a_message_whose_press_is_done_is_removed_without_running_anything() {
    let Some(world) = World::start("a_message_whose_press_is_done").await else {
        return;
    };
    world.snapshot_function("scheduled_snapshot").await;
    world.ledger_table(TABLE).await;
    let dlq = world.queue("clickrules-dlq").await;
    let env = [
        ("CLICKRULES_LEDGER_TABLE", TABLE),
        ("CLICKRULES_DEAD_LETTER_QUEUE_URL", dlq.as_str()),
    ];
    let endpoint = world.moto.endpoint();
    let clickrules =
        |args: &[&str]| run::against(env!("CARGO_BIN_EXE_clickrules"), args, &endpoint, &env);
    let out = clickrules(&["press", "--execute", "--press-id", "p-2", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Lambda's own on-failure destination: the event, and the error instead of a record.
    let body = serde_json::json!({
        "version": "1.0",
        "requestContext": { "requestId": "p-2", "condition": "RetriesExhausted" },
        "requestPayload": { "serialNumber": record["click"]["serial_number"], "clickType": "SINGLE" },
        "responseContext": { "functionError": "Unhandled" },
        "responsePayload": { "errorType": "clickrules.deadline", "errorMessage": "timed out" },
    });
    world
        .sqs
        .send_message()
        .queue_url(&dlq)
        .message_body(body.to_string())
        .send()
        .await
        .unwrap();
    function(&world, "clickrules-prod", &env).await;
    world.moto.start_recording();
    let out = clickrules(&[
        "redrive",
        "--function",
        "clickrules-prod",
        "--yes",
        "--json",
    ]);
    let recording = world.moto.stop_recording();
    assert!(out.status.success(), "{}", text(&out));
    let letters: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(letters[0]["press_id"], "p-2");
    assert_eq!(letters[0]["plan"]["action"], "remove", "{letters:#}");
    assert_eq!(letters[0]["result"]["status"], "done");
    assert_eq!(invocations(&recording).len(), 0, "nothing ran again");
    assert!(world.messages(&dlq).await.is_empty());
}

#[tokio::test]
async fn a_press_that_failed_before_any_action_is_decided_again_by_the_fixed_deployment() {
    let Some(world) = World::start("a_press_that_failed_before_any_action").await else {
        return;
    };
    world.snapshot_function("scheduled_snapshot").await;
    world.ledger_table(TABLE).await;
    let dlq = world.queue("clickrules-dlq").await;
    let env = |actions: &'static str| {
        [
            ("CLICKRULES_GUEST", guests::ACTIONS),
            ("CLICKRULES_CONFIG_ACTIONS", actions),
            ("CLICKRULES_LEDGER_TABLE", TABLE),
            ("CLICKRULES_DEAD_LETTER_QUEUE_URL", dlq.as_str()),
        ]
    };
    let endpoint = world.moto.endpoint();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        run::against(env!("CARGO_BIN_EXE_clickrules"), args, &endpoint, env)
    };
    // A region that does not exist: refused before anything runs, dead-lettered, ended.
    let out = run(
        &["press", "--execute", "--press-id", "p-3", "--json"],
        &env("snapshot:mars-1"),
    );
    let record: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    assert_eq!(record["dead_lettered"], true, "{record:#}");
    assert!(record["outcomes"].as_array().unwrap().is_empty());

    // The deployment is fixed; redrive decides the press again and runs its snapshot once.
    function(&world, "clickrules-prod", &env("snapshot:us-west-1")).await;
    world.moto.start_recording();
    let out = run(
        &[
            "redrive",
            "--function",
            "clickrules-prod",
            "--yes",
            "--json",
        ],
        &env("snapshot:us-west-1"),
    );
    let recording = world.moto.stop_recording();
    assert!(out.status.success(), "{}", text(&out));
    let letters: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(letters[0]["plan"]["action"], "decide", "{letters:#}");
    assert_eq!(letters[0]["result"]["status"], "done", "{letters:#}");
    let invoked = invocations(&recording);
    assert_eq!(invoked.len(), 1, "{invoked:#?}");
    assert_eq!(invoked[0].body, br#"{"region":"us-west-1"}"#);
    assert!(world.messages(&dlq).await.is_empty());
}
