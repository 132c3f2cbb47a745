//! Each limit as a pair: `..._obeyed` stays within it, `..._violated` breaks it and gets the
//! typed error, with nothing executed and the engine healthy for the next press.

mod common;

use std::time::{Duration, Instant};

use clickrules_engine::{ClickType, DEFAULT_TIMEOUT_MS, PressError};
use clickrules_tests::guests;
use common::{SINGLE, assert_healthy, click, engine, engine_with, limits, load, settings};

#[test]
fn deadline_obeyed() {
    let engine = engine_with(settings(&[("iterations", "1000")]));
    let guest = load(&engine, guests::SPIN);
    let d = engine.press(&guest, SINGLE);
    assert!(d.is_ok(), "{d:?}");
}

#[test]
fn deadline_violated_by_an_infinite_loop() {
    let engine = engine();
    let guest = load(&engine, guests::SPIN);
    let start = Instant::now();
    let d = engine.press(&guest, SINGLE);
    let took = start.elapsed();
    assert_eq!(
        d.error,
        Some(PressError::Deadline {
            timeout_ms: DEFAULT_TIMEOUT_MS
        })
    );
    assert!(d.actions.is_empty());
    // Generous bound for a loaded CI machine; the point is that the loop was stopped.
    assert!(
        took < Duration::from_millis(DEFAULT_TIMEOUT_MS * 5),
        "took {took:?}"
    );
    assert_healthy(&engine);
}

#[test]
fn deadline_violated_with_a_short_configured_timeout() {
    let engine = engine_with(|c| c.limits = limits(50, 16, u64::MAX / 2));
    let guest = load(&engine, guests::SPIN);
    let d = engine.press(&guest, SINGLE);
    assert_eq!(d.error, Some(PressError::Deadline { timeout_ms: 50 }));
    assert_healthy(&engine);
}

#[test]
fn fuel_obeyed() {
    let engine = engine_with(|c| {
        c.limits = limits(5_000, 16, 5_000_000);
        c.settings.insert("iterations".into(), "10000".into());
    });
    let guest = load(&engine, guests::SPIN);
    let d = engine.press(&guest, SINGLE);
    assert!(d.is_ok(), "{d:?}");
    assert!(
        d.instructions > 10_000 && d.instructions < 5_000_000,
        "{}",
        d.instructions
    );
}

#[test]
fn fuel_violated() {
    let engine = engine_with(|c| {
        c.limits = limits(5_000, 16, 5_000_000);
        c.settings.insert("iterations".into(), "100000000".into());
    });
    let guest = load(&engine, guests::SPIN);
    let d = engine.press(&guest, SINGLE);
    assert_eq!(d.error, Some(PressError::FuelExhausted { fuel: 5_000_000 }));
    assert_eq!(d.instructions, 5_000_000);
    assert_healthy(&engine);
}

#[test]
fn memory_obeyed() {
    let engine = engine_with(|c| {
        c.limits = limits(5_000, 32, u64::MAX / 2);
        c.settings.insert("mb".into(), "8".into());
    });
    let guest = load(&engine, guests::ALLOC);
    let d = engine.press(&guest, SINGLE);
    assert!(d.is_ok(), "{d:?}");
    assert!(
        d.peak_memory_bytes >= 8 << 20,
        "peak {}",
        d.peak_memory_bytes
    );
    assert!(
        d.peak_memory_bytes <= 32 << 20,
        "peak {}",
        d.peak_memory_bytes
    );
}

#[test]
fn memory_violated() {
    let engine = engine_with(|c| {
        c.limits = limits(5_000, 32, u64::MAX / 2);
        c.settings.insert("mb".into(), "64".into());
    });
    let guest = load(&engine, guests::ALLOC);
    let d = engine.press(&guest, SINGLE);
    match d.error {
        Some(PressError::MemoryLimit {
            limit_bytes,
            requested_bytes,
        }) => {
            assert_eq!(limit_bytes, 32 << 20);
            assert!(requested_bytes > limit_bytes);
        }
        other => panic!("expected a memory error, got {other:?}"),
    }
    assert!(d.peak_memory_bytes <= 32 << 20);
    assert_healthy(&engine);
}

#[test]
fn trap_is_reported_and_contained() {
    let engine = engine();
    let guest = load(&engine, guests::TRAP);
    let d = engine.press(&guest, SINGLE);
    assert!(matches!(d.error, Some(PressError::Trap { .. })), "{d:?}");
    assert!(d.actions.is_empty());
    assert_healthy(&engine);
    // And the same guest again: a trap poisons nothing.
    let again = engine.press(&guest, SINGLE);
    assert!(matches!(again.error, Some(PressError::Trap { .. })));
}

#[test]
fn guest_err_is_reported() {
    let engine = engine();
    let guest = load(&engine, guests::FAIL);
    let d = engine.press_click(&guest, click(ClickType::Double, None));
    assert_eq!(
        d.error,
        Some(PressError::GuestError {
            message: "refusing press from G030JF055364XVRB".into()
        })
    );
    assert_healthy(&engine);
}

#[test]
fn presses_are_isolated_from_each_other() {
    // A press that fails mid-way must not leave state for the next one on the same guest.
    let engine = engine_with(|c| {
        c.limits = limits(5_000, 32, u64::MAX / 2);
        c.settings.insert("mb".into(), "20".into());
    });
    let guest = load(&engine, guests::ALLOC);
    for _ in 0..5 {
        let d = engine.press(&guest, SINGLE);
        assert!(d.is_ok(), "{d:?}");
    }
}

#[test]
fn no_state_survives_from_one_press_to_the_next() {
    let engine = engine();
    let guest = load(&engine, guests::COUNTER);
    for _ in 0..50 {
        let d = engine.press(&guest, SINGLE);
        assert_eq!(
            d.result(),
            Ok(&[clickrules_engine::Action::ignore("press 1, serials seen 1")][..])
        );
    }
}

#[test]
fn concurrent_presses_do_not_interfere() {
    let engine = std::sync::Arc::new(engine());
    let guest = load(&engine, guests::BY_CLICK);
    let threads: Vec<_> = ClickType::ALL
        .into_iter()
        .map(|ct| {
            let engine = std::sync::Arc::clone(&engine);
            let guest = std::sync::Arc::clone(&guest);
            std::thread::spawn(move || {
                (0..20)
                    .map(|_| engine.press_click(&guest, click(ct, Some(1700))).actions)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    for (ct, runs) in ClickType::ALL.into_iter().zip(results) {
        let first = engine.press_click(&guest, click(ct, Some(1700))).actions;
        assert!(runs.iter().all(|r| *r == first), "{ct}: presses disagreed");
    }
}
