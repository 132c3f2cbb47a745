//! Cranelift vs Winch cold-start bench for clickrules guests (wasmtime 48.0.8).
//!
//! Usage (see README.md):
//!   clickrules-compilers-bench all [--compile-reps N] [--big-compile-reps N] [--rust-calls N]
//!                                  [--big-calls N] [--only rust|js|python]
//!   clickrules-compilers-bench xcompile <wasm> <cranelift|winch> <target-triple>
//!   clickrules-compilers-bench compile <wasm> <cranelift|winch> [artifact-out]   (child: one compile)
//!   clickrules-compilers-bench run <wasm> <cranelift|winch> <artifact> <calls>   (child: deserialize + calls)
//!
//! Every measurement runs in a fresh child process so VmHWM (peak RSS) is per measurement.
//! Engine config mirrors clickrules-engine: component model, consume_fuel, epoch_interruption,
//! pooling allocator (same per-component limits, 128 MiB max memory), parallel compilation.
//!
//! Guests are read from `<repo>/target/wasm-guests` (or `CLICKRULES_GUESTS_DIR`); artifacts go to
//! a fresh folder under the system temp dir, removed at the end.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Strategy,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

mod bindings {
    // The repository's `wit/`. bindgen! takes only a string literal here (no `concat!`), and
    // resolves a relative path against CARGO_MANIFEST_DIR, i.e. this is
    // `concat!(env!("CARGO_MANIFEST_DIR"), "/../../wit")`.
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "click-handler",
    });
}
use bindings::ClickHandlerPre;
use bindings::clickrules::handler::{host, types};

const SLOTS: u32 = 16;
const CORE_INSTANCES_PER_COMPONENT: u32 = 64;
const MEMORIES_PER_COMPONENT: u32 = 8;
const TABLES_PER_COMPONENT: u32 = 16;
const MAX_TABLE_ELEMENTS: usize = 200_000;
const MEMORY_BYTES: usize = 128 << 20;
const FUEL: u64 = 10_000_000_000;

fn engine(compiler: &str) -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(SLOTS)
        .total_core_instances(SLOTS * CORE_INSTANCES_PER_COMPONENT)
        .total_memories(SLOTS * MEMORIES_PER_COMPONENT)
        .total_tables(SLOTS * TABLES_PER_COMPONENT)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .max_memory_size(MEMORY_BYTES)
        .table_elements(MAX_TABLE_ELEMENTS);
    let mut c = Config::new();
    c.wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    match compiler {
        "cranelift" => {
            c.strategy(Strategy::Cranelift);
        }
        "winch" => {
            c.strategy(Strategy::Winch);
        }
        other => panic!("unknown compiler {other}"),
    }
    Engine::new(&c)
}

/// (user+sys CPU ms of this whole process incl. threads, ru_maxrss KiB)
fn rusage() -> (f64, u64) {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    (ms(ru.ru_utime) + ms(ru.ru_stime), ru.ru_maxrss as u64)
}

fn status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    for line in s.lines() {
        if let Some(rest) = line.strip_prefix(field) {
            let rest = rest.trim_start_matches(':').trim();
            return rest.trim_end_matches("kB").trim().parse().unwrap();
        }
    }
    0
}

// ---------------------------------------------------------------- store state

#[derive(Default)]
struct State {
    wasi: Option<WasiCtx>,
    table: ResourceTable,
    logs: Vec<(host::Level, String)>,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let ctx = self.wasi.get_or_insert_with(|| {
            WasiCtx::builder()
                .allow_tcp(false)
                .allow_udp(false)
                .allow_ip_name_lookup(false)
                .build()
        });
        WasiCtxView {
            ctx,
            table: &mut self.table,
        }
    }
}

impl types::Host for State {}

impl host::Host for State {
    fn log(&mut self, level: host::Level, message: String) {
        self.logs.push((level, message));
    }
    fn config(&mut self, _key: String) -> Option<String> {
        None
    }
}

// ---------------------------------------------------------------- children

