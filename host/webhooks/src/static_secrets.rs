//! Secrets held in memory: what the CLI reads from `--webhook-secret FILE` / `--flic-key
//! FILE`, and what tests configure.

use std::collections::HashMap;
use std::future::{Future, ready};

use crate::secrets::{SecretError, SecretRef, SecretStore};

/// A fixed map from reference to value. Its `Debug` names the references, never the values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct StaticSecrets(pub HashMap<SecretRef, String>);

impl StaticSecrets {
    /// No secrets: every fetch is `NotFound`.
    pub fn new() -> Self {
        Self::default()
    }

    /// These secrets and `value` under `reference`.
    pub fn with(mut self, reference: SecretRef, value: impl Into<String>) -> Self {
        self.0.insert(reference, value.into());
        self
    }
}

impl From<HashMap<SecretRef, String>> for StaticSecrets {
    fn from(map: HashMap<SecretRef, String>) -> Self {
        Self(map)
    }
}

impl std::fmt::Debug for StaticSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<String> = self.0.keys().map(ToString::to_string).collect();
        names.sort();
        f.debug_tuple("StaticSecrets").field(&names).finish()
    }
}

impl SecretStore for StaticSecrets {
    fn fetch(
        &self,
        reference: &SecretRef,
    ) -> impl Future<Output = Result<String, SecretError>> + Send {
        let reference_text = || reference.to_string();
        ready(match self.0.get(reference) {
            None => Err(SecretError::NotFound {
                reference: reference_text(),
            }),
            Some(value) if value.trim().is_empty() => Err(SecretError::Empty {
                reference: reference_text(),
            }),
            Some(value) => Ok(value.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fetches_what_was_put_and_refuses_the_rest() {
        let hook = SecretRef::Ssm("/hook".into());
        let blank = SecretRef::Ssm("/blank".into());
        let secrets = StaticSecrets::new()
            .with(hook.clone(), "s3cret")
            .with(blank.clone(), " \n");
        assert_eq!(secrets.fetch(&hook).await, Ok("s3cret".into()));
        assert!(matches!(
            secrets.fetch(&blank).await,
            Err(SecretError::Empty { .. })
        ));
        assert!(matches!(
            secrets.fetch(&SecretRef::Ssm("/other".into())).await,
            Err(SecretError::NotFound { .. })
        ));
        let debug = format!("{secrets:?}");
        assert!(
            debug.contains("ssm:/hook") && !debug.contains("s3cret"),
            "{debug}"
        );
    }
}
