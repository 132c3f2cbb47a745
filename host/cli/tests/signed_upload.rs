//! From `clickrules key new` and `clickrules upload --signing-key` to the Lambda's guest
//! source, against the moto emulator: the upload puts signed artifacts for both architectures
//! beside the `.wasm`, and a source trusting the key loads the guest from the artifact without
//! compiling it. Without a key, upload says the guest will compile on every cold start.

use std::process::Output;
use std::sync::Arc;

use clickrules_aws::{ArtifactPolicy, AwsClients, S3GuestSource, S3Uri};
use clickrules_engine::{Engine, EngineConfig, LoadedFrom, TrustedKeys};
use clickrules_pipeline::GuestSource;
use clickrules_test_support::Moto;
use clickrules_test_support::run::{self, field};
use clickrules_tests::{guest_bytes, guests};

/// Runs `clickrules` against `endpoint` (see [`run::against`]).
/// by-click notifies on a low battery, so upload checks it under a deployment with a topic.
fn clickrules(args: &[&str], endpoint: &str, env: &[(&str, &str)]) -> Output {
    let mut env = env.to_vec();
    env.push((
        "CLICKRULES_NOTIFY_TOPIC_ARN",
        "arn:aws:sns:us-east-1:123456789012:clickrules",
    ));
    run::against(env!("CARGO_BIN_EXE_clickrules"), args, endpoint, &env)
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "clickrules failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn clients(moto: &Moto) -> AwsClients {
    AwsClients::from_sdk_config(&moto.sdk_config().await, true)
}

async fn keys_in(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let listed = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    let mut keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect();
    keys.sort();
    keys
}

/// A moto server with an empty `guests` bucket, and what a test needs to reach it.
struct Bucket {
    /// Kept alive for the test: dropping it stops the server.
    moto: Moto,
    rt: tokio::runtime::Runtime,
    s3: aws_sdk_s3::Client,
    endpoint: String,
}

impl Bucket {
    fn start(test: &str) -> Option<Self> {
        let moto = Moto::start(test)?;
        let rt = runtime();
        let s3 = rt.block_on(clients(&moto)).s3;
        rt.block_on(s3.create_bucket().bucket("guests").send())
            .unwrap();
        Some(Self {
            endpoint: moto.endpoint(),
            moto,
            rt,
            s3,
        })
    }
}

#[test]
fn a_signed_upload_is_loaded_from_its_artifact_by_the_lambda() {
    let Some(Bucket {
        moto: _moto,
        rt,
        s3,
        endpoint,
    }) = Bucket::start("a_signed_upload_is_loaded_from_its_artifact_by_the_lambda")
    else {
        return;
    };

    let dir = tempdir();
    let key_file = dir.join("signing.pem");
    let key_file = key_file.to_str().unwrap();
    let created = stdout(&clickrules(&["key", "new", key_file], &endpoint, &[]));
    let public = field(&created, "public key");
    assert_eq!(
        public,
        field(
            &stdout(&clickrules(&["key", "public", key_file], &endpoint, &[])),
            "public key"
        )
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(key_file).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the private key is readable by its owner only"
        );
    }
    // An existing key is never overwritten by accident.
    let again = clickrules(&["key", "new", key_file], &endpoint, &[]);
    assert_eq!(again.status.code(), Some(1));

    let uploaded = stdout(&clickrules(
        &[
            "upload",
            guests::BY_CLICK,
            "s3://guests/rules/by-click.wasm",
            "--signing-key",
            key_file,
        ],
        &endpoint,
        &[],
    ));
    assert!(uploaded.contains("precompiled aarch64"), "{uploaded}");
    assert!(uploaded.contains("precompiled x86_64"), "{uploaded}");
    assert!(!uploaded.contains("signed     no"), "{uploaded}");
    assert_eq!(
        rt.block_on(keys_in(&s3, "guests")),
        [
            "rules/by-click.wasm",
            "rules/by-click.wasm.aarch64.cwasm",
            "rules/by-click.wasm.x86_64.cwasm",
        ]
    );

    // The Lambda side: a fresh engine trusting the public key loads the artifact, no compile.
    let trusted: TrustedKeys = public.parse().unwrap();
    let policy = ArtifactPolicy {
        trusted,
        require: true,
    };
    let engine = Arc::new(Engine::new(EngineConfig::default()).unwrap());
    let uri = S3Uri::parse("s3://guests/rules/by-click.wasm").unwrap();
    let source = rt
        .block_on(S3GuestSource::open_with_artifacts(
            Arc::clone(&engine),
            s3.clone(),
            uri,
            Some(policy),
        ))
        .unwrap();
    let current = rt.block_on(source.current()).unwrap();
    assert_eq!(current.record.loaded_from, LoadedFrom::SignedArtifact);
    assert_eq!(current.record.artifact_note, None);
    assert_eq!(source.stats().compiles, 0);
    assert_eq!(source.stats().artifacts, 1);
    let decision = engine.press(
        &current.guest,
        br#"{"serialNumber":"G030JF055364XVRB","batteryVoltage":"1705mV","clickType":"DOUBLE"}"#,
    );
    assert_eq!(
        decision.result(),
        Ok(&[clickrules_engine::Action::snapshot("us-east-1")][..])
    );
}

