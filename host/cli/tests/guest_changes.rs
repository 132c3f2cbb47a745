//! Changing what the buttons do, against the moto emulator: `upload` shows the diff against
//! the guest at its destination and refuses to change decisions without `--yes` (and always
//! with `--refuse-changes`); `promote` makes the function's shadow guest active and
//! `rollback` an earlier version, each re-signed with a new sequence, so the Lambda loads the
//! new artifact and still refuses an old one put back by hand.

use std::process::Output;
use std::sync::Arc;

use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use clickrules_aws::{ArtifactPolicy, AwsClients, S3GuestSource, S3Uri};
use clickrules_engine::{Arch, Engine, EngineConfig, LoadedFrom, TrustedKeys, sha256_hex};
use clickrules_pipeline::GuestSource;
use clickrules_test_support::Moto;
use clickrules_test_support::run::{self, field};
use clickrules_tests::{guest_bytes, guests};
use serde_json::Value;

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:presses";
const ACTIVE: &str = "s3://guests/rules/guest.wasm";
const CANDIDATE: &str = "s3://guests/rules/candidate.wasm";

struct Aws {
    moto: Moto,
    rt: tokio::runtime::Runtime,
    clients: AwsClients,
    endpoint: String,
}

impl Aws {
    fn start(test: &str) -> Option<Self> {
        let moto = Moto::start(test)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let config = rt.block_on(moto.sdk_config());
        let aws = Self {
            clients: AwsClients::from_sdk_config(&config, true),
            endpoint: moto.endpoint(),
            moto,
            rt,
        };
        aws.versioned_bucket("guests");
        Some(aws)
    }

    /// `clickrules` with a topic configured: by-click notifies on a low battery.
    fn clickrules(&self, args: &[&str]) -> Output {
        run::against(
            env!("CARGO_BIN_EXE_clickrules"),
            args,
            &self.endpoint,
            &[("CLICKRULES_NOTIFY_TOPIC_ARN", TOPIC)],
        )
    }

    fn versioned_bucket(&self, name: &str) {
        let s3 = &self.clients.s3;
        self.rt
            .block_on(s3.create_bucket().bucket(name).send())
            .unwrap();
        let enabled = VersioningConfiguration::builder()
            .status(BucketVersioningStatus::Enabled)
            .build();
        self.rt
            .block_on(
                s3.put_bucket_versioning()
                    .bucket(name)
                    .versioning_configuration(enabled)
                    .send(),
            )
            .unwrap();
    }

    fn function(&self, name: &str, variables: &[(&str, &str)]) {
        self.rt.block_on(
            self.moto
                .clickrules_function(&self.clients.lambda, name, variables),
        );
    }

    fn put(&self, uri: &str, bytes: Vec<u8>) {
        let uri = S3Uri::parse(uri).unwrap();
        self.rt
            .block_on(
                self.clients
                    .s3
                    .put_object()
                    .bucket(&uri.bucket)
                    .key(&uri.key)
                    .body(bytes.into())
                    .send(),
            )
            .unwrap();
    }

    fn latest(&self, uri: &str) -> (Vec<u8>, Option<String>) {
        let uri = S3Uri::parse(uri).unwrap();
        self.rt.block_on(async {
            let got = self
                .clients
                .s3
                .get_object()
                .bucket(&uri.bucket)
                .key(&uri.key)
                .send()
                .await
                .unwrap();
            let version = got.version_id().map(str::to_string);
            (got.body.collect().await.unwrap().to_vec(), version)
        })
    }

