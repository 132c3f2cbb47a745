//! The `clickrules:handler/host` interface, defined by hand rather than through the generated
//! `Host` trait: the generated one copies each string argument whole into host memory before
//! the host sees it, so a guest could make the host allocate as much as its own memory cap per
//! call. These read strings in place in guest memory and copy only what is kept.

use wasmtime::component::{Linker, WasmStr};
use wasmtime::{AsContext, StoreContextMut};

use crate::bindings::v0_1_0::clickrules::handler::host::Level;
use crate::decision::LogLevel;
use crate::state::{MAX_LOG_LINE_BYTES, PressState, prefix};

/// Longest settings key a guest can look up; deployments name settings in a few words.
const MAX_SETTING_KEY_BYTES: usize = 256;

/// Defines `log` and `config` in the host interface instance `interface` (one per contract
/// version, e.g. `clickrules:handler/host@0.1.0`).
pub(crate) fn add_to_linker(
    linker: &mut Linker<PressState>,
    interface: &str,
) -> wasmtime::Result<()> {
    let mut host = linker.instance(interface)?;
    host.func_wrap(
        "log",
        |mut store: StoreContextMut<'_, PressState>, (level, message): (Level, WasmStr)| {
            let kept = prefix(&message.to_str(store.as_context())?, MAX_LOG_LINE_BYTES);
            store.data_mut().log(log_level(level), kept);
            Ok(())
        },
    )?;
    host.func_wrap(
        "config",
        |store: StoreContextMut<'_, PressState>, (key,): (WasmStr,)| {
            let key = key.to_str(store.as_context())?;
            if key.len() > MAX_SETTING_KEY_BYTES {
                return Ok((None,));
            }
            Ok((store.data().setting(&key).map(str::to_string),))
        },
    )?;
    Ok(())
}

fn log_level(level: Level) -> LogLevel {
    match level {
        Level::Debug => LogLevel::Debug,
        Level::Info => LogLevel::Info,
        Level::Warn => LogLevel::Warn,
        Level::Error => LogLevel::Error,
    }
}
