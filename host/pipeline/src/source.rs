//! Which guest decides the next press: the port, and the fixed source (the built-in guest or
//! bytes loaded once) that local presses and tests use.

use std::future::Future;
use std::sync::Arc;

use clickrules_builtin::{DEFAULT_GUEST, DEFAULT_GUEST_URI};
use clickrules_engine::{Engine, Guest, LoadError};

use crate::record::{ErrorInfo, FetchKind, GuestRecord};

/// The guest to run, and what the record says about it.
#[derive(Debug, Clone)]
pub struct CurrentGuest {
    /// The compiled guest.
    pub guest: Arc<Guest>,
    /// Its identity; always describes `guest`.
    pub record: GuestRecord,
}

impl CurrentGuest {
    /// A guest recorded under `uri`, obtained as `fetch`.
    pub fn new(guest: Arc<Guest>, uri: &str, fetch: FetchKind) -> Self {
        let info = guest.info();
        let record = GuestRecord {
            uri: uri.to_string(),
            sha256: info.sha256,
            size_bytes: info.size_bytes,
            loaded_from: info.loaded_from,
            signed_by: info.signed_by,
            artifact_note: None,
            etag: None,
            version_id: None,
            fetch,
            contract: guest.contract().version().to_string(),
            uses_state: guest.uses_state(),
            stale: None,
        };
        Self { guest, record }
    }
}

/// Why a source has no guest for this press, as the pipeline needs to know it: a stable kind,
/// whether a retry may help, and whether the guest itself is at fault (so the built-in guest
/// may decide instead). Sources keep their own typed errors.
pub trait SourceError: std::error::Error + Send + Sync + 'static {
    /// A stable name, e.g. `not_found`, `load`, `unsigned`.
    fn kind(&self) -> &'static str;
    /// Whether a later try may succeed (a 5xx, a timeout; or a fix to a broken upload).
    fn is_retryable(&self) -> bool;
    /// Whether the guest's bytes are the problem (broken, refused, too heavy), as opposed to
    /// the store being unreachable: only then may `CLICKRULES_ON_GUEST_ERROR=builtin` rescue.
    fn is_guest_fault(&self) -> bool;
}

/// Supplies the guest for each press.
pub trait GuestSource: Send + Sync {
    /// The source's own error.
    type Error: SourceError + Clone;

    /// The guest to run now; an object store revalidates its cached object.
    fn current(&self) -> impl Future<Output = Result<CurrentGuest, Self::Error>> + Send;
}

/// Why a fixed guest could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the guest {uri} cannot be run: {error}")]
pub struct FixedGuestError {
    /// Where the bytes came from.
    pub uri: String,
    /// What is wrong with them.
    #[source]
    pub error: LoadError,
}

impl SourceError for FixedGuestError {
    fn kind(&self) -> &'static str {
        "load"
    }

    fn is_retryable(&self) -> bool {
        false
    }

    fn is_guest_fault(&self) -> bool {
        true
    }
}

/// A guest loaded once: the built-in one, or bytes from a file or a test.
#[derive(Debug, Clone)]
pub struct FixedGuest {
    current: CurrentGuest,
}

impl FixedGuest {
    /// The built-in default guest.
    pub fn builtin(engine: &Engine) -> Result<Self, FixedGuestError> {
        Self::from_bytes(engine, DEFAULT_GUEST, DEFAULT_GUEST_URI)
    }

    /// Component bytes, recorded under `uri`.
    pub fn from_bytes(engine: &Engine, bytes: &[u8], uri: &str) -> Result<Self, FixedGuestError> {
        let guest = engine.load(bytes).map_err(|error| FixedGuestError {
            uri: uri.to_string(),
            error,
        })?;
        Ok(Self::loaded(CurrentGuest::new(
            guest,
            uri,
            FetchKind::Fixed,
        )))
    }

    /// A guest already loaded, with its record.
    pub fn loaded(current: CurrentGuest) -> Self {
        Self { current }
    }

    /// The loaded guest.
    pub fn current_guest(&self) -> &CurrentGuest {
        &self.current
    }
}

impl GuestSource for FixedGuest {
    type Error = FixedGuestError;

    async fn current(&self) -> Result<CurrentGuest, FixedGuestError> {
        Ok(self.current.clone())
    }
}

/// A source error as the record carries it.
pub(crate) fn source_info(e: &impl SourceError) -> ErrorInfo {
    ErrorInfo {
        kind: format!("guest_source.{}", e.kind()),
        message: e.to_string(),
        retryable: Some(e.is_retryable()),
        backtrace: Vec::new(),
    }
}
