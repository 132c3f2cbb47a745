//! Limits and settings: typed configuration with named defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Wall-clock budget for one press of the guest, instantiation included.
pub const DEFAULT_TIMEOUT_MS: u64 = 1_000;
/// Linear memory a guest may hold at once. JavaScript and Python guests carry an interpreter
/// heap of tens of MiB, so this is well above what a Rust guest needs (about 1 MiB).
pub const DEFAULT_MEMORY_MB: u64 = 128;
/// Fuel units (roughly wasm instructions) a press may use. Compiled wasm burns over 10^10 units
/// a second in a tight loop, so this default lets the wall-clock deadline bind first; fuel is
/// there to report what each press used, and a deployment that wants a deterministic budget
/// sets a lower one.
pub const DEFAULT_FUEL: u64 = 1_000_000_000_000;
/// Presses that may run at once through one engine (the pooling allocator's slots).
pub const DEFAULT_MAX_CONCURRENT_PRESSES: u32 = 16;

/// Hard limits applied to every press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deadline for instantiating the guest and running `handle`.
    pub timeout: Duration,
    /// Cap on the guest's linear memory, summed over its memories.
    pub memory_bytes: u64,
    /// Fuel given to each press.
    pub fuel: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(DEFAULT_TIMEOUT_MS),
            memory_bytes: DEFAULT_MEMORY_MB << 20,
            fuel: DEFAULT_FUEL,
        }
    }
}

impl Limits {
    /// Checks the limits can be enforced, naming the one that cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.timeout.is_zero() {
            return Err(ConfigError::ZeroLimit { limit: "timeout" });
        }
        if self.memory_bytes == 0 {
            return Err(ConfigError::ZeroLimit { limit: "memory" });
        }
        if self.fuel == 0 {
            return Err(ConfigError::ZeroLimit { limit: "fuel" });
        }
        // 32-bit linear memories address at most 4 GiB.
        if self.memory_bytes > 4 << 30 {
            return Err(ConfigError::MemoryTooLarge {
                bytes: self.memory_bytes,
            });
        }
        Ok(())
    }
}

/// Everything an [`Engine`](crate::Engine) is built with.
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    /// Limits for every press.
    pub limits: Limits,
    /// Deployment settings served to guests through `host.config`.
    pub settings: BTreeMap<String, String>,
    /// When set, `snapshot` may only name these regions.
    pub allowed_regions: Option<Vec<String>>,
    /// Accept well-formed region codes missing from [`KNOWN_REGIONS`](crate::KNOWN_REGIONS).
    pub allow_unlisted_regions: bool,
    /// Presses that may run concurrently; 0 means [`DEFAULT_MAX_CONCURRENT_PRESSES`].
    pub max_concurrent_presses: u32,
    /// What a trap's backtrace says about the guest's source. The default is the production
    /// setting; only the local tools ask for more.
    pub backtraces: Backtraces,
    /// A folder where compiled guests are kept between runs (wasmtime's own cache, keyed by
    /// the guest's bytes and every setting that shapes the code), or `None`: the default, and
    /// the Lambda's. For the local tools, which compile the same guest in every run. Needs the
    /// `compile-cache` feature.
    pub compile_cache: Option<PathBuf>,
}

/// How much a trap's backtrace tells about where in the guest it happened.
///
/// This setting shapes compiled code (parsing DWARF keeps more metadata in it), so it is part
/// of what a precompiled artifact must match. It is always set here, never left to wasmtime,
/// whose `Config::new()` reads `WASMTIME_BACKTRACE_DETAILS` from the environment: one
/// developer's shell must not change what the engine builds or accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Backtraces {
    /// Function names from the guest's name section, and code offsets. What the Lambda runs
    /// with and what precompiled artifacts are built for, whatever this is set to.
    #[default]
    FunctionNames,
    /// Also file and line, read from the guest's DWARF line tables where it carries them (a
    /// Rust debug build does). For the local tools: an engine with this setting cannot load
    /// artifacts precompiled for the Lambda.
    SourceLines,
}

/// A configuration the engine cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A limit of zero would fail every press.
    #[error("the {limit} limit must be greater than zero")]
    ZeroLimit {
        /// Which limit.
        limit: &'static str,
    },
    /// Wasm32 memories cannot exceed 4 GiB.
    #[error("a memory limit of {bytes} bytes is over the 4 GiB a 32-bit guest can address")]
    MemoryTooLarge {
        /// The requested limit.
        bytes: u64,
    },
    /// An allow-listed region is not a known region code.
    #[error(
        "allowed region {region:?} is not a known AWS region code such as us-west-1 (for a \
         region opened after this release, set CLICKRULES_ALLOW_UNLISTED_REGIONS=true)"
    )]
    BadAllowedRegion {
        /// The offending entry.
        region: String,
    },
    /// A compile cache was asked for, but this build of the engine has no `compile-cache`
    /// feature.
    #[error(
        "a compile cache was configured ({dir}), but this build of clickrules-engine has no \
         `compile-cache` feature"
    )]
    CompileCacheUnavailable {
        /// The folder that was asked for.
        dir: PathBuf,
    },
    /// The compile cache could not be set up in its folder.
    #[error("the compile cache in {dir} cannot be used: {message}")]
    CompileCache {
        /// The cache folder.
        dir: PathBuf,
        /// Why.
        message: String,
    },
    /// wasmtime refused the configuration.
    #[error("the WebAssembly runtime could not start: {message}")]
    Runtime {
        /// wasmtime's explanation.
        message: String,
    },
}
