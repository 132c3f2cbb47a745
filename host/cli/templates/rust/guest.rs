//! Presses the guest through the clickrules engine, with production limits and validation.
//! `cargo test` builds the component first when its sources changed (a nested
//! `cargo build --release --target wasm32-wasip2`), so nothing else needs to run before.

use std::path::PathBuf;

use clickrules_testkit::cases::Cases;
use clickrules_testkit::{Action, Click, Harness};

fn wasm() -> PathBuf {
    clickrules_testkit::build::component(env!("CARGO_MANIFEST_DIR")).unwrap_or_else(|e| panic!("{e}"))
}

/// Every case in cases.toml: add a case there for each decision the guest makes.
#[test]
fn cases() {
    let cases = Cases::load(concat!(env!("CARGO_MANIFEST_DIR"), "/cases.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    cases
        .run(wasm())
        .unwrap_or_else(|e| panic!("{e}"))
        .assert_all_pass();
}

/// The same kind of check in Rust, for what a table cannot say.
#[test]
fn every_click_type_backs_up_the_same_region() -> Result<(), clickrules_testkit::Error> {
    let guest = Harness::builder()
        .setting("region", "eu-west-1")
        .load(wasm())?;
    for click in [Click::single(), Click::double(), Click::long()] {
        assert_eq!(guest.press(click).actions, [Action::snapshot("eu-west-1")]);
    }
    Ok(())
}
