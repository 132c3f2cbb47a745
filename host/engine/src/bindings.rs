//! Host bindings for every supported version of the WIT contract, generated once here, and the
//! versions themselves.
//!
//! Each released version is frozen: `wit/handler.wit` is 0.1.0, `wit/v0.2.0/` is 0.2.0. A guest
//! built for any of them keeps running; the engine tells them apart by the export a guest
//! offers (0.1.0 a bare `handle`, 0.2.0 the `handler` interface) and dispatches on it, as zed's
//! extension host does.

use serde::{Deserialize, Serialize};

pub(crate) mod v0_1_0 {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "click-handler",
    });
}

pub(crate) mod v0_2_0 {
    wasmtime::component::bindgen!({
        path: "../../wit/v0.2.0",
        world: "click-handler",
    });
}

/// A released version of the contract a guest implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Contract {
    /// `clickrules:handler@0.1.0`: single/double/long presses, no state.
    #[serde(rename = "0.1.0")]
    V0_1,
    /// `clickrules:handler@0.2.0`: triple presses, source, press id, battery percentage, UTC
    /// offset, and per-device state.
    #[serde(rename = "0.2.0")]
    V0_2,
}

impl Contract {
    /// Every version this host runs, oldest first.
    pub const ALL: [Contract; 2] = [Contract::V0_1, Contract::V0_2];

    /// `0.1.0` or `0.2.0`.
    pub fn version(self) -> &'static str {
        match self {
            Contract::V0_1 => "0.1.0",
            Contract::V0_2 => "0.2.0",
        }
    }

    /// The WIT package, e.g. `clickrules:handler@0.2.0`.
    pub fn package(self) -> &'static str {
        match self {
            Contract::V0_1 => "clickrules:handler@0.1.0",
            Contract::V0_2 => "clickrules:handler@0.2.0",
        }
    }

    /// The component export through which a guest of this version offers `handle`.
    pub(crate) fn export(self) -> &'static str {
        match self {
            Contract::V0_1 => "handle",
            Contract::V0_2 => "clickrules:handler/handler@0.2.0",
        }
    }

    pub(crate) fn host_interface(self) -> &'static str {
        match self {
            Contract::V0_1 => "clickrules:handler/host@0.1.0",
            Contract::V0_2 => "clickrules:handler/host@0.2.0",
        }
    }
}

impl std::fmt::Display for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.package())
    }
}

/// The state interface of 0.2.0 (imported only by guests that use state).
pub(crate) const STATE_INTERFACE: &str = "clickrules:handler/state@0.2.0";
