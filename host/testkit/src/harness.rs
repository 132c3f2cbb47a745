//! The harness: one engine configured as a deployment, and one loaded guest.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clickrules_engine::{ConfigError, Decision, Engine, EngineConfig, Guest, Limits, LoadError};

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
    /// why there are none.
    pub fn press(&self, click: Click) -> Decision {
        self.engine.press_click(&self.guest, click.into())
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
/// defaults.
#[derive(Debug, Clone, Default)]
pub struct HarnessBuilder {
    config: EngineConfig,
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
        Ok(Harness { engine, guest })
    }
}
