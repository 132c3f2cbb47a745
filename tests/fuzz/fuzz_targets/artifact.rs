//! Any bytes as a signed precompiled guest: refused with a typed error, never a panic, and
//! never deserialized (a fuzzer cannot forge a signature). The trusted key is fixed so seeds
//! naming its key id (`76c630ff1a45e675`) reach signature verification; see SECURITY.md.
#![no_main]

use std::sync::OnceLock;

use clickrules_engine::{
    ArtifactError, ArtifactExpectation, ArtifactSigner, Engine, EngineConfig, TrustedKeys,
};
use libfuzzer_sys::fuzz_target;

const FUZZ_KEY: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIOdgRQT6jBsedDQ64qXD3CFtaXXqWVp5ECEOlPShBJr3
-----END PRIVATE KEY-----
";

fn engine_and_keys() -> &'static (Engine, TrustedKeys) {
    static STATE: OnceLock<(Engine, TrustedKeys)> = OnceLock::new();
    STATE.get_or_init(|| {
        let engine = Engine::new(EngineConfig::default()).expect("engine");
        // A throwaway key, here only so its key id is stable across runs.
        let key = ArtifactSigner::from_pem(FUZZ_KEY).expect("key").public_key();
        (engine, TrustedKeys::new(vec![key]).expect("one key"))
    })
}

fuzz_target!(|data: &[u8]| {
    let (engine, keys) = engine_and_keys();
    let source = "0".repeat(64);
    let expected = ArtifactExpectation {
        source_sha256: &source,
        location: "s3://fuzz/guest.wasm",
    };
    match engine.load_artifact(data, &expected, keys) {
        // Reaching wasmtime would mean a forged signature verified.
        Ok(_) | Err(ArtifactError::Load(_)) => panic!("unsigned bytes got past verification"),
        Err(_) => {}
    }
});
