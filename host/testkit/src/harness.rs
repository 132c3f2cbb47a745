//! The harness: one engine configured as a deployment, and one loaded guest.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use clickrules_engine::{
    ConfigError, Contract, Decision, DeviceState, Engine, EngineConfig, Guest, Limits, LoadError,
    StateEntry,
};

use crate::click::Click;

/// Why a guest could not be set up for testing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `.wasm` file could not be read; most often it has not been built yet.
    #[error(
        "cannot read the guest {path}: {source} (build it first, e.g. \
         `cargo build --release --target wasm32-wasip2`)"
    )]
    Read {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The engine rejected the component, as the Lambda would.
    #[error("the guest {path} cannot be loaded: {source}")]
    Load {
        /// Where the bytes came from.
        path: PathBuf,
        /// The engine's reason.
        source: LoadError,
    },
    /// The builder's limits or allow-list cannot be used.
    #[error("invalid test configuration: {0}")]
    Config(#[from] ConfigError),
}

/// The kit's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A loaded guest and the engine that runs it, configured like a deployment.
#[derive(Debug)]
pub struct Harness {
    engine: Engine,
    guest: Arc<Guest>,
    /// Each device's state (contract 0.2.0), kept across this harness's presses, keyed by
    /// source and device id as the Lambda keys it.
    states: Mutex<HashMap<(String, String), DeviceState>>,
    /// The clock presses use when set ([`Harness::set_time_ms`]).
    now_ms: Mutex<Option<u64>>,
}

impl Harness {
    /// Loads the guest at `path` with production defaults: default limits, no settings, any
    /// valid region allowed.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        Self::builder().load(path)
    }

    /// Starts a harness with settings, limits or a region allow-list of its own.
    pub fn builder() -> HarnessBuilder {
        HarnessBuilder::default()
    }

    /// Runs one press. The decision's `actions` are the validated actions, and `error` says
    /// why there are none. A guest that uses state sees its device's state as earlier presses
    /// of this harness left it; its writes are kept only if the press succeeded, as in a
    /// deployment. With [`set_time_ms`](Self::set_time_ms), the press happens then.
    pub fn press(&self, click: Click) -> Decision {
        let mut click: clickrules_engine::Click = click.into();
        if let Some(now) = *lock(&self.now_ms) {
            click.received_at_ms = now;
        }
        if !self.guest.uses_state() {
            return self.engine.press_click(&self.guest, click);
        }
        let key = (click.source.clone(), click.serial_number.clone());
        let at = click.received_at_ms;
        let before = lock(&self.states).get(&key).cloned().unwrap_or_default();
        let decision = self
            .engine
            .press_click_with_state(&self.guest, click, &before);
        if let (None, Some(used)) = (&decision.error, &decision.state)
            && !used.writes.is_empty()
        {
            lock(&self.states).insert(key, before.apply(&used.writes, at));
        }
        decision
    }

    /// The contract version the guest implements.
    pub fn contract(&self) -> Contract {
        self.guest.contract()
    }

    /// Sets the time of the following presses (ms since the Unix epoch), so expiry can be
    /// tested: a key set with a TTL of 60 s is gone once the time is 60 s later.
    pub fn set_time_ms(&self, ms: u64) {
        *lock(&self.now_ms) = Some(ms);
    }

    /// Moves the clock of the following presses on by `by` (from the last press's time when
    /// no time was set: [`TEST_RECEIVED_AT_MS`](crate::TEST_RECEIVED_AT_MS)).
    pub fn advance(&self, by: Duration) {
        let mut now = lock(&self.now_ms);
        let from = now.unwrap_or(crate::TEST_RECEIVED_AT_MS);
        *now = Some(from.saturating_add(u64::try_from(by.as_millis()).unwrap_or(u64::MAX)));
    }

    /// Seeds `key = value` in the state of device `serial` (as pressed by a test [`Click`]),
    /// never expiring.
    pub fn set_state(&self, serial: &str, key: &str, value: &str) {
        let mut states = lock(&self.states);
        let state = states.entry(test_device(serial)).or_default();
        state.entries.insert(
            key.to_string(),
            StateEntry {
                value: value.to_string(),
                expires_at_ms: None,
            },
        );
    }

    /// The live keys and values of device `serial` at the harness's time (expired keys are
    /// gone, as the guest would see them).
    pub fn state(&self, serial: &str) -> BTreeMap<String, String> {
        let now = lock(&self.now_ms).unwrap_or(crate::TEST_RECEIVED_AT_MS);
        lock(&self.states)
            .get(&test_device(serial))
            .map(|s| s.live(now))
            .unwrap_or_default()
            .entries
            .into_iter()
            .map(|(k, e)| (k, e.value))
            .collect()
    }

    /// Forgets every device's state.
    pub fn clear_state(&self) {
        lock(&self.states).clear();
    }

    /// Runs one press from a raw event (an IoT button message or an IoT 1-Click event), as the
    /// Lambda receives it.
    pub fn press_event(&self, event_json: &[u8]) -> Decision {
        self.engine.press(&self.guest, event_json)
    }

    /// The limits every press runs under.
    pub fn limits(&self) -> Limits {
        self.engine.limits()
    }

    /// SHA-256 of the loaded component, as the decision record names it.
    pub fn sha256(&self) -> &str {
        self.guest.sha256()
    }
}

/// Settings, limits and an allow-list for a [`Harness`]. Unset parts keep the production
/// defaults; only backtraces (file and line where the guest has line tables) and the compile
/// cache differ, as in [`local_engine_config`](crate::local_engine_config).
#[derive(Debug, Clone)]
pub struct HarnessBuilder {
    config: EngineConfig,
}

impl Default for HarnessBuilder {
    fn default() -> Self {
        Self {
            config: crate::local::local_engine_config(),
        }
    }
}

impl HarnessBuilder {
    /// A deployment setting the guest reads with `host.config(key)`.
    pub fn setting(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.settings.insert(key.into(), value.into());
        self
    }

    /// Regions `snapshot` may name; others fail validation as in a deployment that sets
    /// `CLICKRULES_ALLOWED_REGIONS`.
    pub fn allowed_regions<I, S>(mut self, regions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.allowed_regions = Some(regions.into_iter().map(Into::into).collect());
        self
    }

    /// The wall-clock deadline per press (`CLICKRULES_TIMEOUT_MS`).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.limits.timeout = timeout;
        self
    }

    /// The guest memory cap in bytes (`CLICKRULES_MEMORY_MB`).
    pub fn memory_bytes(mut self, bytes: u64) -> Self {
        self.config.limits.memory_bytes = bytes;
        self
    }

    /// Fuel per press (`CLICKRULES_FUEL`).
    pub fn fuel(mut self, fuel: u64) -> Self {
        self.config.limits.fuel = fuel;
        self
    }

    /// Reads and loads the guest at `path`.
    pub fn load(self, path: impl AsRef<Path>) -> Result<Harness> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        self.load_bytes(path, &bytes)
    }

    /// Loads a guest from bytes; `origin` names it in errors.
    pub fn load_bytes(self, origin: impl AsRef<Path>, bytes: &[u8]) -> Result<Harness> {
        let engine = Engine::new(self.config)?;
        let guest = engine.load(bytes).map_err(|source| Error::Load {
            path: origin.as_ref().to_path_buf(),
            source,
        })?;
        Ok(Harness {
            engine,
            guest,
            states: Mutex::default(),
            now_ms: Mutex::default(),
        })
    }
}

/// The device a test [`Click`] presses as (its source is `iot-button`).
fn test_device(serial: &str) -> (String, String) {
    ("iot-button".to_string(), serial.to_string())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
