//! What makes a press repeatable: the guest's WASI wall clock reads the press's own time and
//! its random bytes come from a per-press seed, so a press replayed from history (the same
//! click, settings, state and seed) sees exactly what the original saw, live and in replay
//! alike.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chacha20::ChaCha20Rng;
use chacha20::rand_core::SeedableRng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use wasmtime_wasi::HostWallClock;

/// The seed of one press's random bytes: 32 bytes, shown as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PressSeed([u8; 32]);

impl PressSeed {
    /// A seed from the operating system's random source, for a live press.
    pub fn fresh() -> Self {
        let mut seed = [0u8; 32];
        // Without OS randomness the press still runs; its random bytes are then the same
        // every press, which only matters to a guest that relies on them (and it is logged).
        if let Err(e) = getrandom::fill(&mut seed) {
            tracing::warn!(error = %e, "no OS random source; this press's random bytes are fixed");
        }
        Self(seed)
    }

    /// The seed's bytes.
    pub fn bytes(&self) -> [u8; 32] {
        self.0
    }

    /// A seed from its bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The seed as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// A seed from 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, SeedError> {
        let bytes = hex::decode(text).map_err(|_| SeedError {
            text: text.chars().take(80).collect(),
        })?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| SeedError {
            text: text.chars().take(80).collect(),
        })?;
        Ok(Self(bytes))
    }

    /// The generators the guest's `wasi:random` interfaces read: one for `random`, one for
    /// `insecure`, and the `insecure-seed` value, all derived from this seed.
    pub(crate) fn generators(&self) -> (ChaCha20Rng, ChaCha20Rng, u128) {
        let secure = ChaCha20Rng::from_seed(self.0);
        let mut insecure = ChaCha20Rng::from_seed(self.0);
        // Stream 1 of the same key: independent of stream 0, which `random` reads.
        insecure.set_stream(1);
        let mut low = [0u8; 16];
        low.copy_from_slice(&self.0[..16]);
        let mut high = [0u8; 16];
        high.copy_from_slice(&self.0[16..]);
        let insecure_seed = u128::from_le_bytes(low) ^ u128::from_le_bytes(high).rotate_left(64);
        (secure, insecure, insecure_seed)
    }
}

impl std::fmt::Debug for PressSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PressSeed({})", self.to_hex())
    }
}

impl Serialize for PressSeed {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for PressSeed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        PressSeed::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// A press seed that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a press seed is 64 hex digits, not {text:?}")]
pub struct SeedError {
    /// The text given (cut).
    pub text: String,
}

/// What a press runs with besides its click and state: set by a live press, and taken from
/// the history when a press is replayed.
#[derive(Debug, Clone)]
pub struct PressInputs {
    /// The seed of the guest's random bytes.
    pub seed: PressSeed,
    /// The deployment settings `host.config` serves, when they differ from the engine's own
    /// (a replay serves the settings the press was made with).
    pub settings: Option<Arc<BTreeMap<String, String>>>,
    /// A shorter deadline than the engine's limit (a shadow guest's budget); never longer.
    pub timeout: Option<Duration>,
}

impl PressInputs {
    /// A live press: a fresh seed, the engine's settings and limits.
    pub fn fresh() -> Self {
        Self::seeded(PressSeed::fresh())
    }

    /// A press with `seed`, the engine's settings and limits.
    pub fn seeded(seed: PressSeed) -> Self {
        Self {
            seed,
            settings: None,
            timeout: None,
        }
    }
}

/// A wall clock stopped at the press's time: a guest reading the time twice in one press gets
/// the same answer, and a replay gets the original's.
pub(crate) struct PressClock {
    since_epoch: Duration,
}

impl PressClock {
    pub(crate) fn at_ms(ms: u64) -> Self {
        Self {
            since_epoch: Duration::from_millis(ms),
        }
    }
}

impl HostWallClock for PressClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        self.since_epoch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chacha20::rand_core::Rng;

    #[test]
    fn a_seed_round_trips_through_hex_and_json() {
        let seed = PressSeed::from_bytes([7; 32]);
        assert_eq!(PressSeed::from_hex(&seed.to_hex()), Ok(seed));
        let json = serde_json::to_string(&seed).unwrap();
        assert_eq!(serde_json::from_str::<PressSeed>(&json).unwrap(), seed);
        assert!(PressSeed::from_hex("abc").is_err());
        assert!(PressSeed::from_hex(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn the_same_seed_gives_the_same_bytes_and_the_streams_differ() {
        let seed = PressSeed::from_bytes([42; 32]);
        let (mut a, mut a_insecure, a_seed) = seed.generators();
        let (mut b, _, b_seed) = seed.generators();
        let (x, y, z) = (a.next_u64(), b.next_u64(), a_insecure.next_u64());
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert_eq!(a_seed, b_seed);
        assert_ne!(PressSeed::fresh(), PressSeed::fresh());
    }
}
