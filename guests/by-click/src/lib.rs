//! Example guest: SINGLE backs up the primary region, DOUBLE a second region, LONG notifies;
//! a battery below `low_battery_mv` adds a warning so the button is replaced before it dies.
//!
//! Settings (all optional): `region` (default us-west-1), `second_region` (default us-east-1),
//! `low_battery_mv` (default 1500).

wit_bindgen::generate!({ path: "../../wit", world: "click-handler" });

use clickrules::handler::host::{Level, config, log};
use clickrules::handler::types::{ClickType, Notification};

const DEFAULT_REGION: &str = "us-west-1";
const DEFAULT_SECOND_REGION: &str = "us-east-1";
/// Below this the AAA cells of an IoT button are close to the device's cut-off.
const DEFAULT_LOW_BATTERY_MV: u32 = 1500;

struct ByClick;

impl Guest for ByClick {
    fn handle(click: Click) -> Result<Vec<Action>, String> {
        // Guest stdout goes into the press's decision record.
        let kind = match click.click_type {
            ClickType::Single => "single",
            ClickType::Double => "double",
            ClickType::Long => "long",
        };
        println!("by-click: {kind} press from {}", click.serial_number);
        let mut actions = Vec::with_capacity(2);
        actions.push(match click.click_type {
            ClickType::Single => Action::Snapshot(setting("region", DEFAULT_REGION)),
            ClickType::Double => Action::Snapshot(setting("second_region", DEFAULT_SECOND_REGION)),
            ClickType::Long => Action::Notify(Notification {
                subject: format!("Button {} held", click.serial_number),
                message: format!(
                    "Button {} was held (LONG press). No backup was started.",
                    click.serial_number
                ),
            }),
        });

        let threshold = match config("low_battery_mv") {
            None => DEFAULT_LOW_BATTERY_MV,
            Some(raw) => raw.trim().parse::<u32>().map_err(|_| {
                format!("setting low_battery_mv must be a whole number of millivolts, got {raw:?}")
            })?,
        };
        if let Some(mv) = click.battery_mv.filter(|mv| *mv < threshold) {
            log(
                Level::Warn,
                &format!("battery at {mv} mV, below {threshold} mV"),
            );
            actions.push(Action::Notify(Notification {
                subject: format!("Button {} battery low", click.serial_number),
                message: format!(
                    "Button {} reports {mv} mV, below the {threshold} mV threshold. Replace it soon.",
                    click.serial_number
                ),
            }));
        }
        Ok(actions)
    }
}

fn setting(key: &str, default: &str) -> String {
    config(key).unwrap_or_else(|| default.to_string())
}

export!(ByClick);
