//! The AWS edge against real AWS APIs (moto): guests from S3 with hot swap, `snapshot` as an
//! exact Lambda `Invoke`, `notify` read back through SQS, presses no retry can fix sent to the
//! SQS dead-letter queue, and every failure a failed press.

use clickrules_aws::{
    AwsExecutor, FetchError, GuestSourceError, Mode, S3GuestSource, S3Uri, Settings,
    SqsDeadLetters, compose, open_builtin,
};
use clickrules_engine::{Engine, LoadError, sha256_hex};
use clickrules_pipeline::{
    ActionError, ActionTargets, Disposition, Failure, FetchKind, FixedGuest, GuestRecord,
    InvocationType, MemorySink, OutcomeStatus, Pipeline, PreflightError, PressRecord, PressRequest,
    PressResult, Receipt, SnapshotTarget,
};
use clickrules_test_support::moto;
use clickrules_test_support::{StubServer, World, engine, engine_with, invocations};
use clickrules_tests::{fixture, guest_bytes, guests};
use serde_json::Value;

const BUCKET: &str = "clickrules-guests";

fn guest_uri(key: &str) -> S3Uri {
    S3Uri {
        bucket: BUCKET.into(),
        key: key.into(),
    }
}

fn executor(world: &World, topic: Option<String>) -> AwsExecutor {
    AwsExecutor::from_parts(
        world.clients.lambda.clone(),
        world.clients.sns.clone(),
        ActionTargets {
            snapshot: SnapshotTarget::default(),
            topic_arn: topic,
        },
    )
}

/// The guest at `uri`, fetched and compiled now (the cold start).
async fn s3_source(
    world: &World,
    engine: &std::sync::Arc<Engine>,
    uri: &S3Uri,
) -> S3GuestSource<aws_sdk_s3::Client> {
    S3GuestSource::open(engine.clone(), world.clients.s3.clone(), uri.clone())
        .await
        .expect("the guest loads from S3")
}

/// The record of a press that succeeded (and says so everywhere).
#[track_caller]
fn succeeded(result: PressResult) -> PressRecord {
    assert!(result.failure.is_none(), "{:?}", result.failure);
    assert!(result.record.ok, "{:?}", result.record.failure);
    assert_eq!(result.disposition, Disposition::Done);
    result.record
}

/// Why a press failed, and its record, which says it failed.
#[track_caller]
fn failed(result: PressResult) -> (Failure, PressRecord) {
    let failure = result.failure.expect("the press fails");
    assert!(!result.record.ok);
    assert_eq!(result.record.failure, Some(failure.info()));
    (failure, result.record)
}

/// The guest source's own error behind a failed press.
#[track_caller]
fn source_error(failure: &Failure) -> &GuestSourceError {
    match failure {
        Failure::GuestSource(s) => s
            .downcast::<GuestSourceError>()
            .expect("an S3 guest source error"),
        other => panic!("expected a guest source failure, got {other:?}"),
    }
}

/// The guest a record names.
#[track_caller]
fn guest(record: &PressRecord) -> &GuestRecord {
    record.guest.as_ref().expect("the record names the guest")
}

fn json(record: &PressRecord) -> Value {
    serde_json::from_str(&record.to_json()).expect("the record is JSON")
}

/// The issue's first "done when": a SINGLE press through the pipeline, default guest from S3,
/// gives exactly one `Invoke` of `scheduled_snapshot:prod` with body `{"region":"us-west-1"}`.
#[tokio::test]
async fn single_press_invokes_scheduled_snapshot_prod_once() {
    let Some(world) = World::start("single_press_invokes_scheduled_snapshot_prod_once").await
    else {
        return;
    };
    world.bucket(BUCKET, false).await;
    world.snapshot_function("scheduled_snapshot").await;
    let uri = guest_uri("default.wasm");
    let (etag, _) = world.upload(&uri, clickrules_builtin::DEFAULT_GUEST).await;

    let engine = engine();
    let source = s3_source(&world, &engine, &uri).await;
    let pipeline = Pipeline::new(engine, source, executor(&world, None));

    world.moto.start_recording();
    let event = fixture("iot-button-single.json");
    let record = succeeded(
        pipeline
            .press(PressRequest::new("req-single", &event))
            .await,
    );
    let recording = world.moto.stop_recording();

    let invoked = invocations(&recording);
    assert_eq!(invoked.len(), 1, "exactly one Invoke: {recording:#?}");
    let call = invoked[0];
    assert_eq!(call.invoked_function(), Some("scheduled_snapshot"));
    assert_eq!(call.query("Qualifier"), Some("prod"));
    assert_eq!(
        call.header("X-Amz-Invocation-Type"),
        Some("RequestResponse")
    );
    assert_eq!(
        std::str::from_utf8(&call.body).unwrap(),
        r#"{"region":"us-west-1"}"#
    );

    assert!(record.executed);
    let guest = guest(&record);
    assert_eq!(guest.uri, "s3://clickrules-guests/default.wasm");
    assert_eq!(guest.sha256, sha256_hex(clickrules_builtin::DEFAULT_GUEST));
    assert_eq!(guest.etag, etag);
    // Fetched at open; the press's conditional GET is answered 304.
    assert_eq!(guest.fetch, FetchKind::NotModified);
    assert_eq!(record.outcomes.len(), 1);
    assert_eq!(record.outcomes[0].status, OutcomeStatus::Done);
    assert!(
        matches!(
            record.outcomes[0].receipt,
            Some(Receipt::Invoked {
                status_code: 200,
                ..
            })
        ),
        "{:?}",
        record.outcomes[0]
    );
    let json = json(&record);
    assert_eq!(json["request_id"], "req-single");
    assert_eq!(json["ok"], true);
    assert_eq!(json["guest"]["uri"], "s3://clickrules-guests/default.wasm");
    assert_eq!(json["guest"]["etag"], serde_json::json!(etag));
    assert_eq!(json["guest"]["fetch"], "not_modified");
    assert_eq!(json["decision"]["actions"][0]["kind"], "snapshot");
    assert_eq!(json["decision"]["actions"][0]["region"], "us-west-1");
    assert_eq!(json["outcomes"][0]["status"], "done");
    assert_eq!(json["outcomes"][0]["receipt"]["kind"], "invoked");
    assert_eq!(json["outcomes"][0]["receipt"]["status_code"], 200);
}

