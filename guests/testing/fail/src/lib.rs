//! Declines every press with an error of its own.

wit_bindgen::generate!({ path: "../../../wit", world: "click-handler" });

struct Fail;

impl Guest for Fail {
    fn handle(click: Click) -> Result<Vec<Action>, String> {
        Err(format!("refusing press from {}", click.serial_number))
    }
}

export!(Fail);
