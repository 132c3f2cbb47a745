//! A guest kept in S3 and hot-swapped: every press asks S3 whether the object changed
//! (`If-None-Match`), so an upload takes effect on the very next press without a restart.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use clickrules_engine::{Arch, Engine, Guest, GuestInfo};

use crate::guest_source::{
    ArtifactUnavailable, CurrentGuest, FetchKind, GuestSource, GuestSourceError, Loaded, load_guest,
};
use crate::location::S3Uri;
use crate::object_store::{FetchError, Fetched, ObjectStore};
use crate::settings::ArtifactPolicy;

/// The object last fetched, compiled, with the identity S3 gave it.
#[derive(Debug, Clone)]
struct Cached {
    guest: Arc<Guest>,
    etag: Option<String>,
    version_id: Option<String>,
    /// Why its signed artifact was not used, when one was expected.
    artifact_note: Option<String>,
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
}

#[derive(Debug, Default)]
struct Counters {
    downloads: AtomicU64,
    not_modified: AtomicU64,
    stale: AtomicU64,
    compiles: AtomicU64,
    artifacts: AtomicU64,
}

/// The guest at an S3 URI, revalidated on every [`current`](GuestSource::current).
#[derive(Debug)]
pub struct S3GuestSource<O> {
    engine: Arc<Engine>,
    store: O,
    uri: S3Uri,
    artifacts: Option<ArtifactPolicy>,
    cached: Mutex<Option<Cached>>,
    counters: Counters,
}

impl<O: ObjectStore> S3GuestSource<O> {
    /// Fetches and compiles the object now: the cold-start fetch. Fails if it is missing,
    /// unreadable or not a runnable guest; there is nothing cached to fall back on yet.
    pub async fn open(engine: Arc<Engine>, store: O, uri: S3Uri) -> Result<Self, GuestSourceError> {
        Self::open_with_artifacts(engine, store, uri, None).await
    }

    /// As [`open`](Self::open); with a policy, each new object's code is loaded from its
    /// signed artifact (`<key>.<arch>.cwasm` in the same bucket) when that verifies.
    pub async fn open_with_artifacts(
        engine: Arc<Engine>,
        store: O,
        uri: S3Uri,
        artifacts: Option<ArtifactPolicy>,
    ) -> Result<Self, GuestSourceError> {
        let source = Self {
            engine,
            store,
            uri,
            artifacts,
            cached: Mutex::new(None),
            counters: Counters::default(),
        };
        source.current().await?;
        Ok(source)
    }

    /// The object this source reads.
    pub fn uri(&self) -> &S3Uri {
        &self.uri
    }

    /// Which paths presses have taken so far.
    pub fn stats(&self) -> SourceStats {
        let c = &self.counters;
        SourceStats {
            downloads: c.downloads.load(Ordering::Relaxed),
            not_modified: c.not_modified.load(Ordering::Relaxed),
            stale: c.stale.load(Ordering::Relaxed),
            compiles: c.compiles.load(Ordering::Relaxed),
            artifacts: c.artifacts.load(Ordering::Relaxed),
        }
    }