/// Swapping the object changes the next press's actions with no restart; an unchanged object
/// is answered 304 and nothing is recompiled.
#[tokio::test]
async fn an_upload_takes_effect_on_the_next_press_and_304_keeps_the_compiled_guest() {
    let Some(world) = World::start("an_upload_takes_effect_on_the_next_press").await else {
        return;
    };
    world.bucket(BUCKET, true).await;
    world.snapshot_function("scheduled_snapshot").await;
    let uri = guest_uri("rule.wasm");
    let (_, v1) = world.upload(&uri, clickrules_builtin::DEFAULT_GUEST).await;
    assert!(v1.is_some(), "the bucket is versioned");

    let engine = engine();
    let source = s3_source(&world, &engine, &uri).await;
    let pipeline = Pipeline::new(engine, source, executor(&world, None));
    let double = fixture("iot-button-double.json");

    // Unchanged object: a conditional GET, 304, the same compiled guest.
    world.moto.start_recording();
    let record = succeeded(
        pipeline
            .press(PressRequest::new("req-unchanged", &double))
            .await,
    );
    let recording = world.moto.stop_recording();
    assert_eq!(guest(&record).fetch, FetchKind::NotModified);
    let get = recording
        .iter()
        .find(|r| r.method == "GET" && r.path.ends_with("/rule.wasm"))
        .expect("a GetObject per press");
    assert!(get.header("If-None-Match").is_some(), "{get:?}");
    assert_eq!(
        invocations(&recording)[0].body,
        br#"{"region":"us-west-1"}"#
    );
    assert_eq!(guest(&record).version_id, v1);
    assert_eq!(json(&record)["guest"]["version_id"], serde_json::json!(v1));
    let stats = pipeline.source().stats();
    assert_eq!(
        (stats.downloads, stats.not_modified, stats.compiles),
        (1, 1, 1)
    );

    // v2: the by-click guest backs up the second region on DOUBLE.
    let v2_bytes = guest_bytes(guests::BY_CLICK);
    let (_, v2) = world.upload(&uri, &v2_bytes).await;
    assert_ne!(v1, v2);
    world.moto.start_recording();
    let record = succeeded(
        pipeline
            .press(PressRequest::new("req-swapped", &double))
            .await,
    );
    let recording = world.moto.stop_recording();
    assert_eq!(guest(&record).fetch, FetchKind::Downloaded);
    assert_eq!(guest(&record).sha256, sha256_hex(&v2_bytes));
    assert_eq!(guest(&record).version_id, v2);
    let json = json(&record);
    assert_eq!(json["guest"]["fetch"], "downloaded");
    assert_eq!(json["guest"]["version_id"], serde_json::json!(v2));
    assert_eq!(json["decision"]["actions"][0]["region"], "us-east-1");
    let invoked = invocations(&recording);
    assert_eq!(invoked.len(), 1);
    assert_eq!(invoked[0].body, br#"{"region":"us-east-1"}"#);
    assert_eq!(pipeline.source().stats().compiles, 2);

    // And v2 stays, revalidated, without another compile.
    let record = succeeded(
        pipeline
            .press(PressRequest::new("req-again", &double))
            .await,
    );
    assert_eq!(guest(&record).fetch, FetchKind::NotModified);
    assert_eq!(guest(&record).version_id, v2);
    assert_eq!(pipeline.source().stats().compiles, 2);
}

/// A broken upload is downloaded and tried once; after that each press asks S3 about it by
/// ETag and fails at once on the 304, with no download and no compile. A new upload is tried
/// again, and a fix back to the good guest works on its next press without a compile.
#[tokio::test]
async fn a_failed_upload_is_remembered_and_not_fetched_or_compiled_again() {
    let Some(world) = World::start("a_failed_upload_is_remembered").await else {
        return;
    };
    world.bucket(BUCKET, true).await;
    world.snapshot_function("scheduled_snapshot").await;
    let uri = guest_uri("rule.wasm");
    let good = clickrules_builtin::DEFAULT_GUEST;
    world.upload(&uri, good).await;
    let engine = engine();
    let source = s3_source(&world, &engine, &uri).await;
    let pipeline = Pipeline::new(engine.clone(), source, executor(&world, None));
    let single = fixture("iot-button-single.json");

    // Half a component: it has the \0asm header, so the engine really tries to compile it.
    let broken = &good[..good.len() / 2];
    let (broken_etag, _) = world.upload(&uri, broken).await;
    world.moto.start_recording();
    let mut errors = Vec::new();
    for press in 0..3 {
        let id = format!("req-broken-{press}");
        let (failure, record) = failed(pipeline.press(PressRequest::new(&id, &single)).await);
        assert!(record.decision.is_none() && record.outcomes.is_empty());
        assert_eq!(json(&record)["failure"]["kind"], "guest_source");
        errors.push(source_error(&failure).clone());
    }
    let recording = world.moto.stop_recording();
    assert!(
        matches!(
            &errors[0],
            GuestSourceError::Load {
                error: LoadError::Invalid { .. },
                ..
            }
        ),
        "{:?}",
        errors[0]
    );
    assert_eq!(errors[1], errors[0], "the remembered error");
    assert_eq!(errors[2], errors[0], "the remembered error");
    assert!(engine.cached(&sha256_hex(broken)).is_none());
    let gets: Vec<_> = recording
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/rule.wasm"))
        .collect();
    assert_eq!(gets.len(), 3, "one GET per press: {recording:#?}");
    for get in &gets[1..] {
        assert_eq!(get.header("If-None-Match"), broken_etag.as_deref());
    }
    assert!(invocations(&recording).is_empty(), "nothing ran");
    let stats = pipeline.source().stats();
    assert_eq!(
        (
            stats.downloads,
            stats.not_modified,
            stats.failed_loads,
            stats.remembered_failures,
            stats.compiles
        ),
        (2, 2, 1, 2, 1),
        "one download and one failed compile of the broken object, then two 304s"
    );

    // A new upload is fetched and tried.
    world.upload(&uri, &guest_bytes(guests::BY_CLICK)).await;
    let record = succeeded(pipeline.press(PressRequest::new("req-new", &single)).await);
    assert_eq!(guest(&record).fetch, FetchKind::Downloaded);
    assert_eq!(pipeline.source().stats().compiles, 2);

    // Another broken upload, then the fix back to the first guest: it runs on its next press,
    // from the engine's cache.
    world.upload(&uri, broken).await;
    let (failure, _) = failed(
        pipeline
            .press(PressRequest::new("req-broken-again", &single))
            .await,
    );
    assert_eq!(source_error(&failure), &errors[0]);
    let (_, fixed_version) = world.upload(&uri, good).await;
    let record = succeeded(
        pipeline
            .press(PressRequest::new("req-fixed", &single))
            .await,
    );
    let guest = guest(&record);
    assert_eq!(guest.fetch, FetchKind::Downloaded);
    assert_eq!(guest.sha256, sha256_hex(good));
    assert_eq!(guest.version_id, fixed_version);
    assert_eq!(pipeline.source().stats().compiles, 2, "nothing recompiled");
}

/// Re-uploading the same bytes makes a new version with the same ETag: S3 answers the
/// conditional GET with 304, and the record names the new version, with nothing recompiled.
#[tokio::test]
async fn a_reupload_of_the_same_bytes_is_recorded_under_its_new_version() {
    let Some(world) = World::start("a_reupload_of_the_same_bytes").await else {
        return;
    };
    world.bucket(BUCKET, true).await;
    world.snapshot_function("scheduled_snapshot").await;
    let uri = guest_uri("rule.wasm");
    let bytes = clickrules_builtin::DEFAULT_GUEST;
    let (etag1, v1) = world.upload(&uri, bytes).await;
    let engine = engine();
    let source = s3_source(&world, &engine, &uri).await;
    let pipeline = Pipeline::new(engine, source, executor(&world, None));
    let single = fixture("iot-button-single.json");
    let record = succeeded(pipeline.press(PressRequest::new("req-v1", &single)).await);
    assert_eq!(guest(&record).version_id, v1);

    let (etag2, v2) = world.upload(&uri, bytes).await;
    assert_eq!(etag2, etag1, "the same bytes, the same ETag");
    assert_ne!(v2, v1, "a new version");
    let record = succeeded(pipeline.press(PressRequest::new("req-v2", &single)).await);
    let guest = guest(&record);
    assert_eq!(guest.fetch, FetchKind::NotModified);
    assert_eq!(guest.version_id, v2);
    assert_eq!(guest.etag, etag1);
    let json = json(&record);
    assert_eq!(json["guest"]["version_id"], serde_json::json!(v2));
    assert_eq!(json["guest"]["fetch"], "not_modified");
    let stats = pipeline.source().stats();
    assert_eq!(
        (stats.downloads, stats.compiles),
        (1, 1),
        "nothing recompiled"
    );
}

/// A missing object fails init, and fails a press once deleted, even with the built-in
/// fallback (the store, not the guest, is at fault); a broken upload fails the press instead of
/// running the previous guest. Nothing is invoked. With `CLICKRULES_ON_GUEST_ERROR=builtin` the
/// broken upload (the guest's own fault) is decided by the built-in guest instead, and the
/// record says so.
#[tokio::test]
async fn missing_object_and_broken_upload_fail_the_press_clearly() {
    let Some(world) = World::start("missing_object_and_broken_upload_fail_the_press_clearly").await
    else {
        return;
    };
    world.bucket(BUCKET, false).await;
    world.snapshot_function("scheduled_snapshot").await;
    let uri = guest_uri("rule.wasm");
    let engine = engine();

    let missing = S3GuestSource::open(engine.clone(), world.clients.s3.clone(), uri.clone()).await;
    assert!(
        matches!(
            missing,
            Err(GuestSourceError::Fetch(FetchError::NotFound { .. }))
        ),
        "{missing:?}"
    );
    let no_bucket = S3GuestSource::open(
        engine.clone(),
        world.clients.s3.clone(),
        S3Uri {
            bucket: "no-such-bucket".into(),
            key: "rule.wasm".into(),
        },
    )
    .await;
    assert!(
        matches!(
            no_bucket,
            Err(GuestSourceError::Fetch(FetchError::NotFound { .. }))
        ),
        "{no_bucket:?}"
    );

    // The previous guest is the by-click one, so running it would show.
    world.upload(&uri, &guest_bytes(guests::BY_CLICK)).await;
    let strict = Pipeline::new(
        engine.clone(),
        s3_source(&world, &engine, &uri).await,
        executor(&world, None),
    );
    let builtin = open_builtin(&engine).expect("the built-in guest loads");
    let rescuing = Pipeline::new(
        engine.clone(),
        s3_source(&world, &engine, &uri).await,
        executor(&world, None),
    )
    .with_fallback(Some(builtin.current_guest().clone()));
    let single = fixture("iot-button-single.json");

    world.delete(&uri).await;
    world.moto.start_recording();
    let (failure, record) = failed(
        strict
            .press(PressRequest::new("req-deleted", &single))
            .await,
    );
    assert!(
        matches!(
            source_error(&failure),
            GuestSourceError::Fetch(FetchError::NotFound { .. })
        ),
        "{failure:?}"
    );
    assert!(record.guest.is_none() && record.decision.is_none());
    // A missing object is not the guest's fault: the fallback does not hide it.
    let (failure, record) = failed(
        rescuing
            .press(PressRequest::new("req-deleted-fallback", &single))
            .await,
    );
    assert!(
        matches!(
            source_error(&failure),
            GuestSourceError::Fetch(FetchError::NotFound { .. })
        ),
        "{failure:?}"
    );
    assert!(record.fallback.is_none() && record.decision.is_none());

    world.upload(&uri, b"<Error>half an upload</Error>").await;
    let (failure, record) = failed(strict.press(PressRequest::new("req-broken", &single)).await);
    assert!(
        matches!(
            source_error(&failure),
            GuestSourceError::Load {
                error: LoadError::NotWasm,
                ..
            }
        ),
        "{failure:?}"
    );
    assert!(record.guest.is_none() && record.decision.is_none());
    assert!(record.outcomes.is_empty());
    let recording = world.moto.stop_recording();
    assert!(
        invocations(&recording).is_empty(),
        "nothing ran: {recording:#?}"
    );

    // The same broken upload with the fallback: the built-in guest decides, never the
    // previous guest, and the record names the failure it stood in for.
    world.moto.start_recording();
    let record = succeeded(
        rescuing
            .press(PressRequest::new("req-broken-fallback", &single))
            .await,
    );
    let recording = world.moto.stop_recording();
    assert_eq!(guest(&record).uri, "builtin:default");
    assert_eq!(guest(&record).fetch, FetchKind::Fixed);
    let fallback = record
        .fallback
        .as_ref()
        .expect("the record names the fallback");
    assert!(fallback.failed_guest.is_none(), "{fallback:?}");
    assert_eq!(fallback.error.kind, "guest_source.load");
    let invoked = invocations(&recording);
    assert_eq!(invoked.len(), 1, "{recording:#?}");
    assert_eq!(invoked[0].body, br#"{"region":"us-west-1"}"#);
}

/// A press that notifies, on a deployment without a topic, fails before anything runs: the
/// snapshot listed before the notification is not invoked either.
#[tokio::test]
async fn notify_without_a_topic_fails_before_anything_runs() {
    let Some(world) = World::start("notify_without_a_topic_fails_before_anything_runs").await
    else {
        return;
    };
    world.bucket(BUCKET, false).await;
    world.snapshot_function("scheduled_snapshot").await;
    let uri = guest_uri("actions.wasm");
    world.upload(&uri, &guest_bytes(guests::ACTIONS)).await;
    let engine = engine_with(&[(
        "actions",
        "snapshot:us-west-1;notify:Backup|Started a backup",
    )]);
    let source = s3_source(&world, &engine, &uri).await;
    let pipeline = Pipeline::new(engine, source, executor(&world, None));

    world.moto.start_recording();
    let event = fixture("iot-button-single.json");
    let result = pipeline
        .press(PressRequest::new("req-no-topic", &event))
        .await;
    let recording = world.moto.stop_recording();
    // It fails the same way on every retry; without a dead-letter queue the invocation fails.
    assert_eq!(result.disposition, Disposition::Fail);
    let (failure, record) = failed(result);
    assert!(
        matches!(
            failure,
            Failure::Preflight(PreflightError::NoTopic { count: 1 })
        ),
        "{failure:?}"
    );
    assert!(!failure.is_retryable());
    assert_eq!(record.actions().len(), 2, "the decision is recorded");
    assert!(record.outcomes.is_empty());
    assert_eq!(json(&record)["failure"]["kind"], "preflight");
    assert!(
        invocations(&recording).is_empty(),
        "nothing ran: {recording:#?}"
    );
    assert!(
        !recording
            .iter()
            .any(|r| r.body.windows(7).any(|w| w == b"Publish")),
        "nothing was published"
    );
}

/// `notify` publishes subject and message; an SQS subscriber receives them.
#[tokio::test]
async fn notify_is_published_to_sns_and_read_back_through_sqs() {
    let Some(world) = World::start("notify_is_published_to_sns_and_read_back_through_sqs").await
    else {
        return;
    };
    world.bucket(BUCKET, false).await;
    let uri = guest_uri("by-click.wasm");
    world.upload(&uri, &guest_bytes(guests::BY_CLICK)).await;
    let (topic_arn, raw_queue, envelope_queue) = world.topic_with_queues("presses").await;
    let engine = engine();
    let source = s3_source(&world, &engine, &uri).await;
    let pipeline = Pipeline::new(engine, source, executor(&world, Some(topic_arn.clone())));

    let event = fixture("iot-button-long.json");
    let record = succeeded(pipeline.press(PressRequest::new("req-long", &event)).await);
    let subject = "Button G030JF055364XVRB held";
    let message = "Button G030JF055364XVRB was held (LONG press). No backup was started.";
    match &record.outcomes[..] {
        [outcome] => {
            assert_eq!(outcome.status, OutcomeStatus::Done);
            match &outcome.receipt {
                Some(Receipt::Published {
                    topic_arn: published_to,
                    message_id: Some(_),
                }) => assert_eq!(published_to, &topic_arn),
                other => panic!("expected a publish receipt, got {other:?}"),
            }
        }
        other => panic!("expected one outcome, got {other:?}"),
    }
    let json = json(&record);
    assert_eq!(json["decision"]["actions"][0]["kind"], "notify");
    assert_eq!(json["decision"]["actions"][0]["subject"], subject);
    assert_eq!(json["outcomes"][0]["status"], "done");
    assert_eq!(json["outcomes"][0]["receipt"]["kind"], "published");

    assert_eq!(world.messages(&raw_queue).await, [message]);
    let envelopes = world.messages(&envelope_queue).await;
    assert_eq!(envelopes.len(), 1);
    let envelope: Value = serde_json::from_str(&envelopes[0]).unwrap();
    assert_eq!(envelope["Subject"], subject);
    assert_eq!(envelope["Message"], message);
    // The press and action travel with the message, so a subscriber can drop a repeat.
    assert_eq!(
        envelope["MessageAttributes"][clickrules_aws::PRESS_ATTRIBUTE]["Value"],
        "req-long#1",
        "{envelope}"
    );
}

/// An unqualified, queued invoke: no `Qualifier` at all, `Event` type, 202.
#[tokio::test]
async fn unqualified_event_invocation() {
    let Some(world) = World::start("unqualified_event_invocation").await else {
        return;
    };
    world.bucket(BUCKET, false).await;
    world.snapshot_function("backup").await;
    let uri = guest_uri("default.wasm");
    world.upload(&uri, clickrules_builtin::DEFAULT_GUEST).await;
    let engine = engine_with(&[("region", "eu-west-1")]);
    let source = s3_source(&world, &engine, &uri).await;
    let targets = ActionTargets {
        snapshot: SnapshotTarget {
            function: "backup".into(),
            qualifier: None,
            invocation_type: InvocationType::Event,
        },
        topic_arn: None,
    };
    let executor = AwsExecutor::from_parts(
        world.clients.lambda.clone(),
        world.clients.sns.clone(),
        targets,
    );
    let pipeline = Pipeline::new(engine, source, executor);

    world.moto.start_recording();
    let event = fixture("iot-1-click.json");
    let record = succeeded(pipeline.press(PressRequest::new("req-event", &event)).await);
    let recording = world.moto.stop_recording();
    let invoked = invocations(&recording);
    assert_eq!(invoked.len(), 1);
    assert_eq!(invoked[0].invoked_function(), Some("backup"));
    assert_eq!(invoked[0].query("Qualifier"), None);
    assert_eq!(invoked[0].header("X-Amz-Invocation-Type"), Some("Event"));
    assert_eq!(invoked[0].body, br#"{"region":"eu-west-1"}"#);
    assert!(
        matches!(
            record.outcomes[0].receipt,
            Some(Receipt::Invoked {
                status_code: 202,
                ..
            })
        ),
        "{:?}",
        record.outcomes[0]
    );
    let json = json(&record);
    assert_eq!(json["outcomes"][0]["receipt"]["invocation_type"], "Event");
    assert!(json["outcomes"][0]["receipt"].get("qualifier").is_none());
}

/// A press whose guest is served from moto and whose Lambda API is a stub answering `answer`.
async fn press_against_stub_lambda(
    test: &str,
    status: u16,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(PressResult, StubServer)> {
    let world = World::start(test).await?;
    world.bucket(BUCKET, false).await;
    let uri = guest_uri("default.wasm");
    world.upload(&uri, clickrules_builtin::DEFAULT_GUEST).await;
    let stub = StubServer::start(status, headers, body);
    let lambda = aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::config::Builder::from(&world.config)
            .endpoint_url(stub.endpoint())
            .build(),
    );
    let executor =
        AwsExecutor::from_parts(lambda, world.clients.sns.clone(), ActionTargets::default());
    let engine = engine();
    let source = s3_source(&world, &engine, &uri).await;
    let pipeline = Pipeline::new(engine, source, executor);
    let event = fixture("iot-button-single.json");
    let result = pipeline.press(PressRequest::new(test, &event)).await;
    assert!(result.failure.is_some(), "the press fails");
    Some((result, stub))
}

/// The snapshot function ran and failed: reported with its payload, and the press fails.
#[tokio::test]
async fn a_function_error_fails_the_press() {
    let Some((result, _stub)) = press_against_stub_lambda(
        "a_function_error_fails_the_press",
        200,
        &[
            ("X-Amz-Function-Error", "Unhandled"),
            ("Content-Type", "application/json"),
        ],
        r#"{"errorMessage":"no volumes to snapshot"}"#,
    )
    .await
    else {
        return;
    };
    assert_eq!(result.disposition, Disposition::Fail);
    let (failure, record) = failed(result);
    match &failure {
        Failure::Actions {
            failed: 1,
            total: 1,
            first: ActionError::FunctionError { error, payload, .. },
            retryable: false,
        } => {
            assert_eq!(error, "Unhandled");
            assert!(payload.contains("no volumes to snapshot"), "{payload}");
        }
        other => panic!("expected a function error, got {other:?}"),
    }
    assert_eq!(record.outcomes.len(), 1);
    assert_eq!(record.outcomes[0].status, OutcomeStatus::Failed);
    let json = json(&record);
    assert_eq!(json["outcomes"][0]["status"], "failed");
    assert_eq!(json["outcomes"][0]["error"]["kind"], "function_error");
    assert_eq!(json["outcomes"][0]["error"]["retryable"], false);
    assert_eq!(json["failure"]["kind"], "actions");
}

/// A throttled invoke is retried by the SDK, then reported as throttled; the press fails.
#[tokio::test]
async fn a_throttled_invoke_fails_the_press() {
    let Some((result, stub)) = press_against_stub_lambda(
        "a_throttled_invoke_fails_the_press",
        429,
        &[
            ("x-amzn-ErrorType", "TooManyRequestsException"),
            ("Content-Type", "application/json"),
        ],
        r#"{"message":"Rate exceeded","Reason":"ReservedFunctionConcurrentInvocationLimitExceeded"}"#,
    )
    .await
    else {
        return;
    };
    assert_eq!(result.disposition, Disposition::Fail);
    let (failure, _) = failed(result);
    match &failure {
        Failure::Actions {
            first: first @ ActionError::Throttled { .. },
            retryable: true,
            ..
        } => assert!(first.is_retryable()),
        other => panic!("expected a throttled invoke, got {other:?}"),
    }
    assert!(failure.is_retryable());
    assert!(stub.requests() >= 1);
}

/// Publishing to a topic that does not exist is refused by SNS; the press fails.
#[tokio::test]
async fn a_refused_publish_fails_the_press() {
    let Some(world) = World::start("a_refused_publish_fails_the_press").await else {
        return;
    };
    world.bucket(BUCKET, false).await;
    let uri = guest_uri("by-click.wasm");
    world.upload(&uri, &guest_bytes(guests::BY_CLICK)).await;
    let engine = engine();
    let source = s3_source(&world, &engine, &uri).await;
    let missing_topic = format!("arn:aws:sns:us-east-1:{}:missing", moto::ACCOUNT);
    let pipeline = Pipeline::new(engine, source, executor(&world, Some(missing_topic)));
    let event = fixture("iot-button-long.json");
    let result = pipeline
        .press(PressRequest::new("req-missing-topic", &event))
        .await;
    // No retry can fix it, but without a dead-letter queue the invocation fails.
    assert_eq!(result.disposition, Disposition::Fail);
    let (failure, record) = failed(result);
    match &failure {
        Failure::Actions {
            failed: 1,
            total: 1,
            first:
                ActionError::Refused {
                    operation: "sns:Publish",
                    ..
                },
            retryable: false,
        } => {}
        other => panic!("expected a refused publish, got {other:?}"),
    }
    assert!(!record.dead_lettered);
    assert_eq!(json(&record)["outcomes"][0]["error"]["kind"], "refused");
}

/// A press no retry can fix (its only action is refused: the topic does not exist), with the
/// SQS dead-letter queue configured: the press is sent there once, in the shape of Lambda's
/// own on-failure record, and the invocation is done, so Lambda does not retry it.
#[tokio::test]
async fn a_press_no_retry_can_fix_is_sent_to_the_sqs_dead_letter_queue() {
    let Some(world) =
        World::start("a_press_no_retry_can_fix_is_sent_to_the_sqs_dead_letter_queue").await
    else {
        return;
    };
    let queue_url = world.queue("clickrules-dead-letters").await;
    let engine = engine();
    let source = FixedGuest::from_bytes(&engine, &guest_bytes(guests::BY_CLICK), guests::BY_CLICK)
        .expect("the by-click guest loads");
    let missing_topic = format!("arn:aws:sns:us-east-1:{}:missing", moto::ACCOUNT);
    let pipeline =
        Pipeline::new(engine, source, executor(&world, Some(missing_topic))).with_dead_letters(
            SqsDeadLetters::new(world.clients.sqs.clone(), queue_url.clone()),
        );

    let event = fixture("iot-button-long.json");
    let result = pipeline
        .press(PressRequest::new("req-dead-letter", &event))
        .await;
    assert_eq!(result.disposition, Disposition::DeadLettered);
    assert!(result.record.dead_lettered && !result.record.ok);
    match &result.failure {
        Some(Failure::Actions {
            failed: 1,
            total: 1,
            first:
                ActionError::Refused {
                    operation: "sns:Publish",
                    code,
                    ..
                },
            retryable: false,
        }) => assert_eq!(code.as_deref(), Some("NotFound")),
        other => panic!("expected a refused publish, got {other:?}"),
    }
    assert_eq!(json(&result.record)["dead_lettered"], true);

    let messages = world.messages(&queue_url).await;
    assert_eq!(messages.len(), 1, "exactly one dead letter: {messages:?}");
    let body: Value = serde_json::from_str(&messages[0]).expect("the dead letter is JSON");
    assert_eq!(body["requestContext"]["condition"], "NonRetryableFailure");
    assert_eq!(body["requestContext"]["requestId"], "req-dead-letter");
    assert_eq!(body["requestContext"]["approximateInvokeCount"], 1);
    assert!(body["requestContext"]["functionArn"].is_null(), "{body}");
    let sent: Value = serde_json::from_slice(&event).unwrap();
    assert_eq!(body["requestPayload"], sent, "the event as delivered");
    assert_eq!(
        body["responseContext"]["functionError"],
        "clickrules.actions"
    );
    let record = &body["responsePayload"];
    assert_eq!(record["failure"]["kind"], "actions");
    assert_eq!(record["failure"]["retryable"], false);
    assert_eq!(record["ok"], false);
    assert_eq!(record["request_id"], "req-dead-letter");
    assert_eq!(record["decision"]["actions"][0]["kind"], "notify");
    assert_eq!(record["outcomes"][0]["status"], "failed");
    assert_eq!(record["outcomes"][0]["error"]["kind"], "refused");
    // The record in the message is a press record: it parses back.
    let _: PressRecord = serde_json::from_value(record.clone()).expect("a press record");
}

/// S3 unreachable after the cold start: the cached guest runs, and the record says it is stale
/// and why.
#[tokio::test]
async fn unreachable_s3_runs_the_cached_guest_marked_stale() {
    let Some(mut world) = World::start("unreachable_s3_runs_the_cached_guest_marked_stale").await
    else {
        return;
    };
    world.bucket(BUCKET, false).await;
    let uri = guest_uri("actions.wasm");
    let bytes = guest_bytes(guests::ACTIONS);
    let (etag, _) = world.upload(&uri, &bytes).await;
    // Only `ignore`, so the press needs nothing but S3.
    let engine = engine_with(&[("actions", "ignore:testing")]);
    let source = s3_source(&world, &engine, &uri).await;
    let pipeline = Pipeline::new(engine, source, executor(&world, None));

    world.moto.stop();
    let event = fixture("iot-button-single.json");
    let record = succeeded(pipeline.press(PressRequest::new("req-stale", &event)).await);
    let guest = guest(&record);
    assert_eq!(guest.fetch, FetchKind::Stale);
    let why = guest.stale.as_deref().expect("the record says why");
    assert_eq!(guest.sha256, sha256_hex(&bytes));
    assert_eq!(guest.etag, etag);
    assert_eq!(record.outcomes[0].receipt, Some(Receipt::Logged));
    assert_eq!(record.outcomes[0].status, OutcomeStatus::Done);
    let json = json(&record);
    assert_eq!(json["guest"]["fetch"], "stale");
    assert_eq!(json["guest"]["stale"], why);
    assert_eq!(json["decision"]["actions"][0]["kind"], "ignore");
    assert_eq!(json["outcomes"][0]["receipt"]["kind"], "logged");
    assert_eq!(pipeline.source().stats().stale, 1);
}

/// An S3 client whose endpoint is a stub answering every request with `status` and `body`.
async fn open_against_stub_s3(
    status: u16,
    body: &str,
) -> Result<S3GuestSource<aws_sdk_s3::Client>, GuestSourceError> {
    let stub = StubServer::start(status, &[("Content-Type", "application/xml")], body);
    let config = clickrules_aws::config_loader()
        .region(aws_config::Region::new(moto::REGION))
        .endpoint_url(stub.endpoint())
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "stub",
        ))
        .load()
        .await;
    let clients = clickrules_aws::AwsClients::from_sdk_config(&config, true);
    let result = S3GuestSource::open(engine(), clients.s3, guest_uri("rule.wasm")).await;
    assert!(stub.requests() >= 1);
    result
}

/// A 503 from S3 is transient; at cold start there is nothing cached, so it is an error.
#[tokio::test]
async fn s3_unavailable_at_cold_start_is_a_transient_error() {
    let result = open_against_stub_s3(
        503,
        "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
    )
    .await;
    assert!(
        matches!(
            result,
            Err(GuestSourceError::Fetch(FetchError::Transient { .. }))
        ),
        "{result:?}"
    );
}

/// A role without `s3:GetObject` gets a clear access-denied error, not a retry.
#[tokio::test]
async fn access_denied_is_a_clear_error() {
    let result = open_against_stub_s3(
        403,
        "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
    )
    .await;
    assert!(
        matches!(
            result,
            Err(GuestSourceError::Fetch(FetchError::AccessDenied { .. }))
        ),
        "{result:?}"
    );
}

/// `compose` builds a deployment's pipeline from its settings. A dry run of a local guest needs
/// no AWS clients (so no AWS configuration from the environment): every check is made, nothing
/// runs, and the record goes to the sink. (`Mode::Execute` builds its clients with
/// `AwsClients::from_env`, which reads the process environment; it is not tested here.)
#[tokio::test]
async fn compose_builds_a_dry_run_pipeline_from_settings_without_aws() {
    let topic = format!("arn:aws:sns:us-east-1:{}:presses", moto::ACCOUNT);
    let settings = Settings::from_env([
        ("CLICKRULES_GUEST", guests::BY_CLICK),
        ("CLICKRULES_NOTIFY_TOPIC_ARN", topic.as_str()),
        ("CLICKRULES_ON_GUEST_ERROR", "builtin"),
    ])
    .expect("valid settings");
    let composed = compose(&settings, Mode::DryRun, MemorySink::new())
        .await
        .expect("the pipeline is built");
    assert!(composed.clients.is_none(), "a local dry run needs no AWS");
    let pipeline = &composed.pipeline;

    let event = fixture("iot-button-long.json");
    let record = succeeded(pipeline.press(PressRequest::new("req-dry", &event)).await);
    assert!(!record.executed);
    assert_eq!(guest(&record).uri, guests::BY_CLICK);
    assert_eq!(guest(&record).fetch, FetchKind::Fixed);
    assert_eq!(record.outcomes[0].status, OutcomeStatus::DryRun);
    assert_eq!(
        record.outcomes[0].receipt,
        Some(Receipt::WouldPublish { topic_arn: topic })
    );
    assert_eq!(pipeline.sink().records(), [record]);

    // Without a topic the dry run refuses the notification as the real executor would.
    let settings = Settings::from_env([("CLICKRULES_GUEST", guests::BY_CLICK)]).unwrap();
    let composed = compose(&settings, Mode::DryRun, MemorySink::new())
        .await
        .unwrap();
    let (failure, _) = failed(
        composed
            .pipeline
            .press(PressRequest::new("req-dry-no-topic", &event))
            .await,
    );
    assert!(
        matches!(
            failure,
            Failure::Preflight(PreflightError::NoTopic { count: 1 })
        ),
        "{failure:?}"
    );
}
