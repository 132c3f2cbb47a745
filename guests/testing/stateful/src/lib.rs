//! A 0.2.0 guest for the state tests. By default it counts its device's presses in state key
//! `count` and answers `ignore("count N ...")` with what it saw of the click. The `mode`
//! setting makes it misuse state in one way: `fail-after-write` (sets, then returns an
//! error), `over-limit` (a value over 4 KiB, then `ok`), `over-limit-err` (the same, returning
//! the `set` error), `ttl` (sets `cooldown` for `ttl` seconds and reports whether it was
//! already set), `read-own-writes` (sets, reads back, deletes, reads back), `notify`
//! (counts, and asks for a notification, which fails without a topic).

wit_bindgen::generate!({ path: "../../../wit/v0.2.0", world: "click-handler" });

use clickrules::handler::host::config;
use clickrules::handler::state;
use clickrules::handler::types::{Action, Click, Notification};
use exports::clickrules::handler::handler::Guest;

struct Stateful;

fn count() -> Result<u64, String> {
    let n = match state::get("count") {
        Some(v) => v.parse::<u64>().map_err(|e| format!("count {v:?}: {e}"))?,
        None => 0,
    } + 1;
    state::set("count", &n.to_string(), None)?;
    Ok(n)
}

fn seen(click: &Click) -> String {
    format!(
        "{:?} from {} via {} press {} offset {} pct {:?}",
        click.click_type,
        click.serial_number,
        click.source,
        click.press_id,
        click.utc_offset_minutes,
        click.battery_pct
    )
}

impl Guest for Stateful {
    fn handle(click: Click) -> Result<Vec<Action>, String> {
        match config("mode").as_deref() {
            None | Some("count") => {
                let n = count()?;
                Ok(vec![Action::Ignore(format!("count {n}: {}", seen(&click)))])
            }
            Some("fail-after-write") => {
                state::set("count", "999", None)?;
                Err("failed after writing".into())
            }
            Some("over-limit") => {
                // The error is dropped on purpose: the host must fail the press anyway.
                let _ = state::set("big", &"x".repeat(5000), None);
                Ok(vec![Action::Ignore("ignored the state limit".into())])
            }
            Some("over-limit-err") => {
                state::set("big", &"x".repeat(5000), None)?;
                Ok(vec![Action::Ignore("unreachable".into())])
            }
            Some("ttl") => {
                let ttl = config("ttl").and_then(|t| t.parse().ok()).unwrap_or(60);
                let cooling = state::get("cooldown").is_some();
                if !cooling {
                    state::set("cooldown", "1", Some(ttl))?;
                }
                Ok(vec![Action::Ignore(format!("cooling {cooling}"))])
            }
            Some("read-own-writes") => {
                state::set("k", "v1", None)?;
                let first = state::get("k");
                state::delete("k");
                let second = state::get("k");
                Ok(vec![Action::Ignore(format!("{first:?} then {second:?}"))])
            }
            Some("notify") => {
                let n = count()?;
                Ok(vec![
                    Action::Snapshot("us-west-1".into()),
                    Action::Notify(Notification {
                        subject: format!("press {n}"),
                        message: seen(&click),
                    }),
                ])
            }
            Some(other) => Err(format!("unknown mode {other:?}")),
        }
    }
}

export!(Stateful);
