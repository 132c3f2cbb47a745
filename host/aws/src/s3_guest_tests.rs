//! The hot-swap logic against a fake store that replays scripted answers.

use std::collections::VecDeque;

use clickrules_engine::{EngineConfig, LoadError, sha256_hex};

use super::*;
use crate::object_store::S3Object;

/// One GET as the fake store saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sent {
    key: String,
    if_none_match: Option<String>,
    max_bytes: u64,
}

/// Replays scripted answers and records each request.
#[derive(Debug, Default)]
struct FakeStore {
    answers: Mutex<VecDeque<Result<Fetched, FetchError>>>,
    sent: Mutex<Vec<Sent>>,
}

impl FakeStore {
    fn answering(answers: Vec<Result<Fetched, FetchError>>) -> Self {
        Self {
            answers: Mutex::new(answers.into()),
            sent: Mutex::default(),
        }
    }

    /// The `If-None-Match` of each request, in order.
    fn if_none_match(&self) -> Vec<Option<String>> {
        let sent = self.sent.lock().unwrap();
        sent.iter().map(|s| s.if_none_match.clone()).collect()
    }

    /// The key of each request, in order.
    fn keys(&self) -> Vec<String> {
        let sent = self.sent.lock().unwrap();
        sent.iter().map(|s| s.key.clone()).collect()
    }
}

impl ObjectStore for &FakeStore {
    async fn get_object(
        &self,
        uri: &S3Uri,
        if_none_match: Option<&str>,
        max_bytes: u64,
    ) -> Result<Fetched, FetchError> {
        self.sent.lock().unwrap().push(Sent {
            key: uri.key.clone(),
            if_none_match: if_none_match.map(str::to_string),
            max_bytes,
        });
        self.answers
            .lock()
            .unwrap()
            .pop_front()
            .expect("the test scripted enough answers")
    }
}

fn not_modified() -> Result<Fetched, FetchError> {
    Ok(Fetched::NotModified { version_id: None })
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
    block_on(S3GuestSource::open_with(
        engine(),
        store,
        uri(),
        LoadOptions {
            artifacts: Some(policy),
            function_memory_mb: None,
            floor_store: None,
        },
    ))
}

#[test]
fn a_signed_artifact_is_loaded_instead_of_compiling() {
    let wasm = clickrules_builtin::DEFAULT_GUEST;
    let signer = clickrules_engine::ArtifactSigner::generate().unwrap();
    let artifact = engine()
        .precompile(wasm, Arch::host().unwrap(), &signer, &binding())
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
        current.record.loaded_from,
        clickrules_engine::LoadedFrom::SignedArtifact
    );
    assert_eq!(current.record.signed_by, Some(signer.public_key().key_id()));
    assert_eq!((source.stats().compiles, source.stats().artifacts), (0, 1));
}

#[test]
fn a_missing_artifact_compiles_and_says_why_unless_signatures_are_required() {
    let wasm = clickrules_builtin::DEFAULT_GUEST;
    let signer = clickrules_engine::ArtifactSigner::generate().unwrap();
    let artifact_key = format!("rule.wasm.{}.cwasm", Arch::host().unwrap());

    let store = FakeStore::answering(vec![object(wasm, "\"e1\"", "v1"), not_found(&artifact_key)]);
    let source = open_signed(&store, policy(&signer, false)).unwrap();
    let info = &source
        .current_from(
            source.cached().as_ref().unwrap(),
            FetchKind::Downloaded,
            None,
        )
        .record;
    assert_eq!(info.loaded_from, clickrules_engine::LoadedFrom::Compiled);
    let note = info.artifact_note.as_deref().unwrap();
    assert!(note.starts_with("compiled the .wasm: "), "{note}");
    assert!(note.contains(&artifact_key), "{note}");
    assert_eq!(source.stats().compiles, 1);

    let store = FakeStore::answering(vec![object(wasm, "\"e1\"", "v1"), not_found(&artifact_key)]);
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
        .precompile(old, Arch::host().unwrap(), &signer, &binding())
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
    let store = FakeStore::answering(vec![object(v1, "\"e1\"", "v1"), not_modified()]);
    let source = block_on(S3GuestSource::open(engine(), &store, uri())).unwrap();
    let current = block_on(source.current()).unwrap();
    assert_eq!(current.record.fetch, FetchKind::NotModified);
    assert_eq!(current.record.etag.as_deref(), Some("\"e1\""));
    assert_eq!(current.record.version_id.as_deref(), Some("v1"));
    assert_eq!(current.record.uri, "s3://guests/rule.wasm");
    assert_eq!(current.record.sha256, sha256_hex(v1));
    assert_eq!(store.if_none_match(), [None, Some("\"e1\"".to_string())]);
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
    assert_eq!(current.record.fetch, FetchKind::Downloaded);
    assert_eq!(current.record.sha256, sha256_hex(&v2));
    assert_eq!(current.guest.sha256(), sha256_hex(&v2));
    assert_eq!(current.record.version_id.as_deref(), Some("v2"));
    assert_eq!(source.stats().compiles, 2);
}

