//! Where webhook secrets and keys come from: a reference to Secrets Manager or SSM Parameter
//! Store, resolved by the AWS edge on the first webhook and cached (not at init, which is
//! the cold-start budget). Never a plain environment variable.

use std::future::Future;
use std::str::FromStr;

/// A secret's location, as written in `CLICKRULES_WEBHOOK_SECRET` / `CLICKRULES_FLIC_PUBLIC_KEY`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretRef {
    /// An SSM parameter (SecureString or String), by name (`/clickrules/webhook-secret`) or ARN.
    Ssm(String),
    /// A Secrets Manager secret (its `SecretString`), by name or ARN.
    SecretsManager(String),
}

/// The reference forms accepted, for error messages.
pub const SECRET_REF_FORMS: &str = "ssm:NAME, secretsmanager:NAME, or the parameter's or \
                                    secret's ARN (arn:aws:ssm:..., arn:aws:secretsmanager:...)";

/// A reference that is neither form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a secret reference; expected {SECRET_REF_FORMS}")]
pub struct BadSecretRef {
    /// What was given.
    pub value: String,
}

impl FromStr for SecretRef {
    type Err = BadSecretRef;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadSecretRef {
            value: s.to_string(),
        };
        let s = s.trim();
        if let Some(name) = s.strip_prefix("ssm:") {
            return non_empty(name).map(SecretRef::Ssm).ok_or_else(bad);
        }
        if let Some(name) = s.strip_prefix("secretsmanager:") {
            return non_empty(name)
                .map(SecretRef::SecretsManager)
                .ok_or_else(bad);
        }
        if s.starts_with("arn:") {
            let service = s.split(':').nth(2).unwrap_or_default();
            return match service {
                "ssm" if s.contains(":parameter/") => Ok(SecretRef::Ssm(s.to_string())),
                "secretsmanager" if s.contains(":secret:") => {
                    Ok(SecretRef::SecretsManager(s.to_string()))
                }
                _ => Err(bad()),
            };
        }
        Err(bad())
    }
}

fn non_empty(name: &str) -> Option<String> {
    (!name.is_empty()).then(|| name.to_string())
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretRef::Ssm(name) if name.starts_with("arn:") => f.write_str(name),
            SecretRef::Ssm(name) => write!(f, "ssm:{name}"),
            SecretRef::SecretsManager(name) if name.starts_with("arn:") => f.write_str(name),
            SecretRef::SecretsManager(name) => write!(f, "secretsmanager:{name}"),
        }
    }
}

/// Why a secret could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The store has nothing under the reference.
    #[error("the secret {reference} does not exist")]
    NotFound {
        /// Where it was looked for.
        reference: String,
    },
    /// The store refused (permissions, KMS).
    #[error("reading the secret {reference} was refused: {message}")]
    Refused {
        /// Where it was looked for.
        reference: String,
        /// The service's explanation.
        message: String,
    },
    /// The store did not answer, after the client's retries.
    #[error("the secret store for {reference} is unavailable: {message}")]
    Unavailable {
        /// Where it was looked for.
        reference: String,
        /// What failed.
        message: String,
    },
    /// The secret exists but holds no text.
    #[error("the secret {reference} is empty")]
    Empty {
        /// Where it was looked for.
        reference: String,
    },
}

impl SecretError {
    /// Whether a later try may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SecretError::Unavailable { .. })
    }
}

/// Resolves secret references. The AWS adapter caches each value after its first fetch.
pub trait SecretStore: Send + Sync {
    /// The secret's text.
    fn fetch(
        &self,
        reference: &SecretRef,
    ) -> impl Future<Output = Result<String, SecretError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_in_every_form() {
        assert_eq!(
            "ssm:/clickrules/secret".parse(),
            Ok(SecretRef::Ssm("/clickrules/secret".into()))
        );
        assert_eq!(
            "secretsmanager:clickrules-webhook".parse(),
            Ok(SecretRef::SecretsManager("clickrules-webhook".into()))
        );
        let arn = "arn:aws:ssm:us-west-1:123456789012:parameter/clickrules/secret";
        assert_eq!(arn.parse(), Ok(SecretRef::Ssm(arn.into())));
        let arn = "arn:aws:secretsmanager:us-west-1:123456789012:secret:hook-AbCdEf";
        assert_eq!(arn.parse(), Ok(SecretRef::SecretsManager(arn.into())));
        for bad in [
            "",
            "ssm:",
            "plain-secret-value",
            "arn:aws:s3:::bucket",
            "arn:aws:ssm:us-west-1:1:document/x",
        ] {
            assert!(bad.parse::<SecretRef>().is_err(), "{bad}");
        }
    }
}
