//! The host does not grow while hostile guests fail over and over: each failure releases what
//! it took. Its own test binary, so no other test's allocations blur the measurement.

mod common;

use std::time::Duration;

use clickrules_engine::{Engine, EngineConfig, Limits};
use clickrules_tests::{guest_bytes, guests};
use common::SINGLE;

const RUNS: usize = 1_000;
const WARM_UP: usize = 100;
/// Allocator caches and the pooling allocator's warm slots settle during warm-up; real leaks
/// of even a few KiB per failed press would exceed this over 900 presses.
const MAX_GROWTH_BYTES: u64 = 8 << 20;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
#[cfg(target_os = "linux")]
fn host_memory_is_flat_over_a_thousand_failing_presses() {
    let mut config = EngineConfig {
        limits: Limits {
            timeout: Duration::from_millis(20),
            memory_bytes: 16 << 20,
            fuel: u64::MAX / 2,
        },
        ..EngineConfig::default()
    };
    for (k, v) in [
        ("mb", "64"),
        ("lines", "500"),
        ("actions", "snapshot:nowhere"),
    ] {
        config.settings.insert(k.into(), v.into());
    }
    let engine = Engine::new(config).unwrap();
    let hostile: Vec<_> = [
        guests::SPIN,
        guests::TRAP,
        guests::FAIL,
        guests::ALLOC,
        guests::RECURSE,
        guests::CHATTY,
        guests::ACTIONS,
    ]
    .into_iter()
    .map(|path| engine.load(&guest_bytes(path)).unwrap())
    .collect();

    let mut baseline = 0;
    for run in 0..RUNS {
        if run == WARM_UP {
            baseline = rss_bytes();
        }
        let guest = &hostile[run % hostile.len()];
        let d = engine.press(guest, SINGLE);
        // The chatty guest succeeds (its output is capped); every other one must fail.
        assert!(
            d.error.is_some() || std::ptr::eq(guest.as_ref(), hostile[5].as_ref()),
            "{d:?}"
        );
    }
    let growth = rss_bytes().saturating_sub(baseline);
    println!(
        "host RSS growth over {} failing presses: {} KiB",
        RUNS - WARM_UP,
        growth >> 10
    );
    assert!(
        growth < MAX_GROWTH_BYTES,
        "host RSS grew by {} KiB over {} failing presses",
        growth >> 10,
        RUNS - WARM_UP
    );
    common::assert_healthy(&engine);
}
