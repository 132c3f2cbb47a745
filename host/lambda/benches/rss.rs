//! The Lambda binary's memory: for each guest, the release `bootstrap` serves 10,000 SINGLE
//! presses through a stand-in Runtime API, its snapshot actions going to a local HTTP stub that
//! answers every request `200 {}`. Reports the cold start (spawn → first reply), presses per
//! second, the peak RSS (`VmHWM`) and the RSS at the end, and the smallest Lambda memory size
//! the guest fits in. The JavaScript and Python guests are measured twice: compiled at init,
//! and loaded from a signed precompiled artifact written beside a copy of the guest.
//!
//! `cargo bench -p clickrules-lambda --bench rss` (add `-- --presses N` to change the count,
//! `-- NAME` to run only the rows whose name contains NAME). Linux only: it reads
//! `/proc/<pid>/status`.

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clickrules_engine::{Arch, ArtifactBinding, ArtifactSigner, Engine, EngineConfig};
use clickrules_test_support::StubServer;
use clickrules_test_support::runtime_api::{Reply, RuntimeApi};
use clickrules_tests::guests;

const BOOTSTRAP: &str = env!("CARGO_BIN_EXE_bootstrap");
const EVENT: &[u8] =
    br#"{"serialNumber":"G030JF055364XVRB","batteryVoltage":"1705mV","clickType":"SINGLE"}"#;
/// Lambda's smallest memory size, MB (Lambda's "MB" are MiB).
const LAMBDA_MIN_MB: f64 = 128.0;
/// Allowance for what the Lambda environment adds beside our process (runtime, extensions).
const OVERHEAD_MB: f64 = 20.0;
/// Longest a guest may take for its presses.
const WAIT: Duration = Duration::from_secs(1800);
/// How often RSS is sampled while presses run.
const TICK: Duration = Duration::from_millis(20);

/// One row: a guest and how its native code is obtained.
struct Case {
    name: String,
    /// `None`: the built-in guest (`CLICKRULES_GUEST` unset).
    wasm: Option<PathBuf>,
    size: u64,
    /// Load from a signed artifact written beside the guest copy.
    signed: bool,
}

/// From `/proc/<pid>/status`, KiB: peak and current resident set, and the current one split
/// into anonymous memory (heap, guest memories, loaded code) and file pages (the binary's text).
#[derive(Debug, Clone, Copy)]
struct Memory {
    hwm_kib: u64,
    rss_kib: u64,
    anon_kib: u64,
    file_kib: u64,
}

fn memory(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    Memory {
        hwm_kib: field("VmHWM:"),
        rss_kib: field("VmRSS:"),
        anon_kib: field("RssAnon:"),
        file_kib: field("RssFile:"),
    }
}

