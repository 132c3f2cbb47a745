//! Which guest decides the next press, and where it came from.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clickrules_builtin::{DEFAULT_GUEST, DEFAULT_GUEST_URI};
use clickrules_engine::{
    Arch, ArtifactError, ArtifactExpectation, Engine, Guest, GuestInfo, LoadError, sha256_hex,
};
use serde::Serialize;

use crate::compile_memory::{
    CompileMemoryShortfall, check_compile_memory, lambda_function_memory_mb, release_freed_heap,
};
use crate::location::GuestLocation;
use crate::object_store::FetchError;
use crate::s3_guest::S3GuestSource;
use crate::settings::ArtifactPolicy;

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
    /// Compiling the guest would take more memory than the function has; nothing was
    /// compiled, so Lambda does not kill the function halfway.
    #[error("the guest {uri} is not compiled in this function: {shortfall}{}", note(.artifact_note))]
    CompileMemory {
        /// The guest.
        uri: String,
        /// How much it needs against what there is.
        #[source]
        shortfall: CompileMemoryShortfall,
        /// Why its signed artifact was not used, when one was looked for.
        artifact_note: Option<String>,
    },
    /// Signed artifacts are required and this guest has no usable one.
    #[error(
        "the guest {uri} has no usable signed artifact, and CLICKRULES_REQUIRE_SIGNED=true \
         forbids compiling it: {reason}"
    )]
    Unsigned {
        /// The guest.
        uri: String,
        /// Why its artifact could not be used.
        #[source]
        reason: ArtifactUnavailable,
    },
}

/// Why a guest's signed artifact was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArtifactUnavailable {
    /// The artifact object could not be fetched (missing, denied, S3 failing).
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The artifact file could not be read.
    #[error("could not read the artifact {path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
    /// The artifact is there but failed verification (or this host cannot load artifacts).
    #[error("the artifact {uri} was refused: {error}")]
    Refused {
        /// Where it came from.
        uri: String,
        /// What failed.
        #[source]
        error: ArtifactError,
    },
}

/// ` (<note>)` for an error message, or nothing.
fn note(artifact_note: &Option<String>) -> String {
    artifact_note
        .as_deref()
        .map(|n| format!(" ({n})"))
        .unwrap_or_default()
}

/// How new guest code may be obtained: from signed artifacts, and within how much memory a
/// compile must fit.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Load each guest's signed artifact when it verifies (and, when required, never compile).
    pub artifacts: Option<ArtifactPolicy>,
    /// The function's memory, MB: a compile estimated to need more is refused with
    /// [`GuestSourceError::CompileMemory`]. `None`: no check.
    pub function_memory_mb: Option<u64>,
}

impl LoadOptions {
    /// These artifact rules, with the memory Lambda gives the function (none outside Lambda).
    pub fn from_lambda_env(artifacts: Option<ArtifactPolicy>) -> Self {
        Self {
            artifacts,
            function_memory_mb: lambda_function_memory_mb(),
        }
    }
}

/// A guest as [`load_guest`] found it.
pub(crate) struct Loaded {
    pub(crate) guest: Arc<Guest>,
    /// Why a signed artifact was expected but not used.
    pub(crate) artifact_note: Option<String>,
    /// Whether the engine already held it (nothing compiled or deserialized).
    pub(crate) was_cached: bool,
}

/// Loads a guest's code: from its signed artifact when the policy allows and one is usable,
/// else by compiling the `.wasm` (noting why in the record) if the compile fits in the
/// function's memory, or not at all when signed artifacts are required. `sha` is the `.wasm`'s
/// SHA-256; `artifact` fetches the artifact's bytes for this host.
///
/// Takes the `.wasm` by value: when artifacts are required nothing can fall back to compiling
/// it, so it is dropped once hashed. An interpreter guest's `.wasm` is 12-18 MB, and holding it
/// beside the artifact and wasmtime's copy of the code decides which Lambda size fits.
pub(crate) async fn load_guest<F, Fut>(
    engine: &Engine,
    bytes: Vec<u8>,
    sha: &str,
    uri: &str,
    options: &LoadOptions,
    artifact: F,
) -> Result<Loaded, GuestSourceError>
where
    F: FnOnce(Arch) -> Fut,
    Fut: Future<Output = Result<(String, Vec<u8>), ArtifactUnavailable>>,
{
    // A guest cached from an artifact older than the newest loaded for this location is an
    // old guest put back: its artifact must be checked again (and is then refused).
    if let Some(guest) = engine.cached(sha).filter(|g| {
        g.artifact_sequence()
            .is_none_or(|sequence| sequence >= engine.artifact_floor(uri))
    }) {
        return Ok(Loaded {
            guest,
            artifact_note: None,
            was_cached: true,
        });
    }
    // Why the artifact was not used, when one was looked for.
    let mut unused_artifact = None;
    let bytes = match &options.artifacts {
        None => bytes,
        Some(policy) => {
            // What a refused artifact falls back to: nothing, when artifacts are required.
            let fallback = (!policy.require).then_some(bytes);
            match (
                load_artifact(engine, sha, uri, policy, artifact).await,
                fallback,
            ) {
                (Ok(guest), _) => {
                    return Ok(Loaded {
                        guest,
                        artifact_note: None,
                        was_cached: false,
                    });
                }
                (Err(reason), None) => {
                    return Err(GuestSourceError::Unsigned {
                        uri: uri.to_string(),
                        reason,
                    });
                }
                (Err(reason), Some(bytes)) => {
                    unused_artifact = Some(reason.to_string());
                    bytes
                }
            }
        }
    };
    // Refused before it starts: Lambda would kill the function mid-compile, silently. Bytes
    // that are not WebAssembly compile nothing (the engine refuses them at once), so they get
    // the engine's own error instead.
    if bytes.starts_with(b"\0asm")
        && let Err(shortfall) = check_compile_memory(bytes.len(), options.function_memory_mb)
    {
        return Err(GuestSourceError::CompileMemory {
            uri: uri.to_string(),
            shortfall,
            artifact_note: unused_artifact
                .map(|r| format!("its signed artifact was not used: {r}")),
        });
    }
    let loaded = engine.load(&bytes);
    drop(bytes);
    // A failed compile allocated too.
    release_freed_heap();
    let guest = loaded.map_err(|error| GuestSourceError::Load {
        uri: uri.to_string(),
        error,
    })?;
    Ok(Loaded {
        guest,
        artifact_note: unused_artifact.map(|r| format!("compiled the .wasm: {r}")),
        was_cached: false,
    })
}

