//! Warm and cold press latency through the engine, beside the floor: a bare wasmtime
//! instantiate + call of an empty export, with the same engine settings, in the same run.
//!
//! `cargo bench -p clickrules-tests --bench press` (add `-- --presses N` to change the count).
//! Also: the same rule as native Rust, cold starts compiled vs from a signed artifact, and
//! presses per second through one engine on one and on two threads.
//! Prints a Markdown table for BENCHMARKS.md. A bench binary rather than criterion because the
//! targets are percentiles (p50, p99) of individual presses.

use std::time::{Duration, Instant};

use clickrules_engine::{
    Action, Arch, ArtifactBinding, ArtifactExpectation, ArtifactSigner, Engine, EngineConfig,
    TrustedKeys, ValidationPolicy, normalise_event, sha256_hex, validate_actions,
};
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

/// The floor: an empty export, instantiated and called as the engine would (pooling, fuel,
/// epochs), with nothing else.
struct Floor {
    engine: wasmtime::Engine,
    pre: wasmtime::component::InstancePre<()>,
}

impl Floor {
    fn new() -> Self {
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
        let pre = Linker::<()>::new(&engine)
            .instantiate_pre(&component)
            .unwrap();
        Self { engine, pre }
    }

    fn press(&self) {
        let mut store = Store::new(&self.engine, ());
        store.set_fuel(u64::MAX / 2).unwrap();
        store.set_epoch_deadline(1_000);
        let instance = self.pre.instantiate(&mut store).unwrap();
        let func = instance
            .get_typed_func::<(), ()>(&mut store, "empty")
            .unwrap();
        func.call(&mut store, ()).unwrap();
    }
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

/// The default guest's rule as native Rust, on the same path minus wasm: normalise the event,
/// decide, validate.
fn native(n: usize) -> Stats {
    let policy = ValidationPolicy::default();
    sample(n, || {
        let event = normalise_event(EVENT, 0).unwrap();
        std::hint::black_box(&event.presses);
        let actions = vec![Action::snapshot("us-west-1")];
        validate_actions(&actions, &policy).unwrap();
        std::hint::black_box(actions);
    })
}

/// Bytes to first decision on a fresh engine from a signed artifact: verify, deserialize, press.
fn cold_artifact(path: &str, runs: usize) -> Stats {
    let wasm = guest_bytes(path);
    let sha = sha256_hex(&wasm);
    let signer = ArtifactSigner::generate().unwrap();
    let keys = TrustedKeys::new(vec![signer.public_key()]).unwrap();
    let host = Arch::host().expect("a Lambda architecture");
    let artifact = Engine::new(EngineConfig::default())
        .unwrap()
        .precompile(&wasm, host, &signer, &ArtifactBinding::now(path))
        .unwrap();
    let mut first = Vec::new();
    for _ in 0..runs {
        let engine = Engine::new(EngineConfig::default()).unwrap();
        let t = Instant::now();
        let expected = ArtifactExpectation {
            source_sha256: &sha,
            location: path,
        };
        let guest = engine.load_artifact(&artifact, &expected, &keys).unwrap();
        let d = engine.press(&guest, EVENT);
        first.push(t.elapsed());
        assert!(d.is_ok());
    }
    stats(first)
}

/// Presses per second through one shared engine on `threads` threads.
fn throughput(path: &str, threads: usize, per_thread: usize) -> f64 {
    let engine = Engine::new(EngineConfig::default()).unwrap();
    let guest = engine.load(&guest_bytes(path)).unwrap();
    rate(threads, per_thread, || {
        assert!(engine.press(&guest, EVENT).is_ok());
    })
}

/// Calls of `press` per second on `threads` threads at once.
fn rate(threads: usize, per_thread: usize, press: impl Fn() + Sync) -> f64 {
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..per_thread {
                    press();
                }
            });
        }
    });
    (threads * per_thread) as f64 / start.elapsed().as_secs_f64()
}

