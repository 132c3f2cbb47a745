//! Any bytes as a button event: a click or a typed error, never a panic.
#![no_main]

use clickrules_engine::{ClickType, normalise_event};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = normalise_event(data, 42) {
        // What the guest is handed must be well-formed.
        assert!(!event.click.serial_number.trim().is_empty());
        assert!(ClickType::ALL.contains(&event.click.click_type));
        assert_eq!(event.click.received_at_ms, 42);
    }
});
