//! AWS faults injected at the HTTP layer: S3, Lambda and SNS answering 5xx, throttling, access
//! denied, a function error, or nothing at all. Each test counts the SDK's attempts at the
//! server (retried per the SDK's standard policy, or not at all), then checks the documented
//! outcome: the press fails, the decision record lists each action's outcome with the reason,
//! and nothing reports success. Needs no emulator.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::{Region, SdkConfig};
use aws_sdk_s3::config::Credentials;
use clickrules_aws::{
    ArtifactPolicy, ArtifactUnavailable, AwsClients, AwsExecutor, FetchError, GuestSourceError,
    LoadOptions, MAX_ARTIFACT_BYTES, MAX_GUEST_OBJECT_BYTES, S3GuestSource, S3Uri,
};
use clickrules_engine::Engine;
use clickrules_pipeline::{
    ActionError, ActionTargets, Disposition, Failure, FetchKind, FixedGuest, GuestRecord,
    OutcomeStatus, Pipeline, PressRecord, PressRequest, PressResult, Receipt, SnapshotTarget,
};
use clickrules_test_support::engine_with;
use clickrules_test_support::scripted::{Reply, ScriptedServer};
use clickrules_tests::{fixture, guest_bytes, guests};
use serde_json::Value;

const TOPIC_ARN: &str = "arn:aws:sns:us-east-1:123456789012:presses";

/// SDK configuration for a scripted server: the same loader, retry and timeout defaults the
/// Lambda gets from `AwsClients::from_env`, only the endpoint and credentials are fixed.
async fn sdk_config(server: &ScriptedServer) -> SdkConfig {
    clickrules_aws::config_loader()
        .region(Region::new("us-east-1"))
        .endpoint_url(server.endpoint())
        .credentials_provider(Credentials::new("testing", "testing", None, None, "faults"))
        .load()
        .await
}

/// The clients the Lambda would build, all pointed at `server`.
async fn clients(server: &ScriptedServer) -> (AwsClients, usize) {
    let config = sdk_config(server).await;
    let attempts = config
        .retry_config()
        .map_or(1, |r| r.max_attempts() as usize);
    // The documented policy is the SDK's standard one: 3 attempts. Fault tests are only
    // meaningful if the SDK does retry.
    assert_eq!(attempts, 3, "the SDK's standard retry policy");
    (AwsClients::from_sdk_config(&config, true), attempts)
}

/// An executor whose Lambda API is `lambda` and whose SNS API is `sns`.
async fn executor(lambda: &ScriptedServer, sns: &ScriptedServer) -> (AwsExecutor, usize) {
    let (lambda_clients, attempts) = clients(lambda).await;
    let (sns_clients, _) = clients(sns).await;
    let executor = AwsExecutor::from_parts(
        lambda_clients.lambda,
        sns_clients.sns,
        ActionTargets {
            snapshot: SnapshotTarget::default(),
            topic_arn: Some(TOPIC_ARN.into()),
        },
    );
    (executor, attempts)
}

/// Presses once with the actions guest doing `actions`, against these Lambda and SNS servers.
async fn press(
    test: &str,
    actions: &str,
    lambda: &ScriptedServer,
    sns: &ScriptedServer,
) -> (PressResult, usize) {
    let engine = engine_with(&[("actions", actions)]);
    let source = FixedGuest::from_bytes(&engine, &guest_bytes(guests::ACTIONS), guests::ACTIONS)
        .expect("the actions guest loads");
    let (executor, attempts) = executor(lambda, sns).await;
    let pipeline = Pipeline::new(engine, source, executor);
    let event = fixture("iot-button-single.json");
    let result = pipeline.press(PressRequest::new(test, &event)).await;
    (result, attempts)
}

/// The record of a press that succeeded.
#[track_caller]
fn succeeded(result: PressResult) -> PressRecord {
    assert!(result.failure.is_none(), "{:?}", result.failure);
    assert!(result.record.ok);
    assert_eq!(result.disposition, Disposition::Done);
    result.record
}

