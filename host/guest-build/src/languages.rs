//! Guests in other languages (JavaScript, Python), built by their own toolchains.
//!
//! Each toolchain takes tens of seconds and is not part of a Rust install, so these builds
//! differ from the Rust ones in two ways: a guest is rebuilt only when one of its own source
//! files (or the WIT contract, or the tool's version) is newer than the component, and a
//! missing tool skips the guest with a `cargo:warning` locally but fails the build under CI,
//! where `.ci/run` installs every tool and a skip would hide a broken guest.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use crate::guest_target_dir;

/// The environment variable CI systems set; when it is set a missing tool is an error.
const CI_VAR: &str = "CI";

/// Builds the JavaScript guest in `guest_dir` (a folder with `package.json`, `build.mjs` and
/// `src/`) with its pinned componentize-js, into `target/wasm-guests/js/NAME.wasm`.
///
/// Returns `None` when node or the guest's `node_modules` is missing and `CI` is not set.
/// Panics when the build fails, or when a tool is missing under `CI`.
pub fn build_js(guest_dir: &Path, wit_dir: &Path) -> Option<PathBuf> {
    let name = guest_name(guest_dir);
    let Some(node_version) = tool_version("node", &["--version"]) else {
        return missing(
            &format!("the JavaScript guest {name}"),
            "node was not found on PATH",
            "install Node.js 20 or later",
        );
    };
    let componentize = guest_dir.join("node_modules/@bytecodealliance/componentize-js");
    if !componentize.is_dir() {
        // node_modules appearing changes the folder, so `npm ci` triggers a rebuild.
        println!("cargo:rerun-if-changed={}", guest_dir.display());
        return missing(
            &format!("the JavaScript guest {name}"),
            "its node packages are not installed",
            &format!("run `npm ci` in {}", guest_dir.display()),
        );
    }

    // Only the guest's own files: node_modules changes only through package-lock.json.
    let sources = vec![
        guest_dir.join("package.json"),
        guest_dir.join("package-lock.json"),
        guest_dir.join("build.mjs"),
        guest_dir.join("src"),
    ];
    let out = guest_target_dir()
        .join("js")
        .join(format!("{}.wasm", name.replace('-', "_")));
    let stamp = format!("node {node_version}");
    build_if_stale(&out, &sources, wit_dir, &stamp, |tmp| {
        let mut cmd = Command::new("node");
        cmd.arg("build.mjs")
            .arg("--wit")
            .arg(wit_dir)
            .arg("--out")
            .arg(tmp)
            .current_dir(guest_dir);
        cmd
    });
    Some(out)
}

