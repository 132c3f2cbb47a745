//! Any bytes as a guest: loaded and pressed, or refused with a typed error, never a panic.
//! Seed the corpus with real guests (see the README) so mutations reach deep into components.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use clickrules_engine::{Engine, EngineConfig, Limits};
use libfuzzer_sys::fuzz_target;

const EVENT: &[u8] = br#"{"serialNumber":"G1","batteryVoltage":"1705mV","clickType":"SINGLE"}"#;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::new(EngineConfig {
            limits: Limits {
                timeout: Duration::from_millis(50),
                memory_bytes: 16 << 20,
                fuel: 10_000_000,
            },
            ..EngineConfig::default()
        })
        .expect("engine")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(guest) = engine().load(data) {
        let decision = engine().press(&guest, EVENT);
        assert!(decision.error.is_some() || decision.actions.len() <= 10);
    }
});
