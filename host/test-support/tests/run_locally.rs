//! The README's "Run the Lambda locally" commands, run as written: each `sh` block after a
//! `<!-- run-locally:NAME -->` marker is taken from README.md and run with bash from the
//! repository root, so the docs cannot drift from what works.
//!
//! Changes to the blocks, and why: the `execute` block gets a free port in place of 5000 (tests
//! run in parallel, and 5000 may be taken) and its `pip install` line is left out (the test
//! needs moto installed already, as the other moto tests do: skipped without it, failing
//! under CI); the `remote` block finds a stub `aws` first on PATH and sends the invoke to a
//! stand-in of the Lambda API (`AWS_ENDPOINT_URL`), as no deployed function is at hand.
//!
//! The blocks use `cargo run`; the nested cargo builds into this test's own target directory.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clickrules_test_support::StubServer;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `<target>/debug/deps/run_locally-<hash>` -> `<target>`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.ancestors()
        .nth(3)
        .expect("the test binary is in <target>/<profile>/deps")
        .to_path_buf()
}

/// The `sh` block after `<!-- run-locally:NAME -->` in README.md.
fn block(name: &str) -> String {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let marker = format!("<!-- run-locally:{name} -->\n```sh\n");
    let start = readme
        .find(&marker)
        .unwrap_or_else(|| panic!("README.md has no `{marker}`"))
        + marker.len();
    let end = readme[start..]
        .find("\n```\n")
        .expect("the block is closed")
        + start;
    readme[start..=end].to_string()
}

/// Runs `script` with bash from the repository root, without the caller's AWS and
/// CLICKRULES settings; background jobs it starts are ended when it ends.
fn run(script: &str, path_first: Option<&Path>, env: &[(&str, &str)]) -> Output {
    let script =
        format!("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{script}");
    let mut command = Command::new("bash");
    command.arg("-c").arg(&script).current_dir(repo_root());
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") || key.starts_with("CLICKRULES_") {
            command.env_remove(key);
        }
    }
    if let Some(dir) = path_first {
        let path = std::env::var("PATH").unwrap_or_default();
        command.env("PATH", format!("{}:{path}", dir.display()));
    }
    command
        .env("CARGO_TARGET_DIR", target_dir())
        .envs(env.iter().copied())
        .output()
        .expect("bash runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The folder of the pinned moto's virtual environment (its `moto_server`, and a `python3`
/// with boto3), installed on first use in place of the README's `pip install`; `None`, said
/// loudly, only when Python is missing outside CI.
fn moto_bin() -> Option<PathBuf> {
    let requirements = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/tools/moto.txt");
    match clickrules_guest_build::python_tool(&requirements, "moto_server") {
        Ok(server) => server.parent().map(Path::to_path_buf),
        Err(e @ clickrules_guest_build::ProvisionError::RuntimeMissing { .. })
            if !clickrules_guest_build::in_ci() =>
        {
            clickrules_guest_build::shout(&format!("SKIPPED: the README's moto block: {e}"));
            None
        }
        Err(e) => panic!("cannot install moto: {e}"),
    }
}

#[test]
fn the_local_lambda_command_runs_bootstrap_for_one_event() {
    let script = block("local-lambda");
    assert_eq!(
        script.trim(),
        "cargo run -p clickrules-test-support --bin clickrules-local-lambda -- \
         --event tests/fixtures/events/iot-button-single.json"
    );
    let out = run(&script, None, &[]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // The response is the record, executed (against the stand-in), and so is the log line.
    assert!(
        stdout.contains("--- the function's response to local-1"),
        "{stdout}"
    );
    assert!(stdout.contains("\"serial_number\": \"G030JF055364XVRB\""));
    assert!(stdout.contains("\"executed\": true"), "{stdout}");
    assert!(stdout.contains("\"kind\": \"invoked\""), "{stdout}");
    let log_line = stdout
        .lines()
        .skip_while(|l| !l.starts_with("--- the press record it logged"))
        .nth(1)
        .expect("the record's log line");
    let logged: serde_json::Value = serde_json::from_str(log_line).unwrap();
    assert_eq!(logged["target"], "clickrules::record");
    assert_eq!(logged["record"]["ok"], true);
    assert!(
        stdout.contains(
            "--- AWS calls it made (1, each answered 200 {})\n\
             POST /2015-03-31/functions/scheduled_snapshot/invocations?Qualifier=prod {\"region\":\"us-west-1\"}"
        ),
        "{stdout}"
    );
}

#[test]
fn the_local_lambda_fails_a_failing_press_and_names_a_missing_event() {
    let bin = env!("CARGO_BIN_EXE_clickrules-local-lambda");
    let out = Command::new(bin)
        .args(["--event", "no-such-event.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read the event no-such-event.json"));
    let out = Command::new(bin).arg("--frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("usage: clickrules-local-lambda"));
    // A wrong setting fails the function's init: no response, the log says why, exit 1.
    let out = run(
        &format!("{bin} --env CLICKRULES_INVOCATION_TYPE=DryRun"),
        None,
        &[],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("--- no response: the function exited"),
        "{stdout}"
    );
    assert!(stdout.contains("CLICKRULES_INVOCATION_TYPE"), "{stdout}");
}

#[test]
fn press_execute_against_moto_invokes_scheduled_snapshot_prod() {
    let Some(moto) = moto_bin() else {
        return;
    };
    let readme = block("execute");
    assert!(
        readme.starts_with("pip install 'moto[server]==5.2.1'\n"),
        "{readme}"
    );
    assert!(readme.contains("5000"));
    let port = TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script: String = readme
        .lines()
        .filter(|l| !l.starts_with("pip install"))
        .map(|l| format!("{}\n", l.replace("5000", &port.to_string())))
        .collect();
    let out = run(&script, Some(&moto), &[]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(
            "done: {\"kind\":\"invoked\",\"function\":\"scheduled_snapshot\",\"qualifier\":\"prod\""
        ),
        "{stdout}"
    );
    assert!(stdout.contains("(executed)"), "{stdout}");
}

#[test]
fn press_remote_prints_the_record_the_function_returns() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("run-locally-remote");
    std::fs::create_dir_all(&dir).unwrap();
    let aws = dir.join("aws");
    std::fs::write(
        &aws,
        "#!/usr/bin/env bash\necho \"$*\" >>\"$(dirname \"$0\")/aws.log\"\necho clickrules-Function-AbC123\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&aws, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let _ = std::fs::remove_file(dir.join("aws.log"));
    let record = r#"{"request_id":"0f3e","press_id":"0f3e","executed":true,"ok":true}"#;
    let lambda = StubServer::start(200, &[("Content-Type", "application/json")], record);
    let endpoint = lambda.endpoint();
    let out = run(
        &block("remote"),
        Some(&dir),
        &[
            ("AWS_ENDPOINT_URL", &endpoint),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let printed: serde_json::Value = serde_json::from_str(&stdout).expect("--json prints JSON");
    assert_eq!(
        printed,
        serde_json::from_str::<serde_json::Value>(record).unwrap()
    );
    assert_eq!(lambda.requests(), 1);
    let asked = std::fs::read_to_string(dir.join("aws.log")).unwrap();
    assert!(
        asked.starts_with("cloudformation describe-stacks --stack-name clickrules "),
        "{asked}"
    );
}
