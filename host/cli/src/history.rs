//! `clickrules history`: the presses a deployment's ledger table (or the history beside a
//! `press --state` file) kept, newest first, filtered by device, time and outcome. The source
//! options are shared with `explain` and `forget`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use clickrules_aws::{AwsClients, DynamoHistory, Settings};
use clickrules_engine::text::escape_control as esc;
use clickrules_pipeline::{
    Forgotten, History as _, HistoryError, HistoryQuery, PressOutcome, Retention,
};

use crate::check::now_ms;
use crate::history_render;
use crate::local_history::{Listed, LocalHistory};
use crate::remote;
use crate::render;

/// The setting that names a deployment's ledger table.
const LEDGER_TABLE: &str = "CLICKRULES_LEDGER_TABLE";

/// Where the history is read: exactly one of a local state file, a table, a function.
#[derive(Debug, Clone, Args)]
#[group(id = "history_source", required = true, multiple = false)]
#[command(next_help_heading = "Source (exactly one)")]
pub struct SourceArgs {
    /// The history of local presses with `press --state FILE` (kept in FILE.history.jsonl).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// A deployment's ledger table (its CLICKRULES_LEDGER_TABLE), read with your AWS
    /// credentials.
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
    /// The ledger table of the deployed function NAME (read from its CLICKRULES_LEDGER_TABLE).
    #[arg(long, value_name = "NAME")]
    pub function: Option<String>,
}

/// Where the presses are kept.
enum Store {
    Local(LocalHistory),
    Table(DynamoHistory),
}

/// An opened history and the name it is known by in messages.
pub struct Source {
    store: Store,
    name: String,
    runtime: tokio::runtime::Runtime,
}

impl SourceArgs {
    /// Opens the history the options name.
    pub fn open(&self) -> anyhow::Result<Source> {
        if let Some(state) = &self.state {
            let local = LocalHistory::beside(state);
            return Ok(Source {
                name: local.path().display().to_string(),
                store: Store::Local(local),
                runtime: remote::runtime()?,
            });
        }
        let (table, name, retention) = match (&self.table, &self.function) {
            // The retention only bounds how far back a listing reads: this shell's setting,
            // else the default, is as good a guess as any for a table named directly.
            (Some(table), _) => (
                table.clone(),
                format!("table {}", esc(table)),
                Settings::from_process_env()
                    .map_or_else(|_| Retention::default(), |s| s.history_retention),
            ),
            (None, Some(function)) => {
                let deployed = remote::function_configuration(function)?;
                let retention = Settings::from_env(deployed.environment.clone())
                    .map_or_else(|_| Retention::default(), |s| s.history_retention);
                let table = deployed
                    .environment
                    .get(LEDGER_TABLE)
                    .filter(|t| !t.is_empty())
                    .cloned()
                    .with_context(|| {
                        format!(
                            "function {} keeps no press history: it has no ledger table \
                             ({LEDGER_TABLE} is not set)",
                            esc(function)
                        )
                    })?;
                let name = format!("table {} (function {})", esc(&table), esc(function));
                (table, name, retention)
            }
            // clap requires one source.
            (None, None) => anyhow::bail!("give --state FILE, --table NAME or --function NAME"),
        };
        let runtime = remote::runtime()?;
        let clients = runtime.block_on(AwsClients::from_env());
        Ok(Source {
            store: Store::Table(
                DynamoHistory::new(clients.dynamodb, table).with_retention(retention),
            ),
            name,
            runtime,
        })
    }
}

impl Source {
    /// How messages name it: the file, or the table.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Presses matching `query`, newest first.
    pub fn list(&self, query: &HistoryQuery) -> anyhow::Result<Vec<Listed>> {
        self.runtime.block_on(async {
            Ok(match &self.store {
                Store::Local(local) => local.list_timed(query)?,
                Store::Table(table) => table
                    .list(query)
                    .await
                    .map_err(|e| self.named(e))?
                    .into_iter()
                    .map(Listed::of)
                    .collect(),
            })
        })
    }

    /// The error naming the store as messages here do (`table NAME`, not a bare name).
    fn named(&self, e: HistoryError) -> HistoryError {
        match e {
            HistoryError::Unavailable { message, .. } => HistoryError::Unavailable {
                store: self.name.clone(),
                message: match message.contains("ResourceNotFoundException") {
                    true => format!("{message}; is the table's name (and region) right?"),
                    false => message,
                },
            },
            HistoryError::Corrupt { what, message, .. } => HistoryError::Corrupt {
                store: self.name.clone(),
                what,
                message,
            },
            other => other,
        }
    }

    /// One press by id.
    pub fn get(&self, press_id: &str) -> anyhow::Result<Option<Listed>> {
        self.runtime.block_on(async {
            Ok(match &self.store {
                Store::Local(local) => local.get_timed(press_id)?,
                Store::Table(table) => table
                    .get(press_id)
                    .await
                    .map_err(|e| self.named(e))?
                    .map(Listed::of),
            })
        })
    }

