//! Hammers the host with `host.config` calls and never returns.

wit_bindgen::generate!({ path: "../../../wit", world: "click-handler" });

use clickrules::handler::host::config;

struct ConfigLoop;

impl Guest for ConfigLoop {
    fn handle(_click: Click) -> Result<Vec<Action>, String> {
        let mut found = 0u64;
        loop {
            if std::hint::black_box(config("region")).is_some() {
                found += 1;
            }
            if found == u64::MAX {
                return Ok(Vec::new());
            }
        }
    }
}

export!(ConfigLoop);
