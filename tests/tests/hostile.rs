//! Hostile guests under default limits: each ends in a typed error (or a harmless, denied
//! attempt) within about its deadline, and the engine serves the next press correctly.

mod common;

use std::time::{Duration, Instant};

use clickrules_engine::{DEFAULT_TIMEOUT_MS, LoadError, PressError, ValidationError};
use clickrules_tests::{guest_bytes, guests};
use common::{SINGLE, assert_healthy, engine, engine_with, load, settings};

/// Generous bound for a loaded 2-core CI machine; the point is that the guest was stopped.
fn within_deadline(took: Duration) {
    assert!(
        took < Duration::from_millis(DEFAULT_TIMEOUT_MS * 5),
        "took {took:?}"
    );
}

#[test]
fn recursion_obeyed() {
    let engine = engine_with(settings(&[("depth", "1000")]));
    let guest = load(&engine, guests::RECURSE);
    let d = engine.press(&guest, SINGLE);
    assert!(d.is_ok(), "{d:?}");
}

#[test]
fn unbounded_recursion_overflows_the_stack() {
    let engine = engine();
    let guest = load(&engine, guests::RECURSE);
    let start = Instant::now();
    let d = engine.press(&guest, SINGLE);
    within_deadline(start.elapsed());
    assert_eq!(d.error, Some(PressError::StackOverflow));
    assert_healthy(&engine);
}

#[test]
fn growing_memory_to_the_cap_is_stopped() {
    let engine = engine_with(settings(&[("mb", "1024")]));
    let guest = load(&engine, guests::ALLOC);
    let d = engine.press(&guest, SINGLE);
    assert!(
        matches!(d.error, Some(PressError::MemoryLimit { .. })),
        "{d:?}"
    );
    assert!(d.peak_memory_bytes <= engine.limits().memory_bytes);
    assert_healthy(&engine);
}

#[test]
fn a_single_huge_allocation_is_stopped() {
    let engine = engine_with(settings(&[("single_mb", "1000")]));
    let guest = load(&engine, guests::ALLOC);
    let d = engine.press(&guest, SINGLE);
    match d.error {
        Some(PressError::MemoryLimit {
            requested_bytes,
            limit_bytes,
        }) => {
            assert!(requested_bytes > 1000 << 20 && limit_bytes == engine.limits().memory_bytes);
        }
        other => panic!("expected a memory error, got {other:?}"),
    }
    assert_healthy(&engine);
}

#[test]
fn a_million_actions_are_rejected() {
    let engine = engine_with(settings(&[("actions", "ignore:x"), ("repeat", "1000000")]));
    let guest = load(&engine, guests::ACTIONS);
    let d = engine.press(&guest, SINGLE);
    assert_eq!(
        d.error,
        Some(PressError::InvalidActions(
            ValidationError::TooManyActions {
                count: 1_000_000,
                max: 10
            }
        ))
    );
    assert!(d.actions.is_empty());
    assert_healthy(&engine);
}

#[test]
fn a_50_mb_region_is_rejected_without_echoing_it() {
    let engine = engine_with(settings(&[("region_mb", "50")]));
    let guest = load(&engine, guests::ACTIONS);
    let d = engine.press(&guest, SINGLE);
    assert!(
        matches!(
            &d.error,
            Some(PressError::InvalidActions(ValidationError::InvalidRegion {
                index: 0,
                ..
            }))
        ),
        "{:?}",
        d.error.as_ref().map(PressError::kind)
    );
    let record = serde_json::to_string(&d).unwrap();
    assert!(
        record.len() < 4096,
        "the record must not carry the 50 MB string: {} bytes",
        record.len()
    );
    assert_healthy(&engine);
}

