//! The SDK clients, built once per process from the standard AWS configuration chain.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// How long one S3 request may take before it counts as a transient failure. Guests are at most
/// tens of MB and S3 is in-region, so this is generous; without it a hung connection would hold
/// the press until the Lambda's own timeout.
const S3_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The same for one SNS publish. A hung endpoint otherwise holds the press until the function
/// times out, and the decision record is never logged.
const SNS_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// One DynamoDB request of the ledger, and all its retries.
const DYNAMODB_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
const DYNAMODB_OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
/// The same for one SQS send to the dead-letter queue.
const SQS_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The whole `lambda:Invoke`, retries included. `RequestResponse` waits for the snapshot
/// function itself, so this is long, yet it ends before the stack's 60 s function timeout so
/// the press fails with a record naming the hung call.
const LAMBDA_OPERATION_TIMEOUT: Duration = Duration::from_secs(45);

/// The standard AWS configuration chain, with the HTTPS client this project builds in: rustls
/// with ring (see the workspace Cargo.toml). Anything that loads an SDK configuration starts
/// here, or it has no HTTP client.
pub fn config_loader() -> ConfigLoader {
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(https)
}

/// The clients the AWS edge uses.
#[derive(Debug, Clone)]
pub struct AwsClients {
    /// Guests are read from here.
    pub s3: aws_sdk_s3::Client,
    /// `snapshot` invokes through this.
    pub lambda: aws_sdk_lambda::Client,
    /// `notify` publishes through this.
    pub sns: aws_sdk_sns::Client,
    /// Presses no retry can fix go to the dead-letter queue through this.
    pub sqs: aws_sdk_sqs::Client,
    /// The press ledger.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// The configuration they were built from (the webhook function builds its secret
    /// store from it).
    pub sdk_config: SdkConfig,
}

impl AwsClients {
    /// Loads the default configuration (environment, profile, container or instance role) and
    /// builds the clients. `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_S3` (an emulator, a VPC
    /// endpoint) switch S3 to path-style addressing.
    pub async fn from_env() -> Self {
        let config = config_loader().load().await;
        let endpoint_override = ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"]
            .iter()
            .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()));
        Self::from_sdk_config(&config, endpoint_override)
    }

    /// Builds the clients from a loaded configuration. S3 uses path-style addressing when
    /// `path_style` is set or the configuration names an endpoint: emulators and custom
    /// endpoints do not serve `bucket.host` virtual-hosted names.
    pub fn from_sdk_config(config: &SdkConfig, path_style: bool) -> Self {
        let timeouts = |set: fn(
            aws_config::timeout::TimeoutConfigBuilder,
        ) -> aws_config::timeout::TimeoutConfigBuilder| {
            set(config
                .timeout_config()
                .map_or_else(TimeoutConfig::builder, TimeoutConfig::to_builder))
            .build()
        };
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(path_style || config.endpoint_url().is_some())
            .timeout_config(timeouts(|t| {
                t.operation_attempt_timeout(S3_ATTEMPT_TIMEOUT)
            }))
            .build();
        let lambda = aws_sdk_lambda::config::Builder::from(config)
            .timeout_config(timeouts(|t| t.operation_timeout(LAMBDA_OPERATION_TIMEOUT)))
            .build();
        let sns = aws_sdk_sns::config::Builder::from(config)
            .timeout_config(timeouts(|t| {
                t.operation_attempt_timeout(SNS_ATTEMPT_TIMEOUT)
            }))
            .build();
        let sqs = aws_sdk_sqs::config::Builder::from(config)
            .timeout_config(timeouts(|t| {
                t.operation_attempt_timeout(SQS_ATTEMPT_TIMEOUT)
            }))
            .build();
        // Bounded tightly: the ledger is read before anything runs, and a press with a ledger
        // configured never runs unrecorded, so a hung table should fail the press quickly.
        let dynamodb = aws_sdk_dynamodb::config::Builder::from(config)
            .timeout_config(timeouts(|t| {
                t.operation_attempt_timeout(DYNAMODB_ATTEMPT_TIMEOUT)
                    .operation_timeout(DYNAMODB_OPERATION_TIMEOUT)
            }))
            .build();
        Self {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb),
            s3: aws_sdk_s3::Client::from_conf(s3),
            lambda: aws_sdk_lambda::Client::from_conf(lambda),
            sns: aws_sdk_sns::Client::from_conf(sns),
            sqs: aws_sdk_sqs::Client::from_conf(sqs),
            sdk_config: config.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without `default-https-client` the SDK has no HTTP client of its own: every request of a
    /// configuration loaded some other way fails with "no HTTP client".
    #[tokio::test]
    async fn the_loader_supplies_the_http_client() {
        let config = config_loader()
            .region(aws_config::Region::new("us-west-1"))
            .load()
            .await;
        assert!(config.http_client().is_some());
    }
}
