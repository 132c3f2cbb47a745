//! The `clickrules:handler/host` interface, defined by hand rather than through the generated
//! `Host` trait: the generated one copies each string argument whole into host memory before
//! the host sees it, so a guest could make the host allocate as much as its own memory cap per
//! call. These read strings in place in guest memory and copy only what is kept.

use wasmtime::component::{Linker, WasmStr};
use wasmtime::{AsContext, StoreContextMut};

use crate::bindings::STATE_INTERFACE;
use crate::bindings::v0_1_0::clickrules::handler::host::Level;
use crate::decision::LogLevel;
use crate::device_state::{
    MAX_STATE_KEY_BYTES, MAX_STATE_VALUE_BYTES, key_too_long, value_too_long,
};
use crate::state::{MAX_LOG_LINE_BYTES, PressState, prefix};

/// Longest settings key a guest can look up; deployments name settings in a few words.
const MAX_SETTING_KEY_BYTES: usize = 256;

/// Defines `log` and `config` in the host interface instance `interface` (one per contract
/// version, e.g. `clickrules:handler/host@0.1.0`; their types are the same in every version, and
/// the linker type-checks structurally).
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

/// Defines `get`, `set` and `delete` of the 0.2.0 state interface, over the press's buffer.
/// Keys and values are read in place and copied only when within their limits.
pub(crate) fn add_state_to_linker(linker: &mut Linker<PressState>) -> wasmtime::Result<()> {
    let mut state = linker.instance(STATE_INTERFACE)?;
    state.func_wrap(
        "get",
        |mut store: StoreContextMut<'_, PressState>, (key,): (WasmStr,)| {
            let key = key.to_str(store.as_context())?;
            if key.len() > MAX_STATE_KEY_BYTES {
                return Ok((None,));
            }
            let key = key.into_owned();
            Ok((store.data_mut().device.get(&key),))
        },
    )?;
    state.func_wrap(
        "set",
        |mut store: StoreContextMut<'_, PressState>,
         (key, value, ttl): (WasmStr, WasmStr, Option<u32>)| {
            // Over a limit: refused before either string is copied.
            let written = {
                let key = key.to_str(store.as_context())?;
                let value = value.to_str(store.as_context())?;
                if key.is_empty() || key.len() > MAX_STATE_KEY_BYTES {
                    Err(key_too_long(key.len()))
                } else if value.len() > MAX_STATE_VALUE_BYTES {
                    Err(value_too_long(&key, value.len()))
                } else {
                    Ok((key.into_owned(), value.into_owned()))
                }
            };
            let device = &mut store.data_mut().device;
            Ok((match written {
                Ok((key, value)) => device.set(&key, &value, ttl),
                Err(why) => device.refuse(why),
            },))
        },
    )?;
    state.func_wrap(
        "delete",
        |mut store: StoreContextMut<'_, PressState>, (key,): (WasmStr,)| {
            let key = {
                let key = key.to_str(store.as_context())?;
                match key.len() {
                    1..=MAX_STATE_KEY_BYTES => Ok(key.into_owned()),
                    len => Err(len),
                }
            };
            let device = &mut store.data_mut().device;
            match key {
                Ok(key) => device.delete(&key),
                Err(len) => {
                    let _ = device.refuse(key_too_long(len));
                }
            }
            Ok(())
        },
    )?;
    Ok(())
}