#[test]
fn transient_failure_runs_the_cached_guest_and_says_so() {
    let v1 = clickrules_builtin::DEFAULT_GUEST;
    let store = FakeStore::answering(vec![object(v1, "\"e1\"", "v1"), transient()]);
    let source = block_on(S3GuestSource::open(engine(), &store, uri())).unwrap();
    let current = block_on(source.current()).unwrap();
    assert_eq!(current.record.fetch, FetchKind::Stale);
    assert_eq!(current.record.stale.as_deref(), Some("HTTP 503 SlowDown"));
    assert_eq!(current.record.sha256, sha256_hex(v1));
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

/// Half a component: it has the `\0asm` header, so the engine really tries to compile it.
fn broken() -> Vec<u8> {
    let v1 = clickrules_builtin::DEFAULT_GUEST;
    v1[..v1.len() / 2].to_vec()
}

fn is_invalid(result: &Result<CurrentGuest, GuestSourceError>) -> bool {
    matches!(
        result,
        Err(GuestSourceError::Load {
            error: LoadError::Invalid { .. },
            ..
        })
    )
}

#[test]
fn a_failed_object_is_remembered_by_etag_until_it_changes() {
    let good = clickrules_builtin::DEFAULT_GUEST;
    let store = FakeStore::answering(vec![
        object(good, "\"e1\"", "v1"),
        object(&broken(), "\"e2\"", "v2"),
        not_modified(),
        not_modified(),
        object(b"<html>oops</html>", "\"e3\"", "v3"),
        object(good, "\"e1\"", "v4"),
        not_modified(),
    ]);
    let engine = engine();
    let source = block_on(S3GuestSource::open(Arc::clone(&engine), &store, uri())).unwrap();

    // The broken upload is downloaded and tried once.
    let first = block_on(source.current());
    assert!(is_invalid(&first), "{first:?}");
    assert!(
        engine.cached(&sha256_hex(&broken())).is_none(),
        "a component that failed to compile is not in the engine's cache"
    );
    // Then S3 is asked about that object, and each 304 fails at once with the same error.
    for _ in 0..2 {
        let again = block_on(source.current());
        assert_eq!(again.as_ref().err(), first.as_ref().err());
    }
    let stats = source.stats();
    assert_eq!(
        (
            stats.downloads,
            stats.failed_loads,
            stats.remembered_failures
        ),
        (2, 1, 2)
    );
    // A new upload is fetched and tried.
    let html = block_on(source.current());
    assert!(
        matches!(
            html,
            Err(GuestSourceError::Load {
                error: LoadError::NotWasm,
                ..
            })
        ),
        "{html:?}"
    );
    // A fix back to the good object works on its next press, without a compile.
    let fixed = block_on(source.current()).unwrap();
    assert_eq!(fixed.record.fetch, FetchKind::Downloaded);
    assert_eq!(fixed.record.sha256, sha256_hex(good));
    assert_eq!(fixed.record.version_id.as_deref(), Some("v4"));
    let again = block_on(source.current()).unwrap();
    assert_eq!(again.record.fetch, FetchKind::NotModified);

    let e = |etag: &str| Some(etag.to_string());
    assert_eq!(
        store.if_none_match(),
        [
            None,
            e("\"e1\""),
            e("\"e2\""),
            e("\"e2\""),
            e("\"e2\""),
            e("\"e3\""),
            e("\"e1\"")
        ]
    );
    let stats = source.stats();
    assert_eq!(
        (
            stats.compiles,
            stats.failed_loads,
            stats.remembered_failures
        ),
        (1, 2, 2)
    );
}

#[test]
fn the_same_broken_bytes_under_a_new_etag_fail_without_compiling() {
    // A multipart re-upload of the same bytes has another ETag.
    let store = FakeStore::answering(vec![
        object(clickrules_builtin::DEFAULT_GUEST, "\"e1\"", "v1"),
        object(&broken(), "\"e2\"", "v2"),
        object(&broken(), "\"e2-2\"", "v3"),
        not_modified(),
    ]);
    let source = block_on(S3GuestSource::open(engine(), &store, uri())).unwrap();
    let first = block_on(source.current());
    assert!(is_invalid(&first), "{first:?}");
    let same = block_on(source.current());
    assert_eq!(same.as_ref().err(), first.as_ref().err());
    // The new ETag is the one asked about next.
    let again = block_on(source.current());
    assert_eq!(again.as_ref().err(), first.as_ref().err());
    assert_eq!(
        store.if_none_match().last().cloned().flatten().as_deref(),
        Some("\"e2-2\"")
    );
    let stats = source.stats();
    assert_eq!((stats.failed_loads, stats.remembered_failures), (1, 2));
}

#[test]
fn a_transient_error_after_a_failed_upload_does_not_run_the_old_guest() {
    let store = FakeStore::answering(vec![
        object(clickrules_builtin::DEFAULT_GUEST, "\"e1\"", "v1"),
        object(&broken(), "\"e2\"", "v2"),
        transient(),
    ]);
    let source = block_on(S3GuestSource::open(engine(), &store, uri())).unwrap();
    assert!(is_invalid(&block_on(source.current())));
    let result = block_on(source.current());
    assert!(
        matches!(
            result,
            Err(GuestSourceError::Fetch(FetchError::Transient { .. }))
        ),
        "{result:?}"
    );
    assert_eq!(source.stats().stale, 0);
}

#[test]
fn a_304_updates_the_version_id_and_keeps_the_compiled_guest() {
    let v1 = clickrules_builtin::DEFAULT_GUEST;
    let store = FakeStore::answering(vec![
        object(v1, "\"e1\"", "v1"),
        Ok(Fetched::NotModified {
            version_id: Some("v2".into()),
        }),
        // An unversioned answer says nothing new about the version.
        not_modified(),
    ]);
    let source = block_on(S3GuestSource::open(engine(), &store, uri())).unwrap();
    let current = block_on(source.current()).unwrap();
    assert_eq!(current.record.fetch, FetchKind::NotModified);
    assert_eq!(current.record.version_id.as_deref(), Some("v2"));
    assert_eq!(current.record.etag.as_deref(), Some("\"e1\""));
    let current = block_on(source.current()).unwrap();
    assert_eq!(current.record.version_id.as_deref(), Some("v2"));
    assert_eq!(source.stats().compiles, 1);
}

#[test]
fn guest_and_artifact_reads_each_have_their_limit() {
    let wasm = clickrules_builtin::DEFAULT_GUEST;
    let signer = clickrules_engine::ArtifactSigner::generate().unwrap();
    let artifact_key = format!("rule.wasm.{}.cwasm", Arch::host().unwrap());
    let store = FakeStore::answering(vec![object(wasm, "\"e1\"", "v1"), not_found(&artifact_key)]);
    open_signed(&store, policy(&signer, false)).unwrap();
    let limits: Vec<_> = store
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.max_bytes)
        .collect();
    assert_eq!(limits, [MAX_GUEST_OBJECT_BYTES, MAX_ARTIFACT_BYTES]);
}

