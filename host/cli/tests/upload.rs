//! `clickrules upload` refuses what it must refuse before touching AWS. Uploads themselves are
//! tested against the emulator in `aws_cli.rs`, and signed ones in `signed_upload.rs`.

use std::process::{Command, Output};

use clickrules_tests::guests;

fn clickrules(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clickrules"));
    cmd.args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("CLICKRULES_") || key.starts_with("AWS_") {
            cmd.env_remove(key);
        }
    }
    // Nothing listens here: had upload tried S3, it would fail with a connection error instead.
    cmd.env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test");
    cmd.output().expect("run clickrules")
}

#[test]
fn upload_refuses_a_failing_guest_before_uploading() {
    let out = clickrules(&[
        "upload",
        guests::SPIN,
        "s3://guests/spin.wasm",
        "--timeout-ms",
        "50",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        format!(
            "error: not uploading {}: 1 of 24 presses failed and 23 were skipped after one ran out of time or fuel\n",
            guests::SPIN
        )
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("FAIL    deadline"), "{stdout}");
}

#[test]
fn upload_refuses_a_guest_that_does_not_load() {
    let out = clickrules(&["upload", guests::WRONG_WORLD, "s3://guests/x.wasm"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("has no `handle` export"), "{stderr}");
}

#[test]
fn upload_needs_an_s3_destination() {
    let out = clickrules(&["upload", guests::DEFAULT, "/tmp/guest.wasm"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: destination \"/tmp/guest.wasm\" is not s3://BUCKET/KEY"),
        "{stderr}"
    );
}
