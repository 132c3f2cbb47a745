//! What the CLI changes in the engine the deployment's settings describe: it runs on an
//! author's machine, where backtraces should reach the source line and an unchanged guest
//! should not be compiled again on every command.

use std::path::PathBuf;
use std::sync::Arc;

use clickrules_aws::{Extras, LocalTools};
use clickrules_engine::Backtraces;
use clickrules_pipeline::MemoryLedger;

/// The composition extras of a local press, check or test.
pub fn extras(local_ledger: Option<Arc<MemoryLedger>>) -> Extras {
    Extras {
        local_ledger,
        local_tools: Some(LocalTools {
            backtraces: Backtraces::SourceLines,
            compile_cache: compile_cache_dir(),
        }),
    }
}

/// `$XDG_CACHE_HOME/clickrules/compiled`, else `~/.cache/clickrules/compiled`: where the CLI
/// keeps compiled guests (wasmtime's cache, keyed by the guest's bytes and the engine's
/// settings, so a changed guest or engine never reuses stale code). None without a home.
pub fn compile_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("clickrules").join("compiled"))
}
