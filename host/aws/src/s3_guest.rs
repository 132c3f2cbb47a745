//! A guest kept in S3 and hot-swapped: every press asks S3 whether the object changed
//! (`If-None-Match`), so an upload takes effect on the very next press without a restart.
//!
//! An object that fails to load (not a component, no usable signed artifact, too heavy to
//! compile here) is remembered by its ETag and SHA-256: later presses ask S3 with that ETag and
//! fail at once on 304, instead of downloading and compiling the same broken object each time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use clickrules_engine::{Arch, Engine, Guest, GuestBytes};
use clickrules_pipeline::{CurrentGuest, FetchKind, GuestSource};

use crate::guest_load::{ArtifactUnavailable, GuestSourceError, LoadOptions, Loaded, load_guest};
use crate::location::S3Uri;
use crate::object_store::{
    FetchError, Fetched, MAX_ARTIFACT_BYTES, MAX_GUEST_OBJECT_BYTES, ObjectStore, S3Object,
};
use crate::settings::ArtifactPolicy;
use remembered::Failed;

/// The object last fetched, compiled, with the identity S3 gave it.
#[derive(Debug, Clone)]
struct Cached {
    guest: Arc<Guest>,
    etag: Option<String>,
    version_id: Option<String>,
    /// Why its signed artifact was not used, when one was expected.
    artifact_note: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    cached: Option<Cached>,
    /// Boxed: rare, and large beside the rest of a source, which `AnySource` holds inline.
    failed: Option<Box<Failed>>,
}

/// Counters, so tests and metrics can see which path each press took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceStats {
    /// GETs that returned the object's bytes.
    pub downloads: u64,
    /// GETs answered `304 Not Modified`.
    pub not_modified: u64,
    /// Presses that ran the cached guest because S3 failed transiently.
    pub stale: u64,
    /// Downloads whose bytes were not already loaded, so the engine compiled them.
    pub compiles: u64,
    /// Downloads whose code came from a verified signed artifact instead.
    pub artifacts: u64,
    /// Downloads that could not be loaded (their error is then remembered).
    pub failed_loads: u64,
    /// Presses failed with a remembered error, without downloading or compiling the object.
    pub remembered_failures: u64,
}

#[derive(Debug, Default)]
struct Counters {
    downloads: AtomicU64,
    not_modified: AtomicU64,
    stale: AtomicU64,
    compiles: AtomicU64,
    artifacts: AtomicU64,
    failed_loads: AtomicU64,
    remembered_failures: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The guest at an S3 URI, revalidated on every [`current`](GuestSource::current).
#[derive(Debug)]
pub struct S3GuestSource<O> {
    engine: Arc<Engine>,
    store: O,
    uri: S3Uri,
    options: LoadOptions,
    state: Mutex<State>,
    counters: Counters,
}

impl<O: ObjectStore> S3GuestSource<O> {
    /// Fetches and compiles the object now: the cold-start fetch. Fails if it is missing,
    /// unreadable or not a runnable guest; there is nothing cached to fall back on yet.
    pub async fn open(engine: Arc<Engine>, store: O, uri: S3Uri) -> Result<Self, GuestSourceError> {
        Self::open_with_artifacts(engine, store, uri, None).await
    }

    /// As [`open`](Self::open); with a policy, each new object's code is loaded from its
    /// signed artifact (`<key>.<arch>.cwasm` in the same bucket) when that verifies. In
    /// Lambda, compiles that would not fit in the function's memory are refused.
    pub async fn open_with_artifacts(
        engine: Arc<Engine>,
        store: O,
        uri: S3Uri,
        artifacts: Option<ArtifactPolicy>,
    ) -> Result<Self, GuestSourceError> {
        Self::open_with(engine, store, uri, LoadOptions::from_lambda_env(artifacts)).await
    }

    /// As [`open`](Self::open), with explicit load options.
    pub async fn open_with(
        engine: Arc<Engine>,
        store: O,
        uri: S3Uri,
        options: LoadOptions,
    ) -> Result<Self, GuestSourceError> {
        // Artifacts older than the newest any instance loaded are refused from the first load.
        if let (Some(floors), Some(_)) = (&options.floor_store, &options.artifacts) {
            match floors.artifact_floor(&uri.to_string()).await {
                Ok(floor) => engine.raise_artifact_floor(&uri.to_string(), floor),
                Err(e) => tracing::warn!(error = %e, "could not read the artifact floor"),
            }
        }
        let source = Self {
            engine,
            store,
            uri,
            options,
            state: Mutex::default(),
            counters: Counters::default(),
        };
        source.current().await?;
        Ok(source)
    }

