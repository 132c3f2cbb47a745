//! Building a Rust guest from its own `cargo test`, so the test command is the only command:
//!
//! ```no_run
//! let wasm = clickrules_testkit::build::component(env!("CARGO_MANIFEST_DIR")).unwrap();
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

/// The target guests are built for.
pub const GUEST_TARGET: &str = "wasm32-wasip2";

/// The folder, under the target directory, the guest is built in: its own, because the
/// `cargo test` that runs this holds the lock of the project's target directory.
pub const GUEST_TARGET_SUBDIR: &str = "clickrules-guest";

/// Why the guest could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The project's Cargo.toml could not be read.
    #[error("cannot read {path}: {source}")]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The project's Cargo.toml has no usable package name.
    #[error("{path}: {message}")]
    Package {
        /// The manifest.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// cargo could not be started.
    #[error("cannot run {cargo}: {source}")]
    Spawn {
        /// The cargo binary.
        cargo: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The Rust target for guests is not installed.
    #[error(
        "the {GUEST_TARGET} target is not installed: run `rustup target add {GUEST_TARGET}` \
         and test again"
    )]
    MissingTarget,
    /// The build failed (a compile error in the guest, most often).
    #[error("`{command}` failed ({status}):\n{stderr}")]
    Failed {
        /// The command run.
        command: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What cargo printed.
        stderr: String,
    },
    /// cargo succeeded but the component is not where it writes it.
    #[error("the build succeeded but {path} is missing")]
    NoOutput {
        /// Where the component should be.
        path: PathBuf,
    },
}

/// Builds the guest crate at `manifest_dir` for [`GUEST_TARGET`] in release mode when its
/// sources (`Cargo.toml`, `Cargo.lock`, `build.rs`, `src/`, `wit/`) are newer than the
/// component, and returns the component's path:
/// `TARGET/clickrules-guest/wasm32-wasip2/release/CRATE.wasm`, where `TARGET` is
/// `CARGO_TARGET_DIR` when set, else `manifest_dir/target`. Tests of one process that call it
/// together build once.
pub fn component(manifest_dir: impl AsRef<Path>) -> Result<PathBuf, BuildError> {
    static BUILT: Mutex<Option<HashMap<PathBuf, PathBuf>>> = Mutex::new(None);
    let dir = manifest_dir.as_ref();
    // Held for the whole build, so concurrent tests wait for one build instead of racing.
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(wasm) = built.get_or_insert_default().get(dir) {
        return Ok(wasm.clone());
    }
    let wasm = build(dir)?;
    built
        .get_or_insert_default()
        .insert(dir.to_path_buf(), wasm.clone());
    Ok(wasm)
}

fn build(dir: &Path) -> Result<PathBuf, BuildError> {
    let manifest = dir.join("Cargo.toml");
    let crate_name = package_name(&manifest)?.replace('-', "_");
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("target"))
        .join(GUEST_TARGET_SUBDIR);
    let wasm = target_dir
        .join(GUEST_TARGET)
        .join("release")
        .join(format!("{crate_name}.wasm"));
    if is_fresh(dir, &wasm) {
        return Ok(wasm);
    }

    // `CARGO` is the cargo running this test, so the guest builds with the same toolchain.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let args = [
        "build",
        "--release",
        "--target",
        GUEST_TARGET,
        "--manifest-path",
        &manifest.to_string_lossy(),
        "--target-dir",
        &target_dir.to_string_lossy(),
    ]
    .map(str::to_string);
    eprintln!("building the guest: cargo {}", args.join(" "));
    let out = Command::new(&cargo)
        .args(&args)
        .current_dir(dir)
        // Set by `cargo test` for the test it runs; a nested build must pick its own.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .map_err(|source| BuildError::Spawn {
            cargo: cargo.clone(),
            source,
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        let missing_target = stderr.contains(GUEST_TARGET)
            && (stderr.contains("target may not be installed")
                || stderr.contains("can't find crate for `core`")
                || stderr.contains("can't find crate for `std`"));
        if missing_target {
            return Err(BuildError::MissingTarget);
        }
        return Err(BuildError::Failed {
            command: format!("cargo {}", args.join(" ")),
            status: out.status,
            stderr,
        });
    }
    if !wasm.is_file() {
        return Err(BuildError::NoOutput { path: wasm });
    }
    // cargo leaves an up-to-date component untouched when a change did not affect it (a
    // comment in wit/, say): marking it new keeps the next run from building again.
    if let Ok(file) = std::fs::File::options().append(true).open(&wasm) {
        let _ = file.set_modified(SystemTime::now());
    }
    Ok(wasm)
}

fn package_name(manifest: &Path) -> Result<String, BuildError> {
    let text = std::fs::read_to_string(manifest).map_err(|source| BuildError::Manifest {
        path: manifest.to_path_buf(),
        source,
    })?;
    let package = |message: String| BuildError::Package {
        path: manifest.to_path_buf(),
        message,
    };
    let doc: toml::Table = toml::from_str(&text).map_err(|e| package(e.to_string()))?;
    doc.get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_string)
        .ok_or_else(|| package("no [package] name: is this the guest's crate?".into()))
}

/// Whether `wasm` exists and is newer than every source it is built from.
fn is_fresh(dir: &Path, wasm: &Path) -> bool {
    let Some(built) = modified(wasm) else {
        return false;
    };
    let mut newest = SystemTime::UNIX_EPOCH;
    for file in ["Cargo.toml", "Cargo.lock", "build.rs"] {
        newest = newest.max(modified(&dir.join(file)).unwrap_or(SystemTime::UNIX_EPOCH));
    }
    for sub in ["src", "wit"] {
        newest = newest.max(newest_in(&dir.join(sub)));
    }
    built >= newest
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn newest_in(dir: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Some(t) = modified(&path) {
                newest = newest.max(t);
            }
        }
        // A deleted file changes the build too, and only touches its folder.
        if let Some(t) = modified(&d) {
            newest = newest.max(t);
        }
    }
    newest
}
