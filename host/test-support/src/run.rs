//! Runs a binary under test against an emulator, and reads its output.
//!
//! The binary's path comes from the caller: `env!("CARGO_BIN_EXE_<name>")` is only set while
//! compiling the tests of the package that builds the binary, so e.g. the CLI's tests wrap
//! [`against`] in a `clickrules(args, endpoint, env)` that passes
//! `env!("CARGO_BIN_EXE_clickrules")`.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

use crate::moto;

/// Runs `binary` with `args` against `endpoint` with dummy credentials, plus `env`; the
/// caller's AWS and CLICKRULES settings are removed so they cannot leak into expectations.
pub fn against(
    binary: impl AsRef<OsStr>,
    args: &[&str],
    endpoint: &str,
    env: &[(&str, &str)],
) -> Output {
    let binary = binary.as_ref();
    let mut cmd = Command::new(binary);
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
    cmd.output()
        .unwrap_or_else(|e| panic!("run {}: {e}", Path::new(binary).display()))
}

/// The value after `label` on its line of the binary's output.
pub fn field(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{text}"))
        .trim()
        .to_string()
}
