//! Function URL requests pressed locally (`press --event` with a captured webhook request):
//! verified exactly as the webhook function verifies them, with the key and secret from
//! files instead of SSM or Secrets Manager.

use std::collections::HashSet;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use clickrules_aws::WebhookEntry;
use clickrules_webhooks::{
    FlicConfig, FlicKey, GenericConfig, SecretRef, StaticSecrets, WebhookConfig,
    is_function_url_event,
};

/// Where the local secret is said to live; only the CLI's own store answers for it.
const LOCAL_SECRET: &str = "ssm:/clickrules/local/webhook-secret";

#[derive(Debug, Args)]
pub struct WebhookArgs {
    /// A Flic public key (PEM, JWK or base64) to verify Flic tokens with instead of Flic's
    /// published key.
    #[arg(long, value_name = "FILE")]
    flic_key: Option<PathBuf>,
    /// Accept Flic tokens only from this buttonUuid (repeatable); without it a local press
    /// checks no allow-list.
    #[arg(long, value_name = "UUID")]
    flic_allow: Vec<String>,
    /// The generic webhook's HMAC secret, in a file (surrounding whitespace ignored).
    #[arg(long, value_name = "FILE")]
    webhook_secret: Option<PathBuf>,
    /// Seconds a signed webhook's timestamp may be from now (see --now).
    #[arg(long, value_name = "SECONDS", default_value_t = clickrules_webhooks::DEFAULT_WEBHOOK_TOLERANCE_S)]
    webhook_tolerance: u64,
}

impl WebhookArgs {
    pub fn has_secret(&self) -> bool {
        self.webhook_secret.is_some()
    }

    /// The webhook function's verification, with these keys.
    pub fn entry(&self) -> anyhow::Result<WebhookEntry<StaticSecrets>> {
        let key = match &self.flic_key {
            None => FlicKey::Published,
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read --flic-key {}", path.display()))?;
                FlicKey::from_pem(&text)
                    .with_context(|| format!("--flic-key {}", path.display()))?
            }
        };
        let flic = FlicConfig {
            allowed_buttons: (!self.flic_allow.is_empty())
                .then(|| self.flic_allow.iter().cloned().collect::<HashSet<_>>()),
            key,
            ..FlicConfig::default()
        };
        let mut secrets = StaticSecrets::new();
        let generic = match &self.webhook_secret {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read --webhook-secret {}", path.display()))?;
                let reference: SecretRef =
                    LOCAL_SECRET.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
                secrets = secrets.with(reference.clone(), text.trim());
                Some(GenericConfig {
                    secret: reference,
                    tolerance_s: self.webhook_tolerance,
                })
            }
        };
        Ok(WebhookEntry::from_config(
            WebhookConfig {
                flic: Some(flic),
                generic,
            },
            secrets,
        ))
    }
}

/// Whether an event file is a Function URL request rather than a button event.
pub fn is_function_url(event: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(event).is_ok_and(|v| is_function_url_event(&v))
}
