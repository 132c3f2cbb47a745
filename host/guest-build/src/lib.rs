//! Compiles the Rust guests in `guests/` to WebAssembly components for build scripts.
//!
//! Guests are built from source on every machine, never committed as binaries, the way
//! wasmtime's `test-programs` are: a build script calls [`build`] and turns the returned paths
//! into constants. Guests form their own Cargo workspace (they target `wasm32-wasip2`), so this
//! runs a nested `cargo build` into a target directory of its own beside the host's.
//!
//! Guests in other languages are built by their own toolchains, provisioned from the
//! repository's lockfiles the first time a test asks for them ([`OtherGuest::path`]): a build
//! script must not reach the network.
#![deny(missing_docs)]

mod languages;
mod provision;

pub use languages::{Language, OtherGuest, build_js, build_python};
pub use provision::{
    ProvisionError, in_ci, npm_ci, python_tool, python_venv, shout, test_target_dir,
};

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target every guest is compiled for: rustc emits a component directly.
pub const GUEST_TARGET: &str = "wasm32-wasip2";

/// One compiled guest.
#[derive(Debug, Clone)]
pub struct BuiltGuest {
    /// The Cargo package name, e.g. `clickrules-guest-default`.
    pub package: String,
    /// Absolute path of the component.
    pub wasm: PathBuf,
}

/// Builds the named packages of the guest workspace at `guests_dir` (the folder holding its
/// `Cargo.toml`) and tells Cargo to rerun the calling build script when a guest or the WIT
/// contract in `wit_dir` changes.
///
/// Panics with an explanation on failure: that is how a build script reports an error.
pub fn build(guests_dir: &Path, wit_dir: &Path, packages: &[&str]) -> Vec<BuiltGuest> {
    let manifest = guests_dir.join("Cargo.toml");
    for watched in [
        manifest.clone(),
        guests_dir.join("Cargo.lock"),
        wit_dir.to_path_buf(),
    ] {
        println!("cargo:rerun-if-changed={}", watched.display());
    }
    for package in packages {
        let dir = package_dir(guests_dir, package);
        println!(
            "cargo:rerun-if-changed={}",
            dir.join("Cargo.toml").display()
        );
        println!("cargo:rerun-if-changed={}", dir.join("src").display());
    }

    ensure_target_installed();

    let target_dir = guest_target_dir();
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--release")
        .arg("--target")
        .arg(GUEST_TARGET)
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir);
    for package in packages {
        cmd.arg("--package").arg(package);
    }
    // The outer build's flags (coverage, sanitizers, host-only codegen options) are for the host
    // target and would break or bloat the guests.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo to build the guests: {e}"));
    assert!(
        status.success(),
        "building the guests in {} failed ({status}); the compiler output is above",
        guests_dir.display()
    );

    packages
        .iter()
        .map(|package| {
            let wasm = target_dir
                .join(GUEST_TARGET)
                .join("release")
                .join(format!("{}.wasm", package.replace('-', "_")));
            assert!(
                wasm.is_file(),
                "cargo reported success but {} is missing",
                wasm.display()
            );
            BuiltGuest {
                package: (*package).to_string(),
                wasm,
            }
        })
        .collect()
}

/// The folder of a guest package: `clickrules-guest-NAME` is `NAME/`, `clickrules-test-NAME`
/// is `testing/NAME/`.
fn package_dir(guests_dir: &Path, package: &str) -> PathBuf {
    if let Some(name) = package.strip_prefix("clickrules-guest-") {
        guests_dir.join(name)
    } else if let Some(name) = package.strip_prefix("clickrules-test-") {
        guests_dir.join("testing").join(name)
    } else {
        panic!(
            "guest package {package} does not follow the clickrules-guest-*/clickrules-test-* naming"
        )
    }
}

/// `target/wasm-guests`, shared by every build script so each guest compiles once. Only for
/// build scripts (it reads `OUT_DIR`).
pub fn guest_target_dir() -> PathBuf {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR is set for build scripts"));
    // OUT_DIR is <target>/[<triple>/]<profile>/build/<pkg>-<hash>/out.
    let build_dir = out_dir
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "build"))
        .expect("OUT_DIR lies inside a Cargo build directory");
    let profile_dir = build_dir.parent().expect("build/ has a parent");
    profile_dir
        .parent()
        .expect("the profile folder has a parent")
        .join("wasm-guests")
}

/// Installs the guest target with rustup when it is missing, so a fresh clone builds with plain
/// `cargo` commands. `RUSTUP_AUTO_INSTALL=0` stops rustup from doing this on its own.
fn ensure_target_installed() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let libdir = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", GUEST_TARGET])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    if libdir.as_deref().is_some_and(Path::is_dir) {
        return;
    }
    if env::var_os("CLICKRULES_NO_RUSTUP").is_some() {
        panic!(
            "the {GUEST_TARGET} target is not installed; run `rustup target add {GUEST_TARGET}` \
             (automatic install is off because CLICKRULES_NO_RUSTUP is set)"
        );
    }
    println!("cargo:warning=installing the {GUEST_TARGET} target with rustup to build the guests");
    let status = Command::new("rustup")
        .args(["target", "add", GUEST_TARGET])
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => {
            panic!("`rustup target add {GUEST_TARGET}` failed ({s}); install the target and retry")
        }
        Err(e) => panic!(
            "the {GUEST_TARGET} target is missing and rustup could not be run ({e}); \
             install the target for your toolchain and retry"
        ),
    }
}
