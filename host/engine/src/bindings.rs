//! Host bindings for every supported version of the WIT contract, generated once here.
//!
//! Only `clickrules:handler@0.1.0` has been released. When an incompatible version is released,
//! its WIT is frozen in its own folder and gets a module beside `v0_1_0`, and the engine
//! dispatches on the version a guest was built for (as zed's extension host does).

pub(crate) mod v0_1_0 {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "click-handler",
    });
}