#[test]
fn a_log_flood_is_capped() {
    let engine = engine_with(settings(&[("lines", "200000")]));
    let guest = load(&engine, guests::CHATTY);
    let start = Instant::now();
    let d = engine.press(&guest, SINGLE);
    within_deadline(start.elapsed());
    // Either it finished (capped output) or the deadline stopped it: both are contained.
    match &d.error {
        None => assert_eq!(d.output.logs.len(), 100),
        Some(PressError::Deadline { .. }) => {}
        Some(other) => panic!("unexpected error {other:?}"),
    }
    assert!(serde_json::to_string(&d).unwrap().len() < 256 * 1024);
    assert_healthy(&engine);
}

#[test]
fn ambient_authority_is_denied() {
    let cases = [
        ("env", "env: 0 vars, HOME=None"),
        ("args", "args: 0"),
        ("file", "file: denied"),
        ("list", "list: denied"),
        ("socket", "socket: denied"),
        ("dns", "dns: denied"),
        ("stdin", "stdin: 0 bytes"),
    ];
    for (attempt, expected) in cases {
        let engine = engine_with(settings(&[("try", attempt)]));
        let guest = load(&engine, guests::SNEAKY);
        let d = engine.press(&guest, SINGLE);
        let actions = d.result().unwrap_or_else(|e| panic!("{attempt}: {e}"));
        let clickrules_engine::Action::Ignore { reason } = &actions[0] else {
            panic!("{attempt}: {actions:?}");
        };
        assert!(reason.starts_with(expected), "{attempt}: {reason}");
    }
}

#[test]
fn config_in_a_tight_loop_meets_the_deadline() {
    let engine = engine_with(settings(&[("region", "us-west-1")]));
    let guest = load(&engine, guests::CONFIG_LOOP);
    let start = Instant::now();
    let d = engine.press(&guest, SINGLE);
    within_deadline(start.elapsed());
    assert_eq!(
        d.error,
        Some(PressError::Deadline {
            timeout_ms: DEFAULT_TIMEOUT_MS
        })
    );
    assert_healthy(&engine);
}

#[test]
fn a_guest_for_a_future_contract_is_refused_by_name() {
    let engine = engine();
    let err = engine
        .load(&guest_bytes(guests::FUTURE_VERSION))
        .unwrap_err();
    assert!(
        matches!(&err, LoadError::UnsupportedVersion { import, .. } if import.starts_with("clickrules:handler/") && import.ends_with("@0.3.0")),
        "{err:?}"
    );
    assert_healthy(&engine);
}

/// A hand-written component that implements `handle` but whose `cabi_realloc` traps, so the
/// host's very first step, copying the serial number into the guest, fails.
const TRAPPING_REALLOC: &str = r#"
(component
  (core module $m
    (memory (export "memory") 1)
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) unreachable)
    (func (export "handle") (param i32 i32 i32 i32 i32 i64) (result i32) i32.const 0))
  (core instance $i (instantiate $m))
  (type $click-type' (enum "single" "double" "long"))
  (export $click-type "click-type" (type $click-type'))
  (type $click' (record
    (field "serial-number" string)
    (field "click-type" $click-type)
    (field "battery-mv" (option u32))
    (field "received-at-ms" u64)))
  (export $click "click" (type $click'))
  (type $notification' (record (field "subject" string) (field "message" string)))
  (export $notification "notification" (type $notification'))
  (type $action' (variant
    (case "snapshot" string)
    (case "notify" $notification)
    (case "ignore" string)))
  (export $action "action" (type $action'))
  (func $handle (param "click" $click) (result (result (list $action) (error string)))
    (canon lift (core func $i "handle") (memory (core memory $i "memory"))
      (realloc (core func $i "cabi_realloc"))))
  (export "handle" (func $handle)))
"#;

#[test]
fn a_trap_in_cabi_realloc_is_a_trap_not_a_crash() {
    let engine = engine();
    let bytes = wat::parse_str(TRAPPING_REALLOC).expect("valid component text");
    let guest = engine
        .load(&bytes)
        .expect("the component implements handle");
    let d = engine.press(&guest, SINGLE);
    assert!(matches!(d.error, Some(PressError::Trap { .. })), "{d:?}");
    assert_healthy(&engine);
}
