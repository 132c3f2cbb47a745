//! Webhook secrets and keys from SSM Parameter Store and Secrets Manager ([`AwsSecrets`]), the
//! AWS adapter for the webhooks' [`SecretStore`] port.
//!
//! Each reference is fetched on its first use, not at init (the cold-start budget), and its
//! value kept for the life of the process. A failed fetch is not kept: the next webhook tries
//! again. Concurrent first uses of one reference share one request.
//!
//! Values never reach a log or a `Debug` output: [`AwsSecrets`]'s `Debug` names only how many
//! references are cached and how many fetches were made.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::timeout::{TimeoutConfig, TimeoutConfigBuilder};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use aws_sdk_ssm::operation::get_parameter::GetParameterError;
use clickrules_webhooks::{SecretError, SecretRef, SecretStore};
use tokio::sync::OnceCell;

use crate::sdk_error::sdk_error_text;

/// One GetParameter / GetSecretValue request. The fetch holds the first webhook, whose caller
/// (Flic Cloud, a generic sender) waits for the answer, so it is bounded tightly, as the ledger.
const SECRET_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// The same request with all its retries.
const SECRET_OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

/// Error codes that mean "too many requests": after the client's retries, the store is
/// unavailable, not refusing.
const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottledException",
    "ProvisionedThroughputExceededException",
];

/// Secrets from SSM Parameter Store (`GetParameter`, decrypted) and Secrets Manager
/// (`GetSecretValue`, its `SecretString`), each fetched once and cached for the process.
///
/// Clones share the cache and the fetch count.
#[derive(Clone)]
pub struct AwsSecrets {
    ssm: aws_sdk_ssm::Client,
    secretsmanager: aws_sdk_secretsmanager::Client,
    cache: Arc<Mutex<HashMap<SecretRef, Arc<OnceCell<String>>>>>,
    fetches: Arc<AtomicU64>,
}

impl AwsSecrets {
    /// Builds the SSM and Secrets Manager clients from a loaded configuration (load it with
    /// [`crate::config_loader`], which supplies the HTTPS client), each request bounded by its
    /// own attempt and operation timeouts. Retries are the configuration's.
    pub fn new(config: &SdkConfig) -> Self {
        let timeouts = bounded_timeouts(config);
        let ssm = aws_sdk_ssm::config::Builder::from(config)
            .timeout_config(timeouts.clone())
            .build();
        let secretsmanager = aws_sdk_secretsmanager::config::Builder::from(config)
            .timeout_config(timeouts)
            .build();
        Self::from_clients(
            aws_sdk_ssm::Client::from_conf(ssm),
            aws_sdk_secretsmanager::Client::from_conf(secretsmanager),
        )
    }

    /// Uses clients built elsewhere, as they are.
    pub fn from_clients(
        ssm: aws_sdk_ssm::Client,
        secretsmanager: aws_sdk_secretsmanager::Client,
    ) -> Self {
        Self {
            ssm,
            secretsmanager,
            cache: Arc::default(),
            fetches: Arc::default(),
        }
    }

    /// How many requests to SSM or Secrets Manager were started so far (the SDK's retries of
    /// one request count once), failed ones included.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// The cell for `reference`, created empty on first use.
    fn cell(&self, reference: &SecretRef) -> Arc<OnceCell<String>> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(cache.entry(reference.clone()).or_default())
    }

    /// One request to the store, uncached.
    async fn fetch_uncached(&self, reference: &SecretRef) -> Result<String, SecretError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let value = match reference {
            SecretRef::Ssm(name) => self.parameter(reference, name).await?,
            SecretRef::SecretsManager(id) => self.secret(reference, id).await?,
        };
        if value.is_empty() {
            return Err(SecretError::Empty {
                reference: reference.to_string(),
            });
        }
        Ok(value)
    }

    async fn parameter(&self, reference: &SecretRef, name: &str) -> Result<String, SecretError> {
        let output = self
            .ssm
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| {
                let not_found = e.as_service_error().is_some_and(|s| {
                    matches!(
                        s,
                        GetParameterError::ParameterNotFound(_)
                            | GetParameterError::ParameterVersionNotFound(_)
                    )
                });
                classify(reference, &e, not_found)
            })?;
        Ok(output.parameter.and_then(|p| p.value).unwrap_or_default())
    }

    async fn secret(&self, reference: &SecretRef, id: &str) -> Result<String, SecretError> {
        let output = self
            .secretsmanager
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| {
                let not_found = e
                    .as_service_error()
                    .is_some_and(GetSecretValueError::is_resource_not_found_exception);
                classify(reference, &e, not_found)
            })?;
        match (output.secret_string, output.secret_binary) {
            (Some(text), _) => Ok(text),
            (None, Some(_)) => Err(SecretError::Refused {
                reference: reference.to_string(),
                message: "the secret holds only SecretBinary; clickrules reads its \
                          SecretString, so store the value as text"
                    .into(),
            }),
            (None, None) => Ok(String::new()),
        }
    }
}