#[test]
fn an_object_over_the_limit_fails_the_press() {
    let too_large = Err(FetchError::TooLarge {
        uri: uri().to_string(),
        size: MAX_GUEST_OBJECT_BYTES + 1,
        max: MAX_GUEST_OBJECT_BYTES,
    });
    let store = FakeStore::answering(vec![
        object(clickrules_builtin::DEFAULT_GUEST, "\"e1\"", "v1"),
        too_large,
    ]);
    let source = block_on(S3GuestSource::open(engine(), &store, uri())).unwrap();
    let result = block_on(source.current());
    assert!(
        matches!(
            result,
            Err(GuestSourceError::Fetch(FetchError::TooLarge { .. }))
        ),
        "{result:?}"
    );
}

#[test]
fn a_new_artifact_cures_a_remembered_unsigned_failure() {
    let wasm = clickrules_builtin::DEFAULT_GUEST;
    let signer = clickrules_engine::ArtifactSigner::generate().unwrap();
    let artifact_key = format!("rule.wasm.{}.cwasm", Arch::host().unwrap());
    let old = clickrules_tests::guest_bytes(clickrules_tests::guests::BY_CLICK);
    let stale = engine()
        .precompile(&old, Arch::host().unwrap(), &signer, &binding())
        .unwrap();
    let good = engine()
        .precompile(wasm, Arch::host().unwrap(), &signer, &binding())
        .unwrap();
    let store = FakeStore::answering(vec![
        // Cold start: the .wasm is there, its artifact not yet.
        object(wasm, "\"e1\"", "v1"),
        not_found(&artifact_key),
    ]);
    let refused = open_signed(&store, policy(&signer, true));
    assert!(
        matches!(refused, Err(GuestSourceError::Unsigned { .. })),
        "{refused:?}"
    );

    // A source that was running an older guest when the unsigned upload arrived.
    let store = FakeStore::answering(vec![
        object(&old, "\"e0\"", "v0"),
        object(&stale, "\"a0\"", "a0"),
        // The upload without an artifact.
        object(wasm, "\"e1\"", "v1"),
        not_found(&artifact_key),
        // Still none: the .wasm is not downloaded again, the artifact is looked for.
        not_modified(),
        not_found(&artifact_key),
        // The artifact of an older upload: refused, and asked about by its ETag after.
        not_modified(),
        object(&stale, "\"a0\"", "a0"),
        not_modified(),
        not_modified(),
        // The right one: the guest loads without downloading the .wasm again.
        not_modified(),
        object(&good, "\"a1\"", "a1"),
        not_modified(),
    ]);
    let source = open_signed(&store, policy(&signer, true)).unwrap();
    let unsigned = |r: &Result<CurrentGuest, GuestSourceError>| {
        matches!(
            r,
            Err(GuestSourceError::Unsigned {
                reason: ArtifactUnavailable::Fetch(FetchError::NotFound { .. }),
                ..
            })
        )
    };
    let first = block_on(source.current());
    assert!(unsigned(&first), "{first:?}");
    let second = block_on(source.current());
    assert!(unsigned(&second), "{second:?}");
    let third = block_on(source.current());
    assert!(
        matches!(
            third,
            Err(GuestSourceError::Unsigned {
                reason: ArtifactUnavailable::Refused {
                    error: clickrules_engine::ArtifactError::WrongSource { .. },
                    ..
                },
                ..
            })
        ),
        "{third:?}"
    );
    let fourth = block_on(source.current());
    assert_eq!(fourth.as_ref().err(), third.as_ref().err());
    let cured = block_on(source.current()).unwrap();
    assert_eq!(cured.record.fetch, FetchKind::Downloaded);
    assert_eq!(
        cured.record.loaded_from,
        clickrules_engine::LoadedFrom::SignedArtifact
    );
    assert_eq!(cured.record.sha256, sha256_hex(wasm));
    assert_eq!(cured.record.etag.as_deref(), Some("\"e1\""));
    let again = block_on(source.current()).unwrap();
    assert_eq!(again.record.fetch, FetchKind::NotModified);

    let artifact = artifact_key.as_str();
    assert_eq!(
        store.keys(),
        [
            "rule.wasm",
            artifact,
            "rule.wasm",
            artifact,
            "rule.wasm",
            artifact,
            "rule.wasm",
            artifact,
            "rule.wasm",
            artifact,
            "rule.wasm",
            artifact,
            "rule.wasm"
        ]
    );
    let e = |etag: &str| Some(etag.to_string());
    assert_eq!(
        store.if_none_match(),
        [
            None,
            None,
            e("\"e0\""),
            None,
            e("\"e1\""),
            None,
            e("\"e1\""),
            None,
            e("\"e1\""),
            e("\"a0\""),
            e("\"e1\""),
            e("\"a0\""),
            e("\"e1\"")
        ]
    );
    let stats = source.stats();
    assert_eq!(
        (stats.downloads, stats.remembered_failures, stats.artifacts),
        (2, 3, 2)
    );
    assert_eq!(stats.compiles, 0);
}

