//! Which HTTPS sources a deployment serves, and how each is authenticated.

use std::collections::HashSet;

use crate::flic_key::{FlicKeyError, FlicPublicKey};
use crate::secrets::SecretRef;

/// Default clock skew allowed past a Flic token's `exp` (and before its `nbf`), seconds.
pub const DEFAULT_FLIC_MAX_SKEW_S: u64 = 30;
/// Default replay window of the generic webhook's signed timestamp, either way, seconds.
pub const DEFAULT_WEBHOOK_TOLERANCE_S: u64 = 300;

/// The sources served. A source left `None` answers 404.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Flic Cloud Buttons, at `/flic`.
    pub flic: Option<FlicConfig>,
    /// The generic HMAC-signed webhook, at `/webhook`.
    pub generic: Option<GenericConfig>,
}

/// How Flic tokens are verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlicConfig {
    /// The `buttonUuid`s served. `None` checks nothing (local use of the CLI); a deployment
    /// should always set it, since any Flic customer can get validly signed tokens and the
    /// tokens name no audience.
    pub allowed_buttons: Option<HashSet<String>>,
    /// The key tokens must verify against.
    pub key: FlicKey,
    /// Seconds of clock skew allowed around `exp` and `nbf`.
    pub max_skew_s: u64,
}

impl Default for FlicConfig {
    /// Flic's published key, [`DEFAULT_FLIC_MAX_SKEW_S`], no allow-list.
    fn default() -> Self {
        Self {
            allowed_buttons: None,
            key: FlicKey::Published,
            max_skew_s: DEFAULT_FLIC_MAX_SKEW_S,
        }
    }
}

/// Which key verifies Flic tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlicKey {
    /// The key Flic publishes ([`crate::FLIC_PUBLISHED_KEY_PEM`]).
    Published,
    /// A key given in the configuration (a rotation, or a test key), already read.
    Pinned(FlicPublicKey),
    /// A key read through the [`crate::SecretStore`] on each request (the store caches it),
    /// in any of the [`crate::FLIC_KEY_FORMS`].
    Secret(SecretRef),
}

impl FlicKey {
    /// A pinned key from its text, in any of the [`crate::FLIC_KEY_FORMS`] (PEM SPKI, JWK,
    /// base64 or hex of the DER or of the 65-byte point).
    pub fn from_pem(text: &str) -> Result<Self, FlicKeyError> {
        FlicPublicKey::parse(text).map(FlicKey::Pinned)
    }
}

/// How generic webhooks are authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenericConfig {
    /// Where the shared HMAC secret is.
    pub secret: SecretRef,
    /// Seconds the signed timestamp may be from the host's clock, either way.
    pub tolerance_s: u64,
}

impl GenericConfig {
    /// The secret at `secret`, with the default window ([`DEFAULT_WEBHOOK_TOLERANCE_S`]).
    pub fn new(secret: SecretRef) -> Self {
        Self {
            secret,
            tolerance_s: DEFAULT_WEBHOOK_TOLERANCE_S,
        }
    }
}