/// The guest whose `.wasm` has SHA-256 `sha`, from its signed artifact for this host.
pub(crate) async fn load_artifact<F, Fut>(
    engine: &Engine,
    sha: &str,
    uri: &str,
    policy: &ArtifactPolicy,
    artifact: F,
) -> Result<Arc<Guest>, ArtifactUnavailable>
where
    F: FnOnce(Arch) -> Fut,
    Fut: Future<Output = Result<(String, Vec<u8>), ArtifactUnavailable>>,
{
    let Some(arch) = Arch::host() else {
        return Err(ArtifactUnavailable::Refused {
            uri: uri.to_string(),
            error: ArtifactError::UnsupportedHost,
        });
    };
    let (artifact_uri, bytes) = artifact(arch).await?;
    let expected = ArtifactExpectation {
        source_sha256: sha,
        location: uri,
    };
    engine
        .load_artifact(&bytes, &expected, &policy.trusted)
        .map_err(|error| ArtifactUnavailable::Refused {
            uri: artifact_uri,
            error,
        })
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

    /// A component file. With an artifact policy, its signed artifact is looked for beside
    /// it (`<file>.<arch>.cwasm`). In Lambda, a compile that would not fit in the function's
    /// memory is refused ([`LoadOptions::from_lambda_env`]).
    pub async fn from_path(
        engine: &Engine,
        path: &Path,
        artifacts: Option<&ArtifactPolicy>,
    ) -> Result<Self, GuestSourceError> {
        Self::from_path_with(
            engine,
            path,
            &LoadOptions::from_lambda_env(artifacts.cloned()),
        )
        .await
    }

    /// As [`from_path`](Self::from_path), with explicit load options.
    pub async fn from_path_with(
        engine: &Engine,
        path: &Path,
        options: &LoadOptions,
    ) -> Result<Self, GuestSourceError> {
        let bytes = std::fs::read(path).map_err(|e| GuestSourceError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let uri = path.display().to_string();
        let read_artifact = |arch: Arch| async move {
            let mut name = path.as_os_str().to_owned();
            name.push(format!(".{arch}.cwasm"));
            let artifact = PathBuf::from(name);
            std::fs::read(&artifact)
                .map(|bytes| (artifact.display().to_string(), bytes))
                .map_err(|e| ArtifactUnavailable::Read {
                    path: artifact,
                    message: e.to_string(),
                })
        };
        let sha = sha256_hex(&bytes);
        let loaded = load_guest(engine, bytes, &sha, &uri, options, read_artifact).await?;
        Ok(Self::fixed(loaded.guest, &uri, loaded.artifact_note))
    }

    /// Component bytes, recorded under `uri`.
    pub fn from_bytes(engine: &Engine, bytes: &[u8], uri: &str) -> Result<Self, GuestSourceError> {
        let was_cached = engine.cached(&sha256_hex(bytes)).is_some();
        let loaded = engine.load(bytes);
        if !was_cached {
            release_freed_heap();
        }
        let guest = loaded.map_err(|error| GuestSourceError::Load {
            uri: uri.to_string(),
            error,
        })?;
        Ok(Self::fixed(guest, uri, None))
    }

    fn fixed(guest: Arc<Guest>, uri: &str, artifact_note: Option<String>) -> Self {
        let info = GuestInfo {
            uri: Some(uri.to_string()),
            artifact_note,
            ..guest.info()
        };
        Self {
            current: CurrentGuest {
                guest,
                info,
                fetch: FetchKind::Fixed,
                stale: None,
            },
        }
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
    /// guest fails init rather than the first press. The built-in guest is part of the binary
    /// and needs no signature. In Lambda, a compile of a file or S3 guest that would not fit in
    /// the function's memory is refused, at init and on every hot swap.
    pub async fn open(
        engine: &Arc<Engine>,
        location: &GuestLocation,
        s3: &aws_sdk_s3::Client,
        artifacts: Option<&ArtifactPolicy>,
    ) -> Result<Self, GuestSourceError> {
        Ok(match location {
            GuestLocation::Builtin => Self::Fixed(FixedGuest::builtin(engine)?),
            GuestLocation::Path(path) => {
                Self::Fixed(FixedGuest::from_path(engine, path, artifacts).await?)
            }
            GuestLocation::S3(uri) => Self::S3(
                S3GuestSource::open_with(
                    Arc::clone(engine),
                    s3.clone(),
                    uri.clone(),
                    LoadOptions::from_lambda_env(artifacts.cloned()),
                )
                .await?,
            ),
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