/// Interpreter guests (megabytes of Wasm) take milliseconds per press and seconds to compile:
/// their rows run fewer presses to keep the run short.
fn heavy(path: &str) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() > 1024 * 1024)
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let mut presses = 20_000;
    let mut only: Option<String> = None;
    let mut extra: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--presses" => {
                presses = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--presses N");
            }
            // One section (warm, cold or throughput), e.g. to profile it alone.
            "--only" => only = Some(args.next().expect("--only warm|cold|throughput")),
            // A guest of your own beside ours: `--guest NAME=PATH`, repeatable.
            "--guest" => extra.push(args.next().expect("--guest NAME=PATH")),
            _ => {}
        }
    }
    let run = |section: &str| only.as_deref().is_none_or(|o| o == section);
    let backtrace = std::env::var("RUST_BACKTRACE").unwrap_or_else(|_| "unset".into());
    println!("presses per row: {presses}; RUST_BACKTRACE={backtrace}\n");

    let mut all = vec![
        ("default guest (Rust)", guests::DEFAULT),
        ("by-click guest (Rust)", guests::BY_CLICK),
    ];
    for (language, guest) in guests::OTHER_LANGUAGES {
        match guest.path() {
            Some(path) => all.push((
                if language.starts_with("JS") {
                    "by-click guest (JavaScript)"
                } else {
                    "by-click guest (Python)"
                },
                path,
            )),
            None => println!("(skipped {language}: not built)"),
        }
    }
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|e| {
            let (name, path) = e.split_once('=').expect("--guest NAME=PATH");
            (name.to_string(), path.to_string())
        })
        .collect();
    for (name, path) in &extra {
        all.push((name, path));
    }
    // Every time below is also given as a multiple of this, measured in the same run.
    let floor_setup = Floor::new();
    let floor = sample(presses, || floor_setup.press());
    let x = |d: Duration| d.as_secs_f64() / floor.p50.as_secs_f64();
    if run("warm") {
        println!("| warm press | p50 | p99 | mean | p50 / floor |");
        println!("|---|---|---|---|---|");
        println!(
            "| floor: bare instantiate + call of an empty export | {} | {} | {} | 1.00 |",
            us(floor.p50),
            us(floor.p99),
            us(floor.mean)
        );
        let native = native(presses);
        println!(
            "| the default rule as native Rust: event JSON → validated actions | {} | {} | {} | {:.2} |",
            us(native.p50),
            us(native.p99),
            us(native.mean),
            x(native.p50)
        );
        for &(name, path) in &all {
            // Interpreter guests take milliseconds per press: fewer presses keep the run short.
            let n = if !heavy(path) { presses } else { presses / 20 };
            let s = warm(path, n);
            println!(
                "| {name}: event JSON → validated actions | {} | {} | {} | {:.2} |",
                us(s.p50),
                us(s.p99),
                us(s.mean),
                x(s.p50)
            );
        }
    }
    if run("cold") {
        println!(
            "\n| cold: bytes → first decision | runs (compiled / artifact) | engine start-up p50 | compiled p50 | signed artifact p50 | artifact max | compiled / floor | artifact / floor |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        for &(name, path) in &all {
            let runs = if !heavy(path) { 10 } else { 3 };
            let (start_up, compiled) = cold(path, runs);
            let artifact = cold_artifact(path, 10);
            println!(
                "| {name}, {} KiB | {runs} / 10 | {} | {} | {} | {} | {:.0} | {:.0} |",
                guest_bytes(path).len() / 1024,
                ms(start_up.p50),
                ms(compiled.p50),
                ms(artifact.p50),
                ms(artifact.p99),
                x(compiled.p50),
                x(artifact.p50)
            );
        }
    }
    if run("throughput") {
        println!(
            "\n| throughput, one engine | 1 thread | 2 threads | 2 / 1 threads | 1 thread / floor |"
        );
        println!("|---|---|---|---|---|");
        let floor_one = rate(1, presses, || floor_setup.press());
        let floor_two = rate(2, presses, || floor_setup.press());
        println!(
            "| floor: bare instantiate + call of an empty export | {floor_one:.0} /s | {floor_two:.0} /s | {:.2} | 1.00 |",
            floor_two / floor_one
        );
        for &(name, path) in &all {
            let per_thread = if !heavy(path) { presses } else { presses / 20 };
            let one = throughput(path, 1, per_thread);
            let two = throughput(path, 2, per_thread);
            println!(
                "| {name} | {one:.0} presses/s | {two:.0} presses/s | {:.2} | {:.3} |",
                two / one,
                one / floor_one
            );
        }
    }
}
