//! Makes the WASI call its `call` setting names, as a guest that sleeps, polls or asks the
//! host for random bytes would, then snapshots `us-west-1`:
//! - `sleep` (the default): std's `thread::sleep` for `ms` milliseconds (default: forever);
//! - `poll`: `wasi:io/poll.poll` on a clock pollable of `ms`;
//! - `block`: `pollable.block` on a clock pollable of `ms`;
//! - `random`: `get-random-bytes(bytes)`; `insecure-random`: `get-insecure-random-bytes(bytes)`;
//! - `handles`: subscribes to `count` clock pollables and keeps them all;
//! - `seen`: reads the wall clock and 8 bytes of each random source and says what it saw in
//!   an `ignore` reason (a replayed press must see the same).

wit_bindgen::generate!({ path: "../../../wit", world: "click-handler" });

use std::time::Duration;

use clickrules::handler::host::config;
use wasip2::clocks::monotonic_clock::subscribe_duration;

struct WasiCalls;

fn number(key: &str, default: u64) -> Result<u64, String> {
    match config(key) {
        Some(n) => n.parse::<u64>().map_err(|e| format!("{key}: {e}")),
        None => Ok(default),
    }
}

impl Guest for WasiCalls {
    fn handle(_click: Click) -> Result<Vec<Action>, String> {
        let nanos = number("ms", u64::MAX / 1_000_000)?.saturating_mul(1_000_000);
        let mut note = String::new();
        match config("call").as_deref().unwrap_or("sleep") {
            "sleep" => std::thread::sleep(Duration::from_nanos(nanos)),
            "poll" => {
                let pollable = subscribe_duration(nanos);
                wasip2::io::poll::poll(&[&pollable]);
            }
            "block" => subscribe_duration(nanos).block(),
            "random" => {
                let bytes = wasip2::random::random::get_random_bytes(number("bytes", 16)?);
                note = format!("{} random bytes", bytes.len());
            }
            "insecure-random" => {
                let bytes =
                    wasip2::random::insecure::get_insecure_random_bytes(number("bytes", 16)?);
                note = format!("{} insecure random bytes", bytes.len());
            }
            "handles" => {
                let kept: Vec<_> = (0..number("count", 10)?)
                    .map(|_| subscribe_duration(1))
                    .collect();
                note = format!("{} handles", kept.len());
            }
            "seen" => {
                let now = wasip2::clocks::wall_clock::now();
                let random = wasip2::random::random::get_random_bytes(8);
                let insecure = wasip2::random::insecure::get_insecure_random_bytes(8);
                let seed = wasip2::random::insecure_seed::insecure_seed();
                note = format!(
                    "wall {}.{:09} random {} insecure {} seed {:x}{:x}",
                    now.seconds,
                    now.nanoseconds,
                    hex(&random),
                    hex(&insecure),
                    seed.0,
                    seed.1
                );
            }
            other => return Err(format!("unknown call {other:?}")),
        }
        let mut actions = vec![Action::Snapshot("us-west-1".to_string())];
        if !note.is_empty() {
            actions.push(Action::Ignore(note));
        }
        Ok(actions)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

export!(WasiCalls);