    /// The guest loaded by the last fetch, if any.
    pub fn loaded(&self) -> Option<Arc<Guest>> {
        self.state().cached.as_ref().map(|c| Arc::clone(&c.guest))
    }

    /// The object this source reads.
    pub fn uri(&self) -> &S3Uri {
        &self.uri
    }

    /// Which paths presses have taken so far.
    pub fn stats(&self) -> SourceStats {
        let c = &self.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        SourceStats {
            downloads: get(&c.downloads),
            not_modified: get(&c.not_modified),
            stale: get(&c.stale),
            compiles: get(&c.compiles),
            artifacts: get(&c.artifacts),
            failed_loads: get(&c.failed_loads),
            remembered_failures: get(&c.remembered_failures),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn cached(&self) -> Option<Cached> {
        self.state().cached.clone()
    }

    fn current_from(
        &self,
        cached: &Cached,
        fetch: FetchKind,
        stale: Option<String>,
    ) -> CurrentGuest {
        let mut current =
            CurrentGuest::new(Arc::clone(&cached.guest), &self.uri.to_string(), fetch);
        current.record.etag.clone_from(&cached.etag);
        current.record.version_id.clone_from(&cached.version_id);
        current
            .record
            .artifact_note
            .clone_from(&cached.artifact_note);
        current.record.stale = stale;
        current
    }

    fn artifact_uri(&self, arch: Arch) -> S3Uri {
        S3Uri {
            bucket: self.uri.bucket.clone(),
            key: arch.artifact_name(&self.uri.key),
        }
    }

    /// Loads new bytes, unless the engine already holds them (e.g. an object re-uploaded with
    /// the same content gets a new version id but needs no compile). Also returns the ETag of
    /// the artifact that was fetched, if one was.
    async fn load(&self, bytes: GuestBytes) -> (Result<Loaded, GuestSourceError>, Option<String>) {
        let artifact_etag = Mutex::new(None);
        let fetch_artifact = |arch: Arch| {
            let artifact_etag = &artifact_etag;
            async move {
                let uri = self.artifact_uri(arch);
                match self
                    .store
                    .get_object(&uri, None, MAX_ARTIFACT_BYTES)
                    .await?
                {
                    Fetched::Object(artifact) => {
                        *artifact_etag.lock().unwrap_or_else(PoisonError::into_inner) =
                            artifact.etag;
                        Ok((uri.to_string(), artifact.bytes))
                    }
                    Fetched::NotModified { .. } => Err(ArtifactUnavailable::Fetch(
                        unconditional_304(&uri.to_string()),
                    )),
                }
            }
        };
        let loaded = load_guest(
            &self.engine,
            bytes,
            &self.uri.to_string(),
            &self.options,
            fetch_artifact,
        )
        .await;
        let artifact_etag = artifact_etag
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        if let Ok(loaded) = &loaded
            && !loaded.was_cached
        {
            bump(match loaded.guest.is_precompiled() {
                true => &self.counters.artifacts,
                false => &self.counters.compiles,
            });
            if loaded.guest.is_precompiled()
                && let Some(floors) = &self.options.floor_store
            {
                let location = self.uri.to_string();
                let floor = self.engine.artifact_floor(&location);
                if let Err(e) = floors.raise_artifact_floor(&location, floor).await {
                    // The press goes on: this instance still refuses older artifacts.
                    tracing::warn!(error = %e, "could not store the artifact floor");
                }
            }
        }
        (loaded, artifact_etag)
    }

    /// A 304 for the object the guest came from: the same guest, under the version id S3
    /// names now (re-uploading the same bytes makes a new version with the same ETag).
    fn revalidated(&self, mut cached: Cached, version_id: Option<String>) -> CurrentGuest {
        if version_id.is_some() && version_id != cached.version_id {
            let mut state = self.state();
            // Only if no concurrent press swapped the guest meanwhile.
            if let Some(current) = state.cached.as_mut()
                && current.etag == cached.etag
            {
                current.version_id.clone_from(&version_id);
            }
            cached.version_id = version_id;
        }
        self.current_from(&cached, FetchKind::NotModified, None)
    }

    /// The new content of the object: load it, or remember why it cannot be.
    async fn adopt(
        &self,
        object: S3Object,
        failed: Option<Box<Failed>>,
    ) -> Result<CurrentGuest, GuestSourceError> {
        let bytes = GuestBytes::new(object.bytes);
        let sha = bytes.sha256().to_string();
        if let Some(failed) = failed
            && failed.sha256 == sha
            && !failed.artifact_may_cure
        {
            // The same broken bytes under a new ETag: nothing about them changed.
            bump(&self.counters.remembered_failures);
            let error = failed.error.clone();
            if let Some(etag) = object.etag {
                self.state().failed = Some(Box::new(Failed {
                    etag,
                    version_id: object.version_id,
                    ..*failed
                }));
            }
            return Err(error);
        }
        let (loaded, artifact_etag) = self.load(bytes).await;
        match loaded {
            Ok(loaded) => {
                let fresh = Cached {
                    guest: loaded.guest,
                    etag: object.etag,
                    version_id: object.version_id,
                    artifact_note: loaded.artifact_note,
                };
                let current = self.current_from(&fresh, FetchKind::Downloaded, None);
                let mut state = self.state();
                state.cached = Some(fresh);
                state.failed = None;
                Ok(current)
            }
            // A broken upload fails the press: running the previous guest would run
            // something other than what the bucket now holds.
            Err(error) => {
                bump(&self.counters.failed_loads);
                // Without an ETag there is nothing to ask S3 about; the next press retries.
                self.state().failed = object.etag.map(|etag| {
                    Box::new(Failed {
                        etag,
                        version_id: object.version_id,
                        sha256: sha,
                        error: error.clone(),
                        artifact_may_cure: self.artifact_may_cure(&error),
                        artifact_etag,
                    })
                });
                Err(error)
            }
        }
    }
}

/// A 304 to a request without `If-None-Match` is a store bug; do not guess.
fn unconditional_304(uri: &str) -> FetchError {
    FetchError::Rejected {
        uri: uri.to_string(),
        status: 304,
        message: "S3 answered 304 Not Modified to an unconditional GET".into(),
    }
}

impl<O: ObjectStore> GuestSource for S3GuestSource<O> {
    type Error = GuestSourceError;

    async fn current(&self) -> Result<CurrentGuest, GuestSourceError> {
        let (cached, failed) = {
            let state = self.state();
            (state.cached.clone(), state.failed.clone())
        };
        // After a failed upload, ask about that object: S3 answers 304 until it changes.
        let etag = match &failed {
            Some(failed) => Some(failed.etag.as_str()),
            None => cached.as_ref().and_then(|c| c.etag.as_deref()),
        };
        match self
            .store
            .get_object(&self.uri, etag, MAX_GUEST_OBJECT_BYTES)
            .await
        {
            Ok(Fetched::NotModified { version_id }) => {
                bump(&self.counters.not_modified);
                match (failed, cached) {
                    (Some(failed), _) => self.still_failed(failed, version_id).await,
                    (None, Some(cached)) => Ok(self.revalidated(cached, version_id)),
                    (None, None) => Err(unconditional_304(&self.uri.to_string()).into()),
                }
            }
            Ok(Fetched::Object(object)) => {
                bump(&self.counters.downloads);
                self.adopt(object, failed).await
            }
            Err(e) => match (&e, &cached, &failed) {
                // The object may have changed, but S3 cannot say; the guest last confirmed
                // runs, and the record says which one and why. Not after a failed upload:
                // the bucket was last seen holding something else.
                (FetchError::Transient { reason, .. }, Some(cached), None) => {
                    bump(&self.counters.stale);
                    Ok(self.current_from(cached, FetchKind::Stale, Some(reason.clone())))
                }
                _ => Err(e.into()),
            },
        }
    }
}

#[path = "s3_remembered.rs"]
mod remembered;

#[cfg(test)]
#[path = "s3_guest_tests.rs"]
mod tests;