struct Run {
    cold: Duration,
    presses_per_s: f64,
    /// After the first press (so after init).
    first: Memory,
    /// After the last press.
    last: Memory,
    /// (replies so far, RSS KiB) at each thousand.
    samples: Vec<(usize, u64)>,
    stub_requests: usize,
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The smallest Lambda memory size (MB, 1 MB steps, at least 128) holding `peak_kib` plus the
/// allowance.
fn lambda_mb(peak_kib: u64) -> u64 {
    (mib(peak_kib) + OVERHEAD_MB).max(LAMBDA_MIN_MB).ceil() as u64
}

fn spawn(
    api: &RuntimeApi,
    endpoint: &str,
    home: &Path,
    log: &Path,
    extra: &[(&str, &str)],
) -> Child {
    let mut command = Command::new(BOOTSTRAP);
    command
        .env_clear()
        .env("HOME", home)
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{}", api.port))
        .env("AWS_LAMBDA_FUNCTION_NAME", "clickrules")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", endpoint)
        .stdin(Stdio::null())
        // One JSON line per press: a pipe nobody reads would fill and stall the function.
        .stdout(File::create(log).expect("create log"))
        .stderr(Stdio::inherit());
    for (name, value) in extra {
        command.env(name, value);
    }
    command.spawn().expect("start bootstrap")
}

/// The running function, killed when dropped, so a failed check leaves no process behind.
struct Function(Child);

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The last lines of the function's log, for a failure message.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

fn check(reply: &Reply, loaded_from: &str, log: &Path) {
    let body = &reply.body;
    let done = body["outcomes"]
        .as_array()
        .is_some_and(|o| !o.is_empty() && o.iter().all(|o| o["status"] == "done"));
    assert!(
        reply.kind == "response" && body["ok"] == true && done,
        "press {} failed: {reply:?}\n{}",
        reply.request_id,
        tail(log)
    );
    assert_eq!(
        body["guest"]["loaded_from"], loaded_from,
        "press {}: {body}",
        reply.request_id
    );
}

fn run(case: &Case, presses: usize, dir: &Path, extra: &[(&str, &str)]) -> Run {
    let stub = StubServer::start(200, &[("Content-Type", "application/json")], "{}");
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let log = dir.join(format!(
        "{}.log",
        case.name.replace([' ', '/', '(', ')'], "_")
    ));
    let loaded_from = if case.signed {
        "signed_artifact"
    } else {
        "compiled"
    };
    let event = |i: usize| (format!("press-{i}"), EVENT.to_vec());

    let api = RuntimeApi::start(Vec::new());
    api.push([event(0)]);
    let start = Instant::now();
    let mut function = Function(spawn(&api, &stub.endpoint(), &home, &log, extra));
    let pid = function.0.id();
    let wait_for = |child: &mut Child, count: usize, samples: &mut Vec<(usize, u64)>| {
        let deadline = Instant::now() + WAIT;
        loop {
            let got = api.reply_count();
            if samples.last().is_none_or(|&(n, _)| got / 1000 > n / 1000) && got > 0 {
                samples.push((got, memory(pid).rss_kib));
            }
            if got >= count {
                return;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "{}: bootstrap exited ({status}) after {got} replies\n{}",
                    case.name,
                    tail(&log)
                );
            }
            assert!(
                Instant::now() < deadline,
                "{}: only {got} replies",
                case.name
            );
            std::thread::sleep(TICK);
        }
    };

    let mut samples = Vec::new();
    wait_for(&mut function.0, 1, &mut samples);
    let first_reply = api.replies_within(1, WAIT);
    let cold = first_reply[0].at - start;
    let first = memory(pid);
    samples.clear();
    samples.push((1, first.rss_kib));

    let warm = Instant::now();
    api.push((1..presses).map(event));
    wait_for(&mut function.0, presses, &mut samples);
    let replies = api.replies_within(presses, WAIT);
    let last_at = replies.iter().map(|r| r.at).max().unwrap();
    let last = memory(pid);
    drop(function);

    for reply in &replies {
        check(reply, loaded_from, &log);
    }
    let _ = std::fs::remove_file(&log);
    Run {
        cold,
        presses_per_s: (presses - 1) as f64 / (last_at - warm).as_secs_f64(),
        first,
        last,
        samples,
        stub_requests: stub.requests(),
    }
}

fn size_text(bytes: u64) -> String {
    if bytes < 1 << 20 {
        format!("{} KiB", bytes.div_ceil(1024))
    } else {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    }
}

