//! Options shared by the commands: which deployment's settings apply, the settings the
//! command line puts over them, and whether slow steps show progress.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use clickrules_aws::Settings;
use serde::Serialize;

use crate::progress::{Progress, ProgressMode};
use crate::remote;

/// Whether a command shows progress on its slow steps (compiling, precompiling, uploading,
/// sweeps) on stderr; see [`crate::progress`].
#[derive(Debug, Clone, Copy, Default, Args)]
#[command(next_help_heading = "Output")]
pub struct ProgressArgs {
    /// Show progress on slow steps on stderr: auto (when stderr is a terminal), always (even
    /// to a pipe or a file, e.g. a CI log), never. Nothing is drawn with --json or --quiet.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// No progress and no informational lines on stderr; warnings and errors still print.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

impl ProgressArgs {
    /// The progress to draw, for a command whose output is JSON when `json`.
    pub fn progress(&self, json: bool) -> Progress {
        Progress::from_flags(self.progress, json, self.quiet)
    }
}

/// Settings a deployment configures with `CLICKRULES_*` variables, given on the command line.
/// The settings start as the deployment's (the function's environment with `--function`, else
/// this process's `CLICKRULES_*` variables, as the Lambda reads them); each option given here
/// overrides its variable.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Settings (override CLICKRULES_* of the environment or --function)")]
pub struct EngineArgs {
    /// A guest setting served through `host.config`, as KEY=VALUE; repeatable
    /// (`CLICKRULES_CONFIG_<KEY>`).
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_setting)]
    pub settings: Vec<(String, String)>,
    /// Regions `snapshot` may name, comma separated (CLICKRULES_ALLOWED_REGIONS; default: any
    /// known region).
    #[arg(long, value_delimiter = ',', value_name = "REGIONS")]
    pub allowed_regions: Option<Vec<String>>,
    /// Accept well-formed region codes this release does not know, a region AWS opened later
    /// (CLICKRULES_ALLOW_UNLISTED_REGIONS; default: false).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_unlisted_regions: Option<bool>,
    /// Wall-clock deadline per press, in milliseconds (CLICKRULES_TIMEOUT_MS; default: 1000).
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
    /// Guest memory cap, in MiB (CLICKRULES_MEMORY_MB; default: 128).
    #[arg(long, value_name = "MIB")]
    pub memory_mb: Option<u64>,
    /// Fuel (instructions) per press (CLICKRULES_FUEL; default: 10^12).
    #[arg(long)]
    pub fuel: Option<u64>,
}

impl EngineArgs {
    /// Puts the options given over `settings` (the deployment's).
    pub fn apply(&self, settings: &mut Settings) -> anyhow::Result<()> {
        if let Some(ms) = self.timeout_ms {
            settings.limits.timeout = Duration::from_millis(ms);
        }
        if let Some(mb) = self.memory_mb {
            settings.limits.memory_bytes = mb
                .checked_mul(1 << 20)
                .context("--memory-mb is too large")?;
        }
        if let Some(fuel) = self.fuel {
            settings.limits.fuel = fuel;
        }
        // Served under the lowercased key, as CLICKRULES_CONFIG_<KEY> is, so an option
        // overrides its variable.
        settings.guest_settings.extend(
            self.settings
                .iter()
                .map(|(key, value)| (key.to_ascii_lowercase(), value.clone())),
        );
        if let Some(regions) = &self.allowed_regions {
            settings.allowed_regions = Some(
                regions
                    .iter()
                    .map(|r| r.trim().to_string())
                    .filter(|r| !r.is_empty())
                    .collect(),
            );
        }
        if let Some(allow) = self.allow_unlisted_regions {
            settings.allow_unlisted_regions = allow;
        }
        Ok(())
    }

    /// The options given, as their flags.
    pub fn given(&self) -> Vec<&'static str> {
        [
            (!self.settings.is_empty(), "--config"),
            (self.allowed_regions.is_some(), "--allowed-regions"),
            (
                self.allow_unlisted_regions.is_some(),
                "--allow-unlisted-regions",
            ),
            (self.timeout_ms.is_some(), "--timeout-ms"),
            (self.memory_mb.is_some(), "--memory-mb"),
            (self.fuel.is_some(), "--fuel"),
        ]
        .into_iter()
        .filter_map(|(given, flag)| given.then_some(flag))
        .collect()
    }
}

/// A deployed function, as `GetFunctionConfiguration` describes it.
#[derive(Debug, Clone)]
pub struct DeployedFunction {
    /// Its ARN.
    pub arn: Option<String>,
    /// Its region: from the ARN, else the one the request went to.
    pub region: Option<String>,
    /// Its memory (MemorySize), in MB.
    pub memory_mb: Option<u64>,
    /// Its environment variables.
    pub environment: HashMap<String, String>,
}

/// Where the settings a command used came from, as `--json` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct SettingsSource {
    /// `function` or `environment`.
    pub from: &'static str,
    /// The function, as named with `--function`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The options given on the command line, which override those settings.
    pub overrides: Vec<&'static str>,
}

impl SettingsSource {
    /// `settings   from function NAME (REGION)` or `settings   from the environment`, then the
    /// options that override them.
    pub fn line(&self) -> String {
        let mut line = match &self.function {
            Some(function) => format!(
                "settings   from function {}{}",
                clickrules_engine::text::escape_control(function),
                self.region
                    .as_deref()
                    .map_or_else(String::new, |r| format!(" ({r})"))
            ),
            None => "settings   from the environment".to_string(),
        };
        if !self.overrides.is_empty() {
            line.push_str(&format!(", overridden by {}", self.overrides.join(", ")));
        }
        line.push('\n');
        line
    }
}

/// The settings a deployment judges a guest under.
#[derive(Debug)]
pub struct Deployment {
    /// Its settings, with the options given put over them.
    pub settings: Settings,
    /// Where they came from.
    pub source: SettingsSource,
    /// The function, with `--function`.
    pub function: Option<DeployedFunction>,
}

/// The settings of `function` (read with `GetFunctionConfiguration`), else this process's
/// environment, then the options given on the command line.
pub fn deployment(function: Option<&str>, engine: &EngineArgs) -> anyhow::Result<Deployment> {
    let (mut settings, deployed) = match function {
        None => (
            Settings::from_process_env().context("invalid CLICKRULES_* setting")?,
            None,
        ),
        Some(name) => {
            let deployed = remote::function_configuration(name)?;
            let settings = Settings::from_env(deployed.environment.clone())
                .with_context(|| format!("function {name} has an invalid CLICKRULES_* setting"))?;
            (settings, Some(deployed))
        }
    };
    // Only a function's: this process's environment also holds the CLI's own variables.
    if let Some(name) = function {
        for variable in &settings.unknown_variables {
            eprintln!(
                "warning: function {name} sets {variable}, which is not a clickrules setting \
                 (a typo?); the Lambda ignores it"
            );
        }
    }
    engine.apply(&mut settings)?;
    let source = SettingsSource {
        from: if function.is_some() {
            "function"
        } else {
            "environment"
        },
        function: function.map(str::to_string),
        arn: deployed.as_ref().and_then(|d| d.arn.clone()),
        region: deployed.as_ref().and_then(|d| d.region.clone()),
        overrides: engine.given(),
    };
    Ok(Deployment {
        settings,
        source,
        function: deployed,
    })
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
