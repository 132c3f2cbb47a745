//! Presses the built guest through the clickrules engine, with production limits and
//! validation. Build the guest first: `cargo build --release --target wasm32-wasip2`.

use std::path::PathBuf;

use clickrules_testkit::{Action, Click, Harness};

fn wasm() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("wasm32-wasip2/release/{{crate}}.wasm")
}

#[test]
fn every_press_backs_up_us_west_1() -> Result<(), clickrules_testkit::Error> {
    let guest = Harness::load(wasm())?;
    for click in [Click::single(), Click::double(), Click::long().battery_mv(1400)] {
        assert_eq!(guest.press(click).actions, [Action::snapshot("us-west-1")]);
    }
    Ok(())
}

#[test]
fn the_region_setting_wins() -> Result<(), clickrules_testkit::Error> {
    let guest = Harness::builder()
        .setting("region", "eu-west-1")
        .load(wasm())?;
    assert_eq!(
        guest.press(Click::double()).actions,
        [Action::snapshot("eu-west-1")]
    );
    Ok(())
}