    /// Deletes a device's presses and state.
    pub fn forget(&self, device: &str) -> anyhow::Result<Forgotten> {
        self.runtime.block_on(async {
            Ok(match &self.store {
                Store::Local(local) => local.forget(device).await?,
                Store::Table(table) => table.forget(device).await.map_err(|e| self.named(e))?,
            })
        })
    }
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only this device: SOURCE#ID (iot-button#G030JF055364XVRB) or a bare device id.
    #[arg(long, value_name = "DEVICE")]
    device: Option<String>,
    /// Only presses since this long ago (30m, 2h, 7d) or this RFC 3339 time.
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    since: Option<u64>,
    /// Only presses before this long ago (30m, 2h, 7d) or this RFC 3339 time.
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    until: Option<u64>,
    /// Only presses that came to this: ok, ignored, not_a_press, duplicate (delivered more
    /// than once), in_progress, fallback, failed.
    #[arg(long, value_name = "OUTCOME", value_parser = parse_outcome)]
    outcome: Option<PressOutcome>,
    /// At most this many presses, newest first (0: all).
    #[arg(long, value_name = "N", default_value_t = 50)]
    limit: usize,
    /// Print the entries as a JSON array (each with the press record).
    #[arg(long)]
    json: bool,
    // Last: its help heading would otherwise take in the options after it.
    #[command(flatten)]
    source: SourceArgs,
}

pub fn run(args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let source = args.source.open()?;
    let query = HistoryQuery {
        device: args.device.clone(),
        since_ms: args.since,
        until_ms: args.until,
        outcome: args.outcome,
        limit: args.limit,
    };
    let entries = source.list(&query)?;
    if args.json {
        render::emit(&format!("{}\n", serde_json::to_string_pretty(&entries)?))?;
    } else if entries.is_empty() {
        render::emit(&format!(
            "no presses in {}{}\n",
            source.name(),
            filters(&args)
        ))?;
    } else {
        render::emit(&history_render::table(&entries))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// ` match device X, outcome Y`, for the empty answer.
fn filters(args: &HistoryArgs) -> String {
    let mut given = Vec::new();
    if let Some(device) = &args.device {
        given.push(format!("device {}", esc(device)));
    }
    if let Some(since) = args.since {
        given.push(format!("since {}", history_render::utc(since)));
    }
    if let Some(until) = args.until {
        given.push(format!("before {}", history_render::utc(until)));
    }
    if let Some(outcome) = args.outcome {
        given.push(format!("outcome {}", outcome.as_str()));
    }
    match given.is_empty() {
        true => String::new(),
        false => format!(" match {}", given.join(", ")),
    }
}

/// `--outcome NAME`, naming the valid ones when it is wrong.
fn parse_outcome(raw: &str) -> Result<PressOutcome, String> {
    PressOutcome::parse(raw).ok_or_else(|| {
        let names: Vec<&str> = PressOutcome::ALL.iter().map(|o| o.as_str()).collect();
        format!(
            "{raw:?} is not an outcome; expected one of {}",
            names.join(", ")
        )
    })
}

/// `--since` and `--until`: a duration back from now (`30m`, `2h`, `7d`) or an RFC 3339
/// time, as ms since the epoch.
pub(crate) fn parse_when(raw: &str) -> Result<u64, String> {
    if let Some(ago) = duration_ms(raw.trim()) {
        return Ok(now_ms().saturating_sub(ago));
    }
    let at: jiff::Timestamp = raw.parse().map_err(|_| {
        format!(
            "{raw:?} is neither a duration (30m, 2h, 7d) nor an RFC 3339 time \
             (2026-12-02T22:30:00Z)"
        )
    })?;
    Ok(u64::try_from(at.as_millisecond()).unwrap_or(0))
}

/// `45s`, `30m`, `2h`, `7d`, `2w` in ms.
fn duration_ms(raw: &str) -> Option<u64> {
    let split = raw.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = raw.split_at(split);
    let n: u64 = number.parse().ok()?;
    let unit_ms: u64 = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return None,
    };
    Some(n.saturating_mul(unit_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times() {
        assert_eq!(duration_ms("30m"), Some(1_800_000));
        assert_eq!(duration_ms("7d"), Some(604_800_000));
        assert_eq!(duration_ms("2x"), None);
        assert_eq!(duration_ms("h"), None);
        assert_eq!(duration_ms("12"), None);
        assert_eq!(parse_when("2026-12-03T10:00:00Z"), Ok(1_796_292_000_000));
        assert!(parse_when("yesterday").unwrap_err().contains("30m"));
        assert!(parse_outcome("fine").unwrap_err().contains("not_a_press"));
        assert_eq!(parse_outcome("not-a-press"), Ok(PressOutcome::NotAPress));
    }
}
