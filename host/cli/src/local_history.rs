//! Press history beside a `press --state FILE`: every delivery's record as one JSON line in
//! `FILE.history.jsonl`, so `history`, `explain` and `forget` work without an AWS account. The
//! file is the local stand-in for the ledger table: it also teaches the next local press which
//! presses are complete, so a press delivered again is answered as a duplicate, as the
//! deployed ledger answers it.

use std::collections::{BTreeSet, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use clickrules_pipeline::{
    DeviceKey, Forgotten, History, HistoryEntry, HistoryError, HistoryQuery, Ledger, LedgerOutcome,
    MemoryLedger, PressOutcome, PressRecord, Retention, received_at_ms,
};
use serde::{Deserialize, Serialize};

use crate::state_file;

/// `FILE.history.jsonl` for the state file `FILE`.
pub fn path_for(state: &Path) -> PathBuf {
    let mut path = state.as_os_str().to_owned();
    path.push(".history.jsonl");
    PathBuf::from(path)
}

/// One line of the file. It parses as a [`HistoryEntry`] too (the extra field is ignored).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Line {
    record: PressRecord,
    /// When the delivery arrived (the press time `--now` sets): a delivery that carried no
    /// press has no click to take its time from.
    #[serde(default)]
    received_at_ms: u64,
}

impl Line {
    /// The press's time, else the delivery's.
    fn at_ms(&self) -> u64 {
        match self.record.click {
            Some(_) => received_at_ms(&self.record),
            None => self.received_at_ms,
        }
    }
}

/// A press as history lists it, with the time to show for it.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    #[serde(flatten)]
    pub entry: HistoryEntry,
    /// When it arrived, ms since the epoch, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_at_ms: Option<u64>,
}

impl Listed {
    /// An entry from a store that only knows the click's time.
    pub fn of(entry: HistoryEntry) -> Self {
        let at = received_at_ms(&entry.record);
        Self {
            entry,
            received_at_ms: (at > 0).then_some(at),
        }
    }
}