impl SecretStore for AwsSecrets {
    async fn fetch(&self, reference: &SecretRef) -> Result<String, SecretError> {
        let cell = self.cell(reference);
        cell.get_or_try_init(|| self.fetch_uncached(reference))
            .await
            .cloned()
    }
}

impl std::fmt::Debug for AwsSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // References only, never values; `try_lock` so a `Debug` never waits on a fetch.
        let cached = self.cache.try_lock().ok().map(|cache| {
            cache
                .iter()
                .filter(|(_, cell)| cell.initialized())
                .map(|(reference, _)| reference.to_string())
                .collect::<Vec<_>>()
        });
        f.debug_struct("AwsSecrets")
            .field("cached", &cached)
            .field("fetches", &self.fetches())
            .finish_non_exhaustive()
    }
}

/// The configuration's timeouts, with this adapter's bounds on one request.
fn bounded_timeouts(config: &SdkConfig) -> TimeoutConfig {
    let builder: TimeoutConfigBuilder = config
        .timeout_config()
        .map_or_else(TimeoutConfig::builder, TimeoutConfig::to_builder);
    builder
        .operation_attempt_timeout(SECRET_ATTEMPT_TIMEOUT)
        .operation_timeout(SECRET_OPERATION_TIMEOUT)
        .build()
}

/// An SDK failure as the port's error: `not_found` (the operation's own "no such parameter or
/// secret") → `NotFound`; 5xx, throttling, and no answer at all (timeout, connection, TLS,
/// credentials) → `Unavailable`; any other refusal (access denied, KMS, a malformed name) →
/// `Refused`.
fn classify<E>(reference: &SecretRef, e: &SdkError<E>, not_found: bool) -> SecretError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let reference = reference.to_string();
    if not_found {
        return SecretError::NotFound { reference };
    }
    let message = sdk_error_text(e);
    let unavailable = match e {
        SdkError::ServiceError(context) => {
            context.raw().status().is_server_error()
                || e.code()
                    .is_some_and(|code| THROTTLING_CODES.contains(&code))
        }
        // The request could not be built: retrying the same reference cannot help.
        SdkError::ConstructionFailure(_) => false,
        _ => true,
    };
    if unavailable {
        SecretError::Unavailable { reference, message }
    } else {
        SecretError::Refused { reference, message }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::config::http::HttpResponse;
    use aws_sdk_s3::primitives::SdkBody;
    use aws_sdk_ssm::error::ErrorMetadata;

    use super::*;

    fn service_error(status: u16, code: &str) -> SdkError<GetParameterError> {
        let raw = HttpResponse::new(status.try_into().unwrap(), SdkBody::from("{}"));
        let meta = ErrorMetadata::builder()
            .code(code)
            .message("no reason")
            .build();
        SdkError::service_error(GetParameterError::generic(meta), raw)
    }

    fn reference() -> SecretRef {
        SecretRef::Ssm("/clickrules/secret".into())
    }

    #[test]
    fn service_errors_map_to_the_port() {
        let cases = [
            (400, "AccessDeniedException", "Refused"),
            (400, "InvalidKeyId", "Refused"),
            (400, "KMSAccessDeniedException", "Refused"),
            (400, "ThrottlingException", "Unavailable"),
            (500, "InternalServerError", "Unavailable"),
            (503, "ServiceUnavailable", "Unavailable"),
        ];
        for (status, code, expected) in cases {
            let got = classify(&reference(), &service_error(status, code), false);
            let kind = match &got {
                SecretError::Refused { message, .. } => {
                    assert!(message.contains(code), "{message}");
                    "Refused"
                }
                SecretError::Unavailable { .. } => "Unavailable",
                other => panic!("{code}: {other:?}"),
            };
            assert_eq!(kind, expected, "{status} {code}");
        }
        assert!(matches!(
            classify(&reference(), &service_error(400, "ParameterNotFound"), true),
            SecretError::NotFound { .. }
        ));
    }

    #[test]
    fn debug_shows_no_values() {
        let config = SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let secrets = AwsSecrets::new(&config);
        let cell = secrets.cell(&reference());
        cell.set("hunter2-very-secret".into()).unwrap();
        let debug = format!("{secrets:?}");
        assert!(debug.contains("ssm:/clickrules/secret"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}
