//! WASI calls that wait or make the host allocate, each as an obeyed/violated pair: waits end
//! at the press deadline in wall time (a host call is not interrupted by epoch ticks), and a
//! guest cannot make the host allocate past small caps.

mod common;

use std::time::{Duration, Instant};

use clickrules_engine::{Action, Engine, PressError};
use clickrules_tests::guests;
use common::{SINGLE, assert_healthy, engine_with, limits, load};

fn engine(timeout_ms: u64, pairs: &[(&str, &str)]) -> Engine {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    engine_with(move |c| {
        c.limits = limits(timeout_ms, 64, u64::MAX / 2);
        c.settings.extend(pairs);
    })
}

#[test]
fn a_short_wait_obeyed() {
    for call in ["sleep", "poll", "block"] {
        let engine = engine(1_000, &[("call", call), ("ms", "5")]);
        let guest = load(&engine, guests::WASI_CALLS);
        let d = engine.press(&guest, SINGLE);
        assert_eq!(
            d.result(),
            Ok(&[Action::snapshot("us-west-1")][..]),
            "{call}: {d:?}"
        );
    }
}

/// A 3 s wait and an endless one under a 100 ms deadline: each wait ends at the deadline.
#[test]
fn waiting_past_the_deadline_violated() {
    for call in ["sleep", "poll", "block"] {
        for ms in [Some("3000"), None] {
            let mut pairs = vec![("call", call)];
            pairs.extend(ms.map(|ms| ("ms", ms)));
            let engine = engine(100, &pairs);
            let guest = load(&engine, guests::WASI_CALLS);
            let start = Instant::now();
            let d = engine.press(&guest, SINGLE);
            let took = start.elapsed();
            assert_eq!(
                d.error,
                Some(PressError::Deadline { timeout_ms: 100 }),
                "{call} {ms:?}: {d:?}"
            );
            // Bounded by the deadline, not by the 3 s (or endless) wait; generous for CI.
            assert!(
                took < Duration::from_millis(1_500),
                "{call} {ms:?} took {took:?}"
            );
            assert_healthy(&engine);
        }
    }
}

#[test]
fn random_bytes_obeyed() {
    for call in ["random", "insecure-random"] {
        let engine = engine(1_000, &[("call", call), ("bytes", "65536")]);
        let guest = load(&engine, guests::WASI_CALLS);
        let d = engine.press(&guest, SINGLE);
        let actions = d.result().unwrap_or_else(|e| panic!("{call}: {e}"));
        assert!(
            matches!(&actions[1], Action::Ignore { reason } if reason.starts_with("65536 ")),
            "{call}: {actions:?}"
        );
    }
}

/// 64 MiB of random bytes would be allocated on the host, outside the guest's memory cap.
#[test]
fn random_bytes_violated() {
    for (call, name) in [
        ("random", "wasi:random/random.get-random-bytes"),
        (
            "insecure-random",
            "wasi:random/insecure.get-insecure-random-bytes",
        ),
    ] {
        let engine = engine(1_000, &[("call", call), ("bytes", "67108864")]);
        let guest = load(&engine, guests::WASI_CALLS);
        let d = engine.press(&guest, SINGLE);
        assert_eq!(
            d.error,
            Some(PressError::HostLimit {
                call: name.to_string(),
                unit: "bytes".to_string(),
                requested: 64 << 20,
                limit: 64 << 10,
            }),
            "{call}"
        );
        assert_healthy(&engine);
    }
}

#[test]
fn wasi_handles_obeyed() {
    let engine = engine(5_000, &[("call", "handles"), ("count", "1000")]);
    let guest = load(&engine, guests::WASI_CALLS);
    let d = engine.press(&guest, SINGLE);
    assert!(d.is_ok(), "{d:?}");
}

/// Each pollable is host memory the guest's cap does not count.
#[test]
fn wasi_handles_violated() {
    let engine = engine(5_000, &[("call", "handles"), ("count", "1000000")]);
    let guest = load(&engine, guests::WASI_CALLS);
    let d = engine.press(&guest, SINGLE);
    assert!(
        matches!(&d.error, Some(PressError::HostLimit { unit, .. }) if unit == "open handles"),
        "{:?}",
        d.error
    );
    assert_healthy(&engine);
}