/// Appends `records` (one delivery's) to the history at `path`, first dropping the lines
/// retention no longer keeps. The file is only rewritten when a line goes: a plain append
/// cannot leave it half written. Lines that do not parse are kept as they are: they are
/// the owner's to fix (`history` names them), not this press's to delete.
pub fn append(
    path: &Path,
    records: &[&PressRecord],
    received_at_ms: u64,
    now_ms: u64,
    retention: &Retention,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let raw = read_raw(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut kept: Vec<&[u8]> = Vec::new();
    let mut pruned = false;
    for line in raw.split(|b| *b == b'\n').filter(|l| !is_blank(l)) {
        match serde_json::from_slice::<Line>(line) {
            Ok(parsed) if expired(&parsed, now_ms, retention) => pruned = true,
            _ => kept.push(line),
        }
    }
    let mut added = Vec::new();
    for record in records {
        let line = Line {
            record: (*record).clone(),
            received_at_ms,
        };
        added.push(clickrules_engine::text::json_line(&line)?.into_bytes());
    }
    if pruned {
        let lines = kept.into_iter().chain(added.iter().map(Vec::as_slice));
        return replace(path, lines);
    }
    let mut text = Vec::new();
    // A file cut off mid-line must not glue the next record onto the broken one.
    if raw.last().is_some_and(|b| *b != b'\n') {
        text.push(b'\n');
    }
    for line in added {
        text.extend_from_slice(&line);
        text.push(b'\n');
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(&text))
        .with_context(|| format!("cannot append to {}", path.display()))
}

/// Whether retention no longer keeps `line` at `now_ms`.
fn expired(line: &Line, now_ms: u64, retention: &Retention) -> bool {
    let keep_ms = u64::try_from(retention.of(&line.record).as_millis()).unwrap_or(u64::MAX);
    now_ms.saturating_sub(line.at_ms()) > keep_ms
}

/// Teaches `ledger` the presses the history at `path` completed, so delivering one again
/// (`press --press-id`) is answered from the ledger. A press that failed and may pass on a
/// retry is left out: the deployed ledger leaves it open, and the retry runs it.
pub async fn seed(ledger: &MemoryLedger, path: &Path) -> Result<(), HistoryError> {
    for line in load(path)?.into_iter().map(|(_, line)| line) {
        let record = &line.record;
        let did_work = matches!(
            record.ledger.outcome,
            LedgerOutcome::New | LedgerOutcome::Resumed
        );
        let retryable = record
            .failure
            .as_ref()
            .is_some_and(|f| f.retryable == Some(true));
        if did_work && !retryable {
            ledger
                .keep(record)
                .await
                .map_err(|e| unavailable(path, e))?;
        }
    }
    Ok(())
}

/// The history beside a `press --state` file.
#[derive(Debug, Clone)]
pub struct LocalHistory {
    state: PathBuf,
    path: PathBuf,
}

impl LocalHistory {
    /// The history of the state file `state`.
    pub fn beside(state: &Path) -> Self {
        Self {
            state: state.to_path_buf(),
            path: path_for(state),
        }
    }

    /// The history file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Presses matching `query`, newest first, with their times.
    pub fn list_timed(&self, query: &HistoryQuery) -> Result<Vec<Listed>, HistoryError> {
        let mut entries: Vec<Listed> = presses(load(&self.path)?)
            .into_iter()
            .filter(|listed| matches(query, listed))
            .collect();
        // The file is in arrival order: of two presses at the same time the later line is
        // the newer.
        entries.reverse();
        entries.sort_by_key(|listed| std::cmp::Reverse(listed.received_at_ms));
        if query.limit > 0 {
            entries.truncate(query.limit);
        }
        Ok(entries)
    }

    /// One press by id, with its time.
    pub fn get_timed(&self, press_id: &str) -> Result<Option<Listed>, HistoryError> {
        Ok(presses(load(&self.path)?)
            .into_iter()
            .find(|listed| listed.entry.record.press_id == press_id))
    }

    fn forget_now(&self, device: &str) -> Result<Forgotten, HistoryError> {
        let lines = load(&self.path)?;
        let (gone, kept): (Vec<_>, Vec<_>) = lines
            .into_iter()
            .partition(|(_, line)| device_matches(&line.record, device));
        let presses = gone
            .iter()
            .map(|(_, line)| line.record.press_id.as_str())
            .collect::<BTreeSet<_>>()
            .len();
        if !gone.is_empty() {
            let kept = kept
                .iter()
                .map(|(_, line)| clickrules_engine::text::json_line(line).map(String::into_bytes))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| unavailable(&self.path, e))?;
            replace(&self.path, kept.iter().map(Vec::as_slice))
                .map_err(|e| unavailable(&self.path, format!("{e:#}")))?;
        }
        let states = self
            .forget_state(device)
            .map_err(|e| unavailable(&self.state, format!("{e:#}")))?;
        Ok(Forgotten { presses, states })
    }

    /// Removes `device` from the state file, returning how many devices went.
    fn forget_state(&self, device: &str) -> anyhow::Result<usize> {
        if !self.state.exists() {
            return Ok(0);
        }
        let ledger = state_file::read(&self.state)?;
        let (gone, kept): (HashMap<_, _>, HashMap<_, _>) = ledger
            .states()
            .into_iter()
            .partition(|(key, _)| key_matches(key, device));
        if !gone.is_empty() {
            state_file::write(&self.state, &MemoryLedger::with_states(kept))?;
        }
        Ok(gone.len())
    }
}

impl History for LocalHistory {
    async fn list(&self, query: &HistoryQuery) -> Result<Vec<HistoryEntry>, HistoryError> {
        Ok(self
            .list_timed(query)?
            .into_iter()
            .map(|listed| listed.entry)
            .collect())
    }

    async fn get(&self, press_id: &str) -> Result<Option<HistoryEntry>, HistoryError> {
        Ok(self.get_timed(press_id)?.map(|listed| listed.entry))
    }

    async fn forget(&self, device: &str) -> Result<Forgotten, HistoryError> {
        self.forget_now(device)
    }
}

/// The lines of the file with their numbers (from 1); none when it does not exist yet.
fn load(path: &Path) -> Result<Vec<(usize, Line)>, HistoryError> {
    let raw = read_raw(path).map_err(|e| unavailable(path, e))?;
    let mut lines = Vec::new();
    for (i, line) in raw.split(|b| *b == b'\n').enumerate() {
        if is_blank(line) {
            continue;
        }
        let parsed = serde_json::from_slice(line).map_err(|e| HistoryError::Corrupt {
            store: path.display().to_string(),
            what: format!("line {}", i + 1),
            message: format!("not a press record: {e}"),
        })?;
        lines.push((i + 1, parsed));
    }
    Ok(lines)
}

