//! Loading a guest's code from its bytes: from a signed artifact when the deployment trusts
//! one, else compiled if the compile fits in the function, and the errors of getting there.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use clickrules_engine::{
    Arch, ArtifactError, ArtifactExpectation, Engine, Guest, GuestBytes, LoadError,
};
use clickrules_pipeline::SourceError;

use crate::compile_memory::{
    CompileMemoryShortfall, check_compile_memory, lambda_function_memory_mb, release_freed_heap,
};
use crate::object_store::FetchError;
use crate::settings::ArtifactPolicy;

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

impl SourceError for GuestSourceError {
    fn kind(&self) -> &'static str {
        match self {
            Self::Read { .. } => "read",
            Self::Fetch(FetchError::NotFound { .. }) => "not_found",
            Self::Fetch(FetchError::AccessDenied { .. }) => "access_denied",
            Self::Fetch(FetchError::Transient { .. }) => "unavailable",
            Self::Fetch(FetchError::TooLarge { .. }) => "too_large",
            Self::Fetch(FetchError::Rejected { .. }) => "rejected",
            Self::Load { .. } => "load",
            Self::CompileMemory { .. } => "compile_memory",
            Self::Unsigned { .. } => "unsigned",
        }
    }

    /// Everything but a malformed request may pass on a later delivery: S3 recovers, a guest
    /// is uploaded or fixed, an artifact is signed.
    fn is_retryable(&self) -> bool {
        !matches!(self, Self::Fetch(FetchError::Rejected { .. }))
    }

    /// The bytes are at fault (broken, too large, too heavy to compile, unsigned), not the way
    /// to them.
    fn is_guest_fault(&self) -> bool {
        matches!(
            self,
            Self::Load { .. }
                | Self::CompileMemory { .. }
                | Self::Unsigned { .. }
                | Self::Fetch(FetchError::TooLarge { .. })
        )
    }
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
    /// Where the newest signed-artifact sequence per guest location is kept across cold starts
    /// (the ledger table); `None`: per instance only.
    pub floor_store: Option<crate::DynamoLedger>,
}

impl LoadOptions {
    /// These artifact rules, with the memory Lambda gives the function (none outside Lambda).
    pub fn from_lambda_env(artifacts: Option<ArtifactPolicy>) -> Self {
        Self {
            artifacts,
            function_memory_mb: lambda_function_memory_mb(),
            floor_store: None,
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
/// function's memory, or not at all when signed artifacts are required. `artifact` fetches the
/// artifact's bytes for this host.
///
/// Takes the `.wasm` by value: when artifacts are required nothing can fall back to compiling
/// it, so it is dropped once hashed. An interpreter guest's `.wasm` is 12-18 MB, and holding it
/// beside the artifact and wasmtime's copy of the code decides which Lambda size fits.
pub(crate) async fn load_guest<F, Fut>(
    engine: &Engine,
    bytes: GuestBytes,
    uri: &str,
    options: &LoadOptions,
    artifact: F,
) -> Result<Loaded, GuestSourceError>
where
    F: FnOnce(Arch) -> Fut,
    Fut: Future<Output = Result<(String, Vec<u8>), ArtifactUnavailable>>,
{
    let sha = &bytes.sha256().to_string();
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
    if bytes.as_slice().starts_with(b"\0asm")
        && let Err(shortfall) = check_compile_memory(bytes.len(), options.function_memory_mb)
    {
        return Err(GuestSourceError::CompileMemory {
            uri: uri.to_string(),
            shortfall,
            artifact_note: unused_artifact
                .map(|r| format!("its signed artifact was not used: {r}")),
        });
    }
    let loaded = engine.load_bytes(&bytes);
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
