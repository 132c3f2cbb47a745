//! Runs the `clickrules` binary against an emulator, and reads its output.

use std::process::{Command, Output};

use crate::moto;

/// Runs `clickrules` against `endpoint` with dummy credentials; the caller's AWS and
/// CLICKRULES settings are removed so they cannot leak into expectations.
pub fn clickrules(args: &[&str], endpoint: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clickrules"));
    cmd.args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("CLICKRULES_") || key.starts_with("AWS_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", moto::REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .envs(env.iter().copied());
    cmd.output().expect("run clickrules")
}

/// The value after `label` on its line of `clickrules` output.
pub fn field(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{text}"))
        .trim()
        .to_string()
}
