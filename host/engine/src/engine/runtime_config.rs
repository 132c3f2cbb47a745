//! The wasmtime configuration: the settings that shape generated code, and the pooling
//! allocator sized so that every concurrent press has a slot.

use wasmtime::{Enabled, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::config::EngineConfig;
use crate::limiter::MAX_TABLE_ELEMENTS;

/// Pool sizing per component. Interpreter guests built by componentize-py link a dozen or so
/// core modules sharing one memory; these leave room for that.
const CORE_INSTANCES_PER_COMPONENT: u32 = 64;
const MEMORIES_PER_COMPONENT: u32 = 8;
const TABLES_PER_COMPONENT: u32 = 16;
/// With PAGEMAP_SCAN, dirty pages up to this much per memory are reset in place.
const KEEP_RESIDENT_BYTES: usize = 4 << 20;

/// The settings that shape generated code. The runtime engine adds the pooling allocator, which
/// does not, so an artifact made from these loads into it.
pub(super) fn code_config() -> wasmtime::Config {
    let mut wasm = wasmtime::Config::new();
    wasm.wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true);
    wasm
}

pub(super) fn runtime_config(
    config: &EngineConfig,
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
    wasm
}

fn round_up_to_page(bytes: u64) -> usize {
    const PAGE: u64 = 64 * 1024;
    usize::try_from(bytes.div_ceil(PAGE) * PAGE).unwrap_or(usize::MAX)
}