/// Builds the Python guest in `guest_dir` (a folder whose `app.py` defines `WitWorld`) with
/// `componentize-py`, into `target/wasm-guests/python/NAME.wasm`.
///
/// Returns `None` when `componentize-py` is missing and `CI` is not set. Panics when the build
/// fails, or when the tool is missing under `CI`.
pub fn build_python(guest_dir: &Path, wit_dir: &Path) -> Option<PathBuf> {
    let name = guest_name(guest_dir);
    let Some(version) = tool_version("componentize-py", &["--version"]) else {
        return missing(
            &format!("the Python guest {name}"),
            "componentize-py was not found on PATH",
            "run `pip install componentize-py` (see .ci/run for the version CI uses)",
        );
    };
    let mut sources: Vec<PathBuf> = fs::read_dir(guest_dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", guest_dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension() == Some(OsStr::new("py")))
        .collect();
    sources.sort();
    assert!(
        sources.iter().any(|p| p.ends_with("app.py")),
        "the Python guest {} has no app.py",
        guest_dir.display()
    );
    let out = guest_target_dir()
        .join("python")
        .join(format!("{}.wasm", name.replace('-', "_")));
    build_if_stale(&out, &sources, wit_dir, &version, |tmp| {
        let mut cmd = Command::new("componentize-py");
        cmd.arg("--wit-path")
            .arg(wit_dir)
            .arg("--world")
            .arg("click-handler")
            .arg("componentize")
            .arg("app")
            .arg("--python-path")
            .arg(guest_dir)
            .arg("--output")
            .arg(tmp)
            // Building imports app.py; a __pycache__ in the source folder would be noise.
            .env("PYTHONDONTWRITEBYTECODE", "1");
        cmd
    });
    // componentize-py's embedded interpreter writes bytecode anyway (the variable does not
    // reach it); remove it so a build leaves the source folder as it was.
    let _ = fs::remove_dir_all(guest_dir.join("__pycache__"));
    Some(out)
}

/// Whether `CI` asks for every guest to be built.
fn in_ci() -> bool {
    println!("cargo:rerun-if-env-changed={CI_VAR}");
    std::env::var(CI_VAR).is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Skips a guest (locally) or fails the build (under CI) because a tool is missing.
fn missing(what: &str, why: &str, fix: &str) -> Option<PathBuf> {
    if in_ci() {
        panic!("cannot build {what}: {why}; {fix}. CI must build every guest, so this fails.");
    }
    println!("cargo:warning=skipping {what}: {why}; {fix}, then rebuild. Its tests are skipped.");
    None
}

fn guest_name(guest_dir: &Path) -> String {
    guest_dir
        .file_name()
        .and_then(OsStr::to_str)
        .unwrap_or_else(|| panic!("{} has no folder name", guest_dir.display()))
        .to_string()
}

/// The first line of `tool ARGS`, or `None` if the tool cannot be run.
fn tool_version(tool: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(tool).args(args).output().ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string()
    })
}

/// Runs the command `make(tmp)` unless `out` is newer than every source and the WIT contract
/// and was built by the same tool version (`stamp`). The command writes to a temporary path
/// that is renamed into place on success, so an interrupted build never looks finished.
fn build_if_stale(
    out: &Path,
    sources: &[PathBuf],
    wit_dir: &Path,
    stamp: &str,
    make: impl FnOnce(&Path) -> Command,
) {
    for source in sources {
        println!("cargo:rerun-if-changed={}", source.display());
    }
    println!("cargo:rerun-if-changed={}", wit_dir.display());

    let stamp_path = out.with_extension("tool");
    let inputs: Vec<&Path> = sources
        .iter()
        .map(PathBuf::as_path)
        .chain([wit_dir])
        .collect();
    let up_to_date = modified(out).is_some_and(|built| {
        newest_modification(&inputs).is_some_and(|newest| newest <= built)
            && fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp)
    });
    if up_to_date {
        return;
    }

    let dir = out.parent().expect("the output has a folder");
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let tmp = out.with_extension("wasm.partial");
    let mut cmd = make(&tmp);
    // A build script's stdout is read by Cargo for directives; the tool's chatter belongs on
    // stderr, which Cargo shows when the build fails.
    cmd.stdout(std::io::stderr());
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    assert!(
        status.success(),
        "building {} failed ({status}); the tool's output is above. Command: {cmd:?}",
        out.display()
    );
    fs::rename(&tmp, out)
        .unwrap_or_else(|e| panic!("move {} to {}: {e}", tmp.display(), out.display()));
    fs::write(&stamp_path, stamp).unwrap_or_else(|e| panic!("write {}: {e}", stamp_path.display()));
}

/// The latest modification time of any file under `paths` (folders are walked), or `None` if
/// one cannot be read, which forces a rebuild.
fn newest_modification(paths: &[&Path]) -> Option<SystemTime> {
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut stack: Vec<PathBuf> = paths.iter().map(|p| p.to_path_buf()).collect();
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in fs::read_dir(&path).ok()? {
                stack.push(entry.ok()?.path());
            }
        } else {
            newest = newest.max(modified(&path)?);
        }
    }
    Some(newest)
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}
