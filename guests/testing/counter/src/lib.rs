//! Counts presses in guest globals and heap. The host gives every press a fresh instance, so
//! the count it reports must always be 1; anything else means state leaked between presses.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

wit_bindgen::generate!({ path: "../../../wit", world: "click-handler" });

static PRESSES: AtomicU32 = AtomicU32::new(0);
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Counter;

impl Guest for Counter {
    fn handle(click: Click) -> Result<Vec<Action>, String> {
        let n = PRESSES.fetch_add(1, Ordering::Relaxed) + 1;
        let mut seen = SEEN.lock().map_err(|e| e.to_string())?;
        seen.push(click.serial_number);
        Ok(vec![Action::Ignore(format!(
            "press {n}, serials seen {}",
            seen.len()
        ))])
    }
}

export!(Counter);
