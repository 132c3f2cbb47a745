//! Options shared by the commands: where the guest comes from, its settings and its limits.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use clickrules_engine::{
    DEFAULT_FUEL, DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_MS, Engine, EngineConfig, Guest, Limits,
};

/// The engine as a deployment would configure it. Each option also reads the environment
/// variable the Lambda uses, so a local run matches production.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// A guest setting served through `host.config`, as KEY=VALUE; repeatable.
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_setting)]
    pub settings: Vec<(String, String)>,
    /// Regions `snapshot` may name, comma separated (default: any valid region).
    #[arg(
        long,
        env = "CLICKRULES_ALLOWED_REGIONS",
        value_delimiter = ',',
        value_name = "REGIONS"
    )]
    pub allowed_regions: Option<Vec<String>>,
    /// Accept well-formed region codes this release does not know (a region AWS opened later).
    #[arg(long, env = "CLICKRULES_ALLOW_UNLISTED_REGIONS", value_name = "BOOL", num_args = 0..=1,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new(),
          default_value_t = false)]
    pub allow_unlisted_regions: bool,
    /// Wall-clock deadline per press, in milliseconds.
    #[arg(long, env = "CLICKRULES_TIMEOUT_MS", default_value_t = DEFAULT_TIMEOUT_MS, value_name = "MS")]
    pub timeout_ms: u64,
    /// Guest memory cap, in MiB.
    #[arg(long, env = "CLICKRULES_MEMORY_MB", default_value_t = DEFAULT_MEMORY_MB, value_name = "MIB")]
    pub memory_mb: u64,
    /// Fuel (instructions) per press.
    #[arg(long, env = "CLICKRULES_FUEL", default_value_t = DEFAULT_FUEL)]
    pub fuel: u64,
}

impl EngineArgs {
    /// Puts these options over the settings read from the environment: the deployment's
    /// settings, then what the command line says.
    pub fn apply(&self, settings: &mut clickrules_aws::Settings) -> anyhow::Result<()> {
        let config = self.config()?;
        settings.limits = config.limits;
        settings.guest_settings.extend(config.settings);
        if config.allowed_regions.is_some() {
            settings.allowed_regions = config.allowed_regions;
        }
        settings.allow_unlisted_regions |= config.allow_unlisted_regions;
        Ok(())
    }

    pub fn engine(&self) -> anyhow::Result<Engine> {
        Engine::new(self.config()?).context("invalid engine configuration")
    }

    pub fn config(&self) -> anyhow::Result<EngineConfig> {
        Ok(EngineConfig {
            limits: Limits {
                timeout: Duration::from_millis(self.timeout_ms),
                memory_bytes: self
                    .memory_mb
                    .checked_mul(1 << 20)
                    .context("--memory-mb is too large")?,
                fuel: self.fuel,
            },
            settings: self.settings.iter().cloned().collect(),
            allowed_regions: self.allowed_regions.clone().map(|v| {
                v.into_iter()
                    .map(|r| r.trim().to_string())
                    .filter(|r| !r.is_empty())
                    .collect()
            }),
            allow_unlisted_regions: self.allow_unlisted_regions,
            max_concurrent_presses: 1,
        })
    }
}

/// A guest named on the command line: a path, or the built-in default.
pub struct LoadedGuest {
    pub uri: String,
    pub guest: Arc<Guest>,
}

pub fn load_guest(engine: &Engine, path: Option<&PathBuf>) -> anyhow::Result<LoadedGuest> {
    let (uri, bytes) = match path {
        None => (
            clickrules_builtin::DEFAULT_GUEST_URI.to_string(),
            clickrules_builtin::DEFAULT_GUEST.to_vec(),
        ),
        Some(path) => (
            path.display().to_string(),
            std::fs::read(path).with_context(|| format!("cannot read guest {}", path.display()))?,
        ),
    };
    let guest = engine
        .load(&bytes)
        .with_context(|| format!("cannot load guest {uri}"))?;
    Ok(LoadedGuest { uri, guest })
}

fn parse_setting(raw: &str) -> anyhow::Result<(String, String)> {
    let Some((key, value)) = raw.split_once('=') else {
        bail!("expected KEY=VALUE, got {raw:?}");
    };
    let key = key.trim();
    if key.is_empty() {
        bail!("the key in {raw:?} is empty");
    }
    Ok((key.to_string(), value.to_string()))
}
