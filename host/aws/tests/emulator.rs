//! The AWS edge against real AWS APIs (moto): guests from S3 with hot swap, `snapshot` as an
//! exact Lambda `Invoke`, `notify` read back through SQS, and every failure a failed press.

mod support;

use clickrules_aws::settings::InvocationType;
use clickrules_aws::{
    ActionError, AwsExecutor, Failure, FetchError, FetchKind, GuestSourceError, Handler,
    OnGuestError, PreflightError, PressFailed, Receipt, S3GuestSource, S3Uri, SnapshotTarget,
};
use clickrules_engine::{LoadError, sha256_hex};
use clickrules_tests::{fixture, guest_bytes, guests};
use support::{StubServer, World, engine, engine_with, invocations};

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
        SnapshotTarget::default(),
        topic,
    )
}

/// The issue's first "done when": a SINGLE press through the handler, default guest from S3,
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
    let source = S3GuestSource::open(engine.clone(), world.clients.s3.clone(), uri.clone())
        .await
        .expect("the guest loads from S3");
    let handler = Handler::new(engine, source, executor(&world, None), OnGuestError::Fail).unwrap();

    world.moto.start_recording();
    let record = handler
        .handle("req-single", &fixture("iot-button-single.json"))
        .await
        .expect("the press succeeds");
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

    assert!(record.ok);
    let decision = record.decision.as_ref().unwrap();
    assert_eq!(
        decision.guest.uri.as_deref(),
        Some("s3://clickrules-guests/default.wasm")
    );
    assert_eq!(
        decision.guest.sha256,
        sha256_hex(clickrules_builtin::DEFAULT_GUEST)
    );
    assert_eq!(decision.guest.etag, etag);
    assert!(matches!(
        record.outcomes[0].result,
        Ok(Receipt::Invoked {
            status_code: 200,
            ..
        })
    ));
    let json: serde_json::Value = serde_json::from_str(&record.to_json()).unwrap();
    assert_eq!(json["request_id"], "req-single");
    assert_eq!(json["guest"]["etag"], serde_json::json!(etag));
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
    let source = S3GuestSource::open(engine.clone(), world.clients.s3.clone(), uri.clone())
        .await
        .unwrap();
    let handler = Handler::new(engine, source, executor(&world, None), OnGuestError::Fail).unwrap();
    let double = fixture("iot-button-double.json");

    // Unchanged object: a conditional GET, 304, the same compiled guest.
    world.moto.start_recording();
    let record = handler.handle("req-unchanged", &double).await.unwrap();
    let recording = world.moto.stop_recording();
    assert_eq!(record.guest_fetch, Some(FetchKind::NotModified));
    let get = recording
        .iter()
        .find(|r| r.method == "GET" && r.path.ends_with("/rule.wasm"))
        .expect("a GetObject per press");
    assert!(get.header("If-None-Match").is_some(), "{get:?}");
    assert_eq!(
        invocations(&recording)[0].body,
        br#"{"region":"us-west-1"}"#
    );
    let decision = record.decision.as_ref().unwrap();
    assert_eq!(decision.guest.version_id, v1);
    let stats = handler.source().stats();
    assert_eq!(
        (stats.downloads, stats.not_modified, stats.compiles),
        (1, 1, 1)
    );

    // v2: the by-click guest backs up the second region on DOUBLE.
    let v2_bytes = guest_bytes(guests::BY_CLICK);
    let (_, v2) = world.upload(&uri, &v2_bytes).await;
    assert_ne!(v1, v2);
    world.moto.start_recording();
    let record = handler.handle("req-swapped", &double).await.unwrap();
    let recording = world.moto.stop_recording();
    assert_eq!(record.guest_fetch, Some(FetchKind::Downloaded));
    let decision = record.decision.as_ref().unwrap();
    assert_eq!(decision.guest.sha256, sha256_hex(&v2_bytes));
    assert_eq!(decision.guest.version_id, v2);
    let invoked = invocations(&recording);
    assert_eq!(invoked.len(), 1);
    assert_eq!(invoked[0].body, br#"{"region":"us-east-1"}"#);
    assert_eq!(handler.source().stats().compiles, 2);

    // And v2 stays, revalidated, without another compile.
    let record = handler.handle("req-again", &double).await.unwrap();
    assert_eq!(record.guest_fetch, Some(FetchKind::NotModified));
    assert_eq!(record.decision.unwrap().guest.version_id, v2);
    assert_eq!(handler.source().stats().compiles, 2);
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
    let source = S3GuestSource::open(engine.clone(), world.clients.s3.clone(), uri.clone())
        .await
        .unwrap();
    let handler = Handler::new(
        engine.clone(),
        source,
        executor(&world, None),
        OnGuestError::Fail,
    )
    .unwrap();
    let single = fixture("iot-button-single.json");

    // Half a component: it has the \0asm header, so the engine really tries to compile it.
    let broken = &good[..good.len() / 2];
    let (broken_etag, _) = world.upload(&uri, broken).await;
    world.moto.start_recording();
    let mut failures = Vec::new();
    for press in 0..3 {
        let failed = handler
            .handle(&format!("req-broken-{press}"), &single)
            .await
            .unwrap_err();
        failures.push(failed.failure);
    }
    let recording = world.moto.stop_recording();
    assert!(
        matches!(
            &failures[0],
            Failure::GuestSource(GuestSourceError::Load {
                error: LoadError::Invalid { .. },
                ..
            })
        ),
        "{:?}",
        failures[0]
    );
    assert_eq!(failures[1], failures[0], "the remembered error");
    assert_eq!(failures[2], failures[0], "the remembered error");
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
    let stats = handler.source().stats();
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
    let record = handler.handle("req-new", &single).await.unwrap();
    assert_eq!(record.guest_fetch, Some(FetchKind::Downloaded));
    assert_eq!(handler.source().stats().compiles, 2);

    // Another broken upload, then the fix back to the first guest: it runs on its next press,
    // from the engine's cache.
    world.upload(&uri, broken).await;
    handler
        .handle("req-broken-again", &single)
        .await
        .unwrap_err();
    let (_, fixed_version) = world.upload(&uri, good).await;
    let record = handler.handle("req-fixed", &single).await.unwrap();
    assert_eq!(record.guest_fetch, Some(FetchKind::Downloaded));
    let guest = &record.decision.as_ref().unwrap().guest;
    assert_eq!(guest.sha256, sha256_hex(good));
    assert_eq!(guest.version_id, fixed_version);
    assert_eq!(handler.source().stats().compiles, 2, "nothing recompiled");
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
    let source = S3GuestSource::open(engine.clone(), world.clients.s3.clone(), uri.clone())
        .await
        .unwrap();
    let handler = Handler::new(engine, source, executor(&world, None), OnGuestError::Fail).unwrap();
    let single = fixture("iot-button-single.json");
    let record = handler.handle("req-v1", &single).await.unwrap();
    assert_eq!(record.decision.unwrap().guest.version_id, v1);

    let (etag2, v2) = world.upload(&uri, bytes).await;
    assert_eq!(etag2, etag1, "the same bytes, the same ETag");
    assert_ne!(v2, v1, "a new version");
    let record = handler.handle("req-v2", &single).await.unwrap();
    assert_eq!(record.guest_fetch, Some(FetchKind::NotModified));
    let guest = record.decision.unwrap().guest;
    assert_eq!(guest.version_id, v2);
    assert_eq!(guest.etag, etag1);
    let stats = handler.source().stats();
    assert_eq!(
        (stats.downloads, stats.compiles),
        (1, 1),
        "nothing recompiled"
    );
}

