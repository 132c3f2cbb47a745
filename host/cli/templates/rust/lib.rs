//! {{name}}: a clickrules guest. It starts as the default behaviour: every press backs up
//! us-west-1 (or the deployment's `region` setting). Change `handle` to decide otherwise, and
//! say what it must decide in cases.toml.
//!
//! Test through `cargo test` (tests/guest.rs presses the built component): natively, outside
//! the engine, `config` and `log` have no host to call and abort.

wit_bindgen::generate!({ path: "wit", world: "click-handler" });

use clickrules::handler::host::config;

/// The region backed up when the deployment sets no `region`.
const DEFAULT_REGION: &str = "us-west-1";

struct Handler;

impl Guest for Handler {
    fn handle(_click: Click) -> Result<Vec<Action>, String> {
        let region = config("region").unwrap_or_else(|| DEFAULT_REGION.to_string());
        Ok(vec![Action::Snapshot(region)])
    }
}

export!(Handler);
