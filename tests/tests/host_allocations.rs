//! A guest's results cannot make the host allocate beyond what it keeps: a list longer than a
//! press may return is not read, and a huge string is copied only up to a cap. Measured as the
//! process's peak RSS over the press minus the guest's own peak memory (which lives in the same
//! process). Its own test binary, so no other test's allocations blur the measurement.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use clickrules_engine::{Engine, EngineConfig, Limits, PressError, ValidationError};
use clickrules_tests::{guest_bytes, guests};
use common::SINGLE;

/// What the host may add over the guest's own memory: the record, allocator slack, the
/// capped copies. A full copy of a 100 MB result would be far over.
const MAX_HOST_BYTES: u64 = 24 << 20;

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// The high-water mark is per process: one measurement at a time.
static MEASURING: Mutex<()> = Mutex::new(());

/// Peak RSS the press added: resets the high-water mark (`clear_refs` 5), presses, reads it.
fn host_bytes_beyond_guest(engine: &Engine, path: &str) -> (clickrules_engine::Decision, u64) {
    let _one_at_a_time = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let guest = engine.load(&guest_bytes(path)).unwrap();
    engine.press(&guest, SINGLE); // warm the slot
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
    let before = status_kib("VmRSS:") << 10;
    let d = engine.press(&guest, SINGLE);
    let peak = status_kib("VmHWM:") << 10;
    let added = peak
        .saturating_sub(before)
        .saturating_sub(d.peak_memory_bytes);
    (d, added)
}

fn engine(pairs: &[(&str, &str)]) -> Engine {
    let mut config = EngineConfig {
        limits: Limits {
            timeout: Duration::from_secs(20),
            memory_bytes: 512 << 20,
            fuel: u64::MAX / 2,
        },
        ..EngineConfig::default()
    };
    for (k, v) in pairs {
        config.settings.insert(k.to_string(), v.to_string());
    }
    Engine::new(config).unwrap()
}

#[test]
#[cfg(target_os = "linux")]
fn huge_results_are_not_copied_to_the_host() {
    let (d, added) = host_bytes_beyond_guest(&engine(&[("region_mb", "100")]), guests::ACTIONS);
    assert!(
        matches!(
            &d.error,
            Some(PressError::InvalidActions(ValidationError::InvalidRegion { region, .. }))
                if region.ends_with("(104857600 bytes)")
        ),
        "{:?}",
        d.error
    );
    println!("100 MB region: host added {} KiB", added >> 10);
    assert!(added < MAX_HOST_BYTES, "host added {} KiB", added >> 10);

    let (d, added) = host_bytes_beyond_guest(
        &engine(&[("actions", "ignore:x"), ("repeat", "3000000")]),
        guests::ACTIONS,
    );
    assert_eq!(
        d.error,
        Some(PressError::InvalidActions(
            ValidationError::TooManyActions {
                count: 3_000_000,
                max: 10
            }
        ))
    );
    println!("3,000,000 actions: host added {} KiB", added >> 10);
    assert!(added < MAX_HOST_BYTES, "host added {} KiB", added >> 10);
}

#[test]
#[cfg(target_os = "linux")]
fn a_huge_log_line_is_not_copied_to_the_host() {
    let (d, added) = host_bytes_beyond_guest(
        &engine(&[("log_mb", "100"), ("lines", "0")]),
        guests::CHATTY,
    );
    assert!(d.is_ok(), "{d:?}");
    assert_eq!(d.output.logs[0].message.len(), 1024 + "...".len());
    println!("100 MB log line: host added {} KiB", added >> 10);
    assert!(added < MAX_HOST_BYTES, "host added {} KiB", added >> 10);
}