/// The guest a record names.
#[track_caller]
fn guest(record: &PressRecord) -> &GuestRecord {
    record.guest.as_ref().expect("the record names the guest")
}

/// The documented outcome of a failed action: the press fails (so the invocation fails and
/// AWS retries, then dead-letters it), the record says `ok: false` and lists the action as
/// failed with `kind` and a message containing `reason`, and the invocation's error message
/// carries the reason too. Returns the record as JSON.
#[track_caller]
fn assert_action_failed(result: &PressResult, index: usize, kind: &str, reason: &str) -> Value {
    let Some(failure @ Failure::Actions { first, .. }) = &result.failure else {
        panic!("expected failed actions, got {:?}", result.failure);
    };
    assert_eq!(first.kind(), kind, "{first}");
    assert_eq!(
        result.disposition,
        Disposition::Fail,
        "the invocation fails (no dead-letter queue is configured)"
    );
    let record = &result.record;
    assert!(!record.ok);
    assert_eq!(record.failure, Some(failure.info()));
    let outcome = &record.outcomes[index];
    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.receipt.is_none());
    let error = outcome.error.as_ref().expect("the action failed");
    assert_eq!(error.kind, kind);
    assert!(error.message.contains(reason), "{error:?}");
    assert!(
        failure.to_string().contains(reason),
        "the invocation's error names the reason: {failure}"
    );

    let json: Value = serde_json::from_str(&record.to_json()).unwrap();
    assert_eq!(json["ok"], false);
    assert_eq!(json["failure"]["kind"], "actions");
    assert_eq!(json["outcomes"][index]["status"], "failed");
    assert_eq!(json["outcomes"][index]["error"]["kind"], kind);
    let message = json["outcomes"][index]["error"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains(reason), "{message}");
    assert!(json["outcomes"][index].get("receipt").is_none());
    json
}

fn never_called() -> ScriptedServer {
    ScriptedServer::start(vec![Reply::new(500, &[], "not expected")])
}

fn lambda_ok() -> ScriptedServer {
    ScriptedServer::start(vec![Reply::new(
        200,
        &[
            ("Content-Type", "application/json"),
            ("X-Amz-Executed-Version", "7"),
        ],
        "null",
    )])
}

fn lambda_error(status: u16, code: &str, body: &str) -> ScriptedServer {
    ScriptedServer::start(vec![Reply::new(
        status,
        &[
            ("x-amzn-ErrorType", code),
            ("Content-Type", "application/json"),
        ],
        body,
    )])
}

fn sns_error(status: u16, kind: &str, code: &str, message: &str) -> ScriptedServer {
    let body = format!(
        "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error>\
         <Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>\
         <RequestId>0b1c2d3e-fault</RequestId></ErrorResponse>"
    );
    ScriptedServer::start(vec![Reply::new(
        status,
        &[("Content-Type", "text/xml")],
        body,
    )])
}

// ---------------------------------------------------------------------------------------------
// Lambda (`snapshot`)

