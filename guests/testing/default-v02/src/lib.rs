//! The default guest's rule (every press backs up `region`, default us-west-1), built for
//! contract 0.2.0 and importing no state: a 0.2.0 guest that uses no state must press as fast
//! as the 0.1.0 default guest (BENCHMARKS.md) and never read the device's state.

wit_bindgen::generate!({ path: "../../../wit/v0.2.0", world: "click-handler" });

use clickrules::handler::host::config;
use clickrules::handler::types::{Action, Click};
use exports::clickrules::handler::handler::Guest;

struct DefaultV02;

impl Guest for DefaultV02 {
    fn handle(_click: Click) -> Result<Vec<Action>, String> {
        let region = config("region").unwrap_or_else(|| "us-west-1".to_string());
        Ok(vec![Action::Snapshot(region)])
    }
}

export!(DefaultV02);