/// A missing object fails init, and fails a press once deleted; a broken upload fails the press
/// instead of running the previous guest. Nothing is invoked.
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

    world.upload(&uri, clickrules_builtin::DEFAULT_GUEST).await;
    let source = S3GuestSource::open(engine.clone(), world.clients.s3.clone(), uri.clone())
        .await
        .unwrap();
    let handler = Handler::new(
        engine,
        source,
        executor(&world, None),
        OnGuestError::Builtin,
    )
    .unwrap();
    let single = fixture("iot-button-single.json");

    world.delete(&uri).await;
    world.moto.start_recording();
    let failed = handler.handle("req-deleted", &single).await.unwrap_err();
    assert!(
        matches!(
            failed.failure,
            Failure::GuestSource(GuestSourceError::Fetch(FetchError::NotFound { .. }))
        ),
        "{:?}",
        failed.failure
    );
    assert!(failed.record.decision.is_none());

    world.upload(&uri, b"<Error>half an upload</Error>").await;
    let failed = handler.handle("req-broken", &single).await.unwrap_err();
    assert!(
        matches!(
            failed.failure,
            Failure::GuestSource(GuestSourceError::Load {
                error: LoadError::NotWasm,
                ..
            })
        ),
        "{:?}",
        failed.failure
    );
    let recording = world.moto.stop_recording();
    assert!(
        invocations(&recording).is_empty(),
        "nothing ran: {recording:#?}"
    );
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
    let source = S3GuestSource::open(engine.clone(), world.clients.s3.clone(), uri)
        .await
        .unwrap();
    let handler = Handler::new(engine, source, executor(&world, None), OnGuestError::Fail).unwrap();

    world.moto.start_recording();
    let failed = handler
        .handle("req-no-topic", &fixture("iot-button-single.json"))
        .await
        .unwrap_err();
    let recording = world.moto.stop_recording();
    assert!(
        matches!(
            failed.failure,
            Failure::Preflight(PreflightError::NoTopic { count: 1 })
        ),
        "{:?}",
        failed.failure
    );
    assert!(failed.record.outcomes.is_empty());
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
    let source = S3GuestSource::open(engine.clone(), world.clients.s3.clone(), uri)
        .await
        .unwrap();
    let handler = Handler::new(
        engine,
        source,
        executor(&world, Some(topic_arn.clone())),
        OnGuestError::Fail,
    )
    .unwrap();

    let record = handler
        .handle("req-long", &fixture("iot-button-long.json"))
        .await
        .expect("the press succeeds");
    let subject = "Button G030JF055364XVRB held";
    let message = "Button G030JF055364XVRB was held (LONG press). No backup was started.";
    match &record.outcomes[..] {
        [outcome] => match &outcome.result {
            Ok(Receipt::Published {
                topic_arn: published_to,
                message_id: Some(_),
            }) => assert_eq!(published_to, &topic_arn),
            other => panic!("expected a publish receipt, got {other:?}"),
        },
        other => panic!("expected one outcome, got {other:?}"),
    }

    assert_eq!(world.messages(&raw_queue).await, [message]);
    let envelopes = world.messages(&envelope_queue).await;
    assert_eq!(envelopes.len(), 1);
    let envelope: serde_json::Value = serde_json::from_str(&envelopes[0]).unwrap();
    assert_eq!(envelope["Subject"], subject);
    assert_eq!(envelope["Message"], message);
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
    let source = S3GuestSource::open(engine.clone(), world.clients.s3.clone(), uri)
        .await
        .unwrap();
    let target = SnapshotTarget {
        function: "backup".into(),
        qualifier: None,
        invocation_type: InvocationType::Event,
    };
    let executor = AwsExecutor::from_parts(
        world.clients.lambda.clone(),
        world.clients.sns.clone(),
        target,
        None,
    );
    let handler = Handler::new(engine, source, executor, OnGuestError::Fail).unwrap();

    world.moto.start_recording();
    let record = handler
        .handle("req-event", &fixture("iot-1-click.json"))
        .await
        .unwrap();
    let recording = world.moto.stop_recording();
    let invoked = invocations(&recording);
    assert_eq!(invoked.len(), 1);
    assert_eq!(invoked[0].invoked_function(), Some("backup"));
    assert_eq!(invoked[0].query("Qualifier"), None);
    assert_eq!(invoked[0].header("X-Amz-Invocation-Type"), Some("Event"));
    assert_eq!(invoked[0].body, br#"{"region":"eu-west-1"}"#);
    assert!(matches!(
        record.outcomes[0].result,
        Ok(Receipt::Invoked {
            status_code: 202,
            ..
        })
    ));
}

