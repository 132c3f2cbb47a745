//! Progress on slow steps, in both modes: drawn on stderr with `--progress always` and on a
//! terminal (a pseudo-terminal made by `script`), and never with stderr piped in the default
//! mode, with `--json`, `--quiet` or `--progress never`. stdout's result is the same either way.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use clickrules_test_support::Moto;
use clickrules_test_support::run;
use clickrules_tests::guests;

/// `clickrules ARGS` with stdout and stderr piped (neither is a terminal), and no CLICKRULES_*
/// settings of the caller.
fn clickrules(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clickrules"));
    cmd.args(args).stdin(Stdio::null());
    clean(&mut cmd);
    cmd.output().expect("run clickrules")
}

fn clean(cmd: &mut Command) {
    for (key, _) in std::env::vars() {
        if key.starts_with("CLICKRULES_") {
            cmd.env_remove(key);
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What a check of the default guest prints on stdout, whatever the progress.
fn assert_check_table(stdout: &str) {
    assert!(
        stdout.starts_with("settings   from the environment\nguest "),
        "{stdout}"
    );
    assert!(
        stdout.contains("\n24 presses: 24 ok, 0 failed, 0 skipped\n"),
        "{stdout}"
    );
    assert!(
        !stdout.contains('\x1b'),
        "no escape codes on stdout: {stdout:?}"
    );
    assert!(!stdout.contains("compiling"), "{stdout}");
    assert!(!stdout.contains("checking"), "{stdout}");
}

#[test]
fn check_with_progress_always_draws_the_compile_and_the_sweep_on_stderr() {
    let out = clickrules(&["check", guests::DEFAULT, "--progress", "always"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let name = guests::DEFAULT;
    assert!(
        stderr.contains(&format!("compiling {name} (")),
        "the compile spinner names the guest and its size: {stderr:?}"
    );
    assert!(
        stderr.contains(&format!(" for {}…", std::env::consts::ARCH)),
        "{stderr:?}"
    );
    assert!(
        stderr.contains(&format!("compiled {name} (")) && stderr.contains(" s\n"),
        "the finished compile stays, with its time: {stderr:?}"
    );
    assert!(
        stderr.contains(&format!("checking {name} [")),
        "a bar over the sweep: {stderr:?}"
    );
    assert!(
        stderr.contains("/24 ("),
        "the bar counts the 24 presses: {stderr:?}"
    );
    // Not a terminal: one plain line per redraw, no escape codes for a log to carry.
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with(&format!("compiled {name} (")) && l.ends_with(" s")),
        "{stderr:?}"
    );
    assert_check_table(&text(&out.stdout));
}

#[test]
fn check_draws_nothing_when_stderr_is_not_a_terminal() {
    let out = clickrules(&["check", guests::DEFAULT]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "", "auto mode, stderr piped");
    assert_check_table(&text(&out.stdout));

    let never = clickrules(&["check", guests::DEFAULT, "--progress", "never"]);
    assert_eq!(text(&never.stderr), "");
}

#[test]
fn json_and_quiet_win_over_progress_always() {
    let json = clickrules(&["check", guests::DEFAULT, "--json", "--progress", "always"]);
    assert!(json.status.success(), "{}", text(&json.stderr));
    assert_eq!(text(&json.stderr), "", "--json never draws");
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(report["rows"].as_array().map(Vec::len), Some(24));

    let quiet = clickrules(&["check", guests::DEFAULT, "--quiet", "--progress", "always"]);
    assert!(quiet.status.success(), "{}", text(&quiet.stderr));
    assert_eq!(text(&quiet.stderr), "", "--quiet never draws");
    assert_check_table(&text(&quiet.stdout));

    let press = clickrules(&["press", "-q", "--progress", "always"]);
    assert!(press.status.success(), "{}", text(&press.stderr));
    assert_eq!(text(&press.stderr), "");
}

#[test]
fn press_shows_its_guest_compile() {
    let out = clickrules(&["press", "--progress", "always"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("compiling builtin:default ("), "{stderr:?}");
    assert!(stderr.contains("compiled builtin:default ("), "{stderr:?}");
    assert!(text(&out.stdout).starts_with("press      SINGLE from G030SIMULATED001"));
    // The record on stdout is untouched.
    assert!(!text(&out.stdout).contains('\x1b'));
}

/// Runs `shell` under `script`, so the command's stderr (and whatever it does not redirect) is
/// a pseudo-terminal; returns what the terminal showed. None without `script`.
fn on_a_terminal(shell: &str) -> Option<String> {
    let script = Path::new("/usr/bin/script");
    if !script.exists() {
        eprintln!("skipped: no /usr/bin/script to make a pseudo-terminal");
        return None;
    }
    let mut cmd = Command::new(script);
    cmd.args(["-qec", shell, "/dev/null"])
        .env("TERM", "xterm")
        .stdin(Stdio::null());
    clean(&mut cmd);
    let out = cmd.output().expect("run script");
    assert!(
        out.status.success(),
        "{shell}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    Some(text(&out.stdout))
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "clickrules-progress-{}-{name}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn on_a_terminal_auto_mode_draws_and_stdout_stays_intact() {
    let dir = temp("pty");
    let stdout_file = dir.join("stdout.txt");
    let bin = env!("CARGO_BIN_EXE_clickrules");
    // stdout to a file, stderr to the terminal: the two are kept apart.
    let Some(terminal) = on_a_terminal(&format!(
        "'{bin}' check '{}' > '{}'",
        guests::DEFAULT,
        stdout_file.display()
    )) else {
        return;
    };
    assert!(
        terminal.contains(&format!("compiling {} (", guests::DEFAULT)),
        "{terminal:?}"
    );
    assert!(terminal.contains("checking "), "{terminal:?}");
    assert_check_table(&std::fs::read_to_string(&stdout_file).unwrap());

    // Both on the terminal: the bar is cleared before the table, which comes whole.
    let Some(both) = on_a_terminal(&format!("'{bin}' check '{}'", guests::DEFAULT)) else {
        return;
    };
    let table_at = both
        .find("settings   from the environment")
        .expect("the table");
    assert!(both[..table_at].contains("checking "), "{both:?}");
    let table = both[table_at..].replace("\r\n", "\n");
    assert_check_table(&table);

    // --json on a terminal: the JSON alone.
    let Some(json) = on_a_terminal(&format!("'{bin}' check '{}' --json", guests::DEFAULT)) else {
        return;
    };
    assert!(!json.contains("compiling"), "{json:?}");
    let report: serde_json::Value = serde_json::from_str(&json.replace("\r\n", "\n")).unwrap();
    assert_eq!(report["rows"].as_array().map(Vec::len), Some(24));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_signed_upload_shows_each_target_and_the_upload_size() {
    let Some(moto) = Moto::start("a_signed_upload_shows_each_target_and_the_upload_size") else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let s3 = rt.block_on(async {
        clickrules_aws::AwsClients::from_sdk_config(&moto.sdk_config().await, true).s3
    });
    rt.block_on(s3.create_bucket().bucket("guests").send())
        .unwrap();
    let endpoint = moto.endpoint();
    let bin = env!("CARGO_BIN_EXE_clickrules");
    let dir = temp("upload");
    let key = dir.join("signing.pem");
    let key = key.to_str().unwrap();
    let created = run::against(bin, &["key", "new", key], &endpoint, &[]);
    assert!(created.status.success(), "{}", text(&created.stderr));

    let args = [
        "upload",
        guests::DEFAULT,
        "s3://guests/default.wasm",
        "--signing-key",
        key,
        "--progress",
        "always",
    ];
    let out = run::against(bin, &args, &endpoint, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("compiling {} (", guests::DEFAULT)),
        "{stderr:?}"
    );
    assert!(stderr.contains("checking "), "{stderr:?}");
    assert!(
        stderr.contains(&format!(
            "precompiling {} for aarch64 and signing it (1/2)",
            guests::DEFAULT
        )),
        "{stderr:?}"
    );
    assert!(
        stderr.contains(&format!(
            "precompiling {} for x86_64 and signing it (2/2)",
            guests::DEFAULT
        )),
        "{stderr:?}"
    );
    assert!(
        stderr.contains("uploading s3://guests/default.wasm"),
        "{stderr:?}"
    );
    // The bar counts bytes, and the finished step says how many went up.
    assert!(stderr.contains("iB/s"), "a bytes bar: {stderr:?}");
    assert!(stderr.contains("uploaded 3 objects ("), "{stderr:?}");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("precompiled aarch64"), "{stdout}");
    assert!(
        stdout.contains("uploaded   s3://guests/default.wasm"),
        "{stdout}"
    );
    assert!(!stdout.contains('\x1b'), "{stdout:?}");

    // The same upload with stderr piped in the default mode: nothing drawn.
    let quiet = run::against(bin, &args[..5], &endpoint, &[]);
    assert!(quiet.status.success(), "{}", text(&quiet.stderr));
    assert_eq!(text(&quiet.stderr), "");
    std::fs::remove_dir_all(dir).ok();
}
