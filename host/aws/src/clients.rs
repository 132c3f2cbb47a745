//! The SDK clients, built once per process from the standard AWS configuration chain.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

/// How long one S3 request may take before it counts as a transient failure. Guests are at most
/// tens of MB and S3 is in-region, so this is generous; without it a hung connection would hold
/// the press until the Lambda's own timeout.
const S3_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The clients the AWS edge uses.
#[derive(Debug, Clone)]
pub struct AwsClients {
    /// Guests are read from here.
    pub s3: aws_sdk_s3::Client,
    /// `snapshot` invokes through this.
    pub lambda: aws_sdk_lambda::Client,
    /// `notify` publishes through this.
    pub sns: aws_sdk_sns::Client,
}

impl AwsClients {
    /// Loads the default configuration (environment, profile, container or instance role) and
    /// builds the clients. `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_S3` (an emulator, a VPC
    /// endpoint) switch S3 to path-style addressing.
    pub async fn from_env() -> Self {
        let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
        let endpoint_override = ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"]
            .iter()
            .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()));
        Self::from_sdk_config(&config, endpoint_override)
    }

    /// Builds the clients from a loaded configuration. S3 uses path-style addressing when
    /// `path_style` is set or the configuration names an endpoint: emulators and custom
    /// endpoints do not serve `bucket.host` virtual-hosted names.
    pub fn from_sdk_config(config: &SdkConfig, path_style: bool) -> Self {
        let timeouts = config
            .timeout_config()
            .map_or_else(TimeoutConfig::builder, TimeoutConfig::to_builder)
            .operation_attempt_timeout(S3_ATTEMPT_TIMEOUT)
            .build();
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(path_style || config.endpoint_url().is_some())
            .timeout_config(timeouts)
            .build();
        Self {
            s3: aws_sdk_s3::Client::from_conf(s3),
            lambda: aws_sdk_lambda::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
        }
    }
}
