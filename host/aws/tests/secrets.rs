//! Webhook secrets from SSM Parameter Store and Secrets Manager (moto): by name and by ARN,
//! missing ones, one fetch per reference for the process (even under concurrent first uses),
//! failures not cached, a binary-only secret, and an unreachable store.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{Region, SdkConfig};
use aws_sdk_s3::config::Credentials;
use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_ssm::types::ParameterType;
use clickrules_aws::AwsSecrets;
use clickrules_test_support::Moto;
use clickrules_test_support::moto::{ACCOUNT, REGION};
use clickrules_webhooks::{SecretError, SecretRef, SecretStore};

struct Stores {
    moto: Moto,
    ssm: aws_sdk_ssm::Client,
    secretsmanager: aws_sdk_secretsmanager::Client,
    secrets: AwsSecrets,
}

async fn start(test: &str) -> Option<Stores> {
    let moto = Moto::start(test)?;
    let config = moto.sdk_config().await;
    Some(Stores {
        ssm: aws_sdk_ssm::Client::new(&config),
        secretsmanager: aws_sdk_secretsmanager::Client::new(&config),
        secrets: AwsSecrets::new(&config),
        moto,
    })
}

impl Stores {
    async fn put_parameter(&self, name: &str, value: &str) {
        self.ssm
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .expect("put parameter");
    }

    /// Creates the secret and returns its ARN.
    async fn create_secret(&self, name: &str, value: &str) -> String {
        let created = self
            .secretsmanager
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .expect("create secret");
        created.arn().expect("secret ARN").to_string()
    }
}

fn parameter_arn(name: &str) -> String {
    format!(
        "arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{}",
        name.trim_start_matches('/')
    )
}

fn parse(reference: &str) -> SecretRef {
    reference.parse().expect("a secret reference")
}

#[tokio::test]
async fn parameters_and_secrets_are_read_by_name_and_by_arn() {
    let Some(stores) = start("parameters_and_secrets_are_read_by_name_and_by_arn").await else {
        return;
    };
    stores
        .put_parameter("/clickrules/webhook-secret", "ssm-value")
        .await;
    let secret_arn = stores
        .create_secret("clickrules-webhook", "secretsmanager-value")
        .await;

    let cases = [
        ("ssm:/clickrules/webhook-secret".to_string(), "ssm-value"),
        (parameter_arn("/clickrules/webhook-secret"), "ssm-value"),
        (
            "secretsmanager:clickrules-webhook".to_string(),
            "secretsmanager-value",
        ),
        (secret_arn, "secretsmanager-value"),
    ];
    for (reference, expected) in &cases {
        let reference = parse(reference);
        let value = stores.secrets.fetch(&reference).await;
        assert_eq!(value.as_deref(), Ok(*expected), "{reference}");
    }
    assert_eq!(stores.secrets.fetches(), 4);
    let debug = format!("{:?}", stores.secrets);
    assert!(
        !debug.contains("ssm-value") && !debug.contains("secretsmanager-value"),
        "{debug}"
    );
}

