//! Rules that remember (contract 0.2.0): each button keeps its own state.
//!
//! - DOUBLE toggles the button's maintenance mode and says so.
//! - SINGLE backs up `region` (default us-west-1), at most once per `cooldown_seconds`
//!   (default 600) per button: a press inside the cooldown is ignored with the time left.
//!   While maintenance is on, a SINGLE only notifies.
//! - LONG backs up at once, cooldown or not, and starts a new cooldown.
//!
//! State: `maintenance` (`on`/`off`), `last_backup_ms` (expires with the cooldown). The host
//! commits the writes only if the press succeeds, with the press's decision, so a retried
//! press never toggles twice. The same rule is in guests/js/remember and
//! guests/python/remember; tests/tests/remember.rs runs all three against one table.

wit_bindgen::generate!({ path: "../../wit/v0.2.0", world: "click-handler" });

use clickrules::handler::host::config;
use clickrules::handler::state;
use clickrules::handler::types::{Action, Click, ClickType, Notification};
use exports::clickrules::handler::handler::Guest;

const DEFAULT_REGION: &str = "us-west-1";
const DEFAULT_COOLDOWN_SECONDS: u32 = 600;

struct Remember;

impl Guest for Remember {
    fn handle(click: Click) -> Result<Vec<Action>, String> {
        let serial = &click.serial_number;
        let maintenance = state::get("maintenance").as_deref() == Some("on");
        match click.click_type {
            ClickType::Double => {
                let now_on = !maintenance;
                state::set("maintenance", if now_on { "on" } else { "off" }, None)?;
                Ok(vec![notify(
                    format!(
                        "Button {serial}: maintenance {}",
                        if now_on { "on" } else { "off" }
                    ),
                    format!(
                        "A double press turned maintenance {} for button {serial}.",
                        if now_on { "on" } else { "off" }
                    ),
                )])
            }
            ClickType::Single if maintenance => Ok(vec![notify(
                format!("Button {serial} pressed during maintenance"),
                format!("No backup was started: button {serial} is in maintenance mode."),
            )]),
            ClickType::Single => {
                if let Some(last) = state::get("last_backup_ms") {
                    let last: u64 = last
                        .parse()
                        .map_err(|e| format!("state last_backup_ms {last:?}: {e}"))?;
                    let cooldown_ms = u64::from(cooldown_seconds()?) * 1000;
                    let left_s = (last + cooldown_ms).saturating_sub(click.received_at_ms) / 1000;
                    return Ok(vec![Action::Ignore(format!(
                        "cooling down: the last backup from this button was less than {} s \
                         ago ({left_s} s left)",
                        cooldown_seconds()?
                    ))]);
                }
                backup(&click)
            }
            ClickType::Long => backup(&click),
            // A triple press means nothing to this rule.
            ClickType::Triple => Ok(vec![Action::Ignore("triple press: no rule".into())]),
        }
    }
}

/// Backs up the region and starts the cooldown: the key expires with it.
fn backup(click: &Click) -> Result<Vec<Action>, String> {
    state::set(
        "last_backup_ms",
        &click.received_at_ms.to_string(),
        Some(cooldown_seconds()?),
    )?;
    let region = config("region").unwrap_or_else(|| DEFAULT_REGION.to_string());
    Ok(vec![Action::Snapshot(region)])
}

fn cooldown_seconds() -> Result<u32, String> {
    match config("cooldown_seconds") {
        None => Ok(DEFAULT_COOLDOWN_SECONDS),
        Some(raw) => match raw.trim().parse::<u32>() {
            Ok(s) if s > 0 => Ok(s),
            _ => Err(format!(
                "setting cooldown_seconds must be a whole number of seconds above 0, got {raw:?}"
            )),
        },
    }
}

fn notify(subject: String, message: String) -> Action {
    Action::Notify(Notification { subject, message })
}

export!(Remember);