/// 429 TooManyRequestsException: retried with backoff, then the press fails as throttled.
#[tokio::test]
async fn lambda_throttling_is_retried_then_fails_the_press() {
    let lambda = lambda_error(
        429,
        "TooManyRequestsException",
        r#"{"Type":"User","message":"Rate Exceeded.","Reason":"ReservedFunctionConcurrentInvocationLimitExceeded"}"#,
    );
    let sns = never_called();
    let (result, attempts) = press("lambda-throttled", "snapshot:us-west-1", &lambda, &sns).await;
    assert!(
        result.failure.is_some(),
        "a throttled snapshot fails the press"
    );
    assert_eq!(lambda.count(), attempts, "retried per the SDK's policy");
    let json = assert_action_failed(&result, 0, "throttled", "Rate Exceeded.");
    assert_eq!(json["outcomes"][0]["error"]["retryable"], true);
    assert!(
        lambda.requests().iter().all(|r| r.method == "POST"
            && r.path == "/2015-03-31/functions/scheduled_snapshot/invocations?Qualifier=prod"
            && r.body == br#"{"region":"us-west-1"}"#),
        "every attempt is the same invoke: {:?}",
        lambda.requests()
    );
    assert_eq!(sns.count(), 0);
}

/// The function ran and failed (`X-Amz-Function-Error`): not retried by the SDK (a retry would
/// run the snapshot again), reported with the function's payload, and the press fails.
#[tokio::test]
async fn lambda_function_error_is_not_retried_and_fails_the_press() {
    let lambda = ScriptedServer::start(vec![Reply::new(
        200,
        &[
            ("X-Amz-Function-Error", "Unhandled"),
            ("X-Amz-Executed-Version", "7"),
            ("Content-Type", "application/json"),
        ],
        r#"{"errorType":"RuntimeError","errorMessage":"no volumes to snapshot"}"#,
    )]);
    let sns = never_called();
    let (result, _) = press("lambda-function-error", "snapshot:us-west-1", &lambda, &sns).await;
    assert!(
        result.failure.is_some(),
        "a failed snapshot function fails the press"
    );
    assert_eq!(
        lambda.count(),
        1,
        "a function error is not retried by the SDK"
    );
    let json = assert_action_failed(&result, 0, "function_error", "no volumes to snapshot");
    assert!(
        json["outcomes"][0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Unhandled")
    );
    assert_eq!(json["outcomes"][0]["error"]["retryable"], false);
}

/// A 5xx from the Lambda API (ServiceException): retried, then the press fails as unavailable
/// (the service failed, not the request).
#[tokio::test]
async fn lambda_5xx_is_retried_then_fails_the_press() {
    let lambda = lambda_error(
        500,
        "ServiceException",
        r#"{"Type":"Service","message":"Lambda is having a bad day"}"#,
    );
    let sns = never_called();
    let (result, attempts) = press("lambda-5xx", "snapshot:us-west-1", &lambda, &sns).await;
    assert_eq!(lambda.count(), attempts, "retried per the SDK's policy");
    let Some(Failure::Actions { first, .. }) = &result.failure else {
        panic!("expected failed actions, got {:?}", result.failure);
    };
    assert!(
        matches!(
            first,
            ActionError::Unavailable {
                operation: "lambda:Invoke",
                ..
            }
        ),
        "{first:?}"
    );
    let json = assert_action_failed(&result, 0, first.kind(), "Lambda is having a bad day");
    assert_eq!(json["outcomes"][0]["error"]["retryable"], true);
}

// ---------------------------------------------------------------------------------------------
// SNS (`notify`)

/// SNS 500 InternalError: retried, then the press fails with SNS's reason.
#[tokio::test]
async fn sns_5xx_is_retried_then_fails_the_press() {
    let lambda = never_called();
    let sns = sns_error(500, "Receiver", "InternalError", "SNS is having a bad day");
    let (result, attempts) =
        press("sns-5xx", "notify:Backup|Started a backup", &lambda, &sns).await;
    assert_eq!(sns.count(), attempts, "retried per the SDK's policy");
    let Some(Failure::Actions { first, .. }) = &result.failure else {
        panic!("expected failed actions, got {:?}", result.failure);
    };
    assert!(
        matches!(
            first,
            ActionError::Unavailable {
                operation: "sns:Publish",
                ..
            }
        ),
        "{first:?}"
    );
    assert_action_failed(&result, 0, first.kind(), "SNS is having a bad day");
    assert_eq!(lambda.count(), 0);
}

/// SNS 403 AuthorizationError (the role may not publish): not retried, refused, press fails.
#[tokio::test]
async fn sns_authorization_error_is_not_retried_and_fails_the_press() {
    let lambda = never_called();
    let sns = sns_error(
        403,
        "Sender",
        "AuthorizationError",
        "User is not authorized to perform: SNS:Publish on resource: presses",
    );
    let (result, _) = press(
        "sns-denied",
        "notify:Backup|Started a backup",
        &lambda,
        &sns,
    )
    .await;
    assert!(
        result.failure.is_some(),
        "a refused publish fails the press"
    );
    assert_eq!(sns.count(), 1, "access denied is not retried");
    let json = assert_action_failed(
        &result,
        0,
        "refused",
        "not authorized to perform: SNS:Publish",
    );
    assert_eq!(json["outcomes"][0]["error"]["retryable"], false);
    match &result.failure {
        Some(Failure::Actions {
            first: ActionError::Refused { code, .. },
            retryable: false,
            ..
        }) => assert_eq!(code.as_deref(), Some("AuthorizationError")),
        other => panic!("expected a refused publish, got {other:?}"),
    }
    // The request that was refused was the publish the guest asked for.
    let request = &sns.requests()[0];
    let body = String::from_utf8_lossy(&request.body);
    assert!(body.contains("Action=Publish"), "{body}");
    assert!(body.contains("Subject=Backup"), "{body}");
}

/// SNS 404 NotFound (the topic was deleted): not retried, refused, press fails.
#[tokio::test]
async fn sns_topic_not_found_is_not_retried_and_fails_the_press() {
    let lambda = never_called();
    let sns = sns_error(404, "Sender", "NotFound", "Topic does not exist");
    let (result, _) = press(
        "sns-not-found",
        "notify:Backup|Started a backup",
        &lambda,
        &sns,
    )
    .await;
    assert!(
        result.failure.is_some(),
        "publishing to a missing topic fails the press"
    );
    assert_eq!(sns.count(), 1, "a missing topic is not retried");
    let json = assert_action_failed(&result, 0, "refused", "Topic does not exist");
    assert_eq!(json["outcomes"][0]["error"]["retryable"], false);
    assert!(!result.failure.unwrap().is_retryable());
}

/// SNS throttling (`Throttled`, HTTP 429). The SDK's standard policy does not retry it: its
/// throttling codes (aws-runtime `THROTTLING_ERRORS`) lack SNS's `Throttled` and its
/// status classifier retries 500/502/503/504 only. The press fails as throttled and retryable,
/// so the retry is AWS's asynchronous one of the whole press.
#[tokio::test]
async fn sns_throttling_is_not_retried_by_the_sdk_and_fails_the_press() {
    let lambda = never_called();
    let sns = sns_error(429, "Sender", "Throttled", "Rate exceeded");
    let (result, _) = press(
        "sns-throttled",
        "notify:Backup|Started a backup",
        &lambda,
        &sns,
    )
    .await;
    assert!(
        result.failure.is_some(),
        "a throttled publish fails the press"
    );
    assert_eq!(sns.count(), 1, "the SDK does not retry SNS's Throttled");
    let json = assert_action_failed(&result, 0, "throttled", "Rate exceeded");
    assert_eq!(json["outcomes"][0]["error"]["retryable"], true);
    assert!(result.failure.unwrap().is_retryable());
}

/// A press with a snapshot and a notification whose publish fails: the snapshot is done once
/// and says so, the notification is listed as failed, and the press still fails so AWS keeps
/// it: a partial success is never reported as success.
#[tokio::test]
async fn a_failed_notification_fails_the_press_and_the_done_snapshot_is_recorded() {
    let lambda = lambda_ok();
    let sns = sns_error(500, "Receiver", "InternalError", "SNS is having a bad day");
    let (result, attempts) = press(
        "partial",
        "snapshot:us-west-1;notify:Backup|Started a backup",
        &lambda,
        &sns,
    )
    .await;
    assert_eq!(lambda.count(), 1, "the snapshot ran once");
    assert_eq!(sns.count(), attempts);
    match &result.failure {
        Some(Failure::Actions {
            failed: 1,
            total: 2,
            ..
        }) => {}
        other => panic!("expected one failed action of two, got {other:?}"),
    }
    assert_eq!(result.record.outcomes[0].status, OutcomeStatus::Done);
    assert!(matches!(
        result.record.outcomes[0].receipt,
        Some(Receipt::Invoked {
            status_code: 200,
            ..
        })
    ));
    let kind = result.record.outcomes[1]
        .error
        .as_ref()
        .expect("the notification failed")
        .kind
        .clone();
    let json = assert_action_failed(&result, 1, &kind, "SNS is having a bad day");
    assert_eq!(json["outcomes"][0]["status"], "done");
    assert_eq!(json["decision"]["actions"][0]["kind"], "snapshot");
    assert_eq!(json["decision"]["actions"][1]["kind"], "notify");
    assert_eq!(json["outcomes"][0]["receipt"]["executed_version"], "7");
}

// ---------------------------------------------------------------------------------------------
// S3 (the guest)

fn guest_uri() -> S3Uri {
    S3Uri::parse("s3://clickrules-guests/guests/guest.wasm").unwrap()
}

fn s3_object(bytes: &[u8]) -> Reply {
    Reply::new(
        200,
        &[
            ("Content-Type", "application/wasm"),
            ("ETag", "\"e1\""),
            ("x-amz-version-id", "v1"),
        ],
        bytes.to_vec(),
    )
}

fn s3_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::new(
        status,
        &[("Content-Type", "application/xml")],
        format!("<Error><Code>{code}</Code><Message>{message}</Message></Error>"),
    )
}

/// Opens the guest at cold start against `s3`, as the Lambda's init does.
async fn open(
    engine: &Arc<Engine>,
    s3: &ScriptedServer,
) -> (
    Result<S3GuestSource<aws_sdk_s3::Client>, GuestSourceError>,
    usize,
) {
    let (clients, attempts) = clients(s3).await;
    (
        S3GuestSource::open(Arc::clone(engine), clients.s3, guest_uri()).await,
        attempts,
    )
}

/// A pipeline whose guest was fetched from `s3` at cold start (the script's first reply must
/// be the object), with the built-in guest's snapshot going to `lambda`.
async fn warm_pipeline(
    s3: &ScriptedServer,
    lambda: &ScriptedServer,
) -> (
    Pipeline<S3GuestSource<aws_sdk_s3::Client>, AwsExecutor>,
    usize,
) {
    let engine = engine_with(&[]);
    let (source, attempts) = open(&engine, s3).await;
    let source = source.expect("the cold-start fetch succeeds");
    assert_eq!(s3.count(), 1);
    let (executor, _) = executor(lambda, &never_called()).await;
    (Pipeline::new(engine, source, executor), attempts)
}

/// One SINGLE press.
async fn press_single<S, E>(pipeline: &Pipeline<S, E>, request_id: &str) -> PressResult
where
    S: clickrules_pipeline::GuestSource,
    E: clickrules_pipeline::Executor,
{
    let event = fixture("iot-button-single.json");
    pipeline.press(PressRequest::new(request_id, &event)).await
}

/// S3 5xx at cold start: retried, then init fails naming the reason (Lambda then fails the
/// invocation; nothing is cached to run).
#[tokio::test]
async fn s3_5xx_at_cold_start_is_retried_then_fails() {
    let s3 = ScriptedServer::start(vec![s3_error(
        503,
        "SlowDown",
        "Please reduce your request rate.",
    )]);
    let (result, attempts) = open(&engine_with(&[]), &s3).await;
    assert_eq!(s3.count(), attempts, "retried per the SDK's policy");
    match result {
        Err(e @ GuestSourceError::Fetch(FetchError::Transient { .. })) => {
            assert!(e.to_string().contains("SlowDown"), "{e}");
        }
        other => panic!("expected a transient fetch error, got {:?}", other.err()),
    }
}

/// S3 5xx after a successful cold start: retried, then the guest last confirmed runs and the
/// record says it is stale and why (documented hot-swap behaviour: the press is not failed
/// for an S3 outage, but it is never silent about it).
#[tokio::test]
async fn s3_5xx_after_start_is_retried_then_runs_the_cached_guest_marked_stale() {
    let s3 = ScriptedServer::start(vec![
        s3_object(clickrules_builtin::DEFAULT_GUEST),
        s3_error(500, "InternalError", "We encountered an internal error."),
    ]);
    let lambda = lambda_ok();
    let (pipeline, attempts) = warm_pipeline(&s3, &lambda).await;
    let record = succeeded(press_single(&pipeline, "s3-5xx").await);
    assert_eq!(s3.count(), 1 + attempts, "retried per the SDK's policy");
    assert!(
        s3.requests()[1..].iter().all(|r| r.method == "GET"
            && r.path.starts_with("/clickrules-guests/guests/guest.wasm")
            && r.header("If-None-Match") == Some("\"e1\"")),
        "every retry is the conditional GET: {:?}",
        s3.requests()
    );
    assert_eq!(guest(&record).fetch, FetchKind::Stale);
    let why = guest(&record).stale.as_deref().unwrap_or_default();
    assert!(why.contains("InternalError"), "{why}");
    let json: Value = serde_json::from_str(&record.to_json()).unwrap();
    assert_eq!(json["guest"]["fetch"], "stale");
    assert_eq!(json["guest"]["stale"], why);
    assert_eq!(json["guest"]["etag"], "\"e1\"");
    assert_eq!(json["guest"]["version_id"], "v1");
    assert_eq!(json["outcomes"][0]["status"], "done");
    assert_eq!(lambda.count(), 1);
    assert_eq!(pipeline.source().stats().stale, 1);
}

/// S3 access denied at cold start: not retried; init fails telling the operator what to allow.
#[tokio::test]
async fn s3_access_denied_at_cold_start_is_not_retried_and_fails() {
    let s3 = ScriptedServer::start(vec![s3_error(403, "AccessDenied", "Access Denied")]);
    let (result, _) = open(&engine_with(&[]), &s3).await;
    assert_eq!(s3.count(), 1, "access denied is not retried");
    match result {
        Err(e @ GuestSourceError::Fetch(FetchError::AccessDenied { .. })) => {
            let text = e.to_string();
            assert!(text.contains("s3:GetObject"), "{text}");
            assert!(text.contains("Access Denied"), "{text}");
        }
        other => panic!("expected access denied, got {:?}", other.err()),
    }
}

/// S3 access denied after a successful cold start (the role or bucket policy changed): the
/// press fails, the cached guest does not run, and nothing is invoked.
#[tokio::test]
async fn s3_access_denied_after_start_fails_the_press_without_running_the_cached_guest() {
    let s3 = ScriptedServer::start(vec![
        s3_object(clickrules_builtin::DEFAULT_GUEST),
        s3_error(403, "AccessDenied", "Access Denied"),
    ]);
    let lambda = lambda_ok();
    let (pipeline, _) = warm_pipeline(&s3, &lambda).await;
    let result = press_single(&pipeline, "s3-denied").await;
    assert_eq!(s3.count(), 2, "access denied is not retried");
    let failure = result.failure.expect("the press fails");
    let Failure::GuestSource(source) = &failure else {
        panic!("expected a guest source failure, got {failure:?}");
    };
    assert!(
        matches!(
            source.downcast::<GuestSourceError>(),
            Some(GuestSourceError::Fetch(FetchError::AccessDenied { .. }))
        ),
        "{failure:?}"
    );
    assert!(failure.to_string().contains("Access Denied"), "{failure}");
    assert_eq!(result.disposition, Disposition::Fail);
    let record = &result.record;
    assert!(!record.ok);
    assert_eq!(record.failure, Some(failure.info()));
    assert!(record.guest.is_none(), "the cached guest is not named");
    assert!(record.decision.is_none());
    assert!(record.outcomes.is_empty());
    assert_eq!(lambda.count(), 0, "nothing ran");
    let json: Value = serde_json::from_str(&record.to_json()).unwrap();
    assert_eq!(json["ok"], false);
    assert_eq!(json["failure"]["kind"], "guest_source");
}

/// The per-attempt S3 timeout the Lambda's clients use (`clients.rs`), and the function
/// timeout the deploy stack defaults to.
const S3_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const LAMBDA_TIMEOUT: Duration = Duration::from_secs(60);

/// S3 accepts the request and never answers, at cold start: each attempt times out, the SDK
/// retries, and init fails well within the function's timeout.
#[tokio::test]
async fn s3_timeout_at_cold_start_is_retried_then_fails() {
    let s3 = ScriptedServer::start(vec![Reply::Hang]);
    let started = Instant::now();
    let (result, attempts) = open(&engine_with(&[]), &s3).await;
    let took = started.elapsed();
    assert_eq!(s3.count(), attempts, "retried per the SDK's policy");
    assert!(
        took >= S3_ATTEMPT_TIMEOUT * attempts as u32,
        "each attempt waited the attempt timeout: {took:?}"
    );
    assert!(
        took < LAMBDA_TIMEOUT,
        "gave up before the function timeout: {took:?}"
    );
    match result {
        Err(e @ GuestSourceError::Fetch(FetchError::Transient { .. })) => {
            assert!(e.to_string().contains("timeout"), "{e}");
        }
        other => panic!("expected a transient fetch error, got {:?}", other.err()),
    }
}

/// S3 hangs after a successful cold start: retried, then the cached guest runs, marked stale
/// with the timeout as the reason.
#[tokio::test]
async fn s3_timeout_after_start_is_retried_then_runs_the_cached_guest_marked_stale() {
    let s3 = ScriptedServer::start(vec![
        s3_object(clickrules_builtin::DEFAULT_GUEST),
        Reply::Hang,
    ]);
    let lambda = lambda_ok();
    let (pipeline, attempts) = warm_pipeline(&s3, &lambda).await;
    let started = Instant::now();
    let record = succeeded(press_single(&pipeline, "s3-timeout").await);
    let took = started.elapsed();
    assert_eq!(s3.count(), 1 + attempts, "retried per the SDK's policy");
    assert!(took < LAMBDA_TIMEOUT, "{took:?}");
    assert_eq!(guest(&record).fetch, FetchKind::Stale);
    let why = guest(&record).stale.as_deref().unwrap_or_default();
    assert!(why.contains("timeout"), "{why}");
    assert_eq!(lambda.count(), 1);
}

// ---------------------------------------------------------------------------------------------
// S3 reads are bounded

const WASM_HEADERS: &[(&str, &str)] = &[
    ("Content-Type", "application/wasm"),
    ("ETag", "\"e1\""),
    ("x-amz-version-id", "v1"),
];

/// An object whose Content-Length is over the limit is refused from its headers: the body (a
/// few bytes of a claimed 64 MiB + 1) is never read, or the error would be a truncated body.
/// Not retried: the object is what it is.
#[tokio::test]
async fn s3_object_over_the_limit_is_refused_from_its_content_length_before_reading() {
    let s3 = ScriptedServer::start(vec![Reply::framed(
        200,
        WASM_HEADERS,
        b"\0asm".to_vec(),
        Some(MAX_GUEST_OBJECT_BYTES + 1),
    )]);
    let (result, _) = open(&engine_with(&[]), &s3).await;
    assert_eq!(s3.count(), 1, "not retried");
    match result {
        Err(GuestSourceError::Fetch(FetchError::TooLarge { size, max, .. })) => {
            assert_eq!(
                (size, max),
                (MAX_GUEST_OBJECT_BYTES + 1, MAX_GUEST_OBJECT_BYTES)
            );
        }
        other => panic!("expected a guest too large, got {:?}", other.err()),
    }
}

/// Without a Content-Length (chunked), the limit is enforced while reading: reading stops once
/// it is passed instead of holding whatever the server sends.
#[tokio::test]
async fn s3_chunked_object_over_the_limit_is_refused_while_reading() {
    let too_big = vec![0u8; MAX_GUEST_OBJECT_BYTES as usize + 1];
    let s3 = ScriptedServer::start(vec![Reply::framed(200, WASM_HEADERS, too_big, None)]);
    let (result, _) = open(&engine_with(&[]), &s3).await;
    match result {
        Err(GuestSourceError::Fetch(FetchError::TooLarge { size, max, .. })) => {
            assert!(size > max, "{size} > {max}");
            assert_eq!(max, MAX_GUEST_OBJECT_BYTES);
        }
        other => panic!("expected a guest too large, got {:?}", other.err()),
    }
}

/// A chunked object within the limit is read whole.
#[tokio::test]
async fn s3_chunked_object_within_the_limit_loads() {
    let wasm = guest_bytes(guests::BY_CLICK);
    let s3 = ScriptedServer::start(vec![Reply::framed(200, WASM_HEADERS, wasm.clone(), None)]);
    let (result, _) = open(&engine_with(&[]), &s3).await;
    let source = result.expect("the chunked guest loads");
    assert_eq!(source.stats().compiles, 1);
}

/// A body shorter than its Content-Length (the connection closed early) is transient: at cold
/// start that fails init; it is never taken for the object.
#[tokio::test]
async fn s3_truncated_body_is_transient() {
    let wasm = clickrules_builtin::DEFAULT_GUEST;
    let s3 = ScriptedServer::start(vec![Reply::framed(
        200,
        WASM_HEADERS,
        wasm[..wasm.len() / 2].to_vec(),
        Some(wasm.len() as u64),
    )]);
    let (result, _) = open(&engine_with(&[]), &s3).await;
    assert!(
        matches!(
            result,
            Err(GuestSourceError::Fetch(FetchError::Transient { .. }))
        ),
        "{:?}",
        result.err()
    );
}

/// A signed artifact has its own, larger limit; one over it is refused from its
/// Content-Length, and with signatures required the guest is refused naming why.
#[tokio::test]
async fn s3_artifact_over_its_limit_is_refused_from_its_content_length() {
    let s3 = ScriptedServer::start(vec![
        s3_object(clickrules_builtin::DEFAULT_GUEST),
        Reply::framed(
            200,
            &[
                ("Content-Type", "application/octet-stream"),
                ("ETag", "\"a1\""),
            ],
            b"clickrules-cwasm".to_vec(),
            Some(MAX_ARTIFACT_BYTES + 1),
        ),
    ]);
    let (clients, _) = clients(&s3).await;
    let signer = clickrules_engine::ArtifactSigner::generate().unwrap();
    let options = LoadOptions {
        artifacts: Some(ArtifactPolicy {
            trusted: clickrules_engine::TrustedKeys::new(vec![signer.public_key()]).unwrap(),
            require: true,
        }),
        function_memory_mb: None,
        floor_store: None,
    };
    let result = S3GuestSource::open_with(engine_with(&[]), clients.s3, guest_uri(), options).await;
    assert_eq!(s3.count(), 2, "the .wasm, then its artifact once");
    match result {
        Err(GuestSourceError::Unsigned {
            reason: ArtifactUnavailable::Fetch(FetchError::TooLarge { size, max, .. }),
            ..
        }) => assert_eq!((size, max), (MAX_ARTIFACT_BYTES + 1, MAX_ARTIFACT_BYTES)),
        other => panic!("expected an artifact too large, got {:?}", other.err()),
    }
}

/// A 304 that names a version id (a re-upload of the same bytes) updates the record's version
/// without a download.
#[tokio::test]
async fn s3_304_names_the_current_version() {
    let s3 = ScriptedServer::start(vec![
        s3_object(clickrules_builtin::DEFAULT_GUEST),
        Reply::new(304, &[("ETag", "\"e1\""), ("x-amz-version-id", "v2")], ""),
    ]);
    let lambda = lambda_ok();
    let (pipeline, _) = warm_pipeline(&s3, &lambda).await;
    let record = succeeded(press_single(&pipeline, "s3-304-version").await);
    let guest = guest(&record);
    assert_eq!(guest.fetch, FetchKind::NotModified);
    assert_eq!(guest.version_id.as_deref(), Some("v2"));
    assert_eq!(guest.etag.as_deref(), Some("\"e1\""));
    let json: Value = serde_json::from_str(&record.to_json()).unwrap();
    assert_eq!(json["guest"]["fetch"], "not_modified");
    assert_eq!(json["guest"]["version_id"], "v2");
    assert_eq!(s3.requests()[1].header("If-None-Match"), Some("\"e1\""));
}