    /// A source as the Lambda builds it, trusting `public` and requiring signed guests.
    fn lambda_source(&self, public: &str) -> S3GuestSource<aws_sdk_s3::Client> {
        let trusted: TrustedKeys = public.parse().unwrap();
        let engine = Arc::new(Engine::new(EngineConfig::default()).unwrap());
        self.rt
            .block_on(S3GuestSource::open_with_artifacts(
                engine,
                self.clients.s3.clone(),
                S3Uri::parse(ACTIVE).unwrap(),
                Some(ArtifactPolicy {
                    trusted,
                    require: true,
                }),
            ))
            .unwrap()
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn upload_refuses_changed_decisions_unless_told_and_always_with_refuse_changes() {
    let Some(aws) = Aws::start("upload_refuses_changed_decisions") else {
        return;
    };
    let default = guest_bytes(guests::DEFAULT);
    // The first upload has nothing to compare with.
    let out = aws.clickrules(&["upload", guests::DEFAULT, ACTIVE]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("nothing was at the destination yet"));

    // by-click decides DOUBLE and LONG presses differently: without a terminal to ask on,
    // and without --yes, nothing is uploaded.
    let out = aws.clickrules(&["upload", guests::BY_CLICK, ACTIVE]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("decide differently"), "{stderr}");
    assert!(stderr.contains("--yes"), "{stderr}");
    assert!(stderr.contains("DOUBLE"), "the diff is shown: {stderr}");
    assert!(aws.latest(ACTIVE).0 == default, "nothing was uploaded");

    let out = aws.clickrules(&["upload", guests::BY_CLICK, ACTIVE, "--refuse-changes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("--refuse-changes"));
    assert!(aws.latest(ACTIVE).0 == default, "nothing was uploaded");

    let out = aws.clickrules(&["upload", guests::BY_CLICK, ACTIVE, "--yes", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["diff"]["changed"].as_u64().unwrap() > 0,
        "{report:#}"
    );
    assert_eq!(report["diff"]["active"]["sha256"], sha256_hex(&default));
    assert!(aws.latest(ACTIVE).0 == guest_bytes(guests::BY_CLICK));

    // The same guest again changes nothing: no question, even with --refuse-changes.
    let out = aws.clickrules(&["upload", guests::BY_CLICK, ACTIVE, "--refuse-changes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("no decision changes"), "{}", text(&out));
}

#[test]
fn promote_and_rollback_re_sign_and_an_old_artifact_put_back_stays_refused() {
    let Some(aws) = Aws::start("promote_and_rollback_re_sign") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("clickrules-promote-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("signing.pem");
    let key = key.to_str().unwrap();
    let public = field(&text(&aws.clickrules(&["key", "new", key])), "public key");

    let out = aws.clickrules(&["upload", guests::DEFAULT, ACTIVE, "--signing-key", key]);
    assert!(out.status.success(), "{}", text(&out));
    aws.put(CANDIDATE, guest_bytes(guests::BY_CLICK));
    aws.function(
        "clickrules-prod",
        &[
            ("CLICKRULES_GUEST", ACTIVE),
            ("CLICKRULES_SHADOW_GUEST", CANDIDATE),
            ("CLICKRULES_NOTIFY_TOPIC_ARN", TOPIC),
            ("CLICKRULES_TRUSTED_KEYS", &public),
        ],
    );
    let lambda = aws.lambda_source(&public);
    let loaded = aws.rt.block_on(lambda.current()).unwrap();
    assert_eq!(
        loaded.record.sha256,
        sha256_hex(&guest_bytes(guests::DEFAULT))
    );
    let arch = Arch::host().unwrap();
    let artifact = format!("{ACTIVE}.{}.cwasm", arch.as_str());

    // Promote: the shadow becomes active, diff first (accepted with --yes), signed anew.
    let out = aws.clickrules(&[
        "promote",
        "--function",
        "clickrules-prod",
        "--signing-key",
        key,
        "--yes",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("decide differently"), "{}", text(&out));
    assert!(aws.latest(ACTIVE).0 == guest_bytes(guests::BY_CLICK));
    let promoted = aws.rt.block_on(lambda.current()).unwrap();
    assert_eq!(promoted.record.loaded_from, LoadedFrom::SignedArtifact);
    assert_eq!(
        promoted.record.sha256,
        sha256_hex(&guest_bytes(guests::BY_CLICK))
    );
    let (promoted_artifact, _) = aws.latest(&artifact);

    // Rollback: the newest earlier version with other bytes, re-signed with a new sequence.
    let listed = text(&aws.clickrules(&["rollback", "--function", "clickrules-prod", "--list"]));
    assert!(listed.contains("(active)"), "{listed}");
    let out = aws.clickrules(&[
        "rollback",
        "--function",
        "clickrules-prod",
        "--signing-key",
        key,
        "--yes",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(aws.latest(ACTIVE).0 == guest_bytes(guests::DEFAULT));
    let rolled_back = aws.rt.block_on(lambda.current()).unwrap();
    assert_eq!(rolled_back.record.loaded_from, LoadedFrom::SignedArtifact);
    assert_eq!(
        rolled_back.record.sha256,
        sha256_hex(&guest_bytes(guests::DEFAULT))
    );

    // The promoted guest and its artifact, copied back by hand: an old sequence, refused.
    aws.put(&artifact, promoted_artifact);
    aws.put(ACTIVE, guest_bytes(guests::BY_CLICK));
    let replayed = aws.rt.block_on(lambda.current());
    match replayed {
        Err(e) => assert!(e.to_string().contains("older"), "{e}"),
        Ok(current) => panic!("an old artifact put back was loaded: {:?}", current.record),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn promote_needs_a_shadow_guest_in_s3() {
    let Some(aws) = Aws::start("promote_needs_a_shadow_guest") else {
        return;
    };
    aws.put(ACTIVE, guest_bytes(guests::DEFAULT));
    aws.function("no-shadow", &[("CLICKRULES_GUEST", ACTIVE)]);
    let out = aws.clickrules(&["promote", "--function", "no-shadow", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("CLICKRULES_SHADOW_GUEST is unset"),
        "{}",
        text(&out)
    );
    // Nothing earlier to roll back to.
    let out = aws.clickrules(&["rollback", "--function", "no-shadow", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("no earlier version"), "{}", text(&out));
}
