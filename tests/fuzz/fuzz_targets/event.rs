//! Any bytes as a button event from any source: clicks or a typed error, never a panic.
#![no_main]

use clickrules_engine::{ClickType, MAX_SERIAL_BYTES, normalise_event};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = normalise_event(data, 42) {
        // What the guest is handed must be well-formed.
        for press in &event.presses {
            let click = &press.click;
            assert!(!click.serial_number.trim().is_empty());
            assert!(click.serial_number.len() <= MAX_SERIAL_BYTES);
            assert!(ClickType::ALL.contains(&click.click_type));
            assert_eq!(click.received_at_ms, 42);
            assert!(click.battery_pct.is_none_or(|p| p <= 100));
        }
        // A message is presses, or says why it is none.
        assert!(!event.presses.is_empty() || !event.skipped.is_empty());
    }
});
