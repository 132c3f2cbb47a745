//! The shadow guest through the real `bootstrap`: `CLICKRULES_SHADOW_GUEST` decides every press
//! beside the active guest, its actions are never executed, its decision and whether it
//! differed are in the record (and the `ShadowDifferences` metric), a trapping or looping
//! shadow never fails the press, and an S3 shadow is hot-swapped like the active guest.

use std::path::{Path, PathBuf};
use std::process::Child;

use clickrules_test_support::runtime_api::{self, RuntimeApi};
use clickrules_test_support::{World, invocations};
use clickrules_tests::{guest_bytes, guests};

const BOOTSTRAP: &str = env!("CARGO_BIN_EXE_bootstrap");
const DOUBLE: &[u8] = br#"{"serialNumber":"G030SHADOWLAMBDA","clickType":"DOUBLE"}"#;

fn bootstrap(runtime_api: u16, endpoint: &str, home: &Path, extra: &[(&str, &str)]) -> Child {
    let mut command = runtime_api::lambda_command(BOOTSTRAP, runtime_api, endpoint, home);
    command.envs(extra.iter().copied());
    command.spawn().expect("start bootstrap")
}

fn home(test: &str) -> PathBuf {
    let home =
        std::env::temp_dir().join(format!("clickrules-shadow-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    home
}

/// The response records of `events`, pressed one after another with `shadow`.
async fn press_with_shadow(
    world: &World,
    test: &str,
    shadow: &str,
    events: Vec<(&str, Vec<u8>)>,
) -> (Vec<serde_json::Value>, String) {
    let home = home(test);
    let count = events.len();
    let api = RuntimeApi::start(events);
    let mut child = bootstrap(
        api.port,
        &world.moto.endpoint(),
        &home,
        &[("CLICKRULES_SHADOW_GUEST", shadow)],
    );
    let replies = api.replies(count);
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&home);
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let bodies = replies
        .into_iter()
        .map(|r| {
            assert_eq!(r.kind, "response", "{r:?}\n{logs}");
            r.body
        })
        .collect();
    (bodies, logs)
}

#[tokio::test]
async fn a_differing_shadow_is_recorded_and_only_the_active_guest_runs() {
    let Some(world) = World::start("a_differing_shadow_is_recorded").await else {
        return;
    };
    world.snapshot_function("scheduled_snapshot").await;
    world.moto.start_recording();
    let (records, logs) = press_with_shadow(
        &world,
        "differs",
        guests::BY_CLICK,
        vec![("req-double", DOUBLE.to_vec())],
    )
    .await;
    let recording = world.moto.stop_recording();
    let record = &records[0];
    assert_eq!(record["ok"], true, "{record:#}");
    // The built-in guest decided and ran: exactly one Invoke, for us-west-1.
    let invoked = invocations(&recording);
    assert_eq!(invoked.len(), 1, "{invoked:?}");
    assert_eq!(invoked[0].body, br#"{"region":"us-west-1"}"#);
    let shadow = &record["shadow"];
    assert_eq!(shadow["differs"], true, "{record:#}");
    assert_ne!(shadow["verdict"]["actions"][0]["region"], "us-west-1");
    assert!(shadow["budget_ms"].as_u64().unwrap() > 0);
    // The logged line counts the difference as a metric.
    let line = logs
        .lines()
        .find(|l| l.contains("clickrules::record"))
        .expect("a record line");
    let line: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(line["ShadowDifferences"], 1, "{line:#}");
}

#[tokio::test]
async fn a_trapping_or_looping_shadow_never_fails_the_press() {
    let Some(world) = World::start("a_trapping_or_looping_shadow").await else {
        return;
    };
    world.snapshot_function("scheduled_snapshot").await;
    for (test, shadow, kind) in [
        ("trap", guests::TRAP, "trap"),
        ("spin", guests::SPIN, "deadline"),
    ] {
        let (records, _) =
            press_with_shadow(&world, test, shadow, vec![("req-1", DOUBLE.to_vec())]).await;
        let record = &records[0];
        assert_eq!(record["ok"], true, "{test}: {record:#}");
        assert_eq!(
            record["outcomes"][0]["status"], "done",
            "{test}: {record:#}"
        );
        assert_eq!(
            record["shadow"]["verdict"]["error"], kind,
            "{test}: {record:#}"
        );
    }
}

#[tokio::test]
async fn an_s3_shadow_is_hot_swapped_on_the_next_press() {
    let Some(world) = World::start("an_s3_shadow_is_hot_swapped").await else {
        return;
    };
    world.snapshot_function("scheduled_snapshot").await;
    world.bucket("clickrules-guests", true).await;
    let uri = clickrules_aws::S3Uri::parse("s3://clickrules-guests/candidate.wasm").unwrap();
    world.upload(&uri, &guest_bytes(guests::BY_CLICK)).await;

    let home = home("hot-swap");
    let api = RuntimeApi::start(vec![("req-1", DOUBLE.to_vec())]);
    let mut child = bootstrap(
        api.port,
        &world.moto.endpoint(),
        &home,
        &[(
            "CLICKRULES_SHADOW_GUEST",
            "s3://clickrules-guests/candidate.wasm",
        )],
    );
    let first = api.replies(1);
    world.upload(&uri, &guest_bytes(guests::DEFAULT)).await;
    api.push([("req-2".to_string(), DOUBLE.to_vec())]);
    let both = api.replies(2);
    let _ = child.kill();
    let _ = child.wait_with_output();
    let _ = std::fs::remove_dir_all(&home);
    let before = &first[0].body["shadow"];
    let after = &both[1].body["shadow"];
    assert_eq!(before["differs"], true, "{before:#}");
    // The default guest decides as the built-in one: no difference after the swap.
    assert_eq!(after["differs"], false, "{after:#}");
    assert_ne!(before["guest"]["sha256"], after["guest"]["sha256"]);
}

/// A shadow that would not fit in the function's memory beside the active guest is refused at
/// init, naming the shadow: compiling it here would risk the out-of-memory kill of every press.
#[test]
fn a_shadow_too_heavy_for_the_function_is_refused_at_init() {
    let api = RuntimeApi::start(Vec::new());
    let home = home("heavy");
    // 49 MB leaves the compile of even a small Rust guest no room beside the active one.
    let mut command = runtime_api::lambda_command(BOOTSTRAP, api.port, "http://127.0.0.1:9", &home);
    command
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "49")
        .env("CLICKRULES_SHADOW_GUEST", guests::BY_CLICK);
    let output = command.spawn().unwrap().wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&home);
    assert!(!output.status.success());
    let logs = String::from_utf8_lossy(&output.stdout);
    let line = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["message"] == "init failed")
        .unwrap_or_else(|| panic!("no init failure logged: {logs}"));
    let error = line["error"].as_str().unwrap_or_default();
    assert!(error.contains("CLICKRULES_SHADOW_GUEST"), "{error}");
    assert!(error.contains("49 MB"), "{error}");
}
