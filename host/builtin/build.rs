//! Compiles `guests/default` so the host binaries carry the original behaviour built in; with
//! the `precompiled` feature also compiles it to native code for the target's architecture and
//! embeds it as an artifact signed by a key made for this build alone, so init loads it
//! through the same verified path as any signed guest and compiles nothing.

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let built = clickrules_guest_build::build(
        &root.join("guests"),
        &root.join("wit"),
        &["clickrules-guest-default"],
    );
    let out_dir = std::env::var_os("OUT_DIR").expect("OUT_DIR");
    let out = Path::new(&out_dir);
    std::fs::copy(&built[0].wasm, out.join("default.wasm"))
        .expect("copy the default guest into OUT_DIR");
    #[cfg(feature = "precompiled")]
    precompile(&out.join("default.wasm"), out);
}

/// Writes `default.cwasm` (the signed artifact) and `default.key` (its public key). A target
/// the engine cannot compile for gets empty files: the binary then compiles at init, and says so.
#[cfg(feature = "precompiled")]
fn precompile(wasm: &Path, out: &Path) {
    use clickrules_engine::{Arch, ArtifactBinding, ArtifactSigner, Engine, EngineConfig};

    let target = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let bytes = std::fs::read(wasm).expect("read the default guest");
    let made = (|| -> Result<(Vec<u8>, String), String> {
        let arch: Arch = target.parse().map_err(|e| format!("{e}"))?;
        // The engine as the Lambda builds it with default settings; a deployment whose
        // settings change the generated code fails the compatibility check and compiles.
        let engine = Engine::new(EngineConfig::default()).map_err(|e| e.to_string())?;
        let signer = ArtifactSigner::generate().map_err(|e| e.to_string())?;
        let binding = ArtifactBinding {
            location: "builtin:default".into(),
            sequence: 0,
        };
        let artifact = engine
            .precompile(&bytes, arch, &signer, &binding)
            .map_err(|e| e.to_string())?;
        Ok((artifact, signer.public_key().to_string()))
    })();
    let (artifact, key) = made.unwrap_or_else(|e| {
        println!("cargo:warning=the built-in guest is not precompiled for {target}: {e}");
        (Vec::new(), String::new())
    });
    std::fs::write(out.join("default.cwasm"), artifact).expect("write the artifact");
    std::fs::write(out.join("default.key"), key).expect("write its key");
}
