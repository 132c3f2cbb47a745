//! The WASI calls a guest can use to wait or to make the host allocate, replaced by versions
//! bounded by the press: waits end at the press deadline, random bytes are capped.
//!
//! Epoch interruption stops guest code, not a host call: a guest sleeping in `poll` would
//! otherwise outlive its deadline by as long as it asked to sleep (forever, for an endless
//! sleep). And `get-random-bytes(n)` allocates `n` bytes on the host before the guest's memory
//! cap can refuse them.

use std::time::Duration;

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource, ResourceTable};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::bindings::io::poll::{Host as _, HostPollable as _};
use wasmtime_wasi::p2::bindings::random::{insecure::Host as _, random::Host as _};
use wasmtime_wasi::runtime::in_tokio;

use crate::state::{MAX_RANDOM_BYTES, PressState};

/// The WASI 0.2 release wasmtime-wasi defines its interfaces under; guests importing any
/// earlier 0.2.x are linked to it.
const WASI_VERSION: &str = "0.2.12";

/// A WASI wait that the press deadline ended.
#[derive(Debug, thiserror::Error)]
#[error("the guest was still waiting in {call} when its deadline passed")]
pub(crate) struct WaitPastDeadline {
    pub(crate) call: &'static str,
}

/// A WASI call asked the host for more than it gives one press.
#[derive(Debug, thiserror::Error)]
#[error("{call} asked for {requested} {unit}; the host allows at most {limit}")]
pub(crate) struct HostLimitExceeded {
    pub(crate) call: &'static str,
    pub(crate) unit: &'static str,
    pub(crate) requested: u64,
    pub(crate) limit: u64,
}

/// Replaces the waiting and allocating WASI functions wasmtime-wasi defined in `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<PressState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let result = shadow(linker);
    linker.allow_shadowing(false);
    result
}

fn shadow(linker: &mut Linker<PressState>) -> wasmtime::Result<()> {
    let mut poll = linker.instance(&format!("wasi:io/poll@{WASI_VERSION}"))?;
    poll.func_wrap(
        "poll",
        |mut store: StoreContextMut<'_, PressState>,
         (pollables,): (Vec<Resource<DynPollable>>,)| {
            let (left, table) = deadline_and_table(&mut store);
            bounded("wasi:io/poll.poll", left, table.poll(pollables)).map(|ready| (ready,))
        },
    )?;
    poll.func_wrap(
        "[method]pollable.block",
        |mut store: StoreContextMut<'_, PressState>, (pollable,): (Resource<DynPollable>,)| {
            let (left, table) = deadline_and_table(&mut store);
            bounded("wasi:io/poll.pollable.block", left, table.block(pollable))
        },
    )?;

    let mut random = linker.instance(&format!("wasi:random/random@{WASI_VERSION}"))?;
    random.func_wrap(
        "get-random-bytes",
        |mut store: StoreContextMut<'_, PressState>, (len,): (u64,)| {
            check_random("wasi:random/random.get-random-bytes", len)?;
            store
                .data_mut()
                .ctx()
                .ctx
                .random()
                .get_random_bytes(len)
                .map(|bytes| (bytes,))
        },
    )?;
    let mut insecure = linker.instance(&format!("wasi:random/insecure@{WASI_VERSION}"))?;
    insecure.func_wrap(
        "get-insecure-random-bytes",
        |mut store: StoreContextMut<'_, PressState>, (len,): (u64,)| {
            check_random("wasi:random/insecure.get-insecure-random-bytes", len)?;
            store
                .data_mut()
                .ctx()
                .ctx
                .random()
                .get_insecure_random_bytes(len)
                .map(|bytes| (bytes,))
        },
    )?;
    Ok(())
}

fn deadline_and_table<'a>(
    store: &'a mut StoreContextMut<'_, PressState>,
) -> (Duration, &'a mut ResourceTable) {
    let state = store.data_mut();
    (state.time_left(), &mut state.table)
}

/// Runs a WASI wait for at most `left`. The press runs on a thread outside any async runtime
/// (see `off_runtime`), so `in_tokio` drives it on wasmtime-wasi's own runtime.
fn bounded<T>(
    call: &'static str,
    left: Duration,
    wait: impl Future<Output = wasmtime::Result<T>>,
) -> wasmtime::Result<T> {
    // The timer is created inside `in_tokio`: it needs the runtime that drives it.
    match in_tokio(async move { tokio::time::timeout(left, wait).await }) {
        Ok(result) => result,
        Err(_elapsed) => Err(wasmtime::Error::new(WaitPastDeadline { call })),
    }
}

fn check_random(call: &'static str, len: u64) -> wasmtime::Result<()> {
    if len > MAX_RANDOM_BYTES {
        return Err(wasmtime::Error::new(HostLimitExceeded {
            call,
            unit: "bytes",
            requested: len,
            limit: MAX_RANDOM_BYTES,
        }));
    }
    Ok(())
}