fn child_compile(wasm: &Path, compiler: &str, out: Option<&Path>) -> wasmtime::Result<()> {
    let engine = engine(compiler)?;
    let bytes = std::fs::read(wasm)?;
    let hwm_before = status_kb("VmHWM");
    let (cpu0, _) = rusage();
    let t = Instant::now();
    let component = match Component::new(&engine, &bytes) {
        Ok(c) => c,
        Err(e) => {
            println!("ERROR {:#}", e);
            return Ok(());
        }
    };
    let compile_ms = t.elapsed().as_secs_f64() * 1e3;
    let hwm_after = status_kb("VmHWM");
    let (cpu1, maxrss) = rusage();
    let cpu_ms = cpu1 - cpu0;
    let ser = component.serialize()?;
    if let Some(out) = out {
        std::fs::write(out, &ser)?;
    }
    println!(
        "OK compile_ms={compile_ms:.1} cpu_ms={cpu_ms:.0} maxrss_kb={maxrss} artifact_bytes={} hwm_before_kb={hwm_before} hwm_after_kb={hwm_after}",
        ser.len()
    );
    Ok(())
}

fn click() -> types::Click {
    types::Click {
        serial_number: "G030JF055364XVRB".into(),
        click_type: types::ClickType::Single,
        battery_mv: Some(1705),
        received_at_ms: 0,
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

fn child_run(wasm: &Path, compiler: &str, artifact: &Path, calls: usize) -> wasmtime::Result<()> {
    let _ = wasm;
    let engine = engine(compiler)?;
    let bytes = std::fs::read(artifact)?;
    let t = Instant::now();
    let component = unsafe { Component::deserialize(&engine, &bytes)? };
    let deser_ms = t.elapsed().as_secs_f64() * 1e3;

    let mut linker: Linker<State> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    bindings::ClickHandler::add_to_linker::<State, wasmtime::component::HasSelf<State>>(
        &mut linker,
        |s| s,
    )?;
    let t = Instant::now();
    let pre = ClickHandlerPre::new(linker.instantiate_pre(&component)?)?;
    let pre_ms = t.elapsed().as_secs_f64() * 1e3;

    let the_click = click();
    let one = |pre: &ClickHandlerPre<State>| -> wasmtime::Result<(f64, f64, String, u64, usize)> {
        let t0 = Instant::now();
        let mut store = Store::new(&engine, State::default());
        store.set_fuel(FUEL)?;
        store.set_epoch_deadline(1_000_000);
        let h = pre.instantiate(&mut store)?;
        let t1 = Instant::now();
        let r = h.call_handle(&mut store, &the_click)?;
        let t2 = Instant::now();
        let fuel_used = FUEL - store.get_fuel()?;
        let nlogs = store.data().logs.len();
        drop(store);
        let total = t0.elapsed().as_secs_f64() * 1e6;
        let call = (t2 - t1).as_secs_f64() * 1e6;
        Ok((total, call, format!("{r:?}"), fuel_used, nlogs))
    };

    // First (cold-in-process) call.
    let (first_total, first_call, actions, fuel, nlogs) = one(&pre)?;
    let mut totals = Vec::with_capacity(calls);
    let mut call_only = Vec::with_capacity(calls);
    for _ in 0..calls {
        let (tot, c, a, _, _) = one(&pre)?;
        assert_eq!(a, actions, "actions changed between calls");
        totals.push(tot);
        call_only.push(c);
    }
    // Same instance, repeated calls: pages already faulted, isolates generated-code speed.
    let mut store = Store::new(&engine, State::default());
    store.set_fuel(u64::MAX / 4)?;
    store.set_epoch_deadline(1_000_000);
    let h = pre.instantiate(&mut store)?;
    let mut reuse = Vec::with_capacity(calls);
    let mut reuse_err = String::new();
    for i in 0..=calls {
        let t = Instant::now();
        match h.call_handle(&mut store, &the_click) {
            Ok(_) => {}
            Err(e) => {
                reuse_err = format!("{e:#}").replace(' ', "_");
                break;
            }
        }
        if i > 0 {
            reuse.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    let reuse_p50 = if reuse.is_empty() {
        f64::NAN
    } else {
        pct(&mut reuse, 0.5)
    };
    drop(store);
    let p50 = pct(&mut totals, 0.5);
    let p90 = pct(&mut totals, 0.9);
    let c50 = pct(&mut call_only, 0.5);
    println!(
        "OK deser_ms={deser_ms:.2} pre_ms={pre_ms:.2} first_us={first_total:.0} first_call_us={first_call:.0} \
         p50_us={p50:.1} p90_us={p90:.1} call_p50_us={c50:.1} reuse_p50_us={reuse_p50:.1} reuse_err={reuse_err} fuel={fuel} logs={nlogs} hwm_kb={}",
        status_kb("VmHWM")
    );
    println!("ACTIONS {actions}");
    Ok(())
}

/// Cross-compiles (no pooling, nothing to run) for another target, e.g. aarch64-unknown-linux-gnu.
fn child_xcompile(wasm: &Path, compiler: &str, triple: &str) -> wasmtime::Result<()> {
    let mut c = Config::new();
    c.wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        .target(triple)?;
    c.strategy(if compiler == "winch" {
        Strategy::Winch
    } else {
        Strategy::Cranelift
    });
    let engine = match Engine::new(&c) {
        Ok(e) => e,
        Err(e) => {
            println!("ERROR engine: {e:#}");
            return Ok(());
        }
    };
    let bytes = std::fs::read(wasm)?;
    let (cpu0, _) = rusage();
    let t = Instant::now();
    match engine.precompile_component(&bytes) {
        Ok(out) => {
            let (cpu1, maxrss) = rusage();
            println!(
                "OK target={triple} compile_ms={:.1} cpu_ms={:.0} maxrss_kb={maxrss} artifact_bytes={}",
                t.elapsed().as_secs_f64() * 1e3,
                cpu1 - cpu0,
                out.len()
            );
        }
        Err(e) => println!("ERROR {e:#}"),
    }
    Ok(())
}

// ---------------------------------------------------------------- driver

/// Environment variable naming the folder that holds the built guests.
const GUESTS_DIR_VAR: &str = "CLICKRULES_GUESTS_DIR";

/// The folder holding the built guests: `$CLICKRULES_GUESTS_DIR`, else `<repo>/target/wasm-guests`
/// (where the root test build puts them when CARGO_TARGET_DIR is not set).
fn guests_dir() -> PathBuf {
    match std::env::var_os(GUESTS_DIR_VAR) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .nth(2)
            .expect("tests/compilers lies two levels below the repository root")
            .join("target")
            .join("wasm-guests"),
    }
}

/// A fresh folder for the compiled artifacts under the system temp dir, removed when dropped
/// (also when a measurement panics).
struct ArtifactDir(PathBuf);

impl ArtifactDir {
    fn create() -> std::io::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("clickrules-compilers-bench-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }
}

impl Drop for ArtifactDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            eprintln!("could not remove {}: {e}", self.0.display());
        }
    }
}

fn parse_kv(line: &str) -> std::collections::HashMap<String, String> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn run_child(args: &[&str]) -> String {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe).args(args).output().expect("spawn child");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        eprintln!(
            "child {:?} failed: {}\n{}\n{}",
            args,
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    stdout
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn driver(args: &[String]) {
    let get = |name: &str, def: usize| -> usize {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|v| v.parse().unwrap())
            .unwrap_or(def)
    };
    let small_reps = get("--compile-reps", 3);
    let big_reps = get("--big-compile-reps", 1);
    let rust_calls = get("--rust-calls", 2000);
    let big_calls = get("--big-calls", 200);
    let only: Option<String> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());

    if let Some(o) = &only
        && !["rust", "js", "python"].contains(&o.as_str())
    {
        eprintln!("--only takes rust, js or python, not {o:?}");
        std::process::exit(2);
    }

    let dir = guests_dir();
    let guests: Vec<(&str, PathBuf, bool)> = vec![
        (
            "rust",
            dir.join("wasm32-wasip2/release/clickrules_guest_by_click.wasm"),
            false,
        ),
        ("js", dir.join("js/by_click.wasm"), true),
        ("python", dir.join("python/by_click.wasm"), true),
    ];
    let art_dir = ArtifactDir::create().unwrap_or_else(|e| {
        eprintln!(
            "cannot create an artifact folder under {}: {e}",
            std::env::temp_dir().display()
        );
        std::process::exit(1);
    });
    let art_dir = &art_dir.0;

    println!(
        "| guest | compiler | compile wall ms (median, n) | compile CPU ms | compile peak RSS MiB (VmHWM; before compile) | artifact MiB | deserialize ms | first inst+call us | warm inst+call p50 us (p90) | call-only p50 us | same-instance call p50 us | fuel | run-proc peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut actions_seen: Vec<(String, String, String)> = Vec::new();
    for (name, path, big) in &guests {
        if let Some(o) = &only
            && o != name
        {
            continue;
        }
        if !path.is_file() {
            eprintln!(
                "skipping the {name} guest: {} is missing. Build the guests with \
                 `cargo test -p clickrules-tests --test behaviour` at the repository root (it builds \
                 all three; JS and Python need their tools, see .ci/run), then set {GUESTS_DIR_VAR} \
                 to $CARGO_TARGET_DIR/wasm-guests if that build used another target dir than \
                 <repo>/target.",
                path.display()
            );
            println!("| {name} | | skipped: guest not built | | | | | | | | | | |");
            continue;
        }
        for compiler in ["cranelift", "winch"] {
            let reps = if *big { big_reps } else { small_reps };
            let art = art_dir.join(format!("{name}.{compiler}.cwasm"));
            let mut times = Vec::new();
            let mut hwm = Vec::new();
            let mut cpus = Vec::new();
            let mut before = 0u64;
            let mut size = 0u64;
            let mut err = None;
            for i in 0..reps {
                let out_arg = art.to_str().unwrap();
                let mut a = vec!["compile", path.to_str().unwrap(), compiler];
                if i == 0 {
                    a.push(out_arg);
                }
                let out = run_child(&a);
                let line = out.lines().next().unwrap_or("").to_string();
                if let Some(e) = line.strip_prefix("ERROR ") {
                    err = Some(e.to_string());
                    break;
                }
                eprintln!("[{name}/{compiler}] {line}");
                let kv = parse_kv(&line);
                times.push(kv["compile_ms"].parse::<f64>().unwrap());
                cpus.push(kv["cpu_ms"].parse::<f64>().unwrap());
                hwm.push(kv["hwm_after_kb"].parse::<f64>().unwrap());
                before = kv["hwm_before_kb"].parse().unwrap();
                size = kv["artifact_bytes"].parse().unwrap();
            }
            if let Some(e) = err {
                println!("| {name} | {compiler} | ERROR: {e} | | | | | | | | | | |");
                continue;
            }
            let calls = if *big { big_calls } else { rust_calls };
            let out = run_child(&[
                "run",
                path.to_str().unwrap(),
                compiler,
                art.to_str().unwrap(),
                &calls.to_string(),
            ]);
            let mut lines = out.lines();
            let line = lines.next().unwrap_or("");
            eprintln!("[{name}/{compiler}] {line}");
            let kv = parse_kv(line);
            let actions = lines
                .find_map(|l| l.strip_prefix("ACTIONS ").map(str::to_string))
                .unwrap_or_default();
            actions_seen.push((name.to_string(), compiler.to_string(), actions));
            let g = |k: &str| kv.get(k).cloned().unwrap_or_else(|| "?".into());
            println!(
                "| {name} | {compiler} | {:.0} (n={}) | {:.0} | {:.0} ({:.0}) | {:.2} | {} | {} | {} ({}) | {} | {} | {} | {:.0} |",
                median(times.clone()),
                times.len(),
                median(cpus.clone()),
                median(hwm.clone()) / 1024.0,
                before as f64 / 1024.0,
                size as f64 / (1024.0 * 1024.0),
                g("deser_ms"),
                g("first_us"),
                g("p50_us"),
                g("p90_us"),
                g("call_p50_us"),
                if g("reuse_err").is_empty() {
                    g("reuse_p50_us")
                } else {
                    format!("err: {}", g("reuse_err"))
                },
                g("fuel"),
                g("hwm_kb").parse::<f64>().unwrap_or(0.0) / 1024.0,
            );
        }
    }
    println!();
    for (n, c, a) in &actions_seen {
        println!("actions {n}/{c}: {a}");
    }
}

fn main() -> wasmtime::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("compile") => child_compile(
            Path::new(&args[2]),
            &args[3],
            args.get(4).map(|s| Path::new(s.as_str())),
        ),
        Some("run") => child_run(
            Path::new(&args[2]),
            &args[3],
            Path::new(&args[4]),
            args[5].parse().unwrap(),
        ),
        Some("xcompile") => child_xcompile(Path::new(&args[2]), &args[3], &args[4]),
        Some("all") | None => {
            driver(&args);
            Ok(())
        }
        Some(other) => {
            eprintln!("unknown mode {other:?}: use all, xcompile, compile or run (see README.md)");
            std::process::exit(2);
        }
    }
}
