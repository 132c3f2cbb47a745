//! Warm and cold press latency through the engine, beside the floor: a bare wasmtime
//! instantiate + call of an empty export, with the same engine settings, in the same run.
//!
//! `cargo bench -p clickrules-tests --bench press` (add `-- --presses N` to change the count).
//! Prints a Markdown table for BENCHMARKS.md. A bench binary rather than criterion because the
//! targets are percentiles (p50, p99) of individual presses.

use std::time::{Duration, Instant};

use clickrules_engine::{Engine, EngineConfig};
use clickrules_tests::{guest_bytes, guests};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig, Store};

const EVENT: &[u8] =
    br#"{"serialNumber":"G030JF055364XVRB","batteryVoltage":"1705mV","clickType":"SINGLE"}"#;

/// A component exporting `empty: func()`, the least work a press could do.
const EMPTY_COMPONENT: &str = r#"
(component
  (core module $m (func (export "f")))
  (core instance $i (instantiate $m))
  (func (export "empty") (canon lift (core func $i "f"))))
"#;

struct Stats {
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    let total: Duration = samples.iter().sum();
    Stats {
        p50: at(0.50),
        p99: at(0.99),
        mean: total / samples.len() as u32,
    }
}

fn sample(n: usize, mut f: impl FnMut()) -> Stats {
    for _ in 0..n.min(1000) {
        f();
    }
    let samples = (0..n)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    stats(samples)
}

/// The floor, configured as the engine configures wasmtime (pooling, fuel, epochs).
fn floor(n: usize) -> Stats {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(
            PoolingAllocationConfig::default(),
        ));
    let engine = wasmtime::Engine::new(&config).unwrap();
    let component = Component::new(&engine, EMPTY_COMPONENT).unwrap();
    let linker = Linker::<()>::new(&engine);
    let pre = linker.instantiate_pre(&component).unwrap();
    sample(n, || {
        let mut store = Store::new(&engine, ());
        store.set_fuel(u64::MAX / 2).unwrap();
        store.set_epoch_deadline(1_000);
        let instance = pre.instantiate(&mut store).unwrap();
        let func = instance
            .get_typed_func::<(), ()>(&mut store, "empty")
            .unwrap();
        func.call(&mut store, ()).unwrap();
    })
}

fn warm(path: &str, n: usize) -> Stats {
    let engine = Engine::new(EngineConfig::default()).unwrap();
    let guest = engine.load(&guest_bytes(path)).unwrap();
    assert!(engine.press(&guest, EVENT).is_ok());
    sample(n, || {
        let d = engine.press(&guest, EVENT);
        debug_assert!(d.is_ok());
        std::hint::black_box(d);
    })
}

/// Bytes to first decision on a fresh engine (engine start-up excluded, reported separately).
fn cold(path: &str, runs: usize) -> (Stats, Stats) {
    let bytes = guest_bytes(path);
    let mut start_up = Vec::new();
    let mut first = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let engine = Engine::new(EngineConfig::default()).unwrap();
        start_up.push(t.elapsed());
        let t = Instant::now();
        let guest = engine.load(&bytes).unwrap();
        let d = engine.press(&guest, EVENT);
        first.push(t.elapsed());
        assert!(d.is_ok());
    }
    (stats(start_up), stats(first))
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let mut presses = 20_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--presses" {
            presses = args
                .next()
                .and_then(|n| n.parse().ok())
                .expect("--presses N");
        }
    }
    let backtrace = std::env::var("RUST_BACKTRACE").unwrap_or_else(|_| "unset".into());
    println!("presses per row: {presses}; RUST_BACKTRACE={backtrace}\n");

    let floor = floor(presses);
    println!("| warm press | p50 | p99 | mean | p50 / floor |");
    println!("|---|---|---|---|---|");
    println!(
        "| floor: bare instantiate + call of an empty export | {} | {} | {} | 1.00 |",
        us(floor.p50),
        us(floor.p99),
        us(floor.mean)
    );
    for (name, path) in [
        ("default guest (Rust)", guests::DEFAULT),
        ("by-click guest (Rust)", guests::BY_CLICK),
    ] {
        let s = warm(path, presses);
        println!(
            "| {name}: event JSON → validated actions | {} | {} | {} | {:.2} |",
            us(s.p50),
            us(s.p99),
            us(s.mean),
            s.p50.as_secs_f64() / floor.p50.as_secs_f64()
        );
    }

    println!("\n| cold (10 runs) | engine start-up p50 | bytes → first decision p50 | max |");
    println!("|---|---|---|---|");
    for (name, path) in [
        ("default guest (Rust)", guests::DEFAULT),
        ("by-click guest (Rust)", guests::BY_CLICK),
    ] {
        let (start_up, first) = cold(path, 10);
        println!(
            "| {name}, {} KiB | {} | {} | {} |",
            guest_bytes(path).len() / 1024,
            ms(start_up.p50),
            ms(first.p50),
            ms(first.p99)
        );
    }
}
