//! Burns CPU: `iterations` turns of a loop the optimiser cannot remove, or forever.

wit_bindgen::generate!({ path: "../../../wit", world: "click-handler" });

use clickrules::handler::host::config;

struct Spin;

impl Guest for Spin {
    fn handle(_click: Click) -> Result<Vec<Action>, String> {
        let limit = match config("iterations") {
            Some(n) => n.parse::<u64>().map_err(|e| format!("iterations: {e}"))?,
            None => u64::MAX,
        };
        let mut acc = 0u64;
        let mut i = 0u64;
        while i < limit {
            acc = std::hint::black_box(acc.wrapping_mul(31).wrapping_add(i));
            i += 1;
        }
        Ok(vec![Action::Ignore(format!("spun {i} times ({acc})"))])
    }
}

export!(Spin);
