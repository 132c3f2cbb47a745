//! The built-in default guest, compiled from `guests/default` at build time.
//!
//! It reproduces the original Lambda exactly: every press backs up `us-west-1` (or the
//! deployment's `region` setting). Binaries run it when no guest is configured.
#![deny(missing_docs)]

/// The component bytes of `guests/default`.
pub const DEFAULT_GUEST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/default.wasm"));

/// How the built-in guest is named in decision records and messages.
pub const DEFAULT_GUEST_URI: &str = "builtin:default";

/// The built-in guest compiled at build time for this binary's architecture, signed by a key
/// made for the build (the `precompiled` feature); `None` without the feature, or when the
/// build could not compile for the target.
pub fn precompiled() -> Option<Precompiled> {
    #[cfg(feature = "precompiled")]
    {
        let artifact: &'static [u8] = include_bytes!(concat!(env!("OUT_DIR"), "/default.cwasm"));
        let public_key: &'static str = include_str!(concat!(env!("OUT_DIR"), "/default.key"));
        if !artifact.is_empty() {
            return Some(Precompiled {
                artifact,
                public_key,
            });
        }
    }
    None
}

/// A signed artifact of the built-in guest and the key that verifies it.
#[derive(Debug, Clone, Copy)]
pub struct Precompiled {
    /// The artifact (the engine's signed envelope around the native code).
    pub artifact: &'static [u8],
    /// The public key that signed it, as `TrustedKeys` parses it.
    pub public_key: &'static str,
}
