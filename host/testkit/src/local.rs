//! The engine settings of a guest author's machine: backtraces that reach the source line and
//! compiled guests kept between test runs, on top of the production limits and validation.

use std::path::PathBuf;

use clickrules_engine::{Backtraces, EngineConfig};

/// The production configuration, plus line-level backtraces and the compile cache of
/// [`compile_cache_dir`]. What a [`Harness`](crate::Harness) starts from.
pub fn local_engine_config() -> EngineConfig {
    EngineConfig {
        backtraces: Backtraces::SourceLines,
        compile_cache: compile_cache_dir(),
        ..EngineConfig::default()
    }
}

/// `<target>/clickrules-compile-cache` of the Cargo target directory the running test binary
/// was built in (`<target>/<profile>/deps/NAME`), so `cargo clean` clears it with the rest;
/// `None` when this process is not a Cargo-built test or example. wasmtime keys each entry by
/// the guest's bytes and every engine setting that shapes code, so a changed guest or engine
/// never reuses stale code.
pub fn compile_cache_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let deps = exe.parent()?;
    if deps.file_name()? != "deps" && deps.file_name()? != "examples" {
        return None;
    }
    // <target>/<profile>/deps, or <target>/<triple>/<profile>/deps when cross-compiling.
    let profile = deps.parent()?;
    let target = match profile.parent()? {
        t if t.join("CACHEDIR.TAG").is_file() => t,
        triple => triple
            .parent()
            .filter(|t| t.join("CACHEDIR.TAG").is_file())?,
    };
    Some(target.join("clickrules-compile-cache"))
}
