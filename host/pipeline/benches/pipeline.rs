//! What the press pipeline adds to a warm press of the built-in guest, in one run: the engine's
//! press alone (outside any async runtime, as the CLI's local press calls it), the engine's
//! press from inside a tokio runtime (as the Lambda's handler calls it: the press runs on a
//! thread of its own there, see the engine's `off_runtime`), and a whole dry-run press through
//! the [`Pipeline`], without and with the in-memory ledger, and with a shadow guest beside the
//! active one (what the shadow adds, against the shadow's own time as its record reports it).
//!
//! `cargo bench -p clickrules-pipeline --bench pipeline` (add `-- --presses N`). Prints a
//! Markdown table for BENCHMARKS.md. A bench binary rather than criterion because the targets
//! are percentiles of individual presses.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clickrules_engine::{Engine, EngineConfig};
use clickrules_pipeline::{
    ActionTargets, DryRunExecutor, FixedGuest, MemoryLedger, Pipeline, PressPolicy, PressRequest,
};

const EVENT: &[u8] =
    br#"{"serialNumber":"G030JF055364XVRB","batteryVoltage":"1705mV","clickType":"SINGLE"}"#;

struct Stats {
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

/// `n` timed calls of `f` after a warm-up of a tenth as many.
fn sample(n: usize, mut f: impl FnMut()) -> Stats {
    for _ in 0..n / 10 {
        f();
    }
    let mut samples: Vec<Duration> = (0..n)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / u32::try_from(n).unwrap_or(u32::MAX);
    Stats {
        p50: samples[n / 2],
        p99: samples[n * 99 / 100],
        mean,
    }
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn main() {
    let mut presses = 20_000usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--presses" => {
                presses = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--presses N")
            }
            // cargo bench passes --bench to every bench binary.
            "--bench" => {}
            other => panic!("unknown option {other}; options: --presses N"),
        }
    }
    let engine = Arc::new(Engine::new(EngineConfig::default()).expect("engine"));
    let guest = engine
        .load(clickrules_builtin::DEFAULT_GUEST)
        .expect("builtin guest");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dry_run = || DryRunExecutor::new(ActionTargets::default());
    let plain = Pipeline::new(
        engine.clone(),
        FixedGuest::builtin(&engine).expect("builtin source"),
        dry_run(),
    );
    let ledgered = Pipeline::new(
        engine.clone(),
        FixedGuest::builtin(&engine).expect("builtin source"),
        dry_run(),
    )
    .with_ledger(MemoryLedger::new())
    // The per-device rate limit would turn the bench's presses of one button away.
    .with_policy(PressPolicy {
        rate_limit_per_minute: 0,
        ..PressPolicy::default()
    });
    let shadowed = Pipeline::new(
        engine.clone(),
        FixedGuest::builtin(&engine).expect("builtin source"),
        dry_run(),
    )
    .with_shadow(Some(FixedGuest::builtin(&engine).expect("builtin source")));

    let mut rows: Vec<(&str, Stats)> = Vec::new();
    rows.push((
        "engine press, outside any runtime (CLI local press)",
        sample(presses, || {
            let d = engine.press(&guest, EVENT);
            assert!(d.is_ok());
        }),
    ));
    rows.push((
        "engine press, from inside a tokio runtime (the Lambda's handler)",
        sample(presses, || {
            runtime.block_on(async {
                let d = engine.press(&guest, EVENT);
                assert!(d.is_ok());
            })
        }),
    ));
    rows.push((
        "pipeline dry run, no ledger",
        sample(presses, || {
            runtime.block_on(async {
                let r = plain.press(PressRequest::new("bench", EVENT)).await;
                assert!(r.record.ok);
            })
        }),
    ));
    let mut id = 0u64;
    rows.push((
        "pipeline dry run, in-memory ledger (every press new)",
        sample(presses, || {
            id += 1;
            let press_id = format!("bench-{id}");
            runtime.block_on(async {
                let r = ledgered.press(PressRequest::new(&press_id, EVENT)).await;
                assert!(r.record.ok);
            })
        }),
    ));

    let mut shadow_us: Vec<u64> = Vec::with_capacity(presses);
    rows.push((
        "pipeline dry run, no ledger, shadow guest (the built-in one)",
        sample(presses, || {
            runtime.block_on(async {
                let r = shadowed.press(PressRequest::new("bench", EVENT)).await;
                assert!(r.record.ok, "{:?}", r.record.failure);
                shadow_us.push(r.record.shadow.map_or(0, |s| s.duration_us));
            })
        }),
    ));
    shadow_us.sort_unstable();

    let base = rows[0].1.p50.as_secs_f64();
    println!("| warm press, built-in guest | p50 | p99 | mean | p50 / engine press |");
    println!("|---|---|---|---|---|");
    for (name, s) in &rows {
        println!(
            "| {name} | {} | {} | {} | {:.2} |",
            us(s.p50),
            us(s.p99),
            us(s.mean),
            s.p50.as_secs_f64() / base
        );
    }
    // The shadow runs in the press's task, after the decision is stored: what it adds to the
    // press should be no more than its own time.
    let added = rows[4].1.p50.as_secs_f64() - rows[2].1.p50.as_secs_f64();
    let own = shadow_us[shadow_us.len() / 2] as f64 / 1e6;
    println!();
    println!(
        "shadow: adds {} at p50; its own time (record) p50 {}; added / own {:.2}",
        us(Duration::from_secs_f64(added.max(0.0))),
        us(Duration::from_secs_f64(own)),
        added / own
    );
}
