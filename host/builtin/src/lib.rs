//! The built-in default guest, compiled from `guests/default` at build time.
//!
//! It reproduces the original Lambda exactly: every press backs up `us-west-1` (or the
//! deployment's `region` setting). Binaries run it when no guest is configured.
#![deny(missing_docs)]

/// The component bytes of `guests/default`.
pub const DEFAULT_GUEST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/default.wasm"));

/// How the built-in guest is named in decision records and messages.
pub const DEFAULT_GUEST_URI: &str = "builtin:default";
