//! Helpers shared by the integration tests (included with `mod common;`).
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use clickrules_engine::{Click, ClickType, Engine, EngineConfig, Guest, Limits};
use clickrules_tests::guest_bytes;

/// The production configuration with a compile cache: the JavaScript and Python guests take
/// seconds to compile, and many tests load them into engines of their own.
pub fn config() -> EngineConfig {
    EngineConfig {
        compile_cache: clickrules_testkit::compile_cache_dir(),
        ..EngineConfig::default()
    }
}

pub fn engine() -> Engine {
    Engine::new(config()).expect("default config is valid")
}

pub fn engine_with(configure: impl FnOnce(&mut EngineConfig)) -> Engine {
    let mut config = config();
    configure(&mut config);
    Engine::new(config).expect("test config is valid")
}

pub fn settings(pairs: &[(&str, &str)]) -> impl FnOnce(&mut EngineConfig) {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |c: &mut EngineConfig| c.settings.extend(pairs)
}

pub fn limits(timeout_ms: u64, memory_mb: u64, fuel: u64) -> Limits {
    Limits {
        timeout: Duration::from_millis(timeout_ms),
        memory_bytes: memory_mb << 20,
        fuel,
    }
}

pub fn load(engine: &Engine, path: &str) -> Arc<Guest> {
    engine
        .load(&guest_bytes(path))
        .unwrap_or_else(|e| panic!("load {path}: {e}"))
}

pub fn click(click_type: ClickType, battery_mv: Option<u32>) -> Click {
    Click::new(
        "G030JF055364XVRB",
        click_type,
        battery_mv,
        1_764_100_000_000,
    )
}

pub const SINGLE: &[u8] =
    br#"{"serialNumber":"G030JF055364XVRB","batteryVoltage":"1705mV","clickType":"SINGLE"}"#;

/// The default guest on the same engine still decides correctly: failures leave no damage.
pub fn assert_healthy(engine: &Engine) {
    let guest = load(engine, clickrules_tests::guests::DEFAULT);
    let d = engine.press(&guest, SINGLE);
    assert_eq!(
        d.result(),
        Ok(&[clickrules_engine::Action::snapshot("us-west-1")][..]),
        "engine unhealthy after a failure: {d:?}"
    );
}
