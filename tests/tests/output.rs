//! Guest output (host.log, stdout, stderr) lands in the decision record, capped.

mod common;

use clickrules_engine::LogLevel;
use clickrules_tests::guests;
use common::{SINGLE, engine_with, load, settings};

#[test]
fn output_is_captured() {
    let engine = engine_with(settings(&[("lines", "2")]));
    let guest = load(&engine, guests::CHATTY);
    let d = engine.press(&guest, SINGLE);
    assert!(d.is_ok(), "{d:?}");
    assert_eq!(
        d.output.stdout,
        "stdout line 0 for G030JF055364XVRB\nstdout line 1 for G030JF055364XVRB\n"
    );
    assert_eq!(d.output.stderr, "stderr line 0\nstderr line 1\n");
    let levels: Vec<LogLevel> = d.output.logs.iter().map(|l| l.level).collect();
    assert_eq!(levels, [LogLevel::Debug, LogLevel::Info]);
    assert_eq!(d.output.logs[1].message, "log line 1");
}

#[test]
fn output_flood_is_capped_not_fatal() {
    let engine = engine_with(settings(&[("lines", "5000")]));
    let guest = load(&engine, guests::CHATTY);
    let d = engine.press(&guest, SINGLE);
    assert!(d.is_ok(), "a chatty guest keeps its press: {:?}", d.error);
    assert_eq!(d.output.logs.len(), 100);
    assert_eq!(d.output.logs_dropped, 4900);
    assert!(d.output.stdout.len() <= 16 * 1024);
    assert!(d.output.stderr.len() <= 16 * 1024);
    assert!(d.output.output_dropped_bytes > 0);
}

#[test]
fn decision_record_serialises() {
    let engine = engine_with(settings(&[("lines", "1")]));
    let guest = load(&engine, guests::CHATTY);
    let d = engine.press(&guest, SINGLE);
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["event_format"], "iot-button");
    assert_eq!(json["click"]["click_type"], "SINGLE");
    assert_eq!(json["click"]["battery_mv"], 1705);
    assert_eq!(
        json["actions"][0],
        serde_json::json!({"kind": "ignore", "reason": "chatty"})
    );
    assert_eq!(json["error"], serde_json::Value::Null);
    assert_eq!(json["guest"]["sha256"].as_str().unwrap().len(), 64);
    assert!(json["instructions"].as_u64().unwrap() > 0);
    assert_eq!(
        json["output"]["logs"][0],
        serde_json::json!({"level": "debug", "message": "log line 0"})
    );
}
