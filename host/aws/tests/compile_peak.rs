//! The measurement behind `clickrules_aws::compile_memory_estimate_mb`: the peak resident
//! memory of a process that compiles one guest with the engine, for each test guest, against
//! the guest's `.wasm` size (`BENCHMARKS.md`, "Compile memory").
//!
//! ```sh
//! cargo test -p clickrules-tests --no-run      # builds the guests (JavaScript needs npm ci once)
//! cargo test -p clickrules-aws --release --test compile_peak -- --ignored --nocapture compile_peaks
//! ```
//!
//! Each guest is compiled in a fresh child process (this test binary again, running
//! `compile_one`) under `/usr/bin/time -v`, whose "Maximum resident set size" is the peak: one
//! process per guest, so one guest's heap does not raise the next one's figure. The table it
//! prints goes into `BENCHMARKS.md`; the test fails if the estimate is below any measured peak.

use std::process::Command;

use clickrules_aws::compile_memory_estimate_mb;
use clickrules_engine::{Engine, EngineConfig};
use clickrules_tests::guests;

/// The guest `compile_one` compiles: a path, `builtin`, or `none` (the process without a compile).
const GUEST_VARIABLE: &str = "COMPILE_PEAK_GUEST";

/// Compiles the guest named by [`GUEST_VARIABLE`], as the Lambda does at init or on a hot swap.
/// Does nothing when the variable is unset, so a plain `--ignored` run passes.
#[test]
#[ignore = "run by compile_peaks in a child process"]
fn compile_one() {
    let Ok(guest) = std::env::var(GUEST_VARIABLE) else {
        return;
    };
    let engine = Engine::new(EngineConfig::default()).expect("engine");
    let bytes = match guest.as_str() {
        "none" => return,
        "builtin" => clickrules_builtin::DEFAULT_GUEST.to_vec(),
        path => std::fs::read(path).unwrap_or_else(|e| panic!("read {path}: {e}")),
    };
    engine.load(&bytes).expect("the guest compiles");
}

/// Runs `compile_one` for `guest` under `/usr/bin/time -v`; its peak RSS in KiB.
fn peak_kib(guest: &str) -> u64 {
    let exe = std::env::current_exe().expect("this test binary");
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(exe)
        .args(["--exact", "compile_one", "--ignored", "--test-threads", "1"])
        .env(GUEST_VARIABLE, guest)
        .output()
        .expect("run /usr/bin/time (GNU time)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "compiling {guest} failed: {stderr}");
    stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in /usr/bin/time's output: {stderr}"))
}

#[test]
#[ignore = "a measurement: compiles the JavaScript and Python guests (minutes in the dev profile)"]
fn compile_peaks() {
    let built = |guest: Option<&'static str>, tool: &str| {
        guest.unwrap_or_else(|| panic!("the guest was not built: {tool} is needed"))
    };
    let rows = [
        ("no compile (the process and the engine)", "none"),
        ("default (built-in), Rust", "builtin"),
        ("by-click, Rust", guests::BY_CLICK),
        ("actions, Rust", guests::ACTIONS),
        (
            "by-click, JavaScript",
            built(guests::JS_BY_CLICK.path(), "node"),
        ),
        (
            "by-click, Python",
            built(guests::PYTHON_BY_CLICK.path(), "python3"),
        ),
    ];
    let mib = |bytes: u64| bytes as f64 / f64::from(1 << 20);
    let mut table = String::from(
        "| guest | .wasm | peak RSS | estimate | estimate − peak |\n|---|---|---|---|---|\n",
    );
    let mut short = Vec::new();
    for (name, guest) in rows {
        let size = match guest {
            "none" => 0,
            "builtin" => clickrules_builtin::DEFAULT_GUEST.len(),
            path => std::fs::metadata(path)
                .unwrap_or_else(|e| panic!("{path}: {e}"))
                .len() as usize,
        };
        let peak = mib(peak_kib(guest) << 10);
        let estimate = compile_memory_estimate_mb(size);
        table.push_str(&format!(
            "| {name} | {:.2} MiB | {peak:.1} MiB | {estimate} MB | {:+.1} |\n",
            mib(size as u64),
            estimate as f64 - peak
        ));
        if (estimate as f64) < peak {
            short.push(name);
        }
    }
    println!("{table}");
    assert!(
        short.is_empty(),
        "the estimate is below the peak for {short:?}"
    );
}
