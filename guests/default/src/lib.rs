//! The default guest: what the original Python Lambda did on every press,
//! `invoke scheduled_snapshot:prod {"region": "us-west-1"}`, whatever the click.

wit_bindgen::generate!({ path: "../../wit", world: "click-handler" });

use clickrules::handler::host::config;

/// The region the original deployment backed up; a deployment may override it with `region`.
const DEFAULT_REGION: &str = "us-west-1";

struct DefaultGuest;

impl Guest for DefaultGuest {
    fn handle(_click: Click) -> Result<Vec<Action>, String> {
        let region = config("region").unwrap_or_else(|| DEFAULT_REGION.to_string());
        Ok(vec![Action::Snapshot(region)])
    }
}

export!(DefaultGuest);