fn main() {
    let mut presses = 10_000usize;
    let mut filters = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--presses" => {
                presses = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 1)
                    .expect("--presses N (N > 1)");
            }
            a if a.starts_with("--") => {} // `cargo bench` passes --bench.
            a => filters.push(a.to_string()),
        }
    }

    let dir = std::env::temp_dir().join(format!("clickrules-rss-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let arch = Arch::host().expect("a Lambda architecture (Linux on x86_64 or aarch64)");
    let signer = ArtifactSigner::generate().unwrap();
    let public_key = signer.public_key().to_string();

    let mut cases = vec![Case {
        name: "default (built-in, Rust)".into(),
        wasm: None,
        size: clickrules_builtin::DEFAULT_GUEST.len() as u64,
        signed: false,
    }];
    let mut missing = Vec::new();
    for (name, path) in [
        ("by-click, Rust", Some(guests::BY_CLICK)),
        ("by-click, JavaScript", guests::JS_BY_CLICK.path()),
        ("by-click, Python", guests::PYTHON_BY_CLICK.path()),
    ] {
        let Some(path) = path else {
            missing.push(name);
            continue;
        };
        let size = std::fs::metadata(path).unwrap().len();
        for signed in [false, true] {
            let how = if signed {
                "signed artifact"
            } else {
                "compiled at init"
            };
            cases.push(Case {
                name: format!("{name}, {how}"),
                wasm: Some(PathBuf::from(path)),
                size,
                signed,
            });
        }
    }
    cases.retain(|c| filters.is_empty() || filters.iter().any(|f| c.name.contains(f.as_str())));

    let mut table = String::from(
        "| guest | size | init → first decision | presses/s | peak RSS (VmHWM) | RSS after 1st press | RSS after all | smallest Lambda memory |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    let mut growth = String::from(
        "| guest | after all: anon + file | RSS (MiB) by presses served |\n|---|---|---|\n",
    );
    for (i, case) in cases.iter().enumerate() {
        let case_dir = dir.join(format!("case-{i}"));
        std::fs::create_dir_all(&case_dir).unwrap();
        let mut size = size_text(case.size);
        let mut extra: Vec<(&str, String)> = Vec::new();
        if let Some(wasm) = &case.wasm {
            // A copy in a temporary folder, so the artifact is not written into the build dirs.
            let copy = case_dir.join(wasm.file_name().unwrap());
            std::fs::copy(wasm, &copy).unwrap();
            if case.signed {
                let bytes = std::fs::read(&copy).unwrap();
                let t = Instant::now();
                let artifact = Engine::new(EngineConfig::default())
                    .unwrap()
                    .precompile(
                        &bytes,
                        arch,
                        &signer,
                        // The location the function loads it from (CLICKRULES_GUEST below).
                        &ArtifactBinding::now(copy.display().to_string()),
                    )
                    .unwrap_or_else(|e| panic!("precompile {}: {e}", wasm.display()));
                eprintln!(
                    "{}: precompiled in {:.1} s, artifact {}",
                    case.name,
                    t.elapsed().as_secs_f64(),
                    size_text(artifact.len() as u64)
                );
                size = format!("{size} + {} artifact", size_text(artifact.len() as u64));
                let name = arch.artifact_name(&copy.display().to_string());
                std::fs::write(&name, artifact).unwrap();
                extra.push(("CLICKRULES_TRUSTED_KEYS", public_key.clone()));
                extra.push(("CLICKRULES_REQUIRE_SIGNED", "true".into()));
            } else {
                // The Lambda refuses to compile a guest whose estimated compile peak exceeds the
                // function's memory; this row measures the compile, so give it the room.
                extra.push(("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048".into()));
            }
            extra.push(("CLICKRULES_GUEST", copy.display().to_string()));
        }
        let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        eprintln!("{}: {presses} presses ...", case.name);
        let r = run(case, presses, &case_dir, &extra);
        let _ = std::fs::remove_dir_all(&case_dir);
        eprintln!(
            "{}: cold {:.0} ms, {:.0} presses/s, VmHWM {:.1} MiB, VmRSS {:.1} → {:.1} MiB, stub answered {}",
            case.name,
            r.cold.as_secs_f64() * 1e3,
            r.presses_per_s,
            mib(r.last.hwm_kib),
            mib(r.first.rss_kib),
            mib(r.last.rss_kib),
            r.stub_requests
        );
        writeln!(
            table,
            "| {} | {size} | {:.0} ms | {:.0} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {} MB |",
            case.name,
            r.cold.as_secs_f64() * 1e3,
            r.presses_per_s,
            mib(r.last.hwm_kib),
            mib(r.first.rss_kib),
            mib(r.last.rss_kib),
            lambda_mb(r.last.hwm_kib),
        )
        .unwrap();
        let mut samples = r.samples.clone();
        if samples.last().is_some_and(|&(n, _)| n < presses) {
            samples.push((presses, r.last.rss_kib));
        }
        let points: Vec<String> = samples
            .iter()
            .map(|&(n, kib)| format!("{n}: {:.1}", mib(kib)))
            .collect();
        writeln!(
            growth,
            "| {} | {:.1} + {:.1} MiB | {} |",
            case.name,
            mib(r.last.anon_kib),
            mib(r.last.file_kib),
            points.join(", ")
        )
        .unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "\n{presses} SINGLE presses per guest through the release `bootstrap`; snapshot actions answered by a local stub.\n"
    );
    print!("{table}");
    println!(
        "\nSmallest Lambda memory: peak RSS + {OVERHEAD_MB:.0} MB allowance, at least {LAMBDA_MIN_MB:.0} MB, in 1 MB steps.\n"
    );
    print!("{growth}");
    for name in missing {
        println!("\n{name}: not built (its tool is not installed), skipped.");
    }
}