#[test]
fn an_unsigned_upload_says_the_guest_compiles_on_every_cold_start() {
    let Some(Bucket {
        moto: _moto,
        rt,
        s3,
        endpoint,
    }) = Bucket::start("an_unsigned_upload_says_the_guest_compiles_on_every_cold_start")
    else {
        return;
    };

    let uploaded = stdout(&clickrules(
        &["upload", guests::DEFAULT, "s3://guests/default.wasm"],
        &endpoint,
        &[],
    ));
    assert!(
        uploaded.contains("signed     no: without --signing-key the Lambda compiles this guest on every cold start"),
        "{uploaded}"
    );
    assert_eq!(rt.block_on(keys_in(&s3, "guests")), ["default.wasm"]);
}

#[test]
fn a_bad_signing_key_fails_before_anything_is_uploaded() {
    let dir = tempdir();
    let bad = dir.join("bad.pem");
    std::fs::write(&bad, "not a key").unwrap();
    // Nothing listens on port 9: had upload reached S3 it would fail differently.
    let out = clickrules(
        &[
            "upload",
            guests::DEFAULT,
            "s3://guests/default.wasm",
            "--signing-key",
            bad.to_str().unwrap(),
        ],
        "http://127.0.0.1:9",
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: signing key {}: not an Ed25519 private key",
            bad.display()
        )),
        "{stderr}"
    );
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "clickrules-signed-upload-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A bucket writer without the key puts back an older `.wasm` with its older, validly signed
/// artifact: the Lambda refuses it (`CLICKRULES_REQUIRE_SIGNED=true`) because it already loaded
/// a newer signed guest for that location. Rolling back with `clickrules upload` re-signs the
/// old guest with a new sequence, and the Lambda takes it on the next press.
#[test]
fn an_old_signed_guest_put_back_is_refused_and_an_upload_rolls_back() {
    let Some(Bucket {
        moto: _moto,
        rt,
        s3,
        endpoint,
    }) = Bucket::start("an_old_signed_guest_put_back_is_refused_and_an_upload_rolls_back")
    else {
        return;
    };
    let dir = tempdir();
    let key_file = dir.join("signing.pem");
    let key_file = key_file.to_str().unwrap();
    let public = field(
        &stdout(&clickrules(&["key", "new", key_file], &endpoint, &[])),
        "public key",
    );
    let destination = "s3://guests/guest.wasm";
    let upload = |guest: &str| {
        stdout(&clickrules(
            // Each upload here changes decisions on purpose.
            &[
                "upload",
                guest,
                destination,
                "--signing-key",
                key_file,
                "--yes",
            ],
            &endpoint,
            &[],
        ))
    };
    let arch = clickrules_engine::Arch::host().unwrap();
    let artifact_key = arch.artifact_name("guest.wasm");
    let get = |key: &str| {
        rt.block_on(async {
            let out = s3
                .get_object()
                .bucket("guests")
                .key(key)
                .send()
                .await
                .unwrap();
            out.body.collect().await.unwrap().into_bytes().to_vec()
        })
    };
    let put = |key: &str, bytes: Vec<u8>| {
        rt.block_on(
            s3.put_object()
                .bucket("guests")
                .key(key)
                .body(bytes.into())
                .send(),
        )
        .unwrap();
    };

    upload(guests::DEFAULT);
    let (old_wasm, old_artifact) = (get("guest.wasm"), get(&artifact_key));
    let engine = Arc::new(Engine::new(EngineConfig::default()).unwrap());
    let policy = ArtifactPolicy {
        trusted: public.parse().unwrap(),
        require: true,
    };
    let source = rt
        .block_on(S3GuestSource::open_with_artifacts(
            Arc::clone(&engine),
            s3.clone(),
            S3Uri::parse(destination).unwrap(),
            Some(policy),
        ))
        .unwrap();

    upload(guests::BY_CLICK);
    let current = rt.block_on(source.current()).unwrap();
    assert_eq!(current.record.loaded_from, LoadedFrom::SignedArtifact);
    assert_eq!(
        current.guest.sha256(),
        clickrules_engine::sha256_hex(&guest_bytes(guests::BY_CLICK))
    );

    // The replay: artifact first, then the .wasm, as a careful attacker would.
    put(&artifact_key, old_artifact);
    put("guest.wasm", old_wasm);
    let refused = rt.block_on(source.current());
    assert!(
        matches!(
            &refused,
            Err(clickrules_aws::GuestSourceError::Unsigned {
                reason: clickrules_aws::ArtifactUnavailable::Refused {
                    error: clickrules_engine::ArtifactError::Replayed { .. },
                    ..
                },
                ..
            })
        ),
        "{refused:?}"
    );

    // The deliberate rollback: the same old guest, uploaded (and so re-signed) again.
    upload(guests::DEFAULT);
    let current = rt.block_on(source.current()).unwrap();
    assert_eq!(
        current.guest.sha256(),
        clickrules_engine::sha256_hex(&guest_bytes(guests::DEFAULT))
    );
}