/// A source running the built-in guest in a function with just the memory to compile it, so
/// the (larger) by-click guest does not fit.
fn tight_source(
    store: &FakeStore,
    artifacts: Option<ArtifactPolicy>,
) -> (S3GuestSource<&FakeStore>, Arc<Engine>) {
    use crate::compile_memory::compile_memory_estimate_mb;
    let small = compile_memory_estimate_mb(clickrules_builtin::DEFAULT_GUEST.len());
    let by_click = clickrules_tests::guest_bytes(clickrules_tests::guests::BY_CLICK);
    assert!(compile_memory_estimate_mb(by_click.len()) > small);
    let engine = engine();
    let options = LoadOptions {
        artifacts,
        function_memory_mb: Some(small),
        floor_store: None,
    };
    let source = block_on(S3GuestSource::open_with(
        Arc::clone(&engine),
        store,
        uri(),
        options,
    ))
    .unwrap();
    (source, engine)
}

#[test]
fn a_compile_too_heavy_for_the_function_is_refused_before_it_starts_and_remembered() {
    let heavy = clickrules_tests::guest_bytes(clickrules_tests::guests::BY_CLICK);
    let store = FakeStore::answering(vec![
        object(clickrules_builtin::DEFAULT_GUEST, "\"e1\"", "v1"),
        object(&heavy, "\"e2\"", "v2"),
        not_modified(),
    ]);
    let (source, engine) = tight_source(&store, None);
    let refused = block_on(source.current());
    assert!(
        matches!(
            refused,
            Err(GuestSourceError::CompileMemory {
                artifact_note: None,
                ..
            })
        ),
        "{refused:?}"
    );
    assert!(
        engine.cached(&sha256_hex(&heavy)).is_none(),
        "nothing compiled"
    );
    let again = block_on(source.current());
    assert_eq!(again.as_ref().err(), refused.as_ref().err());
    let stats = source.stats();
    assert_eq!(
        (
            stats.compiles,
            stats.failed_loads,
            stats.remembered_failures
        ),
        (1, 1, 1)
    );
}

