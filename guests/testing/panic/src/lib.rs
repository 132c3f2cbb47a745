//! Panics on a LONG press, in a function of its own, as a guest with a bug would. Built with
//! its name section and line tables (see the guests' Cargo.toml), so a trap's backtrace can
//! name `region_for` and this file's line.

wit_bindgen::generate!({ path: "../../../wit", world: "click-handler" });

use clickrules::handler::types::ClickType;

struct Panics;

impl Guest for Panics {
    fn handle(click: Click) -> Result<Vec<Action>, String> {
        Ok(vec![Action::Snapshot(region_for(click.click_type))])
    }
}

#[inline(never)]
fn region_for(click: ClickType) -> String {
    match click {
        ClickType::Single | ClickType::Double => "us-west-1".to_string(),
        ClickType::Long => panic!("no region for a long press"), // PANIC LINE
    }
}

export!(Panics);