/// One entry per press, in order of arrival: the delivery that did the work (the last one
/// that ran, a retry's over the first), with the deliveries answered as duplicates counted
/// on it. A press whose working delivery retention dropped is its last delivery.
fn presses(lines: Vec<(usize, Line)>) -> Vec<Listed> {
    struct Press {
        work: Option<Line>,
        last: Line,
        duplicates: u32,
    }
    let mut order: Vec<Press> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (_, line) in lines {
        let outcome = line.record.ledger.outcome;
        let i = *index
            .entry(line.record.press_id.clone())
            .or_insert_with(|| {
                order.push(Press {
                    work: None,
                    last: line.clone(),
                    duplicates: 0,
                });
                order.len() - 1
            });
        let slot = &mut order[i];
        match outcome {
            LedgerOutcome::Duplicate => slot.duplicates += 1,
            LedgerOutcome::InProgress => {}
            _ => slot.work = Some(line.clone()),
        }
        slot.last = line;
    }
    order
        .into_iter()
        .map(|press| {
            let line = press.work.unwrap_or(press.last);
            Listed {
                received_at_ms: Some(line.at_ms()),
                entry: HistoryEntry {
                    record: line.record,
                    duplicates: press.duplicates,
                },
            }
        })
        .collect()
}

/// Whether `listed` answers `query`. A delivery that carried no press is matched by its own
/// time and by the device its message named, which [`HistoryQuery::matches`] cannot see;
/// `duplicate` also finds presses that were delivered again.
fn matches(query: &HistoryQuery, listed: &Listed) -> bool {
    let record = &listed.entry.record;
    let outcome = match query.outcome {
        None => true,
        Some(PressOutcome::Duplicate) => {
            listed.entry.duplicates > 0 || PressOutcome::of(record) == PressOutcome::Duplicate
        }
        Some(wanted) => PressOutcome::of(record) == wanted,
    };
    if record.click.is_some() {
        let rest = HistoryQuery {
            outcome: None,
            ..query.clone()
        };
        return outcome && rest.matches(record);
    }
    let at = listed.received_at_ms.unwrap_or(0);
    outcome
        && query.since_ms.is_none_or(|since| at >= since)
        && query.until_ms.is_none_or(|until| at < until)
        && query
            .device
            .as_deref()
            .is_none_or(|d| device_matches(record, d))
}

/// The devices a record names, `(source, id)`: its click's, else those of the messages that
/// were no press.
pub fn devices(record: &PressRecord) -> Vec<(String, String)> {
    if let Some(click) = &record.click {
        return vec![(click.source.clone(), click.serial_number.clone())];
    }
    let source = record.event_format.map_or("", |f| f.as_str());
    record
        .skipped
        .iter()
        .filter_map(|s| s.device.clone())
        .map(|device| (source.to_string(), device))
        .collect()
}

/// Whether `record` is of `device` (`<source>#<id>` or a bare id).
fn device_matches(record: &PressRecord, device: &str) -> bool {
    devices(record)
        .iter()
        .any(|(source, id)| device == id || device == format!("{source}#{id}"))
}

fn key_matches(key: &DeviceKey, device: &str) -> bool {
    device == key.device || device == key.id()
}

/// The file's bytes; none when it does not exist yet.
fn read_raw(path: &Path) -> std::io::Result<Vec<u8>> {
    match std::fs::read(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        other => other,
    }
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// Replaces the file with `lines`, atomically (a new file renamed over the old one).
fn replace<'a>(path: &Path, lines: impl Iterator<Item = &'a [u8]>) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let mut text = Vec::new();
    for line in lines {
        text.extend_from_slice(line);
        text.push(b'\n');
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot replace {}", path.display())
    })
}

fn unavailable(path: &Path, e: impl std::fmt::Display) -> HistoryError {
    HistoryError::Unavailable {
        store: path.display().to_string(),
        message: e.to_string(),
    }
}