#[test]
fn a_signed_artifact_cures_a_guest_too_heavy_to_compile() {
    let heavy = clickrules_tests::guest_bytes(clickrules_tests::guests::BY_CLICK);
    let signer = clickrules_engine::ArtifactSigner::generate().unwrap();
    let artifact_key = format!("rule.wasm.{}.cwasm", Arch::host().unwrap());
    let artifact = engine()
        .precompile(&heavy, Arch::host().unwrap(), &signer, &binding())
        .unwrap();
    let store = FakeStore::answering(vec![
        object(clickrules_builtin::DEFAULT_GUEST, "\"e1\"", "v1"),
        not_found(&artifact_key),
        // The heavy guest without its artifact: compiling is the fallback, and does not fit.
        object(&heavy, "\"e2\"", "v2"),
        not_found(&artifact_key),
        // `clickrules upload --signing-key` puts the artifact and the same .wasm again.
        not_modified(),
        object(&artifact, "\"a2\"", "a2"),
    ]);
    let (source, _) = tight_source(&store, Some(policy(&signer, false)));
    let refused = block_on(source.current());
    assert!(
        matches!(
            refused,
            Err(GuestSourceError::CompileMemory {
                artifact_note: Some(_),
                ..
            })
        ),
        "{refused:?}"
    );
    let cured = block_on(source.current()).unwrap();
    assert_eq!(
        cured.record.loaded_from,
        clickrules_engine::LoadedFrom::SignedArtifact
    );
    assert_eq!(cured.record.sha256, sha256_hex(&heavy));
    assert_eq!((source.stats().compiles, source.stats().artifacts), (1, 1));
}

/// The binding artifacts of the guest at [`uri`] are signed with.
fn binding() -> clickrules_engine::ArtifactBinding {
    clickrules_engine::ArtifactBinding::now(uri().to_string())
}