    fn cached(&self) -> Option<Cached> {
        self.cached
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn current_from(
        &self,
        cached: &Cached,
        fetch: FetchKind,
        stale: Option<String>,
    ) -> CurrentGuest {
        CurrentGuest {
            info: GuestInfo {
                uri: Some(self.uri.to_string()),
                etag: cached.etag.clone(),
                version_id: cached.version_id.clone(),
                artifact_note: cached.artifact_note.clone(),
                ..cached.guest.info()
            },
            guest: Arc::clone(&cached.guest),
            fetch,
            stale,
        }
    }

    /// Loads new bytes, unless the engine already holds them (e.g. an object re-uploaded with
    /// the same content gets a new version id but needs no compile).
    async fn load(&self, bytes: Vec<u8>) -> Result<Loaded, GuestSourceError> {
        let fetch_artifact = |arch: Arch| async move {
            let uri = S3Uri {
                bucket: self.uri.bucket.clone(),
                key: arch.artifact_name(&self.uri.key),
            };
            match self.store.get_object(&uri, None).await? {
                Fetched::Object(artifact) => Ok((uri.to_string(), artifact.bytes)),
                Fetched::NotModified => Err(ArtifactUnavailable::Fetch(FetchError::Rejected {
                    uri: uri.to_string(),
                    status: 304,
                    message: "S3 answered 304 Not Modified to an unconditional GET".into(),
                })),
            }
        };
        let loaded = load_guest(
            &self.engine,
            bytes,
            &self.uri.to_string(),
            self.artifacts.as_ref(),
            fetch_artifact,
        )
        .await?;
        if !loaded.was_cached {
            let counter = match loaded.guest.is_precompiled() {
                true => &self.counters.artifacts,
                false => &self.counters.compiles,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        Ok(loaded)
    }
}

impl<O: ObjectStore> GuestSource for S3GuestSource<O> {
    async fn current(&self) -> Result<CurrentGuest, GuestSourceError> {
        let cached = self.cached();
        let etag = cached.as_ref().and_then(|c| c.etag.as_deref());
        match self.store.get_object(&self.uri, etag).await {
            Ok(Fetched::NotModified) => match &cached {
                Some(cached) => {
                    self.counters.not_modified.fetch_add(1, Ordering::Relaxed);
                    Ok(self.current_from(cached, FetchKind::NotModified, None))
                }
                // A 304 to a request without If-None-Match is a store bug; do not guess.
                None => Err(FetchError::Rejected {
                    uri: self.uri.to_string(),
                    status: 304,
                    message: "S3 answered 304 Not Modified to an unconditional GET".into(),
                }
                .into()),
            },
            Ok(Fetched::Object(object)) => {
                self.counters.downloads.fetch_add(1, Ordering::Relaxed);
                // A broken upload fails the press: running the previous guest would run
                // something other than what the bucket now holds.
                let loaded = self.load(object.bytes).await?;
                let fresh = Cached {
                    guest: loaded.guest,
                    etag: object.etag,
                    version_id: object.version_id,
                    artifact_note: loaded.artifact_note,
                };
                let current = self.current_from(&fresh, FetchKind::Downloaded, None);
                *self.cached.lock().unwrap_or_else(PoisonError::into_inner) = Some(fresh);
                Ok(current)
            }
            Err(e) => match (&e, &cached) {
                (FetchError::Transient { reason, .. }, Some(cached)) => {
                    // The object may have changed, but S3 cannot say; the guest last
                    // confirmed runs, and the record says which one and why.
                    self.counters.stale.fetch_add(1, Ordering::Relaxed);
                    Ok(self.current_from(cached, FetchKind::Stale, Some(reason.clone())))
                }
                _ => Err(e.into()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use clickrules_engine::{EngineConfig, LoadError, sha256_hex};

    use super::*;
    use crate::object_store::S3Object;

    /// Replays scripted answers and records the `If-None-Match` each request carried.
    #[derive(Debug, Default)]
    struct FakeStore {
        answers: Mutex<VecDeque<Result<Fetched, FetchError>>>,
        sent: Mutex<Vec<Option<String>>>,
    }

    impl FakeStore {
        fn answering(answers: Vec<Result<Fetched, FetchError>>) -> Self {
            Self {
                answers: Mutex::new(answers.into()),
                sent: Mutex::default(),
            }
        }
    }

    impl ObjectStore for &FakeStore {
        async fn get_object(
            &self,
            _uri: &S3Uri,
            if_none_match: Option<&str>,
        ) -> Result<Fetched, FetchError> {
            self.sent
                .lock()
                .unwrap()
                .push(if_none_match.map(str::to_string));
            self.answers
                .lock()
                .unwrap()
                .pop_front()
                .expect("the test scripted enough answers")
        }
    }

    fn object(bytes: &[u8], etag: &str, version: &str) -> Result<Fetched, FetchError> {
        Ok(Fetched::Object(S3Object {
            bytes: bytes.to_vec(),
            etag: Some(etag.into()),
            version_id: Some(version.into()),
        }))
    }

    fn transient() -> Result<Fetched, FetchError> {
        Err(FetchError::Transient {
            uri: uri().to_string(),
            reason: "HTTP 503 SlowDown".into(),
        })
    }

    fn uri() -> S3Uri {
        S3Uri::parse("s3://guests/rule.wasm").unwrap()
    }

    fn engine() -> Arc<Engine> {
        Arc::new(Engine::new(EngineConfig::default()).unwrap())
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn not_found(key: &str) -> Result<Fetched, FetchError> {
        Err(FetchError::NotFound {
            uri: format!("s3://guests/{key}"),
            code: "NoSuchKey".into(),
        })
    }

    fn policy(signer: &clickrules_engine::ArtifactSigner, require: bool) -> ArtifactPolicy {
        ArtifactPolicy {
            trusted: clickrules_engine::TrustedKeys::new(vec![signer.public_key()]).unwrap(),
            require,
        }
    }

    fn open_signed(
        store: &FakeStore,
        policy: ArtifactPolicy,
    ) -> Result<S3GuestSource<&FakeStore>, GuestSourceError> {
        block_on(S3GuestSource::open_with_artifacts(
            engine(),
            store,
            uri(),
            Some(policy),
        ))
    }

    #[test]
    fn a_signed_artifact_is_loaded_instead_of_compiling() {
        let wasm = clickrules_builtin::DEFAULT_GUEST;
        let signer = clickrules_engine::ArtifactSigner::generate().unwrap();
        let artifact = engine()
            .precompile(wasm, Arch::host().unwrap(), &signer)
            .unwrap();
        let store = FakeStore::answering(vec![
            object(wasm, "\"e1\"", "v1"),
            object(&artifact, "\"a1\"", "a1"),
        ]);
        let source = open_signed(&store, policy(&signer, true)).unwrap();
        let current = source.current_from(
            source.cached().as_ref().unwrap(),
            FetchKind::Downloaded,
            None,
        );
        assert_eq!(
            current.info.loaded_from,
            clickrules_engine::LoadedFrom::SignedArtifact
        );
        assert_eq!(current.info.signed_by, Some(signer.public_key().key_id()));
        assert_eq!((source.stats().compiles, source.stats().artifacts), (0, 1));
    }

    #[test]
    fn a_missing_artifact_compiles_and_says_why_unless_signatures_are_required() {
        let wasm = clickrules_builtin::DEFAULT_GUEST;
        let signer = clickrules_engine::ArtifactSigner::generate().unwrap();
        let artifact_key = format!("rule.wasm.{}.cwasm", Arch::host().unwrap());

        let store =
            FakeStore::answering(vec![object(wasm, "\"e1\"", "v1"), not_found(&artifact_key)]);
        let source = open_signed(&store, policy(&signer, false)).unwrap();
        let info = &source
            .current_from(
                source.cached().as_ref().unwrap(),
                FetchKind::Downloaded,
                None,
            )
            .info;
        assert_eq!(info.loaded_from, clickrules_engine::LoadedFrom::Compiled);
        let note = info.artifact_note.as_deref().unwrap();
        assert!(note.starts_with("compiled the .wasm: "), "{note}");
        assert!(note.contains(&artifact_key), "{note}");
        assert_eq!(source.stats().compiles, 1);

        let store =
            FakeStore::answering(vec![object(wasm, "\"e1\"", "v1"), not_found(&artifact_key)]);
        let refused = open_signed(&store, policy(&signer, true));
        assert!(
            matches!(
                refused,
                Err(GuestSourceError::Unsigned {
                    reason: ArtifactUnavailable::Fetch(FetchError::NotFound { .. }),
                    ..
                })
            ),
            "{refused:?}"
        );
    }

    #[test]
    fn an_artifact_of_an_older_upload_is_refused() {
        // The .wasm changed but its artifact was not replaced: the artifact names other source.
        let old = clickrules_builtin::DEFAULT_GUEST;
        let new = clickrules_tests::guest_bytes(clickrules_tests::guests::BY_CLICK);
        let signer = clickrules_engine::ArtifactSigner::generate().unwrap();
        let stale = engine()
            .precompile(old, Arch::host().unwrap(), &signer)
            .unwrap();
        let store = FakeStore::answering(vec![
            object(&new, "\"e2\"", "v2"),
            object(&stale, "\"a1\"", "a1"),
        ]);
        let refused = open_signed(&store, policy(&signer, true));
        assert!(
            matches!(
                refused,
                Err(GuestSourceError::Unsigned {
                    reason: ArtifactUnavailable::Refused {
                        error: clickrules_engine::ArtifactError::WrongSource { .. },
                        ..
                    },
                    ..
                })
            ),
            "{refused:?}"
        );
    }

    #[test]
    fn not_modified_keeps_the_compiled_guest() {
        let v1 = clickrules_builtin::DEFAULT_GUEST;
        let store =
            FakeStore::answering(vec![object(v1, "\"e1\"", "v1"), Ok(Fetched::NotModified)]);
        let source = block_on(S3GuestSource::open(engine(), &store, uri())).unwrap();
        let current = block_on(source.current()).unwrap();
        assert_eq!(current.fetch, FetchKind::NotModified);
        assert_eq!(current.info.etag.as_deref(), Some("\"e1\""));
        assert_eq!(current.info.version_id.as_deref(), Some("v1"));
        assert_eq!(current.info.uri.as_deref(), Some("s3://guests/rule.wasm"));
        assert_eq!(current.info.sha256, sha256_hex(v1));
        assert_eq!(
            *store.sent.lock().unwrap(),
            [None, Some("\"e1\"".to_string())]
        );
        let stats = source.stats();
        assert_eq!(
            (stats.downloads, stats.not_modified, stats.compiles),
            (1, 1, 1)
        );
    }

    #[test]
    fn a_new_object_replaces_the_guest() {
        let v1 = clickrules_builtin::DEFAULT_GUEST;
        let v2 = clickrules_tests::guest_bytes(clickrules_tests::guests::BY_CLICK);
        let store = FakeStore::answering(vec![
            object(v1, "\"e1\"", "v1"),
            object(&v2, "\"e2\"", "v2"),
        ]);
        let source = block_on(S3GuestSource::open(engine(), &store, uri())).unwrap();
        let current = block_on(source.current()).unwrap();
        assert_eq!(current.fetch, FetchKind::Downloaded);
        assert_eq!(current.info.sha256, sha256_hex(&v2));
        assert_eq!(current.guest.sha256(), sha256_hex(&v2));
        assert_eq!(current.info.version_id.as_deref(), Some("v2"));
        assert_eq!(source.stats().compiles, 2);
    }

    #[test]
    fn transient_failure_runs_the_cached_guest_and_says_so() {
        let v1 = clickrules_builtin::DEFAULT_GUEST;
        let store = FakeStore::answering(vec![object(v1, "\"e1\"", "v1"), transient()]);
        let source = block_on(S3GuestSource::open(engine(), &store, uri())).unwrap();
        let current = block_on(source.current()).unwrap();
        assert_eq!(current.fetch, FetchKind::Stale);
        assert_eq!(current.stale.as_deref(), Some("HTTP 503 SlowDown"));
        assert_eq!(current.info.sha256, sha256_hex(v1));
        assert_eq!(source.stats().stale, 1);
    }

    #[test]
    fn transient_failure_at_start_is_an_error() {
        let store = FakeStore::answering(vec![transient()]);
        let result = block_on(S3GuestSource::open(engine(), &store, uri()));
        assert!(
            matches!(
                result,
                Err(GuestSourceError::Fetch(FetchError::Transient { .. }))
            ),
            "{result:?}"
        );
    }

    #[test]
    fn missing_object_fails_even_with_a_cached_guest() {
        let v1 = clickrules_builtin::DEFAULT_GUEST;
        let gone = Err(FetchError::NotFound {
            uri: uri().to_string(),
            code: "NoSuchKey".into(),
        });
        let store = FakeStore::answering(vec![object(v1, "\"e1\"", "v1"), gone]);
        let source = block_on(S3GuestSource::open(engine(), &store, uri())).unwrap();
        let result = block_on(source.current());
        assert!(
            matches!(
                result,
                Err(GuestSourceError::Fetch(FetchError::NotFound { .. }))
            ),
            "{result:?}"
        );
    }

    #[test]
    fn broken_upload_fails_instead_of_running_the_old_guest() {
        let v1 = clickrules_builtin::DEFAULT_GUEST;
        let broken = &v1[..v1.len() / 2];
        let store = FakeStore::answering(vec![
            object(v1, "\"e1\"", "v1"),
            object(b"<html>oops</html>", "\"e2\"", "v2"),
            object(broken, "\"e3\"", "v3"),
        ]);
        let source = block_on(S3GuestSource::open(engine(), &store, uri())).unwrap();
        let result = block_on(source.current());
        assert!(
            matches!(
                result,
                Err(GuestSourceError::Load {
                    error: LoadError::NotWasm,
                    ..
                })
            ),
            "{result:?}"
        );
        let result = block_on(source.current());
        assert!(
            matches!(
                result,
                Err(GuestSourceError::Load {
                    error: LoadError::Invalid { .. },
                    ..
                })
            ),
            "{result:?}"
        );
    }
}