/// A press whose guest is served from moto and whose Lambda API is a stub answering `answer`.
async fn press_against_stub_lambda(
    test: &str,
    status: u16,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(PressFailed, StubServer)> {
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
    let executor = AwsExecutor::from_parts(
        lambda,
        world.clients.sns.clone(),
        SnapshotTarget::default(),
        None,
    );
    let engine = engine();
    let source = S3GuestSource::open(engine.clone(), world.clients.s3.clone(), uri)
        .await
        .unwrap();
    let handler = Handler::new(engine, source, executor, OnGuestError::Fail).unwrap();
    let failed = handler
        .handle(test, &fixture("iot-button-single.json"))
        .await
        .expect_err("the press fails");
    Some((failed, stub))
}

/// The snapshot function ran and failed: reported with its payload, and the press fails.
#[tokio::test]
async fn a_function_error_fails_the_press() {
    let Some((failed, _stub)) = press_against_stub_lambda(
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
    match &failed.failure {
        Failure::Actions {
            failed: 1,
            total: 1,
            first: ActionError::FunctionError { error, payload, .. },
        } => {
            assert_eq!(error, "Unhandled");
            assert!(payload.contains("no volumes to snapshot"), "{payload}");
        }
        other => panic!("expected a function error, got {other:?}"),
    }
    assert_eq!(failed.record.outcomes.len(), 1);
    let json: serde_json::Value = serde_json::from_str(&failed.record.to_json()).unwrap();
    assert_eq!(json["outcomes"][0]["error"]["kind"], "function_error");
}

/// A throttled invoke is retried by the SDK, then reported as throttled; the press fails.
#[tokio::test]
async fn a_throttled_invoke_fails_the_press() {
    let Some((failed, stub)) = press_against_stub_lambda(
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
    match &failed.failure {
        Failure::Actions {
            first: first @ ActionError::Throttled { .. },
            ..
        } => assert!(first.is_retryable()),
        other => panic!("expected a throttled invoke, got {other:?}"),
    }
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
    let source = S3GuestSource::open(engine.clone(), world.clients.s3.clone(), uri)
        .await
        .unwrap();
    let missing_topic = format!("arn:aws:sns:us-east-1:{}:missing", support::moto::ACCOUNT);
    let handler = Handler::new(
        engine,
        source,
        executor(&world, Some(missing_topic)),
        OnGuestError::Fail,
    )
    .unwrap();
    let failed = handler
        .handle("req-missing-topic", &fixture("iot-button-long.json"))
        .await
        .unwrap_err();
    match &failed.failure {
        Failure::Actions {
            failed: 1,
            total: 1,
            first:
                ActionError::Refused {
                    operation: "sns:Publish",
                    ..
                },
        } => {}
        other => panic!("expected a refused publish, got {other:?}"),
    }
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
    let source = S3GuestSource::open(engine.clone(), world.clients.s3.clone(), uri)
        .await
        .unwrap();
    let handler = Handler::new(engine, source, executor(&world, None), OnGuestError::Fail).unwrap();

    world.moto.stop();
    let record = handler
        .handle("req-stale", &fixture("iot-button-single.json"))
        .await
        .expect("the cached guest runs");
    assert_eq!(record.guest_fetch, Some(FetchKind::Stale));
    assert!(record.guest_stale.is_some());
    let decision = record.decision.as_ref().unwrap();
    assert_eq!(decision.guest.sha256, sha256_hex(&bytes));
    assert_eq!(decision.guest.etag, etag);
    assert!(matches!(record.outcomes[0].result, Ok(Receipt::Logged)));
    assert_eq!(handler.source().stats().stale, 1);
}

/// An S3 client whose endpoint is a stub answering every request with `status` and `body`.
async fn open_against_stub_s3(
    status: u16,
    body: &str,
) -> Result<S3GuestSource<aws_sdk_s3::Client>, GuestSourceError> {
    let stub = StubServer::start(status, &[("Content-Type", "application/xml")], body);
    let config = clickrules_aws::config_loader()
        .region(aws_config::Region::new(support::moto::REGION))
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
