//! Why a press failed: the limit or trap behind the error wasmtime returned.

use wasmtime::Trap;
use wasmtime::component::ResourceTableError;

use crate::backtrace::{error_text_without_backtrace, frames};
use crate::config::Limits;
use crate::error::PressError;
use crate::guest::error_text;
use crate::limiter::MemoryLimitExceeded;
use crate::state::MAX_WASI_RESOURCES;
use crate::wasi_bounds::{HostLimitExceeded, WaitPastDeadline};

/// Turns a wasmtime failure into the typed reason the record reports.
pub(super) fn classify(e: &wasmtime::Error, limits: &Limits, instantiating: bool) -> PressError {
    if let Some(over) = e.downcast_ref::<MemoryLimitExceeded>() {
        return PressError::MemoryLimit {
            limit_bytes: over.limit,
            requested_bytes: over.requested,
        };
    }
    if e.downcast_ref::<WaitPastDeadline>().is_some() {
        return PressError::Deadline {
            timeout_ms: limits.timeout.as_millis() as u64,
        };
    }
    if let Some(over) = e.downcast_ref::<HostLimitExceeded>() {
        return PressError::HostLimit {
            call: over.call.to_string(),
            unit: over.unit.to_string(),
            requested: over.requested,
            limit: over.limit,
        };
    }
    if let Some(ResourceTableError::Full) = e.downcast_ref::<ResourceTableError>() {
        return PressError::HostLimit {
            call: "WASI".to_string(),
            unit: "open handles".to_string(),
            requested: MAX_WASI_RESOURCES as u64 + 1,
            limit: MAX_WASI_RESOURCES as u64,
        };
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => PressError::Deadline {
            timeout_ms: limits.timeout.as_millis() as u64,
        },
        Some(Trap::OutOfFuel) => PressError::FuelExhausted { fuel: limits.fuel },
        Some(Trap::StackOverflow) => PressError::StackOverflow,
        Some(_) => trap(e),
        None if instantiating => PressError::Instantiate {
            message: error_text(e),
        },
        None => trap(e),
    }
}

fn trap(e: &wasmtime::Error) -> PressError {
    PressError::Trap {
        trap: error_text_without_backtrace(e),
        backtrace: frames(e),
    }
}