#[tokio::test]
async fn a_value_is_fetched_once_and_kept() {
    let Some(stores) = start("a_value_is_fetched_once_and_kept").await else {
        return;
    };
    stores.put_parameter("/clickrules/kept", "first").await;
    stores.create_secret("clickrules-kept", "first").await;
    let parameter = parse("ssm:/clickrules/kept");
    let secret = parse("secretsmanager:clickrules-kept");
    assert_eq!(
        stores.secrets.fetch(&parameter).await.as_deref(),
        Ok("first")
    );
    assert_eq!(stores.secrets.fetch(&secret).await.as_deref(), Ok("first"));
    assert_eq!(stores.secrets.fetches(), 2);

    // The store changes under the process: the parameter is deleted, the secret rotated.
    stores
        .ssm
        .delete_parameter()
        .name("/clickrules/kept")
        .send()
        .await
        .expect("delete parameter");
    stores
        .secretsmanager
        .put_secret_value()
        .secret_id("clickrules-kept")
        .secret_string("second")
        .send()
        .await
        .expect("rotate secret");

    stores.moto.start_recording();
    for _ in 0..3 {
        assert_eq!(
            stores.secrets.fetch(&parameter).await.as_deref(),
            Ok("first")
        );
        assert_eq!(stores.secrets.fetch(&secret).await.as_deref(), Ok("first"));
    }
    // A clone shares the cache.
    let clone = stores.secrets.clone();
    assert_eq!(clone.fetch(&secret).await.as_deref(), Ok("first"));
    assert!(stores.moto.stop_recording().is_empty());
    assert_eq!(stores.secrets.fetches(), 2);

    // A fresh adapter (a new process) sees the change.
    let fresh = AwsSecrets::new(&stores.moto.sdk_config().await);
    assert!(matches!(
        fresh.fetch(&parameter).await,
        Err(SecretError::NotFound { .. })
    ));
    assert_eq!(fresh.fetch(&secret).await.as_deref(), Ok("second"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_uses_share_one_fetch() {
    let Some(stores) = start("concurrent_first_uses_share_one_fetch").await else {
        return;
    };
    stores.put_parameter("/clickrules/shared", "shared").await;
    let reference = parse("ssm:/clickrules/shared");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let secrets = stores.secrets.clone();
        let reference = reference.clone();
        tasks.spawn(async move { secrets.fetch(&reference).await });
    }
    while let Some(result) = tasks.join_next().await {
        assert_eq!(result.expect("task").as_deref(), Ok("shared"));
    }
    assert_eq!(stores.secrets.fetches(), 1);
}

#[tokio::test]
async fn a_missing_secret_is_not_found_and_tried_again_on_the_next_use() {
    let Some(stores) = start("a_missing_secret_is_not_found_and_tried_again_on_the_next_use").await
    else {
        return;
    };
    let parameter = parse("ssm:/clickrules/later");
    let secret = parse("secretsmanager:clickrules-later");
    let missing_arn = parse(&format!(
        "arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:clickrules-never-AbCdEf"
    ));
    for reference in [&parameter, &secret, &missing_arn] {
        match stores.secrets.fetch(reference).await {
            Err(SecretError::NotFound { reference: named }) => {
                assert_eq!(named, reference.to_string());
            }
            other => panic!("{reference}: {other:?}"),
        }
    }
    assert_eq!(stores.secrets.fetches(), 3);

    // The failures were not cached: once the values exist, the next use finds them.
    stores.put_parameter("/clickrules/later", "now-here").await;
    stores
        .create_secret("clickrules-later", "now-here-too")
        .await;
    assert_eq!(
        stores.secrets.fetch(&parameter).await.as_deref(),
        Ok("now-here")
    );
    assert_eq!(
        stores.secrets.fetch(&secret).await.as_deref(),
        Ok("now-here-too")
    );
    assert_eq!(stores.secrets.fetches(), 5);
    // ...and then they are cached.
    assert_eq!(
        stores.secrets.fetch(&parameter).await.as_deref(),
        Ok("now-here")
    );
    assert_eq!(stores.secrets.fetches(), 5);
}

#[tokio::test]
async fn a_binary_secret_is_refused_as_not_text() {
    let Some(stores) = start("a_binary_secret_is_refused_as_not_text").await else {
        return;
    };
    stores
        .secretsmanager
        .create_secret()
        .name("clickrules-binary")
        .secret_binary(Blob::new(b"\x00\x01binary".to_vec()))
        .send()
        .await
        .expect("create binary secret");
    let reference = parse("secretsmanager:clickrules-binary");
    match stores.secrets.fetch(&reference).await {
        Err(error @ SecretError::Refused { .. }) => {
            assert!(!error.is_retryable());
            assert!(error.to_string().contains("SecretString"), "{error}");
        }
        other => panic!("{other:?}"),
    }
}

/// An SDK configuration for an endpoint nothing listens on, with one attempt per request so
/// the test does not wait out the backoff.
async fn unreachable_config() -> SdkConfig {
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    clickrules_aws::config_loader()
        .region(Region::new(REGION))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .build(),
        )
        .load()
        .await
}

#[tokio::test]
async fn an_unreachable_store_is_unavailable_and_retried() {
    let secrets = AwsSecrets::new(&unreachable_config().await);
    for reference in [
        parse("ssm:/clickrules/webhook-secret"),
        parse("secretsmanager:clickrules-webhook"),
    ] {
        for attempt in 1..=2 {
            match secrets.fetch(&reference).await {
                Err(error @ SecretError::Unavailable { .. }) => assert!(error.is_retryable()),
                other => panic!("{reference}, attempt {attempt}: {other:?}"),
            }
        }
    }
    // Nothing cached: every use made its own request.
    assert_eq!(secrets.fetches(), 4);
}
