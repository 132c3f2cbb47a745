//! The press record as the Lambda logs it: one JSON object per line, the record under `record`
//! and a few fields at the top for filtering, in CloudWatch Embedded Metric Format, so the
//! same line is the metric (no extra API call) and Logs Insights can query every field:
//! `fields record.decision.actions.0.kind`, `filter ok = 0`.

use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use clickrules_pipeline::{LedgerOutcome, OutcomeStatus, PressRecord, RecordSink};
use serde_json::{Value, json};

/// The CloudWatch namespace of the metrics.
pub const METRICS_NAMESPACE: &str = "clickrules";

/// Metrics each record line carries, with their units.
const METRICS: [(&str, &str); 9] = [
    ("Presses", "Count"),
    ("Failures", "Count"),
    ("FallbackUsed", "Count"),
    ("ActionsExecuted", "Count"),
    ("ActionsFailed", "Count"),
    ("GuestTime", "Microseconds"),
    ("Instructions", "Count"),
    // 1 when a shadow guest (CLICKRULES_SHADOW_GUEST) ran and decided differently, or failed.
    ("ShadowDifferences", "Count"),
    ("ShadowTime", "Microseconds"),
];

/// Writes each record to stdout as one line, for CloudWatch Logs.
#[derive(Debug, Clone)]
pub struct RecordLog {
    function: String,
}

impl RecordLog {
    /// Lines naming `function` (the `function` metric dimension).
    pub fn new(function: impl Into<String>) -> Self {
        Self {
            function: function.into(),
        }
    }
}

impl RecordSink for RecordLog {
    fn record(&self, record: &PressRecord) {
        let line = record_line(record, &self.function, now_ms());
        let mut stdout = std::io::stdout().lock();
        // One write per line, so lines from other threads never interleave within it.
        let _ = stdout.write_all(format!("{line}\n").as_bytes());
        let _ = stdout.flush();
    }
}

/// What the press came to, as the `outcome` dimension: `ok`, `duplicate`, `in_progress` or the
/// failure's kind. A fixed, small set of values, as a dimension must be.
pub fn outcome(record: &PressRecord) -> String {
    match (record.ledger.outcome, &record.failure) {
        (LedgerOutcome::Duplicate, _) => "duplicate".into(),
        (_, None) => "ok".into(),
        (_, Some(f)) => f.kind.clone(),
    }
}

/// The log line for `record`: EMF metadata, the dimensions and metrics, the record.
pub fn record_line(record: &PressRecord, function: &str, timestamp_ms: u64) -> String {
    // The logged line lists the keys read and the writes, values cut; the full state read
    // and the settings stay in the ledger, where a replay reads them.
    let logged;
    let record = if record.state.is_some()
        || record
            .replay
            .as_ref()
            .is_some_and(|r| !r.settings.is_empty())
    {
        logged = record.for_log();
        &logged
    } else {
        // Nothing to leave out: no copy on the press's path.
        record
    };
    let executed = record
        .outcomes
        .iter()
        .filter(|o| o.status == OutcomeStatus::Done && !o.done_earlier)
        .count();
    let failed = record
        .outcomes
        .iter()
        .filter(|o| o.status == OutcomeStatus::Failed)
        .count();
    let decision = record.decision.as_ref();
    let metrics: Vec<Value> = METRICS
        .iter()
        .map(|(name, unit)| json!({ "Name": name, "Unit": unit }))
        .collect();
    let line = json!({
        "level": if record.ok { "INFO" } else { "ERROR" },
        "target": "clickrules::record",
        "message": if record.ok { "press done" } else { "press failed" },
        "request_id": record.request_id,
        "press_id": record.press_id,
        "ok": record.ok,
        "function": function,
        "outcome": outcome(record),
        "Presses": 1,
        "Failures": u8::from(!record.ok),
        "FallbackUsed": u8::from(record.fallback.is_some()),
        "ActionsExecuted": executed,
        "ActionsFailed": failed,
        "GuestTime": decision.map_or(0, |d| d.duration_us),
        "Instructions": decision.map_or(0, |d| d.instructions),
        "ShadowDifferences": u8::from(record.shadow.as_ref().is_some_and(|s| s.differs)),
        "ShadowTime": record.shadow.as_ref().map_or(0, |s| s.duration_us),
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                // Per function (what the failed-press alarm watches), and per outcome.
                "Dimensions": [["function"], ["function", "outcome"]],
                "Metrics": metrics,
            }],
        },
        "record": record,
    });
    clickrules_engine::text::json_line(&line).unwrap_or_else(|_| line.to_string())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clickrules_engine::{DeviceState, StateChange, StateWrite};
    use clickrules_pipeline::StateRecord;

    #[test]
    fn the_line_cuts_state_values_and_leaves_out_the_state_read() {
        let mut record = PressRecord::new("req", true);
        let mut before = DeviceState::default();
        before.entries.insert(
            "secret-history".into(),
            clickrules_engine::StateEntry {
                value: "x".repeat(4000),
                expires_at_ms: None,
            },
        );
        record.state = Some(StateRecord {
            device: "iot-button#G030".into(),
            version: 3,
            read: vec!["history".into()],
            writes: vec![StateWrite {
                key: "history".into(),
                change: StateChange::Set {
                    value: "é".repeat(300),
                    ttl_seconds: Some(60),
                },
            }],
            before: Some(before),
            committed: true,
            attempts: 1,
        });
        let line: Value = serde_json::from_str(&record_line(&record, "f", 0)).unwrap();
        let state = &line["record"]["state"];
        assert!(state.get("before").is_none(), "{state}");
        let value = state["writes"][0]["value"].as_str().unwrap();
        assert!(
            value.len() <= clickrules_pipeline::LOGGED_STATE_VALUE_BYTES + 3,
            "{}",
            value.len()
        );
        assert!(value.ends_with('…'));
        assert_eq!(state["writes"][0]["ttl_seconds"], 60);
        assert_eq!(state["version"], 3);
        assert_eq!(state["read"][0], "history");
    }
}
