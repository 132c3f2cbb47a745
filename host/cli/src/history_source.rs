//! Where a command reads press history from: the ledger table of a deployed function, a table
//! named directly, or the local history that `press --state FILE` keeps beside FILE.

use std::path::PathBuf;

use clap::Args;
use clickrules_aws::Settings;
use clickrules_pipeline::{HistoryQuery, PressRecord};

/// Which history to read.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "History")]
pub struct HistorySourceArgs {
    /// The deployed function (NAME, NAME:ALIAS or ARN): its settings, its active guest and
    /// the history in its ledger table (CLICKRULES_LEDGER_TABLE).
    #[arg(long, value_name = "FUNCTION")]
    pub function: Option<String>,
    /// Read history from this ledger table.
    #[arg(long, value_name = "TABLE", conflicts_with = "state")]
    pub table: Option<String>,
    /// Read the local history kept by `press --state FILE` (FILE.history.jsonl).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
}

/// The newest `limit` presses of the history the options name (none when they name none).
pub fn recent_records(
    source: &HistorySourceArgs,
    settings: &Settings,
    limit: usize,
) -> anyhow::Result<Vec<PressRecord>> {
    records(
        source,
        settings,
        &HistoryQuery {
            limit,
            ..HistoryQuery::default()
        },
    )
}

/// The presses of the history the options name that answer `query`, newest first: the local
/// file, the table, else the ledger table of the deployment's settings (with `--function`,
/// the function's). None when there is no history to read.
pub fn records(
    source: &HistorySourceArgs,
    settings: &Settings,
    query: &HistoryQuery,
) -> anyhow::Result<Vec<PressRecord>> {
    let table = source.table.clone().or_else(|| {
        source
            .state
            .is_none()
            .then(|| settings.ledger_table.clone())
            .flatten()
    });
    if source.state.is_none() && table.is_none() {
        return Ok(Vec::new());
    }
    let opened = crate::history::SourceArgs {
        state: source.state.clone(),
        table,
        function: None,
    }
    .open()?;
    Ok(opened
        .list(query)?
        .into_iter()
        .map(|listed| listed.entry.record)
        .collect())
}
