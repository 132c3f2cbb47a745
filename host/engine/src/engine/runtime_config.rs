//! The wasmtime configuration: the settings that shape generated code, and the pooling
//! allocator sized so that every concurrent press has a slot.

use wasmtime::{
    Enabled, InstanceAllocationStrategy, PoolingAllocationConfig, WasmBacktraceDetails,
};

use crate::config::{Backtraces, ConfigError, EngineConfig};
use crate::limiter::MAX_TABLE_ELEMENTS;

/// Pool sizing per component. Interpreter guests built by componentize-py link a dozen or so
/// core modules sharing one memory; these leave room for that.
const CORE_INSTANCES_PER_COMPONENT: u32 = 64;
const MEMORIES_PER_COMPONENT: u32 = 8;
const TABLES_PER_COMPONENT: u32 = 16;
/// With PAGEMAP_SCAN, dirty pages up to this much per memory are reset in place.
const KEEP_RESIDENT_BYTES: usize = 4 << 20;

/// The settings that shape generated code, as the Lambda runs and precompiled artifacts are
/// built. The runtime engine adds the pooling allocator, which does not, so an artifact made
/// from these loads into it.
///
/// Every setting that decides whether an artifact is compatible is set here rather than left to
/// wasmtime's defaults: `Config::new()` reads `WASMTIME_BACKTRACE_DETAILS` from the
/// environment, which would let a shell variable change what is built and what is accepted.
pub(super) fn code_config() -> wasmtime::Config {
    let mut wasm = wasmtime::Config::new();
    wasm.wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        .wasm_backtrace_max_frames(std::num::NonZeroUsize::new(crate::MAX_FRAMES))
        .wasm_backtrace_details(WasmBacktraceDetails::Disable);
    wasm
}

/// The compile cache an engine config asks for, if any. Built once per engine: it starts a
/// worker thread that keeps the folder within its size limits.
#[cfg(feature = "compile-cache")]
pub(super) type CompileCache = wasmtime::Cache;
/// Without the `compile-cache` feature there is no cache to hold.
#[cfg(not(feature = "compile-cache"))]
pub(super) type CompileCache = std::convert::Infallible;

pub(super) fn compile_cache(config: &EngineConfig) -> Result<Option<CompileCache>, ConfigError> {
    let Some(dir) = &config.compile_cache else {
        return Ok(None);
    };
    #[cfg(feature = "compile-cache")]
    {
        let failed = |message: String| ConfigError::CompileCache {
            dir: dir.clone(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| failed(e.to_string()))?;
        let mut cache = wasmtime::CacheConfig::new();
        cache.with_directory(dir);
        wasmtime::Cache::new(cache)
            .map(Some)
            .map_err(|e| failed(crate::guest::error_text(&e)))
    }
    #[cfg(not(feature = "compile-cache"))]
    Err(ConfigError::CompileCacheUnavailable { dir: dir.clone() })
}

pub(super) fn runtime_config(
    config: &EngineConfig,
    cache: Option<&CompileCache>,
    slots: u32,
    pagemap_scan: bool,
) -> wasmtime::Config {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(slots)
        .total_core_instances(slots * CORE_INSTANCES_PER_COMPONENT)
        .total_memories(slots * MEMORIES_PER_COMPONENT)
        .total_tables(slots * TABLES_PER_COMPONENT)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .max_memory_size(round_up_to_page(config.limits.memory_bytes))
        .table_elements(MAX_TABLE_ELEMENTS);
    if pagemap_scan {
        pool.pagemap_scan(Enabled::Yes)
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(KEEP_RESIDENT_BYTES);
    }
    let mut wasm = code_config();
    wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    if config.backtraces == Backtraces::SourceLines {
        wasm.wasm_backtrace_details(WasmBacktraceDetails::Enable);
    }
    #[cfg(feature = "compile-cache")]
    wasm.cache(cache.cloned());
    #[cfg(not(feature = "compile-cache"))]
    let _ = cache;
    wasm
}

fn round_up_to_page(bytes: u64) -> usize {
    const PAGE: u64 = 64 * 1024;
    usize::try_from(bytes.div_ceil(PAGE) * PAGE).unwrap_or(usize::MAX)
}
