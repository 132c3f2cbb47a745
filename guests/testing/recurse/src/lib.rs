//! Recurses `depth` levels deep, or until the stack runs out when unset.

wit_bindgen::generate!({ path: "../../../wit", world: "click-handler" });

use clickrules::handler::host::config;

struct Recurse;

/// Frames hold only scalars, so they live on the wasm stack the host limits rather than on
/// the shadow stack in linear memory; the work after the call rules out a tail call.
#[inline(never)]
fn descend(depth: u64, limit: u64) -> u64 {
    if depth >= limit {
        return depth;
    }
    let below = descend(depth + 1, limit);
    below ^ (std::hint::black_box(depth) & 1)
}

impl Guest for Recurse {
    fn handle(_click: Click) -> Result<Vec<Action>, String> {
        let limit = match config("depth") {
            Some(n) => n.parse::<u64>().map_err(|e| format!("depth: {e}"))?,
            None => u64::MAX,
        };
        let reached = descend(0, limit);
        Ok(vec![Action::Ignore(format!("reached depth {reached}"))])
    }
}

export!(Recurse);
