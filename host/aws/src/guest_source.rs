//! Which guest decides the next press, and where it came from.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clickrules_builtin::{DEFAULT_GUEST, DEFAULT_GUEST_URI};
use clickrules_engine::{Engine, Guest, GuestInfo, LoadError};
use serde::Serialize;

use crate::location::GuestLocation;
use crate::object_store::FetchError;
use crate::s3_guest::S3GuestSource;

/// How the guest for this press was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FetchKind {
    /// Built in or read from a file once, at start.
    Fixed,
    /// Downloaded from S3 for this press (first fetch, or the object changed).
    Downloaded,
    /// S3 answered 304: the cached compiled guest is still the object's content.
    NotModified,
    /// S3 could not be reached; the guest cached from an earlier fetch ran instead.
    Stale,
}

/// The guest to run, and what the decision record must say about it.
#[derive(Debug, Clone)]
pub struct CurrentGuest {
    /// The compiled guest.
    pub guest: Arc<Guest>,
    /// Its identity, uri, etag and version id filled in. Always describes `guest`.
    pub info: GuestInfo,
    /// How it was obtained.
    pub fetch: FetchKind,
    /// Why a cached guest ran although S3 could not confirm it is current.
    pub stale: Option<String>,
}

/// Why no guest is available for a press.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuestSourceError {
    /// The local file could not be read.
    #[error("could not read the guest {path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
    /// The S3 object could not be fetched.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The bytes are not a guest this host can run (e.g. a broken upload).
    #[error("the guest {uri} cannot be run: {error}")]
    Load {
        /// Where the bytes came from.
        uri: String,
        /// What is wrong with them.
        #[source]
        error: LoadError,
    },
}

/// Supplies the guest for each press. The press handler is generic over this so it can be
/// tested without S3.
pub trait GuestSource: Send + Sync {
    /// The guest to run now; for S3 this revalidates the cached object.
    fn current(&self) -> impl Future<Output = Result<CurrentGuest, GuestSourceError>> + Send;
}

/// A guest loaded once: the built-in one or a local file.
#[derive(Debug, Clone)]
pub struct FixedGuest {
    current: CurrentGuest,
}

impl FixedGuest {
    /// The built-in default guest.
    pub fn builtin(engine: &Engine) -> Result<Self, GuestSourceError> {
        Self::from_bytes(engine, DEFAULT_GUEST, DEFAULT_GUEST_URI)
    }

    /// A component file.
    pub fn from_path(engine: &Engine, path: &Path) -> Result<Self, GuestSourceError> {
        let bytes = std::fs::read(path).map_err(|e| GuestSourceError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::from_bytes(engine, &bytes, &path.display().to_string())
    }

    /// Component bytes, recorded under `uri`.
    pub fn from_bytes(engine: &Engine, bytes: &[u8], uri: &str) -> Result<Self, GuestSourceError> {
        let guest = engine.load(bytes).map_err(|error| GuestSourceError::Load {
            uri: uri.to_string(),
            error,
        })?;
        let info = GuestInfo {
            uri: Some(uri.to_string()),
            sha256: guest.sha256().to_string(),
            size_bytes: guest.size_bytes(),
            etag: None,
            version_id: None,
        };
        Ok(Self {
            current: CurrentGuest {
                guest,
                info,
                fetch: FetchKind::Fixed,
                stale: None,
            },
        })
    }

    /// The loaded guest.
    pub fn guest(&self) -> &CurrentGuest {
        &self.current
    }
}

impl GuestSource for FixedGuest {
    async fn current(&self) -> Result<CurrentGuest, GuestSourceError> {
        Ok(self.current.clone())
    }
}

/// The source `CLICKRULES_GUEST` names: what the Lambda and the CLI build from a location.
#[derive(Debug)]
pub enum AnySource {
    /// Built in or a local file.
    Fixed(FixedGuest),
    /// An S3 object, revalidated on every press.
    S3(S3GuestSource<aws_sdk_s3::Client>),
}

impl AnySource {
    /// Loads the guest at `location` now (the cold-start fetch for S3), so a missing or broken
    /// guest fails init rather than the first press.
    pub async fn open(
        engine: &Arc<Engine>,
        location: &GuestLocation,
        s3: &aws_sdk_s3::Client,
    ) -> Result<Self, GuestSourceError> {
        Ok(match location {
            GuestLocation::Builtin => Self::Fixed(FixedGuest::builtin(engine)?),
            GuestLocation::Path(path) => Self::Fixed(FixedGuest::from_path(engine, path)?),
            GuestLocation::S3(uri) => {
                Self::S3(S3GuestSource::open(Arc::clone(engine), s3.clone(), uri.clone()).await?)
            }
        })
    }
}

impl GuestSource for AnySource {
    async fn current(&self) -> Result<CurrentGuest, GuestSourceError> {
        match self {
            Self::Fixed(fixed) => fixed.current().await,
            Self::S3(s3) => s3.current().await,
        }
    }
}
