//! Traps on every press, as a guest with a bug would.

wit_bindgen::generate!({ path: "../../../wit", world: "click-handler" });

struct Trap;

impl Guest for Trap {
    fn handle(click: Click) -> Result<Vec<Action>, String> {
        if std::hint::black_box(click.received_at_ms) != u64::MAX {
            core::arch::wasm32::unreachable();
        }
        Ok(Vec::new())
    }
}

export!(Trap);
