//! The guest sources a deployment names with `CLICKRULES_GUEST`: the built-in guest, a local
//! file (with its signed artifact beside it), or an S3 object revalidated on every press.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clickrules_engine::{
    Arch, ArtifactExpectation, Engine, Guest, GuestBytes, TrustedKeys, sha256_hex,
};
use clickrules_pipeline::{CurrentGuest, FetchKind, FixedGuest, GuestSource};

use crate::compile_memory::release_freed_heap;
use crate::guest_load::{ArtifactUnavailable, GuestSourceError, LoadOptions, load_guest};
use crate::location::GuestLocation;
use crate::object_store::FetchError;
use crate::s3_guest::S3GuestSource;
use crate::settings::ArtifactPolicy;

/// A component file, loaded once. With an artifact policy, its signed artifact is looked for
/// beside it (`<file>.<arch>.cwasm`); a compile that would not fit in the function's memory is
/// refused (see [`LoadOptions`]).
pub async fn open_file(
    engine: &Engine,
    path: &Path,
    options: &LoadOptions,
) -> Result<FixedGuest, GuestSourceError> {
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
    let loaded = load_guest(engine, GuestBytes::new(bytes), &uri, options, read_artifact).await?;
    let mut current = CurrentGuest::new(loaded.guest, &uri, FetchKind::Fixed);
    current.record.artifact_note = loaded.artifact_note;
    Ok(FixedGuest::loaded(current))
}

/// The built-in default guest (part of the binary: it needs no signature).
pub fn open_builtin(engine: &Engine) -> Result<FixedGuest, GuestSourceError> {
    let sha256 = sha256_hex(clickrules_builtin::DEFAULT_GUEST);
    if let Some(guest) = precompiled_builtin(engine, &sha256) {
        return Ok(FixedGuest::loaded(CurrentGuest::new(
            guest,
            clickrules_builtin::DEFAULT_GUEST_URI,
            FetchKind::Fixed,
        )));
    }
    let was_cached = engine.cached(&sha256).is_some();
    let opened = FixedGuest::builtin(engine).map_err(|e| GuestSourceError::Load {
        uri: e.uri,
        error: e.error,
    });
    if !was_cached {
        release_freed_heap();
    }
    opened
}

/// The built-in guest from the native code the binary carries (see
/// `clickrules_builtin::precompiled`), when the engine accepts it: the artifact was made for
/// the default settings, and a deployment whose settings change the generated code compiles
/// instead, saying why.
fn precompiled_builtin(engine: &Engine, sha256: &str) -> Option<Arc<Guest>> {
    let precompiled = clickrules_builtin::precompiled()?;
    let keys: TrustedKeys = match precompiled.public_key.parse() {
        Ok(keys) => keys,
        Err(e) => {
            tracing::warn!(error = %e, "the built-in guest's key is unreadable; compiling it");
            return None;
        }
    };
    let expected = ArtifactExpectation {
        source_sha256: sha256,
        location: clickrules_builtin::DEFAULT_GUEST_URI,
    };
    match engine.load_artifact(precompiled.artifact, &expected, &keys) {
        Ok(guest) => Some(guest),
        Err(e) => {
            tracing::info!(reason = %e, "the built-in guest's precompiled code does not fit this engine; compiling it");
            None
        }
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
    /// The guest loaded now (for S3, by the last fetch), without fetching.
    pub fn loaded(&self) -> Option<(Arc<Guest>, String)> {
        match self {
            Self::Fixed(f) => {
                let current = f.current_guest();
                Some((Arc::clone(&current.guest), current.record.uri.clone()))
            }
            Self::S3(s) => s.loaded().map(|g| (g, s.uri().to_string())),
        }
    }

    /// As [`open`](Self::open), with explicit load options (artifacts, memory, floor store).
    pub async fn open_with(
        engine: &Arc<Engine>,
        location: &GuestLocation,
        s3: Option<&aws_sdk_s3::Client>,
        options: LoadOptions,
    ) -> Result<Self, GuestSourceError> {
        Ok(match location {
            GuestLocation::Builtin => Self::Fixed(open_builtin(engine)?),
            GuestLocation::Path(path) => Self::Fixed(open_file(engine, path, &options).await?),
            GuestLocation::S3(uri) => Self::S3(
                S3GuestSource::open_with(
                    Arc::clone(engine),
                    s3.ok_or_else(|| {
                        GuestSourceError::Fetch(FetchError::Rejected {
                            uri: uri.to_string(),
                            status: 0,
                            message: "no S3 client was configured".into(),
                        })
                    })?
                    .clone(),
                    uri.clone(),
                    options,
                )
                .await?,
            ),
        })
    }

    /// Loads the guest at `location` now (the cold-start fetch for S3), so a missing or broken
    /// guest fails init rather than the first press. The built-in guest is part of the binary
    /// and needs no signature. In Lambda, a compile of a file or S3 guest that would not fit in
    /// the function's memory is refused, at init and on every hot swap.
    pub async fn open(
        engine: &Arc<Engine>,
        location: &GuestLocation,
        s3: Option<&aws_sdk_s3::Client>,
        artifacts: Option<&ArtifactPolicy>,
    ) -> Result<Self, GuestSourceError> {
        let options = LoadOptions::from_lambda_env(artifacts.cloned());
        Self::open_with(engine, location, s3, options).await
    }
}

impl GuestSource for AnySource {
    type Error = GuestSourceError;

    async fn current(&self) -> Result<CurrentGuest, GuestSourceError> {
        match self {
            Self::Fixed(fixed) => Ok(fixed.current_guest().clone()),
            Self::S3(s3) => s3.current().await,
        }
    }
}
