//! Remembering an object that failed to load, so presses fail at once while S3 answers 304
//! for it; and looking for the signed artifact that may yet make it loadable.

use std::sync::Arc;

use clickrules_engine::{Arch, ArtifactExpectation, Guest};

use super::{Cached, S3GuestSource, bump};
use crate::guest_load::{ArtifactUnavailable, GuestSourceError};
use crate::object_store::{Fetched, MAX_ARTIFACT_BYTES, ObjectStore};
use crate::settings::ArtifactPolicy;
use clickrules_pipeline::{CurrentGuest, FetchKind};

/// The object the bucket holds now, which could not be loaded. Presses fail with its error
/// until S3 says the object changed.
#[derive(Debug, Clone)]
pub(super) struct Failed {
    /// Sent as `If-None-Match`, so S3 answers 304 while the object is still this one. Only
    /// objects with an ETag are remembered.
    pub(super) etag: String,
    pub(super) version_id: Option<String>,
    /// Of its bytes: the same bytes under another ETag (a multipart re-upload) fail at once.
    pub(super) sha256: String,
    pub(super) error: GuestSourceError,
    /// A signed artifact could make it loadable without a new `.wasm` (it failed for want of
    /// one): presses then look for a new artifact, conditionally on the one last seen.
    pub(super) artifact_may_cure: bool,
    /// The ETag of the artifact that was refused, if there was one.
    pub(super) artifact_etag: Option<String>,
}

impl<O: ObjectStore> S3GuestSource<O> {
    /// Whether a signed artifact alone could make an object that failed with `error` loadable.
    pub(super) fn artifact_may_cure(&self, error: &GuestSourceError) -> bool {
        self.options.artifacts.is_some()
            && Arch::host().is_some()
            && matches!(
                error,
                GuestSourceError::Unsigned { .. } | GuestSourceError::CompileMemory { .. }
            )
    }

    /// A 304 for the object that failed: fail with its error, unless a new signed artifact
    /// has appeared that makes it loadable.
    pub(super) async fn still_failed(
        &self,
        mut failed: Box<Failed>,
        version_id: Option<String>,
    ) -> Result<CurrentGuest, GuestSourceError> {
        if version_id.is_some() {
            failed.version_id = version_id;
        }
        if let (true, Some(policy), Some(arch)) = (
            failed.artifact_may_cure,
            self.options.artifacts.as_ref(),
            Arch::host(),
        ) {
            match self.probe_artifact(&failed, policy, arch).await {
                Probe::Cured(guest) => {
                    bump(&self.counters.artifacts);
                    let fresh = Cached {
                        guest,
                        etag: Some(failed.etag),
                        version_id: failed.version_id,
                        artifact_note: None,
                    };
                    let current = self.current_from(&fresh, FetchKind::Downloaded, None);
                    let mut state = self.state();
                    state.cached = Some(fresh);
                    state.failed = None;
                    return Ok(current);
                }
                Probe::Unchanged => {}
                Probe::Unusable { etag, reason } => {
                    failed.artifact_etag = etag;
                    if let GuestSourceError::Unsigned { uri, .. } = &failed.error {
                        failed.error = GuestSourceError::Unsigned {
                            uri: uri.clone(),
                            reason,
                        };
                    }
                }
            }
        }
        bump(&self.counters.remembered_failures);
        let error = failed.error.clone();
        self.state().failed = Some(failed);
        Err(error)
    }

    /// Looks for a signed artifact newer than the one last refused (any, if none was found).
    async fn probe_artifact(&self, failed: &Failed, policy: &ArtifactPolicy, arch: Arch) -> Probe {
        let uri = self.artifact_uri(arch);
        let artifact = match self
            .store
            .get_object(&uri, failed.artifact_etag.as_deref(), MAX_ARTIFACT_BYTES)
            .await
        {
            Ok(Fetched::NotModified { .. }) => return Probe::Unchanged,
            Ok(Fetched::Object(artifact)) => artifact,
            Err(e) => {
                return Probe::Unusable {
                    etag: None,
                    reason: ArtifactUnavailable::Fetch(e),
                };
            }
        };
        let location = self.uri().to_string();
        let expected = ArtifactExpectation {
            source_sha256: &failed.sha256,
            location: &location,
        };
        match self
            .engine
            .load_artifact(&artifact.bytes, &expected, &policy.trusted)
        {
            Ok(guest) => Probe::Cured(guest),
            Err(error) => Probe::Unusable {
                etag: artifact.etag,
                reason: ArtifactUnavailable::Refused {
                    uri: uri.to_string(),
                    error,
                },
            },
        }
    }
}

/// What looking for a new artifact of a failed object found.
enum Probe {
    /// A new artifact that verifies: the object loads now.
    Cured(Arc<Guest>),
    /// The artifact last refused is still there, unchanged.
    Unchanged,
    /// No artifact, or a new one that was refused too.
    Unusable {
        etag: Option<String>,
        reason: ArtifactUnavailable,
    },
}
